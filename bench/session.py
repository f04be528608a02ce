"""The whole driver path under load: Session.execute of a prepared single-row SELECT (not a test).

What applications run: ``Cluster(...).connect()``, a prepared ``SELECT k, v FROM bench.kv WHERE
k = ?`` bound per request, ``session.execute(bound)`` from C concurrent greenlets, against ONE
simulated 3-node cluster running in ANOTHER process (``SimCluster.spawn_process``, served on
gevent) with a keyspace (RF 3 by default) and a table of 1,000 rows created once. Side by side in
one run, each client cell in its own subprocess, monkey-patched before anything else is imported:

- ``greencql``: ``session.execute(bound)``, default row factory (named tuples);
- ``greencql async``: ``session.execute_async(bound).result()``;
- ``greencql tuple``: ``session.execute(bound)`` with ``row_factory=tuple_factory`` (the
  row-factory cost, by difference with the first);
- ``cassandra-driver``: 3.30.1 with its GeventConnection (EventletConnection under
  ``--hub eventlet``), ``session.execute(bound)``, its default named tuples.

Both drivers run with their defaults (token-aware over DC-aware round robin, LOCAL_ONE, one
connection per host) except compression, which is off for both, and the protocol version,
pinned for both (``--version``, default 4: cassandra-driver 3.30.1 speaks v5, but its
GeventConnection stalls under load on v5, see below). CPU per request is
``time.process_time()`` of the client process over the measured requests (after a warm-up at
the same concurrency), so the simulator's CPU is not counted. The simulator has one of the two
cores to itself, so req/s and latency are bounded by the simulator, CPU per request is not.

    .venv/bin/python bench/session.py [--requests 20000] [--concurrency 1,64,512]
                                      [--hub gevent[,eventlet]] [--repeat 3] [--rf 3]
                                      [--version 4] [--variants ...] [--no-write]
                                      [--before PATH]

``--before PATH`` adds a ``greencql before`` cell: the same client importing greencql from
PATH (an export of an earlier commit: ``git archive <commit> | tar -x -C PATH``), so a change
is measured before and after in one run, rounds interleaved; every greencql cell then runs
the implementation GREENCQL_IMPL names (default ``python``).

Every cell runs ``--repeat`` times (rounds interleaved) and the table holds the medians.

Why v4: cassandra-driver's ``Connection.process_io_buffer`` takes ONE frame out of its frame
buffer per v5 segment it decodes, and returns as soon as the socket buffer ends inside a segment,
leaving complete frames of earlier segments unanswered until more bytes arrive. Its libev reactor
reads everything available before parsing and rarely ends mid-segment; GeventConnection parses
after every 4 KiB ``recv``, so at 64 greenlets requests hang until its 10 s client timeout
("Connection defunct by heartbeat"). Same server, same load: v4 on gevent and v5 on libev pass.

More cells (``MORE_VARIANTS``: cassandra-driver with tuple rows on GeventConnection and on its
libev reactor, and the floor client) are not in this script's default run: bench/run_all.py
(``make bench``) runs them beside these, through this script's client role, and reads p999 too.

The table is printed and written into docs/benchmarks.md (section "Session: prepared
single-row SELECT", one subsection per hub; ``--no-write`` to skip). bench/connection.py
measures one connection below the session; this script takes its statement and row count.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

__all__ = ["main"]

HERE = os.path.abspath(__file__)
ROOT = os.path.dirname(os.path.dirname(HERE))
DOCS = os.path.join(ROOT, "docs", "benchmarks.md")
SECTION = "## Session: prepared single-row SELECT"

#: cell name -> (driver, row factory, call style)
VARIANTS = {
    "greencql": ("greencql", "named_tuple", "execute"),
    "greencql async": ("greencql", "named_tuple", "execute_async"),
    "greencql tuple": ("greencql", "tuple", "execute"),
    "cassandra-driver": ("cassandra-driver", "named_tuple", "execute"),
}
#: more cells, not in this script's default run (bench/run_all.py runs them; ``--variants``
#: takes them too): cassandra-driver with tuple rows on GeventConnection and on its libev
#: reactor (an unpatched process, ``execute_async`` callbacks keep C requests in flight: no
#: greenlets there), and the floor client of bench/connection.py (pre-encoded frames, header
#: parsing only) driven like the others
MORE_VARIANTS = {
    "cassandra-driver tuple": ("cassandra-driver", "tuple", "execute"),
    "cassandra-driver libev tuple": ("cassandra-driver-libev", "tuple", "callbacks"),
    "floor": ("floor", "raw", "frames"),
}
#: with ``--before PATH``: the same client as ``greencql``, importing greencql from PATH (an
#: export of an earlier commit), so that a change is measured before and after in one run
BEFORE = "greencql before"
ALL_VARIANTS = {**VARIANTS, **MORE_VARIANTS, BEFORE: VARIANTS["greencql"]}
#: the row of the table every greencql row is divided by
BASELINE = "cassandra-driver"


# ----------------------------------------------------------------------------------------------
# setup (in the parent, plain threads, through greencql's own Session)
# ----------------------------------------------------------------------------------------------


def _setup(contact_points: list[str], port: int, rf: int, version: int) -> None:
    """The keyspace, the table and its 1,000 rows, once per run."""
    from connection import KEYS  # bench/connection.py: same table, same rows

    from greencql import Cluster

    cluster = Cluster(contact_points, port=port, protocol_version=version, hub="thread",
                      compression=False)
    session = cluster.connect()
    session.execute(
        "CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
        f"{{'class': 'SimpleStrategy', 'replication_factor': {rf}}}"
    )
    session.execute("CREATE TABLE IF NOT EXISTS bench.kv (k int PRIMARY KEY, v text)")
    insert = session.prepare("INSERT INTO bench.kv (k, v) VALUES (?, ?)")
    for k in range(KEYS):
        session.execute(insert, (k, f"value-{k}"))
    cluster.shutdown()


# ----------------------------------------------------------------------------------------------
# clients (each cell in its own subprocess, monkey-patched first)
# ----------------------------------------------------------------------------------------------


def _patch(hub: str) -> None:
    if hub == "gevent":
        from gevent import monkey

        monkey.patch_all()
    else:
        import warnings

        # eventlet announces its own deprecation on import; this process knows
        warnings.simplefilter("ignore")
        import eventlet

        eventlet.monkey_patch()


def _run_greenlets(hub: str, fn, count: int) -> None:
    """Run ``fn(0) .. fn(count - 1)`` in ``count`` greenlets and wait for all; re-raise."""
    if hub == "gevent":
        import gevent

        gevent.joinall([gevent.spawn(fn, i) for i in range(count)], raise_error=True)
    else:
        import eventlet

        for thread in [eventlet.spawn(fn, i) for i in range(count)]:
            thread.wait()


def _drive(hub: str, one_request, concurrency: int, requests: int, warmup: int) -> dict:
    """Warm up with ``warmup`` requests, then time ``requests`` calls of ``one_request(key)``
    from ``concurrency`` greenlets (distinct keys, cycling over the table).

    bench/connection.py's ``_drive`` is gevent-only and warms up with a whole run at one
    greenlet, hence this one."""
    from connection import KEYS

    latencies: list[float] = []
    perf = time.perf_counter

    def phase(total: int, record: bool) -> None:
        per = max(1, total // concurrency)

        def worker(w: int) -> None:
            base = w * per
            for i in range(per):
                key = (base + i) % KEYS
                t0 = perf()
                one_request(key)
                if record:
                    latencies.append(perf() - t0)

        _run_greenlets(hub, worker, concurrency)

    phase(warmup, False)
    import gc

    gc.collect()
    cpu0, wall0 = time.process_time(), perf()
    phase(requests, True)
    cpu, wall = time.process_time() - cpu0, perf() - wall0
    return _summary(cpu, wall, latencies)


def _summary(cpu: float, wall: float, latencies: list[float]) -> dict:
    """CPU per request, requests/s and latency percentiles of one measured phase."""
    n = len(latencies)
    latencies.sort()
    return {
        "cpu_us": cpu / n * 1e6,
        "rps": n / wall,
        "p50_us": latencies[n // 2] * 1e6,
        "p99_us": latencies[min(n - 1, int(n * 0.99))] * 1e6,
        "p999_us": latencies[min(n - 1, int(n * 0.999))] * 1e6,
        "n": n,
    }


def _drive_callbacks(execute_async, bind, concurrency: int, requests: int,
                     warmup: int) -> dict:
    """``_drive`` for a process without greenlets (cassandra-driver's libev reactor): keep
    ``concurrency`` requests in flight, each completion callback (on the reactor's thread)
    issuing the next one, as cassandra-driver's own pipelined benchmarks do. Latency is from
    ``execute_async`` to the callback."""
    import threading

    from connection import KEYS

    perf = time.perf_counter

    def phase(total: int) -> list[float]:
        latencies: list[float] = []
        done = threading.Event()
        lock = threading.Lock()
        state = {"issued": 0, "finished": 0, "error": None}

        def issue() -> None:
            with lock:
                if state["issued"] >= total:
                    return
                key = state["issued"] % KEYS
                state["issued"] += 1
            t0 = perf()
            future = execute_async(bind((key,)))
            future.add_callbacks(finished, failed, callback_args=(key, t0))

        def finished(rows, key: int, t0: float) -> None:
            latencies.append(perf() - t0)
            if rows[0][0] != key:
                state["error"] = AssertionError(f"{rows[0]} for key {key}")
                done.set()
                return
            with lock:
                state["finished"] += 1
                last = state["finished"] == total
            if last:
                done.set()
            else:
                issue()

        def failed(exc: BaseException, key: int, t0: float) -> None:
            state["error"] = exc
            done.set()

        for _ in range(min(concurrency, total)):
            issue()
        if not done.wait(600):
            raise RuntimeError(f"{total} requests did not finish within 600 s")
        if state["error"] is not None:
            raise state["error"]
        return latencies

    phase(warmup)
    import gc

    gc.collect()
    cpu0, wall0 = time.process_time(), perf()
    latencies = phase(requests)
    return _summary(time.process_time() - cpu0, perf() - wall0, latencies)


def greencql_cluster(args: argparse.Namespace, row_factory: str):
    """greencql's Cluster as every cell makes it (bench/run_all.py's cells too)."""
    from greencql import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, tuple_factory

    # the default variant passes no profile at all: what an application gets untouched
    profiles = None
    if row_factory == "tuple":
        profiles = {EXEC_PROFILE_DEFAULT: ExecutionProfile(row_factory=tuple_factory)}
    return Cluster(
        args.contact_points.split(","),
        port=args.port,
        protocol_version=args.version,
        compression=False,
        hub=args.hub,
        execution_profiles=profiles,
    )


def driver_cluster(args: argparse.Namespace, row_factory: str, reactor: str):
    """cassandra-driver's Cluster as every cell makes it: ``reactor`` is ``hub`` (its
    GeventConnection or EventletConnection after ``args.hub``) or ``libev``."""
    import warnings

    # its deprecation and default-policy warnings: we pass its defaults on purpose
    warnings.simplefilter("ignore")
    from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
    from cassandra.query import tuple_factory

    if reactor == "libev":
        from cassandra.io.libevreactor import LibevConnection as connection_class
    elif args.hub == "gevent":
        from cassandra.io.geventreactor import GeventConnection as connection_class
    else:
        from cassandra.io.eventletreactor import EventletConnection as connection_class
    profiles = {}
    if row_factory == "tuple":
        profiles = {EXEC_PROFILE_DEFAULT: ExecutionProfile(row_factory=tuple_factory)}
    return Cluster(
        args.contact_points.split(","),
        port=args.port,
        connection_class=connection_class,
        protocol_version=args.version,
        compression=False,
        execution_profiles=profiles,
    )


def _client_greencql(args: argparse.Namespace, row_factory: str, style: str):
    from connection import SELECT

    cluster = greencql_cluster(args, row_factory)
    session = cluster.connect(wait_for_all_pools=True)
    prepared = session.prepare(SELECT)
    bind = prepared.bind
    probe = session.execute(bind((1,))).one()
    assert type(probe) is tuple if row_factory == "tuple" else hasattr(probe, "_fields"), probe
    if style == "execute":
        execute = session.execute

        def one(key: int) -> None:
            row = execute(bind((key,))).one()
            assert row[0] == key, row
    else:
        execute_async = session.execute_async

        def one(key: int) -> None:
            row = execute_async(bind((key,))).result().one()
            assert row[0] == key, row

    try:
        return _drive(args.hub, one, int(args.concurrency), args.requests, args.warmup)
    finally:
        cluster.shutdown()


def _client_driver(args: argparse.Namespace, row_factory: str, style: str):
    from connection import SELECT

    assert style == "execute"
    cluster = driver_cluster(args, row_factory, "hub")
    session = cluster.connect()
    prepared = session.prepare(SELECT)
    bind = prepared.bind
    execute = session.execute

    def one(key: int) -> None:
        row = execute(bind((key,))).one()
        assert row[0] == key, row

    try:
        return _drive(args.hub, one, int(args.concurrency), args.requests, args.warmup)
    finally:
        cluster.shutdown()


def _client_libev(args: argparse.Namespace, row_factory: str, style: str):
    from connection import SELECT

    cluster = driver_cluster(args, row_factory, "libev")
    session = cluster.connect()
    prepared = session.prepare(SELECT)
    try:
        return _drive_callbacks(session.execute_async, prepared.bind, int(args.concurrency),
                                args.requests, args.warmup)
    finally:
        cluster.shutdown()


def _client_floor(args: argparse.Namespace, row_factory: str, style: str):
    from connection import floor_request

    assert args.hub == "gevent", "the floor client is gevent-only"
    one = floor_request(args.contact_points.split(",")[0], args.port)
    return _drive(args.hub, one, int(args.concurrency), args.requests, args.warmup)


CLIENTS = {
    "greencql": _client_greencql,
    "cassandra-driver": _client_driver,
    "cassandra-driver-libev": _client_libev,
    "floor": _client_floor,
}


def _client_main(args: argparse.Namespace) -> None:
    driver, row_factory, style = ALL_VARIANTS[args.variant]
    if driver != "cassandra-driver-libev":  # libev runs in a process nothing patched
        _patch(args.hub)  # before anything else touches sockets or threads
    print(json.dumps(CLIENTS[driver](args, row_factory, style)))


# ----------------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------------


def _run_child(argv: list[str], env: dict[str, str] | None = None) -> dict:
    """One client cell in a subprocess (``env``: extra environment, e.g. GREENCQL_IMPL)."""
    child_env = None if env is None else {**os.environ, **env}
    out = subprocess.run([sys.executable, HERE, *argv], capture_output=True, text=True,
                         timeout=600, env=child_env)
    if out.returncode != 0:
        raise RuntimeError(f"{argv} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cell_requests(requests: int, concurrency: int) -> int:
    # one greenlet waits out every round trip alone: a fifth of the requests is as stable
    if concurrency == 1:
        return max(1, requests // 5)
    return max(concurrency, requests // concurrency * concurrency)


def _versions() -> str:
    from importlib.metadata import version

    import greencql

    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        commit = "?"
    return (
        f"Python {platform.python_version()}, greencql {greencql.__version__} "
        f"(commit {commit}, plus the uncommitted tree), cassandra-driver "
        f"{version('cassandra-driver')} ({'Cython build' if _driver_compiled() else 'pure Python'}"
        f"), gevent {version('gevent')}, eventlet {version('eventlet')}"
    )


def _driver_compiled() -> bool:
    import importlib.util

    # find_spec of a submodule imports the package, which imports nothing that patches
    spec = importlib.util.find_spec("cassandra.cluster")
    return bool(spec and spec.origin and spec.origin.endswith(".so"))


def _markdown(table: dict, concurrencies: list[int], variants: list[str]) -> list[str]:
    lines = [
        "| client | greenlets | CPU µs/req | req/s | p50 µs | p99 µs "
        "| CPU ÷ c-d | req/s ÷ c-d | p50 ÷ c-d | p99 ÷ c-d |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for c in concurrencies:
        base = table.get((BASELINE, c))
        for v in variants:
            row = table[(v, c)]
            if base is not None and v != BASELINE:
                ratios = (
                    f"{row['cpu_us'] / base['cpu_us']:.2f} | {row['rps'] / base['rps']:.2f} | "
                    f"{row['p50_us'] / base['p50_us']:.2f} | {row['p99_us'] / base['p99_us']:.2f}"
                )
            else:
                ratios = " |  |  | "
            lines.append(
                f"| {v} | {c} | {row['cpu_us']:.1f} | {row['rps']:.0f} | {row['p50_us']:.0f} "
                f"| {row['p99_us']:.0f} | {ratios} |"
            )
    return lines


def _section_intro() -> list[str]:
    return [
        SECTION,
        "",
        "`bench/session.py`: the whole driver path that applications use. A prepared",
        "`SELECT k, v FROM bench.kv WHERE k = ?`, bound per request (distinct keys over a",
        "1,000-row table), `session.execute(bound)` from C concurrent greenlets; every cell",
        "runs in its own monkey-patched subprocess against ONE simulated 3-node cluster",
        "(`greencql sim`, served on gevent, in another process), warmed up first at the same",
        "concurrency. Every cell runs several times, rounds interleaved; the tables hold",
        "the medians.",
        "",
        "- `greencql`: `Cluster(contact_points, port=...).connect()`, default row factory",
        "  (named tuples); `greencql async`: `execute_async(bound).result()` instead;",
        "  `greencql tuple`: `row_factory=tuple_factory` (the named-tuple cost is the",
        "  difference with `greencql`).",
        "- `cassandra-driver`: 3.30.1, `Cluster(connection_class=GeventConnection)`",
        "  (EventletConnection under eventlet), default named tuples.",
        "- Both drivers keep their defaults (TokenAwarePolicy(DCAwareRoundRobinPolicy()),",
        "  LOCAL_ONE, one connection per host), except: compression off, and the same",
        "  pinned protocol version: v4, because cassandra-driver 3.30.1's GeventConnection",
        "  stalls on v5 under load (it leaves complete frames in its buffer when a read ends",
        "  inside a v5 segment; requests time out at 64 greenlets; see the docstring of",
        "  `bench/session.py`).",
        "- CPU µs/req: `time.process_time()` of the client process over the measured",
        "  requests (all its threads; the simulator's CPU is not counted). `÷ c-d`: the",
        "  greencql row divided by the cassandra-driver row at the same concurrency (CPU and",
        "  latency: lower is better; req/s: higher is better).",
        "- The simulator holds one of the two cores and answers from Python, so req/s and",
        "  latency at 64 and 512 greenlets are bounded by it as much as by the client; CPU",
        "  per request is the client's own number.",
        "- The row factory: named tuples cost a few µs per one-row result (the namedtuple",
        "  class is cached per column set), less than the run-to-run noise of these cells",
        "  (±10-15 % on this shared machine), so `greencql` and `greencql tuple` overlap.",
        "",
    ]


def _write_docs(path: str, hub: str, body: list[str]) -> None:
    """Replace (or add) this hub's subsection of the Session section of ``path``; keep the
    rest of the file as it is."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = ["# Benchmarks", ""]
    intro = _section_intro()
    sub = f"### {hub} hub"
    if SECTION not in lines:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *intro]
    start = lines.index(SECTION)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    section = lines[start:end]
    # the intro is the script's; the subsections of other hubs are kept
    subs: dict[str, list[str]] = {}
    order: list[str] = []
    current: str | None = None
    for line in section:
        if line.startswith("### "):
            current = line
            order.append(line)
            subs[line] = []
        elif current is not None:
            subs[current].append(line)
    if sub not in subs:
        order.append(sub)
    subs[sub] = ["", *body, ""]
    new = list(intro)
    for name in sorted(order, key=lambda h: (h != "### gevent hub", h)):  # gevent first
        chunk = subs[name]
        while chunk and not chunk[-1].strip():
            chunk.pop()
        new += [name, *chunk, ""]
    lines[start:end] = new
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines).rstrip("\n") + "\n")


def _bench_hub(args: argparse.Namespace, hub: str, sim, concurrencies: list[int],
               variants: list[str]) -> list[str]:
    """Every cell ``--repeat`` times, rounds interleaved so that drift on a shared machine
    hits every client alike; the table holds the median of each number."""
    import statistics

    runs: dict[tuple[str, int], list[dict]] = {}
    print(f"\n{hub} hub")
    print(f"{'client':18} {'greenlets':>9} {'CPU us/req':>11} {'req/s':>9} {'p50 us':>9} "
          f"{'p99 us':>9} {'requests':>9}")
    for c in concurrencies:
        n = _cell_requests(args.requests, c)
        warmup = min(n, max(n // 5, c * 4))
        for _round in range(args.repeat):
            for v in variants:
                env = None
                if args.before and ALL_VARIANTS[v][0] == "greencql":
                    # each greencql cell imports the tree it stands for, and both run the
                    # same implementation (GREENCQL_IMPL, default python when comparing)
                    env = {"PYTHONPATH": args.before if v == BEFORE else ROOT,
                           "GREENCQL_IMPL": os.environ.get("GREENCQL_IMPL", "python")}
                row = _run_child([
                    "--role", "client", "--variant", v, "--hub", hub,
                    "--contact-points", ",".join(sim.contact_points), "--port", str(sim.port),
                    "--version", str(args.version), "--concurrency", str(c),
                    "--requests", str(n), "--warmup", str(warmup),
                ], env)
                runs.setdefault((v, c), []).append(row)
                print(f"{v:18} {c:9d} {row['cpu_us']:11.1f} {row['rps']:9.0f} "
                      f"{row['p50_us']:9.0f} {row['p99_us']:9.0f} {row['n']:9d}", flush=True)
    table = {
        cell: {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        for cell, rows in runs.items()
    }
    return _markdown(table, concurrencies, variants)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20000,
                        help="measured requests per cell (a fifth at 1 greenlet)")
    parser.add_argument("--concurrency", default="1,64,512",
                        help="comma-separated greenlet counts (default 1,64,512)")
    parser.add_argument("--hub", default="gevent",
                        help="gevent, eventlet, or both comma-separated (default gevent)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of every cell; the table holds medians (default 3)")
    parser.add_argument("--rf", type=int, default=3, choices=(1, 3),
                        help="replication factor of the keyspace (default 3)")
    parser.add_argument("--version", type=int, default=4, choices=(3, 4, 5),
                        help="protocol version for both drivers (default 4; see the docstring "
                             "for why not 5)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated subset of {', '.join(VARIANTS)} (more: "
                             f"{', '.join(MORE_VARIANTS)})")
    parser.add_argument("--no-write", action="store_true",
                        help=f"do not write {os.path.relpath(DOCS, ROOT)}")
    parser.add_argument("--before", default=None, metavar="PATH",
                        help="also run a 'greencql before' cell importing greencql from PATH "
                             "(e.g. `git archive <commit> | tar -x -C PATH`), beside the "
                             "greencql cells of this tree, all with GREENCQL_IMPL (default "
                             "python)")
    # a client cell (the parent runs itself with these)
    parser.add_argument("--role", default="main", choices=("main", "client"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="greencql", help=argparse.SUPPRESS)
    parser.add_argument("--contact-points", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=9042, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=2000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "client":
        _client_main(args)
        return

    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    hubs = [h for h in args.hub.split(",") if h]
    variants = [v for v in args.variants.split(",") if v]
    if args.before:
        args.before = os.path.abspath(args.before)
        if BEFORE not in variants:
            variants.insert(0, BEFORE)
    for name, known, values in (("hub", ("gevent", "eventlet"), hubs),
                                ("variant", tuple(ALL_VARIANTS), variants)):
        bad = [v for v in values if v not in known]
        if bad or not values:
            parser.error(f"--{name} must be among {', '.join(known)}, not {bad or values}")
    if not concurrencies or min(concurrencies) < 1:
        parser.error("--concurrency wants positive integers")
    command = " ".join(
        [".venv/bin/python", "bench/session.py", *(a if " " not in a else repr(a)
                                                  for a in sys.argv[1:])]
    )

    from greencql.testing.cluster import SimCluster

    started = time.monotonic()
    sim = SimCluster.spawn_process(nodes=3, port=0, hub="gevent")
    try:
        _setup(sim.contact_points, sim.port, args.rf, args.version)
        print(f"simulated cluster {', '.join(sim.contact_points)} port {sim.port} in pid "
              f"{sim.process.pid}; RF {args.rf}; protocol v{args.version}; "
              f"{args.requests} requests per cell ({_cell_requests(args.requests, 1)} at 1 "
              "greenlet)")
        versions = _versions()
        print(versions)
        results = {hub: _bench_hub(args, hub, sim, concurrencies, variants) for hub in hubs}
    finally:
        sim.stop()
    elapsed = time.monotonic() - started
    today = datetime.date.today().isoformat()
    for hub, lines in results.items():
        body = [
            f"{today}; {os.cpu_count()} cores, shared (a VM; the simulator takes one core); "
            f"Linux {platform.release()}.",
            f"{versions}.",
            f"Protocol v{args.version}, RF {args.rf}, {args.requests} measured requests per "
            f"cell ({_cell_requests(args.requests, 1)} at 1 greenlet), median of "
            f"{args.repeat} runs per cell; whole run {elapsed:.0f} s.",
            "",
            f"    {command}",
            "",
            *lines,
        ]
        print(f"\n### {hub} hub\n")
        print("\n".join(lines))
        if not args.no_write:
            _write_docs(DOCS, hub, body)
    if not args.no_write:
        print(f"\nwritten to {os.path.relpath(DOCS, ROOT)}")


if __name__ == "__main__":
    main()
