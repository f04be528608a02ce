"""greencql: a CQL client that lives on the gevent or eventlet hub.

This module re-exports what users may touch; everything else is internal. Importing it opens
nothing and detects no hub: that happens in ``Cluster.connect()``, so an application imported
before gunicorn's worker monkey-patches (``--preload``) still gets the right hub.
"""

__version__ = "0.1.0.dev0"

from greencql.cluster.cluster import Cluster
from greencql.cluster.concurrent import (
    ExecutionResult,
    execute_concurrent,
    execute_concurrent_async,
    execute_concurrent_with_args,
)
from greencql.cluster.host import EndPoint, Host, HostDistance
from greencql.cluster.policies import (
    ConstantReconnectionPolicy,
    ConstantSpeculativeExecutionPolicy,
    DCAwareRoundRobinPolicy,
    DowngradingConsistencyRetryPolicy,
    ExponentialReconnectionPolicy,
    FallthroughRetryPolicy,
    HostFilterPolicy,
    NeverRetryPolicy,
    RackAwareRoundRobinPolicy,
    RequestThrottled,
    RequestThrottler,
    RetryDecision,
    RetryPolicy,
    RoundRobinPolicy,
    TokenAwarePolicy,
)
from greencql.cluster.profiles import EXEC_PROFILE_DEFAULT, ExecutionProfile
from greencql.cluster.results import ResultSet
from greencql.cluster.rowfactories import (
    dict_factory,
    named_tuple_factory,
    ordered_dict_factory,
    tuple_factory,
)
from greencql.cluster.session import (
    QueryTrace,
    ResponseFuture,
    Session,
    TraceUnavailable,
)
from greencql.cluster.statements import (
    UNSET_VALUE,
    BatchStatement,
    BatchType,
    BoundStatement,
    PreparedStatement,
    SimpleStatement,
)
from greencql.errors import (
    AlreadyExists,
    AuthenticationFailed,
    ConfigurationException,
    ConnectionException,
    DriverException,
    InvalidRequest,
    NoHostAvailable,
    OperationTimedOut,
    ReadFailure,
    ReadTimeout,
    ServerException,
    SyntaxException,
    Unauthorized,
    Unavailable,
    Unprepared,
    WriteFailure,
    WriteTimeout,
)
from greencql.protocol.auth import PlainTextAuthProvider
from greencql.protocol.constants import ConsistencyLevel

__all__ = [
    "__version__",
    # cluster and session
    "Cluster",
    "Session",
    "ResponseFuture",
    "ResultSet",
    "QueryTrace",
    "TraceUnavailable",
    "EndPoint",
    "Host",
    "HostDistance",
    "ExecutionProfile",
    "EXEC_PROFILE_DEFAULT",
    "PlainTextAuthProvider",
    # statements
    "SimpleStatement",
    "PreparedStatement",
    "BoundStatement",
    "BatchStatement",
    "BatchType",
    "UNSET_VALUE",
    "ConsistencyLevel",
    # row factories
    "named_tuple_factory",
    "dict_factory",
    "ordered_dict_factory",
    "tuple_factory",
    # concurrency
    "execute_concurrent",
    "execute_concurrent_with_args",
    "execute_concurrent_async",
    "ExecutionResult",
    # policies
    "RoundRobinPolicy",
    "DCAwareRoundRobinPolicy",
    "RackAwareRoundRobinPolicy",
    "TokenAwarePolicy",
    "HostFilterPolicy",
    "RetryPolicy",
    "RetryDecision",
    "FallthroughRetryPolicy",
    "NeverRetryPolicy",
    "DowngradingConsistencyRetryPolicy",
    "ConstantReconnectionPolicy",
    "ExponentialReconnectionPolicy",
    "ConstantSpeculativeExecutionPolicy",
    "RequestThrottler",
    "RequestThrottled",
    # errors
    "DriverException",
    "ServerException",
    "NoHostAvailable",
    "OperationTimedOut",
    "ConnectionException",
    "Unavailable",
    "ReadTimeout",
    "WriteTimeout",
    "ReadFailure",
    "WriteFailure",
    "InvalidRequest",
    "SyntaxException",
    "Unauthorized",
    "ConfigurationException",
    "AlreadyExists",
    "AuthenticationFailed",
    "Unprepared",
]
