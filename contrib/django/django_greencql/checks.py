"""System checks of django_greencql (``manage.py check``), ids ``django_greencql.E001``...

- E001: NAME (the keyspace) missing or not a keyspace name (also TEST.NAME)
- E002: OPTIONS["consistency"] is not a consistency level name
- E003: no host of HOST/PORT answers (only with ``--deploy`` or ``--database ALIAS``)
- E004: the keyspace does not exist (same condition as E003)
- E005: replication missing or malformed while the keyspace must be created
- E006: other malformed settings (unknown OPTIONS keys, PORT, request_timeout, cluster,
  ATOMIC_REQUESTS)
- E007: a CQLCache or the session engine names a database alias that is not Cassandra, or a
  table name Cassandra refuses

The settings checks never connect; the connection checks use the process's session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core import checks

from django_greencql.config import config_problems, cql_aliases, get_config, quote_identifier

__all__ = ["check_settings", "check_deploy", "check_alias_connection", "register"]

TAG = "django_greencql"


def _error(problem_id: str, msg: str, hint: str | None = None, obj: Any = None) -> checks.Error:
    return checks.Error(msg, hint=hint, obj=obj, id=f"django_greencql.{problem_id}")


def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Settings of every Cassandra alias, cache and the session engine (no connection)."""
    from django_greencql import schema

    errors: list[checks.CheckMessage] = []
    aliases = cql_aliases()
    for alias in aliases:
        for p in config_problems(alias, settings.DATABASES[alias]):
            errors.append(_error(p.id, p.msg, p.hint))
    for name, conf in getattr(settings, "CACHES", {}).items():
        if conf.get("BACKEND") != schema.CACHE_BACKEND:
            continue
        db = (conf.get("OPTIONS") or {}).get("database") or (aliases[0] if aliases else None)
        if db not in aliases:
            errors.append(_error("E007", f"CACHES[{name!r}] uses database {db!r}, which is not "
                                         "a django_greencql.backend alias.",
                                 "Set OPTIONS['database'] to a Cassandra alias."))
        try:
            quote_identifier(str(conf.get("LOCATION") or ""))
        except ValueError as exc:
            errors.append(_error("E007", f"CACHES[{name!r}]['LOCATION']: {exc}"))
    if getattr(settings, "SESSION_ENGINE", "") == schema.SESSION_ENGINE:
        db = getattr(settings, "GREENCQL_SESSION_DATABASE", None) or (
            aliases[0] if aliases else None)
        if db not in aliases:
            errors.append(_error("E007", f"SESSION_ENGINE is {schema.SESSION_ENGINE!r} but "
                                         f"database {db!r} is not a django_greencql.backend "
                                         "alias.",
                                 "Set GREENCQL_SESSION_DATABASE to a Cassandra alias."))
        try:
            quote_identifier(getattr(settings, "GREENCQL_SESSION_TABLE",
                                     schema.DEFAULT_SESSION_TABLE))
        except ValueError as exc:
            errors.append(_error("E007", f"GREENCQL_SESSION_TABLE: {exc}"))
    return errors


def check_alias_connection(alias: str, settings_dict: Mapping[str, Any]
                           ) -> list[checks.CheckMessage]:
    """E003/E004/E005 for one alias: its hosts answer and its keyspace exists."""
    from greencql import DriverException

    from django_greencql import registry, schema

    if config_problems(alias, settings_dict):
        return []  # reported by check_settings; nothing to connect with
    config = get_config(alias, settings_dict)
    where = ", ".join(f"{h}:{config.port}" for h in config.hosts)
    try:
        session = registry.get_session(alias, config, point=False)
        exists = schema.keyspace_exists(session, config.keyspace)
    except DriverException as exc:
        return [_error("E003", f"database {alias!r}: no Cassandra host answers at {where}: "
                               f"{exc}", "Check HOST, PORT, USER and PASSWORD.")]
    if exists:
        return []
    errors = [_error("E004", f"database {alias!r}: keyspace {config.keyspace!r} does not exist.",
                     "manage.py cql_migrate --database " + alias + " creates it (with "
                     "OPTIONS['replication']).")]
    if not config.replication:
        errors.append(_error("E005", f"database {alias!r}: keyspace {config.keyspace!r} must "
                                     "be created but OPTIONS['replication'] is not set.",
                             "e.g. 'replication': {'class': 'NetworkTopologyStrategy', "
                             "'dc1': 3}"))
    return errors


def check_deploy(app_configs: Any = None, databases: Any = None,
                 **kwargs: Any) -> list[checks.CheckMessage]:
    """Under ``--deploy``: the connection checks of every alias not already checked through
    ``--database``."""
    errors: list[checks.CheckMessage] = []
    for alias in cql_aliases():
        if databases and alias in databases:
            continue  # Django runs connection.validation for it
        errors.extend(check_alias_connection(alias, settings.DATABASES[alias]))
    return errors


def register() -> None:
    """Called by the AppConfig: registers the checks, connects nothing."""
    checks.register(check_settings, TAG)
    checks.register(check_deploy, TAG, deploy=True)
