"""A database router that keeps Django models off Cassandra aliases.

``DATABASE_ROUTERS = ["django_greencql.router.CQLRouter"]``: no model is migrated to, read from
or written to an alias with ENGINE ``django_greencql.backend`` (reads and writes fall through to
the next router or the default database; an explicit ``.using("cassandra")`` still raises
NotSupportedError, which is the point).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from django_greencql.config import is_cql_alias

__all__ = ["CQLRouter"]


class CQLRouter:
    def _is_cql(self, db: str) -> bool:
        return is_cql_alias(settings.DATABASES.get(db, {}))

    def db_for_read(self, model: Any, **hints: Any) -> None:
        return None

    def db_for_write(self, model: Any, **hints: Any) -> None:
        return None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> None:
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None,
                      **hints: Any) -> bool | None:
        return False if self._is_cql(db) else None
