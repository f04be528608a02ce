"""Authenticators: the client half of the SASL exchange that follows AUTHENTICATE.

Owns the :class:`Authenticator` protocol (the shape cassandra-driver's authenticators already
have, so theirs work unchanged), SASL PLAIN for Cassandra's ``PasswordAuthenticator`` (and
DSE's ``DseAuthenticator``, which first asks for the mechanism name), the auth providers that
make one authenticator per connection, and the server side of SASL PLAIN for the simulator.

Pure: no IO, no clock. The handshake state machine (``handshake.py``) calls an authenticator
with the server's tokens and sends what it returns.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from greencql.errors import AuthenticationFailed

__all__ = [
    "Authenticator",
    "AuthProvider",
    "PlainTextAuthenticator",
    "PasswordAuthenticator",
    "PlainTextAuthProvider",
    "sasl_plain_token",
    "parse_sasl_plain",
]

# DSE's unified authenticator negotiates the mechanism: the client names it ("PLAIN") and the
# server answers with the challenge "PLAIN-START" before credentials are sent.
_DSE_AUTHENTICATORS = (
    "com.datastax.bdp.cassandra.auth.DseAuthenticator",
    "DseAuthenticator",
)
_PLAIN_MECHANISM = b"PLAIN"
_PLAIN_START = b"PLAIN-START"


@runtime_checkable
class Authenticator(Protocol):
    """One SASL exchange on one connection.

    The handshake sets ``server_authenticator_class`` (the class name the server sent in
    AUTHENTICATE) before calling :meth:`initial_response`; then each AUTH_CHALLENGE token goes
    to :meth:`evaluate_challenge`, and the AUTH_SUCCESS token to
    :meth:`on_authentication_success`. Raising from any of them fails the handshake with that
    exception (wrap it in :class:`~greencql.errors.AuthenticationFailed` for a clean report).
    """

    server_authenticator_class: str | None

    def initial_response(self) -> bytes | None:
        """The first AUTH_RESPONSE token."""
        ...

    def evaluate_challenge(self, challenge: bytes | None) -> bytes | None:
        """The answer to one AUTH_CHALLENGE token."""
        ...

    def on_authentication_success(self, token: bytes | None) -> None:
        """The server accepted; ``token`` is its final data (often None)."""
        ...


class AuthProvider(Protocol):
    """Makes a fresh :class:`Authenticator` for each connection to ``host``."""

    def new_authenticator(self, host: str) -> Authenticator: ...


def sasl_plain_token(username: str, password: str, authorization_id: str = "") -> bytes:
    """SASL PLAIN (RFC 4616): ``authzid NUL authcid NUL passwd``, UTF-8."""
    return b"\x00".join(s.encode("utf-8") for s in (authorization_id, username, password))


def parse_sasl_plain(token: bytes | None) -> tuple[str, str, str] | None:
    """(authorization id, username, password) of a SASL PLAIN token; None when it is not
    one (the server then answers Bad credentials)."""
    if not token:
        return None
    parts = bytes(token).split(b"\x00")
    if len(parts) != 3:
        return None
    try:
        authzid, username, password = (p.decode("utf-8") for p in parts)
    except UnicodeDecodeError:
        return None
    if not username:
        return None
    return authzid, username, password


class PlainTextAuthenticator:
    """SASL PLAIN with a username and password: what Cassandra's ``PasswordAuthenticator``
    (and ScyllaDB's) expect. Against DSE's ``DseAuthenticator`` it first names the mechanism,
    then answers the ``PLAIN-START`` challenge with the credentials."""

    def __init__(self, username: str, password: str, authorization_id: str = "") -> None:
        self.username = username
        self.password = password
        self.authorization_id = authorization_id
        self.server_authenticator_class: str | None = None
        self.succeeded = False

    def _credentials(self) -> bytes:
        return sasl_plain_token(self.username, self.password, self.authorization_id)

    def _negotiates_mechanism(self) -> bool:
        name = self.server_authenticator_class or ""
        return any(name == dse or name.endswith("." + dse) for dse in _DSE_AUTHENTICATORS)

    def initial_response(self) -> bytes | None:
        if self._negotiates_mechanism():
            return _PLAIN_MECHANISM
        return self._credentials()

    def evaluate_challenge(self, challenge: bytes | None) -> bytes | None:
        if challenge == _PLAIN_START:
            return self._credentials()
        raise AuthenticationFailed(
            f"unexpected SASL PLAIN challenge from {self.server_authenticator_class}: {challenge!r}"
        )

    def on_authentication_success(self, token: bytes | None) -> None:
        self.succeeded = True

    def __repr__(self) -> str:  # never show the password
        return f"<PlainTextAuthenticator username={self.username!r}>"


#: Named after the server class it talks to (org.apache.cassandra.auth.PasswordAuthenticator).
PasswordAuthenticator = PlainTextAuthenticator


class PlainTextAuthProvider:
    """An :class:`AuthProvider` of :class:`PlainTextAuthenticator` (cassandra-driver's name)."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def new_authenticator(self, host: str) -> PlainTextAuthenticator:
        return PlainTextAuthenticator(self.username, self.password)

    def __repr__(self) -> str:
        return f"<PlainTextAuthProvider username={self.username!r}>"
