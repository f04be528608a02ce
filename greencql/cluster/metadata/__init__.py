"""Cluster metadata: hosts, schema model, token map (cassandra-driver's ``cassandra.metadata``).

Owns nothing itself: it re-exports :mod:`.model` (the schema classes and their CQL rendering),
:mod:`.parse` (system_schema rows -> model, and the queries that fetch the rows) and
:mod:`.core` (:class:`Metadata`, which ties them to the hosts and the token map). Pure code:
the control connection runs the queries and hands the rows over; nothing here does IO.
"""

from greencql.cluster.metadata.core import Metadata
from greencql.cluster.metadata.model import (
    RESERVED_KEYWORDS,
    Aggregate,
    ColumnMetadata,
    EverywhereStrategy,
    Function,
    IndexMetadata,
    KeyspaceMetadata,
    LocalStrategy,
    MaterializedViewMetadata,
    NetworkTopologyStrategy,
    ReplicationStrategy,
    SimpleStrategy,
    TableMetadata,
    TriggerMetadata,
    UnknownStrategy,
    UserType,
    format_signature,
    protect_name,
    protect_value,
    strip_frozen,
)
from greencql.cluster.metadata.parse import (
    FULL_SCHEMA_QUERIES,
    SCHEMA_TABLES,
    VIRTUAL_SCHEMA_FIELDS,
    Row,
    SchemaRows,
    build_aggregate,
    build_function,
    build_keyspace,
    build_table,
    build_user_type,
    build_view,
    keyspace_queries,
    parse_schema,
    refresh_queries,
    resolve_types,
    rows_as_dicts,
)
from greencql.cluster.tokenmap import TokenMap

__all__ = [
    "Metadata",
    "TokenMap",
    # model
    "KeyspaceMetadata",
    "TableMetadata",
    "ColumnMetadata",
    "IndexMetadata",
    "TriggerMetadata",
    "MaterializedViewMetadata",
    "UserType",
    "Function",
    "Aggregate",
    "ReplicationStrategy",
    "SimpleStrategy",
    "NetworkTopologyStrategy",
    "LocalStrategy",
    "EverywhereStrategy",
    "UnknownStrategy",
    "RESERVED_KEYWORDS",
    "protect_name",
    "protect_value",
    "strip_frozen",
    "format_signature",
    # rows
    "Row",
    "SchemaRows",
    "SCHEMA_TABLES",
    "FULL_SCHEMA_QUERIES",
    "VIRTUAL_SCHEMA_FIELDS",
    "refresh_queries",
    "keyspace_queries",
    "rows_as_dicts",
    "parse_schema",
    "build_keyspace",
    "build_table",
    "build_view",
    "build_user_type",
    "build_function",
    "build_aggregate",
    "resolve_types",
]
