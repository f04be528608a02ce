"""Every message of the native protocol v3, v4 and v5, encoded and decoded in both directions.

Owns the layout of message *bodies* (section 4 of the spec: requests, responses, the ERROR
codes of section 9) and the body prefix the header flags announce (tracing id, warnings, custom
payload). The client encodes requests and decodes responses; the simulated cluster
(``greencql.testing``) decodes requests and encodes responses, with the same code.

It does not own frame headers, segments or compression (``frames.py`` / ``segments.py``), CQL
type codecs and row cells (``types.py`` / ``rows.py``), or what a connection does with a message.

Rules it keeps:

- messages are frozen dataclasses; decoded sequences are tuples, maps are dicts;
- decoding raises :class:`~greencql.errors.ProtocolError` subclasses and nothing else: the
  Reader checks every bound, unknown opcodes / result kinds / event types / flags are refused,
  and a body longer than its content is refused (trailing bytes), whichever direction. An
  ERROR code we do not know decodes (to a plain ServerException) when its body is only code
  and message; extra fields we cannot know the layout of are refused;
- encoding refuses what the negotiated version cannot say with
  :class:`~greencql.errors.UnsupportedOperation` (UNSET values in v3, keyspace and
  now_in_seconds before v5, warnings and custom payloads in v3), instead of sending bytes the
  server would misread;
- named values in BATCH are refused both ways: the spec defines a flag for them that no server
  can implement (CASSANDRA-10246), and Cassandra rejects it.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from greencql.errors import (
    MalformedError,
    ProtocolError,
    ServerException,
    UnknownOpcode,
    UnsupportedOperation,
    UnsupportedProtocolVersion,
    server_error_class,
)
from greencql.protocol.constants import (
    BatchType,
    ConsistencyLevel,
    EventType,
    HeaderFlag,
    Opcode,
    PrepareFlag,
    QueryFlag,
    ResultKind,
    SchemaChangeTarget,
    SchemaChangeType,
    WriteType,
)
from greencql.protocol.rows import (
    LAZY_BYTES,
    ColumnSpec,
    PreparedMetadata,
    ResultMetadata,
    _result_metadata_at,
    _rows_at,
    encode_rows,
    lazy_rows,
    read_prepared_metadata,
    read_result_metadata,
    write_prepared_metadata,
    write_result_metadata,
)
from greencql.protocol.types import DEFAULT_VALUE_TYPES
from greencql.protocol.wire import UNSET, Reader, UnsetType, Writer

__all__ = [
    # requests
    "Request",
    "Startup",
    "AuthResponse",
    "Options",
    "QueryParameters",
    "Query",
    "Prepare",
    "Execute",
    "EncodedExecute",
    "encode_execute",
    "BatchChild",
    "Batch",
    "Register",
    # responses
    "Response",
    "ErrorResponse",
    "Ready",
    "Authenticate",
    "Supported",
    "Result",
    "VoidResult",
    "RowsResult",
    "SetKeyspaceResult",
    "PreparedResult",
    "SchemaChangeResult",
    "Event",
    "TopologyChangeEvent",
    "StatusChangeEvent",
    "SchemaChangeEvent",
    "AuthChallenge",
    "AuthSuccess",
    # codec entry points
    "encode_request",
    "request_flags",
    "decode_request",
    "encode_response",
    "decode_response",
    "error_fields_for",
    "Value",
    "ErrorCode",
]

#: one bind value: serialized bytes, null, or UNSET (v4+)
Value = bytes | bytearray | memoryview | None | UnsetType

_SUPPORTED_VERSIONS = frozenset((3, 4, 5))


class ErrorCode:
    """The error codes of section 9 that carry extra fields (names for readability)."""

    SERVER_ERROR = 0x0000
    PROTOCOL_ERROR = 0x000A
    BAD_CREDENTIALS = 0x0100
    UNAVAILABLE = 0x1000
    OVERLOADED = 0x1001
    IS_BOOTSTRAPPING = 0x1002
    TRUNCATE_ERROR = 0x1003
    WRITE_TIMEOUT = 0x1100
    READ_TIMEOUT = 0x1200
    READ_FAILURE = 0x1300
    FUNCTION_FAILURE = 0x1400
    WRITE_FAILURE = 0x1500
    CDC_WRITE_FAILURE = 0x1600
    CAS_WRITE_UNKNOWN = 0x1700
    SYNTAX_ERROR = 0x2000
    UNAUTHORIZED = 0x2100
    INVALID = 0x2200
    CONFIG_ERROR = 0x2300
    ALREADY_EXISTS = 0x2400
    UNPREPARED = 0x2500


# ============================================================================================
# Requests
# ============================================================================================


# QueryParameters, Query and Execute (built for every statement) write their own __init__:
# the one a frozen dataclass generates calls object.__setattr__ once per field (about 1 µs for
# QueryParameters); storing into the instance __dict__ directly costs half of that, and only
# __init__ does it (the instances stay frozen). Fields, defaults, equality, hash and repr stay
# the dataclass's; a test checks each hand-written signature against dataclasses.fields().


@dataclass(frozen=True)
class Request:
    """Base of the request messages. ``custom_payload`` (v4+) is sent before the body with the
    CUSTOM_PAYLOAD header flag; ``tracing`` asks the server to trace the request (header
    flag only: the request body carries no tracing data)."""

    opcode: ClassVar[int]

    custom_payload: Mapping[str, bytes | None] | None = field(default=None, kw_only=True)
    tracing: bool = field(default=False, kw_only=True)


@dataclass(frozen=True)
class Startup(Request):
    """STARTUP: a [string map] of options (CQL_VERSION, COMPRESSION, DRIVER_NAME, ...)."""

    opcode: ClassVar[int] = Opcode.STARTUP
    options: Mapping[str, str]


@dataclass(frozen=True)
class AuthResponse(Request):
    """AUTH_RESPONSE: one SASL token, answering AUTHENTICATE or AUTH_CHALLENGE."""

    opcode: ClassVar[int] = Opcode.AUTH_RESPONSE
    token: bytes | None


@dataclass(frozen=True)
class Options(Request):
    """OPTIONS: asks for SUPPORTED (also the heartbeat of idle connections)."""

    opcode: ClassVar[int] = Opcode.OPTIONS


@dataclass(frozen=True)
class QueryParameters:
    """<query_parameters> of QUERY and EXECUTE.

    ``values`` is a sequence of serialized values (bytes, ``None`` for null, ``UNSET`` in v4+)
    or a mapping name -> value (sent WITH_NAMES_FOR_VALUES); ``None`` sends no values at all,
    an empty sequence sends the VALUES flag with zero values. ``keyspace`` and
    ``now_in_seconds`` exist in v5 only. ``timestamp`` is in microseconds.
    """

    consistency: int
    values: Sequence[Value] | Mapping[str, Value] | None = None
    skip_metadata: bool = False
    page_size: int | None = None
    paging_state: bytes | None = None
    serial_consistency: int | None = None
    timestamp: int | None = None
    keyspace: str | None = None
    now_in_seconds: int | None = None

    # Hand-written: see the note above Request.
    def __init__(
        self,
        consistency: int,
        values: Sequence[Value] | Mapping[str, Value] | None = None,
        skip_metadata: bool = False,
        page_size: int | None = None,
        paging_state: bytes | None = None,
        serial_consistency: int | None = None,
        timestamp: int | None = None,
        keyspace: str | None = None,
        now_in_seconds: int | None = None,
    ) -> None:
        d = self.__dict__
        d["consistency"] = consistency
        d["values"] = values
        d["skip_metadata"] = skip_metadata
        d["page_size"] = page_size
        d["paging_state"] = paging_state
        d["serial_consistency"] = serial_consistency
        d["timestamp"] = timestamp
        d["keyspace"] = keyspace
        d["now_in_seconds"] = now_in_seconds


@dataclass(frozen=True)
class Query(Request):
    """QUERY: CQL text and its parameters."""

    opcode: ClassVar[int] = Opcode.QUERY
    query: str
    params: QueryParameters

    # Hand-written: see the note above Request.
    def __init__(
        self,
        query: str,
        params: QueryParameters,
        *,
        custom_payload: Mapping[str, bytes | None] | None = None,
        tracing: bool = False,
    ) -> None:
        d = self.__dict__
        d["custom_payload"] = custom_payload
        d["tracing"] = tracing
        d["query"] = query
        d["params"] = params


@dataclass(frozen=True)
class Prepare(Request):
    """PREPARE: CQL text; ``keyspace`` (v5) prepares it against another keyspace than the
    connection's."""

    opcode: ClassVar[int] = Opcode.PREPARE
    query: str
    keyspace: str | None = None


@dataclass(frozen=True)
class Execute(Request):
    """EXECUTE: a prepared statement id and its parameters. ``result_metadata_id`` (from
    PREPARE) is required in v5 and ignored before."""

    opcode: ClassVar[int] = Opcode.EXECUTE
    query_id: bytes
    params: QueryParameters
    result_metadata_id: bytes | None = None

    # Hand-written: see the note above Request.
    def __init__(
        self,
        query_id: bytes,
        params: QueryParameters,
        result_metadata_id: bytes | None = None,
        *,
        custom_payload: Mapping[str, bytes | None] | None = None,
        tracing: bool = False,
    ) -> None:
        d = self.__dict__
        d["custom_payload"] = custom_payload
        d["tracing"] = tracing
        d["query_id"] = query_id
        d["params"] = params
        d["result_metadata_id"] = result_metadata_id


@dataclass(frozen=True)
class BatchChild:
    """One statement of a BATCH: ``kind`` 'query' (``query_or_id`` is CQL text) or 'prepared'
    (``query_or_id`` is a prepared id), with its positional values (names are not possible in
    a batch, see CASSANDRA-10246)."""

    kind: str
    query_or_id: str | bytes
    values: Sequence[Value] = ()


@dataclass(frozen=True)
class Batch(Request):
    """BATCH: statements executed as one (logged, unlogged or counter) batch."""

    opcode: ClassVar[int] = Opcode.BATCH
    batch_type: int
    statements: Sequence[BatchChild]
    consistency: int
    serial_consistency: int | None = None
    timestamp: int | None = None
    keyspace: str | None = None
    now_in_seconds: int | None = None


@dataclass(frozen=True)
class Register(Request):
    """REGISTER: the event types this connection wants pushed (answered by READY)."""

    opcode: ClassVar[int] = Opcode.REGISTER
    event_types: Sequence[str]


# ============================================================================================
# Responses
# ============================================================================================


@dataclass(frozen=True)
class Response:
    """Base of the response messages. The three keyword fields come from the body prefix
    announced by the header flags: ``tracing_id`` (TRACING), ``warnings`` (WARNING, v4+) and
    ``custom_payload`` (CUSTOM_PAYLOAD, v4+)."""

    opcode: ClassVar[int]

    tracing_id: uuid.UUID | None = field(default=None, kw_only=True)
    warnings: Sequence[str] | None = field(default=None, kw_only=True)
    custom_payload: Mapping[str, bytes | None] | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class ErrorResponse(Response):
    """ERROR: a code, the server's message and the code's extra fields (named as the
    ``field_names`` of the exception class the code maps to; absent optional fields are
    ``None``)."""

    opcode: ClassVar[int] = Opcode.ERROR
    code: int
    message: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def exception_class(self) -> type[ServerException]:
        return server_error_class(self.code)

    def to_exception(self) -> ServerException:
        """The typed exception of this error (``greencql.errors``), not raised."""
        exc = server_error_class(self.code)(self.message, **self.fields)
        if type(exc) is ServerException:
            exc.error_code = self.code  # type: ignore[misc]  # unknown code: keep it visible
        return exc


@dataclass(frozen=True)
class Ready(Response):
    opcode: ClassVar[int] = Opcode.READY


@dataclass(frozen=True)
class Authenticate(Response):
    """AUTHENTICATE: the server's IAuthenticator class name; answer with AUTH_RESPONSE."""

    opcode: ClassVar[int] = Opcode.AUTHENTICATE
    authenticator: str


@dataclass(frozen=True)
class Supported(Response):
    """SUPPORTED: STARTUP options the server accepts (CQL_VERSION, COMPRESSION,
    PROTOCOL_VERSIONS, ...), each with its list of values."""

    opcode: ClassVar[int] = Opcode.SUPPORTED
    options: Mapping[str, list[str]]


@dataclass(frozen=True)
class Result(Response):
    """Base of the RESULT kinds."""

    opcode: ClassVar[int] = Opcode.RESULT
    kind: ClassVar[int]


# VoidResult and RowsResult (one per response of most requests) write their own __init__, as
# QueryParameters does (see the note above Request); a test checks them against the fields.


@dataclass(frozen=True)
class VoidResult(Result):
    kind: ClassVar[int] = ResultKind.VOID

    # Hand-written: see the note above.
    def __init__(
        self,
        *,
        tracing_id: uuid.UUID | None = None,
        warnings: Sequence[str] | None = None,
        custom_payload: Mapping[str, bytes | None] | None = None,
    ) -> None:
        d = self.__dict__
        d["tracing_id"] = tracing_id
        d["warnings"] = warnings
        d["custom_payload"] = custom_payload


@dataclass(frozen=True)
class RowsResult(Result):
    """Rows: ``metadata`` as received (flags, paging state, v5 new metadata id, and the
    columns unless NO_METADATA); ``rows`` decoded with ``columns``, which are the received
    columns or, under NO_METADATA, the prepared statement's result columns given to
    :func:`decode_response`.

    ``raw_rows``: the undecoded cells, for decoders that read them another way (columnar
    NumPy results, lazy pages): a plain tuple ``(data, pos, end, count)`` where
    ``data[pos:end]`` (bytes) are exactly the row cells (``pos`` right after <rows_count>) and
    ``count`` is the row count. Set by :func:`decode_response`; None on a RowsResult built by
    hand. Not compared. A page of more than :data:`~greencql.protocol.rows.LAZY_BYTES` bytes
    of cells is not decoded at once: its ``rows`` is a
    :class:`~greencql.protocol.rows.LazyRows`, which decodes slices as they are used (and
    raises a malformed cell's ProtocolError then).
    """

    kind: ClassVar[int] = ResultKind.ROWS
    metadata: ResultMetadata
    rows: Sequence[tuple[Any, ...]]
    columns: tuple[ColumnSpec, ...] | None = None
    raw_rows: tuple[bytes, int, int, int] | None = field(
        default=None, kw_only=True, compare=False, repr=False
    )

    # Hand-written: see the note above VoidResult.
    def __init__(
        self,
        metadata: ResultMetadata,
        rows: Sequence[tuple[Any, ...]],
        columns: tuple[ColumnSpec, ...] | None = None,
        *,
        tracing_id: uuid.UUID | None = None,
        warnings: Sequence[str] | None = None,
        custom_payload: Mapping[str, bytes | None] | None = None,
        raw_rows: tuple[bytes, int, int, int] | None = None,
    ) -> None:
        d = self.__dict__
        d["tracing_id"] = tracing_id
        d["warnings"] = warnings
        d["custom_payload"] = custom_payload
        d["metadata"] = metadata
        d["rows"] = rows
        d["columns"] = metadata.columns if columns is None else columns
        d["raw_rows"] = raw_rows

    @property
    def paging_state(self) -> bytes | None:
        return self.metadata.paging_state


@dataclass(frozen=True)
class SetKeyspaceResult(Result):
    kind: ClassVar[int] = ResultKind.SET_KEYSPACE
    keyspace: str


@dataclass(frozen=True)
class PreparedResult(Result):
    """Prepared: the statement id, its v5 ``result_metadata_id``, the bind markers
    (``bind_metadata``: rows.PreparedMetadata, with pk indexes in v4+) and the result columns
    (``result_metadata``: rows.ResultMetadata)."""

    kind: ClassVar[int] = ResultKind.PREPARED
    query_id: bytes
    result_metadata_id: bytes | None
    bind_metadata: PreparedMetadata
    result_metadata: ResultMetadata


@dataclass(frozen=True)
class SchemaChangeResult(Result):
    """Schema_change: what changed. ``name`` is absent for KEYSPACE; ``arg_types`` (CQL type
    strings) only for FUNCTION and AGGREGATE."""

    kind: ClassVar[int] = ResultKind.SCHEMA_CHANGE
    change_type: str
    target: str
    keyspace: str
    name: str | None = None
    arg_types: Sequence[str] | None = None


@dataclass(frozen=True)
class Event(Response):
    """Base of the EVENT kinds (pushed by the server on stream -1)."""

    opcode: ClassVar[int] = Opcode.EVENT
    event_type: ClassVar[str]


@dataclass(frozen=True)
class TopologyChangeEvent(Event):
    """NEW_NODE / REMOVED_NODE (MOVED_NODE in old servers); ``address`` is (ip, port)."""

    event_type: ClassVar[str] = EventType.TOPOLOGY_CHANGE
    change_type: str
    address: tuple[str, int]


@dataclass(frozen=True)
class StatusChangeEvent(Event):
    """UP / DOWN; ``address`` is (ip, port) of the node's native transport."""

    event_type: ClassVar[str] = EventType.STATUS_CHANGE
    change_type: str
    address: tuple[str, int]


@dataclass(frozen=True)
class SchemaChangeEvent(Event):
    """Same fields as :class:`SchemaChangeResult`."""

    event_type: ClassVar[str] = EventType.SCHEMA_CHANGE
    change_type: str
    target: str
    keyspace: str
    name: str | None = None
    arg_types: Sequence[str] | None = None


@dataclass(frozen=True)
class AuthChallenge(Response):
    opcode: ClassVar[int] = Opcode.AUTH_CHALLENGE
    token: bytes | None


@dataclass(frozen=True)
class AuthSuccess(Response):
    opcode: ClassVar[int] = Opcode.AUTH_SUCCESS
    token: bytes | None = None


# ============================================================================================
# Small shared pieces
# ============================================================================================

_TOPOLOGY_CHANGES = frozenset(("NEW_NODE", "REMOVED_NODE", "MOVED_NODE"))
_STATUS_CHANGES = frozenset(("UP", "DOWN"))
_EVENT_TYPES = frozenset(e.value for e in EventType)

# Plain ints: ``~`` of an IntFlag stays inside the enum's bits, which would hide unknown ones.
_QUERY_FLAGS_V3 = 0x7F  # VALUES .. WITH_NAMES_FOR_VALUES
_QUERY_FLAGS_V5 = _QUERY_FLAGS_V3 | int(QueryFlag.WITH_KEYSPACE | QueryFlag.WITH_NOW_IN_SECONDS)
_BATCH_FLAGS_V3 = int(
    QueryFlag.WITH_SERIAL_CONSISTENCY
    | QueryFlag.WITH_DEFAULT_TIMESTAMP
    | QueryFlag.WITH_NAMES_FOR_VALUES
)
_BATCH_FLAGS_V5 = _BATCH_FLAGS_V3 | int(QueryFlag.WITH_KEYSPACE | QueryFlag.WITH_NOW_IN_SECONDS)
_PREPARE_WITH_KEYSPACE = int(PrepareFlag.WITH_KEYSPACE)

_VALUES = QueryFlag.VALUES.value
_SKIP_METADATA = QueryFlag.SKIP_METADATA.value
_PAGE_SIZE = QueryFlag.PAGE_SIZE.value
_PAGING_STATE = QueryFlag.WITH_PAGING_STATE.value
_SERIAL = QueryFlag.WITH_SERIAL_CONSISTENCY.value
_TIMESTAMP = QueryFlag.WITH_DEFAULT_TIMESTAMP.value
_NAMES = QueryFlag.WITH_NAMES_FOR_VALUES.value
_KEYSPACE = QueryFlag.WITH_KEYSPACE.value
_NOW = QueryFlag.WITH_NOW_IN_SECONDS.value

_TRACING = HeaderFlag.TRACING.value
_WARNING = HeaderFlag.WARNING.value
_CUSTOM_PAYLOAD = HeaderFlag.CUSTOM_PAYLOAD.value


def _check_version(version: int) -> None:
    if version not in _SUPPORTED_VERSIONS:
        raise UnsupportedProtocolVersion(
            f"protocol version {version} is not supported (3, 4 and 5 are)", version
        )


def _consistency(value: int) -> int:
    """A [consistency] as ConsistencyLevel when known; an unknown level stays an int (newer
    servers define more, e.g. NODE_LOCAL) rather than failing the whole message."""
    try:
        return ConsistencyLevel(value)
    except ValueError:
        return value


def _write_type(value: str) -> str:
    try:
        return WriteType(value)
    except ValueError:
        return value


def _write_type_name(value: str) -> str:
    return value.value if isinstance(value, WriteType) else str(value)


def _need_v5(version: int, what: str) -> None:
    if version < 5:
        raise UnsupportedOperation(f"{what} needs protocol v5 (this connection speaks v{version})")


def _write_values(w: Writer, values: Sequence[Value], version: int) -> None:
    if len(values) > 0xFFFF:
        raise ValueError(f"too many bind values: {len(values)} (at most 65535)")
    if version < 4:
        for value in values:
            if value is UNSET:
                raise UnsupportedOperation(
                    "UNSET values need protocol v4 or later; bind None (null) instead in v3"
                )
    w.write_short(len(values))
    for value in values:
        w.write_value(value)


def _read_request_value(r: Reader, version: int) -> Value:
    value = r.read_value()
    if value is UNSET and version < 4:
        raise MalformedError("UNSET [value] (-2) is not defined in protocol v3")
    return value


def _write_flags(w: Writer, flags: int, version: int) -> None:
    if version >= 5:
        w.write_int(flags)
    else:
        w.write_byte(flags)


def _read_flags(r: Reader, version: int, allowed: int, what: str) -> int:
    flags = r.read_int() if version >= 5 else r.read_byte()
    if flags & ~allowed:
        raise MalformedError(f"unknown {what} flags {flags & ~allowed:#x} in protocol v{version}")
    return flags


# ============================================================================================
# Request encoders
# ============================================================================================


def _tail_flags(p: QueryParameters | Batch, version: int, what: str) -> int:
    """Flags of the optional fields that QUERY/EXECUTE parameters and BATCH share; refuses
    the v5-only ones before v5."""
    flags = 0
    if p.serial_consistency is not None:
        flags |= _SERIAL
    if p.timestamp is not None:
        flags |= _TIMESTAMP
    if p.keyspace is not None:
        _need_v5(version, f"a per-{what} keyspace")
        flags |= _KEYSPACE
    if p.now_in_seconds is not None:
        _need_v5(version, "now_in_seconds")
        flags |= _NOW
    return flags


def _write_tail(w: Writer, p: QueryParameters | Batch) -> None:
    """The optional fields QUERY/EXECUTE parameters and BATCH end with, in wire order."""
    if p.serial_consistency is not None:
        w.write_short(p.serial_consistency)
    if p.timestamp is not None:
        w.write_long(p.timestamp)
    if p.keyspace is not None:
        w.write_string(p.keyspace)
    if p.now_in_seconds is not None:
        w.write_int(p.now_in_seconds)


def _encode_query_parameters(w: Writer, p: QueryParameters, version: int) -> None:
    flags = 0
    values = p.values
    if values is not None:
        flags = _VALUES
        if isinstance(values, Mapping):
            flags |= _NAMES
    if p.skip_metadata:
        flags |= _SKIP_METADATA
    if p.page_size is not None:
        flags |= _PAGE_SIZE
    if p.paging_state is not None:
        flags |= _PAGING_STATE
    flags |= _tail_flags(p, version, "query")

    w.write_short(p.consistency)
    _write_flags(w, flags, version)
    if values is not None:
        if isinstance(values, Mapping):
            if version < 4 and any(v is UNSET for v in values.values()):
                raise UnsupportedOperation("UNSET values need protocol v4 or later")
            if len(values) > 0xFFFF:
                raise ValueError(f"too many bind values: {len(values)} (at most 65535)")
            w.write_short(len(values))
            for name, value in values.items():
                w.write_string(name)
                w.write_value(value)
        else:
            _write_values(w, values, version)
    if p.page_size is not None:
        w.write_int(p.page_size)
    if p.paging_state is not None:
        w.write_bytes(p.paging_state)
    _write_tail(w, p)


def _enc_startup(w: Writer, msg: Startup, version: int) -> None:
    w.write_string_map(dict(msg.options))


def _enc_auth_response(w: Writer, msg: AuthResponse, version: int) -> None:
    w.write_bytes(msg.token)


def _enc_options(w: Writer, msg: Options, version: int) -> None:
    pass


def _enc_query(w: Writer, msg: Query, version: int) -> None:
    w.write_long_string(msg.query)
    _encode_query_parameters(w, msg.params, version)


def _enc_prepare(w: Writer, msg: Prepare, version: int) -> None:
    w.write_long_string(msg.query)
    if version >= 5:
        if msg.keyspace is not None:
            w.write_int(_PREPARE_WITH_KEYSPACE)
            w.write_string(msg.keyspace)
        else:
            w.write_int(0)
    elif msg.keyspace is not None:
        _need_v5(version, "PREPARE with a keyspace")


def _enc_execute(w: Writer, msg: Execute, version: int) -> None:
    w.write_short_bytes(msg.query_id)
    if version >= 5:
        if msg.result_metadata_id is None:
            raise ValueError("EXECUTE in protocol v5 needs the result_metadata_id of PREPARE")
        w.write_short_bytes(msg.result_metadata_id)
    _encode_query_parameters(w, msg.params, version)


def _enc_batch(w: Writer, msg: Batch, version: int) -> None:
    statements = msg.statements
    if len(statements) > 0xFFFF:
        raise ValueError(f"too many statements in one batch: {len(statements)} (at most 65535)")
    w.write_byte(msg.batch_type)
    w.write_short(len(statements))
    for child in statements:
        if isinstance(child.values, Mapping):
            raise UnsupportedOperation(
                "named values are not supported in BATCH (CASSANDRA-10246): bind by position"
            )
        if child.kind == "query":
            w.write_byte(0)
            w.write_long_string(child.query_or_id)  # type: ignore[arg-type]
        elif child.kind == "prepared":
            w.write_byte(1)
            w.write_short_bytes(child.query_or_id)  # type: ignore[arg-type]
        else:
            raise ValueError(f"BatchChild.kind must be 'query' or 'prepared', not {child.kind!r}")
        _write_values(w, child.values, version)
    flags = _tail_flags(msg, version, "batch")
    w.write_short(msg.consistency)
    _write_flags(w, flags, version)
    _write_tail(w, msg)


def _enc_register(w: Writer, msg: Register, version: int) -> None:
    w.write_string_list([str(EventType(e).value) for e in msg.event_types])


_REQUEST_ENCODERS: dict[type, Any] = {
    Startup: _enc_startup,
    AuthResponse: _enc_auth_response,
    Options: _enc_options,
    Query: _enc_query,
    Prepare: _enc_prepare,
    Execute: _enc_execute,
    Batch: _enc_batch,
    Register: _enc_register,
}


def request_flags(msg: Request) -> int:
    """The header flags a request needs (TRACING, CUSTOM_PAYLOAD); the frame layer adds
    COMPRESSION / USE_BETA itself."""
    flags = 0
    if msg.tracing:
        flags |= _TRACING
    if msg.custom_payload is not None:
        flags |= _CUSTOM_PAYLOAD
    return flags


# --------------------------------------------------------------------------------------------
# The fast path of QUERY and EXECUTE
#
# Every statement a session runs is one of these two, so they get one encoder that computes
# the flags and the pieces in one pass and joins them once (no Writer method calls, no ABC
# isinstance check). It covers every flag for positional values in a list or a tuple (or no
# values), in v3, v4 and v5, without a custom payload. Anything else -- named values, another
# kind of sequence, a custom payload, and every input the generic encoder refuses -- makes it
# raise, and encode_request then runs the generic encoder, which stays the one reference for
# the bytes and for the errors (same exception, same message). The tests check that both give
# the same bytes, or the same error, for random messages.
# --------------------------------------------------------------------------------------------

_pack_short = struct.Struct(">H").pack
_pack_int = struct.Struct(">i").pack
_pack_long = struct.Struct(">q").pack
# [short] consistency + <flags> (a byte in v3/v4, an [int] in v5), with or without the
# [short] count of values that follows when VALUES is set
_pack_head_v4 = struct.Struct(">HB").pack
_pack_head_values_v4 = struct.Struct(">HBH").pack
_pack_head_v5 = struct.Struct(">HI").pack
_pack_head_values_v5 = struct.Struct(">HIH").pack
_NULL_VALUE = _pack_int(-1)
_UNSET_VALUE = _pack_int(-2)
# the [int] length prefixes of short values, packed once (a tuple index beats a pack call)
_LENGTH_PREFIXES = tuple(_pack_int(n) for n in range(1024))


class _Generic(Exception):
    """Raised by the fast encoders for what only the generic encoder handles."""


def _append_values(parts: list[bytes], values: Sequence[Any], version: int) -> bool:
    """Append the [value]s of encoded bind values to ``parts`` (a length prefix, then the
    bytes; null and unset as their negative lengths). False for an unset value before v4:
    the caller leaves such a request to the generic encoder, which names the error."""
    prefixes = _LENGTH_PREFIXES
    unset = UNSET
    # parts.append, not a local alias: 3.11 specializes the method call on a list
    for v in values:
        if v is None:
            parts.append(_NULL_VALUE)
        elif v is unset:
            if version < 4:
                return False
            parts.append(_UNSET_VALUE)
        else:
            try:
                parts.append(prefixes[len(v)])
            except IndexError:  # 1024 bytes or more
                parts.append(_pack_int(len(v)))
            parts.append(v)
    return True


def _fast_statement(msg: Query | Execute, version: int) -> bytes:
    """The body of a QUERY or an EXECUTE in one pass; raises for what it does not cover."""
    if type(msg) is Execute:
        query_id = msg.query_id
        if len(query_id) > 0xFFFF:
            raise _Generic
        if version >= 5:
            md_id = msg.result_metadata_id
            if md_id is None or len(md_id) > 0xFFFF:
                raise _Generic
            parts = [_pack_short(len(query_id)), query_id, _pack_short(len(md_id)), md_id, b""]
        else:
            parts = [_pack_short(len(query_id)), query_id, b""]
    else:
        query = msg.query.encode()  # type: ignore[union-attr]
        parts = [_pack_int(len(query)), query, b""]
    # <query_parameters>: parts[-1] holds the place of consistency + flags (+ count), packed
    # once the flags are known
    p = msg.params
    head = len(parts) - 1
    values = p.values
    if values is None:
        flags = 0
        n = -1
    else:
        t = type(values)
        if t is not list and t is not tuple:
            raise _Generic  # a Mapping (named values) or another Sequence
        n = len(values)
        if n > 0xFFFF:
            raise _Generic
        flags = _VALUES
        if not _append_values(parts, values, version):
            raise _Generic
    if p.skip_metadata:
        flags |= _SKIP_METADATA
    # the optional fields follow in the order of their flag bits
    page_size = p.page_size
    if page_size is not None:
        flags |= _PAGE_SIZE
        parts.append(_pack_int(page_size))
    paging_state = p.paging_state
    if paging_state is not None:
        flags |= _PAGING_STATE
        parts.append(_pack_int(len(paging_state)))
        parts.append(paging_state)
    serial = p.serial_consistency
    if serial is not None:
        flags |= _SERIAL
        parts.append(_pack_short(serial))
    timestamp = p.timestamp
    if timestamp is not None:
        flags |= _TIMESTAMP
        parts.append(_pack_long(timestamp))
    keyspace = p.keyspace
    if keyspace is not None:
        keyspace = keyspace.encode()
        if version < 5 or len(keyspace) > 0xFFFF:
            raise _Generic
        flags |= _KEYSPACE
        parts.append(_pack_short(len(keyspace)))
        parts.append(keyspace)
    now_in_seconds = p.now_in_seconds
    if now_in_seconds is not None:
        if version < 5:
            raise _Generic
        flags |= _NOW
        parts.append(_pack_int(now_in_seconds))
    if version == 4 or version == 3:
        if n < 0:
            parts[head] = _pack_head_v4(p.consistency, flags)
        else:
            parts[head] = _pack_head_values_v4(p.consistency, flags, n)
    elif version == 5:
        if n < 0:
            parts[head] = _pack_head_v5(p.consistency, flags)
        else:
            parts[head] = _pack_head_values_v5(p.consistency, flags, n)
    else:
        raise _Generic
    return b"".join(parts)


class EncodedExecute:
    """An EXECUTE already encoded for one protocol version by :func:`encode_execute` (the
    session's request path): what a connection needs of a request (``opcode``, ``tracing``,
    ``custom_payload``) plus the finished ``body``. ``query_id`` and ``result_metadata_id``
    say which prepared statement it runs (for re-preparing after UNPREPARED)."""

    __slots__ = ("body", "query_id", "result_metadata_id", "version")

    opcode: ClassVar[int] = Opcode.EXECUTE
    tracing: ClassVar[bool] = False
    custom_payload: ClassVar[None] = None

    body: bytes
    query_id: bytes
    result_metadata_id: bytes | None
    version: int

    def __repr__(self) -> str:
        return f"<EncodedExecute {self.query_id.hex()} v{self.version} {len(self.body)} bytes>"


_new_encoded = object.__new__


def encode_execute(
    query_id: bytes,
    result_metadata_id: bytes | None,
    consistency: int,
    values: Sequence[Value],
    skip_metadata: bool,
    page_size: int | None,
    serial_consistency: int | None,
    timestamp: int | None,
    version: int,
) -> EncodedExecute | None:
    """An EXECUTE of ``query_id`` with positional ``values`` (serialized bytes, None, UNSET),
    encoded in one pass as :func:`encode_request` would encode the equivalent
    :class:`Execute` (no paging state, keyspace, custom payload or tracing: those go through
    the Execute message). None when the inputs need the generic encoder (ids over 64 KiB,
    UNSET before v4, v5 without a result metadata id, an unknown version)."""
    if len(query_id) > 0xFFFF or version < 3 or version > 5:
        return None
    if version >= 5:
        if result_metadata_id is None or len(result_metadata_id) > 0xFFFF:
            return None
        parts = [_pack_short(len(query_id)), query_id, _pack_short(len(result_metadata_id)),
                 result_metadata_id, b""]
    else:
        parts = [_pack_short(len(query_id)), query_id, b""]
    head = len(parts) - 1
    n = len(values)
    if n > 0xFFFF:
        return None
    if not _append_values(parts, values, version):
        return None
    flags = _VALUES | _SKIP_METADATA if skip_metadata else _VALUES
    if page_size is not None:
        flags |= _PAGE_SIZE
        parts.append(_pack_int(page_size))
    if serial_consistency is not None:
        flags |= _SERIAL
        parts.append(_pack_short(serial_consistency))
    if timestamp is not None:
        flags |= _TIMESTAMP
        parts.append(_pack_long(timestamp))
    if version == 5:
        parts[head] = _pack_head_values_v5(consistency, flags, n)
    else:
        parts[head] = _pack_head_values_v4(consistency, flags, n)
    msg = _new_encoded(EncodedExecute)
    msg.body = b"".join(parts)
    msg.query_id = query_id
    msg.result_metadata_id = result_metadata_id
    msg.version = version
    return msg


def encode_request(msg: Request, version: int) -> bytes:
    """The body of ``msg`` for protocol ``version`` (the custom payload first when set: send
    it with :func:`request_flags`). Raises UnsupportedOperation when the version cannot
    express it."""
    t = type(msg)
    if t is EncodedExecute:
        if msg.version != version:  # type: ignore[attr-defined]
            raise UnsupportedOperation(
                f"an EXECUTE encoded for protocol v{msg.version} "  # type: ignore[attr-defined]
                f"cannot be sent on a v{version} connection"
            )
        return msg.body  # type: ignore[attr-defined, no-any-return]
    if (t is Execute or t is Query) and msg.custom_payload is None:
        try:
            return _fast_statement(msg, version)  # type: ignore[arg-type]
        except Exception:
            pass  # a rare shape or a refused input: the generic encoder decides
    return _encode_request_generic(msg, version)


def _encode_request_generic(msg: Request, version: int) -> bytes:
    """encode_request for every message and every input: the reference of the fast path."""
    _check_version(version)
    encoder = _REQUEST_ENCODERS.get(type(msg))
    if encoder is None:
        raise TypeError(f"not a request message: {msg!r}")
    w = Writer()
    if msg.custom_payload is not None:
        if version < 4:
            raise UnsupportedOperation("custom payloads need protocol v4 or later")
        w.write_bytes_map(dict(msg.custom_payload))
    encoder(w, msg, version)
    return w.getvalue()


# ============================================================================================
# Request decoders (for the simulated server)
# ============================================================================================


def _decode_query_parameters(r: Reader, version: int) -> QueryParameters:
    consistency = _consistency(r.read_short())
    flags = _read_flags(r, version, _QUERY_FLAGS_V5 if version >= 5 else _QUERY_FLAGS_V3, "query")
    values: Sequence[Value] | dict[str, Value] | None = None
    if flags & _VALUES:
        n = r.read_short()
        if flags & _NAMES:
            named: dict[str, Value] = {}
            for _ in range(n):
                name = r.read_string()
                named[name] = _read_request_value(r, version)
            values = named
        else:
            values = tuple(_read_request_value(r, version) for _ in range(n))
    page_size = r.read_int() if flags & _PAGE_SIZE else None
    paging_state = r.read_bytes() if flags & _PAGING_STATE else None
    serial = _consistency(r.read_short()) if flags & _SERIAL else None
    timestamp = r.read_long() if flags & _TIMESTAMP else None
    keyspace = r.read_string() if flags & _KEYSPACE else None
    now_in_seconds = r.read_int() if flags & _NOW else None
    return QueryParameters(
        consistency,
        values,
        skip_metadata=bool(flags & _SKIP_METADATA),
        page_size=page_size,
        paging_state=paging_state,
        serial_consistency=serial,
        timestamp=timestamp,
        keyspace=keyspace,
        now_in_seconds=now_in_seconds,
    )


def _dec_startup(r: Reader, version: int, extra: dict[str, Any]) -> Startup:
    return Startup(r.read_string_map(), **extra)


def _dec_auth_response(r: Reader, version: int, extra: dict[str, Any]) -> AuthResponse:
    return AuthResponse(r.read_bytes(), **extra)


def _dec_options(r: Reader, version: int, extra: dict[str, Any]) -> Options:
    return Options(**extra)


def _dec_query(r: Reader, version: int, extra: dict[str, Any]) -> Query:
    query = r.read_long_string()
    return Query(query, _decode_query_parameters(r, version), **extra)


def _dec_prepare(r: Reader, version: int, extra: dict[str, Any]) -> Prepare:
    query = r.read_long_string()
    keyspace = None
    if version >= 5:
        flags = r.read_int()
        if flags & ~_PREPARE_WITH_KEYSPACE:
            raise MalformedError(f"unknown PREPARE flags {flags:#x}")
        if flags & _PREPARE_WITH_KEYSPACE:
            keyspace = r.read_string()
    return Prepare(query, keyspace, **extra)


def _dec_execute(r: Reader, version: int, extra: dict[str, Any]) -> Execute:
    query_id = r.read_short_bytes()
    result_metadata_id = r.read_short_bytes() if version >= 5 else None
    params = _decode_query_parameters(r, version)
    return Execute(query_id, params, result_metadata_id, **extra)


def _dec_batch(r: Reader, version: int, extra: dict[str, Any]) -> Batch:
    raw_type = r.read_byte()
    try:
        batch_type = BatchType(raw_type)
    except ValueError:
        raise MalformedError(f"unknown BATCH type {raw_type}") from None
    children = []
    for _ in range(r.read_short()):
        kind = r.read_byte()
        query_or_id: str | bytes
        if kind == 0:
            query_or_id = r.read_long_string()
        elif kind == 1:
            query_or_id = r.read_short_bytes()
        else:
            raise MalformedError(f"BATCH statement kind {kind} (expected 0 or 1)")
        values = tuple(_read_request_value(r, version) for _ in range(r.read_short()))
        children.append(BatchChild("query" if kind == 0 else "prepared", query_or_id, values))
    consistency = _consistency(r.read_short())
    flags = _read_flags(r, version, _BATCH_FLAGS_V5 if version >= 5 else _BATCH_FLAGS_V3, "BATCH")
    if flags & _NAMES:
        # The names would have to be read before the flags that announce them.
        raise MalformedError("names for values are not supported in BATCH (CASSANDRA-10246)")
    serial = _consistency(r.read_short()) if flags & _SERIAL else None
    timestamp = r.read_long() if flags & _TIMESTAMP else None
    keyspace = r.read_string() if flags & _KEYSPACE else None
    now_in_seconds = r.read_int() if flags & _NOW else None
    return Batch(
        batch_type,
        tuple(children),
        consistency,
        serial,
        timestamp,
        keyspace,
        now_in_seconds,
        **extra,
    )


def _dec_register(r: Reader, version: int, extra: dict[str, Any]) -> Register:
    event_types = tuple(r.read_string_list())
    for event_type in event_types:
        if event_type not in _EVENT_TYPES:
            raise MalformedError(f"unknown event type {event_type!r} in REGISTER")
    return Register(event_types, **extra)


_REQUEST_DECODERS: dict[int, Any] = {
    Opcode.STARTUP: _dec_startup,
    Opcode.AUTH_RESPONSE: _dec_auth_response,
    Opcode.OPTIONS: _dec_options,
    Opcode.QUERY: _dec_query,
    Opcode.PREPARE: _dec_prepare,
    Opcode.EXECUTE: _dec_execute,
    Opcode.BATCH: _dec_batch,
    Opcode.REGISTER: _dec_register,
}


def decode_request(
    opcode: int, body: bytes | bytearray | memoryview, version: int, flags: int = 0
) -> Request:
    """Decode a request body (``flags``: the frame header's, for TRACING / CUSTOM_PAYLOAD).
    Raises ProtocolError subclasses only."""
    _check_version(version)
    decoder = _REQUEST_DECODERS.get(opcode)
    if decoder is None:
        raise UnknownOpcode(f"opcode {opcode:#04x} is not a request")
    r = Reader(body)
    try:
        extra: dict[str, Any] = {}
        if flags & _CUSTOM_PAYLOAD:
            extra["custom_payload"] = r.read_bytes_map()
        if flags & _TRACING:
            extra["tracing"] = True
        msg = decoder(r, version, extra)
        r.expect_end(Opcode(opcode).name)
    except ProtocolError:
        raise
    except Exception as exc:  # a codec bug must still look like bad bytes to the caller
        raise MalformedError(f"cannot decode {Opcode(opcode).name}: {exc!r}") from exc
    return msg  # type: ignore[no-any-return]


# ============================================================================================
# ERROR bodies (section 9)
# ============================================================================================


def _read_failure_count_and_map(r: Reader, version: int) -> tuple[int, dict[str, int] | None]:
    """v4: <numfailures> [int]; v5: <reasonmap> ([int] n, then n x <[inetaddr]><[short]>)."""
    if version < 5:
        return r.read_int(), None
    n = r.read_int()
    if n < 0:
        raise MalformedError(f"negative reason map size {n}")
    reasons: dict[str, int] = {}
    for _ in range(n):
        address = str(r.read_inet_address())
        reasons[address] = r.read_short()
    return len(reasons), reasons


def _write_failure_count_and_map(w: Writer, fields: Mapping[str, Any], version: int) -> None:
    reasons = fields.get("error_code_map")
    if version < 5:
        failures = fields.get("failures")
        if failures is None:
            failures = len(reasons or ())
        w.write_int(failures)
        return
    reasons = reasons or {}
    w.write_int(len(reasons))
    for address, code in reasons.items():
        w.write_inet_address(address)
        w.write_short(code)


def _read_error_fields(code: int, r: Reader, version: int) -> dict[str, Any]:
    if code == 0x1000:  # Unavailable
        return {
            "consistency": _consistency(r.read_short()),
            "required_replicas": r.read_int(),
            "alive_replicas": r.read_int(),
        }
    if code in (0x1100, 0x1200, 0x1300, 0x1500, 0x1700):
        fields: dict[str, Any] = {
            "consistency": _consistency(r.read_short()),
            "received_responses": r.read_int(),
            "required_responses": r.read_int(),
        }
        if code == 0x1100:  # Write_timeout
            write_type = _write_type(r.read_string())
            fields["write_type"] = write_type
            fields["contentions"] = (
                r.read_short() if version >= 5 and write_type == WriteType.CAS else None
            )
        elif code == 0x1200:  # Read_timeout
            fields["data_retrieved"] = bool(r.read_byte())
        elif code == 0x1300:  # Read_failure
            fields["failures"], fields["error_code_map"] = _read_failure_count_and_map(r, version)
            fields["data_retrieved"] = bool(r.read_byte())
        elif code == 0x1500:  # Write_failure
            fields["failures"], fields["error_code_map"] = _read_failure_count_and_map(r, version)
            fields["write_type"] = _write_type(r.read_string())
        return fields
    if code == 0x1400:  # Function_failure
        return {
            "keyspace": r.read_string(),
            "function": r.read_string(),
            "arg_types": tuple(r.read_string_list()),
        }
    if code == 0x2400:  # Already_exists
        return {"keyspace": r.read_string(), "table": r.read_string()}
    if code == 0x2500:  # Unprepared
        return {"statement_id": r.read_short_bytes()}
    return {}


def _write_error_fields(w: Writer, code: int, fields: Mapping[str, Any], version: int) -> None:
    f = fields
    if code == 0x1000:
        w.write_short(f["consistency"])
        w.write_int(f["required_replicas"])
        w.write_int(f["alive_replicas"])
    elif code in (0x1100, 0x1200, 0x1300, 0x1500, 0x1700):
        w.write_short(f["consistency"])
        w.write_int(f["received_responses"])
        w.write_int(f["required_responses"])
        if code == 0x1100:
            write_type = _write_type_name(f["write_type"])
            w.write_string(write_type)
            if version >= 5 and write_type == WriteType.CAS:
                w.write_short(f.get("contentions") or 0)
        elif code == 0x1200:
            w.write_byte(1 if f["data_retrieved"] else 0)
        elif code == 0x1300:
            _write_failure_count_and_map(w, f, version)
            w.write_byte(1 if f["data_retrieved"] else 0)
        elif code == 0x1500:
            _write_failure_count_and_map(w, f, version)
            w.write_string(_write_type_name(f["write_type"]))
    elif code == 0x1400:
        w.write_string(f["keyspace"])
        w.write_string(f["function"])
        w.write_string_list(list(f["arg_types"]))
    elif code == 0x2400:
        w.write_string(f["keyspace"])
        w.write_string(f["table"])
    elif code == 0x2500:
        w.write_short_bytes(f["statement_id"])


def error_fields_for(code: int) -> tuple[str, ...]:
    """The extra field names an ERROR of this code carries (those of its exception class)."""
    return server_error_class(code).field_names


# ============================================================================================
# Response decoders
# ============================================================================================


def _dec_error(r: Reader, version: int, md: Any, extra: dict[str, Any]) -> ErrorResponse:
    code = r.read_int()
    message = r.read_string()
    return ErrorResponse(code, message, _read_error_fields(code, r, version), **extra)


def _dec_ready(r: Reader, version: int, md: Any, extra: dict[str, Any]) -> Ready:
    return Ready(**extra)


def _dec_authenticate(r: Reader, version: int, md: Any, extra: dict[str, Any]) -> Authenticate:
    return Authenticate(r.read_string(), **extra)


def _dec_supported(r: Reader, version: int, md: Any, extra: dict[str, Any]) -> Supported:
    return Supported(r.read_string_multimap(), **extra)


def _read_schema_change(r: Reader) -> tuple[str, str, str, str | None, tuple[str, ...] | None]:
    raw_change = r.read_string()
    raw_target = r.read_string()
    try:
        change_type = SchemaChangeType(raw_change)
        target = SchemaChangeTarget(raw_target)
    except ValueError:
        raise MalformedError(f"unknown schema change {raw_change!r} of {raw_target!r}") from None
    keyspace = r.read_string()
    name = None
    arg_types = None
    if target is not SchemaChangeTarget.KEYSPACE:
        name = r.read_string()
        if target in (SchemaChangeTarget.FUNCTION, SchemaChangeTarget.AGGREGATE):
            arg_types = tuple(r.read_string_list())
    return change_type, target, keyspace, name, arg_types


def _write_schema_change(
    w: Writer,
    change_type: str,
    target: str,
    keyspace: str,
    name: str | None,
    arg_types: Sequence[str] | None,
) -> None:
    target = SchemaChangeTarget(target)
    w.write_string(SchemaChangeType(change_type).value)
    w.write_string(target.value)
    w.write_string(keyspace)
    if target is not SchemaChangeTarget.KEYSPACE:
        if name is None:
            raise ValueError(f"a {target.value} schema change needs a name")
        w.write_string(name)
        if target in (SchemaChangeTarget.FUNCTION, SchemaChangeTarget.AGGREGATE):
            w.write_string_list(list(arg_types or ()))


def _dec_result(r: Reader, version: int, md: Any, extra: dict[str, Any],
                value_types: str = DEFAULT_VALUE_TYPES) -> Result:
    kind = r.read_int()
    if kind == ResultKind.ROWS:
        metadata = read_result_metadata(r, version)
        columns = metadata.columns
        if columns is None:
            # NO_METADATA: the columns are those the statement was prepared with.
            if md is None or md.columns is None:
                raise MalformedError(
                    "ROWS result without metadata (NO_METADATA) and no result metadata given"
                )
            columns = md.columns
            if len(columns) != metadata.column_count:
                raise MalformedError(
                    f"ROWS result has {metadata.column_count} columns, the given result "
                    f"metadata {len(columns)}"
                )
        data = r.data
        if type(data) is not bytes:
            data = bytes(data)
        if r.end - r.pos > LAZY_BYTES:
            # a big page: decoded as it is used (see RowsResult), the rows run to the end
            rows = lazy_rows(data, r.pos, r.end, columns, value_types)
            r.pos = r.end
            return RowsResult(metadata, rows, columns, **extra, raw_rows=rows.raw_rows)
        start = r.pos + 4
        rows, r.pos = _rows_at(data, r.pos, r.end, columns, value_types)
        return RowsResult(metadata, rows, columns, **extra,
                          raw_rows=(data, start, r.pos, len(rows)))
    if kind == ResultKind.VOID:
        return VoidResult(**extra)
    if kind == ResultKind.SET_KEYSPACE:
        return SetKeyspaceResult(r.read_string(), **extra)
    if kind == ResultKind.PREPARED:
        query_id = r.read_short_bytes()
        result_metadata_id = r.read_short_bytes() if version >= 5 else None
        bind_metadata = read_prepared_metadata(r, version)
        result_metadata = read_result_metadata(r, version)
        return PreparedResult(query_id, result_metadata_id, bind_metadata, result_metadata, **extra)
    if kind == ResultKind.SCHEMA_CHANGE:
        return SchemaChangeResult(*_read_schema_change(r), **extra)
    raise MalformedError(f"unknown RESULT kind {kind:#06x}")


def _dec_event(r: Reader, version: int, md: Any, extra: dict[str, Any]) -> Event:
    event_type = r.read_string()
    if event_type == EventType.TOPOLOGY_CHANGE or event_type == EventType.STATUS_CHANGE:
        change_type = r.read_string()
        address = r.read_inet()
        if event_type == EventType.TOPOLOGY_CHANGE:
            if change_type not in _TOPOLOGY_CHANGES:
                raise MalformedError(f"unknown TOPOLOGY_CHANGE {change_type!r}")
            return TopologyChangeEvent(change_type, address, **extra)
        if change_type not in _STATUS_CHANGES:
            raise MalformedError(f"unknown STATUS_CHANGE {change_type!r}")
        return StatusChangeEvent(change_type, address, **extra)
    if event_type == EventType.SCHEMA_CHANGE:
        return SchemaChangeEvent(*_read_schema_change(r), **extra)
    raise MalformedError(f"unknown event type {event_type!r}")


def _dec_auth_challenge(r: Reader, version: int, md: Any, extra: dict[str, Any]) -> AuthChallenge:
    return AuthChallenge(r.read_bytes(), **extra)


def _dec_auth_success(r: Reader, version: int, md: Any, extra: dict[str, Any]) -> AuthSuccess:
    return AuthSuccess(r.read_bytes(), **extra)


_RESPONSE_DECODERS: dict[int, Any] = {
    Opcode.ERROR: _dec_error,
    Opcode.READY: _dec_ready,
    Opcode.AUTHENTICATE: _dec_authenticate,
    Opcode.SUPPORTED: _dec_supported,
    Opcode.RESULT: _dec_result,
    Opcode.EVENT: _dec_event,
    Opcode.AUTH_CHALLENGE: _dec_auth_challenge,
    Opcode.AUTH_SUCCESS: _dec_auth_success,
}

_NO_EXTRA: dict[str, Any] = {}

_RESULT = int(Opcode.RESULT)
_ROWS = int(ResultKind.ROWS)
_VOID = int(ResultKind.VOID)
_unpack_kind = struct.Struct(">i").unpack_from


def _fast_result(
    body: bytes, version: int, result_metadata: ResultMetadata | None,
    value_types: str = DEFAULT_VALUE_TYPES,
) -> Result | None:
    """A RESULT of kind ROWS or VOID with no body prefix, the answer to nearly every QUERY
    and EXECUTE, read straight off the bytes: no Reader, metadata from the caches of
    rows.py. None (or any exception) when the body is anything else or anything is off: the
    general path then decodes it, or raises the precise error."""
    kind = _unpack_kind(body, 0)[0]
    end = len(body)
    if kind == _ROWS:
        got = _result_metadata_at(body, 4, end, version)
        if got is None:
            return None
        metadata, pos = got
        columns = metadata.columns
        if columns is None:
            # NO_METADATA: the columns are those the statement was prepared with.
            if result_metadata is None:
                return None
            columns = result_metadata.columns
            if columns is None or len(columns) != metadata.column_count:
                return None
        if end - pos > LAZY_BYTES:
            # a big page: decoded as it is used, in the greenlet that uses it (see RowsResult)
            rows = lazy_rows(body, pos, end, columns, value_types)
            return RowsResult(metadata, rows, columns, raw_rows=rows.raw_rows)
        rows, stop = _rows_at(body, pos, end, columns, value_types)
        if stop != end:
            return None
        return RowsResult(metadata, rows, columns, raw_rows=(body, pos + 4, end, len(rows)))
    if kind == _VOID and end == 4:
        return VoidResult()
    return None


def decode_response(
    opcode: int,
    flags: int,
    body: bytes | bytearray | memoryview,
    version: int,
    result_metadata: ResultMetadata | None = None,
    value_types: str = DEFAULT_VALUE_TYPES,
) -> Response:
    """Decode a response body. ``flags`` are the frame header's (TRACING, WARNING,
    CUSTOM_PAYLOAD announce the body prefix); ``result_metadata`` (rows.ResultMetadata) gives
    the columns of a ROWS result sent with NO_METADATA (EXECUTE with skip_metadata).
    ``value_types`` chooses the Python values of rows: ``"driver"`` (cassandra-driver's) or
    ``"modern"`` (see :func:`~greencql.protocol.types.driver_decoder`).
    Raises ProtocolError subclasses only."""
    if opcode == _RESULT and not flags and type(body) is bytes and version in _SUPPORTED_VERSIONS:
        try:
            msg = _fast_result(body, version, result_metadata, value_types)
        except Exception:  # bad bytes: the general path below raises the precise error
            msg = None
        if msg is not None:
            return msg
    if version not in _SUPPORTED_VERSIONS:
        _check_version(version)
    decoder = _RESPONSE_DECODERS.get(opcode)
    if decoder is None:
        raise UnknownOpcode(f"opcode {opcode:#04x} is not a response")
    r = Reader(body)
    try:
        if flags & (_TRACING | _WARNING | _CUSTOM_PAYLOAD):
            extra: dict[str, Any] = {}
            if flags & _TRACING:
                extra["tracing_id"] = r.read_uuid()
            if flags & _WARNING:
                extra["warnings"] = tuple(r.read_string_list())
            if flags & _CUSTOM_PAYLOAD:
                extra["custom_payload"] = r.read_bytes_map()
        else:
            extra = _NO_EXTRA
        if opcode == _RESULT:
            msg = _dec_result(r, version, result_metadata, extra, value_types)
        else:
            msg = decoder(r, version, result_metadata, extra)
        if r.pos != r.end:
            r.expect_end(Opcode(opcode).name)
    except ProtocolError:
        raise
    except Exception as exc:  # a codec bug must still look like bad bytes to the caller
        raise MalformedError(f"cannot decode {Opcode(opcode).name}: {exc!r}") from exc
    return msg  # type: ignore[no-any-return]


# ============================================================================================
# Response encoders (for the simulated server)
# ============================================================================================


def _enc_error(w: Writer, msg: ErrorResponse, version: int) -> None:
    w.write_int(msg.code)
    w.write_string(msg.message)
    _write_error_fields(w, msg.code, msg.fields, version)


def _enc_nothing(w: Writer, msg: Response, version: int) -> None:
    pass


def _enc_authenticate(w: Writer, msg: Authenticate, version: int) -> None:
    w.write_string(msg.authenticator)


def _enc_supported(w: Writer, msg: Supported, version: int) -> None:
    w.write_string_multimap({k: list(v) for k, v in msg.options.items()})


def _enc_void(w: Writer, msg: VoidResult, version: int) -> None:
    w.write_int(ResultKind.VOID)


def _enc_rows(w: Writer, msg: RowsResult, version: int) -> None:
    w.write_int(ResultKind.ROWS)
    write_result_metadata(w, msg.metadata, version)
    columns = msg.columns if msg.columns is not None else msg.metadata.columns
    if columns is None:
        raise ValueError("RowsResult under NO_METADATA needs its columns to encode the rows")
    encode_rows(w, columns, msg.rows)


def _enc_set_keyspace(w: Writer, msg: SetKeyspaceResult, version: int) -> None:
    w.write_int(ResultKind.SET_KEYSPACE)
    w.write_string(msg.keyspace)


def _enc_prepared(w: Writer, msg: PreparedResult, version: int) -> None:
    w.write_int(ResultKind.PREPARED)
    w.write_short_bytes(msg.query_id)
    if version >= 5:
        if msg.result_metadata_id is None:
            raise ValueError("a Prepared result in protocol v5 needs a result_metadata_id")
        w.write_short_bytes(msg.result_metadata_id)
    write_prepared_metadata(w, msg.bind_metadata, version)
    write_result_metadata(w, msg.result_metadata, version)


def _enc_schema_change_result(w: Writer, msg: SchemaChangeResult, version: int) -> None:
    w.write_int(ResultKind.SCHEMA_CHANGE)
    _write_schema_change(w, msg.change_type, msg.target, msg.keyspace, msg.name, msg.arg_types)


def _enc_node_event(w: Writer, msg: TopologyChangeEvent | StatusChangeEvent, version: int) -> None:
    w.write_string(msg.event_type)
    w.write_string(msg.change_type)
    w.write_inet(msg.address[0], msg.address[1])


def _enc_schema_change_event(w: Writer, msg: SchemaChangeEvent, version: int) -> None:
    w.write_string(EventType.SCHEMA_CHANGE.value)
    _write_schema_change(w, msg.change_type, msg.target, msg.keyspace, msg.name, msg.arg_types)


def _enc_token(w: Writer, msg: AuthChallenge | AuthSuccess, version: int) -> None:
    w.write_bytes(msg.token)


_RESPONSE_ENCODERS: dict[type, Any] = {
    ErrorResponse: _enc_error,
    Ready: _enc_nothing,
    Authenticate: _enc_authenticate,
    Supported: _enc_supported,
    VoidResult: _enc_void,
    RowsResult: _enc_rows,
    SetKeyspaceResult: _enc_set_keyspace,
    PreparedResult: _enc_prepared,
    SchemaChangeResult: _enc_schema_change_result,
    TopologyChangeEvent: _enc_node_event,
    StatusChangeEvent: _enc_node_event,
    SchemaChangeEvent: _enc_schema_change_event,
    AuthChallenge: _enc_token,
    AuthSuccess: _enc_token,
}


def encode_response(msg: Response, version: int) -> tuple[int, bytes]:
    """(header flags, body) of a response for protocol ``version``; the flags announce the
    body prefix (TRACING, WARNING, CUSTOM_PAYLOAD). Send it with opcode ``msg.opcode``."""
    _check_version(version)
    encoder = _RESPONSE_ENCODERS.get(type(msg))
    if encoder is None:
        raise TypeError(f"not a response message: {msg!r}")
    w = Writer()
    flags = 0
    if msg.tracing_id is not None:
        flags |= _TRACING
        w.write_uuid(msg.tracing_id)
    if msg.warnings is not None:
        if version < 4:
            raise UnsupportedOperation("warnings need protocol v4 or later")
        flags |= _WARNING
        w.write_string_list(list(msg.warnings))
    if msg.custom_payload is not None:
        if version < 4:
            raise UnsupportedOperation("custom payloads need protocol v4 or later")
        flags |= _CUSTOM_PAYLOAD
        w.write_bytes_map(dict(msg.custom_payload))
    encoder(w, msg, version)
    return flags, w.getvalue()


# The request encoder's Cython twin (greencql/protocol/_request.pyx), when built and chosen:
# encode_request calls it by this name; it declines (raises) what it does not write exactly as
# the function above would, and the generic encoder takes that.
from greencql._speedups import twin  # noqa: E402  (kept here: one block, easy to merge)

_fast_statement_python = _fast_statement
_compiled_request = twin("greencql.protocol._request")
if _compiled_request is not None:
    _fast_statement = _compiled_request._fast_statement
