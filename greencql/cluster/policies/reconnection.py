"""Reconnection policies: how long to wait before each new attempt to reach a down host.

Owns: the :class:`ReconnectionPolicy` protocol, :class:`ConstantReconnectionPolicy` and
:class:`ExponentialReconnectionPolicy` (capped exponential backoff with jitter).

Must not: sleep, read a clock or connect. A policy hands out *delays*; the pool's reconnection
greenlet sleeps them on the hub. Each delay is a pure function of the attempt number (and of
the random source, which tests inject), like redis-py's backoff classes, so a schedule can be
checked without waiting for it. A finite schedule means: give up once it is exhausted.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Literal, Protocol, runtime_checkable

from greencql.pool.forksafety import rng as _rng

__all__ = [
    "ReconnectionPolicy",
    "ConstantReconnectionPolicy",
    "ExponentialReconnectionPolicy",
    "Jitter",
]

#: "full": uniform in [0, d]; "equal": uniform in [d/2, d]; "none": exactly d
Jitter = Literal["full", "equal", "none"]

# Past this many doublings every realistic base delay is above any realistic cap; stopping the
# exponent here keeps 2**n from growing without bound on a host that stays down for days.
_MAX_DOUBLINGS = 62


@runtime_checkable
class ReconnectionPolicy(Protocol):
    """Hands out the delays between reconnection attempts to one host."""

    def new_schedule(self) -> Iterator[float]:
        """A fresh iterator of delays in seconds, one per attempt, started when a host goes
        down; when it ends, attempts stop."""
        ...


def _check_attempts(max_attempts: int | None) -> None:
    if max_attempts is not None and max_attempts < 0:
        raise ValueError("max_attempts may not be negative")


class ConstantReconnectionPolicy:
    """The same ``delay`` before every attempt; ``max_attempts=None`` tries forever (unlike
    cassandra-driver's default of 64, after which a host that comes back would never be
    noticed without a topology event)."""

    def __init__(self, delay: float, max_attempts: int | None = None) -> None:
        if delay < 0:
            raise ValueError("delay may not be negative")
        _check_attempts(max_attempts)
        self.delay = float(delay)
        self.max_attempts = max_attempts

    def delay_for(self, attempt: int) -> float:
        """The delay before attempt number ``attempt`` (0-based)."""
        return self.delay

    def new_schedule(self) -> Iterator[float]:
        if self.max_attempts is None:
            return itertools.repeat(self.delay)
        return itertools.repeat(self.delay, self.max_attempts)


class ExponentialReconnectionPolicy:
    """``base_delay * 2**attempt``, capped at ``max_delay``, with jitter.

    Jitter spreads the reconnections of many clients (or many hosts) that lost their
    connections at the same moment, e.g. after a network blip, so they do not all knock again
    at once. "equal" (the default) keeps at least half of each delay, so a down host is never
    hammered with near-zero waits; "full" spreads more but may retry almost at once; "none"
    gives the bare capped exponential. ``rng`` is the random source (tests pass a seeded
    ``random.Random``).
    """

    def __init__(
        self,
        base_delay: float,
        max_delay: float,
        max_attempts: int | None = None,
        *,
        jitter: Jitter = "equal",
        rng: random.Random | None = None,
    ) -> None:
        if base_delay < 0 or max_delay < 0:
            raise ValueError("delays may not be negative")
        if max_delay < base_delay:
            raise ValueError("max_delay must be at least base_delay")
        if jitter not in ("full", "equal", "none"):
            raise ValueError(f"unknown jitter {jitter!r}: use 'full', 'equal' or 'none'")
        _check_attempts(max_attempts)
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self.max_attempts = max_attempts
        self.jitter: Jitter = jitter
        self._rng = rng

    def capped_delay(self, attempt: int) -> float:
        """The delay before attempt ``attempt`` (0-based) without jitter."""
        if attempt < 0:
            raise ValueError("attempt may not be negative")
        return min(self.base_delay * 2 ** min(attempt, _MAX_DOUBLINGS), self.max_delay)

    def delay_for(self, attempt: int) -> float:
        """The delay before attempt ``attempt`` (0-based), jittered."""
        d = self.capped_delay(attempt)
        if self.jitter == "none" or d == 0:
            return d
        rng = self._rng or _rng
        if self.jitter == "full":
            return rng.uniform(0.0, d)
        return d / 2 + rng.uniform(0.0, d / 2)

    def new_schedule(self) -> Iterator[float]:
        attempts = itertools.count() if self.max_attempts is None else range(self.max_attempts)
        return (self.delay_for(n) for n in attempts)
