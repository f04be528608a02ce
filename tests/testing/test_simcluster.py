"""SimCluster as a whole, over raw sockets of this process's hub: layout and system tables,
topology events, fault injection (pause, latency, primes), 1,000 open connections, the
pytest fixtures, a cluster on a background OS thread, and ``greencql sim`` in a child process.
Runs in every hub process."""

from __future__ import annotations

import re
import socket
import struct

import pytest
from test_server import ONE, TIMEOUT, RawClient

from greencql.errors import OperationTimedOut, ReadTimeout, Unavailable, WriteTimeout
from greencql.protocol.constants import ConsistencyLevel
from greencql.protocol.messages import Query, QueryParameters, Register
from greencql.testing import Prime, SimCluster


def _int(i):
    return struct.pack(">i", i)


def test_layout_and_system_tables(make_sim_cluster):
    sim = make_sim_cluster(2, dcs=2, racks=2, num_tokens=4)
    assert [(n.address, n.dc, n.rack) for n in sim.nodes] == [
        ("127.0.0.1", "dc1", "rack1"), ("127.0.0.2", "dc1", "rack2"),
        ("127.0.0.3", "dc2", "rack1"), ("127.0.0.4", "dc2", "rack2")]
    assert len({n.port for n in sim.nodes}) == 1 and sim.port > 0
    c = RawClient(sim.node(3).endpoint, 4)
    try:
        local = c.query("SELECT data_center, rack, host_id, tokens FROM system.local").rows
        assert local == [("dc2", "rack1", sim.node(3).host_id,
                          {str(t) for t in sim.node(3).tokens})]
        peers = c.query("SELECT peer, data_center FROM system.peers").rows
        assert sorted(peers) == [(f"127.0.0.{i}", dc)
                                 for i, dc in ((1, "dc1"), (2, "dc1"), (4, "dc2"))]
        v2 = c.query("SELECT native_port FROM system.peers_v2").rows
        assert v2 == [(sim.port,)] * 3
    finally:
        c.close()


def test_distinct_ports(make_sim_cluster):
    sim = make_sim_cluster(2, addresses="distinct-ports")
    assert [n.address for n in sim.nodes] == ["127.0.0.1", "127.0.0.1"]
    assert sim.nodes[0].port != sim.nodes[1].port
    for n in sim.nodes:
        c = RawClient(n.endpoint, 4)
        assert c.query("SELECT key FROM system.local").rows == [("local",)]
        c.close()


def test_replicas_follow_the_strategy(sim_cluster):
    sim = sim_cluster
    sim.engine.execute("CREATE KEYSPACE IF NOT EXISTS rf2 WITH replication = "
                       "{'class': 'SimpleStrategy', 'replication_factor': 2}")
    for k in range(20):
        replicas = sim.replicas("rf2", _int(k))
        assert len(replicas) == 2 and len(set(replicas)) == 2


def test_topology_events(make_sim_cluster):
    sim = make_sim_cluster(2)
    c = RawClient(sim.nodes[0].endpoint, 5)
    try:
        c.call(Register(["TOPOLOGY_CHANGE", "STATUS_CHANGE"]))
        new = sim.add_node()
        _frame, ev = c.recv()
        assert (ev.change_type, ev.address) == ("NEW_NODE", new.endpoint)
        _frame, ev = c.recv()
        assert (ev.change_type, ev.address) == ("UP", new.endpoint)
        assert new.address == "127.0.0.3" and new.running
        peers = c.query("SELECT peer FROM system.peers").rows
        assert ("127.0.0.3",) in peers
        sim.remove_node(new)
        _frame, ev = c.recv()
        assert (ev.change_type, ev.address) == ("REMOVED_NODE", new.endpoint)
        assert len(c.query("SELECT peer FROM system.peers").rows) == 1
    finally:
        c.close()


def test_stop_closes_connections_and_refuses(sim_cluster):
    node = sim_cluster.nodes[1]
    c = RawClient(node.endpoint, 4)
    node.stop()
    with pytest.raises((ConnectionResetError, OSError)):
        c.query("SELECT key FROM system.local")
    c.close()
    with pytest.raises(OSError):
        socket.create_connection(node.endpoint, timeout=TIMEOUT).close()
    node.start()
    c = RawClient(node.endpoint, 4)
    assert c.query("SELECT key FROM system.local").rows == [("local",)]
    c.close()


def test_pause_reads_but_never_answers(sim_cluster):
    node = sim_cluster.nodes[0]
    c = RawClient(node.endpoint, 4)
    try:
        node.pause()
        c.send(Query("SELECT key FROM system.local WHERE key = 'paused'", QueryParameters(ONE)))
        rec = node.log.wait_for(query="'paused'")
        assert rec.response == "DROPPED"
        c.sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            c.sock.recv(1)
        node.resume()
        c.sock.settimeout(TIMEOUT)
        assert c.query("SELECT key FROM system.local").rows == [("local",)]
    finally:
        c.close()


def test_primed_errors_rows_and_delays(sim_cluster):
    sim = sim_cluster
    n1 = sim.nodes[0]
    c = RawClient(n1.endpoint, 5)
    try:
        n1.prime_error("FROM system.local", ReadTimeout("primed", received_responses=1,
                                                        required_responses=2,
                                                        data_retrieved=False), times=1)
        with pytest.raises(ReadTimeout) as info:
            c.query("SELECT key FROM system.local", consistency=ConsistencyLevel.QUORUM)
        assert info.value.consistency == ConsistencyLevel.QUORUM
        assert (info.value.received_responses, info.value.required_responses) == (1, 2)
        assert c.query("SELECT key FROM system.local").rows == [("local",)]  # times=1
        prime = sim.prime(re.compile(r"^INSERT INTO ks\d\.t"), error=WriteTimeout)
        with pytest.raises(WriteTimeout) as winfo:
            c.query("INSERT INTO ks1.t (k) VALUES (1)")
        assert winfo.value.write_type == "SIMPLE" and prime.hits == 1
        sim.clear_primes()
        n1.prime("magic", error=Unavailable, message="not enough", opcodes=("QUERY",))
        with pytest.raises(Unavailable, match="not enough"):
            c.query("SELECT magic FROM nowhere")
        n1.clear_primes()
        n1.prime("FROM fake.table", rows=[(1, "a"), (2, None)],
                 columns=[("k", "int"), ("v", "text")])
        assert c.query("SELECT * FROM fake.table").rows == [(1, "a"), (2, None)]
        n1.clear_primes()
        n1.prime("FROM system.local", delay=0.05, times=1)
        assert c.query("SELECT key FROM system.local").rows == [("local",)]
        n1.prime("'dropped'", drop=True, times=1)
        c.send(Query("SELECT key FROM system.local WHERE key = 'dropped'", QueryParameters(ONE)))
        assert n1.log.wait_for(query="'dropped'").response == "DROPPED"
        n1.latency = 0.02
        assert c.query("SELECT peer FROM system.peers").rows is not None
        n1.prime("FROM system.local", close=True, times=1)
        c.send(Query("SELECT key FROM system.local", QueryParameters(ONE)))
        with pytest.raises((ConnectionResetError, OSError)):
            c.recv()
    finally:
        c.close()


def test_prime_validates():
    with pytest.raises(ValueError):
        Prime("x")
    with pytest.raises(ValueError):
        Prime("x", void=True, drop=True)
    with pytest.raises(ValueError):
        Prime("x", rows=[(1,)])


def test_wait_for_times_out(sim_cluster):
    with pytest.raises(OperationTimedOut):
        sim_cluster.nodes[0].log.wait_for(query="never sent", timeout=0.05)


def test_thousand_connections(make_sim_cluster):
    sim = make_sim_cluster(1)
    node = sim.nodes[0]
    startup = None
    socks = []
    try:
        from greencql.protocol.frames import FrameCodec
        from greencql.protocol.messages import Startup, encode_request

        codec = FrameCodec("client", 4)
        msg = Startup({"CQL_VERSION": "3.0.0"})
        startup = codec.encode(0, msg.opcode, encode_request(msg, 4))
        for _ in range(1000):
            s = socket.create_connection(node.endpoint, timeout=TIMEOUT)
            s.sendall(startup)
            socks.append(s)
        for s in socks:  # every STARTUP answered with READY (9-byte header, empty body)
            data = b""
            while len(data) < 9:
                chunk = s.recv(9 - len(data))
                assert chunk
                data += chunk
            assert data[4] == 0x02
        assert len(node.connections) >= 1000
        c = RawClient(node.endpoint, 5)
        assert c.query("SELECT key FROM system.local").rows == [("local",)]
        c.close()
    finally:
        for s in socks:
            s.close()


def test_start_in_thread():
    sim = SimCluster(2, port=0).start_in_thread()
    try:
        for n in sim.nodes:
            c = RawClient(n.endpoint, 5, compression=("lz4",))
            assert c.query("SELECT rpc_address FROM system.local").rows == \
                [(n.address,)]
            c.close()
    finally:
        sim.stop()
    with pytest.raises(OSError):
        socket.create_connection(sim.nodes[0].endpoint, timeout=TIMEOUT).close()


def test_cli_process():
    with SimCluster.spawn_process(2, dcs=2, protocol_versions=(3, 4)) as proc:
        assert [h for h, _ in proc.endpoints] == [f"127.0.0.{i}" for i in range(1, 5)]
        c = RawClient(proc.endpoints[3], 4)
        assert c.query("SELECT data_center FROM system.local").rows == [("dc2",)]
        c.close()
        c = RawClient(proc.endpoints[0], 5)
        assert c.retry is not None and c.retry.version == 4  # the process speaks v3/v4 only
        c.close()
    assert proc.process.returncode == 0
    assert proc.output[-1] == "greencql sim: ready (4 nodes)"
