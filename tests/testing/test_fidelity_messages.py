"""Message texts of a real Cassandra 4.0.13 (reference section 7), same class and code:
out-of-range integer literals, malformed literals, truncated input, quoted names. The
wrong-cause messages are in test_fidelity_errors.py."""

from __future__ import annotations

import uuid

import pytest

from greencql.errors import InvalidRequest, SyntaxException
from greencql.testing.engine import Engine, NodeInfo


@pytest.fixture
def e() -> Engine:
    eng = Engine([NodeInfo("127.0.0.1", uuid.UUID(int=1), (0,))])
    eng.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                "'replication_factor': 1}")
    eng.execute("CREATE TABLE ks.n (k int PRIMARY KEY, b bigint, s smallint, t tinyint, "
                "ts timestamp, d date, i inet, a ascii)")
    eng.execute('CREATE TABLE ks."CaseTable" (k int PRIMARY KEY, "VALUE" int)')
    return eng


def message(e: Engine, q: str, cls: type = InvalidRequest) -> str:
    with pytest.raises(cls) as info:
        e.execute(q, keyspace="ks")
    return info.value.message


@pytest.mark.parametrize(("column", "literal", "text"), [
    ("b", "9223372036854775808", "Unable to make long from '9223372036854775808'"),
    ("k", "2147483648", "Unable to make int from '2147483648'"),
    ("s", "40000", "Unable to make short from '40000'"),
    ("t", "300", "Unable to make byte from '300'"),
])
def test_out_of_range_integers(e: Engine, column: str, literal: str, text: str) -> None:
    key = "1" if column != "k" else literal
    cols = "k" if column == "k" else f"k, {column}"
    vals = key if column == "k" else f"{key}, {literal}"
    assert message(e, f"INSERT INTO n ({cols}) VALUES ({vals})") == text


def test_malformed_literals(e: Engine) -> None:
    assert message(e, "INSERT INTO n (k, ts) VALUES (1, 'yesterday')") == (
        "Unable to coerce 'yesterday' to a formatted date (long)")
    assert message(e, "INSERT INTO n (k, d) VALUES (1, '2020-13-45')") == (
        "Unable to coerce '2020-13-45' to a formatted date (long)")
    assert message(e, "INSERT INTO n (k, i) VALUES (1, 'not-an-ip')") == (
        "Unable to make inet address from 'not-an-ip'")
    e.execute("CREATE TABLE ks.tb (k int PRIMARY KEY, t time, b blob)")
    assert message(e, "INSERT INTO tb (k, t) VALUES (1, '25:99')") == (
        "(TimeType) Unable to coerce '25:99' to a formatted time (long)")
    assert message(e, "INSERT INTO tb (k, b) VALUES (1, 0x123)") == (
        "cannot parse '123' as hex bytes")


def test_truncated_input(e: Engine) -> None:
    assert message(e, "SELECT * FROM n WHERE", SyntaxException).startswith(
        "line 0:-1 mismatched input '<EOF>' expecting")


def test_case_sensitive_names_are_quoted(e: Engine) -> None:
    assert message(e, 'SELECT "value" FROM "CaseTable"') == (
        'Undefined column name value in table ks."CaseTable"')
    assert message(e, 'SELECT "Other" FROM "CaseTable"') == (
        'Undefined column name "Other" in table ks."CaseTable"')


@pytest.mark.parametrize("word", ["view", "default", "unset", "is", "replace", "materialized"])
def test_4_0_reserved_keywords(e: Engine, word: str) -> None:
    with pytest.raises(SyntaxException):
        e.execute(f"CREATE TABLE ks.r (k int PRIMARY KEY, {word} int)")
    e.execute(f'CREATE TABLE ks.r_{word} (k int PRIMARY KEY, "{word}" int)')
