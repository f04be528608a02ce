"""Session features the simulator now produces as Cassandra does, end to end over real sockets:
query traces (``trace=True``, ``get_query_trace()``), server warnings (``warnings`` of a
ResultSet and its ResponseFuture), custom payloads (sent with ``custom_payload=``, the
server's exposed) and the vector type (simple and prepared statements, schema metadata).

One module-scoped SimCluster and session serve every test (none changes the topology; primes
are cleared after each test). The cassandra-driver cross-checks (its own get_query_trace,
warnings and payloads, and decoding our vectors) run in the thread-hub process only, where
its cluster module can be imported without a second hub library.
"""

from __future__ import annotations

import datetime
import os
import re

import pytest

from greencql import BatchStatement, BatchType, Cluster, SimpleStatement
from greencql.testing.cluster import SimCluster

KS = "feat"
BIG = "x" * 3000
_BATCH_WARNING = re.compile(r"Batch for \[feat\.kv\] is of size (\d+), exceeding specified "
                            r"threshold of 5120 by (\d+)\.$")
_THREAD_ONLY = pytest.mark.skipif(
    os.environ.get("GREENCQL_TEST_HUB", "gevent") != "thread",
    reason="cassandra-driver runs in the thread-hub process only",
)


@pytest.fixture(scope="module")
def sim(hub):
    with SimCluster(3, port=0, hub=hub) as s:
        yield s


@pytest.fixture(scope="module")
def cluster(sim):
    c = Cluster(sim.contact_points[:1], port=sim.port, hub=sim.hub)
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def session(cluster):
    s = cluster.connect()
    s.execute(f"CREATE KEYSPACE {KS} WITH replication = "
              "{'class': 'SimpleStrategy', 'replication_factor': 2}")
    s.execute(f"CREATE TABLE {KS}.kv (k int PRIMARY KEY, v text)")
    s.execute(f"CREATE TABLE {KS}.vec (k int PRIMARY KEY, f vector<float, 3>, "
              "t vector<text, 2>)")
    s.set_keyspace(KS)
    s.execute("INSERT INTO kv (k, v) VALUES (1, 'one')")
    yield s
    s.shutdown()


@pytest.fixture(autouse=True)
def _clean(sim):
    yield
    sim.clear_primes()
    sim.reset_faults()


# -- tracing ----------------------------------------------------------------------------------


def _check_trace(trace, future, request, query):
    assert trace.trace_id == future.get_query_trace_ids()[-1]
    assert trace.request_type == request
    assert isinstance(trace.duration, datetime.timedelta)
    assert trace.duration > datetime.timedelta(0)
    # cassandra-driver's values (the default value_types): the coordinator is an address str
    assert trace.coordinator == future.coordinator_host.address
    assert trace.parameters["query"] == query
    assert trace.parameters["consistency_level"] == "LOCAL_ONE"
    assert isinstance(trace.started_at, datetime.datetime)
    assert trace.events
    for event in trace.events:
        assert isinstance(event.source_elapsed, datetime.timedelta)
        assert event.source == trace.coordinator and event.thread_name
        assert isinstance(event.datetime, datetime.datetime)
    elapsed = [e.source_elapsed for e in trace.events]
    assert elapsed == sorted(elapsed)
    return [e.description for e in trace.events]


def test_trace_of_a_simple_statement(session, sim):
    query = "SELECT * FROM kv WHERE k = 1"
    future = session.execute_async(query, trace=True)
    rs = future.result()
    assert rs.one().v == "one"
    rec = sim.records(kind="QUERY", predicate=lambda r: r.tracing_id is not None)[-1]
    assert rec.tracing and rec.tracing_id == future.get_query_trace_ids()[0]
    events = _check_trace(future.get_query_trace(), future, "Execute CQL3 query", query)
    assert events == [f"Parsing {query}", "Preparing statement",
                      "Executing single-partition query on kv", "Acquiring sstable references",
                      "Merging memtable contents", "Read 1 live rows and 0 tombstone cells"]
    # the ResultSet reaches the same trace
    assert rs.get_query_trace().trace_id == future.get_query_trace_ids()[0]


def test_trace_of_a_prepared_statement_and_a_write(session):
    ps = session.prepare("SELECT v FROM kv WHERE k = ?")
    future = session.execute_async(ps, [1], trace=True)
    future.result()
    events = _check_trace(future.get_query_trace(max_wait=5), future,
                          "Execute CQL3 prepared query", ps.query_string)
    assert events[0] == "Executing single-partition query on kv"
    write = session.execute_async(SimpleStatement("INSERT INTO kv (k, v) VALUES (2, 'two')"),
                                  trace=True)
    write.result()
    events = _check_trace(write.get_query_trace(), write, "Execute CQL3 query",
                          "INSERT INTO kv (k, v) VALUES (2, 'two')")
    assert events[-3:] == ["Determining replicas for mutation", "Appending to commitlog",
                           "Adding to kv memtable"]


def test_every_page_is_traced(session):
    for k in range(10, 15):
        session.execute("INSERT INTO kv (k, v) VALUES (%s, 'p')", (k,))
    statement = SimpleStatement("SELECT k FROM kv", fetch_size=2)
    future = session.execute_async(statement, trace=True)
    rows = list(future.result())
    assert len(rows) >= 5
    ids = future.get_query_trace_ids()
    assert len(ids) == len(set(ids)) >= 3
    traces = future.get_all_query_traces()
    assert [t.trace_id for t in traces] == ids
    assert all(t.parameters["page_size"] == "2" for t in traces)


# -- warnings ---------------------------------------------------------------------------------


def test_batch_size_warning(session):
    batch = BatchStatement(BatchType.LOGGED)
    for k in (20, 21):
        batch.add("INSERT INTO kv (k, v) VALUES (%s, %s)", (k, BIG))
    future = session.execute_async(batch)
    rs = future.result()
    (warning,) = rs.warnings
    m = _BATCH_WARNING.match(warning)
    assert m and int(m.group(1)) - 5120 == int(m.group(2))
    assert future.warnings == rs.warnings
    # a prepared batch warns the same way; a small one does not
    ps = session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
    prepared = BatchStatement(BatchType.UNLOGGED)
    prepared.add(ps, (22, BIG))
    prepared.add(ps, (23, BIG))
    assert _BATCH_WARNING.match(session.execute(prepared).warnings[0])
    small = BatchStatement()
    small.add(ps, (24, "a"))
    small.add(ps, (25, "b"))
    assert session.execute(small).warnings is None


def test_aggregation_warning(session):
    rs = session.execute("SELECT count(*) FROM kv")
    assert rs.warnings == ("Aggregation query used without partition key",)
    assert session.execute("SELECT count(*) FROM kv WHERE k = 1").warnings is None


def test_primed_warnings_on_a_real_answer(session, sim):
    sim.prime("FROM kv WHERE k = 1", warnings=["first", "second"])
    future = session.execute_async("SELECT v FROM kv WHERE k = 1")
    rs = future.result()
    assert rs.one().v == "one"
    assert rs.warnings == ("first", "second") == future.warnings


# -- custom payloads --------------------------------------------------------------------------


def test_custom_payload_is_sent_and_the_servers_exposed(session, sim):
    sim.prime("FROM kv WHERE k = 1", custom_payload={"handler": b"\x00\x01", "none": None})
    future = session.execute_async("SELECT v FROM kv WHERE k = 1",
                                   custom_payload={"client": b"abc"})
    rs = future.result()
    assert rs.one().v == "one"
    assert future.custom_payload == {"handler": b"\x00\x01", "none": None}
    assert rs.custom_payload == future.custom_payload
    rec = sim.records(kind="QUERY", predicate=lambda r: r.custom_payload is not None)[-1]
    assert rec.custom_payload == {"client": b"abc"} and rec.query.endswith("WHERE k = 1")


def test_custom_payload_of_prepared_statements(session, sim):
    ps = session.prepare("SELECT v FROM kv WHERE k = ?")
    sim.prime("SELECT v FROM kv WHERE k = ?", custom_payload={"p": b"1"})
    rs = session.execute(ps, [1], custom_payload={"e": b"2"})
    assert rs.one().v == "one" and rs.custom_payload == {"p": b"1"}
    rec = sim.records(kind="EXECUTE", predicate=lambda r: r.custom_payload is not None)[-1]
    assert rec.custom_payload == {"e": b"2"}
    # the statement's own payload is sent too, merged with execute()'s
    bound = ps.bind([1])
    bound.custom_payload = {"s": b"3"}
    session.execute(bound, custom_payload={"e": b"4"})
    rec = sim.records(kind="EXECUTE", predicate=lambda r: r.custom_payload is not None)[-1]
    assert rec.custom_payload == {"s": b"3", "e": b"4"}


# -- vectors ----------------------------------------------------------------------------------


def test_vectors_with_simple_and_prepared_statements(session, cluster):
    session.execute("INSERT INTO vec (k, f, t) VALUES (1, [1.0, 2.5, 3.0], ['a', 'b'])")
    session.execute("INSERT INTO vec (k, f, t) VALUES (%s, %s, %s)", (2, [4.0, 5.0, 6.5],
                                                                      ["c", "dé"]))
    ps = session.prepare("INSERT INTO vec (k, f, t) VALUES (?, ?, ?)")
    session.execute(ps, (3, [7.0, 8.0, 9.0], ["e", "f"]))
    select = session.prepare("SELECT f, t FROM vec WHERE k = ?")
    got = {k: tuple(session.execute(select, [k]).one()) for k in (1, 2, 3)}
    assert got == {1: ([1.0, 2.5, 3.0], ["a", "b"]), 2: ([4.0, 5.0, 6.5], ["c", "dé"]),
                   3: ([7.0, 8.0, 9.0], ["e", "f"])}
    rows = session.execute("SELECT k, f FROM vec")
    assert sorted((r.k, r.f) for r in rows) == [
        (1, [1.0, 2.5, 3.0]), (2, [4.0, 5.0, 6.5]), (3, [7.0, 8.0, 9.0])]
    table = cluster.metadata.keyspaces[KS].tables["vec"]
    assert table.columns["f"].cql_type == "vector<float, 3>"
    assert "f vector<float, 3>" in table.export_as_string()
    with pytest.raises(ValueError):
        session.execute(ps, (4, [1.0, 2.0], ["a", "b"]))  # refused before sending


# -- cassandra-driver against the same simulator (thread process only) -----------------------


@pytest.fixture(scope="module")
def oracle(sim, session):
    from conftest import import_cassandra_cluster

    cassandra_cluster = import_cassandra_cluster()
    c = cassandra_cluster.Cluster([sim.contact_points[0]], port=sim.port, protocol_version=5,
                                  connect_timeout=5, control_connection_timeout=5)
    s = c.connect(KS)
    yield s
    c.shutdown()


@_THREAD_ONLY
def test_cassandra_driver_reads_our_traces(oracle):
    future = oracle.execute_async("SELECT v FROM kv WHERE k = 1", trace=True)
    future.result()
    trace = future.get_query_trace(max_wait=5)
    assert trace.request_type == "Execute CQL3 query"
    assert isinstance(trace.duration, datetime.timedelta)
    assert trace.parameters["query"] == "SELECT v FROM kv WHERE k = 1"
    assert [e.description for e in trace.events][-1] == "Read 1 live rows and 0 tombstone cells"
    assert all(isinstance(e.source_elapsed, datetime.timedelta) for e in trace.events)


@_THREAD_ONLY
def test_cassandra_driver_sees_warnings_and_payloads(oracle, sim):
    sim.prime("FROM kv WHERE k = 1", warnings=["w"], custom_payload={"h": b"v"})
    future = oracle.execute_async("SELECT v FROM kv WHERE k = 1", custom_payload={"c": b"x"})
    future.result()
    assert future.warnings == ["w"] and future.custom_payload == {"h": b"v"}
    rec = sim.records(kind="QUERY", predicate=lambda r: r.custom_payload == {"c": b"x"})
    assert rec


@_THREAD_ONLY
def test_cassandra_driver_decodes_our_vectors(oracle, session):
    session.execute("INSERT INTO vec (k, f, t) VALUES (9, [0.5, 1.5, 2.5], ['x', 'yz'])")
    row = oracle.execute("SELECT f, t FROM vec WHERE k = 9").one()
    assert list(row.f) == [0.5, 1.5, 2.5] and list(row.t) == ["x", "yz"]
    ps = oracle.prepare("INSERT INTO vec (k, f) VALUES (?, ?)")
    oracle.execute(ps, (10, [1.0, 2.0, 3.0]))
    assert session.execute("SELECT f FROM vec WHERE k = 10").one().f == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("version", [3, 4])
def test_older_protocol_versions(sim, session, version):
    sim.prime("FROM feat.kv WHERE k = 1", warnings=["w"], custom_payload={"h": b"v"})
    with Cluster(sim.contact_points[:1], port=sim.port, hub=sim.hub,
                 protocol_version=version) as c:
        s = c.connect()
        future = s.execute_async("SELECT v FROM feat.kv WHERE k = 1", trace=True)
        rs = future.result()
        assert rs.one().v == "one"
        assert future.get_query_trace().request_type == "Execute CQL3 query"
        if version == 3:
            # Cassandra sends no warnings or payloads to v3 clients, which cannot send one
            assert rs.warnings is None and rs.custom_payload is None
            with pytest.raises(Exception, match=r"(?i)custom payload"):
                s.execute("SELECT v FROM feat.kv WHERE k = 1", custom_payload={"c": b"x"})
            return
        rs = s.execute("SELECT v FROM feat.kv WHERE k = 1", custom_payload={"c": b"x"})
        assert rs.warnings == ("w",) and rs.custom_payload == {"h": b"v"}
        rec = sim.records(kind="QUERY", predicate=lambda r: r.custom_payload is not None)[-1]
        assert rec.custom_payload == {"c": b"x"} and rec.version == 4
