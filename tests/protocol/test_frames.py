"""frames.py: the 9-byte header, FrameDecoder and FrameCodec, cross-checked with cassandra-driver.

Requests are encoded by cassandra-driver (``ProtocolHandler.encode_message``) and decoded by us;
responses are encoded by us and decoded by cassandra-driver (``ProtocolHandler.decode_message``
after its own header struct and SegmentCodec), so no byte format is checked only against itself.
"""

from __future__ import annotations

import io
import itertools
import random
import struct

import pytest
from cassandra.connection import (
    frame_header_v3,
    locally_supported_compressions,
    segment_codec_lz4,
)
from cassandra.protocol import (
    OptionsMessage,
    ProtocolHandler,
    QueryMessage,
    ReadyMessage,
    RegisterMessage,
    StartupMessage,
    SupportedMessage,
)
from cassandra.segment import SegmentCodec
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.errors import (
    CompressionError,
    FrameTooLarge,
    MalformedError,
    ProtocolError,
    UnknownOpcode,
    UnsupportedProtocolVersion,
)
from greencql.protocol.compression import get_compressor
from greencql.protocol.constants import HeaderFlag, Opcode
from greencql.protocol.frames import (
    Frame,
    FrameCodec,
    FrameDecoder,
    decode_header,
    encode_frame,
)
from greencql.protocol.segments import MAX_SEGMENT_PAYLOAD, SegmentDecoder, SegmentEncoder
from greencql.protocol.wire import Writer

pytestmark = pytest.mark.hubfree

LZ4 = get_compressor("lz4")
SNAPPY = get_compressor("snappy")
DRIVER_COMPRESSORS = locally_supported_compressions  # name -> (compress, decompress)


# ------------------------------------------------------------------------------ helpers


def _driver_request(msg, stream: int, version: int, compression: str | None = None) -> bytes:
    """A request frame as cassandra-driver writes it (v5: plain frame, no segments)."""
    compress = DRIVER_COMPRESSORS[compression][0] if compression else None
    return ProtocolHandler.encode_message(msg, stream, version, compress, False)


def _driver_segments(frame: bytes, compression: str | None) -> bytes:
    codec = segment_codec_lz4 if compression == "lz4" else SegmentCodec()
    out = io.BytesIO()
    codec.encode(out, frame)
    return out.getvalue()


def _driver_read_responses(
    data: bytes, version: int, compression: str | None = None, segments: bool = False
):
    """Read response frames the way cassandra-driver does; returns (header, message) pairs."""
    if segments:
        codec = segment_codec_lz4 if compression == "lz4" else SegmentCodec()
        buf = io.BytesIO(data)
        joined = bytearray()
        while buf.tell() < len(data):
            header = codec.decode_header(buf)
            joined += codec.decode(buf, header).payload
        data = bytes(joined)
    decompress = DRIVER_COMPRESSORS[compression][1] if compression and not segments else None
    out = []
    pos = 0
    while pos < len(data):
        version_byte = data[pos]
        flags, stream, opcode, length = frame_header_v3.unpack_from(data, pos + 1)
        body = data[pos + 9 : pos + 9 + length]
        assert len(body) == length
        msg = ProtocolHandler.decode_message(
            version, {}, stream, flags, opcode, body, decompress, None
        )
        out.append(((version_byte, flags, stream, opcode), msg))
        pos += 9 + length
    return out


def _supported_body(options: dict[str, list[str]]) -> bytes:
    w = Writer()
    w.write_string_multimap(options)
    return w.getvalue()


def _feed_in_pieces(codec, data: bytes, size: int) -> list[Frame]:
    frames = []
    for start in range(0, len(data), size):
        frames.extend(codec.feed(data[start : start + size]))
    return frames


def _client_server(version: int, compressor=None, segments: bool = False):
    client = FrameCodec("client", version, negotiating=False)
    server = FrameCodec("server", version, negotiating=False)
    if compressor is not None and version < 5:
        client.compressor = compressor
        server.compressor = compressor
    if segments:
        client.start_segments(compressor)
        server.start_segments(compressor)
    return client, server


MODES = [
    # (version, compressor name, segments)
    (3, None, False),
    (3, "lz4", False),
    (3, "snappy", False),
    (4, None, False),
    (4, "lz4", False),
    (4, "snappy", False),
    (5, None, False),
    (5, None, True),
    (5, "lz4", True),
]
MODE_IDS = [f"v{v}-{c or 'plain'}{'-segments' if s else ''}" for v, c, s in MODES]


def _compressor(name):
    return get_compressor(name) if name else None


# ------------------------------------------------------------------------------ header


def test_header_layout():
    frame = encode_frame(4, 0, 1, Opcode.OPTIONS, b"")
    assert frame == b"\x04\x00\x00\x01\x05\x00\x00\x00\x00"
    frame = encode_frame(4, HeaderFlag.TRACING, -1, Opcode.EVENT, b"ab", is_response=True)
    assert frame == b"\x84\x02\xff\xff\x0c\x00\x00\x00\x02ab"
    assert encode_frame(0x85, 0, 300, Opcode.READY, b"")[:4] == b"\x85\x00\x01\x2c"
    assert decode_header(frame) == (4, 2, -1, 0x0C, 2)
    assert decode_header(b"\x05\x10\x7f\xff\x07\x00\x00\x00\x00", is_response=False) == (
        5,
        0x10,
        32767,
        7,
        0,
    )


def test_encode_frame_refuses_out_of_range_fields():
    with pytest.raises(ValueError):
        encode_frame(4, 0, 40000, Opcode.QUERY, b"")
    with pytest.raises(ValueError):
        encode_frame(4, 0, 1, 256, b"")


def test_encode_frame_compression_only_for_v3_v4_and_only_when_it_pays():
    body = b"SELECT * FROM t " * 50
    compressed = encode_frame(4, 0, 1, Opcode.QUERY, body, LZ4)
    assert compressed[1] == HeaderFlag.COMPRESSION
    assert compressed[9:] == LZ4.compress_body(body)
    raw = encode_frame(4, 0, 1, Opcode.QUERY, b"\x01\x02", LZ4)  # does not shrink
    assert raw[1] == 0 and raw[9:] == b"\x01\x02"
    v5 = encode_frame(5, 0, 1, Opcode.QUERY, body, LZ4)
    assert v5[1] == 0 and v5[9:] == body
    empty = encode_frame(4, HeaderFlag.COMPRESSION, 1, Opcode.OPTIONS, b"", LZ4)
    assert empty[1] == 0  # never claims compression it did not do


def test_all_flags_pass_through():
    flags = HeaderFlag.TRACING | HeaderFlag.CUSTOM_PAYLOAD | HeaderFlag.WARNING
    flags |= HeaderFlag.USE_BETA
    client, server = _client_server(4)
    [frame] = server.feed(client.encode(3, Opcode.QUERY, b"q", flags))
    assert frame.flags == flags
    [frame] = client.feed(server.encode(3, Opcode.RESULT, b"r", flags | 0x40))
    assert frame.flags == flags | 0x40  # unknown flag bits are ignored, not refused


# ------------------------------------------------------------------------------ cross-checks


@pytest.mark.parametrize(
    "version,compression",
    [
        (3, None),
        (3, "lz4"),
        (3, "snappy"),
        (4, None),
        (4, "lz4"),
        (4, "snappy"),
        (5, None),
        (5, "lz4"),  # cassandra-driver leaves v5 frames uncompressed: segments compress
    ],
)
def test_decode_cassandra_driver_requests(version, compression):
    msgs = [
        QueryMessage("SELECT * FROM system.local WHERE key = 'local'", consistency_level=1),
        OptionsMessage(),
        StartupMessage(cqlversion="3.0.0", options={"COMPRESSION": "lz4"}),
        RegisterMessage(event_list=["TOPOLOGY_CHANGE", "SCHEMA_CHANGE"]),
    ]
    wire = b"".join(_driver_request(m, i, version, compression) for i, m in enumerate(msgs))
    plain = b"".join(_driver_request(m, i, version) for i, m in enumerate(msgs))
    server = FrameCodec("server", version, _compressor(compression) if version < 5 else None)
    frames = server.feed(wire)
    assert [(f.version, f.stream, f.opcode) for f in frames] == [
        (version, i, m.opcode) for i, m in enumerate(msgs)
    ]
    # bodies come out decompressed, COMPRESSION flag cleared
    pos = 0
    for frame in frames:
        length = struct.unpack_from(">i", plain, pos + 5)[0]
        assert frame.body == plain[pos + 9 : pos + 9 + length]
        assert frame.flags == 0
        pos += 9 + length
    assert not server.negotiating  # the first frame of its version fixed it


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_decode_cassandra_driver_v5_segments(compression):
    server = FrameCodec("server", 5)
    server.start_segments(_compressor(compression))
    query = QueryMessage("SELECT * FROM ks.t WHERE k = 1", consistency_level=6)
    big = QueryMessage("SELECT '" + "x" * 400_000 + "' FROM t", consistency_level=1)
    frames = [
        _driver_request(query, 9, 5),
        _driver_request(big, 10, 5),
        _driver_request(query, 11, 5),
    ]
    wire = b"".join(_driver_segments(f, compression) for f in frames)
    rnd = random.Random(5)
    got = []
    pos = 0
    while pos < len(wire):
        step = rnd.randint(1, 40_000)
        got.extend(server.feed(wire[pos : pos + step]))
        pos += step
    assert [f.stream for f in got] == [9, 10, 11]
    assert [encode_frame(5, f.flags, f.stream, f.opcode, f.body) for f in got] == frames


@pytest.mark.parametrize("version,compression,segments", MODES, ids=MODE_IDS)
def test_cassandra_driver_decodes_our_responses(version, compression, segments):
    server = _client_server(version, _compressor(compression), segments)[1]
    options = {"CQL_VERSION": ["3.4.5"], "COMPRESSION": ["lz4", "snappy"], "X": ["y" * 3000]}
    wire = server.encode_many(
        [
            (0, Opcode.READY, b""),
            (1, Opcode.SUPPORTED, _supported_body(options)),
            (2, Opcode.SUPPORTED, _supported_body(options), 0),
        ]
    )
    read = _driver_read_responses(wire, version, compression, segments)
    assert read[0][0] == (0x80 | version, 0, 0, Opcode.READY)
    assert isinstance(read[0][1], ReadyMessage)
    for (version_byte, _flags, _stream, opcode), msg in read[1:]:
        assert version_byte == 0x80 | version and opcode == Opcode.SUPPORTED
        assert isinstance(msg, SupportedMessage)
        assert msg.options == {"COMPRESSION": ["lz4", "snappy"], "X": ["y" * 3000]}
        assert msg.cql_versions == ["3.4.5"]
    assert [h[2] for h, _ in read] == [0, 1, 2]
    if compression and not segments:
        # the empty READY went raw, the SUPPORTED bodies compressed (and the driver inflated them)
        assert [h[1] for h, _ in read] == [0, HeaderFlag.COMPRESSION, HeaderFlag.COMPRESSION]


# ------------------------------------------------------------------------------ round trips


def _sample_frames(rnd: random.Random, count: int, big: bool = False):
    out = []
    for i in range(count):
        n = rnd.choice([0, 1, 8, 9, 100, 4000, 70_000] + ([200_000, 300_000] if big else []))
        body = (b"row data %d " % i * (n // 10 + 1))[: n // 2] + rnd.randbytes(n - n // 2)
        out.append((i, Opcode.QUERY if i % 2 else Opcode.EXECUTE, body))
    return out


@pytest.mark.parametrize("version,compression,segments", MODES, ids=MODE_IDS)
def test_round_trip_both_directions(version, compression, segments):
    client, server = _client_server(version, _compressor(compression), segments)
    requests = _sample_frames(random.Random(version), 12, big=True)
    got = server.feed(client.encode_many(requests))
    assert [(f.stream, f.opcode, f.body) for f in got] == requests
    assert all(f.version == version and f.flags == 0 for f in got)
    responses = [(s, Opcode.RESULT, body[::-1]) for s, _, body in requests]
    got = []
    for stream, opcode, body in responses:
        got.extend(client.feed(server.encode(stream, opcode, body)))
    assert [(f.stream, f.opcode, f.body) for f in got] == responses
    assert client.buffered() == server.buffered() == 0


@pytest.mark.parametrize("version,compression,segments", MODES, ids=MODE_IDS)
def test_every_chunk_size(version, compression, segments):
    """The same streams fed in pieces of every size 1..N (segment and frame headers split
    at every possible offset), in both directions."""
    client, server = _client_server(version, _compressor(compression), segments)
    requests = [
        (0, Opcode.OPTIONS, b""),
        (1, Opcode.QUERY, b"SELECT * FROM t WHERE k = ?" * 3),
        (2, Opcode.EXECUTE, bytes(range(200))),
        (3, Opcode.PREPARE, b"p"),
    ]
    responses = [
        (-1, Opcode.EVENT, b"\x00\x0dSTATUS_CHANGE"),
        (1, Opcode.RESULT, b"r" * 300),
        (0, Opcode.SUPPORTED, b"\x00\x00"),
    ]
    to_server = client.encode_many(requests[:2]) + client.encode(*requests[2])
    to_server += client.encode(*requests[3])
    to_client = server.encode(*responses[0]) + server.encode_many(responses[1:])
    for size in range(1, max(len(to_server), len(to_client)) + 1):
        fresh_client, fresh_server = _client_server(version, _compressor(compression), segments)
        got = _feed_in_pieces(fresh_server, to_server, size)
        assert [(f.stream, f.opcode, f.body) for f in got] == requests, size
        got = _feed_in_pieces(fresh_client, to_client, size)
        assert [(f.stream, f.opcode, f.body) for f in got] == responses, size
        assert fresh_server.buffered() == fresh_client.buffered() == 0


def test_segment_header_split_across_reads():
    """A read that ends inside a segment header (reported as where cassandra-driver 3.30.1
    corrupts v5 streams under load): every cut inside both headers."""
    server = _client_server(5, None, True)[1]
    one = server.encode(1, Opcode.RESULT, b"a" * 100)
    two = server.encode(2, Opcode.RESULT, b"b" * 100)
    wire = one + two
    for cut in [*range(1, 7), *range(len(one) + 1, len(one) + 7)]:
        codec = _client_server(5, None, True)[0]
        got = codec.feed(wire[:cut]) + codec.feed(wire[cut:])
        assert [(f.stream, f.body) for f in got] == [(1, b"a" * 100), (2, b"b" * 100)], cut


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(MODES),
    st.lists(st.tuples(st.integers(-1, 32767), st.binary(max_size=5000)), min_size=1, max_size=8),
    st.lists(st.integers(0, 50_000), max_size=25),
    st.booleans(),
)
def test_hypothesis_split_points(mode, items, cuts, pack):
    version, compression, segments = mode
    client, server = _client_server(version, _compressor(compression), segments)
    responses = [(stream, Opcode.RESULT, body) for stream, body in items]
    if pack:
        wire = server.encode_many(responses)
    else:
        wire = b"".join(server.encode(*r) for r in responses)
    points = sorted({min(c, len(wire)) for c in cuts} | {0, len(wire)})
    got = []
    for a, b in itertools.pairwise(points):
        got.extend(client.feed(wire[a:b]))
    assert [(f.stream, f.opcode, f.body) for f in got] == responses


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_large_frame_split_across_segments_and_reassembled(compression):
    client, server = _client_server(5, _compressor(compression), True)
    body = random.Random(1).randbytes(600_000) + b"\x00" * 400_000
    wire = server.encode(7, Opcode.RESULT, body)
    payloads = SegmentDecoder(_compressor(compression)).feed(wire)
    assert len(payloads) == -(-(len(body) + 9) // MAX_SEGMENT_PAYLOAD)
    assert not any(sc for _, sc in payloads)
    got = _feed_in_pieces(client, wire, 65536)
    assert [(f.stream, f.body) for f in got] == [(7, body)]


def test_encode_many_coalesces_small_frames_into_one_segment():
    client, server = _client_server(5, None, True)
    items = [(i, Opcode.QUERY, b"SELECT %d" % i) for i in range(500)]
    wire = client.encode_many(items)
    payloads = SegmentDecoder().feed(wire)
    assert len(payloads) == 1 and payloads[0][1] is True
    assert [(f.stream, f.body) for f in server.feed(wire)] == [(s, b) for s, _, b in items]
    # and with a frame too large for a segment in the middle: order kept, rules kept
    items.insert(250, (999, Opcode.QUERY, b"L" * 300_000))
    wire = client.encode_many(items)
    flags = [sc for _, sc in SegmentDecoder().feed(wire)]
    assert flags == [True, False, False, False, True]
    assert [f.stream for f in server.feed(wire)] == [s for s, _, _ in items]


def test_compressed_v4_stream_with_uncompressed_frames_mixed_in():
    # the COMPRESSION flag is per frame: a peer may send small frames raw
    client, server = _client_server(4, LZ4)
    wire = encode_frame(4, 0, 1, Opcode.RESULT, b"raw", is_response=True)
    wire += server.encode(2, Opcode.RESULT, b"compressible " * 20)
    assert [f.body for f in client.feed(wire)] == [b"raw", b"compressible " * 20]


# ------------------------------------------------------------------------------ negotiation


def test_client_reads_an_error_in_a_lower_version_while_negotiating():
    client = FrameCodec("client", 5)
    assert client.negotiating
    client.encode(0, Opcode.OPTIONS, b"")
    error = encode_frame(4, 0, 0, Opcode.ERROR, b"\x00\x00\x00\x0a\x00\x03bad", is_response=True)
    [frame] = client.feed(error)
    assert frame.version == 4 and frame.opcode == Opcode.ERROR
    assert client.negotiating  # not its own version: still open
    client.version = 4
    [frame] = client.feed(encode_frame(4, 0, 0, Opcode.SUPPORTED, b"\x00\x00", is_response=True))
    assert not client.negotiating and client.version == 4
    with pytest.raises(ValueError):
        client.version = 3
    with pytest.raises(UnsupportedProtocolVersion) as info:
        client.feed(encode_frame(3, 0, 0, Opcode.READY, b"", is_response=True))
    assert info.value.version == 3


def test_server_reads_a_first_frame_of_any_version():
    server = FrameCodec("server", 4)
    [frame] = server.feed(encode_frame(6, HeaderFlag.USE_BETA, 0, Opcode.OPTIONS, b""))
    assert frame.version == 6 and server.negotiating
    reply = server.encode(0, Opcode.ERROR, b"...")
    assert reply[0] == 0x84  # answered in its own version
    server.version = 5
    [frame] = server.feed(encode_frame(5, 0, 0, Opcode.STARTUP, b"\x00\x00"))
    assert not server.negotiating


def test_version_below_3_fails_on_the_first_byte():
    # a v2 header is 8 bytes: waiting for a 9th byte could hang forever
    for codec in (FrameCodec("server", 4), FrameCodec("server", 4, negotiating=False)):
        with pytest.raises(UnsupportedProtocolVersion) as info:
            codec.feed(b"\x02")
        assert info.value.version == 2


def test_fixed_version_mismatch():
    server = FrameCodec("server", 4, negotiating=False)
    with pytest.raises(UnsupportedProtocolVersion):
        server.feed(encode_frame(5, 0, 0, Opcode.OPTIONS, b""))
    decoder = FrameDecoder(3, is_response=True)
    with pytest.raises(UnsupportedProtocolVersion):
        decoder.feed(b"\x84")  # checked on the first byte


# ------------------------------------------------------------------------------ v5 switch


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_v5_handshake_then_segments(compression):
    comp = _compressor(compression)
    client, server = FrameCodec("client", 5), FrameCodec("server", 5)
    startup = client.encode(0, Opcode.STARTUP, b"\x00\x01\x00\x0bCQL_VERSION\x00\x053.0.0")
    [frame] = server.feed(startup)
    ready = server.encode(0, Opcode.READY, b"")
    assert ready[:1] == b"\x85"  # a plain frame
    assert server.start_segments(comp) == []
    # the server's next frame, sent in the same TCP read as READY
    event = server.encode(-1, Opcode.EVENT, b"event body")
    got = client.feed(ready + event[:5])
    assert [f.opcode for f in got] == [Opcode.READY]  # stopped at the switch point
    [frame] = client.start_segments(comp) + client.feed(event[5:])
    assert (frame.stream, frame.opcode, frame.body) == (-1, Opcode.EVENT, b"event body")
    [frame] = server.feed(client.encode(1, Opcode.QUERY, b"q"))
    assert frame.body == b"q" and client.segments and server.segments


def test_v5_authenticate_also_switches():
    client = FrameCodec("client", 5)
    auth = encode_frame(5, 0, 0, Opcode.AUTHENTICATE, b"\x00\x03abc", is_response=True)
    seg = SegmentEncoder().encode(encode_frame(5, 0, 0, Opcode.AUTH_SUCCESS, b"", is_response=True))
    assert [f.opcode for f in client.feed(auth + seg)] == [Opcode.AUTHENTICATE]
    assert [f.opcode for f in client.start_segments()] == [Opcode.AUTH_SUCCESS]


def test_start_segments_rules():
    with pytest.raises(ValueError):
        FrameCodec("client", 4).start_segments()
    codec = FrameCodec("client", 5)
    codec.start_segments()
    with pytest.raises(ValueError):
        codec.start_segments()
    with pytest.raises(CompressionError):
        FrameCodec("client", 5).start_segments(SNAPPY)


def test_v4_client_does_not_stop_at_ready():
    client = FrameCodec("client", 4)
    wire = encode_frame(4, 0, 0, Opcode.READY, b"", is_response=True) * 3
    assert len(client.feed(wire)) == 3


# ------------------------------------------------------------------------------ malformed input


def _header(version_byte=0x84, flags=0, stream=0, opcode=Opcode.RESULT, length=0) -> bytes:
    return struct.pack(">BBhBi", version_byte, flags, stream, opcode, length)


def test_truncated_frames_wait_without_error():
    client = FrameCodec("client", 4)
    frame = encode_frame(4, 0, 5, Opcode.RESULT, b"0123456789", is_response=True)
    for cut in range(len(frame)):
        codec = FrameCodec("client", 4)
        assert codec.feed(frame[:cut]) == []
        assert codec.buffered() == cut
    assert len(client.feed(frame)) == 1


def test_negative_length():
    with pytest.raises(MalformedError, match="negative"):
        FrameCodec("client", 4).feed(_header(length=-1))


def test_declared_length_above_maximum_is_refused_on_the_header_alone():
    client = FrameCodec("client", 4, max_body_length=1000)
    with pytest.raises(FrameTooLarge):
        client.feed(_header(length=1001))
    client = FrameCodec("client", 4)  # the default: 256 MB
    with pytest.raises(FrameTooLarge):
        client.feed(_header(length=0x7FFFFFFF))
    ok = FrameCodec("client", 4, max_body_length=1000)
    assert ok.feed(_header(length=1000)) == []


def test_declared_length_above_maximum_inside_segments():
    client, server = _client_server(5, None, True)
    client = FrameCodec("client", 5, max_body_length=100_000)
    client.start_segments()
    wire = server.encode(1, Opcode.RESULT, b"x" * 500_000)
    with pytest.raises(FrameTooLarge):
        client.feed(wire[:200_000])  # the first segment is enough to know


@pytest.mark.parametrize("opcode", [0x04, 0x11, 0x7F, 0xFF])
def test_unknown_opcode(opcode):
    with pytest.raises(UnknownOpcode, match="unknown"):
        FrameCodec("client", 4).feed(_header(opcode=opcode))
    with pytest.raises(UnknownOpcode):
        FrameCodec("server", 4).feed(_header(version_byte=4, opcode=opcode))


def test_opcode_of_the_wrong_direction():
    with pytest.raises(UnknownOpcode, match="not a response"):
        FrameCodec("client", 4).feed(_header(opcode=Opcode.QUERY))
    with pytest.raises(UnknownOpcode, match="not a request"):
        FrameCodec("server", 4).feed(_header(version_byte=4, opcode=Opcode.RESULT))


def test_direction_bit_mismatch():
    with pytest.raises(MalformedError, match="expected a response"):
        FrameCodec("client", 4).feed(b"\x04")
    with pytest.raises(MalformedError, match="expected a request"):
        FrameCodec("server", 4).feed(b"\x84")


def test_compressed_frame_without_compression():
    frame = encode_frame(4, 0, 1, Opcode.RESULT, b"a" * 100, LZ4, is_response=True)
    with pytest.raises(CompressionError):
        FrameCodec("client", 4).feed(frame)


def test_compressed_body_lying_about_its_size():
    body = b"\xff\xff\xff\xff" + LZ4.compress_segment(b"a" * 100)  # claims 4 GiB
    frame = _header(flags=HeaderFlag.COMPRESSION, length=len(body)) + body
    with pytest.raises(FrameTooLarge):
        FrameCodec("client", 4, LZ4).feed(frame)
    body = struct.pack(">I", 101) + LZ4.compress_segment(b"a" * 100)
    frame = _header(flags=HeaderFlag.COMPRESSION, length=len(body)) + body
    with pytest.raises(CompressionError):
        FrameCodec("client", 4, LZ4).feed(frame)
    frame = _header(flags=HeaderFlag.COMPRESSION, length=6) + b"\x00\x00\x00\x10\xff\xff"
    with pytest.raises(CompressionError):
        FrameCodec("client", 4, LZ4).feed(frame)


def test_errors_are_sticky():
    client = FrameCodec("client", 4)
    with pytest.raises(UnknownOpcode):
        client.feed(_header(opcode=0x04))
    with pytest.raises(UnknownOpcode):
        client.feed(encode_frame(4, 0, 0, Opcode.READY, b"", is_response=True))


def _segment(payload: bytes, self_contained: bool) -> bytes:
    out = bytearray()
    SegmentEncoder().write_segment(out, payload, self_contained)
    return bytes(out)


def test_self_contained_segment_ending_inside_a_frame():
    client = FrameCodec("client", 5)
    client.start_segments()
    frame = encode_frame(5, 0, 1, Opcode.RESULT, b"abcdef", is_response=True)
    with pytest.raises(MalformedError, match="ends inside a frame"):
        client.feed(_segment(frame + frame[:4], True))


def test_self_contained_segment_inside_a_multi_segment_frame():
    client = FrameCodec("client", 5)
    client.start_segments()
    frame = encode_frame(5, 0, 1, Opcode.RESULT, b"abcdef", is_response=True)
    small = encode_frame(5, 0, 2, Opcode.RESULT, b"", is_response=True)
    assert client.feed(_segment(frame[:10], False)) == []
    with pytest.raises(MalformedError, match="incomplete"):
        client.feed(_segment(small, True))


def test_non_self_contained_segment_with_two_frames():
    client = FrameCodec("client", 5)
    client.start_segments()
    frame = encode_frame(5, 0, 1, Opcode.RESULT, b"abcdef", is_response=True)
    assert client.feed(_segment(frame[:10], False)) == []
    with pytest.raises(MalformedError, match="more than one frame"):
        client.feed(_segment(frame[10:] + frame, False))


def test_multi_segment_frame_in_odd_pieces_is_accepted():
    # the spec says how frames are cut, not where: any cut of one frame is fine
    client = FrameCodec("client", 5)
    client.start_segments()
    frame = encode_frame(5, 0, 1, Opcode.RESULT, b"abcdefghij" * 10, is_response=True)
    wire = b"".join(_segment(frame[i : i + 7], False) for i in range(0, len(frame), 7))
    wire += _segment(frame, True)
    assert [f.stream for f in client.feed(wire)] == [1, 1]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(MODES), st.sampled_from(["client", "server"]))
def test_fuzz_random_bytes_raise_only_protocol_errors(data, mode, role):
    version, compression, segments = mode
    codec = FrameCodec(role, version, _compressor(compression), max_body_length=10_000)
    if segments:
        codec.start_segments(_compressor(compression))
    try:
        for start in range(0, len(data), 11):
            for frame in codec.feed(data[start : start + 11]):
                assert isinstance(frame, Frame)
    except ProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(MODES),
    st.integers(0, 10_000),
    st.integers(0, 255),
    st.integers(0, 2),
)
def test_fuzz_corrupted_valid_streams(mode, position, value, kind):
    """A valid stream with one byte changed, removed or inserted: frames or a ProtocolError."""
    version, compression, segments = mode
    client, server = _client_server(version, _compressor(compression), segments)
    wire = bytearray(
        server.encode_many(
            [(i, Opcode.RESULT, b"result %d " % i * 30) for i in range(5)]
            + [(9, Opcode.EVENT, b"e")]
        )
    )
    position %= len(wire)
    if kind == 0:
        wire[position] = value
    elif kind == 1:
        del wire[position]
    else:
        wire.insert(position, value)
    client.max_body_length = 10_000
    try:
        _feed_in_pieces(client, bytes(wire), 13)
    except ProtocolError:
        pass


# ------------------------------------------------------------------------------ fast paths
#
# FrameDecoder.feed reads a chunk that is exactly one frame straight off the bytes (the usual
# read at low concurrency), and decode_exact does the same for a segment holding one frame.
# Fed as a bytearray, the same chunk takes the general path: both must agree on frames and on
# errors, whatever the header says.


def _outcome(fn, data):
    try:
        return [tuple(f) for f in fn(data)]
    except ProtocolError as exc:
        return (type(exc), str(exc))


@pytest.mark.parametrize("role", ["client", "server"])
@pytest.mark.parametrize("version", [3, 4, 5])
def test_one_frame_chunks_fast_path_matches_general_path(role, version):
    is_response = role == "client"
    frames = [
        encode_frame(version, flags, stream, opcode, body, is_response=is_response)
        for flags in (0, HeaderFlag.TRACING | HeaderFlag.WARNING, HeaderFlag.CUSTOM_PAYLOAD)
        for stream in (0, 1, 32767, -1)
        for opcode, body in (
            (Opcode.RESULT if is_response else Opcode.QUERY, b""),
            (Opcode.EVENT if is_response else Opcode.EXECUTE, b"x"),
            (Opcode.SUPPORTED if is_response else Opcode.OPTIONS, b"body " * 50),
        )
    ]
    fast = FrameCodec(role, version, negotiating=False)
    general = FrameCodec(role, version, negotiating=False)
    for frame in frames:
        got = fast.feed(frame)
        assert got == general.feed(bytearray(frame))
        [one] = got
        assert type(one) is Frame and type(one.body) is bytes
        assert one.version == version
        again = encode_frame(
            version, one.flags, one.stream, one.opcode, one.body, is_response=is_response
        )
        assert again == frame
    assert fast.buffered() == general.buffered() == 0


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(-32768, 32767),
    st.integers(0, 255),
    st.binary(max_size=40),
    st.integers(-3, 3),
    st.sampled_from(["client", "server"]),
    st.sampled_from([3, 4, 5]),
)
def test_fuzz_one_frame_headers_fast_and_general_paths_agree(
    version_byte, flags, stream, opcode, body, length_delta, role, version
):
    data = struct.pack(">BBhBi", version_byte, flags, stream, opcode, len(body) + length_delta)
    data += body
    fast = FrameCodec(role, version, negotiating=False, max_body_length=30)
    general = FrameCodec(role, version, negotiating=False, max_body_length=30)
    assert _outcome(fast.feed, data) == _outcome(general.feed, bytearray(data))
    if role == "client":
        fast_decoder = FrameDecoder(version, is_response=True, max_body_length=30)
        general_decoder = FrameDecoder(version, is_response=True, max_body_length=30)
        assert _outcome(fast_decoder.decode_exact, data) == _outcome(
            general_decoder.decode_exact, memoryview(data)
        )


def test_one_frame_fast_path_refusals_on_a_fixed_version():
    """Errors from single-frame reads of a codec whose version is fixed (the fast path's
    only case): the precise errors of the general path."""

    def client(**kw):
        return FrameCodec("client", 4, negotiating=False, **kw)

    with pytest.raises(UnsupportedProtocolVersion):
        client().feed(encode_frame(3, 0, 0, Opcode.RESULT, b"", is_response=True))
    with pytest.raises(MalformedError, match="request frame"):
        client().feed(encode_frame(4, 0, 0, Opcode.RESULT, b""))
    with pytest.raises(UnknownOpcode, match="not a response"):
        client().feed(encode_frame(4, 0, 0, Opcode.QUERY, b"", is_response=True))
    with pytest.raises(FrameTooLarge):
        client(max_body_length=3).feed(_header(length=4) + b"abcd")
    compressed = _header(flags=HeaderFlag.COMPRESSION, length=4) + b"abcd"
    with pytest.raises(CompressionError):
        client().feed(compressed)
    lz4_client = client()
    lz4_client.compressor = LZ4
    body = b"compressible " * 20
    [frame] = lz4_client.feed(encode_frame(4, 0, 7, Opcode.RESULT, body, LZ4, is_response=True))
    assert frame.flags == 0
    assert (frame.stream, frame.flags, frame.body) == (7, 0, body)


def test_one_frame_fast_path_keeps_the_v5_switch_point():
    """A v5 client whose version is fixed but segments not yet on still stops after READY;
    a READY alone in a read is returned, what follows is segments."""
    client = FrameCodec("client", 5, negotiating=False)
    ready = encode_frame(5, 0, 0, Opcode.READY, b"", is_response=True)
    assert [f.opcode for f in client.feed(ready)] == [Opcode.READY]
    assert client.start_segments() == []
    seg = SegmentEncoder().encode(
        encode_frame(5, 0, 3, Opcode.RESULT, b"\x00\x00\x00\x01", is_response=True)
    )
    [frame] = client.feed(seg)
    assert (frame.stream, frame.body) == (3, b"\x00\x00\x00\x01")


@pytest.mark.parametrize("compression", [None, "lz4"])
def test_one_frame_segments_fast_path(compression):
    """Segments holding exactly one frame (decode_exact's fast path), several frames, and
    frames inside a multi-segment run, in one stream."""
    comp = _compressor(compression)
    client, server = _client_server(5, comp, True)
    items = [(1, Opcode.RESULT, b"a"), (2, Opcode.RESULT, b""), (-1, Opcode.EVENT, b"e" * 50)]
    wire = server.encode(*items[0]) + server.encode_many(items[1:])
    wire += server.encode(4, Opcode.RESULT, b"big" * 60_000)
    wire += server.encode(5, Opcode.ERROR, b"z")
    got = client.feed(wire)
    assert [(f.stream, f.opcode, f.body) for f in got] == [
        *items,
        (4, Opcode.RESULT, b"big" * 60_000),
        (5, Opcode.ERROR, b"z"),
    ]
    with pytest.raises(UnsupportedProtocolVersion):
        client.feed(
            SegmentEncoder(comp).encode(encode_frame(4, 0, 1, Opcode.RESULT, b"", is_response=True))
        )
