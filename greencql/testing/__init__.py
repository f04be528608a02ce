"""greencql.testing: a simulated Cassandra cluster on real sockets, for tests and demos.

``SimCluster`` runs several nodes (127.0.0.1, 127.0.0.2, ... on one port) that speak the real
native protocol (v3-v5, compression, v5 segments, SASL PLAIN, TLS, events) over one shared
in-memory CQL engine, with fault injection (``node.stop()``, ``pause()``, ``latency``,
``prime(...)``, cut responses, corrupt checksums) and a request log per node
(``node.log.wait_for(...)``). Importing this package starts nothing.
"""

from greencql.testing.cluster import (
    DEFAULT_NUM_TOKENS,
    DEFAULT_PORT,
    DISTINCT_PORTS,
    LOOPBACK_ALIASES,
    SimCluster,
    SimProcess,
)
from greencql.testing.faults import NodeFaults, Prime
from greencql.testing.requestlog import RequestLog, RequestRecord
from greencql.testing.server import SimNode

__all__ = [
    "SimCluster",
    "SimProcess",
    "SimNode",
    "Prime",
    "NodeFaults",
    "RequestLog",
    "RequestRecord",
    "DEFAULT_PORT",
    "DEFAULT_NUM_TOKENS",
    "LOOPBACK_ALIASES",
    "DISTINCT_PORTS",
]
