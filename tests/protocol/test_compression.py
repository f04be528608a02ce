"""compression.py: LZ4 / Snappy bodies and segments, cross-checked with cassandra-driver."""

from __future__ import annotations

import os
import struct
import sys

import pytest
from cassandra.connection import locally_supported_compressions
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.errors import CompressionError, FrameTooLarge, ProtocolError
from greencql.protocol import compression
from greencql.protocol.compression import (
    Lz4Compressor,
    SnappyCompressor,
    available_compressors,
    get_compressor,
)

pytestmark = pytest.mark.hubfree

LZ4 = get_compressor("lz4")
SNAPPY = get_compressor("snappy")
DRIVER_LZ4_COMPRESS, DRIVER_LZ4_DECOMPRESS = locally_supported_compressions["lz4"]
DRIVER_SNAPPY_COMPRESS, DRIVER_SNAPPY_DECOMPRESS = locally_supported_compressions["snappy"]

SAMPLES = [
    b"x",
    b"hello world " * 100,
    bytes(range(256)) * 40,
    os.urandom(5000),  # incompressible
    b"\x00" * 200_000,
]


def test_registry():
    found = available_compressors()
    assert list(found) == ["lz4", "snappy"]
    assert isinstance(found["lz4"], Lz4Compressor)
    assert isinstance(found["snappy"], SnappyCompressor)
    assert get_compressor("lz4") is found["lz4"]
    assert LZ4.supports_segments and not SNAPPY.supports_segments


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown compression"):
        get_compressor("zstd")


def test_missing_library_is_a_clear_import_error(monkeypatch):
    monkeypatch.setattr(compression, "_cache", {})
    monkeypatch.setitem(sys.modules, "lz4", None)
    monkeypatch.setitem(sys.modules, "lz4.block", None)
    with pytest.raises(ImportError, match="pip install lz4"):
        get_compressor("lz4")
    assert "lz4" not in available_compressors()


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: f"{len(d)}B")
def test_lz4_body_matches_cassandra_driver(data):
    ours = LZ4.compress_body(data)
    assert ours == DRIVER_LZ4_COMPRESS(data)
    assert struct.unpack(">I", ours[:4])[0] == len(data)  # big-endian length prefix
    assert DRIVER_LZ4_DECOMPRESS(ours) == data
    assert LZ4.decompress_body(DRIVER_LZ4_COMPRESS(data), len(data)) == data


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: f"{len(d)}B")
def test_snappy_body_matches_cassandra_driver(data):
    ours = SNAPPY.compress_body(data)
    assert DRIVER_SNAPPY_DECOMPRESS(ours) == data
    assert SNAPPY.decompress_body(bytes(DRIVER_SNAPPY_COMPRESS(data)), len(data)) == data


@pytest.mark.parametrize("data", SAMPLES, ids=lambda d: f"{len(d)}B")
def test_lz4_segment_is_a_raw_block(data):
    # cassandra-driver's SegmentCodec strips the 4-byte length of its body format
    block = LZ4.compress_segment(data)
    assert block == DRIVER_LZ4_COMPRESS(data)[4:]
    assert LZ4.decompress_segment(block, len(data)) == data


def test_empty_bodies():
    assert LZ4.decompress_body(b"\x00\x00\x00\x00", 10) == b""
    assert LZ4.decompress_body(LZ4.compress_body(b""), 10) == b""
    assert SNAPPY.decompress_body(SNAPPY.compress_body(b""), 10) == b""


def test_lz4_declared_length_above_maximum_is_refused_before_decompressing():
    huge = b"\xff\xff\xff\xff" + b"\x00" * 10  # claims 4 GiB
    with pytest.raises(FrameTooLarge):
        LZ4.decompress_body(huge, 256 * 1024 * 1024)
    body = LZ4.compress_body(b"a" * 1000)
    with pytest.raises(FrameTooLarge):
        LZ4.decompress_body(body, 999)
    assert LZ4.decompress_body(body, 1000) == b"a" * 1000


def test_snappy_declared_length_above_maximum_is_refused_before_decompressing():
    huge = b"\xff\xff\xff\xff\x0f" + b"\x00" * 10  # varint 2**32 - 1
    with pytest.raises(FrameTooLarge):
        SNAPPY.decompress_body(huge, 256 * 1024 * 1024)
    body = SNAPPY.compress_body(b"a" * 1000)
    with pytest.raises(FrameTooLarge):
        SNAPPY.decompress_body(body, 999)


@pytest.mark.parametrize(
    "body",
    [b"", b"\x00", b"\x00\x00\x00"],
    ids=["empty", "1B", "3B"],
)
def test_lz4_body_without_length_prefix(body):
    with pytest.raises(CompressionError):
        LZ4.decompress_body(body, 100)


def test_lz4_lying_lengths():
    data = b"hello world " * 100
    block = LZ4.compress_segment(data)
    with pytest.raises(CompressionError):  # declared longer than the real content
        LZ4.decompress_segment(block, len(data) + 1)
    with pytest.raises(CompressionError):  # declared shorter
        LZ4.decompress_segment(block, len(data) - 1)
    with pytest.raises(CompressionError):
        LZ4.decompress_body(struct.pack(">I", len(data) + 7) + block, 10**6)


def test_corrupt_data():
    with pytest.raises(CompressionError):
        LZ4.decompress_body(b"\x00\x00\x00\x10\xff\xff\xff", 100)
    with pytest.raises(CompressionError):
        SNAPPY.decompress_body(b"\x10\xff\xff\xff", 100)
    with pytest.raises(CompressionError):
        SNAPPY.decompress_body(b"\xff\xff", 100)  # varint never ends
    with pytest.raises(CompressionError):
        SNAPPY.decompress_body(b"\xff\xff\xff\xff\xff\x01", 100)  # varint too long
    with pytest.raises(CompressionError):
        SNAPPY.compress_segment(b"abc")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 2000))
def test_fuzz_decompress_raises_only_protocol_errors(data, limit):
    for compressor in (LZ4, SNAPPY):
        try:
            out = compressor.decompress_body(data, limit)
        except ProtocolError:
            continue
        assert len(out) <= limit
    try:
        out = LZ4.decompress_segment(data, limit)
    except ProtocolError:
        return
    assert len(out) == limit


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=3000))
def test_round_trips(data):
    assert LZ4.decompress_body(LZ4.compress_body(data), len(data)) == data
    assert SNAPPY.decompress_body(SNAPPY.compress_body(data), len(data)) == data
    assert LZ4.decompress_segment(LZ4.compress_segment(data), len(data)) == data
