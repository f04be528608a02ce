"""One CQL connection: one socket, a reader greenlet, a writer greenlet, stream ids, timers.

Owns the socket of one connection and everything that happens on it: connecting (TCP, TLS,
the handshake with version downgrade, compression, authentication, v5 segments, the optional
USE), multiplexing requests by stream id, client timeouts, heartbeats, and closing (orderly,
defunct, or dropped after a fork). Must not: know keyspaces' statements, retry, choose hosts, or
map server errors to exceptions (the cluster layer does; ErrorResponse is *returned*). Imports
protocol/, hubs/, errors.py and this package only.

Data flow of one request (the hot path)::

    caller greenlet                  writer greenlet               reader greenlet
    ---------------                  ---------------               ---------------
    send(msg)
      encode_request(msg) -> body
      stream id <- StreamIdAllocator
        (none free: wait FIFO, or
         ConnectionBusy)
      pending[stream] = (callback,
        result_metadata, timer)
      timer = call_later(timeout)
      write queue <- (stream, op,
                      body, flags)  --> get_batch(): all queued
      park on a hub future             codec.encode_many(batch)
                                       ONE sendall(bytes)
                                                                   recv(up to 64 KiB) -> bytes
                                                                   codec.feed(bytes) -> frames
                                                                   per frame: pending.pop(stream)
                                                                     timer.cancel()
                                                                     release the id (or hand it
                                                                       to a FIFO waiter)
                                                                     decode_response(...,
                                                                       result_metadata)
      <-- future.set_result(response) ---------------------------- callback(response)
    return response (ErrorResponse
      included); raise OperationTimedOut /
      ConnectionShutdown / ProtocolError

    stream -1 (EVENT) -> on_event(message) on the reader greenlet.

    Shortcut (green hubs): a request sent while nothing else is in flight and no write is in
    progress is written by the caller itself (encode_many + sendall), sparing a lone request
    the hop to the writer greenlet; under load everything goes through the writer, which
    coalesces. A write interrupted half-way (caller killed) makes the connection defunct.

A timed-out request (the timer fires on the hub's timer wheel) is removed from ``pending`` and
its id *orphaned*: reserved until its late response arrives (then released, the response
dropped unread) or the connection closes. A reused id would hand one caller another caller's
rows. Once 3/4 of the ids are orphaned, ``orphans_exhausted`` is set and the pool replaces
the connection (a node that reads and never answers would otherwise keep it, useless, for
good). The heartbeat has a stream id of its own, outside the requests' range, so it is sent
even when every request id is taken.

``send_async`` is the same path with the caller's callback instead of a future; the
callback runs on the reader greenlet (or the timer wheel, or whoever closes the connection)
and must not block.

``send_owned`` is ``send_async`` for a caller that owns the request's deadline (the session's
ResponseFuture: one timer per request, not two): the connection arms no timer for it, and the
owner calls ``orphan(stream, callback)`` when it gives up, which orphans the id exactly as a
timeout here would (reserved until the late answer, counted towards ``orphans_exhausted``).

Connection states::

    (connect() runs the handshake before the object is returned: nobody sees CONNECTING)
    OPEN ----close()----> CLOSING --in-flight done or grace over--> CLOSED
    OPEN | CLOSING --socket error, EOF, ProtocolError, heartbeat timeout--> DEFUNCT
    DEFUNCT -- (immediately: every waiter failed, socket closed) --> CLOSED
    any --os.fork(), in the child--> FORKED (nothing written; the child's fd copy replaced)

Leaving OPEN fails nothing that can still complete: CLOSING lets in-flight requests finish
(bounded by ``close_grace``) and refuses new ones. DEFUNCT and CLOSED fail every waiter at once
with :class:`ConnectionShutdown` naming the host and why; nothing waits for a timeout that can
no longer be met. A ProtocolError from the codec (bad CRC, malformed frame) is the ``__cause__``
of that ConnectionShutdown. A body that does not decode fails only its own request (the frame
boundaries are intact).

Concurrency: on gevent and eventlet everything here runs on one OS thread and the bookkeeping
sections never yield, so they need no lock; on the thread hub, callers, the reader, the writer
and the timer wheel are different threads and one lock guards the stream ids and ``pending``.
"""

from __future__ import annotations

import collections
import functools
import logging
import re
import socket
from collections.abc import Callable
from typing import Any

from greencql.errors import (
    ConnectionBusy,
    ConnectionException,
    ConnectionShutdown,
    OperationTimedOut,
    ProtocolError,
)
from greencql.hubs import Hub
from greencql.pool import forksafety
from greencql.pool.options import ConnectionOptions, expected_server_name
from greencql.protocol.compression import available_compressors, get_compressor
from greencql.protocol.constants import ConsistencyLevel
from greencql.protocol.frames import FrameCodec
from greencql.protocol.handshake import (
    DEFAULT_COMPRESSION_PREFERENCE,
    ClientHandshake,
    EnableCompression,
    HandshakeDone,
    RetryWithVersion,
    SendRequest,
    StartSegments,
)
from greencql.protocol.messages import (
    ErrorResponse,
    Event,
    Options,
    Query,
    QueryParameters,
    Request,
    Response,
    SetKeyspaceResult,
    decode_response,
    encode_request,
    request_flags,
)
from greencql.protocol.rows import ResultMetadata
from greencql.protocol.streams import MAX_STREAM_IDS, StreamIdAllocator
from greencql.protocol.types import DEFAULT_VALUE_TYPES

__all__ = [
    "Connection",
    "ConnectionState",
    "ResponseCallback",
    "EventCallback",
    "CloseCallback",
]

_log = logging.getLogger("greencql.pool")

#: callback(response message or exception instance); runs on the reader greenlet
ResponseCallback = Callable[[Any], object]
#: on_event(event message); runs on the reader greenlet
EventCallback = Callable[[Event], object]
#: on_close(connection); runs once, from whoever closed it; must not block
CloseCallback = Callable[["Connection"], object]

# States as small ints: compared on every request.
_OPEN = 1
_CLOSING = 2
_DEFUNCT = 3
_CLOSED = 4
_FORKED = 5


class ConnectionState:
    """Names of the states (``Connection.state``)."""

    OPEN = "OPEN"
    CLOSING = "CLOSING"
    DEFUNCT = "DEFUNCT"
    CLOSED = "CLOSED"
    FORKED = "FORKED"


_STATE_NAMES = {
    _OPEN: ConnectionState.OPEN,
    _CLOSING: ConnectionState.CLOSING,
    _DEFUNCT: ConnectionState.DEFUNCT,
    _CLOSED: ConnectionState.CLOSED,
    _FORKED: ConnectionState.FORKED,
}

_STOP = object()  # writer sentinel
_FORKED_REASON = "created in another process"
_HANDSHAKE_READ = 64 * 1024
#: bytes of one unfinished frame read before the reader gives the hub a turn (about 1 ms)
_YIELD_EVERY = 1 << 20
# CQL's unquoted identifier (literals.cql_quote_identifier's rule): a letter first
_PLAIN_KEYSPACE = re.compile(r"^[a-z][a-z0-9_]*$")


class _NoLock:
    """The lock of green hubs: their bookkeeping sections never yield, so none is needed."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        return None


_NO_LOCK = _NoLock()


def _quote_keyspace(name: str) -> str:
    """The keyspace ``name`` as one CQL identifier: bare when lower-case and simple, else
    double-quoted with its quotes doubled. A name that already starts and ends with a quote
    is a name with quotes in it, as ``Session.set_keyspace`` (and cassandra-driver) read it:
    passing it through unquoted let ``"a"; ...; "b"`` put more CQL after USE, and made this
    connection's keyspace differ from the session's."""
    if _PLAIN_KEYSPACE.match(name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _compression_preference(setting: str | None) -> tuple[str, ...]:
    if setting is None:
        return ()
    if setting == "auto":
        have = available_compressors()
        return tuple(name for name in DEFAULT_COMPRESSION_PREFERENCE if name in have)
    get_compressor(setting)  # a clear error now if the library is missing
    return (setting,)


class Connection:
    """One socket to one host, multiplexing up to ``max_streams`` requests.

    Make one with :meth:`connect`. ``send`` and ``send_async`` may be called from any greenlet
    of the hub that created the connection (any thread on the thread hub).
    """

    # Attributes read on every request are plain slots, bound once.
    __slots__ = (
        "__weakref__",
        "_call_later",
        "_check_owner",
        "_closed_event",
        "_codec",
        "_direct",
        "_dispatching",
        "_drained",
        "_hb_pending",
        "_hb_stream",
        "_hb_timer",
        "_hub",
        "_last_read",
        "_lock",
        "_monotonic",
        "_on_close",
        "_on_event",
        "_orphan_limit",
        "_owner",
        "_owner_now",
        "_pending",
        "_put",
        "_queue",
        "_reader",
        "_reason",
        "_request_timeout",
        "_sock",
        "_state",
        "_stream_waiters",
        "_streams",
        "_wait_for_stream",
        "_was_defunct",
        "_writer",
        "_writing",
        "address",
        "compression",
        "endpoint",
        "handshake",
        "host",
        "keyspace",
        "options",
        "orphans_exhausted",
        "port",
        "version",
    )

    def __init__(
        self,
        hub: Hub,
        sock: Any,
        codec: FrameCodec,
        host: str,
        port: int,
        options: ConnectionOptions,
        done: HandshakeDone,
        on_event: EventCallback | None = None,
        on_close: CloseCallback | None = None,
    ) -> None:
        """Internal: use :meth:`connect`. Takes over a socket whose handshake is done."""
        self._hub = hub
        self._sock = sock
        self._codec = codec
        self.host = host
        self.port = port
        #: "host:port", the name every error of this connection carries
        self.endpoint = f"{host}:{port}"
        self.address = (host, port)
        self.options = options
        self.version: int = done.version
        self.compression: str | None = done.compression
        self.handshake = done
        self.keyspace: str | None = None
        self._on_event = on_event
        self._on_close = on_close
        # The heartbeat has a stream id of its own, so it can be sent when every request id
        # is taken (a hung node orphans them all, and an OPTIONS is what declares it dead):
        # the id just past the requests' range, or the last one when they would have all.
        max_streams = options.max_streams
        if not options.heartbeats:
            self._hb_stream: int | None = None
        elif max_streams < MAX_STREAM_IDS:
            self._hb_stream = max_streams
        else:
            max_streams -= 1
            self._hb_stream = max_streams
        self._streams = StreamIdAllocator(max_streams)
        # cassandra-driver's threshold: once 3/4 of the ids wait for answers that may never
        # come, the pool replaces the connection (see orphans_exhausted)
        self._orphan_limit = max(1, max_streams * 3 // 4)
        #: set (for good) once 3/4 of the stream ids are orphaned: the pool replaces it
        self.orphans_exhausted = False
        self._pending: dict[int, tuple[Any, Any, Any]] = {}
        self._stream_waiters: collections.deque[Any] = collections.deque()
        self._wait_for_stream = options.wait_for_stream
        self._request_timeout = options.request_timeout
        self._queue = hub.queue()
        # the hub library's own put_nowait when the adapter wraps one (the same call, one
        # Python frame less per request; the queue is unbounded)
        inner = getattr(self._queue, "_q", None)
        self._put = inner.put_nowait if inner is not None else self._queue.put_nowait
        self._lock: Any = hub.lock() if hub.name == "thread" else _NO_LOCK
        self._call_later = hub.call_later
        self._check_owner = hub.check_owner
        self._owner = hub.owner_token()
        # a hub of the application's own may lack owner_now: owner_token says the same
        self._owner_now = getattr(hub, "owner_now", None) or hub.owner_token
        self._monotonic = hub.monotonic
        self._last_read = hub.monotonic()
        self._state = _OPEN
        self._reason: str | None = None
        self._was_defunct = False
        self._dispatching = False
        self._writing = False
        # direct writes need a write lock on OS threads; green hubs only
        self._direct = hub.name != "thread"
        self._closed_event = hub.event()
        self._drained = hub.event()
        self._hb_timer: Any = None
        self._hb_pending = False
        forksafety.register(self)
        self._reader = hub.spawn(self._read_loop)
        self._writer = hub.spawn(self._write_loop)
        if options.heartbeats:
            self._hb_timer = self._call_later(options.heartbeat_interval, self._heartbeat_check)

    # ------------------------------------------------------------------ connecting

    @classmethod
    def connect(
        cls,
        hub: Hub,
        host: str,
        port: int = 9042,
        options: ConnectionOptions | None = None,
        *,
        on_event: EventCallback | None = None,
        on_close: CloseCallback | None = None,
    ) -> Connection:
        """Open a connection to ``host:port`` and finish its handshake; blocks the calling
        greenlet, at most ``options.connect_timeout`` for everything (TCP, TLS, handshake,
        version downgrades, USE).

        Raises ConnectionException (refused, unreachable, TLS refused, timed out, peer closed),
        AuthenticationFailed (or another ServerException the server answered the handshake
        with), UnsupportedProtocolVersion (no common version), ProtocolError (garbage)."""
        options = options or ConnectionOptions()
        endpoint = f"{host}:{port}"
        deadline = hub.monotonic() + options.connect_timeout
        handshake = ClientHandshake(
            options.first_version,
            min_version=options.lowest_version,
            compression=_compression_preference(options.compression),
            authenticator=(
                options.auth_provider.new_authenticator(host) if options.auth_provider else None
            ),
            driver_name=options.driver_name,
            driver_version=options.driver_version,
            startup_options=options.startup_options,
        )
        while True:
            sock = _open_socket(hub, host, port, options, deadline)
            codec = FrameCodec("client", handshake.version, max_body_length=options.max_frame_body)
            guard = forksafety.guard_socket(sock)  # a fork mid-handshake: cut off in the child
            try:
                outcome = _run_handshake(hub, sock, codec, handshake, deadline, endpoint,
                                         tls=options.ssl_context is not None)
            except BaseException:
                _close_quietly(sock)
                raise
            finally:
                forksafety.unregister(guard)
            if isinstance(outcome, RetryWithVersion):
                _close_quietly(sock)
                _log.debug(
                    "%s refused v%d, retrying at v%d", endpoint, handshake.version, outcome.version
                )
                handshake = handshake.retry()
                continue
            break
        if codec.negotiating:
            codec.finish_negotiation()
        conn = cls(hub, sock, codec, host, port, options, outcome, on_event, on_close)
        if options.keyspace:
            try:
                remaining = max(0.001, deadline - hub.monotonic())
                conn.set_keyspace(options.keyspace, timeout=remaining)
            except BaseException:
                conn.close(grace=0)
                raise
        return conn

    # ------------------------------------------------------------------ public state

    @property
    def state(self) -> str:
        """OPEN, CLOSING, DEFUNCT, CLOSED or FORKED (see the module docstring)."""
        return _STATE_NAMES[self._state]

    @property
    def is_open(self) -> bool:
        """True while new requests are accepted."""
        return self._state == _OPEN

    @property
    def is_defunct(self) -> bool:
        """True once the connection died of an error (not an orderly close)."""
        return self._was_defunct

    @property
    def closed_reason(self) -> str | None:
        """Why the connection left OPEN (None while open)."""
        return self._reason

    @property
    def in_flight(self) -> int:
        """Requests sent (or queued) and not yet answered, failed or timed out."""
        return len(self._pending)

    @property
    def orphaned(self) -> int:
        """Stream ids reserved by timed-out requests whose late response has not come."""
        return self._streams.orphaned

    @property
    def available_streams(self) -> int:
        return self._streams.available

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Wait until the connection is CLOSED (or FORKED); False on timeout."""
        return self._closed_event.wait(timeout)

    # ------------------------------------------------------------------ requests

    def send(
        self,
        message: Request,
        *,
        result_metadata: ResultMetadata | None = None,
        timeout: float | None = None,
    ) -> Response:
        """Send ``message`` and park the calling greenlet until its response.

        Returns the response message, an :class:`ErrorResponse` included (the cluster layer
        maps it with ``to_exception()`` and decides on retries). ``result_metadata``: the
        prepared statement's columns, for a ROWS answer sent without metadata. ``timeout``:
        seconds (None: ``options.request_timeout``), counted from the call, a wait for a free
        stream id included.

        Raises OperationTimedOut (naming the host and the time waited; the stream id stays
        reserved until the late answer), ConnectionShutdown (closed, defunct, forked),
        ConnectionBusy (no free stream id and ``wait_for_stream`` off), ProtocolError (the
        response body does not decode), UnsupportedOperation (the version cannot express the
        message), HubError (used from another thread's hub).
        """
        future = self._hub.future()
        callback = future.set_result
        stream, body, flags, timeout = self._reserve(message, callback, result_metadata, timeout)
        if stream is None:
            stream = self._wait_stream(callback, result_metadata, timeout)
        if self._direct and not self._writing and len(self._pending) == 1:
            self._write_now((stream, message.opcode, body, flags))
        else:
            self._put((stream, message.opcode, body, flags))
        if self._state > _CLOSING:
            self._fail_late(stream, callback)  # closed meanwhile (thread hub)
        try:
            response = future.result()
        except BaseException:
            # GreenletExit, an application's gevent.Timeout, KeyboardInterrupt: the answer may
            # still come, so the id stays reserved until it does.
            self._abandon(stream, callback)
            raise
        if isinstance(response, Exception):
            raise response
        return response  # type: ignore[no-any-return]

    def send_async(
        self,
        message: Request,
        callback: ResponseCallback,
        *,
        result_metadata: ResultMetadata | None = None,
        timeout: float | None = None,
    ) -> int:
        """Send ``message``; ``callback(response_or_exception)`` runs exactly once, on the
        reader greenlet (the timer wheel on timeout; the closer on shutdown). It must not
        block. Returns the stream id used.

        Raises (to the caller, not the callback) ConnectionShutdown when the connection is not
        open, ConnectionBusy when no stream id is free (never waits), and encoding errors.
        The callback gets the response message (ErrorResponse included), OperationTimedOut,
        ConnectionShutdown or a ProtocolError.
        """
        stream, body, flags, _ = self._reserve(message, callback, result_metadata, timeout)
        if stream is None:
            raise ConnectionBusy(
                f"{self.endpoint}: all {self._streams.max_streams} stream ids are in use",
                self.endpoint,
            )
        self._put((stream, message.opcode, body, flags))
        if self._state > _CLOSING:
            self._fail_late(stream, callback)
        return stream

    def send_owned(
        self,
        message: Request,
        callback: ResponseCallback,
        result_metadata: ResultMetadata | None = None,
        direct: bool = False,
    ) -> int:
        """``send_async`` for a caller that owns the request's deadline (the session's
        ResponseFuture): the connection arms no timer of its own. When the caller gives up
        it calls :meth:`orphan` with the returned stream id and the same ``callback`` object,
        and the id stays reserved until the late answer (or the connection's end).

        ``direct``: the caller is the requesting greenlet itself, never a callback (a reader
        or the timer wheel must not wait in ``sendall``); a lone request is then written at
        once instead of through the writer greenlet (see the module docstring's shortcut).
        Raises as ``send_async`` does; the callback may already have run (a failed direct
        write) when this returns."""
        if self._state != _OPEN:
            raise self._shutdown_error()
        owner = self._owner
        if self._owner_now() is not owner:
            self._check_owner(owner, "this connection")
        body = encode_request(message, self.version)
        flags = request_flags(message) if message.tracing or message.custom_payload else 0
        pending = self._pending
        if self._direct:  # a green hub: bookkeeping never switches, no lock
            stream = self._streams.acquire()
            if stream is not None:
                pending[stream] = (callback, result_metadata, None)
        else:
            with self._lock:
                stream = self._streams.acquire()
                if stream is not None:
                    pending[stream] = (callback, result_metadata, None)
        if stream is None:
            raise ConnectionBusy(
                f"{self.endpoint}: all {self._streams.max_streams} stream ids are in use",
                self.endpoint,
            )
        if direct and self._direct and not self._writing and len(pending) == 1:
            self._write_now((stream, message.opcode, body, flags))
        else:
            self._put((stream, message.opcode, body, flags))
        if self._state > _CLOSING:
            self._fail_late(stream, callback)
        return stream

    def orphan(self, stream: int, callback: ResponseCallback) -> bool:
        """The request on ``stream`` sent with ``callback`` is given up by its owner (its
        deadline passed, or another execution answered first): its callback will not run,
        and its id stays reserved until its late answer arrives (then freed, the answer
        dropped unread) or the connection closes. False if it was already answered or
        failed. Never blocks (runs on the timer wheel)."""
        with self._lock:
            entry = self._pending.get(stream)
            if entry is None or entry[0] is not callback:
                return False
            del self._pending[stream]
            if self._state in (_OPEN, _CLOSING):
                self._streams.orphan(stream)
                if self._streams.orphaned >= self._orphan_limit:
                    self.orphans_exhausted = True
        if entry[2] is not None:
            entry[2].cancel()
        if self._state == _CLOSING and not self._pending:
            self._drained.set()
        return True

    def set_keyspace(self, keyspace: str, timeout: float | None = None) -> None:
        """USE ``keyspace`` on this connection (raises the server's error, e.g.
        InvalidRequest for an unknown keyspace)."""
        query = Query(f"USE {_quote_keyspace(keyspace)}", QueryParameters(ConsistencyLevel.ONE))
        response = self.send(query, timeout=timeout)
        if isinstance(response, ErrorResponse):
            raise response.to_exception()
        if isinstance(response, SetKeyspaceResult):
            self.keyspace = response.keyspace
        else:
            self.keyspace = keyspace

    # ------------------------------------------------------------------ internals: requests

    def _reserve(
        self,
        message: Request,
        callback: ResponseCallback,
        result_metadata: ResultMetadata | None,
        timeout: float | None,
    ) -> tuple[int | None, bytes, int, float | None]:
        """Check the connection is usable here, encode ``message`` and reserve a stream id with
        its pending entry and timer. Returns (stream id or None when none is free, body, header
        flags, the timeout resolved against the options); shared by send and send_async."""
        if self._state != _OPEN:
            raise self._shutdown_error()
        self._check_owner(self._owner, "this connection")
        body = encode_request(message, self.version)
        flags = request_flags(message) if message.tracing or message.custom_payload else 0
        if timeout is None:
            timeout = self._request_timeout
        with self._lock:
            stream = self._streams.acquire()
            if stream is not None:
                self._pending[stream] = (
                    callback,
                    result_metadata,
                    self._call_later(timeout, self._on_timeout, stream, callback, timeout)
                    if timeout is not None
                    else None,
                )
        return stream, body, flags, timeout

    def _wait_stream(self, callback: Any, result_metadata: Any, timeout: float | None) -> int:
        """Wait FIFO for a stream id handed over by the reader, then register the request
        with the time left of ``timeout``."""
        if not self._wait_for_stream:
            raise ConnectionBusy(
                f"{self.endpoint}: all {self._streams.max_streams} stream ids are in use",
                self.endpoint,
            )
        start = self._monotonic()
        waiter = self._hub.future()
        self._stream_waiters.append(waiter)
        # Re-check: an id may have been released between acquire() and append().
        with self._lock:
            stream = self._streams.acquire()
        if stream is not None:
            if not waiter.set_exception(_Cancelled()):
                self._release(waiter.result(0))  # handed one meanwhile: give it back
        else:
            try:
                stream = waiter.result(timeout)
            except OperationTimedOut:
                if waiter.set_exception(_Cancelled()):
                    raise OperationTimedOut(
                        f"{self.endpoint}: no free stream id within {timeout} s "
                        f"({self._streams.max_streams} in use)",
                        self.endpoint,
                        timeout,
                    ) from None
                stream = waiter.result(0)
            except BaseException:
                if not waiter.set_exception(_Cancelled()):
                    try:
                        got = waiter.result(0)
                    except BaseException:
                        got = None
                    if isinstance(got, int):
                        self._release(got)
                raise
        if timeout is not None:
            timeout = max(0.0, timeout - (self._monotonic() - start))
        with self._lock:
            self._pending[stream] = (
                callback,
                result_metadata,
                self._call_later(timeout, self._on_timeout, stream, callback, timeout)
                if timeout is not None
                else None,
            )
        return stream

    def _fail_late(self, stream: int, callback: Any) -> None:
        with self._lock:
            entry = self._pending.get(stream)
            if entry is None or entry[0] is not callback:
                return
            del self._pending[stream]
        if entry[2] is not None:
            entry[2].cancel()
        _call(callback, self._shutdown_error())

    def _release(self, stream: int) -> None:
        """Free ``stream``, or hand it to the longest waiting sender."""
        waiters = self._stream_waiters
        while waiters:
            if waiters.popleft().set_result(stream):
                return
        with self._lock:
            self._streams.release(stream)

    def _on_timeout(self, stream: int, callback: Any, timeout: float) -> None:
        # on the timer wheel
        with self._lock:
            entry = self._pending.get(stream)
            if entry is None or entry[0] is not callback:
                return  # answered (and maybe reused) meanwhile
            del self._pending[stream]
            if stream != self._hb_stream:
                self._streams.orphan(stream)
                if self._streams.orphaned >= self._orphan_limit:
                    self.orphans_exhausted = True
        if self._state == _CLOSING and not self._pending:
            self._drained.set()
        _call(
            callback,
            OperationTimedOut(
                f"{self.endpoint}: no response within {timeout} s (stream {stream}; "
                "the request may still have been executed)",
                self.endpoint,
                timeout,
            ),
        )

    def _abandon(self, stream: int, callback: Any) -> None:
        with self._lock:
            entry = self._pending.get(stream)
            if entry is None or entry[0] is not callback:
                return
            del self._pending[stream]
            if self._state in (_OPEN, _CLOSING):
                self._streams.orphan(stream)
                if self._streams.orphaned >= self._orphan_limit:
                    self.orphans_exhausted = True
        if entry[2] is not None:
            entry[2].cancel()

    def _shutdown_error(self) -> ConnectionShutdown:
        state = self._state
        if state == _FORKED:
            why = _FORKED_REASON
        elif state == _CLOSING:
            why = "closing"
        else:
            why = self._reason or "closed"
        return ConnectionShutdown(f"connection to {self.endpoint} is {why}", self.endpoint)

    # ------------------------------------------------------------------ reader and writer

    def _read_loop(self) -> None:
        # Everything used per read or per frame is bound to a local once, here.
        sock = self._sock
        feed = self._codec.feed
        pending = self._pending
        pop = pending.pop
        streams = self._streams
        release = streams.release
        waiters = self._stream_waiters
        hb_stream = self._hb_stream
        lock = self._lock
        # green hubs: no lock at all (not even the no-op context manager's two calls)
        locked = lock is not _NO_LOCK
        monotonic = self._monotonic
        version = self.version
        decode = decode_response
        if self.options.value_types != DEFAULT_VALUE_TYPES:  # chosen once per connection
            decode = functools.partial(decode_response, value_types=self.options.value_types)
        # recv(), not recv_into() a buffer of our own: the codec needs bytes anyway (no copy),
        # and a green socket allocates only once data is there, so an idle connection holds
        # no receive buffer at all (a reusable 128 KiB one was most of its memory).
        size = self.options.read_buffer_size
        recv = sock.recv
        # a green recv() with data waiting returns without yielding: reading a frame of many
        # MB would hold the hub for all of it. Inside a frame, the others get a turn every
        # _YIELD_EVERY bytes (hubs without idle(): no pause).
        idle = getattr(self._hub, "idle", None)
        unyielded = 0
        error: BaseException | None = None
        reason = "defunct: closed by the server (end of stream)"
        try:
            while True:
                data = recv(size)
                if not data:
                    break
                self._last_read = monotonic()
                frames = feed(data)
                if not frames:
                    unyielded += len(data)
                    if unyielded >= _YIELD_EVERY and idle is not None:
                        unyielded = 0
                        idle()
                    continue
                # Bookkeeping first, for every frame of the read (ids released or handed
                # over, timers cancelled), then decoding and callbacks: on the thread hub
                # only the first part holds the lock.
                done = []
                add = done.append
                if locked:
                    lock.acquire()
                try:
                    for frame in frames:
                        stream = frame[2]
                        entry = pop(stream, None)
                        if entry is None:
                            if stream >= 0 and streams.is_orphaned(stream):
                                release(stream)  # late answer: id free, answer dropped
                            elif stream < 0:
                                add((None, None, frame))
                            continue
                        callback, md, timer = entry
                        add((callback, md, frame))
                        if timer is not None:
                            timer.cancel()
                        if stream == hb_stream:
                            continue  # the heartbeat's own id: not the allocator's
                        if not waiters:
                            release(stream)
                        else:
                            add((stream, None, None))
                finally:
                    if locked:
                        lock.release()
                self._dispatching = True
                for callback, md, frame in done:
                    if frame is None:
                        self._release(callback)  # hand the id to a waiting sender
                        continue
                    try:
                        msg: Any = decode(frame[3], frame[1], frame[4], version, md)
                    except ProtocolError as exc:
                        msg = exc
                    if callback is None:
                        self._dispatch_event(msg)
                    else:
                        try:
                            callback(msg)
                        except Exception:
                            _log.exception("response callback %r failed", callback)
                self._dispatching = False
                # the batch would stay referenced until the next read (an idle connection:
                # for good), and with it every request it answered and their results
                done.clear()
                callback = frame = msg = entry = md = None
                if self._state == _CLOSING and not pending:
                    self._drained.set()
        except ProtocolError as exc:
            error = exc
            reason = f"defunct: the server sent bytes that break the protocol ({exc})"
        except (OSError, EOFError, ValueError) as exc:
            # eventlet raises EOFError for a socket closed under a wait; an SSL socket that
            # was shut down raises ValueError
            error = exc
            reason = f"defunct: socket error ({exc or type(exc).__name__})"
        except BaseException:  # killed (GreenletExit / TaskExit): stop, then re-raise
            self._dispatching = False
            if self._state in (_OPEN, _CLOSING):
                self._defunct("closed: reader stopped", None)
            _close_quietly(sock)
            raise
        self._dispatching = False
        if self._state == _FORKED:
            self._finish_forked()
        elif self._state in (_OPEN, _CLOSING):
            if error is None and self._state == _CLOSING:
                reason = "closed"
            self._defunct(reason, error)
        # The reader closes the socket: closing it under a waiting reader does not wake the
        # reader on every hub (eventlet), shutdown() does, and then the reader ends here.
        _close_quietly(sock)

    def _dispatch_event(self, msg: Any) -> None:
        if isinstance(msg, ProtocolError):
            _log.warning("%s: undecodable event: %s", self.endpoint, msg)
            return
        on_event = self._on_event
        if on_event is None:
            return
        try:
            on_event(msg)
        except Exception:
            _log.exception("event callback %r failed", on_event)

    def _write_now(self, item: tuple[Any, ...]) -> None:
        """Green hubs, nothing else in flight: write from the caller's greenlet and spare the
        hop to the writer greenlet (one loop iteration and two switches of a lone request's
        latency). Under load requests queue for the writer, which coalesces them."""
        self._writing = True
        try:
            self._sock.sendall(self._codec.encode_many((item,)))
        except OSError as exc:
            self._defunct(f"defunct: write failed ({exc})", exc)
        except BaseException:
            # killed in mid-sendall: part of a frame may be on the wire, nothing after it
            # could be parsed by the server
            self._defunct("defunct: a write was interrupted", None)
            raise
        finally:
            self._writing = False

    def _write_loop(self) -> None:
        get_batch = self._queue.get_batch
        encode_many = self._codec.encode_many
        sendall = self._sock.sendall
        sleep = self._hub.sleep
        while True:
            try:
                items = get_batch()
            except BaseException:
                return  # killed while idle
            if _STOP in items:
                return
            if self._state not in (_OPEN, _CLOSING):
                return
            while self._writing:  # a caller's direct write yielded in mid-sendall
                sleep(0.0005)
            try:
                self._writing = True
                sendall(encode_many(items))
            except OSError as exc:
                if self._state in (_OPEN, _CLOSING):
                    self._defunct(f"defunct: write failed ({exc})", exc)
                return
            except ProtocolError as exc:
                self._defunct(f"defunct: cannot encode a frame ({exc})", exc)
                return
            finally:
                self._writing = False

    # ------------------------------------------------------------------ heartbeat

    def _heartbeat_check(self) -> None:
        # on the timer wheel: never blocks
        if self._state != _OPEN:
            return
        interval = self.options.heartbeat_interval
        idle = self._monotonic() - self._last_read
        if idle < interval or self._hb_pending:
            self._hb_timer = self._call_later(max(0.0, interval - idle), self._heartbeat_check)
            return
        # its own stream id (never ConnectionBusy): sent even when every request id is
        # orphaned by a node that reads and never answers
        stream = self._hb_stream
        timeout = self.options.heartbeat_timeout
        callback = self._heartbeat_answer
        message = Options()
        body = encode_request(message, self.version)
        with self._lock:
            if stream in self._pending:  # cannot happen while _hb_pending is honest
                return
            self._pending[stream] = (
                callback,
                None,
                self._call_later(timeout, self._on_timeout, stream, callback, timeout),
            )
        self._hb_pending = True
        self._put((stream, message.opcode, body, 0))
        if self._state > _CLOSING:
            self._fail_late(stream, callback)

    def _heartbeat_answer(self, response: Any) -> None:
        self._hb_pending = False
        if isinstance(response, OperationTimedOut):
            self._defunct(
                f"defunct: no answer to a heartbeat within {self.options.heartbeat_timeout} s "
                f"after {self.options.heartbeat_interval} s of silence",
                response,
            )
            return
        if self._state == _OPEN:
            self._hb_timer = self._call_later(
                self.options.heartbeat_interval, self._heartbeat_check
            )

    # ------------------------------------------------------------------ closing

    def close(self, grace: float | None = None) -> None:
        """Orderly close: refuse new requests, let in-flight ones finish within ``grace``
        seconds (default ``options.close_grace``), fail the rest with ConnectionShutdown,
        close the socket and wait (bounded) for the reader and writer to stop."""
        if self._state == _FORKED:
            return
        if self._state == _OPEN:
            self._state = _CLOSING
            self._reason = "closed"
            if grace is None:
                grace = self.options.close_grace
            if grace > 0 and self._pending:
                self._drained.wait(grace)  # set when the last in-flight request ends
            self._shutdown("closed", None)
        self._join()

    def _defunct(self, reason: str, cause: BaseException | None) -> None:
        """The connection cannot be trusted any more: fail everything now."""
        if self._state not in (_OPEN, _CLOSING):
            return
        if cause is not None:
            _log.debug("%s %s", self.endpoint, reason)
        self._state = _DEFUNCT
        self._was_defunct = True
        self._shutdown(reason, cause)

    def _shutdown(self, reason: str, cause: BaseException | None) -> None:
        self._reason = reason
        self._state = _CLOSED
        forksafety.unregister(self)
        if self._hb_timer is not None:
            self._hb_timer.cancel()
        self._put(_STOP)
        sock = self._sock
        try:
            # wakes the reader blocked in recv (it then closes the socket) on every hub
            sock.shutdown(socket.SHUT_RDWR)
        except (OSError, ValueError):
            pass
        if self._reader.ready():
            _close_quietly(sock)
        self._fail_all(reason, cause)
        self._closed_event.set()
        on_close = self._on_close
        if on_close is not None:
            self._on_close = None
            _call(on_close, self)

    def _fail_all(self, reason: str, cause: BaseException | None) -> None:
        self._drained.set()
        with self._lock:
            entries = list(self._pending.values())
            self._pending.clear()
            self._streams.reset()
            waiters = list(self._stream_waiters)
            self._stream_waiters.clear()
        message = f"connection to {self.endpoint} is {reason}"
        for callback, _md, timer in entries:
            if timer is not None:
                timer.cancel()
            exc = ConnectionShutdown(message, self.endpoint)
            exc.__cause__ = cause
            _call(callback, exc)
        for waiter in waiters:
            exc = ConnectionShutdown(message, self.endpoint)
            exc.__cause__ = cause
            waiter.set_exception(exc)

    def _join(self) -> None:
        timeout = max(1.0, self.options.close_grace)
        tasks = [self._writer]
        if not self._dispatching:  # else close() was called from a callback on the reader
            tasks.append(self._reader)
        for task in tasks:
            try:
                if not task.join(timeout):
                    task.kill()
            except Exception:  # joining oneself (close from a callback on the reader)
                pass
        if self._reader.ready():
            _close_quietly(self._sock)

    # ------------------------------------------------------------------ fork

    def _after_fork_in_child(self) -> None:
        """In a forked child (forksafety's hook): never touch the parent's socket again."""
        if self._state in (_CLOSED, _FORKED):
            return
        self._state = _FORKED
        self._reason = _FORKED_REASON
        try:
            forksafety.neutralize_fd(self._sock.fileno())
        except (OSError, ValueError):
            pass

    def _finish_forked(self) -> None:
        # the inherited reader of a forked child saw end-of-file: fail the inherited waiters
        self._put(_STOP)
        self._fail_all(_FORKED_REASON, None)
        self._closed_event.set()

    def __repr__(self) -> str:
        return (
            f"<Connection {self.endpoint} v{self.version} {self.state} "
            f"in_flight={len(self._pending)}>"
        )


class _Cancelled(Exception):
    """Marks a stream-id waiter that gave up (never raised to callers)."""


def _call(fn: Callable[..., object], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:
        _log.exception("callback %r failed", fn)


def _close_quietly(sock: Any) -> None:
    try:
        sock.close()
    except (OSError, ValueError):
        pass


def _open_socket(
    hub: Hub, host: str, port: int, options: ConnectionOptions, deadline: float
) -> Any:
    remaining = deadline - hub.monotonic()
    if remaining <= 0:
        raise ConnectionException(
            f"cannot connect to {host}:{port}: connect timeout "
            f"({options.connect_timeout} s) spent on earlier attempts",
            (host, port),
        )
    sock = hub.connect_tcp(host, port, remaining, options.source_address)
    if options.ssl_context is not None:
        remaining = max(0.001, deadline - hub.monotonic())
        name = expected_server_name(options.server_hostname, host)
        sock = hub.wrap_tls(sock, options.ssl_context, name, remaining)
    return sock


def _run_handshake(
    hub: Hub,
    sock: Any,
    codec: FrameCodec,
    handshake: ClientHandshake,
    deadline: float,
    endpoint: str,
    tls: bool = False,
) -> HandshakeDone | RetryWithVersion:
    """Drive ``handshake`` over ``sock`` in the calling greenlet until done or a version
    retry; every read bounded by ``deadline``. A peer that answers in TLS, or drops a plain
    connection before answering, gets a message that says what that usually means."""
    frames: collections.deque[Any] = collections.deque()
    answered = False
    # a node that requires client TLS resets (or closes) a plain connection unanswered
    plain_hint = "" if tls else " (a node that requires client TLS resets plain connections so)"

    def carry_out(outputs: list[Any]) -> HandshakeDone | RetryWithVersion | None:
        for out in outputs:
            if isinstance(out, SendRequest):
                msg = out.message
                data = codec.encode(
                    0, msg.opcode, encode_request(msg, handshake.version), request_flags(msg)
                )
                sock.sendall(data)
            elif isinstance(out, EnableCompression):
                codec.compressor = get_compressor(out.name)
            elif isinstance(out, StartSegments):
                frames.extend(
                    codec.start_segments(
                        get_compressor(out.compression) if out.compression else None
                    )
                )
            elif isinstance(out, (HandshakeDone, RetryWithVersion)):
                return out
        return None

    try:
        result = carry_out(handshake.start())
        while result is None:
            while not frames:
                remaining = deadline - hub.monotonic()
                if remaining <= 0:
                    raise TimeoutError("timed out")
                sock.settimeout(remaining)
                data = sock.recv(_HANDSHAKE_READ)
                if not data:
                    raise ConnectionException(
                        f"{endpoint} closed the connection during the handshake "
                        f"(protocol v{handshake.version})" + ("" if answered else plain_hint),
                        endpoint,
                    )
                if not answered and _looks_like_tls(data):
                    raise ConnectionException(
                        f"{endpoint} answered in TLS: the node requires client TLS; pass "
                        "ssl_context (an ssl.SSLContext trusting the nodes' CA)",
                        endpoint,
                    )
                answered = True
                frames.extend(codec.feed(data))
            frame = frames.popleft()
            if frame.stream < 0:
                continue  # an event cannot come before REGISTER; ignore it
            msg = decode_response(frame.opcode, frame.flags, frame.body, frame.version)
            result = carry_out(handshake.receive(msg, frame.version))
        sock.settimeout(None)
        return result
    except OSError as exc:  # includes socket timeouts
        what = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        if isinstance(exc, ConnectionResetError) and not answered:
            what += plain_hint
        raise ConnectionException(f"handshake with {endpoint} failed: {what}", endpoint) from exc


def _looks_like_tls(data: bytes) -> bool:
    """A TLS record (alert 0x15 or handshake 0x16, then major version 3) where a CQL response
    header was due (its first byte is 0x83-0x85): the peer speaks TLS, we do not."""
    return len(data) >= 2 and data[0] in (0x15, 0x16) and data[1] == 0x03
