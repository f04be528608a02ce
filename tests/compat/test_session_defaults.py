"""cassandra-driver's settable session defaults, against the simulated node.

``session.row_factory = dict_factory`` (the commonest line of cassandra-driver applications),
``default_timeout``, ``default_fetch_size``, ``default_consistency_level``,
``default_serial_consistency_level``, ``use_client_timestamp`` and the cluster's
``timestamp_generator``. The node's request log shows what each request carried; in the
thread-hub process cassandra-driver does the same on the same node and must agree.
"""

from __future__ import annotations

import pytest
from compat_fixtures import *  # noqa: F403 (the fixtures)
from compat_fixtures import KS

from greencql import Cluster, ConsistencyLevel, ExecutionProfile, OperationTimedOut
from greencql.query import SimpleStatement, dict_factory


@pytest.fixture(scope="module")
def table(session):
    session.execute("CREATE TABLE IF NOT EXISTS kv (k int PRIMARY KEY, v text)")
    insert = session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
    for i in range(5):
        session.execute(insert, (i, f"v{i}"))
    return "kv"


@pytest.fixture()
def fresh(cluster):
    """A session of its own: the settings below are per session."""
    s = cluster.connect(KS)
    try:
        yield s
    finally:
        s.shutdown()


def _last(sim, text):
    return [r for r in sim.records(kind="QUERY") if r.query == text][-1]


def test_row_factory_is_settable(fresh, table, oracle):
    fresh.row_factory = dict_factory
    assert fresh.row_factory is dict_factory
    ours = fresh.execute("SELECT k, v FROM kv WHERE k = 1").one()
    assert ours == {"k": 1, "v": "v1"} and type(ours) is dict
    if oracle is not None:
        from cassandra.query import dict_factory as their_dict_factory

        oracle.row_factory = their_dict_factory
        assert oracle.execute("SELECT k, v FROM kv WHERE k = 1").one() == ours


def test_legacy_settings_are_refused_with_execution_profiles(sim, oracle_cluster):
    profiles = {"fast": ExecutionProfile(request_timeout=1.0)}
    with Cluster(sim.contact_points, port=sim.port, hub=sim.hub,
                 execution_profiles=profiles) as cluster:
        s = cluster.connect()
        with pytest.raises(ValueError, match=r"Cannot set Session\.row_factory while using "
                                             "Configuration Profiles"):
            s.row_factory = dict_factory
    if oracle_cluster is not None:
        from conftest import import_cassandra_cluster

        cc = import_cassandra_cluster()
        their = cc.Cluster(sim.contact_points, port=sim.port, protocol_version=5,
                           execution_profiles={"fast": cc.ExecutionProfile(request_timeout=1)})
        try:
            s = their.connect()
            with pytest.raises(ValueError, match=r"Cannot set Session\.row_factory while using "
                                                 "Configuration Profiles"):
                s.row_factory = dict_factory
        finally:
            their.shutdown()


def test_default_timeout_is_settable(fresh, sim, table):
    fresh.default_timeout = 0.2
    assert fresh.default_timeout == 0.2
    sim.node(1).latency = 1.0
    try:
        with pytest.raises(OperationTimedOut):
            fresh.execute("SELECT k FROM kv WHERE k = 1")
    finally:
        sim.node(1).latency = 0.0
    fresh.default_timeout = 5.0
    assert fresh.execute("SELECT k FROM kv WHERE k = 1").one().k == 1


def test_default_fetch_size_is_settable(fresh, sim, table, oracle):
    fresh.default_fetch_size = 2
    query = "SELECT * FROM kv"
    rs = fresh.execute(query)
    assert len(rs.current_rows) == 2 and rs.has_more_pages
    assert sorted(r.k for r in rs) == [0, 1, 2, 3, 4]
    assert _last(sim, query).page_size == 2
    if oracle is not None:
        oracle.default_fetch_size = 2
        theirs = oracle.execute(query)
        assert len(theirs.current_rows) == 2 and theirs.has_more_pages


def test_default_consistency_levels_are_settable(fresh, sim, table, oracle):
    with pytest.warns(DeprecationWarning, match="consistency level at the session level"):
        fresh.default_consistency_level = ConsistencyLevel.QUORUM
    fresh.default_serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
    with pytest.raises(ValueError, match=r"SERIAL or ConsistencyLevel\.LOCAL_SERIAL"):
        fresh.default_serial_consistency_level = ConsistencyLevel.ONE
    query = "UPDATE kv SET v = 'x' WHERE k = 4 IF v = 'v4'"
    fresh.execute(query)
    record = _last(sim, query)
    assert record.consistency == ConsistencyLevel.QUORUM
    assert record.serial_consistency == ConsistencyLevel.LOCAL_SERIAL
    # a statement's own level still wins
    fresh.execute(SimpleStatement("SELECT k FROM kv WHERE k = 0",
                                  consistency_level=ConsistencyLevel.ONE))
    assert _last(sim, "SELECT k FROM kv WHERE k = 0").consistency == ConsistencyLevel.ONE
    if oracle is not None:
        with pytest.warns(DeprecationWarning, match="consistency level at the session level"):
            oracle.default_consistency_level = ConsistencyLevel.QUORUM
        oracle.default_serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
        oracle.execute(query)
        theirs = _last(sim, query)
        assert (theirs.consistency, theirs.serial_consistency) == (
            record.consistency, record.serial_consistency)


def test_client_timestamps_follow_use_client_timestamp_and_the_generator(sim, table, oracle):
    with Cluster(sim.contact_points, port=sim.port, hub=sim.hub,
                 timestamp_generator=lambda: 1234567) as cluster:
        s = cluster.connect(KS)
        query = "UPDATE kv SET v = 'y' WHERE k = 3"
        s.execute(query)
        assert _last(sim, query).timestamp == 1234567
        s.use_client_timestamp = False
        s.execute(query)
        assert _last(sim, query).timestamp is None
    if oracle is not None:
        oracle.cluster.timestamp_generator = lambda: 7654321
        oracle.execute(query)
        assert _last(sim, query).timestamp == 7654321
        oracle.use_client_timestamp = False
        oracle.execute(query)
        assert _last(sim, query).timestamp is None
