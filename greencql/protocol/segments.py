"""v5 framing: segments with CRC24-protected headers and CRC32-protected payloads.

From protocol v5 on, once the handshake is past STARTUP (the server's READY or AUTHENTICATE),
every frame travels inside *segments* (the spec calls them "frames" and the old frames
"envelopes"; we keep "frame" for the 9-byte-header unit that every version shares):

- uncompressed: a 3-byte little-endian header (bits 0-16 payload length, bit 17
  self-contained flag, the rest padding), its CRC24 (3 bytes, little-endian), the payload,
  then the CRC32 of the payload (4 bytes, little-endian);
- compressed (LZ4 negotiated): a 5-byte little-endian header (bits 0-16 compressed length,
  bits 17-33 uncompressed length, bit 34 self-contained, the rest padding), its CRC24, the
  payload and its CRC32. An uncompressed length of 0 means the payload is stored raw (the
  sender found compression did not pay).

A payload holds at most 128 KiB - 1 bytes. A *self-contained* segment holds one or more whole
frames; a frame too large for one segment is cut into a run of non-self-contained segments
that hold nothing else. CRC24 is Cassandra's variant (init 0x875060, polynomial 0x1974F0B,
MSB-first, computed over the header bytes as sent); CRC32 is zlib's CRC32 seeded with the
CRC32 of the bytes FA 2D 55 CA. Everything here is checked byte-for-byte against
cassandra-driver's ``cassandra/segment.py`` in the tests.

This module turns payloads into segment bytes and segment bytes into payloads; it does not
look inside payloads (``frames.py`` assembles frames from them). It never does IO. Malformed
input raises a :class:`~greencql.errors.ProtocolError` subclass and nothing else.

Speed: segment headers repeat (the same few lengths and flags), so the encoder keeps a small
cache from header value to its wire bytes (CRC24 included) and the decoder one from the wire
bytes of a *verified* header to its fields; a miss computes CRC24 from per-byte-position
tables (CRC24 is affine in the header bits) instead of a bit loop. Both caches are bounded and
module-wide (their contents depend only on the bytes, never on a connection).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from greencql._speedups import twin
from greencql.errors import ChecksumError, CompressionError, ProtocolError
from greencql.protocol.compression import Compressor

__all__ = [
    "MAX_SEGMENT_PAYLOAD",
    "CRC24_INIT",
    "CRC24_POLY",
    "CRC32_SEED",
    "crc24",
    "crc32",
    "segment_header_length",
    "SegmentEncoder",
    "SegmentDecoder",
]

#: the largest payload one segment may carry (17 bits)
MAX_SEGMENT_PAYLOAD = 128 * 1024 - 1
CRC24_INIT = 0x875060
CRC24_POLY = 0x1974F0B
#: zlib.crc32 state after the four seed bytes FA 2D 55 CA
CRC32_SEED = zlib.crc32(b"\xfa\x2d\x55\xca")

_LENGTH_MASK = MAX_SEGMENT_PAYLOAD
_CRC24_LENGTH = 3
_CRC32_LENGTH = 4
_UNCOMPRESSED_HEADER = 3
_COMPRESSED_HEADER = 5
_SELF_CONTAINED_3 = 1 << 17
_SELF_CONTAINED_5 = 1 << 34
# Entries per header cache before it is emptied; real traffic uses a handful of distinct
# headers (same lengths and flags), so this only bounds memory against unusual streams.
_CACHE_LIMIT = 4096


def _crc24_table() -> tuple[int, ...]:
    # One entry per byte value: the register after shifting that byte through, MSB first.
    table = []
    low_poly = CRC24_POLY & 0xFFFFFF
    for byte in range(256):
        crc = byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc = (crc & 0xFFFFFF) ^ low_poly
        table.append(crc)
    return tuple(table)


_CRC24_TABLE = _crc24_table()


def _crc24_loop(data: bytes, crc: int) -> int:
    table = _CRC24_TABLE
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFF) ^ table[(crc >> 16) ^ byte]
    return crc


def _position_tables(n: int) -> tuple[int, tuple[tuple[int, ...], ...]]:
    # CRC24 is affine over GF(2): crc(header) = crc(n zero bytes) XOR, for each byte position,
    # the register contribution of that byte alone (register started at 0). Byte i of the
    # little-endian header int is wire byte i.
    zero = _crc24_loop(bytes(n), CRC24_INIT)
    tables = []
    for i in range(n):
        column = []
        for byte in range(256):
            data = bytearray(n)
            data[i] = byte
            column.append(_crc24_loop(bytes(data), 0))
        tables.append(tuple(column))
    return zero, tuple(tables)


_ZERO3, (_T30, _T31, _T32) = _position_tables(_UNCOMPRESSED_HEADER)
_ZERO5, (_T50, _T51, _T52, _T53, _T54) = _position_tables(_COMPRESSED_HEADER)


def _crc24_3(value: int) -> int:
    """CRC24 of a 3-byte header given as its little-endian int."""
    return _ZERO3 ^ _T30[value & 0xFF] ^ _T31[(value >> 8) & 0xFF] ^ _T32[value >> 16]


def _crc24_5(value: int) -> int:
    """CRC24 of a 5-byte header given as its little-endian int."""
    return (
        _ZERO5
        ^ _T50[value & 0xFF]
        ^ _T51[(value >> 8) & 0xFF]
        ^ _T52[(value >> 16) & 0xFF]
        ^ _T53[(value >> 24) & 0xFF]
        ^ _T54[value >> 32]
    )


def crc24(data: bytes | bytearray | memoryview) -> int:
    """Cassandra's CRC24 of ``data`` (the header bytes, in wire order)."""
    n = len(data)
    if n == _UNCOMPRESSED_HEADER:
        return _crc24_3(int.from_bytes(data, "little"))
    if n == _COMPRESSED_HEADER:
        return _crc24_5(int.from_bytes(data, "little"))
    return _crc24_loop(bytes(data), CRC24_INIT)


def crc32(data: bytes | bytearray | memoryview) -> int:
    """Cassandra's CRC32 of a segment payload (zlib CRC32 with the protocol's seed)."""
    return zlib.crc32(data, CRC32_SEED)


def segment_header_length(compressed: bool) -> int:
    """Header bytes before the payload, CRC24 included: 6 uncompressed, 8 compressed."""
    return (_COMPRESSED_HEADER if compressed else _UNCOMPRESSED_HEADER) + _CRC24_LENGTH


# header value -> header bytes followed by their CRC24, as sent
_WIRE_HEADERS_3: dict[int, bytes] = {}
_WIRE_HEADERS_5: dict[int, bytes] = {}


def _wire_header_3(value: int) -> bytes:
    wire = _WIRE_HEADERS_3.get(value)
    if wire is None:
        wire = (value | (_crc24_3(value) << 24)).to_bytes(6, "little")
        if len(_WIRE_HEADERS_3) >= _CACHE_LIMIT:
            _WIRE_HEADERS_3.clear()
        _WIRE_HEADERS_3[value] = wire
    return wire


def _wire_header_5(value: int) -> bytes:
    wire = _WIRE_HEADERS_5.get(value)
    if wire is None:
        wire = (value | (_crc24_5(value) << 40)).to_bytes(8, "little")
        if len(_WIRE_HEADERS_5) >= _CACHE_LIMIT:
            _WIRE_HEADERS_5.clear()
        _WIRE_HEADERS_5[value] = wire
    return wire


class SegmentEncoder:
    """Wraps frame bytes into segments.

    With a ``compressor`` (LZ4) every segment uses the compressed header format, and a payload
    that does not shrink is stored raw (uncompressed length 0), as Cassandra does.
    """

    __slots__ = ("compressor",)

    def __init__(self, compressor: Compressor | None = None) -> None:
        if compressor is not None and not compressor.supports_segments:
            raise CompressionError(f"{compressor.name} cannot compress v5 segments (only lz4)")
        self.compressor = compressor

    def _parts(
        self, parts: list, payload: bytes | bytearray | memoryview, self_contained: bool
    ) -> None:
        # Appends header (with CRC24), body and CRC32 as separate pieces: the caller joins
        # everything once, so the payload is copied exactly once.
        length = len(payload)
        if length > MAX_SEGMENT_PAYLOAD:
            raise ValueError(f"segment payload of {length} bytes exceeds {MAX_SEGMENT_PAYLOAD}")
        if self.compressor is None:
            parts.append(_wire_header_3(length | (_SELF_CONTAINED_3 if self_contained else 0)))
            body = payload
        else:
            compressed = self.compressor.compress_segment(bytes(payload)) if length else b""
            if 0 < len(compressed) < length:
                value = len(compressed) | (length << 17)
                body = compressed
            else:
                value = length  # stored raw: uncompressed length 0
                body = payload
            parts.append(_wire_header_5(value | (_SELF_CONTAINED_5 if self_contained else 0)))
        parts.append(body)
        parts.append(zlib.crc32(body, CRC32_SEED).to_bytes(_CRC32_LENGTH, "little"))

    def write_segment(
        self, out: bytearray, payload: bytes | bytearray | memoryview, self_contained: bool
    ) -> None:
        """Append one segment carrying ``payload`` (at most MAX_SEGMENT_PAYLOAD bytes)."""
        parts: list = []
        self._parts(parts, payload, self_contained)
        out += b"".join(parts)

    def encode(self, frame: bytes | bytearray | memoryview) -> bytes:
        """The segments of one frame: one self-contained segment, or a run of
        non-self-contained ones when the frame exceeds MAX_SEGMENT_PAYLOAD."""
        length = len(frame)
        if self.compressor is None and length <= MAX_SEGMENT_PAYLOAD:
            # the common case, inline: one self-contained uncompressed segment
            return b"".join(
                (
                    _wire_header_3(length | _SELF_CONTAINED_3),
                    frame,
                    zlib.crc32(frame, CRC32_SEED).to_bytes(_CRC32_LENGTH, "little"),
                )
            )
        return self.encode_frames((frame,))

    def encode_frames(self, frames: Iterable[bytes | bytearray | memoryview]) -> bytes:
        """Pack frames into as few segments as the rules allow.

        Consecutive frames that fit together share one self-contained segment; a frame larger
        than a segment flushes what is pending and is cut into its own non-self-contained run.
        Order is preserved.
        """
        parts: list = []
        pending: list[bytes | bytearray | memoryview] = []
        pending_length = 0
        flush = self._flush_compressed if self.compressor else self._flush_plain
        for frame in frames:
            n = len(frame)
            if n > MAX_SEGMENT_PAYLOAD:
                if pending:
                    flush(parts, pending, pending_length)
                    pending, pending_length = [], 0
                view = memoryview(frame)
                for start in range(0, n, MAX_SEGMENT_PAYLOAD):
                    self._parts(parts, view[start : start + MAX_SEGMENT_PAYLOAD], False)
                continue
            if pending_length + n > MAX_SEGMENT_PAYLOAD:
                flush(parts, pending, pending_length)
                pending, pending_length = [], 0
            pending.append(frame)
            pending_length += n
        if pending:
            flush(parts, pending, pending_length)
        return b"".join(parts)

    def _flush_plain(self, parts: list, pending: list, length: int) -> None:
        # One join then one CRC32: zlib.crc32 has a high fixed cost per call, so chaining
        # it frame by frame is slower than copying small frames once.
        payload = pending[0] if len(pending) == 1 else b"".join(pending)
        parts.append(_wire_header_3(length | _SELF_CONTAINED_3))
        parts.append(payload)
        parts.append(zlib.crc32(payload, CRC32_SEED).to_bytes(_CRC32_LENGTH, "little"))

    def _flush_compressed(self, parts: list, pending: list, length: int) -> None:
        self._parts(parts, pending[0] if len(pending) == 1 else b"".join(pending), True)


# wire bytes of a verified header (header then CRC24, as a little-endian int) ->
# (payload length, uncompressed length, self-contained)
_VERIFIED_3: dict[int, tuple[int, int, bool]] = {}
_VERIFIED_5: dict[int, tuple[int, int, bool]] = {}


def _verify_3(wire: int) -> tuple[int, int, bool]:
    value = wire & 0xFFFFFF
    expected = wire >> 24
    actual = _crc24_3(value)
    if actual != expected:
        raise ChecksumError(
            f"segment header CRC24 mismatch: received {expected:06x}, "
            f"computed {actual:06x} (header {value.to_bytes(3, 'little').hex()})"
        )
    fields = (value & _LENGTH_MASK, 0, bool(value & _SELF_CONTAINED_3))
    if len(_VERIFIED_3) >= _CACHE_LIMIT:
        _VERIFIED_3.clear()
    _VERIFIED_3[wire] = fields
    return fields


def _verify_5(wire: int) -> tuple[int, int, bool]:
    value = wire & 0xFFFFFFFFFF
    expected = wire >> 40
    actual = _crc24_5(value)
    if actual != expected:
        raise ChecksumError(
            f"segment header CRC24 mismatch: received {expected:06x}, "
            f"computed {actual:06x} (header {value.to_bytes(5, 'little').hex()})"
        )
    fields = (
        value & _LENGTH_MASK,
        (value >> 17) & _LENGTH_MASK,
        bool(value & _SELF_CONTAINED_5),
    )
    if len(_VERIFIED_5) >= _CACHE_LIMIT:
        _VERIFIED_5.clear()
    _VERIFIED_5[wire] = fields
    return fields


class SegmentDecoder:
    """Splits a byte stream into segment payloads, checking both CRCs.

    ``feed(data)`` accepts any chunking (a header split across two reads included) and returns
    ``[(payload, self_contained), ...]`` for every segment completed so far, payloads already
    decompressed. One bytearray and a read offset hold the unconsumed bytes, so a segment
    arriving a byte at a time costs linear, not quadratic, time. Invariant: the buffer is
    empty (and the offset 0) whenever everything received has been consumed.
    """

    __slots__ = ("_buf", "_error", "_header_length", "_pos", "_verified", "_verify", "compressor")

    def __init__(self, compressor: Compressor | None = None) -> None:
        if compressor is not None and not compressor.supports_segments:
            raise CompressionError(f"{compressor.name} cannot compress v5 segments (only lz4)")
        self.compressor = compressor
        if compressor is None:
            self._header_length = _UNCOMPRESSED_HEADER + _CRC24_LENGTH
            self._verified, self._verify = _VERIFIED_3, _verify_3
        else:
            self._header_length = _COMPRESSED_HEADER + _CRC24_LENGTH
            self._verified, self._verify = _VERIFIED_5, _verify_5
        self._buf = bytearray()
        self._pos = 0
        self._error: ProtocolError | None = None

    def buffered(self) -> int:
        """Bytes received but not yet part of a complete segment."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[bytes, bool]]:
        if self._error is not None:
            raise self._error
        buf = self._buf
        if not buf and type(data) is bytes:
            # Fastest path: the read is exactly one segment with a known-good header and an
            # uncompressed payload; anything else (errors included) goes through _parse.
            hsize = self._header_length
            fields = self._verified.get(int.from_bytes(data[:hsize], "little"))
            if fields is not None and not fields[1]:
                end = len(data) - _CRC32_LENGTH
                if end == hsize + fields[0]:
                    payload = data[hsize:end]
                    if zlib.crc32(payload, CRC32_SEED) == int.from_bytes(data[end:], "little"):
                        return [(payload, fields[2])]
            # Fast path: nothing buffered, parse straight from the caller's bytes.
            try:
                out, used = self._parse(data, 0, len(data))
            except ProtocolError as exc:
                self._error = exc
                raise
            if used < len(data):
                buf += memoryview(data)[used:]
            return out
        buf += data
        try:
            with memoryview(buf) as view:
                out, self._pos = self._parse(view, self._pos, len(buf))
        except ProtocolError as exc:
            self._error = exc
            raise
        if self._pos == len(buf):
            buf.clear()
            self._pos = 0
        elif self._pos > 65536:
            del buf[: self._pos]
            self._pos = 0
        return out

    def _parse(
        self, data: bytes | memoryview, pos: int, end: int
    ) -> tuple[list[tuple[bytes, bool]], int]:
        out: list[tuple[bytes, bool]] = []
        hsize = self._header_length
        verified = self._verified
        from_bytes = int.from_bytes
        copy = type(data) is not bytes  # slices of a memoryview must become bytes
        while end - pos >= hsize:
            start = pos + hsize
            wire = from_bytes(data[pos:start], "little")
            fields = verified.get(wire)
            if fields is None:
                fields = self._verify(wire)  # raises on a CRC24 mismatch
            length, uncompressed_length, self_contained = fields
            stop = start + length
            pos = stop + _CRC32_LENGTH
            if pos > end:
                pos = start - hsize
                break  # wait for the rest of the segment
            payload = bytes(data[start:stop]) if copy else data[start:stop]
            expected = from_bytes(data[stop:pos], "little")
            actual = zlib.crc32(payload, CRC32_SEED)
            if actual != expected:
                raise ChecksumError(
                    f"segment payload CRC32 mismatch: received {expected:08x}, "
                    f"computed {actual:08x} ({length} bytes)"
                )
            if uncompressed_length:
                assert self.compressor is not None
                payload = self.compressor.decompress_segment(payload, uncompressed_length)
            out.append((payload, self_contained))
        return out, pos


# The Cython twin (greencql/protocol/_segments.pyx), when built and chosen: same names, same
# results, same errors (a bad header CRC24 is still reported by _verify_3/_verify_5 above).
# The Python code stays as the reference under these names. crc32 keeps its Python binding:
# zlib.crc32 is C already (the twin measured 1.1x), the compiled classes call zlib directly.
_crc24_python = crc24
_SegmentEncoder_python = SegmentEncoder
_SegmentDecoder_python = SegmentDecoder
_compiled = twin("greencql.protocol._segments")
if _compiled is not None:
    crc24 = _compiled.crc24  # type: ignore[assignment]
    SegmentEncoder = _compiled.SegmentEncoder  # type: ignore[assignment,misc]
    SegmentDecoder = _compiled.SegmentDecoder  # type: ignore[assignment,misc]
