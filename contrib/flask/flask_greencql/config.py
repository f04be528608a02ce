"""The ``GREENCQL_*`` keys of ``app.config``: their defaults, their checks, and the Cluster
options they become.

Owns :data:`DEFAULTS` (every key and its default: the table in contrib/flask/README.md),
:class:`Settings` (the validated configuration of one app, a frozen value) and
:func:`read_settings`, which turns ``app.config`` into :class:`Settings` or raises
:class:`ConfigError` naming the offending key. Everything is checked here, at ``init_app``
time, so a typo fails the deploy instead of the first request.

It must not connect, resolve names or create anything that owns a socket: ``init_app`` runs
in gunicorn's master under ``--preload``, before the workers fork.
"""

from __future__ import annotations

import inspect
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConfigError", "DEFAULTS", "Settings", "read_settings"]

#: Cassandra's native transport port
DEFAULT_PORT = 9042
#: greencql's own default client-side request timeout (seconds); repeated here so that the
#: documented table is complete and gunicorn timeouts can be aligned with it
DEFAULT_REQUEST_TIMEOUT = 10.0

#: every key the extension reads, with its default (None: greencql's default applies)
DEFAULTS: dict[str, Any] = {
    "GREENCQL_CONTACT_POINTS": ["127.0.0.1"],
    "GREENCQL_PORT": DEFAULT_PORT,
    "GREENCQL_KEYSPACE": None,
    "GREENCQL_LOCAL_DC": None,
    "GREENCQL_USERNAME": None,
    "GREENCQL_PASSWORD": None,
    "GREENCQL_SSL_CONTEXT": None,
    "GREENCQL_SSL_CA_FILE": None,
    "GREENCQL_SSL_VERIFY": True,
    "GREENCQL_PROTOCOL_VERSION": None,
    "GREENCQL_COMPRESSION": True,
    "GREENCQL_REQUEST_TIMEOUT": DEFAULT_REQUEST_TIMEOUT,
    "GREENCQL_CONSISTENCY": None,
    "GREENCQL_CLUSTER_OPTIONS": {},
}

_PROTOCOL_VERSIONS = (3, 4, 5)
_COMPRESSIONS = (True, False, "lz4", "snappy")
# Cluster parameters that a GREENCQL_* key sets: GREENCQL_CLUSTER_OPTIONS may not set them too
_OWNED = {
    "contact_points": "GREENCQL_CONTACT_POINTS",
    "port": "GREENCQL_PORT",
    "auth_provider": "GREENCQL_USERNAME",
    "ssl_context": "GREENCQL_SSL_CONTEXT",
    "protocol_version": "GREENCQL_PROTOCOL_VERSION",
    "compression": "GREENCQL_COMPRESSION",
    "default_timeout": "GREENCQL_REQUEST_TIMEOUT",
    "default_consistency_level": "GREENCQL_CONSISTENCY",
}


class ConfigError(ValueError):
    """A ``GREENCQL_*`` key of ``app.config`` is wrong; ``key`` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message

    def __reduce__(self) -> Any:
        return (type(self), (self.key, self.message))


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one app; :meth:`cluster_kwargs` builds the Cluster's."""

    contact_points: tuple[str, ...]
    port: int
    keyspace: str | None
    local_dc: str | None
    username: str | None
    password: str | None
    ssl_context: ssl.SSLContext | None
    ssl_ca_file: str | None
    ssl_verify: bool
    protocol_version: int | None
    compression: bool | str
    request_timeout: float | None
    consistency: Any
    cluster_options: Mapping[str, Any] = field(default_factory=dict)

    def make_ssl_context(self) -> ssl.SSLContext | None:
        """The configured context, or one built from the CA file (in the process that
        connects: an SSLContext loads its files when it is made)."""
        if self.ssl_context is not None:
            return self.ssl_context
        if self.ssl_ca_file is None:
            return None
        ctx = ssl.create_default_context(cafile=self.ssl_ca_file)
        if not self.ssl_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def cluster_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``greencql.Cluster`` (nothing here opens a socket)."""
        from greencql import PlainTextAuthProvider

        kwargs: dict[str, Any] = dict(self.cluster_options)
        kwargs["contact_points"] = list(self.contact_points)
        kwargs["port"] = self.port
        kwargs["compression"] = self.compression
        if self.protocol_version is not None:
            kwargs["protocol_version"] = self.protocol_version
        if self.username is not None:
            kwargs["auth_provider"] = PlainTextAuthProvider(self.username, self.password or "")
        ctx = self.make_ssl_context()
        if ctx is not None:
            kwargs["ssl_context"] = ctx
        kwargs["default_timeout"] = self.request_timeout
        if self.consistency is not None:
            kwargs["default_consistency_level"] = self.consistency
        if self.local_dc is not None:
            from greencql import DCAwareRoundRobinPolicy, TokenAwarePolicy

            kwargs["load_balancing_policy"] = TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc=self.local_dc))
        return kwargs


def _get(config: Mapping[str, Any], key: str) -> Any:
    return config.get(key, DEFAULTS[key])


def _optional_str(config: Mapping[str, Any], key: str) -> str | None:
    value = _get(config, key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(key, f"expected a string, got {type(value).__name__} {value!r}")
    return value


def _bool(config: Mapping[str, Any], key: str) -> bool:
    value = _get(config, key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(key, f"expected a boolean, got {value!r}")


def _contact_points(config: Mapping[str, Any]) -> tuple[str, ...]:
    key = "GREENCQL_CONTACT_POINTS"
    value = _get(config, key)
    if isinstance(value, str):
        points = [p.strip() for p in value.split(",")]
    elif isinstance(value, (list, tuple)):
        points = list(value)
    else:
        raise ConfigError(key, f"expected a list or a comma-separated string, got "
                               f"{type(value).__name__} {value!r}")
    for p in points:
        if not isinstance(p, str) or not p.strip():
            raise ConfigError(key, f"every contact point must be a non-empty string: {value!r}")
    if not points:
        raise ConfigError(key, "at least one contact point is needed")
    return tuple(p.strip() for p in points)


def _port(config: Mapping[str, Any]) -> int:
    key = "GREENCQL_PORT"
    value = _get(config, key)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, f"expected an integer, got {type(value).__name__} {value!r}")
    if not 0 < value < 65536:
        raise ConfigError(key, f"out of range: {value}")
    return value


def _protocol_version(config: Mapping[str, Any]) -> int | None:
    key = "GREENCQL_PROTOCOL_VERSION"
    value = _get(config, key)
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or value not in _PROTOCOL_VERSIONS:
        raise ConfigError(key, f"expected one of {_PROTOCOL_VERSIONS} or None (negotiate), "
                               f"got {value!r}")
    return int(value)


def _compression(config: Mapping[str, Any]) -> bool | str:
    key = "GREENCQL_COMPRESSION"
    value = _get(config, key)
    if isinstance(value, str) and value.lower() in ("lz4", "snappy"):
        return value.lower()
    if isinstance(value, bool):
        return value
    raise ConfigError(key, f"expected True, False, 'lz4' or 'snappy', got {value!r}")


def _request_timeout(config: Mapping[str, Any]) -> float | None:
    key = "GREENCQL_REQUEST_TIMEOUT"
    value = _get(config, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, f"expected seconds (a number), got {type(value).__name__} "
                               f"{value!r}")
    if not value > 0:
        raise ConfigError(key, f"must be positive, got {value!r}")
    return float(value)


def _consistency(config: Mapping[str, Any]) -> Any:
    key = "GREENCQL_CONSISTENCY"
    value = _get(config, key)
    if value is None:
        return None
    from greencql import ConsistencyLevel

    if isinstance(value, ConsistencyLevel):
        return value
    if isinstance(value, str):
        try:
            return ConsistencyLevel[value.strip().upper()]
        except KeyError:
            pass
    names = ", ".join(c.name for c in ConsistencyLevel)
    raise ConfigError(key, f"unknown consistency level {value!r}; expected one of {names}")


def _ssl(config: Mapping[str, Any]) -> tuple[ssl.SSLContext | None, str | None, bool]:
    ctx = _get(config, "GREENCQL_SSL_CONTEXT")
    if ctx is not None and not isinstance(ctx, ssl.SSLContext):
        raise ConfigError("GREENCQL_SSL_CONTEXT",
                          f"expected an ssl.SSLContext, got {type(ctx).__name__}")
    ca_file = _optional_str(config, "GREENCQL_SSL_CA_FILE")
    if ca_file is not None and not os.path.isfile(ca_file):
        raise ConfigError("GREENCQL_SSL_CA_FILE", f"no such file: {ca_file!r}")
    verify = _bool(config, "GREENCQL_SSL_VERIFY")
    if ctx is not None and ca_file is not None:
        raise ConfigError("GREENCQL_SSL_CA_FILE",
                          "give GREENCQL_SSL_CONTEXT or GREENCQL_SSL_CA_FILE, not both")
    return ctx, ca_file, verify


def _cluster_options(config: Mapping[str, Any]) -> dict[str, Any]:
    key = "GREENCQL_CLUSTER_OPTIONS"
    value = _get(config, key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(key, f"expected a dict of Cluster options, got "
                               f"{type(value).__name__}")
    from greencql import Cluster

    accepted = set(inspect.signature(Cluster.__init__).parameters) - {"self"}
    for name in value:
        if name in _OWNED:
            raise ConfigError(key, f"{name!r} is set with {_OWNED[name]}, not here")
        if name not in accepted:
            raise ConfigError(key, f"Cluster() has no option {name!r}")
    return dict(value)


def read_settings(config: Mapping[str, Any]) -> Settings:
    """Validate the ``GREENCQL_*`` keys of ``config``; raise :class:`ConfigError` naming the
    first wrong key."""
    ctx, ca_file, verify = _ssl(config)
    username = _optional_str(config, "GREENCQL_USERNAME")
    password = _optional_str(config, "GREENCQL_PASSWORD")
    if (username is None) != (password is None):
        raise ConfigError("GREENCQL_PASSWORD" if username else "GREENCQL_USERNAME",
                          "GREENCQL_USERNAME and GREENCQL_PASSWORD go together")
    local_dc = _optional_str(config, "GREENCQL_LOCAL_DC")
    cluster_options = _cluster_options(config)
    if local_dc is not None and "load_balancing_policy" in cluster_options:
        raise ConfigError("GREENCQL_LOCAL_DC", "GREENCQL_CLUSTER_OPTIONS has a "
                          "load_balancing_policy: give the local datacenter to that policy")
    settings = Settings(
        contact_points=_contact_points(config),
        port=_port(config),
        keyspace=_optional_str(config, "GREENCQL_KEYSPACE"),
        local_dc=local_dc,
        username=username,
        password=password,
        ssl_context=ctx,
        ssl_ca_file=ca_file,
        ssl_verify=verify,
        protocol_version=_protocol_version(config),
        compression=_compression(config),
        request_timeout=_request_timeout(config),
        consistency=_consistency(config),
        cluster_options=cluster_options,
    )
    _check_cluster_accepts(settings)
    return settings


def _check_cluster_accepts(settings: Settings) -> None:
    """Let ``Cluster.__init__`` check the values of GREENCQL_CLUSTER_OPTIONS (it validates
    and stores, never connects); its error is re-raised with the key named."""
    if not settings.cluster_options:
        return
    from greencql import Cluster

    kwargs = settings.cluster_kwargs()
    kwargs.pop("ssl_context", None)  # built from a file: checked when it is loaded
    try:
        Cluster(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError("GREENCQL_CLUSTER_OPTIONS", str(exc)) from exc
