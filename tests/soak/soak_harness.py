"""The chaos soak: many greenlets of mixed traffic against a 3-node cluster while faults run.

Owns the soak's workload, its fault schedule, its measurements and the verdict. The simulated
cluster runs in a child process (``soak_server.py``, driven over a control socket), so the
memory figures here are the client's: the driver's, plus this module's compact bookkeeping
(one bit per acknowledged write).

Workload (``greenlets`` workers, each in a loop until the end, every request with its
timeout): idempotent INSERTs of unique keys (recorded when acknowledged), reads of the
worker's own acknowledged keys (the value must be the one written), LWT INSERT ... IF NOT
EXISTS and counter increments of unique keys (both non-idempotent: never retried once they
may have reached a server).

Fault schedule, every ``fault_period`` seconds (the node rotates each period): a node stopped
then restarted (it forgets its prepared statements), the recovery time measured by a request
pinned to it; another node paused (half-open) for ``pause`` seconds; a latency spike; responses
cut mid-frame, corrupted v5 checksums and connections closed by the server.

Verdict (:attr:`SoakReport.problems`, empty when everything holds): no acknowledged write lost
(a full scan after the run), no acknowledged counter other than 1 and none above 1, no tracked
non-idempotent statement sent twice to a node that may have applied it (the simulator's
record), no request longer than its timeout plus ``hang_margin``, no worker still running at
the end, every error a DriverException, every restarted node serving again within
``max_recovery`` seconds, RSS and traced memory growing less than ``max_growth`` over the last
half, greenlets and sockets back to their baseline after shutdown.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import random
import sys
import traceback
import tracemalloc
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from greencql import Cluster, ConsistencyLevel, ExecutionProfile
from greencql.cluster.profiles import EXEC_PROFILE_DEFAULT
from greencql.errors import DriverException, NoHostAvailable
from greencql.testing.cluster import SimProcess

__all__ = ["SoakConfig", "SoakReport", "SimControl", "run_soak", "count_greenlets",
           "count_sockets", "rss_bytes"]

HERE = os.path.dirname(os.path.abspath(__file__))
KS = "soak"
_MAX_MS = 30_000
TRACKED = ("soak_ctr", "soak_lwt")


@dataclass
class SoakConfig:
    seconds: float = 60.0
    greenlets: int = 1000
    request_timeout: float = 2.0
    #: a request over timeout + this is hung (result() itself adds a 2 s margin)
    hang_margin: float = 3.0
    fault_period: float = 20.0
    down_for: float = 2.0
    pause: float = 5.0
    max_recovery: float = 2.0
    max_growth: float = 0.05
    sample_every: float = 2.0
    protocol_version: int | None = None
    seed: int = 0
    #: the first part of the run is warm-up: memory growth is measured over the last half
    verbose: bool = False
    #: after the run, how long the cluster may take to serve again once every fault is healed
    heal_timeout: float = 180.0
    #: the bound of the read-back of every acknowledged write and counter after the run
    check_timeout: float = 900.0


@dataclass
class SoakReport:
    config: dict[str, Any]
    hub: str = ""
    seconds: float = 0.0
    ops: Counter = field(default_factory=Counter)
    ok: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    untyped: list[str] = field(default_factory=list)
    #: latency histogram, one bucket per millisecond (fixed size: the run's memory is flat)
    latency_ms: list[int] = field(default_factory=lambda: [0] * (_MAX_MS + 1))
    hung: int = 0
    workers_left: int = 0
    #: harness tasks (fault schedule, sampler, lag monitor) still busy at the end: killed
    helpers_killed: int = 0
    acked_writes: int = 0
    lost_writes: int = 0
    wrong_reads: int = 0
    acked_counters: int = 0
    bad_counters: int = 0
    counters_above_one: int = 0
    sim: dict[str, Any] = field(default_factory=dict)
    #: seconds until a restarted node served again, less the loop's lag meanwhile
    recoveries: list[float] = field(default_factory=list)
    recoveries_raw: list[float] = field(default_factory=list)
    max_lag: float = 0.0
    faults: Counter = field(default_factory=Counter)
    fault_errors: list[str] = field(default_factory=list)
    memory: list[tuple[float, int, int]] = field(default_factory=list)
    rss_growth: float = 0.0
    traced_growth: float = 0.0
    greenlets: tuple[int, int, int] = (0, 0, 0)
    sockets: tuple[int, int, int] = (0, 0, 0)
    shutdown_seconds: float = 0.0
    heal_seconds: float = 0.0
    #: how long reading every acknowledged write and counter back took
    check_seconds: float = 0.0
    #: the allocation sites that grew most between the middle and the end (tracemalloc)
    top_growth: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def percentile(self, p: float) -> float:
        """Seconds (millisecond resolution)."""
        total = sum(self.latency_ms)
        if not total:
            return 0.0
        rank = p * total
        seen = 0
        for ms, n in enumerate(self.latency_ms):
            seen += n
            if seen >= rank:
                return ms / 1e3
        return _MAX_MS / 1e3

    def record(self, seconds: float) -> None:
        self.latency_ms[min(_MAX_MS, int(seconds * 1e3))] += 1

    def summary(self) -> dict[str, Any]:
        total = sum(self.ops.values())
        return {
            "hub": self.hub, "seconds": round(self.seconds, 1), "requests": total,
            "requests_per_s": round(total / max(self.seconds, 1e-9)),
            "ops": dict(self.ops), "ok": dict(self.ok), "errors": dict(self.errors),
            "untyped_errors": len(self.untyped), "p50_ms": round(self.percentile(0.5) * 1e3, 1),
            "p99_ms": round(self.percentile(0.99) * 1e3, 1),
            "max_ms": max((ms for ms, n in enumerate(self.latency_ms) if n), default=0),
            "hung": self.hung, "workers_left": self.workers_left,
            "helpers_killed": self.helpers_killed,
            "acked_writes": self.acked_writes, "lost_writes": self.lost_writes,
            "wrong_reads": self.wrong_reads, "acked_counters": self.acked_counters,
            "bad_counters": self.bad_counters, "counters_above_one": self.counters_above_one,
            "non_idempotent_tracked": self.sim.get("tracked_statements"),
            "non_idempotent_sent_twice": self.sim.get("sent_twice"),
            "restarts": len(self.recoveries),
            "recovery_max_s": round(max(self.recoveries, default=0.0), 3),
            "recovery_max_wall_s": round(max(self.recoveries_raw, default=0.0), 3),
            "hub_max_lag_s": round(self.max_lag, 3),
            "faults": dict(self.faults),
            "rss_mib": [round(m[1] / 2**20, 1) for m in self.memory[:: max(1, len(self.memory)
                                                                             // 10)]],
            "rss_growth_last_half": round(self.rss_growth, 4),
            "traced_growth_last_half": round(self.traced_growth, 4),
            "greenlets_baseline_peak_after": self.greenlets,
            "sockets_baseline_peak_after": self.sockets,
            "shutdown_s": round(self.shutdown_seconds, 3),
            "serving_again_after_heal_s": round(self.heal_seconds, 1),
            "read_back_s": round(self.check_seconds, 1),
            "top_growth": self.top_growth,
            "problems": self.problems,
        }


# -- process-level counts --------------------------------------------------------------------


def count_greenlets() -> int:
    """Live greenlets of this process (0 where greenlet is not loaded)."""
    greenlet = sys.modules.get("greenlet")
    if greenlet is None:
        return 0
    gc.collect()
    cls = greenlet.greenlet
    return sum(1 for o in gc.get_objects() if isinstance(o, cls) and not o.dead)


def count_sockets() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# -- the simulator child ---------------------------------------------------------------------


class SimControl:
    """The soak simulator (``soak_server.py``) in a child process and its control socket."""

    def __init__(self, hub: Any, nodes: int = 3, track: tuple[str, ...] = TRACKED,
                 timeout: float = 30.0, stderr: str | None = None,
                 auth: tuple[str, str] | None = None) -> None:
        self.hub = hub
        env = dict(os.environ)
        env.pop("GREENCQL_TEST_HUB", None)
        env["PYTHONUNBUFFERED"] = "1"
        root = os.path.dirname(os.path.dirname(HERE))
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self.process = SimProcess(
            [sys.executable, os.path.join(HERE, "soak_server.py"), "--nodes", str(nodes),
             "--track", ",".join(track), "--stderr", stderr or os.devnull,
             *(["--auth", f"{auth[0]}:{auth[1]}"] if auth else [])], env, timeout)
        port = next(int(line.split()[-1]) for line in self.process.output
                    if line.startswith("soak control "))
        self.sock = hub.connect_tcp("127.0.0.1", port, timeout=timeout)
        self.sock.settimeout(60.0)
        self._buf = b""
        self._lock = hub.lock()

    @property
    def contact_points(self) -> list[str]:
        return self.process.contact_points

    @property
    def port(self) -> int:
        return self.process.port

    def __call__(self, op: str, **kwargs: Any) -> dict[str, Any]:
        import json

        with self._lock:
            self.sock.sendall(json.dumps({"op": op, **kwargs}).encode() + b"\n")
            while b"\n" not in self._buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise OSError("the soak simulator closed its control connection")
                self._buf += chunk
            line, self._buf = self._buf.split(b"\n", 1)
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise RuntimeError(f"soak simulator: {op}: {reply.get('error')}")
        return reply

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            self.process.stop()


# -- the run ---------------------------------------------------------------------------------


class _Bits:
    """One bit per sequence number: which of a worker's keys were acknowledged."""

    __slots__ = ("data",)

    def __init__(self) -> None:
        self.data = bytearray()

    def set(self, i: int) -> None:
        byte = i >> 3
        if byte >= len(self.data):
            self.data.extend(b"\x00" * (byte + 64 - len(self.data)))
        self.data[byte] |= 1 << (i & 7)

    def __iter__(self):
        for byte_index, b in enumerate(self.data):
            if b:
                for bit in range(8):
                    if b & (1 << bit):
                        yield byte_index * 8 + bit

    def __len__(self) -> int:
        return sum(bin(b).count("1") for b in self.data)


def _key(worker: int, seq: int) -> int:
    return (worker << 32) | seq


class _Run:
    def __init__(self, hub: Any, sim: SimControl, cfg: SoakConfig, report: SoakReport) -> None:
        self.hub = hub
        self.sim = sim
        self.cfg = cfg
        self.r = report
        self.stopping = hub.event()
        self.acked = [_Bits() for _ in range(cfg.greenlets)]
        self.acked_ctr = [_Bits() for _ in range(cfg.greenlets)]
        self.cluster: Any = None
        self.session: Any = None
        self.mid_snapshot: Any = None
        #: seconds the hub ran late, summed (see lag_monitor)
        self.lag = 0.0

    # -- setup -------------------------------------------------------------------------------

    def connect(self) -> None:
        cfg = self.cfg
        profile = ExecutionProfile(request_timeout=cfg.request_timeout,
                                   consistency_level=ConsistencyLevel.QUORUM)
        self.cluster = Cluster(self.sim.contact_points, port=self.sim.port, hub=self.hub,
                               protocol_version=cfg.protocol_version,
                               execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        s = self.session = self.cluster.connect()
        s.execute(f"CREATE KEYSPACE IF NOT EXISTS {KS} WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute(f"CREATE TABLE IF NOT EXISTS {KS}.soak_kv (k bigint PRIMARY KEY, v text)")
        s.execute(f"CREATE TABLE IF NOT EXISTS {KS}.soak_lwt (k bigint PRIMARY KEY, v text)")
        s.execute(f"CREATE TABLE IF NOT EXISTS {KS}.soak_ctr (k bigint PRIMARY KEY, "
                  "n counter)")
        s.set_keyspace(KS)
        self.ins = s.prepare("INSERT INTO soak_kv (k, v) VALUES (?, ?)")
        self.ins.is_idempotent = True
        self.sel = s.prepare("SELECT v FROM soak_kv WHERE k = ?")
        self.sel.is_idempotent = True
        self.lwt = s.prepare("INSERT INTO soak_lwt (k, v) VALUES (?, ?) IF NOT EXISTS")
        self.ctr = s.prepare("UPDATE soak_ctr SET n = n + 1 WHERE k = ?")

    # -- workers -----------------------------------------------------------------------------

    def worker(self, w: int) -> None:
        rng = random.Random(self.cfg.seed * 100_003 + w)
        hub = self.hub
        s = self.session
        r = self.r
        acked = self.acked[w]
        acked_ctr = self.acked_ctr[w]
        recent: list[int] = []
        seq = 0
        limit = self.cfg.request_timeout + self.cfg.hang_margin
        stopping = self.stopping
        while not stopping.is_set():
            x = rng.random()
            if x < 0.5:
                op, seq = "write", seq + 1
                k = _key(w, seq)
                args: Any = (self.ins, (k, str(k)))
            elif x < 0.75 and recent:
                op = "read"
                k = rng.choice(recent)
                args = (self.sel, (k,))
            elif x < 0.87:
                op, seq = "lwt", seq + 1
                k = _key(w, seq)
                args = (self.lwt, (k, "x"))
            else:
                op, seq = "counter", seq + 1
                k = _key(w, seq)
                args = (self.ctr, (k,))
            r.ops[op] += 1
            t0 = hub.monotonic()
            lag0 = self.lag
            try:
                rows = s.execute(*args)
            except DriverException as exc:
                r.errors[f"{op}:{type(exc).__name__}"] += 1
                if isinstance(exc, NoHostAvailable):
                    # raised without waiting on anything: back off as an application would
                    # (a loop of immediate failures would starve the hub, timers included)
                    hub.sleep(0.01)
            except Exception as exc:  # the rule: nothing untyped comes out of the driver
                r.errors[f"{op}:UNTYPED:{type(exc).__name__}"] += 1
                if len(r.untyped) < 20:
                    r.untyped.append("".join(traceback.format_exception(exc))[-3000:])
            else:
                r.ok[op] += 1
                if op == "write":
                    acked.set(seq)
                    recent.append(k)
                    if len(recent) > 32:
                        del recent[0]
                elif op == "read":
                    row = rows.one()
                    if row is None or row[0] != str(k):
                        r.wrong_reads += 1
                elif op == "counter":
                    acked_ctr.set(seq)
            elapsed = hub.monotonic() - t0
            r.record(elapsed)
            # a starved loop (a busy machine) fires timers late: its lateness is not the
            # driver's, so the limit grows by the lag the loop had meanwhile
            if elapsed > limit + (self.lag - lag0):
                r.hung += 1
            hub.sleep(0)  # a request handler does other IO between queries

    # -- faults ------------------------------------------------------------------------------

    def _fault(self, op: str, **kw: Any) -> None:
        try:
            self.sim(op, **kw)
            self.r.faults[op] += 1
        except Exception as exc:
            self.r.fault_errors.append(f"{op} {kw}: {exc}")

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the run ends first (True: it ended)."""
        return self.stopping.wait(seconds)

    def faults(self) -> None:
        cfg = self.cfg
        period = cfg.fault_period
        cycle = 0
        rng = random.Random(cfg.seed)
        while not self.stopping.is_set():
            t0 = self.hub.monotonic()
            a, b, c = (cycle % 3) + 1, ((cycle + 1) % 3) + 1, ((cycle + 2) % 3) + 1
            # a node stopped and restarted (forgets its prepared statements)
            self._fault("stop", node=a)
            if self._wait(cfg.down_for):
                self._fault("start", node=a)
                return
            self._fault("start", node=a)
            self.r.recoveries.append(self._recovery(a))
            # another node half-open
            if self._at(t0, period * 0.25):
                return
            self._fault("pause", node=b)
            ended = self._wait(cfg.pause)
            self._fault("resume", node=b)
            if ended or self._at(t0, period * 0.55):
                return
            # a latency spike
            self._fault("latency", node=c, seconds=rng.choice((0.2, 0.5, 1.0, 2.5)))
            ended = self._wait(period * 0.15)
            self._fault("latency", node=c, seconds=0.0)
            if ended or self._at(t0, period * 0.75):
                return
            # cut responses, bad checksums, server-closed connections
            self._fault("drop", node=b, n=3)
            self._fault("corrupt", node=c, n=2, kind=rng.choice(("crc32", "crc24")))
            self._fault("close", node=a)
            if self._at(t0, period):
                return
            cycle += 1

    def _at(self, t0: float, offset: float) -> bool:
        return self._wait(max(0.0, t0 + offset - self.hub.monotonic()))

    def _recovery(self, node: int) -> float:
        """Seconds until a request pinned to the restarted node succeeds (bounded). Each
        probe has the run's request timeout: under a saturated hub a probe with a shorter one
        could fail on a node that serves, and the measure would count the probe's own limit."""
        address = self.sim.contact_points[node - 1]
        t0 = self.hub.monotonic()
        lag0 = self.lag
        deadline = t0 + 10.0
        while self.hub.monotonic() < deadline:
            host = self.cluster.metadata.get_host(address)
            if host is not None:
                try:
                    self.session.execute(self.sel, (0,), host=host,
                                         timeout=self.cfg.request_timeout)
                    break
                except DriverException:
                    pass
            self.hub.sleep(0.05)
        took = self.hub.monotonic() - t0
        # the loop's own lateness meanwhile is not the driver's (see lag_monitor)
        self.r.recoveries_raw.append(took)
        return max(0.0, took - (self.lag - lag0))

    def lag_monitor(self) -> None:
        """Sum how late the hub wakes a 50 ms sleeper: the loop's own lateness (CPU
        starvation, a long synchronous stretch), which delays every timer as much."""
        hub = self.hub
        r = self.r
        while not self.stopping.is_set():
            t = hub.monotonic()
            hub.sleep(0.05)
            late = max(0.0, hub.monotonic() - t - 0.05)
            self.lag += late
            r.max_lag = max(r.max_lag, late)

    # -- memory ------------------------------------------------------------------------------

    def sampler(self) -> None:
        t0 = self.hub.monotonic()
        while not self.stopping.wait(self.cfg.sample_every):
            now = self.hub.monotonic() - t0
            self.r.memory.append((now, rss_bytes(), tracemalloc.get_traced_memory()[0]))
            if self.mid_snapshot is None and now >= self.cfg.seconds * _SNAPSHOT_AT:
                # before the window the growth is measured from (see _growth): the
                # snapshot itself is tens of MiB, held to the end for the comparison; taken
                # inside the window, it counted as growth of the client
                self.mid_snapshot = _snapshot()

    # -- checks after the run ----------------------------------------------------------------

    def wait_serving(self, timeout: float) -> float:
        """Seconds until a read succeeds after the faults are healed (bounded by
        ``timeout``): the pools and the control connection may be in a long reconnection
        backoff by then."""
        t0 = self.hub.monotonic()
        while self.hub.monotonic() - t0 < timeout:
            try:
                self.session.execute(self.sel, (0,), timeout=2.0)
                break
            except DriverException:
                self.hub.sleep(0.5)
        return self.hub.monotonic() - t0

    def scan(self, table: str, column: str, deadline: float,
             on_row: Any) -> None:
        """Read ``table`` back: ``on_row(k, value)`` for every row. The token ring is cut into
        ``_SCAN_RANGES`` ranges read by ``_SCAN_CONCURRENCY`` greenlets (one paged SELECT per
        range, retried; the simulator finds a range's start by bisection, while resuming one
        full-table paged scan walks the table from its start on every page). Raises
        DriverException when a range could not be read by ``deadline``."""
        from greencql import SimpleStatement

        step = (_TOKEN_MAX - _TOKEN_MIN) // _SCAN_RANGES
        bounds = [_TOKEN_MIN + i * step for i in range(_SCAN_RANGES)] + [_TOKEN_MAX]
        first = SimpleStatement(
            f"SELECT k, {column} FROM {table} WHERE token(k) >= %s AND token(k) <= %s",
            fetch_size=5000, is_idempotent=True)
        rest = SimpleStatement(
            f"SELECT k, {column} FROM {table} WHERE token(k) > %s AND token(k) <= %s",
            fetch_size=5000, is_idempotent=True)
        todo = list(range(_SCAN_RANGES))
        todo.reverse()
        failures: list[BaseException] = []
        hub = self.hub

        def reader() -> None:
            while todo and not failures:
                i = todo.pop()
                stmt = first if i == 0 else rest
                for attempt in range(5):
                    rows: list[tuple[Any, Any]] = []
                    try:
                        timeout = max(0.1, min(30.0, deadline - hub.monotonic()))
                        for row in self.session.execute(stmt, (bounds[i], bounds[i + 1]),
                                                        timeout=timeout):
                            rows.append((row[0], row[1]))
                        break
                    except DriverException as exc:
                        if attempt == 4 or hub.monotonic() >= deadline:
                            failures.append(exc)
                            return
                        hub.sleep(1.0)
                for k, v in rows:
                    on_row(k, v)

        tasks = [hub.spawn(reader) for _ in range(_SCAN_CONCURRENCY)]
        for task in tasks:
            if not task.join(max(0.0, deadline - hub.monotonic()) + 35.0):
                task.kill()
                failures.append(DriverException(f"reading {table} back did not finish"))
        if failures:
            raise failures[0]


#: the read-back after the run: token ranges, and how many are read at once
_SCAN_RANGES = 512
_SCAN_CONCURRENCY = 16
_TOKEN_MIN = -(2**63)
_TOKEN_MAX = 2**63 - 1


def _check(run: _Run, report: SoakReport, cfg: SoakConfig, say: Any) -> None:
    """Every acknowledged write reads back with its value; every acknowledged counter is 1 and
    none is above 1 (bounded by ``cfg.check_timeout``)."""
    hub = run.hub
    t0 = hub.monotonic()
    deadline = t0 + cfg.check_timeout
    # keys found with the value written (one set of ints; the values are checked here)
    good: set[int] = set()

    def kv_row(k: int, v: Any) -> None:
        if v == str(k):
            good.add(k)

    counters: dict[int, int] = {}

    def ctr_row(k: int, n: Any) -> None:
        counters[k] = n

    try:
        run.scan("soak_kv", "v", deadline, kv_row)
        run.scan("soak_ctr", "n", deadline, ctr_row)
    except DriverException as exc:
        report.problems.append(f"the checks could not read the tables back: {exc!r}")
        return
    report.check_seconds = hub.monotonic() - t0
    say(f"read back {len(good)} rows and {len(counters)} counters in "
        f"{report.check_seconds:.1f} s")
    for w, bits in enumerate(run.acked):
        for seq in bits:
            report.acked_writes += 1
            if _key(w, seq) not in good:
                report.lost_writes += 1
    good.clear()
    report.counters_above_one = sum(1 for n in counters.values() if n > 1)
    for w, bits in enumerate(run.acked_ctr):
        for seq in bits:
            report.acked_counters += 1
            if counters.get(_key(w, seq)) != 1:
                report.bad_counters += 1


#: when the tracemalloc snapshot for the top-growth diff is taken (fraction of the run):
#: before the middle fifth, which _growth compares the end with
_SNAPSHOT_AT = 0.35


def _snapshot() -> Any:
    snap = tracemalloc.take_snapshot()
    return snap.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])


def _growth(samples: list[tuple[float, int, int]], index: int) -> float:
    """Relative growth over the last half: the mean of the last fifth against the mean of
    the fifth around the middle (single samples are noisy)."""
    if len(samples) < 10:
        return 0.0
    n = len(samples)
    fifth = max(1, n // 5)
    mid = samples[n // 2 - fifth // 2: n // 2 - fifth // 2 + fifth]
    end = samples[-fifth:]
    a = sum(s[index] for s in mid) / len(mid)
    b = sum(s[index] for s in end) / len(end)
    return (b - a) / a if a else 0.0


def run_soak(hub: Any, cfg: SoakConfig, log: Any = None,
             sim_stderr: str | None = None) -> SoakReport:
    """Run one soak on ``hub`` (gevent or eventlet); the report says what held.
    ``sim_stderr``: a file for the simulator's own logs (default: discarded)."""
    report = SoakReport(config=dataclasses.asdict(cfg), hub=hub.name)
    say = log or (lambda msg: None)
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    sim = SimControl(hub, stderr=sim_stderr)
    try:
        # the hub's timer wheel is one greenlet per loop, shared by everything and never
        # stopped: started before the baseline, so only what the Cluster leaves is counted
        hub.call_later(0.0, lambda: None)
        hub.sleep(0)
        base_greenlets, base_sockets = count_greenlets(), count_sockets()
        run = _Run(hub, sim, cfg, report)
        run.connect()
        say(f"connected (protocol v{run.cluster.protocol_version}); {cfg.greenlets} workers "
            f"for {cfg.seconds:.0f} s")
        t0 = hub.monotonic()
        workers = [hub.spawn(run.worker, w) for w in range(cfg.greenlets)]
        helpers = [hub.spawn(run.faults), hub.spawn(run.sampler), hub.spawn(run.lag_monitor)]
        peak_greenlets = count_greenlets()
        progress = max(10.0, cfg.seconds / 20)
        while not run.stopping.wait(min(progress, max(0.0, t0 + cfg.seconds
                                                      - hub.monotonic()))):
            if hub.monotonic() - t0 >= cfg.seconds:
                break
            say(f"{hub.monotonic() - t0:6.0f} s: {sum(report.ops.values())} requests, "
                f"errors {sum(report.errors.values())}, rss {rss_bytes() / 2**20:.0f} MiB")
        if run.mid_snapshot is not None:
            diff = _snapshot().compare_to(run.mid_snapshot, "lineno")
            report.top_growth = [str(d) for d in diff[:8]]
            run.mid_snapshot = None
        run.stopping.set()
        report.seconds = hub.monotonic() - t0
        limit = cfg.request_timeout + cfg.hang_margin + 5.0
        end = hub.monotonic() + limit
        for task in workers:  # request greenlets: one still running is a hung request
            if not task.join(max(0.0, end - hub.monotonic())):
                report.workers_left += 1
        for task in helpers:  # the harness's own (faults, sampler): stopped, not judged
            if not task.join(max(0.0, end - hub.monotonic())):
                report.helpers_killed += 1
                task.kill()
        if not tracing:
            # the memory figures are taken; the checks below need no tracing (and run
            # several times faster without it)
            tracemalloc.stop()
        sim("heal")
        say("run over; waiting for the cluster to serve again")
        report.heal_seconds = run.wait_serving(cfg.heal_timeout)
        say(f"serving again after {report.heal_seconds:.1f} s; checking")
        _check(run, report, cfg, say)
        report.sim = sim("report")
        say(f"recoveries {[round(x, 3) for x in report.recoveries]}")
        report.rss_growth = _growth(report.memory, 1)
        report.traced_growth = _growth(report.memory, 2)
        t1 = hub.monotonic()
        run.cluster.shutdown()
        report.shutdown_seconds = hub.monotonic() - t1
        del run, workers, helpers
        after_greenlets, after_sockets = count_greenlets(), count_sockets()
        report.greenlets = (base_greenlets, peak_greenlets, after_greenlets)
        report.sockets = (base_sockets, 0, after_sockets)
    finally:
        sim.close()
        if not tracing:
            tracemalloc.stop()
    _verdict(report, cfg)
    return report


def _verdict(r: SoakReport, cfg: SoakConfig) -> None:
    p = r.problems
    if r.lost_writes:
        p.append(f"{r.lost_writes} of {r.acked_writes} acknowledged writes lost")
    if r.wrong_reads:
        p.append(f"{r.wrong_reads} reads returned another value than the one written")
    if r.bad_counters or r.counters_above_one:
        p.append(f"counters: {r.bad_counters} acknowledged ones not at 1, "
                 f"{r.counters_above_one} above 1 (applied twice)")
    if r.sim.get("sent_twice"):
        p.append(f"{r.sim['sent_twice']} non-idempotent statements sent twice: "
                 f"{r.sim['examples'][:3]}")
    if r.hung:
        p.append(f"{r.hung} requests took longer than timeout + {cfg.hang_margin} s")
    if r.workers_left:
        p.append(f"{r.workers_left} workers still running after the end")
    if r.untyped:
        p.append(f"{len(r.untyped)} untyped errors, first: {r.untyped[0]}")
    slow = [round(x, 2) for x in r.recoveries if x > cfg.max_recovery]
    if slow:
        p.append(f"restarted nodes served again only after {slow} s (max {cfg.max_recovery})")
    if r.fault_errors:
        p.append(f"fault commands failed: {r.fault_errors[:3]}")
    if r.rss_growth > cfg.max_growth:
        p.append(f"RSS grew {r.rss_growth:.1%} over the last half")
    if r.traced_growth > cfg.max_growth:
        p.append(f"traced memory grew {r.traced_growth:.1%} over the last half")
    if r.greenlets[2] > r.greenlets[0]:
        p.append(f"greenlets after shutdown {r.greenlets[2]} > baseline {r.greenlets[0]}")
    if r.sockets[2] > r.sockets[0]:
        p.append(f"sockets after shutdown {r.sockets[2]} > baseline {r.sockets[0]}")
    if r.heal_seconds >= cfg.heal_timeout:
        p.append(f"the cluster did not serve again within {cfg.heal_timeout} s of the faults "
                 "ending")
    if not r.ok.get("write"):
        p.append("no write succeeded at all")
