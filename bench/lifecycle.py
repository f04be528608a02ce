"""Lifecycle cycles at scale (not a test): 10,000 connect/shutdown and 10,000 failed logins.

    nice -n 19 /work/venv/bin/python bench/lifecycle.py [--hub gevent] [--cycles 10000]
                                                       [--kinds connect,auth]

Runs ``tests/soak/soak_lifecycle.run_cycles`` against a simulator in a child process and
prints, per kind, sockets and live greenlets (threads on the thread hub) before and after,
traced memory and RSS before/after and per cycle, and a mid-run sample (half the cycles) so
a plateau is told from a leak: growth in the second half close to zero is a plateau.
"""

from __future__ import annotations

import json
import os
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


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--hub", default="gevent")
    p.add_argument("--cycles", type=int, default=10_000)
    p.add_argument("--kinds", default="connect,auth")
    args = p.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:0] = [root, os.path.join(root, "tests", "soak")]
    import tracemalloc

    from soak_harness import SimControl
    from soak_lifecycle import PASSWORD, USER, run_cycles

    from greencql.hubs import get_hub

    hub = get_hub(args.hub)
    tracemalloc.start()
    bad = False
    for kind in args.kinds.split(","):
        sim = SimControl(hub, nodes=1, track=(),
                         auth=(USER, PASSWORD) if kind.startswith("auth") else None)
        try:
            half = run_cycles(hub, sim, kind, args.cycles // 2)
            second = run_cycles(hub, sim, kind, args.cycles - args.cycles // 2, warmup=0)
        finally:
            sim.close()
        out = {"hub": args.hub, "first_half": half.summary(), "second_half": second.summary()}
        print(json.dumps(out), flush=True)
        bad |= second.sockets[1] > half.sockets[0] or second.tasks[1] > half.tasks[0]
    return 1 if bad else 0


if __name__ == "__main__":
    hub = "gevent"
    if "--hub" in sys.argv:
        hub = sys.argv[sys.argv.index("--hub") + 1]
    _patch(hub)
    sys.exit(main(sys.argv[1:]))
