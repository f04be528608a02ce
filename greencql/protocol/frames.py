"""Frames: the 9-byte header of protocol v3, v4 and v5, and the codec the socket layer drives.

A frame is ``version | flags | stream | opcode | length`` (1 + 1 + 2 + 1 + 4 bytes, big-endian;
the stream id is signed and -1 marks server events; the high bit of the version byte is set on
responses) followed by ``length`` bytes of body. In v3/v4 the body may be compressed (the
COMPRESSION flag); in v5 frames travel inside segments (``segments.py``) once the handshake is
past STARTUP, and compression happens per segment.

What this module owns:

- :class:`Frame`, :func:`encode_frame` and :class:`FrameDecoder` (plain frames, any chunking);
- :class:`FrameCodec`, the one object a connection drives in either role: ``encode`` /
  ``encode_many`` produce the bytes to send, ``feed`` turns received bytes into frames,
  ``start_segments`` switches v5 connections to segments.

What it must not do: IO, clocks, interpreting bodies (``messages.py`` does that), or raising
anything but a :class:`~greencql.errors.ProtocolError` subclass on bad input. Declared lengths
are checked against ``max_body_length`` as soon as the header is complete, before the body is
awaited or anything is allocated for it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

from greencql._speedups import twin
from greencql.errors import (
    CompressionError,
    FrameTooLarge,
    MalformedError,
    ProtocolError,
    UnknownOpcode,
    UnsupportedProtocolVersion,
)
from greencql.protocol.compression import Compressor
from greencql.protocol.constants import (
    DEFAULT_MAX_FRAME_BODY,
    HEADER_LENGTH,
    MAX_SUPPORTED_VERSION,
    MIN_SUPPORTED_VERSION,
    REQUEST_OPCODES,
    RESPONSE_DIRECTION,
    RESPONSE_OPCODES,
    HeaderFlag,
    Opcode,
)
from greencql.protocol.segments import SegmentDecoder, SegmentEncoder

__all__ = [
    "Frame",
    "FrameHeader",
    "encode_frame",
    "encode_plain_frames",
    "decode_header",
    "FrameDecoder",
    "FrameCodec",
    "Role",
]

Role = Literal["client", "server"]

_HEADER = struct.Struct(">BBhBi")
_COMPRESSION = int(HeaderFlag.COMPRESSION)
_NOT_COMPRESSION = 0xFF & ~_COMPRESSION
_VERSION_MASK = 0x7F
_ALL_OPCODES = frozenset(int(op) for op in Opcode)
_REQUEST_OPCODES = frozenset(int(op) for op in REQUEST_OPCODES)
_RESPONSE_OPCODES = frozenset(int(op) for op in RESPONSE_OPCODES)
# After one of these responses a v5 connection switches to segments (cassandra-driver 3.30.1
# and Cassandra 4 both switch right after the response to STARTUP, READY or AUTHENTICATE).
_SEGMENT_SWITCH_OPCODES = frozenset({int(Opcode.READY), int(Opcode.AUTHENTICATE)})
# Compact the receive buffer once this many consumed bytes sit at its front.
_COMPACT_AT = 64 * 1024


class Frame(NamedTuple):
    """One decoded frame. ``version`` excludes the direction bit; ``body`` is decompressed
    (and the COMPRESSION flag cleared from ``flags`` once it has been)."""

    version: int
    flags: int
    stream: int
    opcode: int
    body: bytes


# tuple.__new__ straight away: the NamedTuple constructor's keyword handling costs more than
# everything else done per frame on the fast path
_new_frame = tuple.__new__


class FrameHeader(NamedTuple):
    """A parsed, validated 9-byte header."""

    version: int
    flags: int
    stream: int
    opcode: int
    length: int


def encode_frame(
    version: int,
    flags: int,
    stream: int,
    opcode: int,
    body: bytes | bytearray | memoryview,
    compressor: Compressor | None = None,
    *,
    is_response: bool = False,
) -> bytes:
    """The bytes of one frame.

    With a ``compressor`` and a v3/v4 ``version``, a non-empty body is compressed and the
    COMPRESSION flag set, unless compression does not shrink it (then it goes raw, flag clear:
    the flag is per frame, so that is always allowed). v5 frames are never compressed here:
    v5 compresses segments. ``is_response`` sets the direction bit (so does passing a version
    that already has it).
    """
    flags &= _NOT_COMPRESSION
    if compressor is not None and (version & _VERSION_MASK) < 5 and len(body):
        compressed = compressor.compress_body(bytes(body))
        if len(compressed) < len(body):
            body = compressed
            flags |= _COMPRESSION
    if is_response:
        version |= RESPONSE_DIRECTION
    try:
        header = _HEADER.pack(version, flags, stream, opcode, len(body))
    except struct.error as exc:
        raise ValueError(
            f"frame header out of range: version={version} flags={flags} stream={stream} "
            f"opcode={opcode}: {exc}"
        ) from None
    return header + body


def decode_header(
    data: bytes | bytearray | memoryview,
    pos: int = 0,
    *,
    version: int | None = None,
    is_response: bool = True,
    max_body_length: int = DEFAULT_MAX_FRAME_BODY,
) -> FrameHeader:
    """Parse and validate the 9-byte header at ``pos`` (``version=None`` accepts any v3+)."""
    return _check_header(data, pos, version, is_response, max_body_length)


def _check_version_byte(byte: int, expected: int | None, is_response: bool) -> int:
    if bool(byte & RESPONSE_DIRECTION) != is_response:
        want = "response" if is_response else "request"
        got = "response" if byte & RESPONSE_DIRECTION else "request"
        raise MalformedError(
            f"received a {got} frame (version byte {byte:#04x}), expected a {want}"
        )
    version = byte & _VERSION_MASK
    if version < MIN_SUPPORTED_VERSION:
        # v1/v2 frames have an 8-byte header: nothing after this byte can be parsed.
        raise UnsupportedProtocolVersion(
            f"peer speaks protocol v{version}; greencql needs v{MIN_SUPPORTED_VERSION} or later",
            version=version,
        )
    if expected is not None and version != expected:
        raise UnsupportedProtocolVersion(
            f"received a v{version} frame on a v{expected} connection", version=version
        )
    return version


def _check_header(
    data: bytes | bytearray | memoryview,
    pos: int,
    expected: int | None,
    is_response: bool,
    max_body_length: int,
) -> FrameHeader:
    byte, flags, stream, opcode, length = _HEADER.unpack_from(data, pos)
    version = _check_version_byte(byte, expected, is_response)
    if opcode not in (_RESPONSE_OPCODES if is_response else _REQUEST_OPCODES):
        if opcode in _ALL_OPCODES:
            raise UnknownOpcode(
                f"opcode {Opcode(opcode).name} ({opcode:#04x}) is not a "
                f"{'response' if is_response else 'request'}"
            )
        raise UnknownOpcode(f"unknown opcode {opcode:#04x}")
    if length < 0:
        raise MalformedError(f"negative frame body length {length}")
    if length > max_body_length:
        raise FrameTooLarge(
            f"frame declares a {length}-byte body, more than the maximum {max_body_length}"
        )
    return FrameHeader(version, flags, stream, opcode, length)


class FrameDecoder:
    """Turns a byte stream of plain (unsegmented) frames into :class:`Frame` objects.

    ``version=None`` is negotiating mode: frames of any version v3 and up are accepted and
    carry their own ``version`` (a server answers a too-high STARTUP with an ERROR in its own
    version; the simulator reads a client's first frame before choosing one). Otherwise a
    frame of another version raises UnsupportedProtocolVersion.

    ``is_response``: True to decode what a server sends (client side), False for requests.
    """

    __slots__ = (
        "_buf",
        "_error",
        "_pos",
        "compressor",
        "is_response",
        "max_body_length",
        "stop_after_switch",
        "version",
    )

    def __init__(
        self,
        version: int | None = None,
        *,
        is_response: bool = True,
        max_body_length: int = DEFAULT_MAX_FRAME_BODY,
        compressor: Compressor | None = None,
    ) -> None:
        self.version = version
        self.is_response = is_response
        self.max_body_length = max_body_length
        self.compressor = compressor
        # v5 client: stop after READY/AUTHENTICATE, what follows is segments (FrameCodec)
        self.stop_after_switch = False
        self._buf = bytearray()
        self._pos = 0
        self._error: ProtocolError | None = None

    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf) - self._pos

    def take_buffered(self) -> bytes:
        """Remove and return the unconsumed bytes (used when a connection switches to
        segments: what follows the switch is segment bytes)."""
        rest = bytes(self._buf[self._pos :])
        self._buf.clear()
        self._pos = 0
        return rest

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Frames completed by ``data`` (possibly none); any chunking is fine."""
        if self._error is not None:
            raise self._error
        buf = self._buf
        if not buf and type(data) is bytes:
            # Nothing buffered and, usually at low concurrency, one response per read.
            frame = self._whole_frame(data)
            if frame is not None:
                return [frame]
        try:
            if self._pos == len(buf) and isinstance(data, bytes):
                # Fast path: nothing buffered, parse straight from the caller's bytes.
                frames, used = self._parse(data, 0, len(data))
                buf.clear()
                self._pos = 0
                if used < len(data):
                    buf += memoryview(data)[used:]
                return frames
            buf += data
            with memoryview(buf) as view:
                frames, self._pos = self._parse(view, self._pos, len(buf))
        except ProtocolError as exc:
            self._error = exc
            raise
        if self._pos == len(buf):
            buf.clear()
            self._pos = 0
        elif self._pos >= _COMPACT_AT:
            del buf[: self._pos]
            self._pos = 0
        return frames

    def decode_exact(self, data: bytes | memoryview) -> list[Frame]:
        """Frames filling ``data`` exactly (a self-contained v5 segment); a partial frame
        at the end raises MalformedError."""
        if type(data) is bytes:
            frame = self._whole_frame(data)  # the usual segment: one frame
            if frame is not None:
                return [frame]
        frames, used = self._parse(data, 0, len(data), stop_after_switch=False)
        if used != len(data):
            raise MalformedError(
                f"self-contained segment ends inside a frame ({len(data) - used} bytes left over)"
            )
        return frames

    def _whole_frame(self, data: bytes) -> Frame | None:
        """The fast path of :meth:`feed` and :meth:`decode_exact`: ``data`` as a Frame when it
        is exactly one well-formed, uncompressed frame of the fixed version that does not
        end plain frames (READY/AUTHENTICATE of a v5 client); else None, and the general
        path takes it (and raises the precise error for a bad header)."""
        if len(data) < HEADER_LENGTH:
            return None
        byte, flags, stream, opcode, length = _HEADER.unpack_from(data, 0)
        version = self.version
        if (
            len(data) == HEADER_LENGTH + length
            and version is not None
            and byte == (version | RESPONSE_DIRECTION if self.is_response else version)
            and not flags & _COMPRESSION
            and opcode in (_RESPONSE_OPCODES if self.is_response else _REQUEST_OPCODES)
            and length <= self.max_body_length
            and not (self.stop_after_switch and opcode in _SEGMENT_SWITCH_OPCODES)
        ):
            return _new_frame(Frame, (version, flags, stream, opcode, data[HEADER_LENGTH:]))
        return None

    def _parse(
        self,
        data: bytes | memoryview,
        pos: int,
        end: int,
        stop_after_switch: bool | None = None,
    ) -> tuple[list[Frame], int]:
        frames: list[Frame] = []
        expected = self.version
        is_response = self.is_response
        max_length = self.max_body_length
        if stop_after_switch is None:
            stop_after_switch = self.stop_after_switch
        direction = RESPONSE_DIRECTION if is_response else 0
        # the version byte of every frame once the version is fixed (-1: negotiating)
        fixed_byte = -1 if expected is None else expected | direction
        opcodes = _RESPONSE_OPCODES if is_response else _REQUEST_OPCODES
        unpack = _HEADER.unpack_from
        append = frames.append
        # bytes slices are bytes already; other buffers are copied out of the caller's buffer
        copy = type(data) is not bytes
        while pos < end:
            if end - pos < HEADER_LENGTH:
                # Check the version byte early: a v1/v2 peer or a request/response mix-up
                # must fail now, not wait for header bytes that may never come.
                _check_version_byte(data[pos], expected, is_response)
                break
            byte, flags, stream, opcode, length = unpack(data, pos)
            version = byte & _VERSION_MASK
            # The common case inline; anything unusual goes through the full check, which
            # raises the precise error (or accepts a negotiating-mode version).
            if byte != fixed_byte or opcode not in opcodes or not 0 <= length <= max_length:
                _check_header(data, pos, expected, is_response, max_length)
            stop = pos + HEADER_LENGTH + length
            if stop > end:
                break
            body = data[pos + HEADER_LENGTH : stop]
            if copy:
                body = bytes(body)
            if flags & _COMPRESSION and version < 5:
                body = self._decompress(body)
                flags &= _NOT_COMPRESSION
            append(_new_frame(Frame, (version, flags, stream, opcode, body)))
            pos = stop
            if stop_after_switch and opcode in _SEGMENT_SWITCH_OPCODES:
                break
        return frames, pos

    def _decompress(self, body: bytes) -> bytes:
        if self.compressor is None:
            raise CompressionError("received a compressed frame but no compression is set up")
        return self.compressor.decompress_body(body, self.max_body_length)


def _encode_items(
    version: int, items: Iterable[Sequence], compressor: Compressor | None, is_response: bool
) -> list[bytes]:
    """The frames of ``(stream, opcode, body[, flags])`` items, in order."""
    frames = []
    for item in items:
        if len(item) == 4:
            stream, opcode, body, flags = item
        else:
            stream, opcode, body = item
            flags = 0
        frames.append(
            encode_frame(version, flags, stream, opcode, body, compressor, is_response=is_response)
        )
    return frames


def encode_plain_frames(version: int, items: Iterable[Sequence], is_response: bool) -> bytes:
    """The bytes of uncompressed, unsegmented frames, ``(stream, opcode, body[, flags])``
    each, in order: :meth:`FrameCodec.encode_many`'s common case (one write of the writer
    greenlet)."""
    return b"".join(_encode_items(version, items, None, is_response))


class _SegmentFrameAssembler:
    """Frames out of v5 segment payloads, enforcing the spec's packing rules: a
    self-contained segment holds whole frames only; a non-self-contained run holds one frame
    and nothing else."""

    __slots__ = ("_decoder", "_large")

    def __init__(self, decoder: FrameDecoder) -> None:
        self._decoder = decoder
        self._large = False  # inside a run of non-self-contained segments

    def add(self, payload: bytes, self_contained: bool, out: list[Frame]) -> None:
        decoder = self._decoder
        if self_contained:
            if self._large:
                raise MalformedError(
                    "self-contained segment received while a multi-segment frame is incomplete"
                )
            out.extend(decoder.decode_exact(payload))
            return
        self._large = True
        frames = decoder.feed(payload)
        if frames:
            if len(frames) > 1 or decoder.buffered():
                raise MalformedError("a non-self-contained segment holds more than one frame")
            self._large = False
            out.extend(frames)


class FrameCodec:
    """Frames (and, for v5, segments) in both directions, for one connection.

    ``role='client'`` encodes requests and decodes responses; ``'server'`` the opposite (the
    simulated cluster). The socket layer calls :meth:`encode` / :meth:`encode_many` for what
    to send and :meth:`feed` with whatever it received.

    Version negotiation: while :attr:`negotiating` (the default until a frame of
    :attr:`version` arrives), received frames of any version v3+ are returned with their own
    ``version`` so the handshake can read a server's ERROR in a lower version, and
    :attr:`version` may be changed. The first received frame of :attr:`version` (or
    :meth:`start_segments`, or :meth:`finish_negotiation`) fixes the version; after that a
    frame of another version raises UnsupportedProtocolVersion.

    Compression: set :attr:`compressor` (v3/v4) right after encoding STARTUP: STARTUP itself
    goes uncompressed, and the server may compress its answer. Received frames are decompressed
    whenever their COMPRESSION flag is set. For v5 pass the compressor to
    :meth:`start_segments` (or set it before); frames are then never compressed, segments are.

    v5: call :meth:`start_segments` right after the response to STARTUP (READY or
    AUTHENTICATE) is received (client) or encoded (server). A v5 client codec stops decoding
    plain frames after READY/AUTHENTICATE, so bytes that follow in the same read are kept for
    the segment decoder; :meth:`start_segments` returns any frames they already complete.

    Concurrency: the sending side keeps no mutable state (encoding reads the version and the
    compressor only), so one reader and one writer may share a codec, even on OS threads.
    Switching versions, compression or segments happens during the handshake, when nothing
    else is being sent.
    """

    def __init__(
        self,
        role: Role = "client",
        version: int = MAX_SUPPORTED_VERSION,
        compressor: Compressor | None = None,
        max_body_length: int = DEFAULT_MAX_FRAME_BODY,
        *,
        negotiating: bool = True,
    ) -> None:
        if role not in ("client", "server"):
            raise ValueError(f"role must be 'client' or 'server', not {role!r}")
        self.role: Role = role
        self._version = version
        self.compressor = compressor
        self._is_response_out = role == "server"
        self._negotiating = negotiating
        self._decoder = FrameDecoder(
            None if negotiating else version,
            is_response=role == "client",
            max_body_length=max_body_length,
            compressor=compressor,
        )
        self._decoder.stop_after_switch = role == "client" and version >= 5
        self._segment_encoder: SegmentEncoder | None = None
        self._segment_decoder: SegmentDecoder | None = None
        self._assembler: _SegmentFrameAssembler | None = None
        self._error: ProtocolError | None = None

    # ---------------------------------------------------------------- state

    @property
    def version(self) -> int:
        return self._version

    @version.setter
    def version(self, value: int) -> None:
        if not self._negotiating:
            raise ValueError("the protocol version is fixed once negotiation is over")
        self._version = value
        self._decoder.stop_after_switch = self.role == "client" and value >= 5

    @property
    def max_body_length(self) -> int:
        """The largest frame body accepted (declared length, and decompressed size)."""
        return self._decoder.max_body_length

    @max_body_length.setter
    def max_body_length(self, value: int) -> None:
        self._decoder.max_body_length = value

    @property
    def negotiating(self) -> bool:
        return self._negotiating

    def finish_negotiation(self) -> None:
        """Fix :attr:`version`: frames of any other version are refused from now on."""
        self._negotiating = False
        self._decoder.version = self._version

    @property
    def compressor(self) -> Compressor | None:
        return self._compressor

    @compressor.setter
    def compressor(self, value: Compressor | None) -> None:
        if getattr(self, "_segment_decoder", None) is not None:
            raise ValueError("segment compression is fixed by start_segments()")
        self._compressor = value
        decoder = getattr(self, "_decoder", None)
        if decoder is not None:
            decoder.compressor = value

    @property
    def segments(self) -> bool:
        """True once v5 segments are on."""
        return self._segment_decoder is not None

    def start_segments(self, compressor: Compressor | None = None) -> list[Frame]:
        """Switch both directions to v5 segments (compressed with ``compressor`` or the
        codec's :attr:`compressor`, which must then be LZ4). Returns frames completed by bytes
        already received after the switch point (usually none)."""
        if self._version < 5:
            raise ValueError(f"segments exist in protocol v5 and later, not v{self._version}")
        if self._segment_decoder is not None:
            raise ValueError("segments are already on")
        if compressor is not None:
            self.compressor = compressor
        if self._negotiating:
            self.finish_negotiation()
        self._segment_encoder = SegmentEncoder(self._compressor)
        self._segment_decoder = SegmentDecoder(self._compressor)
        self._decoder.stop_after_switch = False
        leftover = self._decoder.take_buffered()
        self._assembler = _SegmentFrameAssembler(self._decoder)
        return self.feed(leftover) if leftover else []

    # ---------------------------------------------------------------- sending

    def encode(self, stream: int, opcode: int, body: bytes, flags: int = 0) -> bytes:
        """The bytes that send one frame (wrapped in segments once they are on)."""
        segment_encoder = self._segment_encoder
        if segment_encoder is None:
            return encode_frame(
                self._version,
                flags,
                stream,
                opcode,
                body,
                self._compressor,
                is_response=self._is_response_out,
            )
        frame = encode_frame(
            self._version, flags, stream, opcode, body, is_response=self._is_response_out
        )
        return segment_encoder.encode(frame)

    def encode_many(self, items: Iterable[Sequence]) -> bytes:
        """The bytes that send several frames, ``(stream, opcode, body[, flags])`` each, in
        order: one write for the writer greenlet. With segments, small frames share
        self-contained segments (as few as the 128 KiB payload limit allows)."""
        segment_encoder = self._segment_encoder
        if segment_encoder is None:
            if self._compressor is None:
                return encode_plain_frames(self._version, items, self._is_response_out)
            return b"".join(
                _encode_items(self._version, items, self._compressor, self._is_response_out)
            )
        return segment_encoder.encode_frames(
            _encode_items(self._version, items, None, self._is_response_out)
        )

    # ---------------------------------------------------------------- receiving

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Frames completed by ``data`` (possibly none). Raises a ProtocolError subclass on
        bad input; the codec is then unusable (the connection must be closed)."""
        segment_decoder = self._segment_decoder
        if segment_decoder is None:
            frames = self._decoder.feed(data)
            if self._negotiating and frames:
                self._maybe_finish_negotiation(frames)
            return frames
        if self._error is not None:
            raise self._error
        frames: list[Frame] = []
        assembler = self._assembler
        assert assembler is not None
        try:
            for payload, self_contained in segment_decoder.feed(data):
                if self_contained and not assembler._large:  # assembler.add's common case
                    frames += self._decoder.decode_exact(payload)
                else:
                    assembler.add(payload, self_contained, frames)
        except ProtocolError as exc:
            self._error = exc
            raise
        return frames

    def buffered(self) -> int:
        """Bytes received and not yet part of a returned frame."""
        n = self._decoder.buffered()
        if self._segment_decoder is not None:
            n += self._segment_decoder.buffered()
        return n

    def _maybe_finish_negotiation(self, frames: list[Frame]) -> None:
        version = self._version
        for frame in frames:
            if frame.version == version:
                self.finish_negotiation()
                return


# The Cython twin (greencql/protocol/_frames.pyx), when built and chosen: same names, same
# results, same errors (its unusual cases call the helpers above). The Python code stays as
# the reference under these names.
_encode_frame_python = encode_frame
_encode_plain_frames_python = encode_plain_frames
_FrameDecoder_python = FrameDecoder
_compiled = twin("greencql.protocol._frames")
if _compiled is not None:
    encode_frame = _compiled.encode_frame  # type: ignore[assignment]
    encode_plain_frames = _compiled.encode_plain_frames  # type: ignore[assignment]
    FrameDecoder = _compiled.FrameDecoder  # type: ignore[assignment,misc]
