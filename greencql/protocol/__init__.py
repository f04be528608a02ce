"""greencql.protocol: the native protocol (v3, v4, v5) as bytes in, messages out; no IO.

The public protocol API in one namespace: constants (opcodes, flags, ConsistencyLevel, ...),
the wire notation (Reader, Writer, UNSET), messages and their codecs, CQL types and row
metadata, stream ids, authenticators and the handshake state machines. Frames, segments and
compression (the socket layer's codec) are loaded on first use, so importing this package does
not import lz4 or snappy.

This package must stay sans-IO: nothing here imports hubs/, pool/, cluster/ or a hub library.
"""

from __future__ import annotations

import importlib
from typing import Any

from greencql.errors import (
    AlreadyExists,
    AuthenticationFailed,
    CDCWriteFailure,
    ConfigurationException,
    DriverException,
    FunctionFailure,
    InvalidRequest,
    IsBootstrapping,
    Overloaded,
    PreparedQueryNotFound,
    ProtocolException,
    ReadFailure,
    ReadTimeout,
    RequestExecutionException,
    RequestValidationException,
    ServerError,
    ServerException,
    SyntaxException,
    TruncateError,
    Unauthorized,
    Unavailable,
    UnsupportedOperation,
    WriteFailure,
    WriteTimeout,
)
from greencql.protocol.auth import (
    Authenticator,
    AuthProvider,
    PasswordAuthenticator,
    PlainTextAuthenticator,
    PlainTextAuthProvider,
)
from greencql.protocol.constants import (
    BETA_VERSIONS,
    DEFAULT_MAX_FRAME_BODY,
    MAX_SUPPORTED_VERSION,
    MIN_SUPPORTED_VERSION,
    SUPPORTED_VERSIONS,
    BatchType,
    ConsistencyLevel,
    EventType,
    HeaderFlag,
    Opcode,
    PrepareFlag,
    ProtocolVersion,
    QueryFlag,
    ResultKind,
    RowsFlag,
    SchemaChangeTarget,
    SchemaChangeType,
    WriteType,
)
from greencql.protocol.handshake import (
    ClientHandshake,
    EnableCompression,
    HandshakeDone,
    HandshakeState,
    RetryWithVersion,
    SendRequest,
    SendResponse,
    ServerHandshake,
    StartSegments,
)
from greencql.protocol.messages import (
    AuthChallenge,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    Batch,
    BatchChild,
    ErrorResponse,
    Event,
    Execute,
    Options,
    Prepare,
    PreparedResult,
    Query,
    QueryParameters,
    Ready,
    Register,
    Request,
    Response,
    Result,
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
from greencql.protocol.streams import StreamIdAllocator
from greencql.protocol.types import (
    CqlType,
    Date,
    Duration,
    Time,
    encode_value,
    parse_type_string,
)
from greencql.protocol.values import (
    UserAggregateDescriptor,
    UserFunctionDescriptor,
)
from greencql.protocol.wire import UNSET, Reader, UnsetType, Writer

# cassandra.protocol's names for the server errors. There each is an ERROR message class that
# is also raised; here each name is the exception greencql raises for that error code, so
# ``except cassandra.protocol.SyntaxException`` ported to greencql.protocol catches the same.
ErrorMessage = ServerException
AlreadyExistsException = AlreadyExists
BadCredentials = AuthenticationFailed
CDCWriteException = CDCWriteFailure
FunctionFailureMessage = FunctionFailure
InvalidRequestException = InvalidRequest
IsBootstrappingErrorMessage = IsBootstrapping
OverloadedErrorMessage = Overloaded
ReadFailureMessage = ReadFailure
ReadTimeoutErrorMessage = ReadTimeout
UnauthorizedErrorMessage = Unauthorized
UnavailableErrorMessage = Unavailable
WriteFailureMessage = WriteFailure
WriteTimeoutErrorMessage = WriteTimeout
SchemaTargetType = SchemaChangeTarget

# cassandra.protocol's numeric constants
RESULT_KIND_VOID = int(ResultKind.VOID)
RESULT_KIND_ROWS = int(ResultKind.ROWS)
RESULT_KIND_SET_KEYSPACE = int(ResultKind.SET_KEYSPACE)
RESULT_KIND_PREPARED = int(ResultKind.PREPARED)
RESULT_KIND_SCHEMA_CHANGE = int(ResultKind.SCHEMA_CHANGE)
COMPRESSED_FLAG = 0x01
TRACING_FLAG = 0x02
CUSTOM_PAYLOAD_FLAG = 0x04
WARNING_FLAG = 0x08
USE_BETA_FLAG = 0x10
USE_BETA_MASK = ~USE_BETA_FLAG
HEADER_DIRECTION_TO_CLIENT = 0x80
HEADER_DIRECTION_MASK = 0x80

# Loaded on first attribute access (PEP 562): the codec the socket layer drives, and the
# compression seam (which imports lz4 / snappy when asked).
_LAZY = {
    "Frame": "greencql.protocol.frames",
    "FrameCodec": "greencql.protocol.frames",
    "FrameDecoder": "greencql.protocol.frames",
    "encode_frame": "greencql.protocol.frames",
    "Compressor": "greencql.protocol.compression",
    "available_compressors": "greencql.protocol.compression",
    "get_compressor": "greencql.protocol.compression",
}

__all__ = [
    # constants
    "ProtocolVersion",
    "SUPPORTED_VERSIONS",
    "MAX_SUPPORTED_VERSION",
    "MIN_SUPPORTED_VERSION",
    "BETA_VERSIONS",
    "DEFAULT_MAX_FRAME_BODY",
    "Opcode",
    "HeaderFlag",
    "QueryFlag",
    "PrepareFlag",
    "ResultKind",
    "RowsFlag",
    "ConsistencyLevel",
    "BatchType",
    "WriteType",
    "SchemaChangeType",
    "SchemaChangeTarget",
    "EventType",
    # wire
    "UNSET",
    "UnsetType",
    "Reader",
    "Writer",
    # messages
    "Request",
    "Startup",
    "AuthResponse",
    "Options",
    "QueryParameters",
    "Query",
    "Prepare",
    "Execute",
    "BatchChild",
    "Batch",
    "Register",
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
    "encode_request",
    "request_flags",
    "decode_request",
    "encode_response",
    "decode_response",
    # types and rows
    "CqlType",
    "Duration",
    "Date",
    "Time",
    "parse_type_string",
    "encode_value",
    "ColumnSpec",
    "ResultMetadata",
    "PreparedMetadata",
    # streams, auth, handshake
    "StreamIdAllocator",
    "Authenticator",
    "AuthProvider",
    "PlainTextAuthenticator",
    "PasswordAuthenticator",
    "PlainTextAuthProvider",
    "ClientHandshake",
    "ServerHandshake",
    "HandshakeState",
    "SendRequest",
    "SendResponse",
    "EnableCompression",
    "StartSegments",
    "HandshakeDone",
    "RetryWithVersion",
    # cassandra.protocol's error names (the exceptions greencql raises)
    "ErrorMessage",
    "ServerError",
    "ProtocolException",
    "SyntaxException",
    "ConfigurationException",
    "PreparedQueryNotFound",
    "TruncateError",
    "AlreadyExists",
    "AlreadyExistsException",
    "BadCredentials",
    "CDCWriteException",
    "FunctionFailure",
    "FunctionFailureMessage",
    "InvalidRequest",
    "InvalidRequestException",
    "IsBootstrappingErrorMessage",
    "OverloadedErrorMessage",
    "ReadFailure",
    "ReadFailureMessage",
    "ReadTimeout",
    "ReadTimeoutErrorMessage",
    "Unauthorized",
    "UnauthorizedErrorMessage",
    "Unavailable",
    "UnavailableErrorMessage",
    "WriteFailure",
    "WriteFailureMessage",
    "WriteTimeout",
    "WriteTimeoutErrorMessage",
    "RequestExecutionException",
    "RequestValidationException",
    "DriverException",
    "UnsupportedOperation",
    "UserFunctionDescriptor",
    "UserAggregateDescriptor",
    "SchemaTargetType",
    "RESULT_KIND_VOID",
    "RESULT_KIND_ROWS",
    "RESULT_KIND_SET_KEYSPACE",
    "RESULT_KIND_PREPARED",
    "RESULT_KIND_SCHEMA_CHANGE",
    "COMPRESSED_FLAG",
    "TRACING_FLAG",
    "CUSTOM_PAYLOAD_FLAG",
    "WARNING_FLAG",
    "USE_BETA_FLAG",
    "USE_BETA_MASK",
    "HEADER_DIRECTION_TO_CLIENT",
    "HEADER_DIRECTION_MASK",
    # loaded on first use
    "Frame",
    "FrameCodec",
    "FrameDecoder",
    "encode_frame",
    "Compressor",
    "available_compressors",
    "get_compressor",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'greencql.protocol' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
