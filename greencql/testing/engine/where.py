"""WHERE clauses of the simulated engine: restrictions sorted by what they restrict.

Owns: resolving a statement's relations against a table into partition key restrictions
(EQ/IN, producing serialized key components, with a fast path that uses bound bytes as they
came), token ranges, clustering restrictions (EQ/IN prefix plus one slice), and everything
else as row filters, with Cassandra's validation messages. Also the cell readers shared by
SELECT, conditions and LWT results. Knows no statement kinds beyond that.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from greencql.errors import InvalidRequest
from greencql.testing.cql import ast
from greencql.testing.engine.results import UNSET
from greencql.testing.engine.storage import Cell, Multi, Partition, Row
from greencql.testing.engine.values import _EMPTY, Binder, Ctx, compile_term
from greencql.testing.schema import ColType, Column, Table

__all__ = ["Where", "validate_key", "validate_clustering", "column_of", "cell_value", "getter",
           "read_multi", "ALLOW_FILTERING_MSG"]

ALLOW_FILTERING_MSG = (
    "Cannot execute this query as it might involve data filtering and thus may have "
    "unpredictable performance. If you want to execute this query despite the performance "
    "unpredictability, use ALLOW FILTERING"
)
_BIGINT = ColType("bigint")


MAX_KEY_LENGTH = 65535


def validate_key(key: bytes) -> bytes:
    """QueryProcessor.validateKey: a serialized partition key is neither empty nor longer
    than an unsigned short."""
    if not key:
        raise InvalidRequest("Key may not be empty")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest(f"Key length of {len(key)} is longer than maximum of "
                             f"{MAX_KEY_LENGTH}")
    return key


def validate_clustering(ck: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """ModificationStatement.addUpdates: no clustering value longer than an unsigned short."""
    for b in ck:
        if b is not None and len(b) > MAX_KEY_LENGTH:
            raise InvalidRequest(f"Key length of {len(b)} is longer than maximum of "
                                 f"{MAX_KEY_LENGTH}")
    return ck


def _quote(name: str) -> str:
    """ColumnIdentifier.toCQLString: names that need quotes in CQL get them."""
    import re

    if re.fullmatch(r"[a-z][a-z0-9_]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def column_of(table: Table, name: str) -> Column:
    col = table.columns.get(name)
    if col is None:
        raise InvalidRequest(f"Undefined column name {_quote(name)} in table "
                             f"{_quote(table.keyspace)}.{_quote(table.name)}")
    return col


def read_multi(t: ColType, m: Multi, now: float) -> Any:
    items = m.live_items(now)
    if not items:
        return None
    n = t.name
    if n == "list":
        return [e[1] for _, e in items]
    if n == "set":
        return {e[0] for _, e in items}
    if n == "map":
        return {e[0]: e[1] for _, e in items}
    # non-frozen UDT: field index -> value
    vals: list[Any] = [None] * len(t.params)
    for k, e in items:
        vals[k] = e[1]
    return t.proto.value_class(*vals)


def cell_value(row: Row | None, col: Column, now: float) -> Any:
    if row is None:
        return None
    c = row.cells.get(col.name)
    if c is None:
        return None
    if isinstance(c, Cell):
        if c.value is not None and (c.exp is None or c.exp > now):
            return c.value
        return None
    return read_multi(col.type, c, now)


def getter(table: Table, col: Column) -> Callable[[Partition, Row | None, float], Any]:
    """Value of ``col`` for a (partition, row) pair; row None is a partition's static row."""
    if col.kind == "partition_key":
        i = table.partition_key.index(col)
        return lambda p, r, now: p.pk_values[i]
    if col.kind == "clustering":
        j = table.clustering.index(col)
        return lambda p, r, now: r.ckey[j] if r is not None else None
    if col.kind == "static":
        return lambda p, r, now: cell_value(p.static, col, now)
    return lambda p, r, now: cell_value(r, col, now)


def _value_fn(term: Any, col: Column, binder: Binder, what: str = "condition") -> Callable:
    fn = compile_term(term, col.type, col.name, binder)

    def checked(ctx: Ctx) -> Any:
        v = fn(ctx)
        if v is None:
            raise InvalidRequest(f"Invalid null value in condition for column {col.name}")
        if v is UNSET:
            raise InvalidRequest(f"Invalid unset value for column {col.name}")
        return v

    return checked


def _bytes_fn(term: Any, col: Column, binder: Binder) -> Callable[[Ctx], bytes]:
    """Serialized value of a key restriction; bound bytes are used as they came."""
    if isinstance(term, ast.Marker):
        binder.bind(term, col.name, col.type)
        i = term.index
        slow = _value_fn(term, col, binder)
        enc = col.type.encode

        def marker(ctx: Ctx) -> bytes:
            raw = ctx.values[i]
            if type(raw) is bytes and raw:
                return raw
            return enc(slow(ctx))

        return marker
    fn = _value_fn(term, col, binder)
    if isinstance(term, ast.Const):
        b = col.type.encode(fn(None))  # type: ignore[arg-type]
        return lambda ctx: b
    return lambda ctx: col.type.encode(fn(ctx))


def _in_fns(rel: ast.Relation, col: Column, binder: Binder) -> Callable[[Ctx], list[Any]]:
    """Values of an IN restriction (a list of Python values)."""
    if isinstance(rel.rhs, ast.Marker):
        lt = ColType("list", (col.type,))
        binder.bind(rel.rhs, f"in({col.name})", lt)
        fn = compile_term(rel.rhs, lt, col.name, binder, f"in({col.name})")

        def marker(ctx: Ctx) -> list[Any]:
            v = fn(ctx)
            if v is UNSET:
                raise InvalidRequest(f"Invalid unset value for column {col.name}")
            return list(v or [])

        return marker
    fns = [_value_fn(t, col, binder) for t in rel.rhs]
    return lambda ctx: [f(ctx) for f in fns]


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


_SLICE_START = (">", ">=")
_SLICE_END = ("<", "<=")


def _restriction_kind(op: str) -> str:
    if op == "=":
        return "eq"
    if op == "IN":
        return "in"
    if op in ("CONTAINS", "CONTAINS_KEY"):
        return "contains"
    return "slice"


def check_merges(table: Table, relations: tuple[ast.Relation, ...]) -> None:
    """Cassandra's RestrictionSet merging rules: a column restricted by an EQ or an IN
    takes no other relation, a slice takes one start and one end bound, a CONTAINS only
    other CONTAINS (RestrictionSet.addRestriction / SingleColumnRestriction.doMergeWith)."""
    seen: dict[Any, tuple[str, set[str]]] = {}
    for rel in relations:
        lhs = rel.lhs
        if rel.op == "!=":
            raise InvalidRequest(f'Unsupported "!=" relation: {_relation_text(rel)}')
        if isinstance(lhs, tuple) and lhs[0] == "token":
            key: Any = ("token",)
            name = ", ".join(lhs[1])
        elif isinstance(lhs, tuple) and lhs[0] == "tuple":
            key = ("tuple", lhs[1])
            name = ", ".join(lhs[1])
        elif isinstance(lhs, tuple):
            continue  # element / field relations merge by their own rules
        else:
            key = lhs
            name = lhs
            if lhs not in table.columns:
                continue  # reported as an undefined column later
        kind = _restriction_kind(rel.op)
        prev = seen.get(key)
        if prev is None:
            bounds = set()
            if kind == "slice":
                bounds.add("start" if rel.op in _SLICE_START else "end")
            seen[key] = (kind, bounds)
            continue
        pkind, pbounds = prev
        if isinstance(key, tuple) and key[0] == "token":
            if pkind == "eq" or kind == "eq":
                raise InvalidRequest(f"Columns {name} cannot be restricted by more than one "
                                     "relation if it includes an Equal")
        elif pkind == "eq":
            raise InvalidRequest(f"{name} cannot be restricted by more than one relation if it "
                                 "includes an Equal")
        elif pkind == "in":
            raise InvalidRequest(f"{name} cannot be restricted by more than one relation if it "
                                 "includes a IN")
        elif pkind == "contains":
            if kind != "contains":
                raise InvalidRequest(f"Collection column {name} can only be restricted by "
                                     "CONTAINS, CONTAINS KEY, or map-entry equality")
            continue
        if kind != "slice":
            raise InvalidRequest(f'Column "{name}" cannot be restricted by both an equality '
                                 "and an inequality relation")
        bound = "start" if rel.op in _SLICE_START else "end"
        if bound in pbounds:
            raise InvalidRequest(f"More than one restriction was found for the {bound} bound "
                                 f"on {name}")
        pbounds.add(bound)


def _term_text(t: Any) -> str:
    if isinstance(t, ast.Const):
        return f"'{t.value}'" if t.kind == "STRING" else t.text
    if isinstance(t, ast.Marker):
        return "?" if t.name is None else f":{t.name}"
    if isinstance(t, tuple):
        return "(" + ", ".join(_term_text(x) for x in t) + ")"
    return "?"


def _relation_text(rel: ast.Relation) -> str:
    lhs = rel.lhs
    if isinstance(lhs, tuple):
        lhs = f"{lhs[0]}({', '.join(lhs[1])})" if lhs[0] == "token" else \
            "(" + ", ".join(lhs[1]) + ")"
    return f"{lhs} {rel.op} {_term_text(rel.rhs)}"


def _token_fn(table: Table, term: ast.FuncTerm, binder: Binder) -> Callable[[Ctx], int]:
    """``token(2)`` on the right of a token relation: the Murmur3 token of those values
    taken as the partition key."""
    from greencql.cluster.murmur3 import murmur3_token, serialize_partition_key

    pk = table.partition_key
    if len(term.args) != len(pk):
        raise InvalidRequest(f"Invalid number of arguments in call to function system.token: "
                             f"{len(pk)} required but {len(term.args)} provided")
    fns = [compile_term(a, c.type, c.name, binder) for a, c in zip(term.args, pk, strict=True)]

    def token(ctx: Ctx) -> int:
        parts = []
        for f, c in zip(fns, pk, strict=True):
            v = f(ctx)
            if v is None or v is UNSET:
                raise InvalidRequest(f"Invalid null value for partition key part {c.name}")
            parts.append(c.type.encode(v))
        return murmur3_token(serialize_partition_key(parts))

    return token


def _check_receiver(col: Column, rel: ast.Relation) -> None:
    """SingleColumnRelation.toReceivers of 4.0."""
    op = rel.op
    t = col.type
    if op == "IN" and col.kind not in ("partition_key", "clustering") and not (
            isinstance(rel.rhs, tuple) and len(rel.rhs) == 1):
        raise InvalidRequest(f"IN predicates on non-primary-key columns ({col.name}) is not yet "
                             "supported")
    if op == "CONTAINS_KEY" and not (t.name == "map"):
        raise InvalidRequest(f"Cannot use CONTAINS KEY on non-map column {col.name}")
    if op == "CONTAINS" and not t.is_collection:
        raise InvalidRequest(f"Cannot use CONTAINS on non-collection column {col.name}")
    if t.is_collection and t.multicell and op not in ("CONTAINS", "CONTAINS_KEY"):
        shown = {"IN": "IN", "CONTAINS": "CONTAINS"}.get(op, op)
        raise InvalidRequest(f"Collection column '{col.name}' ({t.cql_name}) cannot be "
                             f"restricted by a '{shown}' relation")


class Where:
    """A WHERE clause resolved against a table."""

    def __init__(self, table: Table, relations: tuple[ast.Relation, ...], binder: Binder,
                 *, allow_filtering: bool = True, statement: str = "SELECT") -> None:
        self.table = table
        pk_names = [c.name for c in table.partition_key]
        ck_names = [c.name for c in table.clustering]
        #: per partition key column: fn(ctx) -> list of serialized values
        self.pk: dict[str, Callable[[Ctx], list[bytes]]] = {}
        self.pk_single: dict[str, Callable[[Ctx], bytes]] = {}
        #: marker index of each pk column bound by '= ?'
        self.pk_markers: dict[str, int] = {}
        self.token_lo: tuple[Callable, bool] | None = None
        self.token_hi: tuple[Callable, bool] | None = None
        self.ck_eq: dict[str, Callable[[Ctx], list[Any]]] = {}
        self.ck_eq_bytes: dict[str, Callable[[Ctx], bytes]] = {}
        self.ck_slice: dict[str, list[tuple[str, Callable]]] = {}
        #: (column, op, fn) restrictions evaluated per row
        self.filters: list[tuple[Column, str, Callable]] = []
        self.needs_filtering = False
        self.indexed_eq = False
        self.has_ck_restriction = False
        pk_other: list[tuple[Column, str, Callable]] = []
        non_pk: list[str] = []
        #: multi-column relations: (clustering indexes, op, fn giving a tuple or tuples)
        self.multi: list[tuple[list[int], str, Callable]] = []
        self._single_ck = False
        check_merges(table, relations)

        for rel in relations:
            lhs = rel.lhs
            if isinstance(lhs, tuple):
                if lhs[0] == "token":
                    if list(lhs[1]) != pk_names:
                        raise InvalidRequest(
                            "The token function arguments must be in the partition key order: "
                            + ", ".join(pk_names))
                    if rel.op not in (">", ">=", "<", "<=", "="):
                        raise InvalidRequest(f"{rel.op} is not supported on token() restrictions")
                    if isinstance(rel.rhs, ast.FuncTerm) and rel.rhs.name == "token":
                        fn = _token_fn(table, rel.rhs, binder)
                    else:
                        fn = compile_term(rel.rhs, _BIGINT, "partition key token", binder)
                    if rel.op in (">", ">=", "="):
                        self.token_lo = (fn, rel.op != ">")
                    if rel.op in ("<", "<=", "="):
                        self.token_hi = (fn, rel.op != "<")
                    continue
                if lhs[0] == "elem":
                    self._entry(lhs, rel, binder, statement)
                    continue
                self._multi(lhs[1], rel, binder)
                continue
            col = column_of(self.table, lhs)
            op = rel.op
            _check_receiver(col, rel)
            if col.kind == "partition_key":
                if op == "=":
                    bf = _bytes_fn(rel.rhs, col, binder)
                    self.pk[col.name] = _one(bf)
                    self.pk_single[col.name] = bf
                    if isinstance(rel.rhs, ast.Marker):
                        self.pk_markers[col.name] = rel.rhs.index
                elif op == "IN":
                    vf = _in_fns(rel, col, binder)
                    enc = col.type.encode
                    self.pk[col.name] = _encoded_all(vf, enc)
                else:
                    pk_other.append(self._filter(col, rel, binder))
                continue
            if col.kind == "clustering":
                self.has_ck_restriction = True
                self._single_ck = True
                if self.multi:
                    raise InvalidRequest("Mixing single column relations and multi column "
                                         "relations on clustering columns is not allowed")
                if op == "=":
                    vf2 = _value_fn(rel.rhs, col, binder)
                    self.ck_eq[col.name] = _one(vf2)
                    self.ck_eq_bytes[col.name] = _bytes_fn(rel.rhs, col, ast_binder_noop())
                elif op == "IN":
                    self.ck_eq[col.name] = _in_fns(rel, col, binder)
                elif op in ("<", "<=", ">", ">="):
                    self.ck_slice.setdefault(col.name, []).append(
                        (op, _value_fn(rel.rhs, col, binder)))
                else:
                    self.filters.append(self._filter(col, rel, binder))
                    self.needs_filtering = True
                continue
            # regular / static column
            if statement != "SELECT":
                non_pk.append(col.name)
                continue
            f = self._filter(col, rel, binder)
            self.filters.append(f)
            indexed = any(ix.column == col.name for ix in table.indexes.values())
            if indexed and op in ("=", "CONTAINS", "CONTAINS_KEY"):
                self.indexed_eq = True
            else:
                self.needs_filtering = True

        self.full_pk = len(self.pk) == len(pk_names)
        if pk_other or (self.pk and not self.full_pk):
            if statement != "SELECT":
                missing = [n for n in pk_names if n not in self.pk]
                if pk_other:
                    raise InvalidRequest("Only EQ and IN relation are supported on the partition "
                                         "key (unless you use the token() function)")
                raise InvalidRequest(f"Some partition key parts are missing: "
                                     f"{', '.join(missing)}")
            # a partial partition key is a filter over a range scan; an index on a
            # component restricted by EQ serves it without ALLOW FILTERING
            indexed = {ix.column for ix in table.indexes.values()}
            by_index = not pk_other and any(n in indexed and n in self.pk_single
                                            for n in self.pk)
            for name, fn in self.pk.items():
                col = table.columns[name]
                enc_list = fn
                self.filters.append((col, "IN_BYTES", enc_list))
            self.filters.extend(pk_other)
            self.pk = {}
            self.pk_single = {}
            self.full_pk = False
            if by_index:
                self.indexed_eq = True
            else:
                self.needs_filtering = True
        if non_pk:
            # StatementRestrictions: the partition key is checked before these
            if self.token_lo or self.token_hi:
                raise InvalidRequest("The token function cannot be used in WHERE clauses for "
                                     f"{statement} statements")
            if not self.full_pk:
                missing = [n for n in pk_names if n not in self.pk]
                raise InvalidRequest(f"Some partition key parts are missing: "
                                     f"{', '.join(missing)}")
            raise InvalidRequest(f"Non PRIMARY KEY columns found in where clause: "
                                 f"{', '.join(non_pk)} ")
        if self.token_lo or self.token_hi:
            if self.full_pk:
                raise InvalidRequest("Columns \"" + ", ".join(pk_names)
                                     + "\" cannot be restricted by both a normal relation and a "
                                       "token relation")
        # clustering: EQ/IN prefix, then at most one slice, else filtering
        self.ck_prefix = 0
        for name in ck_names:
            if name in self.ck_eq:
                self.ck_prefix += 1
            else:
                break
        self.slice_col: Column | None = None
        extra = [n for n in ck_names[self.ck_prefix:] if n in self.ck_eq or n in self.ck_slice]
        if extra:
            first = extra[0]
            if first == ck_names[self.ck_prefix] and first in self.ck_slice \
                    and first not in self.ck_eq:
                self.slice_col = table.columns[first]
                extra = extra[1:]
            for name in extra:
                if statement != "SELECT" or not allow_filtering:
                    prev = ck_names[ck_names.index(name) - 1]
                    if prev in self.ck_slice and prev not in self.ck_eq:
                        raise InvalidRequest(
                            f'Clustering column "{name}" cannot be restricted (preceding column '
                            f'"{prev}" is restricted by a non-EQ relation)')
                    raise InvalidRequest(
                        f'PRIMARY KEY column "{name}" cannot be restricted as preceding column '
                        f'"{prev}" is not restricted')
                col = table.columns[name]
                for op, fn in self.ck_slice.get(name, []):
                    self.filters.append((col, op, fn))
                if name in self.ck_eq:
                    self.filters.append((col, "IN", self.ck_eq.pop(name)))
                self.ck_slice.pop(name, None)
                self.needs_filtering = True
        if self.has_ck_restriction and not self.full_pk and statement == "SELECT":
            # an index on a clustering column restricted by EQ serves the query alone
            indexed = {ix.column for ix in table.indexes.values()}
            restricted = [n for n in ck_names if n in self.ck_eq or n in self.ck_slice]
            if len(restricted) == 1 and not self.multi and restricted[0] in indexed and \
                    restricted[0] in self.ck_eq_bytes and not pk_other:
                self.indexed_eq = True
            else:
                self.needs_filtering = True
        self.full_ck = self.ck_prefix == len(ck_names)

    def _multi(self, names: tuple[str, ...], rel: ast.Relation, binder: Binder) -> None:
        """``(c1, c2) op (..)``: clustering columns in PRIMARY KEY order, from the first."""
        table = self.table
        cols = [column_of(table, n) for n in names]
        for c in cols:
            if c.kind != "clustering":
                raise InvalidRequest("Multi-column relations can only be applied to clustering "
                                     f"columns but was applied to: {c.name}")
        idxs = [table.clustering.index(c) for c in cols]
        if idxs != list(range(idxs[0], idxs[0] + len(idxs))):
            raise InvalidRequest("Clustering columns must appear in the PRIMARY KEY order in "
                                 f"multi-column relations: ({', '.join(names)})")
        if idxs[0] != 0:
            first = table.clustering[idxs[0]].name
            prev = table.clustering[idxs[0] - 1].name
            raise InvalidRequest(f'PRIMARY KEY column "{first}" cannot be restricted as '
                                 f'preceding column "{prev}" is not restricted')
        if self._single_ck:
            raise InvalidRequest("Mixing single column relations and multi column relations on "
                                 "clustering columns is not allowed")
        self.has_ck_restriction = True
        tt = ColType("tuple", tuple(c.type for c in cols), frozen=True)
        shown = "(" + ",".join(names) + ")"
        op = rel.op
        if op == "IN":
            if isinstance(rel.rhs, ast.Marker):
                fn = compile_term(rel.rhs, ColType("list", (tt,)), shown, binder,
                                  f"in({shown})")
            else:
                fns = [compile_term(x, tt, shown, binder) for x in rel.rhs]
                fn = (lambda fs: lambda ctx: [f(ctx) for f in fs])(fns)
            self.multi.append((idxs, "IN", fn))
            return
        if op not in ("=", "<", "<=", ">", ">="):
            raise InvalidRequest(f"Unsupported operator {op} in multi-column relation")
        fn = compile_term(rel.rhs, tt, shown, binder)
        if op == "=":
            for pos, c in enumerate(cols):
                vf = _tuple_item_fn(fn, pos, c)
                self.ck_eq[c.name] = _one(vf)
                self.ck_eq_bytes[c.name] = _encoded_one(vf, c)
            return
        self.multi.append((idxs, op, fn))

    def _entry(self, lhs: tuple[Any, ...], rel: ast.Relation, binder: Binder,
               statement: str) -> None:
        """``m['key'] = value``: map-entry equality (served by an ENTRIES index)."""
        col = column_of(self.table, lhs[1])
        t = col.type
        if t.name != "map" or statement != "SELECT":
            raise InvalidRequest(f"Invalid element access on column {col.name}" if
                                 statement == "SELECT" else
                                 f"Non PRIMARY KEY columns found in where clause: {col.name} ")
        if rel.op != "=":
            raise InvalidRequest(f"Map-entry equality predicates on frozen map column "
                                 f"{col.name} are not supported" if t.frozen else
                                 f"Only EQ relations are supported on map entries "
                                 f"({col.name})")
        kf = compile_term(lhs[2], t.params[0], col.name, binder, f"key({col.name})")
        vf = compile_term(rel.rhs, t.params[1], col.name, binder, f"value({col.name})")
        self.filters.append((col, "ENTRY", lambda ctx: (kf(ctx), vf(ctx))))
        indexed = any(ix.column == col.name and ix.target.startswith("entries(")
                      for ix in self.table.indexes.values())
        if indexed:
            self.indexed_eq = True
        else:
            self.needs_filtering = True

    def _filter(self, col: Column, rel: ast.Relation, binder: Binder) -> tuple[Column, str, Any]:
        op = rel.op
        if op == "IN":
            return (col, "IN", _in_fns(rel, col, binder))
        if op == "CONTAINS":
            if not col.type.is_collection:
                raise InvalidRequest(f"Cannot use CONTAINS on non-collection column {col.name}")
            et = col.type.params[1] if col.type.name == "map" else col.type.params[0]
            fn = compile_term(rel.rhs, et, col.name, binder)
            return (col, op, fn)
        if op == "CONTAINS_KEY":
            if col.type.name != "map":
                raise InvalidRequest(f"Cannot use CONTAINS KEY on non-map column {col.name}")
            fn = compile_term(rel.rhs, col.type.params[0], col.name, binder)
            return (col, op, fn)
        return (col, op, _value_fn(rel.rhs, col, binder))

    # -- execution helpers ------------------------------------------------------------------

    def partition_keys(self, ctx: Ctx) -> list[bytes]:
        """Serialized partition keys (deduplicated, unordered) of a full-key restriction."""
        from greencql.cluster.murmur3 import serialize_partition_key

        comps = [self.pk[c.name](ctx) for c in self.table.partition_key]
        if len(comps) == 1:
            keys = list(dict.fromkeys(comps[0]))
        else:
            keys = list(dict.fromkeys(serialize_partition_key(list(combo))
                                      for combo in itertools.product(*comps)))
        for k in keys:
            validate_key(k)
        return keys

    def token_bounds(self, ctx: Ctx) -> tuple[int | None, bool, int | None, bool]:
        lo = hi = None
        lo_inc = hi_inc = True
        if self.token_lo:
            lo = self.token_lo[0](ctx)
            lo_inc = self.token_lo[1]
        if self.token_hi:
            hi = self.token_hi[0](ctx)
            hi_inc = self.token_hi[1]
        return lo, lo_inc, hi, hi_inc

    def clustering_keys(self, ctx: Ctx) -> list[tuple[bytes, ...]]:
        """All full clustering keys (serialized) of an EQ/IN restriction on every column."""
        comps = []
        for c in self.table.clustering:
            comps.append([c.type.encode(v) for v in self.ck_eq[c.name](ctx)])
        return [tuple(x) for x in itertools.product(*comps)]

    def clustering_predicate(self, ctx: Ctx) -> Callable[[tuple[Any, ...]], bool] | None:
        """A predicate over a row's raw clustering sort keys, or None if unrestricted."""
        cols = self.table.clustering
        sets = []
        for c in cols[: self.ck_prefix]:
            sk = c.type.sort_key
            sets.append({sk(v) for v in self.ck_eq[c.name](ctx)})
        bounds = []
        if self.slice_col is not None:
            sc = self.slice_col
            j = cols.index(sc)
            for op, fn in self.ck_slice[sc.name]:
                bounds.append((j, op, sc.type.sort_key(fn(ctx))))
        multi = []
        for idxs, op, fn in self.multi:
            sks = [cols[i].type.sort_key for i in idxs]
            if op == "IN":
                want = {tuple(f(x) for f, x in zip(sks, tup, strict=True))
                        for tup in (fn(ctx) or [])}
                multi.append((idxs, op, want))
            else:
                tup = fn(ctx)
                multi.append((idxs, op, tuple(f(x) for f, x in zip(sks, tup, strict=False))))
        if not sets and not bounds and not multi:
            return None
        ops = _OPS

        def pred(keys: tuple[Any, ...]) -> bool:
            for i, s in enumerate(sets):
                if keys[i] not in s:
                    return False
            for j, op, b in bounds:
                if not ops[op](keys[j], b):
                    return False
            for idxs, op, b in multi:
                got = tuple(keys[i] for i in idxs)
                if op == "IN":
                    if got not in b:
                        return False
                elif not ops[op](got[:len(b)], b):
                    return False
            return True

        return pred

    def row_filter(self, ctx: Ctx) -> Callable[[Partition, Row | None, float], bool] | None:
        if not self.filters:
            return None
        checks = []
        for col, op, fn in self.filters:
            get = getter(self.table, col)
            if op == "IN_BYTES":
                enc = col.type.encode
                wanted_b = set(fn(ctx))
                checks.append((lambda g, w, e: lambda p, r, now: (
                    (v := g(p, r, now)) is not None and e(v) in w))(get, wanted_b, enc))
                continue
            value = fn(ctx)
            if value is _EMPTY:
                value = None
            checks.append(_make_check(col, op, value, get))

        def ok(p: Partition, r: Row | None, now: float) -> bool:
            return all(c(p, r, now) for c in checks)

        return ok


def _tuple_item_fn(fn: Callable[[Ctx], Any], pos: int, c: Column) -> Callable[[Ctx], Any]:
    return lambda ctx: _tuple_item(fn(ctx), pos, c.name)


def _encoded_one(fn: Callable[[Ctx], Any], c: Column) -> Callable[[Ctx], bytes]:
    return lambda ctx: c.type.encode(fn(ctx))


def _tuple_item(v: Any, i: int, name: str) -> Any:
    if v is None or v is UNSET:
        raise InvalidRequest(f"Invalid null value for column {name}" if v is None else
                             f"Invalid unset value for column {name}")
    item = v[i]
    if item is None:
        raise InvalidRequest(f"Invalid null value in condition for column {name}")
    return item


def _one(fn: Callable[[Ctx], Any]) -> Callable[[Ctx], list[Any]]:
    return lambda ctx: [fn(ctx)]


def _encoded_all(fn: Callable[[Ctx], list[Any]], enc: Callable[[Any], bytes]
                 ) -> Callable[[Ctx], list[bytes]]:
    return lambda ctx: [enc(v) for v in fn(ctx)]


def ast_binder_noop() -> Binder:
    """A throwaway binder for a second compilation of an already bound marker."""
    return Binder("", "")


def _make_check(col: Column, op: str, value: Any, get: Callable) -> Callable:
    sk = col.type.sort_key
    if op == "ENTRY":
        ksk, vsk = col.type.params[0].sort_key, col.type.params[1].sort_key
        key, want = ksk(value[0]), vsk(value[1])

        def check_entry(p: Partition, r: Row | None, now: float) -> bool:
            v = get(p, r, now)
            return v is not None and any(ksk(a) == key and vsk(b) == want
                                         for a, b in v.items())

        return check_entry
    if op == "IN":
        wanted = {sk(v) for v in value}

        def check_in(p: Partition, r: Row | None, now: float) -> bool:
            v = get(p, r, now)
            return v is not None and sk(v) in wanted

        return check_in
    if op == "CONTAINS":
        t = col.type
        esk = (t.params[1] if t.name == "map" else t.params[0]).sort_key
        target = esk(value)

        def check_contains(p: Partition, r: Row | None, now: float) -> bool:
            v = get(p, r, now)
            if v is None:
                return False
            items = v.values() if isinstance(v, dict) else v
            return any(esk(x) == target for x in items)

        return check_contains
    if op == "CONTAINS_KEY":
        ksk = col.type.params[0].sort_key
        target = ksk(value)

        def check_key(p: Partition, r: Row | None, now: float) -> bool:
            v = get(p, r, now)
            return v is not None and any(ksk(x) == target for x in v)

        return check_key
    cmp = _OPS[op]
    target = sk(value)

    def check(p: Partition, r: Row | None, now: float) -> bool:
        v = get(p, r, now)
        if v is None:
            return False
        try:
            return cmp(sk(v), target)
        except TypeError:
            return False

    return check
