"""Row factories against cassandra-driver's (the oracle): field names, row values, caching."""

from __future__ import annotations

import copy
import logging
import pickle
from collections import OrderedDict

import pytest
from cassandra import query as cq
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.cluster import rowfactories as rf
from greencql.cluster.rowfactories import (
    clean_column_name,
    dict_factory,
    is_builtin_row_factory,
    named_tuple_factory,
    ordered_dict_factory,
    resolve_row_factory,
    row_class,
    row_field_names,
    tuple_factory,
)

__all__: list[str] = []

# Column names seen in real results, and the awkward ones the cleaning rules exist for.
_WEIRD_NAMES = [
    ["[applied]", "k", "v"],
    ["count"],
    ["system.count(*)"],
    ["system.max(v)", "system.min(v)"],
    ["writetime(v)", "ttl(v)"],
    ["1a", "b"],
    ["a", "a"],
    ["a", "a", "a"],
    ["class", "x"],
    ["_x"],
    ["__a__"],
    ["(*)"],
    ["é", "ü"],
    ["naïve"],
    ["field_1_", "1"],
    ["a b", "a_b"],
    ["a-", "a"],
    ["x.y.z"],
    ["AS", "True", "None", "False"],
    ["match", "_", "case"],
    ["index", "count", "_fields"],
    ["", "k"],
    ["Key", "key"],
    ["k"] * 3 + ["field_0_"],
    [f"c{i}" for i in range(300)],
]


def _cass_rows(names, rows):
    return cq.named_tuple_factory(list(names), list(rows))


@pytest.fixture(autouse=True)
def _quiet_cassandra_logs(caplog):
    # Both drivers log a warning when columns need positional renaming: expected here.
    caplog.set_level(logging.ERROR, logger="cassandra.query")
    caplog.set_level(logging.ERROR, logger="greencql.cluster")


@pytest.mark.parametrize("names", _WEIRD_NAMES, ids=lambda n: ",".join(n)[:40])
def test_named_tuple_fields_match_cassandra_driver(names):
    values = tuple(range(len(names)))
    theirs = _cass_rows(names, [values])[0]
    ours = named_tuple_factory(tuple(names), [values])[0]
    assert type(ours)._fields == type(theirs)._fields
    assert row_field_names(names) == type(theirs)._fields
    assert ours == theirs
    assert tuple(ours) == values
    for field in type(theirs)._fields:
        assert getattr(ours, field) == getattr(theirs, field)
    assert type(ours).__name__ == "Row"
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize(
    "name", ["[applied]", "system.count(*)", "_x", "a-", "x.y.z", "é", "__a__", "a b c", "9x"]
)
def test_clean_column_name_matches(name):
    assert clean_column_name(name) == cq._clean_column_name(name)


_name_chars = st.sampled_from([*"abcXYZ019_.-()[]* é$", "class", "if", "True"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_name_chars, max_size=6).map("".join), min_size=1, max_size=6))
def test_field_names_match_cassandra_driver_fuzzed(names):
    values = tuple(range(len(names)))
    theirs = _cass_rows(names, [values])[0]
    assert row_field_names(names) == type(theirs)._fields
    assert named_tuple_factory(names, [values])[0] == theirs


@pytest.mark.parametrize("n", [0, 1, 100])
def test_rows_match_cassandra_driver(n):
    names = ("k", "v", "[applied]")
    rows = [(i, f"v{i}", i % 2 == 0) for i in range(n)]
    assert named_tuple_factory(names, rows) == _cass_rows(names, rows)
    assert dict_factory(names, rows) == cq.dict_factory(list(names), rows)
    od = ordered_dict_factory(names, rows)
    assert od == cq.ordered_dict_factory(list(names), rows)
    assert all(type(r) is OrderedDict for r in od)
    assert tuple_factory(names, rows) is rows  # zero cost: the decoded list itself
    assert cq.tuple_factory(list(names), rows) is rows


def test_dict_factory_duplicate_names_last_wins_like_cassandra_driver():
    names = ["a", "a", "b"]
    rows = [(1, 2, 3)]
    assert dict_factory(names, rows) == cq.dict_factory(names, rows) == [{"a": 2, "b": 3}]


def test_row_class_is_cached_per_column_names():
    names = ("cache_a", "cache_b")
    first = named_tuple_factory(names, [(1, 2)])[0]
    second = named_tuple_factory(names, [(3, 4)])[0]
    assert type(first) is type(second) is row_class(names)
    # a list of the same names (user code) hits the same class
    assert type(named_tuple_factory(list(names), [(5, 6)])[0]) is type(first)
    assert row_class(("cache_b", "cache_a")) is not type(first)


def test_row_class_cache_is_bounded():
    info = rf._build_row_class.cache_info()
    assert info.maxsize == rf.ROW_CLASS_CACHE_SIZE
    for i in range(rf.ROW_CLASS_CACHE_SIZE + 10):
        row_class((f"bounded_{i}",))
    assert rf._build_row_class.cache_info().currsize <= rf.ROW_CLASS_CACHE_SIZE


def test_non_list_rows_and_ragged_rows_behave_like_cassandra_driver():
    names = ("a", "b")
    gen_rows = ((i, i) for i in range(3))
    assert named_tuple_factory(names, gen_rows) == [(0, 0), (1, 1), (2, 2)]
    list_rows = [[1, 2], [3, 4]]  # rows as lists, not tuples
    assert named_tuple_factory(names, list_rows) == _cass_rows(names, list_rows)
    for ragged in ([(1, 2), (1, 2, 3)], [(1,)]):
        with pytest.raises(TypeError):
            cq.named_tuple_factory(list(names), ragged)
        with pytest.raises(TypeError):
            named_tuple_factory(names, ragged)


def test_rows_pickle_and_copy():
    rows = named_tuple_factory(("pk", "[applied]", "1st"), [(1, True, "x")])
    row = rows[0]
    again = pickle.loads(pickle.dumps(row))
    assert again == row and type(again) is type(row)
    assert again.pk == 1 and again.applied is True and again.field_2_ == "x"
    assert copy.deepcopy(row) == row and type(copy.copy(row)) is type(row)
    assert pickle.loads(pickle.dumps(rows)) == rows


def test_resolve_row_factory():
    assert resolve_row_factory(None) is named_tuple_factory
    assert resolve_row_factory("named_tuple") is named_tuple_factory
    assert resolve_row_factory("named_tuple_factory") is named_tuple_factory
    assert resolve_row_factory("dict") is dict_factory
    assert resolve_row_factory("ordered_dict") is ordered_dict_factory
    assert resolve_row_factory("tuple") is tuple_factory

    def mine(colnames, rows):
        return rows

    assert resolve_row_factory(mine) is mine
    assert resolve_row_factory(cq.dict_factory) is cq.dict_factory
    with pytest.raises(ValueError, match="unknown row_factory"):
        resolve_row_factory("rows")
    with pytest.raises(TypeError):
        resolve_row_factory(42)  # type: ignore[arg-type]


def test_is_builtin_row_factory():
    for f in (named_tuple_factory, dict_factory, ordered_dict_factory, tuple_factory):
        assert is_builtin_row_factory(f)
    assert not is_builtin_row_factory(cq.named_tuple_factory)
    assert not is_builtin_row_factory(lambda c, r: r)


def test_profile_default_name_resolves():
    from greencql.cluster.profiles import DEFAULT_ROW_FACTORY

    assert resolve_row_factory(DEFAULT_ROW_FACTORY) is named_tuple_factory


def test_renaming_is_logged_once_per_shape(caplog):
    caplog.set_level(logging.WARNING, logger="greencql.cluster")
    names = ("log_once", "log_once")
    named_tuple_factory(names, [(1, 2)])
    named_tuple_factory(names, [(1, 2)])
    assert sum("log_once" in r.getMessage() for r in caplog.records) == 1
