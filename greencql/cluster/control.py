"""The control connection: one connection per cluster that watches topology and schema.

Owns :class:`ControlConnection`: choosing a host to watch from (contact points first, then the
load-balancing plan), reading the topology (system.local, system.peers_v2 with a fallback to
system.peers for servers older than Cassandra 4.0), the token map inputs (partitioner, each
host's tokens), the schema tables handed to the metadata module, the REGISTERed events
(TOPOLOGY_CHANGE, STATUS_CHANGE, SCHEMA_CHANGE) with debounced refreshes, schema agreement
waits after DDL, and failing over to another host when its connection dies (every candidate
at once, then after each delay of the reconnection policy; a pass that a live node failed
with a transient fault, such as a cut reply, starts the schedule afresh).

It must not: keep the hosts or the schema itself (the :class:`~greencql.cluster.cluster.Cluster`
and its metadata do; this module reads rows and hands them over), execute user requests, or
block in an event callback (events arrive on the connection's reader greenlet: they only arm
timers, and refreshes run in a greenlet of their own).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from greencql.cluster.failures import connect_advice
from greencql.cluster.host import EndPoint, Host
from greencql.cluster.metadata.parse import (
    FULL_SCHEMA_QUERIES,
    VIRTUAL_SCHEMA_FIELDS,
    SchemaRows,
    refresh_queries,
)
from greencql.errors import (
    ClientAuthenticationFailed,
    ConnectionException,
    DriverException,
    InvalidRequest,
    NoHostAvailable,
    OperationTimedOut,
    ServerException,
)
from greencql.pool.hostpool import node_answered
from greencql.protocol.constants import ConsistencyLevel
from greencql.protocol.messages import (
    ErrorResponse,
    Query,
    QueryParameters,
    Register,
    RowsResult,
    SchemaChangeEvent,
    StatusChangeEvent,
    TopologyChangeEvent,
)

if TYPE_CHECKING:
    from greencql.cluster.cluster import Cluster

__all__ = [
    "ControlConnection",
    "PeerInfo",
    "host_from_peer",
    "DEFAULT_SCHEMA_AGREEMENT_INTERVAL",
]

_log = logging.getLogger("greencql.cluster.control")

_LOCAL_QUERY = "SELECT * FROM system.local WHERE key='local'"
_PEERS_V2_QUERY = "SELECT * FROM system.peers_v2"
_PEERS_QUERY = "SELECT * FROM system.peers"
_LOCAL_SCHEMA_VERSION = "SELECT schema_version FROM system.local WHERE key='local'"

# more schema events than this in one debounce window: one full refresh instead
_MAX_TARGETED_REFRESHES = 8

#: seconds between two schema-version polls while waiting for agreement (cassandra-driver
#: polls every 200 ms: agreement normally takes a gossip round or two)
DEFAULT_SCHEMA_AGREEMENT_INTERVAL = 0.2

_EVENT_TYPES = ("TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE")


@dataclass(frozen=True)
class PeerInfo:
    """One node as system.local / system.peers(_v2) describe it."""

    endpoint: EndPoint
    datacenter: str | None
    rack: str | None
    host_id: Any
    release_version: str | None
    tokens: tuple[str, ...]
    schema_version: Any
    broadcast_address: str | None = None
    listen_address: str | None = None
    broadcast_rpc_address: str | None = None
    broadcast_port: int | None = None
    broadcast_rpc_port: int | None = None
    listen_port: int | None = None


def _rows(response: Any) -> list[dict[str, Any]]:
    if isinstance(response, ErrorResponse):
        raise response.to_exception()
    if not isinstance(response, RowsResult):
        return []
    names = [c.name for c in response.columns or ()]
    return [dict(zip(names, row, strict=True)) for row in response.rows]


def _addr(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return None if text in ("0.0.0.0", "::") else text


class ControlConnection:
    """Watches the cluster through one connection; see the module docstring.

    ``cluster`` provides: ``hub``, ``_connection_options()``, the refresh windows,
    ``max_schema_agreement_wait``, ``control_connection_timeout``, and the callbacks
    ``_topology_refreshed(local, peers, partitioner)``, ``_schema_refreshed(rows)``,
    ``_on_status_event(up, endpoint)``, ``_control_host_candidates()``.
    """

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._hub = cluster.hub
        self._connection: Any = None
        self.host_endpoint: EndPoint | None = None
        self._use_peers_v2 = True
        self._timers: dict[str, Any] = {}
        self._schema_events: list[SchemaChangeEvent] = []
        #: ``fn(kind)`` called after each refresh ("topology" or "schema") and after each
        #: (re)connection ("connected"): lets tests and tools wait for one without polling
        self.listeners: list[Callable[[str], Any]] = []
        self._refresh_lock = self._hub.lock()
        self._connected = self._hub.event()  # set while a connection is up
        self._reconnecting = False
        self._shutdown = False
        self._reconnect_task: Any = None
        self.partitioner: str | None = None
        self.cluster_name: str | None = None

    # -- connecting --------------------------------------------------------------------------

    @property
    def connection(self) -> Any:
        return self._connection

    def connect(self, endpoints: Sequence[EndPoint],
                errors: dict[Any, BaseException] | None = None) -> None:
        """Connect to the first endpoint that answers and read everything; raise
        NoHostAvailable naming each endpoint's error otherwise."""
        errors = dict(errors or {})
        for endpoint in endpoints:
            if self._shutdown:
                break
            try:
                self._open(endpoint)
                return
            except (DriverException, OSError) as exc:
                _log.debug("control connection to %s failed: %s", endpoint, exc)
                errors[endpoint] = exc
        raise _unable_to_connect(errors)

    def _open(self, endpoint: EndPoint) -> None:
        cluster = self._cluster
        options = cluster._connection_options(keyspace=None)
        from greencql.pool.connection import Connection

        conn = Connection.connect(
            self._hub,
            endpoint.address,
            endpoint.port,
            options,
            on_event=self._on_event,
            on_close=self._on_close,
        )
        try:
            timeout = cluster.control_connection_timeout
            response = conn.send(Register(list(_EVENT_TYPES)), timeout=timeout)
            if isinstance(response, ErrorResponse):
                raise response.to_exception()
            if self._shutdown:
                # shut down while this connect ran (a reconnect task; on the thread hub another
                # thread): nobody would ever close this connection
                conn.close(grace=0)
                return
            self._connection = conn
            self.host_endpoint = endpoint
            cluster._negotiated(conn.version)
            self.refresh_topology()
            if cluster.schema_metadata_enabled:
                self.refresh_schema()
        except BaseException:
            self._connection = None
            conn.close(grace=0)
            raise
        if self._shutdown:  # shut down during the refreshes: shutdown() may have missed it
            self._connection = None
            conn.close(grace=0)
            return
        _log.info("control connection to %s (protocol v%d)", endpoint, conn.version)
        self._connected.set()
        self._notify("connected")

    def _on_close(self, conn: Any) -> None:
        if conn is not self._connection or self._shutdown:
            return
        _log.warning(
            "control connection to %s lost (%s); reconnecting to another host",
            self.host_endpoint, conn.closed_reason,
        )
        self._connection = None
        self._connected.clear()
        self._start_reconnect()

    def wait_connected(self, timeout: float | None) -> bool:
        """Wait (at most ``timeout`` seconds) while the connection is being (re)opened;
        True if it is up. Returns at once when nothing is connecting."""
        if self._connection is not None:
            return True
        if self._reconnecting and not self._shutdown:
            self._connected.wait(timeout)
        return self._connection is not None

    def _abandon_after_fork(self) -> None:
        """In a forked child: forget this control connection without touching what it holds
        (its connection is the parent's; an inherited reconnect task sees the flag and
        stops). The cluster makes a new one."""
        self._shutdown = True
        self._connection = None
        self._timers = {}
        self._reconnect_task = None

    def _start_reconnect(self) -> None:
        if self._reconnecting or self._shutdown:
            return
        self._reconnecting = True
        self._reconnect_task = self._hub.spawn(self._reconnect_loop)

    def _reconnect_loop(self) -> None:
        try:
            policy = self._cluster.reconnection_policy
            schedule = iter(policy.new_schedule())
            while not self._shutdown:
                errors: dict[Any, BaseException] = {}
                for endpoint in self._cluster._control_host_candidates(self.host_endpoint):
                    if self._shutdown:
                        return
                    try:
                        self._open(endpoint)
                        return
                    except (DriverException, OSError) as exc:
                        errors[endpoint] = exc
                if any(node_answered(exc) for exc in errors.values()):
                    # a live node failed the connection (closed it, cut or corrupted a reply):
                    # a transient fault, so the next pass comes after a first delay, not
                    # after one grown while no node was reachable
                    schedule = iter(policy.new_schedule())
                delay = next(schedule, None)
                if delay is None:
                    _log.error("control connection: giving up reconnecting: %s",
                               _unable_to_connect(errors))
                    return
                _log.warning("control connection: no host reachable (%s); next try in %.2gs",
                             _unable_to_connect(errors), delay)
                self._hub.sleep(delay)
        finally:
            self._reconnecting = False

    # -- queries -----------------------------------------------------------------------------

    def _query(self, cql: str, consistency: ConsistencyLevel = ConsistencyLevel.ONE
               ) -> list[dict[str, Any]]:
        conn = self._connection
        if conn is None:
            raise ConnectionException("the control connection is not connected")
        response = conn.send(
            Query(cql, QueryParameters(consistency)),
            timeout=self._cluster.control_connection_timeout,
        )
        return _rows(response)

    def _query_all(self, queries: Mapping[str, str]) -> dict[str, Any]:
        """Send every query at once on the control connection and wait for all the answers:
        each one's rows, or the exception it got. Pipelined, a refresh of N tables costs one
        round trip instead of N (on a client whose hub is busy, each round trip waits a whole
        turn of the loop: a sequential schema refresh took many seconds under load, and every
        (re)connection of the control connection waits for one)."""
        conn = self._connection
        if conn is None:
            raise ConnectionException("the control connection is not connected")
        timeout = self._cluster.control_connection_timeout
        waiting: dict[str, Any] = {}
        for name, cql in queries.items():
            future = self._hub.future()
            conn.send_async(Query(cql, QueryParameters(ConsistencyLevel.ONE)),
                            future.set_result, timeout=timeout)
            waiting[name] = future
        # each callback runs exactly once: with the answer, or the request's own timeout
        deadline = self._hub.monotonic() + (timeout or 0.0) + 2.0
        out: dict[str, Any] = {}
        for name, future in waiting.items():
            answer = future.result(max(0.0, deadline - self._hub.monotonic())
                                   if timeout is not None else None)
            if isinstance(answer, BaseException):
                out[name] = answer
                continue
            try:
                out[name] = _rows(answer)
            except DriverException as exc:
                out[name] = exc
        return out

    def keyspace_exists(self, name: str) -> bool:
        """Whether the server's schema has keyspace ``name`` (exact, case-sensitive)."""
        from greencql.cluster.literals import cql_quote

        rows = self._query(
            "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = "
            + cql_quote(name)
        )
        return bool(rows)

    def _local_and_peers(self, local_query: str) -> tuple[list[dict[str, Any]],
                                                           list[dict[str, Any]]]:
        """system.local and the peers, both at once (system.peers after, on a server that
        has no peers_v2)."""
        answers = self._query_all({
            "local": local_query,
            "peers": _PEERS_V2_QUERY if self._use_peers_v2 else _PEERS_QUERY,
        })
        local, peers = answers["local"], answers["peers"]
        if isinstance(local, BaseException):
            raise local
        if isinstance(peers, (InvalidRequest, ServerException)) and self._use_peers_v2:
            # Cassandra < 4.0 has no peers_v2 ("unconfigured table peers_v2")
            _log.debug("system.peers_v2 unavailable (%s); using system.peers", peers)
            self._use_peers_v2 = False
            peers = self._query(_PEERS_QUERY)
        if isinstance(peers, BaseException):
            raise peers
        return local, peers

    def refresh_topology(self) -> None:
        """Read system.local and the peers and hand them to the cluster."""
        with self._refresh_lock:
            local_rows, peer_rows = self._local_and_peers(_LOCAL_QUERY)
        endpoint = self.host_endpoint
        assert endpoint is not None
        local = None
        if local_rows:
            row = local_rows[0]
            self.partitioner = row.get("partitioner") or self.partitioner
            self.cluster_name = row.get("cluster_name") or self.cluster_name
            self._cluster.metadata.cluster_name = self.cluster_name
            local = _peer_info(row, endpoint, endpoint.port, is_local=True)
        default_port = endpoint.port
        peers = []
        for row in peer_rows:
            info = self._translated(_peer_info(row, None, default_port, is_local=False))
            if info is not None:
                peers.append(info)
        self._cluster._topology_refreshed(local, peers, self.partitioner)
        self._notify("topology")

    def _translated(self, info: PeerInfo | None) -> PeerInfo | None:
        """A peer's advertised address through the cluster's address translator
        (cassandra-driver's ``Cluster(address_translator=...)``)."""
        translator = getattr(self._cluster, "address_translator", None)
        if info is None or translator is None:
            return info
        address = translator.translate(info.endpoint.address)
        if address == info.endpoint.address:
            return info
        return dataclasses.replace(info, endpoint=EndPoint(address, info.endpoint.port))

    def refresh_schema(self) -> None:
        """Read every schema table and hand the rows to the cluster's metadata."""
        with self._refresh_lock:
            rows = self._schema_rows(FULL_SCHEMA_QUERIES)
        self._cluster.metadata.rebuild_schema(rows)
        self._notify("schema")

    def refresh_schema_change(
        self, change_type: str, target: str, keyspace: str, name: str | None = None,
        arg_types: Sequence[str] | None = None,
    ) -> None:
        """Refresh only what one schema change touched."""
        with self._refresh_lock:
            rows = (
                SchemaRows()
                if change_type.upper() == "DROPPED"
                else self._schema_rows(refresh_queries(target, keyspace, name))
            )
        self._cluster.metadata.refresh(
            target, keyspace, name, tuple(arg_types or ()), rows, change_type
        )
        self._notify("schema")

    def _notify(self, kind: str) -> None:
        for fn in list(self.listeners):
            try:
                fn(kind)
            except Exception:
                _log.exception("control connection listener %r failed", fn)

    def _schema_rows(self, queries: Mapping[str, str]) -> SchemaRows:
        results: dict[str, list[dict[str, Any]]] = {}
        answers = self._query_all(queries)
        for field_name, cql in queries.items():
            answer = answers[field_name]
            if isinstance(answer, (InvalidRequest, ServerException)):
                # a table this server lacks (virtual tables before 4.0, views disabled, ...)
                if field_name not in VIRTUAL_SCHEMA_FIELDS:
                    _log.debug("schema query %r failed: %s", cql, answer)
                results[field_name] = []
            elif isinstance(answer, BaseException):
                raise answer
            else:
                results[field_name] = answer
        return SchemaRows.from_results(results)

    def schema_versions(self) -> tuple[Any, dict[EndPoint, Any]]:
        """The control host's schema version and each peer's (by endpoint)."""
        local, peers = self._local_and_peers(_LOCAL_SCHEMA_VERSION)
        local_version = local[0].get("schema_version") if local else None
        assert self.host_endpoint is not None
        versions = {}
        for row in peers:
            info = self._translated(_peer_info(row, None, self.host_endpoint.port,
                                               is_local=False))
            if info is not None:
                versions[info.endpoint] = info.schema_version
        return local_version, versions

    def wait_for_schema_agreement(
        self, wait_time: float | None = None, is_up: Callable[[EndPoint], bool] | None = None
    ) -> bool:
        """Poll schema versions until every up node reports the control host's, or
        ``wait_time`` (default: the cluster's max_schema_agreement_wait) passes; False then
        (logged: a DDL may then not be visible everywhere yet)."""
        cluster = self._cluster
        wait = cluster.max_schema_agreement_wait if wait_time is None else wait_time
        if wait <= 0:
            return True
        hub = self._hub
        deadline = hub.monotonic() + wait
        versions: Mapping[Any, Any] = {}
        while True:
            try:
                local, peers = self.schema_versions()
                if is_up is not None:
                    peers = {e: v for e, v in peers.items() if is_up(e)}
                versions = {self.host_endpoint: local, **peers}
                if local is not None and all(v == local for v in peers.values()):
                    return True
            except (DriverException, OSError) as exc:
                _log.debug("schema agreement poll failed: %s", exc)
            if hub.monotonic() + DEFAULT_SCHEMA_AGREEMENT_INTERVAL > deadline:
                _log.warning(
                    "no schema agreement after %.3gs (versions: %s); continuing anyway",
                    wait, {str(k): str(v) for k, v in versions.items()},
                )
                return False
            hub.sleep(DEFAULT_SCHEMA_AGREEMENT_INTERVAL)

    # -- events ------------------------------------------------------------------------------

    def _on_event(self, event: Any) -> None:
        cluster = self._cluster
        if isinstance(event, TopologyChangeEvent):
            self._debounce("topology", cluster.topology_event_refresh_window)
        elif isinstance(event, StatusChangeEvent):
            address, port = event.address
            cluster._on_status_event(event.change_type == "UP", EndPoint(str(address), port))
        elif isinstance(event, SchemaChangeEvent):
            if cluster.schema_metadata_enabled:
                self._schema_events.append(event)
                self._debounce("schema", cluster.schema_event_refresh_window)

    def _debounce(self, kind: str, window: float) -> None:
        """Coalesce a burst of events into one refresh, ``window`` seconds after the first;
        a negative window turns refreshes on events off."""
        if window < 0 or kind in self._timers or self._shutdown:
            return
        self._timers[kind] = self._hub.call_later(window, self._fire, kind)

    def _fire(self, kind: str) -> None:
        self._timers.pop(kind, None)
        self._hub.spawn(self._refresh, kind)

    def _refresh(self, kind: str) -> None:
        try:
            if kind == "topology":
                self.refresh_topology()
                return
            events, self._schema_events = self._schema_events, []
            unique = list(dict.fromkeys(
                (e.change_type, e.target, e.keyspace, e.name, tuple(e.arg_types or ()))
                for e in events
            ))
            if not unique or len(unique) > _MAX_TARGETED_REFRESHES:
                self.refresh_schema()
                return
            for change_type, target, keyspace, name, arg_types in unique:
                self.refresh_schema_change(change_type, target, keyspace, name, arg_types)
        except (DriverException, OSError) as exc:
            _log.warning("%s refresh failed: %s", kind, exc)
        except OperationTimedOut as exc:  # pragma: no cover - DriverException covers it
            _log.warning("%s refresh timed out: %s", kind, exc)

    def shutdown(self) -> None:
        self._shutdown = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        conn = self._connection
        self._connection = None
        if conn is not None:
            conn.close(grace=0)
        task = self._reconnect_task
        if task is not None and not task.ready():
            task.kill()


def _peer_info(row: Mapping[str, Any], endpoint: EndPoint | None, default_port: int,
               *, is_local: bool) -> PeerInfo | None:
    if endpoint is None:
        # peers_v2: native_address/native_port; peers: rpc_address, falling back to peer
        address = _addr(row.get("native_address")) or _addr(row.get("rpc_address"))
        if address is None:
            address = _addr(row.get("peer"))
        if address is None:
            return None
        port = row.get("native_port") or default_port
        endpoint = EndPoint(address, int(port))
    tokens = row.get("tokens") or ()
    return PeerInfo(
        endpoint=endpoint,
        datacenter=row.get("data_center"),
        rack=row.get("rack"),
        host_id=row.get("host_id"),
        release_version=row.get("release_version"),
        tokens=tuple(sorted(str(t) for t in tokens)),
        schema_version=row.get("schema_version"),
        broadcast_address=_addr(row.get("broadcast_address") if is_local else row.get("peer")),
        listen_address=_addr(row.get("listen_address")) if is_local else None,
        broadcast_rpc_address=_addr(row.get("rpc_address")) or _addr(row.get("native_address")),
        broadcast_port=_port(row.get("broadcast_port") if is_local else row.get("peer_port")),
        broadcast_rpc_port=_port(row.get("rpc_port") if is_local else row.get("native_port"))
        or endpoint.port,
        listen_port=_port(row.get("listen_port")) if is_local else None,
    )


def _port(value: Any) -> int | None:
    return None if value is None else int(value)


def apply_peer_addresses(host: Host, info: PeerInfo) -> None:
    """The addresses and ports a PeerInfo gives, onto its Host (cassandra-driver's
    ``broadcast_rpc_address``, ``broadcast_port``, ``broadcast_rpc_port``, ``listen_port``)."""
    host.broadcast_rpc_address = info.broadcast_rpc_address
    host.broadcast_port = info.broadcast_port
    host.broadcast_rpc_port = info.broadcast_rpc_port
    host.listen_port = info.listen_port
    if info.broadcast_address is not None:
        host.broadcast_address = info.broadcast_address
    if info.listen_address is not None:
        host.listen_address = info.listen_address


def _explain(error: BaseException) -> str:
    text = str(error)
    cause = error.__cause__
    if isinstance(cause, ConnectionRefusedError) or "refused" in text.lower():
        return f"refused the connection ({text})"
    if isinstance(error, OperationTimedOut) or "timed out" in text.lower():
        return f"did not answer in time ({text})"
    if isinstance(error, ClientAuthenticationFailed):
        return f"could not authenticate: {error.message}"  # not an answer from the server
    if isinstance(error, ServerException):
        return f"answered {type(error).__name__}: {error.message}"
    return text or type(error).__name__


def _unable_to_connect(errors: Mapping[Any, BaseException]) -> NoHostAvailable:
    """NoHostAvailable for a failed initial (or control) connection, leading with the first
    host's cause and listing every host."""
    if not errors:
        return NoHostAvailable("Unable to connect to any servers: no contact point given", {})
    parts = [f"{host} {_explain(exc)}" for host, exc in errors.items()]
    return NoHostAvailable(
        "Unable to connect to any servers: " + "; ".join(parts) + connect_advice(errors),
        dict(errors),
    )


def host_from_peer(info: PeerInfo) -> Host:
    """A new Host from a PeerInfo (the cluster updates existing hosts in place instead)."""
    host = Host(info.endpoint, info.datacenter, info.rack, info.host_id, info.release_version,
                info.tokens)
    host.broadcast_address = info.broadcast_address
    host.listen_address = info.listen_address
    apply_peer_addresses(host, info)
    return host
