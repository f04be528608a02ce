"""In-memory row storage of the simulated cluster.

Owns: partitions (looked up in O(1) by serialized partition key, iterated in Murmur3 token
order), rows (looked up by the tuple of serialized clustering values, iterated in clustering
order), cells with write timestamps and TTL expiry, non-frozen collections stored element by
element, row markers, and tombstones (partition, row, range, cell). Last write wins by
timestamp; expiry is decided at read time from the caller's ``now`` (seconds), so nothing here
reads a clock. Knows no CQL syntax.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterator
from typing import Any

from greencql.cluster.murmur3 import murmur3_token
from greencql.testing.schema import ColType, Table

__all__ = ["Cell", "Multi", "Row", "Partition", "TableData", "NO_TS"]

NO_TS = -(2**63)


class Cell:
    """One value. ``value`` None is a tombstone; ``exp`` the expiry time (seconds) or None."""

    __slots__ = ("exp", "raw", "ts", "ttl", "value")

    def __init__(self, value: Any, ts: int, exp: float | None = None, ttl: int | None = None):
        self.value = value
        self.ts = ts
        self.exp = exp
        self.ttl = ttl
        self.raw: bytes | None = None

    def live(self, now: float) -> bool:
        return self.value is not None and (self.exp is None or self.exp > now)


class Multi:
    """A non-frozen collection or UDT: a collection tombstone plus elements keyed by their
    sort key (set/map), position key (list) or field index (UDT). Each element is
    ``[key_value, value, ts, exp, ttl]``."""

    __slots__ = ("elems", "tomb")

    def __init__(self) -> None:
        self.tomb = NO_TS
        self.elems: dict[Any, list[Any]] = {}

    def clear(self, ts: int) -> None:
        if ts > self.tomb:
            self.tomb = ts
        self.elems = {k: e for k, e in self.elems.items() if e[2] > ts}

    def put(self, key: Any, kval: Any, val: Any, ts: int, exp: float | None,
            ttl: int | None) -> None:
        if ts <= self.tomb:
            return
        old = self.elems.get(key)
        if old is not None and old[2] > ts:
            return
        self.elems[key] = [kval, val, ts, exp, ttl]

    def remove(self, key: Any, ts: int) -> None:
        old = self.elems.get(key)
        if old is not None and old[2] <= ts:
            del self.elems[key]

    def live_items(self, now: float) -> list[tuple[Any, list[Any]]]:
        return sorted(
            ((k, e) for k, e in self.elems.items() if e[3] is None or e[3] > now),
            key=lambda item: item[0],
        )

    def max_ts(self) -> int:
        return max((e[2] for e in self.elems.values()), default=NO_TS)


class Row:
    """A clustering row (or a partition's static row)."""

    __slots__ = ("cells", "ckb", "ckey", "deleted_ts", "marker", "raw_keys", "sk")

    def __init__(self, ckb: tuple[bytes, ...], ckey: tuple[Any, ...], raw_keys: tuple[Any, ...],
                 sk: tuple[Any, ...]) -> None:
        self.ckb = ckb
        self.ckey = ckey
        self.raw_keys = raw_keys
        self.sk = sk
        self.cells: dict[str, Cell | Multi] = {}
        #: (ts, exp, ttl) of the primary key liveness info set by INSERT
        self.marker: tuple[int, float | None, int | None] | None = None
        self.deleted_ts = NO_TS

    def live(self, now: float) -> bool:
        m = self.marker
        if m is not None and (m[1] is None or m[1] > now):
            return True
        for c in self.cells.values():
            if isinstance(c, Cell):
                if c.value is not None and (c.exp is None or c.exp > now):
                    return True
            elif any(e[3] is None or e[3] > now for e in c.elems.values()):
                return True
        return False

    def delete(self, ts: int) -> None:
        """Row tombstone at ``ts``: drop everything written at or before it."""
        if ts > self.deleted_ts:
            self.deleted_ts = ts
        if self.marker is not None and self.marker[0] <= ts:
            self.marker = None
        for name, c in list(self.cells.items()):
            if isinstance(c, Cell):
                if c.ts <= ts:
                    del self.cells[name]
            else:
                c.clear(ts)
                if not c.elems and c.tomb <= ts:
                    del self.cells[name]


class Partition:
    __slots__ = ("deleted_ts", "key", "order", "pk_values", "ranges", "rows", "static", "token")

    def __init__(self, key: bytes, token: int, pk_values: tuple[Any, ...]) -> None:
        self.key = key
        self.token = token
        self.pk_values = pk_values
        self.rows: dict[tuple[bytes, ...], Row] = {}
        #: rows' sort keys, ascending in clustering order (with DESC columns reversed)
        self.order: list[tuple[Any, tuple[bytes, ...]]] = []
        self.static = Row((), (), (), ())
        self.deleted_ts = NO_TS
        #: range tombstones: (predicate over a row's raw clustering keys, ts)
        self.ranges: list[tuple[Callable[[tuple[Any, ...]], bool], int]] = []

    def shadow(self, row: Row) -> int:
        """The newest deletion covering ``row``; writes at or before it are dropped."""
        ts = self.deleted_ts if self.deleted_ts > row.deleted_ts else row.deleted_ts
        if self.ranges and row is not self.static:
            for pred, rts in self.ranges:
                if rts > ts and pred(row.raw_keys):
                    ts = rts
        return ts

    def get_row(self, ckb: tuple[bytes, ...]) -> Row | None:
        return self.rows.get(ckb)

    def make_row(self, ckb: tuple[bytes, ...], table: Table) -> Row:
        row = self.rows.get(ckb)
        if row is None:
            ckey = tuple(c.type.decode(b) for c, b in zip(table.clustering, ckb, strict=True))
            raw = tuple(c.type.sort_key(v) for c, v in zip(table.clustering, ckey, strict=True))
            sk = tuple(_wrap(c, k) for c, k in zip(table.clustering, raw, strict=True))
            row = Row(ckb, ckey, raw, sk)
            self.rows[ckb] = row
            insort(self.order, (sk, ckb))
        return row

    def iter_rows(self, reverse: bool = False) -> Iterator[Row]:
        rows = self.rows
        seq = reversed(self.order) if reverse else iter(self.order)
        for _sk, ckb in seq:
            r = rows.get(ckb)
            if r is not None:
                yield r

    def delete(self, ts: int) -> None:
        if ts > self.deleted_ts:
            self.deleted_ts = ts
        self.static.delete(ts)
        for r in self.rows.values():
            r.delete(ts)

    def delete_range(self, pred: Callable[[tuple[Any, ...]], bool], ts: int) -> None:
        self.ranges.append((pred, ts))
        for r in self.rows.values():
            if pred(r.raw_keys):
                r.delete(ts)


def _wrap(col: Any, key: Any) -> Any:
    if col.clustering_order == "desc":
        from greencql.testing.schema import _Desc

        return _Desc(key)
    return key


class TableData:
    """All partitions of one table."""

    __slots__ = ("partitions", "ring", "tombstones")

    def __init__(self) -> None:
        #: set once a write may have left a tombstone (a deletion, a null, a TTL): reads
        #: count tombstones only then
        self.tombstones = False
        self.partitions: dict[bytes, Partition] = {}
        #: (token, key) of every partition, ascending: the token-ordered scan
        self.ring: list[tuple[int, bytes]] = []

    def get(self, key: bytes) -> Partition | None:
        return self.partitions.get(key)

    def make(self, key: bytes, pk_types: list[ColType]) -> Partition:
        p = self.partitions.get(key)
        if p is None:
            token = murmur3_token(key)
            values = _split_key(key, pk_types)
            p = Partition(key, token, values)
            self.partitions[key] = p
            insort(self.ring, (token, key))
        return p

    def scan(self, start: tuple[int, bytes] | None = None) -> Iterator[Partition]:
        """Partitions in token order, starting at the first (token, key) >= ``start``."""
        ring = self.ring
        i = bisect_left(ring, start) if start is not None else 0
        parts = self.partitions
        while i < len(ring):
            p = parts.get(ring[i][1])
            i += 1
            if p is not None:
                yield p

    def truncate(self) -> None:
        self.partitions.clear()
        self.tombstones = False
        self.ring.clear()


def _split_key(key: bytes, types: list[ColType]) -> tuple[Any, ...]:
    if len(types) == 1:
        return (types[0].decode(key),)
    out = []
    pos = 0
    for t in types:
        n = int.from_bytes(key[pos:pos + 2], "big")
        out.append(t.decode(key[pos + 2:pos + 2 + n]))
        pos += n + 3
    return tuple(out)
