"""DatabaseWrapper of ``ENGINE: "django_greencql.backend"``: Django's view of a Cassandra alias.

Owns: what Django sees of the alias (``connections[alias].session`` and ``.cluster``, taken
from :mod:`django_greencql.registry`, shared by every thread and greenlet of the process),
and refusing what an SQL backend would do: ``cursor()``, the ORM's compilers and
transactions raise ``django.db.NotSupportedError`` pointing at the session. What must keep
working with no SQL at all does: ``close()`` at the end of each request (a no-op: the session
lives for the process), ``flush`` between tests (nothing to flush), system checks, ``dbshell``
and the test runner's database creation.

It must not connect at import or construction: Django builds one wrapper per thread, lazily.
"""

from __future__ import annotations

from typing import Any

from django.db import NotSupportedError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.features import BaseDatabaseFeatures
from django.db.backends.base.introspection import BaseDatabaseIntrospection
from django.db.backends.base.operations import BaseDatabaseOperations

from django_greencql import registry
from django_greencql.backend.client import DatabaseClient
from django_greencql.backend.creation import DatabaseCreation
from django_greencql.backend.validation import DatabaseValidation
from django_greencql.config import CQLConfig, get_config

__all__ = ["DatabaseWrapper", "not_supported"]


def not_supported(alias: str, what: str = "SQL and the ORM") -> NotSupportedError:
    return NotSupportedError(
        f"database {alias!r} is Cassandra (django_greencql.backend): {what} are not "
        f"supported on it; use its greencql session: connections[{alias!r}].session or "
        f"django_greencql.get_session({alias!r}). Keep models off it with "
        "DATABASE_ROUTERS = ['django_greencql.router.CQLRouter'].")


class DatabaseFeatures(BaseDatabaseFeatures):
    # class attributes, not the base class's cached properties that open a cursor to find out
    supports_transactions = False
    uses_savepoints = False
    can_release_savepoints = False
    atomic_transactions = False
    can_rollback_ddl = False
    supports_sequence_reset = False
    can_defer_constraint_checks = False
    supports_foreign_keys = False
    supports_json_field = False
    test_db_allows_multiple_connections = True


class DatabaseOperations(BaseDatabaseOperations):
    def compiler(self, compiler_name: str) -> Any:
        raise not_supported(self.connection.alias, "the ORM (querysets, model saves)")

    def quote_name(self, name: str) -> str:
        raise not_supported(self.connection.alias)

    def sql_flush(self, style: Any, tables: Any, *, reset_sequences: bool = False,
                  allow_cascade: bool = False) -> list[str]:
        return []

    def execute_sql_flush(self, sql_list: list[str]) -> None:
        if sql_list:
            raise not_supported(self.connection.alias)


class DatabaseIntrospection(BaseDatabaseIntrospection):
    def get_table_list(self, cursor: Any) -> list[Any]:
        return []

    def table_names(self, cursor: Any = None, include_views: bool = False) -> list[str]:
        return []

    def sequence_list(self) -> list[Any]:
        return []


class DatabaseWrapper(BaseDatabaseWrapper):
    vendor = "cassandra"
    display_name = "Cassandra (greencql)"
    operators: dict[str, str] = {}
    client_class = DatabaseClient
    creation_class = DatabaseCreation
    features_class = DatabaseFeatures
    introspection_class = DatabaseIntrospection
    ops_class = DatabaseOperations
    validation_class = DatabaseValidation

    def __init__(self, settings_dict: dict[str, Any], alias: str = "cassandra") -> None:
        # a test keyspace needs nothing from the SQL databases: without this, Django's runner
        # makes every alias depend on "default" and refuses tests that use this alias alone
        settings_dict.setdefault("TEST", {}).setdefault("DEPENDENCIES", [])
        super().__init__(settings_dict, alias)

    @property
    def cql_config(self) -> CQLConfig:
        """This alias's validated settings (ImproperlyConfigured when they are not valid)."""
        return get_config(self.alias, self.settings_dict)

    @property
    def session(self) -> Any:
        """The greencql Session of this process for this alias, connected on first use (also
        after a fork: a child gets its own), pointed at the keyspace of ``NAME``."""
        entry = registry.ready_entry(self.alias, self.settings_dict["NAME"])
        if entry is not None:
            return entry.session
        return registry.get_session(self.alias, self.cql_config)

    @property
    def cluster(self) -> Any:
        """The greencql Cluster behind :attr:`session`."""
        entry = registry.ready_entry(self.alias, self.settings_dict["NAME"])
        if entry is not None:
            return entry.cluster
        return registry.get_cluster(self.alias, self.cql_config)

    # -- no SQL connection, ever ------------------------------------------------------------

    def get_connection_params(self) -> dict[str, Any]:
        raise not_supported(self.alias)

    def get_new_connection(self, conn_params: Any) -> Any:
        raise not_supported(self.alias)

    def init_connection_state(self) -> None:
        raise not_supported(self.alias)

    def create_cursor(self, name: Any = None) -> Any:
        raise not_supported(self.alias, "cursor() and raw SQL")

    def cursor(self) -> Any:
        raise not_supported(self.alias, "cursor() and raw SQL")

    def chunked_cursor(self) -> Any:
        raise not_supported(self.alias, "cursor() and raw SQL")

    def ensure_connection(self) -> None:
        raise not_supported(self.alias, "transactions, cursor() and raw SQL")

    def _set_autocommit(self, autocommit: bool) -> None:
        raise not_supported(self.alias, "transactions")

    def _commit(self) -> None:
        raise not_supported(self.alias, "transactions")

    def _rollback(self) -> None:
        return None

    def _close(self) -> None:
        return None

    def close(self) -> None:
        # Django closes connections after every request (CONN_MAX_AGE); the Cluster is shared
        # by the whole process and stays. django_greencql.registry.shutdown() ends it.
        return None

    def close_if_unusable_or_obsolete(self) -> None:
        return None

    def is_usable(self) -> bool:
        return True
