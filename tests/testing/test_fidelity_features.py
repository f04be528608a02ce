"""The Cassandra 4.0 CQL applications use, answered as a real 4.0.13 answers it (reference
section 1): UDTs with non-frozen collection fields, ALTER TYPE, field/element/slice selection
and deletion, multi-column relations, aggregates and GROUP BY, CAST, arithmetic, date
arithmetic, native functions, token() on both sides, JSON, an index on a partition-key
component, trailing semicolons, -Infinity. Engine level (no IO), plus a greencql round trip.
"""

from __future__ import annotations

import datetime
import json
import math
import uuid

import pytest

from greencql import Cluster
from greencql.errors import FunctionFailure, InvalidRequest
from greencql.testing.cluster import SimCluster
from greencql.testing.engine import Engine, NodeInfo, Rows, SchemaChange

NOW = 1_700_000_000.0
UTC = datetime.timezone.utc


@pytest.fixture
def e() -> Engine:
    eng = Engine([NodeInfo("127.0.0.1", uuid.UUID(int=1), (0,))])
    eng.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                "'replication_factor': 1}", now=NOW)
    return eng


def run(e: Engine, q: str, *values):
    return e.execute(q, keyspace="ks", values=list(values) if values else None, now=NOW)


def rows(e: Engine, q: str, *values):
    r = run(e, q, *values)
    assert isinstance(r, Rows)
    return r.rows


def names(e: Engine, q: str) -> list[str]:
    return run(e, q).column_names


def test_udt_with_non_frozen_collection_fields_and_alter_type(e: Engine) -> None:
    run(e, "CREATE TYPE addr (street text, nums list<int>)")
    run(e, "CREATE TYPE small (x int, y text)")
    run(e, "CREATE TABLE u (k int PRIMARY KEY, a frozen<addr>, s small)")
    run(e, "INSERT INTO u (k, a, s) VALUES (1, {street: 'main', nums: [1, 2]}, {x: 1, y: 'y'})")
    assert run(e, "ALTER TYPE small ADD z int") == SchemaChange("UPDATED", "TYPE", "ks", "small")
    run(e, "ALTER TYPE addr RENAME street TO road AND nums TO ns")
    (_k, a, s), = rows(e, "SELECT * FROM u")
    assert (a.road, a.ns) == ("main", [1, 2])
    assert (s.x, s.y, s.z) == (1, "y", None)
    assert rows(e, "SELECT field_names FROM system_schema.types WHERE keyspace_name = 'ks' "
                   "AND type_name = 'small'") == [(["x", "y", "z"],)]
    # field access and field deletion
    assert names(e, "SELECT s.y, a.road FROM u") == ["s.y", "a.road"]
    assert rows(e, "SELECT s.y, a.road FROM u") == [("y", "main")]
    run(e, "DELETE s.y FROM u WHERE k = 1")
    assert rows(e, "SELECT s.x, s.y FROM u") == [(1, None)]


def test_collection_element_and_slice_selection(e: Engine) -> None:
    run(e, "CREATE TABLE c (k int PRIMARY KEY, m map<text, int>, s set<text>, "
           "fm frozen<map<int, text>>, l list<int>)")
    run(e, "INSERT INTO c (k, m, s, fm, l) VALUES (1, {'a': 1, 'y': 25, 'z': 26}, {'b', 'd'}, "
           "{1: 'one'}, [1])")
    r = run(e, "SELECT m['y'], s['d'], s['x'], fm[1], m['a'..'y'] FROM c")
    assert r.column_names == ["m['y']", "s['d']", "s['x']", "fm[1]", "m['a'..'y']"]
    assert r.rows == [(25, "d", None, "one", {"a": 1, "y": 25})]
    with pytest.raises(InvalidRequest, match="Element selection is only allowed on sets and "
                                             "maps, but l is a list"):
        run(e, "SELECT l[0] FROM c")
    run(e, "ALTER TABLE c ADD fl frozen<list<int>>")
    run(e, "UPDATE c SET fl = [7, 8] WHERE k = 1")
    assert rows(e, "SELECT fl[1] FROM c") == [(8,)]
    run(e, "DELETE s['b'] FROM c WHERE k = 1")
    assert rows(e, "SELECT s FROM c") == [({"d"},)]
    run(e, "CREATE INDEX ON c (ENTRIES(m))")
    assert rows(e, "SELECT k FROM c WHERE m['y'] = 25") == [(1,)]
    assert rows(e, "SELECT k FROM c WHERE m['y'] = 24") == []


def test_multi_column_relations(e: Engine) -> None:
    run(e, "CREATE TABLE mc (k int, ts int, seq int, PRIMARY KEY (k, ts, seq))")
    for ts in (1, 2, 3):
        for seq in (0, 1, 2):
            run(e, f"INSERT INTO mc (k, ts, seq) VALUES (1, {ts}, {seq})")
    assert rows(e, "SELECT ts, seq FROM mc WHERE k = 1 AND (ts, seq) > (2, 1)") == [
        (2, 2), (3, 0), (3, 1), (3, 2)]
    assert rows(e, "SELECT ts, seq FROM mc WHERE k = 1 AND (ts, seq) IN ((1, 2), (3, 0))") == [
        (1, 2), (3, 0)]
    assert rows(e, "SELECT ts, seq FROM mc WHERE k = 1 AND (ts, seq) = (2, 2)") == [(2, 2)]
    assert rows(e, "SELECT ts, seq FROM mc WHERE k = 1 AND (ts, seq) >= (3, 0) AND "
                   "(ts, seq) < (3, 1)") == [(3, 0)]
    with pytest.raises(InvalidRequest, match="Mixing single column relations and multi column"):
        run(e, "SELECT * FROM mc WHERE k = 1 AND ts = 1 AND (ts, seq) > (1, 1)")


def test_aggregates_and_group_by(e: Engine) -> None:
    run(e, "CREATE TABLE ag (k int, c int, v int, d double, t text, PRIMARY KEY (k, c))")
    for k, c, v in ((1, 1, 10), (1, 2, 20), (2, 1, 7)):
        run(e, f"INSERT INTO ag (k, c, v, d, t) VALUES ({k}, {c}, {v}, {v / 4}, 't{v}')")
    r = run(e, "SELECT min(v), max(v), sum(v), avg(v), avg(d), count(v), min(t), max(t) "
               "FROM ag")
    assert r.column_names == ["system.min(v)", "system.max(v)", "system.sum(v)",
                              "system.avg(v)", "system.avg(d)", "system.count(v)",
                              "system.min(t)", "system.max(t)"]
    assert r.rows == [(7, 20, 37, 12, pytest.approx(37 / 12), 3, "t10", "t7")]
    assert rows(e, "SELECT k, count(*), sum(v) FROM ag GROUP BY k") == [(1, 2, 30), (2, 1, 7)]
    assert rows(e, "SELECT k, c, max(v) FROM ag WHERE k = 1 GROUP BY k, c") == [
        (1, 1, 10), (1, 2, 20)]
    assert rows(e, "SELECT sum(v), avg(v), max(v) FROM ag WHERE k = 9") == [(0, 0, None)]
    with pytest.raises(InvalidRequest, match="Group by currently only support groups of "
                                             "columns following their declared order"):
        run(e, "SELECT count(*) FROM ag GROUP BY c")


def test_cast_arithmetic_and_functions(e: Engine) -> None:
    run(e, "CREATE TABLE f (k int PRIMARY KEY, c_int int, d double, ts timestamp, dt date, "
           "u timeuuid, b blob)")
    run(e, "INSERT INTO f (k, c_int, d, ts, dt, b) VALUES (1, 7, 1.5, '2020-01-31 10:00:00', "
           "'2020-03-01', textAsBlob('hi'))")
    r = run(e, "SELECT CAST(c_int AS text), CAST(c_int AS double), c_int + 1, c_int - 1, "
               "c_int * 2, c_int / 2, c_int % 4, -c_int, d * 2, (bigint)3 FROM f")
    assert r.column_names == ["cast(c_int as text)", "cast(c_int as double)", "c_int + 1",
                              "c_int - 1", "c_int * 2", "c_int / 2", "c_int % 4", "-c_int",
                              "d * 2", "(bigint)3"]
    assert r.rows == [("7", 7.0, 8, 6, 14, 3, 3, -7, 3.0, 3)]
    with pytest.raises(FunctionFailure) as info:
        run(e, "SELECT c_int / 0 FROM f")
    assert info.value.error_code == 0x1400
    assert info.value.message == "the operation 'int / int' failed: / by zero"
    assert math.isinf(rows(e, "SELECT d / 0 FROM f")[0][0])
    (prev, nxt, day), = rows(e, "SELECT ts - 1d, ts + 1mo, dt - 1d FROM f")
    assert prev == datetime.datetime(2020, 1, 30, 10, tzinfo=UTC)
    assert nxt == datetime.datetime(2020, 2, 29, 10, tzinfo=UTC)
    assert day == datetime.date(2020, 2, 29)
    r = run(e, "SELECT toDate(ts), toUnixTimestamp(ts), blobAsText(b), textAsBlob('x'), "
               "intAsBlob(c_int), token(k), toJson(ts) FROM f")
    assert r.column_names == ["system.todate(ts)", "system.tounixtimestamp(ts)",
                              "system.blobastext(b)", "system.textasblob('x')",
                              "system.intasblob(c_int)", "system.token(k)", "system.tojson(ts)"]
    (d, unix, text, blob, iblob, _tok, tj), = r.rows
    assert (d, unix, text, blob, iblob) == (datetime.date(2020, 1, 31), 1580464800000, "hi",
                                            b"x", b"\x00\x00\x00\x07")
    assert tj == '"2020-01-31 10:00:00.000Z"'
    run(e, "UPDATE f SET u = now() WHERE k = 1")
    (_u, when, ms), = rows(e, "SELECT u, dateOf(u), unixTimestampOf(u) FROM f")
    assert ms == int(NOW * 1000) and when == datetime.datetime.fromtimestamp(NOW, UTC)
    lo, hi = rows(e, "SELECT minTimeuuid(ts), maxTimeuuid(ts) FROM f")[0]
    # Cassandra's max timeuuid has clock and node bytes 0x7f (not an RFC 4122 variant)
    assert lo.version == 1 and lo.time < hi.time and hi.bytes[8:] == b"\x7f" * 8


def test_token_on_both_sides_and_literals(e: Engine) -> None:
    run(e, "CREATE TABLE tk (k int PRIMARY KEY, d double)")
    for k in range(6):
        run(e, f"INSERT INTO tk (k, d) VALUES ({k}, -Infinity)")
    after = rows(e, "SELECT k FROM tk WHERE token(k) > token(2)")
    (t2,), = rows(e, "SELECT token(k) FROM tk WHERE k = 2")
    assert after == rows(e, f"SELECT k FROM tk WHERE token(k) > {t2}")
    assert rows(e, "SELECT d FROM tk WHERE k = 0") == [(-math.inf,)]
    assert isinstance(run(e, "SELECT * FROM tk WHERE k = 1;;;"), Rows)


def test_json(e: Engine) -> None:
    run(e, "CREATE TABLE j (k int PRIMARY KEY, v text, m map<text, int>, \"Cap\" int)")
    doc = json.dumps({"k": 1, "v": "a", "m": {"x": 1}, '"Cap"': 5})
    run(e, f"INSERT INTO j JSON '{doc}'")
    r = run(e, "SELECT JSON * FROM j")
    assert r.column_names == ["[json]"]
    assert json.loads(r.rows[0][0]) == {"k": 1, "\"Cap\"": 5, "m": {"x": 1}, "v": "a"}
    run(e, "INSERT INTO j JSON '{\"k\": 1}' DEFAULT UNSET")
    assert rows(e, "SELECT v FROM j WHERE k = 1") == [("a",)]
    run(e, "INSERT INTO j JSON '{\"k\": 1}' DEFAULT NULL")
    assert rows(e, "SELECT v, m FROM j WHERE k = 1") == [(None, None)]
    run(e, "INSERT INTO j (k, m) VALUES (2, fromJson('{\"q\": 9}'))")
    assert rows(e, "SELECT toJson(m) FROM j WHERE k = 2") == [('{"q": 9}',)]
    assert [json.loads(x) for (x,) in rows(e, "SELECT JSON DISTINCT k FROM j")] == [
        {"k": 1}, {"k": 2}]
    with pytest.raises(InvalidRequest, match="JSON values map contains unrecognized column"):
        run(e, "INSERT INTO j JSON '{\"k\": 3, \"nope\": 1}'")


def test_index_on_partition_key_component(e: Engine) -> None:
    run(e, "CREATE TABLE pk (bucket int, id int, v int, PRIMARY KEY ((bucket, id)))")
    run(e, "CREATE INDEX ON pk (bucket)")
    run(e, "INSERT INTO pk (bucket, id, v) VALUES (2, 1, 1)")
    run(e, "INSERT INTO pk (bucket, id, v) VALUES (3, 1, 1)")
    assert rows(e, "SELECT bucket, id FROM pk WHERE bucket = 2") == [(2, 1)]


def test_features_over_the_wire(hub) -> None:
    with SimCluster(1, port=0, hub=hub) as sim:
        c = Cluster(sim.contact_points[:1], port=sim.port, hub=sim.hub)
        try:
            s = c.connect()
            s.execute("CREATE KEYSPACE f WITH replication = {'class': 'SimpleStrategy', "
                      "'replication_factor': 1};;")
            s.set_keyspace("f")
            s.execute("CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c))")
            for i in range(4):
                s.execute("INSERT INTO t (k, c, v) VALUES (1, %s, %s)", (i, i * 10))
            rs = s.execute("SELECT k, max(v), avg(v) FROM t WHERE k = 1 GROUP BY k")
            assert list(rs.column_names) == ["k", "system.max(v)", "system.avg(v)"]
            assert [tuple(r) for r in rs] == [(1, 30, 15)]
            rs = s.execute("SELECT JSON c, v FROM t WHERE k = 1 AND (c) >= (2)")
            assert [json.loads(r[0]) for r in rs] == [{"c": 2, "v": 20}, {"c": 3, "v": 30}]
            with pytest.raises(FunctionFailure):
                s.execute("SELECT v / 0 FROM t WHERE k = 1")
        finally:
            c.shutdown()


def test_server_side_describe(e: Engine) -> None:
    run(e, "CREATE TYPE addr (city text, zip int)")
    run(e, "CREATE TABLE t (k int, c int, v int, PRIMARY KEY (k, c)) WITH CLUSTERING ORDER BY "
           "(c DESC)")
    run(e, "CREATE INDEX vi ON t (v)")
    r = run(e, "DESCRIBE KEYSPACES")
    assert r.column_names == ["keyspace_name", "type", "name"]
    assert ("ks", "keyspace", "ks") in r.rows
    assert rows(e, "DESCRIBE TABLES") == [("ks", "table", "t")]
    r = run(e, "DESCRIBE TABLE t")
    assert r.column_names == ["keyspace_name", "type", "name", "create_statement"]
    (ks, kind, name, cql), (_, ikind, iname, icql) = r.rows
    assert (ks, kind, name, ikind, iname) == ("ks", "table", "t", "index", "vi")
    assert cql.startswith("CREATE TABLE ks.t (\n    k int,\n    c int,\n    v int,\n"
                          "    PRIMARY KEY (k, c)\n) WITH CLUSTERING ORDER BY (c DESC)\n")
    assert icql == "CREATE INDEX vi ON ks.t (v);"
    kinds = [row[1] for row in rows(e, "DESCRIBE KEYSPACE ks")]
    assert kinds == ["keyspace", "type", "table", "index"]
    assert rows(e, "DESC ks.t") == r.rows
    with pytest.raises(InvalidRequest):
        run(e, "DESCRIBE TABLE nosuch")


def test_system_views_and_size_estimates(hub) -> None:
    with SimCluster(1, port=0, hub=hub) as sim:
        c = Cluster(sim.contact_points[:1], port=sim.port, hub=sim.hub)
        try:
            s = c.connect()
            rs = s.execute("SELECT * FROM system_views.clients")
            assert list(rs.column_names)[:3] == ["address", "port", "connection_stage"]
            clients = list(rs)
            assert clients and all(r[2] == "ready" for r in clients)
            rs = s.execute("SELECT value FROM system_views.settings WHERE name = "
                           "'enable_user_defined_functions'")
            assert [tuple(r) for r in rs] == [("false",)]
            assert list(s.execute("SELECT * FROM system.size_estimates")) == []
        finally:
            c.shutdown()


def test_index_on_a_clustering_column_needs_no_filtering(e: Engine) -> None:
    run(e, "CREATE TABLE ci (k int, c int, v int, PRIMARY KEY (k, c))")
    run(e, "CREATE INDEX ON ci (c)")
    run(e, "INSERT INTO ci (k, c, v) VALUES (1, 2, 3)")
    run(e, "INSERT INTO ci (k, c, v) VALUES (2, 5, 3)")
    assert rows(e, "SELECT k FROM ci WHERE c = 2") == [(1,)]
    with pytest.raises(InvalidRequest, match="Cannot use selection function writeTime on "
                                             "PRIMARY KEY part k"):
        run(e, "SELECT writetime(k) FROM ci")


def test_describe_cluster(e: Engine) -> None:
    r = run(e, "DESCRIBE CLUSTER")
    assert r.column_names == ["cluster", "partitioner", "snitch"]
    assert r.rows[0][1] == "org.apache.cassandra.dht.Murmur3Partitioner"


def test_timeuuid_bounds_in_where(e: Engine) -> None:
    run(e, "CREATE TABLE ev (k int, t timeuuid, PRIMARY KEY (k, t))")
    run(e, "INSERT INTO ev (k, t) VALUES (1, now())")
    assert len(rows(e, "SELECT t FROM ev WHERE k = 1 AND t > maxTimeuuid('2013-01-01 00:05+0000') "
                       "AND t < minTimeuuid('2099-02-02 10:00+0000')")) == 1
    assert rows(e, "SELECT t FROM ev WHERE k = 1 AND t < minTimeuuid('2013-01-01')") == []
    assert len(rows(e, "SELECT t FROM ev WHERE k = 1 AND t < maxTimeuuid('2099-01-01')")) == 1
    assert len(rows(e, "SELECT t FROM ev WHERE k = 1 AND t >= minTimeuuid('2013-01-01') AND "
                       "t <= maxTimeuuid('2099-01-01')")) == 1
