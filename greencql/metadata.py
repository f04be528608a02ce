"""``cassandra.metadata`` under greencql's name: the schema model, the token map and its
tokens, and the CQL name helpers.

Owns nothing: it re-exports :mod:`greencql.cluster.metadata` (and its ``compat`` module), so
that ``from cassandra.metadata import Murmur3Token, protect_name`` becomes
``from greencql.metadata import Murmur3Token, protect_name``.
"""

from greencql.cluster.host import EndPoint, HostDistance
from greencql.cluster.literals import Encoder, bind_params
from greencql.cluster.metadata import (
    Aggregate,
    ColumnMetadata,
    Function,
    IndexMetadata,
    KeyspaceMetadata,
    LocalStrategy,
    MaterializedViewMetadata,
    Metadata,
    NetworkTopologyStrategy,
    ReplicationStrategy,
    SimpleStrategy,
    TableMetadata,
    TokenMap,
    TriggerMetadata,
    UserType,
    protect_name,
    protect_value,
    strip_frozen,
)
from greencql.cluster.metadata.compat import (
    MAX_LONG,
    MIN_LONG,
    NO_VALID_REPLICA,
    REPLICATION_STRATEGY_CLASS_PREFIX,
    BytesToken,
    HashToken,
    MD5Token,
    Murmur3Token,
    SignatureDescriptor,
    Token,
    escape_name,
    group_keys_by_replica,
    is_valid_name,
    maybe_escape_name,
    protect_names,
)
from greencql.cluster.murmur3 import murmur3
from greencql.cluster.rowfactories import dict_factory
from greencql.errors import InvalidRequest, Unauthorized
from greencql.protocol.constants import ConsistencyLevel
from greencql.protocol.values import Version

__all__ = [
    "Metadata",
    "TokenMap",
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
    "Token",
    "HashToken",
    "Murmur3Token",
    "MD5Token",
    "BytesToken",
    "MIN_LONG",
    "MAX_LONG",
    "NO_VALID_REPLICA",
    "REPLICATION_STRATEGY_CLASS_PREFIX",
    "SignatureDescriptor",
    "protect_name",
    "protect_names",
    "protect_value",
    "escape_name",
    "maybe_escape_name",
    "is_valid_name",
    "strip_frozen",
    "group_keys_by_replica",
    "EndPoint",
    "HostDistance",
    "ConsistencyLevel",
    "InvalidRequest",
    "Unauthorized",
    "Encoder",
    "bind_params",
    "dict_factory",
    "Version",
    "murmur3",
]
