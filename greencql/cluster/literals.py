"""Client-side rendering of simple-statement parameters as CQL literals.

Owns the ``%s`` / ``%(name)s`` parameter markers of un-prepared statements (the
cassandra-driver convention, itself borrowed from the Python DB-API ``format`` /
``pyformat`` styles) and the :class:`Encoder` that turns one Python value into the text of
one CQL literal. A session calls :func:`bind_params` before it sends a QUERY whose
parameters were given; :class:`~greencql.cluster.statements.BatchStatement` calls it for the
simple statements it holds.

The one property everything here keeps: a value can only ever become *one* literal. Strings
are single-quoted with embedded quotes doubled, blobs are hex, numbers are produced from the
numeric value (never from a subclass's ``__str__``), and a type we do not know is refused
instead of being passed through ``str()`` (cassandra-driver's fallback, which lets an odd
object write arbitrary CQL).

Output is byte-identical to ``cassandra.query.bind_params(query, params, Encoder())`` for
None, bool, int, float, str, bytes, UUID, naive and aware datetimes, dates, times, inet
addresses, lists, sets and dicts of those. Deliberate differences:

- ``Decimal`` renders exactly (``str(d)``); cassandra-driver goes through ``float`` and loses
  digits.
- a ``tuple`` renders as a CQL tuple literal ``(a, b)`` (right for tuple columns and for
  ``IN %s``); cassandra-driver renders it as a list ``[a, b]``.
- namedtuples and dataclass instances render as UDT literals ``{field: value}``;
  cassandra-driver renders ``str(obj)``, which is not CQL.
- datetimes render their milliseconds with integer arithmetic (floor); cassandra-driver uses
  floats and truncates toward zero, which differs for pre-1970 values with sub-millisecond
  parts and for far-future ones.
- dates before year 1000 are zero-padded (``'0999-01-01'``); ``strftime`` does not pad them.
- a ``datetime.time`` with a tzinfo drops its offset (CQL ``time`` has no zone, and the
  binary codec drops it too); cassandra-driver renders ``'01:02:03+02:00'``, which Cassandra
  refuses. (Aware *datetimes* need no such note: both convert them to UTC, naive ones are
  taken as UTC.)
- our ``Duration`` / ``Date`` / ``Time`` (and cassandra-driver's, recognised by their
  attributes) render as cassandra-driver renders its own; a duration mixing signs is refused.
- ``UNSET_VALUE`` and unknown types raise instead of rendering ``str(value)``.

It must not touch connections or know about sessions; it is pure string work.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import math
import re
import types
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from decimal import Decimal
from typing import Any

from greencql.protocol.wire import UnsetType

__all__ = [
    "Encoder",
    "ValueSequence",
    "bind_params",
    "cql_literal",
    "cql_quote",
    "cql_quote_identifier",
    "DEFAULT_ENCODER",
]

_EPOCH = datetime.datetime(1970, 1, 1)
_EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_ONE_MS = datetime.timedelta(milliseconds=1)
_NANOS_PER_SECOND = 1_000_000_000


class ValueSequence(list):  # type: ignore[type-arg]
    """A sequence to render as a parenthesized list ``(a, b, c)``, e.g. for ``IN %s``.

    (A plain ``tuple`` renders the same way here; this class exists for code written for
    cassandra-driver, where a tuple renders as a CQL list.)
    """


def cql_quote(term: object) -> str:
    """A string as a single-quoted CQL string literal (quotes doubled); anything else as str."""
    if isinstance(term, str):
        return "'" + str.replace(term, "'", "''") + "'"
    return str(term)


_UNQUOTED_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*\Z")


def cql_quote_identifier(name: str) -> str:
    """A field or column name as CQL: bare if lower-case and simple, else double-quoted."""
    if _UNQUOTED_IDENTIFIER.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _is_namedtuple(value: object) -> bool:
    return isinstance(value, tuple) and isinstance(getattr(type(value), "_fields", None), tuple)


class Encoder:
    """Turns Python values into CQL literal text.

    ``mapping`` maps an exact Python type to a function returning the literal for a value of
    that type; add entries to render your own types (as with cassandra-driver's
    ``Session.encoder.mapping``). Values whose type is not a key are looked up by their base
    classes (so ``IntEnum`` members render as integers and ``OrderedDict`` as a map), then as
    namedtuples / dataclasses (UDT literals) and generic mappings, sets and iterables.
    Anything else raises :class:`TypeError`.
    """

    mapping: dict[type, Callable[[Any], str]]

    def __init__(self) -> None:
        self.mapping = {
            type(None): self.cql_encode_none,
            bool: self.cql_encode_bool,
            int: self.cql_encode_int,
            float: self.cql_encode_float,
            Decimal: self.cql_encode_decimal,
            str: self.cql_encode_str,
            bytes: self.cql_encode_bytes,
            bytearray: self.cql_encode_bytes,
            memoryview: self.cql_encode_bytes,
            uuid.UUID: self.cql_encode_uuid,
            # datetime before date: datetime is a date subclass and the MRO walk looks at
            # the exact type first, so the order only matters for documentation
            datetime.datetime: self.cql_encode_datetime,
            datetime.date: self.cql_encode_date,
            datetime.time: self.cql_encode_time,
            ipaddress.IPv4Address: self.cql_encode_ipaddress,
            ipaddress.IPv6Address: self.cql_encode_ipaddress,
            list: self.cql_encode_list_collection,
            types.GeneratorType: self.cql_encode_list_collection,
            tuple: self.cql_encode_tuple,
            ValueSequence: self.cql_encode_sequence,
            set: self.cql_encode_set_collection,
            frozenset: self.cql_encode_set_collection,
            dict: self.cql_encode_map_collection,
            UnsetType: self.cql_encode_unset,
        }
        self._register_value_types()

    def _register_value_types(self) -> None:
        # The protocol layer's Duration / Date / Time value classes, if that module is there;
        # imported here rather than at module level so literals work (and tests run) without it.
        try:
            from greencql.protocol import types as cql_types
        except ImportError:
            return
        for name, encoder in (
            ("Duration", self.cql_encode_duration),
            ("Date", self.cql_encode_date_ext),
            ("Time", self.cql_encode_time_ext),
        ):
            cls = getattr(cql_types, name, None)
            if isinstance(cls, type):
                self.mapping[cls] = encoder

    # -- dispatch -----------------------------------------------------------------------------

    def cql_encode_all_types(self, val: Any, as_text_type: bool = False) -> str:
        """The CQL literal for any supported value (``as_text_type`` is accepted for
        cassandra-driver compatibility; the result is always ``str``)."""
        encode = self.mapping.get(type(val))
        if encode is None:
            encode = self._lookup(val)
        return encode(val)

    def _lookup(self, val: Any) -> Callable[[Any], str]:
        # Value types known by shape first: cassandra.util.Date/Time/Duration and look-alikes.
        if isinstance(getattr(val, "days_from_epoch", None), int):
            return self.cql_encode_date_ext
        if isinstance(getattr(val, "nanosecond_time", None), int):
            return self.cql_encode_time_ext
        if all(isinstance(getattr(val, f, None), int) for f in ("months", "days", "nanoseconds")):
            return self.cql_encode_duration
        if _is_namedtuple(val) or (dataclasses.is_dataclass(val) and not isinstance(val, type)):
            return self.cql_encode_udt
        for base in type(val).__mro__[1:]:
            encode = self.mapping.get(base)
            if encode is not None:
                return encode
        if isinstance(val, Mapping):
            return self.cql_encode_map_collection
        if isinstance(val, AbstractSet):
            return self.cql_encode_set_collection
        if isinstance(val, Iterable) and not isinstance(val, (str, bytes)):
            return self.cql_encode_list_collection
        raise TypeError(
            f"cannot render a value of type {type(val).__qualname__} as a CQL literal; "
            "use a prepared statement, or add a function for it to Encoder.mapping"
        )

    # -- scalars ------------------------------------------------------------------------------

    def cql_encode_none(self, val: None) -> str:
        return "NULL"

    def cql_encode_unset(self, val: object) -> str:
        raise ValueError(
            "UNSET_VALUE cannot be sent in a simple (un-prepared) statement: there is no CQL "
            "literal for 'not set'; bind it in a prepared statement, or leave the column out"
        )

    def cql_encode_bool(self, val: bool) -> str:
        # cassandra-driver renders str(bool); CQL keywords are case-insensitive
        return "True" if val else "False"

    def cql_encode_int(self, val: int) -> str:
        # int.__repr__, not str(): an int subclass (an IntEnum, say) may override __str__
        return int.__repr__(val)

    def cql_encode_object(self, val: Any) -> str:
        """cassandra-driver's fallback, kept for custom mappings: ``str(val)``, unchecked."""
        return str(val)

    def cql_encode_float(self, val: float) -> str:
        if math.isnan(val):
            return "NaN"
        if math.isinf(val):
            return "Infinity" if val > 0 else "-Infinity"
        return float.__repr__(val)

    def cql_encode_decimal(self, val: Decimal) -> str:
        if val.is_nan():
            return "NaN"
        if val.is_infinite():
            return "Infinity" if val > 0 else "-Infinity"
        # exact, unlike cassandra-driver (which goes through float); str(Decimal) is a valid
        # CQL integer or float token ('1E+3', '-0.001', '12345678901234567890.5')
        return Decimal.__str__(val)

    def cql_encode_str(self, val: str) -> str:
        return "'" + str.replace(val, "'", "''") + "'"

    def cql_encode_str_quoted(self, val: Any) -> str:
        return self.cql_encode_str(str(val))

    def cql_encode_bytes(self, val: bytes | bytearray | memoryview) -> str:
        return "0x" + bytes(val).hex()

    def cql_encode_uuid(self, val: uuid.UUID) -> str:
        return uuid.UUID.__str__(val)

    def cql_encode_datetime(self, val: datetime.datetime) -> str:
        """Milliseconds since the epoch as an integer literal; a naive value is taken as UTC."""
        if val.tzinfo is not None and val.utcoffset() is not None:
            delta = val - _EPOCH_UTC
        else:
            delta = val.replace(tzinfo=None) - _EPOCH
        return int.__repr__(delta // _ONE_MS)

    def cql_encode_date(self, val: datetime.date) -> str:
        return "'" + f"{val.year:04d}-{val.month:02d}-{val.day:02d}" + "'"

    def cql_encode_time(self, val: datetime.time) -> str:
        # CQL time has no zone: an offset is dropped (as the binary time codec drops it)
        text = f"{val.hour:02d}:{val.minute:02d}:{val.second:02d}"
        if val.microsecond:
            text += f".{val.microsecond:06d}"
        return "'" + text + "'"

    def cql_encode_date_ext(self, val: Any) -> str:
        """A Date value type (``days_from_epoch``): the unsigned day number, as an integer
        literal, which also covers years outside ``datetime.date``'s range."""
        return int.__repr__(int(val.days_from_epoch) + 2**31)

    def cql_encode_time_ext(self, val: Any) -> str:
        """A Time value type (``nanosecond_time`` since midnight) as ``'HH:MM:SS.nnnnnnnnn'``."""
        nanos = int(val.nanosecond_time)
        if not 0 <= nanos < 86400 * _NANOS_PER_SECOND:
            raise ValueError(f"time of day out of range: {nanos} nanoseconds")
        seconds, frac = divmod(nanos, _NANOS_PER_SECOND)
        minutes, second = divmod(seconds, 60)
        hour, minute = divmod(minutes, 60)
        return f"'{hour:02d}:{minute:02d}:{second:02d}.{frac:09d}'"

    def cql_encode_duration(self, val: Any) -> str:
        """A Duration (months, days, nanoseconds) as a CQL duration literal like ``1mo2d3ns``."""
        months, days, nanos = int(val.months), int(val.days), int(val.nanoseconds)
        if (months < 0 or days < 0 or nanos < 0) and (months > 0 or days > 0 or nanos > 0):
            raise ValueError(
                f"a CQL duration cannot mix signs: months={months}, days={days}, "
                f"nanoseconds={nanos}"
            )
        sign = "-" if months < 0 or days < 0 or nanos < 0 else ""
        return f"{sign}{abs(months)}mo{abs(days)}d{abs(nanos)}ns"

    def cql_encode_ipaddress(self, val: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
        return "'" + val.compressed + "'"

    # -- collections --------------------------------------------------------------------------

    def cql_encode_sequence(self, val: Iterable[Any]) -> str:
        """``(a, b, c)``: IN lists and tuple literals."""
        return "(" + ", ".join(self.cql_encode_all_types(v) for v in val) + ")"

    cql_encode_tuple = cql_encode_sequence

    def cql_encode_list_collection(self, val: Iterable[Any]) -> str:
        return "[" + ", ".join(self.cql_encode_all_types(v) for v in val) + "]"

    def cql_encode_set_collection(self, val: Iterable[Any]) -> str:
        return "{" + ", ".join(self.cql_encode_all_types(v) for v in val) + "}"

    def cql_encode_map_collection(self, val: Mapping[Any, Any]) -> str:
        encode = self.cql_encode_all_types
        return "{" + ", ".join(f"{encode(k)}: {encode(v)}" for k, v in val.items()) + "}"

    def cql_encode_udt(self, val: Any) -> str:
        """A namedtuple or dataclass instance as a UDT literal ``{field: value, ...}``."""
        if _is_namedtuple(val):
            items = zip(type(val)._fields, val, strict=True)
        else:
            items = ((f.name, getattr(val, f.name)) for f in dataclasses.fields(val))
        encode = self.cql_encode_all_types
        return "{" + ", ".join(f"{cql_quote_identifier(k)}: {encode(v)}" for k, v in items) + "}"


#: the encoder :func:`bind_params` uses when given none
DEFAULT_ENCODER = Encoder()


def cql_literal(value: Any, encoder: Encoder | None = None) -> str:
    """The CQL literal text for one value."""
    return (encoder or DEFAULT_ENCODER).cql_encode_all_types(value)


# A marker is '%', an optional '(name)', then one conversion character; '%%' is a literal %.
_MARKER = re.compile(r"%(?:\((?P<name>[^)]*)\))?(?P<conv>.?)", re.DOTALL)


def bind_params(
    query: str,
    params: Sequence[Any] | Mapping[str, Any] | Iterable[Any],
    encoder: Encoder | None = None,
) -> str:
    """Render ``query`` with each ``%s`` (positional) or ``%(name)s`` (named) marker replaced
    by the CQL literal of its parameter; ``%%`` stands for one ``%``.

    ``params`` is a sequence for ``%s`` markers or a mapping for ``%(name)s`` markers (extra
    keys are ignored). Raises :class:`TypeError` for a marker count that does not match the
    parameters or for mixed marker styles, :class:`KeyError` naming a marker whose name is not
    in the mapping, :class:`ValueError` for an unsupported marker such as ``%d``.

    Like cassandra-driver, a session renders only when parameters were given: a query
    executed without parameters is sent as written, ``%`` signs and all.
    """
    encode = (encoder or DEFAULT_ENCODER).cql_encode_all_types
    if isinstance(params, (str, bytes, bytearray)):
        raise TypeError(
            f"parameters must be a sequence or a mapping, not {type(params).__name__} "
            "(for one parameter write (value,))"
        )
    named = isinstance(params, Mapping)
    values: Sequence[Any] | Mapping[str, Any] = (
        params if named or isinstance(params, Sequence) else list(params)  # type: ignore[arg-type]
    )
    out: list[str] = []
    pos = 0
    index = 0
    for m in _MARKER.finditer(query):
        out.append(query[pos : m.start()])
        pos = m.end()
        name, conv = m.group("name"), m.group("conv")
        if conv == "%" and name is None:
            out.append("%")
            continue
        if conv != "s":
            shown = m.group(0) if conv else "%"
            raise ValueError(
                f"unsupported parameter marker {shown!r} at position {m.start()}: use %s or "
                "%(name)s (and %% for a literal %)"
            )
        if name is None:
            if named:
                raise TypeError(
                    f"positional marker %s at position {m.start()}, but the parameters are a "
                    "mapping (use %(name)s markers)"
                )
            if index >= len(values):
                n_markers = index + _count_positional(query, pos) + 1
                raise TypeError(
                    f"not enough parameters: the query has {n_markers} %s markers, "
                    f"{len(values)} parameters were given"
                )
            out.append(encode(values[index]))  # type: ignore[index]
            index += 1
        else:
            if not named:
                raise TypeError(
                    f"named marker %({name})s at position {m.start()}, but the parameters are "
                    f"a {type(params).__name__}, not a mapping"
                )
            try:
                value = values[name]  # type: ignore[index]
            except KeyError:
                raise KeyError(f"no parameter named {name!r} for marker %({name})s") from None
            out.append(encode(value))
    out.append(query[pos:])
    if not named and index != len(values):
        raise TypeError(
            f"too many parameters: the query has {index} %s markers, "
            f"{len(values)} parameters were given"
        )
    return "".join(out)


def _count_positional(query: str, start: int) -> int:
    """How many ``%s`` markers follow ``start`` (for an error message only)."""
    return sum(
        1
        for m in _MARKER.finditer(query, start)
        if m.group("conv") == "s" and m.group("name") is None
    )
