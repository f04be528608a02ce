"""ResponseFuture as cassandra-driver applications use it: callbacks get the page's rows,
``start_fetching_next_page`` drives paging from the callback, ``get_query_trace()`` is None
without tracing. Against the simulated node; in the thread-hub process cassandra-driver does
the same on the same node in the same test.
"""

from __future__ import annotations

import threading

import pytest
from compat_fixtures import *  # noqa: F403 (the fixtures)

from greencql import InvalidRequest
from greencql.cluster import QueryExhausted
from greencql.query import SimpleStatement

WAIT = 10.0
ROWS = 10


@pytest.fixture(scope="module")
def table(session):
    session.execute("CREATE TABLE IF NOT EXISTS pages (p int, c int, PRIMARY KEY (p, c))")
    insert = session.prepare("INSERT INTO pages (p, c) VALUES (0, ?)")
    for c in range(ROWS):
        session.execute(insert, (c,))
    return "pages"


def _page_through(future, done_event, pages, errors):
    """cassandra-driver's documented pattern: handle the page, ask for the next one."""

    def on_page(rows):
        pages.append([r.c for r in rows])
        if future.has_more_pages:
            future.start_fetching_next_page()
        else:
            done_event.set()

    def on_error(exc):
        errors.append(exc)
        done_event.set()

    future.add_callbacks(on_page, on_error)


def test_callback_driven_paging(session, table, hub, oracle):
    query = SimpleStatement("SELECT c FROM pages WHERE p = 0", fetch_size=3)
    done, pages, errors = hub.event(), [], []
    future = session.execute_async(query)
    _page_through(future, done, pages, errors)
    assert done.wait(WAIT), "paging did not finish"
    assert errors == []
    assert pages == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert not future.has_more_pages
    with pytest.raises(QueryExhausted):
        future.start_fetching_next_page()
    # result() is the last page's
    assert [r.c for r in future.result().current_rows] == [9]
    if oracle is not None:
        from cassandra.query import SimpleStatement as TheirSimpleStatement

        their_done, their_pages, their_errors = threading.Event(), [], []
        theirs = oracle.execute_async(TheirSimpleStatement(query.query_string, fetch_size=3))
        _page_through(theirs, their_done, their_pages, their_errors)
        assert their_done.wait(WAIT)
        assert their_errors == [] and their_pages == pages


def test_callback_gets_rows_and_never_waits(session, table, hub, oracle):
    """The rows given to a callback are a plain list, already decoded: reading them inside
    the callback (which runs in the greenlet that delivers responses) cannot wait."""
    got, done = [], hub.event()

    def on_rows(rows):
        got.append(list(rows))  # iterating cannot fetch anything
        done.set()

    future = session.execute_async(SimpleStatement("SELECT c FROM pages WHERE p = 0",
                                                   fetch_size=4))
    future.add_callback(on_rows)
    assert done.wait(WAIT)
    assert [r.c for r in got[0]] == [0, 1, 2, 3] and type(got[0]) is list
    # a write: no rows, the callback gets None (as cassandra-driver's does)
    got.clear()
    done.clear()
    session.execute_async("INSERT INTO pages (p, c) VALUES (1, 1)").add_callback(
        lambda rows: (got.append(rows), done.set()))
    assert done.wait(WAIT) and got == [None]
    if oracle is not None:
        their_got, their_done = [], threading.Event()
        oracle.execute_async("INSERT INTO pages (p, c) VALUES (1, 2)").add_callback(
            lambda rows: (their_got.append(rows), their_done.set()))
        assert their_done.wait(WAIT) and their_got == [None]


def test_errors_of_later_pages_reach_the_errback(session, table, hub, sim):
    done, pages, errors = hub.event(), [], []
    future = session.execute_async(SimpleStatement("SELECT c FROM pages WHERE p = 0",
                                                   fetch_size=5))
    assert len(future.result().current_rows) == 5
    sim.prime("SELECT c FROM pages", error=InvalidRequest("no more pages for you"))
    try:
        _page_through(future, done, pages, errors)
        assert done.wait(WAIT)
    finally:
        sim.clear_primes()
    assert len(pages) == 1 and len(errors) == 1


def test_query_trace_is_none_without_tracing(session, table, oracle):
    future = session.execute_async("SELECT c FROM pages WHERE p = 0")
    future.result()
    assert future.get_query_trace() is None
    if oracle is not None:
        theirs = oracle.execute_async("SELECT c FROM pages WHERE p = 0")
        theirs.result()
        assert theirs.get_query_trace() is None


def test_trace_fields_are_cassandra_drivers(session, table, oracle):
    future = session.execute_async("SELECT c FROM pages WHERE p = 0", trace=True)
    future.result()
    trace = future.get_query_trace(max_wait=5.0)
    assert type(trace.coordinator) is str and type(trace.client) is str
    assert trace.started_at.tzinfo is None  # naive UTC, as cassandra-driver
    if oracle is not None:
        theirs = oracle.execute_async("SELECT c FROM pages WHERE p = 0", trace=True)
        theirs.result()
        their_trace = theirs.get_query_trace(max_wait=5.0)
        assert trace.coordinator == their_trace.coordinator
        assert type(their_trace.client) is type(trace.client)
        assert trace.request_type == their_trace.request_type
