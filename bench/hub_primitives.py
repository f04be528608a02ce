"""Cost of the per-request hub primitives: future create + set + get, and call_later + cancel.

Not a test (no timing assertions live in tests/). Run once per hub, each in its own process:

    GREENCQL_BENCH_HUB=gevent   .venv/bin/python bench/hub_primitives.py
    GREENCQL_BENCH_HUB=eventlet .venv/bin/python bench/hub_primitives.py
    GREENCQL_BENCH_HUB=thread   .venv/bin/python bench/hub_primitives.py

The first numbers are the hot path of one request: the waiter future (created, completed by the
reader, read by the caller) and its timeout timer (scheduled, then cancelled when the answer
comes). The last one includes a real park/wake between two greenlets (or threads).
"""

import os
import sys
import time

HUB = os.environ.get("GREENCQL_BENCH_HUB", "gevent")
if HUB == "gevent":
    from gevent import monkey

    monkey.patch_all()
elif HUB == "eventlet":
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import eventlet
    eventlet.monkey_patch()

from greencql.hubs import get_hub  # noqa: E402

__all__ = ["main"]


def _timeit(label, fn, n):
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - t0)
    print(f"{HUB:9} {label:44} {best / n * 1e9:9.0f} ns/op")


def main() -> None:
    hub = get_hub(HUB)
    future = hub.future

    def future_cycle(n):
        for _ in range(n):
            f = future()
            f.set_result(1)
            f.result(1.0)

    def future_create(n):
        for _ in range(n):
            future()

    call_later = hub.call_later

    def timer_cycle(n):
        for _ in range(n):
            call_later(2.0, print).cancel()

    def request_cycle(n):
        for _ in range(n):
            f = future()
            t = call_later(2.0, f.set_exception, TimeoutError())
            f.set_result(1)
            t.cancel()
            f.result(1.0)

    def ping_pong(n):
        # one waiter parks, another task completes it: a real switch each way
        q = hub.queue()
        done = hub.event()

        def responder():
            for _ in range(n):
                q.get().set_result(1)
            done.set()

        hub.spawn(responder)
        for _ in range(n):
            f = future()
            q.put(f)
            f.result(5.0)
        done.wait(5.0)

    _timeit("future() only", future_create, 200_000)
    _timeit("future() + set_result + result(timeout)", future_cycle, 200_000)
    _timeit("call_later + cancel", timer_cycle, 200_000)
    _timeit("request: future + timer + set + cancel + get", request_cycle, 200_000)
    _timeit("ping-pong through another task", ping_pong, 20_000)


if __name__ == "__main__":
    main()
    sys.exit(0)
