"""System tables of the simulated cluster, shaped like Apache Cassandra 4.0's.

Owns: the definitions (columns, kinds, types, clustering order) of system.local, system.peers,
system.peers_v2, the system_schema tables, system_traces.sessions/events and the
system_virtual_schema tables the drivers query, the built-in keyspaces, and the rows of the
read-only ones, generated from the engine's :class:`~greencql.testing.schema.Schema` and a
topology description (:class:`NodeInfo` per node) as seen from one coordinator node. It does
not store anything: the engine asks for fresh rows when schema or topology changed. No IO.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field
from typing import Any

from greencql.testing.schema import (
    DEFAULT_TABLE_OPTIONS,
    STRATEGY_PREFIX,
    ColType,
    Column,
    Keyspace,
    Schema,
    Table,
)

__all__ = [
    "NodeInfo",
    "NodeRef",
    "find_node",
    "storage_ports",
    "SYSTEM_KEYSPACES",
    "VIRTUAL_TABLES",
    "install_system_keyspaces",
    "system_rows",
    "CLUSTER_NAME",
    "RELEASE_VERSION",
    "CQL_VERSION",
    "PARTITIONER",
]

CLUSTER_NAME = "greencql"
RELEASE_VERSION = "4.0.13"
CQL_VERSION = "3.4.5"
PARTITIONER = "org.apache.cassandra.dht.Murmur3Partitioner"
#: Cassandra's default storage (gossip) port
DEFAULT_STORAGE_PORT = 7000
_LOCAL = STRATEGY_PREFIX + "LocalStrategy"
_SIMPLE = STRATEGY_PREFIX + "SimpleStrategy"


@dataclass(frozen=True)
class NodeInfo:
    """One node of the simulated cluster as the system tables describe it.

    ``schema_version`` None means "the engine's current schema version" (set it to simulate
    schema disagreement). ``tokens`` are ints or decimal strings. ``port`` is the native
    (CQL) port; ``storage_port`` None means 7000, or 7000, 7001, ... (in native port order)
    for nodes sharing one address, as a single-address cluster must be configured (see
    :func:`storage_ports`)."""

    address: str
    host_id: uuid.UUID
    tokens: tuple[int | str, ...]
    port: int = 9042
    dc: str = "datacenter1"
    rack: str = "rack1"
    release_version: str = RELEASE_VERSION
    schema_version: uuid.UUID | None = None
    storage_port: int | None = None
    native_protocol_version: str = "5"
    gossip_generation: int = 1700000000
    extra: dict[str, Any] = field(default_factory=dict)


# name, type, kind, position, clustering_order
_T = tuple[str, str, str, int, str]


def _cols(pk: list[tuple[str, str]], ck: list[tuple[str, str]], regular: list[tuple[str, str]]
          ) -> list[_T]:
    out: list[_T] = [(n, t, "partition_key", i, "none") for i, (n, t) in enumerate(pk)]
    out += [(n, t, "clustering", i, "asc") for i, (n, t) in enumerate(ck)]
    out += [(n, t, "regular", -1, "none") for n, t in regular]
    return out


_SYSTEM_TABLES: dict[str, dict[str, list[_T]]] = {
    "system": {
        "local": _cols([("key", "text")], [], [
            ("bootstrapped", "text"), ("broadcast_address", "inet"), ("broadcast_port", "int"),
            ("cluster_name", "text"), ("cql_version", "text"), ("data_center", "text"),
            ("gossip_generation", "int"), ("host_id", "uuid"), ("listen_address", "inet"),
            ("listen_port", "int"), ("native_protocol_version", "text"),
            ("partitioner", "text"), ("rack", "text"), ("release_version", "text"),
            ("rpc_address", "inet"), ("rpc_port", "int"), ("schema_version", "uuid"),
            ("tokens", "set<text>"), ("truncated_at", "map<uuid, blob>")]),
        "peers": _cols([("peer", "inet")], [], [
            ("data_center", "text"), ("host_id", "uuid"), ("preferred_ip", "inet"),
            ("rack", "text"), ("release_version", "text"), ("rpc_address", "inet"),
            ("schema_version", "uuid"), ("tokens", "set<text>")]),
        "peers_v2": _cols([("peer", "inet")], [("peer_port", "int")], [
            ("data_center", "text"), ("host_id", "uuid"), ("native_address", "inet"),
            ("native_port", "int"), ("preferred_ip", "inet"), ("preferred_port", "int"),
            ("rack", "text"), ("release_version", "text"), ("schema_version", "uuid"),
            ("tokens", "set<text>")]),
        # read by Spark and other tools; always empty here (no sstables to estimate)
        "size_estimates": _cols([("keyspace_name", "text")], [
            ("table_name", "text"), ("range_start", "text"), ("range_end", "text")], [
            ("mean_partition_size", "bigint"), ("partitions_count", "bigint")]),
    },
    "system_schema": {
        "keyspaces": _cols([("keyspace_name", "text")], [], [
            ("durable_writes", "boolean"), ("replication", "frozen<map<text, text>>")]),
        "tables": _cols([("keyspace_name", "text")], [("table_name", "text")], [
            ("additional_write_policy", "text"), ("bloom_filter_fp_chance", "double"),
            ("caching", "frozen<map<text, text>>"), ("cdc", "boolean"), ("comment", "text"),
            ("compaction", "frozen<map<text, text>>"),
            ("compression", "frozen<map<text, text>>"), ("crc_check_chance", "double"),
            ("dclocal_read_repair_chance", "double"), ("default_time_to_live", "int"),
            ("extensions", "frozen<map<text, blob>>"), ("flags", "frozen<set<text>>"),
            ("gc_grace_seconds", "int"), ("id", "uuid"), ("max_index_interval", "int"),
            ("memtable_flush_period_in_ms", "int"), ("min_index_interval", "int"),
            ("read_repair", "text"), ("read_repair_chance", "double"),
            ("speculative_retry", "text")]),
        "columns": _cols([("keyspace_name", "text")],
                         [("table_name", "text"), ("column_name", "text")], [
            ("clustering_order", "text"), ("column_name_bytes", "blob"), ("kind", "text"),
            ("position", "int"), ("type", "text")]),
        "types": _cols([("keyspace_name", "text")], [("type_name", "text")], [
            ("field_names", "frozen<list<text>>"), ("field_types", "frozen<list<text>>")]),
        "functions": _cols([("keyspace_name", "text")],
                           [("function_name", "text"), ("argument_types", "frozen<list<text>>")], [
            ("argument_names", "frozen<list<text>>"), ("body", "text"),
            ("called_on_null_input", "boolean"), ("language", "text"), ("return_type", "text")]),
        "aggregates": _cols([("keyspace_name", "text")],
                            [("aggregate_name", "text"),
                             ("argument_types", "frozen<list<text>>")], [
            ("final_func", "text"), ("initcond", "text"), ("return_type", "text"),
            ("state_func", "text"), ("state_type", "text")]),
        "indexes": _cols([("keyspace_name", "text")],
                         [("table_name", "text"), ("index_name", "text")], [
            ("kind", "text"), ("options", "frozen<map<text, text>>")]),
        "views": _cols([("keyspace_name", "text")], [("view_name", "text")], [
            ("additional_write_policy", "text"), ("base_table_id", "uuid"),
            ("base_table_name", "text"), ("bloom_filter_fp_chance", "double"),
            ("caching", "frozen<map<text, text>>"), ("cdc", "boolean"), ("comment", "text"),
            ("compaction", "frozen<map<text, text>>"),
            ("compression", "frozen<map<text, text>>"), ("crc_check_chance", "double"),
            ("dclocal_read_repair_chance", "double"), ("default_time_to_live", "int"),
            ("extensions", "frozen<map<text, blob>>"), ("gc_grace_seconds", "int"),
            ("id", "uuid"), ("include_all_columns", "boolean"), ("max_index_interval", "int"),
            ("memtable_flush_period_in_ms", "int"), ("min_index_interval", "int"),
            ("read_repair", "text"), ("read_repair_chance", "double"),
            ("speculative_retry", "text"), ("where_clause", "text")]),
        "triggers": _cols([("keyspace_name", "text")],
                          [("table_name", "text"), ("trigger_name", "text")], [
            ("options", "frozen<map<text, text>>")]),
        "dropped_columns": _cols([("keyspace_name", "text")],
                                 [("table_name", "text"), ("column_name", "text")], [
            ("dropped_time", "timestamp"), ("kind", "text"), ("type", "text")]),
    },
    "system_traces": {
        "sessions": _cols([("session_id", "uuid")], [], [
            ("client", "inet"), ("command", "text"), ("coordinator", "inet"),
            ("coordinator_port", "int"), ("duration", "int"),
            ("parameters", "map<text, text>"), ("request", "text"),
            ("started_at", "timestamp")]),
        "events": _cols([("session_id", "uuid")], [("event_id", "timeuuid")], [
            ("activity", "text"), ("source", "inet"), ("source_elapsed", "int"),
            ("source_port", "int"), ("thread", "text")]),
    },
    "system_views": {
        "clients": _cols([("address", "inet")], [("port", "int")], [
            ("connection_stage", "text"), ("driver_name", "text"), ("driver_version", "text"),
            ("hostname", "text"), ("protocol_version", "int"), ("request_count", "bigint"),
            ("ssl_cipher_suite", "text"), ("ssl_enabled", "boolean"), ("ssl_protocol", "text"),
            ("username", "text")]),
        "settings": _cols([("name", "text")], [], [("value", "text")]),
    },
    "system_virtual_schema": {
        "keyspaces": _cols([("keyspace_name", "text")], [], []),
        "tables": _cols([("keyspace_name", "text")], [("table_name", "text")],
                        [("comment", "text")]),
        "columns": _cols([("keyspace_name", "text")],
                         [("table_name", "text"), ("column_name", "text")], [
            ("clustering_order", "text"), ("column_name_bytes", "blob"), ("kind", "text"),
            ("position", "int"), ("type", "text")]),
    },
}

SYSTEM_KEYSPACES: dict[str, dict[str, str]] = {
    "system": {"class": _LOCAL},
    "system_schema": {"class": _LOCAL},
    "system_auth": {"class": _SIMPLE, "replication_factor": "1"},
    "system_distributed": {"class": _SIMPLE, "replication_factor": "3"},
    "system_traces": {"class": _SIMPLE, "replication_factor": "2"},
}
#: tables whose rows are generated (read-only); system_traces tables are ordinary tables
VIRTUAL_TABLES = frozenset(
    [("system", t) for t in _SYSTEM_TABLES["system"]]
    + [("system_schema", t) for t in _SYSTEM_TABLES["system_schema"]]
    + [("system_virtual_schema", t) for t in _SYSTEM_TABLES["system_virtual_schema"]]
    + [("system_views", t) for t in _SYSTEM_TABLES["system_views"]]
)
_VIRTUAL_KEYSPACES = ("system_views", "system_virtual_schema")

#: system_views.settings: the cassandra.yaml values of a default 4.0 node that clients and
#: tools look at (a subset of the real table's rows)
SETTINGS: dict[str, str] = {
    "batch_size_fail_threshold_in_kb": "50",
    "batch_size_warn_threshold_in_kb": "5",
    "cdc_enabled": "false",
    "cluster_name": CLUSTER_NAME,
    "enable_materialized_views": "false",
    "enable_sasi_indexes": "false",
    "enable_transient_replication": "false",
    "enable_user_defined_functions": "false",
    "enable_user_defined_functions_threads": "true",
    "endpoint_snitch": "SimpleSnitch",
    "native_transport_port": "9042",
    "num_tokens": "16",
    "partitioner": "org.apache.cassandra.dht.Murmur3Partitioner",
    "read_request_timeout_in_ms": "5000",
    "request_timeout_in_ms": "10000",
    "tombstone_failure_threshold": "100000",
    "tombstone_warn_threshold": "1000",
    "unlogged_batch_across_partitions_warn_threshold": "10",
    "write_request_timeout_in_ms": "2000",
}


def _type_of(text: str) -> ColType:
    from greencql.testing.cql.parser import parse_type
    from greencql.testing.schema import resolve_type

    return resolve_type(parse_type(text), None)


def _table_id(ks: str, name: str) -> uuid.UUID:
    return uuid.uuid3(uuid.NAMESPACE_OID, f"greencql.system/{ks}.{name}")


def install_system_keyspaces(schema: Schema, make_data: Any) -> None:
    """Add the built-in keyspaces and their tables to ``schema``; ``make_data()`` gives the
    storage object of each table."""
    for ks_name, repl in SYSTEM_KEYSPACES.items():
        schema.keyspaces[ks_name] = Keyspace(ks_name, dict(repl), True, system=True)
    for vks in _VIRTUAL_KEYSPACES:
        schema.keyspaces[vks] = Keyspace(vks, {"class": _LOCAL}, True, system=True,
                                         listed=False)
    for ks_name, tables in _SYSTEM_TABLES.items():
        ks = schema.keyspaces[ks_name]
        for tname, cols in tables.items():
            columns: dict[str, Column] = {}
            for name, typ, kind, pos, order in cols:
                columns[name] = Column(name, _type_of(typ), kind, pos, order)
            pk = [c for c in columns.values() if c.kind == "partition_key"]
            ck = [c for c in columns.values() if c.kind == "clustering"]
            options = dict(DEFAULT_TABLE_OPTIONS)
            options["gc_grace_seconds"] = 0
            table = Table(ks_name, tname, columns, pk, ck, _table_id(ks_name, tname), options,
                          virtual=(ks_name, tname) in VIRTUAL_TABLES)
            table.data = make_data()
            ks.tables[tname] = table


#: How a caller names the coordinator: its NodeInfo, its host id, (address, native port), or
#: an address alone (the first node on it: enough when every node has its own address).
NodeRef = NodeInfo | uuid.UUID | tuple[str, int] | str


def find_node(nodes: list[NodeInfo], ref: NodeRef | None) -> NodeInfo | None:
    """The node ``ref`` names, else ``None``."""
    if ref is None:
        return None
    if isinstance(ref, NodeInfo):
        ref = ref.host_id
    if isinstance(ref, uuid.UUID):
        return next((n for n in nodes if n.host_id == ref), None)
    if isinstance(ref, tuple):
        address, port = ref
        return next((n for n in nodes if n.address == address and n.port == port), None)
    return next((n for n in nodes if n.address == ref), None)


def storage_ports(nodes: list[NodeInfo]) -> dict[uuid.UUID, int]:
    """The storage port of every node (by host id). Nodes that leave ``storage_port`` unset
    get 7000, except where several share an address: those must listen on distinct storage
    ports, so they get 7000, 7001, ... in the order of their native ports (this also keeps
    the (peer, peer_port) key of system.peers_v2 unique)."""
    by_address: dict[str, list[NodeInfo]] = {}
    for n in nodes:
        by_address.setdefault(n.address, []).append(n)
    out: dict[uuid.UUID, int] = {}
    for group in by_address.values():
        group.sort(key=lambda n: n.port)
        for rank, n in enumerate(group):
            if n.storage_port is not None:
                out[n.host_id] = n.storage_port
            else:
                out[n.host_id] = DEFAULT_STORAGE_PORT + (rank if len(group) > 1 else 0)
    return out


def _inet(address: str) -> Any:
    return ipaddress.ip_address(address)


def _compact_hidden(t: Table) -> list[dict[str, Any]]:
    """The internal columns 4.0 keeps for a COMPACT STORAGE table: a static one's column1
    and value, a dense one's empty value when it has no regular column."""
    if not t.compact:
        return []

    def col(name: str, kind: str, pos: int, order: str, typ: str) -> dict[str, Any]:
        return {"keyspace_name": t.keyspace, "table_name": t.name, "column_name": name,
                "clustering_order": order, "column_name_bytes": name.encode(), "kind": kind,
                "position": pos, "type": typ}

    if not t.clustering:
        return [col("column1", "clustering", 0, "asc", "text"),
                col("value", "regular", -1, "none", "blob")]
    if not t.regulars:
        return [col("value", "regular", -1, "none", "empty")]
    return []


def _table_flags(t: Table) -> set[str]:
    return {"compound"}


def system_rows(table: Table, schema: Schema, nodes: list[NodeInfo], coordinator: NodeInfo | None,
                cluster_name: str = CLUSTER_NAME) -> list[dict[str, Any]]:
    """The rows of one generated system table, as column-name -> value dicts, as
    ``coordinator`` (one of ``nodes``) serves them."""
    ks, name = table.keyspace, table.name
    version = schema.version
    if ks == "system":
        if coordinator is None:
            return []
        ports = storage_ports(nodes)
        if name == "local":
            n = coordinator
            storage_port = ports.get(n.host_id, n.storage_port or DEFAULT_STORAGE_PORT)
            return [{
                "key": "local", "bootstrapped": "COMPLETED",
                "broadcast_address": _inet(n.address), "broadcast_port": storage_port,
                "cluster_name": cluster_name, "cql_version": CQL_VERSION,
                "data_center": n.dc, "gossip_generation": n.gossip_generation,
                "host_id": n.host_id, "listen_address": _inet(n.address),
                "listen_port": storage_port,
                "native_protocol_version": n.native_protocol_version,
                "partitioner": PARTITIONER, "rack": n.rack,
                "release_version": n.release_version, "rpc_address": _inet(n.address),
                "rpc_port": n.port, "schema_version": n.schema_version or version,
                "tokens": {str(t) for t in n.tokens} or None, "truncated_at": None,
            }]
        # the coordinator is told apart by host id: with distinct ports, peers share its address
        peers = [n for n in nodes if n.host_id != coordinator.host_id]
        if name == "peers":
            # keyed by address alone: nodes sharing an address share one row (the first
            # node's), as in Cassandra, which overwrites it; peers_v2 lists them all
            by_address: dict[str, NodeInfo] = {}
            for n in peers:
                by_address.setdefault(n.address, n)
            return [{
                "peer": _inet(n.address), "data_center": n.dc, "host_id": n.host_id,
                "preferred_ip": None, "rack": n.rack, "release_version": n.release_version,
                "rpc_address": _inet(n.address), "schema_version": n.schema_version or version,
                "tokens": {str(t) for t in n.tokens} or None,
            } for n in by_address.values()]
        if name == "peers_v2":
            return [{
                "peer": _inet(n.address), "peer_port": ports[n.host_id], "data_center": n.dc,
                "host_id": n.host_id, "native_address": _inet(n.address),
                "native_port": n.port, "preferred_ip": None, "preferred_port": None,
                "rack": n.rack, "release_version": n.release_version,
                "schema_version": n.schema_version or version,
                "tokens": {str(t) for t in n.tokens} or None,
            } for n in peers]
        return []
    if ks == "system_views":
        if name == "settings":
            rows = dict(SETTINGS, cluster_name=cluster_name)
            return [{"name": k, "value": v} for k, v in sorted(rows.items())]
        return []  # clients: filled by the engine from its client source
    if ks == "system_virtual_schema":
        if name == "keyspaces":
            return [{"keyspace_name": v} for v in _VIRTUAL_KEYSPACES]
        if name == "tables":
            return [{"keyspace_name": v, "table_name": t, "comment": f"virtual {t} table"}
                    for v in _VIRTUAL_KEYSPACES for t in _SYSTEM_TABLES[v]]
        out = []
        for v in _VIRTUAL_KEYSPACES:
            for t, cols in _SYSTEM_TABLES[v].items():
                for cname, typ, kind, pos, order in cols:
                    out.append({"keyspace_name": v, "table_name": t, "column_name": cname,
                                "clustering_order": order, "column_name_bytes": cname.encode(),
                                "kind": kind, "position": pos, "type": typ})
        return out
    # system_schema
    kss = [k for k in schema.keyspaces.values() if k.listed]
    if name == "keyspaces":
        return [{"keyspace_name": k.name, "durable_writes": k.durable_writes,
                 "replication": dict(k.replication)} for k in kss]
    if name == "tables":
        out = []
        for k in kss:
            for t in k.tables.values():
                row = {"keyspace_name": k.name, "table_name": t.name}
                for opt, default in DEFAULT_TABLE_OPTIONS.items():
                    v = t.options.get(opt, default)
                    row[opt] = dict(v) if isinstance(v, dict) else v
                row["extensions"] = dict(t.options.get("extensions") or {})
                row["flags"] = set(t.flags)
                row["id"] = t.id
                out.append(row)
        return out
    if name == "columns":
        out = []
        for k in kss:
            for t in k.tables.values():
                static_compact = t.compact and not t.clustering
                for c in t.columns.values():
                    kind = "static" if static_compact and c.kind == "regular" else c.kind
                    out.append({"keyspace_name": k.name, "table_name": t.name,
                                "column_name": c.name, "clustering_order": c.clustering_order,
                                "column_name_bytes": c.name.encode("utf-8"), "kind": kind,
                                "position": c.position, "type": c.type.cql_name})
                out.extend(_compact_hidden(t))
        return out
    if name == "types":
        return [{"keyspace_name": k.name, "type_name": u.name,
                 "field_names": list(u.field_names),
                 "field_types": [ft.cql_name for ft in u.field_types]}
                for k in kss for u in k.types.values()]
    if name == "indexes":
        return [{"keyspace_name": k.name, "table_name": t.name, "index_name": ix.name,
                 "kind": ix.kind, "options": dict(ix.options)}
                for k in kss for t in k.tables.values() for ix in t.indexes.values()]
    if name == "dropped_columns":
        return [dict(row) for k in kss for t in k.tables.values()
                for row in getattr(t, "dropped", ())]
    return []
