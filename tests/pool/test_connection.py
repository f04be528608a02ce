"""Connection against a tiny in-process CQL server (tests/pool/miniserver.py) over real sockets.

The handshake (versions, downgrade, compression, auth, USE), multiplexing many greenlets over
one socket, timeouts whose late answers never reach another caller, stream-id backpressure,
heartbeats, defunct connections, events, byte-by-byte replies, orderly close and fork.
"""

from __future__ import annotations

import os

import pytest
from conftest import TEST_HUB, run_forked
from miniserver import MiniServer

from greencql.errors import (
    AuthenticationFailed,
    ChecksumError,
    ConnectionBusy,
    ConnectionException,
    ConnectionShutdown,
    InvalidRequest,
    OperationTimedOut,
    ProtocolError,
    UnsupportedProtocolVersion,
)
from greencql.pool import forksafety
from greencql.pool.connection import Connection
from greencql.pool.options import ConnectionOptions
from greencql.protocol.auth import PlainTextAuthProvider
from greencql.protocol.compression import available_compressors
from greencql.protocol.messages import (
    ErrorResponse,
    Query,
    QueryParameters,
    RowsResult,
    StatusChangeEvent,
)

GREEN = TEST_HUB in ("gevent", "eventlet")
MANY = 1000 if GREEN else 200


def q(text: str) -> Query:
    return Query(text, QueryParameters(1))


@pytest.fixture
def server(hub):
    srv = MiniServer(hub)
    yield srv
    srv.close()


@pytest.fixture
def connect(hub, server):
    made = []

    def make(srv=None, _hub=None, **options):
        srv = srv or server
        conn = Connection.connect(_hub or hub, srv.host, srv.port, ConnectionOptions(**options))
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close(grace=0)


class _BlockSignallingHub:
    """The test's hub, telling ``blocked`` (a hub queue) each time the connection parks
    a greenlet: on a stream-id wait (a future's ``result(timeout)``) or on an event (the
    graceful close waiting for in-flight requests). Tests wait on that instead of sleeping
    "long enough" for a task to reach its wait."""

    def __init__(self, hub, blocked):
        self._inner = hub
        self._blocked = blocked

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def future(self):
        return _SignallingWaitable(self._inner.future(), self._blocked, "result")

    def event(self):
        return _SignallingWaitable(self._inner.event(), self._blocked, "wait")


class _SignallingWaitable:
    def __init__(self, inner, blocked, method):
        self._inner = inner
        self._blocked = blocked
        self._method = method

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def result(self, *args, **kw):
        if self._method == "result" and args and args[0]:  # a bounded wait, not a poll
            self._blocked.put("blocked")
        return self._inner.result(*args, **kw)

    def wait(self, *args, **kw):
        if self._method == "wait":
            self._blocked.put("blocked")
        return self._inner.wait(*args, **kw)


def echo(conn: Connection, tag: str, **kw) -> str:
    response = conn.send(q(f"echo {tag}"), **kw)
    assert isinstance(response, RowsResult), response
    return response.rows[0][0]


# -- handshake ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [3, 4, 5])
@pytest.mark.parametrize("compression", [None, "lz4", "snappy"])
def test_handshake_versions_and_compression(connect, server, version, compression):
    if compression and compression not in available_compressors():
        pytest.skip(f"{compression} not installed")
    conn = connect(protocol_version=version, compression=compression)
    if version == 5 and compression == "snappy":
        compression = None  # v5 segments know LZ4 only: the handshake does not ask for snappy
    assert conn.version == version
    assert conn.compression == compression
    startup = server.startups[-1]
    assert startup.get("COMPRESSION") == compression
    assert startup["DRIVER_NAME"] == "greencql"
    assert startup["CQL_VERSION"] == "3.0.0"
    assert echo(conn, "x" * 500) == "x" * 500  # big enough to be compressed


def test_auto_compression_prefers_lz4(connect):
    if "lz4" not in available_compressors():
        pytest.skip("lz4 not installed")
    assert connect().compression == "lz4"


@pytest.mark.parametrize("max_version", [3, 4])
def test_version_negotiated_down(hub, connect, max_version):
    srv = MiniServer(hub, max_version=max_version)
    try:
        conn = connect(srv)
        assert conn.version == max_version
        assert srv.versions == [max_version]
        assert echo(conn, "down") == "down"
    finally:
        srv.close()


def test_pinned_version_is_not_downgraded(hub, connect):
    srv = MiniServer(hub, max_version=4)
    try:
        with pytest.raises(UnsupportedProtocolVersion):
            connect(srv, protocol_version=5)
    finally:
        srv.close()


def test_auth_success_and_failure(hub, connect):
    srv = MiniServer(hub, credentials={"cassandra": "secret"})
    try:
        conn = connect(srv, auth_provider=PlainTextAuthProvider("cassandra", "secret"))
        assert echo(conn, "in") == "in"
        with pytest.raises(AuthenticationFailed):
            connect(srv, auth_provider=PlainTextAuthProvider("cassandra", "wrong"))
        with pytest.raises(AuthenticationFailed):
            connect(srv)  # the server asks, nobody answers
    finally:
        srv.close()


def test_initial_keyspace(connect, server):
    conn = connect(keyspace="ks")
    assert conn.keyspace == "ks"
    assert server.requests[0].query == "USE ks"
    with pytest.raises(InvalidRequest):
        connect(keyspace="nope")


def test_connect_refused_names_the_host(hub):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConnectionException) as info:
        Connection.connect(hub, "127.0.0.1", port, ConnectionOptions(connect_timeout=2))
    assert str(port) in str(info.value)


def test_handshake_timeout(hub, connect, server):
    server.pause()
    with pytest.raises(ConnectionException, match="timed out"):
        connect(connect_timeout=0.3)
    server.resume()


# -- requests ----------------------------------------------------------------------------------


def test_error_response_is_returned(connect):
    conn = connect()
    response = conn.send(q("error boom"))
    assert isinstance(response, ErrorResponse)
    assert isinstance(response.to_exception(), InvalidRequest)
    assert echo(conn, "after") == "after"


def test_many_concurrent_callers_get_their_own_rows(hub, connect):
    conn = connect()
    results: dict[int, object] = {}

    def worker(i):
        results[i] = echo(conn, f"k{i}")

    tasks = [hub.spawn(worker, i) for i in range(MANY)]
    for task in tasks:
        assert task.join(30)
    assert results == {i: f"k{i}" for i in range(MANY)}
    assert conn.in_flight == 0


def test_timeouts_never_cross_callers(hub, connect, server):
    conn = connect()
    outcome: dict[int, object] = {}

    def worker(i):
        # every third request is answered after its caller gave up
        text = f"hold k{i}" if i % 3 == 0 else f"echo k{i}"
        try:
            response = conn.send(q(text), timeout=0.15)
            outcome[i] = response.rows[0][0]
        except OperationTimedOut as exc:
            outcome[i] = exc

    n = 60
    tasks = [hub.spawn(worker, i) for i in range(n)]
    for task in tasks:
        assert task.join(10)
    for i in range(n):
        if i % 3 == 0:
            exc = outcome[i]
            assert isinstance(exc, OperationTimedOut)
            assert exc.host == conn.endpoint and exc.timeout == 0.15
            assert conn.endpoint in str(exc) and "0.15" in str(exc)
        else:
            assert outcome[i] == f"k{i}"
    assert conn.orphaned == n // 3
    # new requests meanwhile never reuse an orphaned id: each gets its own answer
    for i in range(20):
        assert echo(conn, f"again{i}") == f"again{i}"
    # the late answers arrive: the ids are released, the rows dropped
    held = [f"k{i}" for i in range(0, n, 3)]
    for tag in held:
        server.release(tag)
    server.wait_until(lambda: len(server.late_replies) == len(held))
    # one reader takes the answers in order: once this one is back, the late ones were read
    assert echo(conn, "barrier") == "barrier"
    assert conn.orphaned == 0 and conn.in_flight == 0
    assert echo(conn, "last") == "last"


def test_send_async_callback_and_timeout(hub, connect, server):
    conn = connect()
    got = {"ok": hub.future(), "late": hub.future()}
    conn.send_async(q("echo a"), got["ok"].set_result)
    conn.send_async(q("hold b"), got["late"].set_result, timeout=0.1)
    assert got["ok"].result(5).rows == [("a",)]
    exc = got["late"].result(5)
    assert isinstance(exc, OperationTimedOut)
    server.release("b")


def test_undecodable_body_fails_only_its_request(connect):
    conn = connect()
    with pytest.raises(ProtocolError):
        conn.send(q("garbage"))
    assert conn.is_open
    assert echo(conn, "fine") == "fine"


def test_events_go_to_on_event(hub, server):
    events = []
    conn = Connection.connect(
        hub, server.host, server.port, ConnectionOptions(), on_event=events.append
    )
    try:
        assert echo(conn, "x") == "x"
        assert conn.send(q("event")).rows == [("event",)]
        assert events == [StatusChangeEvent("UP", ("127.0.0.9", 9042))]
    finally:
        conn.close()


@pytest.mark.parametrize("version", [4, 5])
def test_server_writing_byte_by_byte(connect, server, version):
    conn = connect(protocol_version=version)
    server.byte_by_byte = True
    assert echo(conn, "slow" * 10) == "slow" * 10
    assert conn.send(q("error x")).message == "bad x"


# -- backpressure --------------------------------------------------------------------------------


def test_no_free_stream_id_waits_fifo(hub, connect, server):
    blocked = hub.queue()
    conn = connect(_hub=_BlockSignallingHub(hub, blocked), max_streams=2)
    results = []

    def slow(tag):
        results.append(conn.send(q(f"hold {tag}")).rows[0][0])

    tasks = [hub.spawn(slow, f"s{i}") for i in range(2)]
    for i in range(2):
        server.wait_for_query(f"hold s{i}")
    assert conn.available_streams == 0
    blocked.drain()  # any earlier parking; only the stream-id waits below count
    waiting = []
    for i in range(3):
        waiting.append(hub.spawn(lambda i=i: results.append(echo(conn, f"w{i}"))))
        # queue them in a known order: w{i} blocks only once it is queued for a stream id
        assert blocked.get(timeout=5) == "blocked"
    server.release("s0")
    server.release("s1")
    for task in tasks + waiting:
        assert task.join(5)
    assert sorted(results) == ["s0", "s1", "w0", "w1", "w2"]
    sent = [r.query for r in server.requests if r.query.startswith("echo w")]
    assert sent == ["echo w0", "echo w1", "echo w2"]  # first come, first served


def test_no_free_stream_id_busy_or_timeout(hub, connect, server):
    conn = connect(max_streams=1, wait_for_stream=False)
    task = hub.spawn(conn.send, q("hold a1"))
    server.wait_for_query("hold a1")
    with pytest.raises(ConnectionBusy):
        conn.send(q("echo b"))
    with pytest.raises(ConnectionBusy):
        conn.send_async(q("echo b"), lambda r: None)
    server.release("a1")
    assert task.join(5)
    conn2 = connect(max_streams=1)
    task = hub.spawn(conn2.send, q("hold a2"))
    server.wait_for_query("hold a2")
    with pytest.raises(OperationTimedOut, match="stream id"):
        conn2.send(q("echo b"), timeout=0.1)
    server.release("a2")
    assert task.join(5)
    assert echo(conn2, "c") == "c"


# -- failures ------------------------------------------------------------------------------------


def test_heartbeat_declares_a_paused_node_defunct(hub, connect, server):
    conn = connect(heartbeat_interval=0.2, heartbeat_timeout=0.3)
    assert echo(conn, "x") == "x"
    server.pause()
    result = {}

    def waiter():
        try:
            conn.send(q("echo y"), timeout=30)
        except Exception as exc:
            result["exc"] = exc

    task = hub.spawn(waiter)
    # interval 0.2 + timeout 0.3 (+ wheel ticks): far below the request's own 30 s
    assert conn.wait_closed(5)
    assert task.join(2)
    exc = result["exc"]
    assert isinstance(exc, ConnectionShutdown)
    assert conn.endpoint in str(exc) and "heartbeat" in str(exc)
    assert conn.is_defunct
    server.resume()


def test_idle_heartbeats_keep_a_live_connection(hub, connect, server):
    conn = connect(heartbeat_interval=0.05, heartbeat_timeout=1)
    server.wait_until(lambda: server.heartbeats >= 3)  # each one answered in turn
    assert conn.is_open
    heartbeats = [r for r in server.requests if type(r).__name__ == "Options"]
    assert not heartbeats  # OPTIONS are answered by the handshake machine, not logged
    assert echo(conn, "alive") == "alive"


def test_server_closing_fails_waiters_at_once(hub, connect, server):
    closed = []
    conn = Connection.connect(
        hub, server.host, server.port, ConnectionOptions(), on_close=closed.append
    )
    result = {}

    def waiter():
        try:
            conn.send(q("hold z"), timeout=30)
        except Exception as exc:
            result["exc"] = exc

    task = hub.spawn(waiter)
    server.wait_for_query("hold z")
    server.drop_all()
    assert task.join(5)
    assert isinstance(result["exc"], ConnectionShutdown)
    assert conn.endpoint in str(result["exc"])
    assert conn.wait_closed(2) and closed == [conn]
    with pytest.raises(ConnectionShutdown):
        conn.send(q("echo a"))


def test_corrupt_v5_checksum_makes_the_connection_defunct(connect):
    conn = connect(protocol_version=5, compression=None)
    with pytest.raises(ConnectionShutdown) as info:
        conn.send(q("corrupt"))
    assert isinstance(info.value.__cause__, ChecksumError)
    assert conn.endpoint in str(info.value)
    assert conn.is_defunct and conn.state == "CLOSED"


# -- closing ---------------------------------------------------------------------------------------


def test_close_lets_in_flight_requests_finish(hub, connect, server):
    blocked = hub.queue()
    conn = connect(_hub=_BlockSignallingHub(hub, blocked))
    result = {}
    task = hub.spawn(lambda: result.setdefault("r", conn.send(q("hold fin"))))
    server.wait_for_query("hold fin")
    blocked.drain()
    closer = hub.spawn(conn.close, grace=30)
    assert blocked.get(timeout=5) == "blocked"  # the close waits for the in-flight request
    server.release("fin")
    assert closer.join(10)
    assert task.join(2)
    assert result["r"].rows == [("fin",)]
    assert conn.state == "CLOSED" and not conn.is_defunct
    assert conn._reader.ready() and conn._writer.ready()


def test_close_without_grace_fails_in_flight(hub, connect, server):
    conn = connect()
    result = {}

    def waiter():
        try:
            conn.send(q("hold fin"))
        except Exception as exc:
            result["exc"] = exc

    task = hub.spawn(waiter)
    server.wait_for_query("hold fin")
    conn.close(grace=0)
    assert task.join(2)
    assert isinstance(result["exc"], ConnectionShutdown)
    assert conn._reader.ready() and conn._writer.ready()


@pytest.mark.skipif(not GREEN, reason="threads cannot be killed")
def test_killed_caller_keeps_its_id_reserved(hub, connect, server):
    conn = connect()
    task = hub.spawn(conn.send, q("hold k"))
    server.wait_for_query("hold k")
    task.kill(block=True, timeout=2)
    assert conn.orphaned == 1 and conn.in_flight == 0
    assert echo(conn, "other") == "other"
    server.release("k")
    server.wait_until(lambda: server.late_replies == ["k"])
    # one reader takes the answers in order: once this one is back, the late one was read
    assert echo(conn, "barrier") == "barrier"
    assert conn.orphaned == 0 and conn.in_flight == 0


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    pytest.importorskip("cryptography")
    from greencql.testing.certs import make_test_certificates

    return make_test_certificates(["127.0.0.1"], str(tmp_path_factory.mktemp("certs")))


def test_tls(hub, connect, certs):
    srv = MiniServer(hub, tls=certs.server_context("127.0.0.1"))
    try:
        conn = connect(srv, ssl_context=certs.client_context())
        assert echo(conn, "secure") == "secure"
        with pytest.raises(ConnectionException):
            connect(srv, ssl_context=certs.client_context(), server_hostname="wrong.example")
    finally:
        srv.close()


# -- fork ------------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_fork_child_never_uses_the_parents_socket(hub, connect, server):
    conn = connect()
    assert echo(conn, "before") == "before"
    accepted = server.accepted

    def child() -> int:
        server.forget_in_child()  # the in-process server was copied too: the parent serves
        try:
            conn.send(q("echo child"), timeout=2)
            return 2
        except ConnectionShutdown as exc:
            if "another process" not in str(exc):
                return 4
        fresh = Connection.connect(hub, server.host, server.port, ConnectionOptions())
        return 0 if echo(fresh, "fresh") == "fresh" else 5

    assert run_forked(child, timeout=20) == 0
    # the parent's connection is untouched, and the child made its own
    assert echo(conn, "after") == "after"
    assert server.accepted == accepted + 1
    assert forksafety.current_pid() == os.getpid()
