"""The connections to one host: borrow the least busy, grow under load, replace the dead,
reconnect with backoff when all are gone, rebuild after a fork.

Owns a small list of :class:`~greencql.pool.connection.Connection` objects to one
``host:port`` and one background greenlet per job (opening a connection, the reconnection
loop). Must not: choose hosts, retry requests, know keyspaces' statements or the cluster's
policies (a reconnection schedule is injected; any object with ``new_schedule()`` works).

Rules it keeps:

- ``borrow()`` never blocks on a connect while one connection works: growth (when the least
  busy connection has more than ``grow_threshold`` requests in flight and fewer than
  ``max_connections`` are open) and replacement of dead connections happen in background
  greenlets. Only when no connection is open and the host is not known to be down does
  ``borrow()`` connect in the caller (one attempt shared by every concurrent borrower).
- When the last connection dies, a replacement is opened at once; while it is under way
  the pool is *connecting*, not down. A replacement that fails after the node answered
  (it closed the connection, cut or corrupted a response: a transient fault of a live node,
  see :func:`node_answered`) is tried again at once, up to ``QUICK_RETRIES`` times since the
  last connection that worked. Only then (or at once when the node refused the connection or
  did not answer in time) is the host reported down (the listener's ``on_down``) and ONE
  reconnection greenlet tries again after each delay of the schedule; its first success
  reports the host up (``on_up``) and refills the pool. The schedule starts afresh after a
  connection that worked (a reconnection loop still sleeping a grown delay is retired then)
  and after an attempt that the node answered, so a live node is never left waiting for a
  delay grown while it was unreachable. ``borrow()`` on a down host raises
  ConnectionShutdown at once, naming the host.
- A connection with 3/4 of its stream ids orphaned (answers that never came) is replaced:
  ``borrow()`` starts a replacement in the background and the old one is closed once it is
  there (or the attempt failed); "least busy" counts requests in flight, not orphaned ids.
- After ``os.fork()`` the child's first ``borrow()`` notices the new pid, drops every
  connection (forksafety has already cut them off without writing) and starts afresh.
- ``shutdown()`` stops the background greenlets (connects in progress are abandoned, not
  waited for), closes every connection together under one grace (in-flight requests finish
  within it or fail with ConnectionShutdown) and leaves nothing running on green hubs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from greencql.errors import (
    ConnectionException,
    ConnectionShutdown,
    DriverException,
    ProtocolError,
)
from greencql.hubs import Hub
from greencql.pool import forksafety
from greencql.pool.connection import _NO_LOCK, Connection, EventCallback
from greencql.pool.connection import _OPEN as _CONN_OPEN
from greencql.pool.options import DEFAULT_PORT, ConnectionOptions, PoolOptions

__all__ = ["HostPool", "PoolListener", "ConnectionFactory", "close_all", "node_answered",
           "QUICK_RETRIES"]

_log = logging.getLogger("greencql.pool")

#: connection_factory(hub, host, port, options, *, on_event=..., on_close=...) -> Connection
ConnectionFactory = Callable[..., Connection]

#: connects retried at once, after one that the node answered but that failed (closed, cut,
#: corrupted), before a pool without connections reports its host down; the budget refills
#: with each connection that works (cassandra-driver replaces a dead connection once, then
#: convicts the host; one fault that also hits the handshakes should not take it down)
QUICK_RETRIES = 2


def node_answered(exc: BaseException) -> bool:
    """Whether a failed connect reached a live node: the TCP connection was accepted and the
    node then closed it, or sent a cut, corrupted or unreadable reply. False when it refused
    the connection, was unreachable or did not answer in time (an OSError or a timeout
    underneath), and for an error the server answered on purpose (authentication, ...)."""
    if isinstance(exc, ProtocolError):
        return True
    if isinstance(exc, ConnectionException):
        return exc.__cause__ is None and "timed out" not in str(exc)
    return False


def close_all(hub: Hub, connections: list[Connection], grace: float | None = None) -> None:
    """Close ``connections`` together under one grace: each waits for its own in-flight
    requests at the same time as the others, so the whole takes one grace, not one each."""
    if len(connections) == 1:
        connections[0].close(grace)
        return
    if not connections:
        return
    tasks = [hub.spawn(conn.close, grace) for conn in connections]
    longest = max(c.options.close_grace for c in connections)
    # Connection.close: the grace, then a bounded join of its reader and writer
    bound = (longest if grace is None else grace) + max(1.0, longest) + 1.0
    deadline = hub.monotonic() + bound
    for task in tasks:
        task.join(max(0.0, deadline - hub.monotonic()))


class PoolListener:
    """What a pool reports; subclass or pass any object with these methods (all optional).
    Called from background greenlets or the borrower; they must not block."""

    def on_up(self, pool: HostPool) -> None:
        """The host answered again after being down."""

    def on_down(self, pool: HostPool, error: BaseException | None) -> None:
        """Every connection is gone and a new one could not be opened."""

    def on_connected(self, pool: HostPool) -> None:
        """A connection was added while the pool was not down (growth, replacement)."""


class HostPool:
    """Connections to one host (see the module docstring).

    ``listener``: an object with ``on_up(pool)`` / ``on_down(pool, error)``.
    ``on_event``: given to every connection (pushed events; the control connection uses it).
    ``connection_factory``: :meth:`Connection.connect` by default (tests inject their own).
    """

    def __init__(
        self,
        hub: Hub,
        host: str,
        port: int = DEFAULT_PORT,
        options: PoolOptions | None = None,
        connection_options: ConnectionOptions | None = None,
        *,
        listener: Any = None,
        on_event: EventCallback | None = None,
        connection_factory: ConnectionFactory | None = None,
    ) -> None:
        self.hub = hub
        self.host = host
        self.port = port
        self.endpoint = f"{host}:{port}"
        self.options = options or PoolOptions()
        self.connection_options = connection_options or ConnectionOptions()
        self._listener = listener
        self._on_event = on_event
        self._factory: ConnectionFactory = connection_factory or Connection.connect
        self._connections: list[Connection] = []
        self._opening = 0  # background connects in progress
        # Thread hub only: borrowers, background connects and closers are OS threads, and
        # ``_opening += 1`` is a read-modify-write (a lost update left the pool believing a
        # connect was in progress, and never replaced a dead connection). Green hubs never
        # switch inside these sections and take no lock.
        self._lock: Any = hub.lock() if hub.name == "thread" else _NO_LOCK
        self._connect_now: Any = None  # future shared by borrowers connecting in the caller
        self._reconnector: Any = None
        self._reconnect_token: object = None  # the running loop's; None retires it
        self._quick_retries = QUICK_RETRIES  # left until the next connection that works
        self._tasks: set[Any] = set()
        self._replacing: set[Connection] = set()  # connections with too many orphaned ids
        self._is_down = False
        self._is_shutdown = False
        self._last_error: BaseException | None = None
        self._pid = forksafety.current_pid()
        self._generation = 0  # bumped by fork and shutdown: stale background work stops

    # ------------------------------------------------------------------ state

    @property
    def is_down(self) -> bool:
        """True between a failed reconnection (on_down) and the next success (on_up)."""
        return self._is_down

    @property
    def is_shutdown(self) -> bool:
        return self._is_shutdown

    @property
    def connections(self) -> list[Connection]:
        """The open connections (a copy)."""
        return [c for c in self._connections if c.is_open]

    @property
    def in_flight(self) -> int:
        return sum(c.in_flight for c in self._connections)

    @property
    def connecting(self) -> bool:
        """True while a connect of this pool is under way (in a borrower or in the
        background); the reconnection loop of a down host does not count."""
        return self._opening > 0 or self._connect_now is not None

    @property
    def last_error(self) -> BaseException | None:
        """Why the last connect failed (None after a success)."""
        return self._last_error

    # ------------------------------------------------------------------ opening

    def open(self, wait: bool = True) -> None:
        """Open the core connections. With ``wait`` the first one is opened in the caller
        (its error is raised, and the host reported down with reconnection started); the
        others in the background."""
        self._checkpid()
        if self._is_shutdown:
            raise self._shutdown_error()
        missing = self.options.core_connections - len(self.connections) - self._opening
        if missing <= 0:
            return
        if wait and not self.connections:
            self._connect_in_caller()
            missing -= 1
        for _ in range(missing):
            self._open_in_background()

    def lend(self) -> Connection | None:
        """:meth:`borrow` for the request path, in one Python call: the open connection with
        the fewest requests in flight, or None whenever ``borrow()`` would have more to do
        (after a fork, no open connection, one to replace, time to grow): the caller then
        calls ``borrow()``. Reads the connections' state directly (same package)."""
        if self._pid != forksafety._pid:
            return None
        best: Connection | None = None
        least = 1 << 30
        for conn in self._connections:
            n = len(conn._pending)
            if n < least and conn._state == _CONN_OPEN:
                best, least = conn, n
        if best is None or best.orphans_exhausted or least >= self.options.grow_threshold:
            return None
        return best

    def borrow(self) -> Connection:
        """The open connection with the fewest requests in flight.

        Raises ConnectionShutdown when the pool is shut down or the host is down
        (reconnecting), or the error of the connect attempt when no connection was open."""
        if self._pid != forksafety.current_pid():
            self._after_fork()
        best: Connection | None = None
        least = 1 << 30
        for conn in self._connections:
            n = conn.in_flight
            if n < least and conn.is_open:
                best, least = conn, n
        if best is None:
            if self._is_shutdown or self._is_down:
                raise self._shutdown_error()
            return self._connect_in_caller()
        if best.orphans_exhausted and not self._is_shutdown:
            self._replace(best)
        if least >= self.options.grow_threshold and not self._is_shutdown:
            with self._lock:
                if len(self._connections) + self._opening < self.options.max_connections:
                    self._start_opening()
        return best

    # ------------------------------------------------------------------ closing

    def shutdown(self, grace: float | None = None) -> None:
        """Stop reconnecting, abandon connects in progress, close every connection at once
        (in-flight requests finish within one shared ``grace``, else fail with
        ConnectionShutdown).

        Connects in progress are not waited for: their greenlets are killed (a thread of the
        thread hub cannot be, and closes what it opens when its bounded connect ends, seeing
        the pool shut down). Closing is concurrent, so a pool of N connections to a host that
        stopped answering takes one grace, not N."""
        if self._is_shutdown:
            return
        self._is_shutdown = True
        self._generation += 1
        reconnector, self._reconnector = self._reconnector, None
        if reconnector is not None:
            reconnector.kill()
        with self._lock:
            tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.kill()
        waiting = self._connect_now
        if waiting is not None:
            waiting.set_exception(self._shutdown_error())
        connections, self._connections = self._connections, []
        close_all(self.hub, connections, grace)

    # ------------------------------------------------------------------ internals

    def _shutdown_error(self) -> ConnectionShutdown:
        if self._is_shutdown:
            why = "the pool is shut down"
        else:
            why = "the host is down (reconnecting)"
            if self._last_error is not None:
                why += f"; last error: {self._last_error}"
        return ConnectionShutdown(f"no connection to {self.endpoint}: {why}", self.endpoint)

    def _new_connection(self) -> Connection:
        return self._factory(
            self.hub,
            self.host,
            self.port,
            self.connection_options,
            on_event=self._on_event,
            on_close=self._connection_closed,
        )

    def _connect_in_caller(self) -> Connection:
        """Connect now, in the calling greenlet; concurrent callers share the attempt."""
        waiting = self._connect_now
        if waiting is not None:
            return waiting.result(self.connection_options.connect_timeout + 1.0)
        future = self._connect_now = self.hub.future()
        generation = self._generation
        try:
            conn = self._new_connection()
        except DriverException as exc:
            self._connect_now = None
            future.set_exception(exc)
            self._connect_failed(exc)
            raise
        except BaseException as exc:
            self._connect_now = None
            future.set_exception(ConnectionException(f"connect to {self.endpoint} aborted"))
            raise exc
        self._connect_now = None
        if generation != self._generation or self._is_shutdown:
            conn.close(grace=0)
            error = self._shutdown_error()
            future.set_exception(error)
            raise error
        self._added(conn)
        future.set_result(conn)
        return conn

    def _open_in_background(self) -> None:
        with self._lock:
            self._start_opening()

    def _start_opening(self) -> None:
        # under self._lock
        self._opening += 1
        task = self.hub.spawn(self._open_one, self._generation)
        self._tasks.add(task)

    def _open_one(self, generation: int) -> None:
        try:
            try:
                conn = self._new_connection()
            except DriverException as exc:
                if generation == self._generation:
                    self._connect_failed(exc)
                return
            if generation != self._generation or self._is_shutdown:
                conn.close(grace=0)
                return
            self._added(conn)
        finally:
            with self._lock:
                if generation == self._generation:
                    self._opening -= 1
            self._forget_current_task()

    def _replace(self, conn: Connection) -> None:
        """``conn`` has most of its stream ids orphaned (answers that never came: a hung or
        overloaded node): open a replacement, then close it. It is lent meanwhile (it still
        has free ids); counting in-flight requests alone would keep choosing it forever."""
        with self._lock:
            if conn in self._replacing:
                return
            self._replacing.add(conn)
            task = self.hub.spawn(self._replace_one, conn, self._generation)
            self._tasks.add(task)
        _log.debug("%s: %d stream ids orphaned; replacing %r", self.endpoint, conn.orphaned, conn)

    def _replace_one(self, old: Connection, generation: int) -> None:
        try:
            try:
                new = self._new_connection()
            except DriverException as exc:
                # old goes all the same: if nothing replaces it, the pool reports the host
                # down and reconnects, which beats a connection that never answers
                new = None
                self._last_error = exc
                _log.debug("replacing a connection to %s failed: %s", self.endpoint, exc)
            if generation != self._generation or self._is_shutdown:
                if new is not None:
                    new.close(grace=0)
                return
            if new is not None:
                self._added(new)
        finally:
            self._forget_current_task()
        # closing waits (one grace) for the requests still in flight on it: not a task that
        # shutdown abandons, and CLOSING at once, so it is lent no more
        self.hub.spawn(self._retire, old)

    def _retire(self, old: Connection) -> None:
        try:
            old.close()
        finally:
            self._replacing.discard(old)

    def _forget_current_task(self) -> None:
        with self._lock:
            self._tasks = {t for t in self._tasks if not t.ready()}

    def _added(self, conn: Connection) -> None:
        self._last_error = None
        self._connections.append(conn)
        with self._lock:
            was_down, self._is_down = self._is_down, False
            self._quick_retries = QUICK_RETRIES
            # a reconnection loop still sleeping (someone else got through first) is retired:
            # if this connection dies too, the next loop starts its schedule afresh instead
            # of going on with a delay grown while the host was unreachable
            self._reconnector = self._reconnect_token = None
        if was_down:
            self._notify("on_up", self)
        else:
            # The pool was never down, but its owner may think the host is (a DOWN event
            # that came while the pool was momentarily empty): tell it a connect worked.
            self._notify("on_connected", self)

    def _connect_failed(self, exc: BaseException) -> None:
        self._last_error = exc
        _log.debug("connect to %s failed: %s", self.endpoint, exc)
        if self.connections or self._is_shutdown:
            return
        with self._lock:
            quick = (not self._is_down and self._quick_retries > 0 and node_answered(exc))
            if quick:
                # a live node with a transient fault (e.g. one that also cut the handshake):
                # try again at once; the pool stays "connecting" meanwhile
                self._quick_retries -= 1
                self._start_opening()
        if not quick:
            self._mark_down(exc)

    def _mark_down(self, exc: BaseException | None) -> None:
        with self._lock:
            was_down, self._is_down = self._is_down, True
            if self._reconnector is None or self._reconnector.ready():
                token = self._reconnect_token = object()
                self._reconnector = self.hub.spawn(self._reconnect_loop, self._generation,
                                                   token)
        if not was_down:
            self._notify("on_down", self, exc)

    def _connection_closed(self, conn: Connection) -> None:
        # from whoever closed it (reader, timer wheel, closer): never block here
        try:
            self._connections.remove(conn)
        except ValueError:
            pass
        if self._is_shutdown or conn.state == "FORKED":
            return
        with self._lock:
            if len(self.connections) + self._opening < self.options.core_connections:
                self._start_opening()

    def _reconnect_loop(self, generation: int, token: object) -> None:
        schedule = iter(self.options.reconnection.new_schedule())
        while True:
            delay = next(schedule, None)
            if delay is None:
                break
            self.hub.sleep(delay)
            if generation != self._generation or self._is_shutdown:
                return
            if self.connections or self._reconnect_token is not token:
                return  # someone else got through meanwhile (this loop was retired)
            try:
                conn = self._new_connection()
            except DriverException as exc:
                self._last_error = exc
                _log.debug("reconnect to %s failed: %s", self.endpoint, exc)
                if node_answered(exc):
                    # the node is alive (it accepted and then failed the connection): the
                    # next attempt comes after a first delay, not one grown while it was not
                    schedule = iter(self.options.reconnection.new_schedule())
                continue
            if generation != self._generation or self._is_shutdown:
                conn.close(grace=0)
                return
            self._added(conn)
            for _ in range(self.options.core_connections - len(self.connections)):
                self._open_in_background()
            return
        _log.warning("gave up reconnecting to %s: the schedule is exhausted", self.endpoint)

    def _notify(self, name: str, *args: Any) -> None:
        fn = getattr(self._listener, name, None)
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:
            _log.exception("pool listener %s failed", name)

    def _checkpid(self) -> None:
        if self._pid != forksafety.current_pid():
            self._after_fork()

    def _after_fork(self) -> None:
        """First use in a forked child: the inherited connections are cut off already;
        forget them and every inherited background job, and start afresh."""
        self._pid = forksafety.current_pid()
        self._generation += 1
        # a thread lock may have been held by a thread the child does not have
        self._lock = self.hub.lock() if self.hub.name == "thread" else _NO_LOCK
        self._connections = []
        self._opening = 0
        self._connect_now = None
        self._reconnector = None
        self._tasks = set()
        self._replacing = set()
        self._is_down = False

    def _abandon_after_fork(self) -> None:
        """In a forked child whose owner builds new pools: forget this one for good (nothing
        of the parent is closed or written; inherited background work sees the new
        generation and the shutdown flag, and stops)."""
        self._after_fork()
        self._is_shutdown = True

    def __repr__(self) -> str:
        state = "shutdown" if self._is_shutdown else "down" if self._is_down else "up"
        return f"<HostPool {self.endpoint} {state} connections={len(self._connections)}>"
