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


def test_a_schema_refresh_sends_its_queries_at_once(hub):
    # a refresh of every schema table is one round trip, not one per table: on a busy client
    # each round trip waits a whole turn of the loop, and every (re)connection of the
    # control connection waits for a refresh. With an answer delay of 1 s on the node, every
    # query of the refresh has arrived before the first answer left.
    with SimCluster(1, port=0, hub=hub) as sim:
        cluster = Cluster(sim.contact_points, port=sim.port, hub=hub)
        try:
            cluster._connect_control()
            node = sim[0]
            sim.clear_logs()
            node.latency = 1.0
            cluster.control_connection.refresh_schema()
            node.latency = 0.0
            times = [r.time for r in node.log.records(kind="QUERY")
                     if "system_schema." in (r.query or "")]
            assert len(times) >= 8
            assert max(times) - min(times) < 1.0
            assert cluster.metadata.keyspaces["system"] is not None
        finally:
            cluster.shutdown()
