"""The straight request path (issue 12): one deadline per request, nothing kept alive by it,
bounded waits without a timer of their own, and per-statement state worked out once.

Against a simulated 3-node cluster over real sockets, on the hub of the process. The timer
counts come from wrapping ``TimerWheel.call_later`` (every hub schedules through it) and
looking at whose method each timer calls: deterministic, unlike time.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from greencql import Cluster, ConsistencyLevel, ExecutionProfile, OperationTimedOut
from greencql.cluster.profiles import EXEC_PROFILE_DEFAULT
from greencql.cluster.session import ResponseFuture
from greencql.hubs.timerwheel import TimerWheel
from greencql.pool.connection import Connection
from greencql.testing.cluster import SimCluster

KS = "straight"
N = 40


@pytest.fixture(scope="module")
def sim(hub):
    with SimCluster(3, port=0, hub=hub) as s:
        yield s


@pytest.fixture(scope="module")
def cluster(sim):
    profile = ExecutionProfile(request_timeout=5.0)
    c = Cluster(sim.contact_points[:1], port=sim.port, hub=sim.hub,
                execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def session(cluster):
    s = cluster.connect(wait_for_all_pools=True)
    s.execute(f"CREATE KEYSPACE {KS} WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 3}")
    s.execute(f"CREATE TABLE {KS}.kv (k int PRIMARY KEY, v text)")
    s.set_keyspace(KS)
    insert = s.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
    for k in range(10):
        s.execute(insert, (k, f"v{k}"))
    yield s
    s.shutdown()


@pytest.fixture(autouse=True)
def _clean_faults(sim):
    yield
    sim.reset_faults()
    sim.clear_primes()


@pytest.fixture
def select(session):
    return session.prepare("SELECT k, v FROM kv WHERE k = ?")


@pytest.fixture
def scheduled(monkeypatch):
    """Every timer scheduled on any wheel while the test runs: (owner class name, method)."""
    seen: list[tuple[str, str]] = []
    original = TimerWheel.call_later

    def call_later(self, delay, fn, *args):
        owner = getattr(fn, "__self__", None)
        seen.append((type(owner).__name__, getattr(fn, "__name__", repr(fn))))
        return original(self, delay, fn, *args)

    monkeypatch.setattr(TimerWheel, "call_later", call_later)
    return seen


def _request_timers(seen):
    return [s for s in seen if s[0] in ("ResponseFuture", "Connection")
            and s[1] != "_heartbeat_check"]


# -- one deadline per request ----------------------------------------------------------------


def test_one_timer_per_request(session, select, scheduled):
    for i in range(N):
        assert session.execute(select, (i % 10,)).one().v == f"v{i % 10}"
    timers = _request_timers(scheduled)
    assert timers == [("ResponseFuture", "_on_timeout")] * N


def test_one_timer_per_request_async_and_simple_statements(session, select, scheduled):
    futures = [session.execute_async(select, (i % 10,)) for i in range(N)]
    assert [f.result().one().k for f in futures] == [i % 10 for i in range(N)]
    for i in range(N):
        session.execute("SELECT k, v FROM kv WHERE k = %s", (i % 10,))
    timers = _request_timers(scheduled)
    assert timers == [("ResponseFuture", "_on_timeout")] * (2 * N)


def test_answered_requests_leave_no_timer_on_the_wheel(session, select, hub):
    for i in range(N):
        session.execute(select, (i % 10,))
    futures = [session.execute_async(select, (i % 10,)) for i in range(N)]
    for f in futures:
        f.result()
    wheel = hub.timer_wheel()
    with_requests = [t for slot in wheel.core._slots for t in slot
                     if isinstance(getattr(t.fn, "__self__", None), ResponseFuture)]
    assert with_requests == []


def test_completed_futures_are_not_kept_alive_by_the_wheel(session, select):
    refs = []
    for i in range(N):
        future = session.execute_async(select, (i % 10,))
        assert future.result().one() is not None
        refs.append(weakref.ref(future))
        del future
    gc.collect()
    assert [r for r in refs if r() is not None] == []


def test_timed_out_futures_are_not_kept_alive_either(session, select, sim):
    sim.prime("SELECT k, v FROM kv", drop=True)
    refs = []
    for i in range(3):
        future = session.execute_async(select, (i,), timeout=0.1)
        with pytest.raises(OperationTimedOut):
            future.result()
        refs.append(weakref.ref(future))
        del future
    gc.collect()
    assert [r for r in refs if r() is not None] == []


# -- bounded waits, the deadline's error ----------------------------------------------------


def test_result_without_timeout_is_bounded_by_the_deadline(session, select, sim, hub,
                                                          monkeypatch):
    """timeout=None: the deadline timer completes the future; the request's connection arms
    no timer of its own, and the stream id stays reserved (orphaned) after the timeout."""
    monkeypatch.setattr(session, "_session_default_profile",
                        session._default_profile().replace(request_timeout=0.3))
    sim.prime("SELECT k, v FROM kv", drop=True)
    orphaned_before = sum(c.orphaned for p in session.get_pools()
                          for c in p._pool.connections)
    start = hub.monotonic()
    future = session.execute_async(select, (1,))
    with pytest.raises(OperationTimedOut) as info:
        future.result()  # timeout=None
    waited = hub.monotonic() - start
    assert waited < 3  # the deadline (0.3 s) plus a tick, far from forever
    error = info.value
    assert error.host is not None and error.host.address in str(error)
    assert "no answer from 127.0.0." in str(error) and "timeout=0.3" in str(error)
    orphaned_after = sum(c.orphaned for p in session.get_pools()
                         for c in p._pool.connections)
    assert orphaned_after == orphaned_before + 1


def test_execute_without_timeout_argument_is_bounded_too(session, select, sim, hub,
                                                        monkeypatch):
    monkeypatch.setattr(session, "_session_default_profile",
                        session._default_profile().replace(request_timeout=0.2))
    sim.prime("SELECT k, v FROM kv", drop=True)
    start = hub.monotonic()
    with pytest.raises(OperationTimedOut) as info:
        session.execute(select, (2,))
    assert hub.monotonic() - start < 3
    assert "timeout=0.2" in str(info.value)


def test_result_with_an_explicit_timeout_gives_up_first(session, select, sim):
    sim.prime("SELECT k, v FROM kv", drop=True)
    future = session.execute_async(select, (3,), timeout=2.0)
    with pytest.raises(OperationTimedOut) as info:
        future.result(timeout=0.05)
    assert "gave up waiting for the result" in str(info.value)
    assert not future.done()
    with pytest.raises(OperationTimedOut) as info:
        future.result()  # then the deadline
    assert "no answer from" in str(info.value)


def test_connection_keeps_no_timer_for_owned_requests(session, select, scheduled):
    session.execute(select, (4,))
    assert not [s for s in scheduled if s == ("Connection", "_on_timeout")]
    assert Connection.send_owned is not None


# -- per-statement state, worked out once ------------------------------------------------------


def test_prepared_state_is_reused(session, select, monkeypatch):
    plans = []
    original_plan = type(select)._bind_plan

    def counting_plan(self):
        plans.append(self)
        return original_plan(self)

    monkeypatch.setattr(type(select), "_bind_plan", counting_plan)
    resolved = []
    original_options = type(session)._fast_options

    def counting_options(self, profile):
        resolved.append(profile)
        return original_options(self, profile)

    monkeypatch.setattr(type(session), "_fast_options", counting_options)
    session._fast_profile = None  # start from nothing resolved
    select._plan = None
    for i in range(N):
        session.execute(select, (i % 10,))
    assert len(plans) == 1 and len(resolved) == 1
    plan = select._plan
    bound = select.bind((5,))
    assert select._plan is plan
    assert bound.routing_key == bound.values[0] and bound.keyspace == KS


def test_changing_a_prepared_option_reaches_the_next_request(session, select, sim):
    session.execute(select, (6,))
    select.consistency_level = ConsistencyLevel.QUORUM
    try:
        sim.clear_logs()
        session.execute(select, (6,))
        recs = sim.records(kind="EXECUTE")
        assert [r.consistency for r in recs] == [ConsistencyLevel.QUORUM]
    finally:
        select.consistency_level = None


def test_changing_the_default_profile_reaches_the_next_request(session, select, sim,
                                                              monkeypatch):
    session.execute(select, (7,))
    monkeypatch.setattr(session, "_session_default_profile",
                        session._default_profile().replace(
                            consistency_level=ConsistencyLevel.TWO))
    sim.clear_logs()
    session.execute(select, (7,))
    assert [r.consistency for r in sim.records(kind="EXECUTE")] == [ConsistencyLevel.TWO]


def test_fast_bind_matches_the_general_bind(select):
    from greencql.cluster.statements import BoundStatement

    for values in [(1,), [2], (None,)]:
        fast = select.bind(values)
        general = BoundStatement(select).bind(values)
        assert fast.values == general.values
        assert fast.routing_key == general.routing_key
        assert fast.keyspace == general.keyspace
        assert fast.consistency_level == general.consistency_level
        assert fast.is_idempotent == general.is_idempotent
    with pytest.raises(TypeError, match="column 'k'"):
        select.bind(("not an int",))
    with pytest.raises(ValueError, match="Too many arguments"):
        select.bind((1, 2))


# -- bound statements take the same path, with their own options -----------------------------


def test_bound_statements_take_the_straight_path(session, select, scheduled):
    for i in range(N):
        assert session.execute(select.bind((i % 10,))).one().k == i % 10
    assert _request_timers(scheduled) == [("ResponseFuture", "_on_timeout")] * N


def test_bound_statement_options_reach_the_server(session, select, sim):
    from greencql.cluster.statements import BoundStatement

    bound = BoundStatement(select, consistency_level=ConsistencyLevel.ALL,
                           custom_payload={"k": b"v"}, timestamp=1234567, fetch_size=7)
    bound.bind((8,))
    sim.clear_logs()
    assert session.execute(bound).one().v == "v8"
    (rec,) = sim.records(kind="EXECUTE")
    assert rec.consistency == ConsistencyLevel.ALL
    assert rec.custom_payload == {"k": b"v"}
    assert rec.timestamp == 1234567
    assert rec.page_size == 7


def test_bound_statement_with_trace_is_traced(session, select, sim):
    from greencql.cluster.statements import BoundStatement

    bound = BoundStatement(select, trace=True)
    bound.bind((9,))
    sim.clear_logs()
    session.execute(bound)
    (rec,) = sim.records(kind="EXECUTE")
    assert rec.tracing is True


def test_parameters_with_a_bound_statement_are_refused(session, select):
    with pytest.raises(ValueError, match="parameters cannot be given"):
        session.execute(select.bind((1,)), (2,))
