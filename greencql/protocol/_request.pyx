# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython twin of :func:`greencql.protocol.messages._fast_statement`: the body of a QUERY or an
EXECUTE, written in one pass into one bytes object.

Same contract as the Python function (chosen by greencql._speedups): identical bytes for every
request it takes, and ``_Generic`` (or any exception) for anything else -- a value that is not
bytes-like, a field out of range, a shape only the generic encoder writes -- so that
``encode_request`` hands it to the generic encoder, which writes it or raises the precise
error. It takes a little less than the Python function (exact ``str`` texts; values, ids
and paging states that are ``bytes``, ``bytearray`` or a byte ``memoryview``); what it
declines costs one failed attempt, never a different answer.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.limits cimport LLONG_MAX, LLONG_MIN
from libc.string cimport memcpy

import greencql.protocol.messages as _py
from greencql.protocol.wire import UNSET

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object o, int* overflow) except? -1

cdef object _Generic = _py._Generic
cdef object _Execute = _py.Execute
cdef object _Query = _py.Query
cdef object _UNSET = UNSET
cdef int _VALUES = _py._VALUES
cdef int _SKIP_METADATA = _py._SKIP_METADATA
cdef int _PAGE_SIZE = _py._PAGE_SIZE
cdef int _PAGING_STATE = _py._PAGING_STATE
cdef int _SERIAL = _py._SERIAL
cdef int _TIMESTAMP = _py._TIMESTAMP
cdef int _KEYSPACE = _py._KEYSPACE
cdef int _NOW = _py._NOW


cdef inline long long _int_in(object value, long long lo, long long hi) except? -1:
    # an int (what struct.pack takes: bools and IntEnums included) within lo..hi, else _Generic
    cdef int overflow = 0
    cdef long long v
    if not isinstance(value, int):
        raise _Generic
    v = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or not lo <= v <= hi:
        raise _Generic
    return v


cdef inline unsigned char* _put(unsigned char* p, unsigned long long v, int size) noexcept:
    cdef int i
    for i in range(size - 1, -1, -1):
        p[i] = <unsigned char>(v & 0xFF)
        v >>= 8
    return p + size


cdef inline unsigned char* _put_bytes(unsigned char* p, bytes data, int prefix) noexcept:
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
    p = _put(p, <unsigned long long>n, prefix)
    if n:
        memcpy(p, PyBytes_AS_STRING(data), n)
    return p + n


cdef bytes _as_bytes(object data):
    # what the Python function joins: bytes, or a buffer whose len() is its size in bytes
    if type(data) is bytes:
        return <bytes>data
    if type(data) is bytearray:
        return bytes(data)
    if type(data) is memoryview and (<object>data).itemsize == 1 and data.c_contiguous:
        return bytes(data)
    raise _Generic


def _fast_statement(msg, version):
    """The body of a QUERY or an EXECUTE in one pass; raises for what it does not cover."""
    cdef Py_ssize_t size, n, i, count
    cdef int flags = 0
    cdef long long consistency, page_size = 0, serial = 0, timestamp = 0, now = 0
    cdef int v
    cdef bytes query_id = None, md_id = None, query = None, paging_state = None, keyspace = None
    cdef bytes out
    cdef unsigned char* p
    cdef bint execute
    if not isinstance(version, int) or not (version == 3 or version == 4 or version == 5):
        raise _Generic
    v = version
    t = type(msg)
    if t is _Execute:
        execute = True
        query_id = _as_bytes(msg.query_id)
        if PyBytes_GET_SIZE(query_id) > 0xFFFF:
            raise _Generic
        size = 2 + PyBytes_GET_SIZE(query_id)
        if v >= 5:
            raw = msg.result_metadata_id
            if raw is None:
                raise _Generic
            md_id = _as_bytes(raw)
            if PyBytes_GET_SIZE(md_id) > 0xFFFF:
                raise _Generic
            size += 2 + PyBytes_GET_SIZE(md_id)
    elif t is _Query:
        execute = False
        text = msg.query
        if type(text) is not str:
            raise _Generic
        query = (<str>text).encode("utf-8")
        if PyBytes_GET_SIZE(query) > 0x7FFFFFFF:
            raise _Generic
        size = 4 + PyBytes_GET_SIZE(query)
    else:
        raise _Generic
    params = msg.params
    consistency = _int_in(params.consistency, 0, 0xFFFF)
    size += 2 + (4 if v >= 5 else 1)
    values = params.values
    count = -1
    if values is not None:
        if type(values) is list:
            values = tuple(values)  # what is measured below is what is written
        elif type(values) is not tuple:
            raise _Generic  # a Mapping (named values) or another Sequence
        for i in range(len(values)):
            value = values[i]
            if type(value) is bytearray or type(value) is memoryview:
                # rare: the same values with these as bytes (a copy, never the caller's)
                values = tuple([
                    x if x is None or x is _UNSET or type(x) is bytes else _as_bytes(x)
                    for x in values
                ])
                break
        count = len(values)
        if count > 0xFFFF:
            raise _Generic
        flags |= _VALUES
        size += 2
        for i in range(count):
            value = values[i]
            if value is None:
                size += 4
            elif value is _UNSET:
                if v < 4:
                    raise _Generic
                size += 4
            elif type(value) is bytes:
                n = PyBytes_GET_SIZE(value)
                if n > 0x7FFFFFFF:
                    raise _Generic
                size += 4 + n
            else:
                raise _Generic
    if params.skip_metadata:
        flags |= _SKIP_METADATA
    raw = params.page_size
    if raw is not None:
        flags |= _PAGE_SIZE
        page_size = _int_in(raw, -0x80000000, 0x7FFFFFFF)
        size += 4
    raw = params.paging_state
    if raw is not None:
        paging_state = _as_bytes(raw)
        if PyBytes_GET_SIZE(paging_state) > 0x7FFFFFFF:
            raise _Generic
        flags |= _PAGING_STATE
        size += 4 + PyBytes_GET_SIZE(paging_state)
    raw = params.serial_consistency
    if raw is not None:
        flags |= _SERIAL
        serial = _int_in(raw, 0, 0xFFFF)
        size += 2
    raw = params.timestamp
    if raw is not None:
        flags |= _TIMESTAMP
        timestamp = _int_in(raw, LLONG_MIN, LLONG_MAX)
        size += 8
    raw = params.keyspace
    if raw is not None:
        if v < 5 or type(raw) is not str:
            raise _Generic
        keyspace = (<str>raw).encode("utf-8")
        if PyBytes_GET_SIZE(keyspace) > 0xFFFF:
            raise _Generic
        flags |= _KEYSPACE
        size += 2 + PyBytes_GET_SIZE(keyspace)
    raw = params.now_in_seconds
    if raw is not None:
        if v < 5:
            raise _Generic
        flags |= _NOW
        now = _int_in(raw, -0x80000000, 0x7FFFFFFF)
        size += 4

    out = PyBytes_FromStringAndSize(NULL, size)
    p = <unsigned char*>PyBytes_AS_STRING(out)
    if execute:
        p = _put_bytes(p, query_id, 2)
        if v >= 5:
            p = _put_bytes(p, md_id, 2)
    else:
        p = _put_bytes(p, query, 4)
    p = _put(p, <unsigned long long>consistency, 2)
    p = _put(p, <unsigned long long>flags, 4 if v >= 5 else 1)
    if count >= 0:
        p = _put(p, <unsigned long long>count, 2)
        for i in range(count):
            value = values[i]
            if value is None:
                p = _put(p, 0xFFFFFFFF, 4)
            elif value is _UNSET:
                p = _put(p, 0xFFFFFFFE, 4)
            else:
                p = _put_bytes(p, <bytes>value, 4)
    if flags & _PAGE_SIZE:
        p = _put(p, <unsigned long long>page_size, 4)
    if paging_state is not None:
        p = _put_bytes(p, paging_state, 4)
    if flags & _SERIAL:
        p = _put(p, <unsigned long long>serial, 2)
    if flags & _TIMESTAMP:
        p = _put(p, <unsigned long long>timestamp, 8)
    if keyspace is not None:
        p = _put_bytes(p, keyspace, 2)
    if flags & _NOW:
        p = _put(p, <unsigned long long>now, 4)
    return out
