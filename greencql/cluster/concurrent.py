"""Running many statements at once with a bounded number in flight.

Owns :func:`execute_concurrent`, :func:`execute_concurrent_with_args`,
:func:`execute_concurrent_async` and :class:`ExecutionResult`, with cassandra-driver's names,
signatures and results (``cassandra.concurrent``).

How it runs on a hub: the calling greenlet does all the work. It starts requests with
``session.execute_async(statement, parameters, execution_profile=...)`` while fewer than
``concurrency`` are in flight; each response future's callback and errback only drop a
note into a hub queue (callbacks run on the connection's reader greenlet, or thread, and
must not block); the calling greenlet takes the notes, records results and starts the next
statements. No greenlet or thread is spawned, so the thread hub runs one OS thread too, and
the statements iterable is read lazily, one statement per free slot.

Must not: build requests, pick hosts or retry (the session does, per request), or wait
without a bound: each request ends within its own timeout (the session's job); the wait for
the next completion additionally gives up, with ``OperationTimedOut``, well after every
request in flight should have timed out by itself (:func:`_stall_timeout`), which only a lost
callback (a bug) could reach.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import repeat
from queue import Empty
from typing import Any, NamedTuple

from greencql.cluster.profiles import DEFAULT_REQUEST_TIMEOUT, EXEC_PROFILE_DEFAULT
from greencql.cluster.results import ResultSet
from greencql.errors import OperationTimedOut

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ExecutionResult",
    "execute_concurrent",
    "execute_concurrent_with_args",
    "execute_concurrent_async",
]

#: cassandra-driver's default: enough to keep a few connections busy, far below the
#: 32768 stream ids of one v3+ connection
DEFAULT_CONCURRENCY = 100

# The stall guard waits this many times the longest request timeout in flight, plus the
# slack: a request's timeout covers its retries and speculative executions, so a completion
# later than that means its callback was lost, not that the server is slow.
_STALL_FACTOR = 2.0
_STALL_SLACK = 10.0


class ExecutionResult(NamedTuple):
    """The outcome of one statement: ``(True, ResultSet)`` or ``(False, exception)``."""

    success: bool
    result_or_exc: Any


_UNKNOWN = object()


def _profile_timeout(session: Any, execution_profile: Any) -> Any:
    """The request timeout the session applies for ``execution_profile`` (``None``: no
    timeout), or :data:`DEFAULT_REQUEST_TIMEOUT` when the session does not say."""
    get_profile = getattr(session, "get_execution_profile", None)
    if callable(get_profile):
        try:
            return get_profile(execution_profile).request_timeout
        except Exception:
            pass  # unknown profile: execute_async reports it per statement
    timeout = getattr(session, "default_timeout", _UNKNOWN)
    if timeout is _UNKNOWN:
        return DEFAULT_REQUEST_TIMEOUT
    return timeout


def _stall_timeout(request_timeout: float | None) -> float | None:
    """How long to wait for the next completion when the longest request timeout in flight
    is ``request_timeout`` (``None``: some request may wait forever, so may we)."""
    if request_timeout is None:
        return None
    return request_timeout * _STALL_FACTOR + _STALL_SLACK


def _on_success(put: Callable[[Any], None], idx: int, future: Any, value: Any) -> None:
    put((idx, True, value, future))


def _on_error(put: Callable[[Any], None], idx: int, exc: BaseException) -> None:
    put((idx, False, exc, None))


class _Executor:
    """One ``execute_concurrent`` call: issues statements, collects completions."""

    def __init__(
        self,
        session: Any,
        statements_and_parameters: Iterable[Any],
        concurrency: int,
        fail_fast: bool,
        execution_profile: Any,
        window: int,
    ) -> None:
        self._session = session
        self._items = iter(statements_and_parameters)
        self._concurrency = concurrency
        self._fail_fast = fail_fast
        self._profile = execution_profile
        #: issue statement ``idx`` only while ``idx < first_unreported + window``
        self._window = window
        self._queue = session.hub.queue()
        self._put = self._queue.put_nowait
        self._exhausted = False
        self._issued = 0
        self._first_unreported = 0  # the generator form's next index to yield
        self._pending: dict[int, Any] = {}  # idx -> response future, while in flight
        self._done: dict[int, ExecutionResult] = {}
        self._first_error: BaseException | None = None
        self._profile_timeout = _profile_timeout(session, execution_profile)
        self._stall: float | None = 0.0

    # -- issuing -------------------------------------------------------------------------

    def _can_issue(self) -> bool:
        return (
            not self._exhausted
            and len(self._pending) < self._concurrency
            and self._issued < self._first_unreported + self._window
            and not (self._fail_fast and self._first_error is not None)
        )

    def _issue(self) -> None:
        """Start statements while there is room (the iterable's own errors propagate)."""
        while self._can_issue():
            try:
                statement, parameters = next(self._items)
            except StopIteration:
                self._exhausted = True
                return
            idx = self._issued
            self._issued += 1
            try:
                future = self._session.execute_async(
                    statement, parameters, execution_profile=self._profile
                )
            except Exception as exc:  # refused before sending (bad values, no host, ...)
                self._record(idx, ExecutionResult(False, exc))
                continue
            self._note_timeout(statement, future)
            self._pending[idx] = future
            future.add_callbacks(
                partial(_on_success, self._put, idx, future), partial(_on_error, self._put, idx)
            )

    def _note_timeout(self, statement: Any, future: Any) -> None:
        """Widen the stall bound to cover this request's own timeout: the response future's
        ``timeout`` (cassandra-driver's attribute), else the statement's, else the profile's."""
        timeout = getattr(future, "timeout", _UNKNOWN)
        if timeout is _UNKNOWN:
            timeout = getattr(statement, "timeout", None)
            if timeout is None:
                timeout = self._profile_timeout
        stall = self._stall
        if stall is None:
            return
        bound = _stall_timeout(timeout)
        self._stall = None if bound is None else max(stall, bound)

    # -- completing ----------------------------------------------------------------------

    def _record(self, idx: int, result: ExecutionResult) -> None:
        self._done[idx] = result
        if not result.success and self._first_error is None:
            self._first_error = result.result_or_exc

    def _wait_one(self) -> None:
        """Take one completion (waiting for it) and record it."""
        try:
            idx, ok, value, future = self._queue.get(timeout=self._stall)
        except Empty:
            raise OperationTimedOut(
                f"execute_concurrent: none of the {len(self._pending)} requests in flight "
                f"completed within {self._stall:.1f}s, though each should have timed out by "
                "itself before",
                timeout=self._stall,
            ) from None
        self._settle(idx, ok, value, future)
        # Take whatever else completed meanwhile without waiting again.
        for idx, ok, value, future in self._queue.drain():
            self._settle(idx, ok, value, future)

    def _settle(self, idx: int, ok: bool, value: Any, future: Any) -> None:
        if self._pending.pop(idx, None) is None:
            return  # a second completion of the same request: the first one counts
        if ok and not isinstance(value, ResultSet):
            # The callback got the rows (cassandra-driver passes the row factory's list);
            # the ResultSet, with its paging, is the future's result, ready by now.
            try:
                value = future.result()
            except Exception as exc:
                ok, value = False, exc
        self._record(idx, ExecutionResult(ok, value))

    # -- the two forms -------------------------------------------------------------------

    def results_list(self) -> list[ExecutionResult]:
        self._issue()
        while True:
            if self._fail_fast and self._first_error is not None:
                # The requests still in flight are abandoned: they finish (or time out) on
                # their own and their results are dropped, as in cassandra-driver.
                raise self._first_error
            if not self._pending:
                break
            self._wait_one()
            self._issue()
        done = self._done
        return [done[i] for i in range(self._issued)]

    def results_generator(self) -> Iterator[ExecutionResult]:
        """Start the first statements now (as cassandra-driver does), yield lazily."""
        self._issue()
        return self._yield_in_order()

    def _yield_in_order(self) -> Iterator[ExecutionResult]:
        done = self._done
        while True:
            nxt = self._first_unreported
            while nxt not in done:
                if not self._pending:
                    return  # nothing in flight and nothing to issue: all reported
                self._wait_one()
                self._issue()
            result = done.pop(nxt)
            self._first_unreported = nxt + 1
            if self._fail_fast and not result.success:
                raise result.result_or_exc
            self._issue()  # the window moved: keep requests in flight while the caller works
            yield result


def execute_concurrent(
    session: Any,
    statements_and_parameters: Iterable[tuple[Any, Any]],
    concurrency: int = DEFAULT_CONCURRENCY,
    raise_on_first_error: bool = True,
    results_generator: bool = False,
    execution_profile: Any = EXEC_PROFILE_DEFAULT,
) -> list[ExecutionResult] | Iterator[ExecutionResult]:
    """Execute ``(statement, parameters)`` pairs with at most ``concurrency`` in flight.

    Returns one :class:`ExecutionResult` per statement, in the order of the statements:
    ``(True, ResultSet)`` or ``(False, exception)``. The calling greenlet waits (each request
    within its own timeout).

    - ``results_generator=False``: a list, once every statement has completed;
    - ``results_generator=True``: a generator yielding the results in order as they become
      available, with bounded memory: at most ``concurrency`` requests in flight and at most
      ``2 * concurrency`` results held (in flight plus completed ones waiting for an earlier
      one), whatever the number of statements; statements are read from the iterable only
      as slots free up.

    ``raise_on_first_error=True``: no new statement is started once a statement has failed.
    The list form raises the first error to *arrive* at once, abandoning the requests still
    in flight (they finish or time out on their own; their results are dropped). The
    generator form yields the results before the first failed statement in order, then
    raises its error.

    An empty list or tuple of statements returns ``[]`` in both forms, as cassandra-driver.
    """
    if concurrency <= 0:
        raise ValueError("concurrency must be greater than 0")
    if not statements_and_parameters:
        return []
    if results_generator:
        executor = _Executor(
            session,
            statements_and_parameters,
            concurrency,
            raise_on_first_error,
            execution_profile,
            window=2 * concurrency,
        )
        return executor.results_generator()
    executor = _Executor(
        session,
        statements_and_parameters,
        concurrency,
        raise_on_first_error,
        execution_profile,
        window=1 << 62,  # the list holds every result anyway: only in-flight is bounded
    )
    return executor.results_list()


def execute_concurrent_with_args(
    session: Any, statement: Any, parameters: Iterable[Any], *args: Any, **kwargs: Any
) -> list[ExecutionResult] | Iterator[ExecutionResult]:
    """:func:`execute_concurrent` of one ``statement`` with each item of ``parameters``::

        execute_concurrent_with_args(session, insert, [(1, 'a'), (2, 'b')], concurrency=50)
    """
    return execute_concurrent(session, zip(repeat(statement), parameters), *args, **kwargs)


def execute_concurrent_async(
    session: Any,
    statements_and_parameters: Iterable[tuple[Any, Any]],
    concurrency: int = DEFAULT_CONCURRENCY,
    raise_on_first_error: bool = False,
    execution_profile: Any = EXEC_PROFILE_DEFAULT,
) -> Any:
    """:func:`execute_concurrent` (list form) run by a new greenlet; returns a hub future
    whose ``result(timeout)`` is the list (or raises the error). cassandra-driver's
    ``execute_concurrent_async``, whose ``raise_on_first_error`` defaults to False."""
    hub = session.hub
    future = hub.future()

    def run() -> None:
        try:
            future.set_result(
                execute_concurrent(
                    session,
                    statements_and_parameters,
                    concurrency,
                    raise_on_first_error,
                    False,
                    execution_profile,
                )
            )
        except Exception as exc:
            future.set_exception(exc)

    hub.spawn(run)
    return future
