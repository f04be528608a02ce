"""Results and paging: what ``session.execute()`` returns.

Owns :class:`Page` (one RESULT as plain data: the rows made by the row factory, the paging
state to ask for the next page, column names and types, server warnings, custom payload,
tracing id) and :class:`ResultSet`, cassandra-driver's result object: iterate it and the
following pages are fetched as needed; or page by hand with :attr:`ResultSet.paging_state`,
:meth:`ResultSet.fetch_next_page` and :attr:`ResultSet.current_rows` (web pagination: hand
``paging_state`` to the client, resume later with ``SimpleStatement(...,
paging_state=state)``).

A ResultSet fetches a page by calling the synchronous ``fetch_next_page(paging_state) ->
Page`` the session gives it; that call parks the calling greenlet until the page arrives (or
raises the request's error, timeouts included). Async code that must not block works on
:class:`Page` objects instead: each carries its own ``paging_state``.

Results for analysis: :meth:`ResultSet.to_numpy` and :meth:`ResultSet.to_pandas` (NumPy and
pandas are optional extras, imported only by those calls; see
:mod:`greencql.cluster.analysis`) read every page from the current one on, straight from each
page's bytes (``Page.raw_rows``). With the ``numpy_columns`` row factory each page's rows are
already its columns.

Must not: touch connections or clocks, or decode bytes itself (the protocol layer's
columnar decoder reads the pages for NumPy); the session builds pages (see
:meth:`Page.from_response`) and owns every wait. A big page's rows decode themselves as they
are read (``greencql.protocol.rows.LazyRows``); the only use of the hub here is handing its
``idle`` to them, for the pauses between their slices.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from uuid import UUID

from greencql.cluster.rowfactories import (
    NumpyColumns,
    RowFactoryCallable,
    is_builtin_row_factory,
    named_tuple_factory,
    numpy_columns,
    resolve_row_factory,
    tuple_factory,
)
from greencql.cluster.statements import BatchStatement
from greencql.errors import DriverException
from greencql.protocol.rows import LazyRows

__all__ = ["Page", "ResultSet", "PageFetcher", "APPLIED_COLUMN"]

_log = logging.getLogger("greencql.cluster")

#: the first column of a conditional (LWT) update's result
APPLIED_COLUMN = "[applied]"


# Not frozen: a frozen dataclass pays object.__setattr__ per field (0.7 µs a page, as much as
# making the named tuples of a one-row result). Treat pages as read-only all the same.
@dataclass(slots=True)
class Page:
    """One page of a result (or the whole result of an unpaged request), as plain data;
    read-only by convention.

    ``rows`` are what the row factory made (named tuples by default); empty for results
    without rows (writes, schema changes, USE). ``paging_state`` is ``None`` on the last
    page, else the opaque bytes to send back to get the next one. ``column_names`` /
    ``column_types`` are ``None`` for results without rows.

    ``raw_rows`` and ``raw_columns``: the undecoded cells of the page
    (``RowsResult.raw_rows``: ``(data, pos, end, count)``) and the column specs to read them
    with, kept for :meth:`ResultSet.to_numpy` (the page holds its body's bytes while it lives);
    ``None`` for results without rows.
    """

    rows: Any = field(default_factory=list)
    paging_state: bytes | None = None
    column_names: tuple[str, ...] | None = None
    column_types: tuple[Any, ...] | None = None
    warnings: Sequence[str] | None = None
    custom_payload: Mapping[str, bytes | None] | None = None
    tracing_id: UUID | None = None
    raw_rows: tuple[bytes, int, int, int] | None = None
    raw_columns: tuple[Any, ...] | None = None

    @property
    def has_more_pages(self) -> bool:
        """Whether the server has more rows after this page."""
        return self.paging_state is not None

    @classmethod
    def from_response(
        cls,
        response: Any,
        row_factory: str | RowFactoryCallable | None = named_tuple_factory,
        hub: Any = None,
    ) -> Page:
        """The page of a decoded RESULT (``greencql.protocol.messages``): a ``RowsResult``
        gets its rows through ``row_factory`` (column names and types from the columns it was
        decoded with); any other result is a page without rows. Warnings, custom payload and
        tracing id are copied from the response.

        A big page arrives undecoded (its rows a ``LazyRows``, see
        ``greencql.protocol.rows``): with a built-in row factory its rows stay lazy, decoded
        slice by slice (the factory applied per slice) where they are used, with
        ``hub.idle()`` between slices so other greenlets, timers and IO run; a custom
        factory is called once with every row, decoded here, slice by slice with the same
        pauses (cassandra-driver's contract: the factory sees the whole page)."""
        if response is None:
            return cls()
        rows = getattr(response, "rows", None)
        if rows is None:
            return cls(
                warnings=getattr(response, "warnings", None),
                custom_payload=getattr(response, "custom_payload", None),
                tracing_id=getattr(response, "tracing_id", None),
            )
        columns = response.columns
        if columns is None:  # no metadata at all (a session bug): the decoded tuples as they are
            return cls(
                rows,
                response.paging_state,
                None,
                None,
                response.warnings,
                response.custom_payload,
                response.tracing_id,
            )
        try:
            names, types = _names_and_types(columns)
        except TypeError:  # an unhashable type object: no caching, same answer
            names, types = _names_and_types.__wrapped__(columns)
        factory = row_factory if callable(row_factory) else resolve_row_factory(row_factory)
        raw = getattr(response, "raw_rows", None)
        if factory is numpy_columns:
            if raw is None:
                raise DriverException("numpy_columns: this result carries no raw rows")
            from greencql.protocol.columnar import decode_columns

            made = NumpyColumns(decode_columns(*raw, columns))
        elif type(rows) is LazyRows:
            made = _lazy_page_rows(rows, factory, names, hub)
        else:
            made = factory(names, rows if type(rows) is list else list(rows))
        return cls(
            made,
            response.paging_state,
            names,
            types,
            response.warnings,
            response.custom_payload,
            response.tracing_id,
            raw,
            columns,
        )


def _lazy_page_rows(
    rows: LazyRows, factory: RowFactoryCallable, names: tuple[str, ...],
    hub: Any,
) -> Any:
    pause = None if hub is None else getattr(hub, "idle", None)
    if factory is tuple_factory:
        return rows.derive(None, pause)
    if is_builtin_row_factory(factory):
        return rows.derive(functools.partial(factory, names), pause)
    return factory(names, rows.derive(None, pause)._all())


@lru_cache(maxsize=1024)
def _names_and_types(columns: tuple[Any, ...]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """Column names and types of a columns tuple; cached: a prepared statement's results
    share one columns tuple (the protocol layer caches its decoders on it too)."""
    return tuple([c.name for c in columns]), tuple([c.type for c in columns])


#: what the session gives a ResultSet to fetch the page after ``paging_state``
PageFetcher = Callable[[bytes], Page]


def _as_rows(rows: Any) -> Any:
    """Rows as cassandra-driver keeps what a row factory returned: any iterable as it is (a
    list, usually); a single mapping, or anything not iterable, as a one-row list; an empty
    or false single value as no rows."""
    if type(rows) is list:
        return rows
    if isinstance(rows, Mapping):
        return [rows] if rows else []
    try:
        iter(rows)
    except TypeError:
        return [rows] if rows else []
    return rows


class ResultSet:
    """The rows of a query, page after page; cassandra-driver's ``ResultSet``.

    - iterate it: every row of every page; the next page is fetched (blocking this greenlet)
      when the current one is used up. Iterating again restarts at the current page. Once
      the last page is used up, :attr:`current_rows` is empty (as in cassandra-driver);
    - :attr:`current_rows`, :attr:`has_more_pages`, :attr:`paging_state`,
      :meth:`fetch_next_page`: page by hand;
    - :meth:`one` (first row or ``None``), :meth:`all` (every remaining row, all pages);
    - ``bool(rs)``: whether the current page has rows. There is no ``len()``: the size of a
      paged result is unknown until every page is read;
    - ``rs == other`` and ``rs[i]`` read every page into a list first (cassandra-driver's
      list mode; logged when that fetches more pages); not allowed after iterating;
    - :attr:`was_applied`: whether a conditional update (LWT) was applied.

    ``fetch_next_page`` is the session's ``callable(paging_state) -> Page``; ``None`` if
    there is nothing to fetch (then asking for more pages raises ``DriverException``).
    ``row_factory`` and ``query`` (the statement) are what :attr:`was_applied` reads.
    """

    response_future: Any
    column_names: list[str] | None
    column_types: list[Any] | None
    warnings: Sequence[str] | None
    custom_payload: Mapping[str, bytes | None] | None
    tracing_id: UUID | None

    def __init__(
        self,
        page: Page,
        fetch_next_page: PageFetcher | None = None,
        *,
        response_future: Any = None,
        row_factory: str | RowFactoryCallable | None = named_tuple_factory,
        query: Any = None,
    ) -> None:
        self.response_future = response_future
        self.row_factory = row_factory
        self.query = query
        self._fetch = fetch_next_page
        # lists, as cassandra-driver's (applications compare them with lists)
        self.column_names = None if page.column_names is None else list(page.column_names)
        self.column_types = None if page.column_types is None else list(page.column_types)
        self._page_iter: Iterator[Any] | None = None
        self._list_mode = False
        self._columns_of_rest: dict[str, Any] | None = None
        self._set_page(page)

    def _set_page(self, page: Page) -> None:
        self._page = page
        self._current_rows = _as_rows(page.rows)
        self._paging_state = page.paging_state
        self.warnings = page.warnings
        self.custom_payload = page.custom_payload
        self.tracing_id = page.tracing_id
        # Under NO_METADATA a later page may come without names: keep the first page's.
        if page.column_names is not None:
            self.column_names = list(page.column_names)
            self.column_types = list(page.column_types or ())

    # -- paging --------------------------------------------------------------------------

    @property
    def paging_state(self) -> bytes | None:
        """The opaque state to resume after the current page (``None`` on the last page).

        It may carry primary key values: do not hand it to untrusted parties unprotected.
        """
        return self._paging_state

    @property
    def has_more_pages(self) -> bool:
        """Whether the server said there are pages after the current one."""
        return self._paging_state is not None

    @property
    def current_rows(self) -> Any:
        """The rows of the current page (empty for a result without rows, or once
        iteration went past the last page)."""
        return self._current_rows or []

    def fetch_next_page(self) -> None:
        """Fetch the next page now (blocking this greenlet) and make it :attr:`current_rows`;
        with no more pages, :attr:`current_rows` becomes empty. Raises the request's error."""
        if self._paging_state is None:
            self._current_rows = []
            return
        if self._fetch is None:
            raise DriverException(
                "this ResultSet cannot fetch more pages (no fetcher); resume with "
                "a statement carrying paging_state=result.paging_state"
            )
        self._set_page(self._fetch(self._paging_state))

    # -- iteration -----------------------------------------------------------------------

    def __iter__(self) -> Iterator[Any]:
        if self._list_mode:
            return iter(self._current_rows)
        self._page_iter = iter(self._current_rows)
        return self._rows()

    def _rows(self) -> Iterator[Any]:
        # A generator, so each page is walked at C speed (``yield from``); it shares
        # _page_iter with __next__, so mixing ``for`` and ``next(rs)`` sees one position.
        while True:
            yield from self._page_iter  # type: ignore[misc]
            if not self._advance():
                return

    def _advance(self) -> bool:
        """After the current page is used up: fetch the next one; False at the end.
        Empty pages in the middle (ScyllaDB sends some) are skipped by the callers' loops."""
        if self._paging_state is None:
            if not self._list_mode:
                self._current_rows = []
            return False
        self.fetch_next_page()
        self._page_iter = iter(self._current_rows)
        return True

    def __next__(self) -> Any:
        if self._page_iter is None:
            self._page_iter = iter(self._current_rows)
        while True:
            try:
                return next(self._page_iter)
            except StopIteration:
                if not self._advance():
                    raise

    next = __next__

    def one(self) -> Any:
        """The first row of the current page, or ``None`` if it has none."""
        rows = self._current_rows
        if not rows:
            return None
        try:
            return rows[0]
        except TypeError:  # a row factory that returns a generator
            return next(iter(rows), None)

    def all(self) -> list[Any]:
        """Every remaining row, fetching every remaining page (``list(result)``)."""
        return list(self)

    def __bool__(self) -> bool:
        return bool(self._current_rows)

    # -- list mode (cassandra-driver's compatibility indexing) ---------------------------

    def _enter_list_mode(self, operator: str) -> None:
        if self._list_mode:
            return
        if self._page_iter is not None:
            raise RuntimeError(f"Cannot use {operator} when results have been iterated.")
        if self.has_more_pages:
            _log.warning(
                "Using %s on paged results causes entire result set to be materialized.",
                operator,
            )
        rows = list(self)
        self._current_rows = rows
        self._page_iter = None
        self._list_mode = True

    def __eq__(self, other: object) -> bool:
        self._enter_list_mode("equality operator")
        return bool(self._current_rows == other)

    __hash__ = None  # type: ignore[assignment]  # equality reads rows: not hashable

    def __getitem__(self, i: Any) -> Any:
        self._enter_list_mode("index operator")
        return self._current_rows[i]

    # -- results for analysis (NumPy, pandas: optional extras) ---------------------------

    def to_numpy(self) -> dict[str, Any]:
        """Every row from the current page on, all pages, as a dict column name -> NumPy
        masked array (dtypes in docs/columnar.md); needs ``greencql[numpy]``.

        Fetches the remaining pages as iteration does (blocking this greenlet; raises the
        request's error) and leaves the ResultSet on its last page. Rows of the current page
        that iteration already returned are included: the arrays cover whole pages. The
        answer is kept: calling it again (or :meth:`to_pandas`) returns the same arrays.
        Not after indexing or comparing the ResultSet (list mode), which dropped the pages.
        """
        if self._columns_of_rest is not None:
            return dict(self._columns_of_rest)
        if self._list_mode:
            raise RuntimeError(
                "Cannot use to_numpy() after the ResultSet was indexed or compared"
            )
        from greencql.cluster.analysis import concat_columns, page_columns

        parts = [page_columns(self._page)]
        while self._paging_state is not None:
            self.fetch_next_page()
            self._page_iter = iter(self._current_rows)
            parts.append(page_columns(self._page))
        self._columns_of_rest = concat_columns(parts)
        return dict(self._columns_of_rest)

    def to_pandas(self) -> Any:
        """:meth:`to_numpy` as a ``pandas.DataFrame`` in one call (needs ``greencql[pandas]``):
        integer and boolean columns as pandas' nullable dtypes (``Int32``, ``Int64``,
        ``boolean``...: a NULL stays ``<NA>`` and never turns integers into floats), floats
        with NaN, timestamps ``datetime64[ms]``, dates ``datetime64[s]`` and times
        ``timedelta64[ns]`` with NaT, uuids as ``uuid.UUID`` objects, everything else as the
        objects the rows hold (None for NULL). See docs/columnar.md."""
        from greencql.cluster.analysis import to_dataframe

        return to_dataframe(self.to_numpy(), self._page.raw_columns or ())

    # -- LWT -----------------------------------------------------------------------------

    @property
    def was_applied(self) -> bool:
        """Whether a conditional update (``... IF ...``, LWT) was applied: the ``[applied]``
        column of the first row.

        For a batch with conditions, the server sends one row per row the conditions read, all
        with the same ``[applied]`` (a batch applies entirely or not at all). Raises
        ``RuntimeError`` when the result is not an LWT result (no ``[applied]`` column, or
        not exactly one row outside batches), or when a custom row factory makes rows of an
        unknown shape.
        """
        factory = self.row_factory
        if isinstance(factory, str) or factory is None:
            factory = resolve_row_factory(factory)
        if not is_builtin_row_factory(factory):
            raise RuntimeError(f"Cannot determine LWT result with row factory {factory}")
        rows = self.current_rows
        names = self.column_names
        is_batch = isinstance(self.query, BatchStatement)
        if is_batch:
            if not names or names[0] != APPLIED_COLUMN:
                raise RuntimeError("No LWT were present in the BatchStatement")
            if not rows:
                raise RuntimeError("LWT batch result has no row")
        else:
            if len(rows) != 1:
                raise RuntimeError(
                    f"LWT result should have exactly one row. This has {len(rows)}."
                )
            # cassandra-driver returns the first column of any one-row result; a result
            # that is known not to come from a condition is refused instead.
            if names and names[0] != APPLIED_COLUMN:
                raise RuntimeError(f"Not an LWT result: its first column is {names[0]!r}")
        row = rows[0]
        if isinstance(row, tuple):
            return row[0]  # type: ignore[no-any-return]
        return row[APPLIED_COLUMN]  # type: ignore[no-any-return]

    # -- tracing -------------------------------------------------------------------------

    def get_query_trace(self, max_wait_sec: float | None = None) -> Any:
        """The trace of the request (``statement.trace=True``), from the response future."""
        return self._future("get_query_trace").get_query_trace(max_wait_sec)

    def get_all_query_traces(self, max_wait_sec_per: float | None = None) -> Any:
        """The traces of every page's request, from the response future."""
        return self._future("get_all_query_traces").get_all_query_traces(max_wait_sec_per)

    def _future(self, what: str) -> Any:
        if self.response_future is None:
            raise DriverException(f"{what}: this ResultSet has no response future")
        return self.response_future

    def __repr__(self) -> str:
        rows = self._current_rows
        count = len(rows) if isinstance(rows, Sequence) else "?"
        return (
            f"<ResultSet columns={self.column_names!r} current_rows={count} "
            f"has_more_pages={self.has_more_pages}>"
        )
