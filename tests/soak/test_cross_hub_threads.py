"""A thread-hub program with gevent running in another OS thread (the issue's "thread hub +
gevent in a thread"), both directions, against the simulator in a child process:

- a Cluster of the gevent hub of thread B, used from thread A (the thread hub's side, no
  gevent hub there): ``HubError`` naming both sides on every call, and the Cluster works on
  in thread B afterwards (no stream id, connection or request lost);
- a Cluster of the thread hub, used from a greenlet of thread B's gevent hub: thread-hub
  objects are made to be shared by OS threads, so the call is served (it blocks thread B's
  loop for that round trip, as any blocking library would) and nothing is corrupted: the
  answers are the right ones and the session works on in thread A.

(``test_lifecycle.py`` covers the other pairing: a Cluster of a gevent or eventlet hub used
from another OS thread's own hub.) Runs in the thread-hub process only: the green processes
have patched threads, where "another OS thread" takes the original thread functions.
"""

from __future__ import annotations

import threading

import pytest
from conftest import TEST_HUB
from soak_harness import SimControl

from greencql import Cluster
from greencql.errors import HubError

pytestmark = pytest.mark.skipif(TEST_HUB != "thread", reason="the thread-hub process's case")

QUERY = "SELECT release_version FROM system.local"
WAIT = 60.0


@pytest.fixture(scope="module")
def sim(hub):
    s = SimControl(hub, nodes=1, track=())
    yield s
    s.close()


def _idle(session) -> None:
    for pool in session._pools.values():
        for conn in pool._pool.connections:
            assert conn.in_flight == 0 and conn.orphaned == 0


def test_a_gevent_threads_cluster_used_from_the_thread_hub_side_fails_clearly(hub, sim):
    pytest.importorskip("gevent")
    from greencql.hubs import get_hub

    made = threading.Event()
    used = threading.Event()
    box: dict[str, object] = {}

    def thread_b() -> None:
        try:
            ghub = get_hub("gevent")
            cluster = Cluster(sim.contact_points, port=sim.port, hub=ghub)
            try:
                session = cluster.connect()
                assert session.execute(QUERY).one()
                box["session"] = session
                made.set()
                used.wait(WAIT)  # thread A tries it meanwhile (this loop is idle)
                for _ in range(20):  # and it works on here
                    assert session.execute(QUERY).one()
                _idle(session)
                box["after"] = "ok"
            finally:
                cluster.shutdown()
        except BaseException as exc:  # reported to thread A
            box["error"] = exc
        finally:
            made.set()

    b = threading.Thread(target=thread_b, daemon=True)
    b.start()
    try:
        assert made.wait(WAIT)
        assert "error" not in box, box
        outcomes = []
        for _ in range(5):
            try:
                box["session"].execute(QUERY, timeout=2.0)
                outcomes.append("ran")
            except HubError as exc:
                outcomes.append("HubError" if "gevent hub" in str(exc) else str(exc))
        assert outcomes == ["HubError"] * 5, outcomes
    finally:
        used.set()
        b.join(WAIT)
    assert not b.is_alive()
    assert box.get("after") == "ok", box


def test_a_thread_hub_cluster_used_from_a_gevent_greenlet_in_another_thread_works(hub, sim):
    gevent = pytest.importorskip("gevent")
    cluster = Cluster(sim.contact_points, port=sim.port, hub=hub)
    try:
        session = cluster.connect()
        ps = session.prepare("SELECT release_version FROM system.local WHERE key = ?")
        expected = session.execute(QUERY).one()
        box: dict[str, object] = {}

        def thread_b() -> None:
            def green() -> list:
                return [session.execute(ps, ("local",)).one() for _ in range(20)]

            try:
                box["rows"] = gevent.spawn(green).get(timeout=WAIT)
            except BaseException as exc:
                box["error"] = exc

        b = threading.Thread(target=thread_b, daemon=True)
        b.start()
        b.join(WAIT)
        assert not b.is_alive()
        assert "error" not in box, box
        assert box["rows"] == [expected] * 20
        for _ in range(20):
            assert session.execute(QUERY).one() == expected
        _idle(session)
    finally:
        cluster.shutdown()
