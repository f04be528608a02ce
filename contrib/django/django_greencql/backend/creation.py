"""The test keyspace of a Cassandra alias: Django's test runner creates and drops it here.

Owns: ``create_test_db`` (``test_<NAME>`` or TEST.NAME, created with the configured
replication, dropped first unless ``--keepdb``; NAME then points at it, the process's session
uses it, and the alias's CQL migrations and cache/session tables are applied to it, unless
TEST.MIGRATE is False) and ``destroy_test_db`` (drop it unless ``--keepdb``, restore NAME,
shut the test process's Cluster down). Parallel test runs (``--parallel``, clones) are not
supported. Serialization of SQL rows for ``serialized_rollback`` has nothing to serialize.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.backends.base.creation import BaseDatabaseCreation

__all__ = ["DatabaseCreation"]


class DatabaseCreation(BaseDatabaseCreation):
    def _get_test_db_name(self) -> str:
        return self.connection.cql_config.test_name

    def test_db_signature(self) -> tuple[Any, ...]:
        sd = self.connection.settings_dict
        return (sd.get("HOST"), sd.get("PORT"), sd["ENGINE"], self._get_test_db_name())

    def _set_name(self, name: str) -> None:
        self.connection.settings_dict["NAME"] = name
        alias = self.connection.alias
        if alias in settings.DATABASES:
            settings.DATABASES[alias]["NAME"] = name

    def create_test_db(self, verbosity: int = 1, autoclobber: bool = False,
                       serialize: bool = True, keepdb: bool = False, **kwargs: Any) -> str:
        # **kwargs: arguments newer Django versions may add (nothing to serialize here)
        from django.core.management import call_command

        from django_greencql import registry, schema

        config = self.connection.cql_config
        test_name = config.test_name
        if verbosity >= 1:
            action = "Using existing" if keepdb else "Creating"
            self.log(f"{action} test keyspace for alias {self.connection.alias!r} "
                     f"({test_name})...")
        session = registry.get_session(self.connection.alias, config, point=False)
        if not keepdb and schema.keyspace_exists(session, test_name):
            if not autoclobber:
                answer = input(f"Type 'yes' if you would like to try deleting the test keyspace "
                               f"{test_name!r}, or 'no' to cancel: ")
                if answer != "yes":
                    self.log("Tests cancelled.")
                    raise SystemExit(1)
            if verbosity >= 1:
                self.log(f"Destroying old test keyspace {test_name}...")
            schema.drop_keyspace(session, test_name)
        schema.create_keyspace(session, config, test_name)
        self._set_name(test_name)
        config = self.connection.cql_config
        registry.use_keyspace(self.connection.alias, config)
        if config.test_migrate:
            call_command("cql_migrate", database=self.connection.alias,
                         verbosity=max(verbosity - 1, 0))
        else:
            call_command("cql_createtables", database=self.connection.alias,
                         verbosity=max(verbosity - 1, 0))
        return test_name

    def destroy_test_db(self, old_database_name: str | None = None, verbosity: int = 1,
                        keepdb: bool = False, suffix: str | None = None) -> None:
        from django_greencql import registry, schema

        config = self.connection.cql_config
        test_name = config.keyspace
        if verbosity >= 1:
            action = "Preserving" if keepdb else "Destroying"
            self.log(f"{action} test keyspace for alias {self.connection.alias!r} "
                     f"({test_name})...")
        try:
            if not keepdb:
                schema.drop_keyspace(
                    registry.get_session(self.connection.alias, config, point=False), test_name)
        finally:
            if old_database_name is not None:
                self._set_name(old_database_name)
            registry.shutdown(self.connection.alias)

    def serialize_db_to_string(self) -> str:
        return "[]"

    def deserialize_db_from_string(self, data: str) -> None:
        return None

    def clone_test_db(self, suffix: Any, verbosity: int = 1, autoclobber: bool = False,
                      keepdb: bool = False) -> None:
        from django.db import NotSupportedError

        raise NotSupportedError("django_greencql.backend does not support --parallel test runs")
