"""``manage.py cql_makemigration APP NAME``: create the next numbered, empty CQL migration."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_greencql import migrations

_TEMPLATE = """\
-- {label}: a CQL migration, applied by manage.py cql_migrate, statement by statement.
-- Statements end with ';'. Cassandra has no transactional DDL: prefer IF NOT EXISTS.
-- Never edit this file once applied anywhere: its checksum is recorded.

"""


class Command(BaseCommand):
    help = "Create the next numbered, empty .cql file in an app's cql_migrations/ folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("app_label")
        parser.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            path = migrations.next_migration_path(options["app_label"], options["name"])
        except (LookupError, migrations.MigrationError) as exc:
            raise CommandError(str(exc)) from exc
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "x", encoding="utf-8") as f:
            f.write(_TEMPLATE.format(label=f"{options['app_label']}.{path.stem}"))
        self.stdout.write(str(path))
