"""The schema model: keyspaces, tables, columns, types, indexes, views, functions, aggregates.

Owns: the metadata classes, named and shaped like cassandra-driver's ``cassandra.metadata``
(``KeyspaceMetadata``, ``TableMetadata``, ``ColumnMetadata``, ``UserType``, ...) so that code
reading ``cluster.metadata`` ports by changing the import, and their rendering back to CQL
(``as_cql_query`` / ``export_as_string``). For the same system_schema rows the text is the text
cassandra-driver 3.30 produces (its tests compare the two), including its spacing quirks; it
differs only where the driver's output is not valid CQL (quotes inside option map values are
doubled here; unknown replication strategies render as a CQL map, not a Python dict repr).

Must not: parse rows (that is :mod:`greencql.cluster.metadata.parse`), do IO, or keep any
reference to connections. Objects are plain records: the parser builds them, the cluster's
:class:`~greencql.cluster.metadata.Metadata` swaps them in whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from greencql.cluster.tokenmap import replication_factor
from greencql.protocol.types import CqlType

__all__ = [
    "RESERVED_KEYWORDS",
    "protect_name",
    "protect_value",
    "strip_frozen",
    "ReplicationStrategy",
    "SimpleStrategy",
    "NetworkTopologyStrategy",
    "LocalStrategy",
    "EverywhereStrategy",
    "UnknownStrategy",
    "KeyspaceMetadata",
    "TableMetadata",
    "ColumnMetadata",
    "IndexMetadata",
    "TriggerMetadata",
    "MaterializedViewMetadata",
    "UserType",
    "Function",
    "Aggregate",
    "format_signature",
]

STRATEGY_PREFIX = "org.apache.cassandra.locator."

#: Words CQL reserves (Cassandra 4.0's ReservedKeywords; a superset of cqlsh's list): such
#: identifiers are double-quoted. Quoting a word that needs no quotes is harmless.
#: cassandra-driver also quotes DataStax Enterprise's reserved words (``columns``, ``rows``,
#: ``field``, ...) unless cqlsh replaced its list; here they stay bare, as Cassandra and
#: ScyllaDB (and cqlsh's DESCRIBE) write them.
RESERVED_KEYWORDS = frozenset(
    """add allow alter and apply asc authorize batch begin by columnfamily create default delete
    desc describe drop entries execute from full grant if in index infinity insert into is
    keyspace limit materialized mbean mbeans modify nan norecursive not null of on or order
    primary rename replace revoke schema select set table to token truncate unlogged unset
    update use using view where with""".split()
)

_PLAIN_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def protect_name(name: str) -> str:
    """An identifier as CQL: bare when lower-case, simple and not reserved, else quoted."""
    if _PLAIN_NAME.match(name) and name not in RESERVED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def protect_value(value: Any) -> str:
    """A table option value as CQL: numbers and booleans bare (lower-case), text quoted."""
    if value is None:
        return "NULL"
    if isinstance(value, (bool, int, float)):
        return str(value).lower()
    return "'" + str(value).replace("'", "''") + "'"


def _quote_text(value: Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _option_map(value: Mapping[Any, Any]) -> str:
    return "{" + ", ".join(f"{_quote_text(k)}: {_quote_text(v)}" for k, v in value.items()) + "}"


_TYPE_TOKEN = re.compile(r'\s*("(?:[^"]|"")*"|[A-Za-z0-9_.]+|[<>,])')


def _type_tree(text: str) -> list[Any]:
    """``map<text, frozen<list<int>>>`` -> ['map', ['text', 'frozen', ['list', ['int']]]]."""
    tokens = [m.group(1) for m in _TYPE_TOKEN.finditer(text)]
    out: list[Any] = []
    stack: list[list[Any]] = [out]
    for tok in tokens:
        if tok == "<":
            child: list[Any] = []
            stack[-1].append(child)
            stack.append(child)
        elif tok == ">":
            if len(stack) > 1:
                stack.pop()
        elif tok != ",":
            stack[-1].append(tok)
    return out


def _render_tree(items: list[Any], keep_frozen: bool) -> list[str]:
    parts: list[str] = []
    i = 0
    while i < len(items):
        name = items[i]
        args = items[i + 1] if i + 1 < len(items) and isinstance(items[i + 1], list) else None
        i += 2 if args is not None else 1
        if isinstance(name, list):  # stray parameters: render them as they are
            parts.append("<" + ", ".join(_render_tree(name, keep_frozen)) + ">")
            continue
        if args is None:
            parts.append(name)
        elif name.lower() == "frozen" and not keep_frozen:
            parts.extend(_render_tree(args, keep_frozen))
        else:
            parts.append(f"{name}<{', '.join(_render_tree(args, keep_frozen))}>")
    return parts


def strip_frozen(cql_type: str) -> str:
    """A CQL type string without its ``frozen<>`` wrappers (CREATE FUNCTION / AGGREGATE
    argument lists are written without them)."""
    return ", ".join(_render_tree(_type_tree(cql_type), keep_frozen=False))


def _type_names(cql_type: str) -> list[str]:
    """Every name in a type string (type constructors and user type names alike)."""
    return [t.strip('"') for t in _TYPE_TOKEN.findall(cql_type) if t not in "<>,"]


def format_signature(name: str, argument_types: Iterable[str]) -> str:
    """``name(type1,type2)``: the key of a function or aggregate among its overloads (as
    cassandra-driver's ``SignatureDescriptor.format_signature``)."""
    return f"{name}({','.join(argument_types)})"


# -- replication -------------------------------------------------------------------------------


class ReplicationStrategy:
    """A keyspace's replication class and options, as system_schema.keyspaces lists them.

    ``name`` is the short class name; ``options_map`` the options without ``class``.
    :meth:`export_for_schema` renders the map for CREATE KEYSPACE.
    """

    name: str = ""

    def __init__(self, options_map: Mapping[str, str] | None = None) -> None:
        self.options_map: dict[str, str] = dict(options_map or {})

    @staticmethod
    def create(replication: Mapping[str, Any] | None) -> ReplicationStrategy | None:
        """The strategy of a replication map (None when the map has no class, as for
        virtual keyspaces)."""
        if not replication or not replication.get("class"):
            return None
        options = {str(k): str(v) for k, v in replication.items() if k != "class"}
        cls_name = str(replication["class"])
        short = cls_name.removeprefix(STRATEGY_PREFIX)
        known = _STRATEGIES.get(short)
        if known is not None:
            try:
                return known(options)
            except (KeyError, ValueError):
                pass  # malformed options: keep them as they are
        return UnknownStrategy(short, options)

    def export_for_schema(self) -> str:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and isinstance(other, ReplicationStrategy)
            and other.name == self.name
            and other.options_map == self.options_map
        )

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.options_map.items()))))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.export_for_schema()}>"


class SimpleStrategy(ReplicationStrategy):
    """``replication_factor`` replicas, walking the ring clockwise."""

    name = "SimpleStrategy"

    def __init__(self, options_map: Mapping[str, str]) -> None:
        super().__init__(options_map)
        #: the factor as written ('3', or '3/1' with transient replicas)
        self.replication_factor_info: str = str(self.options_map["replication_factor"])
        #: full replicas (what a client routes to)
        self.replication_factor: int = replication_factor(self.replication_factor_info)

    def export_for_schema(self) -> str:
        return (
            "{'class': 'SimpleStrategy', 'replication_factor': "
            f"{_quote_text(self.replication_factor_info)}}}"
        )


class NetworkTopologyStrategy(ReplicationStrategy):
    """A replication factor per datacenter."""

    name = "NetworkTopologyStrategy"

    def __init__(self, options_map: Mapping[str, str]) -> None:
        super().__init__(options_map)
        #: datacenter -> factor as written
        self.dc_replication_factors_info: dict[str, str] = dict(self.options_map)
        #: datacenter -> full replicas
        self.dc_replication_factors: dict[str, int] = {
            dc: replication_factor(rf) for dc, rf in self.options_map.items()
        }

    def export_for_schema(self) -> str:
        dcs = "".join(
            f", {_quote_text(dc)}: {_quote_text(rf)}"
            for dc, rf in sorted(self.dc_replication_factors_info.items())
        )
        return "{'class': 'NetworkTopologyStrategy'" + dcs + "}"


class LocalStrategy(ReplicationStrategy):
    """Node-local data (system keyspaces): no replicas to route to."""

    name = "LocalStrategy"

    def export_for_schema(self) -> str:
        return "{'class': 'LocalStrategy'}"


class EverywhereStrategy(ReplicationStrategy):
    """Every node holds everything (DSE and ScyllaDB)."""

    name = "EverywhereStrategy"

    def export_for_schema(self) -> str:
        return "{'class': 'EverywhereStrategy'}"


class UnknownStrategy(ReplicationStrategy):
    """A strategy class this driver does not know; its options are kept and exported."""

    def __init__(self, name: str, options_map: Mapping[str, str] | None = None) -> None:
        super().__init__(options_map)
        self.name = name

    def export_for_schema(self) -> str:
        return _option_map({"class": self.name, **self.options_map})


_STRATEGIES: dict[str, type[ReplicationStrategy]] = {
    "SimpleStrategy": SimpleStrategy,
    "NetworkTopologyStrategy": NetworkTopologyStrategy,
    "LocalStrategy": LocalStrategy,
    "EverywhereStrategy": EverywhereStrategy,
}


# -- types, functions, aggregates -----------------------------------------------------------


class UserType:
    """A user-defined type (CREATE TYPE). ``field_types`` are CQL type strings as listed by
    system_schema.types; :attr:`type` is the resolved protocol type (the codec), None when a
    field type could not be resolved."""

    def __init__(
        self,
        keyspace: str,
        name: str,
        field_names: Sequence[str] | None,
        field_types: Sequence[str] | None,
    ) -> None:
        self.keyspace = keyspace
        self.name = name
        self.field_names: list[str] = list(field_names or [])
        self.field_types: list[str] = list(field_types or [])
        #: the codec (non-frozen :class:`greencql.protocol.types.UserType`), set by the parser
        self.type: CqlType | None = None

    def as_cql_query(self, formatted: bool = False) -> str:
        sep, pad = (",\n", "    ") if formatted else (", ", "")
        pairs = zip(self.field_names, self.field_types, strict=False)
        fields = sep.join(f"{pad}{protect_name(n)} {t}" for n, t in pairs)
        nl = "\n" if formatted else ""
        return (
            f"CREATE TYPE {protect_name(self.keyspace)}.{protect_name(self.name)} "
            f"({nl}{fields}{nl})"
        )

    def export_as_string(self) -> str:
        return self.as_cql_query(formatted=True) + ";"

    def __repr__(self) -> str:
        return f"<UserType {self.keyspace}.{self.name}>"


class Function:
    """A user-defined function (CREATE FUNCTION), keyed in its keyspace by :attr:`signature`."""

    def __init__(
        self,
        keyspace: str,
        name: str,
        argument_types: Sequence[str],
        argument_names: Sequence[str] | None,
        return_type: str,
        language: str,
        body: str,
        called_on_null_input: bool,
        deterministic: bool = False,
        monotonic: bool = False,
        monotonic_on: Sequence[str] = (),
    ) -> None:
        self.keyspace = keyspace
        self.name = name
        self.argument_types: list[str] = list(argument_types or [])
        self.argument_names: list[str] = list(argument_names or [])
        self.return_type = return_type
        self.language = language
        self.body = body
        self.called_on_null_input = called_on_null_input
        self.deterministic = deterministic
        self.monotonic = monotonic
        self.monotonic_on: list[str] = list(monotonic_on or [])

    @property
    def signature(self) -> str:
        return format_signature(self.name, self.argument_types)

    def as_cql_query(self, formatted: bool = False) -> str:
        sep = "\n    " if formatted else " "
        args = ", ".join(
            f"{protect_name(n)} {strip_frozen(t)}"
            for n, t in zip(self.argument_names, self.argument_types, strict=False)
        )
        on_null = "CALLED" if self.called_on_null_input else "RETURNS NULL"
        extra = f"DETERMINISTIC{sep}" if self.deterministic else ""
        if self.monotonic:
            extra += f"MONOTONIC{sep}"
        elif self.monotonic_on:
            extra += f"MONOTONIC ON {self.monotonic_on[0]}{sep}"
        return (
            f"CREATE FUNCTION {protect_name(self.keyspace)}.{protect_name(self.name)}({args})"
            f"{sep}{on_null} ON NULL INPUT{sep}RETURNS {self.return_type}{sep}{extra}"
            f"LANGUAGE {self.language}{sep}AS $${self.body}$$"
        )

    def export_as_string(self) -> str:
        return self.as_cql_query(formatted=True) + ";"

    def __repr__(self) -> str:
        return f"<Function {self.keyspace}.{self.signature}>"


class Aggregate:
    """A user-defined aggregate (CREATE AGGREGATE), keyed in its keyspace by
    :attr:`signature`. ``initial_condition`` is the CQL literal text system_schema lists."""

    def __init__(
        self,
        keyspace: str,
        name: str,
        argument_types: Sequence[str],
        state_func: str,
        state_type: str,
        final_func: str | None,
        initial_condition: str | None,
        return_type: str,
        deterministic: bool = False,
    ) -> None:
        self.keyspace = keyspace
        self.name = name
        self.argument_types: list[str] = list(argument_types or [])
        self.state_func = state_func
        self.state_type = state_type
        self.final_func = final_func
        self.initial_condition = initial_condition
        self.return_type = return_type
        self.deterministic = deterministic

    @property
    def signature(self) -> str:
        return format_signature(self.name, self.argument_types)

    def as_cql_query(self, formatted: bool = False) -> str:
        sep = "\n    " if formatted else " "
        types = ", ".join(strip_frozen(t) for t in self.argument_types)
        ret = (
            f"CREATE AGGREGATE {protect_name(self.keyspace)}.{protect_name(self.name)}({types})"
            f"{sep}SFUNC {protect_name(self.state_func)}{sep}STYPE {strip_frozen(self.state_type)}"
        )
        if self.final_func:
            ret += f"{sep}FINALFUNC {protect_name(self.final_func)}"
        if self.initial_condition is not None:
            ret += f"{sep}INITCOND {self.initial_condition}"
        if self.deterministic:
            ret += f"{sep}DETERMINISTIC"
        return ret

    def export_as_string(self) -> str:
        return self.as_cql_query(formatted=True) + ";"

    def __repr__(self) -> str:
        return f"<Aggregate {self.keyspace}.{self.signature}>"


# -- tables ---------------------------------------------------------------------------------


class ColumnMetadata:
    """One column. ``cql_type`` is the type string of system_schema.columns ('frozen<address>',
    'map<text, int>'); :attr:`type` the resolved protocol type (None if it could not be
    resolved). ``is_reversed`` marks a DESC clustering column."""

    def __init__(
        self,
        table_metadata: Any,
        column_name: str,
        cql_type: str,
        is_static: bool = False,
        is_reversed: bool = False,
        *,
        kind: str = "regular",
        position: int = -1,
    ) -> None:
        self.table = table_metadata
        self.name = column_name
        self.cql_type = cql_type
        self.is_static = is_static
        self.is_reversed = is_reversed
        #: 'partition_key', 'clustering', 'static' or 'regular'
        self.kind = kind
        #: position in the partition or clustering key (-1 for other columns)
        self.position = position
        self.type: CqlType | None = None

    def __str__(self) -> str:
        return f"{self.name} {self.cql_type}"

    def __repr__(self) -> str:
        return f"<ColumnMetadata {self.name} {self.cql_type}>"


class IndexMetadata:
    """A secondary index. ``index_options`` holds at least ``target`` (and ``class_name`` for
    CUSTOM indexes)."""

    def __init__(
        self,
        keyspace_name: str,
        table_name: str,
        index_name: str,
        kind: str,
        index_options: Mapping[str, str] | None,
    ) -> None:
        self.keyspace_name = keyspace_name
        self.table_name = table_name
        self.name = index_name
        self.kind = kind
        self.index_options: dict[str, str] = dict(index_options or {})

    def as_cql_query(self) -> str:
        options = dict(self.index_options)
        target = options.pop("target", "")
        where = f"{protect_name(self.keyspace_name)}.{protect_name(self.table_name)}"
        if self.kind != "CUSTOM":
            return f"CREATE INDEX {protect_name(self.name)} ON {where} ({target})"
        class_name = options.pop("class_name", "")
        ret = (
            f"CREATE CUSTOM INDEX {protect_name(self.name)} ON {where} ({target}) "
            f"USING {_quote_text(class_name)}"
        )
        if options:
            ret += f" WITH OPTIONS = {_option_map(options)}"
        return ret

    def export_as_string(self) -> str:
        return self.as_cql_query() + ";"

    def __repr__(self) -> str:
        return f"<IndexMetadata {self.keyspace_name}.{self.name}>"


class TriggerMetadata:
    """A trigger on a table; ``options['class']`` is the trigger class."""

    def __init__(
        self, table_metadata: Any, trigger_name: str, options: Mapping[str, str] | None = None
    ) -> None:
        self.table = table_metadata
        self.name = trigger_name
        self.options: dict[str, str] = dict(options or {})

    def as_cql_query(self) -> str:
        return (
            f"CREATE TRIGGER {protect_name(self.name)} ON "
            f"{protect_name(self.table.keyspace_name)}.{protect_name(self.table.name)} "
            f"USING {protect_value(self.options.get('class', ''))}"
        )

    def export_as_string(self) -> str:
        return self.as_cql_query() + ";"


#: table options that are maps rendered as ``name = {...}``
_MAP_OPTIONS = ("compaction", "compression", "caching", "nodesync")


def _property_string(
    formatted: bool,
    clustering_key: Sequence[ColumnMetadata],
    options: Mapping[str, Any],
    is_compact_storage: bool = False,
) -> str:
    props: list[str] = []
    if is_compact_storage:
        props.append("COMPACT STORAGE")
    if clustering_key:
        order = ", ".join(
            f"{protect_name(c.name)} {'DESC' if c.is_reversed else 'ASC'}" for c in clustering_key
        )
        props.append(f"CLUSTERING ORDER BY ({order})")
    opts: list[str] = []
    rest = dict(options)
    for name in _MAP_OPTIONS:
        value = rest.get(name)
        if isinstance(value, Mapping):
            del rest[name]
            opts.append(f"{name} = {_option_map(value)}")
    for name, value in rest.items():
        if value is None:
            continue
        if name == "comment":
            value = value or ""
        opts.append(f"{name} = {protect_value(value)}")
    props.extend(sorted(opts))
    return ("\n    AND " if formatted else " AND ").join(props)


class _Columnar:
    """What tables and views share: key columns, columns, options, CQL rendering helpers."""

    keyspace_name: str
    name: str

    def __init__(self) -> None:
        self.partition_key: list[ColumnMetadata] = []
        self.clustering_key: list[ColumnMetadata] = []
        self.columns: dict[str, ColumnMetadata] = {}
        self.options: dict[str, Any] = {}
        self.extensions: dict[str, bytes] = {}
        #: the table id (system_schema ``id``), None when not listed
        self.id: Any = None

    @property
    def primary_key(self) -> list[ColumnMetadata]:
        return self.partition_key + self.clustering_key


class TableMetadata(_Columnar):
    """A table: its key columns in key order, all columns (partition key first, then
    clustering columns, then the others as system_schema lists them), options, indexes,
    triggers and materialized views."""

    def __init__(
        self,
        keyspace_name: str,
        name: str,
        partition_key: list[ColumnMetadata] | None = None,
        clustering_key: list[ColumnMetadata] | None = None,
        columns: dict[str, ColumnMetadata] | None = None,
        triggers: dict[str, TriggerMetadata] | None = None,
        options: dict[str, Any] | None = None,
        virtual: bool = False,
    ) -> None:
        super().__init__()
        self.keyspace_name = keyspace_name
        self.name = name
        self.partition_key = partition_key if partition_key is not None else []
        self.clustering_key = clustering_key if clustering_key is not None else []
        self.columns = columns if columns is not None else {}
        self.triggers: dict[str, TriggerMetadata] = triggers if triggers is not None else {}
        self.options = options if options is not None else {}
        self.indexes: dict[str, IndexMetadata] = {}
        self.views: dict[str, MaterializedViewMetadata] = {}
        self.virtual = virtual
        #: COMPACT STORAGE (ScyllaDB, Cassandra before 4.0); Cassandra 4.0 has none
        self.is_compact_storage = False
        #: system_schema ``flags`` ({'compound'}, {'compound', 'counter'}, ...)
        self.flags: frozenset[str] = frozenset()
        #: why parsing this table's rows failed, if it did (the model is then partial)
        self.parse_error: str | None = None

    def export_as_string(self) -> str:
        """CREATE TABLE with its indexes, triggers and views, formatted for reading."""
        if self.parse_error:
            return (
                f"/*\nWarning: Table {self.keyspace_name}.{self.name} is incomplete because of "
                f"an error processing metadata.\n{self.parse_error}\nApproximate structure, for "
                "reference:\n(this should not be used to reproduce this schema)\n\n"
                f"{self._all_as_cql()}\n*/"
            )
        if self.virtual:
            return (
                f"/*\nWarning: Table {self.keyspace_name}.{self.name} is a virtual table and "
                f"cannot be recreated with CQL.\nStructure, for reference:\n{self._all_as_cql()}"
                "\n*/"
            )
        return self._all_as_cql()

    def _all_as_cql(self) -> str:
        ret = self.as_cql_query(formatted=True) + ";"
        for index in self.indexes.values():
            ret += f"\n{index.as_cql_query()};"
        for trigger in self.triggers.values():
            ret += f"\n{trigger.as_cql_query()};"
        for view in self.views.values():
            ret += f"\n\n{view.as_cql_query(formatted=True)};"
        return ret

    def as_cql_query(self, formatted: bool = False) -> str:
        """CREATE TABLE (without indexes); runs unchanged on Cassandra (and the simulator)."""
        join, pad = (",\n", "    ") if formatted else (", ", "")
        columns = [
            f"{protect_name(c.name)} {c.cql_type}{' static' if c.is_static else ''}"
            for c in self.columns.values()
        ]
        simple_key = len(self.partition_key) == 1 and not self.clustering_key
        if simple_key and columns:
            columns[0] += " PRIMARY KEY"
        ret = (
            f"{'VIRTUAL' if self.virtual else 'CREATE'} TABLE "
            f"{protect_name(self.keyspace_name)}.{protect_name(self.name)} ("
            f"{chr(10) if formatted else ''}"
        )
        ret += join.join(pad + c for c in columns)
        if not simple_key and self.partition_key:
            if len(self.partition_key) > 1:
                pk = "(" + ", ".join(protect_name(c.name) for c in self.partition_key) + ")"
            else:
                pk = protect_name(self.partition_key[0].name)
            if self.clustering_key:
                pk += ", " + ", ".join(protect_name(c.name) for c in self.clustering_key)
            ret += f"{join}{pad}PRIMARY KEY ({pk})"
        ret += ("\n" if formatted else "") + ") WITH "
        ret += _property_string(
            formatted, self.clustering_key, self.options, self.is_compact_storage
        )
        return ret

    def __repr__(self) -> str:
        return f"<TableMetadata {self.keyspace_name}.{self.name}>"


class MaterializedViewMetadata(_Columnar):
    """A materialized view of ``base_table_name``."""

    def __init__(
        self,
        keyspace_name: str,
        view_name: str,
        base_table_name: str,
        include_all_columns: bool,
        where_clause: str,
        options: dict[str, Any] | None,
    ) -> None:
        super().__init__()
        self.keyspace_name = keyspace_name
        self.name = view_name
        self.base_table_name = base_table_name
        self.include_all_columns = include_all_columns
        self.where_clause = where_clause
        self.options = options or {}

    def as_cql_query(self, formatted: bool = False) -> str:
        sep = "\n    " if formatted else " "
        ks = protect_name(self.keyspace_name)
        if self.include_all_columns:
            selected = "*"
        else:
            selected = ", ".join(protect_name(c.name) for c in self.columns.values())
        part = ", ".join(protect_name(c.name) for c in self.partition_key)
        pk = f"(({part})" if len(self.partition_key) > 1 else f"({part}"
        if self.clustering_key:
            pk += ", " + ", ".join(protect_name(c.name) for c in self.clustering_key)
        pk += ")"
        props = _property_string(formatted, self.clustering_key, self.options)
        return (
            f"CREATE MATERIALIZED VIEW {ks}.{protect_name(self.name)} AS{sep}"
            f"SELECT {selected}{sep}FROM {ks}.{protect_name(self.base_table_name)}{sep}"
            f"WHERE {self.where_clause}{sep}PRIMARY KEY {pk}{sep}WITH {props}"
        )

    def export_as_string(self) -> str:
        return self.as_cql_query(formatted=True) + ";"

    def __repr__(self) -> str:
        return f"<MaterializedViewMetadata {self.keyspace_name}.{self.name}>"


# -- keyspaces ------------------------------------------------------------------------------


class KeyspaceMetadata:
    """A keyspace and everything in it. ``replication`` is the map of
    system_schema.keyspaces (with the full ``class`` name); ``replication_strategy`` the same
    as an object (None for virtual keyspaces)."""

    def __init__(
        self,
        name: str,
        durable_writes: bool | None = True,
        replication: Mapping[str, Any] | None = None,
        *,
        virtual: bool = False,
    ) -> None:
        self.name = name
        self.durable_writes = durable_writes
        self.replication: dict[str, str] = {
            str(k): str(v) for k, v in (replication or {}).items() if v is not None
        }
        self.replication_strategy: ReplicationStrategy | None = ReplicationStrategy.create(
            self.replication
        )
        self.tables: dict[str, TableMetadata] = {}
        self.indexes: dict[str, IndexMetadata] = {}
        self.user_types: dict[str, UserType] = {}
        self.functions: dict[str, Function] = {}
        self.aggregates: dict[str, Aggregate] = {}
        self.views: dict[str, MaterializedViewMetadata] = {}
        self.virtual = virtual

    def export_as_string(self) -> str:
        """The keyspace, its types (dependencies first), functions, aggregates and tables."""
        cql = "\n\n".join(
            [self.as_cql_query() + ";"]
            + self.user_type_strings()
            + [f.export_as_string() for f in self.functions.values()]
            + [a.export_as_string() for a in self.aggregates.values()]
            + [t.export_as_string() for t in self.tables.values()]
        )
        if self.virtual:
            return (
                f"/*\nWarning: Keyspace {self.name} is a virtual keyspace and cannot be "
                f"recreated with CQL.\nStructure, for reference:*/\n{cql}\n"
            )
        return cql

    def as_cql_query(self) -> str:
        """CREATE KEYSPACE alone."""
        if self.virtual:
            return f"// VIRTUAL KEYSPACE {protect_name(self.name)}"
        strategy = self.replication_strategy
        repl = strategy.export_for_schema() if strategy is not None else "{}"
        # two spaces before AND: cassandra-driver's text, kept so exports compare equal
        return (
            f"CREATE KEYSPACE {protect_name(self.name)} WITH replication = {repl}  AND "
            f"durable_writes = {'true' if self.durable_writes else 'false'}"
        )

    def user_type_strings(self) -> list[str]:
        """CREATE TYPE statements, each type after the types its fields use."""
        out: list[str] = []
        pending = dict(self.user_types)

        def emit(name: str) -> None:
            ut = pending.pop(name)
            for field_type in ut.field_types:
                for dep in _type_names(field_type):
                    if dep in pending:
                        emit(dep)
            out.append(ut.export_as_string())

        for name in sorted(self.user_types):
            if name in pending:
                emit(name)
        return out

    # The parser and Metadata keep tables, indexes and views in step through these. They
    # replace dicts instead of mutating them: readers may be iterating the old ones.

    def _add_table(self, table: TableMetadata, *, published: bool = True) -> None:
        """Add or replace a table. ``published=False`` while the parser builds a keyspace no
        reader can see yet (rows arrive sorted by name): dicts are then filled in place."""
        old = self.tables.get(table.name)
        indexes = dict(self.indexes) if published else self.indexes
        if old is not None:
            table.views = old.views  # views are refreshed on their own events
            for name in old.indexes:
                if name not in table.indexes:
                    indexes.pop(name, None)
        indexes.update(table.indexes)
        self.indexes = indexes
        tables = dict(self.tables) if published else self.tables
        in_order = old is not None or not tables or table.name > next(reversed(tables))
        tables[table.name] = table
        # keep system_schema's order (by name), so a refreshed model exports like a freshly
        # read one
        self.tables = tables if in_order else dict(sorted(tables.items()))

    def _drop_table(self, name: str) -> None:
        table = self.tables.get(name)
        if table is not None:
            self.tables = {k: v for k, v in self.tables.items() if k != name}
            self.indexes = {k: v for k, v in self.indexes.items() if k not in table.indexes}
            self.views = {k: v for k, v in self.views.items() if k not in table.views}
            return
        # a TABLE event does not say whether it was a table or a view
        view = self.views.get(name)
        if view is not None:
            self.views = {k: v for k, v in self.views.items() if k != name}
            base = self.tables.get(view.base_table_name)
            if base is not None:
                base.views = {k: v for k, v in base.views.items() if k != name}

    def _add_view(self, view: MaterializedViewMetadata) -> None:
        base = self.tables.get(view.base_table_name)
        if base is not None:
            base.views = dict(sorted({**base.views, view.name: view}.items()))
        self.views = dict(sorted({**self.views, view.name: view}.items()))

    def __repr__(self) -> str:
        return f"<KeyspaceMetadata {self.name}>"
