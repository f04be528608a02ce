"""``cassandra.timestamps`` under greencql's name: the client-side timestamp generator.

Owns nothing: it re-exports :mod:`greencql.cluster.timestamps`.
"""

from greencql.cluster.timestamps import MonotonicTimestampGenerator

__all__ = ["MonotonicTimestampGenerator"]
