"""CQL data types: what each type is called, how it travels, and how its values map to Python.

Owns: the :class:`CqlType` objects (native types, collections, tuples, user types, vectors,
custom types), their value codecs (``encode`` Python -> bytes, ``decode`` bytes -> Python),
the wire [option] form of a type (:func:`read_type_option` / :func:`write_type_option`), the
parsing of type strings in CQL syntax (``map<text, frozen<list<int>>>``) and in Java class
syntax (``org.apache.cassandra.db.marshal.Int32Type``), and the small value types CQL needs and
the standard library lacks (:class:`Duration`, :class:`Date`, :class:`Time`, :class:`FrozenMap`).

Must not: read frames, know about messages, or do IO. The Python mapping of every type is
documented in ``docs/types.md``; keep that table true when changing a codec here.

Error policy:

- decoding bytes raises only :class:`~greencql.errors.ProtocolError` subclasses (bad sizes,
  truncated collections, invalid UTF-8, unknown type ids), and allocates nothing before checking
  that the declared counts fit in the bytes that are there;
- encoding a Python value raises ``TypeError`` when the Python type is wrong and ``ValueError``
  when the type is right but the value does not fit (out of range, null inside a collection,
  wrong vector length). :func:`encode_value` adds the column name and CQL type to the message.
"""

from __future__ import annotations

import datetime as _dt
import decimal
import functools
import ipaddress
import keyword
import operator
import re
import struct
import uuid
from binascii import hexlify, unhexlify
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from greencql._speedups import twin
from greencql.errors import MalformedError, ProtocolError, TruncatedError, UnknownTypeError
from greencql.protocol.values import OrderedMapSerializedKey, SortedSet
from greencql.protocol.wire import (
    UNSET,
    Reader,
    UnsetType,
    Writer,
    decode_unsigned_vint,
    decode_vint,
    encode_unsigned_vint,
    encode_vint,
)

__all__ = [
    # value types
    "Duration",
    "Date",
    "Time",
    "FrozenMap",
    # type objects
    "CqlType",
    "NativeType",
    "ListType",
    "SetType",
    "MapType",
    "TupleType",
    "UserType",
    "VectorType",
    "CustomType",
    "UdtResolver",
    "ASCII",
    "BIGINT",
    "BLOB",
    "BOOLEAN",
    "COUNTER",
    "DATE",
    "DECIMAL",
    "DOUBLE",
    "DURATION",
    "FLOAT",
    "INET",
    "INT",
    "SMALLINT",
    "TEXT",
    "TIME",
    "TIMESTAMP",
    "TIMEUUID",
    "TINYINT",
    "UUID",
    "VARINT",
    "NATIVE_TYPES",
    "MAX_TYPE_DEPTH",
    "MARSHAL_PREFIX",
    # functions
    "native_type",
    "read_type_option",
    "write_type_option",
    "parse_type_string",
    "encode_value",
    "decode_value",
    "VALUE_TYPES",
    "DEFAULT_VALUE_TYPES",
    "check_value_types",
    "driver_decoder",
    "register_udt_class",
]

MARSHAL_PREFIX = "org.apache.cassandra.db.marshal."

# Nesting deeper than this (in [option]s or type strings) is refused: real schemas nest a few
# levels, and an attacker-sized nesting would otherwise exhaust the Python stack.
MAX_TYPE_DEPTH = 32

_i8 = struct.Struct(">b")
_u8 = struct.Struct(">B")
_i16 = struct.Struct(">h")
_i32 = struct.Struct(">i")
_u32 = struct.Struct(">I")
_i64 = struct.Struct(">q")
_f32 = struct.Struct(">f")
_f64 = struct.Struct(">d")


# ============================================================================================
# Value types
# ============================================================================================


class Duration:
    """A CQL ``duration``: months, days and nanoseconds, kept apart because a month or a day
    has no fixed length in nanoseconds (calendars, daylight saving). All three are >= 0 or all
    <= 0. Attribute names match cassandra-driver's ``util.Duration``."""

    __slots__ = ("days", "months", "nanoseconds")

    months: int
    days: int
    nanoseconds: int

    def __init__(self, months: int = 0, days: int = 0, nanoseconds: int = 0) -> None:
        object.__setattr__(self, "months", months)
        object.__setattr__(self, "days", days)
        object.__setattr__(self, "nanoseconds", nanoseconds)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Duration is immutable")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Duration) or all(
                hasattr(other, a) for a in ("months", "days", "nanoseconds")):
            # (another library's Duration too: cassandra-driver's util.Duration)
            return (self.months, self.days, self.nanoseconds) == (
                other.months,  # type: ignore[attr-defined]
                other.days,  # type: ignore[attr-defined]
                other.nanoseconds,  # type: ignore[attr-defined]
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash((Duration, self.months, self.days, self.nanoseconds))

    def __repr__(self) -> str:
        return f"Duration({self.months}, {self.days}, {self.nanoseconds})"

    def __str__(self) -> str:
        # cassandra-driver's text form: "1mo2d3ns", "-1mo2d3ns" when negative
        sign = "-" if min(self.months, self.days, self.nanoseconds) < 0 else ""
        return f"{sign}{abs(self.months)}mo{abs(self.days)}d{abs(self.nanoseconds)}ns"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Duration, (self.months, self.days, self.nanoseconds))


_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_MIN_DATE_DAYS = _dt.date.min.toordinal() - _EPOCH_ORDINAL
_MAX_DATE_DAYS = _dt.date.max.toordinal() - _EPOCH_ORDINAL


@functools.total_ordering
class Date:
    """A CQL ``date`` as days since 1970-01-01, for dates ``datetime.date`` cannot hold
    (before year 1 or after 9999; CQL dates span about +-5.8 million years). Decoding returns
    a ``datetime.date`` whenever it can and a :class:`Date` only outside that range. The
    attribute name matches cassandra-driver's ``util.Date``."""

    __slots__ = ("days_from_epoch",)

    days_from_epoch: int

    def __init__(self, days_from_epoch: Any) -> None:
        # as cassandra-driver's util.Date: an int (days since the epoch), a date or datetime,
        # an ISO "YYYY-MM-DD" string, or another Date
        value = days_from_epoch
        if isinstance(value, Date):
            days = value.days_from_epoch
        elif isinstance(value, _dt.datetime):
            days = value.date().toordinal() - _EPOCH_ORDINAL
        elif isinstance(value, _dt.date):
            days = value.toordinal() - _EPOCH_ORDINAL
        elif isinstance(value, str):
            try:
                days = _dt.date.fromisoformat(value.strip()).toordinal() - _EPOCH_ORDINAL
            except ValueError:
                raise ValueError(f"{value!r} is not a date (expected YYYY-MM-DD)") from None
        elif isinstance(value, bool):
            raise TypeError("expected days, a date or a YYYY-MM-DD string for Date, got bool")
        else:
            try:
                days = operator.index(value)
            except TypeError:
                raise TypeError(
                    f"expected days, a date or a YYYY-MM-DD string for Date, got {_describe(value)}"
                ) from None
        object.__setattr__(self, "days_from_epoch", days)

    @property
    def seconds(self) -> int:
        """Seconds since the epoch of this day's midnight (cassandra-driver's attribute)."""
        return self.days_from_epoch * 86_400

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Date is immutable")

    def date(self) -> _dt.date:
        """The ``datetime.date``; ValueError when outside its range."""
        days = self.days_from_epoch
        if not _MIN_DATE_DAYS <= days <= _MAX_DATE_DAYS:
            raise ValueError(f"{self!r} is outside the range of datetime.date")
        return _dt.date.fromordinal(days + _EPOCH_ORDINAL)

    def _days(self, other: object) -> int | None:
        if isinstance(other, Date):
            return other.days_from_epoch
        if isinstance(other, _dt.date) and not isinstance(other, _dt.datetime):
            return other.toordinal() - _EPOCH_ORDINAL
        if isinstance(other, int) and not isinstance(other, bool):
            return other  # days since the epoch, as cassandra-driver's Date compares
        days = getattr(other, "days_from_epoch", None)  # cassandra-driver's own Date
        return days if isinstance(days, int) else None

    def __eq__(self, other: object) -> bool:
        days = self._days(other)
        return NotImplemented if days is None else self.days_from_epoch == days

    def __lt__(self, other: object) -> bool:
        days = self._days(other)
        return NotImplemented if days is None else self.days_from_epoch < days

    def __hash__(self) -> int:
        days = self.days_from_epoch
        if _MIN_DATE_DAYS <= days <= _MAX_DATE_DAYS:
            return hash(self.date())  # equal to the datetime.date it equals
        return hash((Date, days))

    def __repr__(self) -> str:
        return f"Date({self.days_from_epoch})"

    def __str__(self) -> str:
        days = self.days_from_epoch
        if _MIN_DATE_DAYS <= days <= _MAX_DATE_DAYS:
            return self.date().isoformat()
        return str(days)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Date, (self.days_from_epoch,))


_NANOS_PER_DAY = 86_400 * 10**9


@functools.total_ordering
class Time:
    """A CQL ``time`` with nanosecond precision (nanoseconds since midnight). Decoding returns
    a ``datetime.time`` when the value is a whole number of microseconds and a :class:`Time`
    otherwise. The attribute name matches cassandra-driver's ``util.Time``."""

    __slots__ = ("nanosecond_time",)

    nanosecond_time: int

    def __init__(self, nanosecond_time: Any) -> None:
        # as cassandra-driver's util.Time: an int (nanoseconds since midnight), a
        # datetime.time, an "HH:MM:SS[.fffffffff]" string, or another Time
        value = nanosecond_time
        if isinstance(value, Time):
            nanos = value.nanosecond_time
        elif isinstance(value, _dt.time):
            if value.tzinfo is not None:
                raise ValueError("a CQL time has no time zone; pass a naive datetime.time")
            nanos = _time_to_nanos(value)
        elif isinstance(value, str):
            nanos = _parse_time_string(value)
        elif isinstance(value, bool):
            raise TypeError("expected nanoseconds, a time or an HH:MM:SS string for Time, got bool")
        else:
            try:
                nanos = operator.index(value)
            except TypeError:
                raise TypeError(
                    "expected nanoseconds, a time or an HH:MM:SS string for Time, got "
                    + _describe(value)
                ) from None
        if not 0 <= nanos < _NANOS_PER_DAY:
            raise ValueError(f"time of day out of range: {nanos} ns")
        object.__setattr__(self, "nanosecond_time", nanos)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Time is immutable")

    @classmethod
    def from_time(cls, t: _dt.time) -> Time:
        return cls(_time_to_nanos(t))

    @property
    def hour(self) -> int:
        return self.nanosecond_time // (3600 * 10**9)

    @property
    def minute(self) -> int:
        return self.nanosecond_time // (60 * 10**9) % 60

    @property
    def second(self) -> int:
        return self.nanosecond_time // 10**9 % 60

    @property
    def nanosecond(self) -> int:
        return self.nanosecond_time % 10**9

    def time(self) -> _dt.time:
        """The ``datetime.time``, truncated to microseconds."""
        return _nanos_to_time(self.nanosecond_time - self.nanosecond_time % 1000)

    def _nanos(self, other: object) -> int | None:
        if isinstance(other, Time):
            return other.nanosecond_time
        if isinstance(other, _dt.time) and other.tzinfo is None:
            return _time_to_nanos(other)
        if isinstance(other, int) and not isinstance(other, bool):
            return other  # nanoseconds, as cassandra-driver's Time compares
        nanos = getattr(other, "nanosecond_time", None)  # cassandra-driver's own Time
        return nanos if isinstance(nanos, int) else None

    def __eq__(self, other: object) -> bool:
        nanos = self._nanos(other)
        return NotImplemented if nanos is None else self.nanosecond_time == nanos

    def __lt__(self, other: object) -> bool:
        nanos = self._nanos(other)
        return NotImplemented if nanos is None else self.nanosecond_time < nanos

    def __hash__(self) -> int:
        if self.nanosecond_time % 1000 == 0:
            return hash(self.time())
        return hash((Time, self.nanosecond_time))

    def __repr__(self) -> str:
        return f"Time({self.nanosecond_time})"

    def __str__(self) -> str:
        nanos = self.nanosecond_time
        secs, frac = divmod(nanos, 10**9)
        h, rest = divmod(secs, 3600)
        m, s = divmod(rest, 60)
        return f"{h:02d}:{m:02d}:{s:02d}.{frac:09d}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Time, (self.nanosecond_time,))


_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")


def _parse_time_string(text: str) -> int:
    match = _TIME_RE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a time (expected HH:MM:SS[.fffffffff])")
    h, m, sec, frac = match.groups()
    hours, minutes, seconds = int(h), int(m), int(sec)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"{text!r} is not a time of day")
    nanos = int((frac or "").ljust(9, "0"))
    return ((hours * 60 + minutes) * 60 + seconds) * 10**9 + nanos


def _time_to_nanos(t: _dt.time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 10**9 + t.microsecond * 1000


def _nanos_to_time(nanos: int) -> _dt.time:
    micros = nanos // 1000
    secs, us = divmod(micros, 1_000_000)
    mins, s = divmod(secs, 60)
    h, m = divmod(mins, 60)
    return _dt.time(h, m, s, us)


class FrozenMap(Mapping):
    """An immutable, hashable mapping: the Python form of a CQL map where a hashable value is
    needed (an element of a set, a key of a map)."""

    __slots__ = ("_d", "_hash")

    def __init__(self, items: Any = ()) -> None:
        self._d = dict(items)
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        return self._d[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._d.items()))
        return self._hash

    def __repr__(self) -> str:
        return f"FrozenMap({self._d!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._d,))


# ============================================================================================
# Type objects
# ============================================================================================


def _trunc(data: bytes, what: str, need: int) -> TruncatedError:
    return TruncatedError(f"{what} needs {need} bytes, only {len(data)} present")


def _bad_size(data: bytes, cql: str, size: int) -> Any:
    """Shared by the fixed-size decoders: an empty value is null (see the module docstring of
    the spec, section 6: most non-string types accept 'empty'); any other size is malformed."""
    if not data:
        return None
    raise MalformedError(f"{cql} value of {len(data)} bytes (expected {size})")


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


class CqlType:
    """One CQL type. Immutable and hashable; equal types compare equal however they were made
    (parsed from a string, read from the wire, or built with the constructors below).

    Attributes: ``cql_name`` (how CQL writes the type), ``type_id`` (the [option] id),
    ``kind`` (the base name: ``'int'``, ``'list'``, ``'udt'``, ...), ``subtypes``,
    ``frozen``, ``fixed_size`` (bytes per value when every value has the same size, as
    ``vector`` needs; else None).

    ``encode(value)`` turns a Python value (not None, not UNSET) into bytes; ``decode(data)``
    turns bytes into the Python value (empty bytes decode to None for non-string types).
    ``decode_hashable(data)`` is the same but returns a hashable value (lists as tuples, sets
    as frozensets, maps as :class:`FrozenMap`): used for set elements and map keys.
    """

    __slots__ = (
        "__weakref__",
        "_hash",
        "_key",
        "cql_name",
        "decode",
        "decode_hashable",
        "encode",
        "fixed_size",
        "frozen",
        "kind",
        "subtypes",
        "type_id",
    )

    kind: str
    type_id: int
    cql_name: str
    subtypes: tuple[CqlType, ...]
    frozen: bool
    fixed_size: int | None
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]
    decode_hashable: Callable[[bytes], Any]

    def _init(
        self,
        kind: str,
        type_id: int,
        cql_name: str,
        subtypes: tuple[CqlType, ...],
        frozen: bool,
        fixed_size: int | None,
        extra: Any,
    ) -> None:
        s = object.__setattr__
        s(self, "kind", kind)
        s(self, "type_id", type_id)
        s(self, "cql_name", f"frozen<{cql_name}>" if frozen else cql_name)
        s(self, "subtypes", subtypes)
        s(self, "frozen", frozen)
        s(self, "fixed_size", fixed_size)
        key = (kind, frozen, subtypes, extra)
        s(self, "_key", key)
        s(self, "_hash", hash(key))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if isinstance(other, CqlType):
            return self._hash == other._hash and self._key == other._key
        return NotImplemented

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"<CqlType {self.cql_name}>"

    def __str__(self) -> str:
        return self.cql_name

    def __reduce__(self) -> tuple[Any, ...]:
        return (parse_type_string, (self.class_name,))

    @property
    def is_collection(self) -> bool:
        return self.kind in ("list", "set", "map")

    @property
    def typename(self) -> str:
        """cassandra-driver's ``typename``: the CQL base name (``'int'``, ``'list'``,
        ``'map'``, ...), a user type's own name, a custom type's class name."""
        if self.kind == "udt":
            return str(getattr(self, "name", "udt"))
        if self.kind == "custom":
            return self.class_name
        if self.kind == "text":
            return "varchar"  # the type id every text column comes with (0x000D)
        return self.kind

    @property
    def cassname(self) -> str:
        """cassandra-driver's ``cassname``: the short Java class name (``'Int32Type'``,
        ``'ListType'``, ``'UserType'``, ...)."""
        if self.kind == "text":
            return "VarcharType"  # as cassandra-driver names the type of a text column
        if self.kind == "timestamp":
            return "DateType"  # cassandra-driver's class for type id 0x000B
        name = self.class_name
        if name.startswith(MARSHAL_PREFIX):
            name = name[len(MARSHAL_PREFIX):]
        return name.split("(", 1)[0]

    def cql_parameterized_type(self) -> str:
        """The CQL form of the type (``'map<text, int>'``), as cassandra-driver names it."""
        return self.cql_name

    @property
    def class_name(self) -> str:
        """The Java class-name form Cassandra uses (custom [option]s, older schema tables)."""
        raise NotImplementedError

    def with_frozen(self, frozen: bool = True) -> CqlType:
        """The same type, frozen or not (only meaningful for collections and user types)."""
        raise NotImplementedError

    def _java(self) -> str:
        """class_name, wrapped in FrozenType when frozen (as Cassandra nests frozen types)."""
        name = self.class_name
        return f"{MARSHAL_PREFIX}FrozenType({name})" if self.frozen else name


# --------------------------------------------------------------------------------------------
# Native types: one encoder and one decoder function each
# --------------------------------------------------------------------------------------------


def _as_int(value: Any, cql: str) -> int:
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise TypeError(f"expected an int for {cql}, got bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"expected an int for {cql}, got {_describe(value)}") from None


def _int_encoder(cql: str, st: struct.Struct, bits: int) -> Callable[[Any], bytes]:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    pack = st.pack

    def encode(value: Any) -> bytes:
        v = value if type(value) is int else _as_int(value, cql)
        if lo <= v <= hi:
            return pack(v)
        raise ValueError(f"{v} is out of range for {cql} ({lo}..{hi})")

    return encode


def _fixed_decoder(cql: str, st: struct.Struct) -> Callable[[bytes], Any]:
    size = st.size
    unpack = st.unpack

    def decode(data: bytes) -> Any:
        if len(data) == size:
            return unpack(data)[0]
        return _bad_size(data, cql, size)

    return decode


def _as_float(value: Any, cql: str) -> float:
    if type(value) is float:
        return value
    if isinstance(value, (bool, str, bytes, bytearray)):
        raise TypeError(f"expected a float for {cql}, got {_describe(value)}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"expected a float for {cql}, got {_describe(value)}") from None


def _enc_double(value: Any) -> bytes:
    return _f64.pack(value if type(value) is float else _as_float(value, "double"))


def _enc_float(value: Any) -> bytes:
    try:
        return _f32.pack(value if type(value) is float else _as_float(value, "float"))
    except OverflowError:
        raise ValueError(f"{value!r} is out of range for float (single precision)") from None


def _enc_boolean(value: Any) -> bytes:
    if value is True:
        return b"\x01"
    if value is False:
        return b"\x00"
    if isinstance(value, int):  # 0 / 1 and numpy-free integer truth values
        return b"\x01" if value else b"\x00"
    raise TypeError(f"expected a bool for boolean, got {_describe(value)}")


def _dec_boolean(data: bytes) -> Any:
    if len(data) == 1:
        return data[0] != 0
    return _bad_size(data, "boolean", 1)


def _enc_text(value: Any) -> bytes:
    if type(value) is str or isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"expected a str for text, got {_describe(value)}")


def _dec_text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedError(f"invalid UTF-8 in text value: {exc}") from None


def _enc_ascii(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(f"expected a str for ascii, got {_describe(value)}")
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"non-ASCII characters in {_describe(value)}") from None


def _dec_ascii(data: bytes) -> str:
    try:
        return data.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedError(f"non-ASCII byte in ascii value: {exc}") from None


def _enc_blob(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"expected bytes for blob, got {_describe(value)}")


def _dec_blob(data: bytes) -> bytes:
    return bytes(data)


def _enc_varint(value: Any) -> bytes:
    v = value if type(value) is int else _as_int(value, "varint")
    return v.to_bytes((v + (v < 0)).bit_length() // 8 + 1, "big", signed=True)


def _dec_varint(data: bytes) -> Any:
    if not data:
        return None
    return int.from_bytes(data, "big", signed=True)


# An exact context: scaleb() through it never rounds whatever the number of digits.
_EXACT = decimal.Context(
    prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[]
)


def _enc_decimal(value: Any) -> bytes:
    if isinstance(value, decimal.Decimal):
        d = value
    elif isinstance(value, int) and not isinstance(value, bool):
        d = decimal.Decimal(value)
    else:
        # floats are refused: Decimal(0.1) is 0.1000000000000000055511151231257827...
        raise TypeError(
            f"expected a Decimal (or int) for decimal, got {_describe(value)}; "
            "for a float use Decimal(str(x))"
        )
    if not d.is_finite():
        raise ValueError(f"{d} cannot be stored in a CQL decimal")
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    scale = -exponent
    if not -(1 << 31) <= scale < (1 << 31):
        raise ValueError(f"decimal scale {scale} is out of the 32-bit range")
    unscaled = int(d.scaleb(scale, _EXACT))
    return _i32.pack(scale) + _enc_varint(unscaled)


def _dec_decimal(data: bytes) -> Any:
    if len(data) < 5:
        return _bad_size(data, "decimal", 5) if len(data) else None
    scale = _i32.unpack_from(data)[0]
    unscaled = int.from_bytes(data[4:], "big", signed=True)
    d = decimal.Decimal(unscaled)
    return d.scaleb(-scale, _EXACT) if scale else d


_UTC = _dt.timezone.utc
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_UTC)
_EPOCH_NAIVE = _dt.datetime(1970, 1, 1)
_timedelta = _dt.timedelta


def _enc_timestamp(value: Any) -> bytes:
    if isinstance(value, _dt.datetime):
        delta = (value - _EPOCH) if value.tzinfo is not None else (value - _EPOCH_NAIVE)
        # floor to the millisecond (integer arithmetic, no float rounding)
        ms = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    elif isinstance(value, _dt.date):
        ms = (value.toordinal() - _EPOCH_ORDINAL) * 86_400_000
    elif isinstance(value, int) and not isinstance(value, bool):
        ms = value  # milliseconds since the epoch, as cassandra-driver takes them
    elif isinstance(value, float):
        ms = int(value)
    else:
        raise TypeError(
            f"expected a datetime, date or int milliseconds for timestamp, got {_describe(value)}"
        )
    try:
        return _i64.pack(ms)
    except struct.error:
        raise ValueError(f"timestamp {ms} ms is out of the 64-bit range") from None


def _ms_to_datetime(ms: int) -> Any:
    try:
        return _EPOCH + _timedelta(0, 0, 0, ms)
    except OverflowError:
        return ms  # outside datetime's years 1..9999: the raw milliseconds


def _dec_timestamp(data: bytes) -> Any:
    if len(data) == 8:
        return _ms_to_datetime(_i64.unpack(data)[0])
    return _bad_size(data, "timestamp", 8)


_DATE_OFFSET = 1 << 31


def _enc_date(value: Any) -> bytes:
    if isinstance(value, _dt.datetime):
        raise TypeError("expected a date for date, got a datetime; pass value.date()")
    if isinstance(value, _dt.date):
        days = value.toordinal() - _EPOCH_ORDINAL
    elif isinstance(value, Date):
        days = value.days_from_epoch
    elif isinstance(value, int) and not isinstance(value, bool):
        days = value  # days since the epoch (cassandra-driver reads an int as 2**31-shifted)
    elif isinstance(getattr(value, "days_from_epoch", None), int):  # cassandra.util.Date
        days = value.days_from_epoch
    else:
        raise TypeError(f"expected a date, Date or int days for date, got {_describe(value)}")
    raw = days + _DATE_OFFSET
    if not 0 <= raw <= 0xFFFFFFFF:
        raise ValueError(f"date {days} days from the epoch is out of range")
    return _u32.pack(raw)


def _dec_date(data: bytes) -> Any:
    if len(data) != 4:
        return _bad_size(data, "date", 4)
    days = _u32.unpack(data)[0] - _DATE_OFFSET
    if _MIN_DATE_DAYS <= days <= _MAX_DATE_DAYS:
        return _dt.date.fromordinal(days + _EPOCH_ORDINAL)
    return Date(days)


def _enc_time(value: Any) -> bytes:
    if isinstance(value, _dt.time):
        if value.tzinfo is not None:
            raise ValueError("a CQL time has no time zone; pass a naive datetime.time")
        nanos = _time_to_nanos(value)
    elif isinstance(value, Time):
        nanos = value.nanosecond_time
    elif isinstance(value, int) and not isinstance(value, bool):
        nanos = value
        if not 0 <= nanos < _NANOS_PER_DAY:
            raise ValueError(f"time of day out of range: {nanos} ns")
    elif isinstance(getattr(value, "nanosecond_time", None), int):  # cassandra.util.Time
        nanos = value.nanosecond_time
        if not 0 <= nanos < _NANOS_PER_DAY:
            raise ValueError(f"time of day out of range: {nanos} ns")
    else:
        raise TypeError(
            f"expected a datetime.time, Time or int nanoseconds, got {_describe(value)}"
        )
    return _i64.pack(nanos)


def _dec_time(data: bytes) -> Any:
    if len(data) != 8:
        return _bad_size(data, "time", 8)
    nanos = _i64.unpack(data)[0]
    if not 0 <= nanos < _NANOS_PER_DAY:
        raise MalformedError(f"time value {nanos} ns is not a time of day")
    if nanos % 1000:
        return Time(nanos)
    return _nanos_to_time(nanos)


def _enc_uuid(value: Any) -> bytes:
    if isinstance(value, uuid.UUID):
        return value.bytes
    raise TypeError(f"expected a uuid.UUID for uuid, got {_describe(value)}")


def _enc_timeuuid(value: Any) -> bytes:
    if not isinstance(value, uuid.UUID):
        raise TypeError(f"expected a uuid.UUID for timeuuid, got {_describe(value)}")
    if value.version != 1:
        raise ValueError(f"a timeuuid must be a version 1 UUID, got version {value.version}")
    return value.bytes


def _dec_uuid(data: bytes) -> Any:
    if len(data) == 16:
        return uuid.UUID(bytes=bytes(data))
    return _bad_size(data, "uuid", 16)


def _enc_inet(value: Any) -> bytes:
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value.packed
    if isinstance(value, str):
        try:
            return ipaddress.ip_address(value).packed
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None
    raise TypeError(f"expected an ipaddress object or str for inet, got {_describe(value)}")


def _dec_inet(data: bytes) -> Any:
    n = len(data)
    if n == 4:
        return ipaddress.IPv4Address(bytes(data))
    if n == 16:
        return ipaddress.IPv6Address(bytes(data))
    if not n:
        return None
    raise MalformedError(f"inet value of {n} bytes (expected 4 or 16)")


_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1


def _enc_duration(value: Any) -> bytes:
    try:
        months, days, nanos = value.months, value.days, value.nanoseconds
    except AttributeError:
        raise TypeError(f"expected a Duration for duration, got {_describe(value)}") from None
    months, days, nanos = (_as_int(x, "duration") for x in (months, days, nanos))
    if not (_I32_MIN <= months <= _I32_MAX and _I32_MIN <= days <= _I32_MAX):
        raise ValueError("duration months and days must fit in 32 bits")
    if not _I64_MIN <= nanos <= _I64_MAX:
        raise ValueError("duration nanoseconds must fit in 64 bits")
    if not (
        (months >= 0 and days >= 0 and nanos >= 0) or (months <= 0 and days <= 0 and nanos <= 0)
    ):
        raise ValueError("duration months, days and nanoseconds must all have the same sign")
    return encode_vint(months) + encode_vint(days) + encode_vint(nanos)


def _dec_duration(data: bytes) -> Any:
    if not data:
        return None
    end = len(data)
    months, pos = decode_vint(data, 0, end)
    days, pos = decode_vint(data, pos, end)
    nanos, pos = decode_vint(data, pos, end)
    if pos != end:
        raise MalformedError(f"{end - pos} trailing bytes after a duration value")
    return Duration(months, days, nanos)


class NativeType(CqlType):
    """A type with no parameters: ``int``, ``text``, ... (one shared instance each)."""

    __slots__ = ("_java_name",)

    def __init__(
        self,
        name: str,
        type_id: int,
        java_name: str,
        encode: Callable[[Any], bytes],
        decode: Callable[[bytes], Any],
        fixed_size: int | None = None,
    ) -> None:
        self._init(name, type_id, name, (), False, fixed_size, None)
        s = object.__setattr__
        s(self, "_java_name", java_name)
        s(self, "encode", encode)
        s(self, "decode", decode)
        s(self, "decode_hashable", decode)

    @property
    def class_name(self) -> str:
        return MARSHAL_PREFIX + self._java_name

    def with_frozen(self, frozen: bool = True) -> CqlType:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (native_type, (self.kind,))


# Fixed sizes follow Cassandra's valueLengthIfFixed() (and cassandra-driver's serial_size):
# they decide how vector elements are framed. date, time, smallint and tinyint are variable
# there, for legacy reasons, so they are here too.
ASCII = NativeType("ascii", 0x0001, "AsciiType", _enc_ascii, _dec_ascii)
BIGINT = NativeType(
    "bigint",
    0x0002,
    "LongType",
    _int_encoder("bigint", _i64, 64),
    _fixed_decoder("bigint", _i64),
    8,
)
BLOB = NativeType("blob", 0x0003, "BytesType", _enc_blob, _dec_blob)
BOOLEAN = NativeType("boolean", 0x0004, "BooleanType", _enc_boolean, _dec_boolean, 1)
COUNTER = NativeType(
    "counter",
    0x0005,
    "CounterColumnType",
    _int_encoder("counter", _i64, 64),
    _fixed_decoder("counter", _i64),
    8,
)
DECIMAL = NativeType("decimal", 0x0006, "DecimalType", _enc_decimal, _dec_decimal)
DOUBLE = NativeType("double", 0x0007, "DoubleType", _enc_double, _fixed_decoder("double", _f64), 8)
FLOAT = NativeType("float", 0x0008, "FloatType", _enc_float, _fixed_decoder("float", _f32), 4)
INT = NativeType(
    "int", 0x0009, "Int32Type", _int_encoder("int", _i32, 32), _fixed_decoder("int", _i32), 4
)
TIMESTAMP = NativeType("timestamp", 0x000B, "TimestampType", _enc_timestamp, _dec_timestamp, 8)
UUID = NativeType("uuid", 0x000C, "UUIDType", _enc_uuid, _dec_uuid, 16)
# text and varchar are one type; 0x000D is the id servers send for both (0x000A was v1/v2's)
TEXT = NativeType("text", 0x000D, "UTF8Type", _enc_text, _dec_text)
VARINT = NativeType("varint", 0x000E, "IntegerType", _enc_varint, _dec_varint)
TIMEUUID = NativeType("timeuuid", 0x000F, "TimeUUIDType", _enc_timeuuid, _dec_uuid, 16)
INET = NativeType("inet", 0x0010, "InetAddressType", _enc_inet, _dec_inet)
DATE = NativeType("date", 0x0011, "SimpleDateType", _enc_date, _dec_date)
TIME = NativeType("time", 0x0012, "TimeType", _enc_time, _dec_time)
SMALLINT = NativeType(
    "smallint",
    0x0013,
    "ShortType",
    _int_encoder("smallint", _i16, 16),
    _fixed_decoder("smallint", _i16),
)
TINYINT = NativeType(
    "tinyint", 0x0014, "ByteType", _int_encoder("tinyint", _i8, 8), _fixed_decoder("tinyint", _i8)
)
DURATION = NativeType("duration", 0x0015, "DurationType", _enc_duration, _dec_duration)

NATIVE_TYPES: dict[str, NativeType] = {
    t.kind: t
    for t in (
        ASCII, BIGINT, BLOB, BOOLEAN, COUNTER, DATE, DECIMAL, DOUBLE, DURATION, FLOAT, INET,
        INT, SMALLINT, TEXT, TIME, TIMESTAMP, TIMEUUID, TINYINT, UUID, VARINT,
    )
}  # fmt: skip
_NATIVE_BY_NAME: dict[str, NativeType] = {**NATIVE_TYPES, "varchar": TEXT}
_NATIVE_BY_ID: dict[int, NativeType] = {t.type_id: t for t in NATIVE_TYPES.values()}
_NATIVE_BY_ID[0x000A] = TEXT
_NATIVE_BY_JAVA: dict[str, NativeType] = {t._java_name: t for t in NATIVE_TYPES.values()}
# DateType is the pre-2.2 name of the timestamp type; servers still send it in places
_NATIVE_BY_JAVA["DateType"] = TIMESTAMP


def native_type(name: str) -> NativeType:
    """The native type called `name` (``'int'``, ``'varchar'``, ...)."""
    try:
        return _NATIVE_BY_NAME[name.lower()]
    except KeyError:
        raise UnknownTypeError(f"unknown native CQL type {name!r}") from None


# --------------------------------------------------------------------------------------------
# Helpers shared by the composite decoders: [int] counts and [bytes] items, bounds-checked
# --------------------------------------------------------------------------------------------


def _read_count(data: bytes, what: str, min_item: int) -> int:
    if len(data) < 4:
        raise _trunc(data, f"{what} element count", 4)
    n = _i32.unpack_from(data)[0]
    if n < 0:
        raise MalformedError(f"negative {what} element count {n}")
    if n * min_item > len(data) - 4:
        raise TruncatedError(f"{what} of {n} elements cannot fit in {len(data) - 4} bytes")
    return n


def _read_items(data: bytes, pos: int, n: int, what: str) -> tuple[list[bytes | None], int]:
    """n [bytes] items from pos; a negative length is null."""
    end = len(data)
    out: list[bytes | None] = []
    append = out.append
    unpack_from = _i32.unpack_from
    for _ in range(n):
        if pos + 4 > end:
            raise TruncatedError(f"{what}: item length at offset {pos} past the end ({end})")
        size = unpack_from(data, pos)[0]
        pos += 4
        if size < 0:
            append(None)
            continue
        nxt = pos + size
        if nxt > end:
            raise TruncatedError(
                f"{what}: item of {size} bytes at offset {pos} past the end ({end})"
            )
        append(data[pos:nxt])
        pos = nxt
    return out, pos


def _check_end(pos: int, data: bytes, what: str) -> None:
    if pos != len(data):
        raise MalformedError(f"{len(data) - pos} trailing bytes after a {what} value")


def _encode_items(parts: list[bytes]) -> bytes:
    """Join already-encoded [bytes] items behind their lengths."""
    pack = _i32.pack
    out = bytearray()
    for p in parts:
        out += pack(len(p))
        out += p
    return bytes(out)


def _element(t: CqlType, value: Any, what: str) -> bytes:
    if value is None or value is UNSET:
        raise ValueError(f"null or unset {what} in a collection (collections cannot hold nulls)")
    return t.encode(value)


def _is_sized_iterable(value: Any) -> bool:
    """A set-like container of another library (cassandra-driver's own SortedSet)."""
    return (
        hasattr(value, "__iter__") and hasattr(value, "__len__")
        and not isinstance(value, (str, bytes, bytearray, memoryview, Mapping))
    )


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or (
        isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray, memoryview))
    )


# --------------------------------------------------------------------------------------------
# Collections
# --------------------------------------------------------------------------------------------

# struct codes of fixed-size elements that get a one-call fast path in list/set decoding
_FAST_ELEMENT = {"int": ("i", 4), "bigint": ("q", 8), "double": ("d", 8), "float": ("f", 4)}


class ListType(CqlType):
    """``list<T>``: a Python list (tuples and other sequences accepted when encoding)."""

    __slots__ = ()

    def __init__(self, element: CqlType, frozen: bool = False) -> None:
        self._init("list", 0x0020, f"list<{element.cql_name}>", (element,), frozen, None, None)
        s = object.__setattr__
        s(self, "encode", self._encode)
        s(self, "decode", self._decoder(list))
        s(self, "decode_hashable", self._decoder(tuple))

    @property
    def class_name(self) -> str:
        return f"{MARSHAL_PREFIX}ListType({self.subtypes[0]._java()})"

    def with_frozen(self, frozen: bool = True) -> ListType:
        return ListType(self.subtypes[0], frozen)

    def _encode(self, value: Any) -> bytes:
        if not _is_sequence(value):
            raise TypeError(f"expected a list for {self.cql_name}, got {_describe(value)}")
        enc = self.subtypes[0]
        return _i32.pack(len(value)) + _encode_items([_element(enc, v, "element") for v in value])

    def _decoder(self, container: type) -> Callable[[bytes], Any]:
        elem = self.subtypes[0]
        dec = elem.decode if container is list else elem.decode_hashable
        cql = self.cql_name
        fast = _FAST_ELEMENT.get(elem.kind)

        def decode(data: bytes) -> Any:
            if not data:
                return None
            n = _read_count(data, cql, 4)
            if fast is not None and len(data) == 4 + n * (4 + fast[1]):
                vals = struct.unpack_from(">" + ("i" + fast[0]) * n, data, 4)
                if vals[0::2].count(fast[1]) == n:
                    return container(vals[1::2])
            items, pos = _read_items(data, 4, n, cql)
            _check_end(pos, data, cql)
            return container([None if b is None else dec(b) for b in items])

        return decode


class SetType(CqlType):
    """``set<T>``: a Python ``set`` (a ``frozenset`` where a hashable value is needed). Any set,
    frozenset, list or tuple is accepted when encoding."""

    __slots__ = ()

    def __init__(self, element: CqlType, frozen: bool = False) -> None:
        self._init("set", 0x0022, f"set<{element.cql_name}>", (element,), frozen, None, None)
        s = object.__setattr__
        s(self, "encode", self._encode)
        s(self, "decode", self._decoder(set))
        s(self, "decode_hashable", self._decoder(frozenset))

    @property
    def class_name(self) -> str:
        return f"{MARSHAL_PREFIX}SetType({self.subtypes[0]._java()})"

    def with_frozen(self, frozen: bool = True) -> SetType:
        return SetType(self.subtypes[0], frozen)

    def _encode(self, value: Any) -> bytes:
        if not (isinstance(value, AbstractSet) or _is_sequence(value) or _is_sized_iterable(value)):
            raise TypeError(f"expected a set for {self.cql_name}, got {_describe(value)}")
        enc = self.subtypes[0]
        return _i32.pack(len(value)) + _encode_items([_element(enc, v, "element") for v in value])

    def _decoder(self, container: type) -> Callable[[bytes], Any]:
        dec = self.subtypes[0].decode_hashable
        cql = self.cql_name

        def decode(data: bytes) -> Any:
            if not data:
                return None
            n = _read_count(data, cql, 4)
            items, pos = _read_items(data, 4, n, cql)
            _check_end(pos, data, cql)
            return container([None if b is None else dec(b) for b in items])

        return decode


class MapType(CqlType):
    """``map<K, V>``: a Python dict (any Mapping accepted when encoding). Keys come back in
    hashable form (lists as tuples, ...); a map that must itself be hashable is a
    :class:`FrozenMap`."""

    __slots__ = ()

    def __init__(self, key: CqlType, value: CqlType, frozen: bool = False) -> None:
        self._init(
            "map",
            0x0021,
            f"map<{key.cql_name}, {value.cql_name}>",
            (key, value),
            frozen,
            None,
            None,
        )
        s = object.__setattr__
        s(self, "encode", self._encode)
        s(self, "decode", self._decoder(dict))
        s(self, "decode_hashable", self._decoder(FrozenMap))

    @property
    def class_name(self) -> str:
        k, v = self.subtypes
        return f"{MARSHAL_PREFIX}MapType({k._java()},{v._java()})"

    def with_frozen(self, frozen: bool = True) -> MapType:
        return MapType(self.subtypes[0], self.subtypes[1], frozen)

    def _encode(self, value: Any) -> bytes:
        try:
            items = value.items()
        except AttributeError:
            raise TypeError(
                f"expected a dict for {self.cql_name}, got {_describe(value)}"
            ) from None
        kt, vt = self.subtypes
        parts: list[bytes] = []
        for k, v in items:
            parts.append(_element(kt, k, "key"))
            parts.append(_element(vt, v, "value"))
        return _i32.pack(len(parts) // 2) + _encode_items(parts)

    def _decoder(self, container: type) -> Callable[[bytes], Any]:
        kt, vt = self.subtypes
        kdec = kt.decode_hashable
        vdec = vt.decode if container is dict else vt.decode_hashable
        cql = self.cql_name
        text_int = kt.kind == "text" and vt.kind == "int" and container is dict
        unpack_from = _i32.unpack_from

        def decode(data: bytes) -> Any:
            if not data:
                return None
            n = _read_count(data, cql, 8)
            if text_int:  # the common map<text, int>: no intermediate item list
                try:
                    out = {}
                    pos = 4
                    for _ in range(n):
                        size = unpack_from(data, pos)[0]
                        pos += 4
                        if size < 0:
                            raise ValueError
                        key = data[pos : pos + size].decode("utf-8")
                        pos += size
                        if unpack_from(data, pos)[0] != 4:
                            raise ValueError
                        out[key] = unpack_from(data, pos + 4)[0]
                        pos += 8
                    if pos == len(data):
                        return out
                except (struct.error, ValueError):
                    pass  # the general path below says precisely what is wrong
            items, pos = _read_items(data, 4, 2 * n, cql)
            _check_end(pos, data, cql)
            out = {}
            for i in range(0, 2 * n, 2):
                kb, vb = items[i], items[i + 1]
                out[None if kb is None else kdec(kb)] = None if vb is None else vdec(vb)
            return container(out) if container is not dict else out

        return decode


# --------------------------------------------------------------------------------------------
# Tuples and user types
# --------------------------------------------------------------------------------------------


def _decode_fields(data: bytes, decoders: list[Callable[[bytes], Any]], what: str) -> list[Any]:
    """Tuple / UDT fields: fewer values than fields is allowed (the rest are null)."""
    end = len(data)
    pos = 0
    out: list[Any] = []
    unpack_from = _i32.unpack_from
    for dec in decoders:
        if pos == end:
            out.append(None)
            continue
        if pos + 4 > end:
            raise TruncatedError(f"{what}: field length at offset {pos} past the end ({end})")
        size = unpack_from(data, pos)[0]
        pos += 4
        if size < 0:
            out.append(None)
            continue
        nxt = pos + size
        if nxt > end:
            raise TruncatedError(f"{what}: field of {size} bytes at offset {pos} past the end")
        out.append(dec(data[pos:nxt]))
        pos = nxt
    if pos != end:
        raise MalformedError(f"{end - pos} trailing bytes after a {what} value")
    return out


def _encode_field(t: CqlType, value: Any, what: str) -> bytes:
    if value is None:
        return b"\xff\xff\xff\xff"
    if value is UNSET:
        raise ValueError(f"{what} cannot be unset (use None for null)")
    b = t.encode(value)
    return _i32.pack(len(b)) + b


class TupleType(CqlType):
    """``tuple<A, B, ...>``: a Python tuple (any sequence of the right length accepted)."""

    __slots__ = ()

    def __init__(self, elements: Sequence[CqlType], frozen: bool = False) -> None:
        elements = tuple(elements)
        name = "tuple<" + ", ".join(e.cql_name for e in elements) + ">"
        self._init("tuple", 0x0031, name, elements, frozen, None, None)
        s = object.__setattr__
        s(self, "encode", self._encode)
        s(self, "decode", self._decoder(False))
        s(self, "decode_hashable", self._decoder(True))

    @property
    def class_name(self) -> str:
        inner = ",".join(t._java() for t in self.subtypes)
        return f"{MARSHAL_PREFIX}TupleType({inner})"

    def with_frozen(self, frozen: bool = True) -> TupleType:
        return TupleType(self.subtypes, frozen)

    def _encode(self, value: Any) -> bytes:
        if not _is_sequence(value):
            raise TypeError(f"expected a tuple for {self.cql_name}, got {_describe(value)}")
        if len(value) > len(self.subtypes):
            raise ValueError(
                f"expected {len(self.subtypes)} items for {self.cql_name}, got {len(value)}"
            )
        # a short tuple is padded with nulls, as cassandra-driver binds it (the missing
        # trailing fields read back as None)
        values = list(value) + [None] * (len(self.subtypes) - len(value))
        return b"".join(
            _encode_field(t, v, f"tuple item {i}")
            for i, (t, v) in enumerate(zip(self.subtypes, values, strict=False))
        )

    def _decoder(self, hashable: bool) -> Callable[[bytes], Any]:
        decoders = [t.decode_hashable if hashable else t.decode for t in self.subtypes]
        cql = self.cql_name

        def decode(data: bytes) -> Any:
            if not data:
                return None
            return tuple(_decode_fields(data, decoders, cql))

        return decode


_UDT_CLASSES: dict[tuple[str, str, tuple[str, ...]], type] = {}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _udt_class(keyspace: str, name: str, field_names: tuple[str, ...]) -> type:
    """One namedtuple class per (keyspace, name, fields), shared by equal UserTypes."""
    key = (keyspace, name, field_names)
    cls = _UDT_CLASSES.get(key)
    if cls is None:
        if len(_UDT_CLASSES) > 4096:  # schemas churn in long-lived processes; stay bounded
            _UDT_CLASSES.clear()
        type_name = name if _IDENT.match(name) and not keyword.iskeyword(name) else "udt"
        cls = namedtuple(type_name, field_names, rename=True)  # type: ignore[misc]
        cls.__qualname__ = f"{keyspace}.{name}"
        _UDT_CLASSES[key] = cls
    return cls


def _quote(name: str) -> str:
    """A CQL identifier, double-quoted unless it is lower-case alphanumeric."""
    if re.fullmatch(r"[a-z][a-z0-9_]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


class UserType(CqlType):
    """A user-defined type. Values decode to a namedtuple class made for the type
    (``t.value_class``: fields by name and by position). Encoding accepts that class, any
    tuple (by position), a Mapping (by field name; missing fields are null, unknown names are
    an error) or any object with the fields as attributes (missing attributes are null)."""

    __slots__ = ("field_names", "keyspace", "name", "value_class")

    keyspace: str
    name: str
    field_names: tuple[str, ...]
    value_class: type

    def __init__(
        self,
        keyspace: str,
        name: str,
        field_names: Sequence[str],
        field_types: Sequence[CqlType],
        frozen: bool = False,
    ) -> None:
        field_names = tuple(field_names)
        field_types = tuple(field_types)
        if len(field_names) != len(field_types):
            raise ValueError("a user type needs as many field names as field types")
        self._init(
            "udt", 0x0030, _quote(name), field_types, frozen, None, (keyspace, name, field_names)
        )
        s = object.__setattr__
        s(self, "keyspace", keyspace)
        s(self, "name", name)
        s(self, "field_names", field_names)
        s(self, "value_class", _udt_class(keyspace, name, field_names))
        s(self, "encode", self._encode)
        s(self, "decode", self._decoder(False))
        s(self, "decode_hashable", self._decoder(True))

    @property
    def field_types(self) -> tuple[CqlType, ...]:
        return self.subtypes

    @property
    def class_name(self) -> str:
        fields = ",".join(
            f"{hexlify(n.encode('utf-8')).decode('ascii')}:{t._java()}"
            for n, t in zip(self.field_names, self.subtypes, strict=False)
        )
        hexname = hexlify(self.name.encode("utf-8")).decode("ascii")
        return f"{MARSHAL_PREFIX}UserType({self.keyspace},{hexname},{fields})"

    def with_frozen(self, frozen: bool = True) -> UserType:
        return UserType(self.keyspace, self.name, self.field_names, self.subtypes, frozen)

    def _encode(self, value: Any) -> bytes:
        names, types = self.field_names, self.subtypes
        if isinstance(value, tuple):
            if len(value) > len(types):
                raise ValueError(
                    f"{len(value)} values for user type {self.name} of {len(types)} fields"
                )
            values = list(value) + [None] * (len(types) - len(value))
        elif isinstance(value, Mapping):
            unknown = set(value) - set(names)
            if unknown:
                raise ValueError(
                    f"user type {self.name} has no field(s) {sorted(map(str, unknown))}"
                )
            values = [value.get(n) for n in names]
        elif isinstance(value, (str, bytes, bytearray, int, float)):
            raise TypeError(f"expected a user type value for {self.name}, got {_describe(value)}")
        else:
            values = [getattr(value, n, None) for n in names]
        return b"".join(
            _encode_field(t, v, f"field {n!r}")
            for n, t, v in zip(names, types, values, strict=False)
        )

    def _decoder(self, hashable: bool) -> Callable[[bytes], Any]:
        decoders = [t.decode_hashable if hashable else t.decode for t in self.subtypes]
        cls = self.value_class
        what = f"user type {self.name}"

        def decode(data: bytes) -> Any:
            if not data:
                return None
            return cls(*_decode_fields(data, decoders, what))

        return decode


# --------------------------------------------------------------------------------------------
# Vectors and custom types
# --------------------------------------------------------------------------------------------


class VectorType(CqlType):
    """``vector<T, n>`` (Cassandra 5): exactly n non-null elements; a Python list. On the wire
    it is the custom type ``org.apache.cassandra.db.marshal.VectorType(<T>, n)``. Elements of
    a fixed-size type are concatenated; others each carry an [unsigned vint] length."""

    __slots__ = ("dimension",)

    dimension: int

    def __init__(self, element: CqlType, dimension: int) -> None:
        if dimension <= 0:
            raise ValueError(f"vector dimension must be positive, got {dimension}")
        element = element.with_frozen(True)  # Cassandra freezes vector elements
        size = element.fixed_size
        self._init(
            "vector",
            0x0000,
            f"vector<{element.cql_name}, {dimension}>",
            (element,),
            False,
            None if size is None else size * dimension,
            dimension,
        )
        s = object.__setattr__
        s(self, "dimension", dimension)
        s(self, "encode", self._encode)
        s(self, "decode", self._decoder(list))
        s(self, "decode_hashable", self._decoder(tuple))

    @property
    def class_name(self) -> str:
        return f"{MARSHAL_PREFIX}VectorType({self.subtypes[0]._java()} , {self.dimension})"

    def with_frozen(self, frozen: bool = True) -> VectorType:
        return self

    def _encode(self, value: Any) -> bytes:
        if not _is_sequence(value):
            raise TypeError(f"expected a list for {self.cql_name}, got {_describe(value)}")
        if len(value) != self.dimension:
            raise ValueError(
                f"expected {self.dimension} elements for {self.cql_name}, got {len(value)}"
            )
        elem = self.subtypes[0]
        parts = [_element(elem, v, "element") for v in value]
        if elem.fixed_size is not None:
            return b"".join(parts)
        out = bytearray()
        for p in parts:
            out += encode_unsigned_vint(len(p))
            out += p
        return bytes(out)

    def _decoder(self, container: type,
                 element_decoder: Callable[[bytes], Any] | None = None) -> Callable[[bytes], Any]:
        elem = self.subtypes[0]
        dec = elem.decode if container is list else elem.decode_hashable
        fast = _FAST_ELEMENT.get(elem.kind)
        if element_decoder is not None:  # the driver value types' elements
            dec, fast = element_decoder, None
        dim = self.dimension
        size = elem.fixed_size
        cql = self.cql_name

        def decode(data: bytes) -> Any:
            if not data:
                return None
            end = len(data)
            if size is not None:
                if end != size * dim:
                    raise MalformedError(f"{cql} value of {end} bytes (expected {size * dim})")
                if fast is not None:
                    return container(struct.unpack(f">{dim}{fast[0]}", data))
                return container([dec(data[i : i + size]) for i in range(0, end, size)])
            if dim > end:  # each element needs at least its one-byte length
                raise TruncatedError(f"{cql} needs at least {dim} bytes, only {end} present")
            out = []
            pos = 0
            for _ in range(dim):
                n, pos = decode_unsigned_vint(data, pos, end)
                if pos + n > end:
                    raise TruncatedError(
                        f"{cql}: element of {n} bytes at offset {pos} past the end"
                    )
                out.append(dec(data[pos : pos + n]))
                pos += n
            _check_end(pos, data, cql)
            return container(out)

        return decode


class CustomType(CqlType):
    """A custom type (a Java class name we do not interpret): values are raw bytes."""

    __slots__ = ("custom_class",)

    custom_class: str

    def __init__(self, class_name: str) -> None:
        self._init(
            "custom", 0x0000, "'" + class_name.replace("'", "''") + "'", (), False, None, class_name
        )
        s = object.__setattr__
        s(self, "custom_class", class_name)
        s(self, "encode", _enc_blob)
        s(self, "decode", _dec_blob)
        s(self, "decode_hashable", _dec_blob)

    @property
    def class_name(self) -> str:
        return self.custom_class

    def with_frozen(self, frozen: bool = True) -> CustomType:
        return self


# ============================================================================================
# The [option] form of a type (result metadata, prepared metadata)
# ============================================================================================


def read_type_option(reader: Reader, _depth: int = 0) -> CqlType:
    """Read one [option] describing a type (spec 4.2.5.2)."""
    if _depth > MAX_TYPE_DEPTH:
        raise MalformedError(f"type nested deeper than {MAX_TYPE_DEPTH} levels")
    type_id = reader.read_short()
    native = _NATIVE_BY_ID.get(type_id)
    if native is not None:
        return native
    d = _depth + 1
    if type_id == 0x0000:
        name = reader.read_string()
        try:
            return _parse_java(name)
        except (ProtocolError, ValueError):
            return CustomType(name)
    if type_id == 0x0020:
        return ListType(read_type_option(reader, d))
    if type_id == 0x0022:
        return SetType(read_type_option(reader, d))
    if type_id == 0x0021:
        key = read_type_option(reader, d)
        return MapType(key, read_type_option(reader, d))
    if type_id == 0x0031:
        n = reader.read_short()
        return TupleType([read_type_option(reader, d) for _ in range(n)])
    if type_id == 0x0030:
        keyspace = reader.read_string()
        name = reader.read_string()
        n = reader.read_short()
        names: list[str] = []
        types: list[CqlType] = []
        for _ in range(n):
            names.append(reader.read_string())
            types.append(read_type_option(reader, d))
        return UserType(keyspace, name, names, types)
    raise UnknownTypeError(f"unknown type option id {type_id:#06x}")


def write_type_option(writer: Writer, t: CqlType, version: int = 5) -> None:
    """Write `t` as an [option]. Vectors (and, before v5, durations) go as custom types."""
    kind = t.kind
    if isinstance(t, NativeType):
        if kind == "duration" and version < 5:
            writer.write_short(0x0000)
            writer.write_string(t.class_name)
        else:
            writer.write_short(t.type_id)
    elif kind in ("list", "set"):
        writer.write_short(t.type_id)
        write_type_option(writer, t.subtypes[0], version)
    elif kind == "map":
        writer.write_short(t.type_id)
        write_type_option(writer, t.subtypes[0], version)
        write_type_option(writer, t.subtypes[1], version)
    elif kind == "tuple":
        writer.write_short(t.type_id)
        writer.write_short(len(t.subtypes))
        for sub in t.subtypes:
            write_type_option(writer, sub, version)
    elif isinstance(t, UserType):
        writer.write_short(t.type_id)
        writer.write_string(t.keyspace)
        writer.write_string(t.name)
        writer.write_short(len(t.subtypes))
        for name, sub in zip(t.field_names, t.subtypes, strict=False):
            writer.write_string(name)
            write_type_option(writer, sub, version)
    else:  # vector, custom
        writer.write_short(0x0000)
        writer.write_string(t.class_name)


# ============================================================================================
# Type strings
# ============================================================================================

#: resolves a user type name (as written in the type string, unquoted) to its UserType
UdtResolver = Callable[[str], CqlType]


def parse_type_string(s: str, udt_resolver: UdtResolver | None = None) -> CqlType:
    """Parse a type in CQL syntax (``frozen<map<text, list<int>>>``, ``vector<float, 3>``,
    ``frozen<address>``) or Java class syntax (``org.apache.cassandra.db.marshal.Int32Type``,
    ``...ListType(...)``, ``...VectorType(...FloatType , 3)``).

    User type names in CQL syntax need `udt_resolver` (called with the name, unquoted); without
    one they raise :class:`~greencql.errors.UnknownTypeError`. Results are cached when no
    resolver is given. Syntax errors raise :class:`~greencql.errors.MalformedError`.
    """
    if udt_resolver is None:
        return _parse_cached(s)
    return _parse(s, udt_resolver)


@functools.lru_cache(maxsize=1024)
def _parse_cached(s: str) -> CqlType:
    return _parse(s, None)


def _parse(s: str, resolver: UdtResolver | None) -> CqlType:
    text = s.strip()
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return _parse_java(text[1:-1].replace("''", "'"))
    head = re.match(r"[A-Za-z0-9_.$]*", text).group()  # type: ignore[union-attr]
    java_like = head.endswith("Type") and head not in _NATIVE_BY_NAME
    if "." in head or head in _JAVA_NAMES or java_like:
        return _parse_java(text)
    return _CqlParser(text, resolver).parse()


_DIGITS = re.compile(r"[0-9]{1,9}")
_CQL_TOKEN = re.compile(
    r"""\s*(?:
        (?P<dq>"(?:[^"]|"")*")
      | (?P<sq>'(?:[^']|'')*')
      | (?P<name>[A-Za-z0-9_.]+)
      | (?P<punct>[<>,])
    )""",
    re.VERBOSE,
)


class _CqlParser:
    def __init__(self, text: str, resolver: UdtResolver | None) -> None:
        self.text = text
        self.resolver = resolver
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _CQL_TOKEN.match(text, pos)
            if m is None:
                raise MalformedError(f"cannot parse type {text!r} at offset {pos}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def _next(self) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise MalformedError(f"unexpected end of type {self.text!r}")
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def _expect(self, punct: str) -> None:
        kind, value = self._next()
        if kind != "punct" or value != punct:
            raise MalformedError(f"expected {punct!r} in type {self.text!r}, got {value!r}")

    def parse(self) -> CqlType:
        t = self._type(0)
        if self.i != len(self.tokens):
            raise MalformedError(f"unexpected {self.tokens[self.i][1]!r} in type {self.text!r}")
        return t

    def _args(self, depth: int) -> list[CqlType]:
        self._expect("<")
        args = [self._type(depth)]
        while True:
            kind, value = self._next()
            if kind == "punct" and value == ">":
                return args
            if kind != "punct" or value != ",":
                raise MalformedError(f"expected ',' or '>' in type {self.text!r}, got {value!r}")
            args.append(self._type(depth))

    def _type(self, depth: int) -> CqlType:
        if depth > MAX_TYPE_DEPTH:
            raise MalformedError(f"type nested deeper than {MAX_TYPE_DEPTH} levels")
        kind, value = self._next()
        d = depth + 1
        if kind == "sq":
            return _parse_java(value[1:-1].replace("''", "'"))
        if kind == "dq":
            return self._udt(value[1:-1].replace('""', '"'))
        if kind != "name":
            raise MalformedError(f"expected a type name in {self.text!r}, got {value!r}")
        low = value.lower()
        native = _NATIVE_BY_NAME.get(low)
        if native is not None:
            return native
        if low == "frozen":
            args = self._args(d)
            if len(args) != 1:
                raise MalformedError(f"frozen<> takes one type in {self.text!r}")
            return args[0].with_frozen(True)
        if low in ("list", "set"):
            args = self._args(d)
            if len(args) != 1:
                raise MalformedError(f"{low}<> takes one type in {self.text!r}")
            return ListType(args[0]) if low == "list" else SetType(args[0])
        if low == "map":
            args = self._args(d)
            if len(args) != 2:
                raise MalformedError(f"map<> takes two types in {self.text!r}")
            return MapType(args[0], args[1])
        if low == "tuple":
            return TupleType(self._args(d))
        if low == "vector":
            self._expect("<")
            elem = self._type(d)
            self._expect(",")
            kind, dim = self._next()
            if kind != "name" or not _DIGITS.fullmatch(dim) or int(dim) <= 0:
                raise MalformedError(f"bad vector dimension {dim!r} in {self.text!r}")
            self._expect(">")
            return VectorType(elem, int(dim))
        return self._udt(low)

    def _udt(self, name: str) -> CqlType:
        if self.resolver is None:
            raise UnknownTypeError(f"unknown type {name!r} (user types need a udt_resolver)")
        t = self.resolver(name)
        if t is None:
            raise UnknownTypeError(f"unknown user type {name!r}")
        return t


_JAVA_NAMES = frozenset(
    {
        *_NATIVE_BY_JAVA,
        "ListType",
        "SetType",
        "MapType",
        "TupleType",
        "UserType",
        "FrozenType",
        "ReversedType",
        "VectorType",
    }
)


def _split_args(text: str, start: int) -> tuple[list[str], int]:
    """Top-level comma-separated arguments between the '(' at `start` and its ')'."""
    depth = 0
    args: list[str] = []
    cur = start + 1
    for i in range(start, len(text)):
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append(text[cur:i].strip())
                return args, i + 1
        elif c == "," and depth == 1:
            args.append(text[cur:i].strip())
            cur = i + 1
    raise MalformedError(f"unbalanced parentheses in type {text!r}")


def _parse_java(text: str, depth: int = 0) -> CqlType:
    if depth > MAX_TYPE_DEPTH:
        raise MalformedError(f"type nested deeper than {MAX_TYPE_DEPTH} levels")
    text = text.strip()
    paren = text.find("(")
    name = (text if paren < 0 else text[:paren]).strip()
    short = name[len(MARSHAL_PREFIX) :] if name.startswith(MARSHAL_PREFIX) else name
    if paren < 0:
        native = _NATIVE_BY_JAVA.get(short)
        return native if native is not None else CustomType(text)
    args, after = _split_args(text, paren)
    if text[after:].strip():
        raise MalformedError(f"unexpected text after type {text!r}")
    d = depth + 1

    def one() -> CqlType:
        if len(args) != 1:
            raise MalformedError(f"{short} takes one type parameter in {text!r}")
        return _parse_java(args[0], d)

    if short == "ListType":
        return ListType(one())
    if short == "SetType":
        return SetType(one())
    if short == "FrozenType":
        return one().with_frozen(True)
    if short == "ReversedType":  # clustering order is not part of the value's type
        return one()
    if short == "MapType":
        if len(args) != 2:
            raise MalformedError(f"MapType takes two type parameters in {text!r}")
        return MapType(_parse_java(args[0], d), _parse_java(args[1], d))
    if short == "TupleType":
        return TupleType([_parse_java(a, d) for a in args])
    if short == "VectorType":
        if len(args) != 2 or not _DIGITS.fullmatch(args[1]) or int(args[1]) <= 0:
            raise MalformedError(f"VectorType takes a type and a dimension in {text!r}")
        return VectorType(_parse_java(args[0], d), int(args[1]))
    if short == "UserType":
        if len(args) < 2:
            raise MalformedError(f"UserType needs a keyspace and a name in {text!r}")
        try:
            udt_name = unhexlify(args[1]).decode("utf-8")
            names: list[str] = []
            types: list[CqlType] = []
            for field in args[2:]:
                hexname, sep, ftype = field.partition(":")
                if not sep:
                    raise MalformedError(f"UserType field without a name in {text!r}")
                names.append(unhexlify(hexname).decode("utf-8"))
                types.append(_parse_java(ftype, d))
        except (ValueError, UnicodeDecodeError) as exc:  # binascii.Error is a ValueError
            raise MalformedError(f"bad UserType parameters in {text!r}: {exc}") from None
        return UserType(args[0], udt_name, names, types)
    return CustomType(text)


# ============================================================================================
# Values with column context
# ============================================================================================


# ============================================================================================
# cassandra-driver's values ("driver" value types)
# ============================================================================================
#
# A type's own ``decode`` gives greencql's modern values (aware UTC datetimes, ipaddress
# objects, datetime.date/time, set/dict). :func:`driver_decoder` gives a decoder of the values
# cassandra-driver returns for the same bytes: naive UTC datetimes, inet as str, util.Date and
# util.Time, SortedSet and OrderedMapSerializedKey (unhashable members kept as they are). It is
# built once per type (cached), so the choice costs nothing per value; types whose values are
# the same either way return their own ``decode``.

VALUE_TYPES = ("driver", "modern")
DEFAULT_VALUE_TYPES = "driver"  # what cassandra-driver applications compare against

_DIFFERING_KINDS = frozenset({"timestamp", "inet", "date", "time", "set", "map"})
_DRIVER_DECODERS: dict[CqlType, Callable[[bytes], Any]] = {}


def check_value_types(value_types: str) -> str:
    """``value_types`` if it names a representation, else ValueError."""
    if value_types not in VALUE_TYPES:
        raise ValueError(f"value_types must be one of {VALUE_TYPES}, got {value_types!r}")
    return value_types


# (keyspace, type name) -> class user type values decode into (cassandra-driver's
# Cluster.register_user_type); see :func:`register_udt_class`
_UDT_REGISTRY: dict[tuple[str, str], type] = {}


def register_udt_class(keyspace: str, name: str, klass: type | None) -> None:
    """Decode ``keyspace.name`` values into ``klass(**fields)`` (None: forget it), with the
    driver value types. Clears the cached driver decoders: the next result builds new ones."""
    if klass is None:
        _UDT_REGISTRY.pop((keyspace, name), None)
    else:
        _UDT_REGISTRY[(keyspace, name)] = klass
    _DRIVER_DECODERS.clear()


def _differs(t: CqlType) -> bool:
    if t.kind in _DIFFERING_KINDS:
        return True
    if t.kind == "vector":
        return _differs(t.subtypes[0])
    if t.kind == "udt" and (t.keyspace, t.name) in _UDT_REGISTRY:  # type: ignore[attr-defined]
        return True
    return any(_differs(s) for s in t.subtypes)


_EPOCH_NAIVE_DT = _dt.datetime(1970, 1, 1)


def _dec_timestamp_driver(data: bytes) -> Any:
    if len(data) == 8:
        # OverflowError outside years 1..9999: the row decoder reports it as cassandra-driver
        # does ("Failed decoding result column ...")
        return _EPOCH_NAIVE_DT + _timedelta(0, 0, 0, _i64.unpack(data)[0])
    return _bad_size(data, "timestamp", 8)


def _inet6_text(data: bytes) -> str:
    """An IPv6 address as cassandra-driver writes it (``socket.inet_ntop``, RFC 5952 style):
    an IPv4-mapped (``::ffff:1.2.3.4``) or -compatible (``::1.2.3.4``) address keeps its
    dotted tail, where ipaddress writes ``::ffff:102:304``."""
    if data[:10] == _TEN_ZEROS and (data[10:12] == b"\xff\xff"
                                    or (data[10:12] == b"\0\0" and data[12:14] != b"\0\0")):
        head = "::ffff:" if data[10] else "::"
        return f"{head}{data[12]}.{data[13]}.{data[14]}.{data[15]}"
    return str(ipaddress.IPv6Address(data))


_TEN_ZEROS = bytes(10)


def _dec_inet_driver(data: bytes) -> Any:
    n = len(data)
    if n == 4:
        return f"{data[0]}.{data[1]}.{data[2]}.{data[3]}"
    if n == 16:
        return _inet6_text(bytes(data))
    if not n:
        return None
    raise MalformedError(f"inet value of {n} bytes (expected 4 or 16)")


def _dec_date_driver(data: bytes) -> Any:
    if len(data) != 4:
        return _bad_size(data, "date", 4)
    return Date(_u32.unpack(data)[0] - _DATE_OFFSET)


def _dec_time_driver(data: bytes) -> Any:
    if len(data) != 8:
        return _bad_size(data, "time", 8)
    nanos = _i64.unpack(data)[0]
    if not 0 <= nanos < _NANOS_PER_DAY:
        raise MalformedError(f"time value {nanos} ns is not a time of day")
    return Time(nanos)


def driver_decoder(t: CqlType) -> Callable[[bytes], Any]:
    """The decoder of ``t`` giving cassandra-driver's values (see above); cached per type."""
    dec = _DRIVER_DECODERS.get(t)
    if dec is None:
        dec = _build_driver_decoder(t)
        if len(_DRIVER_DECODERS) > 4096:  # schemas churn in long-lived processes
            _DRIVER_DECODERS.clear()
        _DRIVER_DECODERS[t] = dec
    return dec


def _build_driver_decoder(t: CqlType) -> Callable[[bytes], Any]:
    if not _differs(t):
        return t.decode
    kind = t.kind
    if kind == "timestamp":
        return _dec_timestamp_driver
    if kind == "inet":
        return _dec_inet_driver
    if kind == "date":
        return _dec_date_driver
    if kind == "time":
        return _dec_time_driver
    cql = t.cql_name
    if kind == "vector":
        return t._decoder(list, driver_decoder(t.subtypes[0]))  # type: ignore[attr-defined]
    if kind in ("list", "set"):
        elem = driver_decoder(t.subtypes[0])
        is_set = kind == "set"
        from_members = SortedSet._from_members

        def decode_items(data: bytes) -> Any:
            if not data:
                return None
            n = _read_count(data, cql, 4)
            items, pos = _read_items(data, 4, n, cql)
            _check_end(pos, data, cql)
            values = [None if b is None else elem(b) for b in items]
            return from_members(values) if is_set else values

        return decode_items
    if kind == "map":
        map_type = t
        decoded = OrderedMapSerializedKey._decoded
        encode_key = t.subtypes[0].encode
        kdec = driver_decoder(t.subtypes[0])
        vdec = driver_decoder(t.subtypes[1])

        text_keys = t.subtypes[0].kind in ("text", "ascii")
        key_codec = "utf-8" if t.subtypes[0].kind == "text" else "ascii"
        unpack_from = _i32.unpack_from

        def decode_map(data: bytes) -> Any:
            if not data:
                return None
            n = _read_count(data, cql, 8)
            if text_keys:  # the common map<text, ...>: one pass, no intermediate item list
                try:
                    pos = 4
                    pairs = []
                    index: dict[Any, int] = {}
                    for i in range(n):
                        size = unpack_from(data, pos)[0]
                        pos += 4
                        if size < 0:
                            raise ValueError
                        kb = data[pos : pos + size]
                        pos += size
                        size = unpack_from(data, pos)[0]
                        pos += 4
                        if size < 0:
                            value = None
                        else:
                            value = vdec(data[pos : pos + size])
                            pos += size
                        if kb in index:
                            raise ValueError
                        index[kb] = i
                        pairs.append((kb.decode(key_codec), value))
                    if pos == len(data):
                        return decoded(encode_key, pairs, index)
                except (struct.error, ValueError, ProtocolError):
                    pass  # the general path below says precisely what is wrong
            items, pos = _read_items(data, 4, 2 * n, cql)
            _check_end(pos, data, cql)
            keys = items[0::2]
            index = {kb: i for i, kb in enumerate(keys)}
            if len(index) == n and None not in index:  # the usual case: distinct keys
                return decoded(encode_key, [
                    (kdec(kb), None if vb is None else vdec(vb))  # type: ignore[arg-type]
                    for kb, vb in zip(keys, items[1::2], strict=True)
                ], index)
            out = OrderedMapSerializedKey(map_type)
            for i in range(0, 2 * n, 2):
                kb, vb = items[i], items[i + 1]
                value = None if vb is None else vdec(vb)
                out._insert(None if kb is None else kdec(kb), value)
            return out

        return decode_map
    if kind in ("tuple", "udt"):
        decoders = [driver_decoder(sub) for sub in t.subtypes]
        registered = (
            _UDT_REGISTRY.get((t.keyspace, t.name)) if kind == "udt" else None  # type: ignore[attr-defined]
        )
        make: Callable[..., Any]
        if kind == "tuple":
            make = tuple
        elif registered is not None:
            names = t.field_names  # type: ignore[attr-defined]

            def make(values: list[Any], cls: type = registered) -> Any:
                return cls(**dict(zip(names, values, strict=False)))
        else:
            make = lambda values, cls=t.value_class: cls(*values)  # type: ignore[attr-defined]

        def decode_fields(data: bytes) -> Any:
            if not data:
                return None
            return make(_decode_fields(data, decoders, cql))

        return decode_fields
    return t.decode


def encode_value(t: CqlType, value: Any, name: str | None = None) -> bytes | UnsetType | None:
    """Encode one bind value: None stays None (null), UNSET stays UNSET; anything else goes
    through ``t.encode``. A TypeError / ValueError names the column and its CQL type."""
    if value is None or value is UNSET:
        return value
    try:
        return t.encode(value)
    except (TypeError, ValueError, OverflowError, struct.error) as exc:
        where = f"column {name!r}" if name is not None else "value"
        cls = TypeError if isinstance(exc, TypeError) else ValueError
        raise cls(f"{where} of type {t.cql_name}: {exc}") from exc


# The encode side's Cython twin (greencql/protocol/_encode.pyx), when built and chosen:
# encode_value and the encoders of the common native types, same results and errors (each
# compiled encoder hands what it does not take to the Python encoder it replaces, kept below).
_encode_value_python = encode_value
_ENCODERS_PYTHON: dict[str, Callable[[Any], bytes]] = {
    kind: t.encode for kind, t in NATIVE_TYPES.items()
}
_compiled_encode = twin("greencql.protocol._encode")
if _compiled_encode is not None:
    encode_value = _compiled_encode.encode_value  # type: ignore[assignment]
    for _kind, _encoder in _compiled_encode.ENCODERS.items():
        object.__setattr__(NATIVE_TYPES[_kind], "encode", _encoder)
    del _kind, _encoder


def decode_value(t: CqlType, data: bytes | None) -> Any:
    """Decode one [bytes] value (None is null)."""
    if data is None:
        return None
    return t.decode(data)
