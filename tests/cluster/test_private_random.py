"""The driver draws from its own random source, never from the application's global one.

An application (or a test) that seeds ``random`` gets the same sequence whatever the driver
does meanwhile: query plans' first hosts, reconnection jitter and metrics sampling all use
``greencql.pool.forksafety.rng``, which a forked child reseeds (as Python does for ``random``).
"""

from __future__ import annotations

import os
import random

import pytest

from greencql import Cluster
from greencql.cluster.policies.loadbalancing import DCAwareRoundRobinPolicy, RoundRobinPolicy
from greencql.cluster.policies.reconnection import ExponentialReconnectionPolicy
from greencql.pool import forksafety
from greencql.testing.cluster import SimCluster


@pytest.fixture(scope="module")
def sim(hub):
    with SimCluster(3, port=0, hub=hub) as s:
        yield s


def test_requests_and_policies_leave_the_global_random_state_alone(sim):
    random.seed(1234)
    state = random.getstate()
    cluster = Cluster(sim.contact_points, port=sim.port, hub=sim.hub, metrics_enabled=True)
    try:
        session = cluster.connect()
        for _ in range(20):
            session.execute("SELECT release_version FROM system.local")
        delays = ExponentialReconnectionPolicy(1.0, 60.0).new_schedule()
        [next(delays) for _ in range(5)]
        for policy in (RoundRobinPolicy(), DCAwareRoundRobinPolicy()):
            policy.populate(list(cluster.metadata.all_hosts()))
            list(policy.make_query_plan())
    finally:
        cluster.shutdown()
    assert random.getstate() == state


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_reseeds_the_drivers_random_source():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first draw, then out without running the parent's cleanup
        try:
            os.write(write, repr(forksafety.rng.random()).encode())
        finally:
            os._exit(0)
    os.close(write)
    try:
        child = float(os.read(read, 64).decode())
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    assert child != forksafety.rng.random()  # the parent's next draw: not the same sequence
