"""A SimCluster laid out on distinct ports (every node on 127.0.0.1): each node answers for
itself in system.local and lists the two others, with their native ports, in system.peers_v2.

Over raw protocol connections of this process's hub; in the thread-hub process also through
cassandra-driver (the independent oracle), which must discover all three endpoints.
"""

from __future__ import annotations

import os

import pytest
from conftest import import_cassandra_cluster
from test_server import RawClient

from greencql.testing import SimCluster


@pytest.fixture(scope="module")
def sim(hub):
    with SimCluster(addresses="distinct-ports", port=0, nodes=3, hub=hub) as cluster:
        yield cluster


def _dicts(result):
    names = [c.name for c in result.metadata.columns]
    return [dict(zip(names, row, strict=True)) for row in result.rows]


def test_layout(sim):
    assert [n.address for n in sim.nodes] == ["127.0.0.1"] * 3
    assert len({n.port for n in sim.nodes}) == 3


@pytest.mark.parametrize("version", [4, 5])
def test_each_node_lists_the_two_others(sim, version):
    for node in sim.nodes:
        c = RawClient(node.endpoint, version)
        try:
            local = _dicts(c.query("SELECT host_id, rpc_port, listen_port FROM system.local"))
            assert [(r["host_id"], r["rpc_port"]) for r in local] == [(node.host_id, node.port)]
            v2 = _dicts(c.query("SELECT peer, peer_port, host_id, native_address, native_port "
                                "FROM system.peers_v2"))
            others = [n for n in sim.nodes if n is not node]
            assert sorted((r["host_id"], str(r["native_address"]), r["native_port"])
                          for r in v2) == sorted((n.host_id, n.address, n.port) for n in others)
            # (peer, peer_port) is the key: distinct storage ports, none the node's own
            assert len({(r["peer"], r["peer_port"]) for r in v2}) == 2
            assert local[0]["listen_port"] not in {r["peer_port"] for r in v2}
            # system.peers is keyed by address: all it can say is "someone on 127.0.0.1"
            peers = _dicts(c.query("SELECT peer, host_id FROM system.peers"))
            assert [str(r["peer"]) for r in peers] == ["127.0.0.1"]
            assert peers[0]["host_id"] in {n.host_id for n in others}
        finally:
            c.close()


@pytest.mark.skipif(os.environ.get("GREENCQL_TEST_HUB", "gevent") != "thread",
                    reason="cassandra-driver runs unpatched in the thread-hub process only")
def test_cassandra_driver_discovers_every_port(sim):
    driver = import_cassandra_cluster()
    first = sim.nodes[0]
    cluster = driver.Cluster([first.address], port=first.port, protocol_version=5,
                                        connect_timeout=5, control_connection_timeout=5)
    try:
        # the driver opens its pools in the background; a query pinned to a host whose pool
        # is not there yet fails as "marked down or removed", so wait for every pool
        session = cluster.connect(wait_for_all_pools=True)
        hosts = {(h.endpoint.address, h.endpoint.port): h.host_id
                 for h in cluster.metadata.all_hosts()}
        assert hosts == {n.endpoint: n.host_id for n in sim.nodes}
        for node in sim.nodes:  # each endpoint answers as itself
            row = session.execute("SELECT host_id, rpc_port FROM system.local",
                                  host=cluster.metadata.get_host(node.address, node.port)).one()
            assert (row.host_id, row.rpc_port) == (node.host_id, node.port)
    finally:
        cluster.shutdown()
