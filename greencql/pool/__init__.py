"""greencql.pool: connections to hosts, and the pool of connections to one host.

Knows hosts and sockets, not keyspaces' statements or policies. Imports protocol/, hubs/ and
errors.py only; cluster/ builds on :class:`Connection` and :class:`HostPool`.
"""

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
]
