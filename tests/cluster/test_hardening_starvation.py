"""Issue 18, "seen, not yet proven harmful": a greenlet retrying ``execute()`` in a tight loop
against a cluster that is entirely down.

NoHostAvailable used to be raised before the caller ever switched, so such a loop never gave
the hub a turn: no other greenlet ran, including the reconnection that would end the outage.
``result()`` now yields once before raising NoHostAvailable. On the thread hub other threads
run anyway; the test holds there trivially and is kept for symmetry.
"""

from __future__ import annotations

import pytest

from greencql import Cluster, ConstantReconnectionPolicy, NoHostAvailable
from greencql.testing.cluster import SimCluster


class _Down:
    def __init__(self, hub):
        self.event = hub.event()

    def on_down(self, host):
        self.event.set()


def test_tight_retry_loop_on_a_down_cluster_lets_the_hub_run(hub):
    with SimCluster(1, port=0, hub=hub) as sim:
        cluster = Cluster(sim.contact_points, port=sim.port, hub=hub,
                          reconnection_policy=ConstantReconnectionPolicy(60.0))
        down = _Down(hub)
        cluster.register_listener(down)
        session = cluster.connect(wait_for_all_pools=True)
        try:
            sim.nodes[0].stop()
            assert down.event.wait(5)
            other = []
            hub.spawn(other.append, "ran")
            for _ in range(200):
                with pytest.raises(NoHostAvailable):
                    session.execute("SELECT release_version FROM system.local")
                if other:
                    break
            assert other == ["ran"], "200 failed executes and no other greenlet ran"
        finally:
            cluster.shutdown()
