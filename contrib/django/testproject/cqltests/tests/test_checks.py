"""System checks (django_greencql.E001...) and dbshell."""

import io
import socket
import subprocess

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connections
from django.db.backends.base import client as base_client
from django.test import SimpleTestCase, override_settings

from django_greencql import registry, schema
from django_greencql.backend.client import DatabaseClient
from django_greencql.checks import check_alias_connection, check_settings
from django_greencql.config import config_problems, get_config


def _ids(messages):
    return sorted(m.id if hasattr(m, "id") else f"django_greencql.{m}" for m in messages)


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SettingsCheckTests(SimpleTestCase):
    def test_problems(self):
        base = {"ENGINE": "django_greencql.backend", "NAME": "shop", "HOST": "h1,h2"}
        self.assertEqual(config_problems("c", base), [])
        self.assertEqual([p.id for p in config_problems("c", dict(base, NAME=""))], ["E001"])
        self.assertEqual([p.id for p in config_problems("c", dict(base, NAME="no-dash"))],
                         ["E001"])
        bad = dict(base, OPTIONS={"consistency": "LOCAL_QUOROM"})
        problems = config_problems("c", bad)
        self.assertEqual([p.id for p in problems], ["E002"])
        self.assertIn("LOCAL_QUORUM", problems[0].hint)
        self.assertEqual(
            [p.id for p in config_problems("c", dict(base, OPTIONS={"replication": {"dc1": 3}}))],
            ["E005"])
        self.assertEqual(
            [p.id for p in config_problems("c", dict(base, OPTIONS={"local_cd": "dc1"}))],
            ["E006"])
        self.assertEqual([p.id for p in config_problems("c", dict(base, ATOMIC_REQUESTS=True))],
                         ["E006"])
        self.assertEqual([p.id for p in config_problems("c", dict(base, PORT="x"))], ["E006"])

    def test_project_settings_pass(self):
        self.assertEqual(check_settings(), [])
        call_command("check", stdout=io.StringIO())

    @override_settings(CACHES={"default": {"BACKEND": "django_greencql.cache.CQLCache",
                                           "LOCATION": "bad-name",
                                           "OPTIONS": {"database": "default"}}})
    def test_cache_on_a_sql_alias(self):
        self.assertEqual(_ids(check_settings()), ["django_greencql.E007"] * 2)


class ConnectionCheckTests(SimpleTestCase):
    databases = {"cassandra"}

    def test_database_option_checks_the_alias(self):
        out = io.StringIO()
        call_command("check", "--database", "cassandra", stdout=out)
        self.assertIn("no issues", out.getvalue())
        self.assertEqual(checks.run_checks(databases=["cassandra"]), [])
        deploy = checks.run_checks(include_deployment_checks=True, tags=["django_greencql"])
        self.assertEqual(deploy, [])

    def test_unreachable(self):
        sd = {"ENGINE": "django_greencql.backend", "NAME": "shop", "HOST": "127.0.0.1",
              "PORT": _free_port(), "OPTIONS": {"cluster": {"connect_timeout": 2.0}}}
        errors = check_alias_connection("unreachable", sd)
        self.assertEqual(_ids(errors), ["django_greencql.E003"])
        self.assertIn("127.0.0.1", errors[0].msg)

    def test_missing_keyspace(self):
        sd = dict(connections["cassandra"].settings_dict, NAME="no_such_keyspace")
        sd["OPTIONS"] = dict(sd["OPTIONS"])
        try:
            self.assertEqual(_ids(check_alias_connection("other", sd)), ["django_greencql.E004"])
            del sd["OPTIONS"]["replication"]
            self.assertEqual(_ids(check_alias_connection("other", sd)),
                             ["django_greencql.E004", "django_greencql.E005"])
        finally:
            registry.shutdown("other")


    def test_creating_a_keyspace_needs_replication(self):
        sd = dict(connections["cassandra"].settings_dict, NAME="never_made")
        sd["OPTIONS"] = {k: v for k, v in sd["OPTIONS"].items() if k != "replication"}
        with self.assertRaisesMessage(ImproperlyConfigured, "django_greencql.E005"):
            schema.create_keyspace(connections["cassandra"].session, get_config("x", sd),
                                   "never_made")
        with self.assertRaisesMessage(ImproperlyConfigured, "django_greencql.E002"):
            get_config("x", dict(sd, OPTIONS={"consistency": "MOST"}))


class CredentialsTests(SimpleTestCase):
    """USER/PASSWORD against a simulated cluster that requires them."""

    databases = {"cassandra"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        from greencql.testing import SimCluster

        cls.sim = SimCluster.spawn_process(1, port=0, auth=("app", "s3cret"))

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        super().tearDownClass()

    def settings_dict(self, password):
        return {"ENGINE": "django_greencql.backend", "NAME": "secured",
                "HOST": self.sim.contact_points[0], "PORT": self.sim.port, "USER": "app",
                "PASSWORD": password, "OPTIONS": {"cluster": {"connect_timeout": 2.0}}}

    def test_checks_use_the_credentials(self):
        try:
            # connected (the keyspace is what is missing), then refused with a wrong password
            self.assertEqual(_ids(check_alias_connection("secured", self.settings_dict("s3cret"))),
                             ["django_greencql.E004", "django_greencql.E005"])
            registry.shutdown("secured")
            errors = check_alias_connection("secured", self.settings_dict("wrong"))
            self.assertEqual(_ids(errors), ["django_greencql.E003"])
        finally:
            registry.shutdown("secured")

    def test_cqlsh_gets_the_credentials(self):
        args, _ = DatabaseClient.settings_to_cmd_args_env(
            dict(self.settings_dict("s3cret"), NAME=""), ["-e", "SELECT cluster_name FROM "
                                                          "system.local"])
        result = subprocess.run(args, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("greencql", result.stdout)


class DbshellTests(SimpleTestCase):
    databases = {"cassandra"}

    def test_arguments(self):
        args, env = DatabaseClient.settings_to_cmd_args_env(
            {"HOST": "10.0.0.1, 10.0.0.2", "PORT": 9043, "USER": "u", "PASSWORD": "p",
             "NAME": "shop"}, ["-e", "SELECT 1"])
        self.assertEqual(args, ["cqlsh", "10.0.0.1", "9043", "-u", "u", "-p", "p", "-k", "shop",
                                "-e", "SELECT 1"])
        self.assertIsNone(env)

    def test_runs_cqlsh_against_the_cluster(self):
        conn = connections["cassandra"]
        conn.session.execute("INSERT INTO notes (id, body) VALUES (42, 'from dbshell')")
        ran = []
        real_run = subprocess.run

        def run(args, **kwargs):  # the real cqlsh, its output captured for the assertions
            kwargs.update(capture_output=True, text=True, timeout=60)
            result = real_run(args, **kwargs)
            ran.append((args, result))
            return result

        base_client.subprocess.run, saved = run, base_client.subprocess.run
        try:
            call_command("dbshell", "--database", "cassandra", "--", "-e",
                         "SELECT body FROM notes WHERE id = 42")
        finally:
            base_client.subprocess.run = saved
        args, result = ran[0]
        sd = conn.settings_dict
        self.assertEqual(args, ["cqlsh", sd["HOST"].split(",")[0], str(sd["PORT"]), "-k",
                                "test_dg_tests", "-e", "SELECT body FROM notes WHERE id = 42"])
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("from dbshell", result.stdout)
