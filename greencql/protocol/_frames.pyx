# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython twin of :mod:`greencql.protocol.frames`: ``encode_frame`` and ``FrameDecoder``.

Same names, signatures, results and errors as the Python code (chosen by greencql._speedups):
the common case (a well-formed frame of the fixed version, plain ints, ``bytes`` bodies) runs
in C; everything unusual (a bad header, negotiating mode's other versions, an out-of-range
header field, compression on the sending side) is handed to the Python module's own helpers,
so an error is the same exception with the same message whichever implementation runs.
The Python module documents the format; this file only owns the speed.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.object cimport PyTypeObject
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_SET_ITEM
from libc.stdint cimport int16_t, int32_t, uint32_t
from libc.string cimport memcpy

import greencql.protocol.frames as _py
from greencql.errors import CompressionError, MalformedError, ProtocolError
from greencql.protocol.constants import (
    DEFAULT_MAX_FRAME_BODY,
    REQUEST_OPCODES,
    RESPONSE_OPCODES,
)

cdef extern from "Python.h":
    object PyType_GenericAlloc(PyTypeObject* type, Py_ssize_t nitems)
    long PyLong_AsLongAndOverflow(object o, int* overflow) except? -1

cdef enum:
    HEADER = 9
    COMPRESSION = 0x01
    DIRECTION = 0x80
    COMPACT_AT = 64 * 1024
    READY = 0x02
    AUTHENTICATE = 0x03

Frame = _py.Frame
cdef object _Frame = _py.Frame
# the Python module's helpers: every error is raised by the same code in both implementations
cdef object _check_header = _py._check_header
cdef object _check_version_byte = _py._check_version_byte
cdef object _py_encode_frame = _py.encode_frame
cdef object _py_encode_plain_frames = _py.encode_plain_frames

cdef bint _response_ok[256]
cdef bint _request_ok[256]
for _i in range(256):
    _response_ok[_i] = _i in RESPONSE_OPCODES
    _request_ok[_i] = _i in REQUEST_OPCODES


cdef inline object _frame(int version, int flags, int stream, int opcode, object body):
    # a Frame (a namedtuple: a tuple subclass without a __dict__) filled in place, as
    # tuple.__new__(Frame, (...)) would, without the intermediate tuple
    frame = PyType_GenericAlloc(<PyTypeObject*>_Frame, 5)
    cdef object v = version, f = flags, s = stream, o = opcode
    Py_INCREF(v)
    PyTuple_SET_ITEM(frame, 0, v)
    Py_INCREF(f)
    PyTuple_SET_ITEM(frame, 1, f)
    Py_INCREF(s)
    PyTuple_SET_ITEM(frame, 2, s)
    Py_INCREF(o)
    PyTuple_SET_ITEM(frame, 3, o)
    Py_INCREF(body)
    PyTuple_SET_ITEM(frame, 4, body)
    return frame


cdef inline bint _small_int(object value, long* out):
    # an int (IntEnum opcodes included; not bool, whose repr would differ in an error) that
    # fits a C long; else the Python code decides, and raises
    cdef int overflow = 0
    if not isinstance(value, int) or type(value) is bool:
        return False
    out[0] = PyLong_AsLongAndOverflow(value, &overflow)
    return overflow == 0


def encode_frame(version, flags, stream, opcode, body, compressor=None, *, is_response=False):
    """The bytes of one frame (see :func:`greencql.protocol.frames.encode_frame`)."""
    cdef long v = 0, f = 0, s = 0, o = 0
    cdef Py_ssize_t n
    cdef char* out
    if (
        type(body) is not bytes
        or (compressor is not None and (version & 0x7F) < 5 and PyBytes_GET_SIZE(body))
        or not _small_int(version, &v)
        or not _small_int(flags, &f)
        or not _small_int(stream, &s)
        or not _small_int(opcode, &o)
    ):
        return _py_encode_frame(
            version, flags, stream, opcode, body, compressor, is_response=is_response
        )
    if is_response:
        v |= DIRECTION
    f &= 0xFF & ~COMPRESSION
    n = PyBytes_GET_SIZE(body)
    if not (0 <= v <= 0xFF and -0x8000 <= s <= 0x7FFF and 0 <= o <= 0xFF and n <= 0x7FFFFFFF):
        return _py_encode_frame(
            version, flags, stream, opcode, body, compressor, is_response=is_response
        )
    result = PyBytes_FromStringAndSize(NULL, HEADER + n)
    out = PyBytes_AS_STRING(result)
    _write_header(out, v, f, s, o, n)
    if n:
        memcpy(out + HEADER, PyBytes_AS_STRING(body), n)
    return result


cdef inline void _write_header(char* out, long v, long f, long s, long o, Py_ssize_t n) noexcept:
    out[0] = <char>v
    out[1] = <char>f
    out[2] = <char>((s >> 8) & 0xFF)
    out[3] = <char>(s & 0xFF)
    out[4] = <char>o
    out[5] = <char>((n >> 24) & 0xFF)
    out[6] = <char>((n >> 16) & 0xFF)
    out[7] = <char>((n >> 8) & 0xFF)
    out[8] = <char>(n & 0xFF)


def encode_plain_frames(version, items, is_response):
    """The bytes of uncompressed, unsegmented frames, ``(stream, opcode, body[, flags])``
    each, in order (see :func:`greencql.protocol.frames.encode_plain_frames`): measured, then
    written into one bytes object. Anything unusual in the batch (another item shape, a field
    out of range, a body that is not ``bytes``) and the Python function encodes the batch, or
    raises its error."""
    cdef long v = 0, f = 0, s = 0, o = 0
    cdef Py_ssize_t total = 0, n, i, count
    cdef char* out
    cdef tuple item
    if (type(items) is not list and type(items) is not tuple) or not _small_int(version, &v):
        return _py_encode_plain_frames(version, items, is_response)
    if is_response:
        v |= DIRECTION
    if not 0 <= v <= 0xFF:
        return _py_encode_plain_frames(version, items, is_response)
    count = len(items)
    for i in range(count):
        raw = items[i]
        if type(raw) is not tuple:
            return _py_encode_plain_frames(version, items, is_response)
        item = <tuple>raw
        if len(item) == 4:
            if not _small_int(item[3], &f):
                return _py_encode_plain_frames(version, items, is_response)
        elif len(item) != 3:
            return _py_encode_plain_frames(version, items, is_response)
        body = item[2]
        if (
            type(body) is not bytes
            or not _small_int(item[0], &s)
            or not _small_int(item[1], &o)
            or not (-0x8000 <= s <= 0x7FFF and 0 <= o <= 0xFF)
            or PyBytes_GET_SIZE(body) > 0x7FFFFFFF
        ):
            return _py_encode_plain_frames(version, items, is_response)
        total += HEADER + PyBytes_GET_SIZE(body)
    result = PyBytes_FromStringAndSize(NULL, total)
    out = PyBytes_AS_STRING(result)
    for i in range(count):
        item = <tuple>items[i]
        f = (<long>item[3]) if len(item) == 4 else 0
        body = item[2]
        n = PyBytes_GET_SIZE(body)
        _write_header(out, v, f & (0xFF & ~COMPRESSION), <long>item[0], <long>item[1], n)
        if n:
            memcpy(out + HEADER, PyBytes_AS_STRING(body), n)
        out += HEADER + n
    return result


cdef class FrameDecoder:
    """Turns a byte stream of plain (unsegmented) frames into Frame objects (see
    :class:`greencql.protocol.frames.FrameDecoder`)."""

    cdef public object version
    cdef public bint is_response
    cdef public object max_body_length
    cdef public object compressor
    cdef public bint stop_after_switch
    cdef readonly bytearray _buf
    cdef readonly Py_ssize_t _pos
    cdef readonly object _error

    def __init__(
        self,
        version=None,
        *,
        is_response=True,
        max_body_length=DEFAULT_MAX_FRAME_BODY,
        compressor=None,
    ):
        self.version = version
        self.is_response = is_response
        self.max_body_length = max_body_length
        self.compressor = compressor
        self.stop_after_switch = False
        self._buf = bytearray()
        self._pos = 0
        self._error = None

    def buffered(self):
        """Bytes received but not yet part of a complete frame."""
        return PyByteArray_GET_SIZE(self._buf) - self._pos

    def take_buffered(self):
        """Remove and return the unconsumed bytes."""
        rest = bytes(self._buf[self._pos:])
        del self._buf[:]
        self._pos = 0
        return rest

    def feed(self, data):
        """Frames completed by ``data`` (possibly none); any chunking is fine."""
        cdef Py_ssize_t used, size
        cdef list frames
        if self._error is not None:
            raise self._error
        buf = self._buf
        if type(data) is bytes and not PyByteArray_GET_SIZE(buf):
            frame = self._whole_frame(data)
            if frame is not None:
                return [frame]
        frames = []
        try:
            if self._pos == PyByteArray_GET_SIZE(buf) and isinstance(data, bytes):
                # nothing buffered: parse straight from the caller's bytes
                size = len(data)
                used = self._parse(data, <const unsigned char*>PyBytes_AS_STRING(data),
                                   0, size, self.stop_after_switch, frames)
                del buf[:]
                self._pos = 0
                if used < size:
                    buf += memoryview(data)[used:]
                return frames
            buf += data
            self._pos = self._parse(buf, <const unsigned char*>PyByteArray_AS_STRING(buf),
                                    self._pos, PyByteArray_GET_SIZE(buf),
                                    self.stop_after_switch, frames)
        except ProtocolError as exc:
            self._error = exc
            raise
        size = PyByteArray_GET_SIZE(buf)
        if self._pos == size:
            del buf[:]
            self._pos = 0
        elif self._pos >= COMPACT_AT:
            del buf[:self._pos]
            self._pos = 0
        return frames

    def decode_exact(self, data):
        """Frames filling ``data`` exactly (a self-contained v5 segment)."""
        cdef Py_ssize_t used, size
        cdef list frames = []
        cdef const unsigned char[::1] view
        if type(data) is bytes:
            frame = self._whole_frame(data)
            if frame is not None:
                return [frame]
            size = PyBytes_GET_SIZE(data)
            used = self._parse(data, <const unsigned char*>PyBytes_AS_STRING(data),
                               0, size, False, frames)
        else:
            size = len(data)  # None and other non-buffers fail here, as in Python
            view = data
            size = view.shape[0]
            used = self._parse(data, &view[0] if size else NULL, 0, size, False, frames)
        if used != size:
            raise MalformedError(
                f"self-contained segment ends inside a frame ({size - used} bytes left over)"
            )
        return frames

    cdef object _whole_frame(self, bytes data):
        cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
        cdef const unsigned char* p
        cdef int byte, flags, opcode, version
        cdef long length
        if size < HEADER or self.version is None:
            return None
        p = <const unsigned char*>PyBytes_AS_STRING(data)
        length = <int32_t>((<uint32_t>p[5] << 24) | (<uint32_t>p[6] << 16)
                           | (<uint32_t>p[7] << 8) | p[8])
        if size != HEADER + length:
            return None
        version = self.version
        byte = p[0]
        flags = p[1]
        opcode = p[4]
        if (
            byte == ((version | DIRECTION) if self.is_response else version)
            and not flags & COMPRESSION
            and (_response_ok[opcode] if self.is_response else _request_ok[opcode])
            and length <= self.max_body_length
            and not (self.stop_after_switch and (opcode == READY or opcode == AUTHENTICATE))
        ):
            return _frame(version, flags, <int16_t>((p[2] << 8) | p[3]), opcode,
                          PyBytes_FromStringAndSize(<const char*>p + HEADER, length))
        return None

    cdef Py_ssize_t _parse(
        self, object data, const unsigned char* p, Py_ssize_t pos, Py_ssize_t end,
        bint stop_after_switch, list frames,
    ) except -1:
        cdef object expected = self.version
        cdef bint is_response = self.is_response
        cdef long max_length
        cdef int fixed_byte, byte, flags, opcode, version, stream
        cdef long length
        cdef Py_ssize_t stop
        cdef bint* opcodes = &_response_ok[0] if is_response else &_request_ok[0]
        cdef int overflow = 0
        max_length = PyLong_AsLongAndOverflow(self.max_body_length, &overflow)
        if overflow:
            max_length = 0x7FFFFFFF if overflow > 0 else -1
        fixed_byte = -1 if expected is None else (<int>expected | (DIRECTION if is_response else 0))
        while pos < end:
            if end - pos < HEADER:
                _check_version_byte(p[pos], expected, is_response)
                break
            byte = p[pos]
            flags = p[pos + 1]
            stream = <int16_t>((p[pos + 2] << 8) | p[pos + 3])
            opcode = p[pos + 4]
            length = <int32_t>((<uint32_t>p[pos + 5] << 24) | (<uint32_t>p[pos + 6] << 16)
                               | (<uint32_t>p[pos + 7] << 8) | p[pos + 8])
            version = byte & 0x7F
            if byte != fixed_byte or not opcodes[opcode] or not 0 <= length <= max_length:
                # the precise error (or a negotiating-mode version, accepted)
                _check_header(data, pos, expected, is_response, self.max_body_length)
            stop = pos + HEADER + length
            if stop > end:
                break
            body = PyBytes_FromStringAndSize(<const char*>p + pos + HEADER, length)
            if flags & COMPRESSION and version < 5:
                body = self._decompress(body)
                flags &= 0xFF & ~COMPRESSION
            frames.append(_frame(version, flags, stream, opcode, body))
            pos = stop
            if stop_after_switch and (opcode == READY or opcode == AUTHENTICATE):
                break
        return pos

    def _decompress(self, body):
        if self.compressor is None:
            raise CompressionError("received a compressed frame but no compression is set up")
        return self.compressor.decompress_body(body, self.max_body_length)
