"""``cassandra.policies`` under greencql's name: load balancing, retry, reconnection,
speculative execution, conviction and address translation.

Owns nothing: it re-exports :mod:`greencql.cluster.policies` and
:mod:`greencql.cluster.policies.compat`, so that ``from cassandra.policies import ...``
becomes ``from greencql.policies import ...``.
"""

from greencql.cluster.host import HostDistance, HostStateListener
from greencql.cluster.policies import (
    ConstantReconnectionPolicy,
    ConstantSpeculativeExecutionPolicy,
    DCAwareRoundRobinPolicy,
    DowngradingConsistencyRetryPolicy,
    ExponentialReconnectionPolicy,
    FallthroughRetryPolicy,
    HostFilterPolicy,
    LoadBalancingPolicy,
    NeverRetryPolicy,
    NoSpeculativeExecutionPlan,
    NoSpeculativeExecutionPolicy,
    RackAwareRoundRobinPolicy,
    ReconnectionPolicy,
    RetryDecision,
    RetryPolicy,
    RoundRobinPolicy,
    SpeculativeExecutionPlan,
    SpeculativeExecutionPolicy,
    TokenAwarePolicy,
)
from greencql.cluster.policies.compat import (
    AddressTranslator,
    ConvictionPolicy,
    DefaultLoadBalancingPolicy,
    EC2MultiRegionTranslator,
    IdentityTranslator,
    SimpleConvictionPolicy,
    WhiteListRoundRobinPolicy,
    WrapperPolicy,
)
from greencql.errors import OperationTimedOut
from greencql.protocol.constants import ConsistencyLevel, WriteType

WT = WriteType  # cassandra-driver's short alias

__all__ = [
    "HostDistance",
    "HostStateListener",
    "LoadBalancingPolicy",
    "RoundRobinPolicy",
    "DCAwareRoundRobinPolicy",
    "RackAwareRoundRobinPolicy",
    "TokenAwarePolicy",
    "HostFilterPolicy",
    "WhiteListRoundRobinPolicy",
    "WrapperPolicy",
    "DefaultLoadBalancingPolicy",
    "ConvictionPolicy",
    "SimpleConvictionPolicy",
    "ReconnectionPolicy",
    "ConstantReconnectionPolicy",
    "ExponentialReconnectionPolicy",
    "RetryPolicy",
    "RetryDecision",
    "FallthroughRetryPolicy",
    "NeverRetryPolicy",
    "DowngradingConsistencyRetryPolicy",
    "SpeculativeExecutionPlan",
    "SpeculativeExecutionPolicy",
    "NoSpeculativeExecutionPlan",
    "NoSpeculativeExecutionPolicy",
    "ConstantSpeculativeExecutionPolicy",
    "AddressTranslator",
    "IdentityTranslator",
    "EC2MultiRegionTranslator",
    "ConsistencyLevel",
    "WriteType",
    "WT",
    "OperationTimedOut",
]
