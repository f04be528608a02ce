"""The long protocol fuzz run (not a test): millions of mutated inputs through every decoder.

Runs ``tests/protocol/fuzzing.py``'s Fuzzer (the corpus, mutators and targets the CI test
uses for ~30 s) for a count or a time: frames and v5 segments with and without LZ4 (and
snappy for v4), every response and request message of v3-v5, values of every CQL type, the
simulator's server-side decoding, both handshake state machines. The rule: only ProtocolError
subclasses (handshakes: DriverException), no input using more than ``--slow`` CPU seconds (a
CPU timer signal interrupts one that hangs), and one input in ``--memory-every`` run under
tracemalloc must stay within the allocation bound. Progress every ``--report`` seconds on
stderr, the summary as JSON on stdout; exit code 1 when anything broke the rule (each
failure printed with the hex of its input, to replay).

    nice -n 19 /work/venv/bin/python bench/fuzz.py --inputs 10000000 [--minutes 60]
                                                   [--seed 1] [--memory-every 1000]

Hub-free: no socket, no greenlet; one process (run several with different seeds to use
more cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# this checkout's greencql first (not an installed one), and the fuzzer beside its tests
sys.path[:0] = [_ROOT, os.path.join(_ROOT, "tests", "protocol")]

from fuzzing import Fuzzer, build_corpus  # noqa: E402

__all__ = ["main"]


class _Hang(BaseException):
    """Raised by the interval timer inside an input that runs too long (a BaseException so
    the targets' own except clauses cannot swallow it)."""


def _on_alarm(signum: int, frame: object) -> None:
    raise _Hang()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--inputs", type=int, default=10_000_000)
    p.add_argument("--minutes", type=float, default=0.0, help="stop after this long (0: never)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--memory-every", type=int, default=1000)
    p.add_argument("--slow", type=float, default=1.0,
                   help="CPU seconds: an input slower fails")
    p.add_argument("--report", type=float, default=60.0)
    args = p.parse_args(argv)

    fuzzer = Fuzzer(args.seed, build_corpus(args.seed), memory_every=args.memory_every,
                    slow_after=args.slow)
    signal.signal(signal.SIGPROF, _on_alarm)
    hangs = 0
    start = last = time.monotonic()
    deadline = start + args.minutes * 60 if args.minutes else float("inf")
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        while fuzzer.count < args.inputs:
            # the timer covers a batch; an input that hangs trips it (a batch of 1,000 takes
            # ~0.05 s of CPU, so 5x --slow per batch only fires on a real hang). CPU time
            # (ITIMER_PROF), not wall time: at nice 19 on a busy machine the process can wait
            # seconds for a core without running at all
            signal.setitimer(signal.ITIMER_PROF, max(5.0, args.slow * 5))
            try:
                for _ in range(1000):
                    fuzzer.one()
            except _Hang:
                hangs += 1
                case, data = fuzzer.current or (None, b"")
                print(f"HANG: an input did not finish in {max(5.0, args.slow * 5)} CPU s: "
                      f"{case and case.target} v{case and case.version} {data.hex()}",
                      file=sys.stderr)
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
            now = time.monotonic()
            if now - last >= args.report:
                last = now
                print(f"[fuzz] {fuzzer.count:,} inputs, {fuzzer.count / (now - start):,.0f}/s, "
                      f"failures {len(fuzzer.failures)}, hangs {hangs}, max rss "
                      f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB",
                      file=sys.stderr, flush=True)
            if now >= deadline:
                break
    except KeyboardInterrupt:
        pass
    elapsed = time.monotonic() - start
    summary = {
        "inputs": fuzzer.count,
        "seconds": round(elapsed, 1),
        "per_second": round(fuzzer.count / max(elapsed, 1e-9)),
        "by_target": fuzzer.by_target,
        "rejected_with_protocol_error": fuzzer.rejected,
        "failures": len(fuzzer.failures),
        "hangs": hangs,
        "slowest_input_s": round(fuzzer.slowest, 4),
        "measured_under_tracemalloc": fuzzer.measured,
        "max_alloc_vs_bound": round(fuzzer.max_alloc_ratio, 3),
        "max_rss_mib_start": rss_start // 1024,
        "max_rss_mib_end": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    for f in fuzzer.failures:
        print("FAILURE:", f, file=sys.stderr)
    print(json.dumps(summary, indent=2))
    return 1 if fuzzer.failures or hangs else 0


if __name__ == "__main__":
    sys.exit(main())
