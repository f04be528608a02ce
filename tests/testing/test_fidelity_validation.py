"""No false passes: what a real Cassandra 4.0.13 refuses, the simulated engine refuses too.

Each case is a fact of /work/shared/reference/cassandra-4.0-behaviour.md section 2 (and the
4.0 rule behind it): the error class, its code and, where the server's text is known, the
exact message. Engine-level, no IO.
"""

from __future__ import annotations

import uuid

import pytest

from greencql.errors import ConfigurationException, InvalidRequest, SyntaxException
from greencql.testing.engine import Engine, NodeInfo, Rows

NOW = 1_700_000_000.0


@pytest.fixture
def e() -> Engine:
    eng = Engine([NodeInfo("127.0.0.1", uuid.UUID(int=1), (0,))])
    eng.execute("CREATE KEYSPACE ks WITH replication = {'class': 'SimpleStrategy', "
                "'replication_factor': 1}", now=NOW)
    for ddl in (
        "CREATE TABLE kv (k text PRIMARY KEY, v int)",
        "CREATE TABLE t (k int, c1 int, c2 text, v int, PRIMARY KEY (k, c1, c2))",
        "CREATE TABLE ck (k int, c text, v int, PRIMARY KEY (k, c))",
        "CREATE TABLE ctr (k int PRIMARY KEY, n counter)",
        "CREATE TABLE coll (k int PRIMARY KEY, l list<int>, fl frozen<list<int>>, "
        "m map<text, int>, u uuid)",
    ):
        eng.execute(ddl, keyspace="ks", now=NOW)
    return eng


def run(e: Engine, q: str, *values):
    return e.execute(q, keyspace="ks", values=list(values) if values else None, now=NOW)


def refused(e: Engine, q: str, cls: type = InvalidRequest, message: str | None = None,
            code: int | None = None):
    with pytest.raises(cls) as info:
        run(e, q)
    if message is not None:
        assert info.value.message == message
    if code is not None:
        assert info.value.error_code == code
    return info.value


# -- keys ----------------------------------------------------------------------------------


def test_key_longer_than_65535_bytes(e: Engine) -> None:
    big = "x" * 70000
    msg = "Key length of 70000 is longer than maximum of 65535"
    refused(e, f"INSERT INTO kv (k, v) VALUES ('{big}', 1)", message=msg, code=0x2200)
    refused(e, f"UPDATE kv SET v = 1 WHERE k = '{big}'", message=msg)
    refused(e, f"SELECT * FROM kv WHERE k = '{big}'", message=msg)
    # a clustering value too
    refused(e, f"INSERT INTO ck (k, c, v) VALUES (1, '{big}', 1)", message=msg)
    refused(e, f"UPDATE ck SET v = 1 WHERE k = 1 AND c = '{big}'", message=msg)
    # bound values are checked the same way
    with pytest.raises(InvalidRequest, match=msg):
        run(e, "INSERT INTO kv (k, v) VALUES (?, ?)", big, 1)
    # 65535 is fine
    run(e, f"INSERT INTO kv (k, v) VALUES ('{'y' * 65535}', 1)")


def test_empty_partition_key(e: Engine) -> None:
    msg = "Key may not be empty"
    refused(e, "INSERT INTO kv (k, v) VALUES ('', 1)", message=msg)
    refused(e, "UPDATE kv SET v = 1 WHERE k = ''", message=msg)
    refused(e, "DELETE FROM kv WHERE k = ''", message=msg)
    refused(e, "SELECT * FROM kv WHERE k = ''", message=msg)
    with pytest.raises(InvalidRequest, match=msg):
        run(e, "INSERT INTO kv (k, v) VALUES (?, ?)", "", 1)
    # an empty clustering value is a value
    run(e, "INSERT INTO ck (k, c, v) VALUES (1, '', 1)")


# -- contradictory restrictions --------------------------------------------------------------


def test_more_than_one_relation_with_an_equal(e: Engine) -> None:
    refused(e, "SELECT * FROM t WHERE k = 1 AND k = 2",
            message="k cannot be restricted by more than one relation if it includes an Equal")
    refused(e, "SELECT * FROM t WHERE k = 1 AND c1 = 1 AND c1 = 2",
            message="c1 cannot be restricted by more than one relation if it includes an Equal")
    refused(e, "SELECT * FROM t WHERE k = 1 AND c1 = 1 AND c1 > 0",
            message="c1 cannot be restricted by more than one relation if it includes an Equal")
    refused(e, "SELECT * FROM t WHERE k IN (1, 2) AND k = 1",
            message="k cannot be restricted by more than one relation if it includes a IN")
    refused(e, "DELETE FROM t WHERE k = 1 AND k = 2",
            message="k cannot be restricted by more than one relation if it includes an Equal")
    refused(e, "SELECT * FROM t WHERE v = 1 AND v = 2 ALLOW FILTERING",
            message="v cannot be restricted by more than one relation if it includes an Equal")


def test_slices_take_one_bound_each(e: Engine) -> None:
    refused(e, "SELECT * FROM t WHERE k = 1 AND c1 > 1 AND c1 > 2",
            message="More than one restriction was found for the start bound on c1")
    refused(e, "SELECT * FROM t WHERE k = 1 AND c1 < 1 AND c1 <= 2",
            message="More than one restriction was found for the end bound on c1")
    refused(e, "SELECT * FROM t WHERE k = 1 AND c1 > 1 AND c1 = 2",
            message='Column "c1" cannot be restricted by both an equality and an inequality '
                    "relation")
    # one start and one end bound are a range
    assert isinstance(run(e, "SELECT * FROM t WHERE k = 1 AND c1 > 1 AND c1 < 5"), Rows)


def test_not_equal_is_no_where_relation(e: Engine) -> None:
    refused(e, "SELECT * FROM t WHERE k = 1 AND v != 1 ALLOW FILTERING",
            message='Unsupported "!=" relation: v != 1')


def test_in_on_a_non_primary_key_column(e: Engine) -> None:
    run(e, "CREATE INDEX ON t (v)")
    refused(e, "SELECT * FROM t WHERE v IN (1, 2)",
            message="IN predicates on non-primary-key columns (v) is not yet supported")
    refused(e, "SELECT * FROM t WHERE v IN (1, 2) ALLOW FILTERING",
            message="IN predicates on non-primary-key columns (v) is not yet supported")


# -- schema DDL 4.0 refuses ----------------------------------------------------------------------


def test_network_topology_with_an_unknown_data_center(e: Engine) -> None:
    refused(e, "CREATE KEYSPACE nts WITH replication = {'class': 'NetworkTopologyStrategy', "
               "'dc_nowhere': 1}", ConfigurationException,
            "Unrecognized strategy option {dc_nowhere} passed to NetworkTopologyStrategy for "
            "keyspace nts", 0x2300)
    run(e, "CREATE KEYSPACE nts WITH replication = {'class': 'NetworkTopologyStrategy', "
           "'datacenter1': 1}")
    refused(e, "ALTER KEYSPACE nts WITH replication = {'class': 'NetworkTopologyStrategy', "
               "'dc2': 1}", ConfigurationException)


def test_keyspace_names_outside_word_characters(e: Engine) -> None:
    refused(e, "CREATE KEYSPACE \"bad-name\" WITH replication = {'class': 'SimpleStrategy', "
               "'replication_factor': 1}", InvalidRequest,
            "Keyspace name must not be empty, more than 48 characters long, or contain "
            "non-alphanumeric-underscore characters (got 'bad-name')")
    refused(e, "CREATE KEYSPACE " + "k" * 49 + " WITH replication = {'class': "
               "'SimpleStrategy', 'replication_factor': 1}", InvalidRequest)


def test_removed_and_invalid_table_options(e: Engine) -> None:
    refused(e, "CREATE TABLE o1 (k int PRIMARY KEY) WITH dclocal_read_repair_chance = 0.1",
            SyntaxException, "Unknown property 'dclocal_read_repair_chance'")
    refused(e, "CREATE TABLE o1 (k int PRIMARY KEY) WITH read_repair_chance = 0.1",
            SyntaxException)
    refused(e, "CREATE TABLE o1 (k int PRIMARY KEY) WITH default_time_to_live = -1",
            ConfigurationException,
            "default_time_to_live must be greater than or equal to 0 (got -1)", 0x2300)
    refused(e, "ALTER TABLE kv WITH default_time_to_live = -5", ConfigurationException)
    refused(e, "CREATE TABLE o1 (k int PRIMARY KEY) WITH compaction = "
               "{'class': 'NoSuchCompactionStrategy'}", ConfigurationException,
            "Unable to find compaction strategy class 'NoSuchCompactionStrategy'")
    refused(e, "ALTER TABLE kv WITH id = 5a1c395e-b41f-11e5-9f22-ba0be0483c18",
            InvalidRequest, "Cannot alter table id.")
    run(e, "CREATE TABLE o1 (k int PRIMARY KEY) WITH compaction = "
           "{'class': 'LeveledCompactionStrategy'} AND default_time_to_live = 10")


def test_two_primary_key_declarations(e: Engine) -> None:
    refused(e, "CREATE TABLE pk2 (k int PRIMARY KEY, v int, PRIMARY KEY (k))", InvalidRequest,
            "Multiple PRIMARY KEY specified for table 'pk2' (exactly one required)")
    refused(e, "CREATE TABLE pk2 (k int PRIMARY KEY, v int PRIMARY KEY)", InvalidRequest)


def test_index_rules(e: Engine) -> None:
    refused(e, "CREATE CUSTOM INDEX ON kv (v) USING 'org.apache.cassandra.index.sasi.SASIIndex'",
            InvalidRequest, "SASI indexes are disabled. Enable in cassandra.yaml to use.")
    refused(e, "CREATE INDEX ON ctr (n)", InvalidRequest,
            "Secondary indexes on counter tables aren't supported")
    refused(e, "CREATE INDEX ON coll (KEYS(l))", InvalidRequest,
            "Cannot create index on keys of column l with non-map type")
    refused(e, "CREATE INDEX ON coll (fl)", InvalidRequest,
            "Cannot create values() index on frozen column fl. Frozen collections are immutable "
            "and must be fully indexed by using the 'full(fl)' modifier")
    refused(e, "CREATE INDEX ON coll (FULL(l))", InvalidRequest,
            "full() indexes can only be created on frozen collections")
    run(e, "CREATE INDEX ON coll (FULL(fl))")
    run(e, "CREATE INDEX ON coll (KEYS(m))")


def test_re_adding_a_dropped_column_with_another_type(e: Engine) -> None:
    run(e, "ALTER TABLE kv ADD extra text")
    run(e, "ALTER TABLE kv DROP extra")
    refused(e, "ALTER TABLE kv ADD extra int", InvalidRequest,
            "Cannot re-add previously dropped column 'extra' of type int, incompatible with "
            "previous type text")
    run(e, "ALTER TABLE kv ADD extra text")


def test_alter_if_exists_is_41_syntax(e: Engine) -> None:
    refused(e, "ALTER TABLE IF EXISTS kv ADD x int", SyntaxException, code=0x2000)
    refused(e, "ALTER TABLE kv ADD IF NOT EXISTS x int", SyntaxException)
    refused(e, "ALTER KEYSPACE IF EXISTS ks WITH durable_writes = true", SyntaxException)


def test_drop_type_used_by_another_type(e: Engine) -> None:
    run(e, "CREATE TYPE inner_t (a int)")
    run(e, "CREATE TYPE outer_t (i frozen<inner_t>)")
    refused(e, "DROP TYPE inner_t", InvalidRequest,
            "Cannot drop user type 'ks.inner_t' as it is still used by user types outer_t")
    run(e, "CREATE TABLE uses (k int PRIMARY KEY, o frozen<outer_t>)")
    refused(e, "DROP TYPE outer_t", InvalidRequest,
            "Cannot drop user type 'ks.outer_t' as it is still used by tables uses")


# -- writes ------------------------------------------------------------------------------------


def test_string_literal_for_uuid(e: Engine) -> None:
    refused(e, "INSERT INTO coll (k, u) VALUES (1, '123e4567-e89b-12d3-a456-426614174000')",
            InvalidRequest,
            'Invalid STRING constant (123e4567-e89b-12d3-a456-426614174000) for "u" of type uuid')
    run(e, "INSERT INTO coll (k, u) VALUES (1, 123e4567-e89b-12d3-a456-426614174000)")


def test_timestamps_4_0_refuses(e: Engine) -> None:
    refused(e, "UPDATE ctr USING TIMESTAMP 5 SET n = n + 1 WHERE k = 1", InvalidRequest,
            "Cannot provide custom timestamp for counter updates")
    refused(e, "BEGIN BATCH USING TIMESTAMP 5 INSERT INTO kv (k, v) VALUES ('a', 1) "
               "USING TIMESTAMP 6; APPLY BATCH", InvalidRequest,
            "Timestamp must be set either on BATCH or individual statements")
    refused(e, "BEGIN BATCH USING TIMESTAMP 5 INSERT INTO kv (k, v) VALUES ('a', 1) "
               "IF NOT EXISTS; APPLY BATCH", InvalidRequest,
            "Cannot provide custom timestamp for conditional BATCH")
    run(e, "BEGIN BATCH USING TIMESTAMP 5 INSERT INTO kv (k, v) VALUES ('a', 1); APPLY BATCH")
    refused(e, "BEGIN BATCH USING TTL 5 INSERT INTO kv (k, v) VALUES ('a', 1); APPLY BATCH",
            InvalidRequest, "Global TTL on the BATCH statement is not supported.")


def test_create_table_rules_of_4_0(e: Engine) -> None:
    refused(e, "CREATE TABLE d1 (k int PRIMARY KEY, k text)", InvalidRequest,
            "Duplicate column 'k' declaration for table 'd1'")
    refused(e, "CREATE TABLE d1 (k int, v int, PRIMARY KEY (k, nope))", InvalidRequest,
            "Unknown column 'nope' referenced in PRIMARY KEY for table 'd1'")
    refused(e, "CREATE TABLE d1 (k int, c int, PRIMARY KEY (k, k))", InvalidRequest,
            "Duplicate column 'k' in PRIMARY KEY clause for table 'd1'")
    refused(e, "CREATE TABLE d1 (k list<int> PRIMARY KEY)", InvalidRequest,
            "Invalid non-frozen collection type list<int> for PRIMARY KEY column 'k'")
    refused(e, "CREATE TABLE d1 (k int, a int, b int, PRIMARY KEY (k, a, b)) WITH CLUSTERING "
               "ORDER BY (b DESC, a ASC)", InvalidRequest,
            "The order of columns in the CLUSTERING ORDER directive must match that of the "
            "clustering columns (a must appear before b)")
    refused(e, "CREATE TABLE d1 (k int, a int, b int, PRIMARY KEY (k, a, b)) WITH CLUSTERING "
               "ORDER BY (b DESC)", InvalidRequest, "Missing CLUSTERING ORDER for column a")
    refused(e, "CREATE TABLE d1 (k int PRIMARY KEY, n counter) WITH default_time_to_live = 5",
            InvalidRequest, "Cannot set default_time_to_live on a table with counters")
    refused(e, "CREATE TABLE d1 (k int PRIMARY KEY, l list<int>) WITH COMPACT STORAGE",
            InvalidRequest, "Non-frozen collections and UDTs are not supported with COMPACT "
            "STORAGE")
    refused(e, "CREATE TABLE d1 (k int, c int, a int, b int, PRIMARY KEY (k, c)) WITH COMPACT "
               "STORAGE", InvalidRequest, "COMPACT STORAGE with composite PRIMARY KEY allows no "
            "more than one column not part of the PRIMARY KEY (got: a, b)")


def test_alter_table_rules_of_4_0(e: Engine) -> None:
    run(e, "CREATE INDEX v_idx ON kv (v)")
    refused(e, "ALTER TABLE kv DROP v", InvalidRequest,
            "Cannot drop column v because it has dependent secondary indexes (v_idx)")
    refused(e, "ALTER TABLE kv DROP k", InvalidRequest, "Cannot drop PRIMARY KEY column k")
    refused(e, "ALTER TABLE kv DROP nope", InvalidRequest,
            "Column nope was not found in table 'ks.kv'")
    refused(e, "ALTER TABLE kv ALTER v TYPE bigint", InvalidRequest,
            "Altering column types is no longer supported")
    refused(e, "ALTER TABLE ctr WITH default_time_to_live = 5", InvalidRequest,
            "Cannot set default_time_to_live on a table with counters")
    run(e, "CREATE TABLE cs (k int PRIMARY KEY, v int) WITH COMPACT STORAGE")
    refused(e, "ALTER TABLE cs ADD w int", InvalidRequest,
            "Cannot add new column to a COMPACT STORAGE table")
    refused(e, "ALTER TABLE cs DROP COMPACT STORAGE", InvalidRequest,
            "DROP COMPACT STORAGE is disabled. Enable in cassandra.yaml to use.")


def test_schema_statements_name_what_is_missing(e: Engine) -> None:
    refused(e, "CREATE TABLE nosuch.t (k int PRIMARY KEY)", InvalidRequest,
            "Keyspace 'nosuch' doesn't exist")
    refused(e, "CREATE TYPE nosuch.u (a int)", InvalidRequest, "Keyspace 'nosuch' doesn't exist")
    refused(e, "ALTER TABLE nosuch.t ADD v int", InvalidRequest,
            "Table 'nosuch.t' doesn't exist")
    refused(e, "DROP TABLE nosuch.t", InvalidRequest, "Table 'nosuch.t' doesn't exist")
    run(e, "DROP TABLE IF EXISTS nosuch.t")
    refused(e, "DROP TYPE nope", InvalidRequest, "Type 'ks.nope' doesn't exist")
    refused(e, "DROP INDEX nope", InvalidRequest, "Index 'ks.nope' doesn't exist")
    refused(e, "CREATE INDEX ON nope (v)", InvalidRequest, "Table 'nope' doesn't exist")
    run(e, "CREATE TYPE u1 (a int)")
    refused(e, "CREATE TYPE u1 (a int)", InvalidRequest, "A user type with name 'u1' already "
            "exists")
    refused(e, "CREATE TYPE u2 (a int, a text)", InvalidRequest,
            "Duplicate field name 'a' in type 'u2'")


def test_clustering_after_a_slice(e: Engine) -> None:
    refused(e, "SELECT * FROM t WHERE k = 1 AND c1 > 1 AND c2 = 'a'", InvalidRequest,
            'Clustering column "c2" cannot be restricted (preceding column "c1" is restricted '
            "by a non-EQ relation)")
    refused(e, "SELECT * FROM t WHERE k = 1 AND c2 = 'a'", InvalidRequest,
            'PRIMARY KEY column "c2" cannot be restricted as preceding column "c1" is not '
            "restricted")
