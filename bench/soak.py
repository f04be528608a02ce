"""The long chaos soak (not a test): ``tests/soak/soak_harness.py`` for as long as you like.

    nice -n 19 /work/venv/bin/python bench/soak.py --minutes 30 --hub gevent
                                                   [--greenlets 1000] [--json out.json]

Monkey-patches for ``--hub`` first thing, runs the soak (1,000 greenlets of mixed traffic
against a 3-node simulated cluster in a child process, a node stopped/paused/slowed/cut
every ``--fault-period`` seconds), prints progress on stderr and the report as JSON on
stdout. Exit code 1 when a rule of the soak failed (the report lists which).
"""

from __future__ import annotations

import sys


def _patch(hub: str) -> None:
    if hub == "gevent":
        from gevent import monkey

        monkey.patch_all()
    elif hub == "eventlet":
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import eventlet

        eventlet.monkey_patch()
    else:
        raise SystemExit("--hub is gevent or eventlet")


def main(argv: list[str]) -> int:
    import argparse
    import json
    import os

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--hub", default="gevent")
    p.add_argument("--greenlets", type=int, default=1000)
    p.add_argument("--fault-period", type=float, default=20.0)
    p.add_argument("--request-timeout", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the report here")
    p.add_argument("--sim-log", default=None, help="the simulator's stderr goes here")
    args = p.parse_args(argv)

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:0] = [root, os.path.join(root, "tests", "soak")]  # this checkout first
    from soak_harness import SoakConfig, run_soak

    from greencql.hubs import get_hub

    cfg = SoakConfig(seconds=args.minutes * 60, greenlets=args.greenlets,
                     fault_period=args.fault_period, request_timeout=args.request_timeout,
                     seed=args.seed, sample_every=max(2.0, args.minutes * 60 / 300))
    report = run_soak(get_hub(args.hub), cfg,
                      log=lambda msg: print(f"[soak] {msg}", file=sys.stderr, flush=True),
                      sim_stderr=args.sim_log)
    summary = report.summary()
    summary["untyped_examples"] = report.untyped[:3]
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 1 if report.problems else 0


if __name__ == "__main__":
    hub = "gevent"
    for i, a in enumerate(sys.argv):
        if a == "--hub" and i + 1 < len(sys.argv):
            hub = sys.argv[i + 1]
        elif a.startswith("--hub="):
            hub = a.split("=", 1)[1]
    _patch(hub)
    sys.exit(main(sys.argv[1:]))
