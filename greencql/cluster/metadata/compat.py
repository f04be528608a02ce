"""The rest of cassandra-driver's ``cassandra.metadata`` surface: token objects, function
descriptors, CQL name quoting helpers and ``group_keys_by_replica``.

Owns: the name helpers and ``group_keys_by_replica``; re-exports the token objects
(:mod:`greencql.cluster.tokens`) and the function descriptors
(:mod:`greencql.protocol.values`). Pure code; no IO.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from greencql.cluster.metadata.model import RESERVED_KEYWORDS, protect_name
from greencql.cluster.murmur3 import MAX_TOKEN, MIN_TOKEN, serialize_partition_key
from greencql.cluster.tokens import BytesToken, HashToken, MD5Token, Murmur3Token, Token
from greencql.protocol.types import parse_type_string
from greencql.protocol.values import (
    SignatureDescriptor,
    UserAggregateDescriptor,
    UserFunctionDescriptor,
)

__all__ = [
    "MIN_LONG",
    "MAX_LONG",
    "REPLICATION_STRATEGY_CLASS_PREFIX",
    "NO_VALID_REPLICA",
    "Token",
    "HashToken",
    "Murmur3Token",
    "MD5Token",
    "BytesToken",
    "SignatureDescriptor",
    "UserFunctionDescriptor",
    "UserAggregateDescriptor",
    "protect_names",
    "escape_name",
    "maybe_escape_name",
    "is_valid_name",
    "group_keys_by_replica",
]

MIN_LONG = MIN_TOKEN
MAX_LONG = MAX_TOKEN
REPLICATION_STRATEGY_CLASS_PREFIX = "org.apache.cassandra.locator."

#: the key of :func:`group_keys_by_replica`'s result for keys with no live replica
NO_VALID_REPLICA = object()


_VALID_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def is_valid_name(name: str | None) -> bool:
    """True when ``name`` needs no quotes in CQL (lower case identifier, not reserved)."""
    if name is None:
        return False
    if name.lower() in RESERVED_KEYWORDS:
        return False
    return _VALID_NAME.match(name) is not None


def escape_name(name: str) -> str:
    """``name`` in double quotes, embedded quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def maybe_escape_name(name: str) -> str:
    """``name`` as is when valid unquoted, else quoted."""
    return name if is_valid_name(name) else escape_name(name)


def protect_names(names: Iterable[str]) -> list[str]:
    """:func:`protect_name` of each name."""
    return [protect_name(n) for n in names]


def group_keys_by_replica(session: Any, keyspace: str, table: str,
                          keys: Iterable[Any]) -> dict[Any, list[Any]]:
    """Primary keys grouped by the first live replica of their partition, so that each group
    can go to one node (for example as an unlogged batch). ``keys`` are tuples of the
    partition key columns' values, in the table's partition key order. Keys with no live
    replica are grouped under :data:`NO_VALID_REPLICA`."""
    cluster = session.cluster
    metadata = cluster.metadata
    table_meta = metadata.keyspaces[keyspace].tables[table]
    key_types = [col.cql_type for col in table_meta.partition_key]
    encoders = [parse_type_string(t).encode for t in key_types]
    groups: dict[Any, list[Any]] = {}
    for key in keys:
        values = key if isinstance(key, (tuple, list)) else (key,)
        parts = [enc(v) for enc, v in zip(encoders, values, strict=True)]
        routing_key = serialize_partition_key(parts)
        replicas = metadata.get_replicas(keyspace, routing_key)
        target: Any = NO_VALID_REPLICA
        for host in replicas:
            if host.is_up is not False:
                target = host
                break
        groups.setdefault(target, []).append(key)
    return groups
