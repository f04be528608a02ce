"""The simulated cluster of the soak and overload runs, in its own process, driven by commands.

Owns a child process running a :class:`~greencql.testing.SimCluster` on gevent, a control
socket taking one JSON command per line (stop/start/pause/resume a node, latency, responses cut
mid-frame, corrupt v5 checksums, server-closed connections, primed errors, the report), and the
bookkeeping of non-idempotent statements: every QUERY/EXECUTE whose text names a table listed
with ``--track`` is kept (per table and partition key) with what the node answered, so the
parent can prove none was sent twice to a server that may have applied it. The request log
of a node is bounded; this record is not (it only keeps the tracked statements, each shrunk
to a tuple once answered).

Separate from the client so the client's memory figures are the driver's, not the
simulator's store, and so the simulator has its own core.

    python tests/soak/soak_server.py --nodes 3 [--track soak_ctr,soak_lwt]

prints what :class:`~greencql.testing.cluster.SimProcess` waits for (one ``listening on`` line
per node, ``greencql sim: ready``) and ``soak control PORT`` before it, then serves until its
control connection closes or it gets SIGTERM.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

from greencql.hubs import get_hub  # noqa: E402
from greencql.protocol.constants import Opcode  # noqa: E402
from greencql.testing import SimCluster  # noqa: E402

__all__ = ["main"]

#: answers proving the node did not apply the request (a retry after these is no duplicate):
#: Unavailable, Overloaded, IsBootstrapping, Unprepared, a protocol error
NOT_APPLIED = frozenset({"ERROR 0x1000", "ERROR 0x1001", "ERROR 0x1002", "ERROR 0x2500",
                         "ERROR 0x000a"})


class Tracker:
    """Keeps the records of the tracked (non-idempotent) statements, by (table, key).

    A record is kept whole until the node has answered it (or for ``settle`` seconds), then
    shrunk to what the report needs (node, connection, answer, time): a 30-minute soak tracks
    about a million statements, and whole records (bound values, query text, routing) grew
    the simulator's heap by gigabytes and slowed every garbage collection with it."""

    def __init__(self, tables: list[str], settle: float = 60.0) -> None:
        self.tables = tables
        self.settle = settle
        self.records: dict[tuple[str, bytes], list[Any]] = {}
        #: (the key's list, index in it, the whole record), oldest first
        self._pending: collections.deque[tuple[list[Any], int, Any]] = collections.deque()

    def wrap(self, node: Any) -> None:
        log = node.log
        original = log.append

        def append(rec: Any) -> None:
            original(rec)
            q = rec.query
            if q is None or rec.opcode not in (Opcode.QUERY, Opcode.EXECUTE):
                return
            for table in self.tables:
                if table in q:
                    values = rec.values
                    if values:
                        key = values[0] if isinstance(values, (list, tuple)) else None
                        if isinstance(key, (bytes, bytearray)):
                            recs = self.records.setdefault((table, bytes(key)), [])
                            recs.append(rec)
                            self._pending.append((recs, len(recs) - 1, rec))
                            self._shrink(rec.time)
                    return

        log.append = append

    def _shrink(self, now: float) -> None:
        pending = self._pending
        while pending:
            recs, i, rec = pending[0]
            if rec.response is None and now - rec.time < self.settle:
                return
            pending.popleft()
            recs[i] = (rec.node, rec.connection, rec.response, rec.time)

    def report(self) -> dict[str, Any]:
        dups = []
        sent = 0
        for (table, key), recs in self.records.items():
            sent += len(recs)
            rows = [r if isinstance(r, tuple) else (r.node, r.connection, r.response, r.time)
                    for r in recs]
            maybe = [r for r in rows if r[2] not in NOT_APPLIED]
            if len(maybe) > 1:
                dups.append({"table": table, "key": key.hex(),
                             "sent": [(n, c, resp, round(t, 3)) for n, c, resp, t in rows]})
        return {"tracked_statements": len(self.records), "tracked_requests": sent,
                "sent_twice": len(dups), "examples": dups[:10]}


def _serve(sim: SimCluster, tracker: Tracker, conn: Any) -> None:
    f = conn.makefile("rwb")
    try:
        for line in f:
            cmd = json.loads(line)
            try:
                out = _command(sim, tracker, cmd)
                reply = {"ok": True, **(out or {})}
            except Exception as exc:  # the parent gets the error, the simulator lives on
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            f.write(json.dumps(reply).encode() + b"\n")
            f.flush()
    finally:
        f.close()
        conn.close()


def _command(sim: SimCluster, tracker: Tracker, cmd: dict[str, Any]) -> dict[str, Any] | None:
    op = cmd["op"]
    node = sim.node(cmd["node"]) if "node" in cmd else None
    if op == "stop":
        node.stop()
    elif op == "start":
        node.start()
    elif op == "pause":
        node.pause()
    elif op == "resume":
        node.resume()
    elif op == "latency":
        node.latency = cmd["seconds"]
    elif op == "drop":
        node.drop_next_responses(cmd.get("n", 1))
    elif op == "corrupt":
        node.corrupt_next_segments(cmd.get("n", 1), cmd.get("kind", "crc32"))
    elif op == "close":
        node.close_connections()
    elif op == "prime_error":
        node.prime(cmd["pattern"], error=cmd["code"], times=cmd.get("times"))
    elif op == "clear_primes":
        (node or sim).clear_primes()
    elif op == "heal":
        sim.reset_faults()
        for n in sim.nodes:
            if not n.running:
                n.start()
    elif op == "report":
        return {**tracker.report(),
                "connections": {n.name: len(n.connections) for n in sim.nodes},
                "running": {n.name: n.running for n in sim.nodes}}
    else:
        raise ValueError(f"unknown op {op!r}")
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--track", default="", help="comma-separated table names to track")
    p.add_argument("--protocol-versions", default="3,4,5")
    p.add_argument("--auth", default=None, metavar="USER:PASSWORD")
    p.add_argument("--stderr", default=None,
                   help="write stderr (the simulator's logs) to this file: nobody reads the "
                        "pipe after the start, and a full pipe would stall the simulator")
    args = p.parse_args(argv)
    if args.stderr:
        import os

        fd = os.open(args.stderr, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 2)
        os.close(fd)
    hub = get_hub("gevent")
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    sim = SimCluster(args.nodes, port=0, hub=hub, auth=auth,
                     protocol_versions=[int(v) for v in args.protocol_versions.split(",")])
    tracker = Tracker([t for t in args.track.split(",") if t])
    for node in sim.nodes:
        tracker.wrap(node)
    sim.start()
    listener = hub.listen_tcp("127.0.0.1", 0, backlog=8)
    # the lines SimProcess (greencql.testing.cluster) waits for, plus the control port
    for node in sim.nodes:
        print(f"{node.name} listening on {node.address}:{node.port}")
    print(f"soak control {listener.getsockname()[1]}")
    print("greencql sim: ready", flush=True)
    conn, _ = listener.accept()
    listener.close()
    try:
        _serve(sim, tracker, conn)  # until the parent closes the control connection
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
