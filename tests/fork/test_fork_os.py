"""``os.fork()`` after ``connect()``, on this process's hub (gevent, eventlet or threads).

The simulator runs in its own process (``SimCluster.spawn_process``), so parent and child are
two clients of one server, as in production. The child's first request rebuilds the Cluster's
process-bound parts (hub, control connection, pools) and succeeds within its request timeout;
the parent keeps its connections and its in-flight requests, which are answered in the parent
only. Forks happen from the main greenlet/thread and from a spawned task while requests are in
flight.
"""

from __future__ import annotations

import os

import pytest
from conftest import TEST_HUB, run_forked

from greencql import Cluster, SimpleStatement
from greencql.errors import ConnectionShutdown
from greencql.testing import SimCluster

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")

LOCAL = "SELECT release_version FROM system.local"
TIMEOUT = 5.0  # every request of these tests, parent and child
IN_FLIGHT = 50


@pytest.fixture(scope="module")
def sim():
    with SimCluster.spawn_process(3) as process:
        yield process


@pytest.fixture
def cluster(sim, hub):
    c = Cluster(sim.contact_points, port=sim.port, default_timeout=TIMEOUT, hub=TEST_HUB)
    yield c
    c.shutdown()


def _connections(session):
    return [c for pool in session._pools.values() for c in pool._pool.connections]


def _child_checks(cluster, session, prepared, parent_conns, futures) -> int:
    """What a forked child verifies; 0 when all is well, else the number of the check."""
    # the parent's requests still in flight at the fork: nothing has run in this process
    # since (no inherited thread exists, and no greenlet has been switched to yet)
    pending = [f for f in futures if not f.done()]
    if cluster.hub.name != TEST_HUB:
        return 10
    # the first request rebuilds and is answered within the request timeout
    if session.execute(LOCAL, timeout=TIMEOUT).one().release_version != "4.0.13":
        return 11
    # a statement prepared by the parent works over the child's new connections
    if session.execute(prepared, timeout=TIMEOUT).one().release_version != "4.0.13":
        return 12
    mine = _connections(session)
    if not mine or any(c in parent_conns for c in mine):
        return 13
    if any(c.state != "FORKED" for c in parent_conns):
        return 14
    if cluster.control_connection.wait_connected(TIMEOUT) is not True:
        return 15
    if "system" not in cluster.metadata.keyspaces:
        return 16
    # nothing the parent had in flight is answered here: its futures fail (their connection
    # is the parent's) or never complete
    for future in pending:
        if future.done():
            try:
                future.result(0)
            except ConnectionShutdown:
                continue
            return 17
    cluster.shutdown()  # closes the child's connections only
    return 0


@pytest.mark.parametrize("where", ["main", "task"])
def test_child_queries_parent_keeps_working(cluster, hub, where):
    session = cluster.connect()
    prepared = session.prepare(LOCAL)
    assert session.execute(LOCAL).one().release_version == "4.0.13"
    parent_conns = _connections(session)
    control = cluster.control_connection.connection
    stmt = SimpleStatement(LOCAL, is_idempotent=True)  # would be retried elsewhere: never here
    box: list = []

    def fork_with_requests_in_flight() -> None:
        futures = [session.execute_async(stmt) for _ in range(IN_FLIGHT)]
        box.append(futures)
        box.append(run_forked(
            lambda: _child_checks(cluster, session, prepared, parent_conns, futures),
            timeout=30,
        ))

    if where == "main":
        fork_with_requests_in_flight()
    else:  # from a greenlet (a thread on the thread hub) while the main one waits
        task = hub.spawn(fork_with_requests_in_flight)
        assert task.join(60)
        assert task.exception is None, task.exception
    futures, code = box
    assert code == 0
    # the parent's requests were answered, here, over its untouched connections
    assert all(f.result().one().release_version == "4.0.13" for f in futures)
    assert session.execute(prepared).one().release_version == "4.0.13"
    assert all(c.is_open for c in parent_conns)
    assert set(_connections(session)) >= set(parent_conns)
    assert cluster.control_connection.connection is control and control.is_open


def test_shutdown_in_the_child_leaves_the_parent_alone(cluster):
    session = cluster.connect()
    parent_conns = _connections(session)

    def child() -> int:
        cluster.shutdown()  # connects nothing, closes nothing of the parent's
        return 0 if not _connections(session) and session.is_shutdown else 1

    assert run_forked(child, timeout=30) == 0
    assert all(c.is_open for c in parent_conns)
    assert session.execute(LOCAL).one().release_version == "4.0.13"


def test_a_grandchild_rebuilds_again(cluster):
    session = cluster.connect()

    def grandchild() -> int:
        return 0 if session.execute(LOCAL).one().release_version == "4.0.13" else 1

    def child() -> int:
        if session.execute(LOCAL).one().release_version != "4.0.13":
            return 2
        mine = _connections(session)
        code = run_forked(grandchild, timeout=20)
        # the grandchild left the child's connections alone too
        if code != 0 or not all(c.is_open for c in mine):
            return 3 if code == 0 else code
        return 0 if session.execute(LOCAL).one().release_version == "4.0.13" else 4

    assert run_forked(child, timeout=40) == 0
    assert session.execute(LOCAL).one().release_version == "4.0.13"


def test_a_cluster_made_but_not_connected_before_the_fork(sim):
    cluster = Cluster(sim.contact_points, port=sim.port, default_timeout=TIMEOUT)

    def child() -> int:
        with cluster:
            session = cluster.connect()
            ok = session.execute(LOCAL).one().release_version == "4.0.13"
            return 0 if ok and cluster.hub.name == TEST_HUB else 1

    assert run_forked(child, timeout=30) == 0
    assert cluster.hub is None  # the parent never connected


def test_inherited_timers_are_dropped_in_the_child(hub):
    fired: list = []
    timer = hub.call_later(60.0, fired.append, "parent's")

    def child() -> int:
        # the parent's timer is gone from the child's wheel; new timers still work
        if timer.pending or len(hub.timer_wheel()) != 0:
            return 2
        done = hub.event()
        hub.call_later(0.01, done.set)
        return 0 if done.wait(5.0) and not fired else 3

    try:
        assert run_forked(child, timeout=30) == 0
        assert timer.pending  # the parent's is untouched
    finally:
        timer.cancel()
