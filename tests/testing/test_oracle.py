"""The independent oracle: cassandra-driver 3.30.1 against a 3-node SimCluster.

Proof that the simulator speaks real CQL: the driver discovers every node and the token map
(its replicas match the nodes' own replica flags), creates schema, writes and reads every CQL
type with simple and prepared statements, pages over 10,000 rows, runs batches and an LWT,
sees a schema change event in its metadata, and a node stop / restart as DOWN / UP.

Where it runs: only in the ``thread`` test process (GREENCQL_TEST_HUB=thread). There nothing
is monkey-patched, so the driver uses its own libev reactor on real threads, and the
SimCluster serves on the thread hub in this process (its tasks are OS threads), so tests keep
full access to the nodes (stop, logs). Under gevent or eventlet the driver would pick its
gevent/eventlet reactor, which is not the independent client we want; those processes skip
this module (``test_simcluster.py::test_cli_process`` and ``test_cqlsh.py`` cover the
child-process and foreign-client paths there).
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import os
import struct
import threading
import uuid

import pytest
from conftest import import_cassandra_cluster

from greencql.testing import SimCluster

pytestmark = pytest.mark.skipif(
    os.environ.get("GREENCQL_TEST_HUB", "gevent") != "thread",
    reason="cassandra-driver oracle runs in the thread-hub process only (see module docstring)",
)

WAIT = 20.0


def _driver():
    import_cassandra_cluster()
    import cassandra.policies
    import cassandra.query

    return cassandra


@pytest.fixture(scope="module")
def sim():
    with SimCluster(3, port=0, hub="thread") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def driver(sim):
    cassandra = _driver()
    cluster = cassandra.cluster.Cluster(
        [sim.nodes[0].address], port=sim.port, protocol_version=5,
        execution_profiles={cassandra.cluster.EXEC_PROFILE_DEFAULT:
                            cassandra.cluster.ExecutionProfile(
                                load_balancing_policy=cassandra.policies.TokenAwarePolicy(
                                    cassandra.policies.RoundRobinPolicy()))},
        connect_timeout=5, control_connection_timeout=5,
        schema_event_refresh_window=0.05, topology_event_refresh_window=0.05,
        status_event_refresh_window=0.05,
        reconnection_policy=cassandra.policies.ConstantReconnectionPolicy(0.2),
    )
    session = cluster.connect()
    session.execute("CREATE KEYSPACE oracle WITH replication = {'class': 'SimpleStrategy', "
                    "'replication_factor': 2}")
    session.set_keyspace("oracle")
    try:
        yield cluster, session
    finally:
        cluster.shutdown()


def test_discovers_nodes_and_token_map(sim, driver):
    cluster, session = driver
    hosts = {h.endpoint.address: h for h in cluster.metadata.all_hosts()}
    assert set(hosts) == {n.address for n in sim.nodes}
    assert all(h.datacenter == "datacenter1" and h.is_up for h in hosts.values())
    session.execute("CREATE TABLE IF NOT EXISTS routed (k int PRIMARY KEY, v int)")
    tm = cluster.metadata.token_map
    assert tm is not None
    for k in range(30):
        key = struct.pack(">i", k)
        token = tm.token_class.from_key(key)
        theirs = {h.endpoint.address for h in tm.get_replicas("oracle", token)}
        ours = {n.address for n in sim.replicas("oracle", key)}
        assert theirs == ours and len(ours) == 2
    # the driver routes by token: each EXECUTE lands on a node that flags itself a replica
    sim.clear_logs()
    insert = session.prepare("INSERT INTO routed (k, v) VALUES (?, ?)")
    for k in range(30):
        session.execute(insert, (k, k))
    records = sim.records(kind="EXECUTE", query="INSERT INTO routed")
    assert len(records) == 30
    assert all(r.is_replica for r in records)
    assert {r.routing_key for r in records} == {struct.pack(">i", k) for k in range(30)}


COLUMNS = {
    "a_ascii": ("ascii", "abc"),
    "a_bigint": ("bigint", -(2**62)),
    "a_blob": ("blob", b"\x00\xffbytes"),
    "a_boolean": ("boolean", True),
    "a_date": ("date", datetime.date(2024, 2, 29)),
    "a_decimal": ("decimal", decimal.Decimal("-123.456")),
    "a_double": ("double", 1.5e300),
    "a_float": ("float", 2.5),
    "a_inet": ("inet", "10.1.2.3"),
    "a_int": ("int", -7),
    "a_smallint": ("smallint", 300),
    "a_text": ("text", "h\u00e9llo \u2603"),
    "a_time": ("time", datetime.time(13, 14, 15, 123456)),
    "a_timestamp": ("timestamp", datetime.datetime(2020, 1, 2, 3, 4, 5, 678000)),
    "a_timeuuid": ("timeuuid", uuid.UUID("e7c8a0a0-3d6e-11ee-be56-0242ac120002")),
    "a_tinyint": ("tinyint", -5),
    "a_uuid": ("uuid", uuid.UUID("12345678-1234-5678-1234-567812345678")),
    "a_varint": ("varint", 2**80 + 1),
    "a_list": ("list<int>", [3, 1, 2]),
    "a_set": ("set<text>", {"x", "y"}),
    "a_map": ("map<text, int>", {"a": 1, "b": 2}),
    "a_tuple": ("tuple<int, text>", (1, "one")),
    "a_frozen": ("frozen<list<frozen<map<text, int>>>>", [{"k": 1}, {"z": 2}]),
}


def _check_value(name, got, want):
    if name == "a_time":
        assert got.time() == want
    elif name == "a_date":
        assert got.date() == want
    elif name == "a_set":
        assert set(got) == want
    elif name == "a_map":
        assert dict(got) == want
    elif name == "a_frozen":
        assert [dict(m) for m in got] == want
    else:
        assert got == want, name


def test_every_type_simple_and_prepared(sim, driver):
    cluster, session = driver
    cols = ", ".join(f"{n} {t}" for n, (t, _) in COLUMNS.items())
    session.execute("CREATE TYPE IF NOT EXISTS addr (street text, zip int)")
    session.execute(f"CREATE TABLE IF NOT EXISTS types (k int PRIMARY KEY, {cols}, "
                    "a_udt frozen<addr>, a_duration duration)")
    session.execute("CREATE TABLE IF NOT EXISTS counts (k int PRIMARY KEY, n counter)")
    addr = cluster.metadata.keyspaces["oracle"].user_types["addr"]
    assert addr.field_names == ["street", "zip"]
    names = list(COLUMNS)
    values = [v for _, v in COLUMNS.values()]
    # the driver renders a Python tuple as a list literal in simple statements (Cassandra
    # refuses that for a tuple column, and so does the simulator): write it as a literal
    simple = [n for n in names if n != "a_tuple"]
    marks = ", ".join(["%s"] * (len(simple) + 1))
    session.execute(f"INSERT INTO types (k, {', '.join(simple)}) VALUES ({marks})",
                    [1, *(COLUMNS[n][1] for n in simple)])
    session.execute("UPDATE types SET a_tuple = (1, 'one') WHERE k = 1")
    prep = session.prepare(f"INSERT INTO types (k, {', '.join(names)}) VALUES "
                           f"({', '.join(['?'] * (len(names) + 1))})")
    session.execute(prep, [2, *values])
    util = _driver().util
    session.execute("UPDATE types SET a_udt = {street: 'Main', zip: 12345}, "
                    "a_duration = 1mo2d3ns WHERE k = 1")
    select = session.prepare("SELECT * FROM types WHERE k = ?")
    for k in (1, 2):
        for row in (session.execute("SELECT * FROM types WHERE k = %s", [k]).one(),
                    session.execute(select, [k]).one()):
            for name, (_, want) in COLUMNS.items():
                got = getattr(row, name)
                if name == "a_inet":
                    assert ipaddress.ip_address(got) == ipaddress.ip_address(want)
                else:
                    _check_value(name, got, want)
    row = session.execute(select, [1]).one()
    assert (row.a_udt.street, row.a_udt.zip) == ("Main", 12345)
    assert row.a_duration == util.Duration(1, 2, 3)
    assert session.execute(select, [99]).one() is None
    for _ in range(3):
        session.execute("UPDATE counts SET n = n + 2 WHERE k = 1")
    assert session.execute("SELECT n FROM counts WHERE k = 1").one().n == 6


def test_paging_batches_and_lwt(sim, driver):
    cassandra = _driver()
    _cluster, session = driver
    session.execute("CREATE TABLE IF NOT EXISTS big (p int, c int, v text, "
                    "PRIMARY KEY (p, c))")
    insert = session.prepare("INSERT INTO big (p, c, v) VALUES (?, ?, ?)")
    for b in range(100):
        batch = cassandra.query.BatchStatement(
            batch_type=cassandra.query.BatchType.UNLOGGED)
        for i in range(100):
            batch.add(insert, (b % 10, b * 100 + i, "x"))
        session.execute(batch)
    stmt = cassandra.query.SimpleStatement("SELECT c FROM big", fetch_size=1000)
    result = session.execute(stmt)
    seen = [r.c for r in result]
    assert len(seen) == 10_000 and len(set(seen)) == 10_000
    assert len(sim.records(kind="QUERY", query="SELECT c FROM big",
                           predicate=lambda r: r.paging_state is not None)) == 9
    logged = cassandra.query.BatchStatement()
    logged.add("INSERT INTO big (p, c, v) VALUES (%s, %s, %s)", (50, 1, "a"))
    logged.add(insert, (50, 2, "b"))
    session.execute(logged)
    assert [tuple(r) for r in session.execute("SELECT c, v FROM big WHERE p = 50")] == \
        [(1, "a"), (2, "b")]
    session.execute("CREATE TABLE IF NOT EXISTS lwt (k int PRIMARY KEY, v text)")
    first = session.execute("INSERT INTO lwt (k, v) VALUES (1, 'a') IF NOT EXISTS")
    assert first.was_applied
    second = session.execute("INSERT INTO lwt (k, v) VALUES (1, 'b') IF NOT EXISTS").one()
    assert second[0] is False and (second.k, second.v) == (1, "a")


def test_schema_change_event_reaches_metadata(sim, driver):
    cluster, _session = driver
    from test_server import RawClient

    refreshed = threading.Event()
    control = cluster.control_connection
    original = control.refresh_schema

    def refresh_schema(*args, **kwargs):
        result = original(*args, **kwargs)
        if kwargs.get("target_table") == "from_elsewhere" or \
                kwargs.get("table") == "from_elsewhere":
            refreshed.set()
        return result

    control.refresh_schema = refresh_schema
    try:
        # DDL through another client on another node: only the pushed event tells the driver
        other = RawClient(sim.nodes[2].endpoint, 4)
        other.query("CREATE TABLE oracle.from_elsewhere (k int PRIMARY KEY, v text)")
        other.close()
        assert refreshed.wait(WAIT)
    finally:
        control.refresh_schema = original
    table = cluster.metadata.keyspaces["oracle"].tables["from_elsewhere"]
    assert [c.name for c in table.partition_key] == ["k"]


def test_node_stop_and_restart_seen_down_and_up(sim, driver):
    cassandra = _driver()
    cluster, session = driver
    node = sim.nodes[1]
    down, up = threading.Event(), threading.Event()

    class Listener(cassandra.policies.HostStateListener):
        def on_down(self, host):
            if host.endpoint.address == node.address:
                down.set()

        def on_up(self, host):
            if host.endpoint.address == node.address and down.is_set():
                up.set()

        def on_add(self, host):
            pass

        def on_remove(self, host):
            pass

    listener = Listener()
    cluster.register_listener(listener)
    try:
        node.stop()
        assert down.wait(WAIT)
        host = cluster.metadata.get_host(node.address, node.port)
        assert not host.is_up
        node.start()
        assert up.wait(WAIT)
        assert host.is_up
        assert session.execute("SELECT key FROM system.local").one().key == "local"
    finally:
        cluster.unregister_listener(listener)
