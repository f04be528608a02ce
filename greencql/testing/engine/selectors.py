"""Selector expressions of the simulated engine: what a SELECT clause computes per row.

Owns: compiling a parsed :class:`~greencql.testing.cql.ast.SelExpr` against a table into a
value function of (partition, row, now) or an aggregate (count, min, max, sum, avg), with the
result type and Cassandra 4.0's column name: UDT field access, map/set element and slice
selection, CAST, arithmetic with Java's integer semantics (division by zero is a
FunctionFailure), date arithmetic with durations, typed literals, and the native functions
(toDate, toTimestamp, toUnixTimestamp, dateOf, unixTimestampOf, minTimeuuid, maxTimeuuid,
blobAsX / XAsBlob, toJson, token, writetime, ttl, now, uuid, current*). Also the JSON text of
a value (toJson, SELECT JSON) and values from JSON (fromJson, INSERT JSON).
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import json
import math
import uuid
from collections.abc import Callable
from typing import Any

from greencql.errors import FunctionFailure, InvalidRequest
from greencql.testing.cql import ast
from greencql.testing.engine.storage import Cell, Partition, Row
from greencql.testing.engine.values import (
    _EPOCH,
    _parse_duration,
    _parse_time,
    _parse_timestamp,
    convert_const,
)
from greencql.testing.engine.where import column_of, getter
from greencql.testing.schema import ColType, Table, resolve_type

__all__ = ["Compiled", "compile_selector", "to_json", "from_json", "AGGREGATES"]

AGGREGATES = frozenset({"count", "min", "max", "sum", "avg"})
_INTS = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64, "counter": 64}
_RANK = {"tinyint": 1, "smallint": 2, "int": 3, "bigint": 4, "counter": 4, "float": 5,
         "double": 6, "varint": 7, "decimal": 8}
_NATIVE = ("ascii", "bigint", "blob", "boolean", "counter", "date", "decimal", "double",
           "duration", "float", "inet", "int", "smallint", "text", "time", "timestamp",
           "timeuuid", "tinyint", "uuid", "varint", "varchar")
_OP_NAMES = {"+": "_add", "-": "_substract", "*": "_multiply", "/": "_divide", "%": "_modulo"}
_UUID_EPOCH = 0x01B21DD213814000
_DEC = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)

Getter = Callable[[Partition, "Row | None", float], Any]


_FN_NAMES = {"writetime": "writeTime", "ttl": "ttl"}


class Compiled:
    """One compiled selector: ``fn`` gives its value for a row; an aggregate has ``agg``
    (a factory of accumulators with ``add(p, r, now)`` and ``result()``) instead."""

    __slots__ = ("agg", "fn", "name", "type")

    def __init__(self, name: str, t: ColType, fn: Getter | None = None,
                 agg: Callable[[], Any] | None = None) -> None:
        self.name = name
        self.type = t
        self.fn = fn
        self.agg = agg


def _wrap_int(v: int, bits: int) -> int:
    m = 1 << bits
    v &= m - 1
    return v - m if v >= m >> 1 else v


def _native(name: str) -> ColType:
    return ColType("text" if name == "varchar" else name)


class _Env:
    """What a selector needs at run time besides the row: the engine (now(), uuid())."""

    __slots__ = ("ctx",)

    def __init__(self) -> None:
        self.ctx: Any = None


def compile_selector(table: Table, e: ast.SelExpr, env: Any, binder: Any = None) -> Compiled:
    """Compile ``e`` against ``table``; ``env.ctx`` is set to the execution context before
    the functions run."""
    return _Compiler(table, env).compile(e, top=True)


class _Compiler:
    def __init__(self, table: Table, env: Any) -> None:
        self.table = table
        self.env = env

    def compile(self, e: ast.SelExpr, top: bool = False, hint: ColType | None = None
                ) -> Compiled:
        k = e.kind
        if k == "col":
            col = column_of(self.table, e.a)
            return Compiled(e.text, col.type, getter(self.table, col))
        if k == "term":
            return self._term(e, hint)
        if k == "field":
            return self._field(e)
        if k in ("elem", "slice"):
            return self._element(e)
        if k == "func":
            if e.a in AGGREGATES:
                if not top:
                    raise InvalidRequest("Aggregate functions are not supported within "
                                         "non-aggregate functions")  # nested aggregates
                return self._aggregate(e)
            return self._function(e)
        if k == "cast":
            return self._cast(e)
        if k == "op":
            return self._op(e)
        if k == "neg":
            inner = self.compile(e.a)
            if inner.type.name not in _RANK:
                raise InvalidRequest(f"Invalid operation -{e.a.text}: not a number")
            f = inner.fn
            bits = _INTS.get(inner.type.name)
            return Compiled(e.text, inner.type, lambda p, r, now: None if (
                v := f(p, r, now)) is None else (_wrap_int(-v, bits) if bits else -v))
        raise InvalidRequest(f"Unsupported selector {e.text}")

    # -- pieces --------------------------------------------------------------------------

    def _term(self, e: ast.SelExpr, hint: ColType | None) -> Compiled:
        term = e.a
        if isinstance(term, ast.SelExpr):  # (type) expression: a cast written C-style
            return self._cast(ast.SelExpr("cast", term, e.b, e.text))
        if isinstance(term, ast.Marker):
            raise InvalidRequest("Bind variables are not supported in the selection clause "
                                 "by the simulated cluster")
        if e.b is not None:
            t = resolve_type(e.b, None)
        elif hint is not None and _fits(term, hint):
            t = hint
        else:
            t = _literal_type(term)
        value = convert_const(term, t, e.text) if isinstance(term, ast.Const) else None
        if not isinstance(term, ast.Const):
            raise InvalidRequest(f"Unsupported literal {e.text} in the selection clause")
        return Compiled(e.text, t, lambda p, r, now: value)

    def _field(self, e: ast.SelExpr) -> Compiled:
        base = self.compile(e.a)
        t = base.type
        if t.name != "udt":
            raise InvalidRequest(f"Invalid field selection: {e.a.text} of type {t.cql_name} is "
                                 "not a user type")
        if e.b not in t.field_names:
            raise InvalidRequest(f"{e.a.text} of type {t.cql_name} has no field {e.b}")
        i = t.field_names.index(e.b)
        f = base.fn

        def field(p: Partition, r: Row | None, now: float) -> Any:
            v = f(p, r, now)
            if v is None:
                return None
            return v[i] if isinstance(v, tuple) else getattr(v, t.field_names[i], None)

        return Compiled(e.text, t.params[i], field)

    def _element(self, e: ast.SelExpr) -> Compiled:
        base = self.compile(e.a)
        t = base.type
        if t.name == "list" and t.frozen and e.kind == "elem":
            # observed on 4.0.13 (reference section 1): an element of a frozen list by index
            idx = convert_const(e.b, ColType("int"), e.text) if isinstance(e.b, ast.Const) \
                else None
            if idx is None:
                raise InvalidRequest(f"Invalid element selection {e.text}")
            lf = base.fn
            return Compiled(e.text, t.params[0], lambda p, r, now: (
                v[idx] if (v := lf(p, r, now)) is not None and 0 <= idx < len(v) else None))
        if t.name not in ("map", "set"):
            what = "a list" if t.name == "list" else f"of type {t.cql_name}"
            raise InvalidRequest(f"Element selection is only allowed on sets and maps, but "
                                 f"{e.a.text} is {what}" if e.kind == "elem" else
                                 f"Slice selection is only allowed on sets and maps, but "
                                 f"{e.a.text} is {what}")
        kt = t.params[0]
        sk = kt.sort_key
        f = base.fn
        if e.kind == "elem":
            key = convert_const(e.b, kt, e.text) if isinstance(e.b, ast.Const) else None
            if key is None:
                raise InvalidRequest(f"Invalid element selection {e.text}")
            want = sk(key)

            def elem(p: Partition, r: Row | None, now: float) -> Any:
                v = f(p, r, now)
                if v is None:
                    return None
                if t.name == "map":
                    for a, b in v.items():
                        if sk(a) == want:
                            return b
                    return None
                return next((a for a in v if sk(a) == want), None)

            return Compiled(e.text, t.params[1] if t.name == "map" else kt, elem)
        lo_t, hi_t = e.b
        lo = sk(convert_const(lo_t, kt, e.text)) if lo_t is not None else None
        hi = sk(convert_const(hi_t, kt, e.text)) if hi_t is not None else None

        def inside(a: Any) -> bool:
            k = sk(a)
            return (lo is None or k >= lo) and (hi is None or k <= hi)

        def slice_(p: Partition, r: Row | None, now: float) -> Any:
            v = f(p, r, now)
            if v is None:
                return None
            if t.name == "map":
                out = {a: b for a, b in v.items() if inside(a)}
            else:
                out = {a for a in v if inside(a)}
            return out or None

        return Compiled(e.text, t, slice_)

    def _aggregate(self, e: ast.SelExpr) -> Compiled:
        name = e.a
        if name == "count" and e.star:
            class Star:
                __slots__ = ("n",)

                def __init__(self) -> None:
                    self.n = 0

                def add(self, p: Partition, r: Row | None, now: float) -> None:
                    self.n += 1

                def result(self) -> int:
                    return self.n

            return Compiled("count", ColType("bigint"), agg=Star)
        if len(e.b) != 1:
            raise InvalidRequest(f"Invalid number of arguments in call to function "
                                 f"system.{name}: 1 required but {len(e.b)} provided")
        arg = self.compile(e.b[0])
        if arg.agg is not None:
            raise InvalidRequest("aggregate functions cannot be used as arguments of "
                                 "aggregate functions")
        t = arg.type
        f = arg.fn
        if name in ("sum", "avg") and t.name not in _RANK:
            raise InvalidRequest(f"Invalid call to function system.{name}, none of its type "
                                 f"signatures match (arguments are {t.cql_name})")
        sk = t.sort_key
        out_t = ColType("bigint") if name == "count" else t
        bits = _INTS.get(t.name)

        class Acc:
            __slots__ = ("best", "n", "total")

            def __init__(self) -> None:
                self.n = 0
                self.total: Any = decimal.Decimal(0) if t.name == "decimal" else (
                    0.0 if t.name in ("float", "double") else 0)
                self.best: Any = None

            def add(self, p: Partition, r: Row | None, now: float) -> None:
                v = f(p, r, now)
                if v is None:
                    return
                self.n += 1
                if name in ("sum", "avg"):
                    self.total = self.total + v
                elif name in ("min", "max"):
                    if self.best is None or (sk(v) < sk(self.best) if name == "min"
                                             else sk(v) > sk(self.best)):
                        self.best = v

            def result(self) -> Any:
                if name == "count":
                    return self.n
                if name in ("min", "max"):
                    return self.best
                if name == "sum":
                    return _wrap_int(self.total, bits) if bits else self.total
                if not self.n:
                    return type(self.total)(0)
                if bits or t.name == "varint":
                    q = abs(self.total) // self.n
                    q = q if self.total >= 0 else -q
                    return _wrap_int(q, bits) if bits else q
                if t.name == "decimal":
                    return (self.total / decimal.Decimal(self.n)).quantize(
                        self.total, rounding=decimal.ROUND_HALF_EVEN) \
                        if self.total.as_tuple().exponent < 0 else \
                        (self.total / decimal.Decimal(self.n)).to_integral_value(
                            rounding=decimal.ROUND_HALF_EVEN)
                return self.total / self.n

        return Compiled(e.text, out_t, agg=Acc)

    def _function(self, e: ast.SelExpr) -> Compiled:
        name = e.a
        args = e.b
        table = self.table
        if name in ("writetime", "ttl"):
            if len(args) != 1 or args[0].kind != "col":
                raise InvalidRequest(f"Invalid use of {name}: a column name is required")
            col = column_of(table, args[0].a)
            if col.kind in ("partition_key", "clustering"):
                raise InvalidRequest(f"Cannot use selection function {_FN_NAMES[name]} on "
                                     f"PRIMARY KEY "
                                     f"part {col.name}")
            if col.type.multicell:
                raise InvalidRequest(f"Cannot use selection function {_FN_NAMES[name]} on "
                                     f"non-frozen "
                                     f"collection {col.name}")
            static = col.kind == "static"
            cname = col.name

            def meta(p: Partition, r: Row | None, now: float) -> Any:
                row = p.static if static else r
                c = row.cells.get(cname) if row is not None else None
                if not isinstance(c, Cell) or not c.live(now):
                    return None
                if name == "writetime":
                    return c.ts
                return int(c.exp - int(now)) if c.exp is not None else None

            return Compiled(e.text, ColType("bigint" if name == "writetime" else "int"), meta)
        if name == "token":
            pk = table.partition_key
            if [a.a if a.kind == "col" else None for a in args] != [c.name for c in pk]:
                raise InvalidRequest("The token function arguments must be in the partition "
                                     "key order: " + ", ".join(c.name for c in pk))
            return Compiled(e.text, ColType("bigint"), lambda p, r, now: p.token)
        if name == "fromjson":
            raise InvalidRequest("fromJson() cannot be used in the selection clause of a SELECT "
                                 "statement")
        env = self.env
        if not args:
            zero: dict[str, tuple[str, Callable[[], Any]]] = {
                "now": ("timeuuid", lambda: env.ctx.engine.timeuuid(env.ctx.now)),
                "currenttimeuuid": ("timeuuid", lambda: env.ctx.engine.timeuuid(env.ctx.now)),
                "uuid": ("uuid", lambda: env.ctx.engine.random_uuid()),
                "currenttimestamp": ("timestamp", lambda: _ts_of_ms(int(env.ctx.now * 1000))),
                "currentdate": ("date", lambda: _ts_of_ms(int(env.ctx.now * 1000)).date()),
                "currenttime": ("time", lambda: _ts_of_ms(int(env.ctx.now * 1000)).time()),
            }
            if name in zero:
                tn, fn0 = zero[name]
                return Compiled(e.text, ColType(tn), lambda p, r, now: fn0())
            raise InvalidRequest(f"Unknown function '{name}'")
        if len(args) != 1:
            raise InvalidRequest(f"Unknown function '{name}'")
        arg = self.compile(args[0])
        if arg.agg is not None:
            raise InvalidRequest("Aggregate functions are not supported within non-aggregate "
                                 "functions")
        at = arg.type
        f = arg.fn
        if name == "tojson":
            return Compiled(e.text, ColType("text"), lambda p, r, now: to_json(
                f(p, r, now), at))
        conv = _conversion(name, at, e.text)
        if conv is None:
            raise InvalidRequest(f"Unknown function '{name}'" if not _known(name) else
                                 f"Type error: {args[0].text} cannot be passed as argument 0 "
                                 f"of function system.{name} of type {at.cql_name}")
        out_t, g = conv
        return Compiled(e.text, out_t, lambda p, r, now: None if (
            v := f(p, r, now)) is None else g(v))

    def _cast(self, e: ast.SelExpr) -> Compiled:
        arg = self.compile(e.a)
        target = resolve_type(e.b, None)
        src = arg.type
        f = arg.fn
        g = _cast_fn(src, target)
        if g is None:
            raise InvalidRequest(f"{e.a.text} cannot be cast to {target.cql_name}")
        return Compiled(e.text, target, lambda p, r, now: None if (
            v := f(p, r, now)) is None else g(v))

    def _op(self, e: ast.SelExpr) -> Compiled:
        op = e.a
        le, re_ = e.b
        left = self.compile(le) if le.kind != "term" else None
        right = self.compile(re_) if re_.kind != "term" else None
        if left is None and right is None:
            left = self.compile(le)
            right = self.compile(re_)
        elif left is None:
            left = self.compile(le, hint=right.type)  # type: ignore[union-attr]
        elif right is None:
            right = self.compile(re_, hint=left.type)
        assert left is not None and right is not None
        lt, rt = left.type, right.type
        lf, rf = left.fn, right.fn
        if left.agg is not None or right.agg is not None:
            raise InvalidRequest("Aggregate functions are not supported within arithmetic "
                                 "operations by the simulated cluster")
        if lt.name in ("timestamp", "date") and rt.name == "duration" and op in ("+", "-"):
            sign = 1 if op == "+" else -1
            is_date = lt.name == "date"

            def dated(p: Partition, r: Row | None, now: float) -> Any:
                a, b = lf(p, r, now), rf(p, r, now)
                if a is None or b is None:
                    return None
                return _add_duration(a, b, sign, is_date)

            return Compiled(e.text, lt, dated)
        if lt.name not in _RANK or rt.name not in _RANK:
            raise InvalidRequest(f"the '{op}' operation is not supported between {le.text} and "
                                 f"{re_.text}")
        out = _result_type(lt.name, rt.name)
        ot = ColType(out)
        bits = _INTS.get(out)
        shown = f"{lt.cql_name} {op} {rt.cql_name}"
        fname = _OP_NAMES[op]

        def arith(p: Partition, r: Row | None, now: float) -> Any:
            a, b = lf(p, r, now), rf(p, r, now)
            if a is None or b is None:
                return None
            try:
                return _apply(op, a, b, out, bits)
            except (ZeroDivisionError, decimal.DivisionByZero, decimal.InvalidOperation) as exc:
                msg = "/ by zero" if (bits or out == "varint") else "Division by zero"
                raise FunctionFailure(f"the operation '{shown}' failed: {msg}",
                                      keyspace="system", function=fname,
                                      arg_types=[lt.cql_name, rt.cql_name]) from exc

        return Compiled(e.text, ot, arith)


def _fits(term: Any, t: ColType) -> bool:
    if not isinstance(term, ast.Const):
        return False
    k = term.kind
    if k == "INTEGER":
        return t.name in _RANK
    if k == "FLOAT":
        return t.name in ("float", "double", "decimal")
    return False


def _literal_type(term: Any) -> ColType:
    if not isinstance(term, ast.Const):
        raise InvalidRequest("Unsupported literal in the selection clause")
    return ColType({"INTEGER": "int", "FLOAT": "double", "STRING": "text", "BOOLEAN": "boolean",
                    "UUID": "uuid", "HEX": "blob", "DURATION": "duration"}.get(term.kind, "text"))


def _result_type(a: str, b: str) -> str:
    if a == b:
        return "bigint" if a == "counter" else a
    names = {a, b}
    if "decimal" in names or ("varint" in names and names & {"float", "double"}):
        return "decimal"
    if names == {"bigint", "float"} or names == {"counter", "float"}:
        return "double"
    best = max(names, key=lambda n: _RANK[n])
    return "bigint" if best == "counter" else best


def _apply(op: str, a: Any, b: Any, out: str, bits: int | None) -> Any:
    if out == "decimal":
        a, b = decimal.Decimal(str(a)), decimal.Decimal(str(b))
        if op == "+":
            return _DEC.add(a, b)
        if op == "-":
            return _DEC.subtract(a, b)
        if op == "*":
            return _DEC.multiply(a, b)
        if op == "/":
            return _DEC.divide(a, b)
        return _DEC.remainder(a, b)
    if out in ("float", "double"):
        a, b = float(a), float(b)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * (
                    math.copysign(1, b))
            return a / b
        if b == 0:
            return math.nan
        return math.fmod(a, b)
    a, b = int(a), int(b)
    if op == "+":
        v = a + b
    elif op == "-":
        v = a - b
    elif op == "*":
        v = a * b
    else:
        if b == 0:
            raise ZeroDivisionError
        q = abs(a) // abs(b)
        q = q if (a >= 0) == (b >= 0) else -q
        v = q if op == "/" else a - q * b
    return _wrap_int(v, bits) if bits else v


def _add_duration(a: Any, d: Any, sign: int, is_date: bool) -> Any:
    months, days, nanos = d.months * sign, d.days * sign, d.nanoseconds * sign
    if is_date and nanos:
        raise InvalidRequest(f"The duration must have a day precision. Was: {d}")
    if isinstance(a, datetime.datetime):
        base = a if a.tzinfo else a.replace(tzinfo=datetime.timezone.utc)
    else:
        base = datetime.datetime(a.year, a.month, a.day, tzinfo=datetime.timezone.utc)
    if months:
        y, m = divmod(base.month - 1 + months, 12)
        year, month = base.year + y, m + 1
        import calendar

        day = min(base.day, calendar.monthrange(year, month)[1])
        base = base.replace(year=year, month=month, day=day)
    base = base + datetime.timedelta(days=days, microseconds=nanos // 1000)
    if is_date:
        return base.date()
    ms = int((base - _EPOCH).total_seconds() * 1000)
    return _ts_of_ms(ms)


def _ts_of_ms(ms: int) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(milliseconds=ms)


def _ms_of(v: Any) -> int:
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        d = v - _EPOCH
        return (d.days * 86400 + d.seconds) * 1000 + d.microseconds // 1000
    if isinstance(v, datetime.date):
        return (v - datetime.date(1970, 1, 1)).days * 86400000
    if isinstance(v, uuid.UUID):
        return (v.time - _UUID_EPOCH) // 10000
    return int(v)


def _timeuuid_of(ms: int, low: bool) -> uuid.UUID:
    t = ms * 10000 + _UUID_EPOCH + (0 if low else 9999)
    clock_node = 0x8080808080808080 if low else 0x7F7F7F7F7F7F7F7F
    hi = ((t & 0xFFFFFFFF) << 32) | (((t >> 32) & 0xFFFF) << 16) | (
        ((t >> 48) & 0x0FFF) | 0x1000)
    return uuid.UUID(int=(hi << 64) | clock_node)


_TIME_FNS = {
    "todate": "date", "totimestamp": "timestamp", "tounixtimestamp": "bigint",
    "dateof": "timestamp", "unixtimestampof": "bigint", "mintimeuuid": "timeuuid",
    "maxtimeuuid": "timeuuid",
}


def _known(name: str) -> bool:
    return name in _TIME_FNS or (name.startswith("blobas") and name[6:] in _NATIVE) or (
        name.endswith("asblob") and name[:-6] in _NATIVE)


def _conversion(name: str, at: ColType, text: str) -> tuple[ColType, Callable] | None:
    n = at.name
    if name in ("todate", "totimestamp", "tounixtimestamp"):
        if n not in ("timeuuid", "timestamp", "date"):
            return None
        if name == "todate":
            return ColType("date"), lambda v: _ts_of_ms(_ms_of(v)).date()
        if name == "totimestamp":
            return ColType("timestamp"), lambda v: _ts_of_ms(_ms_of(v))
        return ColType("bigint"), _ms_of
    if name in ("dateof", "unixtimestampof"):
        if n != "timeuuid":
            return None
        return (ColType("timestamp"), lambda v: _ts_of_ms(_ms_of(v))) if name == "dateof" \
            else (ColType("bigint"), _ms_of)
    if name in ("mintimeuuid", "maxtimeuuid"):
        if n != "timestamp":
            return None
        return ColType("timeuuid"), lambda v: _timeuuid_of(_ms_of(v), name == "mintimeuuid")
    if name.startswith("blobas") and name[6:] in _NATIVE:
        if n != "blob":
            return None
        target = _native(name[6:])
        return target, lambda v: target.decode(bytes(v))
    if name.endswith("asblob") and name[:-6] in _NATIVE:
        src = _native(name[:-6])
        if src.name != n:
            return None
        return ColType("blob"), lambda v: src.encode(v)
    return None


def _cast_fn(src: ColType, target: ColType) -> Callable[[Any], Any] | None:
    s, t = src.name, target.name
    if s not in _NATIVE or t not in _NATIVE:
        return None  # CastFcts are defined between native types only
    if s == t:
        return lambda v: v
    if t in ("text", "ascii"):
        return lambda v: _text_of(v, src)
    if s in _RANK and t in _RANK:
        if t in _INTS:
            bits = _INTS[t]
            return lambda v: _wrap_int(int(v), bits)
        if t == "varint":
            return lambda v: int(v)
        if t in ("float", "double"):
            return lambda v: float(v)
        return lambda v: decimal.Decimal(str(v))
    if t in ("date", "timestamp") and s in ("timeuuid", "timestamp", "date"):
        return (lambda v: _ts_of_ms(_ms_of(v)).date()) if t == "date" else (
            lambda v: _ts_of_ms(_ms_of(v)))
    return None


def _text_of(v: Any, t: ColType) -> str:
    """The CQL text of a value as CAST(x AS text) gives it (the type's toString)."""
    n = t.name
    if n == "timestamp":
        return _ts_text(v).replace(" ", "T")
    if n in ("float", "double"):
        return _java_float(v)
    if n == "blob":
        return "0x" + bytes(v).hex()
    if n == "boolean":
        return "true" if v else "false"
    if n == "time":
        return _time_text(v)
    return str(v)


def _java_float(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    r = repr(float(v))
    if "e" in r:
        mant, exp = r.split("e")
        if "." not in mant:
            mant += ".0"
        return f"{mant}E{int(exp)}"
    return r


def _ts_text(v: Any) -> str:
    ms = _ms_of(v)
    d = _ts_of_ms(ms)
    return d.strftime("%Y-%m-%d %H:%M:%S") + f".{ms % 1000:03d}Z"


def _time_text(v: Any) -> str:
    nanos = getattr(v, "nanosecond_time", None)
    if nanos is None:
        nanos = ((v.hour * 60 + v.minute) * 60 + v.second) * 10**9 + v.microsecond * 1000
    s, ns = divmod(nanos, 10**9)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{sec:02d}.{ns:09d}"


def _duration_text(d: Any) -> str:
    months, days, nanos = d.months, d.days, d.nanoseconds
    neg = months < 0 or days < 0 or nanos < 0
    months, days, nanos = abs(months), abs(days), abs(nanos)
    out = "-" if neg else ""
    y, mo = divmod(months, 12)
    for amount, unit in ((y, "y"), (mo, "mo"), (days, "d")):
        if amount:
            out += f"{amount}{unit}"
    for size, unit in ((3600 * 10**9, "h"), (60 * 10**9, "m"), (10**9, "s"), (10**6, "ms"),
                       (10**3, "us"), (1, "ns")):
        if nanos >= size:
            out += f"{nanos // size}{unit}"
            nanos %= size
    return out if out not in ("", "-") else "0s"


# -- JSON --------------------------------------------------------------------------------------


def _json_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def to_json(v: Any, t: ColType) -> str:
    """The JSON text of ``v`` (Cassandra's AbstractType.toJSONString)."""
    if v is None:
        return "null"
    n = t.name
    if n in ("text", "ascii"):
        return _json_str(v)
    if n in _INTS or n == "varint":
        return str(int(v))
    if n in ("float", "double"):
        return _java_float(v)
    if n == "decimal":
        return str(v)
    if n == "boolean":
        return "true" if v else "false"
    if n in ("uuid", "timeuuid", "inet"):
        return _json_str(str(v))
    if n == "timestamp":
        return _json_str(_ts_text(v))
    if n == "date":
        return _json_str(v.isoformat() if isinstance(v, datetime.date) else str(v))
    if n == "time":
        return _json_str(_time_text(v))
    if n == "blob":
        return _json_str("0x" + bytes(v).hex())
    if n == "duration":
        return _json_str(_duration_text(v))
    if n in ("list", "vector"):
        return "[" + ", ".join(to_json(x, t.params[0]) for x in v) + "]"
    if n == "set":
        sk = t.params[0].sort_key
        return "[" + ", ".join(to_json(x, t.params[0]) for x in sorted(v, key=sk)) + "]"
    if n == "map":
        kt, vt = t.params
        items = sorted(v.items(), key=lambda kv: kt.sort_key(kv[0]))
        parts = []
        for a, b in items:
            ka = to_json(a, kt)
            if not ka.startswith('"'):
                ka = _json_str(ka)
            parts.append(f"{ka}: {to_json(b, vt)}")
        return "{" + ", ".join(parts) + "}"
    if n == "tuple":
        return "[" + ", ".join(to_json(x, p) for x, p in zip(v, t.params, strict=False)) + "]"
    if n == "udt":
        vals = list(v) if isinstance(v, tuple) else [getattr(v, f, None) for f in t.field_names]
        return "{" + ", ".join(
            f"{_json_str(json_key(f))}: {to_json(x, p)}"
            for f, x, p in zip(t.field_names, vals, t.params, strict=False)) + "}"
    return _json_str(str(v))


def json_key(name: str) -> str:
    """A column or field name as a JSON key: case-sensitive names keep their quotes."""
    import re

    return name if re.fullmatch(r"[a-z][a-z0-9_]*", name) else '"' + name + '"'


def _bad_json(t: ColType, v: Any) -> InvalidRequest:
    return InvalidRequest(f"Unable to make {t.cql_name} from {json.dumps(v)}")


def from_json(v: Any, t: ColType, name: str) -> Any:
    """The value of type ``t`` that the decoded JSON ``v`` stands for (fromJson)."""
    if v is None:
        return None
    n = t.name
    try:
        if n in ("text", "ascii"):
            if not isinstance(v, str):
                raise InvalidRequest(f"Error decoding JSON value for {name}: Expected a UTF-8 "
                                     f"string, but got a {type(v).__name__}: {v}")
            return v
        if n in _INTS or n == "varint":
            if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
                raise _bad_json(t, v)
            i = int(v) if not isinstance(v, str) else int(v.strip())
            bits = _INTS.get(n)
            if bits and not -(1 << (bits - 1)) <= i < (1 << (bits - 1)):
                raise _bad_json(t, v)
            return i
        if n in ("float", "double"):
            return float(v)
        if n == "decimal":
            return decimal.Decimal(str(v))
        if n == "boolean":
            if isinstance(v, bool):
                return v
            if isinstance(v, str) and v.lower() in ("true", "false"):
                return v.lower() == "true"
            raise _bad_json(t, v)
        if n in ("uuid", "timeuuid"):
            u = uuid.UUID(v)
            if n == "timeuuid" and u.version != 1:
                raise _bad_json(t, v)
            return u
        if n == "timestamp":
            if isinstance(v, int):
                return _ts_of_ms(v)
            return _parse_timestamp(v)
        if n == "date":
            if isinstance(v, int):
                return datetime.date(1970, 1, 1) + datetime.timedelta(days=v - 2**31)
            return datetime.date.fromisoformat(v.strip())
        if n == "time":
            if isinstance(v, int):
                from greencql.testing.engine.values import _parse_time_nanos

                return _parse_time_nanos(v)
            return _parse_time(v)
        if n == "inet":
            return ipaddress.ip_address(v)
        if n == "blob":
            if not isinstance(v, str) or not v.startswith("0x"):
                raise InvalidRequest(f"Error decoding JSON value for {name}: Value '{v}' is not "
                                     "a valid blob representation: String representation of "
                                     "blob is missing 0x prefix: " + str(v))
            return bytes.fromhex(v[2:])
        if n == "duration":
            return _parse_duration(v)
        if n in ("list", "set", "vector"):
            if not isinstance(v, list):
                raise _bad_json(t, v)
            items = [from_json(x, t.params[0], name) for x in v]
            if n == "set":
                from greencql.testing.engine.values import _hashable

                return {_hashable(x) for x in items}
            return items
        if n == "map":
            if not isinstance(v, dict):
                raise _bad_json(t, v)
            kt, vt = t.params
            out = {}
            for a, b in v.items():
                key: Any = a
                if kt.name not in ("text", "ascii"):
                    try:
                        key = json.loads(a)
                    except ValueError:
                        key = a
                from greencql.testing.engine.values import _hashable

                out[_hashable(from_json(key, kt, name))] = from_json(b, vt, name)
            return out
        if n == "tuple":
            if not isinstance(v, list) or len(v) > len(t.params):
                raise _bad_json(t, v)
            vals = [from_json(x, p, name) for x, p in zip(v, t.params, strict=False)]
            return tuple(vals + [None] * (len(t.params) - len(vals)))
        if n == "udt":
            if not isinstance(v, dict):
                raise _bad_json(t, v)
            got: dict[str, Any] = {}
            for key, x in v.items():
                fname = key[1:-1] if key.startswith('"') and key.endswith('"') else key.lower()
                if fname not in t.field_names:
                    raise InvalidRequest(f"Unknown field '{fname}' in value of user defined "
                                         f"type {t.udt_name}")
                got[fname] = from_json(x, t.params[t.field_names.index(fname)], name)
            return t.proto.value_class(*[got.get(f) for f in t.field_names])
    except InvalidRequest:
        raise
    except (ValueError, TypeError, AttributeError, decimal.InvalidOperation) as exc:
        raise InvalidRequest(f"Error decoding JSON value for {name}: {exc}") from exc
    raise InvalidRequest(f"Error decoding JSON value for {name}: unsupported type {t.cql_name}")
