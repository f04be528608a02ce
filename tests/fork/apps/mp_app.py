"""A script whose Session is made at module level, then used by a ``multiprocessing.Pool(4)``
with the fork start method: what tests/fork/test_fork_multiprocessing.py runs (not a test).

Usage: ``python mp_app.py`` with the environment of ``forkhelp.app_env``. Prints one JSON line:
``{"parent": pid, "results": [[k, value, pid], ...], "after": value}``.
"""

from __future__ import annotations

import json
import multiprocessing
import os

from greencql import Cluster

cluster = Cluster(
    os.environ["GREENCQL_FORK_CONTACT_POINTS"].split(","),
    port=int(os.environ["GREENCQL_FORK_PORT"]),
    default_timeout=5.0,
)
session = cluster.connect(os.environ["GREENCQL_FORK_KEYSPACE"])
lookup = session.prepare("SELECT v FROM kv WHERE k = ?")


def value(k: int) -> list:
    row = session.execute(lookup, (k,)).one()
    return [k, row.v if row else None, os.getpid()]


def main() -> None:
    context = multiprocessing.get_context("fork")
    with context.Pool(4) as pool:
        results = pool.map(value, range(200), chunksize=5)
    after = value(7)[1]  # the parent's session still works
    print(json.dumps({"parent": os.getpid(), "results": results, "after": after}), flush=True)
    cluster.shutdown()


if __name__ == "__main__":
    main()
