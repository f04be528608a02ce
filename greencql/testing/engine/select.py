"""SELECT in the simulated engine: planning and execution, with paging.

Owns: checking a SELECT against the table (Cassandra's messages for unknown columns, ALLOW
FILTERING, ORDER BY), compiling selectors (columns, aliases, COUNT, writetime, ttl, token),
iterating partitions in token order and rows in clustering order, static-only partitions,
DISTINCT, LIMIT / PER PARTITION LIMIT, and the opaque paging state (the position of the last
row returned, so a page resumes correctly on any node and after concurrent writes). A prepared
single-row read by full primary key takes a short path with no iteration at all.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import Any

from greencql.cluster.murmur3 import murmur3_token
from greencql.errors import InvalidRequest, ProtocolError
from greencql.testing.cql import ast
from greencql.testing.engine.results import UNSET, ColumnSpec, Rows
from greencql.testing.engine.selectors import _Env, compile_selector, json_key, to_json
from greencql.testing.engine.storage import NO_TS, Cell, Partition, Row
from greencql.testing.engine.values import Binder, Ctx, compile_term
from greencql.testing.engine.where import (
    ALLOW_FILTERING_MSG,
    Where,
    column_of,
    getter,
    validate_key,
)
from greencql.testing.schema import ColType, Table

__all__ = ["SelectPlan"]

_INT = ColType("int")
_BIGINT = ColType("bigint")
_MAGIC = b"GQP1"


class SelectPlan:
    kind = "select"
    is_lwt = False

    def __init__(self, stmt: ast.Select, table: Table, binder: Binder, nmarkers: int) -> None:
        self.table = table
        self.stmt = stmt
        ks, tn = table.keyspace, table.name
        self.where = w = Where(table, stmt.where, binder, allow_filtering=stmt.allow_filtering)
        if w.needs_filtering and not stmt.allow_filtering:
            raise InvalidRequest(ALLOW_FILTERING_MSG)
        # -- selectors ----------------------------------------------------------------------
        self.count = False
        self.env = _Env()
        specs: list[ColumnSpec] = []
        getters: list[Callable[[Partition, Row | None, float], Any]] = []
        #: per selector: an accumulator factory (aggregates) or None
        self.aggs: list[Callable[[], Any] | None] = []
        if stmt.selectors is None:
            cols = table.select_order()
            for c in cols:
                specs.append(ColumnSpec(ks, tn, c.name, c.type))
                getters.append(getter(table, c))
                self.aggs.append(None)
        else:
            for sel in stmt.selectors:
                if sel.kind == "expr":
                    comp = compile_selector(table, sel.arg, self.env)
                    name, t = comp.name, comp.type
                    g = comp.fn or _no_value
                    self.aggs.append(comp.agg)
                    if comp.agg is not None:
                        self.count = True
                else:
                    name, t, g = self._selector(sel)
                    self.aggs.append(_count_acc(sel.arg, g) if sel.kind == "count" else None)
                specs.append(ColumnSpec(ks, tn, sel.alias or name, t))
                getters.append(g)
        self.group_by = self._group_by(stmt.group_by)
        if self.group_by and not self.count:
            self.count = True  # GROUP BY without aggregates: one row per group
        self.selected_specs = tuple(specs)
        self.json = stmt.json
        if stmt.json:
            specs = [ColumnSpec(ks, tn, "[json]", ColType("text"))]
        self.result_specs = tuple(specs)
        self.getters = getters
        # Cassandra warns about an aggregate over a range scan (no partition key or token
        # restriction), when it runs paged: the client pays for reading the whole table
        pk_names = {c.name for c in table.partition_key}
        restricted = any(
            (r.lhs[0] == "token" or any(n in pk_names for n in r.lhs[1]))
            if isinstance(r.lhs, tuple) and r.lhs[0] in ("token", "tuple")
            else r.lhs in pk_names
            for r in stmt.where
        )
        key_in = w.full_pk and any(not isinstance(r.lhs, tuple) and r.lhs in pk_names
                                   and r.op == "IN" for r in stmt.where)
        self.count_warnings: tuple[str, ...] = (
            ("Aggregation query used without partition key",) if not restricted else
            ("Aggregation query used on multiple partition keys (IN restriction)",) if key_in
            else ())

        # -- DISTINCT -----------------------------------------------------------------------
        if stmt.distinct:
            if stmt.selectors is None:
                raise InvalidRequest("SELECT DISTINCT queries must only request partition key "
                                     "columns and/or static columns (not *)")
            selected = {s.arg for s in stmt.selectors if s.kind == "column"}
            for s in stmt.selectors:
                if s.kind == "column":
                    c = table.columns[s.arg]
                    if c.kind not in ("partition_key", "static"):
                        raise InvalidRequest(
                            "SELECT DISTINCT queries must only request partition key columns "
                            f"and/or static columns (not {c.name})")
            missing = [c.name for c in table.partition_key if c.name not in selected]
            if missing and not self.count:
                raise InvalidRequest("SELECT DISTINCT queries must request all the partition "
                                     f"key columns (missing {', '.join(missing)})")
            if w.has_ck_restriction:
                raise InvalidRequest("SELECT DISTINCT with WHERE clause only supports restriction "
                                     "by partition key and/or static columns.")

        # -- ORDER BY -----------------------------------------------------------------------
        self.reverse = False
        if stmt.order_by:
            ck = table.clustering
            for i, (name, direction) in enumerate(stmt.order_by):
                col = column_of(table, name)
                if col.kind != "clustering":
                    raise InvalidRequest("Order by is currently only supported on the clustered "
                                         f"columns of the PRIMARY KEY, got {name}")
                if i >= len(ck) or ck[i] is not col:
                    raise InvalidRequest("Order by currently only supports the ordering of "
                                         "columns following their declared order in the "
                                         "PRIMARY KEY")
                natural = col.clustering_order
                rev = direction != natural
                if i == 0:
                    self.reverse = rev
                elif rev != self.reverse:
                    raise InvalidRequest("Unsupported order by relation")
            if not w.full_pk:
                raise InvalidRequest("ORDER BY is only supported when the partition key is "
                                     "restricted by an EQ or an IN.")

        self.limit = self._int_term(stmt.limit, "[limit]", binder, "LIMIT")
        self.ppl = self._int_term(stmt.per_partition_limit, "[per_partition_limit]", binder,
                                  "PER PARTITION LIMIT")
        self.bind_specs = binder.spec_list(nmarkers)
        pk_idx = [w.pk_markers.get(c.name) for c in table.partition_key]
        self.pk_indexes = tuple(pk_idx) if all(i is not None for i in pk_idx) else ()  # type: ignore[arg-type]

        # single-row fast path: full primary key by EQ, nothing else
        self.fast = (
            w.full_pk and len(w.pk_single) == len(table.partition_key) and w.full_ck
            and all(c.name in w.ck_eq_bytes for c in table.clustering)
            and not w.filters and not self.count and not stmt.distinct
            and self.limit is None and self.ppl is None
        )
        if self.fast:
            self._pk_fns = [w.pk_single[c.name] for c in table.partition_key]
            self._ck_fns = [w.ck_eq_bytes[c.name] for c in table.clustering]

    # -- planning helpers ---------------------------------------------------------------------

    def _group_by(self, names: tuple[str, ...]) -> list[Callable]:
        """GROUP BY: a prefix of the primary key columns, in their declared order."""
        if not names:
            return []
        table = self.table
        pk = table.partition_key + table.clustering
        out = []
        for i, name in enumerate(names):
            col = column_of(table, name)
            if col.kind not in ("partition_key", "clustering"):
                raise InvalidRequest("Group by is currently only supported on the columns of "
                                     f"the PRIMARY KEY, got {name}")
            if i >= len(pk) or pk[i] is not col:
                raise InvalidRequest("Group by currently only support groups of columns "
                                     "following their declared order in the PRIMARY KEY")
            out.append(getter(table, col))
        return out

    def _int_term(self, term: Any, name: str, binder: Binder, what: str) -> Callable | None:
        if term is None:
            return None
        fn = compile_term(term, _INT, name, binder)

        def value(ctx: Ctx) -> int | None:
            v = fn(ctx)
            if v is None or v is UNSET:
                return None
            if v <= 0:
                raise InvalidRequest(f"{what} must be strictly positive")
            return v

        return value

    def _selector(self, sel: ast.Selector) -> tuple[str, ColType, Callable]:
        table = self.table
        if sel.kind == "column":
            col = column_of(table, sel.arg)
            return col.name, col.type, getter(table, col)
        if sel.kind == "count":
            self.count = True
            if sel.arg is None:
                return "count", _BIGINT, lambda p, r, now: None
            col = column_of(table, sel.arg)
            return f"system.count({col.name})", _BIGINT, getter(table, col)
        if sel.kind in ("writetime", "ttl"):
            col = column_of(table, sel.arg)
            if col.kind in ("partition_key", "clustering"):
                raise InvalidRequest(f"Cannot use selection function {_FN_NAMES[sel.kind]} on "
                                     f"PRIMARY KEY "
                                     f"part {col.name}")
            if col.type.multicell:
                raise InvalidRequest(f"Cannot use selection function {_FN_NAMES[sel.kind]} on "
                                     f"non-frozen "
                                     f"collection {col.name}")
            static = col.kind == "static"
            name = col.name

            if sel.kind == "writetime":
                def wt(p: Partition, r: Row | None, now: float) -> Any:
                    row = p.static if static else r
                    c = row.cells.get(name) if row is not None else None
                    if isinstance(c, Cell) and c.live(now):
                        return c.ts
                    return None

                return f"writetime({name})", _BIGINT, wt

            def ttl(p: Partition, r: Row | None, now: float) -> Any:
                row = p.static if static else r
                c = row.cells.get(name) if row is not None else None
                if isinstance(c, Cell) and c.live(now) and c.exp is not None:
                    return int(c.exp - int(now))
                return None

            return f"ttl({name})", _INT, ttl
        if sel.kind == "token":
            if list(sel.arg) != [c.name for c in table.partition_key]:
                raise InvalidRequest("The token function arguments must be in the partition key "
                                     "order: " + ", ".join(c.name for c in table.partition_key))
            return (f"system.token({', '.join(sel.arg)})", _BIGINT,
                    lambda p, r, now: p.token)
        fname = sel.arg[0]
        raise InvalidRequest(f"Unknown function '{fname}'")

    # -- execution ------------------------------------------------------------------------------

    def run(self, engine: Any, ctx: Ctx, page_size: int | None,
            paging_state: bytes | None) -> Rows:
        now = ctx.now
        if self.fast and paging_state is None:
            return self._run_fast(ctx, now)
        limit = self.limit(ctx) if self.limit else None
        ppl = self.ppl(ctx) if self.ppl else None
        w = self.where
        rows_iter = self._iterate(ctx, now)
        self.env.ctx = ctx
        self._tombstones = 0
        self._live = 0
        if self.count:
            out = self._aggregate(rows_iter, now, limit)
            paged = page_size is not None and page_size > 0
            return Rows(self.result_specs, self._json(out), None,
                        warnings=(self.count_warnings if paged else ()) + self._tomb_warning(
                            engine))

        state = _decode_state(paging_state, self.table) if paging_state else None
        if page_size is not None and page_size <= 0:
            page_size = None
        multi_sorted = bool(self.stmt.order_by) and w.full_pk and len(w.partition_keys(ctx)) > 1
        if multi_sorted and page_size is not None:
            raise InvalidRequest("Cannot page queries with both ORDER BY and a IN restriction on "
                                 "the partition key; you must either remove the ORDER BY or the "
                                 "IN and sort client side, or disable paging for this query")
        total = state[2] if state else 0
        pcount = state[3] if state else 0
        cur_key = state[0] if state else None
        getters = self.getters
        result: list[tuple[Any, ...]] = []
        last: tuple[Partition, Row | None] | None = None
        more = False
        source: Iterator[tuple[Partition, Row | None]]
        if multi_sorted:
            allrows = list(rows_iter)
            allrows.sort(key=lambda pr: pr[1].sk if pr[1] is not None else (), reverse=self.reverse)
            source = iter(allrows)
        else:
            source = _resume(rows_iter, state, self.reverse, self._position(state[0])) \
                if state else rows_iter
        for p, r in source:
            if limit is not None and total >= limit:
                break
            if ppl is not None:
                if p.key != cur_key:
                    cur_key = p.key
                    pcount = 0
                if pcount >= ppl:
                    continue
            if page_size is not None and len(result) >= page_size:
                more = True
                break
            result.append(tuple(g(p, r, now) for g in getters))
            last = (p, r)
            total += 1
            pcount = pcount + 1 if p.key == cur_key else 1
            cur_key = p.key
        if more and last is not None and not (limit is not None and total >= limit):
            ps = _encode_state(last[0], last[1], total, pcount)
        else:
            ps = None
        return Rows(self.result_specs, self._json(result), ps,
                    warnings=self._tomb_warning(engine))

    def _tomb_warning(self, engine: Any) -> tuple[str, ...]:
        """tombstone_warn_threshold: a read that went past that many tombstones warns."""
        limit = getattr(engine, "tombstone_warn_threshold", TOMBSTONE_WARN_THRESHOLD)
        if limit is None or self._tombstones <= limit:
            return ()
        t = self.table
        return (f"Read {self._live} live rows and {self._tombstones} tombstone cells for query "
                f"SELECT * FROM {t.keyspace}.{t.name} (see tombstone_warn_threshold)",)

    def _key_order(self, p: Partition) -> tuple[Any, ...]:
        return tuple(c.type.sort_key(v) for c, v in zip(self.table.partition_key, p.pk_values,
                                                          strict=True))

    def _position(self, key: bytes) -> Callable[[Partition], bool]:
        """Whether a partition comes before (or is) the one of a paging state."""
        if self.where.full_pk:
            from greencql.testing.engine.storage import _split_key

            pos = tuple(c.type.sort_key(v) for c, v in zip(
                self.table.partition_key,
                _split_key(key, [c.type for c in self.table.partition_key]), strict=True))
            return lambda p: self._key_order(p) < pos
        tpos = (murmur3_token(key), key)
        return lambda p: (p.token, p.key) < tpos

    def _aggregate(self, rows_iter: Iterator[tuple[Partition, Row | None]], now: float,
                   limit: int | None) -> list[tuple[Any, ...]]:
        """Aggregates over the selected rows: one result row per GROUP BY group (or one
        in all); other selectors take the group's first row's values."""
        groups: dict[Any, tuple[list[Any], list[Any]]] = {}
        keys = self.group_by
        for p, r in rows_iter:
            gk = tuple(g(p, r, now) for g in keys) if keys else ()
            hk = tuple(repr(x) for x in gk)
            entry = groups.get(hk)
            if entry is None:
                if limit is not None and len(groups) >= limit:
                    break
                accs = [a() if a is not None else None for a in self.aggs]
                firsts = [None if a is not None else g(p, r, now)
                          for a, g in zip(self.aggs, self.getters, strict=True)]
                entry = groups[hk] = (accs, firsts)
            for acc in entry[0]:
                if acc is not None:
                    acc.add(p, r, now)
        if not groups and not keys:
            groups[()] = ([a() if a is not None else None for a in self.aggs],
                          [None] * len(self.aggs))
        return [tuple(acc.result() if acc is not None else first
                      for acc, first in zip(accs, firsts, strict=True))
                for accs, firsts in groups.values()]

    def _json(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """SELECT JSON: each row as one JSON object keyed by the selectors' names."""
        if not self.json:
            return rows
        specs = self.selected_specs
        return [("{" + ", ".join(f"{_json_key_text(s.name)}: {to_json(v, s.coltype)}"
                                 for s, v in zip(specs, row, strict=True)) + "}",)
                for row in rows]

    def _run_fast(self, ctx: Ctx, now: float) -> Rows:
        table = self.table
        fns = self._pk_fns
        if len(fns) == 1:
            key = fns[0](ctx)
        else:
            from greencql.cluster.murmur3 import serialize_partition_key

            key = serialize_partition_key([f(ctx) for f in fns])
        validate_key(key)
        p = table.data.partitions.get(key)
        if p is None:
            return Rows(self.result_specs, [], None)
        r = p.rows.get(tuple(f(ctx) for f in self._ck_fns))
        if r is None or not r.live(now):
            return Rows(self.result_specs, [], None)
        self.env.ctx = ctx
        return Rows(self.result_specs, self._json([tuple(g(p, r, now) for g in self.getters)]),
                    None)

    def _partitions(self, ctx: Ctx) -> Iterator[Partition]:
        data = self.table.data
        w = self.where
        if w.full_pk:
            # partitions of an IN come in the order of the key values (the partition key
            # type's comparator), not in token order
            keys = w.partition_keys(ctx)
            found = [p for p in (data.partitions.get(k) for k in keys) if p is not None]
            found.sort(key=self._key_order)
            yield from found
            return
        lo, lo_inc, hi, hi_inc = w.token_bounds(ctx)
        start = None
        if lo is not None:
            start = (lo, b"") if lo_inc else (lo + 1, b"")
        for p in data.scan(start):
            if hi is not None and (p.token > hi or (p.token == hi and not hi_inc)):
                return
            yield p

    def _iterate(self, ctx: Ctx, now: float) -> Iterator[tuple[Partition, Row | None]]:
        """Matching (partition, row) pairs in result order; row None is a static-only row."""
        w = self.where
        table = self.table
        flt = w.row_filter(ctx)
        distinct = self.stmt.distinct
        has_ck = bool(table.clustering)
        if not distinct and has_ck and w.full_ck and w.ck_prefix and not self.count:
            ckeys = w.clustering_keys(ctx)
            pred = None
        else:
            ckeys = None
            pred = w.clustering_predicate(ctx)
        reverse = self.reverse
        ck_restricted = w.has_ck_restriction
        count_tombstones = table.data.tombstones
        for p in self._partitions(ctx):
            if distinct:
                if _partition_live(p, now) and (flt is None or flt(p, None, now)):
                    yield p, None
                continue
            any_row = False
            if count_tombstones and (p.deleted_ts != NO_TS or p.ranges):
                self._tombstones += (p.deleted_ts != NO_TS) + 2 * len(p.ranges)
            if ckeys is not None:
                rows = [r for r in (p.rows.get(k) for k in ckeys) if r is not None]
                rows.sort(key=lambda r: r.sk, reverse=reverse)
                it: Any = rows
            else:
                it = p.iter_rows(reverse)
            for r in it:
                if pred is not None and not pred(r.raw_keys):
                    continue
                if count_tombstones:
                    self._tombstones += _dead_cells(r, now)
                if not r.live(now):
                    continue
                self._live += 1
                any_row = True
                if flt is not None and not flt(p, r, now):
                    continue
                yield p, r
            if not any_row and not ck_restricted and has_ck and p.static.live(now) \
                    and (flt is None or flt(p, None, now)):
                yield p, None


#: Cassandra's default tombstone_warn_threshold
TOMBSTONE_WARN_THRESHOLD = 1000


def _dead_cells(r: Row, now: float) -> int:
    """Tombstones a read meets in a row: its deletion, deleted and expired cells."""
    n = 1 if r.deleted_ts != NO_TS else 0
    for c in r.cells.values():
        if isinstance(c, Cell):
            if c.value is None or (c.exp is not None and c.exp <= now):
                n += 1
        elif c.tomb != NO_TS:
            n += 1
    return n


_FN_NAMES = {"writetime": "writeTime", "ttl": "ttl"}


def _no_value(p: Partition, r: Row | None, now: float) -> Any:
    return None


def _json_key_text(name: str) -> str:
    import json

    return json.dumps(json_key(name), ensure_ascii=False)


def _count_acc(arg: str | None, g: Callable) -> Callable[[], Any]:
    """count(*) / count(v) as an accumulator factory."""

    class Count:
        __slots__ = ("n",)

        def __init__(self) -> None:
            self.n = 0

        def add(self, p: Partition, r: Row | None, now: float) -> None:
            if arg is None or g(p, r, now) is not None:
                self.n += 1

        def result(self) -> int:
            return self.n

    return Count


def _partition_live(p: Partition, now: float) -> bool:
    if p.static.live(now):
        return True
    return any(r.live(now) for r in p.rows.values())


def _resume(it: Iterator[tuple[Partition, Row | None]], state: tuple, reverse: bool,
            before: Callable[[Partition], bool]) -> Iterator[tuple[Partition, Row | None]]:
    key, sk, _total, _pcount = state
    for p, r in it:
        if p.key != key and before(p):
            continue
        if p.key == key:
            if sk is None or r is None:
                continue
            if (r.sk <= sk) if not reverse else (r.sk >= sk):
                continue
        yield p, r


def _encode_state(p: Partition, r: Row | None, total: int, pcount: int) -> bytes:
    parts = [_MAGIC, struct.pack(">I", len(p.key)), p.key]
    if r is None:
        parts.append(b"\xff")
    else:
        parts.append(struct.pack(">B", len(r.ckb)))
        for b in r.ckb:
            parts.append(struct.pack(">I", len(b)))
            parts.append(b)
    parts.append(struct.pack(">II", total, pcount))
    return b"".join(parts)


def _decode_state(data: bytes, table: Table) -> tuple[bytes, Any, int, int]:
    try:
        if not data.startswith(_MAGIC):
            raise ValueError("bad magic")
        pos = 4
        (n,) = struct.unpack_from(">I", data, pos)
        pos += 4
        key = bytes(data[pos:pos + n])
        pos += n
        count = data[pos]
        pos += 1
        sk = None
        if count != 0xFF:
            ckb = []
            for _ in range(count):
                (m,) = struct.unpack_from(">I", data, pos)
                pos += 4
                ckb.append(bytes(data[pos:pos + m]))
                pos += m
            if len(ckb) != len(table.clustering):
                raise ValueError("clustering size")
            from greencql.testing.engine.storage import _wrap

            vals = [c.type.decode(b) for c, b in zip(table.clustering, ckb, strict=True)]
            sk = tuple(_wrap(c, c.type.sort_key(v))
                       for c, v in zip(table.clustering, vals, strict=True))
        total, pcount = struct.unpack_from(">II", data, pos)
        if pos + 8 != len(data):
            raise ValueError("trailing bytes")
        return key, sk, total, pcount
    except (ValueError, IndexError, struct.error, ProtocolError, TypeError) as exc:
        raise ProtocolError_or_invalid(exc) from exc


def ProtocolError_or_invalid(exc: Exception) -> Exception:
    return InvalidRequest(f"Invalid value for the paging state: {exc}")
