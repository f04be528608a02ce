"""execute_concurrent against a fake session built on the real hub primitives.

Only the session is fake: its response futures are hub futures completed by hub timers
(``call_later``), so callbacks arrive from the timer wheel as they do from a reader greenlet
(or thread). Each statement says how it ends: ``("ok", delay)``, ``("err", delay)``,
``("sync", 0)`` (execute_async itself raises) or ``("hang", 0)`` (never completes).
"""

from __future__ import annotations

import random

import pytest

from greencql.cluster import concurrent as cc_mod
from greencql.cluster.concurrent import (
    ExecutionResult,
    execute_concurrent,
    execute_concurrent_async,
    execute_concurrent_with_args,
)
from greencql.cluster.profiles import EXEC_PROFILE_DEFAULT
from greencql.cluster.results import Page, ResultSet
from greencql.errors import InvalidRequest, OperationTimedOut

__all__: list[str] = []

_WAIT = 10.0  # bound on every wait of the tests themselves


class _Failure(Exception):
    pass


class _FakeFuture:
    """cassandra-driver's ResponseFuture surface the executor uses, over a hub future."""

    def __init__(self, hub, pass_result_set: bool):
        self._f = hub.future()
        self._pass_result_set = pass_result_set

    def add_callbacks(self, callback, errback):
        def done(f):
            try:
                rs = f.result(0)
            except Exception as exc:
                errback(exc)
                return
            callback(rs if self._pass_result_set else rs.current_rows)

        self._f.add_done_callback(done)

    def result(self, timeout=None):
        return self._f.result(timeout)


class _FakeSession:
    def __init__(self, hub, pass_result_set=False, default_timeout=10.0):
        self.hub = hub
        self.default_timeout = default_timeout
        self.pass_result_set = pass_result_set
        self.in_flight = 0
        self.max_in_flight = 0
        self.started: list[object] = []
        self.profiles: list[object] = []
        self._lock = hub.lock()
        self._idle = hub.event()
        self._idle.set()

    def execute_async(self, statement, parameters, execution_profile=EXEC_PROFILE_DEFAULT):
        kind, delay = statement
        self.profiles.append(execution_profile)
        if kind == "sync":
            raise InvalidRequest(f"refused {parameters!r}")
        fut = _FakeFuture(self.hub, self.pass_result_set)
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._idle.clear()
        self.started.append(parameters)
        if kind == "now":  # already done when returned: callbacks run inside add_callbacks
            self._complete(fut, "ok", parameters)
        elif kind != "hang":
            self.hub.call_later(delay, self._complete, fut, kind, parameters)
        return fut

    def _complete(self, fut, kind, parameters):
        with self._lock:
            self.in_flight -= 1
            if self.in_flight == 0:
                self._idle.set()
        if kind == "ok":
            fut._f.set_result(ResultSet(Page([(parameters,)], None, ("p",))))
        else:
            fut._f.set_exception(_Failure(parameters))

    def wait_idle(self):
        assert self._idle.wait(_WAIT), "fake requests still in flight"


def _value(result: ExecutionResult):
    assert result.success, result
    assert isinstance(result.result_or_exc, ResultSet)
    return result.result_or_exc.one()[0]


@pytest.mark.parametrize("pass_result_set", [False, True])
@pytest.mark.parametrize("concurrency", [1, 7, 100])
def test_results_in_order_and_concurrency_bounded(hub, pass_result_set, concurrency):
    rnd = random.Random(concurrency)
    session = _FakeSession(hub, pass_result_set)
    n = 20 if concurrency == 1 else 60  # one at a time: each costs a timer tick
    stmts = [(("ok", rnd.uniform(0, 0.01)), i) for i in range(n)]
    results = execute_concurrent(session, stmts, concurrency=concurrency)
    assert isinstance(results, list) and len(results) == n
    assert [_value(r) for r in results] == list(range(n))
    assert all(type(r) is ExecutionResult for r in results)
    assert session.max_in_flight <= concurrency
    if concurrency < n:
        assert session.max_in_flight == concurrency  # the bound is reached, and kept
    assert session.profiles == [EXEC_PROFILE_DEFAULT] * n
    session.wait_idle()


def test_futures_done_before_callbacks_are_added_no_recursion(hub):
    session = _FakeSession(hub)
    n = 3000
    results = execute_concurrent(session, [(("now", 0), i) for i in range(n)], concurrency=10)
    assert [_value(r) for r in results] == list(range(n))
    refused = execute_concurrent(
        session, [(("sync", 0), i) for i in range(n)], raise_on_first_error=False
    )
    assert len(refused) == n and not any(r.success for r in refused)


def test_errors_per_item_without_raising(hub):
    session = _FakeSession(hub)
    plan = ["ok", "err", "sync", "ok", "err", "ok"]
    stmts = [((kind, 0.002 * (6 - i)), i) for i, kind in enumerate(plan)]
    results = execute_concurrent(session, stmts, concurrency=3, raise_on_first_error=False)
    assert [r.success for r in results] == [k == "ok" for k in plan]
    assert isinstance(results[1].result_or_exc, _Failure)
    assert results[1].result_or_exc.args == (1,)
    assert isinstance(results[2].result_or_exc, InvalidRequest)
    assert [_value(results[i]) for i in (0, 3, 5)] == [0, 3, 5]
    session.wait_idle()


def test_raise_on_first_error_stops_issuing(hub):
    session = _FakeSession(hub)
    stmts = [(("err" if i == 3 else "ok", 0.001), i) for i in range(1000)]
    with pytest.raises(_Failure) as info:
        execute_concurrent(session, stmts, concurrency=5)
    assert info.value.args == (3,)
    assert len(session.started) < 100  # stopped soon after the failure, not all 1000
    session.wait_idle()  # the abandoned ones still finish on their own


def test_raise_on_first_error_raises_the_first_to_arrive(hub):
    session = _FakeSession(hub)
    stmts = [(("err", 0.2), 0), (("err", 0.001), 1), (("ok", 0.001), 2)]
    with pytest.raises(_Failure) as info:
        execute_concurrent(session, stmts, concurrency=3)
    assert info.value.args == (1,)
    session.wait_idle()


def test_synchronous_refusal_raises_with_raise_on_first_error(hub):
    session = _FakeSession(hub)
    stmts = [(("ok", 0.001), 0), (("sync", 0), 1), (("ok", 0.001), 2)]
    with pytest.raises(InvalidRequest):
        execute_concurrent(session, stmts, concurrency=1)
    assert session.started == [0]
    session.wait_idle()


def test_generator_yields_in_order_with_bounded_memory(hub):
    session = _FakeSession(hub)
    concurrency = 4
    n = 100
    pulled = 0

    def statements():
        nonlocal pulled
        for i in range(n):
            pulled += 1
            # every 10th statement is slow: the ones after it pile up waiting for their turn
            yield (("ok", 0.02 if i % 10 == 0 else 0.0005), i)

    gen = execute_concurrent(session, statements(), concurrency=concurrency, results_generator=True)
    assert not isinstance(gen, list)
    assert 0 < pulled <= 2 * concurrency  # started at once, within the window
    consumed = 0
    for result in gen:
        assert _value(result) == consumed
        consumed += 1
        # held = statements read but not yet handed to us: in flight or waiting for their turn
        assert pulled - consumed <= 2 * concurrency
        assert session.in_flight <= concurrency
    assert consumed == n
    assert session.max_in_flight <= concurrency
    session.wait_idle()


def test_generator_raise_on_first_error_yields_earlier_results_first(hub):
    session = _FakeSession(hub)
    plan = [("ok", 0.03), ("ok", 0.02), ("err", 0.001), ("ok", 0.001), ("ok", 0.001)]
    stmts = [(p, i) for i, p in enumerate(plan)]
    gen = execute_concurrent(session, stmts, concurrency=5, results_generator=True)
    got = []
    with pytest.raises(_Failure) as info:
        for r in gen:
            got.append(_value(r))
    assert got == [0, 1]
    assert info.value.args == (2,)
    session.wait_idle()


def test_generator_without_raising_reports_errors_in_place(hub):
    session = _FakeSession(hub)
    plan = ["err", "ok", "sync", "ok"]
    stmts = [((k, 0.001), i) for i, k in enumerate(plan)]
    results = list(
        execute_concurrent(
            session, stmts, concurrency=2, raise_on_first_error=False, results_generator=True
        )
    )
    assert [r.success for r in results] == [False, True, False, True]
    session.wait_idle()


def test_with_args_and_execution_profile(hub):
    session = _FakeSession(hub)
    params = list(range(25))
    results = execute_concurrent_with_args(
        session, ("ok", 0.0005), params, concurrency=4, execution_profile="analytics"
    )
    assert [_value(r) for r in results] == params
    assert set(session.profiles) == {"analytics"}
    gen = execute_concurrent_with_args(session, ("ok", 0), iter(params), results_generator=True)
    assert [_value(r) for r in gen] == params
    session.wait_idle()


def test_empty_and_invalid_arguments(hub):
    session = _FakeSession(hub)
    assert execute_concurrent(session, []) == []
    assert execute_concurrent(session, (), results_generator=True) == []
    assert list(execute_concurrent(session, iter([]), results_generator=True)) == []
    assert execute_concurrent(session, iter([])) == []
    for bad in (0, -1):
        with pytest.raises(ValueError, match="concurrency"):
            execute_concurrent(session, [(("ok", 0), 1)], concurrency=bad)
    assert session.started == []


def test_errors_of_the_statements_iterable_propagate(hub):
    session = _FakeSession(hub)

    def statements():
        yield (("ok", 0.001), 0)
        raise KeyError("bad input")

    with pytest.raises(KeyError):
        execute_concurrent(session, statements(), concurrency=1)
    session.wait_idle()


@pytest.mark.parametrize("where", ["session", "future"])
def test_stall_guard_bounds_the_wait(hub, monkeypatch, where):
    monkeypatch.setattr(cc_mod, "_STALL_SLACK", 0.0)
    if where == "session":
        session = _FakeSession(hub, default_timeout=0.05)  # stall bound: 2 * 0.05 s
    else:  # the response future's own timeout wins over the session's default
        session = _FakeSession(hub, default_timeout=1000.0)
        monkeypatch.setattr(_FakeFuture, "timeout", 0.05, raising=False)
    with pytest.raises(OperationTimedOut, match="in flight") as info:
        execute_concurrent(session, [(("ok", 0.001), 0), (("hang", 0), 1)])
    assert info.value.timeout == pytest.approx(0.1)


def test_stall_bound_follows_profiles_and_statements():
    class Profile:
        request_timeout = 3.0

    class WithProfiles:
        def get_execution_profile(self, name):
            if name == "missing":
                raise ValueError(name)
            return Profile()

    assert cc_mod._profile_timeout(WithProfiles(), EXEC_PROFILE_DEFAULT) == 3.0
    assert cc_mod._profile_timeout(object(), EXEC_PROFILE_DEFAULT) == 10.0
    assert cc_mod._stall_timeout(None) is None
    assert cc_mod._stall_timeout(3.0) > 3.0


def test_execute_concurrent_async(hub):
    session = _FakeSession(hub)
    fut = execute_concurrent_async(session, [(("ok", 0.001), i) for i in range(10)], 3)
    assert [_value(r) for r in fut.result(_WAIT)] == list(range(10))
    failing = execute_concurrent_async(
        session, [(("err", 0.001), 0)], raise_on_first_error=True
    )
    with pytest.raises(_Failure):
        failing.result(_WAIT)
    not_raising = execute_concurrent_async(session, [(("err", 0.001), 0)])
    assert not not_raising.result(_WAIT)[0].success
    session.wait_idle()
