"""The cluster layer's policies, all pure: they take host states, counts and ``now`` and return
a plan, a delay or a decision; none reads a clock, sleeps or touches the network.

Owns nothing itself: it re-exports the public names of its modules, so that user code imports
``greencql.cluster.policies.DCAwareRoundRobinPolicy`` the way it imported
``cassandra.policies.DCAwareRoundRobinPolicy``. ``HostDistance`` and ``HostStateListener`` are
re-exported from :mod:`greencql.cluster.host` for the same reason.
"""

from __future__ import annotations

from greencql.cluster.host import HostDistance, HostStateListener
from greencql.cluster.policies.loadbalancing import (
    DCAwareRoundRobinPolicy,
    HostFilterPolicy,
    LoadBalancingPolicy,
    PolicyContext,
    RackAwareRoundRobinPolicy,
    ReplicaLookup,
    RoundRobinPolicy,
    TokenAwarePolicy,
    default_load_balancing_policy,
)
from greencql.cluster.policies.reconnection import (
    ConstantReconnectionPolicy,
    ExponentialReconnectionPolicy,
    Jitter,
    ReconnectionPolicy,
)
from greencql.cluster.policies.retry import (
    DowngradingConsistencyRetryPolicy,
    FallthroughRetryPolicy,
    NeverRetryPolicy,
    RetryDecision,
    RetryPolicy,
    RetryPolicyProtocol,
    RetryVerdict,
    is_retry_safe,
    retry_decision,
)
from greencql.cluster.policies.speculative import (
    ConstantSpeculativeExecutionPlan,
    ConstantSpeculativeExecutionPolicy,
    NoSpeculativeExecutionPlan,
    NoSpeculativeExecutionPolicy,
    SpeculativeExecutionPlan,
    SpeculativeExecutionPolicy,
)
from greencql.cluster.policies.throttling import (
    DEFAULT_MAX_QUEUE_SIZE,
    Admission,
    AdmissionStatus,
    RequestThrottled,
    RequestThrottler,
    Ticket,
)

__all__ = [
    # hosts
    "HostDistance",
    "HostStateListener",
    # load balancing
    "ReplicaLookup",
    "PolicyContext",
    "LoadBalancingPolicy",
    "RoundRobinPolicy",
    "DCAwareRoundRobinPolicy",
    "RackAwareRoundRobinPolicy",
    "TokenAwarePolicy",
    "HostFilterPolicy",
    "default_load_balancing_policy",
    # retry
    "RetryDecision",
    "RetryVerdict",
    "RetryPolicyProtocol",
    "RetryPolicy",
    "FallthroughRetryPolicy",
    "NeverRetryPolicy",
    "DowngradingConsistencyRetryPolicy",
    "is_retry_safe",
    "retry_decision",
    # reconnection
    "Jitter",
    "ReconnectionPolicy",
    "ConstantReconnectionPolicy",
    "ExponentialReconnectionPolicy",
    # speculative execution
    "SpeculativeExecutionPlan",
    "SpeculativeExecutionPolicy",
    "NoSpeculativeExecutionPlan",
    "NoSpeculativeExecutionPolicy",
    "ConstantSpeculativeExecutionPlan",
    "ConstantSpeculativeExecutionPolicy",
    # throttling
    "DEFAULT_MAX_QUEUE_SIZE",
    "RequestThrottled",
    "AdmissionStatus",
    "Admission",
    "Ticket",
    "RequestThrottler",
]
