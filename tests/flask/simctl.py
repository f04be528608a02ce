"""A simulated cluster in a process of its own, driven over stdin/stdout (the gunicorn tests).

``python tests/flask/simctl.py [NODES]`` starts a :class:`~greencql.testing.SimCluster` on the
thread hub (port 0), prints one JSON line ``{"ready": true, "contact_points": [...], "port":
N}``, then answers one JSON line per command line read on stdin:

- ``clients``: ``{"open": [...], "seen": [...]}``: the client connections open now, and those
  that ever sent a request, each as ``"node address:client port"`` (a client port alone is
  not unique: one port number may serve connections to two nodes);
- ``wait_closed ADDRESS:PORT,... SECONDS``: waits (on a condition signalled when a
  connection ends, never by sleeping) until none of those connections is open; answers
  ``{"closed": true|false, "still_open": [...]}``;
- ``stop N`` / ``start N``: stop or restart node N (1-based); ``{"ok": true}``;
- ``quit`` (or end of input): stops the cluster and exits 0.

``greencql sim`` (SimCluster.spawn_process) has no such control channel; the tests need to
see the simulator's connections from outside its process, so this script is their simulator.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

__all__ = ["main"]


def main(argv: list[str]) -> int:
    from greencql.testing import SimCluster

    nodes = int(argv[1]) if len(argv) > 1 else 3
    sim = SimCluster(nodes, port=0, hub="thread")
    changed = threading.Condition()
    for node in sim.nodes:
        _watch_closes(node, changed)
    sim.start()
    out = sys.stdout

    def reply(obj: Any) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    reply({"ready": True, "contact_points": sim.contact_points, "port": sim.port})
    try:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            command = words[0]
            if command == "quit":
                break
            if command == "clients":
                address = {n.name: n.address for n in sim.nodes}
                reply({"open": _open(sim),
                       "seen": sorted({f"{address[r.node]}:{r.client[1]}"
                                       for r in sim.records()})})
            elif command == "wait_closed":
                wanted = {c for c in words[1].split(",") if c}
                deadline = time.monotonic() + float(words[2])
                with changed:
                    while True:
                        still = sorted(wanted.intersection(_open(sim)))
                        remaining = deadline - time.monotonic()
                        if not still or remaining <= 0:
                            break
                        changed.wait(remaining)
                reply({"closed": not still, "still_open": still})
            elif command in ("stop", "start"):
                node = sim.node(int(words[1]))
                node.stop() if command == "stop" else node.start()
                reply({"ok": True})
            else:
                reply({"error": f"unknown command {command!r}"})
    finally:
        sim.stop()
    return 0


def _open(sim: Any) -> list[str]:
    return sorted(f"{n.address}:{c.peer[1]}" for n in sim.nodes for c in n.connections)


def _watch_closes(node: Any, changed: threading.Condition) -> None:
    """Signal ``changed`` whenever ``node`` forgets a connection (it has ended)."""
    forget = node._forget

    def forget_and_signal(conn: Any) -> None:
        forget(conn)
        with changed:
            changed.notify_all()

    node._forget = forget_and_signal


if __name__ == "__main__":
    sys.exit(main(sys.argv))
