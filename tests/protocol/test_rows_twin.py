"""The Cython twin of row decoding (protocol/_rows.pyx) against the pure-Python rows.py.

For random columns of every CQL type and random rows (nulls included), in both value modes
("driver" and "modern"): the twin's ``_rows_at`` and ``_rows_chunk`` give the same rows
(same values, same types, same reprs) as rows.py's, and for mutated or cut bodies the same
exception type and message. cassandra-driver is the independent oracle for the values of the
types the twin reads in C (driver mode). Skipped where the twin is not built.
"""

from __future__ import annotations

import importlib
import math
import struct
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_driver_values import _same
from test_types_hypothesis import cql_types, driver_type, values_for

from greencql.protocol import rows as R
from greencql.protocol import types as T
from greencql.protocol.wire import Writer

pytestmark = pytest.mark.hubfree

try:
    C = importlib.import_module("greencql.protocol._rows")
except ImportError:  # not built: pure Python only
    C = None

pytestmark = [pytest.mark.hubfree,
              pytest.mark.skipif(C is None, reason="Cython twins not built")]

MODES = ("driver", "modern")
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# the types the twin reads in C, weighted up among every type
INLINED = [T.INT, T.BIGINT, T.COUNTER, T.SMALLINT, T.TINYINT, T.DOUBLE, T.FLOAT, T.BOOLEAN,
           T.TEXT, T.ASCII, T.BLOB, T.UUID, T.TIMEUUID, T.TIMESTAMP, T.ListType(T.INT),
           T.ListType(T.BIGINT), T.ListType(T.TEXT), T.MapType(T.TEXT, T.INT),
           T.MapType(T.TEXT, T.BIGINT), T.MapType(T.TEXT, T.TEXT)]
column_types = st.one_of(st.sampled_from(INLINED), cql_types, st.just(T.COUNTER))


def _columns(types):
    return tuple(R.ColumnSpec("ks", "t", f"c{i}", t) for i, t in enumerate(types))


def _body(columns, rows):
    w = Writer()
    R.encode_rows(w, columns, rows)
    return w.getvalue()


def _key(value):
    """What must be equal between the twin and Python: type and repr, all the way down
    (repr tells NaN, -0.0, True from 1; equality alone does not)."""
    return (type(value).__name__, repr(value))


def _outcome(fn, *args):
    try:
        rows, pos = fn(*args)
    except Exception as exc:  # the exception itself is what is compared
        return ("error", type(exc).__name__, str(exc))
    return ("rows", [[_key(v) for v in row] for row in rows], [type(r) for r in rows], pos)


def _both_at(body, columns, mode, pos=0, end=None):
    end = len(body) if end is None else end
    ours = _outcome(C._rows_at, body, pos, end, columns, mode)
    theirs = _outcome(R._rows_at_python, body, pos, end, columns, mode)
    assert ours == theirs
    return ours


@st.composite
def pages(draw):
    types = draw(st.lists(column_types, min_size=1, max_size=6))
    rows = [tuple(draw(st.one_of(st.none(), values_for(t))) for t in types)
            for _ in range(draw(st.integers(0, 5)))]
    return _columns(types), rows


@SETTINGS
@given(pages())
def test_twin_rows_equal_python_rows(page):
    columns, rows = page
    body = _body(columns, rows)
    for mode in MODES:
        got = _both_at(body, columns, mode)
        assert got[0] == "rows" and got[3] == len(body)


@SETTINGS
@given(pages(), st.data())
def test_twin_chunks_equal_python_chunks(page, data):
    columns, rows = page
    body = _body(columns, rows)
    split = data.draw(st.integers(0, len(rows)))
    for mode in MODES:
        first = _outcome(C._rows_chunk, body, 4, len(body), split, columns, mode, 0)
        assert first == _outcome(R._rows_chunk_python, body, 4, len(body), split, columns,
                                 mode, 0)
        rest = len(rows) - split
        pos = first[3]
        assert _outcome(C._rows_chunk, body, pos, len(body), rest, columns, mode, split) == \
            _outcome(R._rows_chunk_python, body, pos, len(body), rest, columns, mode, split)


@SETTINGS
@given(pages(), st.data())
def test_twin_errors_equal_python_errors_on_mutated_bodies(page, data):
    columns, rows = page
    body = bytearray(_body(columns, rows))
    if len(body) > 4:
        for _ in range(data.draw(st.integers(1, 3))):
            i = data.draw(st.integers(4, len(body) - 1))
            body[i] = data.draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, body[i] ^ 0x01]))
    end = data.draw(st.integers(0, len(body)))  # cut short too (or not)
    for mode in MODES:
        _both_at(bytes(body), columns, mode, 0, end)


# -- the inlined kinds at their edges ----------------------------------------------------------


def _cell_body(t, raw_cells):
    """One row per raw cell (None: null) of one column of type t."""
    w = Writer()
    w.write_int(len(raw_cells))
    for raw in raw_cells:
        w.write_bytes(raw)
    return _columns([t]), w.getvalue()


EDGE_CELLS = {
    T.INT: [b"", b"\x00\x00\x00", b"\x80\x00\x00\x00", b"\xff\xff\xff\xff", b"\x00" * 5],
    T.BIGINT: [b"", b"\x80" + b"\x00" * 7, b"\xff" * 8, b"\x00" * 4],
    T.SMALLINT: [b"", b"\x80\x00", b"\xff\xff", b"\x00"],
    T.TINYINT: [b"", b"\x80", b"\xff", b"\x00\x00"],
    T.DOUBLE: [b"", struct.pack(">d", math.nan), struct.pack(">d", -0.0),
               struct.pack(">d", math.inf), b"\x7f\xf0\x00\x00\x00\x00\x00\x01", b"\x00" * 4],
    T.FLOAT: [b"", struct.pack(">f", math.nan), struct.pack(">f", -0.0),
              b"\x7f\x80\x00\x01", struct.pack(">f", 1.1), b"\x00" * 8],
    T.BOOLEAN: [b"", b"\x00", b"\x01", b"\x02", b"\xff", b"\x00\x00"],
    T.TEXT: [b"", "é€𝄞".encode(), b"\xff", b"\xc3", b"a\x00b"],
    T.ASCII: [b"", b"abc", b"\x80", b"\x7f"],
    T.BLOB: [b"", b"\x00\xff"],
    T.UUID: [b"", b"\x00" * 16, b"\xff" * 16, b"\x00" * 15, uuid.uuid1().bytes],
    T.TIMEUUID: [uuid.uuid1().bytes, b"\x01" * 17],
    T.ListType(T.INT): [b"", b"\x00\x00\x00\x00", b"\x00\x00\x00\x01\xff\xff\xff\xff",
                        b"\x00\x00\x00\x01\x00\x00\x00\x03\x00\x00\x00",
                        b"\x00\x00\x00\x01\x00\x00\x00\x04\x00\x00\x00\x07\x00",
                        b"\xff\xff\xff\xff", b"\x00\x00\x00\x02\x00\x00\x00\x04\x00\x00\x00\x07"],
    T.ListType(T.TEXT): [b"\x00\x00\x00\x01\x00\x00\x00\x01\xff",
                         b"\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01a"],
    T.ListType(T.BIGINT): [b"\x00\x00\x00\x01\x00\x00\x00\x08" + b"\xff" * 8,
                           b"\x00\x00\x00\x01\xff\xff\xff\xff"],
}
def _map_cell(pairs):
    """A map cell: [count] then [bytes] key, [bytes] value (None: null)."""
    out = struct.pack(">i", len(pairs))
    for k, v in pairs:
        for part in (k, v):
            out += b"\xff\xff\xff\xff" if part is None else struct.pack(">i", len(part)) + part
    return out


_I4 = struct.pack(">i", 7)
_I8 = struct.pack(">q", -7)
for _t, _v in ((T.MapType(T.TEXT, T.INT), _I4), (T.MapType(T.TEXT, T.BIGINT), _I8),
               (T.MapType(T.TEXT, T.TEXT), b"v\xc3\xa9")):
    EDGE_CELLS[_t] = [
        b"", _map_cell([]), _map_cell([(b"a", _v), (b"bb", _v)]),
        _map_cell([(b"a", _v), (b"a", _v)]),  # a repeated key
        _map_cell([(b"a", None)]), _map_cell([(None, _v)]), _map_cell([(b"\xff", _v)]),
        _map_cell([(b"a", _v[:-1])]), _map_cell([(b"a", _v)]) + b"\x00",
        _map_cell([(b"a", _v)])[:-1], b"\x00\x00\x00\x05",
    ]
    EDGE_CELLS[_t] = [c for c in EDGE_CELLS[_t] if c is not None]

_MS = [0, 1, -1, 999, -999, 1000, -1000, -1001, 86_400_000, -86_400_001, 1_700_000_000_123,
       -62_135_596_800_000, -62_135_596_800_001, 253_402_300_799_999, 253_402_300_800_000,
       2**63 - 1, -(2**63)]
EDGE_CELLS[T.TIMESTAMP] = [b"", b"\x00" * 4] + [struct.pack(">q", ms) for ms in _MS]


@pytest.mark.parametrize("t", list(EDGE_CELLS), ids=lambda t: t.cql_name)
@pytest.mark.parametrize("mode", MODES)
def test_edge_cells_one_by_one_and_together(t, mode):
    cells = EDGE_CELLS[t]
    for raw in [*cells, None]:
        columns, body = _cell_body(t, [raw])
        _both_at(body, columns, mode)
    columns, body = _cell_body(t, [*cells, None])
    _both_at(body, columns, mode)


@pytest.mark.parametrize("mode", MODES)
def test_bad_value_types_and_short_bodies(mode):
    columns = _columns([T.INT])
    body = _body(columns, [(1,), (2,)])
    for end in range(len(body) + 1):
        _both_at(body, columns, mode, 0, end)
    _both_at(body, (), mode)
    with pytest.raises(ValueError, match="value_types must be"):
        C._rows_at(body, 0, len(body), columns, "other")


@SETTINGS
@given(st.lists(st.sampled_from(INLINED), min_size=1, max_size=5), st.data())
def test_twin_driver_values_are_cassandra_drivers(types, data):
    """The oracle: cassandra-driver's deserializers on the same cells."""
    columns = _columns(types)
    rows = [tuple(data.draw(values_for(t)) for t in types) for _ in range(3)]
    body = _body(columns, rows)
    got, pos = C._rows_at(body, 0, len(body), columns, "driver")
    assert pos == len(body)
    for row, values in zip(got, rows, strict=True):
        for t, ours, value in zip(types, row, values, strict=True):
            theirs = driver_type(t).deserialize(t.encode(value), 4)
            assert type(ours).__name__ == type(theirs).__name__
            if isinstance(ours, float) and math.isnan(ours):
                assert math.isnan(theirs)
            else:
                assert _same(ours, theirs), (t, ours, theirs)


def test_rows_py_uses_the_twin_when_c_is_asked(monkeypatch):
    from greencql import _speedups
    if _speedups._requested() == "c":
        assert R._rows_at is C._rows_at and R._rows_chunk is C._rows_chunk
    elif _speedups._requested() == "python":
        assert R._rows_at is R._rows_at_python
