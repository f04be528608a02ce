"""Client-side write timestamps: a monotonic microsecond generator.

Owns :class:`MonotonicTimestampGenerator`, the callable a session asks for the default
timestamp of each request (the ``WITH_DEFAULT_TIMESTAMP`` flag of QUERY/EXECUTE/BATCH).
Cassandra resolves conflicting writes by timestamp, so two writes issued one after the other by
the same client must never carry the same or a decreasing timestamp, even when the wall clock
is coarse, stalls, or is stepped backwards by NTP.

It must not sleep, spawn, or know about connections: it reads an injectable clock (integer
microseconds since the epoch) and does arithmetic under a tiny lock, so one generator can be
shared by the greenlets of one hub and by the threads of the thread hub alike.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from greencql.hubs import os_lock

__all__ = [
    "MonotonicTimestampGenerator",
    "DEFAULT_WARNING_THRESHOLD",
    "DEFAULT_WARNING_INTERVAL",
    "wall_clock_micros",
]

_log = logging.getLogger("greencql.cluster")

#: seconds the generator may run ahead of the clock before it warns; one second, as
#: cassandra-driver does: smaller gaps are the normal effect of bursts faster than the clock
DEFAULT_WARNING_THRESHOLD = 1.0
#: at most one drift warning per this many seconds (of the injected clock), so a stepped-back
#: clock does not flood the log with one line per request
DEFAULT_WARNING_INTERVAL = 1.0


_time_ns = time.time_ns


def wall_clock_micros() -> int:
    """Microseconds since the Unix epoch, from the wall clock, without float rounding."""
    return time.time_ns() // 1000


class MonotonicTimestampGenerator:
    """Calling the generator returns the next client timestamp, in microseconds since the epoch.

    Normally that is the clock's current reading. When the clock has not moved past the last
    returned value (calls faster than its resolution, or the clock stepped backwards), the
    generator returns ``last + 1`` instead: values are strictly increasing per generator. When
    it has thereby run ahead of the clock by ``warning_threshold`` seconds or more, it logs a
    warning on the ``greencql.cluster`` logger, at most once per ``warning_interval`` seconds.

    ``clock`` returns integer microseconds since the epoch (tests inject a fake one).
    Names and defaults follow cassandra-driver's generator of the same name.
    """

    __slots__ = ("_clock", "_last_warn", "_lock", "last", "warn_on_drift", "warning_interval",
                 "warning_threshold")

    def __init__(
        self,
        warn_on_drift: bool = True,
        warning_threshold: float = DEFAULT_WARNING_THRESHOLD,
        warning_interval: float = DEFAULT_WARNING_INTERVAL,
        clock: Callable[[], int] = wall_clock_micros,
    ) -> None:
        if warning_threshold < 0 or warning_interval < 0:
            raise ValueError("warning_threshold and warning_interval must not be negative")
        self.warn_on_drift = warn_on_drift
        #: seconds ahead of the clock before warning
        self.warning_threshold = warning_threshold
        #: seconds between two warnings
        self.warning_interval = warning_interval
        #: the last timestamp returned (0 before the first call)
        self.last = 0
        self._clock = clock
        # None until the first warning, so the first drift always warns
        self._last_warn: int | None = None
        # A plain lock: the critical section is a few integer operations and never blocks,
        # so it costs nothing measurable under greenlets and keeps threads correct.
        # (the C lock even under monkey-patching: a green lock's methods are Python calls)
        self._lock = os_lock()

    def __call__(self) -> int:
        """The next timestamp: strictly greater than every earlier one of this generator."""
        clock = self._clock
        # the default clock inlined (once per request): wall_clock_micros() without the call
        now = _time_ns() // 1000 if clock is wall_clock_micros else clock()
        with self._lock:
            last = self.last
            if now > last:
                self.last = now
                return now
            self.last = last + 1
            if self.warn_on_drift:
                self._maybe_warn(now, last + 1)
            return last + 1

    def _maybe_warn(self, now: int, returned: int) -> None:
        # Called with the lock held, only when the generator is at or ahead of the clock.
        drift = returned - now
        if drift < self.warning_threshold * 1_000_000:
            return
        last_warn = self._last_warn
        if last_warn is not None and abs(now - last_warn) < self.warning_interval * 1_000_000:
            return
        self._last_warn = now
        _log.warning(
            "Clock skew detected: the clock (%d) is %d microseconds behind the last client "
            "timestamp; timestamps are incremented artificially to stay monotonic (%d)",
            now,
            drift,
            returned,
        )
