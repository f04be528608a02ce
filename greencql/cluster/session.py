"""Sessions and request execution: what happens between ``session.execute()`` and its rows.

Owns :class:`Session` (execute, execute_async, prepare, set_keyspace, shutdown),
:class:`ResponseFuture` (one request: query plan, retries, speculative executions, UNPREPARED
re-prepare, the client timeout, throttling, callbacks), query traces (:class:`QueryTrace`,
:class:`TraceUnavailable`) and the glue to the session's host pools. It must not parse bytes
(the protocol layer decodes, the connection hands over message objects), must not decide
policies (it asks them), and must not block in a connection's reader greenlet or a timer
callback: anything that has to wait (schema agreement after DDL, re-preparing on all hosts)
is spawned.

Data flow of one request
------------------------

The common request (a PreparedStatement with positional values, the default execution
profile, no per-call options, a request timeout, no throttler, no speculative execution) is
one flat sequence with nothing looked up twice::

    execute(prepared, values)                         caller's greenlet (execute_async
                                                      too, minus the direct write)
      -> _execute_prepared(): fork check (forksafety._pid, a global), the default profile's
         options as resolved for this profile object (Session._fast_options), the
         statement's bind plan (PreparedStatement.bind: inherited options, one encoder per
         marker, the routing key taken as the partition key is encoded), a client timestamp
      -> ResponseFuture(...)._start_fast(): ONE timer on the hub's timer wheel (the
         request's deadline) -> query plan (token-aware: cached replica distances; the
         plan's first host comes out of a list, no generator step) -> HostPool.lend(): the
         least busy open connection -> messages.encode_execute(): the EXECUTE body in one
         call -> connection.send_owned(): a stream id and NO timer of the connection's own;
         from execute() a lone request is written by the caller (no hop to the writer)
      -> result(): while the deadline timer is armed it is the bound; the caller parks on
         the hub future (a switch, no Timeout object)
    connection reader greenlet
      -> _Execution(response): a plain first page of rows (no warnings, payload, trace,
         metadata change) completes the future at once: _complete() cancels the timer and
         wakes the caller; anything else goes to _on_response below
    result() returns the ResultSet (made when asked for, from the page the future holds)

Anything off that path (no connection to lend, a host still connecting, an encoding the
one-call encoder leaves to the generic one) continues on the general path from where it
is. The general path, for every other request::

    execute_async(query, params)                      caller's greenlet
      -> statement normalised (str -> SimpleStatement, %s rendered by literals.bind_params,
         PreparedStatement + params -> BoundStatement); options resolved: statement, then the
         execution profile (consistency, serial, timeout, retry, row factory, speculation)
      -> ResponseFuture created, its deadline armed on the hub's timer wheel
      -> throttler admission (granted at once, queued with a bounded wait, or RequestThrottled)
      -> query plan = profile.load_balancing_policy.make_query_plan(keyspace, statement)
      -> _send_next(): first host of the plan whose pool lends a connection; the message is
         built for the attempt's consistency and handed to the connection (send_owned while
         the future has a deadline, else send_async with the connection's own timeout)
    connection reader greenlet                        (any greenlet / thread)
      -> _Execution(response | exception) -> ResponseFuture._on_response
           rows/void/set_keyspace  -> done (a ResultSet; METADATA_CHANGED updates the prepared
                                      statement's result metadata first)
           schema_change           -> spawned: schema agreement wait + metadata refresh, done
           Unprepared              -> PREPARE on the same connection, then the same request again
           other error             -> policies.retry_decision(): RETRY (same host), RETRY_NEXT_HOST
                                      (next host of the plan), IGNORE (empty result), RETHROW
    pool settled (a connection opened, or the host given up)
      -> when every host of the plan was still connecting (just after connect(), or after a
         fork), the request waited instead of failing: the plan's connecting hosts are
         tried again (NoHostAvailable is for hosts that are down, not for hosts being
         connected to)
    timer wheel
      -> the deadline: done with OperationTimedOut naming the hosts still in flight and the
         time waited
      -> speculative execution (idempotent statements only): another execution on the next host

One deadline per request, owned by the ResponseFuture: its timer completes the future with
OperationTimedOut, and is cancelled when the future completes otherwise (a cancelled timer
forgets the future: a finished request is never kept alive by the wheel). The connection keeps
no timer for requests sent with ``send_owned``: when the future completes while executions
are still in flight (timed out, or speculative executions that lost), it orphans their stream
ids (``Connection.orphan``): each id stays reserved until its late answer arrives or the
connection closes, and a late answer is dropped unread. Requests without a client timeout
(``timeout=None``) and internal sends (PREPARE on other hosts, re-prepare) use ``send_async``
and the connection's own timer.

States of a ResponseFuture
--------------------------

::

    PENDING --admitted--> RUNNING --first result / final error / deadline--> DONE
    PENDING --throttler rejects / deadline--> DONE (RequestThrottled / OperationTimedOut)

While RUNNING it holds one or more executions in flight (several only with speculative
execution). An execution that fails while others are in flight is dropped without failing the
future; the future fails when the last one fails with nothing left to try. DONE is final: the
first completion wins (``_complete`` claims it once, under the future's lock), late responses
are ignored, and their stream ids stay reserved by their connection until answered. On DONE
the throttler slot is released, the timers are cancelled and the executions still in flight
are orphaned, exactly once, before the waiter wakes.

Waiting: ``result(timeout=None)`` is bounded by the request's deadline timer, which completes
the future (it never waits on anything else; the timer's callback completes the future even
if building its message fails). With no timer armed (a page fetched by
``start_fetching_next_page``: its own request holds the timer) it waits the request timeout
plus a margin. ``result(timeout=X)`` waits at most X. It never waits forever while a request
timeout is set. Callbacks (``add_callbacks``) run in the greenlet that completes the future (a
connection's reader or the timer wheel) and must not block.

Locks: the future's lock and the timestamp generator's are plain C locks (``hub.raw_lock``,
``hubs.os_lock``), never held across a switch: on a green hub never contended and free of
Python calls, on the thread hub the lock the sections need.
"""

from __future__ import annotations

import collections
import datetime
import functools
import itertools
import logging
import operator
import threading
import uuid
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from greencql.cluster.failures import connect_advice
from greencql.cluster.host import HostDistance
from greencql.cluster.literals import Encoder, bind_params
from greencql.cluster.policies.retry import RetryDecision, retry_decision
from greencql.cluster.policies.speculative import NoSpeculativeExecutionPolicy
from greencql.cluster.policies.throttling import (
    AdmissionStatus,
    RequestThrottler,
    Ticket,
)
from greencql.cluster.profiles import EXEC_PROFILE_DEFAULT, ExecutionProfile
from greencql.cluster.results import Page, ResultSet
from greencql.cluster.rowfactories import dict_factory
from greencql.cluster.statements import (
    FETCH_SIZE_UNSET,
    BatchStatement,
    BoundStatement,
    PreparedStatement,
    SimpleStatement,
    Statement,
    _check_timeout,
)
from greencql.errors import (
    AuthenticationFailed,
    ConnectionBusy,
    ConnectionException,
    ConnectionShutdown,
    DriverException,
    NoHostAvailable,
    OperationTimedOut,
    QueryExhausted,
    ServerException,
    TraceUnavailable,
    Unprepared,
)
from greencql.pool import forksafety as _forksafety
from greencql.pool.options import DEFAULT_CLOSE_GRACE
from greencql.protocol.constants import ConsistencyLevel, RowsFlag
from greencql.protocol.messages import (
    Batch,
    BatchChild,
    EncodedExecute,
    ErrorResponse,
    Execute,
    Prepare,
    PreparedResult,
    Query,
    QueryParameters,
    RowsResult,
    SchemaChangeResult,
    SetKeyspaceResult,
    encode_execute,
)

if TYPE_CHECKING:
    from greencql.cluster.host import Host

__all__ = [
    "DEFAULT_FETCH_SIZE",
    "DEFAULT_PREPARED_STATEMENT_CACHE_SIZE",
    "DEFAULT_TRACE_WAIT",
    "Session",
    "ResponseFuture",
    "QueryTrace",
    "TraceEvent",
    "TraceUnavailable",
]

_log = logging.getLogger("greencql.cluster.session")

#: rows per page when neither the statement nor the session says (cassandra-driver's default)
DEFAULT_FETCH_SIZE = 5000
#: prepared statements a session remembers by (keyspace, text), least recently prepared out
#: first; prepare() of an evicted text costs one more PREPARE round trip. Large enough for
#: every static statement of an application, small enough that CQL built on the fly (IN lists
#: of varying length) cannot grow it without bound (about 2 KB each: 10 MB at most).
DEFAULT_PREPARED_STATEMENT_CACHE_SIZE = 5000
#: seconds get_query_trace() waits for the server to finish writing a trace (cassandra-driver
#: waits 2 s; traces are written asynchronously after the response)
DEFAULT_TRACE_WAIT = 2.0
# result() waits this much longer than the request timeout: the timeout itself is delivered by
# the timer wheel (up to a tick late, later on a busy hub), and result() must not be the one
# that gives up first, with a vaguer message.
_RESULT_MARGIN = 2.0
# re-prepares of one execution before UNPREPARED is given to the caller: a server that answers
# UNPREPARED right after preparing is broken, and looping would hide it
_MAX_REPREPARES = 2

# the longest a shutdown waits for its pools: one close grace (DEFAULT_CLOSE_GRACE, 2 s) for
# the in-flight requests, the bounded join of each connection's reader and writer, a margin
_SHUTDOWN_BOUND = 2.0 * DEFAULT_CLOSE_GRACE + 3.0

_NOT_SET: Any = object()
# 100 ns intervals between the UUID epoch (1582-10-15) and the Unix epoch
_UUID_EPOCH_100NS = 0x01B21DD213814000



# --------------------------------------------------------------------------------------------
# Throttling: the pure RequestThrottler, driven with hub timers and callbacks
# --------------------------------------------------------------------------------------------


class _Throttle:
    """Admission for a session: callers are queued without blocking any greenlet.

    ``acquire(cb)`` calls ``cb(None)`` once the request may go (maybe before returning), or
    ``cb(RequestThrottled)`` when it is refused; the caller later calls :meth:`release`.
    Waiters are woken by releases and by a timer at the throttler's announced ``until``.

    Admission is a loop, never a recursion: a request admitted from a release may fail at
    once (every host down) and release in turn, admitting the next waiter, and so on through
    the whole queue. Every wake-up and callback therefore goes through one work list that
    the outermost caller drains (``_run``); a nested call only appends to it. Without that,
    a queue of a few hundred waiters met Python's recursion limit during an outage.
    """

    def __init__(self, throttler: RequestThrottler, hub: Any) -> None:
        self._throttler = throttler
        self._hub = hub
        # never held across a switch: plain arithmetic and dict updates only
        self._lock = threading.Lock()
        self._waiting: dict[Ticket, tuple[Callable[[BaseException | None], None], Any]] = {}
        # the work list: (callback, argument) pairs, and whether someone is draining it
        self._todo: collections.deque[tuple[Callable[[Any], None], Any]] = collections.deque()
        self._draining = False
        self._closed: Callable[[], BaseException] | None = None

    def acquire(self, cb: Callable[[BaseException | None], None]) -> Ticket | None:
        with self._lock:
            if self._closed is not None:
                adm = None
            else:
                adm = self._throttler.try_acquire(self._hub.monotonic())
                ticket = self._park(adm, cb)
        if adm is None:
            self._run(cb, self._closed())  # type: ignore[misc]
            return None
        self._finish(adm, cb)
        return ticket

    def _park(self, adm: Any, cb: Callable[[BaseException | None], None]) -> Ticket | None:
        if adm.status is not AdmissionStatus.WAIT:
            return None
        delay = max(0.0, min(adm.until, 1e9) - self._hub.monotonic())
        timer = None
        if adm.until != float("inf"):
            timer = self._hub.call_later(delay, self._signal, adm.ticket)
        self._waiting[adm.ticket] = (cb, timer)
        return adm.ticket  # type: ignore[no-any-return]

    def _finish(self, adm: Any, cb: Callable[[BaseException | None], None]) -> None:
        if adm.wake is not None:
            self._run(self._wake, adm.wake)
        if adm.status is AdmissionStatus.GRANTED:
            self._run(cb, None)
        elif adm.status is AdmissionStatus.REJECTED:
            self._run(cb, adm.error)

    def _run(self, fn: Callable[[Any], None], arg: Any) -> None:
        """Do ``fn(arg)`` now, or after the work already queued when someone (this call
        stack, or another thread) is draining the list: never nested."""
        todo = self._todo
        with self._lock:
            todo.append((fn, arg))
            if self._draining:
                return
            self._draining = True
        while True:
            with self._lock:
                if not todo:
                    self._draining = False
                    return
                fn, arg = todo.popleft()
            try:
                fn(arg)
            except Exception:
                _log.exception("throttler admission callback %r failed", fn)
            except BaseException:
                # killed in a callback: whatever is left is drained by the next caller
                with self._lock:
                    self._draining = False
                raise

    def _signal(self, ticket: Ticket) -> None:
        self._run(self._wake, ticket)

    def _wake(self, ticket: Ticket) -> None:
        with self._lock:
            entry = self._waiting.pop(ticket, None)
            if entry is None:
                return
            cb, timer = entry
            if timer is not None:
                timer.cancel()
            adm = self._throttler.try_acquire(self._hub.monotonic(), ticket)
            self._park(adm, cb)
        self._finish(adm, cb)

    def release(self) -> None:
        with self._lock:
            wake = self._throttler.release()
        if wake is not None:
            self._run(self._wake, wake)

    def cancel(self, ticket: Ticket) -> None:
        with self._lock:
            entry = self._waiting.pop(ticket, None)
            if entry is None:
                return
            if entry[1] is not None:
                entry[1].cancel()
            wake = self._throttler.cancel(ticket)
        if wake is not None:
            self._run(self._wake, wake)

    def close(self, make_error: Callable[[], BaseException]) -> None:
        """The session is shutting down: fail every queued caller now, and every later
        ``acquire``, each with its own ``make_error()``."""
        with self._lock:
            self._closed = make_error
            waiting = list(self._waiting.items())
            self._waiting.clear()
            for ticket, (_cb, timer) in waiting:
                if timer is not None:
                    timer.cancel()
                self._throttler.cancel(ticket)
        for _ticket, (cb, _timer) in waiting:
            self._run(cb, make_error())


# --------------------------------------------------------------------------------------------
# One request
# --------------------------------------------------------------------------------------------


class _FirstPage(tuple):  # type: ignore[type-arg]
    """What a request's hub future holds for a ROWS/VOID answer: the page, not a ResultSet
    (a ResultSet refers to its future; see ResponseFuture._result_set). A 1-tuple, made with
    ``_FirstPage((page,))``: tuple's C constructor, no Python-level __init__ per request."""

    __slots__ = ()

    page = property(operator.itemgetter(0))


class _Execution:
    """One attempt of a request on one connection of one host.

    The execution object itself is the connection's response callback (``__call__``), so
    that the same object identifies the request to :meth:`Connection.orphan`. ``stream`` is
    the stream id of a request sent without a timer of the connection's own (the future owns
    the deadline), until its answer arrives: on completion the future orphans every
    execution still holding one."""

    __slots__ = ("connection", "done", "future", "host", "message", "reprepares", "stream")

    def __init__(self, future: ResponseFuture, host: Host, connection: Any) -> None:
        self.future = future
        self.host = host
        self.connection = connection
        self.message: Any = None
        self.reprepares = 0
        self.done = False
        self.stream: int | None = None

    def send(self, message: Any) -> None:
        self.message = message
        future = self.future
        query = future.query
        # what _result_metadata() says, inlined: this runs per attempt
        md = (query.prepared_statement.result_metadata if type(query) is BoundStatement
              else future._result_metadata())
        if future._deadline is not None:
            # the future's deadline timer bounds the request: no timer on the connection
            self.stream = None
            stream = self.connection.send_owned(message, self, md)
            if not self.done:
                self.stream = stream
            return
        # no client timeout: the connection's own request timeout (its options') applies
        future._session._send(self.connection, message, self, md, None)

    def __call__(self, response: Any) -> None:
        # the connection's callback: the answer, or the error that ended the request here
        self.stream = None  # answered: nothing left to orphan
        future = self.future
        if type(response) is RowsResult and not self.done and not future._completed:
            # The common answer, straight to the waiter: rows, no warnings, no payload, no
            # trace, metadata unchanged, a first page. Everything else takes _on_response.
            try:
                if not (response.warnings or response.custom_payload
                        or response.tracing_id is not None or future._page_of is not None
                        or _int_and(response.metadata.flags, _METADATA_CHANGED)):
                    future.coordinator_host = self.host
                    future._response = response
                    value = _FirstPage((
                        Page.from_response(response, future._row_factory, future._hub),))
                    if future._complete():
                        metrics = future._session.cluster.metrics
                        if metrics is not None:
                            metrics._on_request_done(future._hub.monotonic() - future._started)
                        future._waiter.set_result(value)
                    return
            except Exception as exc:
                _log.exception("request handling failed on %s", self.host)
                future._set_final_exception(exc)
                return
        try:
            future._on_response(self, response)
        except Exception as exc:  # a bug here must fail the request, not hang it
            _log.exception("request handling failed on %s", self.host)
            future._set_final_exception(exc)

    _on_response = __call__

    def __repr__(self) -> str:
        return f"<_Execution on {self.host} stream={self.stream} done={self.done}>"


# the flag of a ROWS answer whose result metadata changed (v5), as a plain int: and-ing the
# IntFlag itself costs three Python calls (enum's __and__, __call__, __new__)
_METADATA_CHANGED = int(RowsFlag.METADATA_CHANGED)
_int_and = int.__and__
# object.__new__: an _Execution made by the request path without its __init__ call
_new_object = object.__new__


class ResponseFuture:
    """The pending result of one request (cassandra-driver's name and methods).

    ``result()`` returns a :class:`~greencql.cluster.results.ResultSet` or raises the typed
    error; ``add_callbacks(callback, errback)`` calls one of them (with the page's rows, as
    cassandra-driver, or the exception) once done; ``start_fetching_next_page()`` pages.
    Usable from any greenlet of the session's hub. Attributes:
    ``query`` (the statement), ``coordinator_host`` (the host that answered),
    ``attempted_hosts``, ``warnings`` (server warnings), ``custom_payload`` (the server's),
    ``is_schema_agreed`` (after DDL), ``timeout``.
    """

    # Immutable defaults live on the class (an instance sets its own on first change): a
    # future is made per request, and each assignment in __init__ costs.
    _retry_num = 0
    _plan: Iterator[Host] | None = None
    _timer: Any = None
    _spec_plan: Any = None
    _spec_timer: Any = None
    _ticket: Ticket | None = None
    _admitted = False
    _released = False
    _completed = False
    coordinator_host: Host | None = None
    warnings: tuple[str, ...] | None = None
    custom_payload: Mapping[str, bytes | None] | None = None
    is_schema_agreed = True
    _response: Any = None
    #: hosts of the plan whose pools were still connecting when they were asked; and, while
    #: the request waits for one of them, the token its wake-up callbacks carry
    _connecting: list[Host] | None = None
    _wait_token: object | None = None
    _result_ref: Any = None  # weakref to the ResultSet handed out (see _result_set)
    _error_origin: Any = None  # traceback of a final error raised inside the driver
    #: set on the futures of later pages: complete with a results.Page, and report tracing
    #: ids to the first page's future
    _page_of: ResponseFuture | None = None

    def __init__(
        self,
        session: Session,
        statement: Any,
        profile: ExecutionProfile,
        timeout: float | None,
        *,
        consistency: ConsistencyLevel,
        serial_consistency: ConsistencyLevel | None,
        fetch_size: int | None,
        paging_state: bytes | None,
        timestamp: int | None,
        custom_payload: Mapping[str, bytes] | None,
        trace: bool,
        message: Any = None,
        host: Host | None = None,
    ) -> None:
        self._session = session
        self._hub = session.hub
        self.query = statement
        self._profile = profile
        self.timeout = timeout
        self._consistency = consistency
        self._serial = serial_consistency
        self._fetch_size = fetch_size
        self._paging_state = paging_state
        self._timestamp = timestamp
        self._custom_payload = dict(custom_payload) if custom_payload else None
        self._trace = trace
        # a fixed message (PREPARE, internal queries) instead of one built from the statement
        self._fixed_message = message
        self._target_host = host
        policy = getattr(statement, "retry_policy", None) or profile.retry_policy
        self._retry_policy = policy
        self._idempotent = bool(getattr(statement, "is_idempotent", False))
        self._executions: list[_Execution] = []
        # a plain OS lock even on green hubs (never held across a switch: on one thread it
        # is never contended, and its methods are C, not a green lock's Python)
        self._lock = session._new_lock()
        self._waiter = self._hub.future()
        self._started = self._hub.monotonic()
        self._deadline = None if timeout is None else self._started + timeout
        self._errors: dict[Any, BaseException] = {}
        self.attempted_hosts: list[Host] = []
        self._tracing_ids: list[uuid.UUID] = []
        self._row_factory: Any = profile.row_factory

    # -- public API --------------------------------------------------------------------------

    def result(self, timeout: float | None = None) -> Any:
        """The result (a ResultSet, or what the request returns), or raise its error.

        ``timeout`` bounds this wait; by default it is the request timeout plus a margin, so a
        caller is never parked forever while a request timeout is set.
        """
        if timeout is None:
            # While the deadline timer is armed it bounds this wait: it completes the future
            # (OperationTimedOut) when the request timeout passes, so the wait needs no timer
            # of its own (a plain switch). Otherwise (a page fetched by
            # start_fetching_next_page, whose own request has the timer) the request timeout
            # plus a margin bounds it.
            if self._timer is None and self.timeout is not None:
                remaining = self._deadline - self._hub.monotonic()  # type: ignore[operator]
                timeout = max(0.0, remaining) + _RESULT_MARGIN
        elif not timeout >= 0:  # 0: do not wait (a done future's result)
            raise ValueError(f"timeout must be >= 0 seconds or None, not {timeout!r}")
        try:
            value = self._waiter.result(timeout)
        except BaseException as exc:
            if not self._waiter.done():
                if isinstance(exc, OperationTimedOut):
                    raise OperationTimedOut(
                        f"gave up waiting for the result after {timeout:.3g}s (request still "
                        f"running on {self._hosts_text()}); pass a longer timeout= to result()",
                        host=self._last_host(),
                        timeout=timeout,
                    ) from exc
                raise  # our wait was interrupted (killed, an application's Timeout)
            failure = exc.with_traceback(self._error_origin)
        else:
            if type(value) is _FirstPage:
                return self._result_set(value)
            return value
        # The request's own error. Raised with the traceback it had when the request failed
        # (None for the usual errors, made and never raised), not with the frames of earlier
        # raises: this frame holds the future, and future -> hub future -> error ->
        # traceback -> frame -> future would be a cycle only the garbage collector frees.
        hub = self._hub
        del self
        if isinstance(failure, NoHostAvailable):
            # Usually raised before the caller ever switched (every host down fails a request
            # at once): yield to the hub once, or a greenlet retrying in a tight loop starves
            # it, and with it the reconnections that would end the outage.
            hub.sleep(0)
        try:
            raise failure
        finally:
            del failure

    def _result_set(self, first: _FirstPage) -> ResultSet:
        """The ResultSet of a completed request, made when asked for: the future keeps the
        page, the ResultSet refers to the future, never both ways (a cycle would keep every
        finished request alive until the garbage collector runs; some deployments disable
        it). The same ResultSet comes back while the caller holds it."""
        ref = self._result_ref
        rs = ref() if ref is not None else None
        if rs is None:
            page = first[0]
            # Session._result_set, inlined (once per request)
            rs = ResultSet(
                page,
                None if page.paging_state is None
                else functools.partial(self._session._fetch_page, self),
                response_future=self,
                row_factory=self._row_factory,
                query=self.query,
            )
            self._result_ref = weakref.ref(rs)
        return rs

    def done(self) -> bool:
        return bool(self._waiter.done())

    def add_callback(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> ResponseFuture:
        """Call ``fn(result, *args, **kwargs)`` on success (at once if already done)."""
        return self.add_callbacks(fn, None, args, kwargs)

    def add_errback(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> ResponseFuture:
        """Call ``fn(exception, *args, **kwargs)`` on failure (at once if already done)."""
        return self.add_callbacks(None, fn, errback_args=args, errback_kwargs=kwargs)

    def add_callbacks(
        self,
        callback: Callable[..., Any] | None,
        errback: Callable[..., Any] | None,
        callback_args: Sequence[Any] = (),
        callback_kwargs: Mapping[str, Any] | None = None,
        errback_args: Sequence[Any] = (),
        errback_kwargs: Mapping[str, Any] | None = None,
    ) -> ResponseFuture:
        """Call ``callback(rows, ...)`` or ``errback(exception, ...)`` once done, from the
        greenlet that completes the request (callbacks must not block).

        As in cassandra-driver, ``rows`` is the current page's rows as the row factory made
        them (a list), or None for a result without rows; :meth:`start_fetching_next_page`
        calls the same callbacks again with the next page's rows. The rows are already
        decoded: nothing in a callback waits on the network. (``result()`` gives the whole
        ResultSet; iterating past its page from inside a callback would wait on the very
        greenlet that delivers the page, up to the request timeout.)"""
        entry = [callback, errback, tuple(callback_args), callback_kwargs or {},
                 tuple(errback_args), errback_kwargs or {}]
        if self._page_callbacks is None:
            self._page_callbacks = []
        self._page_callbacks.append(entry)  # type: ignore[arg-type]
        self._waiter.add_done_callback(functools.partial(_run_page_callback, self, entry))
        return self

    # callbacks given to add_callbacks, run again for each page start_fetching_next_page gets
    _page_callbacks: list[tuple[Any, ...]] | None = None

    def clear_callbacks(self) -> None:
        """Forget the callbacks given so far: they do not run (again)."""
        self._page_callbacks = []

    @property
    def session(self) -> Session:
        return self._session

    @property
    def row_factory(self) -> Any:
        return self._row_factory

    @property
    def default_timeout(self) -> float | None:
        return self.timeout  # type: ignore[no-any-return]

    @property
    def prepared_statement(self) -> Any:
        """The PreparedStatement of a bound statement's request, else None."""
        return getattr(self.query, "prepared_statement", None)

    def start_fetching_next_page(self) -> None:
        """Fetch the next page without waiting; when it arrives, ``result()`` gives it and the
        callbacks of :meth:`add_callbacks` run again with its rows. Raises
        :class:`~greencql.errors.QueryExhausted` when there is no next page
        (cassandra-driver's callback-driven paging)."""
        paging_state = self.paging_state
        if not paging_state:
            raise QueryExhausted("no more pages")
        nxt = self._session._page_future(self, paging_state)
        self._waiter = self._hub.future()
        self._deadline = nxt._deadline
        self._started = nxt._started
        for entry in self._page_callbacks or ():
            self._waiter.add_done_callback(functools.partial(_run_page_callback, self, entry))
        nxt._waiter.add_done_callback(functools.partial(_next_page_done, self, nxt))
        nxt._start()

    @property
    def has_more_pages(self) -> bool:
        response = self._response
        return isinstance(response, RowsResult) and response.paging_state is not None

    @property
    def paging_state(self) -> bytes | None:
        response = self._response
        return response.paging_state if isinstance(response, RowsResult) else None

    def get_query_trace_ids(self) -> list[uuid.UUID]:
        return list(self._tracing_ids)

    def get_query_trace(
        self, max_wait: float | None = None, query_cl: ConsistencyLevel = ConsistencyLevel.ONE
    ) -> QueryTrace | None:
        """The server's trace of this request (executed with ``trace=True``), read from
        system_traces, waiting up to ``max_wait`` seconds (default 2) for it to be complete;
        raises :class:`TraceUnavailable` otherwise. None when the request was not traced."""
        self.result()
        if not self._tracing_ids:
            # as cassandra-driver: None when the request was not traced (or the server sent
            # no trace id)
            return None
        trace = QueryTrace(self._tracing_ids[-1], self._session)
        trace.populate(DEFAULT_TRACE_WAIT if max_wait is None else max_wait, query_cl)
        return trace

    def get_all_query_traces(
        self, max_wait_per: float | None = None, query_cl: ConsistencyLevel = ConsistencyLevel.ONE
    ) -> list[QueryTrace]:
        self.result()
        out = []
        for trace_id in self._tracing_ids:
            trace = QueryTrace(trace_id, self._session)
            trace.populate(DEFAULT_TRACE_WAIT if max_wait_per is None else max_wait_per, query_cl)
            out.append(trace)
        return out

    def __repr__(self) -> str:
        state = "done" if self.done() else "running"
        return (f"<ResponseFuture {state} query={_query_text(self.query)!r} "
                f"hosts={self._hosts_text()}>")

    # -- starting ----------------------------------------------------------------------------

    def _start(self) -> None:
        if self.timeout is not None:
            self._timer = self._hub.call_later(self.timeout, self._on_timeout)
        throttle = self._session._throttle
        if throttle is None:
            self._admitted = True
            self._begin()
            return
        ticket = throttle.acquire(self._on_admission)
        with self._lock:
            if not self._admitted and not self._completed:
                self._ticket = ticket

    def _start_fast(self, make_plan: Any, keyspace: str | None, direct: bool) -> None:
        """_start for the common request (see the module docstring): a request timeout, no
        throttler, no speculative execution, a statement of this session's protocol
        version. One timer, the plan's first host, its pool's least busy connection, the
        EXECUTE encoded in one call, sent without a timer of the connection's own. Whatever
        is not common on the way (no connection to lend, an encoding the fast encoder
        leaves to the generic one) continues on the general path from where it is."""
        self._timer = self._hub.call_later(self.timeout, self._on_timeout)  # type: ignore[arg-type]
        self._admitted = True
        session = self._session
        query = self.query
        plan = make_plan(keyspace, query)
        for host in plan:
            pool = session._pools.get(host)
            inner = getattr(pool, "_pool", None)
            connection = inner.lend() if inner is not None else None
            if connection is None:
                # not the common case: the general path tries this host first, as it would
                self._plan = itertools.chain((host,), plan)
                break
            self._plan = plan
            execution = _new_object(_Execution)
            execution.future = self
            execution.host = host
            execution.connection = connection
            execution.reprepares = 0
            execution.done = False
            execution.stream = None
            self._executions.append(execution)  # nobody else sees this future yet
            self.attempted_hosts.append(host)
            ps = query.prepared_statement
            md = ps.result_metadata
            try:
                message = None
                if (self._custom_payload is None and not self._trace
                        and self._paging_state is None and type(query.values) is list):
                    message = encode_execute(
                        ps.query_id, ps.result_metadata_id, self._consistency, query.values,
                        md is not None and bool(md.columns), self._fetch_size, self._serial,
                        self._timestamp, connection.version,
                    )
                if message is None:
                    message = self._message()
                execution.message = message
                stream = connection.send_owned(message, execution, md, direct)
            except ConnectionException as exc:
                self._on_error(execution, exc.with_traceback(None), request_sent=False)
                return
            except Exception as exc:
                self._drop(execution)
                self._set_final_exception(exc)
                return
            if not execution.done:
                execution.stream = stream
            return
        else:
            self._plan = plan
        if not self._send_next():
            self._fail_no_host()

    def _on_admission(self, error: BaseException | None) -> None:
        if error is not None:
            self._set_final_exception(error)
            return
        with self._lock:
            self._ticket = None
            self._admitted = True
            already_done = self._completed
        if already_done:  # timed out while queued, and admitted in the same breath
            self._release()
            return
        self._begin()

    def _begin(self) -> None:
        session = self._session
        if self._target_host is not None:
            self._plan = iter((self._target_host,))
        else:
            keyspace = getattr(self.query, "keyspace", None) or session.keyspace
            self._plan = self._profile.load_balancing_policy.make_query_plan(
                keyspace, self.query if isinstance(self.query, Statement) else None
            )
        if not self._send_next():
            self._fail_no_host()

    # -- sending -----------------------------------------------------------------------------

    def _send_next(self) -> bool:
        """Start an execution on the next host of the plan that lends a connection; False if
        the plan is exhausted."""
        assert self._plan is not None
        session = self._session
        for host in self._plan:
            if self._completed:
                return True
            connection, error = session._borrow(host)
            if connection is None:
                self._errors[host] = error  # type: ignore[assignment]
                if session._is_connecting(host):
                    if self._connecting is None:
                        self._connecting = []
                    self._connecting.append(host)
                continue
            self._start_execution(host, connection)
            return True
        return self._wait_for_connecting()

    # -- waiting for pools that are still connecting -----------------------------------------

    def _wait_for_connecting(self) -> bool:
        """The plan is exhausted but some of its hosts were still connecting: wait (bounded
        by the request timeout) until one of their pools settles, then try those hosts
        again. False if there is nothing to wait for."""
        hosts, self._connecting = self._connecting, None
        if not hosts or self._completed:
            return False
        token = object()
        with self._lock:
            self._wait_token = token
        for host in hosts:
            self._session._when_settled(
                host, functools.partial(self._connect_settled, token, hosts)
            )
        return True

    def _connect_settled(self, token: object, hosts: list[Host]) -> None:
        with self._lock:
            if self._wait_token is not token or self._completed:
                return
            self._wait_token = None
        self._plan = iter(hosts)
        if not self._send_next() and not self._in_flight():
            self._fail_no_host()

    def _start_execution(self, host: Host, connection: Any) -> None:
        execution = _Execution(self, host, connection)
        with self._lock:
            self._executions.append(execution)
        self.attempted_hosts.append(host)
        try:
            message = self._message()
            execution.send(message)
        except ConnectionException as exc:
            # closed or out of stream ids before anything was written: safe to go elsewhere
            # (its traceback is this frame, which holds the future: dropped, see result())
            self._on_error(execution, exc.with_traceback(None), request_sent=False)
            return
        except Exception as exc:
            # encoding refused (e.g. a feature the negotiated version lacks): final
            self._drop(execution)
            self._set_final_exception(exc)
            return
        self._maybe_speculate(host)

    def _message(self) -> Any:
        if self._fixed_message is not None:
            return self._fixed_message
        return self._session._build_message(self)

    def _result_metadata(self) -> Any:
        query = self.query
        if isinstance(query, BoundStatement):
            return query.prepared_statement.result_metadata
        return None

    def _remaining(self) -> float | None:
        if self._deadline is None:
            return None
        return max(0.001, self._deadline - self._hub.monotonic())

    # -- speculative execution ---------------------------------------------------------------

    def _maybe_speculate(self, host: Host) -> None:
        if not self._idempotent or self._target_host is not None:
            return
        if self._spec_plan is None:
            policy = self._profile.speculative_execution_policy
            keyspace = getattr(self.query, "keyspace", None) or self._session.keyspace
            self._spec_plan = policy.new_plan(keyspace, self.query)
        delay = self._spec_plan.next_execution(host)
        if delay >= 0 and not self._completed:
            self._spec_timer = self._hub.call_later(delay, self._speculate)

    def _speculate(self) -> None:
        if self._completed:
            return
        _log.debug("starting a speculative execution of %r", _query_text(self.query))
        self._send_next()

    # -- responses ---------------------------------------------------------------------------

    def _on_response(self, execution: _Execution, response: Any) -> None:
        if execution.done:
            return
        if self._completed:
            execution.done = True
            return
        if isinstance(response, BaseException):
            sent = not isinstance(response, ConnectionBusy)
            self._on_error(execution, response, request_sent=sent)
            return
        if isinstance(response, ErrorResponse):
            error = response.to_exception()
            if isinstance(error, Unprepared):
                self._reprepare(execution, error)
                return
            self._on_error(execution, error, request_sent=True)
            return
        if isinstance(response, RowsResult):
            # no _drop (a lock section): completing marks and forgets every execution, and
            # if another completion got there first it already has
            self.coordinator_host = execution.host
            self._note_response(response)
            self._on_rows(response)
            return
        self._drop(execution)
        self.coordinator_host = execution.host
        self._note_response(response)
        if isinstance(response, SchemaChangeResult):
            self._session.hub.spawn(self._after_schema_change, response, execution.host)
        elif isinstance(response, SetKeyspaceResult):
            self._session._keyspace_changed(response.keyspace)
            self._set_final_result(self._session._empty_result(self))
        elif isinstance(response, PreparedResult):
            self._set_final_result(response)
        else:
            self._set_final_result(self._session._empty_result(self))

    def _note_response(self, response: Any) -> None:
        self._response = response
        if response.warnings:
            self.warnings = tuple(response.warnings)
            _log.warning(
                "server warning from %s: %s", self.coordinator_host, "; ".join(response.warnings)
            )
        if response.custom_payload:
            self.custom_payload = response.custom_payload
        if response.tracing_id is not None:
            self._tracing_ids.append(response.tracing_id)
            if self._page_of is not None:
                self._page_of._tracing_ids.append(response.tracing_id)

    def _on_rows(self, response: RowsResult) -> None:
        query = self.query
        md = response.metadata
        if isinstance(query, BoundStatement) and _int_and(md.flags, _METADATA_CHANGED):
            ps = query.prepared_statement
            ps.result_metadata = md
            ps.result_metadata_id = md.result_metadata_id
            _log.debug("result metadata of %r changed; updated", ps.query_string)
        self._set_final_result(self._session._make_result(self, response))

    def _after_schema_change(self, response: SchemaChangeResult, host: Host) -> None:
        try:
            self.is_schema_agreed = self._session.cluster._on_schema_change_result(
                response, host, self._deadline
            )
        except Exception as exc:
            _log.warning("after schema change %s: %s", response, exc)
            self.is_schema_agreed = False
        self._set_final_result(self._session._empty_result(self))

    def _on_error(self, execution: _Execution, error: BaseException, request_sent: bool) -> None:
        host = execution.host
        self._errors[host] = error
        self._drop(execution)
        if getattr(execution.connection, "state", None) == "FORKED":
            # a request of the parent process, seen in a forked child: it is the parent's to
            # finish; never retried (nor answered) here
            if isinstance(error, ConnectionShutdown):
                self._set_final_exception(error)
            else:
                self._set_final_exception(ConnectionShutdown(
                    f"request started in another process (forked): {error}", host))
            return
        if isinstance(error, OperationTimedOut):
            # the connection's copy of our own deadline: final, like the timer's
            self._on_timeout()
            return
        if isinstance(error, ConnectionException) and not isinstance(error, ConnectionBusy):
            self._session._connection_failed(host, execution.connection, error)
        consistency = self._consistency
        decision, new_cl = retry_decision(
            self._retry_policy,
            self.query,
            consistency,
            error,
            self._retry_num,
            idempotent=self._idempotent,
            request_sent=request_sent,
        )
        metrics = self._session.cluster.metrics
        if metrics is not None:
            metrics._on_error(error, decision)
        if isinstance(error, ServerException):
            _log.debug("%s from %s: %s (retry %d: %s)", type(error).__name__, host, error,
                       self._retry_num, decision.name)
        if decision is RetryDecision.RETHROW:
            if not self._in_flight():
                self._set_final_exception(error)
            return
        if decision is RetryDecision.IGNORE:
            self._set_final_result(self._session._empty_result(self))
            return
        self._retry_num += 1
        if new_cl is not None:
            self._consistency = ConsistencyLevel(new_cl)
        if decision is RetryDecision.RETRY:
            connection, borrow_error = self._session._borrow(host)
            if connection is not None:
                self._start_execution(host, connection)
                return
            self._errors[host] = borrow_error  # type: ignore[assignment]
        if not self._send_next() and not self._in_flight():
            self._fail_no_host()

    def _reprepare(self, execution: _Execution, error: Unprepared) -> None:
        """UNPREPARED from a host (restarted, or evicted the statement): prepare it there on
        the same connection, then send the request again; the caller never sees it."""
        ps = self._session._prepared_for(execution.message, error, self.query)
        if ps is None or execution.reprepares >= _MAX_REPREPARES:
            self._on_error(execution, error, request_sent=True)
            return
        execution.reprepares += 1
        _log.debug("re-preparing %r on %s", ps.query_string, execution.host)
        session = self._session

        def on_prepared(response: Any) -> None:
            if execution.done or self._completed:
                return
            try:
                if isinstance(response, PreparedResult):
                    session._update_prepared(ps, response)
                    try:
                        execution.send(self._message())
                    except ConnectionException as exc:
                        self._on_error(execution, exc.with_traceback(None), request_sent=False)
                elif isinstance(response, ErrorResponse):
                    self._on_error(execution, response.to_exception(), request_sent=True)
                else:
                    self._on_error(execution, response, request_sent=True)
            except Exception as exc:
                self._drop(execution)
                self._set_final_exception(exc)

        try:
            session._send(
                execution.connection,
                session._prepare_message(ps.query_string, ps.keyspace),
                on_prepared,
                None,
                self._remaining(),
            )
        except ConnectionException as exc:
            self._on_error(execution, exc.with_traceback(None), request_sent=False)

    # -- completion --------------------------------------------------------------------------

    def _drop(self, execution: _Execution) -> None:
        execution.done = True
        with self._lock:
            try:
                self._executions.remove(execution)
            except ValueError:
                pass

    def _in_flight(self) -> bool:
        with self._lock:
            return bool(self._executions)

    def _fail_no_host(self) -> None:
        self._set_final_exception(_no_host_available(self._errors, self.attempted_hosts))

    def _on_timeout(self) -> None:
        # The deadline (on the timer wheel): it must complete the future whatever happens,
        # since result() waits on nothing else.
        if self._completed:
            return
        try:
            self._time_out()
        finally:
            if not self._completed:
                self._set_final_exception(OperationTimedOut(
                    f"Client request timeout after {self.timeout}s", host=self._last_host(),
                    timeout=self.timeout))

    def _time_out(self) -> None:
        waited = self._hub.monotonic() - self._started
        with self._lock:
            ticket = self._ticket
            in_flight = [e.host for e in self._executions]
        if ticket is not None and self._session._throttle is not None:
            self._session._throttle.cancel(ticket)
            message = (
                f"Client request timeout: still queued by the request throttler after "
                f"{waited:.3g}s (timeout={self.timeout}); lower the load or raise the "
                "throttler's limits"
            )
            host = None
        elif self._wait_token is not None and not in_flight:
            host = self._last_host()
            where = ", ".join(str(h) for h in self._errors) or "any host"
            message = (
                f"Client request timeout: still connecting to {where} after {waited:.3g}s "
                f"(timeout={self.timeout}); the request was not sent. Raise timeout= or "
                "connect_timeout, or check that the hosts accept connections"
            )
        else:
            host = in_flight[-1] if in_flight else self._last_host()
            where = ", ".join(str(h) for h in in_flight) or self._hosts_text()
            message = (
                f"Client request timeout: no answer from {where} after {waited:.3g}s "
                f"(timeout={self.timeout}); the request may still have been applied. Raise "
                "timeout= (per request or in the execution profile) or check the host's load"
            )
        self._set_final_exception(OperationTimedOut(message, host=host, timeout=self.timeout))

    def _set_final_result(self, value: Any) -> None:
        if self._complete():
            metrics = self._session.cluster.metrics  # None unless metrics_enabled
            if metrics is not None:
                metrics._on_request_done(self._hub.monotonic() - self._started)
            self._waiter.set_result(value)

    def _set_final_exception(self, exc: BaseException) -> None:
        if self._complete():
            if exc.__traceback__ is not None:
                # raised inside the driver (an encoding error, a bug): its origin is worth
                # keeping, and rare enough to be left to the GC
                self._error_origin = exc.__traceback__
            self._waiter.set_exception(exc)

    def _complete(self) -> bool:
        """Claim completion (once), cancel timers and free the throttler slot *before* the
        waiter wakes anyone: a callback that starts the next request finds the slot free."""
        # one lock section for all of it (it used to be three): this runs once per request
        with self._lock:
            if self._completed:
                return False
            self._completed = True
            executions = self._executions
            orphans = None
            for execution in executions:
                execution.done = True
                if execution.stream is not None:
                    # still in flight on a connection that keeps no timer for it (timed
                    # out, or a speculative execution that lost): its id stays reserved
                    # until its late answer, and its callback is forgotten
                    if orphans is None:
                        orphans = []
                    orphans.append(execution)
            executions.clear()
            release = self._admitted and not self._released
            if release:
                self._released = True
        # cancelled and forgotten: a timer holds a bound method of this future, and the
        # future holding the timer would be a cycle outliving the request
        timer = self._timer
        if timer is not None:
            timer.cancel()
            self._timer = None
        timer = self._spec_timer
        if timer is not None:
            timer.cancel()
            self._spec_timer = None
        if orphans is not None:
            for execution in orphans:
                stream, execution.stream = execution.stream, None
                try:
                    execution.connection.orphan(stream, execution)
                except Exception:  # a connection of another kind: its own timer applies
                    _log.debug("could not orphan stream %s on %s", stream, execution.host)
        if release:
            throttle = self._session._throttle
            if throttle is not None:
                throttle.release()
        return True

    def _release(self) -> None:
        with self._lock:
            if not self._admitted or self._released:
                return
            self._released = True
        throttle = self._session._throttle
        if throttle is not None:
            throttle.release()

    # -- helpers -----------------------------------------------------------------------------

    def _last_host(self) -> Host | None:
        return self.attempted_hosts[-1] if self.attempted_hosts else None

    def _hosts_text(self) -> str:
        hosts = list(dict.fromkeys(self.attempted_hosts))
        return ", ".join(str(h) for h in hosts) if hosts else "no host yet"


def _run_page_callback(future: ResponseFuture, entry: list[Any], waiter: Any) -> None:
    """One add_callbacks entry, for one completed page (see ResponseFuture.add_callbacks)."""
    if not any(e is entry for e in future._page_callbacks or ()):
        return  # cleared (clear_callbacks)
    callback, errback, args, kwargs, eargs, ekwargs = entry
    try:
        value = waiter.result(0)
    except BaseException as exc:
        if errback is not None:
            # with the traceback of its origin, not of the frames that held the future
            errback(exc.with_traceback(future._error_origin), *eargs, **ekwargs)
        return
    if type(value) is _FirstPage:
        value = future._result_set(value)
    if callback is not None:
        if isinstance(value, ResultSet):
            value = value.current_rows if value.column_names is not None else None
        callback(value, *args, **kwargs)


def _next_page_done(future: ResponseFuture, nxt: ResponseFuture, waiter: Any) -> None:
    """The page start_fetching_next_page asked for arrived (or failed): it becomes the
    result of ``future``, whose callbacks then run with it."""
    try:
        value = waiter.result(0)
    except BaseException as exc:
        future._response = nxt._response
        future._waiter.set_exception(exc)
        return
    future._response = nxt._response
    future.coordinator_host = nxt.coordinator_host
    future.warnings = nxt.warnings
    future._tracing_ids.extend(nxt._tracing_ids)
    future._result_ref = None  # a new page: result() makes its ResultSet, on this future
    if isinstance(value, ResultSet):
        value.response_future = future
    future._waiter.set_result(value)
def _lock_factory(hub: Any) -> Callable[[], Any]:
    """What makes a ResponseFuture's lock: the hub's plain C lock (see Hub.raw_lock), or
    its ordinary lock for a hub of the application's own that has no raw_lock."""
    return getattr(hub, "raw_lock", None) or hub.lock  # type: ignore[no-any-return]


def run_together(hub: Any, jobs: Sequence[Callable[[], object]]) -> None:
    """Run every job of ``jobs`` (closing pools, sessions) at once, each in its own greenlet,
    and wait for all of them: shutting down N hosts costs the slowest one, not the sum.
    Each job is bounded by itself (a close grace); the wait here is bounded too."""
    if not jobs:
        return
    if len(jobs) == 1:
        _quietly(jobs[0])
        return
    tasks = [hub.spawn(_quietly, job) for job in jobs]
    deadline = hub.monotonic() + _SHUTDOWN_BOUND
    for task in tasks:
        task.join(max(0.0, deadline - hub.monotonic()))


def _quietly(job: Callable[[], object]) -> None:
    try:
        job()
    except Exception as exc:
        _log.debug("%r failed while shutting down: %s", job, exc)


def _query_text(query: Any) -> str:
    """What logs and reprs may show of a statement: CQL with its markers, never bound or
    rendered values (they may be personal data or secrets)."""
    if isinstance(query, BoundStatement):
        return query.prepared_statement.query_string
    if isinstance(query, SimpleStatement):
        return getattr(query, "_template", None) or query.query_string
    if isinstance(query, BatchStatement):
        return f"BATCH of {len(query)} ({query.batch_type.name})"
    return type(query).__name__


def _unable_to_connect_pools(errors: Mapping[Any, BaseException], keyspace: str | None
                             ) -> NoHostAvailable:
    first = next(iter(errors.values()))
    parts = "; ".join(f"{h}: {_describe(e)}" for h, e in errors.items())
    hint = ""
    if isinstance(first, ServerException) and not isinstance(first, AuthenticationFailed) \
            and keyspace:
        hint = f" (does keyspace {keyspace!r} exist?)"
    return NoHostAvailable(
        f"Unable to open a connection to any host{hint}: {parts}{connect_advice(errors)}",
        dict(errors),
    )


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, ServerException):
        return f"{type(error).__name__} ({error.message or text})"
    if isinstance(error, ConnectionException):
        return text
    return f"{type(error).__name__}: {text}"


def _no_host_available(errors: Mapping[Any, BaseException], attempted: Sequence[Any]
                       ) -> NoHostAvailable:
    """A NoHostAvailable whose message leads with the most telling cause."""
    if not errors:
        return NoHostAvailable(
            "No host available: the query plan was empty (every host is down or ignored by "
            "the load-balancing policy; check the cluster and the policy's local_dc)",
            {},
        )
    sent = [h for h in dict.fromkeys(attempted) if h in errors]
    last_host = sent[-1] if sent else list(errors)[-1]
    last = errors[last_host]
    n = len(errors)
    hosts = "host" if n == 1 else f"{n} hosts"
    message = (
        f"All {hosts} tried failed; last: {last_host}: {_describe(last)}"
        if sent
        else f"No connection to any of {hosts}; last: {last_host}: {_describe(last)}"
    )
    return NoHostAvailable(message, dict(errors))


# --------------------------------------------------------------------------------------------
# Traces
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceEvent:
    """One row of system_traces.events, as cassandra-driver's ``TraceEvent``:
    ``description`` (the activity), ``datetime`` (naive UTC, from the event's timeuuid),
    ``source``, ``source_elapsed`` (a timedelta) and ``thread_name``."""

    description: str | None
    datetime: Any
    source: Any
    source_elapsed: datetime.timedelta | None
    thread_name: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TraceEvent:
        event_id = row.get("event_id")
        when = None
        if isinstance(event_id, uuid.UUID) and event_id.version == 1:
            micros = (event_id.time - _UUID_EPOCH_100NS) // 10
            when = datetime.datetime(1970, 1, 1) + datetime.timedelta(microseconds=micros)
        elapsed = row.get("source_elapsed")
        return cls(
            row.get("activity"),
            when,
            row.get("source"),
            None if elapsed is None else datetime.timedelta(microseconds=elapsed),
            row.get("thread"),
        )


@dataclass
class QueryTrace:
    """The trace of one request (system_traces.sessions and events), as cassandra-driver's
    ``QueryTrace``: ``trace_id``, ``request_type``, ``duration`` (a timedelta),
    ``coordinator``, ``parameters``, ``started_at``, ``client`` and ``events`` (in event
    order)."""

    trace_id: uuid.UUID
    _session: Any = field(repr=False, default=None)
    request_type: str | None = None
    duration: datetime.timedelta | None = None
    coordinator: Any = None
    parameters: Mapping[str, str] | None = None
    started_at: Any = None
    client: Any = None
    events: list[TraceEvent] = field(default_factory=list)

    def populate(self, max_wait: float = DEFAULT_TRACE_WAIT,
                 query_cl: ConsistencyLevel = ConsistencyLevel.ONE) -> None:
        """Read the trace, retrying until its session row is complete (duration and
        started_at set) or ``max_wait`` seconds have passed; raise TraceUnavailable then."""
        session = self._session
        hub = session.hub
        deadline = hub.monotonic() + max_wait
        attempt = 0
        while True:
            rows = session._system_query(
                "SELECT * FROM system_traces.sessions WHERE session_id = %s",
                (self.trace_id,),
                query_cl,
            )
            row = rows[0] if rows else None
            if row is not None and row.get("duration") is not None \
                    and row.get("started_at") is not None:
                self.request_type = row.get("request")
                self.duration = datetime.timedelta(microseconds=row["duration"])
                self.coordinator = row.get("coordinator")
                self.parameters = row.get("parameters")
                self.started_at = row.get("started_at")
                self.client = row.get("client")
                events = session._system_query(
                    "SELECT * FROM system_traces.events WHERE session_id = %s",
                    (self.trace_id,),
                    query_cl,
                )
                self.events = [TraceEvent.from_row(e) for e in events]
                return
            remaining = deadline - hub.monotonic()
            if remaining <= 0:
                raise TraceUnavailable(
                    f"trace {self.trace_id} was not available after {max_wait}s (the server "
                    "writes traces asynchronously, and some servers or simulators write none); "
                    "retry get_query_trace() with a longer max_wait"
                )
            attempt += 1
            hub.sleep(min(remaining, 0.003 * 2**attempt))

    def __str__(self) -> str:
        return (f"<QueryTrace {self.trace_id} {self.request_type} duration={self.duration} "
                f"events={len(self.events)}>")


# --------------------------------------------------------------------------------------------
# The session
# --------------------------------------------------------------------------------------------


class Session:
    """Executes requests on a cluster; made by :meth:`Cluster.connect`.

    A session owns one connection pool per host the load-balancing policies do not ignore,
    and optionally a working keyspace (``USE`` on every connection). Methods and attributes
    follow cassandra-driver's ``Session``: ``execute``, ``execute_async``, ``prepare``,
    ``set_keyspace``, ``shutdown``, ``default_fetch_size``, ``default_timeout``,
    ``default_consistency_level``, ``row_factory`` (read-through to the default execution
    profile). ``hub`` is the hub the session runs on.
    """

    def __init__(self, cluster: Any, keyspace: str | None, hub: Any) -> None:
        self.cluster = cluster
        self.hub = hub
        self.keyspace = keyspace
        self.default_fetch_size: int | None = DEFAULT_FETCH_SIZE
        self.encoder = Encoder()
        self.is_shutdown = False
        self._pools: dict[Host, Any] = {}
        self._pools_lock = threading.Lock()
        # (keyspace, text) -> statement, least recently prepared first; bounded, so an
        # application that builds CQL text dynamically does not keep every statement forever
        self._prepared_cache: collections.OrderedDict[
            tuple[str | None, str], PreparedStatement
        ] = collections.OrderedDict()
        self._prepared_cache_lock = threading.Lock()  # never held across a switch
        throttler = cluster.request_throttler
        self._throttle = _Throttle(throttler, hub) if throttler is not None else None
        self._new_lock = _lock_factory(hub)

    # -- configuration -----------------------------------------------------------------------

    @property
    def protocol_version(self) -> int:
        return int(self.cluster.protocol_version)

    def get_execution_profile(self, name: Any) -> ExecutionProfile:
        return self.cluster._profile(name)  # type: ignore[no-any-return]

    def execution_profile_clone_update(self, ep: Any, **kwargs: Any) -> ExecutionProfile:
        """A copy of profile ``ep`` (a name or a profile) with ``kwargs`` changed."""
        profile = ep if isinstance(ep, ExecutionProfile) else self.get_execution_profile(ep)
        return profile.replace(**kwargs)

    @property
    def default_timeout(self) -> float | None:
        return self._default_profile().request_timeout  # type: ignore[no-any-return]

    @default_timeout.setter
    def default_timeout(self, value: float | None) -> None:
        self._set_legacy("default_timeout", request_timeout=value)

    @property
    def default_consistency_level(self) -> ConsistencyLevel:
        return self._default_profile().consistency_level  # type: ignore[no-any-return]

    @default_consistency_level.setter
    def default_consistency_level(self, value: Any) -> None:
        warnings.warn(
            "Setting the consistency level at the session level will be removed in 4.0. "
            "Consider using execution profiles and setting the desired consistency level to "
            "the EXEC_PROFILE_DEFAULT profile.", DeprecationWarning, stacklevel=2)
        self._set_legacy("default_consistency_level", consistency_level=value)

    @property
    def default_serial_consistency_level(self) -> ConsistencyLevel | None:
        return self._default_profile().serial_consistency_level  # type: ignore[no-any-return]

    @default_serial_consistency_level.setter
    def default_serial_consistency_level(self, value: Any) -> None:
        if value is not None and value not in (ConsistencyLevel.SERIAL,
                                               ConsistencyLevel.LOCAL_SERIAL):
            raise ValueError("default_serial_consistency_level must be either "
                             "ConsistencyLevel.SERIAL or ConsistencyLevel.LOCAL_SERIAL.")
        self._set_legacy("default_serial_consistency_level", serial_consistency_level=value)

    @property
    def row_factory(self) -> Any:
        return self._default_profile().row_factory

    @row_factory.setter
    def row_factory(self, value: Any) -> None:
        self._set_legacy("row_factory", row_factory=value)

    # cassandra-driver's legacy session settings: ``session.row_factory = dict_factory`` (and
    # default_timeout, default_consistency_level, default_serial_consistency_level) change
    # this session's copy of the default execution profile. As in cassandra-driver, they are
    # refused when the cluster was given execution profiles (set them in a profile instead).

    #: False: no client-side timestamp on requests (the server's clock decides)
    use_client_timestamp = True
    _session_default_profile: ExecutionProfile | None = None

    def _default_profile(self) -> ExecutionProfile:
        own = self._session_default_profile
        return own if own is not None else self.cluster._profile(EXEC_PROFILE_DEFAULT)

    def _profile_for(self, execution_profile: Any) -> ExecutionProfile:
        if execution_profile is EXEC_PROFILE_DEFAULT:
            own = self._session_default_profile
            if own is not None:
                return own
        return self.cluster._profile(execution_profile)  # type: ignore[no-any-return]

    # -- the rest of cassandra-driver's Session surface ----------------------------------------

    #: listeners called with each new ResponseFuture (add_request_init_listener)
    _request_init_listeners: tuple[tuple[Any, tuple[Any, ...], dict[str, Any]], ...] = ()
    #: default wait of ResultSet/ResponseFuture.get_query_trace() (cassandra-driver's name)
    max_trace_wait = DEFAULT_TRACE_WAIT

    def add_request_init_listener(self, fn: Callable[..., Any], *args: Any,
                                  **kwargs: Any) -> None:
        """Call ``fn(response_future, *args, **kwargs)`` for every request this session
        starts, before it is sent (to add callbacks, measure, log)."""
        self._request_init_listeners = (*self._request_init_listeners, (fn, args, kwargs))

    def remove_request_init_listener(self, fn: Callable[..., Any], *args: Any,
                                     **kwargs: Any) -> None:
        self._request_init_listeners = tuple(
            entry for entry in self._request_init_listeners if entry != (fn, args, kwargs))

    @functools.cached_property
    def session_id(self) -> uuid.UUID:
        """A random id of this session (cassandra-driver's attribute)."""
        return uuid.uuid4()

    @property
    def hosts(self) -> list[Host]:
        """The hosts this session has a pool to."""
        return list(self._pools)

    def get_pools(self) -> list[Any]:
        """This session's host pools."""
        return list(self._pools.values())

    def get_pool_state(self) -> dict[Host, dict[str, Any]]:
        """Per host: ``shutdown``, ``open_count`` and ``in_flights`` (requests in flight per
        connection), as cassandra-driver reports its pools."""
        out: dict[Host, dict[str, Any]] = {}
        for host, pool in list(self._pools.items()):
            inner = getattr(pool, "_pool", pool)
            connections = list(getattr(inner, "connections", ()))
            out[host] = {
                "shutdown": bool(getattr(inner, "is_shutdown", False)),
                "open_count": len(connections),
                "in_flights": [getattr(c, "in_flight", 0) for c in connections],
            }
        return out

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` in a new task of the session's hub (a greenlet, or a
        thread on the thread hub); returns the hub's task (``join()``, ``ready()``)."""
        return self.hub.spawn(fn, *args, **kwargs)

    @property
    def timestamp_generator(self) -> Any:
        return self.cluster.timestamp_generator

    @property
    def prepare_on_all_hosts(self) -> bool:
        return bool(self.cluster.prepare_on_all_hosts)

    def _set_legacy(self, name: str, **change: Any) -> None:
        if getattr(self.cluster, "_explicit_profiles", False):
            raise ValueError(f"Cannot set Session.{name} while using Configuration Profiles. "
                             "Set this in a profile instead.")
        self._session_default_profile = self._default_profile().replace(**change)

    # -- executing ---------------------------------------------------------------------------

    def execute(
        self,
        query: Any,
        parameters: Sequence[Any] | Mapping[str, Any] | None = None,
        timeout: Any = _NOT_SET,
        trace: bool = False,
        custom_payload: Mapping[str, bytes] | None = None,
        execution_profile: Any = EXEC_PROFILE_DEFAULT,
        paging_state: bytes | None = None,
        host: Host | None = None,
        row_factory: Any = None,
    ) -> Any:
        """Run ``query`` (CQL text or a statement) and return its ResultSet; raise its typed
        error. ``parameters`` fill ``%s``/``%(name)s`` markers (text) or bind markers
        (prepared). ``timeout`` overrides the profile's request timeout; ``host`` pins the
        request to one host; ``row_factory`` overrides the profile's (e.g. numpy_columns)."""
        t = type(query)
        if ((t is PreparedStatement or (t is BoundStatement and not parameters))
                and execution_profile is EXEC_PROFILE_DEFAULT and timeout is _NOT_SET
                and not trace and custom_payload is None and paging_state is None
                and host is None and row_factory is None):
            # the common request: written by this greenlet when its connection is idle
            return self._execute_prepared(query, parameters, True).result()
        return self.execute_async(
            query, parameters, trace, custom_payload, timeout, execution_profile,
            paging_state, host, row_factory,
        ).result()

    def execute_async(
        self,
        query: Any,
        parameters: Sequence[Any] | Mapping[str, Any] | None = None,
        trace: bool = False,
        custom_payload: Mapping[str, bytes] | None = None,
        timeout: Any = _NOT_SET,
        execution_profile: Any = EXEC_PROFILE_DEFAULT,
        paging_state: bytes | None = None,
        host: Host | None = None,
        row_factory: Any = None,
    ) -> ResponseFuture:
        """Start ``query`` and return its :class:`ResponseFuture` at once (argument order as
        cassandra-driver's ``execute_async``)."""
        t = type(query)
        if ((t is PreparedStatement or (t is BoundStatement and not parameters))
                and execution_profile is EXEC_PROFILE_DEFAULT and timeout is _NOT_SET
                and not trace and custom_payload is None and paging_state is None
                and host is None and row_factory is None):
            # (never a direct write: execute_async may be called from a callback, which must
            # not wait in sendall)
            return self._execute_prepared(query, parameters, False)
        future = self._create_future(
            query, parameters, trace, custom_payload, timeout, execution_profile,
            paging_state, host,
        )
        if row_factory is not None:
            future._row_factory = row_factory
        if self._request_init_listeners:
            for listener, args, kwargs in self._request_init_listeners:
                listener(future, *args, **kwargs)
        future._start()
        return future

    # -- the common request ------------------------------------------------------------------

    #: the default profile the cached options were resolved from, and those options
    _fast_profile: ExecutionProfile | None = None
    _fast_opts: tuple[Any, ...] = ()

    def _fast_options(self, profile: ExecutionProfile) -> tuple[Any, ...]:
        """The default profile's options as the request path reads them, resolved once per
        profile object (profiles are frozen: setting a legacy option or replacing the
        default profile makes a new object, which is resolved again on its first use)."""
        opts = (
            profile.consistency_level,
            profile.serial_consistency_level,
            profile.request_timeout,
            profile.load_balancing_policy.make_query_plan,
            # speculation needs the general path (a timer per execution)
            type(profile.speculative_execution_policy) is NoSpeculativeExecutionPolicy,
        )
        self._fast_opts = opts
        self._fast_profile = profile
        return opts

    def _execute_prepared(self, query: PreparedStatement | BoundStatement, parameters: Any,
                          direct: bool) -> ResponseFuture:
        """execute_async of a PreparedStatement with its values (or of a BoundStatement)
        with the default profile and no per-call options: _create_future and _start without
        the lookups the previous request already made (see the module docstring).
        ``direct``: the caller is execute(), which waits for the answer in this greenlet."""
        cluster = self.cluster
        if cluster._pid != _forksafety._pid:
            cluster._after_fork()  # a forked child's first request: new pools first
        if self.is_shutdown:
            raise DriverException("the session is shut down; create a new one with connect()")
        profile = self._session_default_profile
        if profile is None:
            profile = cluster._profiles[EXEC_PROFILE_DEFAULT]
        if profile is self._fast_profile:
            opts = self._fast_opts
        else:
            opts = self._fast_options(profile)
        consistency, serial, timeout, make_plan, plain = opts
        statement = query.bind(parameters) if type(query) is PreparedStatement else query
        # the statement's own options, read from its dict (its properties are Python calls;
        # a missing key is the class default, None)
        get = statement.__dict__.get
        own = get("_timeout")
        if own is not None:
            timeout = own
        own = get("consistency_level")
        if own is not None:
            consistency = own
        serial = get("_serial_consistency_level") or serial
        fetch_size = get("fetch_size", FETCH_SIZE_UNSET)
        if fetch_size is FETCH_SIZE_UNSET:
            fetch_size = self.default_fetch_size
        if not fetch_size or fetch_size < 0:
            fetch_size = None
        timestamp = get("_timestamp")
        if timestamp is None and self.use_client_timestamp:
            generator = cluster.timestamp_generator
            if generator is not None:
                timestamp = generator()
        future = ResponseFuture(
            self, statement, profile, timeout, consistency=consistency,
            serial_consistency=serial, fetch_size=fetch_size, paging_state=get("paging_state"),
            timestamp=timestamp, custom_payload=get("custom_payload"),
            trace=bool(get("trace")),
        )
        if self._request_init_listeners:
            for listener, args, kwargs in self._request_init_listeners:
                listener(future, *args, **kwargs)
        if (timeout is None or self._throttle is not None
                or (not plain and future._idempotent)):
            future._start()
        else:
            future._start_fast(make_plan, get("keyspace") or self.keyspace, direct)
        return future

    def _create_future(
        self,
        query: Any,
        parameters: Any,
        trace: bool,
        custom_payload: Mapping[str, bytes] | None,
        timeout: Any,
        execution_profile: Any,
        paging_state: bytes | None,
        host: Host | None,
    ) -> ResponseFuture:
        cluster = self.cluster
        if cluster._pid != _forksafety._pid:
            cluster._after_fork()  # a forked child's first request: new pools first
        if self.is_shutdown:
            raise DriverException("the session is shut down; create a new one with connect()")
        profile = self._profile_for(execution_profile)
        statement = self._statement(query, parameters)
        if timeout is _NOT_SET:
            timeout = statement.timeout
            if timeout is None:
                timeout = profile.request_timeout
        else:
            _check_timeout(timeout)
        consistency = statement.consistency_level
        if consistency is None:
            consistency = profile.consistency_level
        serial = statement.serial_consistency_level or profile.serial_consistency_level
        fetch_size = statement.fetch_size
        if fetch_size is FETCH_SIZE_UNSET:
            fetch_size = self.default_fetch_size
        if isinstance(statement, BatchStatement) or not fetch_size or fetch_size < 0:
            fetch_size = None
        timestamp = statement.timestamp
        if timestamp is None and self.use_client_timestamp:
            generator = self.cluster.timestamp_generator
            if generator is not None:
                timestamp = generator()
        payload = statement.custom_payload
        if custom_payload:
            payload = {**(payload or {}), **custom_payload}
        return ResponseFuture(
            self,
            statement,
            profile,
            timeout,
            consistency=consistency,
            serial_consistency=serial,
            fetch_size=fetch_size,  # type: ignore[arg-type]
            paging_state=paging_state if paging_state is not None else statement.paging_state,
            timestamp=timestamp,
            custom_payload=payload,
            trace=trace or statement.trace,
            host=host,
        )

    def _statement(self, query: Any, parameters: Any) -> Statement:
        if type(query) is BoundStatement and not parameters:
            return query
        if isinstance(query, str):
            query = SimpleStatement(query)
        if isinstance(query, PreparedStatement):
            return query.bind(parameters)
        if isinstance(query, SimpleStatement):
            if parameters:
                rendered = bind_params(query.query_string, parameters, self.encoder)
                copy = SimpleStatement.__new__(SimpleStatement)
                copy.__dict__.update(query.__dict__)
                copy._query_string = rendered
                copy._template = query.query_string  # type: ignore[attr-defined]
                return copy
            return query
        if isinstance(query, (BoundStatement, BatchStatement)):
            if parameters:
                raise ValueError(
                    f"parameters cannot be given with a {type(query).__name__}: bind them "
                    "(prepared.bind(values)) or add them to the batch"
                )
            return query
        raise TypeError(
            "query must be CQL text, a SimpleStatement, PreparedStatement, BoundStatement or "
            f"BatchStatement, not {type(query).__name__}"
        )

    def _build_message(self, future: ResponseFuture) -> Any:
        """The request message of one attempt (consistency may differ between retries)."""
        st = future.query
        version = self.protocol_version
        consistency = future._consistency
        serial = future._serial
        payload = future._custom_payload
        trace = future._trace
        if isinstance(st, BoundStatement):
            ps = st.prepared_statement
            md = ps.result_metadata
            params = QueryParameters(
                consistency,
                st.values,
                skip_metadata=bool(md is not None and md.columns),
                page_size=future._fetch_size,
                paging_state=future._paging_state,
                serial_consistency=serial,
                timestamp=future._timestamp,
            )
            return Execute(
                ps.query_id,
                params,
                ps.result_metadata_id if version >= 5 else None,
                custom_payload=payload,
                tracing=trace,
            )
        if isinstance(st, BatchStatement):
            children = [
                BatchChild("prepared" if e.is_prepared else "query", e.statement, e.values)
                for e in st.entries
            ]
            return Batch(
                st.batch_type,
                children,
                consistency,
                serial,
                future._timestamp,
                st.keyspace if version >= 5 and st.keyspace else None,
                custom_payload=payload,
                tracing=trace,
            )
        params = QueryParameters(
            consistency,
            None,
            page_size=future._fetch_size,
            paging_state=future._paging_state,
            serial_consistency=serial,
            timestamp=future._timestamp,
            keyspace=st.keyspace if version >= 5 and st.keyspace else None,
        )
        return Query(st.query_string, params, custom_payload=payload, tracing=trace)

    # -- results -----------------------------------------------------------------------------

    def _make_result(self, future: ResponseFuture, response: Any) -> Any:
        # the hub: a big page decodes in slices that let other greenlets run (hub.idle)
        page = Page.from_response(response, future._row_factory, self.hub)
        if future._page_of is not None:
            return page
        return _FirstPage((page,))

    def _result_set(self, future: ResponseFuture, page: Page) -> ResultSet:
        fetch = None
        if page.paging_state is not None:
            fetch = functools.partial(self._fetch_page, future)
        return ResultSet(
            page,
            fetch,
            response_future=future,
            row_factory=future._row_factory,
            query=future.query,
        )

    def _empty_result(self, future: ResponseFuture) -> Any:
        # a VOID / SET_KEYSPACE / SCHEMA_CHANGE answer: no rows, but its warnings, custom
        # payload and tracing id belong on the ResultSet (None after an ignored error)
        return self._make_result(future, future._response)

    def _page_future(self, future: ResponseFuture, paging_state: bytes) -> ResponseFuture:
        """A new, not yet started request for the page after ``paging_state`` of
        ``future``'s request: it completes with a whole ResultSet (for
        ResponseFuture.start_fetching_next_page), or with a Page once ``_page_of`` is set
        (for :meth:`_fetch_page`)."""
        nxt = ResponseFuture(
            self,
            future.query,
            future._profile,
            future.timeout,
            consistency=future._consistency,
            serial_consistency=future._serial,
            fetch_size=future._fetch_size,
            paging_state=paging_state,
            timestamp=future._timestamp,
            custom_payload=future._custom_payload,
            trace=future._trace,
            host=future._target_host,
        )
        nxt._row_factory = future._row_factory
        return nxt

    def _fetch_page(self, future: ResponseFuture, paging_state: bytes) -> Page:
        """The page after ``paging_state`` of ``future``'s request, synchronously (what a
        ResultSet calls while iterating)."""
        nxt = self._page_future(future, paging_state)
        nxt._page_of = future
        nxt._start()
        page = nxt.result()
        future._response = nxt._response
        return page  # type: ignore[no-any-return]

    # -- preparing ---------------------------------------------------------------------------

    def prepare(
        self,
        query: str | SimpleStatement,
        custom_payload: Mapping[str, bytes] | None = None,
        keyspace: str | None = None,
    ) -> PreparedStatement:
        """Prepare ``query`` (on one host, then on every other up host) and return its
        :class:`PreparedStatement`; the same text in the same keyspace is prepared once per
        session. ``keyspace`` (v5) prepares against another keyspace than the session's."""
        self.cluster._check_fork()
        if isinstance(query, SimpleStatement):
            keyspace = keyspace or query.keyspace
            query = query.query_string
        if keyspace is not None and self.protocol_version < 5 and keyspace != self.keyspace:
            raise ValueError(
                f"prepare(keyspace=...) needs protocol v5 (negotiated v{self.protocol_version}); "
                "qualify the table names in the query instead"
            )
        effective_ks = keyspace or self.keyspace
        key = (effective_ks, query)
        cache = self._prepared_cache
        with self._prepared_cache_lock:
            cached = cache.get(key)
            if cached is not None:
                cache.move_to_end(key)
                return cached
        message = self._prepare_message(query, keyspace)
        if custom_payload:
            message = Prepare(query, message.keyspace, custom_payload=dict(custom_payload))
        profile = self.cluster._profile(EXEC_PROFILE_DEFAULT)
        future = ResponseFuture(
            self, None, profile, profile.request_timeout,
            consistency=profile.consistency_level, serial_consistency=None, fetch_size=None,
            paging_state=None, timestamp=None, custom_payload=None, trace=False,
            message=message,
        )
        # Idempotent: preparing twice is harmless, so connection errors move to the next host.
        future._idempotent = True
        future._start()
        response = future.result()
        ps = PreparedStatement.from_result(response, query, effective_ks, self.protocol_version)
        ps = self.cluster._register_prepared(ps)
        limit = self.cluster.prepared_statement_cache_size
        with self._prepared_cache_lock:
            if limit > 0:
                cache[key] = ps
                cache.move_to_end(key)
            while len(cache) > limit:
                # evicted: prepare() of the same text prepares again; a statement the
                # application still holds keeps executing (and is re-prepared on UNPREPARED)
                cache.popitem(last=False)
        if self.cluster.prepare_on_all_hosts:
            self._prepare_on_other_hosts(message, future.coordinator_host)
        return ps

    def _prepare_message(self, query: str, keyspace: str | None) -> Prepare:
        if self.protocol_version >= 5 and keyspace:
            return Prepare(query, keyspace)
        return Prepare(query)

    def _prepare_on_other_hosts(self, message: Prepare, done_on: Host | None) -> None:
        """Prepare on every other up host, in parallel, waiting a bounded time: a host that
        misses it answers UNPREPARED later, which costs a round trip, not an error."""
        waiters = []
        for host, _pool in list(self._pools.items()):
            if host == done_on or host.is_up is False:
                continue
            connection, _error = self._borrow(host)
            if connection is None:
                continue
            waiter = self.hub.future()
            self._send(connection, message, waiter.set_result, None, self.cluster.connect_timeout)
            waiters.append((host, waiter))
        deadline = self.hub.monotonic() + self.cluster.connect_timeout
        for host, waiter in waiters:
            try:
                response = waiter.result(max(0.0, deadline - self.hub.monotonic()))
            except OperationTimedOut:
                _log.debug("preparing on %s timed out", host)
                continue
            if not isinstance(response, PreparedResult):
                _log.debug("preparing on %s failed: %s", host, response)

    def _prepared_for(self, message: Any, error: Unprepared, query: Any = None
                      ) -> PreparedStatement | None:
        query_id = getattr(error, "statement_id", None)
        is_execute = isinstance(message, (Execute, EncodedExecute))
        if query_id is None and is_execute:
            query_id = message.query_id
        ps = self.cluster._prepared_statements.get(query_id)
        if ps is None and is_execute:
            ps = self.cluster._prepared_statements.get(message.query_id)
        if ps is None and isinstance(query, BoundStatement) and is_execute:
            # the registry is weak: a statement prepared again after leaving the session's
            # cache may have replaced this one there, and then been dropped
            candidate = query.prepared_statement
            if candidate.query_id == message.query_id:
                ps = candidate
        if ps is None:
            _log.warning(
                "UNPREPARED for unknown statement id %s: cannot re-prepare",
                query_id.hex() if isinstance(query_id, bytes) else query_id,
            )
        return ps  # type: ignore[no-any-return]

    def _update_prepared(self, ps: PreparedStatement, response: PreparedResult) -> None:
        if response.query_id != ps.query_id:
            raise DriverException(
                f"re-preparing {ps.query_string!r} returned another statement id "
                f"({response.query_id.hex()} instead of {ps.query_id.hex()}): the statement "
                "or its keyspace changed meaning; prepare it again"
            )
        if response.result_metadata_id is not None:
            ps.result_metadata = response.result_metadata
            ps.result_metadata_id = response.result_metadata_id

    # -- keyspace ----------------------------------------------------------------------------

    def set_keyspace(self, keyspace: str) -> None:
        """``USE keyspace`` on every connection of this session (and new ones)."""
        from greencql.cluster.literals import cql_quote_identifier

        self.execute(f"USE {cql_quote_identifier(keyspace)}")
        # USE reached one connection; apply it to every other one before returning, so the
        # next request cannot land on a connection still in the old keyspace
        for pool in list(self._pools.values()):
            self._pool_keyspace(pool, keyspace)

    def _keyspace_changed(self, keyspace: str) -> None:
        if keyspace == self.keyspace:
            return
        self.keyspace = keyspace
        with self._prepared_cache_lock:
            self._prepared_cache.clear()
        # runs on a reader greenlet: USE on every other connection happens elsewhere
        for pool in list(self._pools.values()):
            self.hub.spawn(self._pool_keyspace, pool, keyspace)

    def _pool_keyspace(self, pool: Any, keyspace: str) -> None:
        try:
            pool.set_keyspace(keyspace)
        except Exception as exc:
            _log.warning("setting keyspace %r on %s failed: %s", keyspace, pool, exc)

    # -- system queries (control connection, traces) -----------------------------------------

    def _system_query(self, cql: str, parameters: Any, consistency: ConsistencyLevel
                      ) -> list[dict[str, Any]]:
        stmt = SimpleStatement(cql, consistency_level=consistency)
        future = self._create_future(
            stmt, parameters, False, None, _NOT_SET, EXEC_PROFILE_DEFAULT, None, None
        )
        future._row_factory = dict_factory
        future._start()
        return list(future.result())

    # -- pools -------------------------------------------------------------------------------

    def _open_pools(self, wait_for_all: bool = False) -> None:
        """Open a pool to every host some policy does not ignore; wait (bounded by the
        connect timeout) until one (or, with ``wait_for_all``, every) pool is ready."""
        cluster = self.cluster
        hosts = cluster.metadata.all_hosts()
        for host in hosts:
            self._add_pool(host)
        pools = list(self._pools.items())
        if not pools:
            raise NoHostAvailable(
                "No host to connect to: every known host is ignored by the load-balancing "
                "policy (check local_dc / the host filter)", {}
            )
        deadline = self.hub.monotonic() + cluster.connect_timeout
        ready = []
        for host, pool in pools:
            remaining = max(0.0, deadline - self.hub.monotonic())
            if pool.wait_ready(remaining if (wait_for_all or not ready) else 0):
                ready.append(host)
        if not ready:
            errors = {h: p.last_error or ConnectionException("not connected", host=h)
                      for h, p in pools}
            raise _unable_to_connect_pools(errors, self.keyspace)

    def _add_pool(self, host: Host) -> None:
        if self.is_shutdown or self.cluster._distance(host) == HostDistance.IGNORED:
            return
        with self._pools_lock:
            if host in self._pools:
                return
            pool = self.cluster._new_pool(self, host, self.keyspace)
            self._pools[host] = pool
        pool.start()

    def _remove_pool(self, host: Host) -> None:
        with self._pools_lock:
            pool = self._pools.pop(host, None)
        if pool is not None:
            self.hub.spawn(pool.shutdown)

    def _update_pools(self) -> None:
        for host in self.cluster.metadata.all_hosts():
            if self.cluster._distance(host) == HostDistance.IGNORED:
                self._remove_pool(host)
            else:
                self._add_pool(host)

    def _is_connecting(self, host: Host) -> bool:
        pool = self._pools.get(host)
        return pool is not None and bool(pool.is_connecting)

    def _when_settled(self, host: Host, callback: Callable[[], None]) -> None:
        pool = self._pools.get(host)
        if pool is None:
            callback()
        else:
            pool.when_settled(callback)

    def _after_fork(self, hub: Any, reconnect: bool) -> None:
        """A forked child's first use of the cluster (see ``cluster.py``): forget the
        parent's pools (nothing of theirs is closed or written) and, with ``reconnect``,
        open new ones on ``hub``. The throttler starts empty: the parent's requests are not
        this process's. Never switches greenlets."""
        old, self._pools = self._pools, {}
        self._pools_lock = threading.Lock()
        for pool in old.values():
            pool._abandon_after_fork()
        self.hub = hub
        self._new_lock = _lock_factory(hub)
        throttler = self.cluster.request_throttler
        self._throttle = _Throttle(throttler, hub) if throttler is not None else None
        if reconnect and not self.is_shutdown:
            for host in self.cluster._metadata.all_hosts():
                self._add_pool(host)

    def _has_connections(self, host: Host) -> bool:
        pool = self._pools.get(host)
        return pool is not None and bool(pool.has_connections)

    def _host_up_event(self, host: Host) -> None:
        pool = self._pools.get(host)
        if pool is None:
            self._add_pool(host)
        else:
            pool.reconnect_now()

    def _reprepare_on(self, host: Host) -> None:
        """Prepare every known statement on a host that came back (it forgot them); a miss
        only costs an UNPREPARED round trip later, so errors are logged, not raised."""
        statements = list(self.cluster._prepared_statements.values())
        if not statements:
            return
        connection, error = self._borrow(host)
        if connection is None:
            _log.debug("re-preparing on %s: no connection (%s)", host, error)
            return
        waiters = []
        for ps in statements:
            waiter = self.hub.future()
            try:
                self._send(connection, self._prepare_message(ps.query_string, ps.keyspace),
                           waiter.set_result, None, self.cluster.connect_timeout)
            except DriverException as exc:
                _log.debug("re-preparing on %s: %s", host, exc)
                return
            waiters.append(waiter)
        deadline = self.hub.monotonic() + self.cluster.connect_timeout
        for waiter in waiters:
            try:
                waiter.result(max(0.0, deadline - self.hub.monotonic()))
            except OperationTimedOut:
                return

    def _borrow(self, host: Host) -> tuple[Any, BaseException | None]:
        pool = self._pools.get(host)
        if pool is None:
            return None, ConnectionException(
                f"no connection pool for {host} (down, or ignored by the load-balancing "
                "policy)", host=host
            )
        try:
            return pool.borrow(), None
        except DriverException as exc:
            return None, exc

    def _send(
        self,
        connection: Any,
        message: Any,
        callback: Callable[[Any], None],
        result_metadata: Any,
        timeout: float | None,
    ) -> None:
        connection.send_async(message, callback, result_metadata=result_metadata, timeout=timeout)

    def _connection_failed(self, host: Host, connection: Any, error: BaseException) -> None:
        _log.debug("connection to %s failed during a request: %s", host, error)

    def shutdown(self) -> None:
        """Close every pool of this session. Idempotent. In a forked child it closes only
        the child's own connections."""
        if self.is_shutdown:
            return
        self.is_shutdown = True
        self.cluster._check_fork()  # in a child: this session gets no new pools
        if self._throttle is not None:
            # queued callers learn now, not when their request timeout fires
            self._throttle.close(lambda: DriverException(
                "the session was shut down while this request waited for the request "
                "throttler; it was never sent"
            ))
        with self._pools_lock:
            pools = list(self._pools.values())
            self._pools.clear()
        # together: each pool waits out its in-flight requests under the same grace
        run_together(self.hub, [pool.shutdown for pool in pools])
        self.cluster._session_closed(self)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<Session keyspace={self.keyspace!r} hosts={len(self._pools)}>"

