"""A node that comes back is given the prepared statements before it is back in the query
plans (the Java driver's reprepare-on-up): by the time listeners and load-balancing policies
hear it is up, the node knows every statement, so the requests it then coordinates are not
answered UNPREPARED and prepared again one by one. Against the simulated cluster over real
sockets."""

from __future__ import annotations

import pytest

from greencql import Cluster, ConstantReconnectionPolicy

SimCluster = pytest.importorskip("greencql.testing.cluster").SimCluster

KS = "reprep"


class _Up:
    def __init__(self, hub, node) -> None:
        self.node = node
        self.up = hub.event()
        self.down = hub.event()
        self.prepares_seen_at_up: list[str] = []

    def on_up(self, host) -> None:
        if host.address == self.node.address:
            self.prepares_seen_at_up = [r.query for r in self.node.log.records(kind="PREPARE")]
            self.up.set()

    def on_down(self, host) -> None:
        if host.address == self.node.address:
            self.down.set()

    def on_add(self, host) -> None:
        pass

    def on_remove(self, host) -> None:
        pass


def test_a_restarted_node_knows_the_statements_before_it_is_announced_up(hub):
    with SimCluster(2, port=0, hub=hub) as sim:
        cluster = Cluster(sim.contact_points, port=sim.port, hub=hub,
                          reconnection_policy=ConstantReconnectionPolicy(0.2))
        with cluster:
            session = cluster.connect(wait_for_all_pools=True)
            session.execute(f"CREATE KEYSPACE {KS} WITH replication = "
                            "{'class': 'SimpleStrategy', 'replication_factor': 2}")
            session.execute(f"CREATE TABLE {KS}.kv (k int PRIMARY KEY, v int)")
            ins = session.prepare(f"INSERT INTO {KS}.kv (k, v) VALUES (?, ?)")
            sel = session.prepare(f"SELECT v FROM {KS}.kv WHERE k = ?")
            node = sim.nodes[1]
            watch = _Up(hub, node)
            cluster.register_listener(watch)
            node.stop()
            assert watch.down.wait(5)
            sim.clear_logs()  # the PREPAREs it got before going down do not count
            node.start()  # forgets its prepared statements
            assert watch.up.wait(10)
            assert set(watch.prepares_seen_at_up) >= {ins.query_string, sel.query_string}
            host = cluster.metadata.get_host(node.address)
            sim.clear_logs()
            session.execute(ins, (1, 1), host=host)
            assert session.execute(sel, (1,), host=host).one().v == 1
            answers = [r.response for r in node.log.records() if r.kind == "EXECUTE"]
            assert answers and "ERROR 0x2500" not in answers  # never UNPREPARED
