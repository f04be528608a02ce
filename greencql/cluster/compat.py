"""cassandra-driver's legacy Cluster settings turned into greencql's.

Owns :func:`ssl_context_from_options`: cassandra-driver's ``ssl_options`` dict (the arguments
of the old ``ssl.wrap_socket``) as the ``ssl.SSLContext`` greencql takes. Pure: it builds a
context from files, no connection is made here.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

__all__ = ["ssl_context_from_options"]

_KNOWN = frozenset({"ca_certs", "certfile", "keyfile", "cert_reqs", "ssl_version",
                    "check_hostname", "ciphers", "password"})


def ssl_context_from_options(options: Mapping[str, Any]) -> ssl.SSLContext:
    """An ``ssl.SSLContext`` from cassandra-driver's ``ssl_options``: ``ca_certs``,
    ``certfile``/``keyfile`` (and ``password``), ``cert_reqs`` (``ssl.CERT_NONE``,
    ``CERT_OPTIONAL``, ``CERT_REQUIRED``; CERT_REQUIRED when ``ca_certs`` is given, as the
    old ``wrap_socket`` defaulted), ``check_hostname`` (default on when certificates are
    verified), ``ciphers``. ``ssl_version`` is not
    needed: the context negotiates the highest TLS version both sides have."""
    unknown = set(options) - _KNOWN
    if unknown:
        raise ValueError(f"unknown ssl_options {sorted(unknown)}; known: {sorted(_KNOWN)}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cert_reqs = options.get("cert_reqs")
    if cert_reqs is None:
        cert_reqs = ssl.CERT_REQUIRED if options.get("ca_certs") else ssl.CERT_NONE
    # unlike cassandra-driver (off unless asked for), a verified certificate must also name the
    # host unless the options turn that off: secure by default (greencql.cluster.tls)
    check_hostname = bool(options.get("check_hostname", True))
    if cert_reqs == ssl.CERT_NONE:
        check_hostname = False
    context.check_hostname = check_hostname
    context.verify_mode = cert_reqs
    if options.get("ca_certs"):
        context.load_verify_locations(options["ca_certs"])
    if options.get("certfile"):
        context.load_cert_chain(options["certfile"], options.get("keyfile"),
                                options.get("password"))
    if options.get("ciphers"):
        context.set_ciphers(options["ciphers"])
    return context
