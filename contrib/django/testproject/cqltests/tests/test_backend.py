"""The Cassandra alias: one session per process (and per forked child), no SQL, the router,
the test keyspace, CQLTestCase."""

import os
import select
import threading

from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import NotSupportedError, connections, router, transaction
from django.test import SimpleTestCase

from django_greencql import get_cluster, get_session, registry
from django_greencql.test import CQLTestCase


class AliasTests(SimpleTestCase):
    databases = {"cassandra"}

    def test_session_is_shared_by_threads_and_greenlets(self):
        conn = connections["cassandra"]
        seen = []
        thread = threading.Thread(target=lambda: seen.append(connections["cassandra"].session))
        thread.start()
        thread.join(30)
        self.assertIs(seen[0], conn.session)
        self.assertIs(get_session(), conn.session)
        self.assertIs(get_session("cassandra"), conn.session)
        self.assertIs(get_cluster(), conn.cluster)
        conn.close()  # Django does this after every request: the session stays
        self.assertIs(connections["cassandra"].session, seen[0])
        self.assertFalse(conn.cluster.is_shutdown)

    def test_test_keyspace_is_in_use(self):
        conn = connections["cassandra"]
        self.assertEqual(conn.settings_dict["NAME"], "test_dg_tests")
        self.assertEqual(conn.session.keyspace, "test_dg_tests")
        rows = conn.session.execute(
            "SELECT keyspace_name, replication FROM system_schema.keyspaces "
            "WHERE keyspace_name = 'test_dg_tests'").all()
        self.assertEqual(len(rows), 1)
        self.assertIn("SimpleStrategy", rows[0][1]["class"])
        # the migrations ran: their tables and seed are there, unqualified names work
        self.assertEqual(conn.session.execute("SELECT body FROM notes WHERE id = 1").one()[0],
                         "it's; seeded")

    def test_no_sql(self):
        conn = connections["cassandra"]
        with self.assertRaisesMessage(NotSupportedError, "connections['cassandra'].session"):
            conn.cursor()
        with self.assertRaises(NotSupportedError):
            list(User.objects.using("cassandra").all())
        with self.assertRaises(NotSupportedError):
            User(username="x").save(using="cassandra")
        with self.assertRaises(NotSupportedError):
            with transaction.atomic(using="cassandra"):
                pass
        with self.assertRaises(NotSupportedError):  # Django's SQL migrations
            call_command("migrate", database="cassandra", verbosity=0)

    def test_router_keeps_models_off(self):
        self.assertIs(router.allow_migrate_model("cassandra", User), False)
        self.assertIs(router.allow_migrate_model("default", User), True)
        self.assertEqual(router.db_for_read(User), "default")
        self.assertEqual(router.db_for_write(User), "default")

    def test_fork_after_first_use_gives_the_child_its_own_cluster(self):
        parent_session = connections["cassandra"].session
        parent_cluster = connections["cassandra"].cluster
        abandoned_before = registry.abandoned_count()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report one byte, never return into the test runner
            code = b"E"
            try:
                os.close(r)
                conn = connections["cassandra"]
                child = conn.session
                row = child.execute("SELECT body FROM notes WHERE id = 1").one()
                ok = (child is not parent_session and conn.cluster is not parent_cluster
                      and not parent_cluster.is_shutdown  # abandoned, not shut down
                      and registry.abandoned_count() == abandoned_before + 1
                      and row[0] == "it's; seeded")
                code = b"1" if ok else b"0"
            finally:
                os.write(w, code)
                os._exit(0)
        os.close(w)
        try:
            readable, _, _ = select.select([r], [], [], 30)
            got = os.read(r, 1) if readable else b"T"
        finally:
            os.close(r)
            if not readable:
                os.kill(pid, 9)
            os.waitpid(pid, 0)
        self.assertEqual(got, b"1")
        # the parent's session still works, on its own sockets
        self.assertIs(connections["cassandra"].session, parent_session)
        self.assertEqual(parent_session.execute("SELECT id FROM notes WHERE id = 1").one()[0], 1)


class TruncatingTests(CQLTestCase):
    cql_truncate = ["counters"]

    def test_1_writes(self):
        self.cql_session.execute("INSERT INTO counters (name, hits) VALUES ('a', 1)")
        User.objects.create_user("bob")
        self.assertEqual(self.cql_session.execute("SELECT count(*) FROM counters").one()[0], 1)

    def test_2_sees_clean_tables(self):
        self.assertEqual(self.cql_session.execute("SELECT count(*) FROM counters").one()[0], 0)
        self.assertFalse(User.objects.filter(username="bob").exists())
        self.assertIn("cassandra", self.databases)

    def test_3_sql_databases_keep_transactions(self):
        self.assertTrue(self._databases_support_transactions())
        self.assertEqual(self._databases_names(), ["default"])
