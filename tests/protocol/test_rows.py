"""Result / prepared metadata and ROWS bodies, checked against cassandra-driver's decoder.

Bodies are written by greencql and read by both greencql and cassandra-driver (its pure
``ResultMessage`` and its Cython ``ProtocolHandler``); hand-built bodies cover the v5
metadata id, NO_METADATA and paging states; malformed and random bodies must raise
ProtocolError only.
"""

from __future__ import annotations

import datetime
import io
import struct
import uuid
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_types_hypothesis import cql_types, driver_type, expected, values_for

from greencql.errors import MalformedError, ProtocolError, TruncatedError
from greencql.protocol import rows as R
from greencql.protocol import types as T
from greencql.protocol.constants import RowsFlag
from greencql.protocol.wire import UNSET, Reader, Writer

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from cassandra.protocol import ProtocolHandler, ResultMessage, _ProtocolHandler

pytestmark = pytest.mark.hubfree

UTC = datetime.timezone.utc

MIXED = (
    ("a", T.INT),
    ("b", T.BIGINT),
    ("c", T.TEXT),
    ("d", T.DOUBLE),
    ("e", T.BOOLEAN),
    ("f", T.UUID),
    ("g", T.TIMESTAMP),
    ("h", T.BLOB),
    ("i", T.ListType(T.INT)),
    ("j", T.MapType(T.TEXT, T.INT)),
    ("k", T.FLOAT),
    ("l", T.SMALLINT),
    ("m", T.TINYINT),
    ("n", T.TIMEUUID),
    ("o", T.ASCII),
    ("p", T.COUNTER),
    ("q", T.DECIMAL),
)


def cols(spec=MIXED, ks="ks", table="t"):
    return tuple(R.ColumnSpec(ks, table, n, t) for n, t in spec)


def mixed_row(i: int) -> tuple:
    return (
        i,
        -(i * 10**12),
        f"row {i} é",
        i / 3,
        i % 2 == 0,
        uuid.UUID(int=i * 7919),
        datetime.datetime(2020, 1, 1, tzinfo=UTC) + datetime.timedelta(milliseconds=i * 1001),
        bytes([i % 256]) * (i % 5),
        list(range(i % 4)),
        {f"k{j}": j for j in range(i % 3)},
        1.5,
        -i,
        i % 100,
        uuid.uuid1(node=1, clock_seq=i),
        "ascii",
        i,
        T.decimal.Decimal(f"{i}.{i:03d}"),
    )


def rows_body(columns, rows, version=4, **md_kwargs) -> bytes:
    w = Writer()
    w.write_int(2)  # RESULT kind ROWS
    R.write_result_metadata(w, R.ResultMetadata.of(columns, **md_kwargs), version)
    R.encode_rows(w, columns, rows)
    return w.getvalue()


def driver_rows(body: bytes, version=4, handler=_ProtocolHandler):
    return handler.decode_message(version, {}, 0, 0, 0x08, body, None, None)


def decode_ours(body: bytes, version=4, value_types="modern"):
    """Our rows; "modern" values by default here (the inputs these tests wrote), "driver"
    values (the default of decode_rows) where a test compares with cassandra-driver."""
    r = Reader(body, 4)
    md = R.read_result_metadata(r, version)
    out = R.decode_rows(r, md.columns, value_types)
    r.expect_end("rows")
    return md, out


def with_nulls(row: tuple, every: int) -> tuple:
    return tuple(None if (k + len(row)) % every == 0 else v for k, v in enumerate(row))


# ------------------------------------------------------------------------------------------
# against cassandra-driver
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("handler", [_ProtocolHandler, ProtocolHandler], ids=["py", "cython"])
@pytest.mark.parametrize("nulls", [0, 3, 1])
def test_mixed_rows_match_cassandra_driver(handler, nulls):
    columns = cols()
    rows = [mixed_row(i) for i in range(200)]
    if nulls:
        rows = [with_nulls(r, nulls + i % 2) for i, r in enumerate(rows)]
    body = rows_body(columns, rows)
    md, ours = decode_ours(body)
    assert ours == rows
    theirs = driver_rows(body, handler=handler)
    assert [c[2] for c in theirs.column_metadata] == [c.name for c in md.columns]
    # the default ("driver") values are cassandra-driver's, value for value and type for type
    _, driver_values = decode_ours(body, value_types="driver")
    for a, b in zip(driver_values, theirs.parsed_rows, strict=True):
        assert list(a) == list(b)
        assert [type(x).__name__ for x in a] == [type(x).__name__ for x in b]


def test_null_in_last_cell_and_empty_values():
    """The optimistic reader over-reads on a null last cell; the careful one must agree."""
    columns = cols((("a", T.INT), ("b", T.BIGINT), ("c", T.TEXT), ("d", T.UUID)))
    rows = [(1, 2, "x", None), (None, None, None, None), (3, None, "", None)]
    body = rows_body(columns, rows)
    assert decode_ours(body)[1] == rows
    # empty (zero-length) values of non-string types are null, as cassandra-driver reads them
    w = Writer()
    w.write_int(1)
    for _ in range(4):
        w.write_bytes(b"")
    assert R.decode_rows(Reader(w.getvalue()), columns) == [(None, None, "", None)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(cql_types, min_size=1, max_size=4), st.data())
def test_random_columns_match_cassandra_driver(types, data):
    columns = tuple(R.ColumnSpec("ks", "t", f"c{i}", t) for i, t in enumerate(types))
    rows = [
        tuple(data.draw(st.one_of(st.none(), values_for(t))) for t in types)
        for _ in range(data.draw(st.integers(0, 4)))
    ]
    body = rows_body(columns, rows)
    md, ours = decode_ours(body)
    assert md.columns == columns
    assert ours == [tuple(expected(t, v) for t, v in zip(types, r, strict=True)) for r in rows]
    theirs = driver_rows(body)
    assert len(theirs.parsed_rows) == len(rows)
    for t, c in zip(types, theirs.column_types, strict=True):
        assert c.cass_parameterized_type(full=True).replace(".VarcharType", ".UTF8Type").replace(
            ".DateType", ".TimestampType"
        ) == driver_type(t).cass_parameterized_type(full=True)


# ------------------------------------------------------------------------------------------
# metadata
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [3, 4, 5])
def test_result_metadata_round_trip(version):
    same_table = cols((("a", T.INT), ("b", T.TEXT)))
    mixed_tables = same_table + cols((("c", T.UUID),), ks="other", table="u")
    cases = [
        R.ResultMetadata.of(same_table),
        R.ResultMetadata.of(mixed_tables),
        R.ResultMetadata.of(same_table, paging_state=b"\x00page"),
        R.ResultMetadata.of(None, column_count=2),
        R.ResultMetadata.of(None, paging_state=b"p", column_count=3),
        R.ResultMetadata.of(()),
    ]
    if version >= 5:
        cases.append(R.ResultMetadata.of(same_table, result_metadata_id=b"\x01\x02"))
    for md in cases:
        w = Writer()
        R.write_result_metadata(w, md, version)
        r = Reader(w.getvalue())
        assert R.read_result_metadata(r, version) == md
        r.expect_end("metadata")


def test_result_metadata_flags_read_by_driver():
    columns = cols((("a", T.INT), ("b", T.TEXT)))
    body = rows_body(columns, [(1, "x")], paging_state=b"state")
    msg = driver_rows(body)
    assert msg.paging_state == b"state"
    md, rows = decode_ours(body)
    assert md.flags & RowsFlag.GLOBAL_TABLES_SPEC and md.flags & RowsFlag.HAS_MORE_PAGES
    assert md.paging_state == b"state" and rows == [(1, "x")]
    # several tables: no global spec, per-column keyspace/table, read the same by the driver
    columns = cols((("a", T.INT),)) + cols((("b", T.TEXT),), ks="k2", table="t2")
    body = rows_body(columns, [(1, "x")])
    md, _ = decode_ours(body)
    assert not md.flags & RowsFlag.GLOBAL_TABLES_SPEC
    assert [tuple(c[:3]) for c in driver_rows(body).column_metadata] == [
        ("ks", "t", "a"),
        ("k2", "t2", "b"),
    ]


def test_v5_metadata_changed_read_by_driver():
    columns = cols((("a", T.INT),))
    body = rows_body(columns, [(7,)], version=5, result_metadata_id=b"\xaa\xbb")
    msg = driver_rows(body, version=5)
    assert msg.result_metadata_id == b"\xaa\xbb"
    md, rows = decode_ours(body, version=5)
    assert md.result_metadata_id == b"\xaa\xbb" and md.flags & RowsFlag.METADATA_CHANGED
    assert rows == [(7,)]
    with pytest.raises(ValueError):
        R.write_result_metadata(Writer(), R.ResultMetadata.of(columns, result_metadata_id=b"x"), 4)


def test_no_metadata_uses_given_columns():
    columns = cols((("a", T.INT), ("b", T.TEXT)))
    w = Writer()
    w.write_int(2)
    R.write_result_metadata(w, R.ResultMetadata.of(None, column_count=2), 4)
    R.encode_rows(w, columns, [(1, "a"), (2, None)])
    body = w.getvalue()
    r = Reader(body, 4)
    md = R.read_result_metadata(r, 4)
    assert md.columns is None and md.column_count == 2
    assert R.decode_rows(r, columns) == [(1, "a"), (2, None)]
    # the driver reads it too, given the same columns as its result_metadata
    theirs = _ProtocolHandler.decode_message(
        4,
        {},
        0,
        0,
        0x08,
        body,
        None,
        [("ks", "t", "a", driver_type(T.INT)), ("ks", "t", "b", driver_type(T.TEXT))],
    )
    assert theirs.parsed_rows == [(1, "a"), (2, None)]


def _prepared_body(md: R.PreparedMetadata, result: R.ResultMetadata, version: int) -> bytes:
    w = Writer()
    w.write_int(4)  # RESULT kind PREPARED
    w.write_short_bytes(b"\x01\x02\x03")
    if version >= 5:
        w.write_short_bytes(b"\x09")
    R.write_prepared_metadata(w, md, version)
    R.write_result_metadata(w, result, version)
    return w.getvalue()


@pytest.mark.parametrize("version", [3, 4, 5])
def test_prepared_metadata_round_trip_and_driver(version):
    bind = cols((("k", T.INT), ("c", T.TEXT), ("v", T.ListType(T.UUID))))
    md = R.PreparedMetadata.of(bind, pk_indexes=(0, 1) if version >= 4 else ())
    result = R.ResultMetadata.of(cols((("v", T.ListType(T.UUID)),)))
    body = _prepared_body(md, result, version)
    r = Reader(body, 4 + 5 + (3 if version >= 5 else 0))
    assert R.read_prepared_metadata(r, version) == md
    assert R.read_result_metadata(r, version) == result
    r.expect_end("prepared")
    msg = _ProtocolHandler.decode_message(version, {}, 0, 0, 0x08, body, None, None)
    assert [c.name for c in msg.bind_metadata] == ["k", "c", "v"]
    assert msg.pk_indexes == ([0, 1] if version >= 4 else None)
    assert [c[2] for c in msg.column_metadata] == ["v"]


def test_prepared_metadata_v3_has_no_pk_indexes():
    md = R.PreparedMetadata.of(cols((("k", T.INT),)), pk_indexes=(0,))
    w = Writer()
    R.write_prepared_metadata(w, md, 3)
    assert R.read_prepared_metadata(Reader(w.getvalue()), 3).pk_indexes == ()


# ------------------------------------------------------------------------------------------
# malformed bodies
# ------------------------------------------------------------------------------------------


def _rows_part(columns, rows) -> bytes:
    w = Writer()
    R.encode_rows(w, columns, rows)
    return w.getvalue()


def test_truncated_rows_raise_truncated_error_at_every_cut():
    columns = cols()
    raw = _rows_part(columns, [mixed_row(i) for i in range(3)])
    for cut in range(len(raw)):
        with pytest.raises(ProtocolError):
            R.decode_rows(Reader(raw[:cut]), columns)


def test_reader_end_is_respected():
    columns = cols((("a", T.TEXT),))
    raw = _rows_part(columns, [("hello",)])
    with pytest.raises(TruncatedError):
        R.decode_rows(Reader(raw + b"more", 0, len(raw) - 1), columns)
    r = Reader(raw + b"tail", 0, len(raw))
    assert R.decode_rows(r, columns) == [("hello",)] and r.pos == len(raw)


def test_wrong_sizes_and_bad_utf8_raise_malformed_naming_the_column():
    columns = cols((("a", T.INT), ("b", T.TEXT)))
    w = Writer()
    w.write_int(1)
    w.write_bytes(b"\x00\x00\x01")  # a 3-byte int
    w.write_bytes(b"x")
    with pytest.raises(MalformedError, match="'a'"):
        R.decode_rows(Reader(w.getvalue()), columns)
    w = Writer()
    w.write_int(1)
    w.write_bytes(b"\x00\x00\x00\x01")
    w.write_bytes(b"\xff\xfe")
    with pytest.raises(MalformedError, match="'b'"):
        R.decode_rows(Reader(w.getvalue()), columns)


def test_counts_are_bounded_before_allocating():
    columns = cols((("a", T.INT),))
    with pytest.raises(TruncatedError):
        R.decode_rows(Reader(struct.pack(">i", 2**31 - 1)), columns)
    with pytest.raises(MalformedError):
        R.decode_rows(Reader(struct.pack(">i", -5)), columns)
    with pytest.raises(MalformedError):
        R.decode_rows(Reader(struct.pack(">i", 2**31 - 1)), ())
    assert R.decode_rows(Reader(struct.pack(">i", 2)), ()) == [(), ()]
    # a column count far beyond the body
    with pytest.raises(TruncatedError):
        R.read_result_metadata(Reader(struct.pack(">ii", 1, 2**31 - 1)), 4)
    with pytest.raises(MalformedError):
        R.read_result_metadata(Reader(struct.pack(">ii", 1, -1)), 4)
    with pytest.raises(TruncatedError):
        R.read_prepared_metadata(Reader(struct.pack(">iii", 0, 1, 2**31 - 1)), 4)


def test_out_of_range_timestamp_in_a_row_is_raw_milliseconds():
    columns = cols((("t", T.TIMESTAMP), ("i", T.INT)))
    w = Writer()
    w.write_int(2)
    w.write_bytes(struct.pack(">q", 2**62))
    w.write_bytes(struct.pack(">i", 1))
    w.write_bytes(struct.pack(">q", 0))
    w.write_bytes(struct.pack(">i", 2))
    assert R.decode_rows(Reader(w.getvalue()), columns, "modern") == [
        (2**62, 1),
        (datetime.datetime(1970, 1, 1, tzinfo=UTC), 2),
    ]


@pytest.mark.parametrize("handler", [_ProtocolHandler, ProtocolHandler], ids=["py", "cython"])
def test_out_of_range_timestamp_fails_as_in_cassandra_driver(handler):
    """The default (driver) values: cassandra-driver cannot represent the value and fails the
    result with 'Failed decoding result column "t" of type timestamp: ...'; so do we (a
    ProtocolError, which is a DriverException as theirs is)."""
    from cassandra import DriverException as TheirDriverException

    from greencql.errors import DriverException

    columns = cols((("t", T.TIMESTAMP), ("i", T.INT)))
    w = Writer()
    w.write_int(1)
    w.write_bytes(struct.pack(">q", 2**62))
    w.write_bytes(struct.pack(">i", 1))
    with pytest.raises(DriverException, match='Failed decoding result column "t" of type time'):
        R.decode_rows(Reader(w.getvalue()), columns)
    body = rows_body(columns, [(2**62, 1)])  # milliseconds
    with pytest.raises(TheirDriverException, match='Failed decoding result column "t" of type ti'):
        driver_rows(body, handler=handler)
    with pytest.raises(DriverException, match='Failed decoding result column "t" of type ti'):
        decode_ours(body, value_types="driver")


def test_encode_rows_refuses_unset_and_bad_rows():
    columns = cols((("a", T.INT),))
    with pytest.raises(ValueError, match="row of 2 values"):
        R.encode_rows(Writer(), columns, [(None, 1)])
    with pytest.raises(ValueError, match="unset"):
        R.encode_rows(Writer(), columns, [(UNSET,)])
    with pytest.raises(TypeError, match="'a'"):
        R.encode_rows(Writer(), columns, [("x",)])


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80))
def test_fuzz_rows_and_metadata_raise_only_protocol_errors(raw):
    for version in (4, 5):
        try:
            r = Reader(raw)
            md = R.read_result_metadata(r, version)
            if md.columns is not None:
                R.decode_rows(r, md.columns)
        except ProtocolError:
            pass
    try:
        R.decode_rows(Reader(raw), cols())
    except ProtocolError:
        pass
    try:
        R.read_prepared_metadata(Reader(raw), 4)
    except ProtocolError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_fuzz_mutated_rows_raise_only_protocol_errors(data):
    columns = cols()
    raw = bytearray(_rows_part(columns, [mixed_row(i) for i in range(2)]))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    try:
        R.decode_rows(Reader(bytes(raw)), columns)
    except ProtocolError:
        pass


def test_read_type_via_driver_bytes():
    """Metadata bytes are what cassandra-driver's ResultMessage.read_type expects."""
    t = T.parse_type_string("map<text, frozen<list<tuple<int, blob>>>>")
    w = Writer()
    T.write_type_option(w, t)
    theirs = ResultMessage.read_type(io.BytesIO(w.getvalue()), {})
    assert theirs.cql_parameterized_type() == "map<varchar, list<frozen<tuple<int, blob>>>>"


# ------------------------------------------------------------------------------------------
# the metadata and row-decoder caches
# ------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_caches(monkeypatch):
    monkeypatch.setattr(R, "_SPECS", {})
    monkeypatch.setattr(R, "_spec_held", [0, 0])
    monkeypatch.setattr(R, "_NO_METADATA_MD", {})
    monkeypatch.setattr(R, "_BY_COLUMNS", {})


def test_metadata_cache_hits_are_exact(fresh_caches):
    """Spec runs that share the cache key (same keyspace, table, count and first column) but
    differ after it; short specs followed by different rows; a paged result: every read gives
    what cassandra-driver reads, and a repeated run gives the very same columns object."""
    a = cols((("a", T.INT), ("b", T.TEXT)))
    b = cols((("a", T.INT), ("c", T.TEXT)))
    c = cols((("a", T.INT), ("b", T.BIGINT)))
    seen = {}
    for columns, row in ((a, (1, "x")), (b, (2, "y")), (c, (3, 4)), (a, (5, "z")), (b, (6, None))):
        body = rows_body(columns, [row])
        md, got = decode_ours(body)
        theirs = driver_rows(body)
        assert got == [row] == list(map(tuple, theirs.parsed_rows))
        assert md.columns == columns and md.paging_state is None
        assert [ct[2] for ct in theirs.column_metadata] == [col.name for col in columns]
        if columns in seen:
            assert md is seen[columns]  # a hit: the same metadata, not parsed again
        seen[columns] = md
    assert len(R._SPECS) == 1  # one key, three runs
    assert len(next(iter(R._SPECS.values()))) == 3
    body = rows_body(a, [(7, "p")], paging_state=b"page")
    md, got = decode_ours(body)
    assert md.columns is seen[a].columns and md.paging_state == b"page" and got == [(7, "p")]
    assert md == R.ResultMetadata.of(a, paging_state=b"page")


def test_metadata_cache_respects_the_reader_end_and_other_buffers(fresh_caches):
    columns = cols((("a", T.INT), ("b", T.TEXT)))
    body = rows_body(columns, [(1, "x")])
    decode_ours(body)  # cached
    stop = len(body) - len(struct.pack(">i", 1)) - 8 - 5  # rows count and cells
    for end in range(4, stop):
        with pytest.raises(ProtocolError):
            R.read_result_metadata(Reader(body, 4, end), 4)
    for data in (bytearray(body), memoryview(body)):
        r = Reader(data, 4)
        assert R.read_result_metadata(r, 4) == R.ResultMetadata.of(columns)
        assert R.decode_rows(r, columns) == [(1, "x")]


def test_metadata_cache_is_bounded(fresh_caches, monkeypatch):
    monkeypatch.setattr(R, "_MAX_SPECS", 3)
    monkeypatch.setattr(R, "_MAX_SPEC_CANDIDATES", 2)
    for n in range(12):
        columns = cols(((f"c{n}", T.INT), ("v", T.TEXT)), table=f"t{n % 5}")
        body = rows_body(columns, [(n, "v")])
        for _ in range(2):
            md, got = decode_ours(body)
            assert md.columns == columns and got == [(n, "v")]
        assert len(R._SPECS) <= 3
        assert all(len(entries) <= 2 for entries in R._SPECS.values())
    monkeypatch.setattr(R, "_SPECS", {})
    monkeypatch.setattr(R, "_MAX_SPEC_BYTES", 10)
    md, got = decode_ours(rows_body(cols((("long_column_name", T.INT),)), [(1,)]))
    assert got == [(1,)] and not any(R._SPECS.values())  # too long to keep


@pytest.mark.parametrize("limit", ["_MAX_SPEC_CACHE_BYTES", "_MAX_SPEC_CACHE_COLUMNS"])
def test_metadata_cache_total_is_bounded(fresh_caches, monkeypatch, limit):
    monkeypatch.setattr(R, limit, 100 if limit.endswith("BYTES") else 7)
    monkeypatch.setattr(R, "_MAX_SPEC_CANDIDATES", 2)
    for n in range(40):
        columns = cols(((f"c{n}", T.INT), ("v", T.TEXT)), table=f"t{n % 3}")
        md, got = decode_ours(rows_body(columns, [(n, "v")]))
        assert md.columns == columns and got == [(n, "v")]
        entries = [e for es in R._SPECS.values() for e in es]
        assert R._spec_held == [sum(len(e[0]) for e in entries), sum(len(e[1]) for e in entries)]
        assert R._spec_held[0] <= 100 if limit.endswith("BYTES") else R._spec_held[1] <= 7


def test_no_metadata_results_share_their_metadata(fresh_caches):
    w = Writer()
    R.write_result_metadata(w, R.ResultMetadata.of(None, column_count=3), 4)
    first = R.read_result_metadata(Reader(w.getvalue()), 4)
    second = R.read_result_metadata(Reader(w.getvalue()), 4)
    assert first is second and first == R.ResultMetadata.of(None, column_count=3)


def test_row_decoders_by_columns_identity(fresh_caches, monkeypatch):
    monkeypatch.setattr(R, "_MAX_BY_COLUMNS", 3)
    spec = (("a", T.INT), ("b", T.TEXT))
    body = rows_body(cols(spec), [(1, "x"), (None, None)])
    for _ in range(10):
        columns = cols(spec)  # equal, not identical
        r = Reader(body, 4)
        R.read_result_metadata(r, 4)
        assert R.decode_rows(r, columns) == [(1, "x"), (None, None)]
        assert len(R._BY_COLUMNS) <= 3
    # a different columns tuple never gets another tuple's decoder
    other = cols((("a", T.INT), ("b", T.BLOB)))
    r = Reader(body, 4)
    R.read_result_metadata(r, 4)
    assert R.decode_rows(r, other) == [(1, b"x"), (None, None)]
    # wide results are not kept by identity
    monkeypatch.setattr(R, "_BY_COLUMNS", {})
    monkeypatch.setattr(R, "_MAX_BY_COLUMNS_WIDTH", 1)
    r = Reader(body, 4)
    R.read_result_metadata(r, 4)
    assert R.decode_rows(r, cols(spec)) == [(1, "x"), (None, None)] and not R._BY_COLUMNS


@pytest.mark.parametrize("nulls", [0, 1, 2, 3])
def test_one_row_results_match_cassandra_driver(nulls):
    """One row (the generated decoder's loop-free branch), with nulls at every position in
    turn, the last cell included (where the optimistic reader over-reads), and truncated at
    every cut."""
    columns = cols()
    for shift in range(len(MIXED) if nulls else 1):
        row = mixed_row(shift)
        if nulls:
            row = tuple(None if (k + shift) % (nulls + 1) == 0 else v for k, v in enumerate(row))
        body = rows_body(columns, [row])
        _, ours = decode_ours(body)
        assert ours == [row]
        [theirs] = driver_rows(body).parsed_rows
        theirs = list(theirs)
        if theirs[6] is not None:
            theirs[6] = theirs[6].replace(tzinfo=UTC)
        if theirs[9] is not None:
            theirs[9] = dict(theirs[9])
        assert list(ours[0]) == theirs
    raw = _rows_part(columns, [mixed_row(1)])
    for cut in range(len(raw)):
        with pytest.raises(TruncatedError):
            R.decode_rows(Reader(raw[:cut]), columns)
    w = Writer()
    w.write_int(1)
    w.write_bytes(b"\x00\x00\x01")  # a 3-byte int in a one-row result
    w.write_bytes(b"x")
    with pytest.raises(MalformedError, match="row 0, column 'a'"):
        R.decode_rows(Reader(w.getvalue()), cols((("a", T.INT), ("b", T.TEXT))))
