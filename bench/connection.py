"""One connection under load: client CPU per request, requests/s and latency (not a test).

A prepared single-row SELECT of distinct keys, over ONE connection, from 1, 64 and 512
concurrent greenlets, against the simulated cluster running in ANOTHER process
(``SimCluster.spawn_process``, served on gevent). Each client runs in its own subprocess with
gevent monkey-patching, side by side in one run:

- ``greencql``: :class:`greencql.pool.Connection` ``send`` of an EXECUTE, rows decoded;
- ``cassandra-driver``: 3.30.1 with its GeventConnection, greenlets calling
  ``session.execute(prepared, (key,))`` (one connection per host for v3+, as ours);
- ``floor``: a minimal client that writes pre-encoded EXECUTE frames (one sendall per batch,
  like our writer) and only parses frame headers, waking the waiting greenlet with the raw
  body: the cost of the greenlet round trip and the syscalls, nothing else.

CPU per request is ``time.process_time()`` of the client process over the measured requests
(after a warm-up), so the server's CPU is not counted. Then tracemalloc measures the bytes an
idle connection holds and the bytes per pending request (send_async to a paused node).

    .venv/bin/python bench/connection.py [--requests 20000] [--version 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

__all__ = ["main"]

HERE = os.path.abspath(__file__)
KEYS = 1000
CONCURRENCY = (1, 64, 512)
SELECT = "SELECT k, v FROM bench.kv WHERE k = ?"


# ----------------------------------------------------------------------------------------------
# setup (in the parent, plain threads)
# ----------------------------------------------------------------------------------------------


def _setup(host: str, port: int) -> None:
    from greencql.hubs import get_hub
    from greencql.pool import Connection, ConnectionOptions
    from greencql.protocol.messages import Query, QueryParameters

    hub = get_hub("thread")
    conn = Connection.connect(hub, host, port, ConnectionOptions())
    for cql in (
        "CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        "CREATE TABLE IF NOT EXISTS bench.kv (k int PRIMARY KEY, v text)",
    ):
        conn.send(Query(cql, QueryParameters(1)))
    for k in range(KEYS):
        conn.send(
            Query(f"INSERT INTO bench.kv (k, v) VALUES ({k}, 'value-{k}')", QueryParameters(1))
        )
    conn.close()


# ----------------------------------------------------------------------------------------------
# clients (each in its own subprocess, gevent-patched)
# ----------------------------------------------------------------------------------------------


def _drive(one_request, concurrency: int, requests: int):
    """Run ``requests`` calls of ``one_request(key)`` from ``concurrency`` greenlets; return
    (cpu seconds, wall seconds, per-request latencies, requests, (user, system) seconds)."""
    import gevent

    latencies: list[float] = []
    per = requests // concurrency
    perf = time.perf_counter

    def worker(w: int) -> None:
        for i in range(per):
            key = (w * per + i) % KEYS
            t0 = perf()
            one_request(key)
            latencies.append(perf() - t0)

    # warm-up
    gevent.joinall([gevent.spawn(worker, w) for w in range(min(concurrency, 8))])
    latencies.clear()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, wall0 = time.process_time(), perf()
    gevent.joinall([gevent.spawn(worker, w) for w in range(concurrency)])
    cpu, wall = time.process_time() - cpu0, perf() - wall0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # user CPU is the Python work, system CPU the syscalls (loopback TCP processing included)
    split = (usage.ru_utime - usage0.ru_utime, usage.ru_stime - usage0.ru_stime)
    return cpu, wall, latencies, per * concurrency, split


def _client_greencql(host: str, port: int, version: int, concurrency: int, requests: int):
    from greencql.hubs import get_hub
    from greencql.pool import Connection, ConnectionOptions
    from greencql.protocol import types as T
    from greencql.protocol.messages import Execute, Prepare, QueryParameters, RowsResult

    hub = get_hub("gevent")
    conn = Connection.connect(
        hub,
        host,
        port,
        ConnectionOptions(protocol_version=version, compression=None, heartbeat_interval=None),
    )
    prepared = conn.send(Prepare(SELECT))
    md = prepared.result_metadata
    qid, mdid = prepared.query_id, prepared.result_metadata_id
    encode_int = T.INT.encode
    send = conn.send

    def one(key: int) -> None:
        params = QueryParameters(1, values=[encode_int(key)], skip_metadata=True)
        response = send(Execute(qid, params, mdid), result_metadata=md)
        assert type(response) is RowsResult and response.rows[0][0] == key, response

    result = _drive(one, concurrency, requests)
    conn.close()
    return result


def _client_driver(host: str, port: int, version: int, concurrency: int, requests: int):
    import warnings

    warnings.simplefilter("ignore")
    from cassandra.cluster import Cluster
    from cassandra.io.geventreactor import GeventConnection
    from cassandra.policies import RoundRobinPolicy

    cluster = Cluster(
        [host],
        port=port,
        connection_class=GeventConnection,
        protocol_version=version,
        compression=False,
        load_balancing_policy=RoundRobinPolicy(),
    )
    session = cluster.connect()
    prepared = session.prepare(SELECT)
    execute = session.execute

    def one(key: int) -> None:
        row = execute(prepared, (key,)).one()
        assert row[0] == key

    result = _drive(one, concurrency, requests)
    cluster.shutdown()
    return result


def floor_request(host: str, port: int):
    """The floor client, connected: a ``one(key)`` that sends the pre-encoded EXECUTE of
    ``key`` and waits for its response body (bench/session.py drives it too). Pre-encoded
    frames, header-only parsing, one AsyncResult per request; gevent, protocol v4."""
    import struct

    import gevent
    import gevent.event
    import gevent.socket

    from greencql.hubs import get_hub
    from greencql.pool import Connection, ConnectionOptions
    from greencql.protocol import types as T
    from greencql.protocol.messages import Execute, Prepare, QueryParameters, encode_request

    version = 4  # plain frames: no segments to parse
    hub = get_hub("gevent")
    setup = Connection.connect(hub, host, port, ConnectionOptions(protocol_version=4))
    prepared = setup.send(Prepare(SELECT))
    setup.close()
    bodies = [
        encode_request(
            Execute(
                prepared.query_id, QueryParameters(1, values=[T.INT.encode(k)], skip_metadata=True)
            ),
            version,
        )
        for k in range(KEYS)
    ]
    header = struct.Struct(">BBhBi")
    sock = gevent.socket.create_connection((host, port))
    sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)
    startup = b"\x00\x01" + b"\x00\x0bCQL_VERSION" + b"\x00\x053.0.0"
    sock.sendall(header.pack(version, 0, 0, 0x01, len(startup)) + startup)
    ready = sock.recv(9)
    assert ready[4] == 0x02, ready
    waiters: dict[int, gevent.event.AsyncResult] = {}
    free = list(range(32768))
    outbox: list[bytes] = []
    wake = gevent.event.Event()

    def writer() -> None:
        while True:
            wake.wait()
            wake.clear()
            data = b"".join(outbox)
            outbox.clear()
            sock.sendall(data)

    def reader() -> None:
        buf = b""
        while True:
            data = sock.recv(131072)
            if not data:
                return
            buf = buf + data if buf else data
            pos, end = 0, len(buf)
            while end - pos >= 9:
                _v, _f, stream, _op, length = header.unpack_from(buf, pos)
                stop = pos + 9 + length
                if stop > end:
                    break
                waiters.pop(stream).set(buf[pos + 9 : stop])
                pos = stop
            buf = buf[pos:]

    gevent.spawn(writer)
    gevent.spawn(reader)

    def one(key: int) -> None:
        stream = free.pop()
        waiter = waiters[stream] = gevent.event.AsyncResult()
        body = bodies[key]
        outbox.append(header.pack(version, 0, stream, 0x0A, len(body)) + body)
        wake.set()
        waiter.get()
        free.append(stream)

    return one


def _client_floor(host: str, port: int, version: int, concurrency: int, requests: int):
    return _drive(floor_request(host, port), concurrency, requests)


CLIENTS = {"greencql": _client_greencql, "cassandra-driver": _client_driver, "floor": _client_floor}


def _client_main(args: argparse.Namespace) -> None:
    from gevent import monkey

    monkey.patch_all()
    fn = CLIENTS[args.client]
    cpu, wall, latencies, n, (user, system) = fn(
        args.host, args.port, args.version, args.concurrency, args.requests
    )
    latencies.sort()
    print(
        json.dumps(
            {
                "cpu_us": cpu / n * 1e6,
                "user_us": user / n * 1e6,
                "sys_us": system / n * 1e6,
                "rps": n / wall,
                "p50_us": latencies[len(latencies) // 2] * 1e6,
                "p99_us": latencies[int(len(latencies) * 0.99)] * 1e6,
                "n": n,
            }
        )
    )


# ----------------------------------------------------------------------------------------------
# memory (in-process sim, paused node)
# ----------------------------------------------------------------------------------------------


def _memory_main(args: argparse.Namespace) -> None:
    from gevent import monkey

    monkey.patch_all()
    import gc
    import tracemalloc

    from greencql.hubs import get_hub
    from greencql.pool import Connection, ConnectionOptions
    from greencql.protocol.messages import Query, QueryParameters
    from greencql.testing.cluster import SimCluster

    hub = get_hub("gevent")
    with SimCluster(1, port=0, hub=hub) as sim:
        host, port = sim.endpoints[0]
        opts = ConnectionOptions(heartbeat_interval=None, compression=None)
        Connection.connect(hub, host, port, opts).close()  # imports, caches
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        conns = [Connection.connect(hub, host, port, opts) for _ in range(20)]
        hub.sleep(0.1)
        gc.collect()
        idle = (tracemalloc.get_traced_memory()[0] - before) / len(conns)
        conn = conns[0]
        query = Query("SELECT k, v FROM bench.kv WHERE k = 1", QueryParameters(1))
        sim[0].pause()
        noop = _noop
        for _ in range(100):
            conn.send_async(query, noop, timeout=60)
        hub.sleep(0.1)
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        n = 10000
        for _ in range(n):
            conn.send_async(query, noop, timeout=60)
        hub.sleep(0.2)  # let the writer flush to the kernel
        gc.collect()
        pending = (tracemalloc.get_traced_memory()[0] - before) / n
        tracemalloc.stop()
        sim[0].resume()
        for c in conns:
            c.close(grace=0)
    print(json.dumps({"idle_connection_bytes": idle, "pending_request_bytes": pending}))


def _noop(_response: object) -> None:
    return None


# ----------------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------------


def _run_child(argv: list[str]) -> dict:
    out = subprocess.run([sys.executable, HERE, *argv], capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(f"{argv} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--role", default="main", choices=("main", "client", "memory"))
    parser.add_argument("--client", default="greencql", choices=sorted(CLIENTS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--version", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    if args.role == "client":
        _client_main(args)
        return
    if args.role == "memory":
        _memory_main(args)
        return

    from greencql.testing.cluster import SimCluster

    sim = SimCluster.spawn_process(nodes=1, port=0, hub="gevent")
    try:
        host, port = sim.endpoints[0]
        _setup(host, port)
        print(
            f"simulated node {host}:{port} in pid {sim.process.pid}; protocol v{args.version};"
            f" {args.requests} requests per cell (1 greenlet: {args.requests // 5})"
        )
        print(
            f"{'client':18} {'greenlets':>9} {'CPU us/req':>11} {'(user':>7} {'sys)':>6} "
            f"{'req/s':>9} {'p50 us':>9} {'p99 us':>9}"
        )
        table: dict[tuple[str, int], dict] = {}
        for concurrency in CONCURRENCY:
            n = args.requests // 5 if concurrency == 1 else args.requests
            for client in ("greencql", "cassandra-driver", "floor"):
                row = _run_child(
                    [
                        "--role",
                        "client",
                        "--client",
                        client,
                        "--host",
                        host,
                        "--port",
                        str(port),
                        "--version",
                        str(args.version),
                        "--concurrency",
                        str(concurrency),
                        "--requests",
                        str(n),
                    ]
                )
                table[(client, concurrency)] = row
                print(
                    f"{client:18} {concurrency:9d} {row['cpu_us']:11.1f} "
                    f"{row['user_us']:7.1f} {row['sys_us']:6.1f} {row['rps']:9.0f} "
                    f"{row['p50_us']:9.0f} {row['p99_us']:9.0f}",
                    flush=True,
                )
        print()
        for concurrency in CONCURRENCY:
            ours = table[("greencql", concurrency)]
            drv = table[("cassandra-driver", concurrency)]
            floor = table[("floor", concurrency)]
            # the targets: CPU at 64 and 512 greenlets, p50 at 1 greenlet
            cpu_targets = concurrency >= 64
            print(
                f"{concurrency:4d} greenlets: CPU greencql/cassandra-driver = "
                f"{ours['cpu_us'] / drv['cpu_us']:.3f}"
                + (" (target <= 0.125)" if cpu_targets else "")
                + f", greencql/floor = {ours['cpu_us'] / floor['cpu_us']:.2f}"
                + (" (target <= 10)" if cpu_targets else "")
                + f"; p50 greencql/floor = {ours['p50_us'] / floor['p50_us']:.2f}"
                + (" (target <= 1.5)" if concurrency == 1 else "")
            )
        mem = _run_child(["--role", "memory"])
        print(
            f"\nidle connection: {mem['idle_connection_bytes']:.0f} bytes "
            f"(includes the reusable receive buffer); pending request: "
            f"{mem['pending_request_bytes']:.0f} bytes"
        )
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
