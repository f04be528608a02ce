"""ResultSet and Page: paging over a fake page source (no network), checked against
cassandra-driver's own ResultSet driven by an equivalent fake response future."""

from __future__ import annotations

import logging
import uuid

import pytest
from cassandra import query as cq
from conftest import import_cassandra_cluster

from greencql.cluster.results import Page, ResultSet
from greencql.cluster.rowfactories import (
    dict_factory,
    named_tuple_factory,
    ordered_dict_factory,
    tuple_factory,
)
from greencql.cluster.statements import BatchStatement, SimpleStatement
from greencql.errors import DriverException, OperationTimedOut
from greencql.protocol.constants import Opcode
from greencql.protocol.messages import (
    RowsResult,
    SchemaChangeResult,
    VoidResult,
    decode_response,
    encode_response,
)
from greencql.protocol.rows import ColumnSpec, ResultMetadata
from greencql.protocol.types import parse_type_string

__all__: list[str] = []

cc = import_cassandra_cluster()

NAMES = ("k", "v")


class _Pages:
    """A fake session page source: page i+1 is fetched with the paging state of page i."""

    def __init__(self, pages, row_factory=named_tuple_factory):
        self.raw = pages  # list of lists of tuples
        self.row_factory = row_factory
        self.calls: list[bytes] = []

    def state(self, i):
        return None if i + 1 >= len(self.raw) else f"after-{i}".encode()

    def page(self, i):
        return Page(
            self.row_factory(NAMES, list(self.raw[i])),
            self.state(i),
            NAMES,
            ("int", "text"),
            warnings=(f"warning {i}",),
        )

    def fetch(self, paging_state: bytes) -> Page:
        self.calls.append(paging_state)
        i = int(paging_state.decode().split("-")[1]) + 1
        return self.page(i)

    def result_set(self, **kw):
        return ResultSet(self.page(0), self.fetch, row_factory=self.row_factory, **kw)


class _CassFuture:
    """Enough of cassandra-driver's ResponseFuture for its ResultSet, over the same pages."""

    _continuous_paging_session = None

    def __init__(self, source: _Pages, query=None):
        self.source = source
        self.i = 0
        self._col_names = list(NAMES)
        self._col_types = ["int", "text"]
        self.row_factory = {
            named_tuple_factory: cq.named_tuple_factory,
            dict_factory: cq.dict_factory,
            tuple_factory: cq.tuple_factory,
        }[source.row_factory]
        self.query = query

    @property
    def has_more_pages(self):
        return self.source.state(self.i) is not None

    @property
    def _paging_state(self):
        return self.source.state(self.i)

    def start_fetching_next_page(self):
        self.i += 1

    def result(self):
        return cc.ResultSet(self, self.rows(self.i))

    def rows(self, i):
        return self.row_factory(list(NAMES), list(self.source.raw[i]))


def _both(raw, row_factory=named_tuple_factory, query=None):
    ours = _Pages(raw, row_factory)
    fut = _CassFuture(_Pages(raw, row_factory), query)
    return ours.result_set(query=query), cc.ResultSet(fut, fut.rows(0)), ours


def _rows(n, start=0):
    return [(i, f"v{i}") for i in range(start, start + n)]


_SHAPES = {
    "unpaged": [_rows(3)],
    "empty": [[]],
    "three_pages": [_rows(2), _rows(2, 2), _rows(1, 4)],
    "empty_middle_pages": [_rows(2), [], [], _rows(2, 2), []],
    "empty_first_page": [[], _rows(2)],
}


@pytest.mark.parametrize("shape", list(_SHAPES))
def test_iteration_matches_cassandra_driver(shape):
    raw = _SHAPES[shape]
    ours, theirs, source = _both(raw)
    assert bool(ours) == bool(theirs)
    assert ours.one() == theirs.one()
    assert ours.current_rows == theirs.current_rows
    assert ours.has_more_pages == theirs.has_more_pages
    assert ours.paging_state == theirs.paging_state
    assert ours.column_names == theirs.column_names  # both lists
    assert list(ours) == list(theirs) == [r for page in raw for r in page]
    # after the last page both are empty and say so
    assert ours.current_rows == theirs.current_rows == []
    assert bool(ours) is bool(theirs) is False
    assert ours.has_more_pages is theirs.has_more_pages is False
    assert ours.one() is theirs.one() is None
    assert list(ours) == list(theirs) == []
    assert source.calls == [f"after-{i}".encode() for i in range(len(raw) - 1)]


def test_pages_are_fetched_lazily():
    source = _Pages([_rows(2), _rows(2, 2), _rows(2, 4)])
    rs = source.result_set()
    it = iter(rs)
    assert [next(it), next(it)] == _rows(2)
    assert source.calls == []  # the first page is used up, nothing fetched yet
    assert next(it) == (2, "v2")
    assert source.calls == [b"after-0"]
    assert rs.warnings == ("warning 1",)
    assert rs.paging_state == b"after-1"
    assert rs.current_rows == _rows(2, 2)


def test_next_and_for_share_one_position_like_cassandra_driver():
    raw = [_rows(2), _rows(2, 2)]
    ours, theirs, _ = _both(raw)
    iter(ours)
    iter(theirs)
    assert next(ours) == next(theirs) == (0, "v0")
    assert next(ours) == next(theirs) == (1, "v1")
    assert next(ours) == next(theirs) == (2, "v2")  # next() crosses pages too
    iter(theirs)  # cassandra-driver's iter() restarts the current page; so does ours
    assert list(ours) == list(theirs) == _rows(2, 2)
    with pytest.raises(StopIteration):
        next(ours)
    with pytest.raises(StopIteration):
        next(theirs)
    # ours also allows next() before any iter() (cassandra-driver raises TypeError there)
    fresh, _, _ = _both(raw)
    assert next(fresh) == (0, "v0")


def test_iteration_parks_the_greenlet_on_a_blocking_fetch(hub):
    """The session's fetcher waits on a hub future; a timer (standing in for the reader
    greenlet) completes it."""
    raw = [_rows(2), _rows(2, 2), _rows(2, 4)]
    source = _Pages(raw)

    def fetch(state):
        waiter = hub.future()
        hub.call_later(0.001, waiter.set_result, source.fetch(state))
        return waiter.result(5.0)

    rs = ResultSet(source.page(0), fetch)
    assert list(rs) == _rows(6)
    assert source.calls == [b"after-0", b"after-1"]


def test_all_and_manual_paging():
    raw = [_rows(2), _rows(2, 2), _rows(1, 4)]
    ours, theirs, source = _both(raw)
    ours.fetch_next_page()
    theirs.fetch_next_page()
    assert ours.current_rows == theirs.current_rows == _rows(2, 2)
    assert ours.has_more_pages and ours.paging_state == b"after-1"
    ours.fetch_next_page()
    theirs.fetch_next_page()
    assert ours.current_rows == theirs.current_rows == _rows(1, 4)
    assert not ours.has_more_pages and ours.paging_state is None
    ours.fetch_next_page()  # past the end: empty, no fetch
    theirs.fetch_next_page()
    assert ours.current_rows == theirs.current_rows == []
    assert source.calls == [b"after-0", b"after-1"]
    rs = _Pages(raw).result_set()
    assert rs.all() == _rows(5)


def test_paging_state_resumes_in_a_new_result_set():
    """Web pagination: keep rs.paging_state, come back later with a new request."""
    raw = [_rows(3), _rows(3, 3), _rows(3, 6)]
    source = _Pages(raw)
    first = source.result_set()
    state = first.paging_state
    assert first.current_rows == _rows(3)
    # later, another request: the statement carries the state; the session sends it
    stmt = SimpleStatement("SELECT k, v FROM t", fetch_size=3, paging_state=state)
    resumed = ResultSet(source.fetch(stmt.paging_state), source.fetch)
    assert list(resumed) == _rows(6, 3)


def test_no_len_and_list_mode_like_cassandra_driver(caplog):
    raw = [_rows(2), _rows(2, 2)]
    ours, theirs, _ = _both(raw)
    with pytest.raises(TypeError):
        len(ours)
    with pytest.raises(TypeError):
        len(theirs)
    caplog.set_level(logging.WARNING)
    assert ours == _rows(4)
    assert "materialized" in caplog.text
    assert ours[3] == (3, "v3") and ours[-1] == (3, "v3")
    assert list(ours) == list(ours) == _rows(4)  # list mode: iterable again and again
    assert ours.current_rows == _rows(4)
    with pytest.raises(TypeError):
        hash(ours)
    iterated, _, _ = _both(raw)
    next(iter(iterated))
    with pytest.raises(RuntimeError, match="iterated"):
        iterated[0]


def test_fetch_without_fetcher_raises():
    rs = ResultSet(Page(_rows(1), b"more", NAMES))
    assert rs.has_more_pages
    with pytest.raises(DriverException, match="paging_state"):
        rs.fetch_next_page()


def test_fetch_errors_propagate_and_iteration_can_retry():
    calls = []

    def flaky(state):
        calls.append(state)
        if len(calls) == 1:
            raise OperationTimedOut("slow page", timeout=1.0)
        return Page(_rows(1, 1), None, NAMES)

    rs = ResultSet(Page(_rows(1), b"s", NAMES), flaky)
    it = iter(rs)
    assert next(it) == (0, "v0")
    with pytest.raises(OperationTimedOut):
        next(it)
    # the failed page is asked for again by the next next(); a new iter() would restart the
    # current page instead (cassandra-driver's rule)
    assert next(rs) == (1, "v1")
    assert calls == [b"s", b"s"]
    with pytest.raises(StopIteration):
        next(rs)


def test_row_factory_outputs_are_kept_as_cassandra_driver_keeps_them():
    one_dict = ResultSet(Page({"a": 1}))  # a factory returning one mapping
    assert one_dict.current_rows == [{"a": 1}] and one_dict.one() == {"a": 1}
    assert ResultSet(Page({})).current_rows == []
    assert ResultSet(Page(None)).current_rows == []
    assert ResultSet(Page(7)).current_rows == [7]
    gen = ResultSet(Page(x for x in (1, 2)))  # a factory returning a generator
    assert gen.one() == 1
    assert bool(ResultSet(Page([]))) is False


# -- was_applied ---------------------------------------------------------------------------

_LWT_NAMES = ("[applied]", "k", "v")


def _lwt(rows, factory=named_tuple_factory, query=None, names=_LWT_NAMES):
    return ResultSet(Page(factory(names, rows), None, names), row_factory=factory, query=query)


def _cass_lwt(rows, factory, query=None, names=_LWT_NAMES):
    cass_factory = {
        named_tuple_factory: cq.named_tuple_factory,
        dict_factory: cq.dict_factory,
        tuple_factory: cq.tuple_factory,
    }[factory]
    fut = _CassFuture(_Pages([rows], factory), query)
    fut._col_names = list(names)
    fut.row_factory = cass_factory
    return cc.ResultSet(fut, cass_factory(list(names), rows))


@pytest.mark.parametrize("factory", [named_tuple_factory, dict_factory, tuple_factory])
@pytest.mark.parametrize("applied", [True, False])
def test_was_applied_single_lwt_matches_cassandra_driver(factory, applied):
    rows = [(applied, 1, "x")] if not applied else [(True, None, None)]
    assert _lwt(rows, factory).was_applied is _cass_lwt(rows, factory).was_applied is applied


def test_was_applied_accepts_factory_names_and_ordered_dicts():
    rows = [(False, 1, "old")]
    for name in ("named_tuple", "dict", "tuple", None):
        rs = ResultSet(
            Page(named_tuple_factory(_LWT_NAMES, rows), None, _LWT_NAMES), row_factory=name
        )
        assert rs.was_applied is False
    assert _lwt(rows, ordered_dict_factory).was_applied is False


@pytest.mark.parametrize("factory", [named_tuple_factory, dict_factory, tuple_factory])
def test_was_applied_batch_with_several_rows(factory):
    batch = BatchStatement()
    cass_batch = cq.BatchStatement()
    rows = [(False, 1, "a"), (False, 2, "b")]
    assert _lwt(rows, factory, batch).was_applied is False
    assert _cass_lwt(rows, factory, cass_batch).was_applied is False
    # several rows outside a batch: refused by both
    with pytest.raises(RuntimeError, match="exactly one row"):
        _ = _lwt(rows, factory).was_applied
    with pytest.raises(RuntimeError, match="exactly one row"):
        _ = _cass_lwt(rows, factory).was_applied


def test_was_applied_refuses_non_lwt_results():
    # a write without IF: no rows
    void = ResultSet(Page())
    with pytest.raises(RuntimeError, match="exactly one row"):
        _ = void.was_applied
    fut = _CassFuture(_Pages([[]]))
    with pytest.raises(RuntimeError, match="exactly one row"):
        _ = cc.ResultSet(fut, []).was_applied
    # a batch without conditions
    with pytest.raises(RuntimeError, match="No LWT"):
        _ = ResultSet(Page(), query=BatchStatement()).was_applied
    with pytest.raises(RuntimeError, match="No LWT"):
        _ = _lwt([(1, "x")], names=("k", "v"), query=BatchStatement()).was_applied
    # a one-row SELECT: cassandra-driver answers its first column; we refuse
    with pytest.raises(RuntimeError, match="Not an LWT"):
        _ = _lwt([(1, "x")], names=("k", "v")).was_applied
    # a custom row factory: unknown row shape, refused by both
    def mine(names, rows):
        return rows

    rs = ResultSet(Page([(True,)], None, ("[applied]",)), row_factory=mine)
    with pytest.raises(RuntimeError, match="row factory"):
        _ = rs.was_applied
    fut = _CassFuture(_Pages([[(True,)]]))
    fut.row_factory = mine
    with pytest.raises(RuntimeError, match="row factory"):
        _ = cc.ResultSet(fut, [(True,)]).was_applied


# -- traces, attributes ---------------------------------------------------------------------


def test_query_trace_delegates_to_the_response_future():
    class Fut:
        def get_query_trace(self, max_wait_sec=None):
            return ("trace", max_wait_sec)

        def get_all_query_traces(self, max_wait_sec_per=None):
            return [("trace", max_wait_sec_per)]

    fut = Fut()
    rs = ResultSet(Page(), response_future=fut)
    assert rs.response_future is fut
    assert rs.get_query_trace(2.0) == ("trace", 2.0)
    assert rs.get_all_query_traces(1.0) == [("trace", 1.0)]
    with pytest.raises(DriverException, match="response future"):
        ResultSet(Page()).get_query_trace()


# -- Page.from_response over real protocol messages ----------------------------------------


def _roundtrip(msg, version=4, result_metadata=None):
    flags, body = encode_response(msg, version)
    return decode_response(Opcode.RESULT, flags, body, version, result_metadata)


def _columns():
    return (
        ColumnSpec("ks", "t", "k", parse_type_string("int")),
        ColumnSpec("ks", "t", "system.count(*)", parse_type_string("bigint")),
    )


@pytest.mark.parametrize("version", [3, 4, 5])
def test_page_from_rows_response(version):
    cols = _columns()
    trace = uuid.uuid4()
    warnings = ("Aggregation query used without partition key",) if version >= 4 else None
    msg = RowsResult(
        ResultMetadata.of(cols, paging_state=b"\x01\x02"),
        [(1, 10), (2, 20)],
        tracing_id=trace,
        warnings=warnings,
    )
    page = Page.from_response(_roundtrip(msg, version))
    assert page.column_names == ("k", "system.count(*)")
    assert [t.cql_name for t in page.column_types] == ["int", "bigint"]
    assert page.rows == [(1, 10), (2, 20)]
    assert page.rows[0].system_count == 10 and page.rows[1].k == 2
    assert page.paging_state == b"\x01\x02" and page.has_more_pages
    assert page.tracing_id == trace
    assert page.warnings == warnings
    rs = ResultSet(page)
    assert rs.tracing_id == trace and rs.warnings == warnings
    as_dicts = Page.from_response(_roundtrip(msg, version), "dict")
    assert as_dicts.rows == [{"k": 1, "system.count(*)": 10}, {"k": 2, "system.count(*)": 20}]


def test_page_from_rows_response_without_metadata():
    cols = _columns()
    msg = RowsResult(ResultMetadata.of(None, column_count=2), [(1, 10)], columns=cols)
    decoded = _roundtrip(msg, 4, ResultMetadata.of(cols))
    page = Page.from_response(decoded, tuple_factory)
    assert page.rows == [(1, 10)] and page.column_names == ("k", "system.count(*)")
    assert page.paging_state is None and not page.has_more_pages


def test_page_from_results_without_rows():
    page = Page.from_response(_roundtrip(VoidResult()))
    assert page.rows == [] and page.column_names is None and page.paging_state is None
    rs = ResultSet(page)
    assert not rs and rs.one() is None and list(rs) == [] and rs.column_names is None
    schema = SchemaChangeResult("CREATED", "KEYSPACE", "ks", None, None)
    assert Page.from_response(_roundtrip(schema)).rows == []


def test_page_from_no_response_and_later_pages_without_names():
    assert Page.from_response(None) == Page()
    first = Page(_rows(1), b"s", NAMES, ("int", "text"))
    rs = ResultSet(first, lambda state: Page(_rows(1, 1), None, None))
    assert list(rs) == _rows(2)
    assert rs.column_names == list(NAMES) and rs.column_types == ["int", "text"]
