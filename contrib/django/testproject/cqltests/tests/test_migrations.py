"""cql_migrate / cql_makemigration / cql_createtables against the simulated cluster."""

import io
import shutil
import tempfile
from pathlib import Path

from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import SimpleTestCase

from django_greencql.migrations import Migration, MigrationError, apply_migration, split_statements


class SplitTests(SimpleTestCase):
    def test_split(self):
        text = """
        -- a comment; with a semicolon
        CREATE TABLE t (k int PRIMARY KEY); // another
        INSERT INTO t (k) VALUES (1) /* block; */ ;
        INSERT INTO "we;ird" (s) VALUES ('it''s; fine');
        CREATE FUNCTION f() RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS $$ return 1; $$;
        SELECT * FROM t"""
        self.assertEqual(split_statements(text), [
            "CREATE TABLE t (k int PRIMARY KEY)",
            "INSERT INTO t (k) VALUES (1)",
            "INSERT INTO \"we;ird\" (s) VALUES ('it''s; fine')",
            "CREATE FUNCTION f() RETURNS NULL ON NULL INPUT RETURNS int LANGUAGE java AS "
            "$$ return 1; $$",
            "SELECT * FROM t",
        ])

    def test_schema_disagreement_stops_the_run(self):
        # greencql reports, per DDL response, whether the nodes agreed within
        # max_schema_agreement_wait; a stand-in session answers "not agreed"
        class Future:
            is_schema_agreed = False

        class Result:
            response_future = Future()

        class Session:
            def __init__(self):
                self.ran = []

            def execute(self, statement):
                self.ran.append(statement)
                return Result()

        session = Session()
        migration = Migration("app", "0001_x", Path("x.cql"), "0" * 64,
                              ("INSERT INTO t (k) VALUES (1)", "CREATE TABLE u (k int PRIMARY KEY)",
                               "INSERT INTO u (k) VALUES (1)"))
        with self.assertRaisesMessage(MigrationError, "did not agree on the schema after "
                                                      "statement 2"):
            apply_migration(session, migration)
        self.assertEqual(len(session.ran), 2)  # a DML statement needs no agreement

    def test_unterminated(self):
        with self.assertRaises(MigrationError):
            split_statements("INSERT INTO t (s) VALUES ('oops);")


class MigrateTests(SimpleTestCase):
    databases = {"cassandra"}

    def setUp(self):
        self.app = apps.get_app_config("migapp")
        self.old_path = self.app.path
        self.tmp = Path(tempfile.mkdtemp())
        self.app.path = str(self.tmp)
        self.folder = self.tmp / "cql_migrations"
        self.folder.mkdir()
        self.session = connections["cassandra"].session
        self.ks = connections["cassandra"].settings_dict["NAME"]

    def tearDown(self):
        self.app.path = self.old_path
        shutil.rmtree(self.tmp)
        self.session.execute(
            f'DELETE FROM "{self.ks}"."django_cql_migrations" WHERE app = %s', ("migapp",))
        for table in ("mig_one", "mig_two", "mig_three"):
            self.session.execute(f'DROP TABLE IF EXISTS "{self.ks}"."{table}"')

    def migrate(self, *args, **kwargs):
        out = io.StringIO()
        call_command("cql_migrate", *args, database="cassandra", stdout=out, **kwargs)
        return out.getvalue()

    def table_exists(self, name):
        return self.session.execute(
            "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s AND "
            "table_name = %s", (self.ks, name)).one() is not None

    def recorded(self):
        rows = self.session.execute(
            f'SELECT name, checksum, applied_at FROM "{self.ks}"."django_cql_migrations" '
            "WHERE app = 'migapp'")
        return {r[0]: r for r in rows}

    def test_apply_reapply_plan_fake_checksum(self):
        (self.folder / "0001_one.cql").write_text(
            "CREATE TABLE mig_one (k int PRIMARY KEY, v text);\n"
            "INSERT INTO mig_one (k, v) VALUES (1, 'a;b');\n")
        out = self.migrate("migapp")
        self.assertIn("Applying migapp.0001_one... OK", out)
        self.assertTrue(self.table_exists("mig_one"))
        self.assertEqual(self.session.execute("SELECT v FROM mig_one WHERE k = 1").one()[0],
                         "a;b")
        rec = self.recorded()
        self.assertEqual(list(rec), ["0001_one"])
        self.assertEqual(len(rec["0001_one"][1]), 64)
        self.assertIsNotNone(rec["0001_one"][2])

        self.assertIn("No CQL migrations to apply.", self.migrate("migapp"))  # a no-op

        (self.folder / "0002_two.cql").write_text("CREATE TABLE mig_two (k int PRIMARY KEY);")
        plan = self.migrate("migapp", plan=True)
        self.assertIn("migapp.0002_two", plan)
        self.assertIn("CREATE TABLE mig_two (k int PRIMARY KEY)", plan)
        self.assertNotIn("0001_one", plan)
        self.assertFalse(self.table_exists("mig_two"))  # --plan runs nothing

        self.assertIn("Applying migapp.0002_two... FAKED", self.migrate("migapp", fake=True))
        self.assertFalse(self.table_exists("mig_two"))
        self.assertIn("0002_two", self.recorded())

        (self.folder / "0001_one.cql").write_text("CREATE TABLE mig_one (k int PRIMARY KEY);")
        with self.assertRaisesMessage(CommandError, "changed since they were applied"):
            self.migrate("migapp")
        with self.assertRaisesMessage(CommandError, "0001_one"):
            self.migrate("migapp", plan=True)

    def test_failed_statement_is_not_recorded(self):
        (self.folder / "0001_bad.cql").write_text(
            "CREATE TABLE mig_three (k int PRIMARY KEY);\nINSERT INTO no_such_table (k) "
            "VALUES (1);\n")
        with self.assertRaisesMessage(CommandError, "statement 2 failed"):
            self.migrate("migapp")
        self.assertEqual(self.recorded(), {})
        self.assertTrue(self.table_exists("mig_three"))

    def test_makemigration_numbers_files(self):
        out = io.StringIO()
        call_command("cql_makemigration", "migapp", "first", stdout=out)
        self.assertTrue((self.folder / "0001_first.cql").exists())
        (self.folder / "0007_later.cql").write_text("")
        call_command("cql_makemigration", "migapp", "next", stdout=out)
        self.assertTrue((self.folder / "0008_next.cql").exists())
        self.assertIn("0008_next.cql", out.getvalue())
        with self.assertRaises(CommandError):
            call_command("cql_makemigration", "migapp", "bad-name", stdout=out)
        with self.assertRaises(CommandError):
            call_command("cql_makemigration", "no_such_app", "x", stdout=out)

    def test_createtables_is_idempotent(self):
        for _ in range(2):
            out = io.StringIO()
            call_command("cql_createtables", database="cassandra", stdout=out)
            self.assertIn("cache_table", out.getvalue())
            self.assertIn("other_cache", out.getvalue())
            self.assertIn("django_session", out.getvalue())
        self.assertTrue(self.table_exists("cache_table"))
        self.assertTrue(self.table_exists("django_session"))
