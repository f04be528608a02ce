"""greencql.cluster: the cluster layer (Cluster, Session, statements, policies, results).

Owns nothing itself: it re-exports the names applications use from its modules, so that
``from greencql.cluster import Cluster`` works like ``from cassandra.cluster import Cluster``.
Importing it detects no hub and opens nothing (gunicorn ``--preload`` safe).
"""

from greencql.cluster.cluster import Cluster
from greencql.cluster.control import ControlConnection
from greencql.cluster.host import EndPoint, Host, HostDistance
from greencql.cluster.profiles import EXEC_PROFILE_DEFAULT, ExecutionProfile
from greencql.cluster.results import ResultSet
from greencql.cluster.session import (
    DEFAULT_FETCH_SIZE,
    QueryTrace,
    ResponseFuture,
    Session,
    TraceEvent,
    TraceUnavailable,
)
from greencql.cluster.statements import (
    UNSET_VALUE,
    BatchStatement,
    BatchType,
    BoundStatement,
    PreparedStatement,
    SimpleStatement,
    Statement,
)

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
]
