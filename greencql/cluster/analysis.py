"""Results for analysis: the pages of a ResultSet as NumPy columns, and as a pandas DataFrame.

Owns what :meth:`ResultSet.to_numpy` and :meth:`ResultSet.to_pandas`
(:mod:`greencql.cluster.results`) do with pages: :func:`page_columns` (one page's columns:
the ``numpy_columns`` row factory's dict as it is, else decoded from the page's raw cells by
:mod:`greencql.protocol.columnar`), :func:`concat_columns` (pages joined per column, masks
kept) and :func:`to_dataframe` (the pandas dtypes).

The pandas choices, as pandas users expect them from ``read_sql(...,
dtype_backend="numpy_nullable")``: a column's dtype depends on its CQL type only, never on
whether this result has a NULL in it, so pages and queries concatenate cleanly:

- int, bigint, counter, smallint, tinyint -> ``Int32``, ``Int64``, ``Int16``, ``Int8``
  (nullable: NULL is ``<NA>``); boolean -> ``boolean``;
- float, double -> ``float32``, ``float64`` with NaN for NULL (pandas' own missing marker for
  floats: a NaN stored in the table and a NULL look alike);
- timestamp -> ``datetime64[ms]``, date -> ``datetime64[s]`` (pandas has no day unit),
  time -> ``timedelta64[ns]``, all with NaT for NULL;
- uuid, timeuuid -> ``uuid.UUID`` objects (None for NULL);
- everything else: the values of the rows (text, varint, decimal, collections...), None for
  NULL, in whatever column pandas makes of them.

NumPy and pandas are optional extras: this module imports them, and is imported only by those
two methods; a missing one is an ImportError naming the extra to install.
Must not: fetch pages, touch sessions or connections (the ResultSet does that).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

try:
    import numpy as np
except ImportError as exc:  # pragma: no cover - the test environment has NumPy
    raise ImportError(
        "ResultSet.to_numpy()/to_pandas() need NumPy: pip install 'greencql[numpy]'"
    ) from exc

from greencql.cluster.rowfactories import NumpyColumns
from greencql.errors import DriverException
from greencql.protocol.columnar import column_dtype, decode_columns

__all__ = ["page_columns", "concat_columns", "to_dataframe"]

_NULLABLE_INTS = {
    "int": "Int32",
    "bigint": "Int64",
    "counter": "Int64",
    "smallint": "Int16",
    "tinyint": "Int8",
}


def page_columns(page: Any) -> dict[str, np.ma.MaskedArray]:
    """The columns of one :class:`~greencql.cluster.results.Page`."""
    rows = page.rows
    if isinstance(rows, NumpyColumns):  # made by numpy_columns
        return rows
    if page.raw_rows is not None:
        return decode_columns(*page.raw_rows, page.raw_columns)
    if not rows:  # a result without rows (or an empty page built by hand)
        columns = page.raw_columns
        if columns is None:
            return {}
        return {
            c.name: np.ma.MaskedArray(
                np.empty(0, dtype=column_dtype(c.type)), mask=np.zeros(0, dtype=bool)
            )
            for c in columns
        }
    raise DriverException("to_numpy(): this page carries no raw rows to decode")


def concat_columns(parts: Sequence[dict[str, np.ma.MaskedArray]]) -> dict[str, Any]:
    """Pages joined column by column (masks kept); the first page's column order."""
    parts = [p for p in parts if p] or list(parts[:1])
    if not parts:
        return {}
    if len(parts) == 1:
        return dict(parts[0])
    return {name: np.ma.concatenate([p[name] for p in parts]) for name in parts[0]}


def _objects(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=object)
    out[mask] = None
    return out


def to_dataframe(columns: dict[str, np.ma.MaskedArray], specs: Sequence[Any]) -> Any:
    """A pandas DataFrame of ``columns`` (from :func:`concat_columns`), dtypes chosen by the
    CQL types of ``specs`` (the column specs, by name) as the module docstring says."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            "ResultSet.to_pandas() needs pandas: pip install 'greencql[pandas]'"
        ) from exc
    kinds = {c.name: c.type.kind for c in specs}
    data: dict[str, Any] = {}
    for name, arr in columns.items():
        kind = kinds.get(name)
        values = np.ma.getdata(arr)
        mask = np.ma.getmaskarray(arr)
        if kind in _NULLABLE_INTS:
            # copies: the frame must not share memory with the arrays to_numpy() keeps
            data[name] = pd.array(
                pd.arrays.IntegerArray(values.copy(), mask.copy()), dtype=_NULLABLE_INTS[kind]
            )
        elif kind == "boolean":
            data[name] = pd.arrays.BooleanArray(values.copy(), mask.copy())
        elif kind in ("float", "double"):
            data[name] = np.where(mask, np.nan, values).astype(values.dtype)
        elif kind in ("timestamp", "date", "time"):
            out = values.astype("datetime64[s]") if kind == "date" else values.copy()
            out[mask] = np.datetime64("NaT") if kind != "time" else np.timedelta64("NaT")
            data[name] = out
        elif kind in ("uuid", "timeuuid"):
            out = np.empty(len(values), dtype=object)
            for i, (raw, null) in enumerate(zip(values.tolist(), mask.tolist(), strict=True)):
                out[i] = None if null else uuid.UUID(bytes=raw)
            data[name] = out
        else:
            data[name] = _objects(values, mask)
    return pd.DataFrame(data, columns=list(columns))
