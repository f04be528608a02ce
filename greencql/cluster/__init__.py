"""greencql.cluster: the cluster layer (Cluster, Session, statements, policies, results).

Owns nothing itself: it re-exports the names applications use from its modules, so that
``from greencql.cluster import Cluster`` works like ``from cassandra.cluster import Cluster``.
Every name ``cassandra.cluster`` offers that greencql supports is here, under the same name
(tests/compat/test_names.py checks the list). Importing it detects no hub and opens nothing
(gunicorn ``--preload`` safe).
"""

from greencql.cluster.cluster import Cluster
from greencql.cluster.control import ControlConnection
from greencql.cluster.host import EndPoint, Host, HostDistance

# -- the rest of cassandra.cluster's names ------------------------------------------------------
from greencql.cluster.host import EndPoint as DefaultEndPoint
from greencql.cluster.literals import Encoder, bind_params
from greencql.cluster.metadata import Metadata, protect_name
from greencql.cluster.murmur3 import murmur3
from greencql.cluster.policies import (
    DCAwareRoundRobinPolicy,
    ExponentialReconnectionPolicy,
    NeverRetryPolicy,
    NoSpeculativeExecutionPlan,
    NoSpeculativeExecutionPolicy,
    RetryPolicy,
    TokenAwarePolicy,
    default_load_balancing_policy,
)
from greencql.cluster.policies.compat import (
    DefaultLoadBalancingPolicy,
    IdentityTranslator,
    SimpleConvictionPolicy,
)
from greencql.cluster.profiles import EXEC_PROFILE_DEFAULT, ExecutionProfile
from greencql.cluster.results import ResultSet
from greencql.cluster.rowfactories import (
    dict_factory,
    named_tuple_factory,
    numpy_columns,
    tuple_factory,
)
from greencql.cluster.session import (
    DEFAULT_FETCH_SIZE,
    QueryTrace,
    ResponseFuture,
    Session,
    TraceEvent,
    TraceUnavailable,
)
from greencql.cluster.statements import (
    FETCH_SIZE_UNSET,
    UNSET_VALUE,
    BatchStatement,
    BatchType,
    BoundStatement,
    PreparedStatement,
    SimpleStatement,
    Statement,
)
from greencql.cluster.timestamps import MonotonicTimestampGenerator
from greencql.errors import (
    AuthenticationFailed,
    ConnectionBusy,
    ConnectionException,
    ConnectionShutdown,
    DependencyException,
    DriverException,
    NoConnectionsAvailable,
    NoHostAvailable,
    OperationTimedOut,
    PreparedQueryNotFound,
    ProtocolException,
    QueryExhausted,
    ServerError,
    TruncateError,
    UnresolvableContactPoints,
    UnsupportedOperation,
    UserTypeDoesNotExist,
)
from greencql.errors import UnsupportedProtocolVersion as ProtocolVersionUnsupported
from greencql.protocol.auth import PlainTextAuthProvider
from greencql.protocol.constants import ConsistencyLevel, ProtocolVersion
from greencql.protocol.constants import SchemaChangeTarget as SchemaTargetType
from greencql.protocol.types import UserType
from greencql.protocol.values import Version

default_lbp_factory = default_load_balancing_policy  # cassandra-driver's name

__all__ = [
    "Cluster",
    "ControlConnection",
    "Session",
    "ResponseFuture",
    "ResultSet",
    "QueryTrace",
    "TraceEvent",
    "TraceUnavailable",
    "DEFAULT_FETCH_SIZE",
    "EXEC_PROFILE_DEFAULT",
    "ExecutionProfile",
    "EndPoint",
    "Host",
    "HostDistance",
    "Statement",
    "SimpleStatement",
    "PreparedStatement",
    "BoundStatement",
    "BatchStatement",
    "BatchType",
    "UNSET_VALUE",
    "FETCH_SIZE_UNSET",
    # the rest of cassandra.cluster's names
    "AuthenticationFailed",
    "ConnectionBusy",
    "ConnectionException",
    "ConnectionShutdown",
    "ConsistencyLevel",
    "DCAwareRoundRobinPolicy",
    "DefaultEndPoint",
    "DefaultLoadBalancingPolicy",
    "DependencyException",
    "DriverException",
    "Encoder",
    "ExponentialReconnectionPolicy",
    "IdentityTranslator",
    "Metadata",
    "MonotonicTimestampGenerator",
    "NeverRetryPolicy",
    "NoConnectionsAvailable",
    "NoHostAvailable",
    "NoSpeculativeExecutionPlan",
    "NoSpeculativeExecutionPolicy",
    "OperationTimedOut",
    "PlainTextAuthProvider",
    "PreparedQueryNotFound",
    "ProtocolException",
    "ProtocolVersion",
    "ProtocolVersionUnsupported",
    "QueryExhausted",
    "RetryPolicy",
    "SchemaTargetType",
    "ServerError",
    "SimpleConvictionPolicy",
    "TokenAwarePolicy",
    "TruncateError",
    "UnresolvableContactPoints",
    "UnsupportedOperation",
    "UserType",
    "UserTypeDoesNotExist",
    "Version",
    "bind_params",
    "default_lbp_factory",
    "dict_factory",
    "murmur3",
    "named_tuple_factory",
    "protect_name",
    "tuple_factory",
    "numpy_columns",
]
