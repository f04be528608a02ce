#!/usr/bin/env python
"""Run django_greencql's Django-runner tests on one hub: ``runtests.py --hub gevent``.

Starts one simulated cluster (``greencql sim``, 3 nodes on 127.0.0.1-3) in a child process,
then runs, each in its own process with ``GREENCQL_MONKEY_PATCH`` set for the hub:

1. ``testproject/manage.py test`` (the package's tests: cache, sessions, migrations, checks,
   dbshell, fork, the test keyspace);
2. ``example/manage.py test`` (the example project, including a gunicorn ``-k gevent
   --preload -w 2`` run of it);

and checks, after each, that the test keyspace is gone from the simulator's schema. Exits
non-zero when anything failed. Every wait is bounded (``--timeout`` per process).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent  # the greencql checkout
HUBS = ("gevent", "eventlet", "thread")


def _env(hub: str, sim: object) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GREENCQL_TEST_HUB", None)
    env["GREENCQL_MONKEY_PATCH"] = "" if hub == "thread" else hub
    env["CASSANDRA_HOSTS"] = ",".join(sim.contact_points)  # type: ignore[attr-defined]
    env["CASSANDRA_PORT"] = str(sim.port)  # type: ignore[attr-defined]
    paths = [str(HERE), str(ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _keyspaces(sim: object) -> set[str]:
    from greencql import Cluster

    with Cluster(sim.contact_points, port=sim.port, hub="thread") as cluster:  # type: ignore
        session = cluster.connect()
        return {r[0] for r in session.execute("SELECT keyspace_name FROM system_schema.keyspaces")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hub", choices=HUBS, default="gevent")
    parser.add_argument("--timeout", type=float, default=300.0, help="per Django process")
    parser.add_argument("--only", choices=("package", "example"), default=None)
    parser.add_argument("labels", nargs="*", help="test labels (with --only)")
    args = parser.parse_args(argv)
    sys.path[:0] = [str(HERE), str(ROOT)]
    import django
    from greencql.testing import SimCluster

    print(f"== Django {django.get_version()}", flush=True)  # the one PYTHONPATH chose

    suites = [("package", HERE / "testproject", "test_dg_tests"),
              ("example", HERE / "example", "test_shop")]
    failed = []
    with SimCluster.spawn_process(3, port=0) as sim:
        env = _env(args.hub, sim)
        for name, folder, test_keyspace in suites:
            if args.only and name != args.only:
                continue
            cmd = [sys.executable, "-W", "default", "manage.py", "test", "--noinput", "-v", "2",
                   *args.labels]
            print(f"== {name} tests, hub {args.hub}: {' '.join(cmd)}", flush=True)
            try:
                code = subprocess.run(cmd, cwd=folder, env=env, timeout=args.timeout).returncode
            except subprocess.TimeoutExpired:
                code = -1
                print(f"== {name}: timed out after {args.timeout} s", flush=True)
            left = test_keyspace in _keyspaces(sim)
            if left:
                print(f"== {name}: test keyspace {test_keyspace} was not dropped", flush=True)
            if code != 0 or left:
                failed.append(name)
    print(f"== hub {args.hub}: {'FAILED: ' + ', '.join(failed) if failed else 'all passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
