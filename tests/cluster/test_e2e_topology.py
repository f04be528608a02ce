"""Cluster + Session end to end while the simulated cluster's topology changes.

Each test gets its own SimCluster (they stop, restart and remove nodes). Waits are on hub
events set by cluster listeners, never sleeps.
"""

from __future__ import annotations

import pytest

from greencql import (
    Cluster,
    ConstantReconnectionPolicy,
    DCAwareRoundRobinPolicy,
    SimpleStatement,
    TokenAwarePolicy,
)
from greencql.testing.cluster import SimCluster

KS = "topo"


class _Events:
    """A host listener that sets hub events: wait for 'up 127.0.0.2' without polling."""

    def __init__(self, hub):
        self._hub = hub
        self._events = {}

    def event(self, kind, address):
        key = (kind, address)
        if key not in self._events:
            self._events[key] = self._hub.event()
        return self._events[key]

    def on_up(self, host):
        self.event("up", host.address).set()

    def on_down(self, host):
        self.event("down", host.address).set()

    def on_add(self, host):
        self.event("add", host.address).set()

    def on_remove(self, host):
        self.event("remove", host.address).set()


def _wait_until(hub, event, check, timeout=5.0):
    """Wait for ``event`` (cleared after each wake) until ``check()`` holds: refreshes that
    were already scheduled may fire first, so one wake-up proves nothing."""
    deadline = hub.monotonic() + timeout
    while not check():
        remaining = deadline - hub.monotonic()
        if remaining <= 0 or not event.wait(remaining):
            return check()
        event.clear()
    return True


def _connect(sim, hub, rf=3, **kwargs):
    if "reconnection_policy" not in kwargs:
        kwargs["reconnection_policy"] = ConstantReconnectionPolicy(0.5)
    elif kwargs["reconnection_policy"] is None:
        del kwargs["reconnection_policy"]
    cluster = Cluster(sim.contact_points[:1], port=sim.port, hub=hub, **kwargs)
    events = _Events(hub)
    cluster.register_listener(events)
    session = cluster.connect(wait_for_all_pools=True)
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {KS} WITH replication = "
                    f"{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}")
    session.execute(f"CREATE TABLE IF NOT EXISTS {KS}.kv (k int PRIMARY KEY, v int)")
    session.set_keyspace(KS)
    return cluster, session, events


def test_stopped_node_is_avoided_and_restart_noticed(hub):
    with SimCluster(3, port=0, hub=hub) as sim:
        # the default (exponential, 1 s to 60 s) reconnection policy: the STATUS_CHANGE UP
        # event, not a short backoff, is what brings the node back quickly
        cluster, session, events = _connect(sim, hub, reconnection_policy=None)
        with cluster:
            ps = session.prepare("SELECT v FROM kv WHERE k = ?")
            ps.is_idempotent = True
            insert = session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
            for k in range(30):
                session.execute(insert, (k, k))
            node = sim.nodes[2]
            node.stop()
            # every request succeeds while the node is gone (idempotent: retried elsewhere)
            for k in range(30):
                assert session.execute(ps, (k,)).one().v == k
            assert events.event("down", node.address).wait(5)
            events.event("up", node.address).clear()  # set when it first came up
            sim.clear_logs()
            for k in range(30):
                session.execute(ps, (k,))
            assert not node.log.records(kind="EXECUTE")
            # restart: used again within 2 s of accepting connections (STATUS_CHANGE UP)
            node.start()
            assert events.event("up", node.address).wait(2.0)
            sim.clear_logs()
            for k in range(60):
                session.execute(ps, (k,))  # UNPREPARED on the restarted node is invisible
            assert node.log.records(kind="EXECUTE")


def test_unprepared_after_restart_is_transparent(hub):
    with SimCluster(1, port=0, hub=hub) as sim:
        cluster, session, events = _connect(sim, hub, rf=1, reprepare_on_up=False)
        with cluster:
            ps = session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
            session.execute(ps, (1, 1))
            node = sim.nodes[0]
            events.event("up", node.address).clear()
            node.stop()
            assert events.event("down", node.address).wait(5)
            node.start()
            assert events.event("up", node.address).wait(5)
            sim.clear_logs()
            session.execute(ps, (2, 2))  # the node forgot the statement
            kinds = [r.kind for r in node.log.records() if r.kind in ("EXECUTE", "PREPARE")]
            assert kinds[-3:] == ["EXECUTE", "PREPARE", "EXECUTE"]
            assert session.execute("SELECT v FROM kv WHERE k = 2").one().v == 2


def test_control_connection_survives_its_host(hub):
    with SimCluster(3, port=0, hub=hub) as sim:
        cluster, _session, _events = _connect(sim, hub)
        with cluster:
            control = cluster.control_connection
            first = control.host_endpoint
            reconnected = hub.event()
            schema = hub.event()
            control.listeners.append(lambda kind: reconnected.set() if kind == "connected"
                                     else schema.set() if kind == "schema" else None)
            sim.node(first.address).stop()
            assert reconnected.wait(5)
            assert control.host_endpoint != first
            # events still arrive: DDL from another client shows up in our metadata
            with Cluster(sim.contact_points[1:2], port=sim.port, hub=hub) as other:
                other_session = other.connect()
                schema.clear()
                other_session.execute(f"CREATE TABLE {KS}.from_other (k int PRIMARY KEY)")
                assert _wait_until(
                    hub, schema, lambda: "from_other" in cluster.metadata.keyspaces[KS].tables
                )


def test_schema_events_from_other_clients(hub):
    with SimCluster(2, port=0, hub=hub) as sim:
        cluster, _session, _events = _connect(sim, hub, rf=2)
        with cluster:
            schema = hub.event()
            cluster.control_connection.listeners.append(
                lambda kind: schema.set() if kind == "schema" else None)
            with Cluster(sim.contact_points[1:], port=sim.port, hub=hub) as other:
                s2 = other.connect(KS)
                for cql, check in (
                    ("CREATE TABLE t2 (k int PRIMARY KEY, v text)",
                     lambda ks: "t2" in ks.tables),
                    ("ALTER TABLE t2 ADD w int", lambda ks: "w" in ks.tables["t2"].columns),
                    ("CREATE TYPE addr (street text)", lambda ks: "addr" in ks.user_types),
                    ("DROP TABLE t2", lambda ks: "t2" not in ks.tables),
                ):
                    schema.clear()
                    s2.execute(cql)
                    assert _wait_until(
                        hub, schema, lambda c=check: c(cluster.metadata.keyspaces[KS])
                    ), cql


def test_five_nodes_two_stopped_still_serve(hub):
    with SimCluster(5, port=0, hub=hub) as sim:
        cluster, session, _events = _connect(sim, hub)
        with cluster:
            insert = session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
            insert.is_idempotent = True
            for node in sim.nodes[3:]:
                node.stop()
            for k in range(50):
                session.execute(insert, (k, k))
            assert len(session.execute("SELECT * FROM kv").all()) == 50


def test_topology_change_adds_and_removes_hosts(hub):
    with SimCluster(2, port=0, hub=hub) as sim:
        cluster, session, events = _connect(sim, hub, rf=2)
        with cluster:
            new = sim.add_node()
            assert events.event("add", new.address).wait(5)
            assert events.event("up", new.address).wait(5)
            sim.remove_node(new)
            assert events.event("remove", new.address).wait(5)
            assert new.address not in {h.address for h in cluster.metadata.all_hosts()}
            session.execute("SELECT * FROM kv")


def test_two_datacenters_stay_local(hub):
    with SimCluster(3, dcs=2, port=0, hub=hub) as sim:
        with Cluster(sim.contact_points[:1], port=sim.port, hub=hub) as cluster:
            session = cluster.connect(wait_for_all_pools=True)
            session.execute(
                f"CREATE KEYSPACE {KS} WITH replication = "
                "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 2}"
            )
            session.execute(f"CREATE TABLE {KS}.kv (k int PRIMARY KEY, v int)")
            ps = session.prepare(f"INSERT INTO {KS}.kv (k, v) VALUES (?, ?)")
            sim.clear_logs()
            for k in range(200):
                session.execute(ps, (k, k))
            records = sim.records(kind="EXECUTE")
            local = {n.name for n in sim.nodes if n.dc == "dc1"}
            assert {r.node for r in records} <= local
            assert sum(1 for r in records if r.is_replica) / len(records) >= 0.99
            policy = cluster.profile_manager[_default()].load_balancing_policy
            assert isinstance(policy, TokenAwarePolicy)
            assert isinstance(policy.child_policy, DCAwareRoundRobinPolicy)
            assert policy.child_policy.local_dc == "dc1"


def _default():
    from greencql import EXEC_PROFILE_DEFAULT

    return EXEC_PROFILE_DEFAULT


def test_paused_node_times_out_then_others_serve(hub):
    with SimCluster(3, port=0, hub=hub) as sim:
        cluster, session, _events = _connect(sim, hub)
        with cluster:
            sim.nodes[1].pause()
            stmt = SimpleStatement("SELECT * FROM kv WHERE k = 1", timeout=0.5)
            # some requests land on the paused node and time out (bounded); none hang
            outcomes = set()
            for _ in range(6):
                try:
                    session.execute(stmt)
                    outcomes.add("ok")
                except Exception as exc:
                    outcomes.add(type(exc).__name__)
            assert outcomes <= {"ok", "OperationTimedOut"}
            assert "ok" in outcomes
            sim.nodes[1].resume()


@pytest.mark.parametrize("version", [3, 4])
def test_older_protocol_versions(hub, version):
    with SimCluster(2, port=0, hub=hub) as sim:
        cluster, session, _events = _connect(sim, hub, rf=2, protocol_version=version)
        with cluster:
            assert cluster.protocol_version == version
            ps = session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
            session.execute(ps, (1, 1))
            assert session.execute("SELECT v FROM kv WHERE k = %s", (1,)).one().v == 1


def test_falls_back_to_system_peers(hub):
    from greencql import InvalidRequest

    with SimCluster(3, port=0, hub=hub) as sim:
        sim.prime("system.peers_v2", error=InvalidRequest("unconfigured table peers_v2"))
        with Cluster(sim.contact_points[:1], port=sim.port, hub=hub) as cluster:
            session = cluster.connect(wait_for_all_pools=True)
            assert len(cluster.metadata.all_hosts()) == 3
            assert cluster.control_connection._use_peers_v2 is False
            assert len(sim.records(kind="QUERY",
                                   predicate=lambda r: r.query.endswith("system.peers"))) >= 1
            session.execute("SELECT * FROM system.local")
