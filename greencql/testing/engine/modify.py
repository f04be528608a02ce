"""INSERT, UPDATE, DELETE and BATCH in the simulated engine.

Owns: validating writes against the table (missing key parts, counters, static-only updates,
LWT rules) with Cassandra's messages, compiling the SET/VALUES operations (plain values,
collection append/prepend/remove/element set, counter increments), applying them to storage
with timestamps and TTLs (table default_time_to_live included), range and row deletions, and
lightweight transactions (IF NOT EXISTS / IF EXISTS / IF conditions) with their
``[applied]`` result rows. Batches check every condition before applying anything, and every
write (single or batched) binds and validates all its values before storing any: a rejected
statement leaves no partial row behind.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from greencql.cluster.murmur3 import serialize_partition_key
from greencql.errors import InvalidRequest, ProtocolError
from greencql.testing.cql import ast
from greencql.testing.engine.results import UNSET, ColumnSpec, Rows, Void
from greencql.testing.engine.storage import Cell, Multi, Partition, Row
from greencql.testing.engine.values import _EMPTY, Binder, Ctx, _hashable, compile_term
from greencql.testing.engine.where import (
    Where,
    cell_value,
    column_of,
    getter,
    validate_clustering,
    validate_key,
)
from greencql.testing.schema import ColType, Column, Table

__all__ = [
    "ModifyPlan",
    "BatchPlan",
    "APPLIED",
    "batch_warnings",
    "BATCH_SIZE_WARN_THRESHOLD",
    "BATCH_SIZE_FAIL_THRESHOLD",
    "UNLOGGED_BATCH_PARTITIONS_WARN_THRESHOLD",
]

_INT = ColType("int")
_BIGINT = ColType("bigint")
_BOOLEAN = ColType("boolean")
APPLIED = "[applied]"
_MAX_TTL = 630720000


class _Op:
    __slots__ = ("col", "fn", "key_fn", "kind")

    def __init__(self, col: Column, kind: str, fn: Callable | None, key_fn: Callable | None = None):
        self.col = col
        self.kind = kind
        self.fn = fn
        self.key_fn = key_fn


class ModifyPlan:
    kind = "modify"

    def __init__(self, stmt: Any, table: Table, binder: Binder, nmarkers: int | None,
                 batch_kind: str | None = None) -> None:
        self.table = table
        self.stmt = stmt
        if table.virtual or table.keyspace in ("system", "system_schema",
                                               "system_virtual_schema"):
            from greencql.errors import Unauthorized

            raise Unauthorized(f"{table.keyspace} keyspace is not user-modifiable.")
        self.ops: list[_Op] = []
        self.ttl: Callable | None = None
        self.timestamp: Callable | None = None
        self.if_not_exists = False
        self.if_exists = False
        self.conditions: list[tuple[Column, str, Callable, Callable | None]] = []
        self.delete_row = False
        self.is_insert = isinstance(stmt, ast.Insert)

        if isinstance(stmt, ast.Insert):
            self._plan_insert(stmt, binder)
        elif isinstance(stmt, ast.Update):
            self._plan_update(stmt, binder)
        else:
            self._plan_delete(stmt, binder)

        if table.is_counter:
            if self.is_insert:
                raise InvalidRequest("INSERT statements are not allowed on counter tables, use "
                                     "UPDATE instead")
            if self.timestamp is not None:
                raise InvalidRequest("Cannot provide custom timestamp for counter updates")
            if self.ttl is not None:
                raise InvalidRequest("Cannot provide custom TTL for counter updates")
        self.is_lwt = self.if_exists or self.if_not_exists or bool(self.conditions)
        if self.is_lwt and self.timestamp is not None:
            raise InvalidRequest("Cannot provide custom timestamp for conditional updates")
        if self.is_lwt and table.is_counter:
            raise InvalidRequest("Conditional updates are not supported on counter tables")
        self.bind_specs = binder.spec_list(nmarkers) if nmarkers is not None else ()
        pk_idx = [self.where.pk_markers.get(c.name) if self.where else self._insert_markers.get(
            c.name) for c in table.partition_key]
        self.pk_indexes = tuple(pk_idx) if all(i is not None for i in pk_idx) else ()  # type: ignore[arg-type]
        self.result_specs: tuple[ColumnSpec, ...] = ()

    # -- planning ---------------------------------------------------------------------------

    def _using(self, stmt: Any, binder: Binder) -> None:
        ttl = getattr(stmt, "ttl", None)
        if ttl is not None:
            self.ttl = compile_term(ttl, _INT, "[ttl]", binder)
        if stmt.timestamp is not None:
            self.timestamp = compile_term(stmt.timestamp, _BIGINT, "[timestamp]", binder)

    def _plan_insert(self, stmt: ast.Insert, binder: Binder) -> None:
        table = self.table
        if stmt.json is not None:
            self._plan_insert_json(stmt, binder)
            return
        if len(stmt.columns) != len(stmt.values):
            raise InvalidRequest("Unmatched column names/values")
        self.where = None
        self._insert_markers: dict[str, int] = {}
        seen = set()
        self.key_terms: dict[str, Any] = {}
        for name, term in zip(stmt.columns, stmt.values, strict=True):
            col = column_of(table, name)
            if name in seen:
                raise InvalidRequest(f"Multiple definitions found for column {name}")
            seen.add(name)
            if col.kind in ("partition_key", "clustering"):
                self.key_terms[name] = compile_term(term, col.type, col.name, binder)
                if isinstance(term, ast.Marker):
                    self._insert_markers[name] = term.index
                continue
            if col.type.is_counter:
                raise InvalidRequest("INSERT statements are not allowed on counter tables, use "
                                     "UPDATE instead")
            self.ops.append(_Op(col, "set", compile_term(term, col.type, col.name, binder)))
        missing = [c.name for c in table.partition_key if c.name not in self.key_terms]
        if missing:
            raise InvalidRequest(f"Some partition key parts are missing: {', '.join(missing)}")
        only_static = self.ops and all(op.col.kind == "static" for op in self.ops)
        missing_ck = [c.name for c in table.clustering if c.name not in self.key_terms]
        if missing_ck and not (only_static and len(missing_ck) == len(table.clustering)):
            raise InvalidRequest(f"Some clustering keys are missing: {', '.join(missing_ck)}")
        self.static_only = bool(missing_ck)
        self.if_not_exists = stmt.if_not_exists
        self._using(stmt, binder)

    def _plan_insert_json(self, stmt: ast.Insert, binder: Binder) -> None:
        """INSERT JSON: every column of the table takes its value from the JSON object;
        missing ones are null (DEFAULT NULL) or left alone (DEFAULT UNSET)."""
        import json

        from greencql.testing.engine.selectors import from_json

        table = self.table
        text_fn = compile_term(stmt.json, ColType("text"), "[json]", binder)
        unset = stmt.json_default_unset

        def document(ctx: Ctx) -> dict[str, Any]:
            cache = ctx.cache if ctx.cache is not None else {}
            ctx.cache = cache
            hit = cache.get(-1)
            if hit is not None:
                return hit
            raw = text_fn(ctx)
            if raw is None or raw is UNSET:
                raise InvalidRequest("Got null for INSERT JSON values")
            try:
                obj = json.loads(raw)
            except ValueError as exc:
                raise InvalidRequest(f"Could not decode JSON string as a map: {exc}. String "
                                     f"was: {raw}") from exc
            if not isinstance(obj, dict):
                raise InvalidRequest(f"Could not decode JSON string as a map: {raw}")
            doc: dict[str, Any] = {}
            for key, v in obj.items():
                name = key[1:-1] if len(key) > 1 and key[0] == key[-1] == '"' else key.lower()
                if name not in table.columns:
                    raise InvalidRequest(f"JSON values map contains unrecognized column: {key}")
                doc[name] = v
            cache[-1] = doc
            return doc

        def value_fn(col: Column) -> Callable[[Ctx], Any]:
            def value(ctx: Ctx) -> Any:
                doc = document(ctx)
                if col.name not in doc:
                    return UNSET if unset and col.kind not in ("partition_key", "clustering") \
                        else None
                return from_json(doc[col.name], col.type, col.name)

            return value

        self.where = None
        self._insert_markers = {}
        self.key_terms = {}
        for col in table.columns.values():
            if col.kind in ("partition_key", "clustering"):
                self.key_terms[col.name] = value_fn(col)
            elif col.type.is_counter:
                raise InvalidRequest("INSERT statements are not allowed on counter tables, use "
                                     "UPDATE instead")
            else:
                self.ops.append(_Op(col, "set", value_fn(col)))
        self.static_only = False
        self.if_not_exists = stmt.if_not_exists
        self._using(stmt, binder)

    def _plan_update(self, stmt: ast.Update, binder: Binder) -> None:
        table = self.table
        self._using(stmt, binder)
        for a in stmt.assignments:
            col = column_of(table, a.column)
            if col.kind in ("partition_key", "clustering"):
                raise InvalidRequest(f"PRIMARY KEY part {col.name} found in SET part")
            self.ops.append(self._assignment(a, col, binder))
        self.where = Where(table, stmt.where, binder, statement="UPDATE")
        self._check_where(self.where, only_static=all(op.col.kind == "static" for op in self.ops))
        self.if_exists = stmt.if_exists
        self._plan_conditions(stmt.conditions, binder)

    def _plan_delete(self, stmt: ast.Delete, binder: Binder) -> None:
        table = self.table
        self._using(stmt, binder)
        for tgt in stmt.targets:
            col = column_of(table, tgt.column)
            if col.kind in ("partition_key", "clustering"):
                raise InvalidRequest(f"Invalid identifier {col.name} for deletion (should not be a "
                                     "PRIMARY KEY part)")
            if tgt.field is not None:
                t = col.type
                if t.name != "udt":
                    raise InvalidRequest(f"Invalid deletion operation for non-UDT column "
                                         f"{col.name}")
                if t.frozen:
                    raise InvalidRequest(f"Frozen UDT column {col.name} does not support field "
                                         "deletion")
                if tgt.field not in t.field_names:
                    raise InvalidRequest(f"UDT column {col.name} does not have a field named "
                                         f"{tgt.field}")
                i = t.field_names.index(tgt.field)
                self.ops.append(_Op(col, "del_field", None, lambda ctx, i=i: i))
            elif tgt.key is not None:
                t = col.type
                if not t.is_collection:
                    raise InvalidRequest(f"Invalid deletion operation for non collection column "
                                         f"{col.name}")
                if t.frozen:
                    raise InvalidRequest(f"Invalid deletion operation for frozen collection "
                                         f"column {col.name}")
                if t.name == "map":
                    kf = compile_term(tgt.key, t.params[0], col.name, binder, f"key({col.name})")
                elif t.name == "set":
                    kf = compile_term(tgt.key, t.params[0], col.name, binder,
                                      f"value({col.name})")
                else:
                    kf = compile_term(tgt.key, _INT, col.name, binder, f"idx({col.name})")
                self.ops.append(_Op(col, "del_elem", None, kf))
            else:
                self.ops.append(_Op(col, "del", None))
        self.delete_row = not stmt.targets
        self.where = Where(table, stmt.where, binder, statement="DELETE")
        w = self.where
        if not w.full_pk:
            missing = [c.name for c in table.partition_key if c.name not in w.pk]
            raise InvalidRequest(f"Some partition key parts are missing: {', '.join(missing)}")
        if w.token_lo or w.token_hi:
            raise InvalidRequest("The token function cannot be used in WHERE clauses for DELETE "
                                 "statements")
        if not self.delete_row:
            only_static = all(op.col.kind == "static" for op in self.ops)
            if not w.full_ck and not only_static:
                if w.has_ck_restriction:
                    raise InvalidRequest("Range deletions are not supported for specific "
                                         "columns")
                missing = [c.name for c in table.clustering[w.ck_prefix:]]
                raise InvalidRequest(f"Some clustering keys are missing: {', '.join(missing)}")
        elif w.filters:
            raise InvalidRequest("Invalid restrictions on clustering columns for DELETE")
        self.if_exists = stmt.if_exists
        self._plan_conditions(stmt.conditions, binder)
        if (self.if_exists or stmt.conditions) and self.delete_row and not w.full_ck:
            raise InvalidRequest("DELETE statements must restrict all PRIMARY KEY columns with "
                                 "equality relations in order to delete non static columns"
                                 if table.clustering else "Invalid conditional DELETE")

    def _check_where(self, w: Where, only_static: bool) -> None:
        table = self.table
        if not w.full_pk:
            missing = [c.name for c in table.partition_key if c.name not in w.pk]
            raise InvalidRequest(f"Some partition key parts are missing: {', '.join(missing)}")
        if w.token_lo or w.token_hi:
            raise InvalidRequest("The token function cannot be used in WHERE clauses for UPDATE "
                                 "statements")
        if only_static and table.clustering:
            if w.has_ck_restriction:
                raise InvalidRequest("Invalid restrictions on clustering columns since the UPDATE "
                                     "statement modifies only static columns")
            return
        if w.slice_col is not None or w.filters:
            raise InvalidRequest("Slice restrictions are not supported on the clustering columns "
                                 "in UPDATE statements" if w.slice_col is not None else
                                 "Invalid restrictions on clustering columns")
        if not w.full_ck:
            missing = [c.name for c in table.clustering[w.ck_prefix:]]
            raise InvalidRequest(f"Some clustering keys are missing: {', '.join(missing)}")

    def _assignment(self, a: ast.Assignment, col: Column, binder: Binder) -> _Op:
        t = col.type
        op = a.op
        if t.is_counter:
            if op == "set":
                raise InvalidRequest(f"Cannot set the value of counter column {col.name} (counters "
                                     "can only be incremented/decremented, not set)")
            if op not in ("add", "sub"):
                raise InvalidRequest(f"Invalid operation for counter column {col.name}")
            return _Op(col, op, compile_term(a.value, _BIGINT, col.name, binder))
        if op == "set":
            return _Op(col, "set", compile_term(a.value, t, col.name, binder))
        if op in ("add", "sub", "prepend"):
            if not t.is_collection:
                raise InvalidRequest(f"Invalid operation ({col.name} = {col.name} "
                                     f"{'-' if op == 'sub' else '+'} ?) for non counter column "
                                     f"{col.name}")
            if t.frozen:
                raise InvalidRequest(f"Invalid operation ({col.name} = {col.name} + ?) for "
                                     f"frozen collection column {col.name}")
            if op == "prepend" and t.name != "list":
                raise InvalidRequest(f"Invalid operation ({col.name} = ? + {col.name}) for non "
                                     f"list column {col.name}")
            vt = t
            if op == "sub" and t.name == "map":
                vt = ColType("set", (t.params[0],))
            return _Op(col, op, compile_term(a.value, vt, col.name, binder))
        if op == "set_elem":
            if t.frozen or t.name not in ("map", "list"):
                raise InvalidRequest(f"Invalid operation ({col.name}[?] = ?) for non list/map "
                                     f"column {col.name}" if not t.frozen else
                                     f"Invalid operation ({col.name}[?] = ?) for frozen "
                                     f"collection column {col.name}")
            if t.name == "map":
                kf = compile_term(a.key, t.params[0], col.name, binder, f"key({col.name})")
                vf = compile_term(a.value, t.params[1], col.name, binder, f"value({col.name})")
            else:
                kf = compile_term(a.key, _INT, col.name, binder, f"idx({col.name})")
                vf = compile_term(a.value, t.params[0], col.name, binder, f"value({col.name})")
            return _Op(col, "set_elem", vf, kf)
        if op == "set_field":
            if t.name != "udt" or t.frozen:
                raise InvalidRequest(f"Invalid operation ({col.name}.{a.key} = ?) for non-UDT "
                                     f"column {col.name}" if t.name != "udt" else
                                     f"Invalid operation for frozen UDT column {col.name}")
            if a.key not in t.field_names:
                raise InvalidRequest(f"UDT column {col.name} does not have a field named {a.key}")
            i = t.field_names.index(a.key)
            vf = compile_term(a.value, t.params[i], f"{col.name}.{a.key}", binder)
            return _Op(col, "set_field", vf, lambda ctx, i=i: i)
        raise InvalidRequest(f"Unsupported operation on {col.name}")

    def _plan_conditions(self, conds: tuple[ast.Condition, ...], binder: Binder) -> None:
        for c in conds:
            col = column_of(self.table, c.column)
            if col.kind in ("partition_key", "clustering"):
                raise InvalidRequest(f"PRIMARY KEY column '{col.name}' cannot have IF conditions")
            t = col.type
            key_fn = None
            vt = t
            if c.key is not None:
                if isinstance(c.key, ast.Const) and c.key.kind == "FIELD":
                    if t.name != "udt" or c.key.text not in t.field_names:
                        raise InvalidRequest(f"Invalid field {c.key.text} for {col.name}")
                    i = t.field_names.index(c.key.text)
                    key_fn = _const_key("field", i)
                    vt = t.params[i]
                elif t.name == "map":
                    kf = compile_term(c.key, t.params[0], col.name, binder, f"key({col.name})")
                    key_fn = _tagged("key", kf)
                    vt = t.params[1]
                elif t.name == "list":
                    kf = compile_term(c.key, _INT, col.name, binder, f"idx({col.name})")
                    key_fn = _tagged("idx", kf)
                    vt = t.params[0]
                else:
                    raise InvalidRequest(f"Invalid element access on column {col.name}")
            if c.op == "IN":
                if isinstance(c.value, ast.Marker):
                    lt = ColType("list", (vt,))
                    fn = compile_term(c.value, lt, col.name, binder, f"in({col.name})")
                else:
                    fns = [compile_term(v, vt, col.name, binder) for v in c.value]
                    fn = _all_of(fns)
            else:
                fn = compile_term(c.value, vt, col.name, binder)
            self.conditions.append((col, c.op, fn, key_fn))

    # -- execution --------------------------------------------------------------------------

    def targets(self, ctx: Ctx) -> list[tuple[bytes, tuple[bytes, ...] | None, Any]]:
        """(partition key, clustering key or None, clustering predicate or None) to write."""
        table = self.table
        if self.where is None:
            comps = []
            for c in table.partition_key:
                v = self.key_terms[c.name](ctx)
                if v is None or v is _EMPTY:
                    raise InvalidRequest(f"Invalid null value in condition for column {c.name}"
                                         if v is None else "Key may not be empty")
                if v is UNSET:
                    raise InvalidRequest(f"Invalid unset value for column {c.name}")
                comps.append(c.type.encode(v))
            key = validate_key(serialize_partition_key(comps))
            if self.static_only:
                return [(key, None, None)]
            ck = []
            for c in table.clustering:
                v = self.key_terms[c.name](ctx)
                if v is None:
                    raise InvalidRequest(f"Invalid null value in condition for column {c.name}")
                if v is UNSET:
                    raise InvalidRequest(f"Invalid unset value for column {c.name}")
                ck.append(c.type.encode(v))
            return [(key, validate_clustering(tuple(ck)), None)]
        w = self.where
        keys = w.partition_keys(ctx)
        if not table.clustering:
            return [(k, (), None) for k in keys]
        if w.full_ck:
            cks = [validate_clustering(ck) for ck in w.clustering_keys(ctx)]
            return [(k, ck, None) for k in keys for ck in cks]
        if w.has_ck_restriction or (self.delete_row and w.ck_prefix):
            pred = w.clustering_predicate(ctx)
            return [(k, None, pred) for k in keys]
        return [(k, None, None) for k in keys]

    def _ttl_exp(self, ctx: Ctx, now: float) -> tuple[int | None, float | None]:
        ttl = None
        if self.ttl is not None:
            v = self.ttl(ctx)
            if v is not None and v is not UNSET:
                if v < 0:
                    raise InvalidRequest(f"A TTL must be greater or equal to 0, but was {v}")
                if v > _MAX_TTL:
                    raise InvalidRequest(f"ttl is too large. requested ({v}) maximum ({_MAX_TTL})")
                ttl = v
        if ttl is None:
            ttl = int(self.table.options.get("default_time_to_live") or 0)
        if not ttl:
            return None, None
        return ttl, float(int(now) + ttl)

    def resolve_ts(self, ctx: Ctx, default: int) -> int:
        if self.timestamp is not None:
            v = self.timestamp(ctx)
            if v is not None and v is not UNSET:
                return v
        return default

    def partition(self, key: bytes) -> Partition:
        try:
            return self.table.data.make(key, [c.type for c in self.table.partition_key])
        except (ProtocolError, ValueError, TypeError) as exc:
            raise InvalidRequest(f"Invalid partition key: {exc}") from exc

    def evaluate(self, ctx: Ctx) -> tuple[Any, ...]:
        """Everything the write takes from the statement and its values (targets, TTL, the
        value and key of each operation), computed before anything is stored: a statement,
        or a batch, rejected for its values leaves no trace (as in Cassandra, which builds
        the whole mutation first)."""
        targets = self.targets(ctx)
        ttl, exp = self._ttl_exp(ctx, ctx.now)
        return targets, ttl, exp, self._op_values(ctx)

    def _op_values(self, ctx: Ctx) -> list[tuple[Any, Any]]:
        values = []
        for op in self.ops:
            value = op.fn(ctx) if op.fn is not None else None
            key = op.key_fn(ctx) if op.key_fn is not None else None
            if op.kind in ("del_elem", "set_elem") and (key is None or key is UNSET):
                if op.kind == "del_elem":
                    raise InvalidRequest(f"Invalid null value for {op.col.name} element")
                what = "key" if op.col.type.name == "map" else "index"
                raise InvalidRequest(f"Invalid null value for {what} of {op.col.name}")
            if op.col.type.is_counter and op.kind in ("add", "sub") and (
                    value is None or value is _EMPTY):
                raise InvalidRequest("Invalid null value for counter increment")
            values.append((value, key))
        return values

    def apply(self, engine: Any, ctx: Ctx, ts: int, evaluated: tuple[Any, ...] | None = None
              ) -> None:
        """Store the write (``evaluated``: what :meth:`evaluate` returned, if already done)."""
        targets, ttl, exp, values = evaluated or self.evaluate(ctx)
        table = self.table
        if not table.data.tombstones and (
                self.delete_row or exp is not None or any(op.kind.startswith("del")
                                                          for op in self.ops)
                or any(v is None for v, _k in values)):
            table.data.tombstones = True
        for i, (key, ck, pred) in enumerate(targets):
            if i:
                # terms are bound once per row written, as Cassandra binds them: now() and
                # uuid() differ between the rows of one IN; the checks passed for the first
                values = self._op_values(ctx)
            p = self.partition(key)
            if self.delete_row and not self.ops:
                if ck is not None and table.clustering:
                    r = p.rows.get(ck)
                    if r is None:
                        r = self._make_row(p, ck)
                    r.delete(ts)
                elif pred is not None:
                    p.delete_range(pred, ts)
                else:
                    p.delete(ts)
                continue
            rows: list[Row]
            if ck is None:
                rows = []
            else:
                rows = [self._make_row(p, ck)]
            if self.is_insert and rows:
                r = rows[0]
                if ts > p.shadow(r) and (r.marker is None or r.marker[0] <= ts):
                    r.marker = (ts, exp, ttl)
            for op, (value, kv) in zip(self.ops, values, strict=True):
                target_rows = [p.static] if op.col.kind == "static" else rows
                for r in target_rows:
                    self._apply_op(engine, ctx, p, r, op, value, kv, ts, ttl, exp)

    def _make_row(self, p: Partition, ck: tuple[bytes, ...]) -> Row:
        try:
            return p.make_row(ck, self.table)
        except (ProtocolError, ValueError, TypeError) as exc:
            raise InvalidRequest(f"Invalid clustering key: {exc}") from exc

    def _apply_op(self, engine: Any, ctx: Ctx, p: Partition, r: Row, op: _Op, value: Any,
                  kv: Any, ts: int, ttl: int | None, exp: float | None) -> None:
        shadow = p.shadow(r)
        if ts <= shadow:
            return
        col = op.col
        name = col.name
        kind = op.kind
        t = col.type
        if kind == "del":
            c = r.cells.get(name)
            if isinstance(c, Multi):
                c.clear(ts)
            elif c is None or c.ts <= ts:
                r.cells[name] = Cell(None, ts)
            return
        if kind == "del_field":
            m = r.cells.get(name)
            if isinstance(m, Multi):
                m.remove(kv, ts)
            return
        if kind == "del_elem":
            m = r.cells.get(name)
            if not isinstance(m, Multi):
                return
            if t.name in ("map", "set"):
                m.remove(t.params[0].sort_key(kv), ts)
            else:
                items = m.live_items(ctx.now)
                if not 0 <= kv < len(items):
                    raise InvalidRequest("Attempted to delete an element from a list which is "
                                         "null" if not items else
                                         f"List index {kv} out of bound, list has size "
                                         f"{len(items)}")
                m.remove(items[kv][0], ts)
            return
        if value is UNSET:
            return
        if value is _EMPTY:
            value = None if t.multicell else _empty_value(t)
        if t.is_counter:
            delta = value if kind == "add" else -value
            c = r.cells.get(name)
            base = c.value if isinstance(c, Cell) and c.value is not None else 0
            new_ts = max(ts, c.ts + 1) if isinstance(c, Cell) else ts
            r.cells[name] = Cell(base + delta, new_ts)
            return
        if not t.multicell:
            c = r.cells.get(name)
            if isinstance(c, Cell):
                if c.ts > ts:
                    return
                if c.ts == ts and not _wins(t, value, c.value):
                    return
            r.cells[name] = Cell(value, ts, exp if value is not None else None,
                                 ttl if value is not None else None)
            return
        m = r.cells.get(name)
        if not isinstance(m, Multi):
            m = Multi()
            r.cells[name] = m
        if kind == "set":
            m.clear(ts - 1)
            if value is not None:
                self._add_elems(engine, m, t, value, ts, exp, ttl, append=True)
            else:
                m.clear(ts)
            return
        if kind == "add":
            if value is not None:
                self._add_elems(engine, m, t, value, ts, exp, ttl, append=True)
            return
        if kind == "prepend":
            if value is not None:
                self._add_elems(engine, m, t, value, ts, exp, ttl, append=False)
            return
        if kind == "sub":
            if value is None:
                return
            if t.name == "set":
                sk = t.params[0].sort_key
                for x in value:
                    m.remove(sk(x), ts)
            elif t.name == "map":
                sk = t.params[0].sort_key
                for x in value:
                    m.remove(sk(x), ts)
            else:
                sk = t.params[0].sort_key
                drop = {sk(x) for x in value}
                for k, e in list(m.elems.items()):
                    if sk(e[1]) in drop:
                        m.remove(k, ts)
            return
        if kind == "set_elem":
            if t.name == "map":
                k = t.params[0].sort_key(kv)
                if value is None:
                    m.remove(k, ts)
                else:
                    m.put(k, _hashable(kv), value, ts, exp, ttl)
            else:
                items = m.live_items(ctx.now)
                if not items:
                    raise InvalidRequest("Attempted to set an element on a list which is null")
                if not 0 <= kv < len(items):
                    raise InvalidRequest(f"List index {kv} out of bound, list has size "
                                         f"{len(items)}")
                k = items[kv][0]
                if value is None:
                    m.remove(k, ts)
                else:
                    m.put(k, None, value, ts, exp, ttl)
            return
        if kind == "set_field":
            m.put(kv, None, value, ts, exp, ttl)
            return

    def _add_elems(self, engine: Any, m: Multi, t: ColType, value: Any, ts: int,
                   exp: float | None, ttl: int | None, append: bool) -> None:
        n = t.name
        if n == "set":
            sk = t.params[0].sort_key
            for x in value:
                m.put(sk(x), x, None, ts, exp, ttl)
        elif n == "map":
            sk = t.params[0].sort_key
            for k, v in value.items():
                m.put(sk(k), k, v, ts, exp, ttl)
        elif n == "list":
            items = list(value)
            keys = engine.list_keys(len(items), append)
            for k, v in zip(keys, items, strict=True):
                m.put(k, None, v, ts, exp, ttl)
        else:  # udt
            vals = list(value) if isinstance(value, tuple) else [
                value.get(f) if isinstance(value, dict) else getattr(value, f, None)
                for f in t.field_names]
            m.clear(ts - 1)
            for i, v in enumerate(vals):
                if v is not None:
                    m.put(i, None, v, ts, exp, ttl)

    # -- lightweight transactions -------------------------------------------------------------

    def current(self, ctx: Ctx) -> tuple[Partition | None, Row | None]:
        tg = self.targets(ctx)
        if len(tg) != 1 or (tg[0][1] is None and self.table.clustering and not self.static_lwt()):
            raise InvalidRequest("IN on the clustering key columns is not supported with "
                                 "conditional updates" if len(tg) > 1 else
                                 "DELETE statements must restrict all PRIMARY KEY columns with "
                                 "equality relations in order to use IF conditions")
        key, ck, _pred = tg[0]
        p = self.table.data.partitions.get(key)
        if p is None:
            return None, None
        r = p.rows.get(ck) if ck is not None else None
        return p, r

    def static_lwt(self) -> bool:
        return all(op.col.kind == "static" for op in self.ops) and all(
            c[0].kind == "static" for c in self.conditions) and bool(self.ops or self.conditions)

    def check(self, ctx: Ctx) -> tuple[bool, list[ColumnSpec], tuple[Any, ...] | None]:
        """Evaluate the LWT condition: (applied, columns of the failure row, failure row)."""
        now = ctx.now
        p, r = self.current(ctx)
        table = self.table
        ks, tn = table.keyspace, table.name
        row_live = r is not None and r.live(now)
        static_only = r is None and p is not None and self.static_lwt()
        if self.if_not_exists:
            exists = row_live or (static_only and p is not None and p.static.live(now))
            if not exists:
                return True, [], None
            # the existing row, as SELECT * orders it; a row check does not read the
            # partition's static row, so static columns answer null
            cols = table.select_order()
            hide_static = r is not None
            return False, [ColumnSpec(ks, tn, c.name, c.type) for c in cols], tuple(
                None if hide_static and c.kind == "static" else
                getter(table, c)(p, r, now) for c in cols)  # type: ignore[arg-type]
        if self.if_exists:
            exists = row_live or (static_only and p is not None and p.static.live(now))
            if exists:
                return True, [], None
            return False, [], None
        ok = True
        for col, op, fn, key_fn in self.conditions:
            cur = _current_value(table, col, p, r, now, key_fn(ctx) if key_fn else None)
            want = fn(ctx)
            if want is UNSET:
                continue
            if not _compare(col, op, cur, want, key_fn is not None):
                ok = False
        if ok:
            return True, [], None
        if p is None or (r is None and not static_only and table.clustering) or (
            r is not None and not r.live(now) and not p.static.live(now)
        ):
            return False, [], None
        cols = self.condition_columns()
        return False, [ColumnSpec(ks, tn, c.name, c.type) for c in cols], tuple(
            getter(table, c)(p, r, now) for c in cols)

    def condition_columns(self) -> list[Column]:
        """ColumnConditions.getColumns: the regular columns of the IF conditions, then the
        static ones, each in IF order, once each."""
        seen: dict[str, Column] = {}
        for col, *_ in self.conditions:
            if col.kind != "static":
                seen.setdefault(col.name, col)
        for col, *_ in self.conditions:
            if col.kind == "static":
                seen.setdefault(col.name, col)
        return list(seen.values())

    def run(self, engine: Any, ctx: Ctx, ts: int) -> Void | Rows:
        if not self.is_lwt:
            self.apply(engine, ctx, self.resolve_ts(ctx, ts))
            return Void()
        applied, cols, row = self.check(ctx)
        spec = ColumnSpec(self.table.keyspace, self.table.name, APPLIED, _BOOLEAN)
        if applied:
            self.apply(engine, ctx, ts)
            return Rows((spec,), [(True,)], None)
        return Rows((spec, *cols), [(False, *(row or ()))], None)


def _const_key(tag: str, i: int) -> Callable[[Ctx], tuple[str, int]]:
    return lambda ctx: (tag, i)


def _tagged(tag: str, fn: Callable[[Ctx], Any]) -> Callable[[Ctx], tuple[str, Any]]:
    return lambda ctx: (tag, fn(ctx))


def _all_of(fns: list[Callable[[Ctx], Any]]) -> Callable[[Ctx], list[Any]]:
    return lambda ctx: [f(ctx) for f in fns]


def _empty_value(t: ColType) -> Any:
    return None


def _wins(t: ColType, new: Any, old: Any) -> bool:
    """Equal timestamps: a tombstone wins, else the greater serialized value."""
    if old is None:
        return False
    if new is None:
        return True
    try:
        return t.encode(new) >= t.encode(old)
    except Exception:
        return True


def _current_value(table: Table, col: Column, p: Partition | None, r: Row | None, now: float,
                   key: Any) -> Any:
    if p is None:
        return None
    row = p.static if col.kind == "static" else r
    v = cell_value(row, col, now)
    if key is None or v is None:
        return v
    what, k = key
    if what == "key":
        return v.get(_hashable(k))
    if what == "idx":
        return v[k] if 0 <= k < len(v) else None
    return v[k]


def _compare(col: Column, op: str, cur: Any, want: Any, element: bool) -> bool:
    t = col.type
    if element:
        sk = (lambda v: v)
    else:
        sk = t.sort_key
    if op == "IN":
        return any(_compare(col, "=", cur, w, element) for w in (want or []))
    if op == "=":
        if cur is None or want is None:
            return cur is None and want is None
        try:
            return sk(cur) == sk(want)
        except Exception:
            return cur == want
    if op == "!=":
        return not _compare(col, "=", cur, want, element)
    if cur is None or want is None:
        return False
    try:
        a, b = sk(cur), sk(want)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    except TypeError:
        return False


class BatchPlan:
    """A batch of modification plans, each with its own context (protocol BATCH) or one
    shared context (BEGIN BATCH text)."""

    kind = "batch"

    def __init__(self, plans: list[ModifyPlan], batch_type: str,
                 timestamp_set: bool = False) -> None:
        """BatchStatement.validate of 4.0, in its order."""
        self.plans = plans
        self.batch_type = batch_type
        self.is_lwt = any(p.is_lwt for p in plans)
        if timestamp_set:
            if self.is_lwt:
                raise InvalidRequest("Cannot provide custom timestamp for conditional BATCH")
            if batch_type == "COUNTER":
                raise InvalidRequest("Cannot provide custom timestamp for counter BATCH")
            if any(p.timestamp is not None for p in plans):
                raise InvalidRequest("Timestamp must be set either on BATCH or individual "
                                     "statements")
        counters = [p.table.is_counter for p in plans]
        if batch_type == "COUNTER" and not all(counters):
            raise InvalidRequest("Cannot include non-counter statement in a counter batch")
        if any(counters) and not all(counters):
            raise InvalidRequest("Counter and non-counter mutations cannot exist in the same "
                                 "batch")
        if batch_type == "LOGGED" and any(counters):
            raise InvalidRequest("Cannot include a counter statement in a logged batch")
        if self.is_lwt:
            tables = {(p.table.keyspace, p.table.name) for p in plans}
            if len(tables) > 1:
                raise InvalidRequest("Batch with conditions cannot span multiple tables")

    def _failure(self, spec: ColumnSpec, lwt: list[tuple[ModifyPlan, Ctx]]) -> Rows:
        """A failed conditional batch (BatchStatement.executeWithConditions of 4.0): every
        column (SELECT * order) when a statement is IF [NOT] EXISTS, else the primary key
        then the conditions' columns; one row per existing row the conditions read, in
        clustering order."""
        table = self.plans[0].table
        ks, tn = table.keyspace, table.name
        wildcard = any(p.if_exists or p.if_not_exists for p, _ in lwt)
        static_cond = any(c[0].kind == "static" for p, _ in lwt for c in p.conditions)
        if wildcard:
            cols = table.select_order()
        else:
            seen: dict[str, Column] = {c.name: c for c in table.partition_key + table.clustering}
            for p, _ in lwt:
                for c in p.condition_columns():
                    seen.setdefault(c.name, c)
            cols = list(seen.values())
        found: dict[Any, tuple[Any, tuple[Any, ...]]] = {}
        for p, ctx in lwt:
            part, r = p.current(ctx)
            now = ctx.now
            if part is None:
                continue
            if r is not None and r.live(now):
                key: Any = r.ckb
                order: Any = (1, r.sk)
            elif (static_cond or p.static_only) and part.static.live(now):
                key, order, r = "static", (0, ()), None
            else:
                continue
            if key in found:
                continue
            found[key] = (order, tuple(
                None if wildcard and r is not None and c.kind == "static" and not static_cond
                else getter(table, c)(part, r, now) for c in cols))
        if not found:
            return Rows((spec,), [(False,)], None)
        specs = [ColumnSpec(ks, tn, c.name, c.type) for c in cols]
        rows = [(False, *vals) for _o, vals in sorted(found.values(), key=lambda x: x[0])]
        return Rows((spec, *specs), rows, None)

    def run(self, engine: Any, ctxs: list[Ctx], ts: int, batch_ts: Callable | None = None
            ) -> Void | Rows:
        for p in self.plans:
            if p.timestamp is not None and self.is_lwt:
                raise InvalidRequest("Cannot provide custom timestamp for conditional BATCH")
        if self.is_lwt:
            keys = set()
            for p, ctx in zip(self.plans, ctxs, strict=True):
                for k, _ck, _pred in p.targets(ctx):
                    keys.add(k)
            if len(keys) > 1:
                raise InvalidRequest("Batch with conditions cannot span multiple partitions")
            plan0 = self.plans[0]
            spec = ColumnSpec(plan0.table.keyspace, plan0.table.name, APPLIED, _BOOLEAN)
            lwt = [(p, ctx) for p, ctx in zip(self.plans, ctxs, strict=True) if p.is_lwt]
            if not all(p.check(ctx)[0] for p, ctx in lwt):
                return self._failure(spec, lwt)
            evaluated = [p.evaluate(ctx) for p, ctx in zip(self.plans, ctxs, strict=True)]
            for p, ctx, ev in zip(self.plans, ctxs, evaluated, strict=True):
                p.apply(engine, ctx, ts, ev)
            return Rows((spec,), [(True,)], None)
        # every statement is validated before the first one is stored
        stamped = [(p.resolve_ts(ctx, ts), p.evaluate(ctx))
                   for p, ctx in zip(self.plans, ctxs, strict=True)]
        warnings = batch_warnings(engine, self.plans, [ev for _ts, ev in stamped],
                                  self.batch_type)
        for p, ctx, (pts, ev) in zip(self.plans, ctxs, stamped, strict=True):
            p.apply(engine, ctx, pts, ev)
        return Void(warnings) if warnings else Void()


# -- batch size (BatchStatement.verifyBatchSize / verifyBatchType of Cassandra 4.0) ----------

#: Cassandra's defaults: batch_size_warn_threshold_in_kb: 5, batch_size_fail_threshold_in_kb:
#: 50, unlogged_batch_across_partitions_warn_threshold: 10
BATCH_SIZE_WARN_THRESHOLD = 5 * 1024
BATCH_SIZE_FAIL_THRESHOLD = 50 * 1024
UNLOGGED_BATCH_PARTITIONS_WARN_THRESHOLD = 10
# PartitionUpdate.dataSize() of 4.0: per regular row, its clustering values and its cells; a
# cell is its timestamp, TTL and local deletion time (16 bytes), its value and its path; a
# complex (multi-cell) column adds its deletion time. Partition keys, row liveness and
# static rows do not count.
_CELL = 16
_COMPLEX = 12
_SIMPLE_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _quoted(name: str) -> str:
    """ColumnIdentifier.maybeQuote: names that need quotes in CQL get them."""
    if _SIMPLE_NAME.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _size(t: ColType, value: Any) -> int:
    """Serialized size of ``value`` as one cell of type ``t`` (0 if it has none)."""
    if value is None or value is UNSET or value is _EMPTY:
        return 0
    try:
        return len(t.encode(value))
    except Exception:  # a value the codec refuses was already refused by evaluate()
        return 0


def _cells_size(t: ColType, value: Any) -> int:
    """What one operation's value adds: one cell, or a cell per element (with its path) for
    a non-frozen collection or UDT."""
    if not t.multicell:
        return _CELL + _size(t, value)
    if value is None or value is UNSET or value is _EMPTY:
        return _COMPLEX
    if t.name == "list":
        return _COMPLEX + sum(_CELL + 16 + _size(t.params[0], v) for v in value)  # a timeuuid
    if t.name == "set":
        items = value if isinstance(value, (set, frozenset, list, tuple)) else [value]
        return _COMPLEX + sum(_CELL + _size(t.params[0], v) for v in items)
    if t.name == "map":
        if isinstance(value, dict):
            return _COMPLEX + sum(_CELL + _size(t.params[0], k) + _size(t.params[1], v)
                                  for k, v in value.items())
        return _COMPLEX + sum(_CELL + _size(t.params[0], k) for k in value)  # map - {keys}
    fields = list(value) if isinstance(value, (tuple, list)) else [
        getattr(value, f, None) for f in t.field_names]
    return _COMPLEX + sum(_CELL + 2 + _size(ft, v)
                          for ft, v in zip(t.params, fields, strict=False))


def batch_warnings(engine: Any, plans: list[ModifyPlan], evaluated: list[tuple[Any, ...]],
                   batch_type: str) -> tuple[str, ...]:
    """The client warnings of a batch without conditions, as Cassandra computes them: the
    data size of its mutations (an estimate of Cassandra's PartitionUpdate.dataSize()) over
    ``batch_size_warn_threshold`` (raises "Batch too large" over the fail threshold), and an
    unlogged batch over too many partitions. One mutation per keyspace and partition key;
    a batch of one mutation is never checked."""
    # (keyspace, key) -> table -> row (clustering bytes, or "static") -> column -> cell size
    mutations: dict[tuple[str, bytes], dict[str, dict[Any, dict[str, int]]]] = {}
    for plan, (targets, _ttl, _exp, values) in zip(plans, evaluated, strict=True):
        table = plan.table
        tname = f"{_quoted(table.keyspace)}.{_quoted(table.name)}"
        for key, ck, _pred in targets:
            rows = mutations.setdefault((table.keyspace, key), {}).setdefault(tname, {})
            if ck is not None:
                rows.setdefault(ck, {})
            for op, (value, _key) in zip(plan.ops, values, strict=True):
                target = rows.setdefault("static", {}) if op.col.kind == "static" else (
                    rows.setdefault(ck, {}) if ck is not None else None)
                if target is None:
                    continue
                vt = op.col.type if op.kind != "set_elem" else (
                    op.col.type.params[-1])
                target[op.col.name] = _cells_size(vt, value)
    if len(mutations) <= 1:
        return ()
    size = 0
    tables: set[str] = set()
    for per_table in mutations.values():
        for tname, rows in per_table.items():
            tables.add(tname)
            for ck, cells in rows.items():
                if ck == "static":
                    continue  # the static row is not one of the update's rows
                size += sum(len(b) for b in ck) + sum(cells.values())
    names = "[" + ", ".join(sorted(tables)) + "]"
    out: list[str] = []
    warn = getattr(engine, "batch_size_warn_threshold", BATCH_SIZE_WARN_THRESHOLD)
    fail = getattr(engine, "batch_size_fail_threshold", BATCH_SIZE_FAIL_THRESHOLD)
    if warn is not None and size > warn:
        if fail is not None and size > fail:
            raise InvalidRequest("Batch too large")
        # the client gets raw byte counts (the server's log line pretty-prints them)
        out.append(f"Batch for {names} is of size {size}, exceeding specified threshold of "
                   f"{warn} by {size - warn}.")
    limit = getattr(engine, "unlogged_batch_across_partitions_warn_threshold",
                    UNLOGGED_BATCH_PARTITIONS_WARN_THRESHOLD)
    keys = {key for _ks, key in mutations}
    if batch_type != "LOGGED" and limit is not None and len(keys) > limit:
        out.append(f"Unlogged batch covering {len(keys)} partitions detected against "
                   f"table{'' if len(tables) == 1 else 's'} {names}. You should use a logged "
                   "batch for atomicity, or asynchronous writes for performance.")
    return tuple(out)

