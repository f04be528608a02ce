"""Lifecycle: repeated connect/shutdown and failed authentications leave nothing behind, and
a Cluster used from another OS thread's hub fails with the cross-hub error, harmlessly.

100 connect/shutdown and 200 failed-login cycles here (``bench/lifecycle.py`` runs
10,000): after a warm-up, open sockets and live greenlets (OS threads on the thread hub) are
back to their count, and traced memory grows by less than 2 KiB per cycle. Not zero: timers
still waiting to expire hold a few hundred bytes per cycle (request-timeout timers are not
cancelled when the answer comes, they find it answered when they fire; eventlet's own wait
timers likewise), released within their timeout; a leaked Cluster, session or connection
would be tens of KiB per cycle. bench/lifecycle.py shows the plateau over 10,000 cycles.
"""

from __future__ import annotations

import pytest
from conftest import TEST_HUB
from soak_harness import SimControl
from soak_lifecycle import PASSWORD, USER, run_cycles

from greencql import Cluster
from greencql.errors import HubError

CYCLES = 100  # connect/shutdown (each is a real connect); failed logins: 2x
MAX_BYTES_PER_CYCLE = 2048


@pytest.fixture(scope="module")
def sim(hub):
    s = SimControl(hub, nodes=1, track=())
    yield s
    s.close()


@pytest.fixture(scope="module")
def auth_sim(hub):
    s = SimControl(hub, nodes=1, track=(), auth=(USER, PASSWORD))
    yield s
    s.close()


def _check(report) -> None:
    print(report.summary())
    assert report.sockets[1] <= report.sockets[0], report.summary()
    assert report.tasks[1] <= report.tasks[0], report.summary()
    assert report.traced_growth_per_cycle < MAX_BYTES_PER_CYCLE, report.summary()


def test_connect_shutdown_cycles(hub, sim):
    _check(run_cycles(hub, sim, "connect", CYCLES))


def test_failed_authentication_cycles(hub, auth_sim):
    report = run_cycles(hub, auth_sim, "auth", 2 * CYCLES)
    assert sum(report.errors.values()) == 2 * CYCLES + 20
    _check(report)


# -- two OS threads, two hubs ----------------------------------------------------------------


def _native_start_new_thread(hub):
    if hub.name == "gevent":
        from gevent.monkey import get_original

        return get_original("_thread", "start_new_thread")
    from eventlet.patcher import original

    return original("_thread").start_new_thread


@pytest.mark.skipif(TEST_HUB == "thread", reason="thread-hub objects are shared by threads")
def test_cluster_used_from_another_threads_hub_fails_clearly(hub, sim):
    """A session of this thread's hub, used from a greenlet of another OS thread's own hub
    (and from that thread's main greenlet): HubError every time, then the session works on
    as before in its own thread (no stream id, throttler slot or connection lost)."""
    cluster = Cluster(sim.contact_points, port=sim.port, hub=hub)
    try:
        session = cluster.connect()
        query = "SELECT release_version FROM system.local"
        assert session.execute(query).one()
        outcomes: list[str] = []
        finished = hub.event()
        # the other thread signals through a socket pair: a plain fd every hub can wait on
        import socket as _socket_mod

        r, w = _socket_mod.socketpair()

        def other_thread() -> None:
            def attempt() -> None:
                try:
                    session.execute(query, timeout=2.0)
                    outcomes.append("ran")
                except HubError as exc:
                    outcomes.append("HubError" if "hub" in str(exc).lower() else str(exc))
                except BaseException as exc:
                    outcomes.append(f"{type(exc).__name__}: {exc}")

            try:
                for _ in range(5):
                    attempt()  # the thread's main greenlet
                task = hub.spawn(attempt)  # a greenlet of this thread's own hub
                task.join(5.0)
            finally:
                w.send(b"x")

        _native_start_new_thread(hub)(other_thread, ())
        r.settimeout(30.0)
        assert r.recv(1) == b"x"
        r.close()
        w.close()
        finished.set()
        assert outcomes == ["HubError"] * 6, outcomes
        for _ in range(50):
            assert session.execute(query).one()
        for pool in session._pools.values():
            for conn in pool._pool.connections:
                assert conn.in_flight == 0 and conn.orphaned == 0
    finally:
        cluster.shutdown()
