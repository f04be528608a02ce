"""The handshake machines driving two FrameCodecs (client and server roles) over bytes fed a few
at a time: the outputs (EnableCompression, StartSegments) land where frames.py expects them, then
a query and its rows cross the connection compressed (v3/v4 frames, v5 lz4 segments)."""

from __future__ import annotations

import pytest

from greencql.protocol import types as T
from greencql.protocol.auth import PlainTextAuthenticator
from greencql.protocol.compression import available_compressors, get_compressor
from greencql.protocol.constants import ConsistencyLevel
from greencql.protocol.frames import FrameCodec
from greencql.protocol.handshake import (
    ClientHandshake,
    EnableCompression,
    HandshakeDone,
    SendRequest,
    SendResponse,
    ServerHandshake,
    StartSegments,
)
from greencql.protocol.messages import (
    Query,
    QueryParameters,
    RowsResult,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    request_flags,
)
from greencql.protocol.rows import ColumnSpec, ResultMetadata

pytestmark = pytest.mark.skipif("lz4" not in available_compressors(), reason="lz4 not installed")


def chunks(data: bytes, size: int = 3):
    for i in range(0, len(data), size):
        yield data[i : i + size]


def feed(codec: FrameCodec, data: bytes):
    frames = []
    for piece in chunks(data):
        frames.extend(codec.feed(piece))
    return frames


class Pair:
    def __init__(self, version: int, credentials=None, authenticator=None):
        self.version = version
        self.client_codec = FrameCodec("client", version)
        self.server_codec = FrameCodec("server", version)
        self.client = ClientHandshake(version, compression=("lz4",), authenticator=authenticator)
        self.server = ServerHandshake(version, credentials=credentials)
        self.done: HandshakeDone | None = None
        self.server_done: HandshakeDone | None = None
        self.transcript: list[str] = []

    def _client_outputs(self, outputs):
        for out in outputs:
            if isinstance(out, SendRequest):
                msg = out.message
                data = self.client_codec.encode(
                    0, msg.opcode, encode_request(msg, self.version), request_flags(msg)
                )
                self.transcript.append(f"-> {type(msg).__name__}")
                self._server_receive(data)
            elif isinstance(out, EnableCompression):
                self.client_codec.compressor = get_compressor(out.name)
            elif isinstance(out, StartSegments):
                leftover = self.client_codec.start_segments(
                    get_compressor(out.compression) if out.compression else None
                )
                assert leftover == []
                self.transcript.append("client segments")
            elif isinstance(out, HandshakeDone):
                self.done = out

    def _server_receive(self, data: bytes):
        for frame in feed(self.server_codec, data):
            request = decode_request(frame.opcode, frame.body, self.version, frame.flags)
            replies = []
            for out in self.server.receive(request):
                if isinstance(out, SendResponse):
                    flags, body = encode_response(out.message, self.version)
                    replies.append(
                        self.server_codec.encode(frame.stream, out.message.opcode, body, flags)
                    )
                elif isinstance(out, EnableCompression):
                    self.server_codec.compressor = get_compressor(out.name)
                elif isinstance(out, StartSegments):
                    self.server_codec.start_segments(
                        get_compressor(out.compression) if out.compression else None
                    )
                    self.transcript.append("server segments")
                elif isinstance(out, HandshakeDone):
                    self.server_done = out
            for reply in replies:
                self._client_receive(reply)

    def _client_receive(self, data: bytes):
        for frame in feed(self.client_codec, data):
            msg = decode_response(frame.opcode, frame.flags, frame.body, self.version)
            self.transcript.append(f"<- {type(msg).__name__}")
            self._client_outputs(self.client.receive(msg, frame.version))

    def run(self):
        self._client_outputs(self.client.start())
        return self


COLS = (ColumnSpec("ks", "t", "k", T.INT), ColumnSpec("ks", "t", "v", T.TEXT))


def query_round_trip(pair: Pair):
    """One QUERY and a ROWS answer big enough to be worth compressing."""
    v = pair.version
    query = Query("SELECT k, v FROM ks.t", QueryParameters(ConsistencyLevel.ONE, page_size=100))
    data = pair.client_codec.encode(7, query.opcode, encode_request(query, v))
    [frame] = feed(pair.server_codec, data)
    assert decode_request(frame.opcode, frame.body, v, frame.flags) == query
    rows = [(i, "value " * 20) for i in range(50)]
    flags, body = encode_response(RowsResult(ResultMetadata.of(COLS), rows), v)
    data = pair.server_codec.encode(frame.stream, 0x08, body, flags)
    assert len(data) < len(body) / 2  # compressed
    [frame] = feed(pair.client_codec, data)
    assert frame.stream == 7
    result = decode_response(frame.opcode, frame.flags, frame.body, v)
    assert result.rows == rows


@pytest.mark.parametrize("version", (3, 4, 5))
def test_handshake_over_frames_without_auth(version):
    pair = Pair(version).run()
    assert pair.done is not None and pair.done.compression == "lz4"
    assert pair.server_done is not None
    expected = ["-> Options", "<- Supported", "-> Startup", "<- Ready"]
    if version >= 5:
        expected += ["server segments", "client segments"]
    # the server switches as soon as it has encoded READY; the client once it has read it
    assert sorted(pair.transcript) == sorted(expected)
    query_round_trip(pair)


@pytest.mark.parametrize("version", (3, 4, 5))
def test_handshake_over_frames_with_auth(version):
    pair = Pair(
        version,
        credentials={"cassandra": "cassandra"},
        authenticator=PlainTextAuthenticator("cassandra", "cassandra"),
    ).run()
    assert pair.done is not None
    assert pair.server_done is not None and pair.server_done.username == "cassandra"
    names = [t for t in pair.transcript if "segments" not in t]
    assert names == [
        "-> Options",
        "<- Supported",
        "-> Startup",
        "<- Authenticate",
        "-> AuthResponse",
        "<- AuthSuccess",
    ]
    if version >= 5:
        # segments start right after AUTHENTICATE: the SASL exchange travels in segments
        assert pair.transcript.index("client segments") < pair.transcript.index("-> AuthResponse")
        assert (
            pair.transcript.index("server segments") < pair.transcript.index("<- Authenticate") + 2
        )
    query_round_trip(pair)
