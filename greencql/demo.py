"""The demo (`make demo`, `greencql demo`): greencql against an embedded simulated cluster.

It starts a 3-node SimCluster on 127.0.0.1-3 in this process, connects a Cluster on the same
hub, and walks through what a green application does: schema, prepared statements, many
concurrent requests on greenlets, paging, a lightweight transaction, a load phase (a few
thousand requests from a few hundred greenlets: throughput, p50/p99/p999 latency, requests
served per node, OS threads of the process), a node failure and its return, and a bounded
timeout. Each step prints what happened and what it cost.

``--hosts h1,h2 [--port P] [--keyspace K]`` walks through the same against a real cluster,
in a keyspace of its own that is dropped at the end; the steps that need the simulator
(stopping a node, priming a slow answer) are skipped there, with a note.

The hub is monkey-patched *before* greencql is imported, as a gunicorn gevent worker does;
so this module imports only the standard library at module level. `greencql demo` re-executes
`python -m greencql.demo` so that nothing the command line loaded precedes the patching.
The progress bar and tables are drawn by `rich` (the ``demo`` extra), without its refresh
thread: the demo's own loop refreshes them, so a green process keeps a single OS thread.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

__all__ = ["main", "configure"]

#: the keyspace of the walk-through on the simulator, and on a real cluster (where it is
#: created and dropped by the demo, so it must not be one of the application's)
SIM_KEYSPACE = "demo"
REAL_KEYSPACE = "greencql_demo"
DEFAULT_LOAD_REQUESTS = 5000
DEFAULT_LOAD_GREENLETS = 300
#: the load phase gives up (and says so) after this long; it takes about a second
LOAD_PHASE_LIMIT = 60.0
#: how long the demo waits for a restarted node to serve a request
RESTART_LIMIT = 15.0
_KEYSPACE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `greencql demo` (also of `python -m greencql.demo`)."""
    parser.add_argument(
        "--hub",
        choices=("gevent", "eventlet", "thread"),
        default=None,
        help="the hub to run on (default: gevent if installed, else eventlet, else threads)",
    )
    parser.add_argument("--rows", type=int, default=2000, help="rows to insert (default 2000)")
    parser.add_argument("--requests", type=int, default=DEFAULT_LOAD_REQUESTS,
                        help=f"requests of the load phase (default {DEFAULT_LOAD_REQUESTS})")
    parser.add_argument("--greenlets", type=int, default=DEFAULT_LOAD_GREENLETS,
                        help=f"greenlets of the load phase (default {DEFAULT_LOAD_GREENLETS})")
    parser.add_argument("--hosts", default=None,
                        help="run against a real cluster: comma-separated contact points")
    parser.add_argument("--port", type=int, default=9042,
                        help="native port of --hosts (default 9042)")
    parser.add_argument("--keyspace", default=None,
                        help=f"the demo's own keyspace (default {SIM_KEYSPACE} on the "
                             f"simulator, {REAL_KEYSPACE} with --hosts: created, then dropped)")
    parser.set_defaults(run=_reexec)


def _reexec(args: argparse.Namespace) -> int:
    # The CLI has imported modules already; a fresh interpreter patches before any of them.
    argv = [sys.executable, "-m", "greencql.demo", *_as_argv(args)]
    sys.stdout.flush()
    os.execv(sys.executable, argv)
    return 0  # not reached


def _as_argv(args: argparse.Namespace) -> list[str]:
    argv = ["--rows", str(args.rows), "--requests", str(args.requests),
            "--greenlets", str(args.greenlets), "--port", str(args.port)]
    for name in ("hub", "hosts", "keyspace"):
        value = getattr(args, name)
        if value:
            argv += [f"--{name}", value]
    return argv


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if args.rows < 1 or args.requests < 1 or args.greenlets < 1:
        parser.error("--rows, --requests and --greenlets must be at least 1")
    if not 0 < args.port < 65536:
        parser.error(f"--port {args.port} is not in 1-65535")
    if args.hosts is not None and not [h for h in args.hosts.split(",") if h.strip()]:
        parser.error("--hosts wants comma-separated host names or addresses")
    if args.keyspace is not None and not _KEYSPACE_NAME.match(args.keyspace):
        parser.error(f"--keyspace {args.keyspace!r}: letters, digits and _, at most 48")
    if args.keyspace is not None and args.keyspace.lower().startswith("system"):
        parser.error("--keyspace: the demo drops its keyspace; not a system keyspace")


def _choose_hub(requested: str | None) -> str:
    if requested:
        return requested
    for name in ("gevent", "eventlet"):
        if importlib.util.find_spec(name) is not None:
            return name
    return "thread"


def _patch(hub: str) -> None:
    if hub == "gevent":
        from gevent import monkey

        monkey.patch_all()
    elif hub == "eventlet":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import eventlet
        eventlet.monkey_patch()


def _step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def os_threads() -> int | None:
    """OS threads of this process (Linux: /proc/self/task); None where that is unknown."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def _primary_key(table: Any) -> str:
    partition = ", ".join(c.name for c in table.partition_key)
    clustering = [f"{c.name}{' DESC' if c.is_reversed else ''}" for c in table.clustering_key]
    return f"PRIMARY KEY (({partition}){''.join(', ' + c for c in clustering)})"


def _run(hub_name: str, args: argparse.Namespace) -> int:
    from greencql import Cluster

    real = args.hosts is not None
    keyspace = args.keyspace or (REAL_KEYSPACE if real else SIM_KEYSPACE)
    with contextlib.ExitStack() as stack:
        if real:
            hosts = [h.strip() for h in args.hosts.split(",") if h.strip()]
            _step(f"a real cluster at {', '.join(hosts)} (port {args.port}) on the "
                  f"{hub_name} hub")
            sim = None
            cluster = stack.enter_context(Cluster(hosts, port=args.port, hub=hub_name))
        else:
            from greencql.testing import SimCluster

            _step(f"a 3-node simulated cluster on the {hub_name} hub")
            sim = stack.enter_context(SimCluster(nodes=3, port=0, hub=hub_name))
            for node in sim.nodes:
                print(f"  {node.name}: {node.address}:{node.port} dc={node.dc} rack={node.rack}")
            cluster = stack.enter_context(Cluster(sim.contact_points, port=sim.port,
                                                  hub=hub_name))
        t0 = time.perf_counter()
        session = cluster.connect()
        hosts_seen = sorted(str(h.endpoint) for h in cluster.metadata.all_hosts())
        print(
            f"  connected in {1000 * (time.perf_counter() - t0):.0f} ms over protocol "
            f"v{cluster.protocol_version}; discovered {len(hosts_seen)} hosts: "
            f"{', '.join(hosts_seen)}"
        )
        try:
            _walk_through(cluster, session, sim, keyspace, args)
        finally:
            if real:
                _step(f"dropping the demo's keyspace {keyspace}")
                session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=30.0)
                print(f"  keyspace {keyspace} dropped")

    shut = "cluster" if real else "cluster and simulator"
    _step(f"done: {shut} shut down, no greenlet left running")
    return 0


def _walk_through(cluster: Any, session: Any, sim: Any, keyspace: str,
                  args: argparse.Namespace) -> None:
    from greencql import (
        ConsistencyLevel,
        OperationTimedOut,
        SimpleStatement,
        execute_concurrent_with_args,
    )

    rows = args.rows
    _step("schema (waits for schema agreement, then the metadata is refreshed)")
    replication = min(2, len(cluster.metadata.all_hosts()))
    session.execute(
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = "
        f"{{'class': 'SimpleStrategy', 'replication_factor': {replication}}}",
        timeout=30.0,
    )
    session.execute(
        f"CREATE TABLE IF NOT EXISTS {keyspace}.visits ("
        " site text, day date, n int, path text,"
        " PRIMARY KEY ((site), day, n)) WITH CLUSTERING ORDER BY (day DESC, n ASC)",
        timeout=30.0,
    )
    for name, table in sorted(cluster.metadata.keyspaces[keyspace].tables.items()):
        print(f"  {keyspace}.{name}: {_primary_key(table)}")

    _step(f"{rows} prepared inserts, 100 in flight at once")
    insert = session.prepare(
        f"INSERT INTO {keyspace}.visits (site, day, n, path) VALUES (?, ?, ?, ?)"
    )
    insert.is_idempotent = True
    today = datetime.date(2026, 11, 21)
    params = [
        (f"site-{i % 50}", today - datetime.timedelta(days=i % 7), i, f"/page/{i}")
        for i in range(rows)
    ]
    if sim is not None:
        sim.clear_logs()
    t0 = time.perf_counter()
    results = execute_concurrent_with_args(session, insert, params, concurrency=100)
    elapsed = time.perf_counter() - t0
    failed = sum(1 for r in results if not r.success)
    print(f"  {rows} inserts in {elapsed:.2f} s ({rows / elapsed:,.0f}/s), {failed} failed")
    if sim is not None:
        executes = sim.records(kind="EXECUTE")
        on_replica = sum(1 for r in executes if r.is_replica)
        print(
            f"  token-aware routing: {on_replica} of {len(executes)} requests were sent "
            f"straight to a replica ({100 * on_replica / max(1, len(executes)):.1f}%)"
        )

    _step("paging: 10 rows a page, fetched lazily while iterating")
    stmt = SimpleStatement(f"SELECT * FROM {keyspace}.visits WHERE site = %s", fetch_size=10)
    result = session.execute(stmt, ("site-7",))
    count, pages = len(result.current_rows), 1
    while result.has_more_pages:
        result.fetch_next_page()
        count += len(result.current_rows)
        pages += 1
    print(f"  site-7 has {count} visits, read in {pages} pages of at most 10 rows")

    _step("a lightweight transaction")
    lwt = (
        f"INSERT INTO {keyspace}.visits (site, day, n, path) VALUES (%s, %s, %s, %s)"
        " IF NOT EXISTS"
    )
    first_try = session.execute(lwt, ("site-1", today, 999_999, "/signup"))
    second_try = session.execute(lwt, ("site-1", today, 999_999, "/again"))
    print(
        f"  first insert applied={first_try.was_applied}, "
        f"second applied={second_try.was_applied}"
    )

    select = session.prepare(f"SELECT path FROM {keyspace}.visits WHERE site = ? AND day = ?")
    select.is_idempotent = True
    select.consistency_level = ConsistencyLevel.ONE

    workers = "threads" if cluster.hub.name == "thread" else "greenlets"
    _step(f"load: {args.requests} requests from {args.greenlets} {workers} "
          "(90% reads, 10% writes)")
    if sim is not None:
        print("  (the simulator shares this process and its hub: latencies include its work)")
    _load_phase(cluster, session, keyspace, select, insert, today, args.requests,
                args.greenlets)

    if sim is None:
        _step("node failure and return: skipped on a real cluster (the demo stops no node "
              "of yours)")
        _step("a slow node and a bounded timeout: skipped on a real cluster (it needs the "
              "simulator's primed delays)")
        return

    _step("node2 stops: idempotent requests move to the other nodes")
    node2 = sim.node(2)
    node2.stop()
    reads = [(f"site-{i % 50}", today) for i in range(300)]
    results = execute_concurrent_with_args(session, select, reads, concurrency=50)
    print(f"  300 reads with node2 down: {sum(r.success for r in results)} succeeded")
    _restart(cluster, session, node2, select, today)

    _step("every wait has a bound: a slow node and a 0.2 s timeout")
    for node in sim.nodes:
        node.prime(f"FROM {keyspace}.visits WHERE site = 'slow'", void=True, delay=1.0)
    t0 = time.perf_counter()
    try:
        session.execute(f"SELECT * FROM {keyspace}.visits WHERE site = 'slow'", timeout=0.2)
    except OperationTimedOut as exc:
        print(f"  OperationTimedOut after {time.perf_counter() - t0:.2f} s: {exc}")
    sim.clear_primes()


def _restart(cluster: Any, session: Any, node: Any, select: Any, today: datetime.date) -> None:
    """Restart ``node``; say when the driver saw it up (its pushed UP event) and when it
    served its first request again (its pool reconnected and the policy routed to it)."""
    hub = cluster.hub
    up = hub.event()
    listener = _UpListener(node.address, up)
    cluster.register_listener(listener)
    t0 = time.perf_counter()
    node.start()
    try:
        seen_up = up.wait(RESTART_LIMIT)
        up_after = time.perf_counter() - t0
        served_after = None
        deadline = t0 + RESTART_LIMIT
        rnd = random.Random(2)
        while served_after is None and time.perf_counter() < deadline:
            # a few reads at a time, on partitions spread over the ring, until one comes
            # back from the restarted node
            futures = [session.execute_async(select, (f"site-{rnd.randrange(50)}", today))
                       for _ in range(20)]
            for future in futures:
                with contextlib.suppress(Exception):
                    future.result()
                    host = future.coordinator_host
                    if served_after is None and host is not None \
                            and host.address == node.address:
                        served_after = time.perf_counter() - t0
            if served_after is None:
                hub.sleep(0.01)
    finally:
        cluster.unregister_listener(listener)
    up_text = f"saw it up after {up_after:.3f} s" if seen_up else "saw no UP event"
    if served_after is None:
        print(f"  {node.name} restarted; the driver {up_text}, but it served no request "
              f"within {RESTART_LIMIT:g} s")
    else:
        print(f"  {node.name} restarted; the driver {up_text}, and it served its first "
              f"request {served_after:.3f} s after the restart")


class _LoadStats:
    """What one load greenlet measured (merged once all are done: no shared counters)."""

    def __init__(self) -> None:
        self.done = 0
        self.failed = 0
        self.latencies: list[float] = []
        self.served: Counter[str] = Counter()
        self.on_replica = 0


def _load_phase(cluster: Any, session: Any, keyspace: str, select: Any, insert: Any,
                today: datetime.date, total: int, greenlets: int) -> None:
    from rich.console import Console
    from rich.padding import Padding
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )
    from rich.table import Table

    hub = cluster.hub
    metadata = cluster.metadata
    greenlets = min(greenlets, total)
    shares = [total // greenlets + (1 if i < total % greenlets else 0) for i in range(greenlets)]
    stats = [_LoadStats() for _ in range(greenlets)]
    remaining = [greenlets]
    finished = hub.event()
    lock = hub.lock()

    def one_greenlet(index: int) -> None:
        mine = stats[index]
        rnd = random.Random(index)
        try:
            for i in range(shares[index]):
                site = f"site-{rnd.randrange(50)}"
                if rnd.random() < 0.9:
                    bound = select.bind((site, today - datetime.timedelta(days=rnd.randrange(7))))
                else:
                    bound = insert.bind((site, today, 1_000_000 + index * 100_000 + i, "/load"))
                started = time.perf_counter()
                future = session.execute_async(bound)
                try:
                    future.result()
                except Exception:
                    mine.failed += 1
                else:
                    mine.latencies.append(time.perf_counter() - started)
                    host = future.coordinator_host
                    mine.served[str(host.endpoint)] += 1
                    if host in metadata.get_replicas(keyspace, bound.routing_key):
                        mine.on_replica += 1
                mine.done += 1
        finally:
            with lock:
                remaining[0] -= 1
                if remaining[0] == 0:
                    finished.set()

    console = Console(highlight=False)
    threads_seen = os_threads()
    progress = Progress(TextColumn("  {task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, auto_refresh=False,
                        redirect_stdout=False, redirect_stderr=False)
    t0 = time.perf_counter()
    with progress:
        task = progress.add_task("requests", total=total)
        for index in range(greenlets):
            hub.spawn(one_greenlet, index)
        deadline = t0 + LOAD_PHASE_LIMIT
        while not finished.wait(0.1) and time.perf_counter() < deadline:
            progress.update(task, completed=sum(s.done for s in stats))
            progress.refresh()
            threads_now = os_threads()
            if threads_now is not None and threads_seen is not None:
                threads_seen = max(threads_seen, threads_now)
        progress.update(task, completed=sum(s.done for s in stats))
        progress.refresh()
    elapsed = time.perf_counter() - t0
    if not finished.is_set():
        print(f"  the load phase did not finish within {LOAD_PHASE_LIMIT:g} s")

    latencies = sorted(x for s in stats for x in s.latencies)
    served: Counter[str] = Counter()
    for s in stats:
        served.update(s.served)
    done = sum(s.done for s in stats)
    failed = sum(s.failed for s in stats)
    on_replica = sum(s.on_replica for s in stats)

    summary = Table()
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    summary.add_row("requests (failed)", f"{done:,} ({failed})")
    summary.add_row("concurrent callers", f"{greenlets}")
    summary.add_row("throughput", f"{done / elapsed:,.0f} requests/s")
    for label, fraction in (("p50", 0.50), ("p99", 0.99), ("p999", 0.999)):
        summary.add_row(f"latency {label}", f"{1000 * _quantile(latencies, fraction):.2f} ms")
    summary.add_row("OS threads of this process", "n/a" if threads_seen is None
                    else str(threads_seen))
    console.print(Padding(summary, (0, 0, 0, 2), expand=False))

    print("  requests served per node (token-aware routing: each goes to a replica)")
    per_node = Table()
    per_node.add_column("node")
    per_node.add_column("requests", justify="right")
    per_node.add_column("share", justify="right")
    for endpoint in sorted(served):
        per_node.add_row(endpoint, f"{served[endpoint]:,}",
                         f"{100 * served[endpoint] / max(1, done - failed):.1f}%")
    console.print(Padding(per_node, (0, 0, 0, 2), expand=False))
    ok = max(1, done - failed)
    print(f"  {on_replica} of {done - failed} requests were served by a replica of their "
          f"partition ({100 * on_replica / ok:.1f}%)")


def _quantile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, int(fraction * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


class _UpListener:
    """Sets an event when the host at ``address`` comes back up."""

    def __init__(self, address: str, event: Any) -> None:
        self.address = address
        self.event = event

    def on_up(self, host: Any) -> None:
        if host.address == self.address:
            self.event.set()

    def on_down(self, host: Any) -> None:
        pass

    def on_add(self, host: Any) -> None:
        pass

    def on_remove(self, host: Any) -> None:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="greencql demo", description=__doc__.splitlines()[0])
    configure(parser)
    args = parser.parse_args(argv)
    _check(args, parser)
    if importlib.util.find_spec("rich") is None:
        parser.error("the demo draws its progress bar and tables with rich: "
                     "pip install 'greencql[demo]'")
    hub = _choose_hub(args.hub)
    _patch(hub)
    import logging

    logging.basicConfig(level=logging.WARNING, format="  (log %(name)s: %(message)s)")
    return _run(hub, args)


if __name__ == "__main__":
    sys.exit(main())
