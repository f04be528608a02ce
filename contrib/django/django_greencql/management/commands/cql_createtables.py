"""``manage.py cql_createtables [--database ALIAS]``: the cache and session tables.

Creates (IF NOT EXISTS) the table of every ``CQLCache`` of the alias and the session table
when ``SESSION_ENGINE`` is ``django_greencql.sessions``. Idempotent; ``cql_migrate`` runs it.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_greencql import schema
from django_greencql.management import cassandra_alias


class Command(BaseCommand):
    help = "Create the cache and session tables in a Cassandra alias's keyspace."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=None,
                            help="the Cassandra alias (default: the first one)")

    def handle(self, *args: Any, **options: Any) -> None:
        alias, config, session = cassandra_alias(options["database"])
        keyspace = config.keyspace
        if not schema.keyspace_exists(session, keyspace):
            raise CommandError(f"keyspace {keyspace!r} does not exist; "
                               f"manage.py cql_migrate --database {alias} creates it")
        made = schema.create_tables(session, alias, keyspace)
        if options["verbosity"] >= 1:
            self.stdout.write(f"Tables ensured in {keyspace}: {', '.join(made) or '(none)'}")
