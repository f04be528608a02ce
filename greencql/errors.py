"""The one exception tree of greencql.

Everything greencql raises on purpose derives from :class:`DriverException`. Names follow
cassandra-driver so that ``except cassandra.ReadTimeout`` becomes ``except greencql.ReadTimeout``.

Three families:

- errors the *server* sent in an ERROR response (:class:`ServerException` and its subclasses),
  registered by their protocol error code so the protocol layer can build them from a code and
  their fields (see :func:`server_error_class`);
- errors of the *client* itself (timeouts it measured, no host left to try, closed connections,
  misuse of the hub);
- :class:`ProtocolError`: bytes that do not follow the native protocol (malformed frames, bad
  checksums, unknown opcodes or type ids, oversized lengths). Decoding never raises anything else.

Every exception here is picklable (useful across processes, e.g. in load tests) and keeps its
structured fields as attributes. None is named like a builtin (no ``ConnectionError`` or
``TimeoutError``). This module imports nothing from greencql, so every layer may import it.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    # roots
    "DriverException",
    "ServerException",
    "RequestExecutionException",
    "RequestValidationException",
    # server errors, by code
    "ServerError",
    "ProtocolException",
    "AuthenticationFailed",
    "ClientAuthenticationFailed",
    "InsecureTLSWarning",
    "Unavailable",
    "Overloaded",
    "IsBootstrapping",
    "TruncateError",
    "Timeout",
    "WriteTimeout",
    "ReadTimeout",
    "CoordinationFailure",
    "ReadFailure",
    "FunctionFailure",
    "WriteFailure",
    "CDCWriteFailure",
    "CASWriteUnknown",
    "SyntaxException",
    "Unauthorized",
    "InvalidRequest",
    "ConfigurationException",
    "AlreadyExists",
    "Unprepared",
    "PreparedQueryNotFound",
    "server_error_class",
    "server_error_classes",
    # client errors
    "OperationTimedOut",
    "NoHostAvailable",
    "ConnectionException",
    "ConnectionShutdown",
    "ConnectionBusy",
    "UnsupportedOperation",
    "HubError",
    "RequestThrottled",
    "TraceUnavailable",
    "UnresolvableContactPoints",
    "DependencyException",
    "QueryExhausted",
    "NoConnectionsAvailable",
    "UserTypeDoesNotExist",
    # protocol (bytes) errors
    "ProtocolError",
    "TruncatedError",
    "MalformedError",
    "FrameTooLarge",
    "ChecksumError",
    "UnknownOpcode",
    "UnknownTypeError",
    "UnsupportedProtocolVersion",
    "CompressionError",
]


class DriverException(Exception):
    """Root of everything greencql raises on purpose."""


class InsecureTLSWarning(UserWarning):
    """TLS was configured to skip a check (host names or certificates): the application asked
    for it explicitly and gets it, once warned."""


# --------------------------------------------------------------------------------------------
# Errors sent by the server
# --------------------------------------------------------------------------------------------

_BY_CODE: dict[int, type[ServerException]] = {}


class ServerException(DriverException):
    """An ERROR response from the server.

    ``message`` is the server's own text; ``fields`` holds the code-specific extras (also set as
    attributes, e.g. ``exc.consistency``). ``str(exc)`` says which code it was, like
    cassandra-driver's ``Error from server: code=2200 [Invalid query] message="..."``.
    """

    error_code: ClassVar[int] = -1
    summary: ClassVar[str] = "Server error"
    #: the names of the extra fields this code carries, in wire order
    field_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, message: str = "", **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        for name, value in fields.items():
            setattr(self, name, value)

    def __str__(self) -> str:
        return (
            f'Error from server: code={self.error_code:04x} [{self.summary}] '
            f'message="{self.message}"'
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_server_exception, (type(self), self.message, self.fields))


def _rebuild_server_exception(
    cls: type[ServerException], message: str, fields: dict[str, Any]
) -> ServerException:
    return cls(message, **fields)


def _code(code: int, summary: str, *field_names: str):
    """Register a ServerException subclass under its protocol error code; refuse duplicates."""

    def register(cls: type[ServerException]) -> type[ServerException]:
        if code in _BY_CODE:
            raise RuntimeError(f"error code {code:#06x} registered twice: {_BY_CODE[code]}, {cls}")
        cls.error_code = code
        cls.summary = summary
        cls.field_names = field_names
        _BY_CODE[code] = cls
        return cls

    return register


def server_error_class(code: int) -> type[ServerException]:
    """The exception class of a server error code; unknown codes map to ServerException."""
    return _BY_CODE.get(code, ServerException)


def server_error_classes() -> dict[int, type[ServerException]]:
    """A copy of the code -> class registry (for tests and the simulator)."""
    return dict(_BY_CODE)


class RequestExecutionException(ServerException):
    """The request was valid but could not be executed (replicas, timeouts, load)."""


class RequestValidationException(ServerException):
    """The request was refused before execution (syntax, schema, permissions)."""


@_code(0x0000, "Server error")
class ServerError(ServerException):
    """The server hit an unexpected error (a bug on its side)."""


@_code(0x000A, "Protocol error")
class ProtocolException(ServerException):
    """The *server* says our request broke the protocol. Compare :class:`ProtocolError`,
    raised when the client cannot parse what the server sent."""


@_code(0x0100, "Bad credentials")
class AuthenticationFailed(ServerException):
    """Authentication failed: wrong credentials, or an authenticator the server refused."""


class ClientAuthenticationFailed(AuthenticationFailed):
    """Authentication could not even be attempted or completed on our side: the server asked
    for it (an AUTHENTICATE answer to STARTUP) and no ``auth_provider`` was configured, or the
    authenticator itself raised. Still an :class:`AuthenticationFailed` (``except`` clauses
    written for cassandra-driver keep working), but ``str()`` does not claim the server sent
    it. ``authenticator``: the server's authenticator class, when known."""

    def __str__(self) -> str:
        return self.message


@_code(0x1000, "Unavailable exception", "consistency", "required_replicas", "alive_replicas")
class Unavailable(RequestExecutionException):
    """The coordinator knew too few replicas alive to meet the consistency level; nothing
    was attempted."""


@_code(0x1001, "Coordinator node overloaded")
class Overloaded(RequestExecutionException):
    """The coordinator is overloaded; try another host."""


@_code(0x1002, "Coordinator node is bootstrapping")
class IsBootstrapping(RequestExecutionException):
    """The coordinator is still joining the ring; try another host."""


@_code(0x1003, "Error during truncate")
class TruncateError(RequestExecutionException):
    """A TRUNCATE did not complete on all replicas."""


class Timeout(RequestExecutionException):
    """Replicas did not answer the coordinator in time (server side). Not the client's own
    timeout, which is :class:`OperationTimedOut`."""


@_code(
    0x1100,
    "Coordinator node timed out waiting for replica nodes' responses",
    "consistency",
    "received_responses",
    "required_responses",
    "write_type",
    "contentions",
)
class WriteTimeout(Timeout):
    """Replicas did not acknowledge a write in time (server side). ``write_type`` says which
    kind of write (SIMPLE, BATCH, BATCH_LOG, UNLOGGED_BATCH, COUNTER, CAS, VIEW, CDC);
    ``contentions`` is set for CAS writes in protocol v5. The client's own timeout is
    :class:`OperationTimedOut`."""


@_code(
    0x1200,
    "Coordinator node timed out waiting for replica nodes' responses",
    "consistency",
    "received_responses",
    "required_responses",
    "data_retrieved",
)
class ReadTimeout(Timeout):
    """Replicas did not answer a read in time (server side); ``data_retrieved`` says whether
    the replica asked for data answered. The client's own timeout is
    :class:`OperationTimedOut`."""


class CoordinationFailure(RequestExecutionException):
    """Replicas answered the coordinator with a failure."""


@_code(
    0x1300,
    "Replica(s) failed to execute read",
    "consistency",
    "received_responses",
    "required_responses",
    "failures",
    "error_code_map",
    "data_retrieved",
)
class ReadFailure(CoordinationFailure):
    """Replicas failed a read. ``failures`` counts them; ``error_code_map`` (v5) maps each
    failed replica's address to its reason code."""


@_code(0x1400, "User Defined Function failed", "keyspace", "function", "arg_types")
class FunctionFailure(RequestExecutionException):
    """A user-defined function raised during execution."""


@_code(
    0x1500,
    "Replica(s) failed to execute write",
    "consistency",
    "received_responses",
    "required_responses",
    "failures",
    "error_code_map",
    "write_type",
)
class WriteFailure(CoordinationFailure):
    """Replicas failed a write. ``failures`` counts them; ``error_code_map`` (v5) maps each
    failed replica's address to its reason code."""


@_code(0x1600, "CDC write failure")
class CDCWriteFailure(RequestExecutionException):
    """A write to a CDC-enabled table was refused because CDC space is full (v5)."""


@_code(
    0x1700,
    "CAS operation result is unknown",
    "consistency",
    "received_responses",
    "required_responses",
)
class CASWriteUnknown(RequestExecutionException):
    """A lightweight transaction may or may not have been applied (v5)."""


@_code(0x2000, "Syntax error in CQL query")
class SyntaxException(RequestValidationException):
    """The CQL text does not parse."""


@_code(0x2100, "Unauthorized")
class Unauthorized(RequestValidationException):
    """The logged-in role lacks a permission the request needs."""


@_code(0x2200, "Invalid query")
class InvalidRequest(RequestValidationException):
    """The request is syntactically valid but wrong (unknown table, bad value, ...)."""


@_code(0x2300, "Query invalid because of configuration issue")
class ConfigurationException(RequestValidationException):
    """The request conflicts with the schema or configuration (e.g. bad replication)."""


@_code(0x2400, "Already exists", "keyspace", "table")
class AlreadyExists(ConfigurationException):
    """CREATE of a keyspace or table that exists; ``table`` is empty for a keyspace."""

    def __str__(self) -> str:
        if self.fields.get("table"):
            return f"Table '{self.fields.get('keyspace')}.{self.fields['table']}' already exists"
        return f"Keyspace '{self.fields.get('keyspace')}' already exists"


@_code(0x2500, "Unprepared", "statement_id")
class Unprepared(RequestValidationException):
    """The coordinator does not know this prepared statement id (restarted, or evicted);
    the driver re-prepares and retries transparently."""


#: cassandra-driver's name for the same error
PreparedQueryNotFound = Unprepared


# --------------------------------------------------------------------------------------------
# Errors of the client
# --------------------------------------------------------------------------------------------


class OperationTimedOut(DriverException):
    """The *client* gave up waiting (its own timeout), as opposed to the server's
    :class:`ReadTimeout` / :class:`WriteTimeout`. The request may still have been executed."""

    def __init__(self, message: str = "", host: object = None, timeout: float | None = None):
        super().__init__(message)
        self.host = host
        self.timeout = timeout

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0] if self.args else "", self.host, self.timeout))


class NoHostAvailable(DriverException):
    """No host could serve the request. ``errors`` maps each host tried to its error."""

    def __init__(self, message: str, errors: dict[Any, BaseException] | None = None):
        super().__init__(message, errors or {})
        self.errors = errors or {}

    def __str__(self) -> str:
        return str(self.args[0])


class ConnectionException(DriverException):
    """A connection failed or broke. ``host`` names the peer when known."""

    def __init__(self, message: str = "", host: object = None):
        super().__init__(message)
        self.host = host

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0] if self.args else "", self.host))


class ConnectionShutdown(ConnectionException):
    """The connection was closed (by us, by the peer, or as defunct) before an answer came."""


class ConnectionBusy(ConnectionException):
    """The connection has no free stream id left for another request."""


class UnsupportedOperation(DriverException):
    """The negotiated protocol version or server does not support the requested feature."""


class HubError(DriverException):
    """Misuse of the hub: e.g. a session used from a greenlet of another thread's hub."""


class RequestThrottled(DriverException):
    """The session's request throttler refused a request: its queue was full, or the request
    waited longer than the throttler's ``max_wait``. Nothing was sent to any host, so
    retrying later is always safe. ``reason`` is ``"queue full"`` or ``"timed out"``."""

    def __init__(self, message: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0] if self.args else "", self.reason))


class TraceUnavailable(DriverException):
    """The server did not (yet) make the trace of a request available: tracing was not asked
    for, or system_traces had no complete session within ``max_wait`` seconds (traces are
    written asynchronously; try again with a longer ``max_wait``)."""


# --------------------------------------------------------------------------------------------
# Bytes that do not follow the protocol
# --------------------------------------------------------------------------------------------


class ProtocolError(DriverException):
    """Bytes received do not follow the native protocol. The connection that read them
    cannot be trusted any more and is closed. Compare :class:`ProtocolException`, which the
    *server* sends about our request."""


class TruncatedError(ProtocolError):
    """A length points past the end of the data."""


class MalformedError(ProtocolError):
    """A value is not valid for its declared type or field (negative length, bad flag, ...)."""


class FrameTooLarge(ProtocolError):
    """A declared frame or segment length exceeds the configured maximum; refused before
    anything is allocated."""


class ChecksumError(ProtocolError):
    """A v5 segment header (CRC24) or payload (CRC32) checksum does not match."""


class UnknownOpcode(ProtocolError):
    """A frame carries an opcode the protocol does not define."""


class UnknownTypeError(ProtocolError):
    """A CQL type id (or type string) we do not know."""


class UnsupportedProtocolVersion(ProtocolError):
    """The peer speaks a protocol version we do not (or did not agree on)."""

    def __init__(self, message: str = "", version: int | None = None):
        super().__init__(message)
        self.version = version

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0] if self.args else "", self.version))


class CompressionError(ProtocolError):
    """A compressed body or segment does not decompress to its declared length."""


# -- names cassandra-driver applications catch -------------------------------------------------


class UnresolvableContactPoints(NoHostAvailable):
    """No contact point given to the Cluster could be resolved to an address. Raised by
    ``connect()`` (cassandra-driver raises it from the Cluster constructor, which resolves
    names there; greencql does no IO before ``connect()``). Also a NoHostAvailable."""


class DependencyException(DriverException):
    """An optional dependency a setting needs is not installed. ``excs`` holds the import
    errors met while looking for it."""

    def __init__(self, msg: str = "", excs: list[BaseException] | None = None) -> None:
        self.excs = list(excs or ())
        super().__init__(msg)


class QueryExhausted(DriverException):
    """Every host of the query plan was tried (cassandra-driver's internal signal; greencql
    raises :class:`NoHostAvailable` to callers)."""


class NoConnectionsAvailable(DriverException):
    """A host's pool has no connection able to take a request now."""


class UserTypeDoesNotExist(DriverException):
    """``Cluster.register_user_type`` named a type the schema does not have."""
