"""One simulated node at the byte level: raw sockets of this process's hub, greencql's protocol
module as the client (handshake machine, FrameCodec, messages). Runs in every hub process.

Covers the handshake (v3/v4/v5, lz4/snappy, v5 segments), version negotiation (a capped node,
a v6 client), SASL PLAIN, TLS with the test CA, queries, USE, paging, prepared statements per
node, and the request log.
"""

from __future__ import annotations

import socket
import struct

import pytest

from greencql.errors import (
    AuthenticationFailed,
    ChecksumError,
    InvalidRequest,
    ProtocolError,
    Unprepared,
)
from greencql.protocol.auth import PlainTextAuthenticator
from greencql.protocol.compression import available_compressors, get_compressor
from greencql.protocol.constants import ConsistencyLevel, Opcode
from greencql.protocol.frames import FrameCodec
from greencql.protocol.handshake import (
    ClientHandshake,
    EnableCompression,
    HandshakeDone,
    RetryWithVersion,
    SendRequest,
    StartSegments,
)
from greencql.protocol.messages import (
    ErrorResponse,
    Execute,
    Options,
    Prepare,
    Query,
    QueryParameters,
    Register,
    decode_response,
    encode_request,
    request_flags,
)
from greencql.testing import SimCluster

ONE = ConsistencyLevel.ONE
TIMEOUT = 5.0


class RawClient:
    """A blocking (hub-cooperative) CQL client over one socket: enough to poke a node."""

    def __init__(self, endpoint, version=4, compression=(), authenticator=None,
                 tls_context=None, server_hostname=None, handshake=True):
        sock = socket.create_connection(endpoint, timeout=TIMEOUT)
        if tls_context is not None:
            tls = tls_context.wrap_socket(sock, server_hostname=server_hostname,
                                          do_handshake_on_connect=False)
            try:
                tls.do_handshake()
            except BaseException:
                tls.close()
                sock.close()
                raise
            sock = tls
        self.sock = sock
        self.version = version
        self.codec = FrameCodec("client", version)
        self.machine = ClientHandshake(version, compression=compression,
                                       authenticator=authenticator)
        self.frames = []
        self.stream = 0
        self.done = None
        self.retry = None
        if handshake:
            try:
                self.handshake()
            except BaseException:
                self.close()
                raise

    def handshake(self):
        outputs = self.machine.start()
        while True:
            for out in outputs:
                if isinstance(out, SendRequest):
                    self.send(out.message, stream=0)
                elif isinstance(out, EnableCompression):
                    self.codec.compressor = get_compressor(out.name)
                elif isinstance(out, StartSegments):
                    self.frames.extend(self.codec.start_segments(
                        get_compressor(out.compression) if out.compression else None))
                elif isinstance(out, HandshakeDone):
                    self.done = out
                    return out
                elif isinstance(out, RetryWithVersion):
                    self.retry = out
                    return out
            frame = self.recv_frame()
            msg = decode_response(frame.opcode, frame.flags, frame.body, frame.version)
            outputs = self.machine.receive(msg, frame.version)

    def send(self, msg, stream=None):
        if stream is None:
            self.stream = self.stream % 30000 + 1
            stream = self.stream
        body = encode_request(msg, self.codec.version)
        self.sock.sendall(self.codec.encode(stream, msg.opcode, body, request_flags(msg)))
        return stream

    def recv_frame(self):
        while not self.frames:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionResetError("closed by the node")
            self.frames.extend(self.codec.feed(data))
        return self.frames.pop(0)

    def recv(self, result_metadata=None):
        frame = self.recv_frame()
        return frame, decode_response(frame.opcode, frame.flags, frame.body,
                                      self.codec.version, result_metadata)

    def request(self, msg, result_metadata=None):
        stream = self.send(msg)
        while True:
            frame, resp = self.recv(result_metadata)
            if frame.stream == stream:
                return resp

    def call(self, msg, result_metadata=None):
        """request(), raising the typed exception of an ERROR."""
        resp = self.request(msg, result_metadata)
        if isinstance(resp, ErrorResponse):
            raise resp.to_exception()
        return resp

    def query(self, cql, values=None, **params):
        return self.call(Query(cql, QueryParameters(params.pop("consistency", ONE), values,
                                                    **params)))

    def close(self):
        self.sock.close()


@pytest.fixture(scope="module")
def sim(hub):
    with SimCluster(3, port=0, hub=hub) as cluster:
        cluster.engine.execute("CREATE KEYSPACE ks WITH replication = {'class': "
                               "'SimpleStrategy', 'replication_factor': 1}")
        cluster.engine.execute("CREATE TABLE ks.t (k int PRIMARY KEY, v text)")
        yield cluster


@pytest.fixture(autouse=True)
def _healthy(sim):
    yield
    sim.reset_faults()
    for n in sim.nodes:
        if not n.running:
            n.start()


def _int(i):
    return struct.pack(">i", i)


@pytest.mark.parametrize("version", [3, 4, 5])
@pytest.mark.parametrize("compression", [None, "lz4", "snappy"])
def test_handshake_and_query(sim, version, compression):
    if compression and compression not in available_compressors():
        pytest.skip(f"{compression} not installed")
    c = RawClient(sim.nodes[0].endpoint, version,
                  compression=(compression,) if compression else ())
    try:
        assert c.done is not None and c.done.version == version
        # snappy does not exist for v5 segments: the client falls back to none
        expect = None if version == 5 and compression == "snappy" else compression
        assert c.done.compression == expect
        assert c.machine.supported["PROTOCOL_VERSIONS"] == ["3/v3", "4/v4", "5/v5"]
        assert c.machine.supported["COMPRESSION"] == ["snappy", "lz4"]
        rows = c.query("SELECT key, release_version, rpc_address FROM system.local")
        # inet as str: the default value types are cassandra-driver's
        assert rows.rows == [("local", "4.0.13", sim.nodes[0].address)]
        big = c.query("SELECT * FROM system_schema.columns")
        assert len(big.rows) > 50
    finally:
        c.close()


def test_options_after_ready_and_startup_twice(sim):
    c = RawClient(sim.nodes[0].endpoint, 4)
    try:
        sup = c.request(Options())
        assert sup.options["CQL_VERSION"] == ["3.4.5"]
        from greencql.protocol.messages import Startup

        err = c.request(Startup({"CQL_VERSION": "3.0.0"}))
        assert isinstance(err, ErrorResponse) and err.code == 0x000A
    finally:
        c.close()


def test_query_before_startup_is_a_protocol_error(sim):
    c = RawClient(sim.nodes[0].endpoint, 4, handshake=False)
    try:
        err = c.request(Query("SELECT * FROM system.local", QueryParameters(ONE)))
        assert isinstance(err, ErrorResponse) and err.code == 0x000A
    finally:
        c.close()


def test_capped_node_refuses_v5_in_v4(sim):
    node = sim.nodes[1]
    node.max_protocol_version = 4
    c = RawClient(node.endpoint, 5)
    try:
        assert isinstance(c.retry, RetryWithVersion) and c.retry.version == 4
        assert "supported versions are (3/v3, 4/v4)" in c.retry.reason
    finally:
        c.close()
    c = RawClient(node.endpoint, 4)
    try:
        assert c.done.version == 4
    finally:
        c.close()


def test_v6_client_gets_the_error_in_v5():
    frame = struct.pack(">BBhBi", 6, 0, 0, Opcode.OPTIONS, 0)
    with SimCluster(1, port=0) as sim:
        s = socket.create_connection(sim.nodes[0].endpoint, timeout=TIMEOUT)
        try:
            s.sendall(frame)
            codec = FrameCodec("client", 5)
            frames = []
            while not frames:
                data = s.recv(65536)
                assert data
                frames += codec.feed(data)
            assert frames[0].version == 5 and frames[0].opcode == Opcode.ERROR
            err = decode_response(Opcode.ERROR, 0, frames[0].body, 5)
            assert "Invalid or unsupported protocol version (6)" in err.message
            assert s.recv(10) == b""  # then the node closes
        finally:
            s.close()


def test_auth():
    with SimCluster(1, port=0, auth=("cassandra", "secret")) as sim:
        ep = sim.nodes[0].endpoint
        for version in (4, 5):
            c = RawClient(ep, version, compression=("lz4",),
                          authenticator=PlainTextAuthenticator("cassandra", "secret"))
            assert c.done.authenticator.endswith("PasswordAuthenticator")
            assert c.query("SELECT key FROM system.local").rows == [("local",)]
            c.close()
        with pytest.raises(AuthenticationFailed, match="incorrect"):
            RawClient(ep, 4, authenticator=PlainTextAuthenticator("cassandra", "wrong"))
        rec = sim.nodes[0].log.wait_for(kind="AUTH_RESPONSE", predicate=lambda r: r.response
                                        == "ERROR 0x0100")
        assert rec.response == "ERROR 0x0100"


def test_tls():
    import ssl

    with SimCluster(2, port=0, tls=True) as sim:
        ctx = sim.certs.client_context()
        for node in sim.nodes:
            c = RawClient(node.endpoint, 5, tls_context=ctx, server_hostname=node.address)
            assert c.query("SELECT rpc_address FROM system.local").rows[0][0] == node.address
            c.close()
        with pytest.raises(ssl.SSLError):
            RawClient(sim.nodes[0].endpoint, 4, tls_context=ssl.create_default_context(),
                      server_hostname="127.0.0.1")


@pytest.mark.parametrize("version", [4, 5])
def test_use_paging_and_prepared_per_node(sim, version):
    n1, n2 = sim.nodes[0], sim.nodes[1]
    c1 = RawClient(n1.endpoint, version)
    c2 = RawClient(n2.endpoint, version)
    try:
        assert c1.query("USE ks").keyspace == "ks"
        for k in range(25):
            c1.query("INSERT INTO t (k, v) VALUES (?, ?)", [_int(k), b"v%d" % k])
        with pytest.raises(InvalidRequest):
            c2.query("SELECT * FROM t")  # c2 did not USE ks
        seen = []
        state = None
        while True:
            page = c1.query("SELECT k FROM t", page_size=10, paging_state=state)
            seen += [r[0] for r in page.rows]
            state = page.paging_state
            if state is None:
                break
        assert sorted(seen) == list(range(25))
        prep = c1.call(Prepare("SELECT v FROM ks.t WHERE k = ?"))
        md_id = prep.result_metadata_id
        ex = Execute(prep.query_id, QueryParameters(ONE, [_int(3)], skip_metadata=True),
                     result_metadata_id=md_id)
        rows = c1.call(ex, prep.result_metadata)
        assert rows.rows == [("v3",)]
        # prepared statements are per node: node2 never saw this PREPARE
        with pytest.raises(Unprepared) as info:
            c2.call(ex, prep.result_metadata)
        assert info.value.statement_id == prep.query_id
        rec = n1.log.wait_for(kind="EXECUTE", predicate=lambda r: r.response == "ROWS")
        assert rec.query == "SELECT v FROM ks.t WHERE k = ?" and rec.keyspace == "ks"
        assert rec.prepared_id == prep.query_id and rec.consistency == ONE
        assert rec.routing_keyspace == "ks" and rec.routing_key == _int(3)
        assert rec.is_replica == (n1 in sim.replicas("ks", _int(3)))
        # a restarted node forgets them
        c1.close()
        n1.stop()
        n1.start()
        c1 = RawClient(n1.endpoint, version)
        with pytest.raises(Unprepared):
            c1.call(ex, prep.result_metadata)
    finally:
        c1.close()
        c2.close()


def test_request_log_fields(sim):
    node = sim.nodes[2]
    c = RawClient(node.endpoint, 5)
    try:
        c.query("SELECT * FROM ks.t WHERE k = ?", [_int(7)],
                consistency=ConsistencyLevel.LOCAL_QUORUM,
                serial_consistency=ConsistencyLevel.LOCAL_SERIAL, timestamp=123456,
                keyspace="ks")
        rec = node.log.wait_for(query="WHERE k = ?")
        assert rec.kind == "QUERY" and rec.consistency == ConsistencyLevel.LOCAL_QUORUM
        assert rec.serial_consistency == ConsistencyLevel.LOCAL_SERIAL
        assert rec.timestamp == 123456 and rec.keyspace == "ks" and rec.version == 5
        assert rec.connection == c_conn_id(node) and rec.response == "ROWS"
        assert rec.routing_key == _int(7)
        assert rec.is_replica == (node in sim.replicas("ks", _int(7)))
        assert [r.kind for r in node.log.records(connection_filter(rec.connection))][:2] == \
            ["OPTIONS", "STARTUP"]
    finally:
        c.close()


def c_conn_id(node):
    return max(conn.id for conn in node.connections)


def connection_filter(conn_id):
    return lambda r: r.connection == conn_id


def test_register_and_schema_change_event(sim):
    c = RawClient(sim.nodes[0].endpoint, 4)
    d = RawClient(sim.nodes[1].endpoint, 4)
    try:
        c.call(Register(["SCHEMA_CHANGE", "STATUS_CHANGE", "TOPOLOGY_CHANGE"]))
        d.query("CREATE TABLE IF NOT EXISTS ks.evt (k int PRIMARY KEY)")
        frame, ev = c.recv()
        assert frame.stream == -1
        assert (ev.change_type, ev.target, ev.keyspace, ev.name) == \
            ("CREATED", "TABLE", "ks", "evt")
        sim.nodes[2].stop()
        frame, ev = c.recv()
        assert frame.stream == -1 and ev.change_type == "DOWN"
        assert ev.address == sim.nodes[2].endpoint
        sim.nodes[2].start()
        frame, ev = c.recv()
        assert ev.change_type == "UP" and ev.address == sim.nodes[2].endpoint
    finally:
        c.close()
        d.close()


def test_corrupt_checksums_and_cut_responses(sim):
    node = sim.nodes[0]
    for kind in ("crc32", "crc24"):
        c = RawClient(node.endpoint, 5, compression=("lz4",))
        node.corrupt_next_segments(1, kind)
        c.send(Query("SELECT key FROM system.local", QueryParameters(ONE)))
        with pytest.raises(ChecksumError):
            c.recv()
        c.close()
    c = RawClient(node.endpoint, 4)
    node.drop_next_responses(1)
    c.send(Query("SELECT * FROM system_schema.columns", QueryParameters(ONE)))
    with pytest.raises((ConnectionResetError, ProtocolError, OSError)):
        c.recv()
    c.close()
    c = RawClient(node.endpoint, 4)  # the node itself is fine
    assert c.query("SELECT key FROM system.local").rows == [("local",)]
    c.close()
