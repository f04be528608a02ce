"""greencql.pool: connections to hosts, and the pool of connections to one host.

Knows hosts and sockets, not keyspaces' statements or policies. Imports protocol/, hubs/ and
errors.py only; cluster/ builds on :class:`Connection` and :class:`HostPool`.

cassandra-driver applications import ``Host`` and ``HostDistance`` from ``cassandra.pool``;
those live in the cluster layer here, so this package names them in ``_FROM_ABOVE`` and
resolves them on first attribute access (PEP 562). Nothing in pool/ uses them: importing
``greencql.pool`` still imports nothing from cluster/ (tests/compat/test_names.py checks it).
"""

import importlib
from typing import Any

from greencql.errors import AuthenticationFailed, ConnectionException, NoConnectionsAvailable
from greencql.pool.connection import Connection, ConnectionState
from greencql.pool.hostpool import HostPool, PoolListener
from greencql.pool.options import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_HEARTBEAT_TIMEOUT,
    DEFAULT_PORT,
    DEFAULT_REQUEST_TIMEOUT,
    ConnectionOptions,
    ExponentialBackoff,
    PoolOptions,
)

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_HEARTBEAT_TIMEOUT",
    "DEFAULT_PORT",
    "DEFAULT_REQUEST_TIMEOUT",
    "Connection",
    "ConnectionOptions",
    "ConnectionState",
    "ExponentialBackoff",
    "HostPool",
    "PoolListener",
    "PoolOptions",
    # cassandra.pool's names
    "AuthenticationFailed",
    "ConnectionException",
    "NoConnectionsAvailable",
    "Host",
    "HostDistance",
    "EndPoint",
    "DefaultEndPoint",
]

# cassandra.pool names whose home is the cluster layer: resolved on first use, never imported
# by pool/ itself (the import rule "pool/ imports nothing from cluster/" holds for its code).
_FROM_ABOVE = {
    "Host": ("greencql.cluster.host", "Host"),
    "HostDistance": ("greencql.cluster.host", "HostDistance"),
    "EndPoint": ("greencql.cluster.host", "EndPoint"),
    "DefaultEndPoint": ("greencql.cluster.host", "EndPoint"),
}


def __getattr__(name: str) -> Any:
    where = _FROM_ABOVE.get(name)
    if where is None:
        raise AttributeError(f"module 'greencql.pool' has no attribute {name!r}")
    value = getattr(importlib.import_module(where[0]), where[1])
    globals()[name] = value
    return value
