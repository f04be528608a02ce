"""Overload (not a test): 5,000 greenlets against a cluster with one slow, OVERLOADED node.

The simulated 3-node cluster runs in a child process (``tests/soak/soak_server.py``): every
node answers after ``--latency`` seconds, node 1 after ten times that, and node 1 refuses one
of the two tables with OVERLOADED. ``--greenlets`` callers loop on prepared single-row
SELECTs of both tables (idempotent) for ``--seconds``. Each configuration runs in its own
process (monkey-patched first), so memory figures do not mix:

- ``none``: no throttler. Reports the peak number of requests pending in the driver, the
  traced memory and RSS above the idle baseline at that peak, and so the memory per pending
  request;
- ``throttled``: ``RequestThrottler(--max-concurrent, max_queue_size=--max-queue,
  max_wait=--max-wait)``. Reports the peak in flight and queued (never above the limits),
  p50/p99 of admitted requests, how many callers were refused with RequestThrottled and how
  fast (p99 of the time to the refusal), and the same memory figures.

    nice -n 19 /work/venv/bin/python bench/overload.py [--hub gevent] [--greenlets 5000]
        [--seconds 30] [--latency 0.01] [--max-concurrent 256] [--max-queue 1024]

Prints one JSON object per configuration and a summary table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _patch(hub: str) -> None:
    if hub == "gevent":
        from gevent import monkey

        monkey.patch_all()
    else:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import eventlet

        eventlet.monkey_patch()


def _cell(args: dict) -> dict:
    """One configuration, in this (patched) process."""
    sys.path[:0] = [ROOT, os.path.join(ROOT, "tests", "soak")]
    import tracemalloc

    from soak_harness import SimControl, count_greenlets, rss_bytes

    from greencql import Cluster, RequestThrottled, RequestThrottler
    from greencql.errors import DriverException
    from greencql.hubs import get_hub

    hub = get_hub(args["hub"])
    tracemalloc.start()
    sim = SimControl(hub, track=())
    throttler = None
    if args["mode"] == "throttled":
        throttler = RequestThrottler(args["max_concurrent"], max_queue_size=args["max_queue"],
                                     max_wait=args["max_wait"])
    cluster = Cluster(sim.contact_points, port=sim.port, hub=hub, request_throttler=throttler)
    out: dict = {"mode": args["mode"], "hub": args["hub"], "greenlets": args["greenlets"]}
    try:
        s = cluster.connect()
        if throttler is not None:
            throttler = s._throttle._throttler  # the session's own (built from the template)
        s.execute("CREATE KEYSPACE ovl WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE ovl.a (k int PRIMARY KEY, v int)")
        s.execute("CREATE TABLE ovl.b (k int PRIMARY KEY, v int)")
        s.execute("INSERT INTO ovl.a (k, v) VALUES (1, 1)")
        sel = [s.prepare("SELECT v FROM ovl.a WHERE k = ?"),
               s.prepare("SELECT v FROM ovl.b WHERE k = ?")]
        for st in sel:
            st.is_idempotent = True
        for n in (1, 2, 3):
            sim("latency", node=n, seconds=args["latency"])
        sim("latency", node=1, seconds=args["latency"] * 10)
        sim("prime_error", node=1, pattern="ovl.b", code=0x1001)
        hub.sleep(0.5)
        base_traced = tracemalloc.get_traced_memory()[0]
        base_rss = rss_bytes()
        stopping = hub.event()
        pending = [0]
        peak = {"pending": 0, "in_flight": 0, "queued": 0, "traced": 0, "rss": 0,
                "greenlets": 0}
        lat_ok: list[float] = []
        lat_throttled: list[float] = []
        lat_full: list[float] = []  # refused at once: the queue was full
        lag = [0.0]
        errors: dict[str, int] = {}

        def worker(i: int) -> None:
            st = sel[i % 2]
            while not stopping.is_set():
                t0 = hub.monotonic()
                pending[0] += 1
                try:
                    s.execute(st, (i,), timeout=args["timeout"])
                    lat_ok.append(hub.monotonic() - t0)
                except RequestThrottled as exc:
                    lat_throttled.append(hub.monotonic() - t0)
                    if exc.reason == "queue full":
                        lat_full.append(hub.monotonic() - t0)
                    hub.sleep(0.01)  # a refused caller answers its client, then comes back
                except DriverException as exc:
                    name = type(exc).__name__
                    errors[name] = errors.get(name, 0) + 1
                finally:
                    pending[0] -= 1
                hub.sleep(0)

        def sampler() -> None:
            while not stopping.wait(0.25):
                if pending[0] > peak["pending"]:
                    peak["pending"] = pending[0]
                traced = tracemalloc.get_traced_memory()[0]
                if traced - base_traced > peak["traced"]:
                    peak["traced"] = traced - base_traced
                    peak["pending_at_traced_peak"] = pending[0]
                    peak["rss"] = rss_bytes() - base_rss
                if throttler is not None:
                    peak["in_flight"] = max(peak["in_flight"], throttler.in_flight)
                    peak["queued"] = max(peak["queued"], throttler.queued)

        def lag_monitor() -> None:  # how late the loop wakes a sleeper (CPU saturation)
            while not stopping.is_set():
                t = hub.monotonic()
                hub.sleep(0.05)
                lag[0] = max(lag[0], hub.monotonic() - t - 0.05)

        tasks = [hub.spawn(worker, i) for i in range(args["greenlets"])]
        tasks.append(hub.spawn(lag_monitor))
        samp = hub.spawn(sampler)
        hub.sleep(args["seconds"] / 2)
        peak["greenlets"] = count_greenlets()
        hub.sleep(args["seconds"] / 2)
        stopping.set()
        for t in [*tasks, samp]:
            t.join(args["timeout"] + 5)

        def pct(xs: list[float], p: float) -> float:
            xs = sorted(xs)
            return round(xs[min(len(xs) - 1, int(len(xs) * p))] * 1e3, 1) if xs else 0.0

        out.update({
            "ok": len(lat_ok), "ok_per_s": round(len(lat_ok) / args["seconds"]),
            "ok_p50_ms": pct(lat_ok, 0.5), "ok_p99_ms": pct(lat_ok, 0.99),
            "throttled": len(lat_throttled), "throttled_p99_ms": pct(lat_throttled, 0.99),
            "queue_full": len(lat_full), "queue_full_p99_ms": pct(lat_full, 0.99),
            "hub_max_lag_ms": round(lag[0] * 1e3, 1),
            "errors": errors, "peak_pending": peak["pending"],
            "peak_in_flight": peak["in_flight"], "peak_queued": peak["queued"],
            "peak_traced_mib": round(peak["traced"] / 2**20, 1),
            "peak_rss_growth_mib": round(peak["rss"] / 2**20, 1),
            "pending_at_traced_peak": peak.get("pending_at_traced_peak", 0),
            "traced_kib_per_pending": round(peak["traced"] / 1024
                                            / max(1, peak.get("pending_at_traced_peak", 1)),
                                            2),
            "greenlets_midway": peak["greenlets"],
        })
    finally:
        cluster.shutdown()
        sim.close()
    return out


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hub", default="gevent")
    p.add_argument("--greenlets", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--latency", type=float, default=0.01)
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--max-concurrent", type=int, default=256)
    p.add_argument("--max-queue", type=int, default=1024)
    p.add_argument("--max-wait", type=float, default=1.0)
    p.add_argument("--modes", default="none,throttled")
    p.add_argument("--cell", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.cell:
        print(json.dumps(_cell(json.loads(args.cell))), flush=True)
        return 0
    results = []
    for mode in args.modes.split(","):
        cell = {"mode": mode, **{k: v for k, v in vars(args).items() if k not in ("cell",
                                                                                   "modes")}}
        proc = subprocess.run([sys.executable, __file__, "--hub", args.hub, "--cell",
                               json.dumps(cell)], capture_output=True, text=True,
                              timeout=args.seconds * 4 + 120)
        if proc.returncode:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    keys = ["mode", "ok_per_s", "ok_p50_ms", "ok_p99_ms", "throttled", "throttled_p99_ms",
            "queue_full", "queue_full_p99_ms", "hub_max_lag_ms",
            "peak_pending", "peak_in_flight", "peak_queued", "peak_traced_mib",
            "peak_rss_growth_mib", "traced_kib_per_pending", "greenlets_midway"]
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in results:
        print("| " + " | ".join(str(r.get(k, "")) for k in keys) + " |")
    return 0


if __name__ == "__main__":
    hub = "gevent"
    if "--hub" in sys.argv:
        hub = sys.argv[sys.argv.index("--hub") + 1]
    _patch(hub)
    sys.exit(main(sys.argv[1:]))
