"""The example app's read endpoint under gunicorn gevent workers, greencql vs cassandra-driver
(not a test).

``GET /links/<code>`` of contrib/flask/example (two prepared single-row SELECTs per request:
the link, then its visit counter), served by ``gunicorn -k gevent -w 2 --preload`` against ONE
simulated 3-node cluster in another process (``SimCluster.spawn_process``, served on gevent),
driven by a load client in a third process (gevent + geventhttpclient, keep-alive connections)
at a fixed concurrency. Side by side in one run, each on a fresh gunicorn:

- ``greencql``: the example itself (flask-greencql);
- ``cassandra-driver``: the same endpoint written against cassandra-driver 3.30.1 with its
  ``GeventConnection`` (:func:`cassandra_app` below), its Session created lazily per worker
  process, as flask-greencql does.

Both pin protocol v4 and turn compression off (cassandra-driver's GeventConnection stalls under
load on v5; see bench/session.py), both use token-aware DC-aware round robin and LOCAL_ONE.
After a warm-up at the same concurrency the client measures requests/s and the p50/p99
latency of each request as the client saw it. Two cores are shared by the simulator, the two
workers and the client, so the numbers compare the drivers, not the machine's ceiling.

    python bench/wsgi.py [--concurrency 50] [--duration 10] [--warmup 3] [--repeat 1]
                         [--variants greencql,cassandra-driver]

This file is also the gunicorn target of the cassandra-driver variant (``wsgi:cassandra_app()``)
and, with ``--client``, the load client.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any

__all__ = ["main", "cassandra_app"]

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONTRIB = os.path.join(ROOT, "contrib", "flask")
EXAMPLE = os.path.join(CONTRIB, "example")
CODE = "bench1"
PATH = f"/links/{CODE}"
VARIANTS = {
    "greencql": "shortener:app",
    "cassandra-driver": "wsgi:cassandra_app()",
}


# -- the cassandra-driver variant of the example's read endpoint (runs inside gunicorn) -------


def cassandra_app() -> Any:
    """The example's ``GET /links/<code>`` on cassandra-driver 3.30.1 + GeventConnection."""
    from flask import Flask, abort, jsonify

    app = Flask("shortener_cassandra_driver")
    state: dict[str, Any] = {"pid": None}

    def session_and_statements() -> Any:
        if state["pid"] != os.getpid():  # created in the worker, after gunicorn patched
            from cassandra.cluster import Cluster
            from cassandra.io.geventreactor import GeventConnection
            from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy

            cluster = Cluster(
                os.environ["BENCH_CONTACT_POINTS"].split(","),
                port=int(os.environ["BENCH_PORT"]), connection_class=GeventConnection,
                protocol_version=4, compression=False,
                load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()))
            session = cluster.connect("shortener")
            link = session.prepare("SELECT url FROM links WHERE code = ?")
            visits = session.prepare("SELECT n FROM visits WHERE code = ?")
            link.is_idempotent = visits.is_idempotent = True
            state.update(pid=os.getpid(), session=session, link=link, visits=visits)
        return state["session"], state["link"], state["visits"]

    @app.get("/links/<code>")
    def get_link(code: str) -> Any:
        session, link_stmt, visits_stmt = session_and_statements()
        link = session.execute(link_stmt, (code,)).one()
        if link is None:
            abort(404)
        visits = session.execute(visits_stmt, (code,)).one()
        return jsonify(code=code, url=link.url, visits=visits.n if visits else 0)

    return app


# -- the load client (its own process, gevent) -------------------------------------------------


def _client_main(args: argparse.Namespace) -> None:
    from gevent import monkey

    monkey.patch_all()
    import gevent
    from geventhttpclient import HTTPClient

    concurrency, port = args.concurrency, args.port
    client = HTTPClient("127.0.0.1", port, concurrency=concurrency, connection_timeout=10,
                        network_timeout=30)
    latencies: list[float] = []
    errors = [0]
    state = {"measure": False, "stop": False}

    def task() -> None:
        while not state["stop"]:
            start = time.perf_counter()
            try:
                response = client.get(PATH)
                body = response.read()
                ok = response.status_code == 200 and b'"url"' in body
            except Exception:
                ok = False
            if state["measure"]:
                if ok:
                    latencies.append(time.perf_counter() - start)
                else:
                    errors[0] += 1

    tasks = [gevent.spawn(task) for _ in range(concurrency)]
    gevent.sleep(args.warmup)
    state["measure"] = True
    cpu0, t0 = time.process_time(), time.perf_counter()
    gevent.sleep(args.duration)
    state["measure"] = False
    elapsed = time.perf_counter() - t0
    state["stop"] = True
    gevent.joinall(tasks, timeout=30)
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000.0

    print(json.dumps({
        "requests": len(latencies), "errors": errors[0], "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50), "p99_ms": pct(0.99),
        "client_cpu_s": time.process_time() - cpu0,
    }))


# -- the driver of the run -----------------------------------------------------------------------


def _env(sim: Any, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GREENCQL_TEST_HUB", None)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, CONTRIB, EXAMPLE, HERE])
    env.update(
        FLASK_GREENCQL_CONTACT_POINTS=",".join(sim.contact_points),
        FLASK_GREENCQL_PORT=str(sim.port),
        FLASK_GREENCQL_PROTOCOL_VERSION="4",
        FLASK_GREENCQL_COMPRESSION="false",
        BENCH_CONTACT_POINTS=",".join(sim.contact_points),
        BENCH_PORT=str(sim.port),
    )
    env.update(extra)
    return env


def _prepare_data(sim: Any) -> None:
    sys.path[:0] = [CONTRIB, EXAMPLE]
    import shortener

    app = shortener.create_app({"GREENCQL_CONTACT_POINTS": sim.contact_points,
                                "GREENCQL_PORT": sim.port})
    result = app.test_cli_runner().invoke(
        args=["cql", "exec", os.path.join(EXAMPLE, "schema.cql")])
    if result.exit_code:
        raise SystemExit(result.output)
    client = app.test_client()
    client.post("/links", json={"url": "https://example.com/bench", "code": CODE})
    assert client.get(PATH).status_code == 200
    with app.app_context():
        shortener.cql.shutdown()


def _serve(variant: str, sim: Any, workers: int) -> tuple[subprocess.Popen[bytes], int,
                                                           socket.socket]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    fd = listener.fileno()
    args = [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", str(workers), "--preload",
            "--bind", f"fd://{fd}", "--worker-connections", "1000", "--keep-alive", "30",
            "--chdir", EXAMPLE if variant == "greencql" else HERE, "--log-level", "warning",
            "--no-control-socket",
            VARIANTS[variant]]
    proc = subprocess.Popen(args, env=_env(sim), pass_fds=(fd,), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    lines: list[str] = []

    def drain() -> None:  # gunicorn's log must not fill its pipe
        assert proc.stderr is not None
        for raw in proc.stderr:
            lines.append(raw.decode("utf-8", "replace").rstrip())

    threading.Thread(target=drain, daemon=True).start()
    # the listener is ours, so this request waits in its backlog until a worker is up; the
    # client's warm-up then makes every worker connect before the measured part
    with socket.create_connection(listener.getsockname(), timeout=30) as s:
        s.sendall(f"GET {PATH} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    if b" 200 " not in data.split(b"\r\n", 1)[0]:
        proc.kill()
        raise SystemExit(f"{variant}: {data[:300]!r}\n" + "\n".join(lines))
    return proc, listener.getsockname()[1], listener


def _stop(proc: subprocess.Popen[bytes], listener: socket.socket) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)
    listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        _client_main(args)
        return
    from greencql.testing import SimCluster

    variants = [v for v in args.variants.split(",") if v]
    for v in variants:
        if v not in VARIANTS:
            parser.error(f"unknown variant {v!r}; known: {', '.join(VARIANTS)}")
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    with SimCluster.spawn_process(3, port=0, hub="gevent") as sim:
        _prepare_data(sim)
        for _ in range(args.repeat):
            for variant in variants:
                proc, port, listener = _serve(variant, sim, args.workers)
                try:
                    out = subprocess.run(
                        [sys.executable, os.path.abspath(__file__), "--client", "--port",
                         str(port), "--concurrency", str(args.concurrency), "--duration",
                         str(args.duration), "--warmup", str(args.warmup)],
                        capture_output=True, text=True,
                        timeout=args.duration + args.warmup + 120, check=True)
                finally:
                    _stop(proc, listener)
                results[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"GET {PATH} (2 SELECTs), gunicorn -k gevent -w {args.workers} --preload, "
          f"concurrency {args.concurrency}, {args.duration:g} s after {args.warmup:g} s warm-up, "
          f"median of {args.repeat}")
    print(f"{'variant':<18} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    medians = {}
    for variant, runs in results.items():
        runs.sort(key=lambda r: r["rps"])
        m = runs[len(runs) // 2]
        medians[variant] = m
        print(f"{variant:<18} {m['rps']:>9.0f} {m['p50_ms']:>8.2f} {m['p99_ms']:>8.2f} "
              f"{m['errors']:>7}")
    if "greencql" in medians and "cassandra-driver" in medians:
        g, c = medians["greencql"], medians["cassandra-driver"]
        print(f"greencql / cassandra-driver: req/s x{g['rps'] / c['rps']:.2f}, "
              f"p50 x{g['p50_ms'] / c['p50_ms']:.2f}, p99 x{g['p99_ms'] / c['p99_ms']:.2f}")


if __name__ == "__main__":
    main()
