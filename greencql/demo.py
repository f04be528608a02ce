"""The demo (`make demo`, `greencql demo`): greencql against an embedded simulated cluster.

It starts a 3-node SimCluster on 127.0.0.1-3 in this process, connects a Cluster on the same
hub, and walks through what a green application does: schema, prepared statements, many
concurrent requests on greenlets, paging, a lightweight transaction, a node failure and its
return, and a bounded timeout. Each step prints what happened and what it cost.

The hub is monkey-patched *before* greencql is imported, as a gunicorn gevent worker does;
so this module imports only the standard library at module level. `greencql demo` re-executes
`python -m greencql.demo` so that nothing the command line loaded precedes the patching.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["main", "configure"]


def configure(parser: argparse.ArgumentParser) -> None:
    """Options of `greencql demo` (also of `python -m greencql.demo`)."""
    parser.add_argument(
        "--hub",
        choices=("gevent", "eventlet", "thread"),
        default=None,
        help="the hub to run on (default: gevent if installed, else eventlet, else threads)",
    )
    parser.add_argument("--rows", type=int, default=2000, help="rows to insert (default 2000)")
    parser.set_defaults(run=_reexec)


def _reexec(args: argparse.Namespace) -> int:
    # The CLI has imported modules already; a fresh interpreter patches before any of them.
    argv = [sys.executable, "-m", "greencql.demo", "--rows", str(args.rows)]
    if args.hub:
        argv += ["--hub", args.hub]
    sys.stdout.flush()
    os.execv(sys.executable, argv)
    return 0  # not reached


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


def _run(hub_name: str, rows: int) -> int:
    from greencql import (
        Cluster,
        ConsistencyLevel,
        OperationTimedOut,
        SimpleStatement,
        execute_concurrent_with_args,
    )
    from greencql.testing import SimCluster

    _step(f"a 3-node simulated cluster on the {hub_name} hub")
    with SimCluster(nodes=3, port=0, hub=hub_name) as sim:
        for node in sim.nodes:
            print(f"  {node.name}: {node.address}:{node.port} dc={node.dc} rack={node.rack}")

        with Cluster(sim.contact_points, port=sim.port, hub=hub_name) as cluster:
            t0 = time.perf_counter()
            session = cluster.connect()
            hosts = sorted(str(h.endpoint) for h in cluster.metadata.all_hosts())
            print(
                f"  connected in {1000 * (time.perf_counter() - t0):.0f} ms over protocol "
                f"v{cluster.protocol_version}; discovered {len(hosts)} hosts: {', '.join(hosts)}"
            )

            _step("schema (waits for schema agreement, then the metadata is refreshed)")
            session.execute(
                "CREATE KEYSPACE IF NOT EXISTS demo WITH replication = "
                "{'class': 'SimpleStrategy', 'replication_factor': 2}"
            )
            session.execute(
                "CREATE TABLE IF NOT EXISTS demo.visits ("
                " site text, day date, n int, path text,"
                " PRIMARY KEY ((site), day, n)) WITH CLUSTERING ORDER BY (day DESC, n ASC)"
            )
            table = cluster.metadata.keyspaces["demo"].tables["visits"]
            print("  " + table.export_as_string().replace("\n", "\n  "))

            _step(f"{rows} prepared inserts, 100 in flight at once")
            insert = session.prepare(
                "INSERT INTO demo.visits (site, day, n, path) VALUES (?, ?, ?, ?)"
            )
            insert.is_idempotent = True
            import datetime

            today = datetime.date(2026, 11, 21)
            params = [
                (f"site-{i % 50}", today - datetime.timedelta(days=i % 7), i, f"/page/{i}")
                for i in range(rows)
            ]
            sim.clear_logs()
            t0 = time.perf_counter()
            results = execute_concurrent_with_args(session, insert, params, concurrency=100)
            elapsed = time.perf_counter() - t0
            failed = sum(1 for r in results if not r.success)
            print(f"  {rows} inserts in {elapsed:.2f} s ({rows / elapsed:,.0f}/s), {failed} failed")
            executes = sim.records(kind="EXECUTE")
            on_replica = sum(1 for r in executes if r.is_replica)
            print(
                f"  token-aware routing: {on_replica} of {len(executes)} requests were sent "
                f"straight to a replica ({100 * on_replica / max(1, len(executes)):.1f}%)"
            )

            _step("paging: 10 rows a page, fetched lazily while iterating")
            stmt = SimpleStatement("SELECT * FROM demo.visits WHERE site = %s", fetch_size=10)
            sim.clear_logs()
            result = session.execute(stmt, ("site-7",))
            count = sum(1 for _ in result)
            pages = len(sim.records(kind="QUERY"))
            print(f"  site-7 has {count} visits, read in {pages} pages of at most 10 rows")

            _step("a lightweight transaction")
            lwt = (
                "INSERT INTO demo.visits (site, day, n, path) VALUES (%s, %s, %s, %s)"
                " IF NOT EXISTS"
            )
            first_try = session.execute(lwt, ("site-1", today, 999_999, "/signup"))
            second_try = session.execute(lwt, ("site-1", today, 999_999, "/again"))
            print(
                f"  first insert applied={first_try.was_applied}, "
                f"second applied={second_try.was_applied}"
            )

            _step("node2 stops: idempotent requests move to the other nodes")
            node2 = sim.node(2)
            node2.stop()
            select = session.prepare("SELECT path FROM demo.visits WHERE site = ? AND day = ?")
            select.is_idempotent = True
            select.consistency_level = ConsistencyLevel.ONE
            reads = [(f"site-{i % 50}", today) for i in range(300)]
            results = execute_concurrent_with_args(session, select, reads, concurrency=50)
            print(f"  300 reads with node2 down: {sum(r.success for r in results)} succeeded")

            up = sim.hub.event()
            listener = _UpListener(node2.address, up)
            cluster.register_listener(listener)
            t0 = time.perf_counter()
            node2.start()
            seen = up.wait(10)
            print(
                f"  node2 restarted; the driver saw it up after "
                f"{time.perf_counter() - t0:.2f} s" if seen else "  node2 not seen up in 10 s"
            )
            cluster.unregister_listener(listener)

            _step("every wait has a bound: a slow node and a 0.2 s timeout")
            for node in sim.nodes:
                node.prime("FROM demo.visits WHERE site = 'slow'", void=True, delay=1.0)
            t0 = time.perf_counter()
            try:
                session.execute("SELECT * FROM demo.visits WHERE site = 'slow'", timeout=0.2)
            except OperationTimedOut as exc:
                print(f"  OperationTimedOut after {time.perf_counter() - t0:.2f} s: {exc}")
            sim.clear_primes()

    _step("done: cluster and simulator shut down, no greenlet left running")
    return 0


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
    hub = _choose_hub(args.hub)
    _patch(hub)
    import logging

    logging.basicConfig(level=logging.WARNING, format="  (log %(name)s: %(message)s)")
    return _run(hub, args.rows)


if __name__ == "__main__":
    sys.exit(main())
