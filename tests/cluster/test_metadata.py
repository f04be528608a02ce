"""The schema model, built from the simulator's system_schema rows and checked three ways:
against what the DDL said, against cassandra-driver's own SchemaParserV4 fed the same rows
(exported CQL must be identical), and by re-running the exported CQL in a fresh simulator,
which must then list the same system_schema rows. Plus targeted refreshes after schema
changes, the host registry, and Metadata as the token-aware policy's replica lookup.

Pure: no sockets, no hub. cassandra.cluster is never imported (it pulls in eventlet).
"""

from __future__ import annotations

import random
import uuid
import warnings
from typing import Any

import pytest
from cassandra import metadata as dmeta
from cassandra.cqltypes import lookup_casstype

from greencql.cluster.host import EndPoint, Host
from greencql.cluster.metadata import (
    FULL_SCHEMA_QUERIES,
    RESERVED_KEYWORDS,
    SCHEMA_TABLES,
    Aggregate,
    ColumnMetadata,
    Function,
    IndexMetadata,
    KeyspaceMetadata,
    LocalStrategy,
    MaterializedViewMetadata,
    Metadata,
    NetworkTopologyStrategy,
    SchemaRows,
    SimpleStrategy,
    TableMetadata,
    UnknownStrategy,
    UserType,
    build_aggregate,
    build_function,
    build_table,
    build_view,
    keyspace_queries,
    parse_schema,
    protect_name,
    refresh_queries,
    rows_as_dicts,
    strip_frozen,
)
from greencql.cluster.policies import RoundRobinPolicy, TokenAwarePolicy
from greencql.cluster.tokenmap import TokenMap
from greencql.protocol import types as ptypes
from greencql.protocol.messages import SchemaChangeEvent
from greencql.testing.engine import Engine, NodeInfo, Rows

# -- simulated clusters and their rows ------------------------------------------------------

# UDTs (one nested, named so that alphabetical order is not dependency order), composite
# partition key, clustering DESC, static, frozen UDT, collections, indexes, quoted and
# reserved column names, a counter table.
SHOP_DDL = [
    "CREATE TYPE shop.zzz_address (street text, zip int)",
    "CREATE TYPE shop.aaa_person (name text, home frozen<zzz_address>, tags frozen<set<text>>)",
    "CREATE TABLE shop.orders (customer uuid, placed timestamp, id int, note text static, "
    "items map<text,int>, ship frozen<zzz_address>, PRIMARY KEY ((customer), placed, id)) "
    "WITH CLUSTERING ORDER BY (placed DESC, id ASC) AND comment='it''s orders' "
    "AND default_time_to_live = 3600",
    "CREATE TABLE shop.events (region text, day date, seq timeuuid, kind text, payload blob, "
    "who frozen<aaa_person>, tags set<text>, scores list<frozen<tuple<int, text>>>, "
    "PRIMARY KEY ((region, day), seq)) WITH CLUSTERING ORDER BY (seq DESC)",
    'CREATE TABLE shop.kv (k text PRIMARY KEY, v blob, "Quoted" int, "select" text)',
    "CREATE INDEX kv_v ON shop.kv (v)",
    "CREATE INDEX ON shop.events (kind)",
    "CREATE INDEX tags_idx ON shop.events (tags)",
    "CREATE TABLE shop.counts (k int PRIMARY KEY, n counter)",
    "CREATE KEYSPACE simple WITH replication = {'class': 'SimpleStrategy', "
    "'replication_factor': 2} AND durable_writes = false",
    "CREATE TABLE simple.t (a int, b text, c double, PRIMARY KEY ((a, b), c)) "
    "WITH gc_grace_seconds = 10 AND caching = {'keys': 'NONE', 'rows_per_partition': '5'}",
]


def _tokens(rng: random.Random, n: int) -> tuple[str, ...]:
    return tuple(str(rng.randint(-(2**63) + 1, 2**63 - 1)) for _ in range(n))


def _engine(nodes: list[NodeInfo], shop_replication: str) -> Engine:
    e = Engine(nodes)
    e.execute(f"CREATE KEYSPACE shop WITH replication = {shop_replication}")
    for q in SHOP_DDL:
        e.execute(q)
    return e


def three_node_engine() -> Engine:
    rng = random.Random(3)
    nodes = [NodeInfo(f"127.0.0.{i + 1}", uuid.UUID(int=i + 1), _tokens(rng, 4), dc="dc1",
                      rack=f"r{i + 1}") for i in range(3)]
    return _engine(nodes, "{'class': 'NetworkTopologyStrategy', 'dc1': 2}")


def two_dc_engine() -> Engine:
    rng = random.Random(6)
    nodes = [NodeInfo(f"127.0.0.{i + 1}", uuid.UUID(int=i + 1), _tokens(rng, 8),
                      dc=f"dc{i % 2 + 1}", rack=f"r{i % 3}") for i in range(6)]
    return _engine(nodes, "{'class': 'NetworkTopologyStrategy', 'dc1': 2, 'dc2': 3}")


ENGINES = {"3-node": three_node_engine, "2dc-6-node": two_dc_engine}


def decoded(rows: Rows) -> list[dict[str, Any]]:
    """Rows as the control connection gets them: serialized by the simulator, decoded by our
    protocol codecs."""
    codecs = [c.type for c in rows.columns]
    return [
        {n: None if b is None else t.decode(b)
         for n, t, b in zip(rows.column_names, codecs, r, strict=True)}
        for r in rows.encoded_rows()
    ]


def run_queries(engine: Engine, queries: dict[str, str]) -> SchemaRows:
    results = {}
    for field, q in queries.items():
        res = engine.execute(q, coordinator="127.0.0.1")
        assert isinstance(res, Rows)
        results[field] = decoded(res)
    return SchemaRows.from_results(results)


def schema_rows(engine: Engine) -> SchemaRows:
    return run_queries(engine, FULL_SCHEMA_QUERIES)


class _DriverResult:
    def __init__(self, rows: Rows) -> None:
        self.column_names = rows.column_names
        types = [lookup_casstype(c.type.class_name) for c in rows.columns]
        self.parsed_rows = [
            tuple(None if b is None else t.from_binary(b, 4)
                  for t, b in zip(types, row, strict=True))
            for row in rows.encoded_rows()
        ]


class _DriverConnection:
    """Answers cassandra-driver's schema queries from the simulator (its own codecs decode)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def wait_for_responses(self, *msgs: Any, **kwargs: Any) -> list[tuple[bool, Any]]:
        out: list[tuple[bool, Any]] = []
        for m in msgs:
            try:
                res = self.engine.execute(m.query, coordinator="127.0.0.1")
                out.append((True, _DriverResult(res)))
            except Exception as exc:  # handed over like a failed response
                out.append((False, exc))
        return out


def driver_keyspaces(engine: Engine) -> dict[str, Any]:
    parser = dmeta.get_schema_parser(_DriverConnection(engine), "4.0.13", None, 5.0)
    assert isinstance(parser, dmeta.SchemaParserV4)
    return {k.name: k for k in parser.get_all_keyspaces()}


def _user_rows(engine: Engine, keyspace: str) -> dict[str, list[dict[str, Any]]]:
    """system_schema rows of one keyspace, minus table ids (a fresh CREATE makes new ids)."""
    out = {}
    for field, table in SCHEMA_TABLES.items():
        if field.startswith("virtual"):
            continue
        res = engine.execute(f"SELECT * FROM {table} WHERE keyspace_name = '{keyspace}'")
        assert isinstance(res, Rows)
        out[field] = [{k: v for k, v in zip(res.column_names, r, strict=True) if k != "id"}
                      for r in res.rows]
    return out


@pytest.fixture(scope="module", params=sorted(ENGINES))
def engine(request: pytest.FixtureRequest) -> Engine:
    return ENGINES[request.param]()


@pytest.fixture(scope="module")
def keyspaces(engine: Engine) -> dict[str, KeyspaceMetadata]:
    return parse_schema(schema_rows(engine))


# -- the model ---------------------------------------------------------------------------------


def test_keyspaces_and_replication(keyspaces: dict[str, KeyspaceMetadata]) -> None:
    assert {"system", "system_schema", "system_auth", "system_distributed", "system_traces",
            "system_virtual_schema", "shop", "simple"} <= set(keyspaces)
    shop = keyspaces["shop"]
    assert isinstance(shop.replication_strategy, NetworkTopologyStrategy)
    assert shop.replication["class"] == "org.apache.cassandra.locator.NetworkTopologyStrategy"
    assert shop.replication_strategy.dc_replication_factors["dc1"] == 2
    assert shop.durable_writes is True and not shop.virtual
    simple = keyspaces["simple"]
    assert isinstance(simple.replication_strategy, SimpleStrategy)
    assert simple.replication_strategy.replication_factor == 2
    assert simple.durable_writes is False
    assert isinstance(keyspaces["system"].replication_strategy, LocalStrategy)
    virtual = keyspaces["system_virtual_schema"]
    assert virtual.virtual and virtual.replication_strategy is None
    assert virtual.tables["columns"].virtual


def test_table_keys_columns_and_options(keyspaces: dict[str, KeyspaceMetadata]) -> None:
    orders = keyspaces["shop"].tables["orders"]
    assert isinstance(orders, TableMetadata)
    assert [c.name for c in orders.partition_key] == ["customer"]
    assert [c.name for c in orders.clustering_key] == ["placed", "id"]
    assert [c.name for c in orders.primary_key] == ["customer", "placed", "id"]
    assert list(orders.columns) == ["customer", "placed", "id", "items", "note", "ship"]
    assert orders.clustering_key[0].is_reversed and not orders.clustering_key[1].is_reversed
    note = orders.columns["note"]
    assert isinstance(note, ColumnMetadata)
    assert note.is_static and note.kind == "static" and note.table is orders
    assert not orders.columns["items"].is_static
    assert orders.columns["items"].cql_type == "map<text, int>"
    assert orders.columns["ship"].cql_type == "frozen<zzz_address>"
    assert orders.options["comment"] == "it's orders"
    assert orders.options["default_time_to_live"] == 3600
    assert orders.options["compaction"]["class"].endswith("SizeTieredCompactionStrategy")
    assert "read_repair_chance" not in orders.options  # removed in Cassandra 4.0
    assert orders.is_compact_storage is False and orders.flags == {"compound"}
    assert isinstance(orders.id, uuid.UUID)
    events = keyspaces["shop"].tables["events"]
    assert [c.name for c in events.partition_key] == ["region", "day"]
    assert [c.name for c in events.clustering_key] == ["seq"]
    assert events.clustering_key[0].is_reversed
    t = keyspaces["simple"].tables["t"]
    assert t.options["gc_grace_seconds"] == 10
    assert t.options["caching"] == {"keys": "NONE", "rows_per_partition": "5"}
    counts = keyspaces["shop"].tables["counts"]
    assert counts.flags == {"compound", "counter"}


def test_column_types_resolve_to_codecs(keyspaces: dict[str, KeyspaceMetadata]) -> None:
    shop = keyspaces["shop"]
    for table in shop.tables.values():
        for col in table.columns.values():
            assert isinstance(col.type, ptypes.CqlType), col
            assert col.type.cql_name == col.cql_type
    ship = shop.tables["orders"].columns["ship"].type
    assert isinstance(ship, ptypes.UserType)
    assert ship.frozen and ship.field_names == ("street", "zip")
    who = shop.tables["events"].columns["who"].type
    assert isinstance(who, ptypes.UserType)
    home = who.field_types[1]
    assert isinstance(home, ptypes.UserType) and home.name == "zzz_address" and home.frozen
    # the resolved codec round-trips a value
    value = who.value_class("ann", home.value_class("main st", 1), frozenset({"x"}))
    assert who.decode(who.encode(value)) == value
    assert shop.tables["events"].columns["scores"].type.cql_name == (
        "list<frozen<tuple<int, text>>>")


def test_user_types_and_indexes(keyspaces: dict[str, KeyspaceMetadata]) -> None:
    shop = keyspaces["shop"]
    address = shop.user_types["zzz_address"]
    assert isinstance(address, UserType)
    assert address.field_names == ["street", "zip"] and address.field_types == ["text", "int"]
    assert isinstance(address.type, ptypes.UserType) and not address.type.frozen
    kv = shop.tables["kv"]
    index = kv.indexes["kv_v"]
    assert isinstance(index, IndexMetadata)
    assert index.kind == "COMPOSITES" and index.index_options == {"target": "v"}
    assert set(shop.indexes) == {"kv_v", "events_kind_idx", "tags_idx"}
    assert shop.tables["events"].indexes["tags_idx"].index_options == {"target": "values(tags)"}
    assert shop.tables["events"].indexes["tags_idx"].as_cql_query() == (
        "CREATE INDEX tags_idx ON shop.events (values(tags))")
    # dependencies first: aaa_person uses zzz_address
    order = [s.split(" (")[0] for s in shop.user_type_strings()]
    assert order == ["CREATE TYPE shop.zzz_address", "CREATE TYPE shop.aaa_person"]


def test_quoting_of_names() -> None:
    assert protect_name("plain_1") == "plain_1"
    assert protect_name("Quoted") == '"Quoted"'
    assert protect_name("select") == '"select"'
    assert protect_name('we"ird') == '"we""ird"'
    assert protect_name("1abc") == '"1abc"'


def test_strip_frozen() -> None:
    for text, want in [
        ("int", "int"),
        ("frozen<tuple<int, text>>", "tuple<int, text>"),
        ("map<text, frozen<list<int>>>", "map<text, list<int>>"),
        ("frozen<address>", "address"),
    ]:
        assert strip_frozen(text) == want
        from cassandra.cqltypes import strip_frozen as driver_strip_frozen
        assert driver_strip_frozen(text) == want


# -- against cassandra-driver ---------------------------------------------------------------


@pytest.fixture
def driver_reserved_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """cassandra-driver's reserved words are Cassandra's plus DSE's until cqlshlib (imported by
    other tests) swaps in Cassandra's own: pin them to ours so the comparison is about the
    text, not about which module was imported first."""
    monkeypatch.setattr(dmeta, "cql_keywords_reserved", set(RESERVED_KEYWORDS))


def test_reserved_words_cover_cassandras() -> None:
    with warnings.catch_warnings():  # cqlshlib imports the deprecated sre_constants
        warnings.filterwarnings("ignore", "module 'sre_constants'", DeprecationWarning)
        from cqlshlib.cqlhandling import cql_keywords_reserved as cqlsh_reserved

    assert set(cqlsh_reserved) <= RESERVED_KEYWORDS
    assert RESERVED_KEYWORDS <= dmeta.cql_keywords - dmeta.cql_keywords_unreserved


@pytest.mark.usefixtures("driver_reserved_words")
def test_export_equals_cassandra_driver(engine: Engine,
                                        keyspaces: dict[str, KeyspaceMetadata]) -> None:
    theirs = driver_keyspaces(engine)
    assert set(theirs) == set(keyspaces)
    for name, ks in keyspaces.items():
        assert ks.export_as_string() == theirs[name].export_as_string(), name
        assert ks.as_cql_query() == theirs[name].as_cql_query()
        for tname, table in ks.tables.items():
            their_table = theirs[name].tables[tname]
            assert table.as_cql_query() == their_table.as_cql_query()
            assert table.as_cql_query(formatted=True) == their_table.as_cql_query(formatted=True)
            assert [c.name for c in table.partition_key] == [
                c.name for c in their_table.partition_key]
            assert [(c.name, c.cql_type, c.is_static, c.is_reversed)
                    for c in table.columns.values()] == [
                (c.name, c.cql_type, c.is_static, c.is_reversed)
                for c in their_table.columns.values()]
            assert table.options == their_table.options
        for uname, ut in ks.user_types.items():
            assert ut.as_cql_query() == theirs[name].user_types[uname].as_cql_query()


def _driver_parser() -> Any:
    return dmeta.SchemaParserV4(None, 0)


FUNCTION_ROWS = [
    {"keyspace_name": "shop", "function_name": "plus", "argument_types": ["int", "int"],
     "argument_names": ["a", "b"], "body": "return a + b;", "called_on_null_input": False,
     "language": "java", "return_type": "int"},
    {"keyspace_name": "shop", "function_name": "plus", "argument_types": ["frozen<list<int>>"],
     "argument_names": ["xs"], "body": "return 0;", "called_on_null_input": True,
     "language": "java", "return_type": "int"},
    {"keyspace_name": "shop", "function_name": "Odd", "argument_types": [],
     "argument_names": [], "body": "return 1;", "called_on_null_input": True,
     "language": "javascript", "return_type": "bigint"},
]
AGGREGATE_ROWS = [
    {"keyspace_name": "shop", "aggregate_name": "total", "argument_types": ["int"],
     "final_func": None, "initcond": "0", "return_type": "int", "state_func": "plus",
     "state_type": "int"},
    {"keyspace_name": "shop", "aggregate_name": "avg2", "argument_types": ["frozen<list<int>>"],
     "final_func": "finish", "initcond": "(0, 0)", "return_type": "double",
     "state_func": "acc", "state_type": "frozen<tuple<int, bigint>>"},
    {"keyspace_name": "shop", "aggregate_name": "nothing", "argument_types": ["text"],
     "final_func": None, "initcond": None, "return_type": "text", "state_func": "f",
     "state_type": "text"},
]


@pytest.mark.usefixtures("driver_reserved_words")
def test_functions_and_aggregates_equal_cassandra_driver() -> None:
    parser = _driver_parser()
    for row in FUNCTION_ROWS:
        mine, theirs = build_function(row), parser._build_function(dict(row))
        assert isinstance(mine, Function)
        assert mine.signature == theirs.signature
        assert mine.export_as_string() == theirs.export_as_string()
        assert mine.as_cql_query() == theirs.as_cql_query()
    for row in AGGREGATE_ROWS:
        mine_a, theirs_a = build_aggregate(row), parser._build_aggregate(dict(row))
        assert isinstance(mine_a, Aggregate)
        assert mine_a.signature == theirs_a.signature
        assert mine_a.export_as_string() == theirs_a.export_as_string()


def _view_rows() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row = {"keyspace_name": "shop", "view_name": "orders_by_id", "base_table_name": "orders",
           "include_all_columns": False, "where_clause": "id IS NOT NULL AND customer IS NOT "
           "NULL AND placed IS NOT NULL", "comment": "", "default_time_to_live": 0,
           "gc_grace_seconds": 864000, "caching": {"keys": "ALL", "rows_per_partition": "NONE"},
           "read_repair": "BLOCKING", "speculative_retry": "99p", "id": uuid.UUID(int=9),
           "extensions": {}}
    cols = [
        {"keyspace_name": "shop", "table_name": "orders_by_id", "column_name": n,
         "clustering_order": order, "kind": kind, "position": pos, "type": typ}
        for n, order, kind, pos, typ in [
            ("customer", "asc", "clustering", 1, "uuid"),
            ("id", "none", "partition_key", 0, "int"),
            ("note", "none", "regular", -1, "text"),
            ("placed", "desc", "clustering", 0, "timestamp"),
        ]
    ]
    return row, cols


@pytest.mark.usefixtures("driver_reserved_words")
def test_views_and_triggers_equal_cassandra_driver() -> None:
    parser = _driver_parser()
    row, cols = _view_rows()
    mine = build_view(row, cols)
    theirs = parser._build_view_metadata(dict(row), [dict(c) for c in cols])
    assert isinstance(mine, MaterializedViewMetadata)
    assert mine.export_as_string() == theirs.export_as_string()
    assert mine.as_cql_query() == theirs.as_cql_query()
    mine.include_all_columns = theirs.include_all_columns = True
    assert mine.as_cql_query() == theirs.as_cql_query()

    table_row = {"keyspace_name": "shop", "table_name": "t", "flags": {"compound"},
                 "comment": "", "read_repair": "BLOCKING", "id": uuid.UUID(int=1)}
    col_rows = [{"keyspace_name": "shop", "table_name": "t", "column_name": "k",
                 "clustering_order": "none", "kind": "partition_key", "position": 0,
                 "type": "int"}]
    trigger_rows = [{"keyspace_name": "shop", "table_name": "t", "trigger_name": "audit",
                     "options": {"class": "org.example.Audit"}}]
    index_rows = [{"keyspace_name": "shop", "table_name": "t", "index_name": "sai",
                   "kind": "CUSTOM", "options": {"class_name": "StorageAttachedIndex",
                                                 "target": "k", "mode": "x"}}]
    mine_t = build_table(table_row, col_rows, index_rows, trigger_rows)
    theirs_t = parser._build_table_metadata(dict(table_row), [dict(c) for c in col_rows],
                                            [dict(t) for t in trigger_rows],
                                            [dict(i) for i in index_rows])
    assert mine_t.export_as_string() == theirs_t.export_as_string()


@pytest.mark.usefixtures("driver_reserved_words")
def test_compact_storage_tables_equal_cassandra_driver() -> None:
    """ScyllaDB (and Cassandra before 4.0) still have COMPACT STORAGE tables; their rows have
    no read_repair column, so they keep 3.x's options (the driver's SchemaParserV3)."""
    parser = dmeta.SchemaParserV3(None, 0)
    base = {"keyspace_name": "ks", "comment": "", "gc_grace_seconds": 0,
            "read_repair_chance": 0.0, "dclocal_read_repair_chance": 0.1}

    def cols(table: str, *spec: tuple[str, str, int, str, str]) -> list[dict[str, Any]]:
        return [{"keyspace_name": "ks", "table_name": table, "column_name": n, "kind": k,
                 "position": p, "clustering_order": o, "type": t} for n, k, p, o, t in spec]

    cases = [
        ({**base, "table_name": "dense", "flags": {"dense"}},
         cols("dense", ("k", "partition_key", 0, "none", "int"),
              ("c", "clustering", 0, "asc", "int"), ("value", "regular", -1, "none", "empty"))),
        ({**base, "table_name": "static", "flags": set()},
         cols("static", ("k", "partition_key", 0, "none", "int"),
              ("column1", "clustering", 0, "asc", "text"),
              ("v", "static", -1, "none", "text"), ("value", "regular", -1, "none", "blob"))),
        ({**base, "table_name": "noflags", "flags": None},
         cols("noflags", ("k", "partition_key", 0, "none", "int"),
              ("v", "static", -1, "none", "text"))),
    ]
    for row, col_rows in cases:
        mine = build_table(row, col_rows)
        theirs = parser._build_table_metadata(dict(row), [dict(c) for c in col_rows])
        assert mine.is_compact_storage is theirs.is_compact_storage is True
        assert mine.export_as_string() == theirs.export_as_string(), row["table_name"]
        # Cassandra 3.x rows: the read repair chances are options there
        assert mine.options["dclocal_read_repair_chance"] == 0.1


def test_broken_table_rows_do_not_break_the_schema() -> None:
    table = build_table({"keyspace_name": "ks", "table_name": "t", "flags": {"compound"}}, [])
    assert table.parse_error
    assert table.export_as_string().startswith("/*\nWarning: Table ks.t is incomplete")
    ks = KeyspaceMetadata("ks", True, {"class": "SimpleStrategy", "replication_factor": "1"})
    assert isinstance(ks.replication_strategy, SimpleStrategy)  # short class names accepted


def test_unknown_and_transient_replication() -> None:
    ks = KeyspaceMetadata("ks", True, {"class": "com.example.MyStrategy", "x": "it's"})
    assert isinstance(ks.replication_strategy, UnknownStrategy)
    assert ks.as_cql_query() == (
        "CREATE KEYSPACE ks WITH replication = {'class': 'com.example.MyStrategy', "
        "'x': 'it''s'}  AND durable_writes = true")
    tr = KeyspaceMetadata("tr", True, {"class": "org.apache.cassandra.locator.SimpleStrategy",
                                       "replication_factor": "3/1"})
    assert isinstance(tr.replication_strategy, SimpleStrategy)
    assert tr.replication_strategy.replication_factor == 2
    theirs = dmeta.KeyspaceMetadata("tr", True, "SimpleStrategy", {"replication_factor": "3/1"})
    assert tr.as_cql_query() == theirs.as_cql_query()
    ev = KeyspaceMetadata("e", True, {"class": "EverywhereStrategy"})
    assert ev.replication_strategy is not None
    assert ev.replication_strategy.export_for_schema() == "{'class': 'EverywhereStrategy'}"


# -- CQL round trip ---------------------------------------------------------------------------


def test_exported_cql_recreates_the_same_rows(engine: Engine,
                                              keyspaces: dict[str, KeyspaceMetadata]) -> None:
    fresh = Engine(engine.nodes)
    for name in ("shop", "simple"):
        ks = keyspaces[name]
        fresh.execute(ks.as_cql_query())
        for ut_cql in ks.user_type_strings():
            fresh.execute(ut_cql)
        for table in ks.tables.values():
            fresh.execute(table.as_cql_query(formatted=True))
            for index in table.indexes.values():
                fresh.execute(index.as_cql_query())
        assert _user_rows(fresh, name) == _user_rows(engine, name), name


def test_unformatted_table_cql_runs_too(keyspaces: dict[str, KeyspaceMetadata]) -> None:
    fresh = Engine([])
    shop = keyspaces["shop"]
    fresh.execute(shop.as_cql_query())
    for ut_cql in shop.user_type_strings():
        fresh.execute(ut_cql)
    for table in shop.tables.values():
        fresh.execute(table.as_cql_query(formatted=False))
    again = parse_schema(schema_rows(fresh))["shop"]
    assert {n: t.as_cql_query() for n, t in again.tables.items()} == {
        n: t.as_cql_query() for n, t in shop.tables.items()}


# -- targeted refreshes ------------------------------------------------------------------------


def _refresh(md: Metadata, engine: Engine, change: Any) -> None:
    """What the control connection does with a SCHEMA_CHANGE result or event."""
    if change.change_type == "DROPPED":
        md.apply_schema_change(change)
        return
    queries = refresh_queries(change.target, change.keyspace, change.name)
    md.apply_schema_change(change, run_queries(engine, queries))


def _exports(md: Metadata) -> dict[str, str]:
    return {n: ks.export_as_string() for n, ks in md.keyspaces.items()}


def test_targeted_refreshes_track_ddl() -> None:
    engine = three_node_engine()
    md = Metadata()
    md.rebuild_schema(schema_rows(engine))
    statements = [
        "ALTER TABLE shop.orders ADD extra list<int>",
        "CREATE TABLE shop.fresh (k int PRIMARY KEY, a frozen<zzz_address>)",
        "CREATE INDEX fresh_a ON shop.fresh (a)",
        "CREATE TYPE shop.mmm (x int)",
        "DROP INDEX shop.kv_v",  # 4.0 refuses to drop an indexed column
        "ALTER TABLE shop.kv DROP v",
        "DROP INDEX shop.tags_idx",
        "DROP TABLE shop.counts",
        "ALTER KEYSPACE simple WITH replication = {'class': 'SimpleStrategy', "
        "'replication_factor': 3}",
        "CREATE KEYSPACE later WITH replication = {'class': 'SimpleStrategy', "
        "'replication_factor': 1}",
        "CREATE TABLE later.t (k int PRIMARY KEY)",
        "DROP TABLE shop.fresh",
        "DROP TYPE shop.mmm",
        "DROP KEYSPACE simple",
    ]
    shop_before = md.keyspaces["shop"]
    for stmt in statements:
        change = engine.execute(stmt)
        _refresh(md, engine, change)
        full = parse_schema(schema_rows(engine))
        assert _exports(md) == {n: ks.export_as_string() for n, ks in full.items()}, stmt
    assert "simple" not in md.keyspaces and "later" in md.keyspaces
    # the keyspace object was kept and its children updated in place
    assert md.keyspaces["shop"] is shop_before
    assert "fresh_a" not in md.keyspaces["shop"].indexes
    assert "extra" in md.keyspaces["shop"].tables["orders"].columns


def test_rebuild_one_keyspace_and_protocol_events() -> None:
    engine = three_node_engine()
    md = Metadata()
    md.rebuild_schema(schema_rows(engine))
    engine.execute("ALTER TABLE shop.orders ADD more int")
    engine.execute("CREATE TABLE shop.other (k int PRIMARY KEY)")
    md.rebuild_keyspace(run_queries(engine, keyspace_queries("shop")), "shop")
    assert md.keyspaces["shop"].export_as_string() == parse_schema(
        schema_rows(engine))["shop"].export_as_string()
    engine.execute("DROP KEYSPACE shop")
    md.rebuild_keyspace(run_queries(engine, keyspace_queries("shop")), "shop")
    assert "shop" not in md.keyspaces
    # the protocol layer's event objects carry the same fields (arg_types may be None)
    event = SchemaChangeEvent("CREATED", "TABLE", "simple", "t2")
    engine.execute("CREATE TABLE simple.t2 (k int PRIMARY KEY)")
    md.apply_schema_change(event, run_queries(engine, refresh_queries("TABLE", "simple", "t2")))
    assert "t2" in md.keyspaces["simple"].tables
    md.apply_schema_change(SchemaChangeEvent("DROPPED", "TABLE", "simple", "t2"))
    assert "t2" not in md.keyspaces["simple"].tables
    md.apply_schema_change(SchemaChangeEvent("DROPPED", "FUNCTION", "simple", "f", None))


def test_keyspace_refresh_keeps_children_and_updates_token_map() -> None:
    engine = three_node_engine()
    md = _metadata_with_hosts(engine)
    md.rebuild_schema(schema_rows(engine))
    token_map = md.rebuild_token_map()
    assert token_map is not None
    key = b"\x00\x00\x00\x07"
    assert len(md.get_replicas("simple", key)) == 2
    tables = md.keyspaces["simple"].tables
    change = engine.execute("ALTER KEYSPACE simple WITH replication = {'class': "
                            "'SimpleStrategy', 'replication_factor': 3}")
    _refresh(md, engine, change)
    assert md.keyspaces["simple"].tables is tables
    assert len(md.get_replicas("simple", key)) == 3
    assert md.token_map is token_map  # replication changes do not rebuild the ring
    _refresh(md, engine, engine.execute("DROP KEYSPACE simple"))
    assert md.get_replicas("simple", key) == []


def test_user_type_refresh_updates_column_codecs() -> None:
    md = Metadata()
    engine = three_node_engine()
    md.rebuild_schema(schema_rows(engine))
    rows = schema_rows(engine)
    altered = [dict(r) for r in rows.types]
    for r in altered:
        if r["type_name"] == "zzz_address":
            r["field_names"] = [*r["field_names"], "city"]
            r["field_types"] = [*r["field_types"], "text"]
    md.refresh("TYPE", "shop", "zzz_address", rows=SchemaRows(types=altered))
    ship = md.keyspaces["shop"].tables["orders"].columns["ship"].type
    assert isinstance(ship, ptypes.UserType) and ship.field_names == ("street", "zip", "city")
    who = md.keyspaces["shop"].tables["events"].columns["who"].type
    assert isinstance(who, ptypes.UserType)
    assert who.field_types[1].field_names == ("street", "zip", "city")


def test_function_aggregate_and_view_refresh() -> None:
    md = Metadata()
    engine = three_node_engine()
    md.rebuild_schema(schema_rows(engine))
    md.refresh("FUNCTION", "shop", "plus", ["int", "int"], SchemaRows(functions=FUNCTION_ROWS),
               change_type="CREATED")
    assert list(md.keyspaces["shop"].functions) == ["plus(int,int)"]
    md.refresh("AGGREGATE", "shop", "total", ["int"], SchemaRows(aggregates=AGGREGATE_ROWS),
               change_type="CREATED")
    assert list(md.keyspaces["shop"].aggregates) == ["total(int)"]
    md.refresh("FUNCTION", "shop", "plus", ["int", "int"], change_type="DROPPED")
    md.refresh("AGGREGATE", "shop", "total", ["int"], SchemaRows(), change_type="UPDATED")
    assert not md.keyspaces["shop"].functions and not md.keyspaces["shop"].aggregates

    row, cols = _view_rows()
    md.refresh("TABLE", "shop", "orders_by_id", rows=SchemaRows(views=[row], columns=cols))
    shop = md.keyspaces["shop"]
    assert "orders_by_id" in shop.views and "orders_by_id" in shop.tables["orders"].views
    assert "CREATE MATERIALIZED VIEW shop.orders_by_id" in shop.export_as_string()
    # refreshing the base table keeps its views; dropping the view removes it from both
    _refresh(md, engine, engine.execute("ALTER TABLE shop.orders WITH comment = 'x'"))
    assert "orders_by_id" in shop.tables["orders"].views
    md.refresh("TABLE", "shop", "orders_by_id", change_type="DROPPED")
    assert "orders_by_id" not in shop.views and not shop.tables["orders"].views


def test_refresh_queries_run_on_the_simulator() -> None:
    engine = three_node_engine()
    for target, name in [("KEYSPACE", None), ("TABLE", "orders"), ("TYPE", "zzz_address"),
                         ("FUNCTION", "f"), ("AGGREGATE", "a")]:
        for q in refresh_queries(target, "shop", name).values():
            assert isinstance(engine.execute(q), Rows), q
    for q in keyspace_queries("shop").values():
        assert isinstance(engine.execute(q), Rows), q
    assert refresh_queries("TABLE", "it's", "x")["tables"].endswith(
        "WHERE keyspace_name = 'it''s' AND table_name = 'x'")
    with pytest.raises(ValueError):
        refresh_queries("TABLE", "ks")
    with pytest.raises(ValueError):
        refresh_queries("INDEX", "ks", "x")
    with pytest.raises(ValueError):
        Metadata().refresh("TABLE", "ks", "t", change_type="RENAMED")


def test_rows_as_namedtuples_and_tuples() -> None:
    engine = three_node_engine()
    res = engine.execute("SELECT * FROM system_schema.keyspaces")
    assert isinstance(res, Rows)
    from collections import namedtuple

    nt = namedtuple("Row", res.column_names)  # type: ignore[misc]
    rows = SchemaRows.from_results({"keyspaces": [nt(*r) for r in res.rows]})
    assert "shop" in parse_schema(rows)
    assert rows_as_dicts(res.column_names, res.rows)[0].keys() == set(res.column_names)
    with pytest.raises(ValueError):
        SchemaRows.from_results({"nonsense": []})
    with pytest.raises(TypeError):
        SchemaRows.from_results({"keyspaces": [("a", True)]})


# -- hosts, topology and the replica lookup ------------------------------------------------


def _metadata_with_hosts(engine: Engine) -> Metadata:
    """Hosts from system.local and system.peers rows, as the control connection builds them."""
    md = Metadata()
    local = engine.execute("SELECT * FROM system.local", coordinator="127.0.0.1")
    peers = engine.execute("SELECT * FROM system.peers_v2", coordinator="127.0.0.1")
    assert isinstance(local, Rows) and isinstance(peers, Rows)
    (lrow,) = decoded(local)
    md.cluster_name = lrow["cluster_name"]
    md.partitioner = lrow["partitioner"]
    for row, addr_col, port_col in [(lrow, "rpc_address", "rpc_port")] + [
            (r, "native_address", "native_port") for r in decoded(peers)]:
        host = Host(EndPoint(str(row[addr_col]), row[port_col]), row["data_center"],
                    row["rack"], row["host_id"], row["release_version"], row["tokens"])
        assert md.add_or_return_host(host) == (host, True)
    return md


def test_host_registry() -> None:
    engine = two_dc_engine()
    md = _metadata_with_hosts(engine)
    assert len(md.all_hosts()) == 6
    h = md.get_host(EndPoint("127.0.0.3"))
    assert h is not None and h.datacenter == "dc1"
    assert md.get_host("127.0.0.3") is h and md.get_host("127.0.0.3", 9042) is h
    assert md.get_host("127.0.0.3", 9999) is None and md.get_host("10.0.0.1") is None
    assert md.get_host_by_host_id(uuid.UUID(int=3)) is h
    assert md.add_or_return_host(Host("127.0.0.3", "dcX")) == (h, False)
    h.broadcast_rpc_address = "10.1.1.1"
    assert md.get_host("10.1.1.1") is h
    assert md.remove_host(h) and not md.remove_host(h)
    assert md.get_host(EndPoint("127.0.0.3")) is None and len(md.all_hosts()) == 5
    assert "6 hosts" not in repr(md)


def test_metadata_replicas_equal_cassandra_driver(engine: Engine) -> None:
    md = _metadata_with_hosts(engine)
    md.rebuild_schema(schema_rows(engine))
    assert md.rebuild_token_map() is not None
    theirs = dmeta.Metadata()
    for name, ks in md.keyspaces.items():
        if not ks.virtual:
            cls = ks.replication.get("class")
            opts = {k: v for k, v in ks.replication.items() if k != "class"}
            theirs.keyspaces[name] = dmeta.KeyspaceMetadata(name, True, cls, opts)
    theirs.rebuild_token_map(md.partitioner, {h: h.tokens for h in md.all_hosts()})
    rng = random.Random(11)
    for _ in range(300):
        key = rng.randbytes(rng.randint(1, 24))
        for ks_name in ("shop", "simple", "system_traces", "system", "nosuch"):
            assert md.get_replicas(ks_name, key) == theirs.get_replicas(ks_name, key)


def test_token_map_rebuilt_only_when_topology_changes() -> None:
    engine = three_node_engine()
    md = _metadata_with_hosts(engine)
    md.rebuild_schema(schema_rows(engine))
    first = md.rebuild_token_map()
    assert isinstance(first, TokenMap)
    assert md.rebuild_token_map() is first
    host = md.all_hosts()[0]
    host.set_location_info("dc1", "elsewhere")
    second = md.rebuild_token_map()
    assert second is not first and md.rebuild_token_map() is second
    host.tokens = (*host.tokens, "123")
    assert md.rebuild_token_map() is not second
    assert md.rebuild_token_map("org.apache.cassandra.dht.OrderPreservingPartitioner") is None
    assert md.token_map is None and md.get_replicas("shop", b"k") == []


def test_metadata_is_the_token_aware_policy_lookup() -> None:
    engine = two_dc_engine()
    md = _metadata_with_hosts(engine)
    md.rebuild_schema(schema_rows(engine))
    md.rebuild_token_map()
    policy = TokenAwarePolicy(RoundRobinPolicy(), shuffle_replicas=False, replicas=md.get_replicas)
    policy.populate(md.all_hosts())

    class Stmt:
        keyspace = "shop"
        routing_key = b"\x00\x00\x00\x2a"

    plan = list(policy.make_query_plan(None, Stmt()))
    replicas = md.get_replicas("shop", Stmt.routing_key)
    assert len(replicas) == 5  # dc1: 2, dc2: 3
    assert plan[:5] == replicas and sorted(map(str, plan)) == sorted(map(str, md.all_hosts()))
    # the simulator places the partition on the same nodes
    assert {h.address for h in replicas} == set(_engine_replicas(engine, "shop",
                                                                 Stmt.routing_key))


def _engine_replicas(engine: Engine, keyspace: str, key: bytes) -> list[str]:
    from greencql.cluster.tokens import TokenRing, murmur3_token, replica_map_for, replicas_of

    nodes = {n.address: n for n in engine.nodes}
    ring = TokenRing({a: n.tokens for a, n in nodes.items()})
    ks = engine.schema.keyspaces[keyspace]
    rmap = replica_map_for(ring, ks.replication, {a: n.dc for a, n in nodes.items()},
                           {a: n.rack for a, n in nodes.items()})
    return replicas_of(ring, rmap, murmur3_token(key))


def test_export_schema_as_string_covers_every_keyspace() -> None:
    engine = three_node_engine()
    md = Metadata()
    md.rebuild_schema(schema_rows(engine))
    text = md.export_schema_as_string()
    assert text.count("CREATE KEYSPACE") == len([k for k in md.keyspaces.values()
                                                 if not k.virtual])
    assert "// VIRTUAL KEYSPACE system_virtual_schema" in text
