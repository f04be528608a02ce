"""Management commands of django_greencql, and what they share: resolving ``--database``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError
from django.db import connections

from django_greencql import registry, schema

__all__ = ["cassandra_alias"]


def cassandra_alias(database: str | None) -> tuple[str, Any, Any]:
    """``(alias, config, session)`` for a command's ``--database`` (default: the first
    Cassandra alias). The session is not pointed at the keyspace: it may not exist yet.
    CommandError when the alias is not a ``django_greencql.backend`` database."""
    alias = database or schema.default_alias()
    conn = connections[alias]
    if getattr(conn, "vendor", "") != "cassandra":
        raise CommandError(f"database {alias!r} is not a django_greencql.backend alias")
    config = conn.cql_config
    return alias, config, registry.get_session(alias, config, point=False)
