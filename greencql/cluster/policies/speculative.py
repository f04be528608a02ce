"""Speculative execution policies: when to send a request to another host before the first
answers.

Owns: the :class:`SpeculativeExecutionPolicy` / :class:`SpeculativeExecutionPlan` protocols,
:class:`NoSpeculativeExecutionPolicy` and :class:`ConstantSpeculativeExecutionPolicy`.

Must not: start timers or send anything. A plan only answers "how long after the previous
execution should the next one start?" with a delay in seconds, or a negative number for
"no more"; the session arms hub timers with it.

Speculative executions apply only to statements marked idempotent: the session checks this
before asking the policy at all, because two executions of a non-idempotent statement may both
be applied. The first answer wins; the others are cancelled (their stream ids stay reserved
until their answers arrive).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from greencql.cluster.host import Host

__all__ = [
    "SpeculativeExecutionPlan",
    "SpeculativeExecutionPolicy",
    "NoSpeculativeExecutionPlan",
    "NoSpeculativeExecutionPolicy",
    "ConstantSpeculativeExecutionPolicy",
    "ConstantSpeculativeExecutionPlan",
]


@runtime_checkable
class SpeculativeExecutionPlan(Protocol):
    """Per-request state of a speculative execution policy."""

    def next_execution(self, host: Host) -> float:
        """Seconds to wait, after the execution just sent to ``host``, before starting
        another; negative for none."""
        ...


@runtime_checkable
class SpeculativeExecutionPolicy(Protocol):
    def new_plan(self, keyspace: str | None, statement: Any) -> SpeculativeExecutionPlan:
        """A fresh plan for one request."""
        ...


class NoSpeculativeExecutionPlan:
    def next_execution(self, host: Host) -> float:
        return -1


_NO_PLAN = NoSpeculativeExecutionPlan()


class NoSpeculativeExecutionPolicy:
    """Never speculate (the default): one execution at a time, retries only after errors."""

    def new_plan(self, keyspace: str | None, statement: Any) -> SpeculativeExecutionPlan:
        return _NO_PLAN  # stateless, so one instance serves every request


class ConstantSpeculativeExecutionPlan:
    """Hands out ``delay`` ``max_attempts`` times, then -1."""

    __slots__ = ("delay", "remaining")

    def __init__(self, delay: float, max_attempts: int) -> None:
        self.delay = delay
        self.remaining = max_attempts

    def next_execution(self, host: Host) -> float:
        if self.remaining > 0:
            self.remaining -= 1
            return self.delay
        return -1


class ConstantSpeculativeExecutionPolicy:
    """Start another execution every ``delay`` seconds while no answer has come, at most
    ``max_attempts`` extra executions (so at most ``max_attempts + 1`` in flight). Pick
    ``delay`` near a high percentile of normal latency: lower wastes cluster capacity on
    duplicates, higher rarely helps."""

    def __init__(self, delay: float, max_attempts: int) -> None:
        if delay < 0:
            raise ValueError("delay may not be negative")
        if max_attempts < 0:
            raise ValueError("max_attempts may not be negative")
        self.delay = float(delay)
        self.max_attempts = max_attempts

    def new_plan(self, keyspace: str | None, statement: Any) -> SpeculativeExecutionPlan:
        return ConstantSpeculativeExecutionPlan(self.delay, self.max_attempts)
