"""Issue 18, item 1: the request throttler's queue during an outage and a shutdown.

Scale of the issue: ``RequestThrottler(max_concurrent_requests=10)``, 10 requests in flight
and 200 queued when the node goes away. Admitting the next waiter used to happen inside the
call stack of the request that just finished (``_complete -> release -> _signal ->
_on_admission -> _begin -> _fail_no_host -> _complete ...``): past ~100 waiters that met the
recursion limit, the RecursionError was only logged, and the callers waited for their request
timeout (OperationTimedOut) instead of getting NoHostAvailable at once. A shutdown left the
queued callers waiting the same way. Every wait here is bounded; request timeouts are long
(30 s) so that a caller answered by its timeout cannot pass for one answered at once.
"""

from __future__ import annotations

import logging

import pytest

from greencql import Cluster, NoHostAvailable, OperationTimedOut, RequestThrottler
from greencql.cluster.session import _Throttle
from greencql.errors import DriverException
from greencql.testing.cluster import SimCluster

IN_FLIGHT = 10
QUEUED = 200
LONG = 30.0  # request timeout: far beyond every bounded wait below
STUCK = "SELECT release_version FROM system.local"


def _connect(sim, hub):
    cluster = Cluster(
        sim.contact_points, port=sim.port, hub=hub,
        request_throttler=RequestThrottler(max_concurrent_requests=IN_FLIGHT),
        default_timeout=LONG,
    )
    return cluster, cluster.connect(wait_for_all_pools=True)


def _outcome(future, timeout=5.0):
    try:
        future.result(timeout=timeout)
    except BaseException as exc:
        return exc
    return None


def _fill(session, sim, queued=QUEUED):
    """10 requests stuck on the paused node, then ``queued`` more queued by the throttler."""
    node = sim.nodes[0]
    node.pause()
    futures = [session.execute_async(STUCK) for _ in range(IN_FLIGHT)]
    seen = []

    def tenth(record):
        if record.query == STUCK:
            seen.append(record)
        return len(seen) >= IN_FLIGHT

    node.log.wait_for(tenth, timeout=5)
    futures += [session.execute_async(STUCK) for _ in range(queued)]
    assert session._throttle._throttler.queued == queued
    return futures


@pytest.mark.parametrize("queued", [QUEUED, 490])
def test_outage_fails_every_queued_request_at_once_without_recursion(hub, caplog, queued):
    with SimCluster(1, port=0, hub=hub) as sim:
        cluster, session = _connect(sim, hub)
        try:
            futures = _fill(session, sim, queued)
            caplog.set_level(logging.ERROR, logger="greencql")
            sim.nodes[0].stop()
            outcomes = [_outcome(f) for f in futures]
        finally:
            cluster.shutdown()
    # the in-flight ones failed with their connection; every queued one with NoHostAvailable
    assert all(isinstance(e, DriverException) for e in outcomes), outcomes[:3]
    assert not [e for e in outcomes if isinstance(e, OperationTimedOut)]
    assert all(isinstance(e, NoHostAvailable) for e in outcomes[IN_FLIGHT:])
    assert "request handling failed" not in caplog.text
    assert "RecursionError" not in caplog.text


def test_shutdown_fails_queued_callers_at_once(hub):
    with SimCluster(1, port=0, hub=hub) as sim:
        cluster, session = _connect(sim, hub)
        try:
            futures = _fill(session, sim)
            cluster.shutdown()
            # shutdown returned: nobody is left waiting for a timeout
            assert all(f.done() for f in futures)
            outcomes = [_outcome(f, 0) for f in futures]
        finally:
            cluster.shutdown()
    assert not [e for e in outcomes if isinstance(e, OperationTimedOut)]
    assert all(isinstance(e, DriverException) for e in outcomes)
    queued = outcomes[IN_FLIGHT:]
    assert all("shut down" in str(e) for e in queued), queued[0]


def test_admission_chain_is_a_loop(hub):
    """The driver alone, 5,000 waiters deep: each admitted waiter releases at once (what a
    request does when every host is down); a recursion would need 5,000 frames."""
    import sys

    throttle = _Throttle(RequestThrottler(max_concurrent_requests=1, max_queue_size=10_000),
                         hub)
    admitted = []

    def fail_at_once(error):
        assert error is None
        admitted.append(1)
        throttle.release()

    first = []
    throttle.acquire(first.append)  # holds the only slot
    for _ in range(5000):
        throttle.acquire(fail_at_once)
    assert sys.getrecursionlimit() < 5000 * 3
    throttle.release()
    assert len(admitted) == 5000
    assert throttle._throttler.in_flight == 0 and throttle._throttler.queued == 0


def test_closed_throttle_rejects_newcomers(hub):
    throttle = _Throttle(RequestThrottler(max_concurrent_requests=1), hub)
    throttle.close(lambda: DriverException("closed"))
    got = []
    throttle.acquire(got.append)
    assert isinstance(got[0], DriverException)


def test_throttle_counts_stay_exact_after_an_outage(hub):
    """After the storm, the throttler holds nothing: no slot leaked by a failed admission."""
    with SimCluster(1, port=0, hub=hub) as sim:
        cluster, session = _connect(sim, hub)
        try:
            futures = _fill(session, sim)
            sim.nodes[0].stop()
            for f in futures:
                _outcome(f)
            throttler = session._throttle._throttler
            assert throttler.in_flight == 0 and throttler.queued == 0
        finally:
            cluster.shutdown()
