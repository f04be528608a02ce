"""Connection and HostPool against the simulated cluster (greencql.testing) over real sockets:
the same protocol code on both ends, but the simulator's own server, CQL engine and faults."""

from __future__ import annotations

import os
import re

import pytest
from conftest import TEST_HUB, run_forked

from greencql.errors import (
    AuthenticationFailed,
    ChecksumError,
    ConnectionException,
    ConnectionShutdown,
    OperationTimedOut,
)
from greencql.pool import Connection, ConnectionOptions, HostPool, PoolOptions
from greencql.protocol import types as T
from greencql.protocol.auth import PlainTextAuthProvider
from greencql.protocol.compression import available_compressors
from greencql.protocol.messages import (
    Execute,
    Prepare,
    PreparedResult,
    Query,
    QueryParameters,
    RowsResult,
)

SimCluster = pytest.importorskip("greencql.testing.cluster").SimCluster

GREEN = TEST_HUB in ("gevent", "eventlet")
MANY = 10_000 if GREEN else 200


def q(text: str) -> Query:
    return Query(text, QueryParameters(1))


@pytest.fixture(scope="module")
def sim():
    with SimCluster(1, port=0) as cluster:
        host, port = cluster.endpoints[0]
        conn = Connection.connect(cluster.hub, host, port, ConnectionOptions())
        conn.send(
            q(
                "CREATE KEYSPACE ks WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}"
            )
        )
        conn.send(q("CREATE TABLE ks.t (k int PRIMARY KEY, v text)"))
        conn.close()
        yield cluster


@pytest.fixture
def connect(sim):
    made = []

    def make(cluster=None, **options):
        cluster = cluster or sim
        host, port = cluster.endpoints[0]
        conn = Connection.connect(cluster.hub, host, port, ConnectionOptions(**options))
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close(grace=0)
    sim.reset_faults()


def prepare(conn: Connection, cql: str) -> PreparedResult:
    prepared = conn.send(Prepare(cql))
    assert isinstance(prepared, PreparedResult), prepared
    return prepared


def execute(conn: Connection, prepared: PreparedResult, *values: bytes, **kw):
    params = QueryParameters(1, values=list(values), skip_metadata=True)
    return conn.send(
        Execute(prepared.query_id, params, prepared.result_metadata_id),
        result_metadata=prepared.result_metadata,
        **kw,
    )


def test_many_greenlets_over_one_connection_get_their_own_rows(hub, connect):
    conn = connect()
    insert = prepare(conn, "INSERT INTO ks.t (k, v) VALUES (?, ?)")
    select = prepare(conn, "SELECT k, v FROM ks.t WHERE k = ?")
    got: dict[int, object] = {}

    def write(i):
        execute(conn, insert, T.INT.encode(i), T.TEXT.encode(f"v{i}"))

    def read(i):
        response = execute(conn, select, T.INT.encode(i))
        assert isinstance(response, RowsResult)
        got[i] = response.rows

    for fn in (write, read):
        tasks = [hub.spawn(fn, i) for i in range(MANY)]
        for task in tasks:
            assert task.join(60)
            assert task.exception is None
    assert got == {i: [(i, f"v{i}")] for i in range(MANY)}
    assert conn.in_flight == 0 and conn.orphaned == 0


def test_late_responses_never_reach_another_caller(hub, sim, connect):
    conn = connect()
    for i in range(40):
        conn.send(q(f"INSERT INTO ks.t (k, v) VALUES ({1000 + i}, 'late{i}')"))
    sim.prime(re.compile(r"k = 10\d7$"), regex=True, delay=0.5)  # keys 1007, 1017, ...
    outcome: dict[int, object] = {}

    def worker(i):
        key = 1000 + i
        try:
            response = conn.send(q(f"SELECT k, v FROM ks.t WHERE k = {key}"), timeout=0.2)
            outcome[key] = response.rows
        except OperationTimedOut as exc:
            outcome[key] = exc

    tasks = [hub.spawn(worker, i) for i in range(40)]
    for task in tasks:
        assert task.join(10)
    slow = {k for k in outcome if k % 10 == 7}
    assert len(slow) == 4
    for key, result in outcome.items():
        if key in slow:
            assert isinstance(result, OperationTimedOut) and result.host == conn.endpoint
        else:
            assert result == [(key, f"late{key - 1000}")]
    assert conn.orphaned == 4
    # fresh requests while the orphans wait: still each their own answer
    for key in (1000, 1001, 1002):
        assert conn.send(q(f"SELECT k, v FROM ks.t WHERE k = {key}")).rows[0][0] == key
    # A marker answered after the late ones: the node writes each delayed answer when its
    # delay (counted from receipt) ends, and the marker was received after the slow requests
    # with a longer delay. The one reader takes answers in order, so once the marker is back
    # the late answers were read: the ids freed, the rows dropped.
    sim.prime("k = 1099", delay=1.0, times=1)
    marker = conn.send(q("SELECT k, v FROM ks.t WHERE k = 1099"), timeout=10)
    assert isinstance(marker, RowsResult)
    assert conn.orphaned == 0 and conn.in_flight == 0
    sim.clear_primes()


def test_paused_node_is_declared_defunct_by_the_heartbeat(hub, sim, connect):
    conn = connect(heartbeat_interval=0.2, heartbeat_timeout=0.3)
    assert conn.send(q("SELECT k FROM ks.t WHERE k = 1")).opcode == 0x08
    sim[0].pause()
    try:
        result = {}

        def waiter():
            try:
                conn.send(q("SELECT k FROM ks.t WHERE k = 1"), timeout=30)
            except Exception as exc:
                result["exc"] = exc

        task = hub.spawn(waiter)
        assert conn.wait_closed(5)  # interval + timeout (+ ticks), not the request's 30 s
        assert task.join(2)
        assert isinstance(result["exc"], ConnectionShutdown)
        assert "heartbeat" in str(result["exc"])
    finally:
        sim[0].resume()


@pytest.mark.parametrize("version", [4, 5])
@pytest.mark.parametrize("compression", [None, "lz4"])
def test_lz4_on_and_off(connect, version, compression):
    if compression and compression not in available_compressors():
        pytest.skip("lz4 not installed")
    conn = connect(protocol_version=version, compression=compression)
    assert conn.compression == compression
    big = "x" * 5000
    conn.send(q(f"INSERT INTO ks.t (k, v) VALUES (7, '{big}')"))
    assert conn.send(q("SELECT v FROM ks.t WHERE k = 7")).rows == [(big,)]


def test_corrupt_v5_checksum_closes_with_a_clear_error(sim, connect):
    conn = connect(protocol_version=5)
    sim[0].corrupt_next_segments(1)
    with pytest.raises(ConnectionShutdown) as info:
        conn.send(q("SELECT k FROM ks.t WHERE k = 1"))
    assert isinstance(info.value.__cause__, ChecksumError)
    assert conn.endpoint in str(info.value)
    assert conn.is_defunct


def test_v4_only_node_is_negotiated_down(sim, connect):
    sim[0].max_protocol_version = 4
    conn = connect()
    assert conn.version == 4
    assert conn.send(q("SELECT k FROM ks.t WHERE k = 1")).opcode == 0x08


def test_auth():
    with SimCluster(1, port=0, auth=("cassandra", "secret")) as cluster:
        host, port = cluster.endpoints[0]
        ok = ConnectionOptions(auth_provider=PlainTextAuthProvider("cassandra", "secret"))
        conn = Connection.connect(cluster.hub, host, port, ok)
        assert conn.send(q("SELECT release_version FROM system.local")).rows
        conn.close()
        bad = ConnectionOptions(auth_provider=PlainTextAuthProvider("cassandra", "nope"))
        with pytest.raises(AuthenticationFailed):
            Connection.connect(cluster.hub, host, port, bad)


def test_tls_with_the_test_ca():
    pytest.importorskip("cryptography")
    with SimCluster(1, port=0, tls=True) as cluster:
        host, port = cluster.endpoints[0]
        opts = ConnectionOptions(ssl_context=cluster.certs.client_context())
        conn = Connection.connect(cluster.hub, host, port, opts)
        assert conn.send(q("SELECT release_version FROM system.local")).rows
        conn.close()
        wrong = opts.replace(server_hostname="not-this-node.example")
        with pytest.raises(ConnectionException):
            Connection.connect(cluster.hub, host, port, wrong)


class _Fast:
    def new_schedule(self):
        while True:
            yield 0.05


class _Recorder:
    def __init__(self, hub):
        self.events = []
        self.up = hub.event()
        self.down = hub.event()

    def on_up(self, pool):
        self.events.append("up")
        self.up.set()

    def on_down(self, pool, error):
        self.events.append("down")
        self.down.set()


def test_pool_reconnects_after_the_node_restarts(hub, sim):
    rec = _Recorder(hub)
    host, port = sim.endpoints[0]
    pool = HostPool(
        hub,
        host,
        port,
        PoolOptions(reconnection=_Fast()),
        ConnectionOptions(connect_timeout=2),
        listener=rec,
    )
    try:
        pool.open()
        sim[0].stop()
        assert rec.down.wait(5)
        with pytest.raises(ConnectionShutdown):
            pool.borrow()
        sim[0].start()
        assert rec.up.wait(5)
        assert rec.events == ["down", "up"]
        assert pool.borrow().send(q("SELECT k FROM ks.t WHERE k = 1")).opcode == 0x08
    finally:
        pool.shutdown(grace=0)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_fork_child_makes_its_own_connection(hub):
    # the simulator runs on its own thread, so the child (which keeps no threads) never
    # serves the copy of its listening socket: every connection is accepted by the parent
    cluster = SimCluster(1, port=0).start_in_thread()
    try:
        host, port = cluster.endpoints[0]
        pool = HostPool(hub, host, port, PoolOptions(reconnection=_Fast()))
        pool.open()
        parent_conn = pool.borrow()
        assert parent_conn.send(q("SELECT release_version FROM system.local")).rows
        before = len(cluster[0].connections)

        def child() -> int:
            conn = pool.borrow()
            ok = conn is not parent_conn and parent_conn.state == "FORKED"
            rows = conn.send(q("SELECT release_version FROM system.local"), timeout=5).rows
            return 0 if ok and rows else 2

        assert run_forked(child, timeout=30) == 0
        assert parent_conn.send(q("SELECT release_version FROM system.local")).rows
        log = cluster[0].log.records(kind="QUERY")
        clients = {r.client for r in log}
        assert len(clients) >= 2  # the child's queries came over its own socket
        assert len(cluster[0].connections) >= before
        pool.shutdown(grace=0)
    finally:
        cluster.stop()
