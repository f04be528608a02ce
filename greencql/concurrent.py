"""``cassandra.concurrent`` under greencql's name: many statements with a bounded number in
flight.

Owns nothing: it re-exports :mod:`greencql.cluster.concurrent`.
"""

from greencql.cluster.concurrent import (
    ExecutionResult,
    execute_concurrent,
    execute_concurrent_async,
    execute_concurrent_with_args,
)
from greencql.cluster.results import ResultSet

__all__ = [
    "ExecutionResult",
    "ResultSet",
    "execute_concurrent",
    "execute_concurrent_with_args",
    "execute_concurrent_async",
]
