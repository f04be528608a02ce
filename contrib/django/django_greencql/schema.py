"""Keyspaces and the tables this package owns (cache and session tables), as CQL.

Owns: whether a keyspace exists, creating and dropping keyspaces with the configured
replication, and the idempotent creation of every cache table (CACHES entries using
:class:`django_greencql.cache.CQLCache` on an alias) and of the session table (when
``SESSION_ENGINE`` is ``django_greencql.sessions``). Every statement names its keyspace, so
none depends on the session's current keyspace. It must not decide when to run: commands and
the test runner do.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from django_greencql.config import CQLConfig, cql_aliases, quote_identifier, replication_literal

__all__ = [
    "CACHE_BACKEND",
    "SESSION_ENGINE",
    "DEFAULT_SESSION_TABLE",
    "cache_table_ddl",
    "session_table_ddl",
    "default_alias",
    "cache_tables",
    "session_table",
    "keyspace_exists",
    "create_keyspace",
    "drop_keyspace",
    "create_tables",
]

CACHE_BACKEND = "django_greencql.cache.CQLCache"
SESSION_ENGINE = "django_greencql.sessions"
#: the name Django's database session backend uses
DEFAULT_SESSION_TABLE = "django_session"


def default_alias() -> str:
    """The alias used when a cache or the session engine names none: the first alias of this
    backend in ``settings.DATABASES``."""
    aliases = cql_aliases()
    if not aliases:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "no DATABASES entry has ENGINE 'django_greencql.backend'")
    return aliases[0]


def cache_table_ddl(keyspace: str, table: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {quote_identifier(keyspace)}.{quote_identifier(table)}"
            " (key text PRIMARY KEY, value blob)")


def session_table_ddl(keyspace: str, table: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {quote_identifier(keyspace)}.{quote_identifier(table)}"
            " (session_key text PRIMARY KEY, session_data text)")


def cache_tables(alias: str) -> list[str]:
    """LOCATION of every CACHES entry served by ``alias``."""
    out = []
    for conf in getattr(settings, "CACHES", {}).values():
        if conf.get("BACKEND") != CACHE_BACKEND:
            continue
        if ((conf.get("OPTIONS") or {}).get("database") or default_alias()) == alias:
            out.append(str(conf.get("LOCATION") or ""))
    return [t for t in out if t]


def session_table(alias: str) -> str | None:
    """The session table served by ``alias``, or None."""
    if getattr(settings, "SESSION_ENGINE", "") != SESSION_ENGINE:
        return None
    if (getattr(settings, "GREENCQL_SESSION_DATABASE", None) or default_alias()) != alias:
        return None
    return getattr(settings, "GREENCQL_SESSION_TABLE", DEFAULT_SESSION_TABLE)


def keyspace_exists(session: Any, keyspace: str) -> bool:
    rows = session.execute(
        "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s",
        (keyspace,))
    return rows.one() is not None


def create_keyspace(session: Any, config: CQLConfig, keyspace: str) -> None:
    """CREATE KEYSPACE IF NOT EXISTS with the configured replication (ImproperlyConfigured
    when there is none)."""
    if not config.replication:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"django_greencql.E005: cannot create keyspace {keyspace!r}: "
            f"DATABASES[{config.alias!r}]['OPTIONS']['replication'] is not set")
    session.execute(f"CREATE KEYSPACE IF NOT EXISTS {quote_identifier(keyspace)} WITH "
                    f"replication = {replication_literal(config.replication)}")


def drop_keyspace(session: Any, keyspace: str) -> None:
    session.execute(f"DROP KEYSPACE IF EXISTS {quote_identifier(keyspace)}")


def create_tables(session: Any, alias: str, keyspace: str) -> list[str]:
    """Create the cache and session tables of ``alias`` (IF NOT EXISTS); their names."""
    made = []
    for table in cache_tables(alias):
        session.execute(cache_table_ddl(keyspace, table))
        made.append(table)
    table = session_table(alias)
    if table:
        session.execute(session_table_ddl(keyspace, table))
        made.append(table)
    return made
