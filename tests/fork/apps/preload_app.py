"""A WSGI app that connects to Cassandra when imported: what ``gunicorn --preload`` runs.

Used by tests/fork/test_fork_gunicorn.py (not a test module). The Cluster and Session are made
at import time, in gunicorn's master, before it forks the workers (the pattern of
django-cassandra-engine and of most Flask apps); every worker then uses them as they are.

Environment: ``GREENCQL_FORK_CONTACT_POINTS`` (comma-separated), ``GREENCQL_FORK_PORT``,
``GREENCQL_FORK_KEYSPACE``.

Routes: ``/kv/<k>`` answers ``<k>:<value of k>:<pid>``; ``/debug`` answers JSON with the pid,
the hub and the local ports of the session's and control connections in this process (after
one query, so that a worker's first use has rebuilt them).
"""

from __future__ import annotations

import json
import os
from typing import Any

from greencql import Cluster

cluster = Cluster(
    os.environ["GREENCQL_FORK_CONTACT_POINTS"].split(","),
    port=int(os.environ["GREENCQL_FORK_PORT"]),
    default_timeout=5.0,
)
session = cluster.connect(os.environ["GREENCQL_FORK_KEYSPACE"])
lookup = session.prepare("SELECT v FROM kv WHERE k = ?")


def _local_ports() -> list[tuple[int, str]]:
    # a worker whose first request is this one has just started its pools: wait (bounded)
    # until each has its first connection and the control connection is back
    for pool in list(session._pools.values()):
        pool.wait_ready(5.0)
    if cluster.control_connection is not None:
        cluster.control_connection.wait_connected(5.0)
    conns = [c for pool in session._pools.values() for c in pool._pool.connections]
    control = cluster.control_connection
    if control is not None and control.connection is not None:
        conns.append(control.connection)
    # (local port, node address): one local port can serve connections to two nodes at once
    return sorted((c._sock.getsockname()[1], c._sock.getpeername()[0]) for c in conns
                  if c.is_open)


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    path = environ.get("PATH_INFO", "")
    status = "200 OK"
    if path == "/debug":
        session.execute(lookup, (0,))  # this process's first use rebuilds: report after it
        body = json.dumps({"pid": os.getpid(), "hub": cluster.hub.name,
                           "ports": _local_ports()})
    elif path.startswith("/kv/"):
        k = int(path[len("/kv/"):])
        row = session.execute(lookup, (k,)).one()
        body = f"{k}:{row.v if row else None}:{os.getpid()}"
    else:
        status, body = "404 Not Found", "no such route"
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
