"""Fixtures of the compatibility tests (star-imported by the test modules): one simulated
node, a greencql session on it, and (in the thread-hub process only) a cassandra-driver
session on the same node.

cassandra-driver is the oracle: where it can run (see tests/testing/test_oracle.py: the
thread-hub process, where nothing is patched and it uses its own reactor), a test asks it and
greencql the same question on the same server and compares the answers. Elsewhere the
``oracle`` fixture is None and the tests check greencql alone against the values cassandra-
driver is known to give (the same assertions, written out).
"""

from __future__ import annotations

import pytest
from conftest import TEST_HUB, import_cassandra_cluster

from greencql import Cluster
from greencql.testing import SimCluster

__all__ = ["KS", "sim", "cluster", "session", "oracle_cluster", "oracle"]

KS = "compat"


@pytest.fixture(scope="module")
def sim(hub):
    with SimCluster(1, port=0, hub=hub) as s:
        yield s


@pytest.fixture(scope="module")
def cluster(sim):
    c = Cluster(sim.contact_points, port=sim.port, hub=sim.hub)
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def session(cluster):
    s = cluster.connect()
    s.execute(f"CREATE KEYSPACE IF NOT EXISTS {KS} WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 1}")
    s.set_keyspace(KS)
    return s


@pytest.fixture(scope="module")
def oracle_cluster(sim, session):
    """cassandra-driver's Cluster on the same node, or None outside the thread process."""
    if TEST_HUB != "thread":
        yield None
        return
    cassandra_cluster = import_cassandra_cluster()
    c = cassandra_cluster.Cluster(sim.contact_points, port=sim.port, protocol_version=5,
                                  connect_timeout=5, control_connection_timeout=5)
    try:
        yield c
    finally:
        c.shutdown()


@pytest.fixture()
def oracle(oracle_cluster):
    """A fresh cassandra-driver session in the test keyspace (None outside the thread
    process)."""
    if oracle_cluster is None:
        yield None
        return
    s = oracle_cluster.connect(KS)
    try:
        yield s
    finally:
        s.shutdown()
