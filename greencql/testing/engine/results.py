"""Results the simulated engine hands to the node server.

Owns: the result values of executing a statement (:class:`Void`, :class:`Rows`,
:class:`SetKeyspace`, :class:`SchemaChange`), column specs, the prepared-statement record
(:class:`Prepared`) and the :data:`UNSET` marker for protocol v4+ unset values. Plain data:
the node server encodes them into RESULT messages; nothing here touches bytes on a socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from greencql.protocol import wire as _wire
from greencql.testing.schema import ColType

__all__ = [
    "UNSET",
    "ColumnSpec",
    "Void",
    "Rows",
    "SetKeyspace",
    "SchemaChange",
    "Prepared",
    "Result",
]


# the protocol layer's sentinel, so values decoded from a request pass straight through
UNSET: Any = _wire.UNSET


class ColumnSpec(NamedTuple):
    """One column of result or bind-variable metadata. ``type`` is the
    :mod:`greencql.protocol.types` type object (None if that module is absent); ``coltype``
    the engine's own :class:`~greencql.testing.schema.ColType` (``cql_name``, encode/decode)."""

    keyspace: str
    table: str
    name: str
    coltype: ColType

    @property
    def type(self) -> Any:
        return self.coltype.proto


@dataclass(frozen=True, slots=True)
class Void:
    """A RESULT of kind Void (writes, TRUNCATE, no-op DDL). ``warnings``: the client
    warnings Cassandra would send with it (e.g. a batch over the size threshold)."""

    warnings: tuple[str, ...] = ()


@dataclass(slots=True)
class Rows:
    """A RESULT of kind Rows. ``rows`` are tuples of Python values in ``columns`` order;
    ``paging_state`` is opaque bytes to send back for the next page, or None when this was
    the last page. ``warnings``: client warnings to send with it (e.g. an aggregation
    without a partition key)."""

    columns: tuple[ColumnSpec, ...]
    rows: list[tuple[Any, ...]]
    paging_state: bytes | None = None
    #: per-row cached encodings (filled lazily, see encoded_rows)
    _encoded: list[list[bytes | None]] | None = field(default=None, repr=False)
    warnings: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def encoded_rows(self) -> list[list[bytes | None]]:
        """Rows with every value serialized by its column type (None stays None)."""
        if self._encoded is None:
            encs = [_encoder(c.coltype) for c in self.columns]
            self._encoded = [
                [None if v is None else enc(v) for enc, v in zip(encs, row, strict=True)]
                for row in self.rows
            ]
        return self._encoded


def _encoder(t: ColType) -> Any:
    """Sets go out in their elements' CQL order, as Cassandra sends them."""
    if t.name == "set":
        key = t.params[0].sort_key
        enc = t.encode
        return lambda v: enc(sorted(v, key=key))
    return t.encode


@dataclass(frozen=True, slots=True)
class SetKeyspace:
    """A RESULT of kind Set_keyspace (after USE)."""

    keyspace: str


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """A RESULT of kind Schema_change. change_type: CREATED, UPDATED or DROPPED; target:
    KEYSPACE, TABLE, TYPE, FUNCTION or AGGREGATE; ``name`` is None for a keyspace."""

    change_type: str
    target: str
    keyspace: str
    name: str | None = None
    arg_types: tuple[str, ...] = ()
    #: client warnings sent with it (e.g. a replication factor above the node count)
    warnings: tuple[str, ...] = ()


Result = Void | Rows | SetKeyspace | SchemaChange


@dataclass(slots=True)
class Prepared:
    """A prepared statement. ``id`` is the MD5 of keyspace and query like Cassandra's;
    ``bind_specs`` describe the bound variables in marker order; ``result_specs`` the result
    columns (empty for non-SELECT statements); ``pk_indexes`` the bind indexes of the
    partition key columns, in partition key order (empty when not all are bound)."""

    id: bytes
    query: str
    keyspace: str | None
    bind_specs: tuple[ColumnSpec, ...]
    result_specs: tuple[ColumnSpec, ...]
    pk_indexes: tuple[int, ...]
    #: the engine's compiled plan and the schema generation it was planned against
    plan: Any = field(default=None, repr=False)
    generation: int = -1
    is_lwt: bool = False
