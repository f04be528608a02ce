"""Execution profiles: the named bundles of per-request settings a session executes with.

Owns: :class:`ExecutionProfile` (load balancing, retry, consistency, serial consistency,
request timeout, row factory, speculative execution) with its ``DEFAULT_*`` values, and the
:data:`EXEC_PROFILE_DEFAULT` key, as in cassandra-driver (``cassandra.cluster``).

Must not: execute anything or build rows. A profile is a value validated on creation; the row
factory is only stored (a name such as ``"named_tuple"`` or a callable) and resolved by the
results module. Policies inside a profile are stateful objects: each profile made without an
explicit load-balancing policy gets its own, and the cluster populates every distinct policy
instance once, however many profiles share it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from greencql.cluster.policies.loadbalancing import (
    LoadBalancingPolicy,
    default_load_balancing_policy,
)
from greencql.cluster.policies.retry import RetryPolicy, RetryPolicyProtocol
from greencql.cluster.policies.speculative import (
    NoSpeculativeExecutionPolicy,
    SpeculativeExecutionPolicy,
)
from greencql.cluster.statements import _check_timeout
from greencql.protocol.constants import ConsistencyLevel

__all__ = [
    "EXEC_PROFILE_DEFAULT",
    "DEFAULT_CONSISTENCY_LEVEL",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_ROW_FACTORY",
    "RowFactory",
    "ExecutionProfile",
]

# cassandra-driver's default: reads and writes stay in the local datacenter and need one
# replica, the cheapest level that never crosses a WAN.
DEFAULT_CONSISTENCY_LEVEL = ConsistencyLevel.LOCAL_ONE
# Seconds the client waits for an answer (cassandra-driver's default); above Cassandra's own
# read/write timeouts (5s/2s) so that a server timeout, which says more, arrives first.
DEFAULT_REQUEST_TIMEOUT = 10.0
# Rows as named tuples, as in cassandra-driver.
DEFAULT_ROW_FACTORY = "named_tuple"

#: a row factory: a name the results module knows, or ``factory(column_names, rows)``
RowFactory = str | Callable[..., Any]


class _DefaultProfileKey:
    """The key of the default profile: a sentinel, so no user profile name can collide."""

    _instance: _DefaultProfileKey | None = None

    def __new__(cls) -> _DefaultProfileKey:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EXEC_PROFILE_DEFAULT"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_DefaultProfileKey, ())


#: ``execution_profiles={EXEC_PROFILE_DEFAULT: ExecutionProfile(...)}`` replaces the default
EXEC_PROFILE_DEFAULT: Any = _DefaultProfileKey()


@dataclass(frozen=True)
class ExecutionProfile:
    """How requests executed with this profile behave.

    ``request_timeout=None`` waits forever (not advised). ``serial_consistency_level``, when
    set, must be SERIAL or LOCAL_SERIAL (it is the level of the paxos phase of conditional
    updates). Speculative execution only ever applies to idempotent statements.
    Use :meth:`replace` to derive a profile; it shares the policy objects of this one.
    """

    load_balancing_policy: LoadBalancingPolicy = field(
        default_factory=default_load_balancing_policy
    )
    retry_policy: RetryPolicyProtocol = field(default_factory=RetryPolicy)
    consistency_level: ConsistencyLevel = DEFAULT_CONSISTENCY_LEVEL
    serial_consistency_level: ConsistencyLevel | None = None
    request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT
    row_factory: RowFactory = DEFAULT_ROW_FACTORY
    speculative_execution_policy: SpeculativeExecutionPolicy = field(
        default_factory=NoSpeculativeExecutionPolicy
    )

    def __post_init__(self) -> None:
        # Accept plain ints and names (cassandra-driver's ConsistencyLevel is plain ints).
        set_ = object.__setattr__
        set_(self, "consistency_level", _consistency(self.consistency_level))
        if self.serial_consistency_level is not None:
            serial = _consistency(self.serial_consistency_level)
            if not serial.is_serial:
                raise ValueError(
                    f"serial_consistency_level must be SERIAL or LOCAL_SERIAL, not {serial.name}"
                )
            set_(self, "serial_consistency_level", serial)
        if self.request_timeout is not None:
            _check_timeout(self.request_timeout, "request_timeout")
            set_(self, "request_timeout", float(self.request_timeout))
        if not (isinstance(self.row_factory, str) or callable(self.row_factory)):
            raise TypeError("row_factory must be a name or a callable")
        for name, method in (
            ("load_balancing_policy", "make_query_plan"),
            ("retry_policy", "on_read_timeout"),
            ("speculative_execution_policy", "new_plan"),
        ):
            if not callable(getattr(getattr(self, name), method, None)):
                raise TypeError(f"{name} has no {method}(): {getattr(self, name)!r}")

    def replace(self, **changes: Any) -> ExecutionProfile:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


def _consistency(value: ConsistencyLevel | int | str) -> ConsistencyLevel:
    if isinstance(value, str):
        try:
            return ConsistencyLevel[value.upper()]
        except KeyError:
            raise ValueError(f"unknown consistency level {value!r}") from None
    return ConsistencyLevel(value)
