"""Result metadata, prepared metadata, and the ROWS body: the hot path of every SELECT.

Owns: :class:`ColumnSpec`, :class:`ResultMetadata` and :class:`PreparedMetadata` with their
readers and writers (spec 4.2.5.2 and 4.2.5.4, v3 to v5), :func:`decode_rows` (the cells of a
ROWS result) and :func:`encode_rows` (the same, written, for the simulated cluster).

Must not: know about frames or messages around the body, or do IO. Decoding raises only
:class:`~greencql.errors.ProtocolError` subclasses.

How :func:`decode_rows` is fast in pure Python: the per-column work is decided once per
distinct tuple of column types, not per value. For each such tuple a row decoder is generated
(Python source, compiled once and cached) that walks the body with ``struct.unpack_from`` at
offsets, with the common types inlined (int, bigint, double, boolean, text, blob, uuid,
timestamp: one ``unpack_from`` reads the length and the value together) and everything else
handed to the column type's ``decode``. The loop itself does no bounds checks: an overrun
shows up as a ``struct.error``, or as an offset past the end once the loop is done, and any
exception at all makes the careful decoder run over the same bytes, which either produces the
precise ProtocolError or (for the rare cell that the optimistic reader over-read, like a null
in the very last column) the right rows. The Cython twin (``_rows.pyx``) replaces
``_rows_at`` (the core on bytes, which ``messages.py``'s RESULT fast path calls directly)
and ``_rows_chunk`` by name, with the same signatures and the same rows.

Which Python values come out (``value_types``: ``"driver"``, the default, as cassandra-driver
returns them; or ``"modern"``, see :func:`~greencql.protocol.types.driver_decoder`) is part of
the generated decoder: each representation has its own cache of decoders, so choosing costs
nothing per value.

Result metadata is not parsed again for every result: NO_METADATA metadata is shared per
column count, and column specs are cached by their raw bytes (see ``_SPECS``), so the answer
to a statement run again costs a bytes comparison instead of a parse. Both caches are bounded.
"""

from __future__ import annotations

import datetime
import struct
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from greencql._speedups import twin
from greencql.errors import MalformedError, ProtocolError, TruncatedError
from greencql.protocol.constants import RowsFlag
from greencql.protocol.types import (
    DEFAULT_VALUE_TYPES,
    CqlType,
    driver_decoder,
    encode_value,
    read_type_option,
    register_udt_class,
    write_type_option,
)
from greencql.protocol.wire import UNSET, Reader, Writer

__all__ = [
    "ColumnSpec",
    "ResultMetadata",
    "PreparedMetadata",
    "read_result_metadata",
    "write_result_metadata",
    "read_prepared_metadata",
    "write_prepared_metadata",
    "decode_rows",
    "encode_rows",
    "register_user_type",
    "LazyRows",
    "lazy_rows",
    "LAZY_BYTES",
]


class ColumnSpec(NamedTuple):
    """One column of a result (or one bind marker of a prepared statement)."""

    keyspace: str
    table: str
    name: str
    type: CqlType


@dataclass(frozen=True, slots=True)
class ResultMetadata:
    """The <metadata> of a ROWS result (and the <result_metadata> of a PREPARED result).

    ``columns`` is None when the server sent NO_METADATA (the client asked to skip it and
    must use the prepared statement's columns). ``result_metadata_id`` is v5's
    <new_metadata_id>, present with METADATA_CHANGED.
    """

    flags: int
    columns: tuple[ColumnSpec, ...] | None
    paging_state: bytes | None = None
    result_metadata_id: bytes | None = None
    column_count: int = 0

    @classmethod
    def of(
        cls,
        columns: Sequence[ColumnSpec] | None,
        paging_state: bytes | None = None,
        result_metadata_id: bytes | None = None,
        column_count: int | None = None,
    ) -> ResultMetadata:
        """Build metadata with the flags its content implies (global table spec when all
        columns share one table)."""
        cols = None if columns is None else tuple(columns)
        flags = 0
        if cols is None:
            flags |= RowsFlag.NO_METADATA
        elif cols and len({(c.keyspace, c.table) for c in cols}) == 1:
            flags |= RowsFlag.GLOBAL_TABLES_SPEC
        if paging_state is not None:
            flags |= RowsFlag.HAS_MORE_PAGES
        if result_metadata_id is not None:
            flags |= RowsFlag.METADATA_CHANGED
        if column_count is None:
            column_count = 0 if cols is None else len(cols)
        return cls(int(flags), cols, paging_state, result_metadata_id, column_count)

    # cassandra-driver's ``PreparedStatement.result_metadata`` is a list of column specs
    # (keyspace, table, name, type): this object reads as that sequence too.

    def __iter__(self) -> Iterator[ColumnSpec]:
        return iter(self.columns or ())

    def __len__(self) -> int:
        return len(self.columns or ())

    def __getitem__(self, index: Any) -> Any:
        return (self.columns or ())[index]


@dataclass(frozen=True, slots=True)
class PreparedMetadata:
    """The bind-marker <metadata> of a PREPARED result. ``pk_indexes`` are the positions of
    the partition key's bind markers, in key order (v4+; empty in v3 or when the key is not
    fully bound)."""

    flags: int
    columns: tuple[ColumnSpec, ...]
    pk_indexes: tuple[int, ...] = ()

    @classmethod
    def of(cls, columns: Sequence[ColumnSpec], pk_indexes: Sequence[int] = ()) -> PreparedMetadata:
        cols = tuple(columns)
        flags = 0
        if cols and len({(c.keyspace, c.table) for c in cols}) == 1:
            flags |= RowsFlag.GLOBAL_TABLES_SPEC
        return cls(int(flags), cols, tuple(pk_indexes))


_i32 = struct.Struct(">i")
_ii = struct.Struct(">ii")
_u16 = struct.Struct(">H")

# Plain ints: ``int & IntFlag`` goes through the enum's __rand__ and builds a member each time.
_GLOBAL_TABLES_SPEC = int(RowsFlag.GLOBAL_TABLES_SPEC)
_HAS_MORE_PAGES = int(RowsFlag.HAS_MORE_PAGES)
_NO_METADATA = int(RowsFlag.NO_METADATA)
_METADATA_CHANGED = int(RowsFlag.METADATA_CHANGED)

# --------------------------------------------------------------------------------------------
# Column specs
# --------------------------------------------------------------------------------------------


def _read_count(reader: Reader, what: str, min_size: int) -> int:
    n = reader.read_int()
    if n < 0:
        raise MalformedError(f"negative {what}: {n}")
    if n * min_size > reader.remaining():
        raise TruncatedError(f"{what} {n} cannot fit in the {reader.remaining()} bytes left")
    return n


def _read_specs(reader: Reader, flags: int, count: int) -> tuple[ColumnSpec, ...]:
    if flags & _GLOBAL_TABLES_SPEC:
        keyspace = reader.read_string()
        table = reader.read_string()
        return tuple(
            ColumnSpec(keyspace, table, reader.read_string(), read_type_option(reader))
            for _ in range(count)
        )
    out = []
    for _ in range(count):
        keyspace = reader.read_string()
        table = reader.read_string()
        out.append(ColumnSpec(keyspace, table, reader.read_string(), read_type_option(reader)))
    return tuple(out)


def _write_specs(writer: Writer, flags: int, columns: Sequence[ColumnSpec], version: int) -> None:
    if flags & RowsFlag.GLOBAL_TABLES_SPEC:
        if not columns:
            raise ValueError("GLOBAL_TABLES_SPEC needs at least one column")
        keyspace, table = columns[0].keyspace, columns[0].table
        if any((c.keyspace, c.table) != (keyspace, table) for c in columns):
            raise ValueError("GLOBAL_TABLES_SPEC set but the columns come from several tables")
        writer.write_string(keyspace)
        writer.write_string(table)
        for c in columns:
            writer.write_string(c.name)
            write_type_option(writer, c.type, version)
        return
    for c in columns:
        writer.write_string(c.keyspace)
        writer.write_string(c.table)
        writer.write_string(c.name)
        write_type_option(writer, c.type, version)


# --------------------------------------------------------------------------------------------
# Result metadata
# --------------------------------------------------------------------------------------------


def read_result_metadata(reader: Reader, version: int) -> ResultMetadata:
    """<flags><columns_count>[<paging_state>][<new_metadata_id>][<global_table_spec>?<col_spec>*]"""
    data = reader.data
    if type(data) is bytes:
        try:
            got = _result_metadata_at(data, reader.pos, reader.end, version)
        except Exception:  # the careful reader below raises the precise error
            got = None
        if got is not None:
            reader.pos = got[1]
            return got[0]
    flags = reader.read_int()
    count = reader.read_int()
    if count < 0:
        raise MalformedError(f"negative column count {count}")
    paging_state = None
    if flags & _HAS_MORE_PAGES:
        paging_state = reader.read_bytes()
    metadata_id = None
    if version >= 5 and flags & _METADATA_CHANGED:
        metadata_id = reader.read_short_bytes()
    if flags & _NO_METADATA:
        return ResultMetadata(flags, None, paging_state, metadata_id, count)
    # each column spec takes at least a [string] name and a [short] type id
    if count * 4 > reader.remaining():
        raise TruncatedError(f"{count} column specs cannot fit in {reader.remaining()} bytes")
    columns = _read_specs(reader, flags, count)
    return ResultMetadata(flags, columns, paging_state, metadata_id, count)


# Result metadata is parsed once per distinct run of column-spec bytes, not once per result:
# a simple statement run again and again gets the same specs each time. The cache is keyed by
# (GLOBAL_TABLES_SPEC, column count, the first bytes of the specs) and holds (raw spec bytes,
# columns, the metadata of a single page); a hit is a raw-bytes comparison at the same offset.
# That is exact: the spec parser is a pure function of the bytes it consumes (given that flag
# and the count), so bytes that start with a run it once consumed whole parse to the same
# columns and end at the same offset. Only the first bytes that every spec list of that count
# must have go into the key (row bytes after short specs would otherwise make every key
# distinct). Bounded: runs of at most _MAX_SPEC_BYTES bytes, _MAX_SPEC_CANDIDATES runs per
# key, and in all at most _MAX_SPECS keys, _MAX_SPEC_CACHE_BYTES raw bytes and
# _MAX_SPEC_CACHE_COLUMNS columns (the whole cache is dropped when one more would not fit).
_SpecEntry = tuple[bytes, tuple[ColumnSpec, ...], ResultMetadata]
_SPECS: dict[tuple[int, int, bytes], list[_SpecEntry]] = {}
_MAX_SPECS = 512
_MAX_SPEC_CANDIDATES = 8
_MAX_SPEC_BYTES = 16 * 1024
_MAX_SPEC_CACHE_BYTES = 1024 * 1024
_MAX_SPEC_CACHE_COLUMNS = 16 * 1024
_SPEC_KEY_BYTES = 64
# raw bytes and columns held by _SPECS (approximate if threads race: it only bounds memory)
_spec_held = [0, 0]
# NO_METADATA results (prepared statements run with skip_metadata): one per column count
_NO_METADATA_MD: dict[int, ResultMetadata] = {}
_MAX_NO_METADATA_MD = 256


def _result_metadata_at(
    data: bytes, pos: int, end: int, version: int
) -> tuple[ResultMetadata, int] | None:
    """The common cases of :func:`read_result_metadata` on bytes, without a Reader: the
    metadata and the offset after it, or None when the careful reader must decide (it then
    raises the precise error). May raise struct.error on short input (same meaning)."""
    if pos + 8 > end:
        return None
    flags, count = _ii.unpack_from(data, pos)
    pos += 8
    if count < 0:
        return None
    if flags == _NO_METADATA:
        md = _NO_METADATA_MD.get(count)
        if md is None:
            md = ResultMetadata(flags, None, None, None, count)
            if len(_NO_METADATA_MD) >= _MAX_NO_METADATA_MD:
                _NO_METADATA_MD.clear()
            _NO_METADATA_MD[count] = md
        return md, pos
    paging_state = None
    if flags & _HAS_MORE_PAGES:
        if pos + 4 > end:
            return None
        n = _i32.unpack_from(data, pos)[0]
        pos += 4
        if n >= 0:
            if pos + n > end:
                return None
            paging_state = data[pos : pos + n]
            pos += n
    metadata_id = None
    if version >= 5 and flags & _METADATA_CHANGED:
        if pos + 2 > end:
            return None
        n = _u16.unpack_from(data, pos)[0]
        pos += 2
        if pos + n > end:
            return None
        metadata_id = data[pos : pos + n]
        pos += n
    if flags & _NO_METADATA:
        return ResultMetadata(flags, None, paging_state, metadata_id, count), pos
    if count * 4 > end - pos:
        return None
    # the fewest bytes `count` specs can take: [string] names and [short] type ids, plus the
    # global keyspace and table, or each column's own
    least = 4 + 4 * count if flags & _GLOBAL_TABLES_SPEC else 8 * count
    key = (flags & _GLOBAL_TABLES_SPEC, count, data[pos : pos + min(least, _SPEC_KEY_BYTES)])
    entries = _SPECS.get(key)
    if entries is not None:
        for raw, columns, plain in entries:
            if data.startswith(raw, pos) and pos + len(raw) <= end:
                pos += len(raw)
                if plain.flags == flags and paging_state is None and metadata_id is None:
                    return plain, pos
                return ResultMetadata(flags, columns, paging_state, metadata_id, count), pos
    reader = Reader(data, pos, end)
    columns = _read_specs(reader, flags, count)
    stop = reader.pos
    if stop - pos <= _MAX_SPEC_BYTES:
        # the metadata of a single page (no paging state, no new metadata id) of these specs
        plain = ResultMetadata(
            flags & ~(_HAS_MORE_PAGES | _METADATA_CHANGED), columns, None, None, count
        )
        held = _spec_held
        if (
            len(_SPECS) >= _MAX_SPECS
            or held[0] + stop - pos > _MAX_SPEC_CACHE_BYTES
            or held[1] + count > _MAX_SPEC_CACHE_COLUMNS
        ):
            _SPECS.clear()
            held[0] = held[1] = 0
            entries = None
        if entries is None:
            entries = _SPECS[key] = []
        elif len(entries) >= _MAX_SPEC_CANDIDATES:
            dropped = entries.pop(0)
            held[0] -= len(dropped[0])
            held[1] -= len(dropped[1])
        entries.append((data[pos:stop], columns, plain))
        held[0] += stop - pos
        held[1] += count
        if plain.flags == flags and paging_state is None and metadata_id is None:
            return plain, stop
    return ResultMetadata(flags, columns, paging_state, metadata_id, count), stop


def write_result_metadata(writer: Writer, md: ResultMetadata, version: int) -> None:
    """Write `md`. HAS_MORE_PAGES, METADATA_CHANGED and NO_METADATA follow the content
    (paging_state, result_metadata_id, columns); GLOBAL_TABLES_SPEC is taken from md.flags."""
    flags = md.flags & ~(RowsFlag.HAS_MORE_PAGES | RowsFlag.METADATA_CHANGED | RowsFlag.NO_METADATA)
    if md.paging_state is not None:
        flags |= RowsFlag.HAS_MORE_PAGES
    if md.result_metadata_id is not None:
        if version < 5:
            raise ValueError("result metadata ids exist in protocol v5 only")
        flags |= RowsFlag.METADATA_CHANGED
    if md.columns is None:
        flags |= RowsFlag.NO_METADATA
        flags &= ~RowsFlag.GLOBAL_TABLES_SPEC
        count = md.column_count
    else:
        count = len(md.columns)
        if not md.columns:
            flags &= ~RowsFlag.GLOBAL_TABLES_SPEC
    writer.write_int(int(flags))
    writer.write_int(count)
    if md.paging_state is not None:
        writer.write_bytes(md.paging_state)
    if md.result_metadata_id is not None:
        writer.write_short_bytes(md.result_metadata_id)
    if md.columns is not None:
        _write_specs(writer, flags, md.columns, version)


# --------------------------------------------------------------------------------------------
# Prepared (bind) metadata
# --------------------------------------------------------------------------------------------


def read_prepared_metadata(reader: Reader, version: int) -> PreparedMetadata:
    """<flags><columns_count>[<pk_count><pk_index>*  (v4+)][<global_table_spec>?<col_spec>*]"""
    flags = reader.read_int()
    count = _read_count(reader, "bind marker count", 4)
    pk_indexes: tuple[int, ...] = ()
    if version >= 4:
        pk_count = _read_count(reader, "partition key index count", 2)
        pk_indexes = tuple(reader.read_short() for _ in range(pk_count))
    return PreparedMetadata(flags, _read_specs(reader, flags, count), pk_indexes)


def write_prepared_metadata(writer: Writer, md: PreparedMetadata, version: int) -> None:
    flags = md.flags & RowsFlag.GLOBAL_TABLES_SPEC if md.columns else 0
    writer.write_int(int(flags))
    writer.write_int(len(md.columns))
    if version >= 4:
        writer.write_int(len(md.pk_indexes))
        for i in md.pk_indexes:
            writer.write_short(i)
    _write_specs(writer, flags, md.columns, version)


# --------------------------------------------------------------------------------------------
# Rows: writing (simulator side)
# --------------------------------------------------------------------------------------------


def encode_rows(
    writer: Writer, columns: Sequence[ColumnSpec], rows: Iterable[Sequence[Any]]
) -> None:
    """Write <rows_count><rows_content>: each row a sequence of Python values (None is null)."""
    rows = list(rows)
    writer.write_int(len(rows))
    ncols = len(columns)
    buf = writer.buf
    pack = _i32.pack
    for row in rows:
        if len(row) != ncols:
            raise ValueError(f"row of {len(row)} values for {ncols} columns")
        for col, value in zip(columns, row, strict=True):
            if value is UNSET:
                raise ValueError(f"column {col.name!r}: a result cannot hold an unset value")
            raw = encode_value(col.type, value, col.name)
            if raw is None:
                buf += b"\xff\xff\xff\xff"
            else:
                assert isinstance(raw, bytes)
                buf += pack(len(raw))
                buf += raw


# --------------------------------------------------------------------------------------------
# Rows: reading.  THE HOT PATH.  decode_rows keeps this name and signature for a Cython twin.
# --------------------------------------------------------------------------------------------

_EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_EPOCH_NAIVE = datetime.datetime(1970, 1, 1)

# a result with no columns has rows of no bytes; refuse counts that would allocate without
# bound for them (Cassandra never sends such a result with more than a handful of rows)
_MAX_EMPTY_ROWS = 1 << 16

# per distinct tuple of column types: the generated row decoder (bounded, cleared when full)
_DECODERS: dict[tuple[CqlType, ...], Callable[[bytes, int, int], tuple[list[tuple], int]]] = {}
_MAX_DECODERS = 1024


# the same, for the "driver" value types (cassandra-driver's values)
_DRIVER_ROW_DECODERS: dict[
    tuple[CqlType, ...], Callable[[bytes, int, int], tuple[list[tuple], int]]
] = {}


def register_user_type(keyspace: str, name: str, klass: type | None) -> None:
    """Decode values of the user type ``keyspace.name`` into ``klass(**fields)`` with the
    driver value types (None: back to the named tuple); the row decoders built so far are
    dropped, so the next result is decoded with the new class."""
    register_udt_class(keyspace, name, klass)
    _DRIVER_ROW_DECODERS.clear()
    _DRIVER_BY_COLUMNS.clear()
    if _twin is not None:
        _twin._clear_plans()  # the twin's per-columns decoders too


def decode_rows(
    reader: Reader, columns: tuple[ColumnSpec, ...], value_types: str = DEFAULT_VALUE_TYPES
) -> list[tuple]:
    """Read <rows_count><rows_content> from `reader` and return the rows as tuples of Python
    values, decoded with the columns' types. Leaves `reader` after the last cell.
    ``value_types``: ``"driver"`` (cassandra-driver's values) or ``"modern"``."""
    data = reader.data
    if type(data) is not bytes:
        data = bytes(data)  # one copy per page: slices of bytes are bytes, which decode() takes
    rows, reader.pos = _rows_at(data, reader.pos, reader.end, columns, value_types)
    return rows


# the row decoder of a columns tuple, by identity: the same tuple object comes back with every
# result of a statement (the prepared result metadata, or the cached specs above), and an
# identity check spares building and hashing the tuple of types. Each entry holds its tuple,
# so an id cannot be reused while it is in here; only narrow results are kept (a wide one
# amortizes the lookup over its size), so the tuples it may keep alive stay small.
#: the widest result that gets a generated decoder (compiling one grows faster than linearly
#: with its columns: 128 take ~10 ms, 1,000 ~0.1 s and ~50 MB, 10,000 seconds and ~0.5 GB)
_MAX_COMPILED_WIDTH = 128
_BY_COLUMNS: dict[int, tuple[tuple[ColumnSpec, ...], Callable[..., tuple[list[tuple], int]]]] = {}
_DRIVER_BY_COLUMNS: dict[
    int, tuple[tuple[ColumnSpec, ...], Callable[..., tuple[list[tuple], int]]]
] = {}
_MAX_BY_COLUMNS = 256
_MAX_BY_COLUMNS_WIDTH = 64


def _rows_at(
    data: bytes, pos: int, end: int, columns: tuple[ColumnSpec, ...],
    value_types: str = DEFAULT_VALUE_TYPES,
) -> tuple[list[tuple], int]:
    """:func:`decode_rows` on bytes: the rows at `pos` (not past `end`) and the offset after
    them."""
    if pos + 4 > end:
        raise TruncatedError("ROWS result without a row count")
    count = _i32.unpack_from(data, pos)[0]
    pos += 4
    ncols = len(columns)
    if count < 0:
        raise MalformedError(f"negative row count {count}")
    if ncols == 0:
        if count > _MAX_EMPTY_ROWS:
            raise MalformedError(f"{count} rows of no columns")
        return [()] * count, pos
    if count * ncols * 4 > end - pos:  # every cell has at least its [int] length
        raise TruncatedError(
            f"{count} rows x {ncols} columns cannot fit in the {end - pos} bytes left"
        )
    driver = value_types == "driver"
    if ncols > _MAX_COMPILED_WIDTH:
        # compiling a decoder for thousands of columns costs seconds of CPU and hundreds of
        # MB (10,000 int columns: ~0.5 GB at its peak): wide rows take the per-cell reader
        return _decode_rows_careful(data, pos, end, count, columns, driver)
    by_columns = _DRIVER_BY_COLUMNS if driver else _BY_COLUMNS
    entry = by_columns.get(id(columns))
    if entry is not None and entry[0] is columns:
        decoder = entry[1]
    else:
        if not driver and value_types != "modern":
            raise ValueError(f"value_types must be 'driver' or 'modern', got {value_types!r}")
        types = tuple(c.type for c in columns)
        decoder = (_DRIVER_ROW_DECODERS if driver else _DECODERS).get(types)
        if decoder is None:
            decoder = _row_decoder(types, driver)
        if ncols <= _MAX_BY_COLUMNS_WIDTH:
            if len(by_columns) >= _MAX_BY_COLUMNS:
                by_columns.clear()
            by_columns[id(columns)] = (columns, decoder)
    try:
        rows, new_pos = decoder(data, pos, count)
        if new_pos > end:
            raise TruncatedError("rows run past the end")
    except Exception:
        rows, new_pos = _decode_rows_careful(data, pos, end, count, columns, driver)
    return rows, new_pos


def _rows_chunk(
    data: bytes, pos: int, end: int, count: int, columns: tuple[ColumnSpec, ...],
    value_types: str = DEFAULT_VALUE_TYPES, first_row: int = 0,
) -> tuple[list[tuple], int]:
    """`count` rows (no <rows_count> before them) at `pos`, not past `end`, and the offset
    after them: one slice of a page that :class:`LazyRows` decodes at a time. `first_row` is
    the index of the first of them in the page (for the messages of errors). Same values and
    errors as :func:`_rows_at` over the whole page."""
    ncols = len(columns)
    driver = value_types == "driver"
    if not driver and value_types != "modern":
        raise ValueError(f"value_types must be 'driver' or 'modern', got {value_types!r}")
    if ncols == 0:
        return [()] * count, pos
    if ncols > _MAX_COMPILED_WIDTH:
        return _decode_rows_careful(data, pos, end, count, columns, driver, first_row)
    by_columns = _DRIVER_BY_COLUMNS if driver else _BY_COLUMNS
    entry = by_columns.get(id(columns))
    if entry is not None and entry[0] is columns:
        decoder = entry[1]
    else:
        types = tuple(c.type for c in columns)
        decoder = (_DRIVER_ROW_DECODERS if driver else _DECODERS).get(types)
        if decoder is None:
            decoder = _row_decoder(types, driver)
    try:
        rows, new_pos = decoder(data, pos, count)
        if new_pos > end:
            raise TruncatedError("rows run past the end")
    except Exception:
        rows, new_pos = _decode_rows_careful(data, pos, end, count, columns, driver, first_row)
    return rows, new_pos


def _decode_rows_careful(
    data: bytes, pos: int, end: int, count: int, columns: tuple[ColumnSpec, ...],
    driver: bool = False, first_row: int = 0,
) -> tuple[list[tuple], int]:
    """The slow, exact reader: every length checked, errors naming row and column. With the
    driver value types, a value cassandra-driver cannot represent (a timestamp outside years
    1..9999) fails as it does there: 'Failed decoding result column "ts" of type timestamp:
    ...' (a ProtocolError here, so also a DriverException; the connection stays up)."""
    decoders = [driver_decoder(c.type) if driver else c.type.decode for c in columns]
    rows = []
    unpack_from = _i32.unpack_from
    for r in range(first_row, first_row + count):
        row = []
        for col, decode in zip(columns, decoders, strict=True):
            if pos + 4 > end:
                raise TruncatedError(f"row {r}, column {col.name!r}: cell length past the end")
            n = unpack_from(data, pos)[0]
            pos += 4
            if n < 0:
                row.append(None)
                continue
            if pos + n > end:
                raise TruncatedError(
                    f"row {r}, column {col.name!r}: cell of {n} bytes at offset {pos} "
                    f"past the end ({end})"
                )
            try:
                row.append(decode(data[pos : pos + n]))
            except (OverflowError, ValueError) as exc:
                if not driver:
                    raise MalformedError(
                        f"row {r}, column {col.name!r} ({col.type.cql_name}): {exc!r}"
                    ) from exc
                raise MalformedError(
                    f'Failed decoding result column "{col.name}" of type '
                    f"{col.type.cql_name}: {exc}"
                ) from exc
            except ProtocolError as exc:
                raise type(exc)(
                    f"row {r}, column {col.name!r} ({col.type.cql_name}): {exc}"
                ) from exc
            except Exception as exc:  # a codec bug must still surface as a ProtocolError
                raise MalformedError(
                    f"row {r}, column {col.name!r} ({col.type.cql_name}): {exc!r}"
                ) from exc
            pos += n
        rows.append(tuple(row))
    return rows, pos


# -- lazy pages -------------------------------------------------------------------------------
#
# A big page is not decoded when its response is: decoding 50,000 rows takes a pure-Python
# process a good part of a second, and the greenlet that reads the connection would hold the
# hub all that time. Its RowsResult carries a LazyRows instead, which decodes slices of rows
# when (and in the greenlet where) they are used, and can hand the hub a turn between slices.

#: ROWS bodies with more bytes of cells than this are decoded lazily (see :class:`LazyRows`);
#: smaller ones (every point query) are decoded at once, as before
LAZY_BYTES = 64 * 1024
#: about how many cells one slice of a lazy page decodes (~1 ms of pure Python, well under
#: that with the Cython twin)
CHUNK_CELLS = 1024

RawRows = tuple[bytes, int, int, int]


class LazyRows(Sequence[Any]):
    """The rows of one page, decoded slice by slice as they are used: a read-only sequence
    (``len``, indexing, slicing, iteration, ``==`` with a list) that holds the page's bytes.

    ``raw_rows`` is ``(data, pos, end, count)``: ``data[pos:end]`` are the cells of `count`
    rows. ``transform`` (optional) maps each decoded slice (a list of tuples) to the list of
    rows it stands for (a row factory applied per slice); ``pause`` (optional) is called
    before every slice but the first (``hub.idle``: other greenlets run between slices).

    Errors: the row count is checked against the bytes when the page arrives (cheap); the
    cells only when their slice is decoded, so a malformed cell raises its
    :class:`~greencql.errors.ProtocolError` (the same one the eager path raises) from the
    access that needed it, every time that slice is asked for again.
    """

    __slots__ = (
        "_done",
        "_pos",
        "_rows",
        "_step",
        "columns",
        "pause",
        "raw_rows",
        "transform",
        "value_types",
    )

    def __init__(
        self,
        raw_rows: RawRows,
        columns: tuple[ColumnSpec, ...],
        value_types: str = DEFAULT_VALUE_TYPES,
        transform: Callable[[list[tuple]], list[Any]] | None = None,
        pause: Callable[[], object] | None = None,
    ) -> None:
        self.raw_rows = raw_rows
        self.columns = columns
        self.value_types = value_types
        self.transform = transform
        self.pause = pause
        self._rows: list[Any] = []
        self._pos = raw_rows[1]
        self._done = 0  # rows decoded so far
        self._step = max(1, CHUNK_CELLS // max(1, len(columns)))

    def derive(
        self,
        transform: Callable[[list[tuple]], list[Any]] | None = None,
        pause: Callable[[], object] | None = None,
    ) -> LazyRows:
        """A fresh lazy sequence over the same bytes, with its own transform and pause."""
        return LazyRows(self.raw_rows, self.columns, self.value_types, transform, pause)

    @property
    def decoded(self) -> int:
        """How many rows have been decoded so far."""
        return self._done

    def _more(self) -> bool:
        """Decode the next slice; False when every row is decoded."""
        count = self.raw_rows[3]
        if self._done >= count:
            return False
        if self._done and self.pause is not None:
            self.pause()
            if self._done >= count:  # another greenlet finished it meanwhile
                return True
        done = self._done
        data, _, end, _ = self.raw_rows
        n = min(count - done, self._step)
        rows, pos = _rows_chunk(data, self._pos, end, n, self.columns, self.value_types, done)
        if done + n == count and pos != end:
            raise MalformedError(f"{end - pos} bytes after the last of {count} rows")
        if done != self._done:  # decoded meanwhile by another greenlet (a pause above)
            return True
        if self.transform is not None:
            rows = self.transform(rows)
        self._rows.extend(rows)
        self._pos = pos
        self._done = done + n
        return True

    def _all(self) -> list[Any]:
        while self._more():
            pass
        return self._rows

    def __len__(self) -> int:
        return self.raw_rows[3]

    def __bool__(self) -> bool:
        return self.raw_rows[3] > 0

    def __iter__(self) -> Iterator[Any]:
        """Every row, decoded slice by slice as the iteration gets there. Rows met only by
        iterating are not kept (a page walked once never holds all its rows at a time, and
        the garbage collector never has to walk them all); indexing keeps what it decoded."""
        count = self.raw_rows[3]
        if self._done >= count:
            yield from self._rows
            return
        data, pos, end, _ = self.raw_rows
        columns = self.columns
        value_types = self.value_types
        transform = self.transform
        pause = self.pause
        step = self._step
        done = 0
        while done < count:
            if done and pause is not None:
                pause()
            n = min(count - done, step)
            rows, pos = _rows_chunk(data, pos, end, n, columns, value_types, done)
            done += n
            if done == count and pos != end:
                raise MalformedError(f"{end - pos} bytes after the last of {count} rows")
            if transform is not None:
                rows = transform(rows)
            yield from rows
            rows = None

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return self._all()[index]
        count = self.raw_rows[3]
        i = index.__index__()
        if i < 0:
            i += count
        if not 0 <= i < count:
            raise IndexError("row index out of range")
        rows = self._rows
        while len(rows) <= i:
            self._more()
        return rows[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyRows):
            other = other._all()
        if isinstance(other, list):
            return self._all() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<LazyRows {self._done} of {self.raw_rows[3]} rows decoded>"


def lazy_rows(
    data: bytes, pos: int, end: int, columns: tuple[ColumnSpec, ...],
    value_types: str = DEFAULT_VALUE_TYPES,
) -> LazyRows:
    """The <rows_count><rows_content> at `pos` (ending at `end`) as a :class:`LazyRows`,
    after the checks that cost nothing: the count is not negative and its cells' lengths
    alone fit in the bytes (else TruncatedError / MalformedError, as the eager path)."""
    if value_types != "driver" and value_types != "modern":
        raise ValueError(f"value_types must be 'driver' or 'modern', got {value_types!r}")
    if pos + 4 > end:
        raise TruncatedError("ROWS result without a row count")
    count = _i32.unpack_from(data, pos)[0]
    pos += 4
    ncols = len(columns)
    if count < 0:
        raise MalformedError(f"negative row count {count}")
    if ncols == 0:
        if count > _MAX_EMPTY_ROWS:
            raise MalformedError(f"{count} rows of no columns")
    elif count * ncols * 4 > end - pos:
        raise TruncatedError(
            f"{count} rows x {ncols} columns cannot fit in the {end - pos} bytes left"
        )
    return LazyRows((data, pos, end, count), columns, value_types)


# -- code generation for the optimistic reader -------------------------------------------------
#
# Each template reads one cell at `pos` into c{i} and advances `pos`. `n` is the cell length.
# Fixed-size types read length and value in one unpack_from (format `_s{i}`); when the length
# is not the expected size the cell goes to the type's own decoder (empty value -> None, wrong
# size -> MalformedError), or is null when negative.

_FIXED_TEMPLATE = """\
        n, v = _s{i}(data, pos)
        if n == {size}:
            c{i} = {expr}
            pos += {step}
        else:
            pos += 4
            if n < 0:
                c{i} = None
            else:
                c{i} = _d{i}(data[pos:pos + n])
                pos += n
"""

_VAR_TEMPLATE = """\
        n = _i(data, pos)[0]
        pos += 4
        if n < 0:
            c{i} = None
        else:
            c{i} = {expr}
            pos += n
"""

# kind -> (struct format after the length, value size, expression of the value `v`)
_FIXED_KINDS: dict[str, tuple[str, int, str]] = {
    "int": ("i", 4, "v"),
    "bigint": ("q", 8, "v"),
    "counter": ("q", 8, "v"),
    "double": ("d", 8, "v"),
    "float": ("f", 4, "v"),
    "boolean": ("B", 1, "v != 0"),
    "smallint": ("h", 2, "v"),
    "tinyint": ("b", 1, "v"),
    # _ms: timedelta(milliseconds=v) from the epoch; an OverflowError (year outside 1..9999)
    # sends the page to the careful reader, which returns the raw milliseconds for that cell
    "timestamp": ("q", 8, "_EPOCH + _td(0, 0, 0, v)"),
}

# kind -> expression of the cell's value from data[pos:pos + n]
_VAR_KINDS: dict[str, str] = {
    "text": "data[pos:pos + n].decode('utf-8')",
    "ascii": "data[pos:pos + n].decode('ascii')",
    "blob": "data[pos:pos + n]",
    "custom": "data[pos:pos + n]",
}

_UUID_TEMPLATE = """\
        n = _i(data, pos)[0]
        pos += 4
        if n == 16:
            c{i} = _new_uuid(_UUID)
            _set_int(c{i}, _from_bytes(data[pos:pos + 16], 'big'))
            _set_safe(c{i}, _unknown)
            pos += 16
        elif n < 0:
            c{i} = None
        else:
            c{i} = _d{i}(data[pos:pos + n])
            pos += n
"""


def _row_decoder(
    types: tuple[CqlType, ...], driver: bool = False
) -> Callable[[bytes, int, int], tuple[list[tuple], int]]:
    namespace: dict[str, Any] = {
        "_i": _i32.unpack_from,
        # cassandra-driver's timestamps are naive UTC datetimes
        "_EPOCH": _EPOCH_NAIVE if driver else _EPOCH_UTC,
        "_td": datetime.timedelta,
        "_UUID": uuid.UUID,
        "_new_uuid": object.__new__,
        # uuid.UUID is immutable through __setattr__; its slots are set directly, as
        # UUID.__init__ itself does (int, then is_safe), skipping its argument parsing
        "_set_int": uuid.UUID.int.__set__,  # type: ignore[attr-defined]
        "_set_safe": uuid.UUID.is_safe.__set__,  # type: ignore[attr-defined]
        "_unknown": uuid.SafeUUID.unknown,
        "_from_bytes": int.from_bytes,
    }
    body = []
    for i, t in enumerate(types):
        namespace[f"_d{i}"] = driver_decoder(t) if driver else t.decode
        kind = t.kind
        if kind in _FIXED_KINDS:
            fmt, size, expr = _FIXED_KINDS[kind]
            namespace[f"_s{i}"] = struct.Struct(">i" + fmt).unpack_from
            body.append(_FIXED_TEMPLATE.format(i=i, size=size, step=4 + size, expr=expr))
        elif kind in ("uuid", "timeuuid"):
            body.append(_UUID_TEMPLATE.format(i=i))
        else:
            expr = _VAR_KINDS.get(kind, f"_d{i}(data[pos:pos + n])")
            body.append(_VAR_TEMPLATE.format(i=i, expr=expr))
    cells = ", ".join(f"c{i}" for i in range(len(types)))
    # one row (a lookup by key, the commonest SELECT) without the loop and the list appends
    source = (
        "def decode(data, pos, count):\n"
        "    if count == 1:\n" + "".join(body) + f"        return [({cells},)], pos\n"
        "    rows = []\n"
        "    append = rows.append\n"
        "    for _ in range(count):\n" + "".join(body) + f"        append(({cells},))\n"
        "    return rows, pos\n"
    )
    # the file name is for tracebacks only; it never carries type names read off the wire
    code = compile(source, f"<greencql row decoder of {len(types)} columns>", "exec")
    exec(code, namespace)
    decoder = namespace["decode"]
    cache = _DRIVER_ROW_DECODERS if driver else _DECODERS
    if len(cache) >= _MAX_DECODERS:
        cache.clear()
    cache[types] = decoder
    return decoder


# -- the Cython twin ---------------------------------------------------------------------------
# greencql/protocol/_rows.pyx: the same _rows_at and _rows_chunk in C for the common types (it
# calls back into the careful reader above for anything irregular, so errors are the same).
_rows_at_python = _rows_at  # kept for the twin (inputs it leaves to Python) and the tests
_rows_chunk_python = _rows_chunk
_twin = twin("greencql.protocol._rows")
if _twin is not None:
    _rows_at = _twin._rows_at
    _rows_chunk = _twin._rows_chunk
    # CHUNK_CELLS stays: bigger C slices would be as quick, but a slice is alive as a whole
    # while it is made, and more than ~700 new container objects alive at once set off the
    # garbage collector, which promotes them and soon runs full collections of the heap
