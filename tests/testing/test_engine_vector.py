"""The vector type (Cassandra 5's ``vector<T, n>``) in the simulated engine, without a network.

Covers the type in DDL (system_schema.columns prints ``vector<float, 3>``; elements are
frozen; bad dimensions are refused), literals and bind markers (whole vectors and elements),
Cassandra 5's errors for a wrong element count or a null element, and the result metadata
(the custom type ``org.apache.cassandra.db.marshal.VectorType(...)``). Serialized values are
checked against cassandra-driver's own VectorType codec (the oracle).
"""

from __future__ import annotations

import pytest

from greencql.errors import InvalidRequest, SyntaxException
from greencql.protocol import types as pt
from greencql.testing.engine import Engine, Rows

FLOAT3 = "org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal.FloatType , 3)"


@pytest.fixture()
def engine():
    e = Engine()
    e.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
              "'replication_factor': 1}")
    e.execute("CREATE TABLE ks.v (k int PRIMARY KEY, f vector<float, 3>, "
              "t vector<text, 2>, l vector<frozen<list<int>>, 2>, d vector<double, 2>)")
    return e


def _oracle_type(class_name):
    from cassandra.cqltypes import lookup_casstype

    return lookup_casstype(class_name)


def test_schema_prints_vector_types(engine):
    rows = engine.execute("SELECT column_name, type FROM system_schema.columns "
                          "WHERE keyspace_name = 'ks' AND table_name = 'v'").rows
    assert dict(rows) == {
        "k": "int",
        "f": "vector<float, 3>",
        "t": "vector<text, 2>",
        "l": "vector<frozen<list<int>>, 2>",
        "d": "vector<double, 2>",
    }
    # the printed type parses back to the same protocol type
    assert pt.parse_type_string("vector<float, 3>").class_name == FLOAT3


def test_literals_round_trip_with_the_oracle_codec(engine):
    engine.execute("INSERT INTO ks.v (k, f, t, l, d) VALUES "
                   "(1, [1.0, 2.5, 3], ['a', 'bc'], [[1, 2], []], [0.5, -1e300])")
    result = engine.execute("SELECT f, t, l, d FROM ks.v WHERE k = 1")
    assert isinstance(result, Rows)
    assert result.rows == [([1.0, 2.5, 3.0], ["a", "bc"], [[1, 2], []], [0.5, -1e300])]
    specs = {c.name: c for c in result.columns}
    assert specs["f"].type.class_name == FLOAT3
    encoded = dict(zip(result.column_names, result.encoded_rows()[0], strict=True))
    for name, value in (("f", [1.0, 2.5, 3.0]), ("t", ["a", "bc"]), ("d", [0.5, -1e300]),
                        ("l", [[1, 2], []])):
        oracle = _oracle_type(specs[name].type.class_name)
        assert oracle.serialize(value, 5) == encoded[name]
        assert list(oracle.deserialize(encoded[name], 5)) == value


def test_bound_vectors_and_bound_elements(engine):
    f_type = _oracle_type(FLOAT3)
    prep = engine.prepare("INSERT INTO ks.v (k, f) VALUES (?, ?)", None)
    assert [s.coltype.cql_name for s in prep.bind_specs] == ["int", "vector<float, 3>"]
    engine.execute_prepared(prep.id, [b"\x00\x00\x00\x02", f_type.serialize([4.0, 5.0, 6.0], 5)])
    elems = engine.prepare("INSERT INTO ks.v (k, f) VALUES (3, [?, ?, 9.0])", None)
    assert [s.coltype.cql_name for s in elems.bind_specs] == ["float", "float"]
    engine.execute_prepared(elems.id, [7.0, 8.0])
    sel = engine.prepare("SELECT f FROM ks.v WHERE k = ?", None)
    assert sel.result_specs[0].type.class_name == FLOAT3
    got = {k: engine.execute_prepared(sel.id, [k]).rows for k in (2, 3)}
    assert got == {2: [([4.0, 5.0, 6.0],)], 3: [([7.0, 8.0, 9.0],)]}


@pytest.mark.parametrize(("cql", "message"), [
    ("INSERT INTO ks.v (k, f) VALUES (4, [1.0, 2.0])",
     "Invalid vector literal for f of type vector<float, 3>; expected 3 elements, but given 2"),
    ("INSERT INTO ks.v (k, f) VALUES (4, [1.0, null, 2.0])",
     "null is not supported inside vectors"),
    ("INSERT INTO ks.v (k, f) VALUES (4, {1.0, 2.0, 3.0})", "Invalid set literal for f"),
    ("CREATE TABLE ks.bad (k int PRIMARY KEY, v vector<float, 0>)",
     "vectors may only have positive dimensions; given 0"),
    ("CREATE TABLE ks.bad (k int PRIMARY KEY, v vector<counter, 2>)",
     "vectors may not contain counters"),
])
def test_errors(engine, cql, message):
    with pytest.raises(InvalidRequest) as info:
        engine.execute(cql)
    assert message in str(info.value)


def test_wrong_length_bound_vector_is_refused(engine):
    prep = engine.prepare("INSERT INTO ks.v (k, f) VALUES (?, ?)", None)
    with pytest.raises(InvalidRequest):
        engine.execute_prepared(prep.id, [b"\x00\x00\x00\x05", b"\x00" * 8])


def test_dimension_must_be_an_integer(engine):
    with pytest.raises(SyntaxException):
        engine.execute("CREATE TABLE ks.bad (k int PRIMARY KEY, v vector<float, x>)")
