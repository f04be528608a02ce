# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython twin of the bind-value encoding of :mod:`greencql.protocol.types`: ``encode_value``
and the encoders of the native types a bind value most often has (the integers, double,
boolean, text, blob).

Same names, signatures, results and errors as the Python code (chosen by greencql._speedups):
each encoder takes the common case (an ``int``, a ``float``, a ``str``, ``bytes``) in C and
hands anything else -- another type, a value out of range -- to the Python encoder it twins,
which converts or raises exactly as without the twin. Decoding is not here (rows.py's twin
owns it). The Python module documents the formats; this file only owns the speed.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

import struct

import greencql.protocol.types as _py
from greencql.protocol.wire import UNSET

cdef extern from "Python.h":
    long long PyLong_AsLongLongAndOverflow(object o, int* overflow) except? -1
    int PyFloat_Pack8(double x, char* p, int le) except -1

cdef object _UNSET = UNSET
cdef tuple _CAUGHT = (TypeError, ValueError, OverflowError, struct.error)

# the Python encoders, for everything the fast paths do not take
cdef object _py_int = _py.INT.encode
cdef object _py_bigint = _py.BIGINT.encode
cdef object _py_counter = _py.COUNTER.encode
cdef object _py_smallint = _py.SMALLINT.encode
cdef object _py_tinyint = _py.TINYINT.encode
cdef object _py_double = _py.DOUBLE.encode
cdef object _py_boolean = _py.BOOLEAN.encode
cdef object _py_text = _py.TEXT.encode
cdef object _py_blob = _py.BLOB.encode

cdef bytes _TRUE = b"\x01"
cdef bytes _FALSE = b"\x00"


def encode_value(t, value, name=None):
    """Encode one bind value: None stays None (null), UNSET stays UNSET; anything else goes
    through ``t.encode``. A TypeError / ValueError names the column and its CQL type."""
    if value is None or value is _UNSET:
        return value
    try:
        return t.encode(value)
    except _CAUGHT as exc:
        where = f"column {name!r}" if name is not None else "value"
        cls = TypeError if isinstance(exc, TypeError) else ValueError
        raise cls(f"{where} of type {t.cql_name}: {exc}") from exc


cdef inline bytes _big_endian(long long v, int size):
    cdef bytes out = PyBytes_FromStringAndSize(NULL, size)
    cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
    cdef unsigned long long u = <unsigned long long>v
    cdef int i
    for i in range(size - 1, -1, -1):
        p[i] = <unsigned char>(u & 0xFF)
        u >>= 8
    return out


cdef inline bint _exact_int(object value, long long* out):
    # an exact int (not bool, not a subclass: their conversion and errors stay Python's)
    cdef int overflow = 0
    if type(value) is not int:
        return False
    out[0] = PyLong_AsLongLongAndOverflow(value, &overflow)
    return overflow == 0


def encode_int(value):
    cdef long long v = 0
    if _exact_int(value, &v) and -0x80000000 <= v <= 0x7FFFFFFF:
        return _big_endian(v, 4)
    return _py_int(value)


def encode_bigint(value):
    cdef long long v = 0
    if _exact_int(value, &v):
        return _big_endian(v, 8)
    return _py_bigint(value)


def encode_counter(value):
    cdef long long v = 0
    if _exact_int(value, &v):
        return _big_endian(v, 8)
    return _py_counter(value)


def encode_smallint(value):
    cdef long long v = 0
    if _exact_int(value, &v) and -0x8000 <= v <= 0x7FFF:
        return _big_endian(v, 2)
    return _py_smallint(value)


def encode_tinyint(value):
    cdef long long v = 0
    if _exact_int(value, &v) and -0x80 <= v <= 0x7F:
        return _big_endian(v, 1)
    return _py_tinyint(value)


def encode_double(value):
    cdef bytes out
    if type(value) is float:
        out = PyBytes_FromStringAndSize(NULL, 8)
        PyFloat_Pack8(<double>value, PyBytes_AS_STRING(out), 0)
        return out
    return _py_double(value)


def encode_boolean(value):
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    return _py_boolean(value)


def encode_text(value):
    if type(value) is str:
        return (<str>value).encode("utf-8")
    return _py_text(value)


def encode_blob(value):
    if type(value) is bytes:
        return value
    return _py_blob(value)


#: CQL type name -> the compiled encoder of that native type
ENCODERS = {
    "int": encode_int,
    "bigint": encode_bigint,
    "counter": encode_counter,
    "smallint": encode_smallint,
    "tinyint": encode_tinyint,
    "double": encode_double,
    "boolean": encode_boolean,
    "text": encode_text,
    "blob": encode_blob,
}
