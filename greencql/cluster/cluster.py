"""The Cluster: configuration, the hosts and their states, and the sessions made from it.

Owns :class:`Cluster` (cassandra-driver's entry point: ``Cluster(contact_points, port, ...)``,
``connect(keyspace) -> Session``, ``shutdown()``, ``register_listener``, ``metadata``,
execution profiles), the resolution of contact points, the registry of prepared statements
(for re-preparing on UNPREPARED), and the fan-out of host events: a host added, removed, up or
down is told to every load-balancing policy, every session (which opens or closes its pool)
and every registered listener, in that order.

It also owns the life of a Cluster across ``os.fork()``: a Cluster (and its sessions) made in
one process works in every forked child. The first use in a child (a pid that differs from the
one the Cluster last ran in: execute, prepare, connect, metadata, refresh_*, shutdown) runs
:meth:`Cluster._after_fork`, which rebuilds everything bound to the process: the hub is
detected again (gunicorn ``-k gevent`` imports the application in the unpatched master, so a
Cluster made there ran on threads and its child is green), the control connection and every
session's pools are made anew on that hub (the inherited connections were cut off by
:mod:`greencql.pool.forksafety` without a byte written; the inherited timers were dropped by
the timer wheel's own fork hook), the throttler starts empty, and the Cluster's, its
metadata's and its sessions' locks (a parent's thread may have held one at the fork) are
replaced. Metadata, prepared statements (prepared again lazily, on
UNPREPARED), execution profiles and policies are kept. The rebuild never switches greenlets
(it only swaps objects and spawns the connects), so one process-wide real lock serialises it
on every hub; requests issued meanwhile wait for the new pools (see ``Session``).

It must not: execute requests (sessions do), speak to the control host itself (the
:class:`~greencql.cluster.control.ControlConnection` does), or detect the hub before
:meth:`Cluster.connect` (gunicorn ``--preload`` imports the application, and may create its
Cluster, before the worker patches).
"""

from __future__ import annotations

import _thread
import logging
import os
import ssl
import threading
import warnings
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from greencql.cluster.control import (
    ControlConnection,
    PeerInfo,
    _unable_to_connect,
    apply_peer_addresses,
    host_from_peer,
)
from greencql.cluster.host import DEFAULT_PORT, EndPoint, Host, HostDistance
from greencql.cluster.metadata import Metadata
from greencql.cluster.metrics import Metrics
from greencql.cluster.policies.compat import IdentityTranslator, SimpleConvictionPolicy
from greencql.cluster.policies.loadbalancing import LoadBalancingPolicy, PolicyContext
from greencql.cluster.policies.reconnection import ExponentialReconnectionPolicy
from greencql.cluster.policies.throttling import RequestThrottler
from greencql.cluster.profiles import (
    EXEC_PROFILE_DEFAULT,
    ExecutionProfile,
)
from greencql.cluster.session import (
    DEFAULT_PREPARED_STATEMENT_CACHE_SIZE,
    Session,
    run_together,
)
from greencql.cluster.statements import PreparedStatement
from greencql.cluster.timestamps import MonotonicTimestampGenerator
from greencql.cluster.tls import tls_settings
from greencql.errors import (
    ConnectionException,
    DriverException,
    InvalidRequest,
    NoHostAvailable,
    UnresolvableContactPoints,
    UserTypeDoesNotExist,
)
from greencql.pool import forksafety
from greencql.protocol.constants import SUPPORTED_VERSIONS
from greencql.protocol.rows import register_user_type
from greencql.protocol.types import DEFAULT_VALUE_TYPES, check_value_types

__all__ = [
    "Cluster",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_CONTROL_CONNECTION_TIMEOUT",
    "DEFAULT_MAX_SCHEMA_AGREEMENT_WAIT",
    "DEFAULT_EVENT_REFRESH_WINDOW",
    "DEFAULT_IDLE_HEARTBEAT_INTERVAL",
]

_log = logging.getLogger("greencql.cluster")

#: seconds for TCP + TLS + handshake of one connection (cassandra-driver's default)
DEFAULT_CONNECT_TIMEOUT = 5.0
#: seconds the control connection waits for a system-table query (cassandra-driver: 2 s);
#: these are small local reads, so longer means the host is in trouble
DEFAULT_CONTROL_CONNECTION_TIMEOUT = 2.0
#: seconds a DDL waits for every node to report the same schema version (cassandra-driver)
DEFAULT_MAX_SCHEMA_AGREEMENT_WAIT = 10.0
#: seconds a burst of topology or schema events is coalesced before one refresh; short,
#: because a client that just ran DDL wants to see it, long enough to merge a burst
#: (cassandra-driver uses 2 s for both, which makes tests and interactive use sluggish)
DEFAULT_EVENT_REFRESH_WINDOW = 0.2
#: seconds of silence before a connection sends a heartbeat (cassandra-driver's default)
DEFAULT_IDLE_HEARTBEAT_INTERVAL = 30.0

_DEFAULT_CONTACT_POINTS = ("127.0.0.1",)
_UNSET: Any = object()

_current_pid = forksafety.current_pid

# Serialises the rebuilds after a fork (several threads of a gthread worker may make their
# first request at once). A real lock on every hub: the rebuild never switches greenlets, so
# a green program never waits on it. Replaced in a forked child, where a parent's thread may
# have held it at the fork.
_fork_lock = _thread.RLock()


def _new_fork_lock() -> None:
    global _fork_lock
    _fork_lock = _thread.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_fork_lock)


def _compression_setting(value: Any) -> str | None:
    """cassandra-driver's ``compression=True|False|'lz4'|'snappy'`` as the pool's setting."""
    if value is True or value == "auto":
        return "auto"
    if value is False or value is None:
        return None
    if value in ("lz4", "snappy"):
        return str(value)
    raise ValueError(f"compression must be True, False, 'lz4' or 'snappy', not {value!r}")


class Cluster:
    """A Cassandra or ScyllaDB cluster to connect to; cassandra-driver's ``Cluster``.

    ``contact_points``: names or addresses (``"host"``, ``"host:port"``, ``"[v6]:port"``,
    :class:`EndPoint`) of a few nodes to discover the rest from. ``protocol_version``: None
    negotiates (v5, else v4, else v3). ``load_balancing_policy``, ``retry_policy``,
    ``speculative_execution_policy``, ``default_timeout`` and ``default_consistency_level``
    shape the default execution profile (or pass ``execution_profiles`` instead, keyed by
    name; :data:`EXEC_PROFILE_DEFAULT` replaces the default). ``reconnection_policy`` paces
    reconnection to down hosts (and of the control connection). ``hub``: a hub name or object;
    None detects it at :meth:`connect` time. ``request_throttler``: a session-wide
    :class:`~greencql.cluster.policies.RequestThrottler` (each session gets its own copy of
    its limits). ``prepared_statement_cache_size``: prepared statements each session
    remembers by text (LRU; an evicted one still executes, and ``prepare()`` prepares it
    again). Use as a context manager to shut down on exit.
    """

    def __init__(
        self,
        contact_points: Iterable[str | EndPoint] | str = _DEFAULT_CONTACT_POINTS,
        port: int = DEFAULT_PORT,
        *,
        protocol_version: int | None = None,
        compression: Any = True,
        auth_provider: Any = None,
        ssl_context: ssl.SSLContext | None = None,
        ssl_options: Mapping[str, Any] | None = None,
        load_balancing_policy: LoadBalancingPolicy | None = None,
        retry_policy: Any = None,
        default_retry_policy: Any = None,
        reconnection_policy: Any = None,
        speculative_execution_policy: Any = None,
        default_timeout: float | None = _UNSET,
        default_consistency_level: Any = None,
        execution_profiles: Mapping[Any, ExecutionProfile] | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        control_connection_timeout: float = DEFAULT_CONTROL_CONNECTION_TIMEOUT,
        max_schema_agreement_wait: float = DEFAULT_MAX_SCHEMA_AGREEMENT_WAIT,
        schema_event_refresh_window: float = DEFAULT_EVENT_REFRESH_WINDOW,
        topology_event_refresh_window: float = DEFAULT_EVENT_REFRESH_WINDOW,
        idle_heartbeat_interval: float | None = DEFAULT_IDLE_HEARTBEAT_INTERVAL,
        idle_heartbeat_timeout: float = DEFAULT_IDLE_HEARTBEAT_INTERVAL,
        schema_metadata_enabled: bool = True,
        token_metadata_enabled: bool = True,
        prepare_on_all_hosts: bool = True,
        reprepare_on_up: bool = True,
        timestamp_generator: Any = _UNSET,
        request_throttler: RequestThrottler | None = None,
        prepared_statement_cache_size: int = DEFAULT_PREPARED_STATEMENT_CACHE_SIZE,
        core_connections: int = 1,
        max_connections: int = 2,
        hub: Any = None,
        value_types: str = DEFAULT_VALUE_TYPES,
        metrics_enabled: bool = False,
        address_translator: Any = None,
        conviction_policy_factory: Any = None,
        allow_beta_protocol_version: bool = False,
        sockopts: Any = None,
        cql_version: str | None = None,
        connection_class: Any = None,
        executor_threads: int | None = None,
        status_event_refresh_window: float = DEFAULT_EVENT_REFRESH_WINDOW,
        application_name: str | None = None,
        application_version: str | None = None,
        client_id: Any = None,
        no_compact: bool = False,
        connect_to_remote_hosts: bool = True,
    ) -> None:
        if isinstance(contact_points, (str, EndPoint)):
            contact_points = [contact_points]
        self.contact_points: list[str | EndPoint] = list(contact_points)
        # as cassandra-driver: an empty list is accepted, and connect() then raises
        # NoHostAvailable("Unable to connect to any servers", {}); None is refused at once
        if any(cp is None for cp in self.contact_points):
            raise ValueError("contact_points should not contain None (it can resolve to "
                             "localhost)")
        if not 0 < int(port) < 65536:
            raise ValueError(f"port out of range: {port!r}")
        self.port = int(port)
        if protocol_version is not None and protocol_version not in SUPPORTED_VERSIONS:
            raise ValueError(
                f"protocol_version must be one of {sorted(SUPPORTED_VERSIONS)} or None "
                f"(negotiate), not {protocol_version!r}"
            )
        #: the protocol version in use: the requested one, or the negotiated one after connect
        self.protocol_version: int | None = protocol_version
        self._requested_version = protocol_version
        self.compression = _compression_setting(compression)
        if auth_provider is not None and not callable(getattr(auth_provider, "new_authenticator",
                                                              None)):
            raise TypeError("auth_provider must have new_authenticator() "
                            "(e.g. greencql.PlainTextAuthProvider)")
        self.auth_provider = auth_provider
        #: cassandra-driver's dictionary form; see greencql.cluster.tls for what is checked
        self.ssl_options = dict(ssl_options) if ssl_options is not None else None
        self.ssl_context, self._server_hostname = tls_settings(ssl_context, ssl_options)
        for name, value in (("connect_timeout", connect_timeout),
                            ("control_connection_timeout", control_connection_timeout)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")
        if not max_schema_agreement_wait >= 0:  # also NaN
            raise ValueError("max_schema_agreement_wait may not be negative")
        self.connect_timeout = float(connect_timeout)
        self.control_connection_timeout = float(control_connection_timeout)
        self.max_schema_agreement_wait = float(max_schema_agreement_wait)
        self.schema_event_refresh_window = float(schema_event_refresh_window)
        self.topology_event_refresh_window = float(topology_event_refresh_window)
        self.idle_heartbeat_interval = idle_heartbeat_interval
        self.idle_heartbeat_timeout = idle_heartbeat_timeout
        self.schema_metadata_enabled = schema_metadata_enabled
        self.token_metadata_enabled = token_metadata_enabled
        self.prepare_on_all_hosts = prepare_on_all_hosts
        self.reprepare_on_up = reprepare_on_up
        if reconnection_policy is None:
            # 1 s doubling to a minute, jittered: a restarted node is back within seconds,
            # and a long outage costs one attempt a minute per session
            reconnection_policy = ExponentialReconnectionPolicy(1.0, 60.0)
        if not callable(getattr(reconnection_policy, "new_schedule", None)):
            raise TypeError("reconnection_policy must have new_schedule()")
        self.reconnection_policy = reconnection_policy
        self.timestamp_generator = (
            MonotonicTimestampGenerator() if timestamp_generator is _UNSET else timestamp_generator
        )
        self._throttler_template = request_throttler
        if isinstance(prepared_statement_cache_size, bool) or not isinstance(
                prepared_statement_cache_size, int) or prepared_statement_cache_size < 0:
            raise ValueError("prepared_statement_cache_size must be an int >= 0 (0: no cache), "
                             f"not {prepared_statement_cache_size!r}")
        #: statements each session remembers by text (least recently prepared evicted first)
        self.prepared_statement_cache_size = prepared_statement_cache_size
        if core_connections < 1 or max_connections < core_connections:
            raise ValueError("need 1 <= core_connections <= max_connections")
        self.core_connections = core_connections
        self.max_connections = max_connections
        self._hub_setting = hub
        self.hub: Any = None
        self._profiles = self._build_profiles(
            execution_profiles,
            load_balancing_policy=load_balancing_policy,
            retry_policy=retry_policy or default_retry_policy,
            speculative_execution_policy=speculative_execution_policy,
            default_timeout=default_timeout,
            default_consistency_level=default_consistency_level,
        )
        self._metadata = Metadata()
        self.control_connection: ControlConnection | None = None
        self._prepared_statements: weakref.WeakValueDictionary[bytes, PreparedStatement] = (
            weakref.WeakValueDictionary()
        )
        self._sessions: weakref.WeakSet[Session] = weakref.WeakSet()
        self._listeners: list[Any] = []
        self._lock = threading.RLock()
        self._connected = False
        self.is_shutdown = False
        self._contact_endpoints: tuple[EndPoint, ...] = ()
        #: the Python values of result rows: "driver" (cassandra-driver's, the default) or
        #: "modern" (aware UTC datetimes, ipaddress objects, set/dict); docs/migrating.md
        self.value_types = check_value_types(value_types)
        # given execution profiles: the legacy session settings (session.row_factory = ...)
        # are refused, as in cassandra-driver
        self._explicit_profiles = bool(execution_profiles)
        self._init_compat(metrics_enabled, address_translator, conviction_policy_factory,
                          allow_beta_protocol_version, sockopts, cql_version)
        # cassandra-driver's reactor choice, as a hub (greencql.io's marker classes)
        self.connection_class = connection_class
        if connection_class is not None:
            reactor_hub = getattr(connection_class, "hub", None)
            if not isinstance(reactor_hub, str):
                raise TypeError("connection_class must be one of greencql.io's reactor names "
                                "(e.g. greencql.io.geventreactor.GeventConnection)")
            if hub is None:
                self._hub_setting = reactor_hub
        #: accepted and unused: greencql runs no executor threads (callbacks run on the hub)
        self.executor_threads = executor_threads
        #: accepted for compatibility: STATUS_CHANGE events are acted on at once (a node
        #: reported up is reconnected to now; a node reported down waits for its pool)
        self.status_event_refresh_window = float(status_event_refresh_window)
        #: kept for applications that read it; which hosts get pools is the load-balancing
        #: policy's distance (IGNORED: none)
        self.connect_to_remote_hosts = bool(connect_to_remote_hosts)
        self.application_name = application_name
        self.application_version = application_version
        #: hosts that answer again and are being given the prepared statements before they
        #: are marked up (see _host_up)
        self._coming_up: set[Host] = set()
        self.client_id = client_id
        self.no_compact = bool(no_compact)
        # sent in STARTUP, as cassandra-driver sends them
        if application_name:
            self._startup_options["APPLICATION_NAME"] = application_name
        if application_version:
            self._startup_options["APPLICATION_VERSION"] = application_version
        if client_id is not None:
            self._startup_options["CLIENT_ID"] = str(client_id)
        if no_compact:
            self._startup_options["NO_COMPACT"] = "true"

        #: the process this Cluster last ran in (see the module docstring on forks)
        self._pid = _current_pid()

    @property
    def metadata(self) -> Metadata:
        """The cluster's hosts, schema and token map (cassandra-driver's ``metadata``)."""
        if self._pid != _current_pid():
            self._after_fork()
        return self._metadata

    # -- forks -------------------------------------------------------------------------------

    def _check_fork(self) -> None:
        """Rebuild what belongs to the process if this is a forked child's first use."""
        if self._pid != _current_pid():
            self._after_fork()

    def _after_fork(self) -> None:
        """First use in a forked child: make every process-bound part anew (see the module
        docstring). Never switches greenlets; connects happen in spawned tasks."""
        with _fork_lock:
            pid = _current_pid()
            if self._pid == pid or self._rebuilding:
                return  # done by another thread of this child, or re-entered
            self._rebuilding = True
            try:
                self._rebuild(pid)
            finally:
                # only now: until the new pools exist, other threads wait on the lock
                self._rebuilding = False
                self._pid = pid

    def _rebuild(self, pid: int) -> None:
        """The rebuild itself (under the fork lock): see the module docstring."""
        _log.info("process %d forked from the one this Cluster ran in: rebuilding its "
                  "connections", pid)
        # a parent's thread may have held these at the fork: new ones, of this hub's kind
        self._lock = threading.RLock()
        self._metadata._lock = threading.RLock()
        self._coming_up = set()  # the parent's repreparing tasks are not this process's
        old_control, self.control_connection = self.control_connection, None
        if old_control is not None:
            old_control._abandon_after_fork()
        live = self._connected and not self.is_shutdown
        if live:
            self.hub = self._choose_hub()
            control = ControlConnection(self)
            self.control_connection = control
            control._start_reconnect()
        for session in list(self._sessions):
            session._after_fork(self.hub, reconnect=live)

    _rebuilding = False  # set while _after_fork runs

    # -- configuration -----------------------------------------------------------------------

    @staticmethod
    def _build_profiles(
        profiles: Mapping[Any, ExecutionProfile] | None, **legacy: Any
    ) -> dict[Any, ExecutionProfile]:
        out = dict(profiles or {})
        for name, profile in out.items():
            if not isinstance(profile, ExecutionProfile):
                raise TypeError(f"execution profile {name!r} is not an ExecutionProfile")
        changes = {}
        if legacy["load_balancing_policy"] is not None:
            changes["load_balancing_policy"] = legacy["load_balancing_policy"]
        if legacy["retry_policy"] is not None:
            changes["retry_policy"] = legacy["retry_policy"]
        if legacy["speculative_execution_policy"] is not None:
            changes["speculative_execution_policy"] = legacy["speculative_execution_policy"]
        if legacy["default_timeout"] is not _UNSET:
            changes["request_timeout"] = legacy["default_timeout"]
        if legacy["default_consistency_level"] is not None:
            changes["consistency_level"] = legacy["default_consistency_level"]
        if EXEC_PROFILE_DEFAULT in out:
            if changes:
                raise ValueError(
                    "give either an EXEC_PROFILE_DEFAULT execution profile or the legacy "
                    f"parameters {sorted(changes)}, not both"
                )
        else:
            out[EXEC_PROFILE_DEFAULT] = ExecutionProfile(**changes)
        return out

    @property
    def profile_manager(self) -> Mapping[Any, ExecutionProfile]:
        return dict(self._profiles)

    def _profile(self, name: Any) -> ExecutionProfile:
        if isinstance(name, ExecutionProfile):
            return name
        try:
            return self._profiles[name]
        except KeyError:
            raise ValueError(
                f"no execution profile named {name!r}; known: "
                f"{[k for k in self._profiles if k is not EXEC_PROFILE_DEFAULT]}"
            ) from None

    def add_execution_profile(self, name: Any, profile: ExecutionProfile) -> None:
        """Add a profile after connect (its load-balancing policy is populated now)."""
        if name in self._profiles:
            raise ValueError(f"execution profile {name!r} already exists")
        self._profiles[name] = profile
        if self._connected:
            self._populate(profile.load_balancing_policy)
            for session in list(self._sessions):
                session._update_pools()

    @property
    def default_request_timeout(self) -> float | None:
        return self._profiles[EXEC_PROFILE_DEFAULT].request_timeout

    @property
    def request_throttler(self) -> RequestThrottler | None:
        """A fresh throttler with the configured limits (one per session), or None."""
        t = self._throttler_template
        if t is None:
            return None
        return RequestThrottler(
            t.max_concurrent_requests,
            t.max_requests_per_second,
            burst=t.burst,
            max_queue_size=t.max_queue_size,
            max_wait=t.max_wait,
        )

    def _policies(self) -> list[Any]:
        seen: dict[int, Any] = {}
        for profile in self._profiles.values():
            policy = profile.load_balancing_policy
            seen.setdefault(id(policy), policy)
        return list(seen.values())

    def _connection_options(self, keyspace: str | None) -> Any:
        from greencql.pool.options import ConnectionOptions

        return ConnectionOptions(
            protocol_version=self.protocol_version,
            compression=self.compression,
            ssl_context=self.ssl_context,
            server_hostname=self._server_hostname,
            auth_provider=self.auth_provider,
            connect_timeout=self.connect_timeout,
            # the session owns request timeouts (one deadline over all retries) and always
            # passes one; a connection-level default would only add a second clock
            request_timeout=None,
            heartbeat_interval=self.idle_heartbeat_interval,
            heartbeat_timeout=self.idle_heartbeat_timeout,
            keyspace=keyspace,
            value_types=self.value_types,
            startup_options=self._startup_options,
        )

    def _new_pool(self, session: Session, host: Host, keyspace: str | None) -> Any:
        """A pool for ``session`` to ``host`` that reports up/down to this cluster."""
        return _SessionPool(self, host, keyspace)

    def _pool_options(self) -> Any:
        from greencql.pool.options import PoolOptions

        return PoolOptions(
            core_connections=self.core_connections,
            max_connections=self.max_connections,
            reconnection=self.reconnection_policy,
        )

    # -- connecting --------------------------------------------------------------------------

    def connect(self, keyspace: str | None = None, wait_for_all_pools: bool = False) -> Session:
        """Connect (the first time: control connection, topology, schema) and return a new
        :class:`Session`, using ``keyspace`` if given. Raises NoHostAvailable naming each
        contact point and why it failed."""
        self._check_fork()
        if self.is_shutdown:
            raise DriverException("the cluster is shut down; create a new Cluster")
        with self._lock:
            if not self._connected:
                self._connect_control()
        if keyspace is not None:
            self._check_keyspace(keyspace)
        session = Session(self, keyspace, self.hub)
        self._sessions.add(session)
        try:
            session._open_pools(wait_for_all_pools)
        except BaseException:
            session.shutdown()
            raise
        return session

    def _check_keyspace(self, keyspace: str) -> None:
        """A keyspace that does not exist is the caller's mistake, not a failure of the hosts:
        raise InvalidRequest before any pool tries ``USE`` (which would mark every host down
        and end in NoHostAvailable). Known from the schema metadata, else asked of the server;
        when neither can tell, the pools report what they find."""
        if keyspace in self.metadata.keyspaces:
            return
        control = self.control_connection
        if control is None:
            return
        try:
            exists = control.keyspace_exists(keyspace)
        except DriverException as exc:
            _log.debug("could not check that keyspace %r exists: %s", keyspace, exc)
            return
        if not exists:
            raise InvalidRequest(f"Keyspace '{keyspace}' does not exist")

    def _choose_hub(self) -> Any:
        from greencql.hubs import get_hub

        setting = self._hub_setting
        return setting if setting is not None and not isinstance(setting, str) else get_hub(
            setting
        )

    def _connect_control(self) -> None:
        self.hub = self._choose_hub()
        endpoints, errors = self._resolve_contact_points()
        self._contact_endpoints = tuple(endpoints)
        if not endpoints:
            error = _unable_to_connect(errors)
            if errors:  # every contact point failed to resolve (cassandra-driver's error)
                raise UnresolvableContactPoints(str(error.args[0]), dict(errors))
            raise error
        control = ControlConnection(self)
        self.control_connection = control
        try:
            control.connect(endpoints, errors)
        except BaseException:
            control.shutdown()
            self.control_connection = None
            raise
        control_host = self.metadata.get_host(control.host_endpoint)  # type: ignore[arg-type]
        if control_host is not None:
            control_host.set_up()
        for policy in self._policies():
            self._populate(policy)
        self._connected = True

    def _populate(self, policy: Any) -> None:
        hosts = self.metadata.all_hosts()
        control = self.control_connection
        if control is not None and control.host_endpoint is not None:
            # the control host first: DC inference falls back to the first known host
            hosts.sort(key=lambda h: h.endpoint != control.host_endpoint)
        lookup = self.metadata.get_replicas if self.token_metadata_enabled else None
        policy.populate(hosts, PolicyContext(self._contact_endpoints, lookup))

    def _resolve_contact_points(self) -> tuple[list[EndPoint], dict[Any, BaseException]]:
        hub = self.hub
        endpoints: list[EndPoint] = []
        errors: dict[Any, BaseException] = {}
        for cp in self.contact_points:
            endpoint = cp if isinstance(cp, EndPoint) else EndPoint.parse(str(cp), self.port)
            try:
                infos = hub.getaddrinfo(endpoint.address, endpoint.port)
            except OSError as exc:
                errors[str(cp)] = ConnectionException(
                    f"cannot resolve {endpoint.address!r}: {exc}", host=str(cp)
                )
                continue
            for info in infos:
                address = info[4][0]
                resolved = EndPoint(address, endpoint.port)
                if resolved not in endpoints:
                    endpoints.append(resolved)
        return endpoints, errors

    def _negotiated(self, version: int) -> None:
        if self.protocol_version != version:
            if self.protocol_version is not None:
                _log.info("protocol version: v%d (was v%d)", version, self.protocol_version)
            self.protocol_version = version

    def _control_host_candidates(self, previous: EndPoint | None) -> list[EndPoint]:
        """Where the control connection may go next: up hosts in load-balancing order, then
        other known hosts, then the contact points; the host it just lost last."""
        policy = self._profiles[EXEC_PROFILE_DEFAULT].load_balancing_policy
        out: list[EndPoint] = [h.endpoint for h in policy.make_query_plan(None, None)]
        out += [h.endpoint for h in self.metadata.all_hosts() if h.is_up is not False]
        out += [h.endpoint for h in self.metadata.all_hosts()]
        out += list(self._contact_endpoints)
        ordered = [e for e in dict.fromkeys(out) if e != previous]
        if previous is not None:
            ordered.append(previous)
        return ordered

    # -- topology ----------------------------------------------------------------------------

    def _topology_refreshed(
        self, local: PeerInfo | None, peers: Sequence[PeerInfo], partitioner: str | None
    ) -> None:
        metadata = self.metadata
        seen: set[EndPoint] = set()
        added: list[Host] = []
        for info in ([local] if local is not None else []) + list(peers):
            seen.add(info.endpoint)
            host, is_new = metadata.add_or_return_host(host_from_peer(info))
            if is_new:
                added.append(host)
                continue
            moved = (host.datacenter, host.rack) != (info.datacenter, info.rack)
            if moved and self._connected:
                self._on_remove(host)
                host.set_location_info(info.datacenter, info.rack)
                added.append(host)
            else:
                host.set_location_info(info.datacenter, info.rack)
            host.tokens = info.tokens
            host.host_id = info.host_id
            host.release_version = info.release_version
            apply_peer_addresses(host, info)
        removed = [h for h in metadata.all_hosts() if h.endpoint not in seen]
        for host in removed:
            metadata.remove_host(host)
        if self.token_metadata_enabled:
            metadata.rebuild_token_map(partitioner)
        if self._connected:
            for host in removed:
                self._on_remove(host)
            for host in added:
                self._on_add(host)

    def _on_add(self, host: Host) -> None:
        _log.info("host %s added (%s/%s)", host, host.datacenter, host.rack)
        for policy in self._policies():
            policy.on_add(host)
        for session in list(self._sessions):
            session._add_pool(host)
        self._notify("on_add", host)

    def _on_remove(self, host: Host) -> None:
        _log.info("host %s removed", host)
        for policy in self._policies():
            policy.on_remove(host)
        for session in list(self._sessions):
            session._remove_pool(host)
        self._notify("on_remove", host)

    def _on_status_event(self, up: bool, endpoint: EndPoint) -> None:
        """STATUS_CHANGE from the control host. UP: reconnect at once instead of waiting for
        the backoff. DOWN is only a hint (the node may be down for the control host and
        fine for us): pools notice a dead host by themselves."""
        host = self.metadata.get_host(endpoint)
        if host is None:
            return
        _log.debug("status event: %s %s", endpoint, "UP" if up else "DOWN")
        if up:
            for session in list(self._sessions):
                session._host_up_event(host)
        elif not any(s._has_connections(host) for s in list(self._sessions)):
            # no connection of ours says otherwise: believe the cluster
            self._host_down(host)

    def _host_up(self, host: Host) -> None:
        """A pool connected to ``host``: mark it up and tell everyone (once per transition).

        A host that was down forgot its prepared statements (a restart): it is given them
        first (bounded by connect_timeout) and only then marked up and put back in the query
        plans, as the Java driver does; otherwise every request it coordinates meanwhile is
        answered UNPREPARED and prepares again, a storm of PREPAREs on a node that has just
        started. Requests pinned to it (``host=``) are sent meanwhile."""
        with self._lock:
            if host.is_up is True or host in self._coming_up:
                return
            was_down = host.is_up is False
            reprepare = bool(was_down and self.reprepare_on_up and self._sessions
                             and len(self._prepared_statements))
            if reprepare:
                self._coming_up.add(host)
            else:
                host.set_up()
        if reprepare:
            _log.info("host %s answers again; preparing its statements there", host)
            self.hub.spawn(self._reprepare_then_up, host)
            return
        _log.info("host %s is up", host)
        self._announce_up(host)

    def _reprepare_then_up(self, host: Host) -> None:
        try:
            for session in list(self._sessions):
                session._reprepare_on(host)
        except DriverException as exc:  # a miss only costs an UNPREPARED round trip later
            _log.debug("re-preparing on %s: %s", host, exc)
        with self._lock:
            self._coming_up.discard(host)
            # down again meanwhile (no connection left), or shut down: stays as it is; the
            # pool's next connection brings it up
            if (host.is_up is True or self.is_shutdown
                    or not any(s._has_connections(host) for s in list(self._sessions))):
                return
            host.set_up()
        _log.info("host %s is up", host)
        self._announce_up(host)

    def _announce_up(self, host: Host) -> None:
        for policy in self._policies():
            policy.on_up(host)
        self._notify("on_up", host)

    def _host_down(self, host: Host) -> None:
        """Every connection of a pool to ``host`` failed: mark it down (once per transition)."""
        with self._lock:
            if host.is_up is False or self.is_shutdown:
                return
            host.set_down()
        _log.warning("host %s is down", host)
        for policy in self._policies():
            policy.on_down(host)
        self._notify("on_down", host)

    def _distance(self, host: Host) -> HostDistance:
        """The nearest distance any profile's policy gives ``host`` (it sizes the pool)."""
        best = HostDistance.IGNORED
        for policy in self._policies():
            d = policy.distance(host)
            if d != HostDistance.IGNORED and (best == HostDistance.IGNORED or d < best):
                best = d
        return best

    # -- listeners ---------------------------------------------------------------------------

    def register_listener(self, listener: Any) -> None:
        """Call ``listener.on_up/on_down/on_add/on_remove(host)`` on host changes."""
        with self._lock:
            self._listeners.append(listener)

    def unregister_listener(self, listener: Any) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self, method: str, host: Host) -> None:
        for listener in list(self._listeners):
            fn = getattr(listener, method, None)
            if fn is None:
                continue
            try:
                fn(host)
            except Exception:
                _log.exception("host listener %r.%s(%s) failed", listener, method, host)

    # -- schema ------------------------------------------------------------------------------

    def _on_schema_change_result(self, response: Any, host: Host, deadline: float | None
                                 ) -> bool:
        """After a DDL answered: wait for schema agreement, then refresh what changed, so the
        caller sees its change in ``cluster.metadata`` when execute() returns."""
        control = self.control_connection
        wait = self.max_schema_agreement_wait
        if deadline is not None:
            wait = max(0.0, min(wait, deadline - self.hub.monotonic()))
        if control is not None and control.connection is None:
            control.wait_connected(wait)  # still connecting (e.g. right after a fork)
        if control is None or control.connection is None:
            return False
        agreed = control.wait_for_schema_agreement(wait, self._is_up_endpoint)
        if self.schema_metadata_enabled:
            try:
                control.refresh_schema_change(
                    response.change_type, response.target, response.keyspace, response.name,
                    response.arg_types,
                )
            except DriverException as exc:
                _log.warning("schema refresh after %s failed: %s", response.change_type, exc)
        return agreed

    def _is_up_endpoint(self, endpoint: EndPoint) -> bool:
        host = self.metadata.get_host(endpoint)
        return host is not None and host.is_up is not False

    def refresh_schema_metadata(self, max_schema_agreement_wait: float | None = None) -> None:
        """Wait for schema agreement, then re-read the whole schema."""
        control = self._control()
        control.wait_for_schema_agreement(max_schema_agreement_wait, self._is_up_endpoint)
        control.refresh_schema()

    def refresh_nodes(self) -> None:
        """Re-read system.local and the peers now."""
        self._control().refresh_topology()

    def check_schema_agreement(self) -> bool:
        """Whether every up node reports the same schema version right now."""
        return self._control().wait_for_schema_agreement(0.0001, self._is_up_endpoint)

    def _control(self) -> ControlConnection:
        self._check_fork()
        control = self.control_connection
        if control is not None and control.connection is None:
            control.wait_connected(self.connect_timeout)  # e.g. still connecting after a fork
        if control is None or control.connection is None:
            raise NoHostAvailable("the control connection is not connected", {})
        return control

    # -- cassandra-driver's remaining settings and methods ---------------------------------------

    def _init_compat(self, metrics_enabled: bool, address_translator: Any,
                     conviction_policy_factory: Any, allow_beta_protocol_version: bool,
                     sockopts: Any, cql_version: str | None) -> None:
        #: cassandra-driver's Metrics (request timer, error counters) or None when disabled
        self.metrics_enabled = bool(metrics_enabled)
        self.metrics: Metrics | None = Metrics(self) if metrics_enabled else None
        if address_translator is not None and not callable(
                getattr(address_translator, "translate", None)):
            raise TypeError("address_translator must have translate(addr)")
        #: maps the address a peer advertises to the one this client connects to
        self.address_translator = address_translator or IdentityTranslator()
        #: kept for applications that read it: greencql's pools mark a host down when its
        #: connections fail (cassandra-driver's SimpleConvictionPolicy)
        self.conviction_policy_factory = conviction_policy_factory or SimpleConvictionPolicy
        #: greencql speaks v3-v5; v6 (beta in Cassandra) is known but not spoken
        self.allow_beta_protocol_version = bool(allow_beta_protocol_version)
        #: accepted for compatibility, not applied: greencql's hubs set the socket options
        #: they need (TCP_NODELAY)
        self.sockopts = sockopts
        self.cql_version = cql_version
        self._startup_options: dict[str, str] = (
            {"CQL_VERSION": cql_version} if cql_version else {}
        )

    @property
    def listeners(self) -> set[Any]:
        """The registered host listeners (cassandra-driver's attribute)."""
        return set(self._listeners)

    def get_control_connection_host(self) -> Host | None:
        """The host the control connection is connected to, or None."""
        control = self.control_connection
        endpoint = None if control is None else control.host_endpoint
        return None if endpoint is None else self.metadata.get_host(endpoint)

    def get_core_connections_per_host(self, host_distance: Any) -> int:
        """Connections opened to each host (greencql: the same for every distance)."""
        return self.core_connections

    def set_core_connections_per_host(self, host_distance: Any, core_connections: int) -> None:
        """Connections to open to each host from now on (pools opened later use it)."""
        if not 1 <= core_connections <= self.max_connections:
            raise ValueError("need 1 <= core_connections <= max_connections")
        self.core_connections = core_connections

    def get_max_connections_per_host(self, host_distance: Any) -> int:
        return self.max_connections

    def set_max_connections_per_host(self, host_distance: Any, max_connections: int) -> None:
        if max_connections < self.core_connections:
            raise ValueError("need core_connections <= max_connections")
        self.max_connections = max_connections

    @property
    def sessions(self) -> list[Session]:
        """The open sessions of this cluster."""
        return list(self._sessions)

    @property
    def load_balancing_policy(self) -> Any:
        """The default execution profile's load-balancing policy."""
        return self._profiles[EXEC_PROFILE_DEFAULT].load_balancing_policy

    @property
    def default_retry_policy(self) -> Any:
        """The default execution profile's retry policy."""
        return self._profiles[EXEC_PROFILE_DEFAULT].retry_policy

    @default_retry_policy.setter
    def default_retry_policy(self, policy: Any) -> None:
        if self._explicit_profiles:
            raise ValueError("Cannot set Cluster.default_retry_policy while using "
                             "Configuration Profiles. Set this in a profile instead.")
        self._profiles[EXEC_PROFILE_DEFAULT] = self._profiles[EXEC_PROFILE_DEFAULT].replace(
            retry_policy=policy)

    def set_meta_refresh_enabled(self, enabled: bool) -> None:
        """Turn schema and token metadata refreshes on or off (cassandra-driver's switch for
        both ``schema_metadata_enabled`` and ``token_metadata_enabled``), with its
        DeprecationWarning."""
        warnings.warn(
            "Cluster.set_meta_refresh_enabled is deprecated and will be removed in 4.0. Set "
            "Cluster.schema_metadata_enabled and Cluster.token_metadata_enabled instead.",
            DeprecationWarning, stacklevel=2)
        self.schema_metadata_enabled = bool(enabled)
        self.token_metadata_enabled = bool(enabled)

    def _refresh_one(self, target: str, keyspace: str, name: str | None = None,
                     arg_types: Any = (), max_schema_agreement_wait: float | None = None
                     ) -> None:
        control = self._control()
        if not control.wait_for_schema_agreement(max_schema_agreement_wait,
                                                 self._is_up_endpoint):
            raise DriverException("Schema metadata was not refreshed. See log for details.")
        control.refresh_schema_change("UPDATED", target, keyspace, name, arg_types)

    def refresh_keyspace_metadata(self, keyspace: str,
                                  max_schema_agreement_wait: float | None = None) -> None:
        """Re-read one keyspace's schema now (after waiting for schema agreement)."""
        self._refresh_one("KEYSPACE", keyspace,
                          max_schema_agreement_wait=max_schema_agreement_wait)

    def refresh_table_metadata(self, keyspace: str, table: str,
                               max_schema_agreement_wait: float | None = None) -> None:
        """Re-read one table's schema now."""
        self._refresh_one("TABLE", keyspace, table,
                          max_schema_agreement_wait=max_schema_agreement_wait)

    def refresh_materialized_view_metadata(self, keyspace: str, view: str,
                                           max_schema_agreement_wait: float | None = None
                                           ) -> None:
        """Re-read one materialized view's schema now."""
        self._refresh_one("TABLE", keyspace, view,
                          max_schema_agreement_wait=max_schema_agreement_wait)

    def refresh_user_type_metadata(self, keyspace: str, user_type: str,
                                   max_schema_agreement_wait: float | None = None) -> None:
        """Re-read one user type now."""
        self._refresh_one("TYPE", keyspace, user_type,
                          max_schema_agreement_wait=max_schema_agreement_wait)

    def refresh_user_function_metadata(self, keyspace: str, function: Any,
                                       max_schema_agreement_wait: float | None = None) -> None:
        """Re-read one user function now; ``function`` is a
        :class:`~greencql.UserFunctionDescriptor` (name and argument types)."""
        self._refresh_one("FUNCTION", keyspace, function.name, function.argument_types,
                          max_schema_agreement_wait)

    def refresh_user_aggregate_metadata(self, keyspace: str, aggregate: Any,
                                        max_schema_agreement_wait: float | None = None) -> None:
        """Re-read one user aggregate now; ``aggregate`` is a
        :class:`~greencql.UserAggregateDescriptor`."""
        self._refresh_one("AGGREGATE", keyspace, aggregate.name, aggregate.argument_types,
                          max_schema_agreement_wait)

    def register_user_type(self, keyspace: str, user_type: str, klass: type) -> None:
        """Decode values of ``keyspace.user_type`` into ``klass(**fields)`` (and bind
        ``klass`` instances, read by attribute), as cassandra-driver does. With the
        ``"modern"`` value types values stay named tuples. Raises
        :class:`~greencql.errors.UserTypeDoesNotExist` when connected and the schema has no
        such type."""
        if self._connected and self.schema_metadata_enabled:
            ks = self.metadata.keyspaces.get(keyspace)
            if ks is None:
                raise UserTypeDoesNotExist(
                    f"Keyspace {keyspace} does not exist or has not been discovered by the "
                    "driver")
            if user_type not in ks.user_types:
                raise UserTypeDoesNotExist(
                    f"User type {user_type} does not exist in keyspace {keyspace}")
        register_user_type(keyspace, user_type, klass)

    # -- prepared statements -----------------------------------------------------------------

    def _register_prepared(self, ps: PreparedStatement) -> PreparedStatement:
        self._prepared_statements[ps.query_id] = ps
        return ps

    # -- shutting down -----------------------------------------------------------------------

    def _session_closed(self, session: Session) -> None:
        self._sessions.discard(session)

    def shutdown(self) -> None:
        """Close every session and the control connection. Idempotent. In a forked child
        it closes only the child's own connections (nothing of the parent's)."""
        if self.is_shutdown:
            return
        self.is_shutdown = True
        self._check_fork()  # in a child: forget the parent's, connect nothing new
        # every session and the control connection at once: one close grace in all
        jobs: list[Any] = [session.shutdown for session in list(self._sessions)]
        control = self.control_connection
        if control is not None:
            jobs.append(control.shutdown)
        if self.hub is None:
            for job in jobs:
                job()
            return
        run_together(self.hub, jobs)

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return (f"<Cluster contact_points={self.contact_points!r} port={self.port} "
                f"protocol_version={self.protocol_version}>")


class _SessionPool:
    """A session's :class:`~greencql.pool.hostpool.HostPool` to one host, seen as the session
    needs it: started in the background, ``borrow()`` that never blocks on a connect (a
    request is not held up by a host that is still connecting: it goes to the next one),
    host up/down reported to the cluster, keyspace changes applied to every connection.

    A request whose every host is still connecting does not fail: it asks to be called back
    (:meth:`when_settled`) once this pool has a connection or has given up (host down, pool
    shut down), and tries again then; its own timeout bounds the wait."""

    def __init__(self, cluster: Cluster, host: Host, keyspace: str | None) -> None:
        from greencql.pool.hostpool import HostPool

        self._cluster = cluster
        self._hub = cluster.hub
        self.host = host
        self._ready = self._hub.event()
        self._settled = self._hub.event()
        self._waiters: list[Any] = []
        self._waiters_lock = self._hub.lock()
        self._opener: Any = None
        #: the keyspace every connection must be in (the session's, after USE)
        self.keyspace = keyspace
        self._pool = HostPool(
            self._hub,
            host.address,
            host.port,
            cluster._pool_options(),
            cluster._connection_options(keyspace),
            listener=self,
            connection_factory=self._connect,
        )

    def _connect(self, hub: Any, host: str, port: int, options: Any, **kwargs: Any) -> Any:
        # A connect that started before a USE finishes in the old keyspace: fix it here,
        # before the pool lends it, whichever greenlet opened it.
        from greencql.pool.connection import Connection

        conn = Connection.connect(hub, host, port, options, **kwargs)
        keyspace = self.keyspace
        if keyspace and conn.keyspace != keyspace:
            try:
                conn.set_keyspace(keyspace, timeout=self._cluster.connect_timeout)
            except BaseException:
                conn.close(grace=0)
                raise
        if self._waiters:
            # the pool lends it once this returns (no switch in between): wake the waiting
            # requests from a task of their own, which runs after that
            self._hub.spawn(self._wake_waiters)
        return conn

    # -- what the session calls ------------------------------------------------------------

    @property
    def last_error(self) -> BaseException | None:
        return self._pool.last_error

    def start(self) -> None:
        self._opener = self._hub.spawn(self._open)

    def _open(self) -> None:
        try:
            self._pool.open(wait=True)
        except (DriverException, OSError) as exc:
            _log.debug("opening a pool to %s failed: %s", self.host, exc)
            return
        finally:
            self._settled.set()
            self._wake_waiters()
        if self._pool.connections:
            self._ready.set()
            self._cluster._host_up(self.host)

    def wait_ready(self, timeout: float | None) -> bool:
        """Wait until the first attempt to connect has succeeded or failed; True if ready."""
        if self._ready.is_set():
            return True
        self._settled.wait(timeout)
        return bool(self._ready.is_set())

    def borrow(self) -> Any:
        pool = self._pool
        if not pool.connections:
            raise ConnectionException(
                f"no open connection to {self.host} (connecting, or down: "
                f"{pool.last_error or 'not connected yet'})", host=self.host
            )
        return pool.borrow()

    @property
    def has_connections(self) -> bool:
        return bool(self._pool.connections)

    @property
    def is_connecting(self) -> bool:
        """No connection yet, but one is being opened (the first attempt, or a replacement):
        a request may wait for it. A down host (reconnecting with backoff) is not
        connecting."""
        pool = self._pool
        if pool.connections or pool.is_shutdown or pool.is_down:
            return False
        return not self._settled.is_set() or pool.connecting

    def when_settled(self, callback: Any) -> None:
        """Call ``callback()`` (once, from some task; it must not block) when this pool has a
        connection to lend or has stopped connecting: at once if it is not connecting."""
        with self._waiters_lock:
            self._waiters.append(callback)
        if not self.is_connecting:  # settled between the caller's look and now
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        with self._waiters_lock:
            waiters, self._waiters = self._waiters, []
        for callback in waiters:
            try:
                callback()
            except Exception:
                _log.exception("waking a request waiting for %s failed", self.host)

    def reconnect_now(self) -> None:
        """The host announced itself UP: try at once instead of after the backoff delay.
        A pool that has connections already is proof enough: a host marked down meanwhile
        (a DOWN event that came while the pool was momentarily empty) is brought up."""
        pool = self._pool
        if pool.is_shutdown:
            return
        if pool.connections:
            self._connected_while_down()
            return
        try:
            pool.open(wait=False)
        except DriverException as exc:
            _log.debug("reconnecting to %s: %s", self.host, exc)

    def set_keyspace(self, keyspace: str) -> None:
        self.keyspace = keyspace
        pool = self._pool
        pool.connection_options = pool.connection_options.replace(keyspace=keyspace)
        for conn in pool.connections:
            if conn.keyspace != keyspace:
                conn.set_keyspace(keyspace, timeout=self._cluster.connect_timeout)

    def shutdown(self) -> None:
        self._pool.shutdown()
        opener = self._opener
        if opener is not None and not opener.ready():
            opener.kill()  # a first connect in progress: abandoned (it closes what it opened)
        self._wake_waiters()

    def _abandon_after_fork(self) -> None:
        """In a forked child: forget this pool (and the parent's requests waiting on it)."""
        self._waiters = []
        self._opener = None  # the parent's task, not this process's
        self._pool._abandon_after_fork()

    # -- what the HostPool reports ---------------------------------------------------------

    def on_up(self, pool: Any) -> None:
        self._ready.set()
        self._cluster._host_up(self.host)
        self._wake_waiters()

    def on_down(self, pool: Any, error: BaseException | None) -> None:
        self._ready.clear()
        self._cluster._host_down(self.host)
        self._wake_waiters()

    def on_connected(self, pool: Any) -> None:
        self._connected_while_down()

    def _connected_while_down(self) -> None:
        # a connection works: if the cluster marked the host down (told so by an event, not
        # by this pool), it is up after all; without this it stayed down for good
        if self.host.is_up is False and not self._pool.is_shutdown:
            self._ready.set()
            self._cluster._host_up(self.host)

    def __repr__(self) -> str:
        return f"<SessionPool {self._pool!r}>"
