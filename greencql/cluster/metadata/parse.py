"""From system_schema rows to the schema model, and which queries fetch those rows.

Owns: :class:`SchemaRows` (the rows of system_schema.keyspaces / tables / columns / types /
functions / aggregates / indexes / views / triggers and of system_virtual_schema's keyspaces /
tables / columns, for the whole cluster or for one keyspace or one object), the query strings
that fetch them (:data:`FULL_SCHEMA_QUERIES`, :func:`refresh_queries`), and the builders that
turn them into :mod:`~greencql.cluster.metadata.model` objects (:func:`parse_schema` and one
builder per object kind), including resolving every column's type string to a protocol type
with the keyspace's user types.

Must not: run queries (the control connection does, and hands the rows over), keep state, or
raise on one odd row: a table whose rows cannot be made sense of is kept with ``parse_error``
set, and a type string that cannot be resolved leaves ``ColumnMetadata.type`` None.

Rows are Mappings (column name -> value) or namedtuples. Only the system_schema layout of
Cassandra 3.0+ (and ScyllaDB, which copies it) is read; the ``system.schema_*`` tables of
Cassandra 2.x are out of scope (those clusters also lack protocol v4's schema events shape).
Table options: rows that have a ``read_repair`` column come from Cassandra 4.0+ and keep 4.0's
option set (``*_read_repair_chance`` were removed in 4.0 and would not run there); other rows
keep 3.x's. That is cassandra-driver's SchemaParserV4 / SchemaParserV3 split, chosen by the
rows instead of by the server version.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from greencql.cluster.literals import cql_quote
from greencql.cluster.metadata.model import (
    Aggregate,
    ColumnMetadata,
    Function,
    IndexMetadata,
    KeyspaceMetadata,
    MaterializedViewMetadata,
    TableMetadata,
    TriggerMetadata,
    UserType,
)
from greencql.errors import ProtocolError
from greencql.protocol.types import CqlType, parse_type_string
from greencql.protocol.types import UserType as _UdtCodec

__all__ = [
    "SchemaRows",
    "Row",
    "FULL_SCHEMA_QUERIES",
    "SCHEMA_TABLES",
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

log = logging.getLogger(__name__)

#: one row of a system table: column name -> value (a namedtuple is accepted too)
Row = Mapping[str, Any]

#: SchemaRows field -> the system table it holds rows of
SCHEMA_TABLES: dict[str, str] = {
    "keyspaces": "system_schema.keyspaces",
    "tables": "system_schema.tables",
    "columns": "system_schema.columns",
    "types": "system_schema.types",
    "functions": "system_schema.functions",
    "aggregates": "system_schema.aggregates",
    "indexes": "system_schema.indexes",
    "views": "system_schema.views",
    "triggers": "system_schema.triggers",
    "virtual_keyspaces": "system_virtual_schema.keyspaces",
    "virtual_tables": "system_virtual_schema.tables",
    "virtual_columns": "system_virtual_schema.columns",
}

#: fields whose tables exist only on Cassandra 4.0+: a failed query for them (InvalidRequest
#: on older servers and ScyllaDB) means "no rows", not a failed refresh
VIRTUAL_SCHEMA_FIELDS = frozenset({"virtual_keyspaces", "virtual_tables", "virtual_columns"})

#: field -> query, for a full schema refresh (run them all, put the rows in a SchemaRows)
FULL_SCHEMA_QUERIES: dict[str, str] = {f: f"SELECT * FROM {t}" for f, t in SCHEMA_TABLES.items()}

# table options a CREATE TABLE accepts, per Cassandra generation (see the module docstring)
_OPTIONS_V4 = (
    "additional_write_policy",
    "bloom_filter_fp_chance",
    "caching",
    "cdc",
    "comment",
    "compaction",
    "compression",
    "crc_check_chance",
    "default_time_to_live",
    "gc_grace_seconds",
    "max_index_interval",
    "memtable_flush_period_in_ms",
    "min_index_interval",
    "read_repair",
    "speculative_retry",
)
_OPTIONS_V3 = (
    "bloom_filter_fp_chance",
    "caching",
    "cdc",
    "comment",
    "compaction",
    "compression",
    "crc_check_chance",
    "dclocal_read_repair_chance",
    "default_time_to_live",
    "gc_grace_seconds",
    "max_index_interval",
    "memtable_flush_period_in_ms",
    "min_index_interval",
    "read_repair_chance",
    "speculative_retry",
)


@dataclass
class SchemaRows:
    """Rows of the schema tables (see :data:`SCHEMA_TABLES`), for all keyspaces or a subset.

    Any field may be left empty; a targeted refresh fills only what it queried.
    """

    keyspaces: Sequence[Row] = ()
    tables: Sequence[Row] = ()
    columns: Sequence[Row] = ()
    types: Sequence[Row] = ()
    functions: Sequence[Row] = ()
    aggregates: Sequence[Row] = ()
    indexes: Sequence[Row] = ()
    views: Sequence[Row] = ()
    triggers: Sequence[Row] = ()
    virtual_keyspaces: Sequence[Row] = ()
    virtual_tables: Sequence[Row] = ()
    virtual_columns: Sequence[Row] = ()

    @classmethod
    def from_results(cls, results: Mapping[str, Iterable[Any]]) -> SchemaRows:
        """From ``{field: rows}`` (as the control connection collects query results)."""
        names = {f.name for f in fields(cls)}
        unknown = set(results) - names
        if unknown:
            raise ValueError(f"unknown schema row fields: {sorted(unknown)}")
        return cls(**{k: [_row(r) for r in v] for k, v in results.items()})


def rows_as_dicts(
    column_names: Sequence[str], rows: Iterable[Sequence[Any]]
) -> list[dict[str, Any]]:
    """Tuple rows (as a ROWS result holds them) as dicts keyed by column name."""
    return [dict(zip(column_names, r, strict=True)) for r in rows]


def _row(r: Any) -> dict[str, Any]:
    if isinstance(r, Mapping):
        return dict(r)
    as_dict = getattr(r, "_asdict", None)
    if as_dict is not None:
        return dict(as_dict())
    raise TypeError(f"schema rows must be mappings or namedtuples, not {type(r).__name__}")


def refresh_queries(target: str, keyspace: str, name: str | None = None) -> dict[str, str]:
    """field -> query for the refresh a SCHEMA_CHANGE event calls for.

    ``target`` is the event's: KEYSPACE (only the keyspace row: its tables and types have
    their own events), TABLE (the table *or* view named, with its columns, indexes and
    triggers: protocol v4 events do not tell tables and views apart), TYPE, FUNCTION or
    AGGREGATE (all overloads of the name; :meth:`Metadata.refresh` picks the one whose
    argument types the event names). Literals are quoted here, so the queries are plain
    strings for QUERY messages.
    """
    target = target.upper()
    ks = f"keyspace_name = {cql_quote(keyspace)}"
    if target == "KEYSPACE":
        return {"keyspaces": f"SELECT * FROM system_schema.keyspaces WHERE {ks}"}
    if name is None:
        raise ValueError(f"a {target} refresh needs a name")
    named = cql_quote(name)
    if target == "TABLE":
        where = f"WHERE {ks} AND table_name = {named}"
        return {
            "tables": f"SELECT * FROM system_schema.tables {where}",
            "columns": f"SELECT * FROM system_schema.columns {where}",
            "indexes": f"SELECT * FROM system_schema.indexes {where}",
            "triggers": f"SELECT * FROM system_schema.triggers {where}",
            "views": f"SELECT * FROM system_schema.views WHERE {ks} AND view_name = {named}",
        }
    if target == "TYPE":
        return {"types": f"SELECT * FROM system_schema.types WHERE {ks} AND type_name = {named}"}
    if target == "FUNCTION":
        return {
            "functions": "SELECT * FROM system_schema.functions "
            f"WHERE {ks} AND function_name = {named}"
        }
    if target == "AGGREGATE":
        return {
            "aggregates": "SELECT * FROM system_schema.aggregates "
            f"WHERE {ks} AND aggregate_name = {named}"
        }
    raise ValueError(f"unknown schema change target {target!r}")


def keyspace_queries(keyspace: str) -> dict[str, str]:
    """field -> query for *everything* in one keyspace (its row, tables, columns, types,
    functions, ...): what :meth:`Metadata.rebuild_keyspace` needs, e.g. when several events
    about one keyspace were coalesced into one refresh."""
    where = f"WHERE keyspace_name = {cql_quote(keyspace)}"
    return {
        field: f"SELECT * FROM {table} {where}"
        for field, table in SCHEMA_TABLES.items()
        if field not in VIRTUAL_SCHEMA_FIELDS
    }


# -- builders -----------------------------------------------------------------------------


def build_keyspace(row: Row, *, virtual: bool = False) -> KeyspaceMetadata:
    """A keyspace (without its children) from its system_schema.keyspaces row."""
    r = _row(row)
    return KeyspaceMetadata(
        r["keyspace_name"],
        r.get("durable_writes") if virtual else bool(r.get("durable_writes", True)),
        r.get("replication") or {},
        virtual=virtual,
    )


def build_user_type(row: Row) -> UserType:
    r = _row(row)
    return UserType(r["keyspace_name"], r["type_name"], r.get("field_names"), r.get("field_types"))


def build_function(row: Row) -> Function:
    r = _row(row)
    return Function(
        r["keyspace_name"],
        r["function_name"],
        r.get("argument_types") or [],
        r.get("argument_names") or [],
        r.get("return_type") or "",
        r.get("language") or "",
        r.get("body") or "",
        bool(r.get("called_on_null_input")),
        bool(r.get("deterministic", False)),
        bool(r.get("monotonic", False)),
        r.get("monotonic_on") or (),
    )


def build_aggregate(row: Row) -> Aggregate:
    r = _row(row)
    return Aggregate(
        r["keyspace_name"],
        r["aggregate_name"],
        r.get("argument_types") or [],
        r.get("state_func") or "",
        r.get("state_type") or "",
        r.get("final_func"),
        r.get("initcond"),
        r.get("return_type") or "",
        bool(r.get("deterministic", False)),
    )


def _table_options(r: Mapping[str, Any]) -> dict[str, Any]:
    names = _OPTIONS_V4 if "read_repair" in r else _OPTIONS_V3
    out: dict[str, Any] = {}
    for name in names:
        if name in r:
            value = r[name]
            out[name] = dict(value) if isinstance(value, Mapping) else value
    return out


def _column(table: Any, r: Mapping[str, Any]) -> ColumnMetadata:
    kind = r.get("kind") or "regular"
    order = str(r.get("clustering_order") or "none")
    return ColumnMetadata(
        table,
        r["column_name"],
        r.get("type") or "",
        is_static=kind == "static",
        is_reversed=order.upper() == "DESC",
        kind=kind,
        position=r.get("position", -1) if r.get("position") is not None else -1,
    )


def _fill_columns(
    meta: TableMetadata | MaterializedViewMetadata,
    column_rows: Iterable[Row],
    compact_static: bool = False,
    is_dense: bool = False,
) -> None:
    rows = [_row(c) for c in column_rows]
    pk = sorted((r for r in rows if r.get("kind") == "partition_key"),
                key=lambda r: r.get("position") or 0)
    for r in pk:
        col = _column(meta, r)
        meta.columns[col.name] = col
        meta.partition_key.append(col)
    if not compact_static:
        ck = sorted((r for r in rows if r.get("kind") == "clustering"),
                    key=lambda r: r.get("position") or 0)
        for r in ck:
            col = _column(meta, r)
            meta.columns[col.name] = col
            meta.clustering_key.append(col)
    for r in rows:
        if r.get("kind") in ("partition_key", "clustering"):
            continue
        col = _column(meta, r)
        if is_dense and col.cql_type == "empty":
            continue  # the hidden value column of a dense COMPACT STORAGE table
        if compact_static:
            # static compact tables: only the logical columns, shown as regular ones
            if not col.is_static:
                continue
            col.is_static = False
            col.kind = "regular"
        meta.columns[col.name] = col
    if not meta.partition_key:
        raise ValueError(f"no partition key column listed for {meta.keyspace_name}.{meta.name}")


def build_table(
    row: Row,
    column_rows: Iterable[Row],
    index_rows: Iterable[Row] = (),
    trigger_rows: Iterable[Row] = (),
    *,
    virtual: bool = False,
) -> TableMetadata:
    """A table from its system_schema.tables row and the rows of its columns, indexes and
    triggers (column types are resolved later, by :func:`resolve_types`)."""
    r = _row(row)
    table = TableMetadata(r["keyspace_name"], r["table_name"], virtual=virtual)
    try:
        table.options = _table_options(r)
        table.id = r.get("id")
        table.extensions = dict(r.get("extensions") or {})
        flags = frozenset(r.get("flags") or ())
        table.flags = flags
        if virtual:
            compact_static = is_dense = False
        elif flags:
            is_dense = "dense" in flags
            compact_static = not is_dense and "super" not in flags and "compound" not in flags
            table.is_compact_storage = is_dense or "super" in flags or "compound" not in flags
        else:  # no flags at all: a Thrift-era static compact table
            compact_static, is_dense = True, False
            table.is_compact_storage = True
        _fill_columns(table, column_rows, compact_static, is_dense)
        for t in trigger_rows:
            tr = _row(t)
            table.triggers[tr["trigger_name"]] = TriggerMetadata(
                table, tr["trigger_name"], tr.get("options")
            )
        for i in index_rows:
            ir = _row(i)
            if ir.get("index_name") or ir.get("kind"):
                table.indexes[ir["index_name"]] = IndexMetadata(
                    table.keyspace_name, table.name, ir["index_name"], ir.get("kind") or "",
                    ir.get("options"),
                )
    except Exception as exc:  # one odd table must not cost the whole schema
        log.warning("could not parse metadata of table %s.%s: %s", table.keyspace_name,
                    table.name, exc)
        table.parse_error = f"{type(exc).__name__}: {exc}"
    return table


def build_view(row: Row, column_rows: Iterable[Row]) -> MaterializedViewMetadata:
    """A materialized view from its system_schema.views row and its column rows."""
    r = _row(row)
    view = MaterializedViewMetadata(
        r["keyspace_name"],
        r["view_name"],
        r.get("base_table_name") or "",
        bool(r.get("include_all_columns")),
        r.get("where_clause") or "",
        _table_options(r),
    )
    view.id = r.get("id")
    view.extensions = dict(r.get("extensions") or {})
    _fill_columns(view, column_rows)
    return view


# -- type resolution ----------------------------------------------------------------------


def _udt_resolver(ks: KeyspaceMetadata) -> Callable[[str], CqlType | None]:
    cache: dict[str, CqlType | None] = {}
    resolving: set[str] = set()

    def resolve(name: str) -> CqlType | None:
        if name in cache:
            return cache[name]
        ut = ks.user_types.get(name)
        if ut is None or name in resolving:  # unknown, or a cycle (not valid CQL anyway)
            return None
        resolving.add(name)
        try:
            field_types = [parse_type_string(t, resolve) for t in ut.field_types]
            codec: CqlType | None = _UdtCodec(ks.name, ut.name, ut.field_names, field_types)
        except (ProtocolError, ValueError) as exc:
            log.debug("cannot resolve user type %s.%s: %s", ks.name, name, exc)
            codec = None
        finally:
            resolving.discard(name)
        cache[name] = codec
        return codec

    return resolve


def _parse_type(text: str, resolve: Callable[[str], CqlType | None], where: str
                ) -> CqlType | None:
    try:
        return parse_type_string(text, resolve)  # type: ignore[arg-type]
    except (ProtocolError, ValueError) as exc:
        log.debug("cannot resolve type %r of %s: %s", text, where, exc)
        return None


def resolve_types(ks: KeyspaceMetadata) -> None:
    """Set ``.type`` (the protocol type) of every user type and of every column of every
    table and view in ``ks`` from their type strings and the keyspace's user types. Run again
    after a user type changed: the columns that use it get the new codec."""
    resolve = _udt_resolver(ks)
    for name, ut in ks.user_types.items():
        ut.type = resolve(name)
    for holder in (*ks.tables.values(), *ks.views.values()):
        for col in holder.columns.values():
            col.type = _parse_type(col.cql_type, resolve,
                                   f"{ks.name}.{holder.name}.{col.name}")


# -- whole schema -------------------------------------------------------------------------


def _group(rows: Iterable[Row], *keys: str) -> dict[Any, list[dict[str, Any]]]:
    out: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        r = _row(row)
        out[tuple(r.get(k) for k in keys)].append(r)
    return out


def parse_schema(rows: SchemaRows) -> dict[str, KeyspaceMetadata]:
    """Every keyspace the rows describe (virtual ones included, flagged ``virtual``), with
    their tables, views, indexes, types, functions and aggregates, column types resolved.
    Children whose keyspace row is missing are ignored."""
    tables = _group(rows.tables, "keyspace_name")
    columns = _group(rows.columns, "keyspace_name", "table_name")
    indexes = _group(rows.indexes, "keyspace_name", "table_name")
    triggers = _group(rows.triggers, "keyspace_name", "table_name")
    types = _group(rows.types, "keyspace_name")
    functions = _group(rows.functions, "keyspace_name")
    aggregates = _group(rows.aggregates, "keyspace_name")
    views = _group(rows.views, "keyspace_name")

    out: dict[str, KeyspaceMetadata] = {}
    for krow in rows.keyspaces:
        ks = build_keyspace(krow)
        name = ks.name
        for t in tables.get((name,), ()):
            tname = t["table_name"]
            ks._add_table(build_table(t, columns.get((name, tname), ()),
                                      indexes.get((name, tname), ()),
                                      triggers.get((name, tname), ())), published=False)
        for u in types.get((name,), ()):
            ut = build_user_type(u)
            ks.user_types[ut.name] = ut
        for f in functions.get((name,), ()):
            fn = build_function(f)
            ks.functions[fn.signature] = fn
        for a in aggregates.get((name,), ()):
            agg = build_aggregate(a)
            ks.aggregates[agg.signature] = agg
        for v in views.get((name,), ()):
            ks._add_view(build_view(v, columns.get((name, v["view_name"]), ())))
        resolve_types(ks)
        out[name] = ks

    vtables = _group(rows.virtual_tables, "keyspace_name")
    vcolumns = _group(rows.virtual_columns, "keyspace_name", "table_name")
    for krow in rows.virtual_keyspaces:
        ks = build_keyspace(krow, virtual=True)
        for t in vtables.get((ks.name,), ()):
            ks._add_table(build_table(t, vcolumns.get((ks.name, t["table_name"]), ()),
                                      virtual=True), published=False)
        resolve_types(ks)
        out[ks.name] = ks
    return out
