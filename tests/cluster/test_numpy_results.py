"""Columnar results end to end: numpy_columns, ResultSet.to_numpy() and to_pandas() against a
simulated cluster over real sockets.

Every fixed-width type comes back as its typed array (values equal to what the tuple rows of
the same query say, and, in the thread process, to what cassandra-driver reads from the same
table), the other types as object arrays of the row values, NULLs masked; pages are one dict
each and join in to_numpy(); numpy_columns works per execute, per session and per execution
profile, simple and prepared (NO_METADATA pages); to_pandas() has the documented dtypes.
NumPy and pandas stay optional: importing greencql does not import them, and a missing NumPy
is an ImportError that names the extra.
"""

from __future__ import annotations

import datetime
import decimal
import os
import subprocess
import sys
import uuid

import pytest
from conftest import TEST_HUB, import_cassandra_cluster

from greencql import Cluster, ExecutionProfile, SimpleStatement, numpy_columns, tuple_factory
from greencql.cluster.rowfactories import NumpyColumns
from greencql.testing.cluster import SimCluster

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")

KS = "npres"
N = 60

# (column, CQL type, value of row i or None) -- every third row has NULLs in every column
_FIXED = [
    ("c_int", "int", lambda i: i - 30, "int32"),
    ("c_bigint", "bigint", lambda i: i * 10**15, "int64"),
    ("c_smallint", "smallint", lambda i: i * 100, "int16"),
    ("c_tinyint", "tinyint", lambda i: i - 60, "int8"),
    ("c_float", "float", lambda i: i / 4, "float32"),
    ("c_double", "double", lambda i: i / 3, "float64"),
    ("c_boolean", "boolean", lambda i: i % 2 == 0, "bool"),
    ("c_timestamp", "timestamp",
     lambda i: datetime.datetime(2020, 1, 1) + datetime.timedelta(hours=i, milliseconds=i),
     "datetime64[ms]"),
    ("c_date", "date", lambda i: datetime.date(1960, 1, 1) + datetime.timedelta(days=400 * i),
     "datetime64[D]"),
    ("c_time", "time", lambda i: datetime.time(i % 24, i, 1, i * 1000), "timedelta64[ns]"),
    ("c_uuid", "uuid", lambda i: uuid.UUID(int=i << 8), "V16"),  # trailing zero byte
    ("c_timeuuid", "timeuuid",
     lambda i: uuid.UUID(f"d2177dd0-eaa2-11de-a572-001b779c{i:04x}"), "V16"),
]
_OBJECTS = [
    ("c_text", "text", lambda i: f"row {i} ✓"),
    ("c_varint", "varint", lambda i: 2**70 + i),
    ("c_decimal", "decimal", lambda i: decimal.Decimal(f"{i}.25")),
    ("c_list", "list<int>", lambda i: [i, i + 1]),
    ("c_map", "map<text, int>", lambda i: {"a": i}),
    ("c_blob", "blob", lambda i: bytes([i])),
]
_ALL = [(n, t, f) for n, t, f, _ in _FIXED] + _OBJECTS


def _value(fn, i):
    return None if i % 3 == 1 else fn(i)


@pytest.fixture(scope="module")
def sim(hub):
    with SimCluster(2, port=0, hub=hub) as s:
        yield s


@pytest.fixture(scope="module")
def cluster(sim):
    c = Cluster(
        sim.contact_points[:1], port=sim.port, hub=sim.hub,
        execution_profiles={"np": ExecutionProfile(row_factory=numpy_columns)},
    )
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def session(cluster):
    s = cluster.connect()
    s.execute(
        f"CREATE KEYSPACE {KS} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}"
    )
    s.set_keyspace(KS)
    cols = ", ".join(f"{n} {t}" for n, t, _ in _ALL)
    s.execute(f"CREATE TABLE t (k int PRIMARY KEY, {cols})")
    names = ", ".join(n for n, _, _ in _ALL)
    ps = s.prepare(f"INSERT INTO t (k, {names}) VALUES ({', '.join(['?'] * (len(_ALL) + 1))})")
    for i in range(N):
        s.execute(ps, [i] + [_value(f, i) for _, _, f in _ALL])
    yield s
    s.shutdown()


def _by_key(cols):
    """The row index of each key (the table comes back in token order)."""
    return {int(k): r for r, k in enumerate(np.ma.getdata(cols["k"]))}


def _check_against_inserted(cols):
    assert len(cols["k"]) == N
    at = _by_key(cols)
    for name, _t, fn, dtype in _FIXED:
        arr = cols[name]
        assert isinstance(arr, np.ma.MaskedArray) and arr.dtype == np.dtype(dtype), name
        mask = np.ma.getmaskarray(arr)
        for i in range(N):
            want = _value(fn, i)
            r = at[i]
            assert bool(mask[r]) == (want is None), (name, i)
            if want is None:
                continue
            got = np.ma.getdata(arr)[r]
            if dtype == "V16":
                assert uuid.UUID(bytes=got.tobytes()) == want
            elif dtype == "datetime64[ms]":
                assert got == np.datetime64(want, "ms")
            elif dtype == "datetime64[D]":
                assert got == np.datetime64(want, "D")
            elif dtype == "timedelta64[ns]":
                nanos = ((want.hour * 60 + want.minute) * 60 + want.second) * 10**9
                assert got == np.timedelta64(nanos + want.microsecond * 1000, "ns")
            elif dtype == "float32":
                assert got == np.float32(want)
            else:
                assert got == want, (name, i)
    for name, _t, fn in _OBJECTS:
        arr = cols[name]
        assert arr.dtype == object
        for i in range(N):
            got = np.ma.getdata(arr)[at[i]]
            want = _value(fn, i)
            assert bool(np.ma.getmaskarray(arr)[at[i]]) == (want is None)
            assert (dict(got) if isinstance(want, dict) else got) == want, (name, i)


def test_numpy_columns_per_execute_every_type(session):
    rs = session.execute("SELECT * FROM t", row_factory=numpy_columns)
    assert not rs.has_more_pages
    [cols] = rs.current_rows  # one dict per page, as cassandra-driver's NumPy handler
    _check_against_inserted(cols)
    assert list(rs) == [cols]


def test_same_values_as_the_tuple_rows(session):
    cols = session.execute("SELECT * FROM t", row_factory=numpy_columns).current_rows[0]
    rows = session.execute("SELECT * FROM t", row_factory=tuple_factory).current_rows
    names = ["k", *sorted(n for n, _, _ in _ALL)]  # SELECT *: key, then columns by name
    assert list(cols) == names
    for r, row in enumerate(rows):
        for j, name in enumerate(names):
            arr = cols[name]
            assert bool(np.ma.getmaskarray(arr)[r]) == (row[j] is None), name
            if arr.dtype == object and row[j] is not None:
                assert np.ma.getdata(arr)[r] == row[j]


def test_prepared_statement_pages_and_profile(session):
    select = session.prepare("SELECT * FROM t")  # result pages come with NO_METADATA
    select.fetch_size = 7
    rs = session.execute(select, execution_profile="np")
    pages = list(rs)
    assert len(pages) == -(-N // 7) and all(isinstance(p, dict) for p in pages)
    assert sum(len(p["k"]) for p in pages) == N
    rs = session.execute(select, execution_profile="np")
    cols = rs.to_numpy()
    _check_against_inserted(cols)
    assert not rs.has_more_pages
    again = rs.to_numpy()
    assert again.keys() == cols.keys() and all(again[k] is cols[k] for k in cols)


def test_to_numpy_of_default_rows_and_of_numpy_columns_agree(session):
    stmt = SimpleStatement("SELECT * FROM t", fetch_size=11)
    plain = session.execute(stmt)
    first = plain.one()
    assert hasattr(first, "c_int")  # named tuples: rows as usual
    ours = plain.to_numpy()
    _check_against_inserted(ours)
    theirs = session.execute(stmt, row_factory=numpy_columns).to_numpy()
    for name in ours:
        a, b = ours[name], theirs[name]
        assert a.dtype == b.dtype
        assert (np.ma.getmaskarray(a) == np.ma.getmaskarray(b)).all()
        if a.dtype != object:
            assert (np.ma.getdata(a)[~np.ma.getmaskarray(a)]
                    == np.ma.getdata(b)[~np.ma.getmaskarray(b)]).all()


def test_session_row_factory(sim, session):
    # legacy session settings need a cluster without execution profiles (as cassandra-driver)
    c = Cluster(sim.contact_points[:1], port=sim.port, hub=sim.hub)
    try:
        s = c.connect(KS)
        s.row_factory = numpy_columns
        rs = s.execute("SELECT k, c_int FROM t WHERE k = 1")
        [cols] = rs.current_rows
        assert cols["k"].tolist() == [1] and cols["c_int"].mask.tolist() == [True]
    finally:
        c.shutdown()


def test_results_without_rows(session):
    rs = session.execute("INSERT INTO t (k) VALUES (1000)", row_factory=numpy_columns)
    assert rs.to_numpy() == {}
    assert rs.to_pandas().empty
    rs = session.execute("SELECT k, c_text, c_uuid FROM t WHERE k = 12345",
                         row_factory=numpy_columns)
    cols = rs.to_numpy()
    assert [(k, v.dtype, len(v)) for k, v in cols.items()] == [
        ("k", np.dtype("int32"), 0), ("c_text", np.dtype("O"), 0), ("c_uuid", np.dtype("V16"), 0)
    ]
    session.execute("DELETE FROM t WHERE k = 1000")


def test_to_pandas_dtypes_and_missing_values(session):
    df = session.execute(SimpleStatement("SELECT * FROM t", fetch_size=25)).to_pandas()
    assert len(df) == N
    expected = {
        "c_int": "Int32", "c_bigint": "Int64", "c_smallint": "Int16", "c_tinyint": "Int8",
        "c_boolean": "boolean", "c_float": "float32", "c_double": "float64",
        "c_timestamp": "datetime64[ms]", "c_date": "datetime64[s]", "c_time": "timedelta64[ns]",
        "c_uuid": "object", "c_varint": "object", "c_list": "object",
    }
    for name, dtype in expected.items():
        assert str(df[name].dtype) == dtype, name
    df = df.set_index("k").sort_index()
    assert df.loc[0, "c_int"] == -30 and df.loc[1, "c_int"] is pd.NA
    assert df.loc[2, "c_boolean"] and df.loc[1, "c_boolean"] is pd.NA
    assert np.isnan(df.loc[1, "c_double"]) and df.loc[3, "c_double"] == 1.0
    assert df.loc[3, "c_timestamp"] == pd.Timestamp("2020-01-01 03:00:00.003")
    assert pd.isna(df.loc[1, "c_timestamp"]) and pd.isna(df.loc[1, "c_date"])
    assert df.loc[2, "c_date"] == pd.Timestamp("1962-03-11")
    assert df.loc[2, "c_time"] == pd.Timedelta(hours=2, minutes=2, seconds=1, microseconds=2000)
    assert pd.isna(df.loc[1, "c_time"])
    assert df.loc[5, "c_uuid"] == uuid.UUID(int=5 << 8) and df.loc[1, "c_uuid"] is None
    assert df.loc[5, "c_text"] == "row 5 ✓" and pd.isna(df.loc[1, "c_text"])
    assert df.loc[5, "c_list"] == [5, 6]


def test_to_pandas_does_not_share_memory_with_to_numpy(session):
    rs = session.execute("SELECT k, c_int, c_boolean, c_timestamp FROM t")
    cols = rs.to_numpy()
    df = rs.to_pandas()
    df.loc[:, "c_int"] = 0
    df.loc[:, "c_boolean"] = False
    assert cols["c_int"].max() == 29 and rs.to_numpy()["c_int"].max() == 29
    assert cols["c_boolean"].any()


def test_counters(session):
    session.execute("CREATE TABLE IF NOT EXISTS counts (k int PRIMARY KEY, n counter, m counter)")
    for k in range(5):
        session.execute("UPDATE counts SET n = n + %s WHERE k = %s", [k * 10**12, k])
    session.execute("UPDATE counts SET m = m - 3 WHERE k = 2")
    cols = session.execute("SELECT k, n, m FROM counts", row_factory=numpy_columns).to_numpy()
    at = _by_key(cols)
    assert cols["n"].dtype == np.int64 and cols["m"].dtype == np.int64
    assert [int(cols["n"].data[at[k]]) for k in range(5)] == [k * 10**12 for k in range(5)]
    assert [bool(cols["m"].mask[at[k]]) for k in range(5)] == [True, True, False, True, True]
    assert cols["m"].data[at[2]] == -3


def test_numpy_columns_by_name(session):
    rs = session.execute("SELECT k FROM t WHERE k = 3", row_factory="numpy_columns")
    assert rs.current_rows[0]["k"].tolist() == [3]
    assert ExecutionProfile(row_factory="numpy_columns").row_factory == "numpy_columns"


def test_execute_async_callbacks_get_the_page_columns(session):
    future = session.execute_async("SELECT k, c_double FROM t", row_factory=numpy_columns)
    rs = future.result()
    got: list = []
    future.add_callbacks(got.append, got.append)  # done already: called at once
    # the page's current_rows, a one-item list (cassandra-driver hands the dict itself)
    assert len(got) == 1 and got[0] == rs.current_rows and len(got[0]) == 1
    assert sorted(got[0][0]["k"].tolist()) == list(range(N))


def test_to_numpy_with_a_factory_that_makes_dicts(session):
    def one_dict(names, rows):  # a user factory returning one mapping: not columns
        return {"rows": len(rows)}

    rs = session.execute("SELECT k, c_int FROM t", row_factory=one_dict)
    assert rs.current_rows == [{"rows": N}]
    cols = rs.to_numpy()
    assert sorted(cols["k"].tolist()) == list(range(N)) and cols["c_int"].dtype == np.int32


def test_numpy_columns_is_not_a_function_of_rows():
    with pytest.raises(TypeError, match="row_factory"):
        numpy_columns(["a"], [(1,)])


@pytest.mark.skipif(TEST_HUB != "thread", reason="cassandra-driver oracle: thread process only")
def test_cassandra_driver_reads_the_same_values(sim, session):
    cassandra_cluster = import_cassandra_cluster()
    from cassandra.query import tuple_factory as their_tuple_factory

    theirs = cassandra_cluster.Cluster(
        [sim.nodes[0].address], port=sim.port, protocol_version=5, connect_timeout=5,
        control_connection_timeout=5,
    )
    try:
        their_session = theirs.connect(KS)
        their_session.row_factory = their_tuple_factory
        result = their_session.execute("SELECT * FROM t")
        names = list(result.column_names)
        rows = list(result)
    finally:
        theirs.shutdown()
    cols = session.execute("SELECT * FROM t", row_factory=numpy_columns).to_numpy()
    at = _by_key(cols)
    assert len(rows) == N
    for row in rows:
        r = at[row[0]]
        for name, value in zip(names, row, strict=True):
            arr = cols[name]
            assert bool(np.ma.getmaskarray(arr)[r]) == (value is None), name
            if value is None:
                continue
            got = np.ma.getdata(arr)[r]
            kind = arr.dtype.kind
            if arr.dtype == np.dtype("V16"):
                assert uuid.UUID(bytes=got.tobytes()) == value
            elif kind == "M" and arr.dtype == np.dtype("datetime64[D]"):
                assert got == np.datetime64(value.date(), "D")
            elif kind == "M":
                assert got == np.datetime64(value, "ms")
            elif kind == "m":
                assert int(got.astype(np.int64)) == value.nanosecond_time
            elif arr.dtype == np.float32:
                assert got == np.float32(value)
            elif kind == "O":
                assert (dict(got) if isinstance(got, dict) else got) == (
                    dict(value) if hasattr(value, "items") else value
                ), name
            else:
                assert got == value, name


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        env={**os.environ, "PYTHONPATH": ".", **env},
    )


def test_importing_greencql_imports_neither_numpy_nor_pandas():
    proc = _python(
        "import sys, greencql; from greencql import Cluster, numpy_columns; "
        "import greencql.cluster.results; "
        "print('numpy' in sys.modules, 'pandas' in sys.modules)"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_a_missing_numpy_is_an_import_error_naming_the_extra():
    proc = _python(
        "import sys; sys.modules['numpy'] = None\n"
        "try:\n"
        "    import greencql.protocol.columnar\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert "greencql[numpy]" in proc.stdout
    proc = _python(
        "import sys; sys.modules['pandas'] = None\n"
        "import numpy as np\n"
        "from greencql.cluster.analysis import to_dataframe\n"
        "try:\n"
        "    to_dataframe({}, ())\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert "greencql[pandas]" in proc.stdout


def test_a_per_call_row_factory_applies_to_prepared_statements(session):
    """A prepared statement with the default profile takes the straight request path; a
    per-call row_factory must still reach its page (execute and execute_async alike)."""
    ps = session.prepare("SELECT k FROM t WHERE k = ?")
    cols = session.execute(ps, [3], row_factory=numpy_columns).current_rows[0]
    assert isinstance(cols, NumpyColumns) and list(cols["k"]) == [3]
    rows = session.execute_async(ps, [3], row_factory=numpy_columns).result().current_rows
    assert isinstance(rows[0], NumpyColumns)
    rows = session.execute_async(ps, [3], row_factory=tuple_factory).result().current_rows
    assert rows == [(3,)] and type(rows[0]) is tuple
    bound = ps.bind([3])
    assert isinstance(session.execute(bound, row_factory=numpy_columns).current_rows[0],
                      NumpyColumns)
