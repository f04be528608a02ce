"""TLS nodes served through the hub's ``listen_tcp`` / ``wrap_tls_server``: writes from other
tasks while the reader waits (events pushed by another node's task, delayed responses), stop()
with TLS connections open (shutdown wakes their readers), and a client that never finishes
its handshake being dropped. Over real sockets of this process's hub."""

from __future__ import annotations

import socket

import pytest
from test_server import ONE, TIMEOUT, RawClient

from greencql.protocol.messages import Query, QueryParameters, Register
from greencql.testing import SimCluster, server


@pytest.fixture
def sim(hub):
    with SimCluster(2, port=0, tls=True, hub=hub) as cluster:
        yield cluster


def _client(sim, node, version=5):
    return RawClient(node.endpoint, version, tls_context=sim.certs.client_context(),
                     server_hostname=node.address)


@pytest.mark.parametrize("version", [4, 5])
def test_events_and_delayed_responses_over_tls(sim, version):
    listener = _client(sim, sim.nodes[0], version)
    other = _client(sim, sim.nodes[1], version)
    try:
        listener.call(Register(["SCHEMA_CHANGE", "STATUS_CHANGE"]))
        # written on node 0's TLS socket by node 1's reader task, while node 0's waits
        other.query("CREATE KEYSPACE tls_ks WITH replication = {'class': 'SimpleStrategy', "
                    "'replication_factor': 1}")
        frame, event = listener.recv()
        assert frame.stream == -1 and event.keyspace == "tls_ks"
        # answered later by another task, several in flight at once
        sim.nodes[0].latency = 0.05
        streams = [listener.send(Query(f"SELECT key FROM system.local WHERE key = 'k{i}'",
                                       QueryParameters(ONE))) for i in range(5)]
        answered = set()
        while len(answered) < len(streams):
            frame, _resp = listener.recv()
            answered.add(frame.stream)
        assert answered == set(streams)
    finally:
        listener.close()
        other.close()


def test_stop_wakes_tls_readers_and_start_serves_again(sim):
    node = sim.nodes[1]
    clients = [_client(sim, node) for _ in range(3)]
    try:
        assert len(node.connections) == 3
        node.stop()
        for c in clients:
            c.sock.settimeout(TIMEOUT)
            with pytest.raises((ConnectionResetError, OSError)):
                c.query("SELECT key FROM system.local")
        assert node.connections == []
        node.start()
        c = _client(sim, node, 4)
        assert c.query("SELECT key FROM system.local").rows == [("local",)]
        c.close()
    finally:
        for c in clients:
            c.close()


def test_a_silent_client_is_dropped_after_the_handshake_timeout(sim, monkeypatch):
    monkeypatch.setattr(server, "_TLS_HANDSHAKE_TIMEOUT", 0.2)
    silent = socket.create_connection(sim.nodes[0].endpoint, timeout=TIMEOUT)
    try:
        # the node gives up on the handshake and closes: EOF, long before our own timeout
        assert silent.recv(1) == b""
    finally:
        silent.close()
    c = _client(sim, sim.nodes[0])
    assert c.query("SELECT key FROM system.local").rows == [("local",)]
    c.close()
