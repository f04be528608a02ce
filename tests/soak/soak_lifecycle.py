"""Lifecycle cycles: connect/shutdown and failed authentications, repeated, with counts.

Owns :func:`run_cycles`: ``n`` times, a Cluster connects to the simulator (a child process,
see ``soak_harness.SimControl``: its sockets and tasks are not this process's), runs one query
and shuts down; or connects with a wrong password and gets its typed error. It measures what
the process holds before and after (open sockets, live greenlets or OS threads, traced memory
and RSS) after a warm-up, so the caller can demand no growth. Used by ``test_lifecycle.py``
(200 cycles) and ``bench/lifecycle.py`` (10,000).
"""

from __future__ import annotations

import gc
import threading
import tracemalloc
from dataclasses import dataclass, field
from typing import Any

from soak_harness import count_greenlets, count_sockets, rss_bytes

from greencql import Cluster, PlainTextAuthProvider
from greencql.errors import AuthenticationFailed, NoHostAvailable

__all__ = ["CycleReport", "run_cycles", "tasks_alive"]

USER, PASSWORD = "soak_user", "s3cr3t-soak-password"


def tasks_alive(hub: Any) -> int:
    """Greenlets on green hubs, OS threads on the thread hub."""
    if hub.name == "thread":
        return threading.active_count()
    return count_greenlets()


@dataclass
class CycleReport:
    kind: str
    cycles: int = 0
    seconds: float = 0.0
    sockets: tuple[int, int] = (0, 0)
    tasks: tuple[int, int] = (0, 0)
    traced: tuple[int, int] = (0, 0)
    rss: tuple[int, int] = (0, 0)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def traced_growth_per_cycle(self) -> float:
        return (self.traced[1] - self.traced[0]) / max(1, self.cycles)

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "cycles": self.cycles, "seconds": round(self.seconds, 1),
                "per_cycle_ms": round(self.seconds / max(1, self.cycles) * 1e3, 1),
                "sockets_before_after": self.sockets, "tasks_before_after": self.tasks,
                "traced_kib_before_after": (self.traced[0] // 1024, self.traced[1] // 1024),
                "traced_bytes_per_cycle": round(self.traced_growth_per_cycle, 1),
                "rss_mib_before_after": (round(self.rss[0] / 2**20, 1),
                                         round(self.rss[1] / 2**20, 1)),
                "errors": self.errors}


def _one(hub: Any, sim: Any, kind: str, report: CycleReport) -> None:
    auth = None
    if kind == "auth":
        auth = PlainTextAuthProvider(USER, "wrong-" + PASSWORD)
    elif kind == "auth_ok":
        auth = PlainTextAuthProvider(USER, PASSWORD)
    cluster = Cluster(sim.contact_points, port=sim.port, hub=hub, auth_provider=auth,
                      connect_timeout=5.0)
    try:
        session = cluster.connect()
        session.execute("SELECT release_version FROM system.local").one()
        if kind == "auth":
            raise AssertionError("a wrong password connected")
    except (NoHostAvailable, AuthenticationFailed) as exc:
        if kind != "auth":
            raise
        name = type(exc).__name__
        report.errors[name] = report.errors.get(name, 0) + 1
    finally:
        cluster.shutdown()


def _measure(hub: Any) -> tuple[int, int, int, int]:
    hub.sleep(0)
    gc.collect()
    return count_sockets(), tasks_alive(hub), tracemalloc.get_traced_memory()[0], rss_bytes()


def _forget_requests(sim: Any) -> None:
    """An in-process simulator logs every request it gets (bounded, but thousands of records):
    that is the server's memory, not the driver's, so it is emptied before each measure."""
    clear = getattr(sim, "clear_logs", None)
    if clear is not None:
        clear()


def run_cycles(hub: Any, sim: Any, kind: str, n: int, warmup: int = 20) -> CycleReport:
    """``kind``: 'connect' (connect, query, shutdown), 'auth' (a wrong password) or 'auth_ok'
    (a right one, against a simulator with authentication)."""
    report = CycleReport(kind)
    started = tracemalloc.is_tracing()
    if not started:
        tracemalloc.start()
    try:
        for _ in range(warmup):
            _one(hub, sim, kind, report)
        _forget_requests(sim)
        s0, t0, m0, r0 = _measure(hub)
        start = hub.monotonic()
        for _ in range(n):
            _one(hub, sim, kind, report)
        report.seconds = hub.monotonic() - start
        _forget_requests(sim)
        s1, t1, m1, r1 = _measure(hub)
    finally:
        if not started:
            tracemalloc.stop()
    report.cycles = n
    report.sockets = (s0, s1)
    report.tasks = (t0, t1)
    report.traced = (m0, m1)
    report.rss = (r0, r1)
    return report
