"""Overload, functionally: a slow, OVERLOADED node and 2,000 greenlets against a throttled
session stay within the throttler's limits (the figures are bench/overload.py's).

One node answers 10x slower than the others and refuses a table with OVERLOADED; 2,000
greenlets each send one request at once. With ``RequestThrottler(64, max_queue_size=128)``:
never more than 64 requests in flight nor 128 queued (sampled by every caller, before and
after its request), every caller beyond them rejected with RequestThrottled before the first
response came back (no waiting for capacity), every admitted request answered or failed
with a typed error, and the throttler back to zero at the end.
"""

from __future__ import annotations

import pytest
from conftest import TEST_HUB

from greencql import Cluster, RequestThrottled, RequestThrottler
from greencql.errors import DriverException, Overloaded
from greencql.testing import SimCluster

pytestmark = pytest.mark.skipif(TEST_HUB == "thread",
                                reason="2,000 concurrent callers: a green-hub scenario")

CALLERS = 2000
MAX_CONCURRENT = 64
MAX_QUEUE = 128


@pytest.fixture
def sim(hub):
    with SimCluster(3, port=0, hub=hub) as s:
        yield s


def test_throttled_session_stays_within_its_limits(hub, sim):
    template = RequestThrottler(MAX_CONCURRENT, max_queue_size=MAX_QUEUE, max_wait=5.0)
    cluster = Cluster(sim.contact_points, port=sim.port, hub=hub, request_throttler=template)
    try:
        s = cluster.connect()
        s.execute("CREATE KEYSPACE ovl WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE ovl.a (k int PRIMARY KEY, v int)")
        s.execute("CREATE TABLE ovl.b (k int PRIMARY KEY, v int)")
        for node in sim.nodes:
            node.latency = 0.02
        slow = sim.nodes[0]
        slow.latency = 0.2  # x10
        slow.prime("ovl.b", error=Overloaded)
        # each session gets its own throttler built from the template (Cluster.request_throttler)
        throttler = s._throttle._throttler
        assert throttler is not template
        sel_a = s.prepare("SELECT v FROM ovl.a WHERE k = ?")
        sel_b = s.prepare("SELECT v FROM ovl.b WHERE k = ?")
        first_answer = hub.event()
        outcomes: dict[str, int] = {}
        rejected_before_any_answer = 0
        peaks = {"in_flight": 0, "queued": 0}
        done = hub.event()
        finished = [0]

        def sample() -> None:
            peaks["in_flight"] = max(peaks["in_flight"], throttler.in_flight)
            peaks["queued"] = max(peaks["queued"], throttler.queued)

        def caller(i: int) -> None:
            nonlocal rejected_before_any_answer
            stmt = sel_b if i % 2 else sel_a
            sample()
            try:
                s.execute(stmt, (i,), timeout=10.0)
                outcome = "ok"
            except RequestThrottled:
                outcome = "throttled"
                if not first_answer.is_set():
                    rejected_before_any_answer += 1
            except DriverException as exc:
                outcome = type(exc).__name__
            else:
                first_answer.set()
            finally:
                sample()
                finished[0] += 1
                if finished[0] == CALLERS:
                    done.set()
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

        tasks = [hub.spawn(caller, i) for i in range(CALLERS)]
        assert done.wait(60.0), outcomes
        for t in tasks:
            assert t.join(10.0)
        assert peaks["in_flight"] == MAX_CONCURRENT, peaks  # reached, never passed
        assert 0 < peaks["queued"] <= MAX_QUEUE, peaks
        assert sum(outcomes.values()) == CALLERS
        throttled = outcomes.get("throttled", 0)
        # everyone beyond in-flight + queue is refused at once, before any answer arrived
        assert throttled >= CALLERS - MAX_CONCURRENT - MAX_QUEUE, outcomes
        assert rejected_before_any_answer >= CALLERS - MAX_CONCURRENT - MAX_QUEUE, outcomes
        assert outcomes.get("ok", 0) > 0
        assert set(outcomes) <= {"ok", "throttled", "Overloaded", "NoHostAvailable"}, outcomes
        assert throttler.in_flight == 0 and throttler.queued == 0
    finally:
        cluster.shutdown()
