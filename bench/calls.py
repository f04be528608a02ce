"""Python function calls per request on the common path (a benchmark, not a test).

Time on a shared 2-core machine drifts; the number of Python calls a request makes does not.
This counts them with a profile hook (``sys.setprofile``: every Python-level call, and
separately every call into C) over ``--requests`` prepared single-row SELECTs issued by
``--concurrency`` greenlets through ``Session.execute``, against a simulated 3-node cluster in
another process (the simulator's calls are not counted). The warm-up (connect, prepare, first
requests) is not counted either.

    .venv/bin/python bench/calls.py [--requests 2000] [--concurrency 1,64] [--hub gevent]
                                    [--top 25]

Prints calls per request and, with ``--top``, the functions that make up most of them.

The requests take the common path of ``Session.execute`` (a PreparedStatement with its values,
the default execution profile, a request timeout, no throttler, no speculative execution):
the "Data flow of one request" of ``greencql/cluster/session.py`` lists what it calls. Run
it with ``PYTHONPATH=.`` from a worktree (and ``GREENCQL_IMPL=python|c``) to count that
tree's code rather than the installed one; issue 12's target is <= 80 Python calls in pure
Python. docs/benchmarks.md keeps the latest counts.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys

__all__ = ["main"]

SELECT = "SELECT k, v FROM bench.kv WHERE k = ?"


def _child(args: argparse.Namespace) -> None:
    if args.hub == "gevent":
        from gevent import monkey

        monkey.patch_all()
    elif args.hub == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    from greencql import Cluster
    from greencql.hubs import get_hub

    hub = get_hub(args.hub)
    points = args.contact_points.split(",")
    with Cluster(points, port=args.port, compression=False, protocol_version=4) as cluster:
        session = cluster.connect(wait_for_all_pools=True)
        session.execute("CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
                        "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        session.execute("CREATE TABLE IF NOT EXISTS bench.kv (k int PRIMARY KEY, v text)")
        insert = session.prepare("INSERT INTO bench.kv (k, v) VALUES (?, ?)")
        for k in range(100):
            session.execute(insert, (k, f"value {k}"))
        select = session.prepare(SELECT)

        def run(total: int, concurrency: int) -> None:
            per = total // concurrency
            done = hub.event()
            left = [concurrency]

            def worker(w: int) -> None:
                for i in range(per):
                    session.execute(select, ((w * per + i) % 100,))
                left[0] -= 1
                if not left[0]:
                    done.set()

            for w in range(concurrency):
                hub.spawn(worker, w)
            if not done.wait(120):
                raise SystemExit("requests did not finish within 120 s")

        measured: dict[str, dict[str, float]] = {}
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            run(max(concurrency * 4, 400), concurrency)  # warm-up at this concurrency
            calls: collections.Counter[str] = collections.Counter()
            counts = {"call": 0, "c_call": 0}

            def hook(frame, event, arg, calls=calls, counts=counts):
                if event == "call":
                    counts["call"] += 1
                    if args.top:
                        code = frame.f_code
                        name = f"{os.path.relpath(code.co_filename)}:{code.co_name}"
                        calls[name] += 1
                elif event == "c_call":
                    counts["c_call"] += 1

            total = (args.requests // concurrency) * concurrency
            sys.setprofile(hook)
            try:
                run(total, concurrency)
            finally:
                sys.setprofile(None)
            print(f"{args.hub} c{concurrency}: {counts['call'] / total:.1f} Python calls and "
                  f"{counts['c_call'] / total:.1f} C calls per request ({total} requests)")
            for name, n in calls.most_common(args.top):
                print(f"    {n / total:6.2f}  {name}")
            measured[str(concurrency)] = {"python_calls": counts["call"] / total,
                                          "c_calls": counts["c_call"] / total}
        if args.json:  # for bench/run_all.py: the last line of the output
            print(json.dumps(measured))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", default="1,64")
    parser.add_argument("--hub", default="gevent", choices=["gevent", "eventlet", "thread"])
    parser.add_argument("--top", type=int, default=0)
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line: {concurrency: {python_calls, c_calls}}")
    parser.add_argument("--contact-points", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.contact_points:
        _child(args)
        return
    from greencql.testing.cluster import SimCluster

    sim = SimCluster.spawn_process(3, hub="gevent")
    try:
        cmd = [sys.executable, os.path.abspath(__file__), "--requests", str(args.requests),
               "--concurrency", args.concurrency, "--hub", args.hub, "--top", str(args.top),
               *(["--json"] if args.json else []),
               "--contact-points", ",".join(sim.contact_points), "--port", str(sim.port)]
        subprocess.run(cmd, check=True, timeout=600)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
