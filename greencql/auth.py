"""``cassandra.auth`` under greencql's name: authentication providers.

Owns nothing: it re-exports :mod:`greencql.protocol.auth` (SASL PLAIN, which also answers
DataStax Enterprise's unified authenticator), so that ``from cassandra.auth import
PlainTextAuthProvider`` becomes ``from greencql.auth import PlainTextAuthProvider``.
"""

from greencql.protocol.auth import (
    Authenticator,
    AuthProvider,
    PasswordAuthenticator,
    PlainTextAuthenticator,
    PlainTextAuthProvider,
)

__all__ = [
    "AuthProvider",
    "Authenticator",
    "PlainTextAuthProvider",
    "PlainTextAuthenticator",
    "PasswordAuthenticator",
]
