"""Keyspace and table names in the CQL the driver builds itself (USE on every connection,
schema queries, metadata refreshes) are quoted: a mixed-case keyspace works everywhere, and
a name made to break out of its identifier stays one identifier on every connection."""

from __future__ import annotations

import pytest

from greencql import Cluster
from greencql.errors import DriverException
from greencql.testing import SimCluster

RF1 = "{'class': 'SimpleStrategy', 'replication_factor': 1}"


@pytest.fixture
def sim(hub):
    with SimCluster(2, port=0, hub=hub) as s:
        yield s


def _connections(session):
    return [c for pool in session._pools.values() for c in pool._pool.connections]


def test_mixed_case_keyspace_on_every_connection(hub, sim):
    cluster = Cluster(sim.contact_points, port=sim.port, hub=hub, core_connections=2,
                      max_connections=2)
    try:
        setup = cluster.connect()
        setup.execute(f'CREATE KEYSPACE "MixedKs" WITH replication = {RF1}')
        setup.execute('CREATE TABLE "MixedKs"."Tbl" (k int PRIMARY KEY, "Val" text)')
        setup.execute('CREATE KEYSPACE mixedks WITH replication = ' + RF1)
        setup.execute('CREATE TABLE mixedks."Tbl" (k int PRIMARY KEY, "Val" text)')
        setup.execute('INSERT INTO "MixedKs"."Tbl" (k, "Val") VALUES (1, \'upper\')')
        setup.execute('INSERT INTO mixedks."Tbl" (k, "Val") VALUES (1, \'lower\')')
        # connect(keyspace) and set_keyspace both mean the case-sensitive name
        s = cluster.connect("MixedKs")
        for _ in range(20):  # every connection, not just the first
            assert s.execute('SELECT "Val" FROM "Tbl" WHERE k = 1').one()[0] == "upper"
        assert {c.keyspace for c in _connections(s)} == {"MixedKs"}
        s.set_keyspace("mixedks")
        for _ in range(20):
            assert s.execute('SELECT "Val" FROM "Tbl" WHERE k = 1').one()[0] == "lower"
        s.set_keyspace("MixedKs")
        for _ in range(20):
            assert s.execute('SELECT "Val" FROM "Tbl" WHERE k = 1').one()[0] == "upper"
        assert {c.keyspace for c in _connections(s)} == {"MixedKs"}
        # the schema queries quote it too
        cluster.refresh_schema_metadata()
        ks = cluster.metadata.keyspaces["MixedKs"]
        assert "Tbl" in ks.tables and "Val" in ks.tables["Tbl"].columns
    finally:
        cluster.shutdown()


@pytest.mark.parametrize("name", [
    '"victim"; DROP KEYSPACE victim; "x"',
    '"victim"',
    "victim; DROP KEYSPACE victim",
    "x' OR '1'='1",
])
def test_a_keyspace_name_cannot_inject(hub, sim, name):
    setup = Cluster(sim.contact_points, port=sim.port, hub=hub)
    try:
        s = setup.connect()
        s.execute(f"CREATE KEYSPACE victim WITH replication = {RF1}")
        s.execute("CREATE TABLE victim.t (k int PRIMARY KEY)")
    finally:
        setup.shutdown()
    sim.clear_logs()
    # each attempt on its own Cluster: a connect(keyspace) that fails marks the hosts down
    # for the whole Cluster (reported in issue 13's closing note, not this test's subject)
    for attempt in (lambda c: c.connect(name), lambda c: c.connect().set_keyspace(name)):
        cluster = Cluster(sim.contact_points, port=sim.port, hub=hub)
        try:
            with pytest.raises(DriverException):  # no such keyspace: a typed error
                attempt(cluster)
        finally:
            cluster.shutdown()
    # every USE sent carried the whole name as one quoted identifier
    uses = [r.query for r in sim.records(kind="QUERY") if (r.query or "").startswith("USE")]
    assert uses
    quoted = '"' + name.replace('"', '""') + '"'
    assert all(q == f"USE {quoted}" for q in uses), uses
    check = Cluster(sim.contact_points, port=sim.port, hub=hub)
    try:
        assert check.connect().execute("SELECT k FROM victim.t").all() == []
        assert "victim" in check.metadata.keyspaces
    finally:
        check.shutdown()
