"""The simulator's CQL parser: every supported statement form, and garbage never crashes it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.errors import RequestValidationException, SyntaxException
from greencql.testing.cql import ast, parse, parse_type
from greencql.testing.engine import Engine

PARSES = [
    "SELECT * FROM system.local WHERE key='local'",
    "select a, b AS x, count(*), COUNT(1), writetime(v), ttl(v), token(k) from ks.t "
    "where k in (1, 2) and c > 3 order by c desc limit ? allow filtering",
    "SELECT DISTINCT k FROM t",
    "SELECT k FROM t WHERE token(k) > -123 AND token(k) <= ? PER PARTITION LIMIT 2 LIMIT :lim",
    "SELECT * FROM t WHERE k = 1 AND c IN ? AND m CONTAINS 3 AND m CONTAINS KEY 'a'",
    'SELECT "Key", "weird""name" FROM "Ks"."Tab"',
    "INSERT INTO t (k, v) VALUES (?, :name) IF NOT EXISTS USING TTL 10 AND TIMESTAMP 5",
    "insert into t (k, u, d, id, b, f, n, bl) values (1, {street: 'x', zip: 3}, 1h30m, "
    "123e4567-e89b-12d3-a456-426614174000, 0xdeadbeef, -1.5e3, null, true)",
    "INSERT INTO t (k, l, s, m, tp) VALUES (1, [1, 2], {'a'}, {'a': [1], 'b': []}, (1, 'x'))",
    "INSERT INTO t (k, t) VALUES (now(), toTimestamp(now()))",
    "INSERT INTO t (k, v) VALUES (1, $$dollar 'quoted'$$)",
    "UPDATE t USING TTL 5 SET s = s + {1}, l = [1] + l, m['a'] = 3, c = c + 1, d = d - 1 "
    "WHERE k = 1 IF v = 3 AND m['x'] IN (1, 2)",
    "UPDATE t SET v = 1 WHERE k = 1 IF EXISTS",
    "UPDATE t SET u.street = 'x', n += 2 WHERE k = 1",
    "DELETE v, m[1] FROM ks.t USING TIMESTAMP 3 WHERE k = 1 AND c >= 2 IF EXISTS",
    "DELETE FROM t WHERE k IN (1, 2)",
    "BEGIN BATCH INSERT INTO t (k) VALUES (1); UPDATE t SET v = 2 WHERE k = 1 APPLY BATCH",
    "BEGIN UNLOGGED BATCH USING TIMESTAMP 5 DELETE FROM t WHERE k=2; APPLY BATCH;",
    "BEGIN COUNTER BATCH UPDATE c SET n = n + 1 WHERE k = 1; APPLY BATCH",
    "CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1} "
    "AND durable_writes = false",
    "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = {'class': 'NetworkTopologyStrategy', "
    "'dc1': 3, 'dc2': '2'}",
    "ALTER KEYSPACE ks WITH durable_writes = true",
    "DROP KEYSPACE IF EXISTS ks",
    "CREATE TABLE IF NOT EXISTS ks.t (k int, c text, s text static, v frozen<map<text, "
    "list<int>>>, u frozen<address>, PRIMARY KEY ((k, c), d)) WITH CLUSTERING ORDER BY "
    "(d DESC) AND comment = 'x' AND compaction = {'class': 'LeveledCompactionStrategy'} "
    "AND default_time_to_live = 10",
    "CREATE TABLE t (k int PRIMARY KEY, v text,)",
    "CREATE COLUMNFAMILY t (k int, PRIMARY KEY (k)) WITH COMPACT STORAGE",
    "ALTER TABLE t ADD v int",
    "ALTER TABLE t ADD (a int, b set<text>)",
    "ALTER TABLE t DROP v",
    "ALTER TABLE t WITH comment = 'c'",
    "DROP TABLE IF EXISTS ks.t",
    "CREATE TYPE IF NOT EXISTS ks.address (street text, zip int)",
    "DROP TYPE address",
    "CREATE INDEX ON t (v)",
    "CREATE INDEX IF NOT EXISTS i ON ks.t (keys(m))",
    "CREATE CUSTOM INDEX i ON t (v) USING 'org.example.Index'",
    "DROP INDEX IF EXISTS ks.i",
    "TRUNCATE t",
    "TRUNCATE TABLE ks.t;",
    "USE ks",
    'USE "CaseSensitive"',
    "select * from t -- comment\n where k = 1 /* block */",
]


@pytest.mark.parametrize("cql", PARSES)
def test_statement_forms_parse(cql: str) -> None:
    stmt = parse(cql)
    assert isinstance(stmt, ast.Statement)


def test_details() -> None:
    s = parse("SELECT a AS x, count(*) FROM ks.t WHERE k IN ? AND c >= -3 ORDER BY c DESC "
              "LIMIT 5")
    assert isinstance(s, ast.Select)
    assert s.table == ast.QualifiedName("ks", "t")
    assert s.selectors[0].alias == "x" and s.selectors[1].kind == "count"
    assert s.where[0].op == "IN" and isinstance(s.where[0].rhs, ast.Marker)
    assert s.where[1].rhs == ast.Const("INTEGER", "-3", "-3")
    assert s.order_by == (("c", "desc"),) and s.limit == ast.Const("INTEGER", "5", "5")
    u = parse("UPDATE T SET \"V\" = 'it''s', n = n + ? WHERE K = :k")
    assert isinstance(u, ast.Update)
    assert u.table.name == "t"
    assert u.assignments[0] == ast.Assignment("V", "set", ast.Const("STRING", "'it''s'", "it's"))
    assert u.assignments[1].op == "add" and u.assignments[1].value == ast.Marker(0)
    assert u.where[0].rhs == ast.Marker(1, "k")
    b = parse("BEGIN BATCH INSERT INTO t (k) VALUES (?); INSERT INTO t (k) VALUES (?) APPLY BATCH")
    assert [st.values[0].index for st in b.statements] == [0, 1]
    c = parse("CREATE TABLE t (a int, b int, c int, PRIMARY KEY ((a, b), c))")
    assert c.partition_key == ("a", "b") and c.clustering == ("c",)
    assert parse_type("map<text, frozen<list<int>>>") == ast.TypeExpr(
        "map", (ast.TypeExpr("text"), ast.TypeExpr("frozen", (ast.TypeExpr("list", (
            ast.TypeExpr("int"),)),))))
    assert parse_type("varchar") == ast.TypeExpr("text")


@pytest.mark.parametrize(
    ("cql", "message"),
    [
        ("SELEKT * FROM factks.t", "line 1:0 no viable alternative at input 'SELEKT' "
                                   "([SELEKT]...)"),
        ("SELECT * FORM t", "line 1:9 mismatched input 'FORM' expecting K_FROM"),
        ("SELECT * FROM t WHERE", "line 0:-1 mismatched input '<EOF>' expecting IDENT"),
        ("INSERT INTO t (k) VALUES (1) extra", "line 1:29 extraneous input 'extra' expecting "
                                               "<EOF>"),
        ("SELECT * FROM t WHERE k = 'unterminated", "line 1:26 no viable alternative at "
                                                    "character '''"),
    ],
)
def test_syntax_errors(cql: str, message: str) -> None:
    with pytest.raises(SyntaxException) as info:
        parse(cql)
    assert info.value.message.startswith(message)
    assert info.value.error_code == 0x2000


def test_unsupported_statements_are_syntax_errors() -> None:
    # CREATE MATERIALIZED VIEW / FUNCTION parse on 4.0 and are refused as disabled
    # (InvalidRequest, see tests/testing/test_fidelity_errors.py)
    for cql in ("GRANT ALL ON t TO r", "LIST ROLES", ""):
        with pytest.raises(SyntaxException):
            parse(cql)


_SOUP = st.sampled_from(
    "SELECT INSERT UPDATE DELETE FROM WHERE INTO VALUES SET AND IF EXISTS NOT USING TTL "
    "TIMESTAMP CREATE DROP ALTER TABLE KEYSPACE TYPE INDEX ON PRIMARY KEY WITH BEGIN APPLY "
    "BATCH ORDER BY LIMIT ALLOW FILTERING IN CONTAINS token count writetime DISTINCT USE "
    "TRUNCATE ks t k v c s m l ( ) , ; . * = < > <= >= != [ ] { } : ? :name + - 1 -2 3.5 "
    "'str' 0xff true null 123e4567-e89b-12d3-a456-426614174000 1h frozen list map set<int> "
    "int text static".split()
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_SOUP, max_size=25))
def test_token_soup_only_raises_syntax_errors(tokens: list[str]) -> None:
    try:
        parse(" ".join(tokens))
    except SyntaxException:
        pass


@settings(max_examples=300, deadline=None)
@given(st.lists(_SOUP, max_size=25), st.text(max_size=20))
def test_engine_soup_only_raises_validation_errors(tokens: list[str], tail: str) -> None:
    e = _soup_engine()
    for text in (" ".join(tokens), " ".join(tokens) + tail):
        try:
            e.execute(text, keyspace="ks", now=1.0)
        except RequestValidationException:
            pass


_ENGINE: list[Engine] = []


def _soup_engine() -> Engine:
    if not _ENGINE:
        e = Engine()
        e.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                  "'replication_factor': 1}")
        e.execute("CREATE TABLE ks.t (k int, c int, v text, s set<int>, m map<int, int>, "
                  "l list<int>, PRIMARY KEY (k, c))")
        _ENGINE.append(e)
    return _ENGINE[0]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(PARSES), st.integers(min_value=0, max_value=200), st.sampled_from(
    ["", "(", "'", "?", ")", ";", "{", "0x", "\"", "$$", "--", "ALLOW", "-"]))
def test_mutated_statements(cql: str, cut: int, insert: str) -> None:
    text = cql[:cut] + insert + cql[cut:]
    e = _soup_engine()
    try:
        e.execute(text, keyspace="ks", now=1.0)
    except RequestValidationException:
        pass
