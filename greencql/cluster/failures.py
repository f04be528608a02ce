"""Why connecting failed, and the advice that follows from it (issue 16).

A NoHostAvailable raised while connecting ends with what to check. The advice must follow
the cause: "check that the nodes are running" sends a user with a wrong password, a missing
``auth_provider`` or an untrusted certificate the wrong way. Each host's error is sorted into
one kind; one kind gives one piece of advice, several kinds name the hosts of each.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from greencql.errors import (
    AuthenticationFailed,
    ClientAuthenticationFailed,
    ProtocolError,
    ProtocolException,
)

__all__ = ["connect_advice", "failure_kind"]

UNREACHABLE = "unreachable"
CREDENTIALS = "credentials"
NO_AUTHENTICATOR = "no-authenticator"
TLS = "tls"
TLS_REQUIRED = "tls-required"
PROTOCOL = "protocol"

_ADVICE = {
    UNREACHABLE: "check that the nodes are running and that contact_points/port are right",
    CREDENTIALS: "check the username and password of auth_provider (the server refused them)",
    NO_AUTHENTICATOR: "the nodes require authentication: configure auth_provider",
    TLS: "check TLS: that ssl_context trusts the CA that signed the nodes' certificates, that "
         "the certificates name the addresses you connect to (or set "
         "ssl_options={'server_hostname': ...}), and that the nodes have client encryption "
         "enabled on this port",
    TLS_REQUIRED: "if the nodes require client TLS, pass ssl_context (an ssl.SSLContext "
                  "trusting their CA); if not, check that they are running and that "
                  "contact_points/port are right",
    PROTOCOL: "check protocol_version: leave it None to negotiate, or pin a version every "
              "node supports",
}

# words of our own messages (greencql.pool.connection) for a plain connection to a TLS port
_TLS_REQUIRED_WORDS = ("answered in TLS", "requires client TLS")


def failure_kind(error: BaseException) -> str:
    """One of the kinds above, looking through the chain of causes."""
    seen: BaseException | None = error
    for _ in range(6):  # a short chain: connection error -> SSL/socket error
        if seen is None:
            break
        if isinstance(seen, ClientAuthenticationFailed):
            return NO_AUTHENTICATOR
        if isinstance(seen, AuthenticationFailed):
            return CREDENTIALS
        if isinstance(seen, (ssl.SSLError, ssl.CertificateError)):
            return TLS
        if isinstance(seen, (ProtocolError, ProtocolException)):
            return PROTOCOL
        if any(word in str(seen) for word in _TLS_REQUIRED_WORDS):
            return TLS_REQUIRED
        seen = seen.__cause__
    return UNREACHABLE


def connect_advice(errors: Mapping[Any, BaseException]) -> str:
    """``"; <advice>"`` for the causes in ``errors`` (host -> error); empty when none."""
    by_kind: dict[str, list[str]] = {}
    for host, error in errors.items():
        by_kind.setdefault(failure_kind(error), []).append(str(host))
    if not by_kind:
        return ""
    if len(by_kind) == 1:
        return "; " + _ADVICE[next(iter(by_kind))]
    return "; " + "; ".join(
        f"for {', '.join(hosts)}: {_ADVICE[kind]}" for kind, hosts in by_kind.items()
    )
