"""Values of the simulated engine: CQL constants and bind markers turned into Python values.

Owns: converting a parsed constant to the Python value of a column type (with Cassandra's
"Invalid STRING constant (x) for "k" of type int" errors), compiling a term (constant,
marker, collection/tuple/UDT literal, now()/uuid()/toTimestamp() calls) into a function of the
execution context, and the execution context itself (bound values decoded lazily by their
marker's type, the caller's ``now``). Knows types, not tables or storage.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import re
import uuid
from collections.abc import Callable
from typing import Any

from greencql.errors import InvalidRequest, ProtocolError
from greencql.testing.cql import ast
from greencql.testing.engine.results import UNSET, ColumnSpec
from greencql.testing.schema import ColType

__all__ = ["Ctx", "Binder", "compile_term", "convert_const", "TermFn"]

TermFn = Callable[["Ctx"], Any]
_UTC = datetime.timezone.utc
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=_UTC)
_INT_RANGES = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64, "counter": 64}


class Ctx:
    """One execution: bound values (serialized bytes, None, UNSET, or already-decoded Python
    values), their specs, the caller's clock and the engine (for now()/uuid())."""

    __slots__ = ("cache", "engine", "now", "specs", "values")

    def __init__(self, values: list[Any], specs: tuple[ColumnSpec, ...], now: float,
                 engine: Any = None) -> None:
        self.values = values
        self.specs = specs
        self.now = now
        self.engine = engine
        self.cache: dict[int, Any] | None = None

    def value(self, i: int) -> Any:
        v = self.values[i]
        if v is None or v is UNSET:
            return v
        if isinstance(v, (bytes, bytearray, memoryview)):
            cache = self.cache
            if cache is None:
                cache = self.cache = {}
            elif i in cache:
                return cache[i]
            spec = self.specs[i]
            try:
                out = spec.coltype.decode(bytes(v))
            except (ProtocolError, ValueError, TypeError) as exc:
                raise InvalidRequest(f"Exception while binding column {spec.name}: {exc}") from exc
            if out is None and spec.coltype.name not in ("text", "ascii", "blob"):
                out = _EMPTY
            cache[i] = out
            return out
        return v

    def raw(self, i: int) -> Any:
        return self.values[i]


class _Empty:
    """An empty (zero-length) value of a non-string type: neither null nor a value."""

    def __repr__(self) -> str:
        return "EMPTY"


_EMPTY = _Empty()


class Binder:
    """Collects the spec of every bind marker while a statement is planned."""

    def __init__(self, keyspace: str, table: str) -> None:
        self.keyspace = keyspace
        self.table = table
        self.specs: dict[int, ColumnSpec] = {}
        self.names: dict[int, str | None] = {}

    def bind(self, marker: ast.Marker, name: str, ctype: ColType) -> None:
        self.specs[marker.index] = ColumnSpec(self.keyspace, self.table, marker.name or name,
                                              ctype)
        self.names[marker.index] = marker.name

    def spec_list(self, count: int) -> tuple[ColumnSpec, ...]:
        out = []
        for i in range(count):
            s = self.specs.get(i)
            if s is None:
                raise InvalidRequest(f"bind marker {i} is not used in a supported position")
            out.append(s)
        return tuple(out)


_JAVA_INTS = {"tinyint": "byte", "smallint": "short", "int": "int", "bigint": "long",
              "counter": "long"}
# the parse errors of 4.0's types' fromString for a string literal they cannot read
_STRING_PARSE_ERRORS = {
    "timestamp": "Unable to coerce '{}' to a formatted date (long)",
    "date": "Unable to coerce '{}' to a formatted date (long)",
    "time": "(TimeType) Unable to coerce '{}' to a formatted time (long)",
    "inet": "Unable to make inet address from '{}'",
}


def _bad(const: ast.Const, name: str, t: ColType) -> InvalidRequest:
    text = const.value if const.kind == "STRING" else const.text
    return InvalidRequest(f'Invalid {const.kind} constant ({text}) for "{name}" of type '
                          f"{t.cql_name}")


_TS_RE = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)


def _parse_timestamp(s: str) -> datetime.datetime:
    m = _TS_RE.match(s.strip())
    if not m:
        raise ValueError(s)
    y, mo, d, h, mi, sec, frac, tz = m.groups()
    micro = int((frac or "0").ljust(6, "0")[:6])
    tzinfo = _UTC
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        tzinfo = datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]),
                                                             minutes=int(digits[2:])))
    dt = datetime.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(sec or 0),
                           micro, tzinfo=tzinfo)
    return dt.astimezone(_UTC)


def _parse_time(s: str) -> Any:
    m = re.match(r"^(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$", s.strip())
    if not m:
        raise ValueError(s)
    h, mi, sec, frac = m.groups()
    nanos = ((int(h) * 60 + int(mi)) * 60 + int(sec)) * 10**9 + int((frac or "0").ljust(9, "0"))
    from greencql.protocol.types import Time

    t = Time(nanos)
    return t.time() if nanos % 1000 == 0 else t


_DUR_UNITS = {"y": (12, 0, 0), "mo": (1, 0, 0), "w": (0, 7, 0), "d": (0, 1, 0),
              "h": (0, 0, 3600 * 10**9), "m": (0, 0, 60 * 10**9), "s": (0, 0, 10**9),
              "ms": (0, 0, 10**6), "us": (0, 0, 10**3), "µs": (0, 0, 10**3), "ns": (0, 0, 1)}


def _parse_duration(s: str) -> Any:
    from greencql.protocol.types import Duration

    neg = s.startswith("-")
    body = s[1:] if neg else s
    months = days = nanos = 0
    if body.startswith("P"):
        m = re.match(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
                     r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$", body)
        if not m:
            raise ValueError(s)
        y, mo, w, d, h, mi, sec = (int(x or 0) for x in m.groups())
        months, days = y * 12 + mo, w * 7 + d
        nanos = ((h * 60 + mi) * 60 + sec) * 10**9
    else:
        parts = re.findall(r"(\d+)(mo|ms|us|µs|ns|y|w|d|h|m|s)", body, re.I)
        if not parts or "".join(a + b for a, b in parts) != body:
            raise ValueError(s)
        for amount, unit in parts:
            mm, dd, nn = _DUR_UNITS[unit.lower()]
            months += int(amount) * mm
            days += int(amount) * dd
            nanos += int(amount) * nn
    if neg:
        months, days, nanos = -months, -days, -nanos
    return Duration(months, days, nanos)


def convert_const(const: ast.Const, t: ColType, name: str) -> Any:
    """The Python value of ``const`` for a column ``name`` of type ``t``."""
    kind = const.kind
    if kind == "NULL":
        return None
    n = t.name
    v = const.value
    try:
        if kind == "INTEGER":
            if n in _INT_RANGES:
                i = int(v)
                bits = _INT_RANGES[n]
                if not -(2 ** (bits - 1)) <= i < 2 ** (bits - 1):
                    # the type's fromString (Java's parse of the literal) fails first
                    raise InvalidRequest(f"Unable to make {_JAVA_INTS[n]} from '{v}'")
                return i
            if n == "varint":
                return int(v)
            if n in ("float", "double"):
                return float(v)
            if n == "decimal":
                return decimal.Decimal(v)
            if n == "timestamp":
                return _EPOCH + datetime.timedelta(milliseconds=int(v))
            if n == "date":
                return datetime.date(1970, 1, 1) + datetime.timedelta(days=int(v) - 2**31)
            if n == "time":
                return _parse_time_nanos(int(v))
        elif kind == "FLOAT":
            if n in ("float", "double"):
                if isinstance(v, str) and v.lower() in ("nan", "infinity", "-infinity"):
                    return float("nan") if v.lower() == "nan" else float(v.lower()[:-5])
                return float(v)
            if n == "decimal":
                return decimal.Decimal(v)
        elif kind == "STRING":
            if n in ("text", "ascii"):
                if n == "ascii" and not v.isascii():
                    raise InvalidRequest("Invalid ASCII character in string literal: "
                                         "java.nio.charset.MalformedInputException: Input "
                                         "length = 1")
                return v
            try:
                if n == "timestamp":
                    if re.fullmatch(r"-?\d+", v.strip()):
                        return _EPOCH + datetime.timedelta(milliseconds=int(v))
                    return _parse_timestamp(v)
                if n == "date":
                    if re.fullmatch(r"-?\d+", v.strip()):
                        return datetime.date(1970, 1, 1) + datetime.timedelta(
                            days=int(v) - 2**31)
                    return datetime.date.fromisoformat(v.strip())
                if n == "time":
                    if re.fullmatch(r"\d+", v.strip()):
                        return _parse_time_nanos(int(v))
                    return _parse_time(v)
                if n == "inet":
                    return ipaddress.ip_address(v.strip())
            except (ValueError, OverflowError) as exc:
                raise InvalidRequest(_STRING_PARSE_ERRORS[n].format(v)) from exc
            # a string is no uuid, timeuuid, duration or number literal in 4.0
            # (Constants.Literal.testAssignment)
        elif kind == "BOOLEAN":
            if n == "boolean":
                return bool(v)
        elif kind == "UUID":
            if n in ("uuid", "timeuuid"):
                return _check_uuid(uuid.UUID(v), t, const, name)
        elif kind == "HEX":
            if n == "blob":
                try:
                    return bytes.fromhex(v[2:])
                except ValueError:
                    raise InvalidRequest(f"cannot parse '{v[2:]}' as hex bytes") from None
        elif kind == "DURATION":
            if n == "duration":
                return _parse_duration(v)
    except InvalidRequest:
        raise
    except (ValueError, ArithmeticError, decimal.InvalidOperation) as exc:
        raise _bad(const, name, t) from exc
    raise _bad(const, name, t)


def _parse_time_nanos(nanos: int) -> Any:
    from greencql.protocol.types import Time

    t = Time(nanos)
    return t.time() if nanos % 1000 == 0 else t


def _check_uuid(u: uuid.UUID, t: ColType, const: ast.Const, name: str) -> uuid.UUID:
    if t.name == "timeuuid" and u.version != 1:
        raise _bad(const, name, t)
    return u


def _const_fn(value: Any) -> TermFn:
    return lambda ctx: value


def compile_term(term: Any, t: ColType, name: str, binder: Binder,
                 spec_name: str | None = None, *, nested: bool = False) -> TermFn:
    """A function of the context giving the Python value of ``term`` for type ``t`` (None
    for null, UNSET for an unset marker).

    ``nested``: the term is an element of a collection, tuple or UDT literal. An empty
    collection literal is null only for a top-level non-frozen collection (which stores its
    elements one by one, so "no element" and null are the same thing); a frozen or nested one
    is an empty value, as in Cassandra (``[{}]`` is a list holding one empty map)."""
    if isinstance(term, ast.Const):
        value = convert_const(term, t, name)
        return _const_fn(value)
    if isinstance(term, ast.Marker):
        binder.bind(term, spec_name or name, t)
        i = term.index

        def marker(ctx: Ctx) -> Any:
            v = ctx.value(i)
            if v is _EMPTY:
                raise InvalidRequest(f"Invalid empty value for column {name} of type "
                                     f"{t.cql_name}")
            return v

        return marker
    if isinstance(term, ast.FuncTerm):
        return _compile_func(term, t, name, binder)
    if isinstance(term, ast.CollectionLit):
        return _compile_collection(term, t, name, binder, nested or t.frozen)
    if isinstance(term, ast.TupleLit):
        if t.name != "tuple":
            if len(term.items) == 1:
                return compile_term(term.items[0], t, name, binder, spec_name)
            raise InvalidRequest(f"Invalid tuple literal for {name} of type {t.cql_name}")
        if len(term.items) > len(t.params):
            raise InvalidRequest(f"Invalid tuple literal for {name}: too many elements. Type "
                                 f"{t.cql_name} expects {len(t.params)} but got "
                                 f"{len(term.items)}")
        fns = [compile_term(x, p, name, binder, f"{name}[{i}]", nested=True)
               for i, (x, p) in enumerate(zip(term.items, t.params, strict=False))]
        pad = (None,) * (len(t.params) - len(fns))
        return lambda ctx: tuple(f(ctx) for f in fns) + pad
    if isinstance(term, ast.UdtLit):
        if t.name != "udt":
            if t.name == "map" and not term.fields:
                return _const_fn(None)
            raise InvalidRequest(f"Invalid user type literal for {name} of type {t.cql_name}")
        fields = dict(zip(t.field_names, t.params, strict=True))
        fns2 = []
        for fname, ft in term.fields:
            if fname not in fields:
                raise InvalidRequest(f"Unknown field '{fname}' in value of user defined type "
                                     f"{t.udt_name}")
            fns2.append((fname, compile_term(ft, fields[fname], f"{name}.{fname}", binder,
                                             nested=True)))
        proto_cls = t.proto.value_class
        names = t.field_names

        def udt(ctx: Ctx) -> Any:
            got = {fn_name: fn(ctx) for fn_name, fn in fns2}
            return proto_cls(*[None if got.get(f) is UNSET else got.get(f) for f in names])

        return udt
    raise InvalidRequest(f"Invalid value for {name} of type {t.cql_name}")


def _no_null(v: Any) -> Any:
    if v is None:
        raise InvalidRequest("null is not supported inside collections")
    if v is UNSET:
        raise InvalidRequest("unset value is not supported inside collections")
    return v


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, set):
        return frozenset(_hashable(x) for x in v)
    if isinstance(v, dict):
        from greencql.protocol.types import FrozenMap

        return FrozenMap({_hashable(k): _hashable(x) for k, x in v.items()})
    return v


def _compile_collection(term: ast.CollectionLit, t: ColType, name: str,
                        binder: Binder, keep_empty: bool) -> TermFn:
    """``keep_empty``: an empty literal is an empty value (frozen or nested), not null."""
    n = t.name
    if term.kind == "list" and n == "vector":
        return _compile_vector(term, t, name, binder)
    if term.kind == "list" and n == "list":
        fns = [compile_term(x, t.params[0], name, binder, f"value({name})", nested=True)
               for x in term.items]
        if not fns:
            return (lambda ctx: []) if keep_empty else _const_fn(None)
        return lambda ctx: [_no_null(f(ctx)) for f in fns]
    if term.kind == "set" and n == "set":
        fns = [compile_term(x, t.params[0], name, binder, f"value({name})", nested=True)
               for x in term.items]
        return lambda ctx: {_hashable(_no_null(f(ctx))) for f in fns}
    if term.kind == "list" and n == "set":
        raise InvalidRequest(f"Invalid list literal for {name} of type {t.cql_name}")
    if term.kind == "map" and n in ("map", "set") and not term.items:
        # '{}' is the empty map or the empty set, whichever the receiver is
        if not keep_empty:
            return _const_fn(None)
        make = set if n == "set" else dict
        return lambda ctx: make()
    if term.kind == "map" and n == "map":
        pairs = [(compile_term(k, t.params[0], name, binder, f"key({name})", nested=True),
                  compile_term(v, t.params[1], name, binder, f"value({name})", nested=True))
                 for k, v in term.items]

        def build(ctx: Ctx) -> Any:
            return {_hashable(_no_null(kf(ctx))): _no_null(vf(ctx)) for kf, vf in pairs}

        return build
    if term.kind == "set" and n == "udt":
        raise InvalidRequest(f"Invalid user type literal for {name} of type {t.cql_name}")
    raise InvalidRequest(f"Invalid {term.kind} literal for {name} of type {t.cql_name}")


def _compile_vector(term: ast.CollectionLit, t: ColType, name: str, binder: Binder) -> TermFn:
    """``[1.0, 2.0, 3.0]`` for a ``vector<float, 3>``: exactly ``dimension`` non-null
    elements (Cassandra 5's messages)."""
    if len(term.items) != t.dimension:
        raise InvalidRequest(f"Invalid vector literal for {name} of type {t.cql_name}; expected "
                             f"{t.dimension} elements, but given {len(term.items)}")
    fns = [compile_term(x, t.params[0], name, binder, f"value({name})", nested=True)
           for x in term.items]

    def build(ctx: Ctx) -> Any:
        out = []
        for f in fns:
            v = f(ctx)
            if v is None or v is UNSET or v is _EMPTY:
                raise InvalidRequest("null is not supported inside vectors")
            out.append(v)
        return out

    return build


def _compile_func(term: ast.FuncTerm, t: ColType, name: str, binder: Binder) -> TermFn:
    f = term.name
    n = t.name
    if f in ("now", "currenttimeuuid") and not term.args:
        if n not in ("timeuuid", "uuid"):
            raise InvalidRequest(f"Type error: cannot assign result of function system.now "
                                 f"(type timeuuid) to {name} (type {t.cql_name})")
        return lambda ctx: ctx.engine.timeuuid(ctx.now)
    if f == "uuid" and not term.args:
        if n != "uuid":
            raise InvalidRequest(f"Type error: cannot assign result of function system.uuid "
                                 f"(type uuid) to {name} (type {t.cql_name})")
        return lambda ctx: ctx.engine.random_uuid()
    if f == "fromjson" and len(term.args) == 1:
        import json

        from greencql.testing.engine.selectors import from_json

        text = compile_term(term.args[0], ColType("text"), f"fromjson({name})", binder)

        def from_json_term(ctx: Ctx) -> Any:
            raw = text(ctx)
            if raw is None or raw is UNSET:
                return raw
            try:
                decoded = json.loads(raw)
            except ValueError as exc:
                raise InvalidRequest(f"Could not decode JSON string '{raw}': {exc}") from exc
            return from_json(decoded, t, name)

        return from_json_term
    if f in ("mintimeuuid", "maxtimeuuid") and len(term.args) == 1:
        from greencql.testing.engine.selectors import _conversion

        if n not in ("timeuuid", "uuid"):
            raise InvalidRequest(f"Type error: cannot assign result of function system.{f} "
                                 f"(type timeuuid) to {name} (type {t.cql_name})")
        ts_arg = compile_term(term.args[0], ColType("timestamp"), f"{f}({name})", binder)
        conv = _conversion(f, ColType("timestamp"), name)
        assert conv is not None
        make = conv[1]

        def bound(ctx: Ctx) -> Any:
            v = ts_arg(ctx)
            return v if v is None or v is UNSET else make(v)

        return bound
    if len(term.args) == 1 and (f.startswith("blobas") or f.endswith("asblob")):
        from greencql.testing.engine.selectors import _conversion, _native

        src = ColType("blob") if f.startswith("blobas") else _native(f[:-6])
        conv = _conversion(f, src, name)
        if conv is not None:
            out_t, g = conv
            if out_t.name != n and not (out_t.name == "text" and n == "ascii"):
                raise InvalidRequest(f"Type error: cannot assign result of function system.{f} "
                                     f"(type {out_t.cql_name}) to {name} (type {t.cql_name})")
            arg = compile_term(term.args[0], src, f"{f}({name})", binder)

            def converted(ctx: Ctx) -> Any:
                v = arg(ctx)
                return v if v is None or v is UNSET else g(v)

            return converted
    if f in ("totimestamp", "currenttimestamp", "dateof") and n == "timestamp":
        inner = _time_arg(term, binder)
        return lambda ctx: _EPOCH + datetime.timedelta(microseconds=int(inner(ctx) * 1e6) // 1000
                                                       * 1000)
    if f in ("tounixtimestamp", "unixtimestampof") and n in ("bigint", "varint"):
        inner = _time_arg(term, binder)
        return lambda ctx: int(inner(ctx) * 1000)
    if f in ("todate", "currentdate") and n == "date":
        inner = _time_arg(term, binder)
        return lambda ctx: (_EPOCH + datetime.timedelta(seconds=inner(ctx))).date()
    raise InvalidRequest(f"Unknown function {f} called" if f not in (
        "now", "uuid", "totimestamp", "currenttimestamp", "tounixtimestamp", "todate",
        "currentdate", "dateof", "unixtimestampof")
        else f"Type error: cannot assign result of function system.{f} to {name} "
             f"(type {t.cql_name})")


def _time_arg(term: ast.FuncTerm, binder: Binder) -> Callable[[Ctx], float]:
    """Seconds since the epoch of a function's argument (now() or nothing)."""
    if not term.args:
        return lambda ctx: ctx.now
    arg = term.args[0]
    if isinstance(arg, ast.FuncTerm) and arg.name == "now":
        return lambda ctx: ctx.now
    tu = compile_term(arg, ColType("timeuuid"), "arg", binder)

    def from_uuid(ctx: Ctx) -> float:
        u = tu(ctx)
        return (u.time - 0x01B21DD213814000) / 1e7

    return from_uuid
