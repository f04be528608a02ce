"""Test helpers: :class:`CQLTestCase`.

Django's runner creates the test keyspace of every Cassandra alias that a test's ``databases``
names (see :mod:`django_greencql.backend.creation`). ``CQLTestCase`` is Django's ``TestCase``
(per-test transactions on the SQL databases) plus a Cassandra alias (``cql_database``, added to
``databases``) whose tables named in ``cql_truncate`` are truncated after every test. The
Cassandra alias takes no part in the transactions (it has none), so the SQL databases keep
TestCase's rollback instead of falling back to TransactionTestCase's flush.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from django.db import connections
from django.test import TestCase

from django_greencql.config import is_cql_alias, quote_identifier

__all__ = ["CQLTestCase"]


def _is_cql(alias: str) -> bool:
    return is_cql_alias(connections.settings.get(alias, {}))


class CQLTestCase(TestCase):
    #: the Cassandra alias of the tests
    cql_database: ClassVar[str] = "cassandra"
    #: tables of its keyspace truncated after every test
    cql_truncate: ClassVar[Sequence[str]] = ()
    databases: ClassVar[Any] = {"default", "cassandra"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.databases != "__all__":
            cls.databases = set(cls.databases) | {cls.cql_database}

    @classmethod
    def _sql_databases(cls) -> list[str]:
        names = connections if cls.databases == "__all__" else cls.databases
        return [a for a in names if not _is_cql(a)]

    @classmethod
    def _databases_names(cls, include_mirrors: bool = True) -> list[str]:
        return [a for a in super()._databases_names(include_mirrors) if not _is_cql(a)]

    @classmethod
    def _databases_support_transactions(cls) -> bool:
        return all(connections[a].features.supports_transactions for a in cls._sql_databases())

    @classmethod
    def _databases_support_savepoints(cls) -> bool:
        # what Django 5's connections_support_savepoints() says (Django 4.2 has no such helper)
        return all(connections[a].features.uses_savepoints
                   and connections[a].features.can_release_savepoints
                   for a in cls._sql_databases())

    @property
    def cql_session(self) -> Any:
        """The greencql session of :attr:`cql_database`."""
        return connections[self.cql_database].session

    def _post_teardown(self) -> None:
        try:
            super()._post_teardown()
        finally:
            self.truncate_cql_tables()

    def truncate_cql_tables(self) -> None:
        conn = connections[self.cql_database]
        keyspace = quote_identifier(conn.settings_dict["NAME"])
        for table in self.cql_truncate:
            conn.session.execute(f"TRUNCATE {keyspace}.{quote_identifier(table)}")
