"""The cluster's metadata: known hosts, schema model and token map, kept in step.

Owns: :class:`Metadata` (cassandra-driver's ``cluster.metadata``): the host registry, the
keyspaces (swapped in whole or refreshed one object at a time after a SCHEMA_CHANGE event),
the cluster name and partitioner, and the :class:`~greencql.cluster.tokenmap.TokenMap`, whose
per-keyspace replica tables it updates when a keyspace's replication changes and which it
rebuilds when the topology changes. :meth:`Metadata.get_replicas` is the ``ReplicaLookup``
handed to the token-aware load-balancing policy.

Must not: run queries or open connections. The control connection reads system.local /
system.peers and system_schema, hands the rows (or Host objects) over, and calls the refresh
methods here. One writer (the control connection), many readers (request greenlets): writers
replace dicts whole instead of mutating ones readers may be iterating, so readers never lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from greencql.cluster.host import EndPoint, Host
from greencql.cluster.metadata.model import (
    KeyspaceMetadata,
    format_signature,
)
from greencql.cluster.metadata.parse import (
    SchemaRows,
    build_aggregate,
    build_function,
    build_keyspace,
    build_table,
    build_user_type,
    build_view,
    parse_schema,
    resolve_types,
)
from greencql.cluster.tokenmap import TokenMap, get_partitioner

__all__ = ["Metadata"]

_CHANGE_TYPES = ("CREATED", "UPDATED", "DROPPED")


class Metadata:
    """Schema and topology of one cluster, as the control connection last read them."""

    def __init__(self) -> None:
        #: cluster_name of system.local
        self.cluster_name: str | None = None
        #: partitioner class of system.local
        self.partitioner: str | None = None
        #: keyspace name -> :class:`KeyspaceMetadata` (replaced whole on a full refresh)
        self.keyspaces: dict[str, KeyspaceMetadata] = {}
        #: the ring; None until :meth:`rebuild_token_map` ran with a routable partitioner
        self.token_map: TokenMap | None = None
        self._hosts: dict[EndPoint, Host] = {}
        # what the token map was built from (tokens, hosts, datacenters, racks)
        self._ring_signature: frozenset[Any] = frozenset()
        self._lock = threading.RLock()

    # -- hosts ------------------------------------------------------------------------------

    def add_or_return_host(self, host: Host) -> tuple[Host, bool]:
        """``(host, True)`` if ``host`` was added, ``(known, False)`` if a host with the same
        endpoint was already known (then ``known`` is the one to keep using)."""
        with self._lock:
            known = self._hosts.get(host.endpoint)
            if known is not None:
                return known, False
            self._hosts = {**self._hosts, host.endpoint: host}
            return host, True

    def remove_host(self, host: Host) -> bool:
        """Forget a host; False if it was not known."""
        with self._lock:
            if host.endpoint not in self._hosts:
                return False
            hosts = dict(self._hosts)
            del hosts[host.endpoint]
            self._hosts = hosts
            return True

    def get_host(self, endpoint_or_address: EndPoint | str, port: int | None = None
                 ) -> Host | None:
        """The host at an :class:`EndPoint`, or the host whose address (or broadcast RPC
        address) is the given string, on ``port`` if given."""
        hosts = self._hosts
        if isinstance(endpoint_or_address, EndPoint):
            return hosts.get(endpoint_or_address)
        address = endpoint_or_address
        if port is not None:
            found = hosts.get(EndPoint(address, port))
            if found is not None:
                return found
        for host in hosts.values():
            if host.address == address and (port is None or host.port == port):
                return host
        for host in hosts.values():
            if host.broadcast_rpc_address == address and (port is None or host.port == port):
                return host
        return None

    def get_host_by_host_id(self, host_id: UUID) -> Host | None:
        """The host with this host id (system.local / system.peers ``host_id``)."""
        for host in self._hosts.values():
            if host.host_id == host_id:
                return host
        return None

    def all_hosts(self) -> list[Host]:
        """Every known host."""
        return list(self._hosts.values())

    # -- token map --------------------------------------------------------------------------

    def rebuild_token_map(
        self, partitioner: str | None = None, hosts: Iterable[Host] | None = None
    ) -> TokenMap | None:
        """Rebuild the ring from the hosts' tokens (all known hosts unless ``hosts`` is given)
        after the topology changed. Returns the new map, or None when the partitioner cannot
        be routed with (token awareness is then off). Skips the rebuild, keeping the cached
        replica tables, when neither partitioner, tokens nor datacenters/racks changed."""
        if partitioner is not None:
            self.partitioner = partitioner
        found = get_partitioner(self.partitioner)
        if found is None:
            self.token_map = None
            return None
        hosts = list(self.all_hosts() if hosts is None else hosts)
        signature = _hosts_signature(hosts)
        old = self.token_map
        if old is not None and old.partitioner is found and signature == self._ring_signature:
            return old
        with self._lock:
            replication = {name: ks.replication for name, ks in self.keyspaces.items()
                           if not ks.virtual}
            self.token_map = TokenMap(found, hosts, replication)
            self._ring_signature = signature
        return self.token_map

    def get_replicas(self, keyspace: str, key: bytes) -> list[Host]:
        """The replicas of the partition whose serialized routing key is ``key`` (empty when
        there is no token map or the keyspace places no replicas). This is the
        ``ReplicaLookup`` of :class:`~greencql.cluster.policies.TokenAwarePolicy`."""
        token_map = self.token_map
        if token_map is None:
            return []
        return token_map.get_replicas(keyspace, key)

    # -- schema: full -----------------------------------------------------------------------

    def rebuild_schema(self, rows: SchemaRows) -> None:
        """Replace the whole schema model with what ``rows`` (all schema tables) describe."""
        keyspaces = parse_schema(rows)
        with self._lock:
            old = self.keyspaces
            self.keyspaces = keyspaces
            token_map = self.token_map
            if token_map is not None:
                for name in old:
                    if name not in keyspaces:
                        token_map.remove_keyspace(name)
                for name, ks in keyspaces.items():
                    if not ks.virtual:
                        token_map.update_keyspace(name, ks.replication)

    def export_schema_as_string(self) -> str:
        """CQL for the whole schema (virtual keyspaces as comments)."""
        return "\n\n".join(ks.export_as_string() for ks in self.keyspaces.values())

    # -- schema: targeted refreshes ---------------------------------------------------------

    def apply_schema_change(self, change: Any, rows: SchemaRows | None = None) -> None:
        """:meth:`refresh` for a SCHEMA_CHANGE event or result (anything with
        ``change_type``, ``target``, ``keyspace``, ``name`` and ``arg_types``)."""
        self.refresh(change.target, change.keyspace, change.name, change.arg_types, rows,
                     change_type=change.change_type)

    def refresh(
        self,
        target: str,
        keyspace: str,
        name: str | None = None,
        arg_types: Sequence[str] | None = (),
        rows: SchemaRows | None = None,
        change_type: str = "UPDATED",
    ) -> None:
        """Apply one SCHEMA_CHANGE event: ``rows`` holds what
        :func:`~greencql.cluster.metadata.refresh_queries` fetched for it. A DROPPED event
        needs no rows; a CREATED/UPDATED one whose object the rows no longer show (dropped
        meanwhile) drops it too."""
        target = target.upper()
        change_type = change_type.upper()
        if change_type not in _CHANGE_TYPES:
            raise ValueError(f"unknown schema change type {change_type!r}")
        dropped = change_type == "DROPPED"
        rows = rows or SchemaRows()
        if target == "KEYSPACE":
            if dropped:
                self.drop_keyspace(keyspace)
            else:
                self.refresh_keyspace(rows, keyspace)
            return
        if name is None:
            raise ValueError(f"a {target} change needs a name")
        if target == "TABLE":
            if dropped:
                self.drop_table(keyspace, name)
            else:
                self.refresh_table(rows, keyspace, name)
        elif target == "TYPE":
            if dropped:
                self.drop_type(keyspace, name)
            else:
                self.refresh_type(rows, keyspace, name)
        elif target in ("FUNCTION", "AGGREGATE"):
            signature = format_signature(name, arg_types or ())
            if target == "FUNCTION":
                if dropped:
                    self.drop_function(keyspace, signature)
                else:
                    self.refresh_function(rows, keyspace, signature)
            elif dropped:
                self.drop_aggregate(keyspace, signature)
            else:
                self.refresh_aggregate(rows, keyspace, signature)
        else:
            raise ValueError(f"unknown schema change target {target!r}")

    def rebuild_keyspace(self, rows: SchemaRows, keyspace: str) -> None:
        """Replace one keyspace and everything in it with what ``rows`` (from
        :func:`~greencql.cluster.metadata.keyspace_queries`) describe; gone if no row."""
        new = parse_schema(rows).get(keyspace)
        if new is None:
            self.drop_keyspace(keyspace)
            return
        with self._lock:
            self.keyspaces = {**self.keyspaces, keyspace: new}
            if self.token_map is not None:
                self.token_map.update_keyspace(keyspace, new.replication)

    def refresh_keyspace(self, rows: SchemaRows, keyspace: str) -> None:
        """A keyspace's own settings changed (or it was created): keep its children, take
        durable_writes and replication from its row; no row means it is gone."""
        row = _find(rows.keyspaces, keyspace_name=keyspace)
        if row is None:
            self.drop_keyspace(keyspace)
            return
        new = build_keyspace(row)
        with self._lock:
            old = self.keyspaces.get(keyspace)
            if old is not None:
                new.tables, new.indexes, new.user_types = old.tables, old.indexes, old.user_types
                new.functions, new.aggregates, new.views = old.functions, old.aggregates, old.views
            self.keyspaces = {**self.keyspaces, keyspace: new}
            if self.token_map is not None:
                self.token_map.update_keyspace(keyspace, new.replication)

    def drop_keyspace(self, keyspace: str) -> None:
        with self._lock:
            if keyspace in self.keyspaces:
                keyspaces = dict(self.keyspaces)
                del keyspaces[keyspace]
                self.keyspaces = keyspaces
            if self.token_map is not None:
                self.token_map.remove_keyspace(keyspace)

    def refresh_table(self, rows: SchemaRows, keyspace: str, name: str) -> None:
        """A table or view was created or altered: rebuild it from its rows (a TABLE event
        may name a view; the rows tell which). No table or view row means it is gone."""
        ks = self.keyspaces.get(keyspace)
        if ks is None:
            return  # the keyspace vanished while the event was in flight
        table_row = _find(rows.tables, keyspace_name=keyspace, table_name=name)
        columns = [r for r in rows.columns if _get(r, "keyspace_name") == keyspace
                   and _get(r, "table_name") == name]
        with self._lock:
            if table_row is not None:
                table = build_table(
                    table_row, columns,
                    [r for r in rows.indexes if _get(r, "table_name") == name
                     and _get(r, "keyspace_name") == keyspace],
                    [r for r in rows.triggers if _get(r, "table_name") == name
                     and _get(r, "keyspace_name") == keyspace],
                )
                ks._add_table(table)
                resolve_types(ks)
                return
            view_row = _find(rows.views, keyspace_name=keyspace, view_name=name)
            if view_row is not None:
                ks._add_view(build_view(view_row, columns))
                resolve_types(ks)
                return
            ks._drop_table(name)

    def drop_table(self, keyspace: str, name: str) -> None:
        """Drop a table or a view (events do not tell them apart)."""
        ks = self.keyspaces.get(keyspace)
        if ks is not None:
            with self._lock:
                ks._drop_table(name)

    def refresh_type(self, rows: SchemaRows, keyspace: str, name: str) -> None:
        """A user type was created or altered; the columns using it get the new codec."""
        ks = self.keyspaces.get(keyspace)
        if ks is None:
            return
        row = _find(rows.types, keyspace_name=keyspace, type_name=name)
        if row is None:
            self.drop_type(keyspace, name)
            return
        with self._lock:
            ks.user_types = {**ks.user_types, name: build_user_type(row)}
            resolve_types(ks)

    def drop_type(self, keyspace: str, name: str) -> None:
        ks = self.keyspaces.get(keyspace)
        if ks is not None and name in ks.user_types:
            with self._lock:
                types = dict(ks.user_types)
                del types[name]
                ks.user_types = types
                resolve_types(ks)

    def refresh_function(self, rows: SchemaRows, keyspace: str, signature: str) -> None:
        """A function overload was created or replaced (``signature`` as
        :func:`format_signature` writes it)."""
        ks = self.keyspaces.get(keyspace)
        if ks is None:
            return
        for row in rows.functions:
            fn = build_function(row)
            if fn.keyspace == keyspace and fn.signature == signature:
                with self._lock:
                    ks.functions = {**ks.functions, signature: fn}
                return
        self.drop_function(keyspace, signature)

    def drop_function(self, keyspace: str, signature: str) -> None:
        ks = self.keyspaces.get(keyspace)
        if ks is not None and signature in ks.functions:
            with self._lock:
                functions = dict(ks.functions)
                del functions[signature]
                ks.functions = functions

    def refresh_aggregate(self, rows: SchemaRows, keyspace: str, signature: str) -> None:
        ks = self.keyspaces.get(keyspace)
        if ks is None:
            return
        for row in rows.aggregates:
            agg = build_aggregate(row)
            if agg.keyspace == keyspace and agg.signature == signature:
                with self._lock:
                    ks.aggregates = {**ks.aggregates, signature: agg}
                return
        self.drop_aggregate(keyspace, signature)

    def drop_aggregate(self, keyspace: str, signature: str) -> None:
        ks = self.keyspaces.get(keyspace)
        if ks is not None and signature in ks.aggregates:
            with self._lock:
                aggregates = dict(ks.aggregates)
                del aggregates[signature]
                ks.aggregates = aggregates

    def __repr__(self) -> str:
        return (f"<Metadata {self.cluster_name!r}: {len(self._hosts)} hosts, "
                f"{len(self.keyspaces)} keyspaces>")


def _get(row: Any, key: str) -> Any:
    if isinstance(row, dict):
        return row.get(key)
    getter = getattr(row, "get", None)
    if getter is not None:
        return getter(key)
    return getattr(row, key, None)


def _find(rows: Iterable[Any], **match: Any) -> Any:
    for row in rows:
        if all(_get(row, k) == v for k, v in match.items()):
            return row
    return None


def _hosts_signature(hosts: Iterable[Host]) -> frozenset[Any]:
    # the host objects themselves count: a map must not keep serving replaced Host objects
    return frozenset(
        (str(t), id(host), host.datacenter, host.rack) for host in hosts for t in host.tokens
    )
