"""Requests and pools that are still connecting: a request waits for the first connection
(bounded by its timeout) instead of failing with NoHostAvailable, which is kept for hosts that
are down. Against an in-process SimCluster, over real sockets, on every hub."""

from __future__ import annotations

import pytest

from greencql import Cluster, NoHostAvailable, OperationTimedOut, SimpleStatement
from greencql.testing.cluster import SimCluster

LOCAL = "SELECT release_version FROM system.local"
# Each answer of a slow node comes this late. The simulator answers the handshake at once but
# delays the USE that a session with a keyspace sends on every new connection, so the pools to
# slow nodes are still connecting long after connect() has opened one to a fast node.
SLOW = 0.25
KEYSPACE = "system"


@pytest.fixture
def sim(hub):
    with SimCluster(3, port=0, hub=hub) as s:
        yield s


def _cluster(sim, **options):
    options.setdefault("connect_timeout", 5.0)
    return Cluster(sim.contact_points[:1], port=sim.port, hub=sim.hub, **options)


def _host(cluster, node):
    return next(h for h in cluster.metadata.all_hosts() if h.address == node.address)


def test_request_to_a_connecting_host_waits_for_its_first_connection(sim):
    slow = sim.node(3)
    slow.latency = SLOW
    with _cluster(sim, default_timeout=10.0) as cluster:
        session = cluster.connect(KEYSPACE)  # back once one pool is up; node 3 still connects
        host = _host(cluster, slow)
        assert session._is_connecting(host)
        rows = session.execute(LOCAL, host=host).all()
        assert rows and rows[0].release_version
        assert session._pools[host].has_connections
        queried = {r.node for r in sim.records(kind="QUERY") if r.query == LOCAL}
        assert slow.name in queried


def test_waiting_is_bounded_by_the_request_timeout(sim):
    slow = sim.node(3)
    slow.latency = 1.0  # far past the request timeout below
    with _cluster(sim, connect_timeout=8.0) as cluster:
        session = cluster.connect(KEYSPACE)
        host = _host(cluster, slow)
        with pytest.raises(OperationTimedOut, match="still connecting"):
            session.execute(LOCAL, host=host, timeout=0.2)
        slow.latency = 0.0


def test_a_down_host_still_fails_with_no_host_available(sim):
    sim.node(3).stop()
    with _cluster(sim, default_timeout=10.0) as cluster:
        session = cluster.connect(wait_for_all_pools=False)
        host = _host(cluster, sim.node(3))
        # refused at once: whether the pool is still settling or already down, the request
        # ends in NoHostAvailable (not a timeout) naming the host
        with pytest.raises(NoHostAvailable) as info:
            session.execute(LOCAL, host=host)
        assert host in info.value.errors


def test_every_host_connecting_right_after_connect_does_not_fail(sim):
    # node 1 (the control host) answers at once; every other node is slow. A statement
    # routed anywhere must get an answer, whichever pools are still connecting.
    for i in (2, 3):
        sim.node(i).latency = SLOW
    with _cluster(sim, default_timeout=10.0) as cluster:
        session = cluster.connect(KEYSPACE)
        assert any(session._is_connecting(h) for h in cluster.metadata.all_hosts())
        stmt = SimpleStatement(LOCAL, is_idempotent=True)
        futures = [session.execute_async(stmt) for _ in range(30)]
        assert all(f.result().one().release_version for f in futures)
