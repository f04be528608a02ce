"""``cassandra.connection`` under greencql's name: end points and connection errors.

Owns nothing: it re-exports :class:`~greencql.cluster.host.EndPoint` (also as
``DefaultEndPoint``, cassandra-driver's name for an address and port), the connection errors
of :mod:`greencql.errors` and :class:`greencql.pool.Connection`. cassandra-driver's reactor
connection classes have no counterpart: greencql's hubs replace them.
"""

from greencql.cluster.host import EndPoint
from greencql.errors import (
    AuthenticationFailed,
    ConnectionBusy,
    ConnectionException,
    ConnectionShutdown,
    InvalidRequest,
    OperationTimedOut,
    ProtocolError,
    ProtocolException,
    ServerException,
)
from greencql.errors import UnsupportedProtocolVersion as ProtocolVersionUnsupported
from greencql.pool.connection import Connection
from greencql.protocol.constants import ConsistencyLevel, ProtocolVersion

DefaultEndPoint = EndPoint
ErrorMessage = ServerException  # cassandra-driver's name for an ERROR from the server
InvalidRequestException = InvalidRequest
#: the CQL version a connection announces in STARTUP
DEFAULT_CQL_VERSION = "3.0.0"

__all__ = [
    "EndPoint",
    "DefaultEndPoint",
    "Connection",
    "ConnectionException",
    "ConnectionShutdown",
    "ConnectionBusy",
    "ProtocolError",
    "ProtocolException",
    "ErrorMessage",
    "InvalidRequestException",
    "ProtocolVersionUnsupported",
    "AuthenticationFailed",
    "OperationTimedOut",
    "ConsistencyLevel",
    "ProtocolVersion",
    "DEFAULT_CQL_VERSION",
]
