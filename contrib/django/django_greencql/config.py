"""What a ``DATABASES`` entry with ENGINE ``django_greencql.backend`` means, as values.

Owns: reading one settings dict (NAME, HOST, PORT, USER, PASSWORD, OPTIONS, TEST) into a
frozen :class:`CQLConfig`, the list of configuration problems the system checks report (and
the same problems raised as ``ImproperlyConfigured`` when something needs the configuration),
the keyword arguments given to :class:`greencql.Cluster`, and CQL quoting of identifiers and
replication maps. It must not connect to anything: checks and ``AppConfig.ready()`` call it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "ENGINE",
    "KNOWN_OPTIONS",
    "CONSISTENCY_NAMES",
    "CQLConfig",
    "Problem",
    "config_problems",
    "cql_aliases",
    "get_config",
    "is_cql_alias",
    "quote_identifier",
    "replication_literal",
]

ENGINE = "django_greencql.backend"
KNOWN_OPTIONS = frozenset({"local_dc", "replication", "consistency", "request_timeout",
                           "cluster"})
# the names of greencql.ConsistencyLevel, spelled here so that reading settings imports nothing
CONSISTENCY_NAMES = ("ANY", "ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM",
                     "EACH_QUORUM", "SERIAL", "LOCAL_SERIAL", "LOCAL_ONE")
#: Cassandra's own rule for keyspace and table names (and the length it enforces for keyspaces)
_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,48}$")
#: Cassandra's native transport port
DEFAULT_PORT = 9042


@dataclass(frozen=True)
class Problem:
    """One configuration problem: a check id suffix (``E001``), a message and a hint."""

    id: str
    msg: str
    hint: str | None = None


@dataclass(frozen=True)
class CQLConfig:
    """One alias's settings, validated."""

    alias: str
    keyspace: str
    hosts: tuple[str, ...]
    port: int
    user: str = ""
    password: str = ""
    local_dc: str | None = None
    replication: Mapping[str, Any] | None = None
    consistency: str | None = None
    request_timeout: float | None = None
    cluster: Mapping[str, Any] = field(default_factory=dict)
    test_name: str = ""
    test_migrate: bool = True

    def cluster_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :class:`greencql.Cluster` (besides the contact points);
        OPTIONS["cluster"] wins over what the other settings imply."""
        import greencql

        kwargs: dict[str, Any] = {"port": self.port}
        if self.user:
            kwargs["auth_provider"] = greencql.PlainTextAuthProvider(self.user, self.password)
        if self.local_dc:
            kwargs["load_balancing_policy"] = greencql.TokenAwarePolicy(
                greencql.DCAwareRoundRobinPolicy(self.local_dc))
        if self.consistency:
            kwargs["default_consistency_level"] = greencql.ConsistencyLevel[self.consistency]
        if self.request_timeout is not None:
            kwargs["default_timeout"] = self.request_timeout
        kwargs.update(self.cluster)
        return kwargs


def is_cql_alias(settings_dict: Mapping[str, Any]) -> bool:
    return settings_dict.get("ENGINE") == ENGINE


def cql_aliases() -> list[str]:
    """The aliases of ``settings.DATABASES`` served by this backend, in settings order."""
    from django.conf import settings

    return [alias for alias, sd in settings.DATABASES.items() if is_cql_alias(sd)]


def _hosts(value: Any) -> tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        items = str(value or "").split(",")
    return tuple(h.strip() for h in items if h.strip())


def config_problems(alias: str, sd: Mapping[str, Any]) -> list[Problem]:
    """Everything wrong with one alias's settings that can be seen without connecting."""
    problems: list[Problem] = []
    name = sd.get("NAME") or ""
    if not name:
        problems.append(Problem(
            "E001", f"DATABASES[{alias!r}] has no NAME: the keyspace is missing.",
            'Set NAME to the keyspace, e.g. "NAME": "shop".'))
    elif not _NAME_RE.match(str(name)):
        problems.append(Problem(
            "E001", f"DATABASES[{alias!r}]['NAME'] = {name!r} is not a keyspace name.",
            "Keyspace names are 1-48 letters, digits and underscores."))
    options = sd.get("OPTIONS") or {}
    if not isinstance(options, Mapping):
        problems.append(Problem("E006", f"DATABASES[{alias!r}]['OPTIONS'] must be a dict."))
        options = {}
    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown:
        problems.append(Problem(
            "E006", f"DATABASES[{alias!r}]['OPTIONS'] has unknown keys: {', '.join(unknown)}.",
            f"Known keys: {', '.join(sorted(KNOWN_OPTIONS))}; Cluster arguments go in "
            '"cluster": {...}.'))
    consistency = options.get("consistency")
    if consistency is not None and str(consistency).upper() not in CONSISTENCY_NAMES:
        problems.append(Problem(
            "E002", f"DATABASES[{alias!r}]['OPTIONS']['consistency'] = {consistency!r} is not a "
            "consistency level.", f"Use one of {', '.join(CONSISTENCY_NAMES)}."))
    replication = options.get("replication")
    if replication is not None and (not isinstance(replication, Mapping)
                                    or "class" not in replication):
        problems.append(Problem(
            "E005", f"DATABASES[{alias!r}]['OPTIONS']['replication'] must be a dict with a "
            "'class'.", "e.g. {'class': 'NetworkTopologyStrategy', 'dc1': 3}"))
    timeout = options.get("request_timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or timeout <= 0):
        problems.append(Problem(
            "E006", f"DATABASES[{alias!r}]['OPTIONS']['request_timeout'] must be a positive "
            f"number of seconds, not {timeout!r}."))
    cluster = options.get("cluster")
    if cluster is not None and not isinstance(cluster, Mapping):
        problems.append(Problem(
            "E006", f"DATABASES[{alias!r}]['OPTIONS']['cluster'] must be a dict of Cluster "
            "arguments."))
    port = sd.get("PORT")
    if port not in (None, ""):
        try:
            ok = 0 < int(port) < 65536
        except (TypeError, ValueError):
            ok = False
        if not ok:
            problems.append(Problem("E006", f"DATABASES[{alias!r}]['PORT'] = {port!r} is not a "
                                            "port number."))
    if sd.get("ATOMIC_REQUESTS"):
        problems.append(Problem(
            "E006", f"DATABASES[{alias!r}] sets ATOMIC_REQUESTS: Cassandra has no transactions.",
            "Remove ATOMIC_REQUESTS from this alias."))
    test_name = (sd.get("TEST") or {}).get("NAME")
    if test_name and not _NAME_RE.match(str(test_name)):
        problems.append(Problem(
            "E001", f"DATABASES[{alias!r}]['TEST']['NAME'] = {test_name!r} is not a keyspace "
            "name."))
    return problems


def get_config(alias: str, sd: Mapping[str, Any]) -> CQLConfig:
    """The validated configuration of ``alias``; ImproperlyConfigured naming every problem."""
    problems = config_problems(alias, sd)
    if problems:
        raise ImproperlyConfigured(
            "; ".join(f"django_greencql.{p.id}: {p.msg}" for p in problems))
    options = sd.get("OPTIONS") or {}
    name = str(sd["NAME"])
    test = sd.get("TEST") or {}
    consistency = options.get("consistency")
    timeout = options.get("request_timeout")
    return CQLConfig(
        alias=alias,
        keyspace=name,
        hosts=_hosts(sd.get("HOST")) or ("127.0.0.1",),
        port=int(sd.get("PORT") or DEFAULT_PORT),
        user=sd.get("USER") or "",
        password=sd.get("PASSWORD") or "",
        local_dc=options.get("local_dc") or None,
        replication=dict(options["replication"]) if options.get("replication") else None,
        consistency=str(consistency).upper() if consistency else None,
        request_timeout=float(timeout) if timeout is not None else None,
        cluster=dict(options.get("cluster") or {}),
        test_name=str(test.get("NAME") or f"test_{name}"),
        test_migrate=test.get("MIGRATE", True) is not False,
    )


def quote_identifier(name: str) -> str:
    """``name`` as a CQL identifier, double-quoted (case kept); ValueError if it is not a
    valid keyspace or table name."""
    if not _NAME_RE.match(name):
        raise ValueError(f"{name!r} is not a valid keyspace or table name "
                         "(1-48 letters, digits, underscores)")
    return f'"{name}"'


def _string_literal(value: Any) -> str:
    text = str(value)
    return "'" + text.replace("'", "''") + "'"


def replication_literal(replication: Mapping[str, Any]) -> str:
    """A replication map as CQL: ``{'class': 'SimpleStrategy', 'replication_factor': '1'}``."""
    return "{" + ", ".join(f"{_string_literal(k)}: {_string_literal(v)}"
                           for k, v in replication.items()) + "}"
