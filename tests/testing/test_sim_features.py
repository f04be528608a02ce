"""Tracing, client warnings and custom payloads in the simulator, as Cassandra produces them.

Engine level: the batch-size and unlogged-batch warnings (Cassandra's texts and thresholds,
"Batch too large" over the fail threshold, nothing for a single-partition batch), the
aggregation warning, and the rows a trace leaves in system_traces. Node level, over raw
sockets of this process's hub: a traced request answers with the TRACING flag and the
session id before the body, warnings and primed custom payloads travel with v4+ answers
only, and the request log records the request's payload. Response bytes are decoded by
cassandra-driver's protocol handler too (the oracle), not only by ours.
"""

from __future__ import annotations

import datetime
import re
import socket
import struct
import uuid

import pytest

from greencql.errors import InvalidRequest
from greencql.protocol.constants import BatchType, ConsistencyLevel, HeaderFlag
from greencql.protocol.frames import FrameCodec
from greencql.protocol.handshake import ClientHandshake, HandshakeDone, SendRequest, StartSegments
from greencql.protocol.messages import (
    Batch,
    BatchChild,
    ErrorResponse,
    Execute,
    Prepare,
    Query,
    QueryParameters,
    decode_response,
    encode_request,
    request_flags,
)
from greencql.testing import SimCluster
from greencql.testing.engine import Engine, NodeInfo, Void
from greencql.testing.faults import Prime

ONE = ConsistencyLevel.ONE
TIMEOUT = 5.0
BIG = "x" * 3000


def _int(i):
    return struct.pack(">i", i)


# -- engine: warnings ----------------------------------------------------------------------


@pytest.fixture()
def engine():
    e = Engine([NodeInfo("127.0.0.1", uuid.uuid4(), (0,))])
    e.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
              "'replication_factor': 1}")
    e.execute("CREATE TABLE ks.t (k int PRIMARY KEY, v text)")
    e.execute("CREATE TABLE ks.u (k int, c int, v text, PRIMARY KEY (k, c))")
    return e


_SIZE_WARNING = re.compile(r"Batch for \[(.*)\] is of size (\d+), exceeding specified "
                           r"threshold of 5120 by (\d+)\.$")


def test_batch_over_the_warn_threshold(engine):
    result = engine.execute_batch(
        [("INSERT INTO ks.t (k, v) VALUES (?, ?)", [k, BIG]) for k in range(2)], 0)
    assert isinstance(result, Void)
    (warning,) = result.warnings
    m = _SIZE_WARNING.match(warning)
    assert m, warning
    tables, size, over = m.group(1), int(m.group(2)), int(m.group(3))
    assert tables == "ks.t" and size - 5120 == over and 6000 < size < 6400
    # every statement was applied
    assert len(engine.execute("SELECT * FROM ks.t").rows) == 2


def test_batch_warning_names_every_table_and_text_batches_warn_too(engine):
    result = engine.execute(
        f"BEGIN BATCH INSERT INTO ks.t (k, v) VALUES (1, '{BIG}'); "
        f"INSERT INTO ks.u (k, c, v) VALUES (2, 1, '{BIG}') APPLY BATCH")
    assert _SIZE_WARNING.match(result.warnings[0]).group(1) == "ks.t, ks.u"


def test_single_partition_and_small_batches_do_not_warn(engine):
    one = engine.execute_batch(
        [("INSERT INTO ks.u (k, c, v) VALUES (?, ?, ?)", [1, c, BIG]) for c in range(5)], 0)
    small = engine.execute_batch(
        [("INSERT INTO ks.t (k, v) VALUES (?, ?)", [k, "a"]) for k in range(5)], 0)
    assert one.warnings == () and small.warnings == ()


def test_batch_over_the_fail_threshold_is_refused_whole(engine):
    with pytest.raises(InvalidRequest, match="Batch too large"):
        engine.execute_batch(
            [("INSERT INTO ks.t (k, v) VALUES (?, ?)", [k, "y" * 30000]) for k in range(2)], 0)
    assert engine.execute("SELECT * FROM ks.t").rows == []
    engine.batch_size_fail_threshold = None  # configurable, like cassandra.yaml
    result = engine.execute_batch(
        [("INSERT INTO ks.t (k, v) VALUES (?, ?)", [k, "y" * 30000]) for k in range(2)], 0)
    assert _SIZE_WARNING.match(result.warnings[0])


def test_unlogged_batch_over_many_partitions(engine):
    stmts = [("INSERT INTO ks.t (k, v) VALUES (?, ?)", [k, "a"]) for k in range(11)]
    assert engine.execute_batch(stmts[:10], 1).warnings == ()
    assert engine.execute_batch(stmts, 0).warnings == ()  # logged: atomic, no warning
    assert engine.execute_batch(stmts, 1).warnings == (
        "Unlogged batch covering 11 partitions detected against table [ks.t]. You should use "
        "a logged batch for atomicity, or asynchronous writes for performance.",)


def test_aggregation_without_partition_key(engine):
    engine.execute("INSERT INTO ks.u (k, c, v) VALUES (1, 1, 'a')")
    warning = ("Aggregation query used without partition key",)
    assert engine.execute("SELECT count(*) FROM ks.u", page_size=100).warnings == warning
    assert engine.execute("SELECT count(*) FROM ks.u WHERE k = 1", page_size=100).warnings == ()
    assert engine.execute("SELECT count(*) FROM ks.u WHERE token(k) > 0",
                          page_size=100).warnings == ()
    assert engine.execute("SELECT count(*) FROM ks.u").warnings == ()  # not paged
    assert engine.execute("SELECT * FROM ks.u", page_size=100).warnings == ()


# -- engine: traces --------------------------------------------------------------------------


def test_trace_rows(engine):
    engine.execute("INSERT INTO ks.t (k, v) VALUES (1, 'a')")
    started = 1_700_000_000.25
    sid = engine.record_trace(
        "QUERY", query="SELECT * FROM ks.t WHERE k = 1", keyspace=None,
        client=("127.0.0.9", 50000), coordinator=("127.0.0.1", 9042), started_at=started,
        duration_us=900, consistency=ONE, page_size=5000, rows=1)
    assert sid.version == 1
    (session,) = engine.execute("SELECT client, command, coordinator, coordinator_port, "
                                "duration, parameters, request, started_at FROM "
                                "system_traces.sessions WHERE session_id = ?",
                                values=[sid]).rows
    client, command, coordinator, port, duration, params, request, started_at = session
    assert (str(client), command, str(coordinator), port, duration, request) == (
        "127.0.0.9", "QUERY", "127.0.0.1", 7000, 900, "Execute CQL3 query")
    assert params == {"query": "SELECT * FROM ks.t WHERE k = 1", "consistency_level": "ONE",
                      "page_size": "5000", "serial_consistency_level": "SERIAL"}
    assert started_at == datetime.datetime.fromtimestamp(started, datetime.timezone.utc)
    events = engine.execute("SELECT event_id, activity, source, source_elapsed, source_port, "
                            "thread FROM system_traces.events WHERE session_id = ?",
                            values=[sid]).rows
    assert [e[1] for e in events] == [
        "Parsing SELECT * FROM ks.t WHERE k = 1", "Preparing statement",
        "Executing single-partition query on t", "Acquiring sstable references",
        "Merging memtable contents", "Read 1 live rows and 0 tombstone cells"]
    elapsed = [e[3] for e in events]
    assert elapsed == sorted(elapsed) and len(set(elapsed)) == len(elapsed)
    assert 0 < elapsed[-1] < 900
    assert all(str(e[2]) == "127.0.0.1" and e[4] == 7000 and e[5] for e in events)
    assert all(e[0].version == 1 and e[0].time > sid.time for e in events)


def test_trace_steps_by_request_kind(engine):
    from greencql.testing.engine.tracing import trace_steps

    def acts(*args, **kw):
        return [a for a, _thread in trace_steps(engine, *args, **kw)]

    assert acts("EXECUTE", "INSERT INTO ks.t (k, v) VALUES (?, ?)", None, prepared=True) == [
        "Determining replicas for mutation", "Appending to commitlog", "Adding to t memtable"]
    assert acts("PREPARE", "SELECT * FROM ks.t", None) == [
        "Parsing SELECT * FROM ks.t", "Preparing statement"]
    assert acts("QUERY", "SELECT * FROM ks.t", None, rows=3)[2:] == [
        "Computing ranges to query", "Submitted 1 concurrent range requests",
        "Read 3 live rows and 0 tombstone cells"]
    assert acts("QUERY", "SELEKT nothing", None, failed=True) == [
        "Parsing SELEKT nothing", "Preparing statement"]
    assert acts("BATCH", None, "ks", batch=[("INSERT INTO t (k) VALUES (1)", False),
                                            ("UPDATE t SET v = ? WHERE k = ?", True)]) == [
        "Parsing INSERT INTO t (k) VALUES (1)", "Preparing statement",
        "Determining replicas for mutation", "Appending to commitlog", "Adding to t memtable",
        "Determining replicas for mutation", "Appending to commitlog", "Adding to t memtable"]


def test_prime_options():
    p = Prime("SELECT", warnings=["careful"], custom_payload={"k": b"v"})
    assert p.warnings == ("careful",) and p.custom_payload == {"k": b"v"} and "extras" in repr(p)
    with pytest.raises(TypeError):
        Prime("SELECT", warnings="careful")
    with pytest.raises(ValueError):
        Prime("SELECT")


# -- nodes, over sockets ---------------------------------------------------------------------


class _Client:
    """A minimal blocking (hub-cooperative) client: handshake, then one request at a time.
    Keeps each answer's raw frame so the oracle can decode the same bytes."""

    def __init__(self, endpoint, version):
        self.sock = socket.create_connection(endpoint, timeout=TIMEOUT)
        self.codec = FrameCodec("client", version)
        self.version = version
        self.frames = []
        machine = ClientHandshake(version)
        outputs = machine.start()
        while True:
            for out in outputs:
                if isinstance(out, SendRequest):
                    self._send(out.message, 0)
                elif isinstance(out, StartSegments):
                    self.frames.extend(self.codec.start_segments(None))
                elif isinstance(out, HandshakeDone):
                    return
            frame = self._frame()
            outputs = machine.receive(decode_response(frame.opcode, frame.flags, frame.body,
                                                      frame.version), frame.version)

    def _send(self, msg, stream):
        body = encode_request(msg, self.version)
        self.sock.sendall(self.codec.encode(stream, msg.opcode, body, request_flags(msg)))

    def _frame(self):
        while not self.frames:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionResetError("closed by the node")
            self.frames.extend(self.codec.feed(data))
        return self.frames.pop(0)

    def request(self, msg, result_metadata=None):
        self._send(msg, 1)
        frame = self._frame()
        return frame, decode_response(frame.opcode, frame.flags, frame.body, self.version,
                                      result_metadata)

    def close(self):
        self.sock.close()


def _oracle_decode(frame, version):
    from cassandra.protocol import ProtocolHandler

    return ProtocolHandler.decode_message(version, {}, frame.stream, frame.flags, frame.opcode,
                                          frame.body, None, None)


@pytest.fixture(scope="module")
def sim(hub):
    with SimCluster(2, port=0, hub=hub) as cluster:
        cluster.engine.execute("CREATE KEYSPACE ks WITH replication = {'class': "
                               "'SimpleStrategy', 'replication_factor': 1}")
        cluster.engine.execute("CREATE TABLE ks.t (k int PRIMARY KEY, v text)")
        cluster.engine.execute("INSERT INTO ks.t (k, v) VALUES (1, 'one')")
        yield cluster


@pytest.fixture(autouse=True)
def _healthy(sim):
    yield
    sim.reset_faults()


def _query(cql, values=None, **kw):
    return Query(cql, QueryParameters(ONE, values, page_size=kw.pop("page_size", 100)), **kw)


@pytest.mark.parametrize("version", [3, 4, 5])
def test_traced_query_answers_with_its_session_id(sim, version):
    node = sim.nodes[0]
    client = _Client(node.endpoint, version)
    try:
        frame, resp = client.request(_query("SELECT v FROM ks.t WHERE k = 1", tracing=True))
        assert frame.flags & HeaderFlag.TRACING
        assert resp.rows == [("one",)] and resp.tracing_id is not None
        oracle = _oracle_decode(frame, version)
        assert oracle.trace_id == resp.tracing_id
        rec = node.log.wait_for(kind="QUERY",
                                predicate=lambda r: r.tracing_id == resp.tracing_id)
        assert rec.tracing and rec.rows == 1
        _, rows = client.request(_query(
            "SELECT request, parameters, duration FROM system_traces.sessions "
            "WHERE session_id = ?", [resp.tracing_id.bytes]))
        (request, params, duration), = rows.rows
        assert request == "Execute CQL3 query" and duration > 0
        assert params["query"] == "SELECT v FROM ks.t WHERE k = 1"
        frame, plain = client.request(_query("SELECT v FROM ks.t WHERE k = 1"))
        assert plain.tracing_id is None and not frame.flags & HeaderFlag.TRACING
    finally:
        client.close()


def test_traced_prepare_execute_batch_and_error(sim):
    node = sim.nodes[1]
    client = _Client(node.endpoint, 4)
    try:
        _, prep = client.request(Prepare("SELECT v FROM ks.t WHERE k = ?", tracing=True))
        _, rows = client.request(
            Execute(prep.query_id, QueryParameters(ONE, [_int(1)]), tracing=True),
            prep.result_metadata)
        _, batch = client.request(Batch(
            BatchType.LOGGED, [BatchChild("query", "INSERT INTO ks.t (k, v) VALUES (5, 'x')", [])],
            ONE, tracing=True))
        _, error = client.request(_query("SELECT * FROM ks.nosuch", tracing=True))
        assert isinstance(error, ErrorResponse) and error.tracing_id is not None
        kinds = {}
        for resp in (prep, rows, batch, error):
            assert resp.tracing_id is not None
            _, r = client.request(_query(
                "SELECT request FROM system_traces.sessions WHERE session_id = ?",
                [resp.tracing_id.bytes]))
            _, ev = client.request(_query(
                "SELECT activity FROM system_traces.events WHERE session_id = ?",
                [resp.tracing_id.bytes]))
            kinds[r.rows[0][0]] = [a for (a,) in ev.rows]
        assert kinds["Preparing CQL3 query"] == [
            "Parsing SELECT v FROM ks.t WHERE k = ?", "Preparing statement"]
        assert kinds["Execute CQL3 prepared query"][0] == "Executing single-partition query on t"
        assert kinds["Execute batch of CQL3 queries"][-1] == "Adding to t memtable"
        assert kinds["Execute CQL3 query"] == ["Parsing SELECT * FROM ks.nosuch",
                                               "Preparing statement"]
    finally:
        client.close()


@pytest.mark.parametrize("version", [3, 4, 5])
def test_warnings_and_payloads_need_v4(sim, version):
    node = sim.nodes[0]
    sim.prime("FROM ks.t WHERE k = 1", warnings=["primed warning"],
              custom_payload={"handler": b"\x01\x02", "empty": None})
    client = _Client(node.endpoint, version)
    try:
        payload = {"mine": b"abc"} if version >= 4 else None
        frame, resp = client.request(_query("SELECT v FROM ks.t WHERE k = 1",
                                            custom_payload=payload))
        assert resp.rows == [("one",)]  # the real answer, decorated
        oracle = _oracle_decode(frame, version)
        if version < 4:
            assert resp.warnings is None and resp.custom_payload is None
            assert not frame.flags & (HeaderFlag.WARNING | HeaderFlag.CUSTOM_PAYLOAD)
            return
        assert resp.warnings == ("primed warning",) == tuple(oracle.warnings)
        assert resp.custom_payload == {"handler": b"\x01\x02", "empty": None}
        assert oracle.custom_payload == resp.custom_payload
        rec = node.log.wait_for(kind="QUERY", predicate=lambda r: r.custom_payload == payload)
        assert rec.custom_payload == {"mine": b"abc"} and rec.warnings == ("primed warning",)
        # with a primed answer too, and the engine's warnings before the prime's
        sim.prime("BEGIN BATCH", warnings=["second"])
        big = "z" * 3000
        frame, resp = client.request(_query(
            f"BEGIN BATCH INSERT INTO ks.t (k, v) VALUES (10, '{big}'); "
            f"INSERT INTO ks.t (k, v) VALUES (11, '{big}') APPLY BATCH"))
        assert _SIZE_WARNING.match(resp.warnings[0]) and resp.warnings[1] == "second"
        assert tuple(_oracle_decode(frame, version).warnings) == resp.warnings
        sim.prime("FROM ks.t WHERE k = 2", rows=[(1,)], columns=[("n", "int")],
                  custom_payload={"p": b"q"})
        _, resp = client.request(_query("SELECT v FROM ks.t WHERE k = 2"))
        assert resp.rows == [(1,)] and resp.custom_payload == {"p": b"q"}
        assert resp.warnings is None
    finally:
        client.close()
