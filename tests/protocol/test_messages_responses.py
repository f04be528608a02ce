"""messages.py, responses: ours encode -> cassandra-driver decodes; hand-built bodies -> ours.

cassandra-driver has no response encoders, so every response we encode is decoded by its
``ProtocolHandler.decode_message`` (the Cython handler and the pure-Python one), and our
decoder reads bodies written by hand from the spec (struct.pack, no greencql code). ERROR
codes are compared field by field with cassandra-driver's ErrorMessage ``info``.
"""

from __future__ import annotations

import dataclasses
import inspect
import ipaddress
import pickle
import struct
import uuid

import cassandra
import pytest
from cassandra.protocol import ProtocolHandler, _ProtocolHandler
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql import errors
from greencql.errors import MalformedError, UnsupportedOperation
from greencql.protocol import types as T
from greencql.protocol.constants import ConsistencyLevel, HeaderFlag, Opcode, RowsFlag, WriteType
from greencql.protocol.messages import (
    AuthChallenge,
    Authenticate,
    AuthSuccess,
    ErrorResponse,
    PreparedResult,
    Ready,
    RowsResult,
    SchemaChangeEvent,
    SchemaChangeResult,
    SetKeyspaceResult,
    StatusChangeEvent,
    Supported,
    TopologyChangeEvent,
    VoidResult,
    decode_response,
    encode_response,
)
from greencql.protocol.rows import ColumnSpec, PreparedMetadata, ResultMetadata

VERSIONS = (3, 4, 5)
HANDLERS = pytest.mark.parametrize(
    "handler", [ProtocolHandler, _ProtocolHandler], ids=["cython", "pure"]
)


def cass_decode(handler, msg, version, result_metadata=None):
    flags, body = encode_response(msg, version)
    return handler.decode_message(version, {}, 0, flags, msg.opcode, body, None, result_metadata)


def round_trip(msg, version, result_metadata=None):
    flags, body = encode_response(msg, version)
    return decode_response(msg.opcode, flags, body, version, result_metadata)


# -- hand-built notation, straight from the spec --------------------------------------------------


def s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack(">H", len(raw)) + raw


def i(n: int) -> bytes:
    return struct.pack(">i", n)


def sh(n: int) -> bytes:
    return struct.pack(">H", n)


def sl(*items: str) -> bytes:
    return sh(len(items)) + b"".join(s(x) for x in items)


def inet(addr: str, port: int | None = None) -> bytes:
    packed = ipaddress.ip_address(addr).packed
    return bytes([len(packed)]) + packed + (i(port) if port is not None else b"")


# -- simple responses -----------------------------------------------------------------------------


@HANDLERS
@pytest.mark.parametrize("version", VERSIONS)
def test_simple_responses_decoded_by_driver(handler, version):
    assert type(cass_decode(handler, Ready(), version)).__name__ == "ReadyMessage"
    auth = cass_decode(
        handler, Authenticate("org.apache.cassandra.auth.PasswordAuthenticator"), version
    )
    assert auth.authenticator == "org.apache.cassandra.auth.PasswordAuthenticator"
    options = {
        "CQL_VERSION": ["3.4.7"],
        "COMPRESSION": ["lz4", "snappy"],
        "PROTOCOL_VERSIONS": ["3/v3", "4/v4", "5/v5"],
    }
    sup = cass_decode(handler, Supported(options), version)
    assert sup.cql_versions == ["3.4.7"]
    assert sup.options == {k: v for k, v in options.items() if k != "CQL_VERSION"}
    assert cass_decode(handler, AuthChallenge(b"\x01\x02"), version).challenge == b"\x01\x02"
    assert cass_decode(handler, AuthSuccess(b"done"), version).token == "done"


@pytest.mark.parametrize("version", VERSIONS)
def test_simple_responses_from_hand_built_bodies(version):
    assert decode_response(Opcode.READY, 0, b"", version) == Ready()
    assert decode_response(Opcode.AUTHENTICATE, 0, s("X"), version) == Authenticate("X")
    body = sh(2) + s("CQL_VERSION") + sl("3.4.7") + s("COMPRESSION") + sl("lz4", "snappy")
    assert decode_response(Opcode.SUPPORTED, 0, body, version) == Supported(
        {"CQL_VERSION": ["3.4.7"], "COMPRESSION": ["lz4", "snappy"]}
    )
    assert decode_response(Opcode.AUTH_CHALLENGE, 0, i(3) + b"abc", version) == AuthChallenge(
        b"abc"
    )
    assert decode_response(Opcode.AUTH_SUCCESS, 0, i(-1), version) == AuthSuccess(None)


# -- the body prefix: tracing id, warnings, custom payload ----------------------------------------


@HANDLERS
@pytest.mark.parametrize("version", (4, 5))
def test_prefix_tracing_warnings_payload(handler, version):
    trace = uuid.UUID("12345678-1234-5678-1234-567812345678")
    msg = VoidResult(
        tracing_id=trace,
        warnings=("Aggregation query used without partition key",),
        custom_payload={"k": b"v"},
    )
    theirs = cass_decode(handler, msg, version)
    assert theirs.trace_id == trace
    assert theirs.warnings == ["Aggregation query used without partition key"]
    assert theirs.custom_payload == {"k": b"v"}
    flags, body = encode_response(msg, version)
    assert flags == HeaderFlag.TRACING | HeaderFlag.WARNING | HeaderFlag.CUSTOM_PAYLOAD
    hand = (
        trace.bytes
        + sl("Aggregation query used without partition key")
        + sh(1)
        + s("k")
        + i(1)
        + b"v"
        + i(1)
    )
    assert body == hand
    assert decode_response(Opcode.RESULT, flags, hand, version) == msg


def test_prefix_each_flag_alone_and_v3_refusals():
    trace = uuid.uuid4()
    assert round_trip(Ready(tracing_id=trace), 3) == Ready(tracing_id=trace)
    assert round_trip(Ready(warnings=("w",)), 4) == Ready(warnings=("w",))
    assert round_trip(Ready(custom_payload={"a": None}), 4) == Ready(custom_payload={"a": None})
    with pytest.raises(UnsupportedOperation):
        encode_response(Ready(warnings=("w",)), 3)
    with pytest.raises(UnsupportedOperation):
        encode_response(Ready(custom_payload={}), 3)
    # compression and beta flags do not announce a prefix
    assert (
        decode_response(Opcode.READY, HeaderFlag.COMPRESSION | HeaderFlag.USE_BETA, b"", 5)
        == Ready()
    )


# -- ERROR, every code ----------------------------------------------------------------------------

CL = ConsistencyLevel.LOCAL_QUORUM


def error_cases(version: int):
    """(ErrorResponse, hand-built body after code+message, cassandra-driver info or None)."""
    v5 = version >= 5
    reasons = {"127.0.0.2": 1, "::1": 2}
    reason_bytes = i(2) + inet("127.0.0.2") + sh(1) + inet("::1") + sh(2)
    rf_fields = dict(
        consistency=CL,
        received_responses=1,
        required_responses=2,
        failures=2 if v5 else 3,
        error_code_map=reasons if v5 else None,
    )
    cases = [
        (0x0000, {}, b""),
        (0x000A, {}, b""),
        (0x0100, {}, b""),
        (0x1000, dict(consistency=CL, required_replicas=3, alive_replicas=1), sh(6) + i(3) + i(1)),
        (0x1001, {}, b""),
        (0x1002, {}, b""),
        (0x1003, {}, b""),
        (
            0x1100,
            dict(
                consistency=CL,
                received_responses=1,
                required_responses=2,
                write_type=WriteType.BATCH_LOG,
                contentions=None,
            ),
            sh(6) + i(1) + i(2) + s("BATCH_LOG"),
        ),
        (
            0x1100,
            dict(
                consistency=ConsistencyLevel.SERIAL,
                received_responses=0,
                required_responses=2,
                write_type=WriteType.CAS,
                contentions=4 if v5 else None,
            ),
            sh(8) + i(0) + i(2) + s("CAS") + (sh(4) if v5 else b""),
        ),
        (
            0x1200,
            dict(consistency=CL, received_responses=1, required_responses=2, data_retrieved=True),
            sh(6) + i(1) + i(2) + b"\x01",
        ),
        (
            0x1300,
            {**rf_fields, "data_retrieved": False},
            sh(6) + i(1) + i(2) + (reason_bytes if v5 else i(3)) + b"\x00",
        ),
        (
            0x1400,
            dict(keyspace="ks", function="f", arg_types=("int", "text")),
            s("ks") + s("f") + sl("int", "text"),
        ),
        (
            0x1500,
            {**rf_fields, "write_type": WriteType.SIMPLE},
            sh(6) + i(1) + i(2) + (reason_bytes if v5 else i(3)) + s("SIMPLE"),
        ),
        (0x1600, {}, b""),
        (
            0x1700,
            dict(consistency=CL, received_responses=1, required_responses=2),
            sh(6) + i(1) + i(2),
        ),
        (0x2000, {}, b""),
        (0x2100, {}, b""),
        (0x2200, {}, b""),
        (0x2300, {}, b""),
        (0x2400, dict(keyspace="ks", table="t"), s("ks") + s("t")),
        (0x2400, dict(keyspace="ks", table=""), s("ks") + s("")),
        (0x2500, dict(statement_id=b"\xde\xad"), sh(2) + b"\xde\xad"),
    ]
    return cases


def _cass_info_as_ours(code, info):
    if not isinstance(info, dict):
        return info
    out = dict(info)
    if "write_type" in out:
        out["write_type"] = cassandra.WriteType.value_to_name[out["write_type"]]
    if "arg_types" in out:
        out["arg_types"] = tuple(out["arg_types"])
    return out


@HANDLERS
@pytest.mark.parametrize("version", VERSIONS)
def test_errors_decoded_by_driver(handler, version):
    for code, fields, _ in error_cases(version):
        msg = ErrorResponse(code, f"message for {code:#x}", fields)
        theirs = cass_decode(handler, msg, version)
        assert theirs.code == code and theirs.message == f"message for {code:#x}"
        info = _cass_info_as_ours(code, theirs.info)
        if code == 0x2500:
            assert info == fields["statement_id"]
        elif fields:
            expected = {k: (v.value if isinstance(v, WriteType) else v) for k, v in fields.items()}
            expected.pop("contentions", None)  # cassandra-driver 3.30 does not read v5 contentions
            if code == 0x1700:
                assert info is None  # cassandra-driver has no class for CAS_WRITE_UNKNOWN
            else:
                assert info == expected


@pytest.mark.parametrize("version", VERSIONS)
def test_errors_from_hand_built_bodies(version):
    for code, fields, extra in error_cases(version):
        body = i(code) + s("boom") + extra
        ours = decode_response(Opcode.ERROR, 0, body, version)
        assert ours == ErrorResponse(code, "boom", fields)
        assert encode_response(ours, version) == (0, body)
        # every field the exception class names is present, and nothing else
        assert set(ours.fields) == set(errors.server_error_class(code).field_names)
        exc = ours.to_exception()
        assert isinstance(exc, errors.server_error_class(code))
        assert exc.message == "boom"
        for name, value in fields.items():
            assert getattr(exc, name) == value
        assert pickle.loads(pickle.dumps(exc)).fields == exc.fields


def test_error_exception_classes():
    assert isinstance(ErrorResponse(0x0100, "x").to_exception(), errors.AuthenticationFailed)
    assert ErrorResponse(0x1200, "x").exception_class is errors.ReadTimeout
    exc = ErrorResponse(0x2500, "x", {"statement_id": b"1"}).to_exception()
    assert isinstance(exc, errors.Unprepared) and exc.statement_id == b"1"
    unknown = ErrorResponse(0x7777, "new code").to_exception()
    assert type(unknown) is errors.ServerException and unknown.error_code == 0x7777
    assert "7777" in str(unknown)


def test_unknown_error_code_with_extra_bytes_is_malformed():
    # code and message alone are fine (a generic ServerException) ...
    assert decode_response(Opcode.ERROR, 0, i(0x7777) + s("m"), 4).code == 0x7777
    # ... but unknown extra fields cannot be skipped safely
    with pytest.raises(MalformedError):
        decode_response(Opcode.ERROR, 0, i(0x7777) + s("m") + b"\x00", 4)


# -- RESULT ---------------------------------------------------------------------------------------

COLS = (
    ColumnSpec("ks", "t", "k", T.INT),
    ColumnSpec("ks", "t", "v", T.TEXT),
)


@HANDLERS
@pytest.mark.parametrize("version", VERSIONS)
def test_results_decoded_by_driver(handler, version):
    assert cass_decode(handler, VoidResult(), version).kind == 1
    assert cass_decode(handler, SetKeyspaceResult("ks"), version).new_keyspace == "ks"

    rows = [(1, "a"), (2, None), (None, "ccc")]
    md = ResultMetadata.of(COLS, paging_state=b"\x00page")
    theirs = cass_decode(handler, RowsResult(md, rows), version)
    assert theirs.column_names == ["k", "v"]
    assert theirs.paging_state == b"\x00page"
    assert list(map(tuple, theirs.parsed_rows)) == rows

    bind = PreparedMetadata.of(COLS[:1], pk_indexes=(0,) if version >= 4 else ())
    prepared = PreparedResult(
        b"\x01id", b"\x02md" if version >= 5 else None, bind, ResultMetadata.of(COLS)
    )
    theirs = cass_decode(handler, prepared, version)
    assert theirs.query_id == b"\x01id"
    assert [c.name for c in theirs.bind_metadata] == ["k"]
    assert theirs.pk_indexes == ([0] if version >= 4 else None)
    assert [c[2] for c in theirs.column_metadata] == ["k", "v"]
    if version >= 5:
        assert theirs.result_metadata_id == b"\x02md"


@HANDLERS
@pytest.mark.parametrize("version", VERSIONS)
def test_schema_changes_decoded_by_driver(handler, version):
    cases = [
        (SchemaChangeResult("CREATED", "KEYSPACE", "ks"), {"keyspace": "ks"}),
        (SchemaChangeResult("UPDATED", "TABLE", "ks", "t"), {"table": "t"}),
        (SchemaChangeResult("DROPPED", "TYPE", "ks", "udt"), {"type": "udt"}),
    ]
    if version >= 4:
        cases += [
            (
                SchemaChangeResult("CREATED", "FUNCTION", "ks", "f", ("int", "text")),
                {"function": ("f", ["int", "text"])},
            ),
            (SchemaChangeResult("DROPPED", "AGGREGATE", "ks", "a", ()), {"aggregate": ("a", [])}),
        ]
    for msg, expected in cases:
        event = cass_decode(handler, msg, version).schema_change_event
        assert event["change_type"] == msg.change_type and event["target_type"] == msg.target
        assert event["keyspace"] == msg.keyspace
        for key, value in expected.items():
            got = event[key]
            if key in ("function", "aggregate"):
                got = (got.name, got.argument_types)
            assert got == value
        assert round_trip(msg, version) == msg
        ev = SchemaChangeEvent(msg.change_type, msg.target, msg.keyspace, msg.name, msg.arg_types)
        theirs = cass_decode(handler, ev, version)
        assert (
            theirs.event_type == "SCHEMA_CHANGE" and theirs.event_args["keyspace"] == msg.keyspace
        )
        assert round_trip(ev, version) == ev


@pytest.mark.parametrize("version", VERSIONS)
def test_schema_change_from_hand_built_bodies(version):
    body = i(5) + s("CREATED") + s("FUNCTION") + s("ks") + s("f") + sl("int")
    assert decode_response(Opcode.RESULT, 0, body, version) == SchemaChangeResult(
        "CREATED", "FUNCTION", "ks", "f", ("int",)
    )
    body = s("SCHEMA_CHANGE") + s("DROPPED") + s("KEYSPACE") + s("ks")
    assert decode_response(Opcode.EVENT, 0, body, version) == SchemaChangeEvent(
        "DROPPED", "KEYSPACE", "ks"
    )
    with pytest.raises(MalformedError):
        decode_response(Opcode.RESULT, 0, i(5) + s("CREATED") + s("INDEX") + s("ks"), version)
    with pytest.raises(MalformedError):
        decode_response(
            Opcode.RESULT, 0, i(5) + s("RENAMED") + s("TABLE") + s("ks") + s("t"), version
        )


@pytest.mark.parametrize("version", VERSIONS)
def test_rows_from_hand_built_body(version):
    body = (
        i(2)  # kind
        + i(RowsFlag.GLOBAL_TABLES_SPEC | RowsFlag.HAS_MORE_PAGES)
        + i(2)  # columns
        + i(3)
        + b"pag"  # paging state
        + s("ks")
        + s("t")
        + s("k")
        + sh(0x0009)
        + s("v")
        + sh(0x000D)
        + i(2)  # rows
        + i(4)
        + struct.pack(">i", 7)
        + i(2)
        + b"hi"
        + i(-1)
        + i(0)
    )
    res = decode_response(Opcode.RESULT, 0, body, version)
    assert isinstance(res, RowsResult)
    assert res.rows == [(7, "hi"), (None, "")]
    assert res.paging_state == b"pag"
    assert [c.name for c in res.columns] == ["k", "v"]
    assert [c.type for c in res.columns] == [T.INT, T.TEXT]


@pytest.mark.parametrize("version", VERSIONS)
def test_rows_no_metadata_uses_given_result_metadata(version):
    body = i(2) + i(RowsFlag.NO_METADATA) + i(2) + i(1) + i(4) + struct.pack(">i", 7) + i(1) + b"x"
    given = ResultMetadata.of(COLS)
    res = decode_response(Opcode.RESULT, 0, body, version, result_metadata=given)
    assert res.rows == [(7, "x")]
    assert res.metadata.columns is None and res.columns == COLS
    with pytest.raises(MalformedError, match="NO_METADATA"):
        decode_response(Opcode.RESULT, 0, body, version)
    with pytest.raises(MalformedError, match="columns"):
        decode_response(
            Opcode.RESULT, 0, body, version, result_metadata=ResultMetadata.of(COLS[:1])
        )
    # and the driver agrees, given the same columns
    from cassandra.cqltypes import Int32Type, UTF8Type

    theirs = ProtocolHandler.decode_message(
        version,
        {},
        0,
        0,
        Opcode.RESULT,
        body,
        None,
        [("ks", "t", "k", Int32Type), ("ks", "t", "v", UTF8Type)],
    )
    assert list(map(tuple, theirs.parsed_rows)) == res.rows
    # ours encodes under NO_METADATA too, with the columns given explicitly
    enc = RowsResult(ResultMetadata.of(None, column_count=2), [(7, "x")], COLS)
    assert encode_response(enc, version) == (0, body)


def test_rows_v5_metadata_changed():
    md = ResultMetadata.of(COLS, result_metadata_id=b"\x05new")
    res = round_trip(RowsResult(md, [(1, "a")]), 5)
    assert res.metadata.result_metadata_id == b"\x05new"
    assert res.metadata.flags & RowsFlag.METADATA_CHANGED
    theirs = cass_decode(ProtocolHandler, RowsResult(md, [(1, "a")]), 5)
    assert theirs.result_metadata_id == b"\x05new"
    assert list(map(tuple, theirs.parsed_rows)) == [(1, "a")]


@pytest.mark.parametrize("version", VERSIONS)
def test_prepared_round_trip_and_hand_built(version):
    bind = PreparedMetadata.of(COLS, pk_indexes=(1, 0) if version >= 4 else ())
    msg = PreparedResult(
        b"qid", b"mid" if version >= 5 else None, bind, ResultMetadata.of(None, column_count=0)
    )
    assert round_trip(msg, version) == msg
    body = (
        i(4)
        + sh(3)
        + b"qid"
        + (sh(3) + b"mid" if version >= 5 else b"")
        + i(RowsFlag.GLOBAL_TABLES_SPEC)
        + i(2)
        + ((i(2) + sh(1) + sh(0)) if version >= 4 else b"")
        + s("ks")
        + s("t")
        + s("k")
        + sh(9)
        + s("v")
        + sh(13)
        + i(RowsFlag.NO_METADATA)
        + i(0)
    )
    assert encode_response(msg, version) == (0, body)
    assert decode_response(Opcode.RESULT, 0, body, version) == msg


def test_unknown_result_kind():
    with pytest.raises(MalformedError, match="kind"):
        decode_response(Opcode.RESULT, 0, i(6), 4)
    with pytest.raises(MalformedError, match="kind"):
        decode_response(Opcode.RESULT, 0, i(-1), 4)


# -- EVENT ----------------------------------------------------------------------------------------


@HANDLERS
@pytest.mark.parametrize("version", VERSIONS)
def test_events_decoded_by_driver(handler, version):
    for msg in (
        TopologyChangeEvent("NEW_NODE", ("10.0.0.1", 9042)),
        TopologyChangeEvent("REMOVED_NODE", ("::1", 9042)),
        StatusChangeEvent("UP", ("127.0.0.3", 19042)),
        StatusChangeEvent("DOWN", ("fe80::1", 9042)),
    ):
        theirs = cass_decode(handler, msg, version)
        assert theirs.event_type == msg.event_type
        assert theirs.event_args == {"change_type": msg.change_type, "address": msg.address}
        assert round_trip(msg, version) == msg


def test_events_from_hand_built_bodies():
    body = s("STATUS_CHANGE") + s("DOWN") + inet("10.1.2.3", 9042)
    assert decode_response(Opcode.EVENT, 0, body, 4) == StatusChangeEvent(
        "DOWN", ("10.1.2.3", 9042)
    )
    body = s("TOPOLOGY_CHANGE") + s("MOVED_NODE") + inet("10.1.2.3", 9042)
    assert decode_response(Opcode.EVENT, 0, body, 3).change_type == "MOVED_NODE"
    for bad in (
        s("TOPOLOGY_CHANGE") + s("EXPLODED") + inet("10.1.2.3", 9042),
        s("STATUS_CHANGE") + s("SIDEWAYS") + inet("10.1.2.3", 9042),
        s("KEYSPACE_PARTY") + s("UP") + inet("10.1.2.3", 9042),
    ):
        with pytest.raises(MalformedError):
            decode_response(Opcode.EVENT, 0, bad, 4)


# -- the RESULT fast path -------------------------------------------------------------------------
#
# A RESULT body given as bytes with no body prefix (ROWS and VOID, the answer to nearly every
# QUERY and EXECUTE) is read straight off the bytes; a bytearray or memoryview body takes the
# general path. Both must agree on the message and on the error.


def _outcome(body, version, md=None, flags=0):
    try:
        return ("ok", decode_response(Opcode.RESULT, flags, body, version, md))
    except errors.ProtocolError as exc:
        return (type(exc), str(exc))


def _agree(body, version, md=None, flags=0):
    fast = _outcome(bytes(body), version, md, flags)
    assert fast == _outcome(bytearray(body), version, md, flags)
    assert fast == _outcome(memoryview(bytes(body)), version, md, flags)
    return fast


def _rows_bodies(version):
    spec = s("ks") + s("t") + s("k") + sh(0x0009) + s("v") + sh(0x000D)
    one_row = i(1) + i(4) + struct.pack(">i", 7) + i(2) + b"hi"
    bodies = {
        "void": i(1),
        "no metadata": i(2) + i(RowsFlag.NO_METADATA) + i(2) + one_row,
        "no metadata, paged": i(2)
        + i(RowsFlag.NO_METADATA | RowsFlag.HAS_MORE_PAGES)
        + i(2)
        + i(2)
        + b"pg"
        + one_row,
        "global spec": i(2) + i(RowsFlag.GLOBAL_TABLES_SPEC) + i(2) + spec + one_row,
        "global spec, paged": i(2)
        + i(RowsFlag.GLOBAL_TABLES_SPEC | RowsFlag.HAS_MORE_PAGES)
        + i(2)
        + i(3)
        + b"pag"
        + spec
        + one_row,
        "null paging state": i(2)
        + i(RowsFlag.GLOBAL_TABLES_SPEC | RowsFlag.HAS_MORE_PAGES)
        + i(2)
        + i(-1)
        + spec
        + one_row,
        "per-column specs": i(2)
        + i(0)
        + i(2)
        + s("ks")
        + s("t")
        + s("k")
        + sh(0x0009)
        + s("ks")
        + s("u")
        + s("v")
        + sh(0x000D)
        + one_row,
        "null in the last cell": i(2)
        + i(RowsFlag.GLOBAL_TABLES_SPEC)
        + i(2)
        + s("ks")
        + s("t")
        + s("v")
        + sh(0x000D)
        + s("k")
        + sh(0x0009)
        + i(2)
        + i(1)
        + b"a"
        + i(-1)
        + i(0)
        + i(-1),
        "no rows": i(2) + i(RowsFlag.GLOBAL_TABLES_SPEC) + i(2) + spec + i(0),
        "no columns": i(2) + i(0) + i(0) + i(3),
        "unknown flag bits": i(2) + i(RowsFlag.GLOBAL_TABLES_SPEC | 0x100) + i(2) + spec + one_row,
        "metadata changed": i(2)
        + i(RowsFlag.GLOBAL_TABLES_SPEC | RowsFlag.METADATA_CHANGED)
        + i(2)
        + (sh(2) + b"id" if version >= 5 else b"")
        + spec
        + one_row,
    }
    return bodies


@pytest.mark.parametrize("version", VERSIONS)
def test_result_fast_path_matches_the_general_path(version):
    for name, body in _rows_bodies(version).items():
        for md in (None, ResultMetadata.of(COLS), ResultMetadata.of(COLS[:1])):
            kind, msg = _agree(body, version, md)
            if name in ("no metadata", "no metadata, paged"):
                assert (kind, msg.rows if md == ResultMetadata.of(COLS) else None) in (
                    ("ok", [(7, "hi")]),
                    (errors.MalformedError, None),
                ), name
            else:
                assert kind == "ok", (name, msg)
    got = _agree(_rows_bodies(version)["null paging state"], version)[1]
    assert got.paging_state is None and got.rows == [(7, "hi")]
    got = _agree(_rows_bodies(version)["null in the last cell"], version)[1]
    assert got.rows == [("a", None), ("", None)]
    got = _agree(_rows_bodies(version)["no metadata, paged"], version, ResultMetadata.of(COLS))[1]
    assert got.paging_state == b"pg" and got.columns == COLS and got.metadata.columns is None


@pytest.mark.parametrize("version", VERSIONS)
def test_result_fast_path_errors_match_at_every_cut_and_with_trailing_bytes(version):
    md = ResultMetadata.of(COLS)
    for name, body in _rows_bodies(version).items():
        for cut in range(len(body)):
            kind, _ = _agree(body[:cut], version, md)
            assert kind is not None
        kind, message = _agree(body + b"\x00", version, md)
        assert kind is MalformedError and "trailing" in message, name


@pytest.mark.parametrize("version", VERSIONS)
def test_result_with_a_body_prefix_takes_the_general_path(version):
    flags = HeaderFlag.TRACING
    tracing_id = uuid.UUID(int=5)
    body = tracing_id.bytes + _rows_bodies(version)["global spec"]
    kind, msg = _agree(body, version, None, flags)
    assert kind == "ok" and msg.tracing_id == tracing_id and msg.rows == [(7, "hi")]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(VERSIONS),
    st.sampled_from(sorted(_rows_bodies(5))),
    st.integers(0, 10_000),
    st.integers(0, 255),
    st.integers(0, 2),
)
def test_fuzz_result_fast_and_general_paths_agree(version, name, position, value, how):
    body = bytearray(_rows_bodies(version)[name])
    position %= len(body)
    if how == 0:
        body[position] = value
    elif how == 1:
        del body[position]
    else:
        body.insert(position, value)
    _agree(bytes(body), version, ResultMetadata.of(COLS))


def test_fast_path_rows_agree_with_cassandra_driver():
    """Rows read by the fast path from a body cassandra-driver parses too."""
    body = _rows_bodies(4)["per-column specs"]
    ours = decode_response(Opcode.RESULT, 0, body, 4)
    theirs = ProtocolHandler.decode_message(4, {}, 0, 0, Opcode.RESULT, body, None, None)
    assert list(map(tuple, theirs.parsed_rows)) == ours.rows
    assert theirs.column_names == [c.name for c in ours.columns]


# -- the hand-written __init__ of VoidResult and RowsResult ---------------------------------------


@pytest.mark.parametrize("cls", [VoidResult, RowsResult])
def test_hand_written_response_init_matches_the_fields(cls):
    """Same parameters (names, order, defaults, keyword-only) as the dataclass would generate."""
    params = list(inspect.signature(cls).parameters.values())
    fields = [f for f in dataclasses.fields(cls) if f.init]
    expected = [f for f in fields if not f.kw_only] + [f for f in fields if f.kw_only]
    assert [p.name for p in params] == [f.name for f in expected]
    for p, f in zip(params, expected, strict=True):
        assert p.kind == (
            inspect.Parameter.KEYWORD_ONLY if f.kw_only else inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        assert p.default == (
            inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        )


def test_hand_written_response_init_keeps_the_dataclass_behaviour():
    md = ResultMetadata.of(COLS)
    r = RowsResult(md, [(1, "a")])
    assert vars(r) == {f.name: getattr(r, f.name) for f in dataclasses.fields(r)}
    assert list(vars(r)) == [f.name for f in dataclasses.fields(r)]
    assert r.columns == COLS  # defaults to the metadata's columns
    nomd = ResultMetadata.of(None, column_count=2)
    assert RowsResult(nomd, []).columns is None
    assert RowsResult(nomd, [], COLS).columns == COLS
    assert r == RowsResult(md, [(1, "a")], COLS) == RowsResult(metadata=md, rows=[(1, "a")])
    assert r != RowsResult(md, [(1, "a")], warnings=("w",))
    assert repr(r).startswith("RowsResult(tracing_id=None, warnings=None, custom_payload=None, ")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.rows = []  # type: ignore[misc]
    with pytest.raises(TypeError):
        RowsResult(md, [], None, None)  # tracing_id is keyword-only
    with pytest.raises(TypeError):
        RowsResult(md)  # rows are required
    assert pickle.loads(pickle.dumps(r)) == r
    assert dataclasses.replace(r, rows=[]) == RowsResult(md, [])
    v = VoidResult(tracing_id=uuid.UUID(int=1))
    assert vars(v) == {"tracing_id": uuid.UUID(int=1), "warnings": None, "custom_payload": None}
    assert v != VoidResult() == VoidResult() and hash(VoidResult()) == hash(VoidResult())
    assert repr(VoidResult()) == "VoidResult(tracing_id=None, warnings=None, custom_payload=None)"
    with pytest.raises(TypeError):
        VoidResult(None)  # keyword-only
    assert pickle.loads(pickle.dumps(v)) == v
