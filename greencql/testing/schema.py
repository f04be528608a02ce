"""Schema of the simulated cluster: keyspaces, tables, columns, user types, indexes.

Owns: the schema objects the engine and the system tables read (:class:`Keyspace`,
:class:`Table`, :class:`Column`, :class:`UserType`, :class:`Index`), the column type model
:class:`ColType` (cql_name as Cassandra prints it in system_schema, natural sort order,
encode/decode), resolution of parsed type expressions against a keyspace's user types, and
the schema version digest. Codecs come from :mod:`greencql.protocol.types` (imported lazily).
It holds no row data and does no IO.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

from greencql.errors import InvalidRequest

__all__ = [
    "ColType",
    "Column",
    "Table",
    "Keyspace",
    "UserType",
    "Index",
    "Schema",
    "native",
    "resolve_type",
    "DEFAULT_TABLE_OPTIONS",
    "STRATEGY_PREFIX",
    "normalize_replication",
]

STRATEGY_PREFIX = "org.apache.cassandra.locator."

_NATIVE = frozenset(
    """ascii bigint blob boolean counter date decimal double duration float inet int smallint
    text time timestamp timeuuid tinyint uuid varint""".split()
)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


class _Desc:
    """Wraps a sort key to reverse its order (DESC clustering columns)."""

    __slots__ = ("k",)

    def __init__(self, k: Any) -> None:
        self.k = k

    def __lt__(self, other: _Desc) -> bool:
        return other.k < self.k

    def __gt__(self, other: _Desc) -> bool:
        return self.k < other.k

    def __le__(self, other: _Desc) -> bool:
        return not (self.k < other.k)

    def __ge__(self, other: _Desc) -> bool:
        return not (other.k < self.k)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and self.k == other.k

    def __hash__(self) -> int:
        return hash(self.k)


def _uuid_key(u: Any) -> tuple:
    if not isinstance(u, uuid.UUID):
        u = uuid.UUID(str(u))
    v = u.version or 0
    if v == 1:
        return (v, u.time, u.bytes)
    return (v, 0, u.bytes)


def _timeuuid_key(u: Any) -> tuple:
    """TimeUUIDType order: the timestamp, then the clock and node bytes compared signed (so
    minTimeuuid's 0x80.. and maxTimeuuid's 0x7f.. bound every real timeuuid of their
    millisecond)."""
    if not isinstance(u, uuid.UUID):
        u = uuid.UUID(str(u))
    is_time = ((u.int >> 76) & 0xF) == 1
    return (u.time if is_time else 0, bytes(b ^ 0x80 for b in u.bytes[8:]))


def _ts_key(v: Any) -> int:
    if isinstance(v, datetime.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=datetime.timezone.utc)
        d = v - _EPOCH
        return (d.days * 86400 + d.seconds) * 1000 + d.microseconds // 1000
    return int(v)


def _nullable(key_fn):
    def key(v: Any) -> Any:
        return (0,) if v is None else (1, key_fn(v))

    return key


@dataclass(eq=False, repr=False)
class ColType:
    """A column type. ``name`` is a native type name or 'list', 'set', 'map', 'tuple', 'udt',
    'vector', 'custom'; ``params`` the element types (field types for a UDT); ``dimension``
    the n of ``vector<T, n>``."""

    name: str
    params: tuple[ColType, ...] = ()
    frozen: bool = False
    udt_keyspace: str | None = None
    udt_name: str | None = None
    field_names: tuple[str, ...] = ()
    _proto: Any = field(default=None, repr=False)
    _sort: Any = field(default=None, repr=False)
    dimension: int = 0

    # -- naming -----------------------------------------------------------------------------

    @property
    def is_collection(self) -> bool:
        return self.name in ("list", "set", "map")

    @property
    def multicell(self) -> bool:
        """Stored element by element (non-frozen collections and UDTs)."""
        return (self.is_collection or self.name == "udt") and not self.frozen

    @property
    def is_counter(self) -> bool:
        return self.name == "counter"

    def _inner_name(self) -> str:
        n = self.name
        if n in _NATIVE:
            return n
        if n == "custom":
            return f"'{self.udt_name}'"
        if n == "udt":
            return self.udt_name or ""
        if n == "vector":
            return f"vector<{self.params[0].cql_name}, {self.dimension}>"
        inner = ", ".join(p.cql_name for p in self.params)
        return f"{n}<{inner}>"

    @property
    def cql_name(self) -> str:
        """The type as system_schema.columns prints it: 'map<text, frozen<list<int>>>'."""
        inner = self._inner_name()
        if self.frozen or self.name == "tuple":
            return f"frozen<{inner}>"
        return inner

    def __str__(self) -> str:
        return self.cql_name

    def __repr__(self) -> str:
        return f"ColType({self.cql_name!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ColType):
            return NotImplemented
        return self.cql_name == other.cql_name and self.udt_keyspace == other.udt_keyspace

    def __hash__(self) -> int:
        return hash(self.cql_name)

    # -- codec ------------------------------------------------------------------------------

    @property
    def proto(self) -> Any:
        """The :mod:`greencql.protocol.types` type object (result metadata and codecs)."""
        p = self._proto
        if p is None:
            p = self._proto = _to_proto(self)
        return p

    def encode(self, value: Any) -> bytes:
        return self.proto.encode(value)

    def decode(self, data: bytes) -> Any:
        return self.proto.decode(data)

    # -- ordering ---------------------------------------------------------------------------

    def sort_key(self, value: Any) -> Any:
        """A comparable (and hashable) key giving Cassandra's natural order of this type."""
        fn = self._sort
        if fn is None:
            fn = self._sort = self._make_sort()
        return fn(value)

    def _make_sort(self):
        n = self.name
        if n in ("int", "bigint", "smallint", "tinyint", "varint", "counter", "float", "double",
                 "decimal", "text", "ascii", "boolean", "blob"):
            if n == "blob":
                return bytes
            return lambda v: v
        if n == "uuid":
            return _uuid_key
        if n == "timeuuid":
            return _timeuuid_key
        if n == "timestamp":
            return _ts_key
        if n in ("list", "set", "tuple", "udt", "vector"):
            if n in ("tuple", "udt"):
                subs = [_nullable(p.sort_key) for p in self.params]
                return lambda v: tuple(
                    f(x) for f, x in zip(subs, _udt_items(self, v), strict=False))
            sub = self.params[0].sort_key
            if n == "set":
                return lambda v: tuple(sorted(sub(x) for x in v))
            return lambda v: tuple(sub(x) for x in v)
        if n == "map":
            ks, vs = self.params[0].sort_key, self.params[1].sort_key
            return lambda v: tuple(sorted((ks(a), vs(b)) for a, b in v.items()))
        if n in ("date", "time"):
            return lambda v: v
        # inet, duration, custom: unsigned byte order of the serialized form
        return lambda v: self.encode(v)


def _udt_items(t: ColType, v: Any) -> list[Any]:
    if t.name == "tuple":
        return list(v)
    if isinstance(v, dict):
        return [v.get(f) for f in t.field_names]
    if isinstance(v, (tuple, list)):
        return list(v)
    return [getattr(v, f, None) for f in t.field_names]


def native(name: str) -> ColType:
    return ColType(name)


# -- schema objects ---------------------------------------------------------------------------


@dataclass(eq=False)
class Column:
    name: str
    type: ColType
    kind: str  # partition_key, clustering, regular, static
    position: int = -1
    clustering_order: str = "none"  # asc, desc, none


@dataclass(eq=False)
class UserType:
    keyspace: str
    name: str
    field_names: list[str]
    field_types: list[ColType]


@dataclass(eq=False)
class Index:
    name: str
    table: str
    target: str  # as stored in options['target']: 'v', 'keys(m)', ...
    column: str
    kind: str = "COMPOSITES"
    options: dict[str, str] = field(default_factory=dict)


DEFAULT_TABLE_OPTIONS: dict[str, Any] = {
    "additional_write_policy": "99p",
    "bloom_filter_fp_chance": 0.01,
    "caching": {"keys": "ALL", "rows_per_partition": "NONE"},
    "cdc": None,
    "comment": "",
    "compaction": {
        "class": "org.apache.cassandra.db.compaction.SizeTieredCompactionStrategy",
        "max_threshold": "32",
        "min_threshold": "4",
    },
    "compression": {
        "chunk_length_in_kb": "16",
        "class": "org.apache.cassandra.io.compress.LZ4Compressor",
    },
    "crc_check_chance": 1.0,
    "dclocal_read_repair_chance": 0.0,
    "default_time_to_live": 0,
    "extensions": {},
    "gc_grace_seconds": 864000,
    "max_index_interval": 2048,
    "memtable_flush_period_in_ms": 0,
    "min_index_interval": 128,
    "read_repair": "BLOCKING",
    "read_repair_chance": 0.0,
    "speculative_retry": "99p",
}


@dataclass(eq=False)
class Table:
    keyspace: str
    name: str
    columns: dict[str, Column]
    partition_key: list[Column]
    clustering: list[Column]
    id: uuid.UUID
    options: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_TABLE_OPTIONS))
    indexes: dict[str, Index] = field(default_factory=dict)
    flags: tuple[str, ...] = ("compound",)
    virtual: bool = False
    #: created WITH COMPACT STORAGE (system_schema shows it the way 4.0 stores it)
    compact: bool = False
    #: set by the engine: the table's row storage
    data: Any = None
    _select_order: list[Column] | None = field(default=None, repr=False)

    @property
    def is_counter(self) -> bool:
        return any(c.type.is_counter for c in self.columns.values())

    @property
    def statics(self) -> list[Column]:
        return [c for c in self.columns.values() if c.kind == "static"]

    @property
    def regulars(self) -> list[Column]:
        return [c for c in self.columns.values() if c.kind == "regular"]

    def select_order(self) -> list[Column]:
        """Columns in ``SELECT *`` order (TableMetadata.allColumnsInSelectOrder): partition
        key, clustering, then the static columns and the regular columns, each in global
        alphabetical order of their names' bytes (simple, collection and UDT together)."""
        if self._select_order is None:
            def by_name(cols: list[Column]) -> list[Column]:
                return sorted(cols, key=lambda c: c.name.encode())

            self._select_order = (
                list(self.partition_key) + list(self.clustering) + by_name(self.statics)
                + by_name(self.regulars)
            )
        return self._select_order

    def invalidate(self) -> None:
        self._select_order = None

    @property
    def qualified(self) -> str:
        return f"{self.keyspace}.{self.name}"


@dataclass(eq=False)
class Keyspace:
    name: str
    replication: dict[str, str]
    durable_writes: bool = True
    tables: dict[str, Table] = field(default_factory=dict)
    types: dict[str, UserType] = field(default_factory=dict)
    system: bool = False
    #: listed in system_schema.keyspaces (False for virtual keyspaces)
    listed: bool = True


class Schema:
    """All keyspaces, plus the schema version (a digest of the definitions, like Cassandra's:
    identical schemas have identical versions, and every effective DDL changes it)."""

    def __init__(self) -> None:
        self.keyspaces: dict[str, Keyspace] = {}
        self.version: uuid.UUID = uuid.UUID(int=0)
        #: bumped on every change, cheap to compare for plan caches
        self.generation: int = 0

    def changed(self) -> None:
        self.generation += 1
        h = hashlib.md5(usedforsecurity=False)
        for ks in sorted(self.keyspaces.values(), key=lambda k: k.name):
            h.update(f"K{ks.name}{sorted(ks.replication.items())}{ks.durable_writes}".encode())
            for ut in sorted(ks.types.values(), key=lambda u: u.name):
                h.update(f"U{ut.name}{ut.field_names}{[t.cql_name for t in ut.field_types]}"
                         .encode())
            for t in sorted(ks.tables.values(), key=lambda t: t.name):
                h.update(f"T{t.name}{t.id}{sorted(t.options.items(), key=str)}".encode())
                for c in t.columns.values():
                    h.update(f"C{c.name}{c.type.cql_name}{c.kind}{c.position}"
                             f"{c.clustering_order}".encode())
                for i in sorted(t.indexes):
                    h.update(f"I{i}{t.indexes[i].target}".encode())
        self.version = uuid.UUID(bytes=h.digest(), version=3)


def normalize_replication(options: dict[str, Any]) -> dict[str, str]:
    """Replication map as system_schema.keyspaces stores it: class fully qualified, values
    as strings, NetworkTopologyStrategy DCs sorted after 'class'."""
    out = {str(k): str(v) for k, v in options.items()}
    cls = out.get("class")
    if not cls:
        raise _config("Missing replication strategy class")
    short = cls.rsplit(".", 1)[-1]
    if short not in ("SimpleStrategy", "NetworkTopologyStrategy", "LocalStrategy",
                     "EverywhereStrategy"):
        raise _config(f"Unable to find replication strategy class '{cls}'")
    out["class"] = STRATEGY_PREFIX + short
    if short == "SimpleStrategy":
        rf = out.get("replication_factor")
        if rf is None:
            raise _config("SimpleStrategy requires a replication_factor strategy option.")
        for k in out:
            if k not in ("class", "replication_factor"):
                raise _config(f"Unrecognized strategy option {{{k}}} passed to SimpleStrategy "
                              f"for keyspace")
    for k, v in out.items():
        if k != "class" and not v.isdigit():
            raise _config(f"Replication factor must be non-negative; found {v}")
    if short == "NetworkTopologyStrategy":
        rest = sorted((k, v) for k, v in out.items() if k != "class")
        out = {"class": out["class"], **dict(rest)}
    return out


def _config(msg: str) -> Exception:
    from greencql.errors import ConfigurationException

    return ConfigurationException(msg)


def resolve_type(expr: Any, keyspace: Keyspace | None, *, top: bool = True,
                 in_collection: bool = False) -> ColType:
    """A :class:`ColType` from a parsed :class:`~greencql.testing.cql.ast.TypeExpr`."""
    name = expr.name
    if name in _NATIVE:
        if name == "counter" and not top:
            raise InvalidRequest("Counters are not allowed inside collections: "
                                 f"{_expr_text(expr)}")
        return ColType(name)
    if name.startswith("custom:"):
        return ColType("custom", udt_name=name[7:])
    if name == "frozen":
        inner = resolve_type(expr.params[0], keyspace, top=False, in_collection=False)
        return _frozen(inner)
    if name == "vector":
        # Cassandra 5: elements are frozen, the vector itself is one cell (never multi-cell)
        if expr.params[0].name == "counter":
            raise InvalidRequest("vectors may not contain counters")
        elem = resolve_type(expr.params[0], keyspace, top=False, in_collection=True)
        dim = expr.dimension or 0
        if dim <= 0:
            raise InvalidRequest(f"vectors may only have positive dimensions; given {dim}")
        return ColType("vector", (_frozen(elem),), dimension=dim)
    if name in ("list", "set", "map"):
        params = tuple(resolve_type(p, keyspace, top=False, in_collection=True)
                       for p in expr.params)
        for p in params:
            if p.multicell:
                kind = "UDTs" if p.name == "udt" else "collections"
                raise InvalidRequest(f"Non-frozen {kind} are not allowed inside collections: "
                                     f"{_expr_text(expr)}")
        return ColType(name, params, frozen=in_collection and False)
    if name == "tuple":
        params = tuple(_frozen(resolve_type(p, keyspace, top=False, in_collection=True))
                       if resolve_type(p, keyspace, top=False).multicell
                       else resolve_type(p, keyspace, top=False, in_collection=True)
                       for p in expr.params)
        return ColType("tuple", params, frozen=True)
    # a user type
    ks_name = expr.keyspace or (keyspace.name if keyspace else None)
    if keyspace is None or (expr.keyspace and expr.keyspace != keyspace.name):
        raise InvalidRequest(f"Statement on keyspace {keyspace.name if keyspace else None} "
                             f"cannot refer to a user type in keyspace {ks_name}; user types "
                             "can only be used in the keyspace they are defined in")
    ut = keyspace.types.get(name)
    if ut is None:
        raise InvalidRequest(f"Unknown type {ks_name}.{name}")
    return ColType("udt", tuple(ut.field_types), False, keyspace.name, ut.name,
                   tuple(ut.field_names))


def _frozen(t: ColType) -> ColType:
    if t.name in _NATIVE or t.name in ("custom", "vector"):
        return t
    params = tuple(_frozen(p) if p.multicell else p for p in t.params)
    return ColType(t.name, params, True, t.udt_keyspace, t.udt_name, t.field_names)


def _expr_text(expr: Any) -> str:
    if expr.name == "vector":
        return f"vector<{_expr_text(expr.params[0])}, {expr.dimension}>"
    if not expr.params:
        return expr.name
    return f"{expr.name}<{', '.join(_expr_text(p) for p in expr.params)}>"


# -- link to greencql.protocol.types ------------------------------------------------------------


def _to_proto(t: ColType) -> Any:
    """The :mod:`greencql.protocol.types` object of ``t`` (imported lazily: the simulator's
    parser works without it)."""
    from greencql.protocol import types as pt

    n = t.name
    if n in _NATIVE:
        return pt.native_type(n)
    params = [p.proto for p in t.params]
    if n == "list":
        return pt.ListType(params[0], t.frozen)
    if n == "set":
        return pt.SetType(params[0], t.frozen)
    if n == "map":
        return pt.MapType(params[0], params[1], t.frozen)
    if n == "tuple":
        return pt.TupleType(params)
    if n == "udt":
        return pt.UserType(t.udt_keyspace or "", t.udt_name or "", t.field_names, params,
                           t.frozen)
    if n == "vector":
        return pt.VectorType(params[0], t.dimension)
    return pt.parse_type_string(f"'{t.udt_name}'")
