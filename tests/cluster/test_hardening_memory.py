"""Issue 18, items 4 and 6: what finished requests and dropped prepared statements leave.

Item 6: every request used to be a reference cycle (future -> its timer -> the future's
``_on_timeout``; future -> hub future -> ResultSet -> ``response_future``), so with the
garbage collector disabled (some high-traffic deployments do, or tune it) 20,000 requests
kept 20,001 ResponseFuture objects. Here 2,000 requests of each kind (same mechanism, a tenth
of the scale), successful and failed (an error is raised afresh, never with the frames of an
earlier raise), with ``gc.disable()``: only reference counting may free them.

Item 4: ``Session._prepared_cache`` kept every distinct prepared text forever (30,000 texts:
+62 MB). It is now an LRU of ``prepared_statement_cache_size`` entries; here 1,500 distinct
texts through a cache of 100. An evicted statement still executes, also after the node forgot
it (UNPREPARED, re-prepared on demand).
"""

from __future__ import annotations

import gc

import pytest

from greencql import Cluster, InvalidRequest, SimpleStatement
from greencql.cluster.session import DEFAULT_PREPARED_STATEMENT_CACHE_SIZE, ResponseFuture
from greencql.testing.cluster import SimCluster

KS = "hardmem"
N = 2000


@pytest.fixture(scope="module")
def sim(hub):
    with SimCluster(1, port=0, hub=hub) as s:
        yield s


@pytest.fixture(scope="module")
def cluster(sim):
    c = Cluster(sim.contact_points, port=sim.port, hub=sim.hub,
                prepared_statement_cache_size=100)
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def session(cluster):
    s = cluster.connect()
    s.execute(f"CREATE KEYSPACE IF NOT EXISTS {KS} WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute(f"CREATE TABLE IF NOT EXISTS {KS}.kv (k int PRIMARY KEY, v int)")
    s.set_keyspace(KS)
    for k in range(10):
        s.execute("INSERT INTO kv (k, v) VALUES (%s, %s)", (k, k))
    return s


def _live(cls):
    return sum(1 for o in gc.get_objects() if type(o) is cls)


def _without_gc(run):
    """Objects of ResponseFuture alive after ``run()`` with the collector off, minus before."""
    gc.collect()
    before = _live(ResponseFuture)
    gc.disable()
    try:
        run()
        return _live(ResponseFuture) - before
    finally:
        gc.enable()
        gc.collect()


def test_finished_requests_are_freed_without_the_gc(session):
    select = session.prepare("SELECT v FROM kv WHERE k = ?")

    def run():
        for i in range(N):
            assert session.execute("SELECT v FROM kv WHERE k = %s", (i % 10,)).one().v == i % 10
        for i in range(N):
            assert session.execute(select, (i % 10,)).one().v == i % 10
        for i in range(N):
            rs = session.execute_async(select, (i % 10,)).result()
            assert rs.one().v == i % 10
        for i in range(N):
            session.execute("INSERT INTO kv (k, v) VALUES (%s, %s)", (i % 10, i % 10))

    leaked = _without_gc(run)
    assert leaked < 10, f"{leaked} ResponseFuture objects outlived {4 * N} requests"


def test_callbacks_and_paging_leave_no_cycle(hub, session):
    def run():
        done = hub.event()
        seen = []

        def on_rows(rows):
            seen.append(rows[0].v)  # the page's rows, as cassandra-driver gives them
            if len(seen) == N:
                done.set()

        for i in range(N):
            session.execute_async("SELECT v FROM kv WHERE k = %s", (i % 10,)).add_callback(
                on_rows)
        assert done.wait(10)
        # paged: the ResultSet fetches its next pages through the first page's future
        for _ in range(50):
            rows = list(session.execute(SimpleStatement("SELECT k FROM kv", fetch_size=3)))
            assert len(rows) == 10

    leaked = _without_gc(run)
    assert leaked < 10, f"{leaked} ResponseFuture objects outlived the requests"


def test_failed_requests_are_freed_without_the_gc(hub, session):
    """Errors too: a server error raised to the caller, and one given to an errback. The
    error is raised afresh each time (the frames of an earlier raise hold the future)."""
    def run():
        for _ in range(N):
            with pytest.raises(InvalidRequest):
                session.execute("SELECT v FROM no_such_table")
        done = hub.event()
        errors = []

        def on_error(exc):
            errors.append(exc)
            if len(errors) == N:
                done.set()

        for _ in range(N):
            session.execute_async("SELECT v FROM no_such_table").add_errback(on_error)
        assert done.wait(10)
        assert all(isinstance(e, InvalidRequest) for e in errors)
        errors.clear()

    leaked = _without_gc(run)
    assert leaked < 10, f"{leaked} ResponseFuture objects outlived {2 * N} failed requests"


def test_a_failed_future_raises_the_same_error_each_time(session):
    future = session.execute_async("SELECT v FROM no_such_table")
    with pytest.raises(InvalidRequest) as first:
        future.result()
    with pytest.raises(InvalidRequest) as second:
        future.result()
    assert first.value is second.value
    assert "no_such_table" in str(second.value)


def test_result_returns_the_same_result_set_while_it_is_held(session):
    future = session.execute_async("SELECT v FROM kv WHERE k = 1")
    rs = future.result()
    assert future.result() is rs
    assert rs.response_future is future
    assert rs.one().v == 1


def test_prepared_cache_is_bounded(cluster, session):
    assert DEFAULT_PREPARED_STATEMENT_CACHE_SIZE >= 1000
    gc.collect()
    for i in range(1500):
        ps = session.prepare(f"SELECT v FROM kv WHERE k = ? AND v = {i} ALLOW FILTERING")
        assert session.execute(ps, (i % 10,)) is not None
    del ps
    gc.collect()
    assert len(session._prepared_cache) == 100
    # the registry for UNPREPARED is weak: the evicted statements are gone from it too
    assert len(cluster._prepared_statements) <= 100 + 5


def test_recently_used_statements_stay_cached(session):
    hot = session.prepare("SELECT v FROM kv WHERE k = ? AND v = -1 ALLOW FILTERING")
    for i in range(300):
        session.prepare(f"SELECT v FROM kv WHERE k = ? AND v = {i} ALLOW FILTERING")
        assert session.prepare("SELECT v FROM kv WHERE k = ? AND v = -1 ALLOW FILTERING") is hot


def test_evicted_statement_still_executes_and_is_reprepared(sim, session):
    ps = session.prepare("SELECT v FROM kv WHERE k = ? AND v >= 0 ALLOW FILTERING")
    for i in range(150):  # pushed out of the 100-entry cache
        session.prepare(f"SELECT k FROM kv WHERE k = ? AND v = {i} ALLOW FILTERING")
    key = (KS, ps.query_string)
    assert key not in session._prepared_cache
    assert session.execute(ps, (3,)).one().v == 3
    # the node forgets every statement: EXECUTE answers UNPREPARED, the session prepares
    # again on demand and the caller never sees it
    sim.nodes[0].prepared_ids = set()
    sim.clear_logs()
    assert session.execute(ps, (4,)).one().v == 4
    assert any(r.kind == "PREPARE" for r in sim.records())
    # and preparing the evicted text again works (one more round trip), with the same id
    again = session.prepare(ps.query_string)
    assert again.query_id == ps.query_id
    assert session.execute(again, (5,)).one().v == 5


def test_cache_size_is_validated():
    for bad in (-1, 1.5, "10", True):
        with pytest.raises(ValueError, match="prepared_statement_cache_size"):
            Cluster(prepared_statement_cache_size=bad)
    assert Cluster(prepared_statement_cache_size=0).prepared_statement_cache_size == 0
