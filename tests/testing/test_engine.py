"""The simulated engine: storage semantics, LWT, paging, errors with Cassandra's codes/messages.

Bound values are serialized with cassandra-driver's own serializers where bytes matter, so the
engine's decoding is not checked only against greencql's codecs.
"""

from __future__ import annotations

import datetime
import uuid

import pytest
from cassandra.cqltypes import Int32Type, LongType, UTF8Type

from greencql.cluster.murmur3 import murmur3_token
from greencql.errors import (
    AlreadyExists,
    InvalidRequest,
    SyntaxException,
    Unauthorized,
    Unprepared,
)
from greencql.testing.engine import (
    UNSET,
    Engine,
    NodeInfo,
    Rows,
    SchemaChange,
    SetKeyspace,
    Void,
)

NOW = 1_700_000_000.0


def _int(v: int) -> bytes:
    return Int32Type.serialize(v, 4)


@pytest.fixture
def e() -> Engine:
    eng = Engine([NodeInfo("127.0.0.1", uuid.UUID(int=1), (-100, 100)),
                  NodeInfo("127.0.0.2", uuid.UUID(int=2), (0,))])
    eng.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                "'replication_factor': 1}", now=NOW)
    return eng


def run(e: Engine, q: str, *values, now: float = NOW, **kw):
    return e.execute(q, keyspace="ks", values=list(values) if values else None, now=now, **kw)


def rows(e: Engine, q: str, *values, now: float = NOW, **kw):
    r = run(e, q, *values, now=now, **kw)
    assert isinstance(r, Rows)
    return r.rows


# -- DDL ---------------------------------------------------------------------------------------


def test_ddl_results_and_schema_version(e: Engine) -> None:
    v0 = e.schema_version
    r = run(e, "CREATE TABLE t (k int PRIMARY KEY, v text)")
    assert r == SchemaChange("CREATED", "TABLE", "ks", "t")
    v1 = e.schema_version
    assert v1 != v0
    assert run(e, "CREATE TABLE IF NOT EXISTS t (k int PRIMARY KEY)") == Void()
    assert e.schema_version == v1
    assert run(e, "ALTER TABLE t ADD x int") == SchemaChange("UPDATED", "TABLE", "ks", "t")
    assert run(e, "CREATE TYPE addr (street text, zip int)") == SchemaChange(
        "CREATED", "TYPE", "ks", "addr")
    assert run(e, "DROP TABLE t") == SchemaChange("DROPPED", "TABLE", "ks", "t")
    assert run(e, "DROP TABLE IF EXISTS t") == Void()
    assert run(e, "USE ks") == SetKeyspace("ks")
    assert run(e, "DROP KEYSPACE ks") == SchemaChange("DROPPED", "KEYSPACE", "ks", None)


def test_reference_errors(e: Engine) -> None:
    run(e, "CREATE KEYSPACE factks WITH replication={'class':'SimpleStrategy',"
           "'replication_factor':1}")
    run(e, "CREATE TABLE factks.t (k int PRIMARY KEY, v text)")
    cases = [
        ("SELEKT * FROM factks.t", SyntaxException,
         "line 1:0 no viable alternative at input 'SELEKT' ([SELEKT]...)"),
        ("SELECT * FROM factks.nosuch", InvalidRequest, "table nosuch does not exist"),
        ("SELECT * FROM nosuchks.t", InvalidRequest, "keyspace nosuchks does not exist"),
        ("SELECT * FROM factks.t WHERE v='x'", InvalidRequest,
         "Cannot execute this query as it might involve data filtering and thus may have "
         "unpredictable performance. If you want to execute this query despite the performance "
         "unpredictability, use ALLOW FILTERING"),
        ("INSERT INTO factks.t (k, v) VALUES ('notint', 'x')", InvalidRequest,
         'Invalid STRING constant (notint) for "k" of type int'),
        ("INSERT INTO factks.t (v) VALUES ('x')", InvalidRequest,
         "Some partition key parts are missing: k"),
        ("SELECT nosuchcol FROM factks.t", InvalidRequest,
         "Undefined column name nosuchcol in table factks.t"),
        ("USE nosuchks", InvalidRequest, "Keyspace 'nosuchks' does not exist"),
    ]
    for q, cls, msg in cases:
        with pytest.raises(cls) as info:
            e.execute(q, now=NOW)
        assert info.value.message == msg, q
    assert SyntaxException.error_code == 0x2000 and InvalidRequest.error_code == 0x2200
    with pytest.raises(AlreadyExists) as ae:
        e.execute("CREATE KEYSPACE factks WITH replication={'class':'SimpleStrategy',"
                  "'replication_factor':1}")
    assert ae.value.keyspace == "factks" and ae.value.table == ""
    assert str(ae.value) == "Keyspace 'factks' already exists"
    with pytest.raises(AlreadyExists) as ae:
        e.execute("CREATE TABLE factks.t (k int PRIMARY KEY)")
    assert (ae.value.keyspace, ae.value.table) == ("factks", "t")
    assert str(ae.value) == "Table 'factks.t' already exists"


def test_order_by_and_filtering_messages(e: Engine) -> None:
    run(e, "CREATE TABLE kv (k text PRIMARY KEY, v blob)")
    with pytest.raises(InvalidRequest) as info:
        run(e, "SELECT * FROM kv WHERE k IN ('a','b') ORDER BY k")
    assert info.value.message == ("Order by is currently only supported on the clustered "
                                  "columns of the PRIMARY KEY, got k")
    run(e, "CREATE TABLE orders (c uuid, placed timestamp, id int, PRIMARY KEY (c, placed, id))")
    with pytest.raises(InvalidRequest) as info:
        run(e, "SELECT * FROM orders WHERE placed > '2020-01-01'")
    assert "ALLOW FILTERING" in info.value.message
    assert rows(e, "SELECT * FROM orders WHERE placed > '2020-01-01' ALLOW FILTERING") == []


# -- writes and reads --------------------------------------------------------------------------


def test_insert_select_types_and_literals(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int PRIMARY KEY, ts timestamp, d date, tm time, ip inet, u uuid, "
           "b blob, f double, ok boolean, big bigint, dec decimal, txt text)")
    run(e, "INSERT INTO t (k, ts, d, tm, ip, u, b, f, ok, big, dec, txt) VALUES (1, "
           "'2020-01-02 03:04:05+0000', '2020-01-02', '10:11:12.5', '10.0.0.1', "
           "123e4567-e89b-12d3-a456-426614174000, 0xcafe, -1.5e3, true, 9000000000, 1.25, "
           "'it''s')")
    (row,) = rows(e, "SELECT ts, d, tm, ip, u, b, f, ok, big, dec, txt FROM t WHERE k = 1")
    assert row[0] == datetime.datetime(2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert row[1] == datetime.date(2020, 1, 2)
    assert row[2] == datetime.time(10, 11, 12, 500000)
    assert str(row[3]) == "10.0.0.1"
    assert row[4] == uuid.UUID("123e4567-e89b-12d3-a456-426614174000")
    assert row[5:] == (b"\xca\xfe", -1500.0, True, 9000000000, __import__("decimal").Decimal(
        "1.25"), "it's")


def test_prepared_single_row_and_pk_indexes(e: Engine) -> None:
    run(e, "CREATE TABLE t (a int, b text, c int, v text, PRIMARY KEY ((a, b), c))")
    ins = e.prepare("INSERT INTO t (v, c, b, a) VALUES (?, ?, ?, ?)", "ks")
    assert [s.name for s in ins.bind_specs] == ["v", "c", "b", "a"]
    assert ins.pk_indexes == (3, 2)
    e.execute_prepared(ins.id, [UTF8Type.serialize("x", 4), _int(7), UTF8Type.serialize("b", 4),
                                _int(1)], now=NOW)
    sel = e.prepare("SELECT v FROM t WHERE a = ? AND b = ? AND c = ?", "ks")
    assert sel.pk_indexes == (0, 1)
    assert [(s.name, s.coltype.cql_name) for s in sel.result_specs] == [("v", "text")]
    r = e.execute_prepared(sel.id, [_int(1), b"b", _int(7)], now=NOW)
    assert r.rows == [("x",)]
    assert r.encoded_rows() == [[b"x"]]
    assert e.execute_prepared(sel.id, [_int(1), b"b", _int(8)], now=NOW).rows == []
    with pytest.raises(Unprepared):
        e.execute_prepared(b"\x00" * 16, [])
    # the token of the stored partition is the driver's token of the routing key
    p = next(iter(e.schema.keyspaces["ks"].tables["t"].data.partitions.values()))
    assert p.token == murmur3_token(b"\x00\x04\x00\x00\x00\x01\x00\x00\x01b\x00")


def test_named_markers_and_unset(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int PRIMARY KEY, a int, b int)")
    run(e, "INSERT INTO t (k, a, b) VALUES (1, 1, 1)")
    p = e.prepare("UPDATE t SET a = :a, b = :b WHERE k = :k", "ks")
    assert [s.name for s in p.bind_specs] == ["a", "b", "k"]
    e.execute_prepared(p.id, {"k": _int(1), "a": _int(5), "b": UNSET}, now=NOW + 1)
    assert rows(e, "SELECT a, b FROM t WHERE k = 1") == [(5, 1)]


def test_timestamps_last_write_wins(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int PRIMARY KEY, v text)")
    run(e, "INSERT INTO t (k, v) VALUES (1, 'new') USING TIMESTAMP 2000")
    run(e, "INSERT INTO t (k, v) VALUES (1, 'old') USING TIMESTAMP 1000")
    assert rows(e, "SELECT v, writetime(v) FROM t WHERE k = 1") == [("new", 2000)]
    run(e, "DELETE FROM t USING TIMESTAMP 1500 WHERE k = 1")
    assert rows(e, "SELECT v FROM t WHERE k = 1") == [("new",)]
    run(e, "DELETE FROM t USING TIMESTAMP 2500 WHERE k = 1")
    assert rows(e, "SELECT v FROM t WHERE k = 1") == []
    run(e, "INSERT INTO t (k, v) VALUES (1, 'older') USING TIMESTAMP 2400")
    assert rows(e, "SELECT v FROM t WHERE k = 1") == []
    run(e, "INSERT INTO t (k, v) VALUES (1, 'back')", timestamp=3000)
    assert rows(e, "SELECT v, writetime(v) FROM t WHERE k = 1") == [("back", 3000)]


def test_ttl_expiry_by_now(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int PRIMARY KEY, v text, w text)")
    run(e, "INSERT INTO t (k, v) VALUES (1, 'a') USING TTL 10", now=NOW)
    run(e, "UPDATE t USING TTL 100 SET w = 'b' WHERE k = 1", now=NOW)
    assert rows(e, "SELECT v, ttl(v), w FROM t WHERE k = 1", now=NOW + 3) == [("a", 7, "b")]
    assert rows(e, "SELECT v, w FROM t WHERE k = 1", now=NOW + 10) == [(None, "b")]
    assert rows(e, "SELECT * FROM t", now=NOW + 100) == []
    run(e, "CREATE TABLE d (k int PRIMARY KEY, v int) WITH default_time_to_live = 5")
    run(e, "INSERT INTO d (k, v) VALUES (1, 1)", now=NOW)
    assert rows(e, "SELECT ttl(v) FROM d", now=NOW) == [(5,)]
    assert rows(e, "SELECT * FROM d", now=NOW + 5) == []


def test_row_marker_vs_update(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int PRIMARY KEY, v text)")
    run(e, "INSERT INTO t (k) VALUES (1)")
    run(e, "UPDATE t SET v = 'x' WHERE k = 2")
    run(e, "UPDATE t SET v = null WHERE k = 2")
    assert rows(e, "SELECT * FROM t") == [(1, None)]


def test_clustering_order_ranges_in_and_desc(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int, c int, d text, v int, PRIMARY KEY (k, c, d)) "
           "WITH CLUSTERING ORDER BY (c DESC, d ASC)")
    for c in range(5):
        for d in "ba":
            run(e, f"INSERT INTO t (k, c, d, v) VALUES (1, {c}, '{d}', {c})")
    got = rows(e, "SELECT c, d FROM t WHERE k = 1")
    assert got == [(c, d) for c in (4, 3, 2, 1, 0) for d in "ab"]
    assert rows(e, "SELECT c FROM t WHERE k = 1 AND c > 1 AND c <= 3") == [(3,), (3,), (2,), (2,)]
    assert rows(e, "SELECT c, d FROM t WHERE k = 1 ORDER BY c ASC, d DESC LIMIT 3") == [
        (0, "b"), (0, "a"), (1, "b")]
    assert rows(e, "SELECT c, d FROM t WHERE k = 1 AND c IN (0, 4) AND d = 'a'") == [
        (4, "a"), (0, "a")]
    assert rows(e, "SELECT c FROM t WHERE k = 1 AND c = 2 AND d > 'a'") == [(2,)]
    assert rows(e, "SELECT count(*) FROM t WHERE k = 1 AND c >= 3") == [(4,)]
    assert rows(e, "SELECT c FROM t WHERE k = 1 PER PARTITION LIMIT 1") == [(4,)]
    with pytest.raises(InvalidRequest):
        run(e, "SELECT * FROM t WHERE k = 1 ORDER BY d DESC")
    with pytest.raises(InvalidRequest):
        run(e, "SELECT * FROM t WHERE k = 1 AND d = 'a'")
    run(e, "DELETE FROM t WHERE k = 1 AND c >= 3")
    assert rows(e, "SELECT DISTINCT k FROM t") == [(1,)]
    assert [r[0] for r in rows(e, "SELECT c FROM t WHERE k = 1")] == [2, 2, 1, 1, 0, 0]


def test_partition_in_and_token_ranges(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int PRIMARY KEY, v int)")
    for k in range(20):
        run(e, f"INSERT INTO t (k, v) VALUES ({k}, {k * 10})")
    allrows = rows(e, "SELECT k, token(k) FROM t")
    toks = [t for _, t in allrows]
    assert toks == sorted(toks)
    assert toks == sorted(murmur3_token(_int(k)) for k in range(20))
    assert sorted(rows(e, "SELECT k FROM t WHERE k IN (3, 1, 2, 3)")) == [(1,), (2,), (3,)]
    mid = toks[10]
    upper = rows(e, "SELECT k FROM t WHERE token(k) > ?", LongType.serialize(mid, 4))
    assert len(upper) == 9
    lower = rows(e, f"SELECT k FROM t WHERE token(k) <= {mid}")
    assert len(lower) == 11
    assert rows(e, "SELECT k FROM t WHERE k IN ?", [5, 6]) in ([(5,), (6,)], [(6,), (5,)])
    assert rows(e, "SELECT count(1) FROM t") == [(20,)]
    assert rows(e, "SELECT k FROM t WHERE v = 50 ALLOW FILTERING") == [(5,)]


def test_static_columns(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int, c int, s text static, v text, PRIMARY KEY (k, c))")
    run(e, "INSERT INTO t (k, s) VALUES (1, 'static only')")
    assert rows(e, "SELECT * FROM t") == [(1, None, "static only", None)]
    run(e, "INSERT INTO t (k, c, v) VALUES (1, 1, 'a')")
    run(e, "INSERT INTO t (k, c, v, s) VALUES (1, 2, 'b', 'S')")
    assert rows(e, "SELECT * FROM t WHERE k = 1") == [(1, 1, "S", "a"), (1, 2, "S", "b")]
    assert rows(e, "SELECT DISTINCT k, s FROM t") == [(1, "S")]
    with pytest.raises(InvalidRequest) as info:
        run(e, "UPDATE t SET s = 'x' WHERE k = 1 AND c = 1 IF s = 'S'")
    assert info.value.message == ("Invalid restrictions on clustering columns since the UPDATE "
                                  "statement modifies only static columns")


def test_counters(e: Engine) -> None:
    run(e, "CREATE TABLE c (k int PRIMARY KEY, n counter, m counter)")
    run(e, "UPDATE c SET n = n + 1 WHERE k = 1")
    run(e, "UPDATE c SET n = n + 5, m = m - 2 WHERE k = 1")
    run(e, "UPDATE c SET n = n -1 WHERE k = 1")
    assert rows(e, "SELECT n, m FROM c WHERE k = 1") == [(5, -2)]
    with pytest.raises(InvalidRequest):
        run(e, "UPDATE c SET n = 3 WHERE k = 1")
    with pytest.raises(InvalidRequest):
        run(e, "INSERT INTO c (k, n) VALUES (1, 1)")


def test_collections(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int PRIMARY KEY, s set<int>, l list<text>, m map<text, int>, "
           "f frozen<list<int>>)")
    run(e, "INSERT INTO t (k, s, l, m, f) VALUES (1, {3, 1}, ['b'], {'x': 1}, [2, 1])")
    run(e, "UPDATE t SET s = s + {2}, l = ['a'] + l, m['y'] = 2 WHERE k = 1")
    run(e, "UPDATE t SET l = l + ['c'], s = s - {3}, m = m - {'x'} WHERE k = 1")
    assert rows(e, "SELECT s, l, m, f FROM t WHERE k = 1") == [
        ({1, 2}, ["a", "b", "c"], {"y": 2}, [2, 1])]
    run(e, "UPDATE t SET l[1] = 'B' WHERE k = 1")
    run(e, "DELETE m['y'], l[0] FROM t WHERE k = 1")
    assert rows(e, "SELECT l, m FROM t WHERE k = 1") == [(["B", "c"], None)]
    run(e, "UPDATE t SET s = {9} WHERE k = 1")
    assert rows(e, "SELECT s FROM t WHERE k = 1") == [({9},)]
    with pytest.raises(InvalidRequest):
        run(e, "UPDATE t SET l[7] = 'x' WHERE k = 1")
    r = run(e, "SELECT s, l FROM t WHERE k = 1")
    assert r.encoded_rows()[0][0] == b"\x00\x00\x00\x01\x00\x00\x00\x04\x00\x00\x00\x09"


def test_udt_and_tuple(e: Engine) -> None:
    run(e, "CREATE TYPE address (street text, zip int)")
    run(e, "CREATE TABLE t (k int PRIMARY KEY, a frozen<address>, tp tuple<int, text>)")
    run(e, "INSERT INTO t (k, a, tp) VALUES (1, {street: 'main', zip: 7}, (1, 'x'))")
    ((a, tp),) = rows(e, "SELECT a, tp FROM t")
    assert (a.street, a.zip, tp) == ("main", 7, (1, "x"))
    cols = rows(e, "SELECT column_name, type FROM system_schema.columns WHERE keyspace_name = "
                   "'ks' AND table_name = 't'")
    assert cols == [("a", "frozen<address>"), ("k", "int"), ("tp", "frozen<tuple<int, text>>")]


# -- LWT -----------------------------------------------------------------------------------------


def test_lwt_shapes(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int PRIMARY KEY, v text)")
    r = run(e, "INSERT INTO t (k, v) VALUES (1, 'a') IF NOT EXISTS")
    assert r.column_names == ["[applied]"] and r.rows == [(True,)]
    r = run(e, "INSERT INTO t (k, v) VALUES (1, 'b') IF NOT EXISTS")
    assert r.column_names == ["[applied]", "k", "v"] and r.rows == [(False, 1, "a")]
    r = run(e, "UPDATE t SET v = 'c' WHERE k = 1 IF v = 'zzz'")
    assert r.column_names == ["[applied]", "v"] and r.rows == [(False, "a")]
    r = run(e, "UPDATE t SET v = 'c' WHERE k = 1 IF v = 'a'")
    assert r.rows == [(True,)]
    r = run(e, "UPDATE t SET v = 'd' WHERE k = 2 IF EXISTS")
    assert r.column_names == ["[applied]"] and r.rows == [(False,)]
    r = run(e, "DELETE FROM t WHERE k = 1 IF EXISTS")
    assert r.rows == [(True,)]
    assert rows(e, "SELECT * FROM t") == []
    with pytest.raises(InvalidRequest):
        run(e, "INSERT INTO t (k, v) VALUES (1, 'a') IF NOT EXISTS USING TIMESTAMP 5")


# -- batches -------------------------------------------------------------------------------------


def test_batches(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int PRIMARY KEY, v int)")
    run(e, "CREATE TABLE c (k int PRIMARY KEY, n counter)")
    r = run(e, "BEGIN BATCH INSERT INTO t (k, v) VALUES (?, 1); UPDATE t SET v = ? WHERE k = 2; "
               "APPLY BATCH", _int(1), _int(2))
    assert r == Void()
    assert sorted(rows(e, "SELECT k, v FROM t")) == [(1, 1), (2, 2)]
    p = e.prepare("INSERT INTO t (k, v) VALUES (?, ?)", "ks")
    e.execute_batch([(p.id, [_int(3), _int(3)]), ("DELETE FROM t WHERE k = 1", [])], 1,
                    keyspace="ks", now=NOW)
    assert sorted(rows(e, "SELECT k FROM t")) == [(2,), (3,)]
    e.execute_batch([("UPDATE c SET n = n + 2 WHERE k = 1", [])], "COUNTER", keyspace="ks")
    assert rows(e, "SELECT n FROM c") == [(2,)]
    with pytest.raises(InvalidRequest):
        e.execute_batch([("UPDATE c SET n = n + 2 WHERE k = 1", [])], 0, keyspace="ks")
    r = e.execute_batch([("INSERT INTO t (k, v) VALUES (2, 9) IF NOT EXISTS", []),
                         ("UPDATE t SET v = 10 WHERE k = 2", [])], 0, keyspace="ks")
    assert r.rows[0][0] is False
    assert rows(e, "SELECT v FROM t WHERE k = 2") == [(2,)]


# -- paging --------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["", " ORDER BY c DESC"])
def test_paging_covers_every_row_once(e: Engine, order: str) -> None:
    run(e, "CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c))")
    expected = set()
    for k in range(4):
        for c in range(k + 1):
            run(e, f"INSERT INTO t (k, c, v) VALUES ({k}, {c}, 0)")
            expected.add((k, c))
    n = len(expected)
    queries = ["SELECT k, c FROM t"]
    if order:
        queries = [f"SELECT k, c FROM t WHERE k = 3{order}"]
        expected = {(3, c) for c in range(4)}
        n = 4
    for q in queries:
        full = rows(e, q)
        for size in range(1, n + 2):
            got = []
            state = None
            pages = 0
            while True:
                r = run(e, q, page_size=size, paging_state=state)
                got.extend(r.rows)
                pages += 1
                state = r.paging_state
                if state is None:
                    break
                assert len(r.rows) == size
            assert got == full
            assert set(got) == expected
            assert pages == max(1, -(-n // size))


def test_paging_with_limit_and_concurrent_writes(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int PRIMARY KEY)")
    for k in range(10):
        run(e, f"INSERT INTO t (k) VALUES ({k})")
    r1 = run(e, "SELECT k FROM t LIMIT 7", page_size=3)
    r2 = run(e, "SELECT k FROM t LIMIT 7", page_size=3, paging_state=r1.paging_state)
    r3 = run(e, "SELECT k FROM t LIMIT 7", page_size=3, paging_state=r2.paging_state)
    assert len(r1.rows + r2.rows + r3.rows) == 7 and r3.paging_state is None
    # deleting the row a page ended on does not break resumption
    a = run(e, "SELECT k FROM t", page_size=4)
    run(e, f"DELETE FROM t WHERE k = {a.rows[-1][0]}")
    b = run(e, "SELECT k FROM t", page_size=100, paging_state=a.paging_state)
    assert len(a.rows) + len(b.rows) == 10
    with pytest.raises(InvalidRequest):
        run(e, "SELECT k FROM t", page_size=3, paging_state=b"garbage")


def test_empty_collections_inside_collections_are_values(e: Engine) -> None:
    # '{}' and '[]' are empty values, not null, inside a collection, a tuple or a frozen
    # column (Cassandra: Sets.Literal prepares an empty map for a map receiver); only a
    # top-level non-frozen collection stores "no element" as null
    run(e, "CREATE TABLE t (k int PRIMARY KEY, l frozen<list<frozen<map<text, int>>>>, "
           "s set<frozen<set<int>>>, m map<int, frozen<list<int>>>, "
           "tp tuple<int, frozen<list<int>>>, fl frozen<list<int>>, fm frozen<map<int, int>>, "
           "nl list<int>)")
    run(e, "INSERT INTO t (k, l, s, m, tp, fl, fm, nl) VALUES "
           "(1, [{}, {'a': 1}], {{}, {1}}, {1: []}, (1, []), [], {}, [])")
    run(e, "INSERT INTO t (k, l) VALUES (2, [{}])")
    run(e, "UPDATE t SET m[2] = [] WHERE k = 1")
    got = rows(e, "SELECT l, s, m, tp, fl, fm, nl FROM t WHERE k = 1")
    assert got == [([{}, {"a": 1}], {frozenset(), frozenset({1})}, {1: [], 2: []}, (1, []),
                     [], {}, None)]
    assert rows(e, "SELECT l FROM t WHERE k = 2") == [([{}],)]
    # the bytes sent to clients decode, with cassandra-driver's codecs, to the same values
    from cassandra.cqltypes import ListType, MapType

    r = run(e, "SELECT l, fl FROM t WHERE k = 1")
    l_bytes, fl_bytes = r.encoded_rows()[0]
    l_type = ListType.apply_parameters([MapType.apply_parameters([UTF8Type, Int32Type])])
    assert l_type.deserialize(l_bytes, 4) == [{}, {"a": 1}]
    assert fl_bytes == b"\x00\x00\x00\x00"  # an empty frozen list, not null
    # a bound value says the same as the literal
    run(e, "INSERT INTO t (k, l, fl) VALUES (4, ?, ?)", l_type.serialize([{}], 4),
        ListType.apply_parameters([Int32Type]).serialize([], 4))
    assert rows(e, "SELECT l, fl FROM t WHERE k = 4") == [([{}], [])]
    with pytest.raises(InvalidRequest, match="null is not supported inside collections"):
        run(e, "INSERT INTO t (k, l) VALUES (3, [null])")
    with pytest.raises(InvalidRequest, match="null is not supported inside collections"):
        run(e, "INSERT INTO t (k, m) VALUES (3, {1: null})")


def test_rejected_writes_leave_nothing(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int PRIMARY KEY, l list<int>, m map<int, int>)")
    with pytest.raises(InvalidRequest):
        run(e, "INSERT INTO t (k, l) VALUES (1, [1, null])")
    with pytest.raises(InvalidRequest):
        run(e, "UPDATE t SET m = {1: 1}, l = [null] WHERE k = 2")
    with pytest.raises(InvalidRequest):
        run(e, "BEGIN BATCH INSERT INTO t (k) VALUES (3); INSERT INTO t (k, l) VALUES (4, [null]) "
               "APPLY BATCH")
    with pytest.raises(InvalidRequest):
        e.execute_batch([("INSERT INTO t (k) VALUES (5)", None),
                         ("UPDATE t SET m[?] = 1 WHERE k = 6", [None])], keyspace="ks", now=NOW)
    assert rows(e, "SELECT k FROM t") == []


def test_terms_are_bound_per_row(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int PRIMARY KEY, u timeuuid)")
    run(e, "UPDATE t SET u = now() WHERE k IN (1, 2)")
    (u1,), (u2,) = rows(e, "SELECT u FROM t WHERE k IN (1, 2)")
    assert u1 != u2


# -- system tables ---------------------------------------------------------------------------------


def test_system_local_and_peers(e: Engine) -> None:
    r = e.execute("SELECT * FROM system.local WHERE key='local'", coordinator="127.0.0.2")
    row = dict(zip(r.column_names, r.rows[0], strict=True))
    assert row["rpc_address"].exploded == "127.0.0.2"
    assert row["tokens"] == {"0"}
    assert row["schema_version"] == e.schema_version
    assert row["partitioner"] == "org.apache.cassandra.dht.Murmur3Partitioner"
    assert len(r.column_names) == 20
    peers = e.execute("SELECT peer, data_center, rack, tokens, rpc_address, schema_version "
                      "FROM system.peers", coordinator="127.0.0.2").rows
    assert [str(p[0]) for p in peers] == ["127.0.0.1"]
    assert peers[0][3] == {"-100", "100"}
    v2 = e.execute("SELECT * FROM system.peers_v2", coordinator="127.0.0.1")
    assert v2.column_names[:2] == ["peer", "peer_port"] and len(v2.column_names) == 12
    with pytest.raises(Unauthorized):
        e.execute("INSERT INTO system.local (key) VALUES ('x')")


def _by_name(r) -> list[dict]:
    return [dict(zip(r.column_names, row, strict=True)) for row in r.rows]


def test_system_tables_with_distinct_ports() -> None:
    # three nodes on one address, told apart by their native ports
    infos = [NodeInfo("127.0.0.1", uuid.UUID(int=i), (i * 10,), port=9041 + i)
             for i in (1, 2, 3)]
    e = Engine(infos)
    for info in infos:
        for ref in (("127.0.0.1", info.port), info.host_id, info):
            local = _by_name(e.execute("SELECT * FROM system.local", coordinator=ref))[0]
            assert (local["host_id"], local["rpc_port"]) == (info.host_id, info.port)
            v2 = _by_name(e.execute("SELECT * FROM system.peers_v2", coordinator=ref))
            others = [n for n in infos if n is not info]
            assert sorted((p["host_id"], str(p["native_address"]), p["native_port"])
                          for p in v2) == [(n.host_id, "127.0.0.1", n.port) for n in others]
            # each node's storage port, the same as its own system.local says
            assert sorted(p["peer_port"] for p in v2) == [
                7000 + i for i, n in enumerate(infos) if n is not info]
            assert local["listen_port"] == local["broadcast_port"] == 7000 + infos.index(info)
            # system.peers is keyed by address alone: the two peers share one row
            peers = _by_name(e.execute("SELECT * FROM system.peers", coordinator=ref))
            assert [str(p["peer"]) for p in peers] == ["127.0.0.1"]
            assert peers[0]["host_id"] in {n.host_id for n in others}
    # an address alone names the first node on it
    local = _by_name(e.execute("SELECT host_id FROM system.local", coordinator="127.0.0.1"))
    assert local == [{"host_id": infos[0].host_id}]


def test_system_tables_storage_ports_one_node_per_address(e: Engine) -> None:
    v2 = _by_name(e.execute("SELECT peer, peer_port, native_port FROM system.peers_v2",
                            coordinator=("127.0.0.2", 9042)))
    assert [(str(p["peer"]), p["peer_port"], p["native_port"]) for p in v2] == [
        ("127.0.0.1", 7000, 9042)]
    e2 = Engine([NodeInfo("10.0.0.1", uuid.UUID(int=1), (0,), storage_port=7001)])
    local = _by_name(e2.execute("SELECT listen_port FROM system.local"))
    assert local == [{"listen_port": 7001}]


def test_system_schema_matches_reference(e: Engine) -> None:
    e.execute("CREATE KEYSPACE shop WITH replication = {'class': 'NetworkTopologyStrategy', "
              "'datacenter1': 1}")
    e.execute("CREATE TYPE shop.address (street text, zip int)")
    e.execute("CREATE TABLE shop.orders (customer uuid, placed timestamp, id int, note text "
              "static, items map<text,int>, ship frozen<address>, PRIMARY KEY ((customer), "
              "placed, id)) WITH CLUSTERING ORDER BY (placed DESC, id ASC) AND comment='orders'")
    e.execute("CREATE TABLE shop.kv (k text PRIMARY KEY, v blob)")
    e.execute("CREATE INDEX kv_v ON shop.kv (v)")
    ks = e.execute("SELECT * FROM system_schema.keyspaces WHERE keyspace_name='shop'").rows
    assert ks == [("shop", True, {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
                                  "datacenter1": "1"})]
    names = [r[0] for r in e.execute("SELECT keyspace_name FROM system_schema.keyspaces").rows]
    assert {"system", "system_schema", "system_auth", "system_distributed",
            "system_traces", "shop"} <= set(names)
    types = e.execute("SELECT * FROM system_schema.types WHERE keyspace_name='shop'").rows
    assert types == [("shop", "address", ["street", "zip"], ["text", "int"])]
    cols = e.execute("SELECT * FROM system_schema.columns WHERE keyspace_name='shop'").rows
    assert [c[1:3] + c[3:4] + c[5:] for c in cols] == [
        ("kv", "k", "none", "partition_key", 0, "text"),
        ("kv", "v", "none", "regular", -1, "blob"),
        ("orders", "customer", "none", "partition_key", 0, "uuid"),
        ("orders", "id", "asc", "clustering", 1, "int"),
        ("orders", "items", "none", "regular", -1, "map<text, int>"),
        ("orders", "note", "none", "static", -1, "text"),
        ("orders", "placed", "desc", "clustering", 0, "timestamp"),
        ("orders", "ship", "none", "regular", -1, "frozen<address>"),
    ]
    r = e.execute("SELECT * FROM system_schema.tables WHERE keyspace_name='shop' AND "
                  "table_name='orders'")
    t = dict(zip(r.column_names, r.rows[0], strict=True))
    assert t["flags"] == {"compound"} and t["comment"] == "orders"
    assert t["caching"] == {"keys": "ALL", "rows_per_partition": "NONE"}
    assert t["compaction"]["class"] == (
        "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy")
    assert t["compression"] == {"chunk_length_in_kb": "16",
                                "class": "org.apache.cassandra.io.compress.LZ4Compressor"}
    assert (t["gc_grace_seconds"], t["read_repair"], t["speculative_retry"]) == (
        864000, "BLOCKING", "99p")
    ix = e.execute("SELECT * FROM system_schema.indexes WHERE keyspace_name='shop'").rows
    assert ix == [("shop", "kv", "kv_v", "COMPOSITES", {"target": "v"})]
    assert e.execute("SELECT k FROM shop.kv WHERE v = 0x00").rows == []
    star = e.execute("SELECT * FROM shop.orders")
    # reference section 4: the other columns by name, simple and multi-cell together
    assert star.column_names == ["customer", "placed", "id", "note", "items", "ship"]


def test_natural_order_of_clustering_types(e: Engine) -> None:
    run(e, "CREATE TABLE t (k int, c text, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY (c DESC)")
    for word in ["b", "ab", "B", "é", "a"]:
        run(e, f"INSERT INTO t (k, c) VALUES (1, '{word}')")
    # UTF8Type compares bytes: 'B' < 'a' < 'ab' < 'b' < 'é'; DESC reverses
    assert [r[0] for r in rows(e, "SELECT c FROM t")] == ["é", "b", "ab", "a", "B"]
    run(e, "CREATE TABLE tu (k int, c timeuuid, PRIMARY KEY (k, c))")
    ids = [e.timeuuid(NOW + i) for i in (3, 1, 2)]
    for u in ids:
        run(e, f"INSERT INTO tu (k, c) VALUES (1, {u})")
    assert [r[0] for r in rows(e, "SELECT c FROM tu")] == sorted(ids, key=lambda u: u.time)
    run(e, "CREATE TABLE s (k int PRIMARY KEY, v set<text>)")
    run(e, "INSERT INTO s (k, v) VALUES (1, {'zz', 'a', 'm'})")
    enc = run(e, "SELECT v FROM s").encoded_rows()[0][0]
    assert enc == (
        b"\x00\x00\x00\x03" + b"\x00\x00\x00\x01a" + b"\x00\x00\x00\x01m"
        + b"\x00\x00\x00\x02zz")
