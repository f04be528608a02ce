"""Big pages through Session and ResultSet: decoded lazily where they are used, hub-friendly.

Against a simulated cluster over real sockets. A page over ``LAZY_BYTES`` reaches the
ResultSet undecoded (the connection's reader greenlet did not decode it), and consuming it
hands the hub a turn between slices: a ticker greenlet runs many times while one greenlet
reads a 50,000-row page (counted, not timed). Every ResultSet behaviour users rely on
(iteration, ``current_rows``, ``one()``, ``all()``, indexing, paging, ``was_applied``,
callbacks, row factories) is run with every page lazy (``LAZY_BYTES`` lowered to 0).
"""

from __future__ import annotations

import pytest
from conftest import TEST_HUB

from greencql import Cluster, SimpleStatement, dict_factory, tuple_factory
from greencql.protocol import messages as M
from greencql.protocol import rows as R
from greencql.protocol.rows import LazyRows
from greencql.testing.cluster import SimCluster

KS = "lazy"
ROWS = 50_000
COLUMNS = [("a", "int"), ("b", "bigint")]


@pytest.fixture(scope="module")
def sim(hub):
    with SimCluster(1, port=0, hub=hub) as s:
        yield s


@pytest.fixture(scope="module")
def session(sim):
    cluster = Cluster(sim.contact_points, port=sim.port, hub=sim.hub)
    s = cluster.connect()
    s.execute(f"CREATE KEYSPACE {KS} WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.execute(f"CREATE TABLE {KS}.kv (p int, c int, v text, PRIMARY KEY (p, c))")
    s.execute(f"CREATE TABLE {KS}.lwt (k int PRIMARY KEY, v int)")
    s.set_keyspace(KS)
    insert = s.prepare("INSERT INTO kv (p, c, v) VALUES (0, ?, ?)")
    for c in range(30):
        s.execute(insert, (c, f"v{c}"))
    yield s
    cluster.shutdown()


@pytest.fixture
def big(sim):
    sim.prime("SELECT a, b FROM big", rows=[(i, i * 7) for i in range(ROWS)], columns=COLUMNS)
    yield
    sim.clear_primes()


@pytest.fixture
def all_lazy(monkeypatch):
    monkeypatch.setattr(M, "LAZY_BYTES", 0)


def test_big_page_reaches_the_result_set_undecoded(session, big):
    rs = session.execute("SELECT a, b FROM big")
    rows = rs.current_rows
    assert type(rows) is LazyRows
    assert rows.decoded == 0  # the reader greenlet left it alone
    assert len(rows) == ROWS
    got = list(rs)
    assert got[-1] == (ROWS - 1, (ROWS - 1) * 7) and got[-1].a == ROWS - 1
    assert len(got) == ROWS


@pytest.mark.skipif(TEST_HUB == "thread", reason="counts green switches (threads preempt)")
def test_consuming_a_big_page_yields_to_the_hub(session, big, hub):
    rs = session.execute("SELECT a, b FROM big")
    ticks = [0]
    stop = hub.event()

    def ticker():
        while not stop.is_set():
            ticks[0] += 1
            hub.sleep(0)

    task = hub.spawn(ticker)
    try:
        total = sum(row.b for row in rs)
    finally:
        stop.set()
        assert task.join(timeout=10)
    assert total == 7 * ROWS * (ROWS - 1) // 2
    # 50,000 rows of 2 columns in slices of CHUNK_CELLS cells: a turn for the ticker between
    # every two (1024 cells: 97 pauses)
    assert ticks[0] >= ROWS * 2 // R.CHUNK_CELLS - 1, ticks[0]


@pytest.mark.parametrize("factory", [tuple_factory, dict_factory])
def test_row_factories_on_a_big_page(sim, session, big, factory):
    cluster = Cluster(sim.contact_points, port=sim.port, hub=sim.hub)
    try:
        s = cluster.connect()
        s.row_factory = factory
        rs = s.execute("SELECT a, b FROM big")
        assert type(rs.current_rows) is LazyRows
        first = rs.one()
        assert first == ((0, 0) if factory is tuple_factory else {"a": 0, "b": 0})
        assert rs[ROWS - 1] == ((ROWS - 1, (ROWS - 1) * 7) if factory is tuple_factory
                                else {"a": ROWS - 1, "b": (ROWS - 1) * 7})
    finally:
        cluster.shutdown()


def test_a_custom_row_factory_gets_the_whole_page_once(sim, session, big):
    calls = []

    def factory(names, rows):
        calls.append(len(rows))
        return [r[0] for r in rows]

    cluster = Cluster(sim.contact_points, port=sim.port, hub=sim.hub)
    try:
        s = cluster.connect()
        s.row_factory = factory
        rs = s.execute("SELECT a, b FROM big")
        assert rs.current_rows[:3] == [0, 1, 2]
        assert calls == [ROWS]
    finally:
        cluster.shutdown()


def test_every_result_set_behaviour_with_lazy_pages(session, all_lazy):
    rs = session.execute("SELECT c, v FROM kv WHERE p = 0")
    assert type(rs.current_rows) is LazyRows
    assert rs.one().c == 0
    assert rs.current_rows[29].v == "v29"
    assert [r.c for r in rs.all()] == list(range(30))
    rs = session.execute("SELECT c, v FROM kv WHERE p = 0")
    assert rs == [tuple(r) for r in session.execute("SELECT c, v FROM kv WHERE p = 0")]
    assert rs[3].v == "v3"


def test_paging_with_lazy_pages(session, all_lazy):
    stmt = SimpleStatement("SELECT c, v FROM kv WHERE p = 0", fetch_size=7)
    rs = session.execute(stmt)
    assert type(rs.current_rows) is LazyRows and len(rs.current_rows) == 7
    assert [r.c for r in rs] == list(range(30))
    rs = session.execute(stmt)
    seen = [r.c for r in rs.current_rows]
    while rs.has_more_pages:
        rs.fetch_next_page()
        seen += [r.c for r in rs.current_rows]
    assert seen == list(range(30))


def test_was_applied_with_lazy_pages(session, all_lazy):
    assert session.execute("INSERT INTO lwt (k, v) VALUES (1, 1) IF NOT EXISTS").was_applied
    assert not session.execute("INSERT INTO lwt (k, v) VALUES (1, 2) IF NOT EXISTS").was_applied


def test_callbacks_receive_the_rows_with_lazy_pages(session, all_lazy, hub):
    done = hub.event()
    got = []

    def callback(rows):
        got.append([r.c for r in rows])
        done.set()

    def errback(exc):
        got.append(exc)
        done.set()

    future = session.execute_async("SELECT c, v FROM kv WHERE p = 0")
    future.add_callbacks(callback, errback)
    assert done.wait(10)
    assert got == [list(range(30))]


def test_the_reader_gives_the_hub_turns_inside_a_big_frame(sim, big, hub, monkeypatch):
    """A green recv() with data waiting does not yield: reading a frame of many MB would
    hold the hub for all of it. The reader pauses (``hub.idle``) every ``_YIELD_EVERY``
    bytes of an unfinished frame: lowered here to 4 KiB, the 1 MB page makes it pause at
    least once per read but the last."""
    from greencql.pool import connection as C

    calls = [0]
    real_idle = type(hub).idle

    def counting_idle(*args):
        calls[0] += 1
        return real_idle()

    monkeypatch.setattr(C, "_YIELD_EVERY", 4096)
    monkeypatch.setattr(type(hub), "idle", staticmethod(counting_idle))
    # uncompressed: the page's size on the wire is known (1 MB: 16+ reads of at most 64 KiB)
    cluster = Cluster(sim.contact_points, port=sim.port, hub=sim.hub, compression=False)
    try:
        s = cluster.connect()
        calls[0] = 0
        rs = s.execute("SELECT a, b FROM big")  # lazy: only the reader can pause here
        paused = calls[0]
        assert type(rs.current_rows) is LazyRows and rs.current_rows.decoded == 0
    finally:
        cluster.shutdown()
    page_bytes = ROWS * (4 + 4 + 4 + 8)
    assert paused >= page_bytes // (64 * 1024) - 2, paused
