"""greencql.cluster.statements: options, binding, routing keys and batches.

Bound values and routing keys are compared byte for byte with cassandra-driver's own
PreparedStatement / BoundStatement / BatchStatement fed the same columns and values.
"""

from __future__ import annotations

import datetime
import pickle
import uuid

import pytest
from cassandra import ConsistencyLevel as DriverCL
from cassandra import cqltypes
from cassandra.protocol import ColumnMetadata as DriverColumn
from cassandra.query import UNSET_VALUE as DRIVER_UNSET
from cassandra.query import BatchStatement as DriverBatch
from cassandra.query import BatchType as DriverBatchType
from cassandra.query import PreparedStatement as DriverPrepared
from cassandra.query import SimpleStatement as DriverSimple
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.cluster import statements as stm
from greencql.cluster.statements import (
    FETCH_SIZE_UNSET,
    UNSET_VALUE,
    BatchEntry,
    BatchStatement,
    BatchType,
    BoundStatement,
    PreparedStatement,
    SimpleStatement,
    Statement,
)
from greencql.protocol import constants, types
from greencql.protocol.constants import ConsistencyLevel
from greencql.protocol.rows import ColumnSpec
from greencql.protocol.wire import UNSET

KS, TABLE = "ks", "tbl"


class _Retry:
    """Stands in for a RetryPolicy (statements only check it looks like one)."""

    def on_read_timeout(self, *args):  # pragma: no cover - never called
        return None


# (our type, cassandra-driver's type, a strategy of values both accept)
_COLUMN_KINDS = {
    "int": (types.INT, cqltypes.Int32Type, st.integers(-(2**31), 2**31 - 1)),
    "bigint": (types.BIGINT, cqltypes.LongType, st.integers(-(2**63), 2**63 - 1)),
    "text": (types.TEXT, cqltypes.UTF8Type, st.text()),
    "blob": (types.BLOB, cqltypes.BytesType, st.binary(max_size=32)),
    "uuid": (types.UUID, cqltypes.UUIDType, st.uuids()),
    "boolean": (types.BOOLEAN, cqltypes.BooleanType, st.booleans()),
    "double": (types.DOUBLE, cqltypes.DoubleType, st.floats(allow_nan=False)),
    "timestamp": (
        types.TIMESTAMP,
        cqltypes.DateType,
        st.datetimes(datetime.datetime(1970, 1, 1), datetime.datetime(2200, 1, 1)).map(
            lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
        ),
    ),
    "list<int>": (
        types.ListType(types.INT),
        cqltypes.ListType.apply_parameters([cqltypes.Int32Type]),
        st.lists(st.integers(-(2**31), 2**31 - 1), max_size=4),
    ),
    "map<text, bigint>": (
        types.MapType(types.TEXT, types.BIGINT),
        cqltypes.MapType.apply_parameters([cqltypes.UTF8Type, cqltypes.LongType]),
        st.dictionaries(st.text(max_size=8), st.integers(-(2**63), 2**63 - 1), max_size=3),
    ),
}


def _prepared_pair(kinds, pk_indexes, protocol_version=4, query="INSERT ..."):
    """Our PreparedStatement and cassandra-driver's, for columns c0, c1, ... of `kinds`."""
    ours = [ColumnSpec(KS, TABLE, f"c{i}", _COLUMN_KINDS[k][0]) for i, k in enumerate(kinds)]
    theirs = [DriverColumn(KS, TABLE, f"c{i}", _COLUMN_KINDS[k][1]) for i, k in enumerate(kinds)]
    mine = PreparedStatement(b"\x01id", query, ours, pk_indexes, KS, protocol_version)
    driver = DriverPrepared(
        theirs, b"\x01id", list(pk_indexes) or None, query, KS, protocol_version, None, None
    )
    return mine, driver


@st.composite
def _rows(draw):
    kinds = draw(st.lists(st.sampled_from(sorted(_COLUMN_KINDS)), min_size=1, max_size=6))
    values = [draw(_COLUMN_KINDS[k][2]) for k in kinds]
    # the partition key: a non-empty subset of the columns, in some order
    pk = draw(st.permutations(range(len(kinds))).map(lambda p: p[: draw(st.integers(1, len(p)))]))
    return kinds, values, list(pk)


# --------------------------------------------------------------------------------------------
# binding and routing keys, against cassandra-driver
# --------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(_rows())
def test_bound_values_and_routing_key_match_cassandra_driver(row):
    kinds, values, pk = row
    mine, driver = _prepared_pair(kinds, pk)
    ours = mine.bind(values)
    theirs = driver.bind(values)
    assert ours.values == theirs.values
    assert ours.routing_key == theirs.routing_key
    assert ours.keyspace == theirs.keyspace == KS
    # by name, too
    named = mine.bind({f"c{i}": v for i, v in enumerate(values)})
    assert named.values == theirs.values
    assert named.routing_key == theirs.routing_key


def test_composite_routing_key_layout():
    mine, _ = _prepared_pair(["int", "text"], [1, 0])
    bound = mine.bind([7, "ab"])
    # text first (index 1), then int: [short len][bytes][0x00] each
    assert bound.routing_key == b"\x00\x02ab\x00" + b"\x00\x04\x00\x00\x00\x07\x00"
    single, _ = _prepared_pair(["int", "text"], [0])
    assert single.bind([7, "ab"]).routing_key == b"\x00\x00\x00\x07"


def test_routing_key_is_none_without_pk_or_with_null_pk():
    mine, _ = _prepared_pair(["int", "text"], [])
    assert mine.routing_key_indexes is None and mine.pk_indexes is None
    assert mine.bind([1, "a"]).routing_key is None
    pk_first, _ = _prepared_pair(["int", "text"], [0])
    assert pk_first.bind([None, "a"]).routing_key is None


def test_explicit_routing_key_wins_and_can_be_deleted():
    mine, _ = _prepared_pair(["int"], [0])
    bound = mine.bind([1])
    bound.routing_key = b"custom"
    assert bound.routing_key == b"custom"
    del bound.routing_key
    assert bound.routing_key == b"\x00\x00\x00\x01"


def test_routing_key_recomputed_after_rebinding():
    mine, _ = _prepared_pair(["int"], [0])
    bound = mine.bind([1])
    assert bound.routing_key == b"\x00\x00\x00\x01"
    bound.bind([2])
    assert bound.routing_key == b"\x00\x00\x00\x02"


@pytest.mark.parametrize("parts", [[b"a"], [b"ab", b""], [b"x" * 300, b"y", b"zz"]])
def test_statement_routing_key_setter_matches_cassandra_driver(parts):
    ours = SimpleStatement("SELECT 1")
    theirs = DriverSimple("SELECT 1")
    ours.routing_key = parts
    theirs.routing_key = parts
    assert ours.routing_key == theirs.routing_key
    ours.routing_key = tuple(parts)
    assert ours.routing_key == theirs.routing_key
    assert SimpleStatement("x", routing_key=parts).routing_key == theirs.routing_key
    ours.routing_key = b"raw"
    assert ours.routing_key == b"raw"


# --------------------------------------------------------------------------------------------
# binding rules
# --------------------------------------------------------------------------------------------


def test_too_many_values_names_the_counts():
    mine, driver = _prepared_pair(["int", "int"], [0])
    with pytest.raises(ValueError, match=r"got 3, expected 2"):
        mine.bind([1, 2, 3])
    with pytest.raises(ValueError, match=r"got 3, expected 2"):
        driver.bind([1, 2, 3])


def test_v4_missing_trailing_values_are_unset():
    mine, driver = _prepared_pair(["int", "int", "text"], [0])
    bound = mine.bind([1])
    assert bound.values == [b"\x00\x00\x00\x01", UNSET, UNSET]
    theirs = driver.bind([1]).values
    assert [v is UNSET for v in bound.values] == [v is DRIVER_UNSET for v in theirs]


def test_v4_unset_in_the_routing_key_is_refused():
    mine, driver = _prepared_pair(["int", "int"], [1])
    with pytest.raises(ValueError, match="routing key 'c1'"):
        mine.bind([1])
    with pytest.raises(ValueError, match="routing key 'c1'"):
        driver.bind([1])
    with pytest.raises(ValueError, match="routing key 'c1'"):
        mine.bind({"c0": 1})
    with pytest.raises(ValueError, match="routing key 'c1'"):
        mine.bind([1, UNSET_VALUE])


def test_v4_mapping_missing_names_are_unset_and_extra_keys_ignored():
    mine, _ = _prepared_pair(["int", "int", "text"], [0])
    bound = mine.bind({"c0": 5, "c2": "x", "nope": 1})
    assert bound.values == [b"\x00\x00\x00\x05", UNSET, b"x"]
    assert bound.raw_values == [5, UNSET, "x"]


def test_no_values_with_no_markers():
    mine, _ = _prepared_pair([], [])
    assert mine.bind(None).values == []
    assert mine.bind(()).values == []
    assert mine.bind({}).values == []


def test_v3_is_strict():
    mine, _ = _prepared_pair(["int", "int"], [0], protocol_version=3)
    with pytest.raises(ValueError, match=r"Too few arguments .*got 1, expected 2"):
        mine.bind([1])
    with pytest.raises(KeyError, match="c1"):
        mine.bind({"c0": 1})
    with pytest.raises(ValueError, match=r"UNSET_VALUE for column 'c1' .* protocol version 3"):
        mine.bind([1, UNSET_VALUE])
    assert mine.bind([1, None]).values == [b"\x00\x00\x00\x01", None]


def test_wrong_type_names_the_column_and_cql_type():
    mine, _ = _prepared_pair(["int", "list<int>"], [0])
    with pytest.raises(TypeError, match=r"'c0'.*\bint\b"):
        mine.bind(["not an int", []])
    with pytest.raises(TypeError, match=r"'c1'.*list<int>"):
        mine.bind([1, "not a list"])


def test_values_must_not_be_a_string():
    mine, _ = _prepared_pair(["text"], [0])
    with pytest.raises(TypeError, match="not str"):
        mine.bind("abc")
    assert mine.bind(iter(["abc"])).values == [b"abc"]


def test_named_markers_bind_by_marker_name():
    # `... WHERE k = :key AND c > :lo AND c < :hi`: the specs carry the marker names
    specs = [
        ColumnSpec(KS, TABLE, "key", types.INT),
        ColumnSpec(KS, TABLE, "lo", types.TEXT),
        ColumnSpec(KS, TABLE, "hi", types.TEXT),
    ]
    ps = PreparedStatement(b"q", "SELECT ... :key :lo :hi", specs, [0], KS)
    bound = ps.bind({"hi": "z", "key": 3, "lo": "a"})
    assert bound.values == [b"\x00\x00\x00\x03", b"a", b"z"]
    # the same column twice (`c > ? AND c < ?`): a mapping gives both the same value
    twice = PreparedStatement(
        b"q",
        "SELECT ... ? ? ?",
        [specs[0], ColumnSpec(KS, TABLE, "c", types.TEXT), ColumnSpec(KS, TABLE, "c", types.TEXT)],
        [0],
        KS,
    )
    assert twice.bind({"key": 1, "c": "m"}).values[1:] == [b"m", b"m"]


def test_pk_indexes_out_of_range_refused():
    with pytest.raises(ValueError, match="out of range"):
        PreparedStatement(b"q", "x", [ColumnSpec(KS, TABLE, "a", types.INT)], [1])


# --------------------------------------------------------------------------------------------
# options
# --------------------------------------------------------------------------------------------


def test_statement_defaults():
    s = SimpleStatement("SELECT * FROM t")
    assert s.query_string == "SELECT * FROM t"
    assert s.consistency_level is None
    assert s.serial_consistency_level is None
    assert s.fetch_size is FETCH_SIZE_UNSET
    assert s.paging_state is None
    assert s.timeout is None
    assert s.retry_policy is None
    assert s.is_idempotent is False
    assert s.keyspace is None
    assert s.custom_payload is None
    assert s.timestamp is None
    assert s.trace is False
    assert s.routing_key is None
    assert isinstance(s, Statement)
    assert repr(s) == '<SimpleStatement query="SELECT * FROM t", consistency=Not Set>'


def test_statement_options_and_validation():
    retry = _Retry()
    s = SimpleStatement(
        "SELECT * FROM t",
        retry_policy=retry,
        consistency_level=DriverCL.LOCAL_QUORUM,  # plain ints are accepted
        serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
        fetch_size=50,
        keyspace="ks2",
        custom_payload={"k": b"v"},
        is_idempotent=True,
        paging_state=b"\x00\x01",
        timeout=2.5,
        timestamp=1_700_000_000_000_000,
        trace=True,
    )
    assert s.consistency_level is ConsistencyLevel.LOCAL_QUORUM
    assert s.serial_consistency_level is ConsistencyLevel.LOCAL_SERIAL
    assert (s.fetch_size, s.keyspace, s.paging_state, s.timeout) == (50, "ks2", b"\x00\x01", 2.5)
    assert s.custom_payload == {"k": b"v"} and s.retry_policy is retry
    assert s.is_idempotent and s.trace and s.timestamp == 1_700_000_000_000_000
    assert "LOCAL_QUORUM" in repr(s)
    with pytest.raises(ValueError, match="SERIAL"):
        SimpleStatement("x", serial_consistency_level=ConsistencyLevel.QUORUM)
    with pytest.raises(ValueError, match="SERIAL"):
        s.serial_consistency_level = ConsistencyLevel.ONE
    del s.serial_consistency_level
    assert s.serial_consistency_level is None
    with pytest.raises(ValueError):
        SimpleStatement("x", consistency_level=99)
    with pytest.raises(ValueError, match="retry_policy"):
        SimpleStatement("x", retry_policy="not a policy")
    with pytest.raises(TypeError, match="timestamp"):
        SimpleStatement("x", timestamp=1.5)
    with pytest.raises(TypeError, match="timestamp"):
        SimpleStatement("x", timestamp=True)
    with pytest.raises(ValueError, match="timeout"):
        SimpleStatement("x", timeout=0)
    with pytest.raises(TypeError, match="query_string"):
        SimpleStatement(b"SELECT 1")


def test_bound_inherits_prepared_defaults_and_overrides_them():
    retry = _Retry()
    ps, _ = _prepared_pair(["int"], [0])
    ps.consistency_level = ConsistencyLevel.QUORUM
    ps.serial_consistency_level = ConsistencyLevel.SERIAL
    ps.fetch_size = 10
    ps.retry_policy = retry
    ps.custom_payload = {"a": b"1"}
    ps.is_idempotent = True
    ps.timeout = 3.0
    b = ps.bind([1])
    assert b.consistency_level is ConsistencyLevel.QUORUM
    assert b.serial_consistency_level is ConsistencyLevel.SERIAL
    assert (b.fetch_size, b.retry_policy, b.custom_payload, b.is_idempotent, b.timeout) == (
        10,
        retry,
        {"a": b"1"},
        True,
        3.0,
    )
    assert b.prepared_statement is ps
    o = BoundStatement(
        ps,
        consistency_level=ConsistencyLevel.ONE,
        fetch_size=None,
        is_idempotent=False,
        timeout=1.0,
        timestamp=5,
        trace=True,
        keyspace="other",
    ).bind([2])
    assert o.consistency_level is ConsistencyLevel.ONE
    assert o.fetch_size is None and o.is_idempotent is False and o.timeout == 1.0
    assert o.timestamp == 5 and o.trace and o.keyspace == "other"
    assert "values=<1 bound>" in repr(o) and "2" not in repr(o).split("values=")[1]
    with pytest.raises(ValueError, match="SERIAL"):
        ps.serial_consistency_level = ConsistencyLevel.ALL


def test_bound_keyspace_falls_back_to_prepared_keyspace():
    ps = PreparedStatement(b"q", "SELECT now() FROM system.local", [], None, keyspace="ks9")
    assert ps.bind(None).keyspace == "ks9"
    assert PreparedStatement(b"q", "x").bind(None).keyspace is None


def test_from_prepared_result():
    from greencql.protocol.messages import PreparedResult
    from greencql.protocol.rows import PreparedMetadata, ResultMetadata

    cols = [ColumnSpec(KS, TABLE, "k", types.INT), ColumnSpec(KS, TABLE, "v", types.TEXT)]
    result = PreparedResult(
        query_id=b"\xaa\xbb",
        result_metadata_id=b"\x01",
        bind_metadata=PreparedMetadata.of(cols, [0]),
        result_metadata=ResultMetadata.of(cols),
    )
    ps = PreparedStatement.from_result(result, "SELECT k, v FROM ks.tbl WHERE k = ?", None, 5)
    assert ps.query_id == b"\xaa\xbb" and ps.result_metadata_id == b"\x01"
    assert ps.column_metadata == tuple(cols) and ps.routing_key_indexes == (0,)
    assert ps.result_metadata.columns == tuple(cols)
    assert ps.protocol_version == 5
    assert ps.bind([1, "x"]).routing_key == b"\x00\x00\x00\x01"
    assert "SELECT k, v" in repr(ps)


def test_reexports():
    assert UNSET_VALUE is UNSET
    assert BatchType is constants.BatchType
    assert pickle.loads(pickle.dumps(FETCH_SIZE_UNSET)) is FETCH_SIZE_UNSET
    assert repr(FETCH_SIZE_UNSET) == "FETCH_SIZE_UNSET"
    for name in stm.__all__:
        assert hasattr(stm, name)


# --------------------------------------------------------------------------------------------
# batches
# --------------------------------------------------------------------------------------------


def test_batch_entries_match_cassandra_driver():
    mine_ps, driver_ps = _prepared_pair(["int", "text"], [0])
    ours = BatchStatement(BatchType.UNLOGGED, consistency_level=ConsistencyLevel.ONE)
    theirs = DriverBatch(DriverBatchType.UNLOGGED, consistency_level=DriverCL.ONE)
    u = uuid.UUID(int=42)
    for batch, ps, simple in ((ours, mine_ps, SimpleStatement), (theirs, driver_ps, DriverSimple)):
        batch.add("INSERT INTO t (a, b) VALUES (%s, %s)", (1, "it's"))
        batch.add("DELETE FROM t WHERE a = 1")
        batch.add(simple("UPDATE t SET u = %s WHERE a = %s"), [u, 2])
        batch.add(ps, (3, "x"))
        batch.add(ps.bind([4, None]))
    assert ours._statements_and_parameters == theirs._statements_and_parameters
    assert len(ours) == ours.size() == 5
    assert ours.batch_type is BatchType.UNLOGGED
    assert ours.routing_key == theirs.routing_key == b"\x00\x00\x00\x03"
    assert ours.keyspace == theirs.keyspace == KS
    entry = ours.entries[3]
    assert isinstance(entry, BatchEntry) and entry.prepared_statement is mine_ps
    assert entry == (True, b"\x01id", [b"\x00\x00\x00\x03", b"x"], mine_ps)
    assert ours.entries[0].prepared_statement is None
    assert repr(ours) == "<BatchStatement type=UNLOGGED, statements=5, consistency=ONE>"


def test_batch_type_from_cassandra_driver_and_ints():
    assert BatchStatement().batch_type is BatchType.LOGGED
    assert BatchStatement(DriverBatchType.COUNTER).batch_type is BatchType.COUNTER
    assert BatchStatement(1).batch_type is BatchType.UNLOGGED
    with pytest.raises(ValueError):
        BatchStatement(7)


def test_batch_refuses_parameters_with_bound_and_unknown_statements():
    ps, _ = _prepared_pair(["int"], [0])
    batch = BatchStatement()
    with pytest.raises(ValueError, match="BoundStatement"):
        batch.add(ps.bind([1]), [2])
    with pytest.raises(TypeError, match="BatchStatement"):
        batch.add(BatchStatement())
    with pytest.raises(TypeError, match="not enough parameters"):
        batch.add("INSERT INTO t (a, b) VALUES (%s, %s)", [1])
    assert len(batch) == 0


def test_batch_add_all_and_clear():
    ps, _ = _prepared_pair(["int"], [0])
    batch = BatchStatement(custom_payload={"x": b"1"})
    given_payload = {"y": b"2"}
    ps.custom_payload = given_payload
    batch.add_all(["DELETE FROM t WHERE a = %s", ps], [(1,), [2]])
    assert [e.is_prepared for e in batch.entries] == [False, True]
    assert batch.entries[0].statement == "DELETE FROM t WHERE a = 1"
    assert batch.custom_payload == {"x": b"1", "y": b"2"}
    assert given_payload == {"y": b"2"}  # merged into a copy
    with pytest.raises(ValueError):
        batch.add_all(["a", "b"], [None])
    batch.clear()
    assert len(batch) == 0 and batch.routing_key is None and batch.keyspace is None
    assert not batch.custom_payload


def test_batch_with_session_encoder():
    from greencql.cluster.literals import Encoder

    class Money:
        cents = 250

    enc = Encoder()
    enc.mapping[Money] = lambda m: str(m.cents)

    class _Session:
        encoder = enc

    batch = BatchStatement(session=_Session())
    batch.add("UPDATE t SET price = %s WHERE k = 1", (Money(),))
    assert batch.entries[0].statement == "UPDATE t SET price = 250 WHERE k = 1"


def test_batch_size_limit():
    batch = BatchStatement(BatchType.UNLOGGED)
    for _ in range(stm.MAX_BATCH_STATEMENTS):
        batch.add("DELETE FROM t WHERE a = 1")
    with pytest.raises(ValueError, match="more than 65535"):
        batch.add("DELETE FROM t WHERE a = 1")


def test_batch_options():
    batch = BatchStatement(
        serial_consistency_level=ConsistencyLevel.SERIAL,
        keyspace="ks3",
        is_idempotent=True,
        timeout=4.0,
        timestamp=123,
        trace=True,
    )
    assert batch.serial_consistency_level is ConsistencyLevel.SERIAL
    assert (batch.keyspace, batch.is_idempotent, batch.timeout) == ("ks3", True, 4.0)
    assert batch.timestamp == 123 and batch.trace
    assert batch.fetch_size is FETCH_SIZE_UNSET
