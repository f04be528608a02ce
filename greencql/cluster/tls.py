"""TLS settings of a Cluster: the context, what is checked when, and the expected server names.

What is checked (the README's ``ssl_context`` row says the same):

- ``ssl_context`` given: obeyed as the application set it. A context from
  ``ssl.create_default_context()`` or ``ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)`` verifies the
  certificate chain *and* the host name (the address greencql connects to, or the expected
  ``server_hostname``): that is the default. A context whose ``check_hostname`` or
  ``verify_mode`` was turned off is obeyed too (many certificates carry no IP SANs), with one
  :class:`~greencql.errors.InsecureTLSWarning` per context naming the risk.
- ``ssl_options`` without ``ssl_context`` (cassandra-driver's dictionary form, deprecated
  there too): greencql builds the context (greencql.cluster.compat), verifying the chain when
  ``ca_certs`` is given and, unlike cassandra-driver, the host name too unless
  ``check_hostname`` is False.
- ``ssl_options["server_hostname"]``: the name expected in the nodes' certificates instead of
  the address connected to: one name for every host, a mapping ``address -> name``, or a
  callable ``address -> name | None``. Also sent as SNI.

This module only decides and validates; the hubs do the handshake (``Hub.wrap_tls``).
"""

from __future__ import annotations

import ssl
import warnings
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from greencql.cluster.compat import ssl_context_from_options
from greencql.errors import InsecureTLSWarning

__all__ = ["tls_settings"]

# contexts already warned about: the warning is once per context, not once per connection
_warned: weakref.WeakSet[ssl.SSLContext] = weakref.WeakSet()


def tls_settings(
    ssl_context: ssl.SSLContext | None, ssl_options: Mapping[str, Any] | None
) -> tuple[ssl.SSLContext | None, str | Mapping[str, str] | Callable[[str], Any] | None]:
    """The context to use (None: plain TCP) and the expected server name option."""
    if ssl_context is not None and not isinstance(ssl_context, ssl.SSLContext):
        raise TypeError("ssl_context must be an ssl.SSLContext")
    options = dict(ssl_options or {})
    server_hostname = options.pop("server_hostname", None)
    if server_hostname is not None and not (
        isinstance(server_hostname, (str, Mapping)) or callable(server_hostname)
    ):
        raise TypeError(
            "ssl_options['server_hostname'] must be a name, a mapping address -> name or a "
            f"callable, not {type(server_hostname).__name__}"
        )
    if ssl_context is None and (options or server_hostname is not None):
        warnings.warn(
            "Using ssl_options without ssl_context is deprecated and will result in an "
            "error in the next major release. Please use ssl_context to prepare for that "
            "release.", DeprecationWarning, stacklevel=3)  # as cassandra-driver warns
        ssl_context = ssl_context_from_options(options)
    elif ssl_context is not None and options:
        raise ValueError(
            f"ssl_options {sorted(options)} build a context; with ssl_context given, set them "
            "on the context (only 'server_hostname' goes with ssl_context)"
        )
    if ssl_context is not None:
        _warn_if_unverified(ssl_context)
    return ssl_context, server_hostname


def _warn_if_unverified(context: ssl.SSLContext) -> None:
    if context in _warned:
        return
    if context.verify_mode == ssl.CERT_NONE:
        risk = ("certificates are not verified (verify_mode=CERT_NONE): anyone on the path can "
                "impersonate the nodes and read the traffic, credentials included")
    elif not context.check_hostname:
        risk = ("host names are not checked (check_hostname=False): any certificate signed by a "
                "trusted CA is accepted for any node; prefer ssl_options={'server_hostname': "
                "...} when certificates lack the addresses you connect to")
    else:
        return
    _warned.add(context)
    warnings.warn(f"greencql TLS: {risk}", InsecureTLSWarning, stacklevel=4)
