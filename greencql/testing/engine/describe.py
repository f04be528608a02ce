"""Server-side DESCRIBE of the simulated engine (Cassandra 4.0's DescribeStatement).

Owns: the rows of ``DESCRIBE KEYSPACES / TABLES / TYPES`` (columns keyspace_name, type,
name) and of ``DESCRIBE [FULL] SCHEMA``, ``DESCRIBE [ONLY] KEYSPACE``, ``DESCRIBE TABLE``,
``DESCRIBE TYPE``, ``DESCRIBE INDEX`` and ``DESCRIBE <name>`` (columns keyspace_name, type,
name, create_statement), with the CREATE statements written as 4.0 writes them. Reads the
schema only.
"""

from __future__ import annotations

import re
from typing import Any

from greencql.errors import InvalidRequest
from greencql.testing.engine.results import ColumnSpec, Rows
from greencql.testing.schema import ColType, Index, Keyspace, Schema, Table, UserType

__all__ = ["describe"]

_TEXT = ColType("text")
_LIST_COLS = ("keyspace_name", "type", "name")
_ELEMENT_COLS = ("keyspace_name", "type", "name", "create_statement")
_SYSTEM = ("system", "system_schema", "system_auth", "system_distributed", "system_traces",
           "system_views", "system_virtual_schema")


def _q(name: str) -> str:
    if re.fullmatch(r"[a-z][a-z0-9_]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _specs(cols: tuple[str, ...]) -> tuple[ColumnSpec, ...]:
    return tuple(ColumnSpec("", "", c, _TEXT) for c in cols)


def _str(v: Any) -> str:
    return "'" + str(v).replace("'", "''") + "'"


def _map(m: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{_str(k)}: {_str(v)}" for k, v in m.items()) + "}"


def keyspace_cql(ks: Keyspace) -> str:
    return (f"CREATE KEYSPACE {_q(ks.name)} WITH replication = {_map(ks.replication)}  AND "
            f"durable_writes = {'true' if ks.durable_writes else 'false'};")


def type_cql(ut: UserType) -> str:
    fields = ",\n".join(f"    {_q(n)} {t.cql_name}" for n, t in zip(ut.field_names,
                                                                       ut.field_types,
                                                                       strict=True))
    return f"CREATE TYPE {_q(ut.keyspace)}.{_q(ut.name)} (\n{fields}\n);"


def _option(name: str, v: Any) -> str:
    if isinstance(v, dict):
        return _map(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if v is None:
        return "false"
    return _str(v)


_SKIPPED_OPTIONS = ("read_repair_chance", "dclocal_read_repair_chance")


def table_cql(t: Table) -> str:
    lines = []
    single = len(t.partition_key) == 1 and not t.clustering
    for c in t.partition_key + t.clustering:
        lines.append(f"    {_q(c.name)} {c.type.cql_name}" + (" PRIMARY KEY" if single else ""))
    others = sorted(t.statics, key=lambda c: (c.type.multicell, c.name.encode())) + sorted(
        t.regulars, key=lambda c: (c.type.multicell, c.name.encode()))
    for c in others:
        lines.append(f"    {_q(c.name)} {c.type.cql_name}" + (" static" if c.kind == "static"
                                                             else ""))
    if not single:
        pk = ", ".join(_q(c.name) for c in t.partition_key)
        if len(t.partition_key) > 1:
            pk = f"({pk})"
        key = ", ".join([pk] + [_q(c.name) for c in t.clustering])
        lines.append(f"    PRIMARY KEY ({key})")
    head = f"CREATE TABLE {_q(t.keyspace)}.{_q(t.name)} (\n" + ",\n".join(lines) + "\n) WITH "
    opts = []
    if t.clustering:
        order = ", ".join(f"{_q(c.name)} {c.clustering_order.upper()}" for c in t.clustering)
        opts.append(f"CLUSTERING ORDER BY ({order})")
    if t.compact:
        opts.append("COMPACT STORAGE")
    for name in sorted(t.options):
        if name in _SKIPPED_OPTIONS:
            continue
        opts.append(f"{name} = {_option(name, t.options[name])}")
    return head + "\n    AND ".join(opts) + ";"


def index_cql(t: Table, ix: Index) -> str:
    target = ix.options.get("target", ix.target)
    if ix.kind == "CUSTOM":
        return (f"CREATE CUSTOM INDEX {_q(ix.name)} ON {_q(t.keyspace)}.{_q(t.name)} ({target}) "
                f"USING {_str(ix.options.get('class_name', ''))};")
    return f"CREATE INDEX {_q(ix.name)} ON {_q(t.keyspace)}.{_q(t.name)} ({target});"


def _keyspace_rows(ks: Keyspace, only: bool = False) -> list[tuple[str, ...]]:
    rows = [(ks.name, "keyspace", ks.name, keyspace_cql(ks))]
    if only:
        return rows
    for ut in sorted(ks.types.values(), key=lambda u: u.name):
        rows.append((ks.name, "type", ut.name, type_cql(ut)))
    for t in sorted(ks.tables.values(), key=lambda t: t.name):
        rows.extend(_table_rows(t))
    return rows


def _table_rows(t: Table) -> list[tuple[str, ...]]:
    rows = [(t.keyspace, "table", t.name, table_cql(t))]
    for ix in sorted(t.indexes.values(), key=lambda i: i.name):
        rows.append((t.keyspace, "index", ix.name, index_cql(t, ix)))
    return rows


def describe(schema: Schema, words: tuple[str, ...], names: tuple[str | None, str | None],
             keyspace: str | None, cluster_name: str = "greencql") -> Rows:
    """``words``: the DESCRIBE keywords (lowercased, e.g. ('full', 'schema')); ``names``:
    (keyspace, name) of a named element."""
    what = [w for w in words if w not in ("full", "only")]
    full = "full" in words
    kind = what[0] if what else ""
    ks_name, name = names
    if kind == "cluster":
        return Rows(_specs(("cluster", "partitioner", "snitch")), [(
            cluster_name, "org.apache.cassandra.dht.Murmur3Partitioner",
            "org.apache.cassandra.locator.SimpleSnitch")], None)
    listed = [k for k in sorted(schema.keyspaces.values(), key=lambda k: k.name)]
    if kind in ("keyspaces", "tables", "types", "functions", "aggregates"):
        if kind == "keyspaces":
            rows = [(k.name, "keyspace", k.name) for k in listed]
        elif kind in ("functions", "aggregates"):
            rows = []
        else:
            scope = [schema.keyspaces[keyspace]] if keyspace in schema.keyspaces else listed
            if kind == "tables":
                rows = [(k.name, "table", t) for k in scope for t in sorted(k.tables)]
            else:
                rows = [(k.name, "type", t) for k in scope for t in sorted(k.types)]
        return Rows(_specs(_LIST_COLS), rows, None)
    if kind == "schema":
        rows = []
        for k in listed:
            if k.name in _SYSTEM and not full:
                continue
            rows.extend(_keyspace_rows(k))
        return Rows(_specs(_ELEMENT_COLS), rows, None)
    if kind == "keyspace" or (kind == "" and name is not None and ks_name is None
                              and name in schema.keyspaces):
        target = name or keyspace
        if target is None:
            raise InvalidRequest("No keyspace specified and no current keyspace")
        k = schema.keyspaces.get(target)
        if k is None:
            raise InvalidRequest(f"Keyspace '{target}' not found")
        return Rows(_specs(_ELEMENT_COLS), _keyspace_rows(k, only="only" in words), None)
    ks = ks_name or keyspace
    if ks is None:
        raise InvalidRequest("No keyspace specified and no current keyspace")
    k = schema.keyspaces.get(ks)
    if k is None:
        raise InvalidRequest(f"Keyspace '{ks}' not found")
    if kind in ("table", "columnfamily") or kind == "":
        t = k.tables.get(name or "")
        if t is not None:
            return Rows(_specs(_ELEMENT_COLS), _table_rows(t), None)
        if kind:
            raise InvalidRequest(f"Table '{ks}.{name}' not found")
    if kind == "type" or kind == "":
        ut = k.types.get(name or "")
        if ut is not None:
            return Rows(_specs(_ELEMENT_COLS), [(ks, "type", ut.name, type_cql(ut))], None)
        if kind:
            raise InvalidRequest(f"Type '{ks}.{name}' not found")
    if kind == "index" or kind == "":
        for t in k.tables.values():
            ix = t.indexes.get(name or "")
            if ix is not None:
                return Rows(_specs(_ELEMENT_COLS), [(ks, "index", ix.name, index_cql(t, ix))],
                            None)
        if kind:
            raise InvalidRequest(f"Index '{ks}.{name}' not found")
    if kind in ("materialized", "function", "aggregate"):
        raise InvalidRequest(f"{kind.capitalize()} '{ks}.{name}' not found")
    raise InvalidRequest(f"'{name}' not found in keyspace '{ks}'")
