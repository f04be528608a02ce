"""Compression of frame bodies (v3/v4) and segment payloads (v5): LZ4 and Snappy.

This is the ONE module that imports ``lz4`` or ``snappy``, and it imports them lazily: a
program that never negotiates compression never loads either library, and a missing library
only means that algorithm is not offered (:func:`available_compressors`).

Wire formats (cross-checked with cassandra-driver 3.30.1, ``cassandra/connection.py`` and
``cassandra/segment.py``):

- v3/v4 LZ4 body: a 4-byte *big-endian* uncompressed length, then a raw LZ4 block.
- v3/v4 Snappy body: a raw Snappy block (it starts with its own varint length).
- v5 segment payload: a raw LZ4 block; the uncompressed length travels in the segment header.
  Snappy is not allowed with v5 (the spec and Cassandra only define LZ4 for segments).

Decompression is bounded: the declared uncompressed length is checked against the caller's
maximum *before* anything is decompressed (a body claiming 4 GiB raises
:class:`~greencql.errors.FrameTooLarge`, it does not allocate), and the result must have exactly
the declared length. An LZ4 length above what its block could expand to (255x) is refused
too, before lz4 allocates it. Corrupt input raises :class:`~greencql.errors.CompressionError`;
nothing else escapes from the decompress functions.
"""

from __future__ import annotations

import struct
from typing import Any

from greencql.errors import CompressionError, FrameTooLarge

__all__ = [
    "Compressor",
    "Lz4Compressor",
    "SnappyCompressor",
    "available_compressors",
    "get_compressor",
    "COMPRESSOR_NAMES",
]

#: names in order of preference (lz4 first: faster, and the only one v5 allows)
COMPRESSOR_NAMES: tuple[str, ...] = ("lz4", "snappy")

_u32 = struct.Struct(">I")

#: the most an LZ4 block can expand: a match grows by 255 bytes per length byte, so n bytes
#: of block never decompress to more than 255 * n (plus the short sequences' slack, below)
_LZ4_MAX_RATIO = 255
_LZ4_RATIO_SLACK = 64


class Compressor:
    """One compression algorithm. Subclasses fill in the four methods.

    ``max_length`` bounds what a decompress call may produce: the caller passes its configured
    maximum frame body (or segment payload) length.
    """

    name: str = ""
    #: whether the algorithm may compress v5 segments
    supports_segments: bool = False

    def compress_body(self, data: bytes) -> bytes:
        """Compress a v3/v4 frame body (the COMPRESSION header flag)."""
        raise NotImplementedError

    def decompress_body(self, data: bytes, max_length: int) -> bytes:
        """Decompress a v3/v4 frame body of at most ``max_length`` bytes once decompressed."""
        raise NotImplementedError

    def compress_segment(self, data: bytes) -> bytes:
        """Compress a v5 segment payload (a raw block: the length goes in the segment header)."""
        raise CompressionError(f"{self.name} cannot compress v5 segments (only lz4 can)")

    def decompress_segment(self, data: bytes, uncompressed_length: int) -> bytes:
        """Decompress a v5 segment payload to exactly ``uncompressed_length`` bytes."""
        raise CompressionError(f"{self.name} cannot decompress v5 segments (only lz4 can)")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class Lz4Compressor(Compressor):
    """LZ4 block compression (python ``lz4`` package, ``lz4.block``)."""

    name = "lz4"
    supports_segments = True

    def __init__(self) -> None:
        import lz4.block  # lazy: the only lz4 import in greencql

        self._block: Any = lz4.block
        self._error: type[BaseException] = lz4.block.LZ4BlockError

    def compress_body(self, data: bytes) -> bytes:
        return _u32.pack(len(data)) + self._block.compress(data, store_size=False)

    def decompress_body(self, data: bytes, max_length: int) -> bytes:
        if len(data) < 4:
            raise CompressionError(f"lz4 body of {len(data)} bytes has no length prefix")
        length = _u32.unpack_from(data)[0]
        if length > max_length:
            raise FrameTooLarge(
                f"lz4 body declares {length} uncompressed bytes, more than the maximum {max_length}"
            )
        return self._decompress(memoryview(data)[4:], length)

    def compress_segment(self, data: bytes) -> bytes:
        return self._block.compress(data, store_size=False)

    def decompress_segment(self, data: bytes, uncompressed_length: int) -> bytes:
        return self._decompress(data, uncompressed_length)

    def _decompress(self, block: bytes | memoryview, length: int) -> bytes:
        if length == 0:
            # lz4 refuses a zero-sized destination; an empty body carries no information
            return b""
        if length > len(block) * _LZ4_MAX_RATIO + _LZ4_RATIO_SLACK:
            # lz4 allocates the declared size before decompressing: a 20-byte body declaring
            # 200 MB would cost 200 MB for nothing (found by bench/fuzz.py)
            raise CompressionError(
                f"lz4 data of {len(block)} bytes declares {length} uncompressed bytes, more "
                f"than lz4 can expand to ({_LZ4_MAX_RATIO}x)"
            )
        try:
            out = self._block.decompress(block, uncompressed_size=length)
        except (self._error, ValueError, MemoryError) as exc:
            raise CompressionError(f"corrupt lz4 data: {exc}") from exc
        if len(out) != length:
            # lz4 treats uncompressed_size as a capacity: a shorter result is a lie
            raise CompressionError(
                f"lz4 data decompressed to {len(out)} bytes, header declared {length}"
            )
        return out


class SnappyCompressor(Compressor):
    """Snappy raw-block compression (``python-snappy``); v3/v4 frame bodies only."""

    name = "snappy"

    def __init__(self) -> None:
        import snappy  # lazy: the only snappy import in greencql

        self._snappy: Any = snappy
        self._error: type[BaseException] = getattr(snappy, "UncompressError", ValueError)

    def compress_body(self, data: bytes) -> bytes:
        return bytes(self._snappy.compress(data))

    def decompress_body(self, data: bytes, max_length: int) -> bytes:
        length = _snappy_declared_length(data)
        if length > max_length:
            raise FrameTooLarge(
                f"snappy body declares {length} uncompressed bytes, more than the maximum "
                f"{max_length}"
            )
        try:
            out = self._snappy.decompress(bytes(data))
        except (self._error, ValueError, MemoryError) as exc:
            raise CompressionError(f"corrupt snappy data: {exc}") from exc
        except Exception as exc:  # the binding's own error types vary between versions
            raise CompressionError(f"corrupt snappy data: {exc!r}") from exc
        if len(out) != length:
            raise CompressionError(
                f"snappy data decompressed to {len(out)} bytes, header declared {length}"
            )
        return bytes(out)


def _snappy_declared_length(data: bytes | bytearray | memoryview) -> int:
    """The uncompressed length a raw Snappy block starts with (a little-endian base-128
    varint of at most 32 bits)."""
    value = 0
    for i in range(5):
        if i >= len(data):
            raise CompressionError("snappy body ends inside its length prefix")
        byte = data[i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value
    raise CompressionError("snappy length prefix longer than 5 bytes")


_FACTORIES: dict[str, type[Compressor]] = {
    "lz4": Lz4Compressor,
    "snappy": SnappyCompressor,
}
_cache: dict[str, Compressor | None] = {}


def _load(name: str) -> Compressor | None:
    if name not in _cache:
        try:
            _cache[name] = _FACTORIES[name]()
        except ImportError:
            _cache[name] = None
    return _cache[name]


def available_compressors() -> dict[str, Compressor]:
    """The compressors whose library is importable, by name, in order of preference."""
    out: dict[str, Compressor] = {}
    for name in COMPRESSOR_NAMES:
        compressor = _load(name)
        if compressor is not None:
            out[name] = compressor
    return out


def get_compressor(name: str) -> Compressor:
    """The compressor called ``name`` ('lz4' or 'snappy').

    Raises ValueError for an unknown name and ImportError (saying what to install) when its
    library is missing: asking for a compression explicitly is never silently ignored.
    """
    if name not in _FACTORIES:
        raise ValueError(f"unknown compression {name!r}; known: {', '.join(COMPRESSOR_NAMES)}")
    compressor = _load(name)
    if compressor is None:
        package = {"lz4": "lz4", "snappy": "python-snappy"}[name]
        raise ImportError(
            f"{name} compression needs the {package!r} package (pip install {package})"
        )
    return compressor
