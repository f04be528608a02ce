"""The timer wheel: pure logic on a fake clock, then driven by the hub of this process."""

import logging
import math
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.hubs import DEFAULT_TICK, TimerWheel, WheelCore

WAIT = 5.0


def _names(timers):
    return [t.args[0] for t in timers]


# -- WheelCore on a fake clock -----------------------------------------------------------------


def test_core_fires_in_due_order_never_early():
    core = WheelCore(tick=0.01, slots=8, origin=100.0)
    core.schedule(100.0, 0.05, print, ("c",))
    core.schedule(100.0, 0.011, print, ("a",))
    core.schedule(100.0, 0.03, print, ("b",))
    core.schedule(100.0, 0.03, print, ("b2",))  # same time: scheduling order
    assert len(core) == 4
    assert core.advance(100.0105) == []  # 'a' is due at 100.011: not early
    assert _names(core.advance(100.02)) == ["a"]  # at most one tick late
    assert _names(core.advance(100.06)) == ["b", "b2", "c"]
    assert len(core) == 0
    assert core.storage_size() == 0


def test_core_cancel_is_o1_and_idempotent():
    core = WheelCore(tick=0.01, slots=8)
    keep = core.schedule(0.0, 0.02, print, ("keep",))
    drop = core.schedule(0.0, 0.02, print, ("drop",))
    assert drop.pending
    assert drop.cancel() is True
    assert drop.cancel() is False
    assert not drop.pending
    assert _names(core.advance(1.0)) == ["keep"]
    assert not keep.pending
    assert keep.cancel() is False  # already fired


def test_core_timers_beyond_one_revolution():
    core = WheelCore(tick=0.01, slots=4)  # one revolution = 0.04 s
    core.schedule(0.0, 0.15, print, ("late",))
    core.schedule(0.0, 0.01, print, ("early",))
    now, fired = 0.0, []
    while now < 0.2:
        now += 0.01
        fired += [(round(now, 2), n) for n in _names(core.advance(now))]
    assert fired == [(0.01, "early"), (0.15, "late")]


def test_core_big_jump_processes_every_slot_once():
    core = WheelCore(tick=0.01, slots=4)
    for i in range(10):
        core.schedule(0.0, 0.01 * (i + 1), print, (i,))
    assert _names(core.advance(5.0)) == list(range(10))
    assert core.next_due() is None


def test_core_zero_and_negative_delay_fire_next_tick():
    core = WheelCore(tick=0.01, slots=8)
    core.advance(0.05)
    core.schedule(0.05, 0, print, ("zero",))
    core.schedule(0.05, -1, print, ("negative",))
    assert core.next_due() == pytest.approx(0.06)
    assert core.advance(0.059) == []
    assert _names(core.advance(0.06)) == ["zero", "negative"]


def test_core_next_due():
    core = WheelCore(tick=0.01, slots=16)
    assert core.next_due() is None
    core.schedule(0.0, 0.055, print, ("x",))
    assert core.next_due() == pytest.approx(0.06)
    t = core.schedule(0.0, 0.021, print, ("y",))
    assert core.next_due() == pytest.approx(0.03)
    t.cancel()
    assert core.next_due() == pytest.approx(0.06)


def test_core_rejects_bad_config():
    with pytest.raises(ValueError):
        WheelCore(tick=0)
    with pytest.raises(ValueError):
        WheelCore(slots=0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["add", "cancel", "advance"]),
            st.floats(min_value=0.0, max_value=0.5, allow_nan=False),
        ),
        max_size=60,
    )
)
def test_core_matches_a_sorted_list_model(ops):
    """Against a trivially correct model: fires exactly the due timers, in order, never early,
    at most one tick late; cancel removes; nothing is lost."""
    tick = 0.01
    core = WheelCore(tick=tick, slots=8)
    now = 0.0
    model = {}  # seq -> when
    handles = []
    for op, x in ops:
        if op == "add":
            h = core.schedule(now, x, print, (len(handles),))
            handles.append(h)
            model[h.args[0]] = h.when
        elif op == "cancel" and handles:
            h = handles[int(x * 1000) % len(handles)]
            was = h.args[0] in model
            assert h.cancel() is was
            model.pop(h.args[0], None)
        else:
            now += x
            fired = core.advance(now)
            names = _names(fired)
            for t in fired:
                assert t.when <= now + 1e-9  # never early
                assert model.pop(t.args[0]) == t.when
            assert [t.when for t in fired] == sorted(t.when for t in fired)
            # nothing due by more than a tick is left behind
            assert all(when > now - tick - 1e-9 for when in model.values()), names
        assert len(core) == len(model) == core.storage_size()


# -- the driven wheel ---------------------------------------------------------------------------


class _CountingHub:
    """Wraps the real hub to count the tasks the wheel spawns."""

    def __init__(self, hub):
        self._hub = hub
        self.spawned = 0

    def __getattr__(self, name):
        return getattr(self._hub, name)

    def spawn(self, fn, *args, **kwargs):
        self.spawned += 1
        return self._hub.spawn(fn, *args, **kwargs)


@pytest.fixture
def wheel(hub):
    w = TimerWheel(hub, threadsafe=hub.name == "thread")
    yield w
    w.close()


def test_default_tick_is_about_10ms():
    assert 0.001 <= DEFAULT_TICK <= 0.05


def test_wheel_fires_in_order(hub, wheel):
    fired = []
    done = hub.event()
    wheel.call_later(0.05, fired.append, "c")
    wheel.call_later(0.01, fired.append, "a")
    wheel.call_later(0.03, fired.append, "b")
    wheel.call_later(0.06, done.set)
    assert done.wait(WAIT)
    assert fired == ["a", "b", "c"]


def test_wheel_cancel(hub, wheel):
    fired = []
    done = hub.event()
    t = wheel.call_later(0.01, fired.append, "cancelled")
    wheel.call_later(0.02, fired.append, "kept")
    wheel.call_later(0.03, done.set)
    assert t.cancel()
    assert done.wait(WAIT)
    assert fired == ["kept"]


def test_hub_call_later_uses_the_hub_wheel(hub):
    done = hub.event()
    handle = hub.call_later(0.01, done.set)
    assert handle.when > 0
    assert done.wait(WAIT)
    assert hub.timer_wheel() is hub.timer_wheel()
    assert hub.call_later(10, done.clear).cancel() is True


def test_wheel_wakes_for_an_earlier_timer(hub, wheel):
    """The driver sleeps until its next slot; a sooner timer added later must wake it."""
    wheel.call_later(30, print, "far")
    hub.sleep(0.02)  # let the driver go to sleep for a long while
    done = hub.event()
    wheel.call_later(0.01, done.set)
    assert done.wait(2.0)


def test_wheel_is_idle_when_nothing_is_pending(hub, wheel):
    done = hub.event()
    wheel.call_later(0.01, done.set)
    assert done.wait(WAIT)
    hub.sleep(0.03)  # let the driver plan its next sleep
    assert len(wheel) == 0
    assert wheel._wake_at == math.inf  # waits for a timer, no tick scheduled
    assert wheel.running  # one parked task, reused by the next timer
    again = hub.event()
    wheel.call_later(0.01, again.set)
    assert again.wait(WAIT)


def test_callback_exception_is_logged_and_wheel_survives(hub, wheel, caplog):
    def boom():
        raise RuntimeError("timer failure")

    done = hub.event()
    with caplog.at_level(logging.ERROR, logger="greencql.hubs"):
        wheel.call_later(0.01, boom)
        wheel.call_later(0.02, done.set)
        assert done.wait(WAIT)
    assert any("callback" in r.getMessage() for r in caplog.records)
    assert wheel.running


def test_100k_timers_one_task_bounded_storage(hub):
    counting = _CountingHub(hub)
    threads_before = set(threading.enumerate())
    wheel = TimerWheel(counting, threadsafe=hub.name == "thread")
    try:
        fn = print
        handles = [wheel.call_later(60 + i * 1e-4, fn, i) for i in range(100_000)]
        hub.sleep(0.02)  # the driver runs and plans its (long) sleep
        assert counting.spawned == 1
        if hub.name == "thread":
            assert len(set(threading.enumerate()) - threads_before) == 1
        assert len(wheel) == 100_000
        assert wheel.core.storage_size() == 100_000
        for h in handles:
            assert h.cancel()
        assert len(wheel) == 0
        assert wheel.core.storage_size() == 0
        assert all(not slot for slot in wheel.core._slots)
        hub.sleep(0.02)
        assert counting.spawned == 1
    finally:
        wheel.close()


def test_close_stops_the_driver(hub):
    wheel = TimerWheel(hub, threadsafe=hub.name == "thread")
    wheel.call_later(30, print, "never")
    hub.sleep(0.01)
    task = wheel._task
    wheel.close()
    assert task.join(WAIT)
    assert len(wheel) == 0
    with pytest.raises(RuntimeError):
        wheel.call_later(1, print)


def test_thread_hub_wheel_is_thread_safe(hub):
    if hub.name != "thread":
        pytest.skip("thread hub only")
    wheel = TimerWheel(hub, threadsafe=True)
    fired = []
    lock = threading.Lock()
    done = threading.Event()
    n_threads, per_thread = 8, 200

    def record(i):
        with lock:
            fired.append(i)
            if len(fired) == n_threads * per_thread // 2:
                done.set()

    def producer(base):
        hs = [wheel.call_later(0.001 * (i % 20), record, base + i) for i in range(per_thread)]
        for h in hs[1::2]:
            h.cancel()  # some of these may already have fired: then cancel() is False

    try:
        threads = [threading.Thread(target=producer, args=(k * 1000,)) for k in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(WAIT)
        # every timer either fired or was cancelled, exactly once
        hub.sleep(0.05)
        assert len(wheel) == 0
        assert len(fired) == len(set(fired))
        assert len(fired) >= n_threads * per_thread // 2
    finally:
        wheel.close()
