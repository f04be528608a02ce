"""The connection handshake as sans-IO state machines: one for the client, one for the server.

Owns the order of the first messages of a connection (OPTIONS / SUPPORTED, STARTUP, READY or
AUTHENTICATE and the SASL exchange), the choice of compression, protocol version negotiation
(downgrade), and the moment v5 connections switch to segments. It works on message objects
(``messages.py``), never on bytes or sockets: the connection decodes each frame, hands the
message (and the frame's header version) to :meth:`ClientHandshake.receive`, and carries out
the outputs it gets back, in order.

Client states and transitions (anything not listed fails the handshake)::

    IDLE --start()--> AWAIT_SUPPORTED          [SendRequest(Options)]      (send_options=True)
    IDLE --start()--> AWAIT_STARTUP_RESPONSE   [SendRequest(Startup), EnableCompression?]
    AWAIT_SUPPORTED --SUPPORTED--> AWAIT_STARTUP_RESPONSE  [SendRequest(Startup),
                                                            EnableCompression?]
    AWAIT_STARTUP_RESPONSE --READY--> READY    [StartSegments (v5)?, HandshakeDone]
    AWAIT_STARTUP_RESPONSE --AUTHENTICATE--> AUTHENTICATING  [StartSegments (v5)?,
                                                              SendRequest(AuthResponse)]
    AUTHENTICATING --AUTH_CHALLENGE--> AUTHENTICATING        [SendRequest(AuthResponse)]
    AUTHENTICATING --AUTH_SUCCESS--> READY     [HandshakeDone]
    AWAIT_SUPPORTED | AWAIT_STARTUP_RESPONSE --version refused--> RETRY_VERSION
                                               [RetryWithVersion(lower)]   (or raises
                                               UnsupportedProtocolVersion below min_version)
    any waiting state --ERROR--> FAILED        (raises the typed server exception)
    any waiting state --unexpected message--> FAILED  (raises ProtocolError)

"Version refused" is a ProtocolException (0x000A) about the protocol version (Cassandra:
"Invalid or unsupported protocol version (5); supported versions are (3/v3, 4/v4,
5/v5-beta)"; or "... USE_BETA flag is unset"), or any first answer whose frame header carries a
lower version than we sent. The next version is the highest one the server lists that we allow;
without a list, the server's header version, else one below. The IO layer then closes the
socket and connects again with :meth:`ClientHandshake.retry`.

Compression: v3/v4 compress frames right after STARTUP is sent (``EnableCompression`` follows
the STARTUP it applies to); v5 compresses segments (only lz4 exists for them).

v5 segments: STARTUP and its answer travel as plain frames; both sides switch to segments right
after the answer to STARTUP, READY or AUTHENTICATE (as Cassandra 4 and cassandra-driver do), so
the whole SASL exchange already travels in segments. ``StartSegments(compression)`` marks that
point: carry it out before sending the next request.

The server machine (:class:`ServerHandshake`, used by the simulated cluster) answers OPTIONS
and STARTUP, requires SASL PLAIN credentials when configured, and answers like Cassandra does:
the same error codes and messages (Bad credentials 0x0100 "Provided username x and/or password
are incorrect").
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from greencql.errors import (
    ClientAuthenticationFailed,
    DriverException,
    ProtocolError,
    UnsupportedProtocolVersion,
)
from greencql.protocol.auth import Authenticator, parse_sasl_plain
from greencql.protocol.constants import (
    MAX_SUPPORTED_VERSION,
    MIN_SUPPORTED_VERSION,
    SUPPORTED_VERSIONS,
    Opcode,
)
from greencql.protocol.messages import (
    AuthChallenge,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    ErrorResponse,
    Options,
    Ready,
    Request,
    Response,
    Startup,
    Supported,
)

__all__ = [
    "HandshakeState",
    "SendRequest",
    "SendResponse",
    "EnableCompression",
    "StartSegments",
    "HandshakeDone",
    "RetryWithVersion",
    "ClientHandshake",
    "ServerHandshake",
    "next_protocol_version",
    "parse_supported_versions",
    "unsupported_version_error",
    "beta_version_error",
    "negotiate_server_version",
    "DEFAULT_CQL_VERSION",
    "DEFAULT_COMPRESSION_PREFERENCE",
    "DEFAULT_PASSWORD_AUTHENTICATOR",
]

#: the only CQL_VERSION the spec defines for STARTUP
DEFAULT_CQL_VERSION = "3.0.0"
#: lz4 first: faster than snappy at a similar ratio, and the only one v5 segments know
DEFAULT_COMPRESSION_PREFERENCE: tuple[str, ...] = ("lz4", "snappy")
#: what Cassandra names in AUTHENTICATE when password authentication is on
DEFAULT_PASSWORD_AUTHENTICATOR = "org.apache.cassandra.auth.PasswordAuthenticator"

_PROTOCOL_ERROR = 0x000A
_BAD_CREDENTIALS = 0x0100
_V5_COMPRESSION = frozenset(("lz4",))


class HandshakeState(enum.Enum):
    IDLE = "IDLE"
    AWAIT_SUPPORTED = "AWAIT_SUPPORTED"
    AWAIT_STARTUP_RESPONSE = "AWAIT_STARTUP_RESPONSE"
    AUTHENTICATING = "AUTHENTICATING"
    READY = "READY"
    RETRY_VERSION = "RETRY_VERSION"
    FAILED = "FAILED"


# -- outputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendRequest:
    """Client: send this request (the handshake uses one stream id at a time)."""

    message: Request


@dataclass(frozen=True)
class SendResponse:
    """Server: send this response on the stream of the request being answered."""

    message: Response


@dataclass(frozen=True)
class EnableCompression:
    """v3/v4: compress frame bodies with ``name`` from now on (decompress whatever arrives
    flagged COMPRESSED)."""

    name: str


@dataclass(frozen=True)
class StartSegments:
    """v5: both directions switch to segments now (compressed with ``compression`` if set),
    right after the answer to STARTUP (READY or AUTHENTICATE). Everything sent or received
    after this output travels in segments."""

    compression: str | None


@dataclass(frozen=True)
class HandshakeDone:
    """The connection is ready for requests."""

    version: int
    compression: str | None
    authenticator: str | None  # the server's authenticator class, when it asked for one
    supported: Mapping[str, list[str]] | None  # the SUPPORTED options, when OPTIONS was sent
    username: str | None = None  # server side: who authenticated


@dataclass(frozen=True)
class RetryWithVersion:
    """The server refused our protocol version: close this socket and connect again at
    ``version`` (:meth:`ClientHandshake.retry` makes the machine for it)."""

    version: int
    reason: str


#: what the machines return: instructions for the IO layer, carried out in order
Output = (
    SendRequest
    | SendResponse
    | EnableCompression
    | StartSegments
    | HandshakeDone
    | RetryWithVersion
)


# -- version negotiation -------------------------------------------------------------------------

_SUPPORTED_LIST = re.compile(r"supported versions are \(([^)]*)\)", re.IGNORECASE)
_VERSION_ITEM = re.compile(r"^\s*(\d+)\s*/\s*(\S*)\s*$")


def parse_supported_versions(message: str) -> list[tuple[int, bool]] | None:
    """(version, is_beta) pairs of a "supported versions are (3/v3, 4/v4, 5/v5-beta)"
    message; None when the message has no such list."""
    match = _SUPPORTED_LIST.search(message)
    if match is None:
        return None
    out = []
    for item in match.group(1).split(","):
        m = _VERSION_ITEM.match(item)
        if m is not None:
            out.append((int(m.group(1)), "beta" in m.group(2).lower()))
    return out


def _is_version_error(message: str) -> bool:
    text = message.lower()
    return (
        "unsupported protocol version" in text
        or "invalid protocol version" in text
        or "use_beta flag is unset" in text
        or "beta version of the protocol" in text
    )


def next_protocol_version(
    attempted: int,
    message: str = "",
    server_version: int | None = None,
    min_version: int = MIN_SUPPORTED_VERSION,
) -> int:
    """The version to try after ``attempted`` was refused.

    The highest non-beta version below ``attempted`` that the server lists in ``message`` (if
    it lists any) and we speak; otherwise the version of the server's answer, when lower;
    otherwise ``attempted - 1``. Raises UnsupportedProtocolVersion when that would go below
    ``min_version``.
    """
    ours = [v for v in SUPPORTED_VERSIONS if min_version <= v < attempted]
    listed = parse_supported_versions(message) if message else None
    candidate: int | None
    if listed:
        usable = {v for v, beta in listed if not beta}
        choices = [v for v in ours if v in usable]
        candidate = max(choices) if choices else None
    elif server_version is not None and server_version < attempted:
        candidate = server_version if server_version in ours else None
    else:
        candidate = max(ours) if ours else None
    if candidate is None:
        raise UnsupportedProtocolVersion(
            f"the server refused protocol v{attempted} and no version we allow "
            f"(v{min_version}..v{attempted - 1}) is left; server said: {message!r}",
            attempted,
        )
    return candidate


# -- client ------------------------------------------------------------------------------------


@dataclass
class _ClientConfig:
    min_version: int
    compression: tuple[str, ...]
    authenticator: Authenticator | None
    send_options: bool
    cql_version: str
    driver_name: str
    driver_version: str | None
    startup_options: Mapping[str, str] = field(default_factory=dict)


class ClientHandshake:
    """The client side of the handshake (see the module docstring for states and outputs).

    ``compression``: the algorithms we can do, most preferred first (e.g. the keys of
    ``compression.available_compressors()`` in DEFAULT_COMPRESSION_PREFERENCE order); the first
    one the server lists in SUPPORTED is used. Without OPTIONS (``send_options=False``) the
    first one is requested blindly.
    ``authenticator``: a fresh :class:`~greencql.protocol.auth.Authenticator` for this
    connection, used only if the server sends AUTHENTICATE.
    """

    def __init__(
        self,
        version: int = MAX_SUPPORTED_VERSION,
        *,
        min_version: int = MIN_SUPPORTED_VERSION,
        compression: Sequence[str] = (),
        authenticator: Authenticator | None = None,
        send_options: bool = True,
        cql_version: str = DEFAULT_CQL_VERSION,
        driver_name: str = "greencql",
        driver_version: str | None = None,
        startup_options: Mapping[str, str] | None = None,
    ) -> None:
        if version not in SUPPORTED_VERSIONS:
            raise UnsupportedProtocolVersion(f"protocol v{version} is not supported", version)
        if min_version > version:
            raise ValueError(f"min_version v{min_version} is above version v{version}")
        self.version = version
        self.state = HandshakeState.IDLE
        self._config = _ClientConfig(
            min_version=min_version,
            compression=tuple(compression),
            authenticator=authenticator,
            send_options=send_options,
            cql_version=cql_version,
            driver_name=driver_name,
            driver_version=driver_version,
            startup_options=dict(startup_options or {}),
        )
        self.supported: Mapping[str, list[str]] | None = None
        self.compression: str | None = None
        self.server_authenticator: str | None = None
        self.error: BaseException | None = None
        self._retry_version = version
        self._segments = False

    # -- driving ---------------------------------------------------------------------------

    def start(self) -> list[Output]:
        """The first outputs: OPTIONS, or STARTUP when ``send_options`` is off."""
        self._expect(HandshakeState.IDLE)
        if self._config.send_options:
            self.state = HandshakeState.AWAIT_SUPPORTED
            return [SendRequest(Options())]
        wanted = [c for c in self._config.compression if self._compression_ok(c)]
        return self._startup(wanted[0] if wanted else None)

    def receive(self, message: Response, frame_version: int | None = None) -> list[Output]:
        """Feed the response to the last request; ``frame_version`` is the version byte of
        the frame that carried it. Returns the outputs to carry out, in order; raises the
        typed exception (and moves to FAILED) when the handshake cannot succeed."""
        state = self.state
        if state not in (
            HandshakeState.AWAIT_SUPPORTED,
            HandshakeState.AWAIT_STARTUP_RESPONSE,
            HandshakeState.AUTHENTICATING,
        ):
            raise self._fail(
                ProtocolError(f"handshake got {type(message).__name__} in {state.name}")
            )

        if state is not HandshakeState.AUTHENTICATING:
            retry = self._version_refused(message, frame_version)
            if retry is not None:
                self.state = HandshakeState.RETRY_VERSION
                return [retry]

        if isinstance(message, ErrorResponse):
            raise self._fail(message.to_exception())

        if state is HandshakeState.AWAIT_SUPPORTED:
            if not isinstance(message, Supported):
                raise self._unexpected(message)
            self.supported = message.options
            return self._startup(self._choose_compression(message.options))

        if state is HandshakeState.AWAIT_STARTUP_RESPONSE:
            if isinstance(message, Ready):
                return self._done()
            if isinstance(message, Authenticate):
                return self._authenticate(message.authenticator)
            raise self._unexpected(message)

        # AUTHENTICATING
        authenticator = self._config.authenticator
        assert authenticator is not None
        if isinstance(message, AuthChallenge):
            token = self._call_authenticator(authenticator.evaluate_challenge, message.token)
            return [SendRequest(AuthResponse(token))]
        if isinstance(message, AuthSuccess):
            self._call_authenticator(authenticator.on_authentication_success, message.token)
            return self._done()
        raise self._unexpected(message)

    def retry(self) -> ClientHandshake:
        """A fresh machine, same settings, at the version a RetryWithVersion named."""
        if self.state is not HandshakeState.RETRY_VERSION:
            raise RuntimeError(f"retry() in state {self.state.name}")
        cfg = self._config
        return ClientHandshake(
            self._retry_version,
            min_version=cfg.min_version,
            compression=cfg.compression,
            authenticator=cfg.authenticator,
            send_options=cfg.send_options,
            cql_version=cfg.cql_version,
            driver_name=cfg.driver_name,
            driver_version=cfg.driver_version,
            startup_options=cfg.startup_options,
        )

    @property
    def done(self) -> bool:
        return self.state is HandshakeState.READY

    # -- steps -----------------------------------------------------------------------------

    def startup_options(self, compression: str | None) -> dict[str, str]:
        """The STARTUP options this machine sends."""
        cfg = self._config
        driver_version = cfg.driver_version
        if driver_version is None:
            import greencql  # the package root only defines metadata; no import cycle

            driver_version = greencql.__version__
        options = {
            "CQL_VERSION": cfg.cql_version,
            "DRIVER_NAME": cfg.driver_name,
            "DRIVER_VERSION": driver_version,
        }
        options.update(cfg.startup_options)
        if compression is not None:
            options["COMPRESSION"] = compression
        return options

    def _startup(self, compression: str | None) -> list[Output]:
        self.compression = compression
        self.state = HandshakeState.AWAIT_STARTUP_RESPONSE
        out: list[Output] = [SendRequest(Startup(self.startup_options(compression)))]
        if compression is not None and self.version < 5:
            out.append(EnableCompression(compression))
        return out

    def _compression_ok(self, name: str) -> bool:
        return self.version < 5 or name in _V5_COMPRESSION

    def _choose_compression(self, options: Mapping[str, list[str]]) -> str | None:
        offered = {c.lower() for c in options.get("COMPRESSION", ())}
        for name in self._config.compression:
            if name.lower() in offered and self._compression_ok(name):
                return name
        return None

    def _authenticate(self, server_class: str) -> list[Output]:
        self.server_authenticator = server_class
        authenticator = self._config.authenticator
        if authenticator is None:
            raise self._fail(
                ClientAuthenticationFailed(
                    f"the server requires authentication with {server_class} (it answered "
                    "STARTUP with AUTHENTICATE), but no auth_provider was configured: pass "
                    "Cluster(auth_provider=PlainTextAuthProvider(username=..., password=...)) "
                    f"or an authenticator for {server_class}",
                    authenticator=server_class,
                )
            )
        try:
            authenticator.server_authenticator_class = server_class
        except AttributeError:  # an authenticator with __slots__ or read-only attributes
            pass
        self.state = HandshakeState.AUTHENTICATING
        token = self._call_authenticator(authenticator.initial_response)
        out: list[Output] = []
        if self.version >= 5:
            self._segments = True
            out.append(StartSegments(self.compression))
        out.append(SendRequest(AuthResponse(token)))
        return out

    def _call_authenticator(self, method: Any, *args: Any) -> Any:
        try:
            return method(*args)
        except DriverException as exc:
            raise self._fail(exc) from None
        except Exception as exc:
            failure = ClientAuthenticationFailed(
                f"the authenticator {type(self._config.authenticator).__name__} raised "
                f"{exc!r} while answering {self.server_authenticator}",
                authenticator=self.server_authenticator,
            )
            failure.__cause__ = exc
            raise self._fail(failure) from exc

    def _done(self) -> list[Output]:
        self.state = HandshakeState.READY
        out: list[Output] = []
        if self.version >= 5 and not self._segments:
            out.append(StartSegments(self.compression))
        out.append(
            HandshakeDone(self.version, self.compression, self.server_authenticator, self.supported)
        )
        return out

    def _version_refused(
        self, message: Response, frame_version: int | None
    ) -> RetryWithVersion | None:
        lower_frame = frame_version is not None and frame_version < self.version
        if isinstance(message, ErrorResponse):
            if not (
                lower_frame
                or (message.code == _PROTOCOL_ERROR and _is_version_error(message.message))
            ):
                return None
            reason = message.message
        elif lower_frame:
            reason = f"the server answered with protocol v{frame_version}"
        else:
            return None
        try:
            version = next_protocol_version(
                self.version, reason, frame_version, self._config.min_version
            )
        except UnsupportedProtocolVersion as exc:
            raise self._fail(exc) from None
        self._retry_version = version
        return RetryWithVersion(version, reason)

    def _expect(self, state: HandshakeState) -> None:
        if self.state is not state:
            raise RuntimeError(f"handshake is in state {self.state.name}, not {state.name}")

    def _unexpected(self, message: Response) -> BaseException:
        return self._fail(
            ProtocolError(
                f"unexpected {type(message).__name__} during the handshake "
                f"(state {self.state.name})"
            )
        )

    def _fail(self, exc: BaseException) -> BaseException:
        self.state = HandshakeState.FAILED
        self.error = exc
        return exc


# -- server ------------------------------------------------------------------------------------


def unsupported_version_error(
    requested: int,
    supported: Sequence[int] = (3, 4, 5),
    beta: Sequence[int] = (),
) -> ErrorResponse:
    """The ProtocolException Cassandra sends for a version it does not speak."""
    listed = ", ".join(
        f"{v}/v{v}{'-beta' if v in beta else ''}" for v in sorted(set(supported) | set(beta))
    )
    return ErrorResponse(
        _PROTOCOL_ERROR,
        f"Invalid or unsupported protocol version ({requested}); supported versions are ({listed})",
    )


def beta_version_error(version: int) -> ErrorResponse:
    """The ProtocolException Cassandra sends for a beta version without the USE_BETA flag."""
    return ErrorResponse(
        _PROTOCOL_ERROR,
        f"Beta version of the protocol used ({version}/v{version}-beta), "
        "but USE_BETA flag is unset",
    )


def negotiate_server_version(
    requested: int,
    supported: Sequence[int] = (3, 4, 5),
    beta: Sequence[int] = (),
    use_beta: bool = False,
) -> tuple[int, ErrorResponse | None]:
    """Server side: (version to answer with, error or None) for a client's first frame.

    A version above ours is answered in our highest non-beta version (which the client can
    then parse and move to); one below ours in its own version, so that old clients can read
    the error.
    """
    if requested in beta:
        if use_beta:
            return requested, None
        return requested, beta_version_error(requested)
    if requested in supported:
        return requested, None
    error = unsupported_version_error(requested, supported, beta)
    stable = [v for v in supported if v not in beta]
    if stable and requested > max(stable):
        return max(stable), error
    return requested, error


class ServerHandshake:
    """The server side (for the simulated cluster).

    ``credentials`` (username -> password) turns on SASL PLAIN authentication, announced as
    ``authenticator_class``. ``compression``: the algorithms the server accepts.
    :meth:`receive` answers each request of the handshake with outputs; once READY it answers
    OPTIONS and refuses STARTUP, and returns ``[]`` for every other request, which the
    connection then executes itself.
    """

    def __init__(
        self,
        version: int,
        *,
        credentials: Mapping[str, str] | None = None,
        authenticator_class: str = DEFAULT_PASSWORD_AUTHENTICATOR,
        compression: Sequence[str] = DEFAULT_COMPRESSION_PREFERENCE,
        cql_versions: Sequence[str] = ("3.4.7",),
        protocol_versions: Sequence[str] = ("3/v3", "4/v4", "5/v5"),
        supported_extra: Mapping[str, list[str]] | None = None,
    ) -> None:
        self.version = version
        self.state = HandshakeState.IDLE
        self.credentials = dict(credentials) if credentials is not None else None
        self.authenticator_class = authenticator_class
        self.compression_names = tuple(compression)
        self.cql_versions = tuple(cql_versions)
        self.protocol_versions = tuple(protocol_versions)
        self.supported_extra = dict(supported_extra or {})
        self.startup_options: dict[str, str] | None = None
        self.compression: str | None = None
        self.username: str | None = None
        self._segments = False

    @property
    def done(self) -> bool:
        return self.state is HandshakeState.READY

    def supported(self) -> Supported:
        options: dict[str, list[str]] = {
            "CQL_VERSION": list(self.cql_versions),
            "COMPRESSION": list(self.compression_names),
            "PROTOCOL_VERSIONS": list(self.protocol_versions),
        }
        options.update(self.supported_extra)
        return Supported(options)

    def receive(self, request: Request) -> list[Output]:
        if isinstance(request, Options):
            return [SendResponse(self.supported())]
        state = self.state
        if state is HandshakeState.IDLE:
            if isinstance(request, Startup):
                return self._startup(request)
            return [
                self._error(f"Unexpected message {_name(request)}, expecting STARTUP or OPTIONS")
            ]
        if state is HandshakeState.AUTHENTICATING:
            if isinstance(request, AuthResponse):
                return self._auth_response(request)
            return [self._error(f"Unexpected message {_name(request)}, expecting SASL_RESPONSE")]
        if isinstance(request, Startup):
            return [
                self._error("Unexpected message STARTUP, the connection is already initialized")
            ]
        if isinstance(request, AuthResponse):
            return [
                self._error(
                    "Unexpected message AUTH_RESPONSE, the connection is already initialized"
                )
            ]
        return []

    def _startup(self, request: Startup) -> list[Output]:
        options = dict(request.options)
        if "CQL_VERSION" not in options:
            return [self._error("Missing value CQL_VERSION in STARTUP message")]
        out: list[Output] = []
        compression = options.get("COMPRESSION")
        if compression is not None:
            compression = compression.lower()
            if compression not in self.compression_names:
                return [self._error(f"Unknown compression algorithm: {compression}")]
            if self.version >= 5 and compression not in _V5_COMPRESSION:
                return [self._error(f"{compression} compression is not supported in protocol V5")]
            if self.version < 5:
                out.append(EnableCompression(compression))
        self.startup_options = options
        self.compression = compression
        if self.credentials is not None:
            self.state = HandshakeState.AUTHENTICATING
            out.append(SendResponse(Authenticate(self.authenticator_class)))
            if self.version >= 5:
                self._segments = True
                out.append(StartSegments(compression))
            return out
        out.append(SendResponse(Ready()))
        return out + self._ready()

    def _auth_response(self, request: AuthResponse) -> list[Output]:
        assert self.credentials is not None
        parsed = parse_sasl_plain(request.token)
        if parsed is None:
            return [
                SendResponse(ErrorResponse(_BAD_CREDENTIALS, "Authentication ID must not be null"))
            ]
        _, username, password = parsed
        if self.credentials.get(username) != password:
            return [
                SendResponse(
                    ErrorResponse(
                        _BAD_CREDENTIALS,
                        f"Provided username {username} and/or password are incorrect",
                    )
                )
            ]
        self.username = username
        return [SendResponse(AuthSuccess(None)), *self._ready()]

    def _ready(self) -> list[Output]:
        self.state = HandshakeState.READY
        out: list[Output] = []
        if self.version >= 5 and not self._segments:
            out.append(StartSegments(self.compression))
        out.append(
            HandshakeDone(
                self.version,
                self.compression,
                self.authenticator_class if self.credentials is not None else None,
                None,
                self.username,
            )
        )
        return out

    @staticmethod
    def _error(message: str) -> SendResponse:
        return SendResponse(ErrorResponse(_PROTOCOL_ERROR, message))


def _name(request: Request) -> str:
    return Opcode(request.opcode).name
