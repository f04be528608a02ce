"""``cassandra.query`` under greencql's name: statements, row factories, tracing.

Owns nothing: it re-exports the real homes in :mod:`greencql.cluster`, so that
``from cassandra.query import SimpleStatement, dict_factory`` becomes
``from greencql.query import SimpleStatement, dict_factory``.
"""

from greencql.cluster.literals import Encoder, ValueSequence, bind_params
from greencql.cluster.rowfactories import (
    dict_factory,
    named_tuple_factory,
    numpy_columns,
    ordered_dict_factory,
    tuple_factory,
)
from greencql.cluster.session import QueryTrace, TraceEvent, TraceUnavailable
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
from greencql.errors import OperationTimedOut
from greencql.protocol.constants import ConsistencyLevel
from greencql.protocol.values import unix_time_from_uuid1

__all__ = [
    "Statement",
    "SimpleStatement",
    "PreparedStatement",
    "BoundStatement",
    "BatchStatement",
    "BatchType",
    "UNSET_VALUE",
    "FETCH_SIZE_UNSET",
    "ConsistencyLevel",
    "QueryTrace",
    "TraceEvent",
    "TraceUnavailable",
    "OperationTimedOut",
    "Encoder",
    "ValueSequence",
    "bind_params",
    "named_tuple_factory",
    "dict_factory",
    "ordered_dict_factory",
    "tuple_factory",
    "numpy_columns",
    "unix_time_from_uuid1",
]
