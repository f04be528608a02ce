"""Request throttling: the decisions of a session-wide limit on requests, without the waiting.

Owns: :class:`RequestThrottler` (at most N requests in flight, optionally at most R requests
per second through a token bucket, a bounded FIFO queue of waiters, a bound on each wait),
the :class:`Admission` values it answers with, and the :class:`RequestThrottled` error.

Must not: read a clock, sleep or hold hub objects. Every call takes ``now`` (seconds on any
monotonic clock); the session parks waiting greenlets with hub primitives and wakes the ones
this module names. That keeps the logic testable with a fake clock and identical under every
hub. Not thread-safe by itself: the session calls it under its own lock.

How the session drives it::

    adm = throttler.try_acquire(now)
    while adm.status is WAIT:
        if adm.wake: signal(adm.wake)
        wait until signalled for adm.ticket, or until adm.until
        adm = throttler.try_acquire(now(), adm.ticket)
    if adm.wake: signal(adm.wake)
    if adm.status is REJECTED: raise adm.error
    ... send the request ...; finally: t = throttler.release(); if t: signal(t)
    (a waiter that is killed instead calls cancel(ticket) and signals what it returns)

Waiters are served first come, first served: a newcomer never overtakes a queued request.
"""

from __future__ import annotations

import collections
import enum
import math
from dataclasses import dataclass

from greencql.errors import RequestThrottled

__all__ = [
    "DEFAULT_MAX_QUEUE_SIZE",
    "RequestThrottled",
    "AdmissionStatus",
    "Admission",
    "Ticket",
    "RequestThrottler",
]

# The Java driver 4's default: deep enough to absorb a burst, shallow enough that a backlog
# turns into errors instead of unbounded memory and latency.
DEFAULT_MAX_QUEUE_SIZE = 10_000

# Refill arithmetic on floats can leave 0.9999999 of a token at exactly the announced time.
_EPSILON = 1e-9


class AdmissionStatus(enum.Enum):
    GRANTED = "granted"
    WAIT = "wait"
    REJECTED = "rejected"


class Ticket:
    """A waiter's place in the queue. Opaque to the session, which only hands it back and uses
    it as a key for whatever it waits on."""

    __slots__ = ("active", "deadline", "seq")

    def __init__(self, seq: int, deadline: float) -> None:
        self.seq = seq
        self.deadline = deadline
        #: False once granted, rejected or cancelled
        self.active = True

    def __repr__(self) -> str:
        return f"<Ticket #{self.seq} deadline={self.deadline}>"


@dataclass(frozen=True)
class Admission:
    """The throttler's answer.

    GRANTED: send the request now, and call :meth:`RequestThrottler.release` when it is done.
    WAIT: park until signalled for ``ticket`` or until ``until`` (``math.inf``: no time bound),
    then ask again with the ticket. REJECTED: raise ``error``. With any status, ``wake`` names
    another waiter the session should signal now (it may be able to go).
    """

    status: AdmissionStatus
    ticket: Ticket | None = None
    until: float = math.inf
    wake: Ticket | None = None
    error: RequestThrottled | None = None


_GRANTED = Admission(AdmissionStatus.GRANTED)


class RequestThrottler:
    """Session-wide admission control.

    ``max_concurrent_requests``: requests in flight at once (``None``: unlimited).
    ``max_requests_per_second``: sustained rate (``None``: unlimited), with bursts of up to
    ``burst`` requests (default: one second's worth) through a token bucket.
    ``max_queue_size``: waiters beyond this are rejected at once (0: never wait).
    ``max_wait``: seconds a request may wait before it is rejected (``None``: no bound here; the
    request timeout still applies).

    With every limit ``None`` it grants everything and only counts requests in flight.
    """

    def __init__(
        self,
        max_concurrent_requests: int | None = None,
        max_requests_per_second: float | None = None,
        *,
        burst: float | None = None,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        max_wait: float | None = None,
    ) -> None:
        if max_concurrent_requests is not None and max_concurrent_requests < 1:
            raise ValueError("max_concurrent_requests must be at least 1")
        if max_requests_per_second is not None and max_requests_per_second <= 0:
            raise ValueError("max_requests_per_second must be positive")
        if burst is not None and burst < 1:
            raise ValueError("burst must be at least 1")
        if max_queue_size < 0:
            raise ValueError("max_queue_size may not be negative")
        if max_wait is not None and max_wait < 0:
            raise ValueError("max_wait may not be negative")
        self.max_concurrent_requests = max_concurrent_requests
        self.max_requests_per_second = max_requests_per_second
        self.burst = (
            float(burst) if burst is not None else max(1.0, float(max_requests_per_second or 1.0))
        )
        self.max_queue_size = max_queue_size
        self.max_wait = max_wait
        self._in_flight = 0
        self._tokens = self.burst
        self._last_refill: float | None = None
        self._queue: collections.deque[Ticket] = collections.deque()
        self._queued = 0  # active tickets in _queue (inactive ones are dropped lazily)
        self._seq = 0

    @property
    def in_flight(self) -> int:
        """Requests granted and not yet released."""
        return self._in_flight

    @property
    def queued(self) -> int:
        """Requests waiting."""
        return self._queued

    def try_acquire(self, now: float, ticket: Ticket | None = None) -> Admission:
        """Ask to send a request at time ``now``; a waiter passes back its ticket."""
        self._refill(now)
        if ticket is None:
            return self._arrive(now)
        if not ticket.active:
            raise ValueError(f"{ticket!r} is no longer waiting")
        if ticket is self._head() and self._can_grant():
            self._pop_head()
            self._grant()
            return Admission(AdmissionStatus.GRANTED, wake=self._wakeable())
        if now >= ticket.deadline:
            was_head = ticket is self._head()
            self._drop(ticket)
            return Admission(
                AdmissionStatus.REJECTED,
                wake=self._wakeable() if was_head else None,
                error=RequestThrottled(
                    f"request throttled: no capacity after waiting {self.max_wait}s",
                    "timed out",
                ),
            )
        return Admission(AdmissionStatus.WAIT, ticket, self._until(ticket, now))

    def release(self) -> Ticket | None:
        """A granted request finished (answered, failed or timed out); returns the waiter to
        signal, if any."""
        if self._in_flight <= 0:
            raise RuntimeError("release() without a granted request")
        self._in_flight -= 1
        return self._wakeable()

    def cancel(self, ticket: Ticket) -> Ticket | None:
        """A waiter gives up (its greenlet was killed, its own timeout fired); returns the waiter
        to signal in its place, if any."""
        if not ticket.active:
            return None
        was_head = ticket is self._head()
        self._drop(ticket)
        return self._wakeable() if was_head else None

    # -- internals -------------------------------------------------------------------------

    def _arrive(self, now: float) -> Admission:
        if not self._queued and self._can_grant():
            self._grant()
            return _GRANTED
        if self._queued >= self.max_queue_size:
            return Admission(
                AdmissionStatus.REJECTED,
                error=RequestThrottled(
                    f"request throttled: {self._queued} requests already waiting "
                    f"(max_queue_size={self.max_queue_size})",
                    "queue full",
                ),
            )
        self._seq += 1
        deadline = math.inf if self.max_wait is None else now + self.max_wait
        ticket = Ticket(self._seq, deadline)
        self._queue.append(ticket)
        self._queued += 1
        return Admission(AdmissionStatus.WAIT, ticket, self._until(ticket, now))

    def _refill(self, now: float) -> None:
        rate = self.max_requests_per_second
        if rate is None:
            return
        last = self._last_refill
        if last is None or now > last:
            if last is not None:
                self._tokens = min(self.burst, self._tokens + (now - last) * rate)
            self._last_refill = now

    def _has_slot(self) -> bool:
        limit = self.max_concurrent_requests
        return limit is None or self._in_flight < limit

    def _has_token(self) -> bool:
        return self.max_requests_per_second is None or self._tokens >= 1 - _EPSILON

    def _can_grant(self) -> bool:
        return self._has_slot() and self._has_token()

    def _grant(self) -> None:
        self._in_flight += 1
        if self.max_requests_per_second is not None:
            self._tokens = max(0.0, self._tokens - 1)

    def _until(self, ticket: Ticket, now: float) -> float:
        # Only the head can know when it may go, and only when it waits for a token rather
        # than for a release; everyone else is signalled or times out.
        rate = self.max_requests_per_second
        if rate is not None and ticket is self._head() and self._has_slot():
            return min(ticket.deadline, now + (1 - self._tokens) / rate)
        return ticket.deadline

    def _head(self) -> Ticket | None:
        queue = self._queue
        while queue and not queue[0].active:
            queue.popleft()
        return queue[0] if queue else None

    def _pop_head(self) -> None:
        ticket = self._queue.popleft()
        ticket.active = False
        self._queued -= 1

    def _drop(self, ticket: Ticket) -> None:
        # Lazy removal: the deque entry is skipped when it reaches the head. Compacting when
        # dead entries dominate bounds the deque even while a stuck head keeps them from it.
        ticket.active = False
        self._queued -= 1
        if len(self._queue) > 2 * self._queued + 64:
            self._queue = collections.deque(t for t in self._queue if t.active)

    def _wakeable(self) -> Ticket | None:
        # The head may be able to go when a slot is free; if it then lacks a token, it learns
        # from try_acquire when one will come.
        head = self._head()
        return head if head is not None and self._has_slot() else None
