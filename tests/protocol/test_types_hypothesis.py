"""Property tests of the CQL type codecs: random types (nested up to depth 3) and random values,
checked byte for byte against cassandra-driver's serializers, round-tripped, and fuzzed with
random bytes (decoders may only return a value or raise ProtocolError).

The strategies here (`cql_types`, `values_for`, `expected`, `driver_type`) are reused by
test_rows.py.
"""

from __future__ import annotations

import datetime
import io
import ipaddress
import struct
import warnings
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greencql.errors import ProtocolError
from greencql.protocol import types as T
from greencql.protocol.wire import Reader, Writer

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from cassandra import cqltypes as C
    from cassandra.protocol import ResultMessage

pytestmark = pytest.mark.hubfree

UTC = datetime.timezone.utc

# ------------------------------------------------------------------------------------------
# strategies
# ------------------------------------------------------------------------------------------

# counter is left out of nested types (Cassandra forbids it there); it is tested alone
_NATIVES = [t for name, t in T.NATIVE_TYPES.items() if name != "counter"]

_field_names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: s not in ("self", "cls")
)


def _udt(fields: list[tuple[str, T.CqlType]]) -> T.CqlType:
    names: list[str] = []
    types: list[T.CqlType] = []
    for n, t in fields:
        if n not in names:
            names.append(n)
            types.append(t)
    # the name follows the fields, so two different user types never share a name
    sig = ",".join(f"{n} {t.cql_name}" for n, t in zip(names, types, strict=True))
    return T.UserType("ks", f"udt_{zlib.crc32(sig.encode()):08x}", names, types)


def _extend(children: st.SearchStrategy[T.CqlType]) -> st.SearchStrategy[T.CqlType]:
    return st.one_of(
        children.map(T.ListType),
        children.map(T.SetType),
        st.tuples(children, children).map(lambda kv: T.MapType(*kv)),
        st.lists(children, min_size=1, max_size=3).map(T.TupleType),
        st.lists(st.tuples(_field_names, children), min_size=1, max_size=3).map(_udt),
        st.tuples(children, st.integers(1, 3)).map(lambda ed: T.VectorType(*ed)),
    )


natives = st.sampled_from(_NATIVES)
# depth <= 3: natives, one level, two levels of nesting
cql_types = st.one_of(natives, _extend(natives), _extend(_extend(natives)))


def _ms_datetime(d: datetime.datetime) -> datetime.datetime:
    return d.replace(microsecond=d.microsecond // 1000 * 1000)


def _same_sign_duration() -> st.SearchStrategy[T.Duration]:
    i32 = st.integers(0, 2**31 - 1)
    i64 = st.integers(0, 2**63 - 1)
    return st.tuples(i32, i32, i64, st.booleans()).map(
        lambda t: T.Duration(*(-x if t[3] else x for x in t[:3]))
    )


_SCALARS: dict[str, st.SearchStrategy] = {
    "ascii": st.text(alphabet=st.characters(max_codepoint=127), max_size=10),
    "bigint": st.integers(-(2**63), 2**63 - 1),
    "counter": st.integers(-(2**63), 2**63 - 1),
    "blob": st.binary(max_size=10),
    "boolean": st.booleans(),
    "date": st.dates(),
    "decimal": st.decimals(allow_nan=False, allow_infinity=False),
    "double": st.floats(allow_nan=False),
    "duration": _same_sign_duration(),
    "float": st.floats(width=32, allow_nan=False),
    "inet": st.ip_addresses(),
    "int": st.integers(-(2**31), 2**31 - 1),
    "smallint": st.integers(-(2**15), 2**15 - 1),
    "text": st.text(max_size=10),
    "time": st.times(),
    "timestamp": st.datetimes(timezones=st.just(UTC)).map(_ms_datetime),
    "timeuuid": st.uuids(version=1),
    "tinyint": st.integers(-128, 127),
    "uuid": st.uuids(),
    "varint": st.integers(-(2**130), 2**130),
}


def values_for(t: T.CqlType) -> st.SearchStrategy:
    """Non-null values of type t, in forms both greencql and cassandra-driver accept."""
    kind = t.kind
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "list":
        return st.lists(values_for(t.subtypes[0]), max_size=3)
    if kind == "set":
        elem = t.subtypes[0]
        return st.lists(values_for(elem).map(lambda v: expected(elem, v, True)), max_size=3)
    if kind == "map":
        k, v = t.subtypes
        return st.dictionaries(
            values_for(k).map(lambda x: expected(k, x, True)), values_for(v), max_size=3
        )
    if kind == "tuple":
        return st.tuples(*(st.one_of(st.none(), values_for(s)) for s in t.subtypes))
    if kind == "udt":
        assert isinstance(t, T.UserType)
        return st.tuples(*(st.one_of(st.none(), values_for(s)) for s in t.subtypes)).map(
            lambda vs: t.value_class(*vs)
        )
    if kind == "vector":
        assert isinstance(t, T.VectorType)
        return st.lists(values_for(t.subtypes[0]), min_size=t.dimension, max_size=t.dimension)
    raise AssertionError(kind)


def expected(t: T.CqlType, v, hashable: bool = False):
    """What decoding the encoding of v gives back."""
    if v is None:
        return None
    kind = t.kind
    if kind == "float":
        return struct.unpack(">f", struct.pack(">f", v))[0]
    if kind in ("list", "vector"):
        return (tuple if hashable else list)(expected(t.subtypes[0], x, hashable) for x in v)
    if kind == "set":
        return (frozenset if hashable else set)(expected(t.subtypes[0], x, True) for x in v)
    if kind == "map":
        k, vt = t.subtypes
        d = {expected(k, a, True): expected(vt, b, hashable) for a, b in v.items()}
        return T.FrozenMap(d) if hashable else d
    if kind == "tuple":
        return tuple(expected(s, x, hashable) for s, x in zip(t.subtypes, v, strict=True))
    if kind == "udt":
        assert isinstance(t, T.UserType)
        return t.value_class(
            *(expected(s, x, hashable) for s, x in zip(t.subtypes, v, strict=True))
        )
    return v


def driver_type(t: T.CqlType):
    """The cassandra-driver type class equal to t."""
    kind = t.kind
    if isinstance(t, T.NativeType):
        return C.lookup_casstype(t.class_name)
    if kind == "list":
        return C.ListType.apply_parameters([driver_type(t.subtypes[0])])
    if kind == "set":
        return C.SetType.apply_parameters([driver_type(t.subtypes[0])])
    if kind == "map":
        return C.MapType.apply_parameters([driver_type(s) for s in t.subtypes])
    if kind == "tuple":
        return C.TupleType.apply_parameters([driver_type(s) for s in t.subtypes])
    if kind == "udt":
        assert isinstance(t, T.UserType)
        return C.UserType.make_udt_class(
            t.keyspace, t.name, t.field_names, tuple(driver_type(s) for s in t.subtypes)
        )
    if kind == "vector":
        assert isinstance(t, T.VectorType)
        return C.VectorType.apply_parameters([driver_type(t.subtypes[0]), t.dimension], None)
    raise AssertionError(kind)


@st.composite
def typed_values(draw):
    t = draw(cql_types)
    return t, draw(values_for(t))


_FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------


@_FAST
@given(typed_values())
def test_encode_matches_cassandra_driver_and_round_trips(tv):
    t, v = tv
    ours = t.encode(v)
    theirs = driver_type(t).serialize(v, 4)
    assert ours == theirs
    assert t.decode(ours) == expected(t, v)
    assert t.decode_hashable(ours) == expected(t, v, True)


@_FAST
@given(typed_values())
def test_cassandra_driver_decodes_what_we_encode(tv):
    t, v = tv
    driver_type(t).deserialize(t.encode(v), 4)  # must not raise


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(_SCALARS)), st.data())
def test_scalars_match_driver_both_ways(kind, data):
    t = T.native_type(kind)
    v = data.draw(values_for(t))
    drv = driver_type(t)
    raw = drv.serialize(v, 5)
    assert t.encode(v) == raw
    assert t.decode(raw) == expected(t, v)
    theirs = drv.deserialize(raw, 5)
    ours = t.decode(raw)
    if kind == "timestamp":
        # the driver goes through a float of seconds and may lose the last microseconds
        assert abs(theirs.replace(tzinfo=UTC) - ours) < datetime.timedelta(milliseconds=1)
    elif kind == "date":
        assert theirs.days_from_epoch == (ours.toordinal() - 719163)
    elif kind == "time":
        assert theirs.nanosecond_time == T.Time.from_time(ours).nanosecond_time
    elif kind == "inet":
        assert ipaddress.ip_address(theirs) == ours
    elif kind == "duration":
        assert (theirs.months, theirs.days, theirs.nanoseconds) == (
            ours.months,
            ours.days,
            ours.nanoseconds,
        )
    else:
        assert theirs == ours


@_FAST
@given(cql_types)
def test_type_option_round_trip_and_driver_reads_it(t):
    w = Writer()
    T.write_type_option(w, t)
    raw = w.getvalue()
    r = Reader(raw)
    assert T.read_type_option(r) == t
    assert r.remaining() == 0
    theirs = ResultMessage.read_type(io.BytesIO(raw), {}).cass_parameterized_type(full=True)
    # the driver names 0x000D VarcharType and 0x000B DateType: aliases of the same types
    theirs = theirs.replace("VarcharType", "UTF8Type").replace(".DateType", ".TimestampType")
    assert theirs == driver_type(t).cass_parameterized_type(full=True)


@_FAST
@given(cql_types)
def test_type_strings_round_trip(t):
    assert T.parse_type_string(t.class_name) == t

    udts = {}

    def collect(x):
        if isinstance(x, T.UserType):
            udts[x.name] = x
        for s in x.subtypes:
            collect(s)

    collect(t)
    assert T.parse_type_string(t.cql_name, lambda n: udts[n]) == t


# ------------------------------------------------------------------------------------------
# fuzz: random bytes never raise anything but ProtocolError
# ------------------------------------------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(cql_types, st.binary(max_size=64))
def test_decoders_raise_only_protocol_errors(t, raw):
    for dec in (t.decode, t.decode_hashable):
        try:
            dec(raw)
        except ProtocolError:
            pass


@settings(max_examples=300, deadline=None)
@given(typed_values(), st.data())
def test_mutated_valid_values_raise_only_protocol_errors(tv, data):
    t, v = tv
    raw = bytearray(t.encode(v))
    if raw:
        for _ in range(data.draw(st.integers(1, 3))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
        cut = data.draw(st.integers(0, len(raw)))
        raw = raw[:cut]
    try:
        t.decode(bytes(raw))
    except ProtocolError:
        pass


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=40))
def test_read_type_option_raises_only_protocol_errors(raw):
    try:
        T.read_type_option(Reader(raw))
    except ProtocolError:
        pass


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(max_size=40),
        st.text(alphabet="<>,() 'frozenlistmapsetuplvectorint0123.Type", max_size=40),
    )
)
def test_parse_type_string_raises_only_protocol_errors(s):
    try:
        T.parse_type_string(s)
    except ProtocolError:
        pass
