"""Throughput of one simulated node, and the memory an idle connection costs it.

Run: ``python bench/sim_server.py [--hub gevent|eventlet|thread] [--seconds 5]
[--connections 4] [--depth 64] [--idle 1000]``.

The node runs in this process (one core); the load comes from a child process (this script
with ``--client``) so the client never steals the server's CPU. The client is minimal: it
does the v4 handshake with greencql's protocol module, then sends pre-encoded EXECUTE frames
of a prepared single-row SELECT, keeping ``--depth`` requests in flight per connection, and
counts response frames by their headers only (no decoding). Then it opens ``--idle``
connections, completes STARTUP on each, and the server measures with tracemalloc what they
cost it. Numbers go to stdout; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import struct
import subprocess
import sys
import time
import tracemalloc

__all__ = ["main"]

_HEADER = struct.Struct(">BBhBi")
_KEYS = 1000


# -- the client (child process) ------------------------------------------------------------------


def _connect(port: int, version: int = 4) -> tuple[socket.socket, bytes]:
    from greencql.protocol.frames import FrameCodec
    from greencql.protocol.messages import Startup, encode_request

    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    codec = FrameCodec("client", version)
    startup = Startup({"CQL_VERSION": "3.0.0"})
    sock.sendall(codec.encode(0, startup.opcode, encode_request(startup, version)))
    buf = b""
    while len(buf) < 9 or len(buf) < 9 + _HEADER.unpack_from(buf)[4]:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("closed during STARTUP")
        buf += chunk
    return sock, buf[9 + _HEADER.unpack_from(buf)[4]:]


def _request(sock: socket.socket, frame: bytes) -> bytes:
    sock.sendall(frame)
    buf = b""
    while len(buf) < 9 or len(buf) < 9 + _HEADER.unpack_from(buf)[4]:
        buf += sock.recv(65536)
    return buf[9:]


def _client(port: int, seconds: float, connections: int, depth: int, idle: int) -> None:
    from greencql.protocol.constants import ConsistencyLevel, Opcode
    from greencql.protocol.frames import FrameCodec
    from greencql.protocol.messages import (
        Execute,
        Prepare,
        Query,
        QueryParameters,
        decode_response,
        encode_request,
    )

    version = 4
    codec = FrameCodec("client", version, negotiating=False)
    sock, _ = _connect(port)
    for cql in ("CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 1}",
                "CREATE TABLE IF NOT EXISTS bench.kv (k int PRIMARY KEY, v text)"):
        q = Query(cql, QueryParameters(ConsistencyLevel.ONE))
        _request(sock, codec.encode(1, Opcode.QUERY, encode_request(q, version)))
    insert = Prepare("INSERT INTO bench.kv (k, v) VALUES (?, ?)")
    body = _request(sock, codec.encode(1, Opcode.PREPARE, encode_request(insert, version)))
    ins = decode_response(Opcode.RESULT, 0, body, version)
    for k in range(_KEYS):
        ex = Execute(ins.query_id, QueryParameters(
            ConsistencyLevel.ONE, [struct.pack(">i", k), b"value-%d" % k]))
        _request(sock, codec.encode(1, Opcode.EXECUTE, encode_request(ex, version)))
    select_stmt = Prepare("SELECT k, v FROM bench.kv WHERE k = ?")
    body = _request(sock, codec.encode(1, Opcode.PREPARE, encode_request(select_stmt, version)))
    sel = decode_response(Opcode.RESULT, 0, body, version)
    # pre-encoded frames: one per key, stream ids assigned per slot
    frames = []
    for k in range(_KEYS):
        ex = Execute(sel.query_id, QueryParameters(
            ConsistencyLevel.ONE, [struct.pack(">i", k)], skip_metadata=True))
        frames.append(codec.encode(0, Opcode.EXECUTE, encode_request(ex, version)))
    sock.close()

    socks = [_connect(port)[0] for _ in range(connections)]
    bufs = {s.fileno(): b"" for s in socks}
    by_fd = {s.fileno(): s for s in socks}
    done = 0
    sent = 0
    for s in socks:
        s.sendall(b"".join(frames[(sent + i) % _KEYS] for i in range(depth)))
        sent += depth
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        readable, _, _ = select.select(list(by_fd), [], [], 1.0)
        for fd in readable:
            s = by_fd[fd]
            buf = bufs[fd] + s.recv(1 << 20)
            pos = 0
            n = 0
            while len(buf) - pos >= 9:
                length = _HEADER.unpack_from(buf, pos)[4]
                if len(buf) - pos < 9 + length:
                    break
                if buf[pos + 4] != Opcode.RESULT:
                    raise RuntimeError(f"unexpected opcode {buf[pos + 4]}")
                pos += 9 + length
                n += 1
            bufs[fd] = buf[pos:]
            done += n
            if n:
                s.sendall(b"".join(frames[(sent + i) % _KEYS] for i in range(n)))
                sent += n
    elapsed = time.perf_counter() - start
    print(f"RESULT {done / elapsed:.0f}", flush=True)
    for s in socks:
        s.close()

    idle_socks = [_connect(port)[0] for _ in range(idle)]
    print("IDLE", flush=True)
    sys.stdin.readline()
    for s in idle_socks:
        s.close()


# -- the server (this process) --------------------------------------------------------------------


def _wait_line(proc: subprocess.Popen, hub, timeout: float = 120.0) -> str:
    """Read one line of the child without blocking the hub (the node serves meanwhile)."""
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + timeout
    while not buf.endswith(b"\n"):
        if time.monotonic() > deadline:
            raise RuntimeError("client timed out")
        readable, _, _ = select.select([fd], [], [], 0)
        if readable:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("client exited: " + proc.stderr.read().decode())
            buf += chunk
        else:
            hub.sleep(0.01)
    return buf.decode().strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", default="gevent", choices=("gevent", "eventlet", "thread"))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--depth", type=int, default=64)
    parser.add_argument("--idle", type=int, default=1000)
    parser.add_argument("--client", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        _client(args.client, args.seconds, args.connections, args.depth, args.idle)
        return

    from greencql.testing import SimCluster

    sim = SimCluster(1, port=0, hub=args.hub).start()
    hub = sim.hub
    node = sim.nodes[0]
    proc = subprocess.Popen(
        [sys.executable, __file__, "--client", str(node.port), "--seconds", str(args.seconds),
         "--connections", str(args.connections), "--depth", str(args.depth),
         "--idle", str(args.idle)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.PIPE)
    try:
        rate = float(_wait_line(proc, hub).split()[1])
        print(f"hub={args.hub} prepared single-row SELECT, {args.connections} connections x "
              f"{args.depth} in flight: {rate:,.0f} requests/s")
        base_conns = len(node.connections)
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        line = _wait_line(proc, hub)
        assert line == "IDLE", line
        # let the node finish the last handshakes
        for _ in range(100):
            if len(node.connections) - base_conns >= args.idle:
                break
            hub.sleep(0.01)
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
        n = len(node.connections) - base_conns
        print(f"{n} idle connections (STARTUP done): {grown / max(1, n):,.0f} bytes each "
              "(tracemalloc, Python objects of the server side)")
        proc.stdin.write(b"\n")
        proc.stdin.flush()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        sim.stop()


if __name__ == "__main__":
    main()
