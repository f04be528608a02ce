"""CQL type codecs by example: known encodings, the Python mapping, type strings, errors.

Byte expectations come from cassandra-driver's serializers (cassandra.cqltypes) or from the
spec's own examples (varint, date); random coverage lives in test_types_hypothesis.py.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import pickle
import struct
import uuid
import warnings

import pytest

from greencql.errors import MalformedError, ProtocolError, TruncatedError, UnknownTypeError
from greencql.protocol import types as T
from greencql.protocol.wire import UNSET, Reader, Writer

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from cassandra import cqltypes as C
    from cassandra import util as driver_util

pytestmark = pytest.mark.hubfree

UTC = datetime.timezone.utc
D = decimal.Decimal


# ------------------------------------------------------------------------------------------
# known encodings
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "raw"),
    [(0, "00"), (1, "01"), (127, "7f"), (128, "0080"), (129, "0081"), (-1, "ff"), (-128, "80"),
     (-129, "ff7f")],
)  # fmt: skip
def test_varint_spec_examples(value, raw):
    assert T.VARINT.encode(value) == bytes.fromhex(raw)
    assert T.VARINT.decode(bytes.fromhex(raw)) == value


def test_date_spec_examples():
    assert T.DATE.encode(datetime.date(1970, 1, 1)) == struct.pack(">I", 2**31)
    assert T.DATE.decode(struct.pack(">I", 0)) == T.Date(-(2**31))
    assert str(T.DATE.decode(struct.pack(">I", 2**31 + 1))) == "1970-01-02"
    far = T.DATE.decode(struct.pack(">I", 2**32 - 1))
    assert isinstance(far, T.Date) and far.days_from_epoch == 2**31 - 1
    assert T.DATE.encode(far) == struct.pack(">I", 2**32 - 1)
    assert T.DATE.encode(-1) == struct.pack(">I", 2**31 - 1)  # ints are days from the epoch


@pytest.mark.parametrize(
    ("t", "value", "driver"),
    [
        (T.INT, -5, C.Int32Type),
        (T.BIGINT, 2**63 - 1, C.LongType),
        (T.COUNTER, -(2**63), C.CounterColumnType),
        (T.SMALLINT, -(2**15), C.ShortType),
        (T.TINYINT, 127, C.ByteType),
        (T.FLOAT, 1.1, C.FloatType),
        (T.DOUBLE, -0.0, C.DoubleType),
        (T.BOOLEAN, True, C.BooleanType),
        (T.TEXT, "héllo ☃", C.UTF8Type),
        (T.ASCII, "abc", C.AsciiType),
        (T.BLOB, b"\x00\xff", C.BytesType),
        (T.DECIMAL, D("-123.4500"), C.DecimalType),
        (T.DECIMAL, D("1E+5"), C.DecimalType),
        (T.VARINT, -(2**200), C.IntegerType),
        (T.UUID, uuid.UUID(int=12345), C.UUIDType),
        (T.TIMEUUID, uuid.uuid1(), C.TimeUUIDType),
        (T.INET, "10.1.2.3", C.InetAddressType),
        (T.INET, "::1", C.InetAddressType),
        (T.INET, ipaddress.ip_address("fe80::1"), C.InetAddressType),
        (T.TIMESTAMP, datetime.datetime(2021, 3, 4, 5, 6, 7, 890000, tzinfo=UTC), C.DateType),
        (T.TIMESTAMP, datetime.datetime(1900, 3, 4, 5, 6, 7), C.DateType),  # naive is UTC
        (T.TIMESTAMP, datetime.date(2000, 1, 1), C.DateType),
        (T.TIMESTAMP, 1_600_000_000_123, C.DateType),  # int: milliseconds
        (T.DATE, datetime.date(1, 1, 1), C.SimpleDateType),
        (T.TIME, datetime.time(23, 59, 59, 999999), C.TimeType),
        (T.TIME, T.Time(1), C.TimeType),
        (T.DURATION, T.Duration(-1, -2, -3), C.DurationType),
        (T.DURATION, driver_util.Duration(1, 2, 3), C.DurationType),
    ],
)
def test_encode_matches_cassandra_driver(t, value, driver):
    raw = driver.serialize(value, 4)
    assert t.encode(value) == raw
    assert T.encode_value(t, value, "col") == raw


def test_python_mapping_of_decoded_values():
    ts = T.TIMESTAMP.decode(struct.pack(">q", 1_600_000_000_123))
    assert ts == datetime.datetime(2020, 9, 13, 12, 26, 40, 123000, tzinfo=UTC)
    assert ts.tzinfo is UTC
    assert T.TIMESTAMP.decode(struct.pack(">q", 2**63 - 1)) == 2**63 - 1  # beyond year 9999
    assert T.TIME.decode(struct.pack(">q", 1000)) == datetime.time(0, 0, 0, 1)
    assert T.TIME.decode(struct.pack(">q", 1001)) == T.Time(1001)
    assert T.INET.decode(bytes([10, 0, 0, 1])) == ipaddress.IPv4Address("10.0.0.1")
    assert T.DECIMAL.decode(T.DECIMAL.encode(D("1.500"))).as_tuple() == D("1.500").as_tuple()
    assert T.FLOAT.decode(T.FLOAT.encode(1.1)) == struct.unpack(">f", struct.pack(">f", 1.1))[0]
    s = T.SetType(T.INT).decode(T.SetType(T.INT).encode(frozenset({3, 1, 2})))
    assert s == {1, 2, 3} and type(s) is set
    nested = T.parse_type_string("set<frozen<map<text, frozen<list<int>>>>>")
    value = [{"a": [1, 2]}]
    assert nested.decode(nested.encode(value)) == {T.FrozenMap({"a": (1, 2)})}
    m = T.parse_type_string("map<frozen<list<int>>, frozen<set<text>>>")
    assert m.decode(m.encode({(1, 2): {"x"}})) == {(1, 2): frozenset({"x"})}


def test_empty_values_are_null_for_non_string_types():
    for t in T.NATIVE_TYPES.values():
        if t.kind in ("text", "ascii", "blob"):
            assert t.decode(b"") in ("", b"")
        else:
            assert t.decode(b"") is None, t
    assert T.ListType(T.INT).decode(b"") is None


def test_large_decimal_and_varint_beyond_str_limits():
    big = 10**6000 + 1  # more digits than int -> str allows by default
    assert T.VARINT.decode(T.VARINT.encode(big)) == big
    d = D(big).scaleb(-3000, T._EXACT)
    assert T.DECIMAL.decode(T.DECIMAL.encode(d)) == d


def test_value_types():
    assert T.Date(0) == datetime.date(1970, 1, 1) and hash(T.Date(0)) == hash(
        datetime.date(1970, 1, 1)
    )
    assert T.Date(-1) < T.Date(0) and T.Date(5).date() == datetime.date(1970, 1, 6)
    with pytest.raises(ValueError):
        T.Date(10**9).date()
    assert T.Time(1000) == datetime.time(0, 0, 0, 1) and str(T.Time(1)) == "00:00:00.000000001"
    with pytest.raises(ValueError):
        T.Time(86_400 * 10**9)
    for v in (T.Duration(1, 2, 3), T.Date(-(10**8)), T.Time(5), T.FrozenMap({"a": 1})):
        assert pickle.loads(pickle.dumps(v)) == v
        with pytest.raises(AttributeError):
            v.x = 1
    assert (
        T.Duration(1, 2, 3) == T.Duration(1, 2, 3)
        and len({T.Duration(1, 2, 3)} | {T.Duration(1, 2, 3)}) == 1
    )


def test_udt_values():
    addr = T.UserType("ks", "address", ["street", "zip code"], [T.TEXT, T.INT])
    raw = addr.encode(("Main", 1))
    value = addr.decode(raw)
    assert value == ("Main", 1) and value.street == "Main" and value._fields[1] == "_1"
    assert type(value) is addr.value_class
    assert addr.encode({"street": "Main", "zip code": 1}) == raw

    class Obj:
        street = "Main"

    assert addr.decode(addr.encode(Obj())) == ("Main", None)
    assert addr.decode(addr.encode(("Main",))) == ("Main", None)
    with pytest.raises(ValueError, match="no field"):
        addr.encode({"stret": "x"})
    driver = C.UserType.make_udt_class(
        "ks", "address", ("street", "zip code"), (C.UTF8Type, C.Int32Type)
    )
    assert driver.serialize(("Main", 1), 4) == raw
    # a UDT value with fewer fields than the type (the spec allows it) decodes with nulls
    assert addr.decode(struct.pack(">i", 1) + b"x") == ("x", None)


def test_vector_encoding_follows_element_size():
    fixed = T.parse_type_string("vector<float, 3>")
    assert fixed.class_name == (
        "org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal.FloatType , 3)"
    )
    assert fixed.encode([1.0, 2.0, 3.0]) == struct.pack(">3f", 1, 2, 3)
    assert fixed.decode(struct.pack(">3f", 1, 2, 3)) == [1.0, 2.0, 3.0]
    var = T.parse_type_string("vector<text, 2>")
    assert var.encode(["a", "bcd"]) == b"\x01a\x03bcd"
    assert var.decode(b"\x01a\x03bcd") == ["a", "bcd"]
    drv = C.lookup_casstype(var.class_name)
    assert drv.serialize(["a", "bcd"], 5) == b"\x01a\x03bcd"
    with pytest.raises(MalformedError):
        fixed.decode(b"\x00" * 11)
    with pytest.raises(ProtocolError):
        var.decode(b"\x01a\x05bcd")
    with pytest.raises(ValueError, match="expected 3 elements"):
        T.encode_value(fixed, [1.0], "v")
    assert (
        T.parse_type_string(
            "org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal.FloatType,3)"
        )
        == fixed
    )


# ------------------------------------------------------------------------------------------
# errors naming the column and the type
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "value", "exc"),
    [
        (T.INT, "1", TypeError),
        (T.INT, 1.5, TypeError),
        (T.INT, True, TypeError),
        (T.INT, 2**31, ValueError),
        (T.TINYINT, -129, ValueError),
        (T.BIGINT, 2**63, ValueError),
        (T.FLOAT, 1e39, ValueError),
        (T.DOUBLE, "x", TypeError),
        (T.TEXT, b"bytes", TypeError),
        (T.ASCII, "é", ValueError),
        (T.BLOB, "str", TypeError),
        (T.BOOLEAN, "yes", TypeError),
        (T.UUID, "6ba7b810-9dad-11d1-80b4-00c04fd430c8", TypeError),
        (T.TIMEUUID, uuid.UUID(int=1), ValueError),
        (T.INET, "not an address", ValueError),
        (T.INET, 12, TypeError),
        (T.DECIMAL, 1.5, TypeError),
        (T.DECIMAL, D("NaN"), ValueError),
        (T.DATE, datetime.datetime(2020, 1, 1), TypeError),
        (T.DATE, 2**40, ValueError),
        (T.TIME, -1, ValueError),
        (T.TIME, datetime.time(1, tzinfo=UTC), ValueError),
        (T.TIMESTAMP, "2020-01-01", TypeError),
        (T.DURATION, datetime.timedelta(1), TypeError),
        (T.DURATION, T.Duration(1, -1, 0), ValueError),
        (T.DURATION, T.Duration(2**31, 0, 0), ValueError),
        (T.ListType(T.INT), [1, None], ValueError),
        (T.ListType(T.INT), [1, UNSET], ValueError),
        (T.ListType(T.INT), "abc", TypeError),
        (T.ListType(T.INT), [1, "x"], TypeError),
        (T.SetType(T.INT), {1: 2}, TypeError),
        (T.MapType(T.TEXT, T.INT), [("a", 1)], TypeError),
        (T.MapType(T.TEXT, T.INT), {"a": None}, ValueError),
        (T.TupleType([T.INT]), (1, 2), ValueError),  # too long (short is padded with nulls)
        (T.TupleType([T.INT]), (UNSET,), ValueError),
    ],
)
def test_encode_errors_name_column_and_type(t, value, exc):
    with pytest.raises(exc) as info:
        T.encode_value(t, value, "my_col")
    assert "'my_col'" in str(info.value) and t.cql_name in str(info.value)


def test_null_and_unset_pass_through():
    assert T.encode_value(T.INT, None, "c") is None
    assert T.encode_value(T.INT, UNSET, "c") is UNSET
    assert T.decode_value(T.INT, None) is None
    assert (
        T.TupleType([T.INT, T.TEXT]).encode((None, "a"))
        == b"\xff\xff\xff\xff" + b"\x00\x00\x00\x01a"
    )


# ------------------------------------------------------------------------------------------
# malformed bytes
# ------------------------------------------------------------------------------------------

MAP_TI = T.MapType(T.TEXT, T.INT)


@pytest.mark.parametrize(
    ("t", "raw", "exc"),
    [
        (T.INT, b"\x00\x00\x01", MalformedError),
        (T.BIGINT, b"\x00" * 9, MalformedError),
        (T.BOOLEAN, b"\x00\x00", MalformedError),
        (T.UUID, b"\x00" * 15, MalformedError),
        (T.INET, b"\x00" * 5, MalformedError),
        (T.TEXT, b"\xff", MalformedError),
        (T.ASCII, b"\x80", MalformedError),
        (T.TIME, struct.pack(">q", -1), MalformedError),
        (T.DECIMAL, b"\x00\x00\x00", MalformedError),
        (T.DURATION, b"\x02\x02", TruncatedError),
        (T.DURATION, b"\x02\x02\x02\x00", MalformedError),
        (T.ListType(T.INT), b"\x00\x00\x00", TruncatedError),
        (T.ListType(T.INT), struct.pack(">i", -1), MalformedError),
        (T.ListType(T.INT), struct.pack(">i", 2**31 - 1), TruncatedError),
        (T.ListType(T.INT), struct.pack(">ii", 1, 8) + b"\x00" * 4, TruncatedError),
        (T.ListType(T.INT), struct.pack(">iii", 1, 4, 1) + b"x", MalformedError),
        (MAP_TI, struct.pack(">ii", 1, 1) + b"a" + struct.pack(">i", 3) + b"abc", MalformedError),
        (MAP_TI, struct.pack(">ii", 1, 1) + b"\xff" + struct.pack(">ii", 4, 1), MalformedError),
        (MAP_TI, struct.pack(">ii", 1, 1) + b"a" + struct.pack(">i", 4), TruncatedError),
        (T.TupleType([T.INT]), struct.pack(">ii", 4, 1) + b"x", MalformedError),
        (T.TupleType([T.INT]), struct.pack(">i", 9) + b"x", TruncatedError),
    ],
)  # fmt: skip
def test_malformed_values(t, raw, exc):
    with pytest.raises(exc):
        t.decode(raw)


def test_null_inside_received_collections_is_tolerated():
    # Cassandra never sends these, but a null ([bytes] of negative length) is not malformed
    assert MAP_TI.decode(struct.pack(">ii", 1, -5) + struct.pack(">ii", 4, 1)) == {None: 1}
    assert T.ListType(T.TEXT).decode(struct.pack(">ii", 1, -1)) == [None]


# ------------------------------------------------------------------------------------------
# type strings and options
# ------------------------------------------------------------------------------------------


def test_parse_cql_type_strings():
    t = T.parse_type_string("map<text, frozen<list<int>>>")
    assert t == T.MapType(T.TEXT, T.ListType(T.INT, frozen=True))
    assert t.cql_name == "map<text, frozen<list<int>>>"
    assert T.parse_type_string("map<text, frozen<list<int>>>") is t  # cached
    assert T.parse_type_string("VARCHAR") is T.TEXT
    assert T.parse_type_string(" tuple< int , text > ") == T.TupleType([T.INT, T.TEXT])
    assert T.parse_type_string("vector<float, 3>") == T.VectorType(T.FLOAT, 3)
    addr = T.UserType("ks", "address", ["street"], [T.TEXT])
    seen = []

    def resolve(name):
        seen.append(name)
        return addr

    parsed = T.parse_type_string("list<frozen<address>>", resolve)
    assert parsed == T.ListType(addr.with_frozen())
    assert parsed.cql_name == "list<frozen<address>>"
    T.parse_type_string('frozen<"Address">', resolve)
    assert seen == ["address", "Address"]
    with pytest.raises(UnknownTypeError):
        T.parse_type_string("frozen<address>")
    assert T.parse_type_string("'com.example.Custom'") == T.CustomType("com.example.Custom")
    for bad in (
        "",
        "list<",
        "map<int>",
        "list<int",
        "list<int>>",
        "vector<float, 0>",
        "int int",
        "list<int>,",
    ):
        with pytest.raises(ProtocolError):
            T.parse_type_string(bad)
    with pytest.raises(MalformedError):
        T.parse_type_string("list<" * 100 + "int" + ">" * 100)


def test_parse_java_type_strings():
    p = "org.apache.cassandra.db.marshal."
    assert T.parse_type_string(p + "Int32Type") is T.INT
    assert T.parse_type_string(p + "DateType") is T.TIMESTAMP
    assert T.parse_type_string(f"{p}ReversedType({p}LongType)") is T.BIGINT
    t = T.parse_type_string(f"{p}MapType({p}UTF8Type,{p}FrozenType({p}ListType({p}Int32Type)))")
    assert t.cql_name == "map<text, frozen<list<int>>>"
    udt = T.parse_type_string(
        f"{p}UserType(ks,61646472,737472656574:{p}UTF8Type,7a6970:{p}Int32Type)"
    )
    assert udt == T.UserType("ks", "addr", ["street", "zip"], [T.TEXT, T.INT])
    assert T.parse_type_string(udt.class_name) == udt
    assert T.parse_type_string(f"{p}CompositeType({p}Int32Type)").kind == "custom"
    assert T.parse_type_string("com.example.Thing") == T.CustomType("com.example.Thing")


def test_type_options_for_v4_and_unknown_ids():
    w = Writer()
    T.write_type_option(w, T.DURATION, version=4)
    raw = w.getvalue()
    assert raw[:2] == b"\x00\x00"  # custom before v5
    assert T.read_type_option(Reader(raw)) is T.DURATION
    w = Writer()
    T.write_type_option(w, T.DURATION, version=5)
    assert w.getvalue() == b"\x00\x15"
    assert T.read_type_option(Reader(b"\x00\x0a")) is T.TEXT  # the old text id
    with pytest.raises(UnknownTypeError):
        T.read_type_option(Reader(b"\x00\x40"))
    with pytest.raises(TruncatedError):
        T.read_type_option(Reader(b"\x00\x20"))
    with pytest.raises(MalformedError):
        T.read_type_option(Reader(b"\x00\x20" * 100 + b"\x00\x09"))


def test_types_are_immutable_hashable_picklable():
    t = T.parse_type_string("map<text, frozen<tuple<int, vector<float, 2>>>>")
    with pytest.raises(AttributeError):
        t.kind = "x"
    assert {t: 1}[T.parse_type_string(t.class_name)] == 1
    assert pickle.loads(pickle.dumps(t)) == t
    assert pickle.loads(pickle.dumps(T.INT)) is T.INT
    assert T.ListType(T.INT) != T.ListType(T.INT, frozen=True)
    assert T.ListType(T.INT) != T.SetType(T.INT)
