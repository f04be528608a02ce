"""HostPool against the in-process mini server over real sockets: borrowing the least busy
connection, growth under load, replacement, down/up reporting with reconnection, shutdown and
fork."""

from __future__ import annotations

import os
import threading

import pytest
from conftest import run_forked
from miniserver import MiniServer

from greencql.errors import ConnectionException, ConnectionShutdown
from greencql.pool import ConnectionOptions, HostPool, PoolOptions
from greencql.pool.options import ExponentialBackoff
from greencql.protocol.messages import Query, QueryParameters


def q(text: str) -> Query:
    return Query(text, QueryParameters(1))


class Fast:
    """A reconnection schedule for tests: short constant delays."""

    def __init__(self, delay: float = 0.05):
        self.delay = delay

    def new_schedule(self):
        while True:
            yield self.delay


class Recorder:
    def __init__(self, hub):
        self.events: list[str] = []
        self.up = hub.event()
        self.down = hub.event()

    def on_up(self, pool):
        self.events.append("up")
        self.up.set()

    def on_down(self, pool, error):
        self.events.append("down")
        self.down.set()


class _Watched(list):
    """A pool's connection list that tells its watcher about every change."""

    def __init__(self, items, changed):
        super().__init__(items)
        self._changed = changed

    def append(self, item):
        super().append(item)
        self._changed()

    def remove(self, item):
        super().remove(item)
        self._changed()


class PoolWatch:
    """Wait, without polling, until a condition on a pool's connections holds: the
    pool's own list is swapped for one that wakes the waiter on each append/remove."""

    def __init__(self, hub, pool):
        self.hub = hub
        self._lock = threading.Lock()  # held for list work only, never across a wait
        self._waiters = []
        pool._connections = _Watched(pool._connections, self._changed)

    def _changed(self):
        with self._lock:
            fired = [w for w in self._waiters if w[0]()]
            self._waiters = [w for w in self._waiters if w not in fired]
        for _, event in fired:
            event.set()

    def wait_until(self, check, timeout=5.0):
        event = self.hub.event()
        with self._lock:
            if check():
                return
            self._waiters.append((check, event))
        assert event.wait(timeout) or check(), f"pool: condition not met within {timeout} s"


@pytest.fixture
def server(hub):
    srv = MiniServer(hub)
    yield srv
    srv.close()


@pytest.fixture
def make_pool(hub, server):
    pools = []

    def make(listener=None, **pool_options):
        pool_options.setdefault("reconnection", Fast())
        pool = HostPool(
            hub,
            server.host,
            server.port,
            PoolOptions(**pool_options),
            ConnectionOptions(connect_timeout=2, close_grace=0.5),
            listener=listener,
        )
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.shutdown(grace=0)


def test_open_and_borrow(make_pool):
    pool = make_pool()
    pool.open()
    conn = pool.borrow()
    assert conn is pool.borrow()  # one core connection
    assert conn.send(q("echo a")).rows == [("a",)]
    assert len(pool.connections) == 1


def test_borrow_connects_lazily(make_pool):
    pool = make_pool()
    conn = pool.borrow()
    assert conn.is_open


def test_grows_in_the_background_under_load(hub, make_pool, server):
    pool = make_pool(core_connections=1, max_connections=2, grow_threshold=3)
    pool.open()
    first = pool.borrow()
    watch = PoolWatch(hub, pool)
    tasks = [hub.spawn(first.send, q(f"hold t{i}")) for i in range(4)]
    for i in range(4):
        server.wait_for_query(f"hold t{i}")
    assert pool.borrow() is first  # the caller never waits for the new connection
    watch.wait_until(lambda: len(pool.connections) >= 2)
    second = pool.borrow()
    assert second is not first  # the least busy one
    for i in range(4):
        server.release(f"t{i}")
    for task in tasks:
        assert task.join(5)
    assert server.accepted == 2


def test_dead_connection_is_replaced(hub, make_pool, server):
    pool = make_pool()
    pool.open()
    first = pool.borrow()
    watch = PoolWatch(hub, pool)
    server.drop_all()
    assert first.wait_closed(5)
    watch.wait_until(lambda: any(c is not first for c in pool.connections))
    conn = pool.borrow()
    assert conn is not first
    assert conn.send(q("echo again")).rows == [("again",)]


def test_down_then_up_after_restart(hub, make_pool, server):
    rec = Recorder(hub)
    pool = make_pool(listener=rec)
    pool.open()
    server.stop()
    assert rec.down.wait(5)
    assert pool.is_down
    with pytest.raises(ConnectionShutdown, match="down"):
        pool.borrow()
    server.start()
    assert rec.up.wait(5)
    assert rec.events == ["down", "up"]
    assert pool.borrow().send(q("echo back")).rows == [("back",)]


def test_open_fails_when_host_is_down(hub, make_pool, server):
    rec = Recorder(hub)
    server.stop()
    pool = make_pool(listener=rec)
    with pytest.raises(ConnectionException):
        pool.open()
    assert rec.down.wait(2) and pool.is_down
    server.start()
    assert rec.up.wait(5)


def test_shutdown_leaves_nothing_running(hub, make_pool, server):
    pool = make_pool(core_connections=2, max_connections=2)
    pool.open()
    conn = pool.borrow()
    result = {}

    def waiter():
        try:
            conn.send(q("hold slow"))
        except Exception as exc:
            result["exc"] = exc

    task = hub.spawn(waiter)
    server.wait_for_query("hold slow")
    pool.shutdown(grace=0.1)
    assert task.join(3)
    assert isinstance(result["exc"], ConnectionShutdown)
    assert not pool.connections
    assert all(c._reader.ready() and c._writer.ready() for c in [conn])
    with pytest.raises(ConnectionShutdown, match="shut down"):
        pool.borrow()


def test_exponential_backoff_schedule():
    import random

    backoff = ExponentialBackoff(1.0, 8.0, rng=random.Random(1))
    delays = [d for _, d in zip(range(6), backoff.new_schedule(), strict=False)]
    for attempt, d in enumerate(delays):
        cap = min(2**attempt, 8.0)
        assert cap / 2 <= d <= cap


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_fork_makes_new_connections_in_the_child(hub, make_pool, server):
    pool = make_pool()
    pool.open()
    parent_conn = pool.borrow()
    accepted = server.accepted

    def child() -> int:
        # the in-process server was copied too: only the parent's copy serves
        server.forget_in_child()
        if parent_conn.state != "FORKED":
            return 3
        conn = pool.borrow()
        if conn is parent_conn:
            return 4
        return 0 if conn.send(q("echo child"), timeout=5).rows == [("child",)] else 2

    assert run_forked(child, timeout=20) == 0
    assert parent_conn.send(q("echo parent")).rows == [("parent",)]
    assert server.accepted == accepted + 1  # the child's own new socket
    assert server.requests[-2].query == "echo child"
