"""Request metrics, as cassandra-driver's ``Cluster(metrics_enabled=True)`` exposes them.

Owns :class:`Metrics`: a request timer (count, min, max, mean, stddev and percentiles over a
bounded sample of recent request latencies, in seconds) and error counters
(``connection_errors``, ``write_timeouts``, ``read_timeouts``, ``unavailables``,
``other_errors``, ``retries``, ``ignores``), plus gauges of the cluster (``known_hosts``,
``connected_to``, ``open_connections``). Names follow cassandra-driver's ``cassandra.metrics``
(``cluster.metrics.request_timer['count']``, ``cluster.metrics.stats.write_timeouts``,
``get_stats()``); no ``scales`` dependency.

Must not: slow down requests when disabled (the session checks ``cluster.metrics is None``)
or read a clock itself (the session hands it each latency).
"""

from __future__ import annotations

import math
import random
import threading
from typing import Any

from greencql.errors import (
    ConnectionException,
    NoHostAvailable,
    OperationTimedOut,
    ReadTimeout,
    Unavailable,
    WriteTimeout,
)
from greencql.pool.forksafety import rng as _rng

__all__ = ["Metrics", "RequestTimer", "SAMPLE_SIZE"]

#: latencies kept for the percentiles: a uniform sample of every request so far (Vitter's
#: algorithm R), the size scales' PmfStat uses
SAMPLE_SIZE = 1028

_COUNTERS = ("connection_errors", "write_timeouts", "read_timeouts", "unavailables",
             "other_errors", "retries", "ignores")


class RequestTimer:
    """Request latencies in seconds, read like scales' PmfStat: ``timer['count']``,
    ``['min']``, ``['max']``, ``['mean']``, ``['stddev']``, ``['median']``,
    ``['75percentile']``, ``['95percentile']``, ``['98percentile']``, ``['99percentile']``,
    ``['999percentile']``."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._lock = threading.Lock()
        self._sample: list[float] = []
        self._rng = rng or _rng
        self.count = 0
        self._min = math.inf
        self._max = 0.0
        self._sum = 0.0
        self._sum_sq = 0.0

    def add(self, seconds: float) -> None:
        with self._lock:
            self.count += 1
            self._sum += seconds
            self._sum_sq += seconds * seconds
            if seconds < self._min:
                self._min = seconds
            if seconds > self._max:
                self._max = seconds
            if len(self._sample) < SAMPLE_SIZE:
                self._sample.append(seconds)
            else:
                i = self._rng.randrange(self.count)
                if i < SAMPLE_SIZE:
                    self._sample[i] = seconds

    def _percentile(self, ordered: list[float], q: float) -> float:
        if not ordered:
            return 0.0
        pos = q * (len(ordered) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            count = self.count
            ordered = sorted(self._sample)
            total, total_sq = self._sum, self._sum_sq
            lo, hi = self._min, self._max
        mean = total / count if count else 0.0
        variance = max(0.0, total_sq / count - mean * mean) if count else 0.0
        return {
            "count": count,
            "min": lo if count else 0.0,
            "max": hi,
            "mean": mean,
            "stddev": math.sqrt(variance),
            "median": self._percentile(ordered, 0.5),
            "75percentile": self._percentile(ordered, 0.75),
            "95percentile": self._percentile(ordered, 0.95),
            "98percentile": self._percentile(ordered, 0.98),
            "99percentile": self._percentile(ordered, 0.99),
            "999percentile": self._percentile(ordered, 0.999),
        }

    def __getitem__(self, key: str) -> float:
        return self.snapshot()[key]

    def keys(self) -> list[str]:
        return list(self.snapshot())

    def __repr__(self) -> str:
        return f"RequestTimer({self.snapshot()!r})"


class _Stats:
    """The counters and gauges, as attributes (cassandra-driver's ``metrics.stats``)."""

    def __init__(self, cluster: Any) -> None:
        self._cluster = cluster
        for name in _COUNTERS:
            setattr(self, name, 0)

    @property
    def known_hosts(self) -> int:
        return len(self._cluster.metadata.all_hosts())

    @property
    def connected_to(self) -> int:
        hosts = set()
        for session in list(self._cluster._sessions):
            hosts.update(session._pools)
        return len(hosts)

    @property
    def open_connections(self) -> int:
        total = 0
        for session in list(self._cluster._sessions):
            for pool in list(session._pools.values()):
                connections = getattr(pool, "connections", None)
                if connections is None:
                    inner = getattr(pool, "_pool", None)
                    connections = getattr(inner, "connections", ())
                try:
                    total += len(connections)
                except TypeError:
                    total += 1
        return total


class Metrics:
    """The metrics of one Cluster (``cluster.metrics`` when ``metrics_enabled=True``)."""

    def __init__(self, cluster: Any) -> None:
        self.stats_name = f"cassandra-{id(cluster)}"
        self.request_timer = RequestTimer()
        self.stats = _Stats(cluster)
        self._lock = threading.Lock()

    # cassandra-driver also exposes the counters on the Metrics object itself
    def __getattr__(self, name: str) -> Any:
        if name in _COUNTERS or name in ("known_hosts", "connected_to", "open_connections"):
            return getattr(self.stats, name)
        raise AttributeError(name)

    def set_stats_name(self, stats_name: str) -> None:
        self.stats_name = stats_name

    def get_stats(self) -> dict[str, Any]:
        """Every metric in one dict (what scales' ``getStats()`` gives under the name)."""
        out: dict[str, Any] = {name: getattr(self.stats, name) for name in _COUNTERS}
        out["known_hosts"] = self.stats.known_hosts
        out["connected_to"] = self.stats.connected_to
        out["open_connections"] = self.stats.open_connections
        out["request_timer"] = self.request_timer.snapshot()
        return out

    # -- fed by the session -------------------------------------------------------------------

    def _on_request_done(self, seconds: float) -> None:
        self.request_timer.add(seconds)

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + 1)

    def _on_error(self, error: BaseException, decision: Any) -> None:
        """One failed attempt and what the retry policy decided about it."""
        if isinstance(error, WriteTimeout):
            self._count("write_timeouts")
        elif isinstance(error, ReadTimeout):
            self._count("read_timeouts")
        elif isinstance(error, Unavailable):
            self._count("unavailables")
        elif isinstance(error, (ConnectionException, OperationTimedOut, NoHostAvailable)):
            self._count("connection_errors")
        else:
            self._count("other_errors")
        name = getattr(decision, "name", "")
        if name in ("RETRY", "RETRY_NEXT_HOST"):
            self._count("retries")
        elif name == "IGNORE":
            self._count("ignores")
