"""``cassandra.encoder`` under greencql's name: Python values as CQL literals (the ``%s``
parameters of simple statements).

Owns nothing: it re-exports :mod:`greencql.cluster.literals` and the value types of
:mod:`greencql.util`.
"""

from greencql.cluster.literals import Encoder, ValueSequence, cql_quote
from greencql.protocol.types import Date, Time
from greencql.protocol.values import OrderedMap, OrderedMapSerializedKey, sortedset

__all__ = [
    "Encoder",
    "ValueSequence",
    "cql_quote",
    "Date",
    "Time",
    "OrderedMap",
    "OrderedMapSerializedKey",
    "sortedset",
]
