"""Hub lag while a big page is fetched and consumed (issue 12, "hub friendliness"; not a test).

A ticker greenlet asks the hub for a 1 ms sleep again and again and records how late it wakes
up; meanwhile another greenlet of the same process fetches ONE page of 50,000 rows x 10 mixed
columns (bench/codec.py's columns) with ``Session.execute`` and walks every row. The worst
lateness is how long the page stalled every other greenlet of the program (a web server's
other requests, heartbeats). Target: under 20 ms.

The simulated cluster runs in another process (``SimCluster.spawn_process``, one node). Each
cell is its own subprocess (monkey-patched first): hub gevent or eventlet, pure Python or the
Cython twins (``GREENCQL_IMPL``), and "eager" (the page decoded in the connection's reader
greenlet in one go, as before lazy pages: ``LAZY_BYTES`` raised past the page) or "lazy" (the
default: the page decoded slice by slice where it is used, the hub getting a turn between
slices). Median of ``--repeat`` pages per cell for the page time; worst lag over them all.

    .venv/bin/python bench/hub_lag.py [--rows 50000] [--repeat 3] [--hubs gevent,eventlet]
                                      [--impls python,c] [--wide] [--no-write]

``--wide`` also runs bench/run_all.py's wide-page cells (5000 rows x 10 columns over the
network, rows/s) for greencql pure, greencql C and cassandra-driver GeventConnection, side by
side in the same run. Results go into docs/benchmarks.md (section "Hub lag while a big page
decodes"; ``--no-write`` to skip).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

__all__ = ["main"]

HERE = os.path.abspath(__file__)
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)
DOCS = os.path.join(ROOT, "docs", "benchmarks.md")
SECTION = "## Hub lag while a big page decodes"
TABLE = "bench.big"
TICK = 0.001


def _columns() -> list[tuple[str, str]]:
    sys.path.insert(0, BENCH)
    from codec import COLUMNS

    return COLUMNS


def _make_rows(n: int) -> list[tuple]:
    import codec

    saved = codec.ROWS
    codec.ROWS = n
    try:
        return codec.make_rows()
    finally:
        codec.ROWS = saved


def _setup(contact_points: list[str], port: int, rows: int) -> None:
    """One partition of `rows` rows, clustered by the first (int) column."""
    from greencql import Cluster

    columns = _columns()
    defs = ", ".join(f"{name} {cql}" for name, cql in columns)
    names = ", ".join(name for name, _ in columns)
    data = _make_rows(rows)
    cluster = Cluster(contact_points, port=port, protocol_version=4, hub="thread",
                      compression=False)
    try:
        session = cluster.connect()
        session.execute("CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
                        "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        session.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (p int, {defs}, "
                        f"PRIMARY KEY (p, {columns[0][0]}))")
        insert = session.prepare(f"INSERT INTO {TABLE} (p, {names}) VALUES (0, "
                                 f"{', '.join('?' for _ in columns)})")
        for start in range(0, len(data), 512):
            futures = [session.execute_async(insert, row) for row in data[start:start + 512]]
            for future in futures:
                future.result()
    finally:
        cluster.shutdown()


def _cell(args: argparse.Namespace) -> dict:
    """In a fresh, monkey-patched process: the worst ticker lag over `repeat` pages."""
    if args.hub == "gevent":
        from gevent import monkey

        monkey.patch_all()
    else:
        import warnings

        warnings.simplefilter("ignore")
        import eventlet

        eventlet.monkey_patch()
    import gc

    from greencql import Cluster, SimpleStatement
    from greencql._speedups import implementation
    from greencql.hubs import get_hub
    from greencql.protocol import messages

    gc_pauses: list[float] = []
    gc_start = [0.0]

    def gc_callback(phase: str, info: dict) -> None:
        if info["generation"] == 2:  # a full collection: its pause is the heap's, any client
            if phase == "start":
                gc_start[0] = time.thread_time()
            else:
                gc_pauses.append(time.thread_time() - gc_start[0])

    gc.callbacks.append(gc_callback)
    if args.mode == "eager":
        messages.LAZY_BYTES = 1 << 62  # every page decoded by the reader, in one go
    hub = get_hub(args.hub)
    names = ", ".join(name for name, _ in _columns())
    cluster = Cluster(args.contact_points.split(","), port=args.port, protocol_version=4,
                      compression=False, hub=args.hub)
    lags: list[float] = []
    cpu_lags: list[float] = []
    pages: list[float] = []
    try:
        session = cluster.connect()
        stmt = SimpleStatement(f"SELECT {names} FROM {TABLE} WHERE p = 0", fetch_size=args.rows)

        def page() -> float:
            t0 = time.perf_counter()
            n = 0
            for _row in session.execute(stmt):
                n += 1
            assert n == args.rows, n
            return time.perf_counter() - t0

        page()  # warm-up: caches, decoders, the first connection's buffers
        stop = hub.event()

        def ticker() -> None:
            while not stop.is_set():
                t0, c0 = time.perf_counter(), time.thread_time()
                hub.sleep(TICK)
                lags.append(time.perf_counter() - t0 - TICK)
                cpu_lags.append(time.thread_time() - c0)

        task = hub.spawn(ticker)
        hub.sleep(0.05)
        lags.clear()
        cpu_lags.clear()
        gc_pauses.clear()
        for _ in range(args.repeat):
            pages.append(page())
        stop.set()
        task.join(timeout=10)
    finally:
        cluster.shutdown()
    return {"impl": implementation(), "worst_lag_ms": max(lags) * 1e3,
            "worst_cpu_lag_ms": max(cpu_lags) * 1e3,
            "worst_gc_ms": max(gc_pauses, default=0.0) * 1e3, "full_gcs": len(gc_pauses),
            "p99_lag_ms": sorted(lags)[int(len(lags) * 0.99)] * 1e3, "ticks": len(lags),
            "page_s": statistics.median(pages), "rows_s": args.rows / statistics.median(pages)}


def _child(argv: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, HERE, *argv], capture_output=True, text=True,
                         timeout=900, env={**os.environ, **env}, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"hub_lag.py {argv} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _wide(sim, args: argparse.Namespace) -> dict:
    """bench/run_all.py's wide-page cells, for greencql pure and C and cassandra-driver."""
    sys.path.insert(0, BENCH)
    import run_all

    run_all._this_checkout()
    run_all._setup_wide(sim.contact_points, sim.port, 4)
    ns = argparse.Namespace(repeat=args.repeat, pages=args.wide_pages, version=4)
    return run_all._wide(sim, ns, ["greencql", "greencql C", "c-d gevent"])


def _write(text: str) -> None:
    try:
        with open(DOCS) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = "# Benchmarks\n"
    start = doc.find(SECTION)
    if start >= 0:
        nxt = doc.find("\n## ", start + len(SECTION))
        doc = doc[:start] + text + (doc[nxt + 1:] if nxt >= 0 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    with open(DOCS, "w") as f:
        f.write(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--hubs", default="gevent,eventlet")
    parser.add_argument("--impls", default="python,c")
    parser.add_argument("--wide", action="store_true",
                        help="also the wide-page rows/s cells (5000 x 10), side by side")
    parser.add_argument("--wide-pages", type=int, default=20)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--role", default="main", choices=("main", "cell"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--hub", default="gevent", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="lazy", help=argparse.SUPPRESS)
    parser.add_argument("--contact-points", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=9042, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if ROOT not in sys.path:
        sys.path.insert(1, ROOT)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [ROOT, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]])
    if args.role == "cell":
        print(json.dumps(_cell(args)))
        return

    from greencql.testing.cluster import SimCluster

    sim = SimCluster.spawn_process(1, hub="gevent", protocol_versions=[3, 4, 5])
    results = []
    try:
        t0 = time.perf_counter()
        _setup(sim.contact_points, sim.port, args.rows)
        print(f"{args.rows} rows inserted in {time.perf_counter() - t0:.1f} s", flush=True)
        print(f"{'hub':9} {'impl':7} {'mode':6} {'worst lag ms':>12} {'CPU lag ms':>10} "
              f"{'full GC ms':>10} {'p99 lag ms':>10} "
              f"{'page s':>7} {'rows/s':>9}")
        for hub in args.hubs.split(","):
            for impl in args.impls.split(","):
                for mode in ("eager", "lazy"):
                    row = _child(["--role", "cell", "--hub", hub, "--mode", mode,
                                  "--rows", str(args.rows), "--repeat", str(args.repeat),
                                  "--contact-points", ",".join(sim.contact_points),
                                  "--port", str(sim.port)], {"GREENCQL_IMPL": impl})
                    row.update(hub=hub, mode=mode, impl=impl)
                    results.append(row)
                    print(f"{hub:9} {impl:7} {mode:6} {row['worst_lag_ms']:12.1f} "
                          f"{row['worst_cpu_lag_ms']:10.1f} {row['worst_gc_ms']:10.1f} "
                          f"{row['p99_lag_ms']:10.1f} {row['page_s']:7.3f} "
                          f"{row['rows_s']:9,.0f}", flush=True)
        wide = _wide(sim, args) if args.wide else None
    finally:
        sim.stop()
    lines = [
        SECTION, "",
        f"`bench/hub_lag.py` on {platform.node()} ({os.cpu_count()} cores, "
        f"Python {platform.python_version()}), "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC. A ticker greenlet "
        f"sleeps {TICK * 1e3:.0f} ms again and again while another greenlet of the same process "
        f"fetches and walks one page of {args.rows:,} rows x 10 mixed columns (simulator in "
        "another process, protocol v4). Worst lag: the latest the ticker woke up (target < 20 "
        "ms). *eager*: the page decoded by the connection's reader greenlet in one go (as "
        "before lazy pages); *lazy*: decoded slice by slice where it is used, the hub getting a "
        f"turn between slices. Page time and rows/s: median of {args.repeat}. The wall lag "
        "includes the OS running other processes (the simulator, and whatever else shares the "
        "machine); the CPU lag counts only this process's own work between two ticks (thread "
        "CPU time), the stall the driver itself caused, full garbage collections included: "
        "the longest of those (and how many ran) is given apart, as CPython's pause over "
        "the whole heap of the process, whichever greenlet's allocation triggered it.", "",
        "| hub | impl | mode | worst lag ms (wall) | worst lag ms (CPU) | longest full GC ms "
        "| p99 lag ms | page s | rows/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['hub']} | {r['impl']} | {r['mode']} | {r['worst_lag_ms']:.1f} | "
                     f"{r['worst_cpu_lag_ms']:.1f} | {r['worst_gc_ms']:.1f} ({r['full_gcs']}) | "
                     f"{r['p99_lag_ms']:.1f} | {r['page_s']:.3f} | {r['rows_s']:,.0f} |")
    if wide:
        lines += ["", "Wide page (bench/run_all.py's cells, 5000 rows x 10 mixed columns over "
                  f"the network, median of {args.repeat} runs of {args.wide_pages} pages), in "
                  "the same run:", "", "| client | rows/s (wall) | rows per client CPU s |",
                  "|---|---|---|"]
        for name, row in wide.items():
            lines.append(f"| {name} | {row['rows_s']:,.0f} | {row['cpu_rows_s']:,.0f} |")
        base = wide.get("c-d gevent", {}).get("rows_s")
        cpu_base = wide.get("c-d gevent", {}).get("cpu_rows_s")
        if base and cpu_base:
            lines.append("")
            for name in ("greencql", "greencql C"):
                if name in wide:
                    lines.append(f"- {name} ÷ cassandra-driver GeventConnection: "
                                 f"{wide[name]['rows_s'] / base:.2f}x by wall time, "
                                 f"{wide[name]['cpu_rows_s'] / cpu_base:.2f}x by client CPU")
            lines += ["", "Wall rows/s are bound by the simulator here (it builds each page in "
                      "Python on the other core, shared with other processes), so the client "
                      "CPU column is the one that compares the decoders (issue 12's targets: "
                      "pure >= 2x, Cython >= 4x)."]
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if not args.no_write:
        _write(text)


if __name__ == "__main__":
    main()
