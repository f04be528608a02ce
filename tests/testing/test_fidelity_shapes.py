"""Result shapes applications depend on, as a real Cassandra 4.0.13 answers them.

Reference section 4: ``SELECT *`` and failed-LWT column order (partition key, clustering,
then the other columns by name), failed conditional BATCH rows, static columns null in an
``IF NOT EXISTS`` answer, ``IN`` on the partition key in key order, ``count(v)`` named
``system.count(v)``.

cassandra-driver is the client (what applications use): it runs only in the thread-hub
process, with its own libev reactor (see test_oracle.py). The same facts are asserted on the
engine too, so every hub process checks them.
"""

from __future__ import annotations

import os
import uuid

import pytest

from greencql.testing import SimCluster
from greencql.testing.engine import Engine, NodeInfo

NOW = 1_700_000_000.0
SCHEMA = (
    "CREATE TABLE wide (k int, c int, zeta text, alpha list<int>, mid map<text, int>, "
    "beta int, s int static, PRIMARY KEY (k, c))",
    "CREATE TABLE kv (k int PRIMARY KEY, v text, n int)",
    "CREATE TABLE tk (k text PRIMARY KEY, v int)",
)
WIDE_ORDER = ["k", "c", "s", "alpha", "beta", "mid", "zeta"]


# -- engine (every hub) --------------------------------------------------------------------


@pytest.fixture
def e() -> Engine:
    eng = Engine([NodeInfo("127.0.0.1", uuid.UUID(int=1), (0,))])
    eng.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                "'replication_factor': 1}", now=NOW)
    for ddl in SCHEMA:
        eng.execute(ddl, keyspace="ks", now=NOW)
    return eng


def run(e: Engine, q: str):
    return e.execute(q, keyspace="ks", now=NOW)


def test_select_star_order_engine(e: Engine) -> None:
    assert run(e, "SELECT * FROM wide").column_names == WIDE_ORDER


def test_failed_lwt_shapes_engine(e: Engine) -> None:
    run(e, "INSERT INTO wide (k, c, zeta, beta, s) VALUES (1, 1, 'z', 2, 9)")
    r = run(e, "INSERT INTO wide (k, c, beta) VALUES (1, 1, 5) IF NOT EXISTS")
    assert r.column_names == ["[applied]", *WIDE_ORDER]
    assert r.rows == [(False, 1, 1, None, None, 2, None, "z")]  # static s is null
    run(e, "INSERT INTO kv (k, v, n) VALUES (1, 'a', 7)")
    r = run(e, "BEGIN BATCH UPDATE kv SET v = 'b' WHERE k = 1 IF v = 'x' AND n = 7; "
               "APPLY BATCH")
    assert r.column_names == ["[applied]", "k", "v", "n"]
    assert r.rows == [(False, 1, "a", 7)]


def test_in_on_partition_key_in_key_order_engine(e: Engine) -> None:
    for k in (8, 7, 100, -3):
        run(e, f"INSERT INTO kv (k, v) VALUES ({k}, 'x')")
    assert [r[0] for r in run(e, "SELECT k FROM kv WHERE k IN (100, 8, 7, -3)").rows] == [
        -3, 7, 8, 100]
    for k in ("y", "x", "ab"):
        run(e, f"INSERT INTO tk (k, v) VALUES ('{k}', 1)")
    assert [r[0] for r in run(e, "SELECT k FROM tk WHERE k IN ('y', 'x', 'ab')").rows] == [
        "ab", "x", "y"]


def test_count_column_names_engine(e: Engine) -> None:
    run(e, "INSERT INTO kv (k, v) VALUES (1, 'a')")
    run(e, "INSERT INTO kv (k, n) VALUES (2, 3)")
    r = run(e, "SELECT count(*), count(1), count(v) FROM kv")
    assert r.column_names == ["count", "count", "system.count(v)"]
    assert r.rows == [(2, 2, 1)]


# -- cassandra-driver against a SimCluster (thread hub only) ---------------------------------

driver_only = pytest.mark.skipif(
    os.environ.get("GREENCQL_TEST_HUB", "gevent") != "thread",
    reason="cassandra-driver runs in the thread-hub process only (see test_oracle.py)",
)


@pytest.fixture(scope="module")
def session():
    from conftest import import_cassandra_cluster

    import_cassandra_cluster()
    import cassandra.cluster

    with SimCluster(1, port=0, hub="thread") as sim:
        cluster = cassandra.cluster.Cluster([sim.nodes[0].address], port=sim.port,
                                            protocol_version=4, connect_timeout=5,
                                            control_connection_timeout=5)
        s = cluster.connect()
        try:
            s.execute("CREATE KEYSPACE shapes WITH replication = {'class': 'SimpleStrategy', "
                      "'replication_factor': 1}")
            s.set_keyspace("shapes")
            for ddl in SCHEMA:
                s.execute(ddl)
            yield s
        finally:
            cluster.shutdown()


@driver_only
def test_select_star_and_lwt_order_driver(session) -> None:
    rs = session.execute("SELECT * FROM wide")
    assert list(rs.column_names) == WIDE_ORDER
    session.execute("INSERT INTO wide (k, c, zeta, beta, s) VALUES (1, 1, 'z', 2, 9)")
    rs = session.execute("INSERT INTO wide (k, c, beta) VALUES (1, 1, 5) IF NOT EXISTS")
    assert list(rs.column_names) == ["[applied]", *WIDE_ORDER]
    row = rs.one()
    assert tuple(row) == (False, 1, 1, None, None, 2, None, "z")
    assert rs.was_applied is False


@driver_only
def test_failed_conditional_batch_driver(session) -> None:
    session.execute("INSERT INTO kv (k, v, n) VALUES (1, 'a', 7)")
    rs = session.execute("BEGIN BATCH UPDATE kv SET v = 'b' WHERE k = 1 IF v = 'x' AND n = 7; "
                         "APPLY BATCH")
    assert list(rs.column_names) == ["[applied]", "k", "v", "n"]
    assert tuple(rs.one()) == (False, 1, "a", 7)


@driver_only
def test_in_order_and_count_names_driver(session) -> None:
    for k in (8, 7):
        session.execute("INSERT INTO kv (k, v) VALUES (%s, 'x')", (k,))
    rows = list(session.execute("SELECT k FROM kv WHERE k IN (8, 7)"))
    assert [r.k for r in rows] == [7, 8]
    for k in ("y", "x"):
        session.execute("INSERT INTO tk (k, v) VALUES (%s, 1)", (k,))
    assert [r.k for r in session.execute("SELECT k FROM tk WHERE k IN ('y', 'x')")] == [
        "x", "y"]
    rs = session.execute("SELECT count(*), count(v) FROM kv")
    assert list(rs.column_names) == ["count", "system.count(v)"]
