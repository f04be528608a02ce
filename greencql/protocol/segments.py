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
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

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


def crc24(data: bytes | bytearray | memoryview) -> int:
    """Cassandra's CRC24 of ``data`` (the header bytes, in wire order)."""
    crc = CRC24_INIT
    table = _CRC24_TABLE
    for byte in bytes(data):
        crc = ((crc << 8) & 0xFFFFFF) ^ table[(crc >> 16) ^ byte]
    return crc


def crc32(data: bytes | bytearray | memoryview) -> int:
    """Cassandra's CRC32 of a segment payload (zlib CRC32 with the protocol's seed)."""
    return zlib.crc32(data, CRC32_SEED)


def segment_header_length(compressed: bool) -> int:
    """Header bytes before the payload, CRC24 included: 6 uncompressed, 8 compressed."""
    return (_COMPRESSED_HEADER if compressed else _UNCOMPRESSED_HEADER) + _CRC24_LENGTH


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

    def write_segment(
        self, out: bytearray, payload: bytes | bytearray | memoryview, self_contained: bool
    ) -> None:
        """Append one segment carrying ``payload`` (at most MAX_SEGMENT_PAYLOAD bytes)."""
        length = len(payload)
        if length > MAX_SEGMENT_PAYLOAD:
            raise ValueError(f"segment payload of {length} bytes exceeds {MAX_SEGMENT_PAYLOAD}")
        if self.compressor is None:
            header = (length | (self_contained << 17)).to_bytes(_UNCOMPRESSED_HEADER, "little")
            body = payload
        else:
            compressed = self.compressor.compress_segment(bytes(payload)) if length else b""
            if 0 < len(compressed) < length:
                value = len(compressed) | (length << 17)
                body = compressed
            else:
                value = length  # stored raw: uncompressed length 0
                body = payload
            header = (value | (self_contained << 34)).to_bytes(_COMPRESSED_HEADER, "little")
        out += header
        out += crc24(header).to_bytes(_CRC24_LENGTH, "little")
        out += body
        out += crc32(body).to_bytes(_CRC32_LENGTH, "little")

    def encode(self, frame: bytes | bytearray | memoryview) -> bytes:
        """The segments of one frame: one self-contained segment, or a run of
        non-self-contained ones when the frame exceeds MAX_SEGMENT_PAYLOAD."""
        return self.encode_frames((frame,))

    def encode_frames(self, frames: Iterable[bytes | bytearray | memoryview]) -> bytes:
        """Pack frames into as few segments as the rules allow.

        Consecutive frames that fit together share one self-contained segment; a frame larger
        than a segment flushes what is pending and is cut into its own non-self-contained run.
        Order is preserved.
        """
        out = bytearray()
        pending: list[bytes | bytearray | memoryview] = []
        pending_length = 0
        for frame in frames:
            n = len(frame)
            if n > MAX_SEGMENT_PAYLOAD:
                if pending:
                    self.write_segment(out, b"".join(pending), True)
                    pending, pending_length = [], 0
                view = memoryview(frame)
                for start in range(0, n, MAX_SEGMENT_PAYLOAD):
                    self.write_segment(out, view[start : start + MAX_SEGMENT_PAYLOAD], False)
                continue
            if pending_length + n > MAX_SEGMENT_PAYLOAD:
                self.write_segment(out, b"".join(pending), True)
                pending, pending_length = [], 0
            pending.append(frame)
            pending_length += n
        if pending:
            self.write_segment(out, pending[0] if len(pending) == 1 else b"".join(pending), True)
        return bytes(out)


class SegmentDecoder:
    """Splits a byte stream into segment payloads, checking both CRCs.

    ``feed(data)`` accepts any chunking (a header split across two reads included) and returns
    ``[(payload, self_contained), ...]`` for every segment completed so far, payloads already
    decompressed. One bytearray and a read offset hold the unconsumed bytes, so a segment
    arriving a byte at a time costs linear, not quadratic, time.
    """

    __slots__ = ("_buf", "_error", "_header_length", "_pos", "compressor")

    def __init__(self, compressor: Compressor | None = None) -> None:
        if compressor is not None and not compressor.supports_segments:
            raise CompressionError(f"{compressor.name} cannot compress v5 segments (only lz4)")
        self.compressor = compressor
        self._header_length = _COMPRESSED_HEADER if compressor else _UNCOMPRESSED_HEADER
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
        if self._pos == len(buf) and isinstance(data, bytes):
            # Fast path: nothing buffered, parse straight from the caller's bytes.
            try:
                out, used = self._parse(data, 0, len(data))
            except ProtocolError as exc:
                self._error = exc
                raise
            buf.clear()
            self._pos = 0
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
        hlen = self._header_length
        compressed = self.compressor is not None
        while end - pos >= hlen + _CRC24_LENGTH:
            header = bytes(data[pos : pos + hlen])
            value = int.from_bytes(header, "little")
            expected = int.from_bytes(data[pos + hlen : pos + hlen + _CRC24_LENGTH], "little")
            actual = crc24(header)
            if actual != expected:
                raise ChecksumError(
                    f"segment header CRC24 mismatch: received {expected:06x}, "
                    f"computed {actual:06x} (header {header.hex()})"
                )
            length = value & _LENGTH_MASK
            if compressed:
                uncompressed_length = (value >> 17) & _LENGTH_MASK
                self_contained = bool((value >> 34) & 1)
            else:
                uncompressed_length = 0
                self_contained = bool((value >> 17) & 1)
            start = pos + hlen + _CRC24_LENGTH
            stop = start + length
            if stop + _CRC32_LENGTH > end:
                break  # wait for the rest of the segment
            payload = bytes(data[start:stop])
            expected = int.from_bytes(data[stop : stop + _CRC32_LENGTH], "little")
            actual = crc32(payload)
            if actual != expected:
                raise ChecksumError(
                    f"segment payload CRC32 mismatch: received {expected:08x}, "
                    f"computed {actual:08x} ({length} bytes)"
                )
            if uncompressed_length:
                assert self.compressor is not None
                payload = self.compressor.decompress_segment(payload, uncompressed_length)
            out.append((payload, self_contained))
            pos = stop + _CRC32_LENGTH
        return out, pos
