"""Client warnings as a real Cassandra 4.0.13 sends them (reference section 5): the batch
size arithmetic, the IN-aggregation warning, a replication factor above the node count, and
a read past tombstone_warn_threshold. Engine level, plus one greencql round trip (protocol v4+
carries warnings)."""

from __future__ import annotations

import uuid

import pytest

from greencql import BatchStatement, BatchType, Cluster, SimpleStatement
from greencql.testing.cluster import SimCluster
from greencql.testing.engine import Engine, NodeInfo, Void

NOW = 1_700_000_000.0


@pytest.fixture
def e() -> Engine:
    eng = Engine([NodeInfo("127.0.0.1", uuid.UUID(int=1), (0,))])
    eng.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                "'replication_factor': 1}", now=NOW)
    eng.execute("CREATE TABLE ks.t (k int, c int, v text, PRIMARY KEY (k, c))", now=NOW)
    return eng


def test_batch_size_is_the_mutations_data_size(e: Engine) -> None:
    text = "x" * 200
    stmts = " ".join(f"INSERT INTO t (k, c, v) VALUES ({i}, {i}, '{text}');" for i in range(60))
    r = e.execute(f"BEGIN UNLOGGED BATCH {stmts} APPLY BATCH", keyspace="ks", now=NOW)
    assert isinstance(r, Void)
    assert r.warnings[0] == ("Batch for [ks.t] is of size 13200, exceeding specified threshold "
                             "of 5120 by 8080.")
    # the same size in one partition: no warning
    one = " ".join(f"INSERT INTO t (k, c, v) VALUES (1, {i}, '{text}');" for i in range(60))
    r = e.execute(f"BEGIN BATCH {one} APPLY BATCH", keyspace="ks", now=NOW)
    assert r.warnings == ()


def test_aggregation_on_multiple_partition_keys(e: Engine) -> None:
    r = e.execute("SELECT count(*) FROM t WHERE k IN (1, 2)", keyspace="ks", now=NOW,
                  page_size=100)
    assert r.warnings == ("Aggregation query used on multiple partition keys (IN restriction)",)
    r = e.execute("SELECT count(*) FROM t WHERE k = 1", keyspace="ks", now=NOW, page_size=100)
    assert r.warnings == ()


def test_replication_factor_above_node_count(e: Engine) -> None:
    r = e.execute("CREATE KEYSPACE big WITH replication = {'class': 'SimpleStrategy', "
                  "'replication_factor': 3}", now=NOW)
    assert r.warnings == ("Your replication factor 3 for keyspace big is higher than the "
                          "number of nodes 1",)
    r = e.execute("CREATE KEYSPACE nts WITH replication = {'class': "
                  "'NetworkTopologyStrategy', 'datacenter1': 2}", now=NOW)
    assert r.warnings == ("Your replication factor 2 for keyspace nts is higher than the "
                          "number of nodes 1 for datacenter datacenter1",)
    r = e.execute("CREATE KEYSPACE fits WITH replication = {'class': 'SimpleStrategy', "
                  "'replication_factor': 1}", now=NOW)
    assert r.warnings == ()


def test_reading_past_the_tombstone_threshold(e: Engine) -> None:
    for c in range(1001):
        e.execute(f"INSERT INTO ks.t (k, c, v) VALUES (1, {c}, 'a')", now=NOW)
        e.execute(f"DELETE FROM ks.t WHERE k = 1 AND c = {c}", now=NOW)
    e.execute("INSERT INTO ks.t (k, c, v) VALUES (1, 5000, 'live')", now=NOW)
    r = e.execute("SELECT * FROM ks.t WHERE k = 1", now=NOW)
    assert r.rows == [(1, 5000, "live")]
    (w,) = r.warnings
    assert w.startswith("Read 1 live rows and 1001 tombstone cells for query SELECT * FROM ks.t")
    assert w.endswith("(see tombstone_warn_threshold)")
    r = e.execute("SELECT * FROM ks.t WHERE k = 2", now=NOW)
    assert r.warnings == ()


def test_warnings_reach_the_client(hub) -> None:
    with SimCluster(1, port=0, hub=hub) as sim:
        c = Cluster(sim.contact_points[:1], port=sim.port, hub=sim.hub)
        try:
            s = c.connect()
            rs = s.execute("CREATE KEYSPACE w WITH replication = {'class': 'SimpleStrategy', "
                           "'replication_factor': 2}")
            assert list(rs.warnings) == ["Your replication factor 2 for keyspace w is higher "
                                         "than the number of nodes 1"]
            s.execute("CREATE TABLE w.t (k int, c int, v text, PRIMARY KEY (k, c))")
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for i in range(60):
                batch.add(SimpleStatement(f"INSERT INTO w.t (k, c, v) VALUES ({i}, {i}, "
                                          f"'{'x' * 200}')"))
            rs = s.execute(batch)
            assert rs.warnings[0].startswith("Batch for [w.t] is of size 13200")
        finally:
            c.shutdown()


def test_increasing_replication_factor_warns(e: Engine) -> None:
    r = e.execute("ALTER KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                  "'replication_factor': 1}", now=NOW)
    assert r.warnings == ()
    e.set_nodes([NodeInfo(f"127.0.0.{i}", uuid.UUID(int=i), (i,)) for i in (1, 2)])
    r = e.execute("ALTER KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                  "'replication_factor': 2}", now=NOW)
    assert r.warnings == ("When increasing replication factor you need to run a full (-full) "
                          "repair to distribute the data.",)
