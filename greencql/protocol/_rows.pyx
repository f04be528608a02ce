# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The Cython twin of the hot functions of ``greencql.protocol.rows``: ``_rows_at`` and
``_rows_chunk``, same names, signatures, values and errors (``rows.py`` rebinds its names to
these when ``greencql._speedups.twin`` gives this module).

How: per columns tuple (cached by identity, as rows.py caches its generated decoders), a plan
of one kind code per column. The common types are read in C straight off the bytes (int,
bigint, counter, smallint, tinyint, double, float, boolean, text, ascii, blob, custom, uuid,
timeuuid, timestamp, lists of int / bigint / text, and maps of text to int / bigint / text:
dicts, or with the driver value types cassandra-driver's OrderedMapSerializedKey, built in
place as rows.py's decoders build them); every other type is handed the cell's bytes through
its Python decoder (the ``driver_decoder`` or the type's ``decode``, as rows.py does). Any irregularity at all (a
length past the end, a cell of an unexpected size, a value the decoder refuses, a value out of
range) sends the whole range to rows.py's careful decoder, which raises the precise
ProtocolError (or returns the right rows): so errors are rows.py's own.

Must not: do IO, know about frames or messages.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.datetime cimport import_datetime, timedelta_new
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.long cimport PyLong_FromLong, PyLong_FromLongLong
from cpython.float cimport PyFloat_FromDouble
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.unicode cimport PyUnicode_DecodeASCII, PyUnicode_DecodeUTF8
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

import datetime
import uuid

from greencql.errors import MalformedError, TruncatedError
from greencql.protocol import rows as _py
from greencql.protocol.types import DEFAULT_VALUE_TYPES, driver_decoder
from greencql.protocol.values import OrderedMapSerializedKey as _OrderedMap

cdef extern from "Python.h":
    object _PyLong_FromByteArray(const unsigned char* data, size_t n, int little_endian,
                                 int is_signed)

# A uuid.UUID is made as UUID.__init__ makes it (its two slots, int and is_safe, set in
# place) without calling anything: the slots' offsets are read off their member descriptors.
cdef extern from *:
    """
    #include <structmember.h>
    static Py_ssize_t greencql_member_offset(PyObject *descr) {
        if (Py_TYPE(descr) != &PyMemberDescr_Type) return -1;
        PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
        if (m->type != T_OBJECT_EX && m->type != T_OBJECT) return -1;
        return m->offset;
    }
    static PyObject *greencql_new_slotted(PyObject *type, Py_ssize_t off1, PyObject *v1,
                                          Py_ssize_t off2, PyObject *v2) {
        PyTypeObject *tp = (PyTypeObject *)type;
        PyObject *obj = tp->tp_alloc(tp, 0);
        if (obj == NULL) return NULL;
        Py_INCREF(v1);
        *(PyObject **)((char *)obj + off1) = v1;
        Py_INCREF(v2);
        *(PyObject **)((char *)obj + off2) = v2;
        return obj;
    }
    static PyObject *greencql_new_slotted3(PyObject *type, Py_ssize_t off1, PyObject *v1,
                                           Py_ssize_t off2, PyObject *v2,
                                           Py_ssize_t off3, PyObject *v3) {
        PyObject *obj = greencql_new_slotted(type, off1, v1, off2, v2);
        if (obj == NULL) return NULL;
        Py_INCREF(v3);
        *(PyObject **)((char *)obj + off3) = v3;
        return obj;
    }
    """
    Py_ssize_t greencql_member_offset(object descr)
    object greencql_new_slotted(object tp, Py_ssize_t off1, object v1, Py_ssize_t off2,
                                object v2)
    object greencql_new_slotted3(object tp, Py_ssize_t off1, object v1, Py_ssize_t off2,
                                 object v2, Py_ssize_t off3, object v3)

import_datetime()

# kind codes
DEF K_GENERIC = 0
DEF K_INT = 1
DEF K_BIGINT = 2
DEF K_SMALLINT = 3
DEF K_TINYINT = 4
DEF K_DOUBLE = 5
DEF K_FLOAT = 6
DEF K_BOOLEAN = 7
DEF K_TEXT = 8
DEF K_ASCII = 9
DEF K_BLOB = 10
DEF K_UUID = 11
DEF K_TIMESTAMP = 12
DEF K_LIST_INT = 13
DEF K_LIST_BIGINT = 14
DEF K_LIST_TEXT = 15
DEF K_MAP_TEXT_INT = 16
DEF K_MAP_TEXT_BIGINT = 17
DEF K_MAP_TEXT_TEXT = 18

cdef dict _KINDS = {
    "int": K_INT, "bigint": K_BIGINT, "counter": K_BIGINT, "smallint": K_SMALLINT,
    "tinyint": K_TINYINT, "double": K_DOUBLE, "float": K_FLOAT, "boolean": K_BOOLEAN,
    "text": K_TEXT, "ascii": K_ASCII, "blob": K_BLOB, "custom": K_BLOB, "uuid": K_UUID,
    "timeuuid": K_UUID, "timestamp": K_TIMESTAMP,
}
cdef dict _LIST_KINDS = {"int": K_LIST_INT, "bigint": K_LIST_BIGINT, "text": K_LIST_TEXT}
cdef dict _MAP_KINDS = {"int": K_MAP_TEXT_INT, "bigint": K_MAP_TEXT_BIGINT,
                        "text": K_MAP_TEXT_TEXT}

cdef object _UUID = uuid.UUID
cdef object _new_object = object.__new__
cdef object _set_int = uuid.UUID.int.__set__
cdef object _set_safe = uuid.UUID.is_safe.__set__
cdef object _unknown = uuid.SafeUUID.unknown
cdef Py_ssize_t _INT_OFFSET = greencql_member_offset(uuid.UUID.int)
cdef Py_ssize_t _SAFE_OFFSET = greencql_member_offset(uuid.UUID.is_safe)
# the plain uuid.UUID class, whose only instance state is those two slots
cdef bint _DIRECT_UUID = (_INT_OFFSET > 0 and _SAFE_OFFSET > 0
                          and not hasattr(uuid.UUID(int=0), "__dict__"))
# the driver's maps are made as OrderedMapSerializedKey._decoded makes them (three slots)
cdef Py_ssize_t _MAP_KEY_OFFSET = greencql_member_offset(_OrderedMap._encode_key)
cdef Py_ssize_t _MAP_ITEMS_OFFSET = greencql_member_offset(_OrderedMap._items)
cdef Py_ssize_t _MAP_INDEX_OFFSET = greencql_member_offset(_OrderedMap._index)
cdef bint _DIRECT_MAP = (_MAP_KEY_OFFSET > 0 and _MAP_ITEMS_OFFSET > 0
                         and _MAP_INDEX_OFFSET > 0
                         and not hasattr(_OrderedMap._decoded(None, [], {}), "__dict__"))
cdef object _EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
cdef object _EPOCH_NAIVE = datetime.datetime(1970, 1, 1)

# id(columns) -> (columns, kinds, decoders), one cache per value mode (bounded like rows.py's)
cdef dict _PLANS_MODERN = {}
cdef dict _PLANS_DRIVER = {}
cdef int _MAX_PLANS = 256


def _clear_plans():
    """Forget every plan (rows.register_user_type: user types decode to a new class)."""
    _PLANS_MODERN.clear()
    _PLANS_DRIVER.clear()


cdef inline int32_t _i32(const unsigned char* p) noexcept nogil:
    return <int32_t>((<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8)
                     | <uint32_t>p[3])


cdef inline int64_t _i64(const unsigned char* p) noexcept nogil:
    return <int64_t>((<uint64_t>p[0] << 56) | (<uint64_t>p[1] << 48) | (<uint64_t>p[2] << 40)
                     | (<uint64_t>p[3] << 32) | (<uint64_t>p[4] << 24) | (<uint64_t>p[5] << 16)
                     | (<uint64_t>p[6] << 8) | <uint64_t>p[7])


cdef class _Plan:
    cdef tuple columns
    cdef bytes kinds
    cdef list decoders
    cdef list extras
    cdef object epoch


class _Irregular(Exception):
    """Internal: the fast reader met something only the careful reader may judge."""


cdef _Plan _plan(tuple columns, bint driver):
    cdef dict plans = _PLANS_DRIVER if driver else _PLANS_MODERN
    cdef _Plan plan = plans.get(id(columns))
    if plan is not None and plan.columns is columns:
        return plan
    plan = _Plan()
    plan.columns = columns
    kinds = bytearray()
    decoders = []
    extras = []
    for c in columns:
        t = c.type
        kind = _KINDS.get(t.kind, K_GENERIC)
        extra = None
        if t.kind == "list" and t.subtypes:
            kind = _LIST_KINDS.get(t.subtypes[0].kind, K_GENERIC)
        elif t.kind == "map" and len(t.subtypes) == 2 and t.subtypes[0].kind == "text":
            kind = _MAP_KINDS.get(t.subtypes[1].kind, K_GENERIC)
            if driver:  # cassandra-driver's OrderedMapSerializedKey, as types.py builds it
                extra = (_OrderedMap._decoded, t.subtypes[0].encode)
        kinds.append(kind)
        decoders.append(driver_decoder(t) if driver else t.decode)
        extras.append(extra)
    plan.kinds = bytes(kinds)
    plan.decoders = decoders
    plan.extras = extras
    plan.epoch = _EPOCH_NAIVE if driver else _EPOCH_UTC
    if len(plans) >= _MAX_PLANS:
        plans.clear()
    plans[id(columns)] = plan
    return plan


cdef object _uuid(const unsigned char* p):
    if _DIRECT_UUID:
        return greencql_new_slotted(_UUID, _INT_OFFSET, _PyLong_FromByteArray(p, 16, 0, 0),
                                    _SAFE_OFFSET, _unknown)
    u = _new_object(_UUID)
    _set_int(u, _PyLong_FromByteArray(p, 16, 0, 0))
    _set_safe(u, _unknown)
    return u


cdef object _list(int kind, const unsigned char* buf, Py_ssize_t p, Py_ssize_t n):
    """A list<int|bigint|text> cell of n > 0 bytes at p; raises _Irregular for anything the
    type's decoder must judge (null or odd-sized elements, a short or long cell)."""
    cdef Py_ssize_t stop = p + n
    cdef int32_t count, m
    cdef Py_ssize_t i
    if n < 4:
        raise _Irregular()
    count = _i32(buf + p)
    p += 4
    if count < 0 or <Py_ssize_t>count * 4 > stop - p:
        raise _Irregular()
    out = PyList_New(count)
    for i in range(count):
        if p + 4 > stop:
            raise _Irregular()
        m = _i32(buf + p)
        p += 4
        if kind == K_LIST_INT:
            if m != 4 or p + 4 > stop:
                raise _Irregular()
            v = PyLong_FromLong(_i32(buf + p))
        elif kind == K_LIST_BIGINT:
            if m != 8 or p + 8 > stop:
                raise _Irregular()
            v = PyLong_FromLongLong(_i64(buf + p))
        else:
            if m < 0 or p + m > stop:
                raise _Irregular()
            v = PyUnicode_DecodeUTF8(<const char*>buf + p, m, NULL)
        p += m
        Py_INCREF(v)
        PyList_SET_ITEM(out, i, v)
    if p != stop:
        raise _Irregular()
    return out


cdef object _map(int kind, const unsigned char* buf, Py_ssize_t p, Py_ssize_t n,
                 object extra):
    """A map<text, int|bigint|text> cell of n > 0 bytes at p: a dict ("modern"), or the
    driver's OrderedMapSerializedKey (`extra`: its builder and key encoder); raises _Irregular
    for anything the type's decoder must judge (null keys or values, odd sizes, a repeated
    key in driver mode, a short or long cell)."""
    cdef Py_ssize_t stop = p + n
    cdef int32_t count, m
    cdef Py_ssize_t i
    cdef dict out
    cdef list pairs
    cdef dict index
    if n < 4:
        raise _Irregular()
    count = _i32(buf + p)
    p += 4
    if count < 0 or <Py_ssize_t>count * 8 > stop - p:
        raise _Irregular()
    if extra is None:
        out = {}
    else:
        pairs = PyList_New(count)
        index = {}
    for i in range(count):
        if p + 4 > stop:
            raise _Irregular()
        m = _i32(buf + p)
        p += 4
        if m < 0 or p + m > stop:
            raise _Irregular()
        key = PyUnicode_DecodeUTF8(<const char*>buf + p, m, NULL)
        if extra is not None:
            kb = PyBytes_FromStringAndSize(<const char*>buf + p, m)
            if kb in index:
                raise _Irregular()
            index[kb] = i
        p += m
        if p + 4 > stop:
            raise _Irregular()
        m = _i32(buf + p)
        p += 4
        if kind == K_MAP_TEXT_INT:
            if m != 4 or p + 4 > stop:
                raise _Irregular()
            v = PyLong_FromLong(_i32(buf + p))
        elif kind == K_MAP_TEXT_BIGINT:
            if m != 8 or p + 8 > stop:
                raise _Irregular()
            v = PyLong_FromLongLong(_i64(buf + p))
        else:
            if m < 0 or p + m > stop:
                raise _Irregular()
            v = PyUnicode_DecodeUTF8(<const char*>buf + p, m, NULL)
        p += m
        if extra is None:
            out[key] = v
        else:
            pair = (key, v)
            Py_INCREF(pair)
            PyList_SET_ITEM(pairs, i, pair)
    if p != stop:
        raise _Irregular()
    if extra is None:
        return out
    if _DIRECT_MAP:
        return greencql_new_slotted3(_OrderedMap, _MAP_KEY_OFFSET, extra[1],
                                     _MAP_ITEMS_OFFSET, pairs, _MAP_INDEX_OFFSET, index)
    return extra[0](extra[1], pairs, index)


cdef tuple _fast(bytes data, Py_ssize_t pos, Py_ssize_t end, Py_ssize_t count, _Plan plan):
    """(rows, offset after them); raises (anything) when the careful reader must decide."""
    cdef const unsigned char* buf = <const unsigned char*>PyBytes_AS_STRING(data)
    cdef const unsigned char* kinds = <const unsigned char*>PyBytes_AS_STRING(plan.kinds)
    cdef list decoders = plan.decoders
    cdef list extras = plan.extras
    cdef object epoch = plan.epoch
    cdef Py_ssize_t ncols = PyBytes_GET_SIZE(plan.kinds)
    cdef Py_ssize_t r, c
    cdef int32_t n
    cdef int kind
    cdef int64_t ms, days, secs, us
    cdef double d
    cdef float f
    cdef uint32_t u32
    cdef uint64_t u64
    cdef list rows = PyList_New(count)
    cdef tuple row
    if end > PyBytes_GET_SIZE(data):
        raise _Irregular()
    for r in range(count):
        row = PyTuple_New(ncols)
        for c in range(ncols):
            if pos + 4 > end:
                raise _Irregular()
            n = _i32(buf + pos)
            pos += 4
            if n < 0:
                v = None
            else:
                if pos + n > end:
                    raise _Irregular()
                kind = kinds[c]
                if kind == K_INT and n == 4:
                    v = PyLong_FromLong(_i32(buf + pos))
                elif kind == K_BIGINT and n == 8:
                    v = PyLong_FromLongLong(_i64(buf + pos))
                elif kind == K_TEXT:
                    v = PyUnicode_DecodeUTF8(<const char*>buf + pos, n, NULL)
                elif kind == K_DOUBLE and n == 8:
                    u64 = <uint64_t>_i64(buf + pos)
                    memcpy(&d, &u64, 8)
                    v = PyFloat_FromDouble(d)
                elif kind == K_BOOLEAN and n == 1:
                    v = True if buf[pos] != 0 else False
                elif kind == K_UUID and n == 16:
                    v = _uuid(buf + pos)
                elif kind == K_TIMESTAMP and n == 8:
                    # timedelta(milliseconds=ms) as Python normalizes it (floor division;
                    # cdivision: C's truncating / and % are corrected by hand)
                    ms = _i64(buf + pos)
                    secs = ms / 1000
                    us = ms % 1000
                    if us < 0:
                        us += 1000
                        secs -= 1
                    days = secs / 86400
                    secs = secs % 86400
                    if secs < 0:
                        secs += 86400
                        days -= 1
                    if days < -999999999 or days > 999999999:
                        raise OverflowError("timestamp out of range")
                    v = epoch + timedelta_new(<int>days, <int>secs, <int>(us * 1000))
                elif kind == K_BLOB:
                    v = PyBytes_FromStringAndSize(<const char*>buf + pos, n)
                elif kind == K_ASCII:
                    v = PyUnicode_DecodeASCII(<const char*>buf + pos, n, NULL)
                elif kind == K_FLOAT and n == 4:
                    u32 = <uint32_t>_i32(buf + pos)
                    memcpy(&f, &u32, 4)
                    v = PyFloat_FromDouble(<double>f)
                elif kind == K_SMALLINT and n == 2:
                    v = PyLong_FromLong(<int16_t>((<uint16_t>buf[pos] << 8) | buf[pos + 1]))
                elif kind == K_TINYINT and n == 1:
                    v = PyLong_FromLong(<int8_t>buf[pos])
                elif kind >= K_MAP_TEXT_INT and n > 0:
                    try:
                        v = _map(kind, buf, pos, n, extras[c])
                    except _Irregular:
                        v = decoders[c](data[pos:pos + n])
                elif kind >= K_LIST_INT and n > 0:
                    try:
                        v = _list(kind, buf, pos, n)
                    except _Irregular:
                        v = decoders[c](data[pos:pos + n])
                else:
                    v = decoders[c](data[pos:pos + n])
                pos += n
            Py_INCREF(v)
            PyTuple_SET_ITEM(row, c, v)
        Py_INCREF(row)
        PyList_SET_ITEM(rows, r, row)
    return rows, pos


def _rows_chunk(data, pos, end, count, columns, value_types=DEFAULT_VALUE_TYPES, first_row=0):
    """`count` rows (no <rows_count> before them) at `pos`, not past `end`, and the offset
    after them (rows.py's ``_rows_chunk``)."""
    cdef bint driver = value_types == "driver"
    if not driver and value_types != "modern":
        raise ValueError(f"value_types must be 'driver' or 'modern', got {value_types!r}")
    if type(data) is not bytes or type(columns) is not tuple:
        return _py._rows_chunk_python(data, pos, end, count, columns, value_types, first_row)
    if not columns:
        return [()] * count, pos
    try:
        return _fast(data, pos, end, count, _plan(columns, driver))
    except Exception:
        return _py._decode_rows_careful(data, pos, end, count, columns, driver, first_row)


def _rows_at(data, pos, end, columns, value_types=DEFAULT_VALUE_TYPES):
    """rows.py's ``_rows_at``: the rows at `pos` (<rows_count> first, not past `end`) and the
    offset after them."""
    cdef Py_ssize_t p, e, ncols
    cdef int32_t count
    cdef bint driver
    if type(data) is not bytes or type(columns) is not tuple:
        return _py._rows_at_python(data, pos, end, columns, value_types)
    p = pos
    e = end
    ncols = len(columns)
    if p + 4 > e or e > PyBytes_GET_SIZE(data) or p < 0:
        if p + 4 > e:
            raise TruncatedError("ROWS result without a row count")
        return _py._rows_at_python(data, pos, end, columns, value_types)
    count = _i32(<const unsigned char*>PyBytes_AS_STRING(data) + p)
    p += 4
    if count < 0:
        raise MalformedError(f"negative row count {count}")
    if ncols == 0:
        if count > _py._MAX_EMPTY_ROWS:
            raise MalformedError(f"{count} rows of no columns")
        return [()] * count, p
    if <long long>count * ncols * 4 > e - p:
        raise TruncatedError(
            f"{count} rows x {ncols} columns cannot fit in the {e - p} bytes left"
        )
    driver = value_types == "driver"
    if not driver and value_types != "modern":
        raise ValueError(f"value_types must be 'driver' or 'modern', got {value_types!r}")
    try:
        return _fast(data, p, e, count, _plan(columns, driver))
    except Exception:
        return _py._decode_rows_careful(data, p, e, count, columns, driver)
