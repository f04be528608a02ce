# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython twin of :mod:`greencql.protocol.segments`: ``crc24``, ``crc32``, ``SegmentEncoder``
and ``SegmentDecoder`` (v5 segments).

Same names, signatures, results and errors as the Python code (chosen by greencql._speedups).
The uncompressed path (what a v5 connection without LZ4 sends and receives) runs in C, both
CRCs included (zlib's crc32 through the zlib module on a zero-copy view, the CRC24 from a
byte table; no link to libz, so no zlib headers are needed to build); compressed segments
and oversized frames go through the Python module's methods (the compressor's cost dominates
there), and a bad header CRC24 is reported by the Python module's own check, so an error is
the same exception with the same message whichever implementation runs. The Python module
documents the format; this file only owns the speed.
"""

from cpython.buffer cimport PyBUF_READ
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.memoryview cimport PyMemoryView_FromMemory
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memcpy

from zlib import crc32 as _zlib_crc32

import greencql.protocol.segments as _py
from greencql.errors import ChecksumError, CompressionError, ProtocolError

cdef enum:
    MAX_PAYLOAD = 128 * 1024 - 1
    CRC24_INIT = 0x875060
    CRC24_POLY = 0x1974F0B
    SELF_CONTAINED_3 = 1 << 17
    COMPACT_AT = 65536

cdef uint64_t SELF_CONTAINED_5 = (<uint64_t>1) << 34
cdef unsigned long SEED = _py.CRC32_SEED
cdef uint32_t _table[256]
for _i in range(256):
    _table[_i] = _py._CRC24_TABLE[_i]

cdef object _PyEncoder = _py.SegmentEncoder
cdef object _verify_3 = _py._verify_3
cdef object _verify_5 = _py._verify_5
cdef object _py_crc24 = _py.crc24


cdef inline uint32_t _crc24(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    cdef uint32_t crc = CRC24_INIT
    cdef Py_ssize_t i
    for i in range(n):
        crc = ((crc << 8) & 0xFFFFFF) ^ _table[(crc >> 16) ^ p[i]]
    return crc


cdef inline unsigned long _crc32(const unsigned char* p, Py_ssize_t n) except? 0:
    # zlib's C crc32 behind the zlib module (one call, the bytes not copied)
    if n == 0:
        return SEED
    return _zlib_crc32(PyMemoryView_FromMemory(<char*>p, n, PyBUF_READ), SEED)


cdef inline void _put_le(unsigned char* out, uint64_t value, int n) noexcept nogil:
    cdef int i
    for i in range(n):
        out[i] = <unsigned char>((value >> (8 * i)) & 0xFF)


cdef inline uint64_t _get_le(const unsigned char* p, int n) noexcept nogil:
    cdef uint64_t value = 0
    cdef int i
    for i in range(n - 1, -1, -1):
        value = (value << 8) | p[i]
    return value


def crc24(data):
    """Cassandra's CRC24 of ``data`` (the header bytes, in wire order)."""
    cdef const unsigned char[::1] view
    if type(data) is bytes:
        return _crc24(<const unsigned char*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    if data is None:  # a typed memoryview would take None as an empty view
        return _py_crc24(data)
    try:
        view = data
    except (TypeError, ValueError, BufferError):
        return _py_crc24(data)  # not a contiguous byte buffer: the Python code decides
    return _crc24(&view[0] if view.shape[0] else NULL, view.shape[0])


def crc32(data):
    """Cassandra's CRC32 of a segment payload (zlib CRC32 with the protocol's seed)."""
    cdef const unsigned char[::1] view
    if type(data) is bytes:
        return _crc32(<const unsigned char*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
    if data is None:
        return _py.crc32(data)
    try:
        view = data
    except (TypeError, ValueError, BufferError):
        return _py.crc32(data)
    return _crc32(&view[0] if view.shape[0] else NULL, view.shape[0])


cdef bytes _plain_segment(list pending, Py_ssize_t length, bint self_contained):
    # header (3 bytes + CRC24), the payload (every pending frame, copied once), CRC32
    cdef bytes out = PyBytes_FromStringAndSize(NULL, 6 + length + 4)
    cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
    cdef unsigned char* q = p + 6
    cdef Py_ssize_t n
    cdef const unsigned char[::1] view
    cdef uint32_t value = length | (SELF_CONTAINED_3 if self_contained else 0)
    _put_le(p, value, 3)
    _put_le(p + 3, _crc24(p, 3), 3)
    for frame in pending:
        if type(frame) is bytes:
            n = PyBytes_GET_SIZE(frame)
            memcpy(q, PyBytes_AS_STRING(frame), n)
        else:
            view = frame
            n = view.shape[0]
            if n:
                memcpy(q, &view[0], n)
        q += n
    _put_le(q, _crc32(p + 6, length), 4)
    return out


cdef class SegmentEncoder:
    """Wraps frame bytes into segments (see :class:`greencql.protocol.segments.SegmentEncoder`)."""

    cdef public object compressor

    def __init__(self, compressor=None):
        if compressor is not None and not compressor.supports_segments:
            raise CompressionError(f"{compressor.name} cannot compress v5 segments (only lz4)")
        self.compressor = compressor

    def _parts(self, parts, payload, self_contained):
        _PyEncoder._parts(self, parts, payload, self_contained)

    def write_segment(self, out, payload, self_contained):
        """Append one segment carrying ``payload`` (at most MAX_SEGMENT_PAYLOAD bytes)."""
        _PyEncoder.write_segment(self, out, payload, self_contained)

    def encode(self, frame):
        """The segments of one frame."""
        if self.compressor is None and type(frame) is bytes:
            if PyBytes_GET_SIZE(frame) <= MAX_PAYLOAD:
                return _plain_segment([frame], PyBytes_GET_SIZE(frame), True)
        return self.encode_frames((frame,))

    def encode_frames(self, frames):
        """Pack frames into as few segments as the rules allow, in order."""
        cdef list parts, pending
        cdef Py_ssize_t pending_length, n, start
        if self.compressor is not None:
            return _PyEncoder.encode_frames(self, frames)
        parts = []
        pending = []
        pending_length = 0
        for frame in frames:
            n = len(frame)
            if n > MAX_PAYLOAD:
                if pending:
                    parts.append(_plain_segment(pending, pending_length, True))
                    pending = []
                    pending_length = 0
                view = memoryview(frame)
                for start in range(0, n, MAX_PAYLOAD):
                    _PyEncoder._parts(self, parts, view[start:start + MAX_PAYLOAD], False)
                continue
            if pending_length + n > MAX_PAYLOAD:
                parts.append(_plain_segment(pending, pending_length, True))
                pending = []
                pending_length = 0
            pending.append(frame)
            pending_length += n
        if pending:
            parts.append(_plain_segment(pending, pending_length, True))
        if len(parts) == 1:
            return parts[0]
        return b"".join(parts)

    def _flush_plain(self, parts, pending, length):
        parts.append(_plain_segment(list(pending), length, True))

    def _flush_compressed(self, parts, pending, length):
        _PyEncoder._flush_compressed(self, parts, pending, length)


cdef class SegmentDecoder:
    """Splits a byte stream into segment payloads, checking both CRCs (see
    :class:`greencql.protocol.segments.SegmentDecoder`)."""

    cdef public object compressor
    cdef readonly bytearray _buf
    cdef readonly Py_ssize_t _pos
    cdef readonly object _error
    cdef readonly int _header_length

    def __init__(self, compressor=None):
        if compressor is not None and not compressor.supports_segments:
            raise CompressionError(f"{compressor.name} cannot compress v5 segments (only lz4)")
        self.compressor = compressor
        self._header_length = 6 if compressor is None else 8
        self._buf = bytearray()
        self._pos = 0
        self._error = None

    def buffered(self):
        """Bytes received but not yet part of a complete segment."""
        return PyByteArray_GET_SIZE(self._buf) - self._pos

    def feed(self, data):
        cdef list out = []
        cdef Py_ssize_t used
        if self._error is not None:
            raise self._error
        buf = self._buf
        if not PyByteArray_GET_SIZE(buf) and type(data) is bytes:
            try:
                used = self._parse(<const unsigned char*>PyBytes_AS_STRING(data), 0,
                                   PyBytes_GET_SIZE(data), out)
            except ProtocolError as exc:
                self._error = exc
                raise
            if used < PyBytes_GET_SIZE(data):
                buf += memoryview(data)[used:]
            return out
        buf += data
        try:
            self._pos = self._parse(<const unsigned char*>PyByteArray_AS_STRING(buf), self._pos,
                                    PyByteArray_GET_SIZE(buf), out)
        except ProtocolError as exc:
            self._error = exc
            raise
        if self._pos == PyByteArray_GET_SIZE(buf):
            del buf[:]
            self._pos = 0
        elif self._pos > COMPACT_AT:
            del buf[:self._pos]
            self._pos = 0
        return out

    cdef Py_ssize_t _parse(self, const unsigned char* p, Py_ssize_t pos, Py_ssize_t end,
                           list out) except -1:
        cdef int hsize = self._header_length
        cdef bint compressed = hsize == 8
        cdef int hlen = hsize - 3
        cdef uint64_t value, received
        cdef Py_ssize_t start, stop, nxt, length, uncompressed
        cdef unsigned long expected, actual
        cdef bint self_contained
        while end - pos >= hsize:
            start = pos + hsize
            value = _get_le(p + pos, hlen)
            received = _get_le(p + pos + hlen, 3)
            if _crc24(p + pos, hlen) != received:
                # the Python check raises the ChecksumError, with the same message
                (_verify_5 if compressed else _verify_3)(value | (received << (8 * hlen)))
            length = value & MAX_PAYLOAD
            if compressed:
                uncompressed = (value >> 17) & MAX_PAYLOAD
                self_contained = (value & SELF_CONTAINED_5) != 0
            else:
                uncompressed = 0
                self_contained = (value & SELF_CONTAINED_3) != 0
            stop = start + length
            nxt = stop + 4
            if nxt > end:
                break  # wait for the rest of the segment
            expected = <unsigned long>_get_le(p + stop, 4)
            actual = _crc32(p + start, length)
            if actual != expected:
                raise ChecksumError(
                    f"segment payload CRC32 mismatch: received {expected:08x}, "
                    f"computed {actual:08x} ({length} bytes)"
                )
            payload = PyBytes_FromStringAndSize(<const char*>p + start, length)
            if uncompressed:
                payload = self.compressor.decompress_segment(payload, uncompressed)
            out.append((payload, self_contained))
            pos = nxt
        return pos
