"""segments.py: v5 segments, CRC24/CRC32, byte-for-byte against cassandra-driver's SegmentCodec."""

from __future__ import annotations

import io
import itertools
import os
import random
import zlib

import pytest
from cassandra.connection import segment_codec_lz4
from cassandra.segment import (
    CRC32_INITIAL,
    CrcException,
    SegmentCodec,
    compute_crc24,
    compute_crc32,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.errors import ChecksumError, CompressionError, ProtocolError
from greencql.protocol import segments as segments_module
from greencql.protocol.compression import get_compressor
from greencql.protocol.segments import (
    CRC32_SEED,
    MAX_SEGMENT_PAYLOAD,
    SegmentDecoder,
    SegmentEncoder,
    crc24,
    crc32,
    segment_header_length,
)

pytestmark = pytest.mark.hubfree

LZ4 = get_compressor("lz4")
DRIVER_PLAIN = SegmentCodec()
COMPRESSORS = [None, LZ4]
IDS = ["plain", "lz4"]


def _driver_codec(compressor):
    return DRIVER_PLAIN if compressor is None else segment_codec_lz4


def _driver_encode(compressor, msg: bytes) -> bytes:
    out = io.BytesIO()
    _driver_codec(compressor).encode(out, msg)
    return out.getvalue()


def _driver_decode(compressor, data: bytes) -> list[tuple[bytes, bool]]:
    codec = _driver_codec(compressor)
    buf = io.BytesIO(data)
    out = []
    while buf.tell() < len(data):
        header = codec.decode_header(buf)
        segment = codec.decode(buf, header)
        out.append((bytes(segment.payload), segment.is_self_contained))
    return out


def _payload(n: int, seed: int = 0) -> bytes:
    """Half compressible, half random: exercises both the compressed and the raw path."""
    rnd = random.Random(seed)
    text = (b"SELECT * FROM ks.table WHERE k = ? " * (n // 35 + 1))[: n // 2]
    return text + rnd.randbytes(n - len(text))


# ------------------------------------------------------------------------------ checksums


def test_crc_constants():
    assert CRC32_SEED == CRC32_INITIAL == zlib.crc32(b"\xfa\x2d\x55\xca")
    assert segment_header_length(False) == 6
    assert segment_header_length(True) == 8
    assert MAX_SEGMENT_PAYLOAD == 131071


@settings(max_examples=300, deadline=None)
@given(st.integers(0, (1 << 24) - 1), st.integers(0, (1 << 40) - 1))
def test_crc24_matches_cassandra_driver(small, large):
    assert crc24(small.to_bytes(3, "little")) == compute_crc24(small, 3)
    assert crc24(large.to_bytes(5, "little")) == compute_crc24(large, 5)


def test_crc24_known_values():
    # the header of an empty self-contained uncompressed segment, and of a 5-byte one
    assert crc24(b"\x00\x00\x02") == compute_crc24(0x20000, 3)
    assert crc24(b"\x05\x00\x02") == compute_crc24(0x20005, 3)
    assert crc24(b"") == 0x875060  # the init value, untouched


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_crc32_matches_cassandra_driver(data):
    assert crc32(data) == compute_crc32(data, CRC32_INITIAL)


# ------------------------------------------------------------------------------ encoding


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=IDS)
@pytest.mark.parametrize(
    "size", [0, 1, 9, 100, 5000, MAX_SEGMENT_PAYLOAD, MAX_SEGMENT_PAYLOAD + 1, 300_000, 1 << 20]
)
def test_encoding_is_byte_identical_to_cassandra_driver(compressor, size):
    msg = _payload(size, size)
    ours = SegmentEncoder(compressor).encode(msg)
    assert ours == _driver_encode(compressor, msg)
    segments = _driver_decode(compressor, ours)
    assert b"".join(p for p, _ in segments) == msg
    expected_count = max(1, -(-size // MAX_SEGMENT_PAYLOAD))
    assert len(segments) == expected_count
    assert all(sc == (expected_count == 1) for _, sc in segments)


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=IDS)
@pytest.mark.parametrize("size", [0, 1, 100, 5000, MAX_SEGMENT_PAYLOAD, 300_000])
def test_decoding_cassandra_driver_segments(compressor, size):
    msg = _payload(size, size + 1)
    data = _driver_encode(compressor, msg)
    got = SegmentDecoder(compressor).feed(data)
    assert b"".join(p for p, _ in got) == msg
    assert [sc for _, sc in got] == [len(got) == 1] * len(got)


def test_header_layout_uncompressed():
    data = SegmentEncoder().encode(b"hello")
    value = int.from_bytes(data[:3], "little")
    assert value & 0x1FFFF == 5
    assert value >> 17 == 1  # self-contained
    assert int.from_bytes(data[3:6], "little") == crc24(data[:3])
    assert data[6:11] == b"hello"
    assert int.from_bytes(data[11:], "little") == crc32(b"hello")
    assert len(data) == 6 + 5 + 4


def test_header_layout_compressed():
    msg = b"a" * 1000
    data = SegmentEncoder(LZ4).encode(msg)
    value = int.from_bytes(data[:5], "little")
    compressed_length = value & 0x1FFFF
    assert (value >> 17) & 0x1FFFF == 1000
    assert (value >> 34) & 1 == 1
    assert int.from_bytes(data[5:8], "little") == crc24(data[:5])
    assert len(data) == 8 + compressed_length + 4
    assert LZ4.decompress_segment(data[8 : 8 + compressed_length], 1000) == msg


def test_incompressible_payload_is_stored_raw():
    msg = os.urandom(1000)
    data = SegmentEncoder(LZ4).encode(msg)
    value = int.from_bytes(data[:5], "little")
    assert value & 0x1FFFF == 1000
    assert (value >> 17) & 0x1FFFF == 0  # 0: not compressed
    assert data[8:1008] == msg
    assert SegmentDecoder(LZ4).feed(data) == [(msg, True)]


def test_encode_frames_packs_small_frames_together():
    frames = [bytes([i]) * 1000 for i in range(200)]  # 200 KB in all
    data = SegmentEncoder().encode_frames(frames)
    segments = _driver_decode(None, data)
    assert [sc for _, sc in segments] == [True, True]
    assert len(segments[0][0]) == 131 * 1000  # as many whole frames as fit
    assert b"".join(p for p, _ in segments) == b"".join(frames)


def test_encode_frames_gives_large_frames_their_own_run():
    small1, large, small2 = b"a" * 10, _payload(300_000), b"b" * 20
    data = SegmentEncoder().encode_frames([small1, large, small2])
    segments = SegmentDecoder().feed(data)
    assert [sc for _, sc in segments] == [True, False, False, False, True]
    assert segments[0][0] == small1
    assert b"".join(p for p, _ in segments[1:4]) == large
    assert segments[4][0] == small2


def test_write_segment_refuses_oversized_payload():
    with pytest.raises(ValueError):
        SegmentEncoder().write_segment(bytearray(), b"x" * (MAX_SEGMENT_PAYLOAD + 1), True)


def test_snappy_cannot_do_segments():
    snappy = get_compressor("snappy")
    with pytest.raises(CompressionError):
        SegmentEncoder(snappy)
    with pytest.raises(CompressionError):
        SegmentDecoder(snappy)


# ------------------------------------------------------------------------------ chunking


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=IDS)
def test_every_chunk_size(compressor):
    """The whole stream fed in pieces of every size 1..N: header splits included."""
    msgs = [b"", b"x" * 3, _payload(700, 1), b"y" * 50]
    encoder = SegmentEncoder(compressor)
    stream = b"".join(encoder.encode(m) for m in msgs)
    for size in range(1, len(stream) + 1):
        decoder = SegmentDecoder(compressor)
        got = []
        for start in range(0, len(stream), size):
            got.extend(decoder.feed(stream[start : start + size]))
        assert [p for p, _ in got] == msgs, size
        assert decoder.buffered() == 0


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=IDS)
def test_every_split_point_of_two_segments(compressor):
    stream = SegmentEncoder(compressor).encode(b"first" * 20) + SegmentEncoder(compressor).encode(
        b"second"
    )
    for cut in range(len(stream) + 1):
        decoder = SegmentDecoder(compressor)
        got = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert [p for p, _ in got] == [b"first" * 20, b"second"], cut


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(max_size=3000), min_size=1, max_size=6),
    st.sampled_from(COMPRESSORS),
    st.lists(st.integers(0, 20000), max_size=20),
    st.booleans(),
)
def test_hypothesis_split_points(msgs, compressor, cuts, as_bytearray):
    stream = _driver_encode(compressor, msgs[0]) + b"".join(
        SegmentEncoder(compressor).encode(m) for m in msgs[1:]
    )
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    decoder = SegmentDecoder(compressor)
    got = []
    for a, b in itertools.pairwise(points):
        piece = stream[a:b]
        got.extend(decoder.feed(bytearray(piece) if as_bytearray else piece))
    assert [p for p, _ in got] == msgs


def test_large_stream_in_small_pieces_is_linear():
    # 40 segments of 64 KB fed 1000 bytes at a time: compaction keeps the buffer small
    msg = _payload(64 * 1024)
    stream = SegmentEncoder().encode(msg) * 40
    decoder = SegmentDecoder()
    count = 0
    for start in range(0, len(stream), 1000):
        count += len(decoder.feed(stream[start : start + 1000]))
        assert len(decoder._buf) < 300_000
    assert count == 40


# ------------------------------------------------------------------------------ corruption


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=IDS)
def test_bad_header_crc(compressor):
    data = bytearray(SegmentEncoder(compressor).encode(b"payload"))
    hlen = segment_header_length(compressor is not None)
    data[hlen - 1] ^= 0x01
    with pytest.raises(ChecksumError, match="CRC24"):
        SegmentDecoder(compressor).feed(bytes(data))
    with pytest.raises(CrcException):  # the oracle agrees it is broken
        _driver_decode(compressor, bytes(data))


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=IDS)
def test_bad_payload_crc(compressor):
    data = bytearray(SegmentEncoder(compressor).encode(b"payload" * 50))
    data[-1] ^= 0x80
    with pytest.raises(ChecksumError, match="CRC32"):
        SegmentDecoder(compressor).feed(bytes(data))
    data = bytearray(SegmentEncoder(compressor).encode(b"payload" * 50))
    data[segment_header_length(compressor is not None) + 2] ^= 0x04  # inside the payload
    with pytest.raises(ChecksumError, match="CRC32"):
        SegmentDecoder(compressor).feed(bytes(data))


def test_header_corruption_is_detected_before_waiting_for_the_payload():
    data = bytearray(SegmentEncoder().encode(b"x" * 1000))
    data[0] ^= 0x10
    decoder = SegmentDecoder()
    with pytest.raises(ChecksumError):
        decoder.feed(bytes(data[:6]))  # the header alone


def test_errors_are_sticky():
    data = bytearray(SegmentEncoder().encode(b"x"))
    data[1] ^= 0xFF
    decoder = SegmentDecoder()
    with pytest.raises(ChecksumError):
        decoder.feed(bytes(data))
    with pytest.raises(ChecksumError):
        decoder.feed(SegmentEncoder().encode(b"fine"))


def test_compressed_segment_with_a_lying_uncompressed_length():
    block = LZ4.compress_segment(b"z" * 1000)
    out = bytearray()
    header = (len(block) | (999 << 17) | (1 << 34)).to_bytes(5, "little")
    out += header + crc24(header).to_bytes(3, "little") + block
    out += crc32(block).to_bytes(4, "little")
    with pytest.raises(CompressionError):
        SegmentDecoder(LZ4).feed(bytes(out))


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=IDS)
def test_every_single_bit_flip_is_detected(compressor):
    data = SegmentEncoder(compressor).encode(b"SELECT now() FROM system.local" * 3)
    for i in range(len(data)):
        for bit in range(8):
            corrupt = bytearray(data)
            corrupt[i] ^= 1 << bit
            decoder = SegmentDecoder(compressor)
            try:
                got = decoder.feed(bytes(corrupt))
            except ChecksumError:
                continue
            # a flip in the length field can only make the decoder wait for more bytes
            assert got == [] and decoder.buffered() == len(data), (i, bit)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(COMPRESSORS))
def test_fuzz_random_bytes_raise_only_protocol_errors(data, compressor):
    decoder = SegmentDecoder(compressor)
    try:
        for start in range(0, len(data), 7):
            decoder.feed(data[start : start + 7])
    except ProtocolError:
        pass


# ------------------------------------------------------------------------------ fast paths


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=IDS)
def test_encode_frames_is_byte_identical_to_driver_on_the_joined_frames(compressor):
    frames = [_payload(n, n) for n in (0, 1, 9, 300, 4000, 20)]
    ours = SegmentEncoder(compressor).encode_frames(frames)
    assert ours == _driver_encode(compressor, b"".join(frames))
    out = bytearray(b"prefix")
    SegmentEncoder(compressor).write_segment(out, b"".join(frames), True)
    assert bytes(out) == b"prefix" + ours


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=IDS)
def test_header_caches_stay_correct_past_their_bound(compressor):
    # more distinct headers than the caches hold: every encode and decode still matches
    # the driver (entries evicted, recomputed from the position tables)
    limit = segments_module._CACHE_LIMIT
    encoder, decoder = SegmentEncoder(compressor), SegmentDecoder(compressor)
    for n in itertools.chain(range(0, limit + 300, 7), range(0, 50)):
        msg = b"q" * n
        data = encoder.encode(msg)
        assert data == _driver_encode(compressor, msg), n
        assert decoder.feed(data) == [(msg, True)]
    assert len(segments_module._WIRE_HEADERS_3) <= limit
    assert len(segments_module._WIRE_HEADERS_5) <= limit
    assert len(segments_module._VERIFIED_3) <= limit
    assert len(segments_module._VERIFIED_5) <= limit


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=IDS)
def test_cached_header_with_a_bad_payload_still_fails(compressor):
    good = SegmentEncoder(compressor).encode(b"cached header" * 3)
    assert SegmentDecoder(compressor).feed(good)  # the header is now verified and cached
    for index in (-1, -4, segment_header_length(compressor is not None)):
        bad = bytearray(good)
        bad[index] ^= 0x20
        with pytest.raises(ChecksumError, match="CRC32"):
            SegmentDecoder(compressor).feed(bytes(bad))


@pytest.mark.parametrize("compressor", COMPRESSORS, ids=IDS)
def test_single_segment_reads_and_leftovers(compressor):
    # a read of exactly one segment (the fast path), one segment plus a partial one, and a
    # bytearray / memoryview read: all give the driver's payloads
    msgs = [b"one", _payload(900, 3), b""]
    data = [_driver_encode(compressor, m) for m in msgs]
    decoder = SegmentDecoder(compressor)
    assert decoder.feed(data[0]) == [(msgs[0], True)]
    assert decoder.feed(data[1] + data[2][:3]) == [(msgs[1], True)]
    assert decoder.buffered() == 3
    assert decoder.feed(data[2][3:]) == [(msgs[2], True)]
    assert decoder.buffered() == 0
    assert decoder.feed(bytearray(data[0])) == [(msgs[0], True)]
    assert decoder.feed(memoryview(data[1])) == [(msgs[1], True)]
    payload, _ = decoder.feed(data[0])[0]
    assert type(payload) is bytes  # frames.py's decode_exact fast path wants bytes


def test_crc24_other_lengths_use_the_generic_loop():
    for n in (1, 2, 4, 6, 8):
        value = int.from_bytes(bytes(range(7, 7 + n)), "little")
        assert crc24(value.to_bytes(n, "little")) == compute_crc24(value, n)
    assert crc24(bytearray(b"\x05\x00\x02")) == crc24(memoryview(b"\x05\x00\x02"))
