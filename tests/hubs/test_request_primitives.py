"""The hub primitives the request path leans on (issue 12), on every hub.

- the timer wheel forgets what it fired or cancelled: a sleeping driver does not keep the
  last callbacks' objects (a timed-out request) alive until its next wake-up;
- the inlined scheduling and cancelling keep the wheel's bookkeeping exact;
- ``future.result()`` without a timeout is a plain park-and-switch that still ends when the
  future is completed, and a waiter killed while parked leaves the future usable;
- ``raw_lock()`` / ``owner_now()`` / ``os_lock()`` exist and behave as documented.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from greencql.hubs import os_lock
from greencql.hubs.timerwheel import TimerWheel

WAIT = 5.0


class _Target:
    def __init__(self, done):
        self.done = done

    def fire(self):
        self.done.set()


@pytest.fixture
def wheel(hub):
    w = TimerWheel(hub, threadsafe=hub.name == "thread")
    yield w
    w.close()


def test_fired_timer_callbacks_are_not_kept_by_a_sleeping_driver(hub, wheel):
    done = hub.event()
    target = _Target(done)
    ref = weakref.ref(target)
    wheel.call_later(0.01, target.fire)
    wheel.call_later(30, print, "far away")  # the driver then sleeps ~30 s
    del target
    assert done.wait(WAIT)
    # let the driver get back to its wait (the next timer is 30 s away)
    hub.sleep(0.05)
    gc.collect()
    assert ref() is None


def test_cancelled_timer_leaves_the_wheel(hub, wheel):
    target = _Target(hub.event())
    ref = weakref.ref(target)
    handle = wheel.call_later(5, target.fire)
    assert len(wheel) == 1
    assert handle.cancel() is True and handle.cancel() is False
    assert len(wheel) == 0 and wheel.core.storage_size() == 0
    del target, handle
    gc.collect()
    assert ref() is None


def test_inlined_scheduling_keeps_the_books(hub, wheel):
    handles = [wheel.call_later(0.5 + i * 0.001, print, i) for i in range(100)]
    assert len(wheel) == 100 == wheel.core.storage_size()
    assert all(h.pending for h in handles)
    assert [h.seq for h in handles] == sorted(h.seq for h in handles)
    for h in handles[::2]:
        h.cancel()
    assert len(wheel) == 50 == wheel.core.storage_size()


def test_unbounded_result_wakes_on_completion(hub):
    future = hub.future()
    got = []

    def waiter():
        got.append(future.result())

    task = hub.spawn(waiter)
    hub.sleep(0.01)
    hub.call_later(0.01, future.set_result, "answer")
    assert task.join(WAIT)
    assert got == ["answer"]


def test_unbounded_result_raises_the_stored_exception(hub):
    future = hub.future()
    got = []

    def waiter():
        try:
            future.result()
        except KeyError as exc:
            got.append(exc)

    task = hub.spawn(waiter)
    hub.sleep(0.01)
    future.set_exception(KeyError("gone"))
    assert task.join(WAIT)
    assert len(got) == 1


def test_killed_waiter_leaves_the_future_usable(hub):
    if hub.name == "thread":
        pytest.skip("threads cannot be killed")
    future = hub.future()
    task = hub.spawn(future.result)
    hub.sleep(0.01)
    task.kill(block=True, timeout=WAIT)
    assert task.ready()
    assert future.set_result(42) is True
    assert future.result(0) == 42


def test_raw_lock_and_owner_now(hub):
    lock = hub.raw_lock()
    assert lock.acquire(False) and not lock.acquire(False)
    lock.release()
    with lock:
        pass
    assert hub.owner_now() is hub.owner_token()
    other = os_lock()
    with other:
        assert other.locked()
