"""HostPool through transient connection faults of a live node (the chaos soak's cut
responses, corrupted segments and server-closed connections), against the simulated cluster
over real sockets: a live node is not reported down for a fault that also hits the
replacement's handshake, and a reconnection schedule starts afresh after a connection that
worked instead of going on with a delay grown while the node was unreachable."""

from __future__ import annotations

import pytest

from greencql.errors import ConnectionException, ConnectionShutdown, ProtocolError
from greencql.pool import ConnectionOptions, HostPool, PoolOptions
from greencql.pool.hostpool import node_answered
from greencql.protocol.messages import Query, QueryParameters

SimCluster = pytest.importorskip("greencql.testing.cluster").SimCluster

#: a bound for waits that a working pool meets in well under a second
WAIT = 10.0


def q(text: str) -> Query:
    return Query(text, QueryParameters(1))


class _Schedule:
    """A reconnection policy whose schedules are given delays; counts the schedules made."""

    def __init__(self, *delays: float) -> None:
        self.delays = delays
        self.made = 0

    def new_schedule(self):
        self.made += 1
        yield from self.delays
        while True:
            yield self.delays[-1]


class _Recorder:
    def __init__(self, hub) -> None:
        self.hub = hub
        self.events: list[str] = []
        self.up = hub.event()
        self.down = hub.event()
        self.connected = hub.event()

    def on_up(self, pool) -> None:
        self.events.append("up")
        self.up.set()

    def on_down(self, pool, error) -> None:
        self.events.append("down")
        self.down.set()

    def on_connected(self, pool) -> None:
        self.events.append("connected")
        self.connected.set()


@pytest.fixture
def sim():
    with SimCluster(1, port=0) as cluster:
        yield cluster


def _pool(hub, sim, rec, policy) -> HostPool:
    host, port = sim.endpoints[0]
    return HostPool(hub, host, port, PoolOptions(reconnection=policy),
                    ConnectionOptions(connect_timeout=3), listener=rec)


def _wait_connected(hub, rec, pool) -> None:
    """Wait (bounded) until the pool has a connection and the node's faults are used up."""
    deadline = hub.monotonic() + WAIT
    while hub.monotonic() < deadline:
        rec.connected.clear()
        rec.up.clear()
        if pool.connections and not pool.connecting:
            return
        rec.connected.wait(0.2)
    raise AssertionError(f"no connection after {WAIT} s: {rec.events}")


def _cut(conn) -> None:
    """A request whose response the node cuts mid-frame: the connection dies with it."""
    with pytest.raises((ConnectionException, ProtocolError)):
        conn.send(q("SELECT release_version FROM system.local"), timeout=5)


def test_cut_responses_that_also_hit_the_replacement_handshakes_keep_the_host_up(hub, sim):
    # one response cut on the connection, then the handshakes of the first replacement and
    # of its quick retry: the node is alive, so the pool reconnects at once and is never
    # reported down (a down report would wait out the 30 s schedule)
    rec = _Recorder(hub)
    policy = _Schedule(30.0)
    pool = _pool(hub, sim, rec, policy)
    try:
        pool.open()
        sim[0].drop_next_responses(3)
        _cut(pool.borrow())
        _wait_connected(hub, rec, pool)
        assert sim[0].faults.drop_mid_response == 0  # every cut was used
        assert "down" not in rec.events
        assert not pool.is_down
        assert policy.made == 0  # no reconnection loop was needed
        conn = pool.borrow()
        assert conn.send(q("SELECT release_version FROM system.local"), timeout=5).rows
    finally:
        pool.shutdown(grace=0)


def test_server_closed_connections_are_replaced_without_a_down_report(hub, sim):
    rec = _Recorder(hub)
    pool = _pool(hub, sim, rec, _Schedule(30.0))
    try:
        pool.open()
        for _ in range(3):
            rec.connected.clear()
            sim[0].close_connections()
            assert rec.connected.wait(WAIT), rec.events
        assert "down" not in rec.events
        assert pool.borrow().send(q("SELECT release_version FROM system.local"), timeout=5)
    finally:
        pool.shutdown(grace=0)


def test_a_node_that_keeps_failing_the_handshake_is_reported_down_after_the_quick_retries(
        hub, sim):
    rec = _Recorder(hub)
    pool = _pool(hub, sim, rec, _Schedule(30.0))
    try:
        pool.open()
        sim[0].drop_next_responses(10)  # more cuts than the quick retries
        _cut(pool.borrow())
        assert rec.down.wait(WAIT), rec.events
        with pytest.raises(ConnectionShutdown):
            pool.borrow()
    finally:
        sim[0].faults.reset()
        pool.shutdown(grace=0)


def test_the_schedule_starts_afresh_after_a_connection_that_worked(hub, sim):
    # down once (node stopped) with a schedule that grows to 30 s; a connection made meanwhile
    # (as on a STATUS UP event) retires that loop: when the node goes away again, the next
    # loop starts with the first short delay and the pool is back well before 30 s
    rec = _Recorder(hub)
    policy = _Schedule(0.05, 30.0)
    pool = _pool(hub, sim, rec, policy)
    try:
        pool.open()
        sim[0].stop()
        assert rec.down.wait(WAIT)
        hub.sleep(0.3)  # the loop's first attempt (after 0.05 s) fails: it now sleeps 30 s
        assert pool.is_down
        sim[0].start()
        rec.up.clear()
        pool.open(wait=False)  # what a STATUS UP event does (reconnect_now)
        assert rec.up.wait(WAIT), rec.events
        made = policy.made
        # the node goes away again and comes back: served again after the short first delay
        rec.up.clear()
        rec.down.clear()
        sim[0].stop()
        assert rec.down.wait(WAIT), rec.events
        assert policy.made == made + 1  # a fresh schedule, not the 30 s loop going on
        sim[0].start()
        assert rec.up.wait(WAIT), rec.events
        assert pool.borrow().send(q("SELECT release_version FROM system.local"), timeout=5)
    finally:
        pool.shutdown(grace=0)


def test_node_answered_tells_a_live_node_from_an_unreachable_one(hub, sim):
    host, port = sim.endpoints[0]
    from greencql.pool import Connection

    sim[0].stop()
    with pytest.raises(ConnectionException) as refused:
        Connection.connect(hub, host, port, ConnectionOptions(connect_timeout=2))
    assert not node_answered(refused.value)
    sim[0].start()
    sim[0].drop_next_responses(1)
    with pytest.raises((ConnectionException, ProtocolError)) as cut:
        Connection.connect(hub, host, port, ConnectionOptions(connect_timeout=2))
    assert node_answered(cut.value)
