"""Availability computed from live replicas and the consistency level (issue 13): RF 3 with
two replicas stopped, QUORUM reads and writes get Unavailable with Cassandra's required /
alive counts, ONE still works, an LWT needs a quorum of live replicas for SERIAL. The store
stays shared between nodes (see docs/simulator.md). Engine level with a stubbed liveness,
and end to end with stopped SimCluster nodes."""

from __future__ import annotations

import uuid

import pytest

from greencql import Cluster, SimpleStatement
from greencql.errors import NoHostAvailable, Unavailable
from greencql.protocol.constants import ConsistencyLevel as CL
from greencql.testing.cluster import SimCluster
from greencql.testing.engine import Engine, NodeInfo

NODES = [NodeInfo(f"127.0.0.{i}", uuid.UUID(int=i), (i * 1000,)) for i in (1, 2, 3)]


@pytest.fixture
def e() -> Engine:
    eng = Engine(NODES)
    eng.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                "'replication_factor': 3}")
    eng.execute("CREATE TABLE ks.t (k int PRIMARY KEY, v int)")
    eng.live_hosts = lambda: {NODES[0].host_id}
    return eng


def test_quorum_unavailable_one_works(e: Engine) -> None:
    with pytest.raises(Unavailable) as info:
        e.execute("INSERT INTO ks.t (k, v) VALUES (1, 1)", consistency=CL.QUORUM)
    err = info.value
    assert err.error_code == 0x1000
    assert (err.consistency, err.required_replicas, err.alive_replicas) == (CL.QUORUM, 2, 1)
    assert err.message == "Cannot achieve consistency level QUORUM"
    with pytest.raises(Unavailable):
        e.execute("SELECT * FROM ks.t WHERE k = 1", consistency=CL.QUORUM)
    with pytest.raises(Unavailable) as info:
        e.execute("SELECT * FROM ks.t", consistency=CL.ALL)
    assert (info.value.required_replicas, info.value.alive_replicas) == (3, 1)
    e.execute("INSERT INTO ks.t (k, v) VALUES (1, 1)", consistency=CL.ONE)
    assert e.execute("SELECT v FROM ks.t WHERE k = 1", consistency=CL.ONE).rows == [(1,)]
    # all up again: QUORUM works
    e.live_hosts = lambda: {n.host_id for n in NODES}
    e.execute("INSERT INTO ks.t (k, v) VALUES (2, 2)", consistency=CL.QUORUM)


def test_lwt_needs_a_serial_quorum(e: Engine) -> None:
    with pytest.raises(Unavailable) as info:
        e.execute("INSERT INTO ks.t (k, v) VALUES (5, 1) IF NOT EXISTS", consistency=CL.ONE)
    assert (info.value.consistency, info.value.required_replicas,
            info.value.alive_replicas) == (CL.SERIAL, 2, 1)
    with pytest.raises(Unavailable):
        e.execute("BEGIN BATCH UPDATE ks.t SET v = 2 WHERE k = 5 IF v = 1; APPLY BATCH",
                  consistency=CL.ONE, serial_consistency=CL.LOCAL_SERIAL)
    # two of three up: a quorum
    e.live_hosts = lambda: {NODES[0].host_id, NODES[1].host_id}
    r = e.execute("INSERT INTO ks.t (k, v) VALUES (5, 1) IF NOT EXISTS", consistency=CL.QUORUM)
    assert r.rows == [(True,)]


def test_stopped_nodes_end_to_end(hub) -> None:
    with SimCluster(3, port=0, hub=hub) as sim:
        c = Cluster(sim.contact_points[:1], port=sim.port, hub=sim.hub)
        try:
            s = c.connect()
            s.execute("CREATE KEYSPACE av WITH replication = {'class': 'SimpleStrategy', "
                      "'replication_factor': 3}")
            s.execute("CREATE TABLE av.t (k int PRIMARY KEY, v int)")
            sim.nodes[1].stop()
            sim.nodes[2].stop()
            # the driver's retry policy tries the next host once, then gives up with the
            # coordinator's Unavailable
            with pytest.raises((Unavailable, NoHostAvailable)) as info:
                s.execute(SimpleStatement("INSERT INTO av.t (k, v) VALUES (1, 1)",
                                          consistency_level=CL.QUORUM))
            err = info.value
            if isinstance(err, NoHostAvailable):  # other hosts may still be connecting
                err = next(x for x in err.errors.values() if isinstance(x, Unavailable))
            assert isinstance(err, Unavailable)
            assert (err.required_replicas, err.alive_replicas) == (2, 1)
            s.execute(SimpleStatement("INSERT INTO av.t (k, v) VALUES (1, 1)",
                                      consistency_level=CL.ONE))
            rs = s.execute(SimpleStatement("SELECT v FROM av.t WHERE k = 1",
                                           consistency_level=CL.ONE))
            assert [tuple(r) for r in rs] == [(1,)]
        finally:
            c.shutdown()
