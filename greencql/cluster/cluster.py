"""The Cluster: configuration, the hosts and their states, and the sessions made from it.

Owns :class:`Cluster` (cassandra-driver's entry point: ``Cluster(contact_points, port, ...)``,
``connect(keyspace) -> Session``, ``shutdown()``, ``register_listener``, ``metadata``,
execution profiles), the resolution of contact points, the registry of prepared statements
(for re-preparing on UNPREPARED), and the fan-out of host events: a host added, removed, up or
down is told to every load-balancing policy, every session (which opens or closes its pool)
and every registered listener, in that order.

It must not: execute requests (sessions do), speak to the control host itself (the
:class:`~greencql.cluster.control.ControlConnection` does), or detect the hub before
:meth:`Cluster.connect` (gunicorn ``--preload`` imports the application, and may create its
Cluster, before the worker patches).
"""

from __future__ import annotations

import logging
import ssl
import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from greencql.cluster.control import (
    ControlConnection,
    PeerInfo,
    _unable_to_connect,
    host_from_peer,
)
from greencql.cluster.host import DEFAULT_PORT, EndPoint, Host, HostDistance
from greencql.cluster.metadata import Metadata
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
from greencql.errors import ConnectionException, DriverException, NoHostAvailable
from greencql.protocol.constants import SUPPORTED_VERSIONS

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
    ) -> None:
        if isinstance(contact_points, (str, EndPoint)):
            contact_points = [contact_points]
        self.contact_points: list[str | EndPoint] = list(contact_points)
        if not self.contact_points:
            raise ValueError("contact_points may not be empty")
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
        if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError("ssl_context must be an ssl.SSLContext")
        self.ssl_context = ssl_context
        for name, value in (("connect_timeout", connect_timeout),
                            ("control_connection_timeout", control_connection_timeout)):
            if not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")
        if max_schema_agreement_wait < 0:
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
        self.metadata = Metadata()
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
            auth_provider=self.auth_provider,
            connect_timeout=self.connect_timeout,
            # the session owns request timeouts (one deadline over all retries) and always
            # passes one; a connection-level default would only add a second clock
            request_timeout=None,
            heartbeat_interval=self.idle_heartbeat_interval,
            heartbeat_timeout=self.idle_heartbeat_timeout,
            keyspace=keyspace,
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
        if self.is_shutdown:
            raise DriverException("the cluster is shut down; create a new Cluster")
        with self._lock:
            if not self._connected:
                self._connect_control()
        session = Session(self, keyspace, self.hub)
        self._sessions.add(session)
        try:
            session._open_pools(wait_for_all_pools)
        except BaseException:
            session.shutdown()
            raise
        return session

    def _connect_control(self) -> None:
        from greencql.hubs import get_hub

        setting = self._hub_setting
        self.hub = setting if setting is not None and not isinstance(setting, str) else get_hub(
            setting
        )
        endpoints, errors = self._resolve_contact_points()
        self._contact_endpoints = tuple(endpoints)
        if not endpoints:
            raise _unable_to_connect(errors)
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
        """A pool connected to ``host``: mark it up and tell everyone (once per transition)."""
        with self._lock:
            if host.is_up is True:
                return
            was_down = host.is_up is False
            host.set_up()
        _log.info("host %s is up", host)
        for policy in self._policies():
            policy.on_up(host)
        if was_down and self.reprepare_on_up:
            for session in list(self._sessions):
                self.hub.spawn(session._reprepare_on, host)
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
        if control is None or control.connection is None:
            return False
        wait = self.max_schema_agreement_wait
        if deadline is not None:
            wait = max(0.0, min(wait, deadline - self.hub.monotonic()))
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
        control = self.control_connection
        if control is None or control.connection is None:
            raise NoHostAvailable("the control connection is not connected", {})
        return control

    # -- prepared statements -----------------------------------------------------------------

    def _register_prepared(self, ps: PreparedStatement) -> PreparedStatement:
        self._prepared_statements[ps.query_id] = ps
        return ps

    # -- shutting down -----------------------------------------------------------------------

    def _session_closed(self, session: Session) -> None:
        self._sessions.discard(session)

    def shutdown(self) -> None:
        """Close every session and the control connection. Idempotent."""
        if self.is_shutdown:
            return
        self.is_shutdown = True
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
    host up/down reported to the cluster, keyspace changes applied to every connection."""

    def __init__(self, cluster: Cluster, host: Host, keyspace: str | None) -> None:
        from greencql.pool.hostpool import HostPool

        self._cluster = cluster
        self._hub = cluster.hub
        self.host = host
        self._ready = self._hub.event()
        self._settled = self._hub.event()
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

    # -- what the HostPool reports ---------------------------------------------------------

    def on_up(self, pool: Any) -> None:
        self._ready.set()
        self._cluster._host_up(self.host)

    def on_down(self, pool: Any, error: BaseException | None) -> None:
        self._ready.clear()
        self._cluster._host_down(self.host)

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
