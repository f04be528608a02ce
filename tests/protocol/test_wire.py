"""wire.py: the spec's notations, cross-checked with cassandra-driver's own readers and writers
(``cassandra.protocol.read_*/write_*``) and vint codecs (``cassandra.marshal``)."""

from __future__ import annotations

import copy
import io
import ipaddress
import pickle
import uuid

import pytest
from cassandra import marshal
from cassandra import protocol as cp
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.errors import MalformedError, ProtocolError, TruncatedError
from greencql.protocol.wire import (
    UNSET,
    Reader,
    UnsetType,
    Writer,
    decode_unsigned_vint,
    decode_vint,
    encode_unsigned_vint,
    encode_vint,
    zigzag_decode,
    zigzag_encode,
)

texts = st.text(max_size=20)
blobs = st.binary(max_size=40)


def theirs(write, *args) -> bytes:
    f = io.BytesIO()
    write(f, *args)
    return f.getvalue()


def ours(method: str, *args) -> bytes:
    w = Writer()
    getattr(w, method)(*args)
    return w.getvalue()


# -- writers against cassandra-driver, readers on cassandra-driver's bytes ------------------------


@settings(max_examples=100, deadline=None)
@given(
    byte=st.integers(0, 255),
    short=st.integers(0, 0xFFFF),
    int_=st.integers(-(2**31), 2**31 - 1),
    long_=st.integers(0, 2**63 - 1),  # cassandra-driver writes [long] unsigned
    text=texts,
    blob=blobs,
)
def test_scalars(byte, short, int_, long_, text, blob):
    cases = [
        ("write_byte", "read_byte", cp.write_byte, byte),
        ("write_short", "read_short", cp.write_short, short),
        ("write_int", "read_int", cp.write_int, int_),
        ("write_long", "read_long", cp.write_long, long_),
        ("write_string", "read_string", cp.write_string, text),
        ("write_long_string", "read_long_string", cp.write_longstring, text),
    ]
    for write, read, cass_write, value in cases:
        data = ours(write, value)
        assert data == theirs(cass_write, value), write
        r = Reader(data)
        assert getattr(r, read)() == value
        r.expect_end(read)
    data = ours("write_short_bytes", blob)
    assert data == theirs(cp.write_string, blob)
    assert Reader(data).read_short_bytes() == blob


@settings(max_examples=100, deadline=None)
@given(value=st.one_of(blobs, st.none(), st.just(UNSET)))
def test_value_and_bytes(value):
    cass_value = cp._UNSET_VALUE if value is UNSET else value
    data = ours("write_value", value)
    assert data == theirs(cp.write_value, cass_value)
    assert Reader(data).read_value() == value
    if value is not UNSET:
        assert ours("write_bytes", value) == data
        assert Reader(data).read_bytes() == value
        assert cp.read_value(io.BytesIO(data)) == value


@settings(max_examples=100, deadline=None)
@given(
    strings=st.lists(texts, max_size=5),
    smap=st.dictionaries(texts, texts, max_size=5),
    mmap=st.dictionaries(texts, st.lists(texts, max_size=3), max_size=4),
    bmap=st.dictionaries(texts, st.one_of(blobs, st.none()), max_size=4),
)
def test_collections(strings, smap, mmap, bmap):
    data = ours("write_string_list", strings)
    assert data == theirs(cp.write_stringlist, strings)
    assert Reader(data).read_string_list() == strings
    data = ours("write_string_map", smap)
    assert data == theirs(cp.write_stringmap, smap)
    assert Reader(data).read_string_map() == smap
    assert cp.read_stringmap(io.BytesIO(data)) == smap
    data = ours("write_string_multimap", mmap)
    assert data == theirs(cp.write_stringmultimap, mmap)
    assert Reader(data).read_string_multimap() == mmap
    data = ours("write_bytes_map", bmap)
    assert data == theirs(cp.write_bytesmap, bmap)
    assert Reader(data).read_bytes_map() == bmap


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.20.30.40", "::1", "2001:db8::8:800:200c:417a"]
)
def test_inet(address):
    data = ours("write_inet", address, 9042)
    assert data == theirs(cp.write_inet, (address, 9042))
    assert Reader(data).read_inet() == (address, 9042)
    assert cp.read_inet(io.BytesIO(data)) == (address, 9042)
    data = ours("write_inet_address", address)
    assert Reader(data).read_inet_address() == ipaddress.ip_address(address)
    assert cp.read_inet_addr_only(io.BytesIO(data)) == address


def test_uuid():
    value = uuid.uuid4()
    assert ours("write_uuid", value) == value.bytes
    assert Reader(value.bytes).read_uuid() == value


# -- vints against cassandra.marshal --------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**64 - 1))
def test_unsigned_vint(value):
    data = encode_unsigned_vint(value)
    assert data == bytes(marshal.uvint_pack(value))
    assert decode_unsigned_vint(data, 0, len(data)) == (value, len(data))
    assert marshal.uvint_unpack(data) == (value, len(data))
    r = Reader(data)
    assert r.read_unsigned_vint() == value and r.remaining() == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=4))
def test_signed_vints(values):
    data = b"".join(encode_vint(v) for v in values)
    assert data == bytes(marshal.vints_pack(values))
    pos, out = 0, []
    while pos < len(data):
        value, pos = decode_vint(data, pos, len(data))
        out.append(value)
    assert out == values
    assert marshal.vints_unpack(data) == tuple(values)
    for v in values:
        assert zigzag_decode(zigzag_encode(v)) == v


def test_vint_edges():
    assert encode_unsigned_vint(0) == b"\x00"
    assert encode_unsigned_vint(127) == b"\x7f"
    assert encode_unsigned_vint(128) == b"\x80\x80"
    assert encode_unsigned_vint(256000) == bytes([0b11000011, 0b11101000, 0])  # the spec's example
    assert encode_unsigned_vint(2**64 - 1) == b"\xff" * 9
    assert [zigzag_encode(v) for v in (0, -1, 1, -2, 2)] == [0, 1, 2, 3, 4]
    for bad in (-1, 2**64):
        with pytest.raises(ValueError):
            encode_unsigned_vint(bad)
    with pytest.raises(ValueError):
        encode_vint(2**63)
    for data in (b"", b"\x80", b"\xff" + b"\x00" * 7):
        with pytest.raises(TruncatedError):
            decode_unsigned_vint(data, 0, len(data))
    with pytest.raises(TruncatedError):  # the end bound is respected, not len(data)
        decode_unsigned_vint(b"\x80\x01", 0, 1)


# -- bounds ---------------------------------------------------------------------------------------


def _corpus() -> list[tuple[str, bytes]]:
    return [
        ("read_short", ours("write_short", 7)),
        ("read_int", ours("write_int", -7)),
        ("read_long", ours("write_long", 7)),
        ("read_string", ours("write_string", "héllo")),
        ("read_long_string", ours("write_long_string", "héllo")),
        ("read_bytes", ours("write_bytes", b"abc")),
        ("read_value", ours("write_value", b"abc")),
        ("read_short_bytes", ours("write_short_bytes", b"abc")),
        ("read_string_list", ours("write_string_list", ["a", "bc"])),
        ("read_string_map", ours("write_string_map", {"a": "b"})),
        ("read_string_multimap", ours("write_string_multimap", {"a": ["b", "c"]})),
        ("read_bytes_map", ours("write_bytes_map", {"a": b"b", "c": None})),
        ("read_inet", ours("write_inet", "::1", 1)),
        ("read_uuid", uuid.uuid4().bytes),
        ("read_unsigned_vint", encode_unsigned_vint(2**40)),
    ]


@pytest.mark.parametrize(("read", "data"), _corpus())
def test_truncated_at_every_cut(read, data):
    for cut in range(len(data)):
        with pytest.raises(TruncatedError):
            getattr(Reader(data[:cut]), read)()
        # a window that ends early is as short as a short buffer
        with pytest.raises(TruncatedError):
            getattr(Reader(data + b"\x00" * 8, 0, cut), read)()


def test_negative_and_invalid_lengths():
    neg = ours("write_int", -1)
    assert Reader(neg).read_bytes() is None
    assert Reader(neg).read_value() is None
    assert Reader(ours("write_int", -2)).read_value() is UNSET
    assert Reader(ours("write_int", -100)).read_bytes() is None  # any negative [bytes] is null
    with pytest.raises(MalformedError):
        Reader(ours("write_int", -3)).read_value()
    with pytest.raises(MalformedError):
        Reader(neg).read_long_string()
    with pytest.raises(MalformedError):
        Reader(b"\x05" + b"\x00" * 9).read_inet()
    with pytest.raises(MalformedError):
        Reader(b"\x00\x02\xc3\x28").read_string()  # invalid UTF-8
    with pytest.raises(MalformedError):
        Reader(b"\x00\x00", 0, 2).read_raw(-1)


def test_expect_end_and_windows():
    r = Reader(b"\x00\x01\x02\x03", 1, 3)
    assert r.remaining() == 2
    assert r.read_short() == 0x0102
    r.expect_end("window")
    r = Reader(b"\x00\x01\x02")
    r.read_short()
    with pytest.raises(MalformedError, match="trailing"):
        r.expect_end("x")
    r = Reader(memoryview(b"\x00\x03abc"))
    assert r.read_string() == "abc"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=32), st.sampled_from([name for name, _ in _corpus()]))
def test_random_input_raises_protocol_errors_only(data, read):
    try:
        getattr(Reader(data), read)()
    except ProtocolError:
        pass


# -- UNSET ----------------------------------------------------------------------------------------


def test_unset_singleton():
    assert UnsetType() is UNSET
    assert copy.copy(UNSET) is UNSET and copy.deepcopy(UNSET) is UNSET
    assert pickle.loads(pickle.dumps(UNSET)) is UNSET
    assert not UNSET
    assert repr(UNSET) == "UNSET_VALUE"
    assert UNSET is not None


def test_oversized_short_lengths_raise_value_error():
    with pytest.raises(ValueError):
        Writer().write_string("x" * 70000)
