"""The session engine against the simulated cluster: Django's SessionBase contract and a
login/logout round trip through the test client."""

from django.contrib.auth.models import User
from django.contrib.sessions.backends.base import CreateError
from django.core.management import call_command
from django.db import connections
from django.test import TestCase, override_settings

from django_greencql.sessions import SessionStore


def _ttl(session_key):
    conn = connections["cassandra"]
    ks = conn.settings_dict["NAME"]
    row = conn.session.execute(
        f'SELECT TTL(session_data) FROM "{ks}"."django_session" WHERE session_key = %s',
        (session_key,)).one()
    return None if row is None else row[0]


class SessionStoreTests(TestCase):
    databases = {"default", "cassandra"}

    def test_create_load_save_delete(self):
        store = SessionStore()
        store["cat"] = "meow"
        store.save()
        key = store.session_key
        self.assertIsNotNone(key)
        self.assertTrue(store.exists(key))
        again = SessionStore(key)
        self.assertEqual(again["cat"], "meow")
        again["dog"] = "woof"
        again.save()
        self.assertEqual(SessionStore(key).load(), {"cat": "meow", "dog": "woof"})
        again.delete()
        self.assertFalse(store.exists(key))
        self.assertEqual(SessionStore(key).load(), {})

    def test_load_unknown_key_is_empty_and_keyless(self):
        store = SessionStore("x" * 32)
        self.assertEqual(store.load(), {})
        self.assertIsNone(store.session_key)

    def test_must_create_is_a_lightweight_transaction(self):
        store = SessionStore()
        store.create()
        clash = SessionStore(store.session_key)
        with self.assertRaises(CreateError):
            clash.save(must_create=True)

    def test_create_draws_another_key_when_taken(self):
        taken = SessionStore()
        taken.create()

        class Unlucky(SessionStore):
            draws = [taken.session_key, "b" * 32]

            def _get_new_session_key(self):
                return self.draws.pop(0)

        store = Unlucky()
        store.create()
        self.assertEqual(store.session_key, "b" * 32)
        self.assertEqual(Unlucky.draws, [])

    def test_cycle_key(self):
        store = SessionStore()
        store["a"] = 1
        store.save()
        old = store.session_key
        store.cycle_key()
        self.assertNotEqual(store.session_key, old)
        self.assertFalse(store.exists(old))
        self.assertEqual(SessionStore(store.session_key)["a"], 1)

    def test_expiry_is_the_ttl(self):
        store = SessionStore()
        store.set_expiry(600)
        store.save()
        self.assertTrue(590 <= _ttl(store.session_key) <= 600)
        SessionStore.clear_expired()  # nothing to do, and no error

    def test_delete_without_key(self):
        SessionStore().delete()

    @override_settings(GREENCQL_SESSION_TABLE="other_sessions",
                       GREENCQL_SESSION_DATABASE="cassandra")
    def test_other_table(self):
        call_command("cql_createtables", database="cassandra", verbosity=0)
        store = SessionStore()
        store["x"] = 1
        store.save()
        conn = connections["cassandra"]
        row = conn.session.execute(
            f'SELECT session_key FROM "{conn.settings_dict["NAME"]}"."other_sessions" '
            "WHERE session_key = %s", (store.session_key,)).one()
        self.assertIsNotNone(row)
        self.assertIsNone(_ttl(store.session_key))  # not in the default table


class LoginLogoutTests(TestCase):
    databases = {"default", "cassandra"}

    @classmethod
    def setUpTestData(cls):
        User.objects.create_user("alice", password="s3cret")

    def test_round_trip(self):
        self.assertEqual(self.client.get("/whoami/").json(), {"user": None})
        self.assertTrue(self.client.login(username="alice", password="s3cret"))
        key = self.client.cookies["sessionid"].value
        self.assertIsNotNone(_ttl(key))  # the session row is in Cassandra
        self.assertEqual(self.client.get("/whoami/").json(), {"user": "alice"})
        self.assertEqual(self.client.get("/bump/").json(), {"n": 1})
        self.assertEqual(self.client.get("/bump/").json(), {"n": 2})
        self.client.logout()
        self.assertIsNone(_ttl(key))  # flushed: the row is gone
        self.assertEqual(self.client.get("/whoami/").json(), {"user": None})
        self.assertEqual(self.client.get("/bump/").json(), {"n": 1})
