"""``manage.py cql_migrate [app] [--database ALIAS] [--plan] [--fake]``: apply CQL migrations.

Creates the keyspace when it does not exist (with OPTIONS["replication"]), the record table,
the cache and session tables (``cql_createtables``), then applies every pending migration
file in order (see :mod:`django_greencql.migrations`). ``--plan`` only prints what would run;
``--fake`` records pending migrations without running them.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_greencql import migrations, registry, schema
from django_greencql.management import cassandra_alias


class Command(BaseCommand):
    help = "Apply the numbered .cql files of each app's cql_migrations/ folder."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("app_label", nargs="?", help="only this app's migrations")
        parser.add_argument("--database", default=None,
                            help="the Cassandra alias (default: the first one)")
        parser.add_argument("--plan", action="store_true", help="print what would run")
        parser.add_argument("--fake", action="store_true",
                            help="record pending migrations as applied without running them")

    def handle(self, *args: Any, **options: Any) -> None:
        # not pointed at the keyspace yet: it may not exist before this command creates it
        alias, config, session = cassandra_alias(options["database"])
        keyspace = config.keyspace
        verbosity = options["verbosity"]
        try:
            migration_list = migrations.load_migrations(
                [options["app_label"]] if options["app_label"] else None)
        except (LookupError, migrations.MigrationError) as exc:
            raise CommandError(str(exc)) from exc
        exists = schema.keyspace_exists(session, keyspace)
        if options["plan"]:
            applied = migrations.applied_migrations(session, keyspace) if exists and \
                self._has_record_table(session, keyspace) else {}
            pending = self._pending(migration_list, applied)
            if not exists:
                self.stdout.write(f"Create keyspace {keyspace}")
            if not pending:
                self.stdout.write("  No CQL migrations to apply.")
            for m in pending:
                self.stdout.write(f"{m.label}")
                for statement in m.statements:
                    self.stdout.write(f"    {statement}")
            return
        if not exists:
            try:
                schema.create_keyspace(session, config, keyspace)
            except Exception as exc:
                raise CommandError(str(exc)) from exc
            if verbosity >= 1:
                self.stdout.write(f"Created keyspace {keyspace}")
        registry.use_keyspace(alias, config)
        migrations.ensure_record_table(session, keyspace)
        made = schema.create_tables(session, alias, keyspace)
        if verbosity >= 2 and made:
            self.stdout.write(f"Tables ensured: {', '.join(made)}")
        pending = self._pending(migration_list, migrations.applied_migrations(session, keyspace))
        if not pending:
            if verbosity >= 1:
                self.stdout.write("  No CQL migrations to apply.")
            return
        for m in pending:
            if verbosity >= 1:
                self.stdout.write(f"  Applying {m.label}...", ending="")
                self.stdout.flush()
            if not options["fake"]:
                try:
                    migrations.apply_migration(session, m)
                except migrations.MigrationError as exc:
                    if verbosity >= 1:
                        self.stdout.write(self.style.ERROR(" FAILED"))
                    raise CommandError(str(exc)) from exc
            migrations.record_migration(session, keyspace, m)
            if verbosity >= 1:
                self.stdout.write(self.style.SUCCESS(" FAKED" if options["fake"] else " OK"))

    @staticmethod
    def _pending(migration_list: list[migrations.Migration],
                 applied: dict[tuple[str, str], str]) -> list[migrations.Migration]:
        try:
            return migrations.pending_migrations(migration_list, applied)
        except migrations.ChecksumMismatch as exc:
            raise CommandError(str(exc)) from exc

    @staticmethod
    def _has_record_table(session: Any, keyspace: str) -> bool:
        row = session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s AND "
            "table_name = %s", (keyspace, migrations.RECORD_TABLE)).one()
        return row is not None
