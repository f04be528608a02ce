"""messages.py, requests: byte-exact against cassandra-driver's encoders, both directions.

cassandra-driver's ``send_body`` (and ``ProtocolHandler.encode_message`` for custom payloads)
produce the reference bytes; ``encode_request`` must produce the same, and ``decode_request``
must read cassandra-driver's bytes back into the message we started from. Flags
cassandra-driver cannot produce (skip_metadata, now_in_seconds, named values) are checked
against bodies written by hand from the spec.
"""

from __future__ import annotations

import io
import struct

import pytest
from cassandra.protocol import (
    _UNSET_VALUE,
    AuthResponseMessage,
    BatchMessage,
    ExecuteMessage,
    OptionsMessage,
    PrepareMessage,
    QueryMessage,
    RegisterMessage,
    StartupMessage,
    _ProtocolHandler,
)
from cassandra.query import BatchType as CassBatchType
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.errors import MalformedError, UnsupportedOperation
from greencql.protocol.constants import BatchType, ConsistencyLevel, HeaderFlag, Opcode
from greencql.protocol.messages import (
    AuthResponse,
    Batch,
    BatchChild,
    Execute,
    Options,
    Prepare,
    Query,
    QueryParameters,
    Register,
    Startup,
    decode_request,
    encode_request,
    request_flags,
)
from greencql.protocol.wire import UNSET

VERSIONS = (3, 4, 5)


def cass_body(msg, version: int) -> bytes:
    f = io.BytesIO()
    msg.send_body(f, version)
    return f.getvalue()


def cass_frame(msg, version: int) -> tuple[int, bytes]:
    """(header flags, body) as cassandra-driver frames the message (custom payload, tracing)."""
    frame = _ProtocolHandler.encode_message(msg, 0, version, None, False)
    return frame[1], frame[9:]


def to_cass_values(values):
    return None if values is None else [_UNSET_VALUE if v is UNSET else v for v in values]


def check(ours, theirs, version: int) -> None:
    body = encode_request(ours, version)
    assert body == cass_body(theirs, version)
    assert decode_request(ours.opcode, body, version) == ours


# -- fixed cases ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_startup(version):
    options = {"COMPRESSION": "lz4", "DRIVER_NAME": "greencql", "DRIVER_VERSION": "0.1"}
    theirs = StartupMessage(cqlversion="3.0.0", options=options)
    ours = Startup({**options, "CQL_VERSION": "3.0.0"})  # cassandra-driver appends CQL_VERSION
    check(ours, theirs, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_options_register_auth_response(version):
    check(Options(), OptionsMessage(), version)
    events = ("TOPOLOGY_CHANGE", "STATUS_CHANGE", "SCHEMA_CHANGE")
    check(Register(events), RegisterMessage(event_list=list(events)), version)
    check(
        AuthResponse(b"\x00cassandra\x00cassandra"),
        AuthResponseMessage(b"\x00cassandra\x00cassandra"),
        version,
    )
    check(AuthResponse(b""), AuthResponseMessage(b""), version)


def test_auth_response_null_token():
    body = encode_request(AuthResponse(None), 4)
    assert body == struct.pack(">i", -1)
    assert decode_request(Opcode.AUTH_RESPONSE, body, 4) == AuthResponse(None)


@pytest.mark.parametrize("version", VERSIONS)
def test_query_all_driver_flags(version):
    params = QueryParameters(
        ConsistencyLevel.LOCAL_QUORUM,
        values=(b"\x00\x00\x00\x01", None, b""),
        page_size=5000,
        paging_state=b"\x01\x02state",
        serial_consistency=ConsistencyLevel.LOCAL_SERIAL,
        timestamp=1_700_000_000_000_000,
        keyspace="ks" if version >= 5 else None,
    )
    theirs = QueryMessage(
        "SELECT * FROM t WHERE k = ?",
        ConsistencyLevel.LOCAL_QUORUM,
        serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
        fetch_size=5000,
        paging_state=b"\x01\x02state",
        timestamp=1_700_000_000_000_000,
        keyspace="ks" if version >= 5 else None,
    )
    theirs.query_params = list(params.values)
    check(Query("SELECT * FROM t WHERE k = ?", params), theirs, version)


@pytest.mark.parametrize("version", (4, 5))
def test_execute_with_unset(version):
    params = QueryParameters(ConsistencyLevel.ONE, values=(b"a", UNSET, None))
    theirs = ExecuteMessage(
        b"\x12\x34", [b"a", _UNSET_VALUE, None], ConsistencyLevel.ONE, result_metadata_id=b"\x99"
    )
    check(Execute(b"\x12\x34", params, b"\x99" if version >= 5 else None), theirs, version)


@pytest.mark.parametrize("version", VERSIONS)
def test_prepare(version):
    check(Prepare("SELECT 1"), PrepareMessage("SELECT 1"), version)


def test_prepare_with_keyspace_v5():
    check(Prepare("SELECT 1", keyspace="ks"), PrepareMessage("SELECT 1", keyspace="ks"), 5)
    body = encode_request(Prepare("SELECT 1", keyspace="ks"), 5)
    assert body.endswith(struct.pack(">i", 1) + b"\x00\x02ks")
    for version in (3, 4):
        with pytest.raises(UnsupportedOperation, match="v5"):
            encode_request(Prepare("SELECT 1", keyspace="ks"), version)


@pytest.mark.parametrize("version", VERSIONS)
def test_batch(version):
    children = (
        BatchChild("query", "INSERT INTO t (k) VALUES (?)", (b"\x00\x00\x00\x01",)),
        BatchChild("prepared", b"\xab\xcd", (None, b"x")),
        BatchChild("query", "DELETE FROM t WHERE k = 1"),
    )
    ks = "ks" if version >= 5 else None
    ours = Batch(
        BatchType.UNLOGGED,
        children,
        ConsistencyLevel.QUORUM,
        serial_consistency=ConsistencyLevel.SERIAL,
        timestamp=12345,
        keyspace=ks,
    )
    theirs = BatchMessage(
        CassBatchType.UNLOGGED,
        [
            (False, "INSERT INTO t (k) VALUES (?)", [b"\x00\x00\x00\x01"]),
            (True, b"\xab\xcd", [None, b"x"]),
            (False, "DELETE FROM t WHERE k = 1", []),
        ],
        ConsistencyLevel.QUORUM,
        serial_consistency_level=ConsistencyLevel.SERIAL,
        timestamp=12345,
        keyspace=ks,
    )
    check(ours, theirs, version)


@pytest.mark.parametrize("version", (4, 5))
def test_custom_payload_and_tracing_flags(version):
    payload = {"k1": b"v1", "k2": b""}
    theirs = QueryMessage("SELECT 1", ConsistencyLevel.ONE)
    theirs.custom_payload = payload
    theirs.tracing = True
    their_flags, their_body = cass_frame(theirs, version)
    ours = Query(
        "SELECT 1", QueryParameters(ConsistencyLevel.ONE), custom_payload=payload, tracing=True
    )
    assert request_flags(ours) == their_flags == HeaderFlag.CUSTOM_PAYLOAD | HeaderFlag.TRACING
    body = encode_request(ours, version)
    assert body == their_body
    assert decode_request(Opcode.QUERY, body, version, flags=their_flags) == ours


def test_custom_payload_refused_in_v3():
    with pytest.raises(UnsupportedOperation, match="v4"):
        encode_request(Options(custom_payload={"a": b"b"}), 3)


# -- flags cassandra-driver cannot write, checked against hand-built bodies -----------------------


def _hand_query_body(flags: int, tail: bytes, version: int, query: bytes = b"SELECT 1") -> bytes:
    head = struct.pack(">i", len(query)) + query + struct.pack(">H", ConsistencyLevel.ONE)
    flag_bytes = struct.pack(">i", flags) if version >= 5 else bytes([flags])
    return head + flag_bytes + tail


@pytest.mark.parametrize("version", VERSIONS)
def test_skip_metadata_and_named_values(version):
    params = QueryParameters(
        ConsistencyLevel.ONE, values={"a": b"\x01", "b": None}, skip_metadata=True
    )
    expected = _hand_query_body(
        0x01 | 0x02 | 0x40,
        b"\x00\x02" + b"\x00\x01a" + b"\x00\x00\x00\x01\x01" + b"\x00\x01b" + b"\xff\xff\xff\xff",
        version,
    )
    ours = Query("SELECT 1", params)
    assert encode_request(ours, version) == expected
    assert decode_request(Opcode.QUERY, expected, version) == ours


def test_v5_keyspace_and_now_in_seconds():
    params = QueryParameters(
        ConsistencyLevel.ONE, timestamp=7, keyspace="ks", now_in_seconds=1_700_000_000
    )
    expected = _hand_query_body(
        0x20 | 0x80 | 0x100,
        struct.pack(">q", 7) + b"\x00\x02ks" + struct.pack(">i", 1_700_000_000),
        5,
    )
    ours = Query("SELECT 1", params)
    assert encode_request(ours, 5) == expected
    assert decode_request(Opcode.QUERY, expected, 5) == ours
    for version in (3, 4):
        with pytest.raises(UnsupportedOperation, match="v5"):
            encode_request(ours, version)
        with pytest.raises(UnsupportedOperation, match="v5"):
            encode_request(Query("x", QueryParameters(1, now_in_seconds=1)), version)


def test_unset_refused_in_v3_both_directions():
    msg = Query("x", QueryParameters(ConsistencyLevel.ONE, values=(UNSET,)))
    with pytest.raises(UnsupportedOperation, match="UNSET"):
        encode_request(msg, 3)
    with pytest.raises(UnsupportedOperation, match="UNSET"):
        encode_request(Query("x", QueryParameters(1, values={"a": UNSET})), 3)
    with pytest.raises(UnsupportedOperation, match="UNSET"):
        encode_request(Batch(0, (BatchChild("query", "x", (UNSET,)),), 1), 3)
    body = encode_request(msg, 4)
    with pytest.raises(MalformedError, match="UNSET"):
        decode_request(Opcode.QUERY, body[:-5] + bytes([body[-5]]) + body[-4:], 3)


def test_execute_v5_needs_result_metadata_id():
    with pytest.raises(ValueError, match="result_metadata_id"):
        encode_request(Execute(b"id", QueryParameters(1)), 5)
    # v3/v4 do not carry it: ignored
    assert encode_request(Execute(b"id", QueryParameters(1), b"md"), 4) == encode_request(
        Execute(b"id", QueryParameters(1)), 4
    )


def test_batch_named_values_refused_both_ways():
    with pytest.raises(UnsupportedOperation, match="10246"):
        encode_request(Batch(0, (BatchChild("query", "x", {"a": b"1"}),), 1), 4)  # type: ignore[arg-type]
    body = encode_request(Batch(0, (BatchChild("query", "x", (b"1",)),), 1), 4)
    with pytest.raises(MalformedError, match="10246"):
        decode_request(Opcode.BATCH, body[:-1] + b"\x40", 4)


def test_batch_v5_flags_are_an_int():
    ours = Batch(BatchType.LOGGED, (), ConsistencyLevel.ONE, now_in_seconds=5, keyspace="k")
    body = encode_request(ours, 5)
    assert body == b"\x00\x00\x00" + b"\x00\x01" + struct.pack(
        ">i", 0x180
    ) + b"\x00\x01k" + struct.pack(">i", 5)
    assert decode_request(Opcode.BATCH, body, 5) == ours


def test_unknown_flags_refused():
    for version, flags in ((4, 0x80), (3, 0x80), (5, 0x200)):
        with pytest.raises(MalformedError, match="unknown"):
            decode_request(Opcode.QUERY, _hand_query_body(flags, b"", version), version)


def test_register_unknown_event_refused():
    body = encode_request(Register(("TOPOLOGY_CHANGE",)), 4)
    with pytest.raises(MalformedError):
        decode_request(Opcode.REGISTER, body.replace(b"TOPOLOGY", b"TOPOLOGX"), 4)
    with pytest.raises(ValueError):
        encode_request(Register(("NOPE",)), 4)


# -- hypothesis: random flags and values, against cassandra-driver --------------------------------

consistencies = st.sampled_from(list(ConsistencyLevel))


def values_strategy(version: int):
    value = st.one_of(st.binary(max_size=12), st.none())
    if version >= 4:
        value = st.one_of(value, st.just(UNSET))
    return st.one_of(st.none(), st.lists(value, max_size=6).map(tuple))


@st.composite
def query_params(draw, version: int):
    return QueryParameters(
        draw(consistencies),
        values=draw(values_strategy(version)),
        page_size=draw(st.one_of(st.none(), st.integers(1, 2**31 - 1))),
        paging_state=draw(st.one_of(st.none(), st.binary(min_size=1, max_size=20))),
        serial_consistency=draw(
            st.one_of(
                st.none(), st.sampled_from([ConsistencyLevel.SERIAL, ConsistencyLevel.LOCAL_SERIAL])
            )
        ),
        timestamp=draw(st.one_of(st.none(), st.integers(0, 2**63 - 1))),
        keyspace=draw(st.one_of(st.none(), st.text(min_size=1, max_size=8)))
        if version >= 5
        else None,
    )


@settings(max_examples=150, deadline=None)
@given(data=st.data(), version=st.sampled_from(VERSIONS), query=st.text(max_size=30))
def test_query_and_execute_match_driver(data, version, query):
    p = data.draw(query_params(version))
    common = dict(
        serial_consistency_level=p.serial_consistency,
        fetch_size=p.page_size,
        paging_state=p.paging_state,
        timestamp=p.timestamp,
    )
    theirs = QueryMessage(query, p.consistency, keyspace=p.keyspace, **common)
    theirs.query_params = to_cass_values(p.values)
    check(Query(query, p), theirs, version)

    query_id = data.draw(st.binary(min_size=1, max_size=16))
    md_id = data.draw(st.binary(min_size=1, max_size=16)) if version >= 5 else None
    p = QueryParameters(**{**p.__dict__, "keyspace": None})  # cassandra-driver: no EXECUTE keyspace
    theirs = ExecuteMessage(
        query_id,
        to_cass_values(p.values) if p.values is not None else None,
        p.consistency,
        result_metadata_id=md_id,
        **common,
    )
    check(Execute(query_id, p, md_id), theirs, version)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), version=st.sampled_from(VERSIONS))
def test_batch_matches_driver(data, version):
    value = st.one_of(st.binary(max_size=8), st.none(), *([st.just(UNSET)] if version >= 4 else []))
    child = st.one_of(
        st.builds(
            BatchChild,
            st.just("query"),
            st.text(max_size=20),
            st.lists(value, max_size=4).map(tuple),
        ),
        st.builds(
            BatchChild,
            st.just("prepared"),
            st.binary(min_size=1, max_size=8),
            st.lists(value, max_size=4).map(tuple),
        ),
    )
    children = tuple(data.draw(st.lists(child, max_size=5)))
    batch_type = data.draw(st.sampled_from(list(BatchType)))
    cl = data.draw(consistencies)
    serial = data.draw(st.one_of(st.none(), st.just(ConsistencyLevel.LOCAL_SERIAL)))
    timestamp = data.draw(st.one_of(st.none(), st.integers(0, 2**63 - 1)))  # driver: unsigned
    keyspace = (
        data.draw(st.one_of(st.none(), st.text(min_size=1, max_size=8))) if version >= 5 else None
    )
    ours = Batch(batch_type, children, cl, serial, timestamp, keyspace)
    cass_type = {0: CassBatchType.LOGGED, 1: CassBatchType.UNLOGGED, 2: CassBatchType.COUNTER}[
        batch_type
    ]
    theirs = BatchMessage(
        cass_type,
        [(c.kind == "prepared", c.query_or_id, to_cass_values(c.values)) for c in children],
        cl,
        serial_consistency_level=serial,
        timestamp=timestamp,
        keyspace=keyspace,
    )
    check(ours, theirs, version)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), version=st.sampled_from(VERSIONS))
def test_round_trip_every_flag(data, version):
    """Our own round trip over the flags cassandra-driver cannot write (skip_metadata, names,
    now_in_seconds, empty values, custom payloads)."""
    p = data.draw(query_params(version))
    named = data.draw(st.booleans())
    values = p.values
    if named and values is not None:
        values = {f"v{i}": v for i, v in enumerate(values)}
    p = QueryParameters(
        **{
            **p.__dict__,
            "values": values,
            "skip_metadata": data.draw(st.booleans()),
            "now_in_seconds": data.draw(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)))
            if version >= 5
            else None,
        }
    )
    payload = (
        data.draw(
            st.one_of(
                st.none(),
                st.dictionaries(
                    st.text(max_size=5), st.one_of(st.none(), st.binary(max_size=5)), max_size=3
                ),
            )
        )
        if version >= 4
        else None
    )
    for msg in (
        Query("q", p, custom_payload=payload),
        Execute(b"i", p, b"m" if version >= 5 else None),
    ):
        body = encode_request(msg, version)
        assert decode_request(msg.opcode, body, version, request_flags(msg)) == msg
