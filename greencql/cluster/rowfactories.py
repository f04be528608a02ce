"""Row factories: turn decoded rows (tuples) into the objects users get back.

Owns the four factories of cassandra-driver, with its signature ``factory(column_names, rows)
-> list`` so that user-written factories plug in unchanged: :func:`named_tuple_factory` (the
default), :func:`dict_factory`, :func:`ordered_dict_factory`, :func:`tuple_factory`; the
named-tuple class cache behind the first one (:func:`row_class`); and
:func:`resolve_row_factory`, which turns an execution profile's ``row_factory`` (a name or a
callable) into a callable.

Why a cache: cassandra-driver calls ``collections.namedtuple`` for every result, about 100 µs
per query, which for small point reads costs more than decoding the rows. Here the ``Row``
class is built once per distinct tuple of column names and kept in a bounded LRU cache, so a
repeated query pays a dict lookup. Field names are cleaned exactly as cassandra-driver cleans
them (``'[applied]'`` -> ``applied``, ``'system.count(*)'`` -> ``system_count``, invalid or
duplicate names renamed positionally), so code written against its rows keeps working.

The rows given to a factory are the protocol layer's decoded rows (``decode_rows`` returns a
list of tuples, one value per column); :func:`tuple_factory` returns that list as it is.

:func:`numpy_columns` is not called with rows at all: it is a marker that
:meth:`~greencql.cluster.results.Page.from_response` recognises, and then the page is decoded
column by column from the raw cells into NumPy arrays (``greencql.protocol.columnar``; NumPy is
an optional extra and is imported only then). The page's rows are one ``dict`` column name ->
masked array, which a ResultSet keeps as a one-item ``current_rows`` (as cassandra-driver does
with its ``NumpyProtocolHandler``).

Must not: decode bytes, know about statements or sessions, or block.
"""

from __future__ import annotations

import keyword
import logging
import re
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Sequence
from functools import lru_cache, partial
from typing import Any

__all__ = [
    "ROW_CLASS_CACHE_SIZE",
    "ROW_FACTORIES",
    "RowFactoryCallable",
    "named_tuple_factory",
    "dict_factory",
    "ordered_dict_factory",
    "tuple_factory",
    "numpy_columns",
    "NumpyColumns",
    "row_class",
    "clean_column_name",
    "row_field_names",
    "resolve_row_factory",
    "is_builtin_row_factory",
]

_log = logging.getLogger("greencql.cluster")

#: Distinct column-name tuples whose Row class is kept. An application has a bounded set of
#: queries; 1024 shapes covers any sane one while capping memory for programs that generate
#: column aliases dynamically (each class is a couple of kilobytes).
ROW_CLASS_CACHE_SIZE = 1024

#: ``factory(column_names, rows) -> rows``, cassandra-driver's row factory signature
RowFactoryCallable = Callable[[Sequence[str], list[tuple[Any, ...]]], Any]

# The cleaning rules, as behaviour learnt from cassandra-driver: drop trailing characters
# that are neither alphanumeric nor '_', then leading characters that are not alphanumeric
# (so a leading '_' goes too), then turn every remaining non-ASCII-alphanumeric into '_'.
_TRAILING_JUNK = re.compile(r"[^A-Za-z0-9_]+\Z")
_LEADING_JUNK = re.compile(r"\A[^A-Za-z0-9]+")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


@lru_cache(maxsize=4096)
def clean_column_name(name: str) -> str:
    """The identifier cassandra-driver's named tuples use for column ``name`` (before the
    positional renaming :func:`row_field_names` applies to names still invalid)."""
    name = _TRAILING_JUNK.sub("", name)
    name = _LEADING_JUNK.sub("", name)
    return _NOT_ALNUM.sub("_", name)


def _usable_field(name: str) -> bool:
    """Whether ``namedtuple`` accepts ``name`` as a field (cleaned names are ASCII ``\\w``)."""
    return bool(name) and not name[0].isdigit() and not name.startswith("_") and not (
        keyword.iskeyword(name)
    )


def row_field_names(column_names: Sequence[str]) -> tuple[str, ...]:
    """The field names of the Row class for ``column_names``, as cassandra-driver names them.

    Each name is cleaned (:func:`clean_column_name`). If the cleaned names are all valid and
    distinct they are used as they are. Otherwise every name that is still invalid (empty,
    starting with a digit, a keyword) becomes ``field_<index>_``, and then each repeated name
    gets ``_`` appended until it is unique.
    """
    cleaned = [clean_column_name(n) for n in column_names]
    if all(_usable_field(n) for n in cleaned) and len(set(cleaned)) == len(cleaned):
        return tuple(cleaned)
    names = [n if _usable_field(n) else f"field_{i}_" for i, n in enumerate(cleaned)]
    seen: set[str] = set()
    for i, n in enumerate(names):
        while n in seen:
            n += "_"
        names[i] = n
        seen.add(n)
    return tuple(names)


def _rebuild_row(column_names: tuple[str, ...], values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Unpickle a row: its class comes from the cache (or is rebuilt in another process)."""
    return tuple.__new__(row_class(column_names), values)


def _reduce_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return (_rebuild_row, (type(row)._column_names, tuple(row)))  # type: ignore[attr-defined]


@lru_cache(maxsize=ROW_CLASS_CACHE_SIZE)
def _build_row_class(column_names: tuple[str, ...]) -> type[tuple[Any, ...]]:
    fields = row_field_names(column_names)
    if fields != tuple(clean_column_name(n) for n in column_names):
        _log.warning(
            "column names %r are not all usable as named tuple fields; rows of this shape "
            "use %r (select with \"<col>\" AS <alias>, or pick another row_factory)",
            column_names,
            fields,
        )
    cls = namedtuple("Row", fields)  # type: ignore[misc]
    cls.__module__ = __name__
    # The raw names let a row pickle (rows cached in memcached/redis by web apps): the class
    # itself is not importable by name, so a row pickles as (names, values) and unpickles
    # through the cache. cassandra-driver rows do not pickle at all.
    cls._column_names = column_names
    cls.__reduce__ = _reduce_row
    # Building a row from the protocol layer's tuple without re-packing the values: the
    # tuple's items become the row's items, one C call per row.
    cls._from_tuple = partial(tuple.__new__, cls)
    return cls


def row_class(column_names: Sequence[str]) -> type[tuple[Any, ...]]:
    """The (cached) named-tuple class ``Row`` for rows with these columns.

    The same tuple of column names always gives the same class object while it is in the
    cache (:data:`ROW_CLASS_CACHE_SIZE` most recently used shapes).
    """
    if type(column_names) is not tuple:
        column_names = tuple(column_names)
    return _build_row_class(column_names)


def named_tuple_factory(colnames: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> list[Any]:
    """Each row as a named tuple ``Row`` (fields named after the columns, cleaned as
    cassandra-driver cleans them). The default row factory."""
    cls = _build_row_class(colnames if type(colnames) is tuple else tuple(colnames))
    # Fast path for the protocol layer's rows (a list of tuples, one value per column): each
    # row tuple becomes a Row without unpacking its values. The widths are checked first (in
    # C), so odd rows from a caller take cassandra-driver's path and its TypeError instead of
    # silently making a short or long Row.
    width = len(cls._fields)  # type: ignore[attr-defined]
    if type(rows) is list and set(map(len, rows)) <= {width}:
        return list(map(cls._from_tuple, rows))  # type: ignore[attr-defined]
    return [cls(*row) for row in rows]


def dict_factory(colnames: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Each row as a ``dict`` keyed by column name (a repeated name keeps its last value)."""
    return [dict(zip(colnames, row, strict=False)) for row in rows]


def ordered_dict_factory(
    colnames: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[OrderedDict[str, Any]]:
    """Each row as an ``OrderedDict`` in column order (what :func:`dict_factory` gives since
    Python 3.7; kept for code that checks the type)."""
    return [OrderedDict(zip(colnames, row, strict=False)) for row in rows]


def tuple_factory(colnames: Sequence[str], rows: Any) -> Any:
    """The rows as they are: plain tuples, one value per column. Costs nothing."""
    return rows


class NumpyColumns(dict):  # type: ignore[type-arg]
    """What :func:`numpy_columns` makes of a page: a ``dict`` column name -> NumPy masked
    array (a subclass only so that results can tell it from a dict another factory made)."""

    __slots__ = ()


def numpy_columns(colnames: Sequence[str], rows: Any) -> Any:
    """Columnar results: each page becomes one ``dict`` column name -> NumPy masked array,
    decoded straight from the page's bytes (``session.execute(..., row_factory=numpy_columns)``,
    ``session.row_factory = numpy_columns``, or ``ExecutionProfile(row_factory=numpy_columns)``;
    needs ``greencql[numpy]``). See docs/columnar.md for the dtypes.

    A marker: :meth:`~greencql.cluster.results.Page.from_response` recognises it and decodes
    the page's columns from the page's bytes instead of calling it with rows (calling it with
    rows raises TypeError). The protocol layer still decodes every ROWS result into tuples as
    it arrives, whatever the row factory; lazy row decoding, planned, will spare that."""
    raise TypeError(
        "numpy_columns decodes a page from its raw bytes: use it as a row_factory (execute, "
        "session.row_factory, ExecutionProfile), not as a function of decoded rows"
    )


#: the names an execution profile may give as ``row_factory``
ROW_FACTORIES: dict[str, RowFactoryCallable] = {
    "named_tuple": named_tuple_factory,
    "dict": dict_factory,
    "ordered_dict": ordered_dict_factory,
    "tuple": tuple_factory,
}

_BUILTIN = frozenset(ROW_FACTORIES.values())


def resolve_row_factory(row_factory: str | RowFactoryCallable | None) -> RowFactoryCallable:
    """The callable for an execution profile's ``row_factory``: one of the names of
    :data:`ROW_FACTORIES` (``'named_tuple'``, ``'dict'``, ``'ordered_dict'``, ``'tuple'``,
    also with a ``_factory`` suffix) or ``'numpy_columns'``, ``None`` for the default (named
    tuples), or any callable ``factory(column_names, rows)``."""
    if row_factory is None:
        return named_tuple_factory
    if isinstance(row_factory, str):
        if row_factory == "numpy_columns":
            return numpy_columns
        key = row_factory.removesuffix("_factory")
        try:
            return ROW_FACTORIES[key]
        except KeyError:
            raise ValueError(
                f"unknown row_factory {row_factory!r}: expected one of "
                f"{', '.join(sorted(ROW_FACTORIES))} or a callable"
            ) from None
    if not callable(row_factory):
        raise TypeError(f"row_factory must be a name or a callable, not {row_factory!r}")
    return row_factory


def is_builtin_row_factory(row_factory: object) -> bool:
    """Whether ``row_factory`` is one of this module's factories (whose row shapes
    ``ResultSet.was_applied`` knows)."""
    try:
        return row_factory in _BUILTIN
    except TypeError:  # an unhashable callable
        return False
