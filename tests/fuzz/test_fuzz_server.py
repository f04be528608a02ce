"""The simulator's server side fuzzed over real sockets: mutated frames from clients.

Each round opens a TCP connection to a simulated node and sends either mutated handshake
bytes (OPTIONS/STARTUP/AUTH_RESPONSE frames of v3-v5, cut, flipped, lengths rewritten) or a
valid handshake followed by mutated request frames (QUERY, PREPARE, EXECUTE, BATCH,
REGISTER with their lengths and flags rewritten). The node may answer with an ERROR or close
the connection, but within a bound, without an exception escaping its tasks (nothing logged
at ERROR), and it keeps serving: a fresh driver session still runs queries after every
batch of rounds. The mutators and the request corpus are the protocol fuzzer's
(``tests/protocol/fuzzing.py``).
"""

from __future__ import annotations

import logging
import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "protocol"))

from fuzzing import build_corpus, mutate

from greencql import Cluster
from greencql.protocol.constants import Opcode
from greencql.protocol.frames import encode_frame
from greencql.protocol.messages import Options, Startup, encode_request
from greencql.testing import SimCluster

ROUNDS = 150
READ_TIMEOUT = 0.1


def _handshake(version: int) -> bytes:
    return (encode_frame(version, 0, 0, Opcode.OPTIONS, encode_request(Options(), version),
                         is_response=False)
            + encode_frame(version, 0, 1, Opcode.STARTUP,
                           encode_request(Startup({"CQL_VERSION": "3.0.0"}), version),
                           is_response=False))


def _drain(sock, limit: float) -> bytes:
    """Read what the node answers until it closes or stays quiet for ``limit`` seconds."""
    sock.settimeout(limit)
    got = b""
    try:
        while len(got) < 1 << 20:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    except (TimeoutError, OSError):
        pass
    return got


@pytest.fixture(scope="module")
def sim(hub):
    with SimCluster(1, port=0, hub=hub, protocol_versions=(3, 4)) as s:
        yield s


def test_mutated_client_frames_never_break_the_node(hub, sim, caplog):
    caplog.set_level(logging.WARNING)
    rng = random.Random(13)
    corpus = build_corpus(13)
    # plain (unsegmented) request streams: v5 needs segments after STARTUP, which a
    # mutated stream rarely reaches; v5 server decoding is covered by the protocol fuzzer
    streams = [c for c in corpus if c.target == "server_stream" and c.version in (3, 4)
               and c.aux is None]
    handshakes = [c for c in corpus if c.target == "server_handshake" and c.version in (3, 4)]
    assert streams and handshakes
    node = sim.nodes[0]
    answered = closed = 0
    for i in range(ROUNDS):
        sock = hub.connect_tcp(node.address, node.port, timeout=5.0)
        try:
            if i % 3 == 0:  # the handshake itself mutated
                case = rng.choice(handshakes)
                payload = mutate(rng, _handshake(case.version), corpus)
            else:  # a good handshake, then mutated requests
                case = rng.choice(streams)
                sock.sendall(_handshake(case.version))
                sock.settimeout(2.0)
                sock.recv(65536)  # SUPPORTED and READY (one write)
                payload = mutate(rng, case.data, corpus)
            try:
                sock.sendall(payload)
            except OSError:
                closed += 1
                continue
            got = _drain(sock, READ_TIMEOUT)
            answered += bool(got)
        finally:
            sock.close()
        if i % 50 == 49:  # the node still serves a real client
            cluster = Cluster(sim.contact_points, port=sim.port, hub=hub)
            try:
                assert cluster.connect().execute("SELECT release_version FROM system.local"
                                                 ).one()
            finally:
                cluster.shutdown()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors[:5]]
    assert answered > ROUNDS // 3, (answered, closed)
