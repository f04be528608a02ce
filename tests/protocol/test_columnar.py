"""Columnar decoding (greencql.protocol.columnar) on bytes only, held to the tuple decoder.

Bodies are written by ``encode_rows``; every column the columnar decoder returns must say
what the tuple row decoder (``rows._rows_at``, cassandra-driver's values) says about the same
bytes: the same value for every fixed-width type (with and without NULLs and empty values),
the same objects for the other types, the mask True exactly where the tuple is None.
Malformed bodies raise ProtocolError subclasses only, with the same answer from the Cython
scan as from the Python one. Also: ``RowsResult.raw_rows`` as ``decode_response`` sets it.
"""

from __future__ import annotations

import datetime
import importlib
import struct
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_types_hypothesis import cql_types, values_for

from greencql.errors import MalformedError, ProtocolError, TruncatedError
from greencql.protocol import messages as M
from greencql.protocol import rows as R
from greencql.protocol import types as T
from greencql.protocol.constants import Opcode
from greencql.protocol.wire import Writer

np = pytest.importorskip("numpy")
C = importlib.import_module("greencql.protocol.columnar")

pytestmark = pytest.mark.hubfree

try:
    compiled_scan = importlib.import_module("greencql.protocol._columnar").scan_cells
except ImportError:  # not built: pure Python only
    compiled_scan = None

_EPOCH = datetime.datetime(1970, 1, 1)

# every fixed-width type, with a strategy for its values (as encode_value takes them)
FIXED = {
    "int": (T.INT, st.integers(-(2**31), 2**31 - 1)),
    "bigint": (T.BIGINT, st.integers(-(2**63), 2**63 - 1)),
    "counter": (T.COUNTER, st.integers(-(2**63), 2**63 - 1)),
    "smallint": (T.SMALLINT, st.integers(-(2**15), 2**15 - 1)),
    "tinyint": (T.TINYINT, st.integers(-128, 127)),
    "float": (T.FLOAT, st.floats(width=32)),
    "double": (T.DOUBLE, st.floats()),
    "boolean": (T.BOOLEAN, st.booleans()),
    # milliseconds in years 1..9999: outside them the tuple decoder (the oracle here) fails,
    # as cassandra-driver does; the arrays take any int64 (test_timestamps_beyond_datetime)
    "timestamp": (T.TIMESTAMP, st.integers(-62_135_596_800_000, 253_402_300_799_999)),
    "date": (T.DATE, st.integers(-(2**31), 2**31 - 1)),  # days from the epoch
    "time": (T.TIME, st.integers(0, 86_399_999_999_999)),
    "uuid": (T.UUID, st.uuids()),
    "timeuuid": (T.TIMEUUID, st.uuids(version=1)),
}

DTYPES = {
    "int": "int32", "bigint": "int64", "counter": "int64", "smallint": "int16",
    "tinyint": "int8", "float": "float32", "double": "float64", "boolean": "bool",
    "timestamp": "datetime64[ms]", "date": "datetime64[D]", "time": "timedelta64[ns]",
    "uuid": "V16", "timeuuid": "V16",
}


def _cols(types):
    return tuple(R.ColumnSpec("ks", "t", f"c{i}", t) for i, t in enumerate(types))


def _body(columns, rows) -> bytes:
    w = Writer()
    R.encode_rows(w, columns, rows)
    return bytes(w.buf)


def _both(data: bytes, columns, count=None):
    """(columnar dict, tuple rows) of a body written by _body (count first)."""
    tuples, end = R._rows_at(data, 0, len(data), columns)
    assert end == len(data)
    n = len(tuples) if count is None else count
    return C.decode_columns(data, 4, len(data), n, columns), tuples


def _tuple_value_key(kind, v):
    """A tuple decoder value as the number (or bytes) the array holds."""
    if kind == "timestamp":
        return v if isinstance(v, int) else (v - _EPOCH) // datetime.timedelta(milliseconds=1)
    if kind == "date":
        return v if isinstance(v, int) else v.days_from_epoch
    if kind == "time":
        return v.nanosecond_time
    if kind in ("uuid", "timeuuid"):
        return v.bytes
    return v


def _array_value_key(kind, arr, r):
    data = np.ma.getdata(arr)
    if kind in ("timestamp", "date", "time"):
        return int(data.view(np.int64)[r])
    if kind in ("uuid", "timeuuid"):
        return data[r].tobytes()
    return data[r].item()


def _same(kind, got, want):
    if kind in ("float", "double") and isinstance(want, float):
        if want != want:
            return got != got
        if kind == "float":
            return np.float32(got) == np.float32(want)
    return got == want


def _check_fixed(out, tuples, kinds):
    for j, kind in enumerate(kinds):
        arr = out[f"c{j}"]
        assert isinstance(arr, np.ma.MaskedArray)
        assert arr.dtype == np.dtype(DTYPES[kind])
        mask = np.ma.getmaskarray(arr)
        assert len(arr) == len(tuples)
        for r, row in enumerate(tuples):
            assert bool(mask[r]) == (row[j] is None), (kind, r)
            if row[j] is not None:
                got = _array_value_key(kind, arr, r)
                assert _same(kind, got, _tuple_value_key(kind, row[j])), (kind, r, got, row[j])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), kind=st.sampled_from(sorted(FIXED)), nulls=st.booleans())
def test_every_fixed_type_matches_the_tuple_decoder(data, kind, nulls):
    t, values = FIXED[kind]
    cell = st.one_of(st.none(), values) if nulls else values
    rows = data.draw(st.lists(st.tuples(cell, st.integers(-(2**31), 2**31 - 1)), max_size=40))
    columns = _cols([t, T.INT if kind != "int" else T.BIGINT])
    out, tuples = _both(_body(columns, rows), columns)
    _check_fixed(out, tuples, [kind, "int" if kind != "int" else "bigint"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_wide_rows_of_every_fixed_type(data):
    kinds = data.draw(st.lists(st.sampled_from(sorted(FIXED)), min_size=1, max_size=12))
    null_rate = data.draw(st.sampled_from([0.0, 0.3]))
    rows = []
    for _ in range(data.draw(st.integers(0, 30))):
        row = []
        for k in kinds:
            if null_rate and data.draw(st.integers(0, 9)) < 3:
                row.append(None)
            else:
                row.append(data.draw(FIXED[k][1]))
        rows.append(tuple(row))
    columns = _cols([FIXED[k][0] for k in kinds])
    data = _body(columns, rows)
    out, tuples = _both(data, columns)
    _check_fixed(out, tuples, kinds)
    # both ways that do not need the cell scan hold too, whichever implementation runs
    by_rows = C._scan_fixed_rows(data, 4, len(data), len(rows), tuple(kinds))
    assert by_rows is not None
    starts, lengths = C._scan_cells_python(data, 4, len(data), len(rows), len(kinds))
    assert by_rows[0].tolist() == starts.tolist() and by_rows[1].tolist() == lengths.tolist()
    names = [c.name for c in columns]
    if not any(v is None for row in rows for v in row):
        strided = C._decode_strided(data, 4, len(rows), names, tuple(kinds))
        assert strided is not None
        _check_fixed(strided, tuples, kinds)


def test_row_matching_refuses_what_does_not_tile():
    columns = _cols([T.INT, T.BIGINT])
    kinds = ("int", "bigint")
    good = _body(columns, [(1, None), (None, 2)])
    assert C._scan_fixed_rows(good, 4, len(good), 2, kinds) is not None
    assert C._scan_fixed_rows(good, 4, len(good), 3, kinds) is None
    # a trailing NULL-like cell; a page starting one byte off
    assert C._scan_fixed_rows(good + b"\xff" * 4, 4, len(good) + 4, 2, kinds) is None
    assert C._scan_fixed_rows(b"\x00" + good, 4, len(good) + 1, 2, kinds) is None
    wrong = struct.pack(">iii", 1, 3, 7)[:7] + struct.pack(">i", -1)  # an int of 3 bytes
    assert C._scan_fixed_rows(b"\x00" * 4 + wrong, 4, 4 + len(wrong), 1, kinds) is None
    assert C._scan_fixed_rows(b"", 0, 0, 0, kinds)[0].shape == (0, 2)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), t=cql_types)
def test_other_types_are_object_columns_with_the_tuple_values(data, t):
    rows = data.draw(st.lists(st.tuples(st.one_of(st.none(), values_for(t))), max_size=8))
    columns = _cols([t, T.INT])
    out, tuples = _both(_body(columns, [(v, 1) for (v,) in rows]), columns)
    arr = out["c0"]
    if t.kind in FIXED:
        _check_fixed({"c0": arr}, [(row[0],) for row in tuples], [t.kind])
        return
    assert arr.dtype == object and arr.shape == (len(tuples),)
    for r, row in enumerate(tuples):
        assert arr.data[r] == row[0] or (row[0] != row[0])  # NaN inside a value
        assert bool(np.ma.getmaskarray(arr)[r]) == (row[0] is None)


def test_empty_values_are_masked_as_the_tuple_decoder_says_none():
    # an empty (0-byte) value is legal for the fixed-width types and decodes to None
    for kind, (t, _) in FIXED.items():
        columns = _cols([t, T.INT])
        body = struct.pack(">i", 2) + struct.pack(">i", 0) + struct.pack(">ii", 4, 7)
        good = T.encode_value(t, FIXED_EXAMPLES[kind])
        body += struct.pack(">i", len(good)) + good + struct.pack(">ii", 4, 8)
        out, tuples = _both(body, columns)
        assert tuples[0][0] is None
        assert list(np.ma.getmaskarray(out["c0"])) == [True, False], kind
        assert list(out["c1"]) == [7, 8]


FIXED_EXAMPLES = {
    "int": 5, "bigint": 5, "counter": 5, "smallint": 5, "tinyint": 5, "float": 1.5,
    "double": 2.5, "boolean": True, "timestamp": 1_600_000_000_000, "date": 19000,
    "time": 5_000_000_000, "uuid": uuid.UUID(int=12345), "timeuuid": uuid.uuid1(),
}


def test_dtypes_values_and_masked_fill():
    columns = _cols([T.INT, T.TIMESTAMP, T.DATE, T.TIME, T.UUID, T.TEXT, T.BOOLEAN])
    u = uuid.UUID("12345678-1234-5678-1234-567812345600")  # a trailing zero byte: V16 keeps it
    rows = [
        (1, datetime.datetime(2020, 1, 2, 3, 4, 5, 6000), datetime.date(2021, 3, 4),
         datetime.time(1, 2, 3, 4), u, "héllo", True),
        (None, None, None, None, None, None, None),
    ]
    out, _ = _both(_body(columns, rows), columns)
    assert out["c0"].dtype == np.int32 and out["c0"][0] == 1
    assert out["c1"].data[0] == np.datetime64("2020-01-02T03:04:05.006")
    assert out["c2"].data[0] == np.datetime64("2021-03-04")
    assert out["c3"].data[0] == np.timedelta64(3723_000_004_000, "ns")
    assert uuid.UUID(bytes=out["c4"].data[0].tobytes()) == u
    assert out["c5"].data[0] == "héllo"
    assert out["c6"].data[0] is np.True_
    for j in range(7):
        assert list(np.ma.getmaskarray(out[f"c{j}"])) == [False, True]
    # masked items hold zeros: the epoch for dates (not day -2**31), None for objects
    assert out["c2"].data[1] == np.datetime64("1970-01-01")
    assert out["c1"].data[1] == np.datetime64(0, "ms")
    assert out["c5"].data[1] is None


def test_timestamps_beyond_datetime():
    columns = _cols([T.TIMESTAMP])
    values = [-(2**63) + 1, 2**63 - 1, -(10**15), 10**16]
    data = _body(columns, [(v,) for v in values])
    out = C.decode_columns(data, 4, len(data), len(values), columns)
    assert out["c0"].data.view(np.int64).tolist() == values


def test_a_fixed_page_without_nulls_is_one_strided_view_and_owns_its_arrays():
    columns = _cols([T.INT, T.DOUBLE, T.UUID])
    rows = [(i, i / 2, uuid.UUID(int=i)) for i in range(100)]
    data = _body(columns, rows)
    out = C.decode_columns(data, 4, len(data), 100, columns)
    assert list(out["c0"]) == list(range(100))
    for arr in out.values():
        assert arr.data.flags.c_contiguous and arr.data.flags.writeable
        assert arr.data.dtype.isnative
        assert not np.ma.getmaskarray(arr).any()
        assert not np.shares_memory(arr.data, np.frombuffer(data, np.uint8))


def test_list_values_stay_objects_not_a_second_dimension():
    t = T.list_of(T.INT) if hasattr(T, "list_of") else T.parse_type_string("list<int>")
    columns = _cols([t])
    out, _ = _both(_body(columns, [([1, 2],), ([3, 4],), (None,)]), columns)
    assert out["c0"].shape == (3,)
    assert out["c0"].data[0] == [1, 2] and out["c0"].data[2] is None


def test_no_rows_and_no_columns():
    columns = _cols([T.INT, T.TEXT, T.UUID])
    out = C.decode_columns(b"\x00\x00\x00\x00", 4, 4, 0, columns)
    assert [(k, v.dtype, len(v)) for k, v in out.items()] == [
        ("c0", np.dtype("int32"), 0), ("c1", np.dtype("O"), 0), ("c2", np.dtype("V16"), 0),
    ]
    assert C.decode_columns(b"", 0, 0, 3, ()) == {}


def test_value_types_choose_the_object_values():
    columns = _cols([T.INET])
    data = _body(columns, [("10.0.0.1",)])
    assert C.decode_columns(data, 4, len(data), 1, columns)["c0"].data[0] == "10.0.0.1"
    modern = C.decode_columns(data, 4, len(data), 1, columns, "modern")["c0"].data[0]
    assert str(modern) == "10.0.0.1" and not isinstance(modern, str)
    with pytest.raises(ValueError):
        C.decode_columns(data, 4, len(data), 1, columns, "fancy")


def test_repeated_names_keep_the_last_column():
    columns = (R.ColumnSpec("k", "t", "a", T.INT), R.ColumnSpec("k", "t", "a", T.BIGINT))
    data = _body(columns, [(1, 2)])
    out = C.decode_columns(data, 4, len(data), 1, columns)
    assert list(out) == ["a"] and out["a"].dtype == np.int64


# -- malformed bodies ----------------------------------------------------------------------------

_MIXED = _cols([T.INT, T.TEXT, T.BIGINT])
_GOOD = _body(_MIXED, [(1, "a", 2), (None, "bc", None), (3, None, 4)])


@pytest.mark.parametrize(
    ("data", "pos", "end", "count", "error"),
    [
        (_GOOD[:-1], 4, len(_GOOD) - 1, 3, TruncatedError),  # cut in the last cell
        (_GOOD[:-3], 4, len(_GOOD) - 3, 3, TruncatedError),  # cut in a length
        (_GOOD + b"\x00", 4, len(_GOOD) + 1, 3, MalformedError),  # trailing bytes
        (_GOOD, 4, len(_GOOD), 4, TruncatedError),  # one row more than there is
        (_GOOD, 4, len(_GOOD), 2, MalformedError),  # one row less: trailing bytes
        (_GOOD, 4, len(_GOOD), -1, MalformedError),
        (_GOOD, 4, len(_GOOD), 10**9, TruncatedError),  # refused before allocating
        (_GOOD, 4, len(_GOOD) + 10, 3, TruncatedError),  # end past the data
    ],
)
def test_malformed_bodies_raise_protocol_errors(data, pos, end, count, error):
    with pytest.raises(error):
        C.decode_columns(data, pos, end, count, _MIXED)


def test_a_fixed_cell_of_the_wrong_size_is_malformed():
    body = struct.pack(">i", 2) + struct.pack(">ii", 4, 1) + struct.pack(">i", 3) + b"abc"
    with pytest.raises(MalformedError, match="int value of 3 bytes"):
        C.decode_columns(body, 4, len(body), 2, _cols([T.INT]))
    with pytest.raises(MalformedError):  # the tuple decoder says the same
        R._rows_at(body, 0, len(body), _cols([T.INT]))


def test_undecodable_object_cells_are_malformed():
    body = struct.pack(">ii", 1, 2) + b"\xff\xfe"
    with pytest.raises(MalformedError, match="text"):
        C.decode_columns(body, 4, len(body), 1, _cols([T.TEXT]))


def test_no_columns_with_too_many_rows_is_refused():
    with pytest.raises(MalformedError):
        C.decode_columns(b"", 0, 0, 10**9, ())
    with pytest.raises(MalformedError):
        C.decode_columns(b"x", 0, 1, 1, ())


@settings(max_examples=300, deadline=None)
@given(
    raw=st.binary(max_size=120),
    kinds=st.lists(st.sampled_from([T.INT, T.TEXT, T.UUID, T.DOUBLE, T.BOOLEAN]),
                   min_size=1, max_size=4),
    count=st.integers(0, 6),
)
def test_random_bytes_raise_only_protocol_errors(raw, kinds, count):
    try:
        C.decode_columns(raw, 0, len(raw), count, _cols(kinds))
    except ProtocolError:
        pass


# -- the scan and its Cython twin ----------------------------------------------------------------


def _scan_answer(scan, data, pos, end, count, ncols):
    try:
        starts, lengths = scan(data, pos, end, count, ncols)
    except ProtocolError as exc:
        return type(exc), str(exc)
    assert starts.dtype == lengths.dtype == np.int64
    assert starts.shape == lengths.shape == (count, ncols)
    return starts.tolist(), lengths.tolist()


@pytest.mark.skipif(compiled_scan is None, reason="Cython twins not built")
@settings(max_examples=400, deadline=None)
@given(
    cells=st.lists(st.one_of(st.none(), st.binary(max_size=9)), max_size=24),
    ncols=st.integers(1, 4),
    cut=st.integers(0, 6),
    extra=st.binary(max_size=3),
    raw=st.binary(max_size=40),
)
def test_the_cython_scan_equals_the_python_scan(cells, ncols, cut, extra, raw):
    body = b"".join(
        struct.pack(">i", -1) if c is None else struct.pack(">i", len(c)) + c for c in cells
    )
    count = len(cells) // ncols
    for data in (body, body[: max(0, len(body) - cut)], body + extra, raw):
        for n in (count, count + 1):
            python = _scan_answer(C._scan_cells_python, data, 0, len(data), n, ncols)
            assert _scan_answer(compiled_scan, data, 0, len(data), n, ncols) == python


def test_the_chosen_scan_is_the_requested_implementation():
    import greencql._speedups as S

    requested = S._requested()
    if requested == "python":
        assert C.scan_cells is C._scan_cells_python
    elif requested == "c":
        assert C.scan_cells is compiled_scan


# -- RowsResult.raw_rows -------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [0, 0x02])  # 0x02: TRACING, a body prefix (careful path)
def test_decode_response_sets_raw_rows(flags):
    columns = _cols([T.INT, T.TEXT])
    msg = M.RowsResult(R.ResultMetadata.of(columns), [(1, "a"), (None, "bc")])
    _, body = M.encode_response(msg, 4)
    if flags:
        body = uuid.UUID(int=7).bytes + body
    got = M.decode_response(Opcode.RESULT, flags, body, 4)
    data, pos, end, count = got.raw_rows
    assert type(data) is bytes and count == 2 and end == len(data)
    assert data[pos - 4 : pos] == struct.pack(">i", 2)
    out = C.decode_columns(data, pos, end, count, got.columns)
    assert list(out["c1"]) == ["a", "bc"] and list(np.ma.getmaskarray(out["c0"])) == [False, True]
    assert got.rows == msg.rows and (got == msg) == (not flags)  # raw_rows is not compared
    # and from a memoryview body (the careful path copies it to bytes)
    got = M.decode_response(Opcode.RESULT, flags, memoryview(body), 4)
    assert type(got.raw_rows[0]) is bytes and got.raw_rows[1:] == (pos, end, count)


def test_results_without_rows_have_no_raw_rows():
    _, body = M.encode_response(M.VoidResult(), 4)
    assert getattr(M.decode_response(Opcode.RESULT, 0, body, 4), "raw_rows", None) is None
    assert M.RowsResult(R.ResultMetadata.of(_cols([T.INT])), []).raw_rows is None
