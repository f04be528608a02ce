"""The control connection through transient faults of live nodes, against the simulated
cluster over real sockets: when a reconnection pass fails because a live node cut its replies
(not because no node was reachable), the next pass comes after the reconnection policy's
first delay, not after a delay grown meanwhile."""

from __future__ import annotations

import pytest

from greencql import Cluster

SimCluster = pytest.importorskip("greencql.testing.cluster").SimCluster


class _Schedule:
    """Delays 0.05 s, then 30 s forever; counts the schedules made."""

    def __init__(self) -> None:
        self.made = 0

    def new_schedule(self):
        self.made += 1
        yield 0.05
        while True:
            yield 30.0


def test_cut_replies_do_not_grow_the_control_connection_backoff(hub):
    with SimCluster(1, port=0, hub=hub) as sim:
        policy = _Schedule()
        cluster = Cluster(sim.contact_points, port=sim.port, hub=hub,
                          reconnection_policy=policy)
        try:
            cluster._connect_control()  # the control connection alone: no pool takes cuts
            control = cluster.control_connection
            connected = hub.event()
            control.listeners.append(lambda kind: connected.set() if kind == "connected"
                                     else None)
            # the connection is closed, then the next passes' handshakes are cut: the pass
            # at once and the one after 0.05 s fail; without a fresh schedule the next one
            # would come 30 s later
            sim[0].drop_next_responses(3)
            sim[0].close_connections()
            assert connected.wait(10), "the control connection did not come back"
            assert sim[0].faults.drop_mid_response == 0
            assert policy.made >= 2
            assert control.connection is not None
            control.refresh_topology()
        finally:
            cluster.shutdown()
