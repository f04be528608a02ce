"""system_schema rows as a real Cassandra 4.0.13 stores them (reference section 6), so that
cassandra-driver's and greencql's ``export_as_string()`` reproduce what the user created:
LCS's bloom_filter_fp_chance default, COMPACT STORAGE kept (flags {} and the trailing
``WITH COMPACT STORAGE``), cdc null, zstd's chunk_length_in_kb, extensions {} (not null),
quoted index targets of case-sensitive columns.

cassandra-driver's SchemaParserV4 reads the engine's tables through a stand-in connection
(as test_engine_driver_metadata does); greencql's metadata reads them from a SimCluster.
"""

from __future__ import annotations

import uuid

import pytest
from cassandra import metadata as dmeta
from test_engine_driver_metadata import _FakeConnection

from greencql import Cluster
from greencql.testing.cluster import SimCluster
from greencql.testing.engine import Engine, NodeInfo

DDL = (
    "CREATE KEYSPACE sch WITH replication = {'class': 'SimpleStrategy', "
    "'replication_factor': 1}",
    "CREATE TABLE sch.lcs (k int PRIMARY KEY, v text) WITH compaction = "
    "{'class': 'LeveledCompactionStrategy'}",
    "CREATE TABLE sch.compact (k int PRIMARY KEY, v int) WITH COMPACT STORAGE",
    "CREATE TABLE sch.dense (k int, c int, v int, PRIMARY KEY (k, c)) WITH COMPACT STORAGE",
    "CREATE TABLE sch.only_key (k int, c int, PRIMARY KEY (k, c)) WITH COMPACT STORAGE",
    "CREATE TABLE sch.cdc (k int PRIMARY KEY, v int) WITH cdc = true",
    "CREATE TABLE sch.zstd (k int PRIMARY KEY, v int) WITH compression = "
    "{'class': 'ZstdCompressor', 'chunk_length_in_kb': 64}",
    'CREATE TABLE sch.quoted (k int PRIMARY KEY, "Value" text)',
    'CREATE INDEX quoted_idx ON sch.quoted ("Value")',
)


@pytest.fixture
def engine() -> Engine:
    e = Engine([NodeInfo("127.0.0.1", uuid.UUID(int=1), (0,))])
    for ddl in DDL:
        e.execute(ddl)
    return e


def _table_row(e: Engine, name: str) -> dict:
    r = e.execute(f"SELECT * FROM system_schema.tables WHERE keyspace_name = 'sch' AND "
                  f"table_name = '{name}'")
    (row,) = r.rows
    return dict(zip(r.column_names, row, strict=True))


def test_rows_as_4_0_stores_them(engine: Engine) -> None:
    assert _table_row(engine, "lcs")["bloom_filter_fp_chance"] == 0.1
    assert _table_row(engine, "cdc")["bloom_filter_fp_chance"] == 0.01
    compact = _table_row(engine, "compact")
    assert compact["flags"] == set()
    assert _table_row(engine, "dense")["flags"] == {"dense"}
    assert _table_row(engine, "cdc")["cdc"] is None
    assert _table_row(engine, "zstd")["compression"] == {
        "chunk_length_in_kb": "64", "class": "org.apache.cassandra.io.compress.ZstdCompressor"}
    assert compact["extensions"] == {}
    (target,), = engine.execute("SELECT options FROM system_schema.indexes WHERE "
                                "keyspace_name = 'sch'").rows
    assert target == {"target": '"Value"'}


def test_cassandra_driver_export_reproduces_the_ddl(engine: Engine) -> None:
    parser = dmeta.get_schema_parser(_FakeConnection(engine, "127.0.0.1"), "4.0.13", None, 5.0)
    ks = {k.name: k for k in parser.get_all_keyspaces()}["sch"]
    compact = ks.tables["compact"].export_as_string()
    assert compact.startswith("CREATE TABLE sch.compact (\n    k int PRIMARY KEY,\n    v int\n"
                              ") WITH COMPACT STORAGE")
    assert list(ks.tables["compact"].columns) == ["k", "v"]
    assert "bloom_filter_fp_chance = 0.1" in ks.tables["lcs"].export_as_string()
    quoted = ks.tables["quoted"].export_as_string()
    assert 'CREATE INDEX quoted_idx ON sch.quoted ("Value");' in quoted


def test_greencql_export_reproduces_the_ddl(hub) -> None:
    with SimCluster(1, port=0, hub=hub) as sim:
        for ddl in DDL:
            sim.engine.execute(ddl)
        c = Cluster(sim.contact_points[:1], port=sim.port, hub=sim.hub)
        try:
            c.connect()
            ks = c.metadata.keyspaces["sch"]
            compact = ks.tables["compact"].export_as_string()
            assert "WITH COMPACT STORAGE" in compact
            assert list(ks.tables["compact"].columns) == ["k", "v"]
            assert "bloom_filter_fp_chance = 0.1" in ks.tables["lcs"].export_as_string()
            assert 'ON sch.quoted ("Value")' in ks.tables["quoted"].export_as_string()
            only_key = ks.tables["only_key"].export_as_string()
            assert "WITH COMPACT STORAGE" in only_key and "value" not in only_key
        finally:
            c.shutdown()


def test_speculative_retry_as_4_0_stores_it(engine: Engine) -> None:
    engine.execute("CREATE TABLE sch.sr (k int PRIMARY KEY) WITH speculative_retry = "
                   "'99PERCENTILE' AND additional_write_policy = 'NONE'")
    row = _table_row(engine, "sr")
    assert (row["speculative_retry"], row["additional_write_policy"]) == ("99p", "NEVER")
    engine.execute("ALTER TABLE sch.sr WITH speculative_retry = '25ms'")
    assert _table_row(engine, "sr")["speculative_retry"] == "25ms"
    from greencql.errors import ConfigurationException

    with pytest.raises(ConfigurationException):
        engine.execute("ALTER TABLE sch.sr WITH speculative_retry = 'sometimes'")


def test_nts_replication_factor_expands_to_every_dc() -> None:
    e = Engine([NodeInfo("127.0.0.1", uuid.UUID(int=1), (0,)),
                NodeInfo("127.0.0.2", uuid.UUID(int=2), (1,), dc="dc2")])
    e.execute("CREATE KEYSPACE nts WITH replication = {'class': 'NetworkTopologyStrategy', "
              "'replication_factor': 1, 'dc2': 1}")
    (repl,), = e.execute("SELECT replication FROM system_schema.keyspaces WHERE "
                         "keyspace_name = 'nts'").rows
    assert repl == {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy",
                    "datacenter1": "1", "dc2": "1"}
