"""messages.py, requests: byte-exact against cassandra-driver's encoders, both directions.

cassandra-driver's ``send_body`` (and ``ProtocolHandler.encode_message`` for custom payloads)
produce the reference bytes; ``encode_request`` must produce the same, and ``decode_request``
must read cassandra-driver's bytes back into the message we started from. Flags
cassandra-driver cannot produce (skip_metadata, now_in_seconds, named values) are checked
against bodies written by hand from the spec.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import io
import pickle
import struct
from collections.abc import Sequence

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
from hypothesis import event, given, settings
from hypothesis import strategies as st

from greencql.errors import MalformedError, UnsupportedOperation, UnsupportedProtocolVersion
from greencql.protocol import messages
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


# -- the fast path of QUERY / EXECUTE against the generic encoder ---------------------------------
#
# encode_request encodes QUERY and EXECUTE with a one-pass encoder (_fast_statement) and leaves
# the rare shapes and every refused input to the generic encoder (_encode_request_generic), the
# reference. These tests hold the two to the same bytes and the same errors; the tests above
# hold both to cassandra-driver's bytes.


def _outcome(fn, *args):
    """('ok', bytes) or ('raise', exception type, message)."""
    try:
        return ("ok", fn(*args))
    except Exception as exc:
        return ("raise", type(exc), str(exc))


def _fast_only(msg, version):
    return messages._fast_statement(msg, version)


def _generic(msg, version):
    return messages._encode_request_generic(msg, version)


# valid values of every kind the fast path accepts, bytes-likes and long values included
def fast_value(version: int):
    return st.one_of(
        st.binary(max_size=12),
        st.none(),
        *([st.just(UNSET)] if version >= 4 else []),
        st.binary(max_size=12).map(bytearray),
        st.binary(max_size=12).map(memoryview),
        st.integers(1020, 1030).map(lambda n: b"v" * n),  # around the length-prefix table's end
    )


# what encode_request must refuse exactly as the generic encoder does
odd_value = st.one_of(st.just(UNSET), st.text(max_size=3), st.integers(), st.just([1, 2]))


@st.composite
def any_params(draw, version: int, *, valid: bool):
    """QueryParameters over every flag that ``version`` has; with valid=False, sometimes an
    out-of-range or wrong-typed field or a field the version does not have."""

    def bad() -> bool:
        return not valid and draw(st.integers(0, 19)) == 0

    def maybe(strategy, bad_strategy=None):
        if bad_strategy is not None and bad():
            return draw(bad_strategy)
        return draw(st.one_of(st.none(), strategy))

    raw = draw(st.lists(fast_value(version), max_size=6))
    if raw and bad():
        raw[draw(st.integers(0, len(raw) - 1))] = draw(odd_value)
    values_kind = draw(st.sampled_from(["none", "list", "tuple", "list", "tuple", "dict", "seq"]))
    values = {
        "none": None,
        "list": raw,
        "tuple": tuple(raw),
        "dict": {f"v{i}": v for i, v in enumerate(raw)},
        "seq": _SeqOf(raw),
    }[values_kind]
    v5 = version >= 5 or bad()
    return QueryParameters(
        draw(st.integers(-2, 0x1_0001)) if bad() else draw(consistencies),
        values=values,
        skip_metadata=draw(st.sampled_from([False, True, 0, 1])),
        page_size=maybe(st.integers(-(2**31), 2**31 - 1), st.just(2**31)),
        paging_state=maybe(st.binary(max_size=20), st.just("state")),
        serial_consistency=maybe(
            st.sampled_from([ConsistencyLevel.SERIAL, ConsistencyLevel.LOCAL_SERIAL]),
            st.sampled_from([-1, 0x10000]),
        ),
        timestamp=maybe(st.integers(-(2**63), 2**63 - 1), st.just(2**63)),
        keyspace=maybe(st.text(min_size=1, max_size=8), st.just("\ud800")) if v5 else None,
        now_in_seconds=maybe(st.integers(-(2**31), 2**31 - 1), st.just(2**31)) if v5 else None,
    )


class _SeqOf(Sequence):
    """A Sequence that is neither list nor tuple (goes the generic way)."""

    def __init__(self, items):
        self._items = list(items)

    def __len__(self):
        return len(self._items)

    def __getitem__(self, i):
        return self._items[i]


def _statement(data, p):
    if data.draw(st.booleans()):
        return Query(data.draw(st.text(max_size=30)), p)
    md_id = data.draw(st.sampled_from([None, b"\x99", b"md-id"]))
    return Execute(data.draw(st.binary(max_size=16)), p, md_id)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), version=st.sampled_from((3, 4, 5, 3, 4, 5, 2, 6)), valid=st.booleans())
def test_encode_request_same_as_generic(data, version, valid):
    """Same bytes, or the same exception with the same message, whatever the message."""
    p = data.draw(any_params(min(max(version, 3), 5), valid=valid))
    msg = _statement(data, p)
    if data.draw(st.integers(0, 9)) == 0:
        payload = data.draw(st.dictionaries(st.text(max_size=4), st.binary(max_size=4), max_size=2))
        msg = dataclasses.replace(msg, custom_payload=payload, tracing=data.draw(st.booleans()))
    ours = _outcome(encode_request, msg, version)
    assert ours == _outcome(_generic, msg, version)
    fast = msg.custom_payload is None and _outcome(_fast_only, msg, version)[0] == "ok"
    event(f"{ours[0]}, {'fast path' if fast else 'generic path'}")


def _as_decoded(msg, version):
    """``msg`` as decode_request gives it back (tuples of bytes, a bool, no v3/v4 md id)."""
    p = msg.params
    values = p.values
    if values is not None:
        values = tuple(bytes(v) if isinstance(v, bytearray | memoryview) else v for v in values)
    p = dataclasses.replace(p, values=values, skip_metadata=bool(p.skip_metadata))
    if isinstance(msg, Execute) and version < 5:
        return dataclasses.replace(msg, params=p, result_metadata_id=None)
    return dataclasses.replace(msg, params=p)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), version=st.sampled_from(VERSIONS))
def test_fast_path_covers_common_shapes(data, version):
    """Positional values in a list or tuple (or none) with every flag, in every version: the
    fast encoder itself, not a fallback, gives the generic encoder's bytes."""
    p = data.draw(any_params(version, valid=True))
    if isinstance(p.values, dict):
        p = dataclasses.replace(p, values=list(p.values.values()))
    elif isinstance(p.values, _SeqOf):
        p = dataclasses.replace(p, values=tuple(p.values))
    msg = _statement(data, p)
    if version >= 5 and isinstance(msg, Execute) and msg.result_metadata_id is None:
        msg = dataclasses.replace(msg, result_metadata_id=b"md")
    body = _fast_only(msg, version)
    assert body == _generic(msg, version)
    assert decode_request(msg.opcode, body, version) == _as_decoded(msg, version)


@pytest.mark.parametrize("make", [lambda p: Query("q", p), lambda p: Execute(b"id", p, b"md")])
@pytest.mark.parametrize("version", VERSIONS)
def test_fast_path_keeps_validation(make, version):
    """What the generic encoder refuses, encode_request refuses the same way."""
    cases = [
        (QueryParameters(1, values=[None] * 0x10000), ValueError, "65535"),
        (QueryParameters(1, values=(None,) * 0x10000), ValueError, "65535"),
        (QueryParameters(0x10000), ValueError, "short"),
        (QueryParameters(-1), ValueError, "short"),
        (QueryParameters(1, serial_consistency=0x10000), ValueError, "short"),
    ]
    if version < 4:
        cases.append((QueryParameters(1, values=[b"a", UNSET]), UnsupportedOperation, "UNSET"))
    if version < 5:
        cases.append((QueryParameters(1, keyspace="ks"), UnsupportedOperation, "v5"))
        cases.append((QueryParameters(1, now_in_seconds=1), UnsupportedOperation, "v5"))
    for p, exc, match in cases:
        with pytest.raises(exc, match=match):
            encode_request(make(p), version)
    # still encodable right at the limit
    body = encode_request(make(QueryParameters(1, values=[None] * 0xFFFF)), version)
    assert body == _generic(make(QueryParameters(1, values=[None] * 0xFFFF)), version)


def test_fast_path_refuses_what_it_does_not_cover():
    """Named values and a custom payload are the generic encoder's; so is a bad version."""
    with pytest.raises(messages._Generic):
        _fast_only(Query("q", QueryParameters(1, values={"a": b"1"})), 4)
    for version in (2, 6):
        with pytest.raises(UnsupportedProtocolVersion):
            encode_request(Query("q", QueryParameters(1)), version)
    with pytest.raises(ValueError, match="65535"):
        encode_request(Execute(b"x" * 0x10000, QueryParameters(1)), 4)
    with pytest.raises(ValueError, match="result_metadata_id"):
        encode_request(Execute(b"id", QueryParameters(1)), 5)
    with pytest.raises(UnsupportedOperation, match="v4"):
        encode_request(Query("q", QueryParameters(1), custom_payload={}), 3)
    assert encode_request(Query("q", QueryParameters(1), custom_payload={}), 4).startswith(
        b"\x00\x00"
    )


# -- the hand-written __init__ of QueryParameters, Query and Execute ------------------------------


@pytest.mark.parametrize("cls", [QueryParameters, Query, Execute])
def test_hand_written_init_matches_the_fields(cls):
    """Same parameters (names, order, defaults, keyword-only) as the dataclass would generate,
    and every field in the instance __dict__."""
    params = list(inspect.signature(cls).parameters.values())
    fields = [f for f in dataclasses.fields(cls) if f.init]
    # the generated __init__ puts keyword-only fields after the positional ones
    expected = [f for f in fields if not f.kw_only] + [f for f in fields if f.kw_only]
    assert [p.name for p in params] == [f.name for f in expected]
    for p, f in zip(params, expected, strict=True):
        assert p.kind == (
            inspect.Parameter.KEYWORD_ONLY if f.kw_only else inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        assert p.default == (
            inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        )


def test_hand_written_init_keeps_the_dataclass_behaviour():
    p = QueryParameters(ConsistencyLevel.ONE, values=(b"1",), page_size=10)
    assert vars(p) == {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
    assert p == QueryParameters(ConsistencyLevel.ONE, (b"1",), False, 10)
    assert hash(p) == hash(QueryParameters(ConsistencyLevel.ONE, (b"1",), page_size=10))
    assert p != QueryParameters(ConsistencyLevel.ONE, values=(b"1",))
    assert repr(p).startswith("QueryParameters(consistency=<ConsistencyLevel.ONE: 1>, values=")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.page_size = 1  # type: ignore[misc]
    q = Execute(b"id", p, custom_payload={"a": b"b"}, tracing=True)
    assert (q.query_id, q.params, q.result_metadata_id, q.custom_payload, q.tracing) == (
        b"id",
        p,
        None,
        {"a": b"b"},
        True,
    )
    with pytest.raises(TypeError):
        Execute(b"id", p, None, {"a": b"b"})  # custom_payload is keyword-only
    with pytest.raises(TypeError):
        QueryParameters()  # consistency is required
    assert pickle.loads(pickle.dumps(q)) == q
    assert copy.deepcopy(q) == q
    assert dataclasses.replace(p, page_size=None) == QueryParameters(ConsistencyLevel.ONE, (b"1",))
    assert Query("q", p) == Query(query="q", params=p) != Query("q", p, tracing=True)
