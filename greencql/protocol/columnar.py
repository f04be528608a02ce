"""Columnar decoding of a ROWS body into NumPy arrays: bytes in, one array per column out.

Owns :func:`decode_columns`, which reads the row cells of a ROWS result (the
``RowsResult.raw_rows`` of :mod:`greencql.protocol.messages`: ``data[pos:end]`` holding
``count`` rows) column by column into NumPy masked arrays, and :func:`column_dtype`, the dtype
each CQL type gets. It is the protocol half of the ``numpy_columns`` row factory and of
``ResultSet.to_numpy()`` (:mod:`greencql.cluster.rowfactories`, :mod:`greencql.cluster.results`).

What comes out, per column (a ``numpy.ma.MaskedArray`` of ``count`` items, always masked: the
mask is a full boolean array, True exactly where the default row decoding gives ``None``, i.e.
a NULL cell or an empty value of a fixed-width type; a column has the same type whatever its
data, on every page):

==============================  ==========================================================
int / bigint, counter           int32 / int64
smallint / tinyint              int16 / int8
float / double                  float32 / float64
boolean                         bool
timestamp                       datetime64[ms] (milliseconds since the epoch, UTC)
date                            datetime64[D] (CQL's unsigned day count centred at 2**31)
time                            timedelta64[ns] (nanoseconds since midnight)
uuid / timeuuid                 V16: the 16 bytes in network order (``uuid.UUID(bytes=
                                a[i].tobytes())``); a void dtype, unlike S16, keeps
                                trailing zero bytes
anything else                   object: the values the tuple row decoder gives (text,
                                varint, decimal, collections, UDTs, ...), None for NULL
==============================  ==========================================================

Masked items hold zeros (the epoch, 0 days, zero bytes) or None. Fixed-width values are not
range-checked beyond their size (a ``time`` past midnight is kept as it is).

How it is fast: when every column is fixed-width and no cell is NULL or empty, every row has
the same stride, so the body is viewed as one structured big-endian array (``np.frombuffer``,
no copy), the length fields are checked to be the expected sizes vectorially, and each column
is converted to native order in one NumPy call. Otherwise the cell offsets are found by a scan
(:func:`scan_cells`: a loop in pure Python, or its Cython twin ``_columnar.pyx`` chosen by
``GREENCQL_IMPL``), fixed-width columns are gathered from those offsets with NumPy fancy
indexing, and object columns are decoded cell by cell with the row decoder's value decoders.
Without the twin, a page of fixed-width columns with NULLs is matched row by row by one
regular expression, and its cells found a column at a time (see ``_scan_fixed_rows``),
instead of the Python scan.

NumPy is optional: this module is imported only when a columnar result is asked for, and says
which extra to install when NumPy is missing. Must not: do IO, know about sessions or pages.
Raises only :class:`~greencql.errors.ProtocolError` subclasses on malformed input.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from typing import Any

from greencql._speedups import twin
from greencql.errors import MalformedError, ProtocolError, TruncatedError
from greencql.protocol.types import DEFAULT_VALUE_TYPES, CqlType, driver_decoder

try:
    import numpy as np
except ImportError as exc:  # pragma: no cover - the test environment has NumPy
    raise ImportError(
        "columnar results (numpy_columns, ResultSet.to_numpy) need NumPy: "
        "pip install 'greencql[numpy]'"
    ) from exc

__all__ = ["decode_columns", "column_dtype", "scan_cells", "FIXED_WIDTH"]

#: kind -> (cell size, big-endian wire dtype) of the fixed-width CQL types
FIXED_WIDTH: dict[str, tuple[int, str]] = {
    "int": (4, ">i4"),
    "bigint": (8, ">i8"),
    "counter": (8, ">i8"),
    "smallint": (2, ">i2"),
    "tinyint": (1, "i1"),
    "float": (4, ">f4"),
    "double": (8, ">f8"),
    "boolean": (1, "u1"),
    "timestamp": (8, ">i8"),
    "date": (4, ">u4"),
    "time": (8, ">i8"),
    "uuid": (16, "V16"),
    "timeuuid": (16, "V16"),
}

# kind -> the dtype of the column handed to users
_NATIVE: dict[str, str] = {
    "int": "int32",
    "bigint": "int64",
    "counter": "int64",
    "smallint": "int16",
    "tinyint": "int8",
    "float": "float32",
    "double": "float64",
    "boolean": "bool",
    "timestamp": "datetime64[ms]",
    "date": "datetime64[D]",
    "time": "timedelta64[ns]",
    "uuid": "V16",
    "timeuuid": "V16",
}

# CQL dates are unsigned day counts with the epoch at 2**31
_DATE_EPOCH = 1 << 31

# a result with no columns has rows of no bytes: refuse counts that would allocate without
# bound for them (the same limit as the tuple decoder's)
_MAX_EMPTY_ROWS = 1 << 16

_i32 = struct.Struct(">i")


def column_dtype(t: CqlType) -> np.dtype:
    """The dtype of the array a column of type ``t`` becomes (object for non fixed-width)."""
    return np.dtype(_NATIVE.get(t.kind, "O"))


# -- the scan: where each cell starts, and its length ------------------------------------------


def _scan_cells_python(
    data: bytes, pos: int, end: int, count: int, ncols: int
) -> tuple[np.ndarray, np.ndarray]:
    """The start offset and the length (negative: NULL) of every cell of ``count`` rows of
    ``ncols`` cells in ``data[pos:end]``, as two int64 arrays of shape (count, ncols). The
    cells must fill ``data[pos:end]`` exactly."""
    total = count * ncols
    starts = [0] * total
    lengths = [0] * total
    unpack = _i32.unpack_from
    for i in range(total):
        if pos + 4 > end:
            raise TruncatedError(
                f"row {i // ncols}, column {i % ncols}: cell length past the end ({end})"
            )
        n = unpack(data, pos)[0]
        pos += 4
        starts[i] = pos
        lengths[i] = n
        if n > 0:
            pos += n
            if pos > end:
                raise TruncatedError(
                    f"row {i // ncols}, column {i % ncols}: cell of {n} bytes at offset "
                    f"{pos - n} past the end ({end})"
                )
    if pos != end:
        raise MalformedError(f"{end - pos} bytes after the last row")
    shape = (count, ncols)
    return (
        np.array(starts, dtype=np.int64).reshape(shape),
        np.array(lengths, dtype=np.int64).reshape(shape),
    )


scan_cells = _scan_cells_python
_compiled = twin("greencql.protocol._columnar")
if _compiled is not None:
    scan_cells = _compiled.scan_cells


# -- per column conversions ---------------------------------------------------------------------


def _to_native(kind: str, wire: np.ndarray) -> np.ndarray:
    """Big-endian wire values (any strides) -> a new contiguous array of the column's dtype."""
    if kind == "boolean":
        return wire != 0
    if kind == "timestamp":
        return wire.astype(np.int64).view("datetime64[ms]")
    if kind == "date":
        return (wire.astype(np.int64) - _DATE_EPOCH).view("datetime64[D]")
    if kind == "time":
        return wire.astype(np.int64).view("timedelta64[ns]")
    if kind in ("uuid", "timeuuid"):
        return np.array(wire, dtype="V16")  # a contiguous copy
    return wire.astype(_NATIVE[kind])


def _masked(values: np.ndarray, mask: np.ndarray) -> np.ma.MaskedArray:
    return np.ma.MaskedArray(values, mask=mask, copy=False)


# Structured dtypes of the constant-stride layout, per tuple of kinds (bounded).
_STRIDED: dict[tuple[str, ...], np.dtype] = {}
_MAX_STRIDED = 256


def _strided_dtype(kinds: tuple[str, ...]) -> np.dtype:
    dt = _STRIDED.get(kinds)
    if dt is None:
        fields = []
        for j, kind in enumerate(kinds):
            fields.append((f"l{j}", ">i4"))
            fields.append((f"v{j}", FIXED_WIDTH[kind][1]))
        dt = np.dtype(fields)
        if len(_STRIDED) >= _MAX_STRIDED:
            _STRIDED.clear()
        _STRIDED[kinds] = dt
    return dt


def _decode_strided(
    data: bytes, pos: int, count: int, names: list[str], kinds: tuple[str, ...]
) -> dict[str, np.ma.MaskedArray] | None:
    """Every column fixed-width, no NULL and no empty cell: one view of the whole body. None
    when a length field is not its column's size (NULLs, empties, or bad bytes: the scan
    decides)."""
    rec = np.frombuffer(data, dtype=_strided_dtype(kinds), count=count, offset=pos)
    for j, kind in enumerate(kinds):
        if not (rec[f"l{j}"] == FIXED_WIDTH[kind][0]).all():
            return None
    out = {}
    for j, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        out[name] = _masked(_to_native(kind, rec[f"v{j}"]), np.zeros(count, dtype=bool))
    return out


# Pure Python, every column fixed-width, some cells NULL or empty: one regular expression per
# tuple of kinds matches a whole row, each cell being <size><value>, a negative length (NULL)
# or a zero length (empty); ``findall`` walks the page in C, one match per row, and the row
# lengths give the row starts. Then the cells are found column by column for all rows at
# once (a vector step per column, not a Python step per cell). Three to five times faster
# than the cell-by-cell scan; with the Cython scan built, the scan is faster still.
_ROW_PATTERNS: dict[tuple[str, ...], re.Pattern[bytes]] = {}
_MAX_ROW_PATTERNS = 256
#: above this many cells findall's list of rows costs more memory than it saves time
_MAX_REGEX_CELLS = 1 << 22
_FOUR = np.arange(4)


def _row_pattern(kinds: tuple[str, ...]) -> re.Pattern[bytes]:
    pattern = _ROW_PATTERNS.get(kinds)
    if pattern is None:
        cells = []
        for kind in kinds:
            size = FIXED_WIDTH[kind][0]
            prefix = re.escape(size.to_bytes(4, "big"))
            cells.append(b"(?:" + prefix + b".{%d}|[\\x80-\\xff].{3}|\\x00{4})" % size)
        pattern = re.compile(b"".join(cells), re.DOTALL)
        if len(_ROW_PATTERNS) >= _MAX_ROW_PATTERNS:
            _ROW_PATTERNS.clear()
        _ROW_PATTERNS[kinds] = pattern
    return pattern


def _scan_fixed_rows(
    data: bytes, pos: int, end: int, count: int, kinds: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`scan_cells` for pages whose columns are all fixed-width, by rows: the same
    arrays, or None when the rows matched do not tile ``data[pos:end]`` in exactly ``count``
    rows (bad bytes, or a cell of another size: the scan then says what is wrong)."""
    rows = _row_pattern(kinds).findall(data, pos, end)
    if len(rows) != count:
        return None
    lengths_of_rows = np.fromiter(map(len, rows), dtype=np.int64, count=count)
    # The matches are disjoint and in order; covering every byte, they tile the page from
    # `pos`, and since a cell's length prefix picks its one alternative, they are the parse.
    if int(lengths_of_rows.sum()) != end - pos:
        return None
    offsets = np.full(count, pos, dtype=np.int64)
    if count > 1:
        offsets[1:] += np.cumsum(lengths_of_rows[:-1])
    raw = np.frombuffer(data, dtype=np.uint8)
    shape = (count, len(kinds))
    starts = np.empty(shape, dtype=np.int64)
    lengths = np.empty(shape, dtype=np.int64)
    for j in range(len(kinds)):
        # every cell has its 4-byte length (the pattern matched it): read them all at once
        n = raw[offsets[:, None] + _FOUR].view(">i4").reshape(count).astype(np.int64)
        offsets += 4
        starts[:, j] = offsets
        lengths[:, j] = n
        offsets += np.maximum(n, 0)
    return starts, lengths


def _gather_fixed(
    raw: np.ndarray, starts: np.ndarray, lengths: np.ndarray, kind: str, name: str
) -> np.ma.MaskedArray:
    """One fixed-width column from the scanned offsets: cells of the right size are gathered
    with one fancy index; NULL and empty cells are masked; any other size is malformed (as
    the tuple decoder says)."""
    size, wire_dtype = FIXED_WIDTH[kind]
    count = len(starts)
    valid = lengths == size
    nulls = ~valid
    any_null = bool(nulls.any())
    if any_null:
        bad = (lengths > 0) & nulls
        if bad.any():
            r = int(bad.argmax())
            raise MalformedError(
                f"row {r}, column {name!r} ({kind}): {kind} value of "
                f"{int(lengths[r])} bytes (expected {size})"
            )
        starts = np.where(valid, starts, 0)  # a safe offset; those rows are zeroed below
    if len(raw) < size:  # a body shorter than one value: every cell is NULL or empty
        raw = np.zeros(size, dtype=np.uint8)
    if size == 1:
        chunk = raw[starts]
    else:
        chunk = raw[starts[:, None] + np.arange(size)]
    if any_null:
        chunk[nulls] = 0
    wire = chunk.view(wire_dtype).reshape(count)
    values = _to_native(kind, wire)
    if any_null and kind == "date":
        values.view(np.int64)[nulls] = 0  # the epoch, not day -2**31
    return _masked(values, nulls)


def _decode_objects(
    data: bytes, starts: np.ndarray, lengths: np.ndarray, t: CqlType, name: str, driver: bool
) -> np.ma.MaskedArray:
    """A non fixed-width column, cell by cell, with the tuple decoder's values: text, ascii
    and blob inline as it has them, every other type through its value decoder. Any error
    sends the column to :func:`_decode_objects_careful`, which raises the tuple decoder's."""
    decode = driver_decoder(t) if driver else t.decode
    cells = zip(starts.tolist(), lengths.tolist(), strict=True)
    kind = t.kind
    try:
        if kind == "text":
            values = [None if n < 0 else data[s : s + n].decode("utf-8") for s, n in cells]
        elif kind == "ascii":
            values = [None if n < 0 else data[s : s + n].decode("ascii") for s, n in cells]
        elif kind in ("blob", "custom"):
            values = [None if n < 0 else data[s : s + n] for s, n in cells]
        else:
            values = [None if n < 0 else decode(data[s : s + n]) for s, n in cells]
    except Exception:
        values = _decode_objects_careful(data, starts, lengths, t, name, driver)
    # fromiter keeps each value one item (a slice assignment would make CQL lists a 2-D array)
    out = np.fromiter(values, dtype=object, count=len(values))
    mask = np.array([v is None for v in values], dtype=bool)
    return _masked(out, mask)


def _decode_objects_careful(
    data: bytes, starts: np.ndarray, lengths: np.ndarray, t: CqlType, name: str, driver: bool
) -> list[Any]:
    """:func:`_decode_objects` cell by cell, each error wrapped as the tuple decoder wraps it
    (a ProtocolError naming the row and the column)."""
    decode = driver_decoder(t) if driver else t.decode
    values: list[Any] = []
    append = values.append
    for r, (s, n) in enumerate(zip(starts.tolist(), lengths.tolist(), strict=True)):
        if n < 0:
            append(None)
            continue
        try:
            append(decode(data[s : s + n]))
        except (OverflowError, ValueError) as exc:
            if not driver:
                raise MalformedError(f"row {r}, column {name!r} ({t.cql_name}): {exc!r}") from exc
            raise MalformedError(
                f'Failed decoding result column "{name}" of type {t.cql_name}: {exc}'
            ) from exc
        except ProtocolError as exc:
            raise type(exc)(f"row {r}, column {name!r} ({t.cql_name}): {exc}") from exc
        except Exception as exc:  # a codec bug must still surface as a ProtocolError
            raise MalformedError(f"row {r}, column {name!r} ({t.cql_name}): {exc!r}") from exc
    return values


def decode_columns(
    data: bytes,
    pos: int,
    end: int,
    count: int,
    columns: Sequence[Any],
    value_types: str = DEFAULT_VALUE_TYPES,
) -> dict[str, np.ma.MaskedArray]:
    """The ``count`` rows in ``data[pos:end]`` (the cells only, after <rows_count>; exactly
    ``RowsResult.raw_rows``) as a dict column name -> masked array (see the module docstring
    for the dtypes). ``columns``: the result's column specs (anything with ``.name`` and
    ``.type``); a repeated name keeps its last column, as cassandra-driver's NumPy handler.
    ``value_types`` ("driver" or "modern") chooses the values of object columns, as it does
    for the tuple rows. Raises ProtocolError subclasses on malformed bytes."""
    if value_types not in ("driver", "modern"):
        raise ValueError(f"value_types must be 'driver' or 'modern', got {value_types!r}")
    if type(data) is not bytes:
        data = bytes(data)
    if count < 0:
        raise MalformedError(f"negative row count {count}")
    if not 0 <= pos <= end <= len(data):
        raise TruncatedError(f"rows at [{pos}:{end}] outside a body of {len(data)} bytes")
    ncols = len(columns)
    names = [c.name for c in columns]
    types = [c.type for c in columns]
    if ncols == 0:
        if count > _MAX_EMPTY_ROWS:
            raise MalformedError(f"{count} rows of no columns")
        if pos != end:
            raise MalformedError(f"{end - pos} bytes after the last row")
        return {}
    if count * ncols * 4 > end - pos:  # every cell has at least its [int] length
        raise TruncatedError(
            f"{count} rows x {ncols} columns cannot fit in the {end - pos} bytes left"
        )
    kinds = tuple(t.kind for t in types)
    if all(k in FIXED_WIDTH for k in kinds):
        stride = sum(4 + FIXED_WIDTH[k][0] for k in kinds)
        if count * stride == end - pos:
            got = _decode_strided(data, pos, count, names, kinds)
            if got is not None:
                return got
    scanned = None
    if (
        scan_cells is _scan_cells_python
        and count * ncols <= _MAX_REGEX_CELLS
        and all(k in FIXED_WIDTH for k in kinds)
    ):
        scanned = _scan_fixed_rows(data, pos, end, count, kinds)
    starts, lengths = scanned or scan_cells(data, pos, end, count, ncols)
    raw = np.frombuffer(data, dtype=np.uint8)
    driver = value_types == "driver"
    out = {}
    for j, (name, t, kind) in enumerate(zip(names, types, kinds, strict=True)):
        if kind in FIXED_WIDTH:
            out[name] = _gather_fixed(raw, starts[:, j], lengths[:, j], kind, name)
        else:
            out[name] = _decode_objects(data, starts[:, j], lengths[:, j], t, name, driver)
    return out
