"""The engine's system tables, read by cassandra-driver's own schema parser and control
connection queries (values travel through our encoder and the driver's decoders)."""

from __future__ import annotations

import ast
import pathlib
import uuid

import cassandra
import pytest
from cassandra import metadata as dmeta
from cassandra.cqltypes import lookup_casstype

from greencql.testing.engine import Engine, NodeInfo, Rows


class _DriverResult:
    def __init__(self, rows: Rows) -> None:
        self.column_names = rows.column_names
        types = [lookup_casstype(c.type.class_name) for c in rows.columns]
        self.parsed_rows = [
            tuple(None if b is None else t.from_binary(b, 4) for t, b in zip(types, row,
                                                                                strict=True))
            for row in rows.encoded_rows()
        ]


class _FakeConnection:
    """Answers the driver's QueryMessages from the engine, as a node would."""

    def __init__(self, engine: Engine, coordinator: str) -> None:
        self.engine = engine
        self.coordinator = coordinator
        self.queries: list[str] = []

    def wait_for_responses(self, *msgs, **kwargs):
        out = []
        for m in msgs:
            self.queries.append(m.query)
            try:
                r = self.engine.execute(m.query, coordinator=self.coordinator, now=1.0)
                out.append((True, _DriverResult(r)))
            except Exception as exc:  # handed to the driver like a failed response
                out.append((False, exc))
        return out


@pytest.fixture
def engine() -> Engine:
    e = Engine([NodeInfo("127.0.0.1", uuid.UUID(int=1), (-5,)),
                NodeInfo("127.0.0.2", uuid.UUID(int=2), (5,), dc="dc2", rack="r2")])
    e.execute("CREATE KEYSPACE shop WITH replication = {'class': 'NetworkTopologyStrategy', "
              "'datacenter1': 1}")
    e.execute("CREATE TYPE shop.address (street text, zip int)")
    e.execute("CREATE TABLE shop.orders (customer uuid, placed timestamp, id int, note text "
              "static, items map<text,int>, ship frozen<address>, PRIMARY KEY ((customer), "
              "placed, id)) WITH CLUSTERING ORDER BY (placed DESC, id ASC) AND comment='orders'")
    e.execute("CREATE TABLE shop.kv (k text PRIMARY KEY, v blob)")
    e.execute("CREATE INDEX kv_v ON shop.kv (v)")
    e.execute("CREATE TABLE shop.c (k int PRIMARY KEY, n counter)")
    return e


def test_driver_schema_parser_v4_builds_metadata(engine: Engine) -> None:
    conn = _FakeConnection(engine, "127.0.0.1")
    parser = dmeta.get_schema_parser(conn, "4.0.13", None, 5.0)
    assert isinstance(parser, dmeta.SchemaParserV4)
    keyspaces = {k.name: k for k in parser.get_all_keyspaces()}
    assert {"system", "system_schema", "system_auth", "system_distributed", "system_traces",
            "shop", "system_virtual_schema"} <= set(keyspaces)
    shop = keyspaces["shop"]
    assert shop.replication_strategy.export_for_schema() == (
        "{'class': 'NetworkTopologyStrategy', 'datacenter1': '1'}")
    orders = shop.tables["orders"]
    assert [c.name for c in orders.partition_key] == ["customer"]
    assert [c.name for c in orders.clustering_key] == ["placed", "id"]
    assert orders.clustering_key[0].is_reversed and not orders.clustering_key[1].is_reversed
    assert orders.columns["note"].is_static
    assert orders.columns["ship"].cql_type == "frozen<address>"
    assert orders.options["comment"] == "orders"
    assert shop.user_types["address"].field_names == ["street", "zip"]
    assert shop.tables["kv"].indexes["kv_v"].index_options == {"target": "v"}
    cql = orders.export_as_string()
    assert "CLUSTERING ORDER BY (placed DESC, id ASC)" in cql
    assert "note text static" in cql
    local = keyspaces["system"].tables["local"]
    assert [c.name for c in local.partition_key] == ["key"]
    # every query the parser sent succeeded
    for q in conn.queries:
        engine.execute(q)


def test_driver_single_table_refresh(engine: Engine) -> None:
    conn = _FakeConnection(engine, "127.0.0.1")
    parser = dmeta.get_schema_parser(conn, "4.0.13", None, 5.0)
    table = parser.get_table({}, "shop", "orders")
    assert table is not None and table.name == "orders"
    ks = parser.get_keyspace({}, "shop")
    assert ks.name == "shop"


def _control_connection_queries() -> list[str]:
    """The ControlConnection's query strings, read from the driver's source (importing
    cassandra.cluster would import eventlet in the gevent and thread test processes)."""
    src = (pathlib.Path(cassandra.__file__).parent / "cluster.py").read_text()
    queries = []
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.ClassDef) and node.name == "ControlConnection":
            for stmt in node.body:
                if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
                        and isinstance(stmt.value.value, str)
                        and stmt.targets[0].id.startswith("_SELECT")):  # type: ignore[attr-defined]
                    queries.append(stmt.value.value.format(nt_col_name="rpc_address"))
    assert len(queries) >= 10
    return queries


@pytest.mark.parametrize(
    "query",
    [
        *_control_connection_queries(),
        "SELECT peer, data_center, rack, tokens, rpc_address, schema_version FROM system.peers",
    ],
)
def test_control_connection_queries(engine: Engine, query: str) -> None:
    conn = _FakeConnection(engine, "127.0.0.2")
    ((ok, res),) = conn.wait_for_responses(type("M", (), {"query": query})())
    assert ok, res
    assert res.parsed_rows
    row = dict(zip(res.column_names, res.parsed_rows[0], strict=True))
    if "system.local" in query:
        if "rpc_address" in row:
            assert row["rpc_address"] == "127.0.0.2"
        if "schema_version" in row:
            assert row["schema_version"] == engine.schema_version
    elif "tokens" in row:
        assert row["tokens"] == {"-5"} or sorted(row["tokens"]) == ["-5"]
