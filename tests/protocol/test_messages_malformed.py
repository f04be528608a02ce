"""messages.py: malformed bodies raise ProtocolError subclasses and nothing else.

Every message of a corpus (both directions, every version) is cut at every byte; a byte is
appended (trailing bytes are refused); lengths are made negative; random bytes are decoded.
"""

from __future__ import annotations

import struct
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.errors import (
    MalformedError,
    ProtocolError,
    TruncatedError,
    UnknownOpcode,
    UnsupportedProtocolVersion,
)
from greencql.protocol import types as T
from greencql.protocol.constants import BatchType, ConsistencyLevel, Opcode, WriteType
from greencql.protocol.messages import (
    AuthChallenge,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    Batch,
    BatchChild,
    ErrorResponse,
    Execute,
    Options,
    Prepare,
    PreparedResult,
    Query,
    QueryParameters,
    Ready,
    Register,
    RowsResult,
    SchemaChangeEvent,
    SchemaChangeResult,
    SetKeyspaceResult,
    Startup,
    StatusChangeEvent,
    Supported,
    TopologyChangeEvent,
    VoidResult,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    request_flags,
)
from greencql.protocol.rows import ColumnSpec, PreparedMetadata, ResultMetadata
from greencql.protocol.wire import UNSET

VERSIONS = (3, 4, 5)
COLS = (ColumnSpec("ks", "t", "k", T.INT), ColumnSpec("ks", "t2", "v", T.TEXT))


def requests(version: int):
    unset = (UNSET,) if version >= 4 else ()
    v5 = version >= 5
    payload = {"p": b"x"} if version >= 4 else None
    return [
        Startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "lz4"}),
        AuthResponse(b"\x00u\x00p"),
        Options(),
        Register(("STATUS_CHANGE", "SCHEMA_CHANGE")),
        Query(
            "SELECT * FROM t",
            QueryParameters(
                ConsistencyLevel.QUORUM,
                (b"1", None, *unset),
                skip_metadata=True,
                page_size=10,
                paging_state=b"ps",
                serial_consistency=ConsistencyLevel.SERIAL,
                timestamp=99,
                keyspace="ks" if v5 else None,
                now_in_seconds=5 if v5 else None,
            ),
            custom_payload=payload,
        ),
        Query("q", QueryParameters(ConsistencyLevel.ONE, {"a": b"1", "b": None})),
        Prepare("SELECT 1", "ks" if v5 else None),
        Execute(b"id", QueryParameters(ConsistencyLevel.ONE, (b"",)), b"md" if v5 else None),
        Batch(
            BatchType.COUNTER,
            (BatchChild("query", "UPDATE", (b"1",)), BatchChild("prepared", b"id", ())),
            ConsistencyLevel.ALL,
            ConsistencyLevel.LOCAL_SERIAL,
            1,
            "ks" if v5 else None,
            3 if v5 else None,
        ),
    ]


def responses(version: int):
    v5 = version >= 5
    prefix = {"warnings": ("w",), "custom_payload": {"a": b"b"}} if version >= 4 else {}
    return [
        ErrorResponse(0x1000, "m", {"consistency": 1, "required_replicas": 2, "alive_replicas": 1}),
        ErrorResponse(
            0x1100,
            "m",
            {
                "consistency": 8,
                "received_responses": 0,
                "required_responses": 1,
                "write_type": WriteType.CAS,
                "contentions": 2 if v5 else None,
            },
        ),
        ErrorResponse(
            0x1300,
            "m",
            {
                "consistency": 1,
                "received_responses": 0,
                "required_responses": 1,
                "failures": 1,
                "error_code_map": {"10.0.0.1": 0} if v5 else None,
                "data_retrieved": True,
            },
        ),
        ErrorResponse(0x1400, "m", {"keyspace": "k", "function": "f", "arg_types": ("int",)}),
        ErrorResponse(0x2400, "m", {"keyspace": "k", "table": "t"}),
        ErrorResponse(0x2500, "m", {"statement_id": b"id"}),
        Ready(tracing_id=uuid.uuid4(), **prefix),
        Authenticate("A"),
        Supported({"COMPRESSION": ["lz4"]}),
        VoidResult(),
        RowsResult(ResultMetadata.of(COLS, paging_state=b"p"), [(1, "a"), (None, None)]),
        SetKeyspaceResult("ks"),
        PreparedResult(
            b"id",
            b"md" if v5 else None,
            PreparedMetadata.of(COLS, (0,) if version >= 4 else ()),
            ResultMetadata.of(COLS),
        ),
        SchemaChangeResult("CREATED", "FUNCTION", "ks", "f", ("int",)),
        TopologyChangeEvent("NEW_NODE", ("10.0.0.1", 9042)),
        StatusChangeEvent("UP", ("::1", 9042)),
        SchemaChangeEvent("UPDATED", "TABLE", "ks", "t"),
        AuthChallenge(b"c"),
        AuthSuccess(None),
    ]


@pytest.mark.parametrize("version", VERSIONS)
def test_requests_truncated_at_every_cut_and_with_trailing_bytes(version):
    for msg in requests(version):
        body = encode_request(msg, version)
        flags = request_flags(msg)
        assert decode_request(msg.opcode, body, version, flags) == msg
        for cut in range(len(body)):
            with pytest.raises(ProtocolError):
                decode_request(msg.opcode, body[:cut], version, flags)
        with pytest.raises(MalformedError, match="trailing"):
            decode_request(msg.opcode, body + b"\x00", version, flags)


@pytest.mark.parametrize("version", VERSIONS)
def test_responses_truncated_at_every_cut_and_with_trailing_bytes(version):
    for msg in responses(version):
        flags, body = encode_response(msg, version)
        assert decode_response(msg.opcode, flags, body, version) == msg
        for cut in range(len(body)):
            with pytest.raises(ProtocolError):
                decode_response(msg.opcode, flags, body[:cut], version)
        with pytest.raises(MalformedError, match="trailing"):
            decode_response(msg.opcode, flags, body + b"\x00", version)


def test_negative_lengths():
    neg = struct.pack(">i", -5)
    with pytest.raises(MalformedError):  # [long string] query
        decode_request(Opcode.QUERY, neg + b"\x00\x01\x00", 4)
    with pytest.raises(MalformedError):  # [value] of -3
        decode_request(
            Opcode.QUERY,
            struct.pack(">i", 1) + b"q" + b"\x00\x01\x01\x00\x01" + neg[:0] + struct.pack(">i", -3),
            4,
        )
    with pytest.raises(MalformedError):  # v5 reason map of -1 entries
        body = (
            struct.pack(">i", 0x1300)
            + b"\x00\x01m"
            + b"\x00\x01"
            + struct.pack(">ii", 0, 1)
            + struct.pack(">i", -1)
            + b"\x00"
        )
        decode_response(Opcode.ERROR, 0, body, 5)
    with pytest.raises(MalformedError):  # rows count
        decode_response(
            Opcode.RESULT,
            0,
            struct.pack(">iii", 2, 4, 0) + struct.pack(">i", -1),
            4,
            ResultMetadata.of(()),
        )


def test_unknown_opcodes_and_versions():
    with pytest.raises(UnknownOpcode):
        decode_response(Opcode.QUERY, 0, b"", 4)
    with pytest.raises(UnknownOpcode):
        decode_response(0x04, 0, b"", 4)
    with pytest.raises(UnknownOpcode):
        decode_request(Opcode.RESULT, b"", 4)
    with pytest.raises(UnsupportedProtocolVersion):
        decode_response(Opcode.READY, 0, b"", 2)
    with pytest.raises(UnsupportedProtocolVersion):
        encode_request(Options(), 6)


def test_bad_enumerations():
    with pytest.raises(MalformedError):  # batch type 3
        decode_request(Opcode.BATCH, b"\x03\x00\x00\x00\x01\x00", 4)
    with pytest.raises(MalformedError):  # batch child kind 2
        decode_request(Opcode.BATCH, b"\x00\x00\x01\x02", 4)
    with pytest.raises(MalformedError):  # inet of 5 bytes
        decode_response(
            Opcode.EVENT, 0, b"\x00\x0dSTATUS_CHANGE\x00\x02UP\x05abcde\x00\x00\x00\x01", 4
        )
    with pytest.raises(MalformedError):  # invalid UTF-8
        decode_response(Opcode.AUTHENTICATE, 0, b"\x00\x01\xff", 4)
    with pytest.raises(TruncatedError):
        decode_response(Opcode.AUTHENTICATE, 0, b"\x00\x05ab", 4)


def _corpus():
    out = []
    for version in VERSIONS:
        for msg in requests(version):
            out.append(
                ("req", version, msg.opcode, request_flags(msg), encode_request(msg, version))
            )
        for msg in responses(version):
            flags, body = encode_response(msg, version)
            out.append(("resp", version, msg.opcode, flags, body))
    return out


CORPUS = _corpus()


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(CORPUS),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_mutated_bodies_raise_protocol_errors_only(item, mutations):
    direction, version, opcode, flags, body = item
    data = bytearray(body)
    for pos, value in mutations:
        if data:
            data[pos % len(data)] = value
    try:
        if direction == "req":
            decode_request(opcode, bytes(data), version, flags)
        else:
            decode_response(opcode, flags, bytes(data), version)
    except ProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([3, 4, 5]),
    st.sampled_from(sorted(set(Opcode))),
    st.integers(0, 0x1F),
    st.binary(max_size=64),
)
def test_random_bodies_raise_protocol_errors_only(version, opcode, flags, body):
    for decode in (
        lambda: decode_request(opcode, body, version, flags),
        lambda: decode_response(opcode, flags, body, version),
    ):
        try:
            decode()
        except ProtocolError:
            pass
