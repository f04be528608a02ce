"""Issue 18, item 2: a connection to a node that reads and never answers.

Under load with a short timeout every stream id of such a connection ends up orphaned (kept
reserved for an answer that never comes). The heartbeat then could not get an id
(ConnectionBusy), was only rescheduled and never sent, and the pool kept lending the
connection because "least busy" counts requests in flight, not orphaned ids: it stayed OPEN
and useless for good. Now the heartbeat has a stream id of its own, and the pool replaces a
connection once 3/4 of its ids are orphaned (cassandra-driver's threshold).

At the issue's scale: the default 32,768 ids (32,767 for requests, one for the heartbeat),
every one orphaned by requests with a 20 ms timeout (sent with ``send_async`` rather than by
600 greenlets: the same ids end the same way), against a simulated node paused with
``pause()``: it reads and logs every request and answers none, not even after ``resume()``.
"""

from __future__ import annotations

from greencql.errors import ConnectionBusy, OperationTimedOut
from greencql.pool import ConnectionOptions, HostPool, PoolOptions
from greencql.pool.connection import Connection
from greencql.protocol.messages import Query, QueryParameters, RowsResult
from greencql.protocol.streams import MAX_STREAM_IDS
from greencql.testing.cluster import SimCluster

STREAMS = MAX_STREAM_IDS - 1  # the request ids of a connection with heartbeats
QUERY = "SELECT release_version FROM system.local"


def q() -> Query:
    return Query(QUERY, QueryParameters(1))


def _orphan(hub, conn, n, timeout=0.02):
    """Send ``n`` requests that time out (the node is paused): their ids are orphaned."""
    done = hub.event()
    outcomes = []

    def callback(response):
        outcomes.append(response)
        if len(outcomes) == n:
            done.set()

    for _ in range(n):
        conn.send_async(q(), callback, timeout=timeout)
    assert done.wait(30)
    assert all(isinstance(r, OperationTimedOut) for r in outcomes)


def _orphan_every_id(hub, conn, timeout=0.02):
    """Send until the connection has no stream id left (ConnectionBusy), let them all time
    out; returns how many were orphaned. (Timeouts fire while sending: on the thread hub in
    another thread, so the total is only known, and checked, once sending is over.)"""
    done = hub.event()
    outcomes = []
    total = []

    def callback(response):
        outcomes.append(response)
        if total and len(outcomes) >= total[0]:
            done.set()

    sent = 0
    while True:
        try:
            conn.send_async(q(), callback, timeout=timeout)
        except ConnectionBusy:
            break
        sent += 1
    total.append(sent)
    if len(outcomes) < sent:
        assert done.wait(30)
    assert len(outcomes) == sent
    assert all(isinstance(r, OperationTimedOut) for r in outcomes)
    return sent


def test_heartbeat_is_sent_when_every_request_id_is_orphaned(hub):
    with SimCluster(1, port=0, hub=hub) as sim:
        node = sim.nodes[0]
        # the heartbeat comes after 8 s of silence: time enough to orphan every id first
        # (about 1.5 s on the thread hub), even on a loaded machine
        options = ConnectionOptions(heartbeat_interval=8.0, heartbeat_timeout=0.5,
                                    request_timeout=None)
        conn = Connection.connect(hub, node.address, node.port, options)
        try:
            node.pause()
            orphaned = _orphan_every_id(hub, conn)
            assert orphaned >= STREAMS  # (the heartbeat's id is not among them)
            assert conn.available_streams == 0 and conn.orphaned == orphaned
            # the heartbeat goes out on its own id, is not answered, and the connection is
            # declared defunct: before, it stayed OPEN with every request failing
            assert conn.wait_closed(15), f"still {conn.state} with every id orphaned"
            assert "heartbeat" in (conn.closed_reason or "")
            assert node.log.records(kind="OPTIONS")
        finally:
            conn.close(grace=0)
            node.resume()


def test_heartbeat_id_is_outside_the_request_ids(hub):
    with SimCluster(1, port=0, hub=hub) as sim:
        node = sim.nodes[0]
        options = ConnectionOptions(max_streams=256, heartbeat_interval=0.05,
                                    heartbeat_timeout=2)
        conn = Connection.connect(hub, node.address, node.port, options)
        try:
            # below 32,768 requests keep every id (the heartbeat's is the next one); answered
            # heartbeats keep it alive
            assert conn.available_streams == 256
            node.log.wait_for(kind="OPTIONS", timeout=5)
            response = conn.send(q(), timeout=5)
            assert isinstance(response, RowsResult)
            assert conn.is_open
        finally:
            conn.close(grace=0)


def test_pool_replaces_a_connection_whose_ids_are_mostly_orphaned(hub):
    with SimCluster(1, port=0, hub=hub) as sim:
        node = sim.nodes[0]
        pool = HostPool(
            hub, node.address, node.port,
            PoolOptions(core_connections=1, max_connections=1),
            ConnectionOptions(heartbeat_interval=None, request_timeout=None),
        )
        try:
            pool.open()
            old = pool.borrow()
            node.pause()
            _orphan(hub, old, MAX_STREAM_IDS * 3 // 4 - 1)  # no heartbeat: 32,768 ids
            assert pool.borrow() is old  # below the threshold: kept
            assert not getattr(old, "orphans_exhausted", False)
            _orphan(hub, old, 1)
            # the node answers new connections again; the old one's ids stay orphaned for good
            node.resume()
            assert pool.borrow() is old  # lent while its replacement connects
            assert old.wait_closed(5), "the exhausted connection was never replaced"
            assert old.orphans_exhausted
            new = pool.borrow()
            assert new is not old and new.is_open
            assert isinstance(new.send(q(), timeout=5), RowsResult)
        finally:
            pool.shutdown(grace=0)
