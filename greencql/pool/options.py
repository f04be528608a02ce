"""Settings of one connection and of one host's pool, as frozen values.

Owns :class:`ConnectionOptions`, :class:`PoolOptions`, the ``DEFAULT_*`` constants they use
(each with the reason for its value) and :class:`ExponentialBackoff`, the pool's default
reconnection schedule. Validation happens once, on creation: a connection or pool never
re-checks a setting on the hot path.

Must not: import ``greencql.cluster`` (its reconnection policies are richer, and the cluster
layer injects one: any object with ``new_schedule() -> Iterator[float]`` works), read the
environment, or do IO.
"""

from __future__ import annotations

import random
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from greencql.pool.forksafety import rng as _rng
from greencql.protocol.auth import AuthProvider
from greencql.protocol.constants import (
    DEFAULT_MAX_FRAME_BODY,
    MAX_SUPPORTED_VERSION,
    MIN_SUPPORTED_VERSION,
    SUPPORTED_VERSIONS,
)
from greencql.protocol.streams import MAX_STREAM_IDS
from greencql.protocol.types import DEFAULT_VALUE_TYPES, check_value_types

__all__ = [
    "expected_server_name",
    "DEFAULT_PORT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_REQUEST_TIMEOUT",
    "DEFAULT_HEARTBEAT_INTERVAL",
    "DEFAULT_HEARTBEAT_TIMEOUT",
    "DEFAULT_MAX_STREAMS",
    "DEFAULT_READ_BUFFER_SIZE",
    "DEFAULT_CLOSE_GRACE",
    "DEFAULT_COMPRESSION",
    "DEFAULT_CORE_CONNECTIONS",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_GROW_THRESHOLD",
    "DEFAULT_RECONNECT_BASE_DELAY",
    "DEFAULT_RECONNECT_MAX_DELAY",
    "ConnectionOptions",
    "PoolOptions",
    "ReconnectionSchedule",
    "ExponentialBackoff",
]

#: the CQL native transport port of Cassandra and ScyllaDB
DEFAULT_PORT = 9042
#: TCP connect + TLS + handshake. cassandra-driver's default (5 s): a handshake is a few round
#: trips, so a peer slower than this is dead or drowning, and the caller should try another.
DEFAULT_CONNECT_TIMEOUT = 5.0
#: the client's own per-request timeout when the caller gives none; cassandra-driver's
#: ``Session.default_timeout`` (10 s), a little above Cassandra's own read/write timeouts
#: (5 s / 2 s) so the server's typed timeout normally arrives first.
DEFAULT_REQUEST_TIMEOUT = 10.0
#: an OPTIONS after this much read silence; cassandra-driver's ``idle_heartbeat_interval``.
#: Catches half-open sockets (a peer that vanished without a FIN) long before TCP would.
DEFAULT_HEARTBEAT_INTERVAL = 30.0
#: an unanswered heartbeat makes the connection defunct after this long; cassandra-driver's
#: ``idle_heartbeat_timeout``. A live node answers OPTIONS in microseconds.
DEFAULT_HEARTBEAT_TIMEOUT = 30.0
#: every non-negative v3+ stream id: one connection carries up to 32,768 requests at once,
#: the spec's limit, so one socket per host is enough for nearly every program.
DEFAULT_MAX_STREAMS = MAX_STREAM_IDS
#: the most one read takes: hundreds of small responses per recv; larger frames and v5 segments
#: (up to 128 KiB) take a few reads. Allocated per read, only once data has arrived (green
#: hubs), so an idle connection holds none of it; 64 KiB stays under glibc's mmap threshold, so
#: that allocation comes from the heap instead of costing mmap/munmap system calls per read.
DEFAULT_READ_BUFFER_SIZE = 64 * 1024
#: how long close() lets in-flight requests finish before failing them
DEFAULT_CLOSE_GRACE = 2.0
#: "auto": LZ4 if the lz4 package is importable, else snappy (v3/v4 only), else none
DEFAULT_COMPRESSION = "auto"
#: protocol v3+ multiplexes 32k requests per socket: one connection per host is the norm
#: (cassandra-driver also opens one per host for v3+)
DEFAULT_CORE_CONNECTIONS = 1
#: a second socket only helps when one is saturated (a single reader greenlet or a large
#: response in the way); more than two rarely does on a greenlet program
DEFAULT_MAX_CONNECTIONS = 2
#: in-flight requests on the least busy connection above which another is opened in the
#: background (cassandra-driver's v2 ``max_requests_per_connection`` is 100 with 128 ids;
#: with 32k ids the same ratio is far above what a green program needs, so we grow earlier)
DEFAULT_GROW_THRESHOLD = 2048
#: first reconnection delay to a down host (cassandra-driver: 1 s)
DEFAULT_RECONNECT_BASE_DELAY = 1.0
#: ceiling of the reconnection delay: a host that comes back is noticed within a minute
#: (cassandra-driver's 600 s is long for a web app waiting for its only node)
DEFAULT_RECONNECT_MAX_DELAY = 60.0

_COMPRESSION_NAMES = ("auto", "lz4", "snappy")


@runtime_checkable
class ReconnectionSchedule(Protocol):
    """What the pool needs of a reconnection policy (cluster/policies/reconnection.py's
    policies fit): a fresh iterator of delays in seconds each time a host goes down; when it
    ends, attempts stop."""

    def new_schedule(self) -> Iterator[float]: ...


class ExponentialBackoff:
    """``base * 2**attempt`` capped at ``max_delay``, with "equal" jitter (each delay is
    uniform in [d/2, d]): many pools that lost a host at once do not knock again together,
    and a down host is never retried with near-zero waits. A pure function of the attempt
    number and ``rng``."""

    def __init__(
        self,
        base_delay: float = DEFAULT_RECONNECT_BASE_DELAY,
        max_delay: float = DEFAULT_RECONNECT_MAX_DELAY,
        rng: random.Random | None = None,
    ) -> None:
        if base_delay < 0 or max_delay < base_delay:
            raise ValueError("need 0 <= base_delay <= max_delay")
        self.base_delay = float(base_delay)
        self.max_delay = float(max_delay)
        self._rng = rng

    def delay_for(self, attempt: int) -> float:
        d = min(self.base_delay * 2 ** min(attempt, 62), self.max_delay)
        rng = self._rng or _rng
        return d / 2 + rng.uniform(0.0, d / 2)

    def new_schedule(self) -> Iterator[float]:
        attempt = 0
        while True:
            yield self.delay_for(attempt)
            attempt += 1

    def __repr__(self) -> str:
        return f"ExponentialBackoff(base_delay={self.base_delay}, max_delay={self.max_delay})"


def _positive(name: str, value: float | None, allow_none: bool = False) -> None:
    if value is None:
        if not allow_none:
            raise ValueError(f"{name} may not be None")
        return
    if not value > 0:
        raise ValueError(f"{name} must be > 0, not {value!r}")


def expected_server_name(option: Any, host: str) -> str:
    """The name a node's certificate must carry (and the SNI sent) when connecting to
    ``host``: ``option`` as a name, looked up by address, or called; else the address."""
    if option is None:
        return host
    if isinstance(option, str):
        return option
    name = option.get(host) if isinstance(option, Mapping) else option(host)
    return name or host


@dataclass(frozen=True)
class ConnectionOptions:
    """How to open and run one connection.

    - ``protocol_version``: None negotiates from the highest version down (v5, v4, v3) when
      the server refuses one; a number pins it (no downgrade below it).
    - ``compression``: "auto", "lz4", "snappy" or None (off). v5 compresses with LZ4 only.
    - ``ssl_context`` / ``server_hostname``: TLS, checked as the context says (chain, and the
      host name when ``check_hostname`` is on). The name expected in the certificate (and sent
      as SNI) is the host address, or ``server_hostname``: one name, a mapping
      ``address -> name`` or a callable ``address -> name | None`` (see
      :func:`expected_server_name`).
    - ``auth_provider``: makes one authenticator per connection (PlainTextAuthProvider).
    - ``request_timeout``: the default client timeout of ``send`` (None: wait until the
      answer or the connection's death).
    - ``heartbeat_interval``: None or 0 turns heartbeats off.
    - ``wait_for_stream``: when every stream id is taken, ``send`` waits for one (FIFO,
      within the request's timeout) instead of raising ConnectionBusy.
    - ``value_types``: "driver" (default: the values cassandra-driver returns) or "modern"
      (aware datetimes, ipaddress objects, set/dict; see docs/migrating.md).
    """

    protocol_version: int | None = None
    min_protocol_version: int = MIN_SUPPORTED_VERSION
    compression: str | None = DEFAULT_COMPRESSION
    ssl_context: ssl.SSLContext | None = None
    server_hostname: str | Mapping[str, str] | Callable[[str], str | None] | None = None
    auth_provider: AuthProvider | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    request_timeout: float | None = DEFAULT_REQUEST_TIMEOUT
    heartbeat_interval: float | None = DEFAULT_HEARTBEAT_INTERVAL
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT
    max_streams: int = DEFAULT_MAX_STREAMS
    wait_for_stream: bool = True
    keyspace: str | None = None
    read_buffer_size: int = DEFAULT_READ_BUFFER_SIZE
    max_frame_body: int = DEFAULT_MAX_FRAME_BODY
    close_grace: float = DEFAULT_CLOSE_GRACE
    driver_name: str = "greencql"
    driver_version: str | None = None
    startup_options: Mapping[str, str] = field(default_factory=dict)
    source_address: tuple[str, int] | None = None
    #: the Python values of result rows: "driver" (cassandra-driver's) or "modern"
    value_types: str = DEFAULT_VALUE_TYPES

    def __post_init__(self) -> None:
        if self.protocol_version is not None and self.protocol_version not in SUPPORTED_VERSIONS:
            raise ValueError(
                f"protocol_version must be one of {sorted(SUPPORTED_VERSIONS)} or None, "
                f"not {self.protocol_version!r}"
            )
        if self.min_protocol_version not in SUPPORTED_VERSIONS:
            raise ValueError(f"min_protocol_version {self.min_protocol_version!r} unsupported")
        if self.min_protocol_version > self.first_version:
            raise ValueError("min_protocol_version is above protocol_version")
        if self.compression is not None and self.compression not in _COMPRESSION_NAMES:
            raise ValueError(
                f"compression must be one of {_COMPRESSION_NAMES} or None, not {self.compression!r}"
            )
        check_value_types(self.value_types)
        _positive("connect_timeout", self.connect_timeout)
        _positive("request_timeout", self.request_timeout, allow_none=True)
        if self.heartbeat_interval is not None and self.heartbeat_interval < 0:
            raise ValueError("heartbeat_interval may not be negative")
        _positive("heartbeat_timeout", self.heartbeat_timeout)
        if not 1 <= self.max_streams <= MAX_STREAM_IDS:
            raise ValueError(f"max_streams must be within 1..{MAX_STREAM_IDS}")
        if self.read_buffer_size < 4096:
            raise ValueError("read_buffer_size must be at least 4096")
        _positive("max_frame_body", self.max_frame_body)
        if self.close_grace < 0:
            raise ValueError("close_grace may not be negative")
        if self.ssl_context is not None and not isinstance(self.ssl_context, ssl.SSLContext):
            raise TypeError("ssl_context must be an ssl.SSLContext")

    @property
    def first_version(self) -> int:
        """The protocol version the first attempt uses."""
        return self.protocol_version or MAX_SUPPORTED_VERSION

    @property
    def lowest_version(self) -> int:
        """The lowest version negotiation may fall back to."""
        return self.protocol_version or self.min_protocol_version

    @property
    def heartbeats(self) -> bool:
        return bool(self.heartbeat_interval)

    def replace(self, **changes: Any) -> ConnectionOptions:
        """A copy with ``changes`` applied (validated again)."""
        from dataclasses import replace

        return replace(self, **changes)


@dataclass(frozen=True)
class PoolOptions:
    """How many connections one host gets and how the pool reconnects.

    ``reconnection``: any object with ``new_schedule() -> Iterator[float]`` (the cluster
    layer passes its ReconnectionPolicy); default :class:`ExponentialBackoff`.
    """

    core_connections: int = DEFAULT_CORE_CONNECTIONS
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    grow_threshold: int = DEFAULT_GROW_THRESHOLD
    reconnection: Any = field(default_factory=ExponentialBackoff)

    def __post_init__(self) -> None:
        if self.core_connections < 1:
            raise ValueError("core_connections must be at least 1")
        if self.max_connections < self.core_connections:
            raise ValueError("max_connections must be at least core_connections")
        if self.grow_threshold < 1:
            raise ValueError("grow_threshold must be at least 1")
        if not callable(getattr(self.reconnection, "new_schedule", None)):
            raise TypeError("reconnection must have a new_schedule() method")
