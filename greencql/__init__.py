"""greencql: a CQL client that lives on the gevent or eventlet hub.

This module re-exports what users may touch; everything else is internal. Importing it opens
nothing, detects no hub and imports nothing else: each name is imported on first use
(PEP 562), so ``import greencql`` is safe before a program monkey-patches (gunicorn
``--preload``, a demo that patches first) and ``from greencql import Cluster`` still works.
The hub is detected in ``Cluster.connect()``.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

# A library never configures logging: without this, Python's last-resort handler would print
# our WARNINGs (a server's warning, a host going down) on the stderr of an application that
# configured no logging at all. Once the application configures logging, records flow as usual.
logging.getLogger("greencql").addHandler(logging.NullHandler())

if TYPE_CHECKING:
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
        numpy_columns,
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

# name -> module that defines it
_LAZY: dict[str, str] = {
    "Cluster": "greencql.cluster.cluster",
    "ExecutionResult": "greencql.cluster.concurrent",
    "execute_concurrent": "greencql.cluster.concurrent",
    "execute_concurrent_async": "greencql.cluster.concurrent",
    "execute_concurrent_with_args": "greencql.cluster.concurrent",
    "EndPoint": "greencql.cluster.host",
    "Host": "greencql.cluster.host",
    "HostDistance": "greencql.cluster.host",
    "ConstantReconnectionPolicy": "greencql.cluster.policies",
    "ConstantSpeculativeExecutionPolicy": "greencql.cluster.policies",
    "DCAwareRoundRobinPolicy": "greencql.cluster.policies",
    "DowngradingConsistencyRetryPolicy": "greencql.cluster.policies",
    "ExponentialReconnectionPolicy": "greencql.cluster.policies",
    "FallthroughRetryPolicy": "greencql.cluster.policies",
    "HostFilterPolicy": "greencql.cluster.policies",
    "NeverRetryPolicy": "greencql.cluster.policies",
    "RackAwareRoundRobinPolicy": "greencql.cluster.policies",
    "RequestThrottled": "greencql.cluster.policies",
    "RequestThrottler": "greencql.cluster.policies",
    "RetryDecision": "greencql.cluster.policies",
    "RetryPolicy": "greencql.cluster.policies",
    "RoundRobinPolicy": "greencql.cluster.policies",
    "TokenAwarePolicy": "greencql.cluster.policies",
    "EXEC_PROFILE_DEFAULT": "greencql.cluster.profiles",
    "ExecutionProfile": "greencql.cluster.profiles",
    "ResultSet": "greencql.cluster.results",
    "dict_factory": "greencql.cluster.rowfactories",
    "named_tuple_factory": "greencql.cluster.rowfactories",
    "ordered_dict_factory": "greencql.cluster.rowfactories",
    "tuple_factory": "greencql.cluster.rowfactories",
    "numpy_columns": "greencql.cluster.rowfactories",
    "QueryTrace": "greencql.cluster.session",
    "ResponseFuture": "greencql.cluster.session",
    "Session": "greencql.cluster.session",
    "TraceUnavailable": "greencql.cluster.session",
    "UNSET_VALUE": "greencql.cluster.statements",
    "BatchStatement": "greencql.cluster.statements",
    "BatchType": "greencql.cluster.statements",
    "BoundStatement": "greencql.cluster.statements",
    "PreparedStatement": "greencql.cluster.statements",
    "SimpleStatement": "greencql.cluster.statements",
    "AlreadyExists": "greencql.errors",
    "AuthenticationFailed": "greencql.errors",
    "ConfigurationException": "greencql.errors",
    "ConnectionException": "greencql.errors",
    "DriverException": "greencql.errors",
    "InvalidRequest": "greencql.errors",
    "NoHostAvailable": "greencql.errors",
    "OperationTimedOut": "greencql.errors",
    "ReadFailure": "greencql.errors",
    "ReadTimeout": "greencql.errors",
    "ServerException": "greencql.errors",
    "SyntaxException": "greencql.errors",
    "Unauthorized": "greencql.errors",
    "Unavailable": "greencql.errors",
    "Unprepared": "greencql.errors",
    "WriteFailure": "greencql.errors",
    "WriteTimeout": "greencql.errors",
    "PlainTextAuthProvider": "greencql.protocol.auth",
    "ConsistencyLevel": "greencql.protocol.constants",
}

# cassandra/__init__'s other names, so that ``from cassandra import X`` ports as is
_LAZY.update({
    "ProtocolVersion": "greencql.protocol.constants",
    "WriteType": "greencql.protocol.constants",
    "SchemaChangeType": "greencql.protocol.constants",
    "consistency_value_to_name": "greencql.protocol.constants",
    "SchemaTargetType": "greencql.protocol",
    "CDCWriteFailure": "greencql.errors",
    "CoordinationFailure": "greencql.errors",
    "DependencyException": "greencql.errors",
    "FunctionFailure": "greencql.errors",
    "RequestExecutionException": "greencql.errors",
    "RequestValidationException": "greencql.errors",
    "Timeout": "greencql.errors",
    "UnresolvableContactPoints": "greencql.errors",
    "UnsupportedOperation": "greencql.errors",
    "SignatureDescriptor": "greencql.protocol.values",
    "UserFunctionDescriptor": "greencql.protocol.values",
    "UserAggregateDescriptor": "greencql.protocol.values",
    "NullHandler": "logging",
})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'greencql' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    "numpy_columns",
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
__all__ += [
    "ProtocolVersion",
    "WriteType",
    "SchemaChangeType",
    "SchemaTargetType",
    "consistency_value_to_name",
    "CDCWriteFailure",
    "CoordinationFailure",
    "DependencyException",
    "FunctionFailure",
    "RequestExecutionException",
    "RequestValidationException",
    "Timeout",
    "UnresolvableContactPoints",
    "UnsupportedOperation",
    "SignatureDescriptor",
    "UserFunctionDescriptor",
    "UserAggregateDescriptor",
    "NullHandler",
]
