"""A hashed timer wheel: every request timeout, heartbeat and backoff of one hub.

Two parts, kept apart so the logic can be tested with a fake clock:

- :class:`WheelCore` is pure bookkeeping: ``schedule(now, delay, ...)``, ``cancel``,
  ``advance(now) -> due handles``, ``next_due()``. No clock, no greenlet, no lock.
- :class:`TimerWheel` drives a core from ONE task of a hub (a greenlet; a daemon thread on the
  thread hub), however many timers are pending. The task sleeps until the next non-empty slot
  (forever when nothing is pending: no ticking while idle) and is woken when a timer is added
  that is due earlier than it planned to wake.

Scheduling and cancelling are O(1): a timer lives in the slot ``tick % slots`` of a dict per
slot. A visit to a slot looks at every timer in it, also those due in a later revolution, which
is the usual price of a hashed wheel. A timer never fires early; it fires at most one tick late
(plus whatever the hub is busy with).

In a forked child every inherited timer is dropped at the fork (an ``os.register_at_fork``
hook): they are the parent's request timeouts, heartbeats and debounces, none of the child's.

This module must not import gevent or eventlet: it gets spawn/event/lock from the hub it is
given. Callbacks run on the wheel's task, must not block (spawn if they must), and an exception
they raise is logged on ``greencql.hubs``, never fatal to the wheel.
"""

from __future__ import annotations

import math
import os
import weakref
from collections.abc import Callable
from itertools import count
from typing import Any

from greencql.hubs.base import _call_logged

__all__ = [
    "DEFAULT_SLOTS",
    "DEFAULT_TICK",
    "PerLoopWheels",
    "WheelCore",
    "WheelTimer",
    "TimerWheel",
]

#: Wheel resolution in seconds. Request timeouts are seconds long and a late timeout costs one
#: tick at most, so 10 ms is precise enough while keeping wake-ups of a busy wheel at <= 100/s.
DEFAULT_TICK = 0.01

#: Slots per revolution: 512 x 10 ms = 5.12 s, longer than most request timeouts, so a typical
#: timer sits in a slot nothing else due sooner shares; heartbeats (30 s) wait a few rounds.
DEFAULT_SLOTS = 512

_MISSING = object()

# Tolerance, in ticks, when turning times into tick numbers: (100.02 - 100.0) / 0.01 is
# 1.9999999999995 in floating point, and a timer due exactly on a tick must fire on it.
_EPSILON = 1e-6


class WheelTimer:
    """A scheduled call; what :meth:`WheelCore.schedule` and ``Hub.call_later`` return."""

    __slots__ = ("_core", "args", "fn", "seq", "tick", "when")

    def __init__(
        self,
        when: float,
        tick: int,
        fn: Callable[..., object],
        args: tuple[Any, ...],
        seq: int,
        core: WheelCore,
    ) -> None:
        self.when = when
        self.tick = tick
        self.fn = fn
        self.args = args
        self.seq = seq
        self._core: WheelCore | None = core

    @property
    def pending(self) -> bool:
        """``True`` until the timer fires or is cancelled."""
        return self._core is not None

    def cancel(self) -> bool:
        """Forget the call; ``True`` if it was still pending. O(1); safe to call twice.

        Once per request (its deadline, when the answer comes first): WheelCore.cancel is
        inlined for the lock-free (green) wheels, so a cancel is one Python call."""
        core = self._core
        if core is None:
            return False
        lock = core.lock
        if lock is not None:
            with lock:
                return core.cancel(self)
        self._core = None
        if core._slots[self.tick % core._nslots].pop(self, _MISSING) is _MISSING:
            return False
        core._count -= 1
        return True

    def __repr__(self) -> str:
        state = "pending" if self._core is not None else "done"
        name = getattr(self.fn, "__qualname__", self.fn)
        return f"<WheelTimer {name} at {self.when:.3f} {state}>"


class WheelCore:
    """The wheel's bookkeeping, driven by whoever owns a clock.

    Time is measured from ``origin`` in ticks: tick ``n`` covers ``origin + n * tick``. Ticks
    up to :attr:`current` have been processed.
    """

    def __init__(self, tick: float = DEFAULT_TICK, slots: int = DEFAULT_SLOTS, origin: float = 0.0):
        if tick <= 0 or slots < 1:
            raise ValueError("tick must be > 0 and slots >= 1")
        self.tick = tick
        self.origin = origin
        self.current = 0
        self._nslots = slots
        # dicts, not sets: O(1) removal and a stable order inside a slot
        self._slots: list[dict[WheelTimer, None]] = [{} for _ in range(slots)]
        self._count = 0
        self._seq = count()
        #: set by a thread-safe driver: WheelTimer.cancel() takes it
        self.lock: Any = None

    def __len__(self) -> int:
        """Number of pending timers."""
        return self._count

    def schedule(
        self, now: float, delay: float, fn: Callable[..., object], args: tuple[Any, ...] = ()
    ) -> WheelTimer:
        """Add ``fn(*args)`` due at ``now + delay`` (a delay <= 0 fires at the next tick)."""
        when = now + delay if delay > 0 else now
        tick = math.ceil((when - self.origin) / self.tick - _EPSILON)
        if tick <= self.current:
            tick = self.current + 1
        timer = WheelTimer(when, tick, fn, args, next(self._seq), self)
        self._slots[tick % self._nslots][timer] = None
        self._count += 1
        return timer

    def cancel(self, timer: WheelTimer) -> bool:
        """Remove ``timer``; ``True`` if it was pending here."""
        if timer._core is not self:
            return False
        timer._core = None
        if self._slots[timer.tick % self._nslots].pop(timer, _MISSING) is _MISSING:
            return False
        self._count -= 1
        return True

    def advance(self, now: float) -> list[WheelTimer]:
        """Process the ticks up to ``now``; return the timers due, by due time then order."""
        target = math.floor((now - self.origin) / self.tick + _EPSILON)
        current = self.current
        if target <= current:
            return []
        self.current = target
        if not self._count:
            return []
        nslots = self._nslots
        slots = self._slots
        if target - current >= nslots:
            indexes: Any = range(nslots)
        else:
            indexes = (t % nslots for t in range(current + 1, target + 1))
        due: list[WheelTimer] = []
        for index in indexes:
            slot = slots[index]
            if not slot:
                continue
            ready = [timer for timer in slot if timer.tick <= target]
            for timer in ready:
                del slot[timer]
                timer._core = None
            due.extend(ready)
        self._count -= len(due)
        if len(due) > 1:
            due.sort(key=_order)
        return due

    def next_due(self) -> float | None:
        """When the first non-empty slot comes round (``None`` if nothing is pending).

        At most one revolution of empty-slot checks; the timers found there may belong to a
        later round, in which case the driver wakes, finds nothing due and looks again.
        """
        if not self._count:
            return None
        nslots = self._nslots
        slots = self._slots
        for tick in range(self.current + 1, self.current + 1 + nslots):
            if slots[tick % nslots]:
                return self.origin + tick * self.tick
        return None  # unreachable while _count is right

    def tick_time(self, tick: int) -> float:
        """The clock time at which ``tick`` is processed."""
        return self.origin + tick * self.tick

    def clear(self) -> None:
        """Forget every pending timer."""
        for slot in self._slots:
            for timer in slot:
                timer._core = None
            slot.clear()
        self._count = 0

    def storage_size(self) -> int:
        """Entries held in the slots (for tests: must equal ``len(self)``)."""
        return sum(len(slot) for slot in self._slots)


# object.__new__: a WheelTimer without a Python-level __init__ call (TimerWheel.call_later)
_new_timer = object.__new__


def _order(timer: WheelTimer) -> tuple[float, int]:
    return (timer.when, timer.seq)


class TimerWheel:
    """A :class:`WheelCore` driven by one task of ``hub``.

    ``threadsafe=True`` (the thread hub) guards the core with a lock; on green hubs every call
    runs on the hub's own thread and switches only at the driver's wait, so no lock is needed.
    """

    def __init__(
        self,
        hub: Any,
        tick: float = DEFAULT_TICK,
        slots: int = DEFAULT_SLOTS,
        threadsafe: bool = False,
    ) -> None:
        self._hub = hub
        self._monotonic = hub.monotonic
        self._core = WheelCore(tick, slots, origin=hub.monotonic())
        self._wake = hub.event()
        self._lock = hub.lock() if threadsafe else None
        self._core.lock = self._lock
        self._task: Any = None
        self._closed = False
        # when the driver plans to wake up next; inf while it waits for a first timer
        self._wake_at = math.inf
        _wheels.add(self)

    def __len__(self) -> int:
        return len(self._core)

    @property
    def core(self) -> WheelCore:
        return self._core

    @property
    def running(self) -> bool:
        """``True`` while the driver task exists (it is started by the first timer)."""
        return self._task is not None and not self._task.ready()

    def call_later(self, delay: float, fn: Callable[..., object], *args: Any) -> WheelTimer:
        """Call ``fn(*args)`` after ``delay`` seconds, on the wheel's task.

        Once per request (its deadline): on the lock-free (green) wheels scheduling is inlined
        here (WheelCore.schedule and WheelTimer.__init__ without their calls)."""
        lock = self._lock
        if lock is not None:
            with lock:
                return self._schedule(delay, fn, args)
        if self._closed:
            raise RuntimeError("timer wheel is closed")
        core = self._core
        now = self._monotonic()
        when = now + delay if delay > 0 else now
        tick = math.ceil((when - core.origin) / core.tick - _EPSILON)
        if tick <= core.current:
            tick = core.current + 1
        timer = _new_timer(WheelTimer)
        timer.when = when
        timer.tick = tick
        timer.fn = fn
        timer.args = args
        timer.seq = next(core._seq)
        timer._core = core
        core._slots[tick % core._nslots][timer] = None
        core._count += 1
        due = core.origin + tick * core.tick
        if due < self._wake_at:
            self._wake_at = due
            if self._task is None:
                self._task = self._hub.spawn(self._run)
            self._wake.set()
        return timer

    def _schedule(
        self, delay: float, fn: Callable[..., object], args: tuple[Any, ...]
    ) -> WheelTimer:
        if self._closed:
            raise RuntimeError("timer wheel is closed")
        core = self._core
        timer = core.schedule(self._monotonic(), delay, fn, args)
        due = core.origin + timer.tick * core.tick
        if due < self._wake_at:
            self._wake_at = due
            if self._task is None:
                self._task = self._hub.spawn(self._run)
            self._wake.set()
        return timer

    def cancel(self, timer: WheelTimer) -> bool:
        lock = self._lock
        if lock is not None:
            with lock:
                return self._core.cancel(timer)
        return self._core.cancel(timer)

    def close(self) -> None:
        """Stop the driver and forget every pending timer."""
        self._closed = True
        if self._lock is not None:
            with self._lock:
                self._core.clear()
        else:
            self._core.clear()
        task = self._task
        self._wake.set()
        if task is not None:
            task.kill()

    def _run(self) -> None:
        core = self._core
        lock = self._lock
        wake = self._wake
        monotonic = self._monotonic
        while not self._closed:
            if lock is not None:
                with lock:
                    due = core.advance(monotonic())
            else:
                due = core.advance(monotonic())
            for timer in due:
                _call_logged(timer.fn, *timer.args)
            # Dropped before waiting: the driver may sleep until the next timer (a heartbeat
            # 30 s away), and the timers just fired hold their callbacks' objects (a request
            # that timed out, its future and results) for all that time.
            due = timer = None  # type: ignore[assignment]
            if lock is not None:
                with lock:
                    timeout = self._plan(core, wake, monotonic)
            else:
                timeout = self._plan(core, wake, monotonic)
            wake.wait(timeout)

    def _plan(self, core: WheelCore, wake: Any, monotonic: Callable[[], float]) -> float | None:
        # Under the lock: clear the wake-up flag first, so a timer added from now on (which
        # sets it) interrupts the wait below instead of being missed.
        wake.clear()
        nxt = core.next_due()
        if nxt is None:
            self._wake_at = math.inf
            return None
        self._wake_at = nxt
        return max(0.0, nxt - monotonic())


class PerLoopWheels:
    """``timer_wheel()`` / ``call_later()`` for hubs with one event loop per OS thread
    (gevent, eventlet): each loop carries its own wheel, driven by a task on that loop.
    The adapter names its loop getter in ``_current_loop``."""

    _current_loop: Callable[[], Any]

    def timer_wheel(self) -> TimerWheel:
        loop = self._current_loop()
        try:
            return loop._greencql_wheel
        except AttributeError:
            wheel = loop._greencql_wheel = TimerWheel(self)
            return wheel

    def call_later(self, delay: float, fn: Callable[..., object], *args: Any) -> WheelTimer:
        try:
            wheel = self._current_loop()._greencql_wheel
        except AttributeError:
            wheel = self.timer_wheel()
        return wheel.call_later(delay, fn, *args)


# Every wheel of the process, so that a forked child can drop what it inherited.
_wheels: weakref.WeakSet[TimerWheel] = weakref.WeakSet()


def _forget_timers_in_child() -> None:
    # Every pending timer belongs to the parent (its requests' timeouts, its connections'
    # heartbeats, its refresh debounces): none may fire in the child. Pure bookkeeping: the
    # hub is not touched (gevent re-initialises its loop after this hook), and an inherited
    # driver task simply finds nothing due and waits for the child's own timers.
    for wheel in list(_wheels):
        try:
            wheel._core.clear()
        except Exception:  # pragma: no cover - the child must come up whatever happens
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_timers_in_child)
