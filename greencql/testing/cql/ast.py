"""Syntax tree of the simulator's CQL subset.

Owns: small immutable nodes the parser produces (terms, relations, selectors, statements).
Nodes carry only what the text said: names are already case-folded (unquoted identifiers
lowercased, quoted ones kept), constants keep their source text and kind so the engine can
report "Invalid STRING constant (x) for ..." like Cassandra. Nothing here knows the schema,
CQL types or storage; resolving names and types is the engine's job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Term",
    "Const",
    "Marker",
    "CollectionLit",
    "TupleLit",
    "UdtLit",
    "FuncTerm",
    "TypeExpr",
    "Relation",
    "Selector",
    "SelExpr",
    "Assignment",
    "Condition",
    "Statement",
    "UseStmt",
    "CreateKeyspace",
    "AlterKeyspace",
    "DropKeyspace",
    "ColumnDefAst",
    "CreateTable",
    "AlterTable",
    "DropTable",
    "CreateType",
    "AlterType",
    "DropType",
    "CreateIndex",
    "DropIndex",
    "Truncate",
    "Refused",
    "Describe",
    "Insert",
    "Update",
    "Delete",
    "DeleteTarget",
    "Batch",
    "Select",
    "QualifiedName",
]


class Term:
    """Base of everything that stands where a value may stand."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Const(Term):
    """A constant: kind is STRING, INTEGER, FLOAT, BOOLEAN, UUID, HEX, DURATION or NULL."""

    kind: str
    text: str
    value: Any = None


@dataclass(frozen=True, slots=True)
class Marker(Term):
    """A bind marker: ``?`` (name None) or ``:name``; index is its position among all
    markers of the statement (batches number across their statements)."""

    index: int
    name: str | None = None


@dataclass(frozen=True, slots=True)
class CollectionLit(Term):
    """``[..]`` (kind 'list'), ``{..}`` (kind 'set'), ``{k: v, ..}`` (kind 'map'); an empty
    ``{}`` is kind 'map' and fits sets and maps."""

    kind: str
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class TupleLit(Term):
    items: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class UdtLit(Term):
    """``{field: value, ...}`` with identifier keys."""

    fields: tuple[tuple[str, Term], ...]


@dataclass(frozen=True, slots=True)
class FuncTerm(Term):
    """A function call used as a value: now(), uuid(), toTimestamp(now()) ..."""

    name: str
    args: tuple[Term, ...]


@dataclass(frozen=True, slots=True)
class TypeExpr:
    """A CQL type as written: ``name`` lowercased native name, 'list'/'set'/'map'/'tuple',
    'frozen', 'vector' (with ``dimension``), or a user type name (with optional keyspace)."""

    name: str
    params: tuple[TypeExpr, ...] = ()
    keyspace: str | None = None
    #: the n of ``vector<T, n>`` (Cassandra 5)
    dimension: int | None = None


@dataclass(frozen=True, slots=True)
class QualifiedName:
    keyspace: str | None
    name: str


@dataclass(frozen=True, slots=True)
class Relation:
    """``lhs op rhs`` in a WHERE clause. ``lhs`` is a column name, ``('token', cols)`` or
    ``('tuple', cols)``; op is one of = < <= > >= != IN CONTAINS CONTAINS_KEY; ``rhs`` a Term,
    or for IN a tuple of Terms or a single Marker."""

    lhs: Any
    op: str
    rhs: Any


@dataclass(frozen=True, slots=True)
class Selector:
    """One selected expression. kind: 'column' (arg=name), 'count' (arg=None), 'writetime',
    'ttl' (arg=name), 'token' (arg=tuple of names), 'func' (arg=(name, args))."""

    kind: str
    arg: Any
    alias: str | None = None
    text: str = ""


@dataclass(frozen=True, slots=True)
class SelExpr:
    """A selector expression (Selector kind 'expr'). kind: 'col' (a=name), 'field' (a=base,
    b=field name), 'elem' (a=base, b=key Term), 'slice' (a=base, b=(lo, hi) Terms or None),
    'func' (a=lowercased name, b=tuple of SelExpr; ``star`` for count(*)), 'cast' (a=SelExpr,
    b=TypeExpr), 'op' (a=operator, b=(left, right)), 'neg' (a=SelExpr), 'term' (a=Term,
    b=TypeExpr of a typed literal or None). ``text`` is the column name Cassandra gives it."""

    kind: str
    a: Any = None
    b: Any = None
    text: str = ""
    star: bool = False


@dataclass(frozen=True, slots=True)
class Assignment:
    """UPDATE SET item. op: 'set' (col = v), 'set_elem' (col[key] = v), 'add' (col = col + v),
    'prepend' (col = v + col), 'sub' (col = col - v), 'set_field' (col.field = v)."""

    column: str
    op: str
    value: Term
    key: Any = None


@dataclass(frozen=True, slots=True)
class Condition:
    """IF condition: ``column[key] op value`` (key None for a whole column); op includes IN."""

    column: str
    op: str
    value: Any
    key: Term | None = None


class Statement:
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class UseStmt(Statement):
    keyspace: str


@dataclass(frozen=True, slots=True)
class CreateKeyspace(Statement):
    name: str
    if_not_exists: bool
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AlterKeyspace(Statement):
    name: str
    if_exists: bool
    options: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DropKeyspace(Statement):
    name: str
    if_exists: bool


@dataclass(frozen=True, slots=True)
class ColumnDefAst:
    name: str
    type: TypeExpr
    static: bool = False


@dataclass(frozen=True, slots=True)
class CreateTable(Statement):
    table: QualifiedName
    if_not_exists: bool
    columns: tuple[ColumnDefAst, ...]
    partition_key: tuple[str, ...]
    clustering: tuple[str, ...]
    clustering_order: tuple[tuple[str, str], ...]
    options: dict[str, Any]
    compact_storage: bool = False
    #: PRIMARY KEY was declared more than once
    multiple_pk: bool = False


@dataclass(frozen=True, slots=True)
class AlterTable(Statement):
    """action: 'add' (columns), 'drop' (names), 'with' (options), 'rename' (pairs)."""

    table: QualifiedName
    action: str
    columns: tuple[ColumnDefAst, ...] = ()
    names: tuple[str, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)
    if_exists: bool = False


@dataclass(frozen=True, slots=True)
class DropTable(Statement):
    table: QualifiedName
    if_exists: bool


@dataclass(frozen=True, slots=True)
class CreateType(Statement):
    name: QualifiedName
    if_not_exists: bool
    fields: tuple[tuple[str, TypeExpr], ...]


@dataclass(frozen=True, slots=True)
class AlterType(Statement):
    """action 'add' (fields: ((name, type),)) or 'rename' (renames: ((old, new), ...))."""

    name: QualifiedName
    action: str
    fields: tuple[tuple[str, TypeExpr], ...] = ()
    renames: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DropType(Statement):
    name: QualifiedName
    if_exists: bool


@dataclass(frozen=True, slots=True)
class CreateIndex(Statement):
    name: str | None
    table: QualifiedName
    target: str
    target_kind: str  # 'values', 'keys', 'entries', 'full'
    if_not_exists: bool
    custom_class: str | None = None


@dataclass(frozen=True, slots=True)
class DropIndex(Statement):
    name: QualifiedName
    if_exists: bool


@dataclass(frozen=True, slots=True)
class Describe(Statement):
    """DESCRIBE / DESC: ``words`` its keywords lowercased (('full', 'schema'), ('tables',),
    ('table',) ...), ``keyspace`` and ``name`` the element named, if any."""

    words: tuple[str, ...]
    keyspace: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Refused(Statement):
    """A statement 4.0 parses but refuses as configured by default (materialized views and
    user-defined functions are disabled): executing it raises InvalidRequest(message)."""

    message: str


@dataclass(frozen=True, slots=True)
class Truncate(Statement):
    table: QualifiedName


@dataclass(frozen=True, slots=True)
class Insert(Statement):
    table: QualifiedName
    columns: tuple[str, ...]
    values: tuple[Term, ...]
    if_not_exists: bool
    ttl: Term | None
    timestamp: Term | None
    json: Term | None = None
    #: INSERT JSON ... DEFAULT UNSET leaves missing columns alone (DEFAULT NULL nulls them)
    json_default_unset: bool = False


@dataclass(frozen=True, slots=True)
class Update(Statement):
    table: QualifiedName
    assignments: tuple[Assignment, ...]
    where: tuple[Relation, ...]
    if_exists: bool
    conditions: tuple[Condition, ...]
    ttl: Term | None
    timestamp: Term | None


@dataclass(frozen=True, slots=True)
class DeleteTarget:
    """``column``, ``column[key]`` or ``column.field`` (``field`` set)."""

    column: str
    key: Term | None = None
    field: str | None = None


@dataclass(frozen=True, slots=True)
class Delete(Statement):
    table: QualifiedName
    targets: tuple[DeleteTarget, ...]
    where: tuple[Relation, ...]
    if_exists: bool
    conditions: tuple[Condition, ...]
    timestamp: Term | None


@dataclass(frozen=True, slots=True)
class Batch(Statement):
    kind: str  # LOGGED, UNLOGGED, COUNTER
    statements: tuple[Statement, ...]
    timestamp: Term | None
    #: USING TTL on the batch (refused by 4.0's validation, not its grammar)
    ttl: Term | None = None


@dataclass(frozen=True, slots=True)
class Select(Statement):
    table: QualifiedName
    selectors: tuple[Selector, ...] | None  # None means *
    where: tuple[Relation, ...]
    distinct: bool = False
    json: bool = False
    order_by: tuple[tuple[str, str], ...] = ()
    limit: Term | None = None
    per_partition_limit: Term | None = None
    allow_filtering: bool = False
    group_by: tuple[str, ...] = ()
