"""CQLCache against the simulated cluster: the behaviours of Django's own cache tests
(BaseCacheTests), rewritten for this backend, plus what is ours (LWT add, CAS incr, TTLs)."""

import time
import warnings

from django.core.cache import CacheKeyWarning, cache, caches
from django.db import connections
from django.test import SimpleTestCase

from django_greencql import cache as cql_cache
from django_greencql.cache import MAX_TTL, CacheContention, CQLCache


class Unpicklable:
    def __getstate__(self):
        raise pickle_error


pickle_error = TypeError("not picklable")


class CacheTests(SimpleTestCase):
    databases = {"cassandra"}

    def tearDown(self):
        cache.clear()
        caches["other_table"].clear()

    def test_simple_and_none(self):
        cache.set("key", "value")
        self.assertEqual(cache.get("key"), "value")
        cache.set("none", None)
        self.assertIsNone(cache.get("none", default="default"))
        self.assertIs(cache.has_key("none"), True)
        self.assertIn("none", cache)

    def test_non_existent(self):
        self.assertIsNone(cache.get("does_not_exist"))
        self.assertEqual(cache.get("does_not_exist", "bang!"), "bang!")
        self.assertNotIn("does_not_exist", cache)

    def test_add(self):
        self.assertIs(cache.add("addkey1", "value"), True)
        self.assertIs(cache.add("addkey1", "newvalue"), False)  # an LWT that did not apply
        self.assertEqual(cache.get("addkey1"), "value")

    def test_prefix_and_tables(self):
        cache.set("somekey", "value")
        self.assertIs(caches["prefix"].has_key("somekey"), False)
        caches["prefix"].set("somekey", "value2")
        self.assertEqual(cache.get("somekey"), "value")
        self.assertEqual(caches["prefix"].get("somekey"), "value2")
        self.assertIsNone(caches["other_table"].get("somekey"))

    def test_get_many(self):
        cache.set_many({"a": "a", "b": "b", "c": "c", "d": "d"})
        self.assertEqual(cache.get_many(["a", "c", "d"]), {"a": "a", "c": "c", "d": "d"})
        self.assertEqual(cache.get_many(["a", "b", "e"]), {"a": "a", "b": "b"})
        self.assertEqual(cache.get_many(iter(["a", "b", "e"])), {"a": "a", "b": "b"})
        cache.set_many({"x": None, "y": 1})
        self.assertEqual(cache.get_many(["x", "y"]), {"x": None, "y": 1})
        self.assertEqual(cache.get_many([]), {})

    def test_delete(self):
        cache.set_many({"key1": "spam", "key2": "eggs"})
        self.assertIs(cache.delete("key1"), True)
        self.assertIsNone(cache.get("key1"))
        self.assertEqual(cache.get("key2"), "eggs")
        self.assertIs(cache.delete("nonexistent_key"), False)

    def test_incr_decr(self):
        cache.set("answer", 41)
        self.assertEqual(cache.incr("answer"), 42)
        self.assertEqual(cache.get("answer"), 42)
        self.assertEqual(cache.incr("answer", 10), 52)
        self.assertEqual(cache.incr("answer", -10), 42)
        self.assertEqual(cache.decr("answer", 10), 32)
        self.assertEqual(cache.decr("answer", -10), 42)
        with self.assertRaises(ValueError):
            cache.incr("does_not_exist")
        with self.assertRaises(ValueError):
            cache.decr("does_not_exist")
        cache.set("null", None)
        with self.assertRaises(TypeError):
            cache.incr("null")

    def test_incr_keeps_the_ttl(self):
        cache.set("counted", 1, 1000)
        cache.incr("counted")
        session = connections["cassandra"].session
        key = cache.make_key("counted")
        ks = connections["cassandra"].settings_dict["NAME"]
        row = session.execute(f'SELECT TTL(value) FROM "{ks}"."cache_table" WHERE key = %s',
                              (key,)).one()
        self.assertTrue(990 <= row[0] <= 1000, row)

    def test_concurrent_incr_is_atomic(self):
        # greenlets (or threads) of this process race on one key: no increment is lost
        import threading

        cache.set("hits", 0)
        errors = []

        def worker():
            try:
                for _ in range(5):
                    cache.incr("hits")
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(errors, [])
        self.assertEqual(cache.get("hits"), 20)

    def test_contention_is_bounded(self):
        # another client rewrites the key before each of our compare-and-set tries: every try
        # loses, and incr gives up after CAS_ATTEMPTS with CacheContention
        rival = caches["default"]

        class Losing(CQLCache):
            tries = 0

            def _cas(self, key, expected, new, ttl):
                Losing.tries += 1
                rival.set("contended", Losing.tries * 100)
                return super()._cas(key, expected, new, ttl)

        losing = Losing("cache_table", {"OPTIONS": {"database": "cassandra"}})
        cache.set("contended", 1)
        saved, cql_cache.CAS_MAX_BACKOFF = cql_cache.CAS_MAX_BACKOFF, 0.0
        try:
            with self.assertRaises(CacheContention):
                losing.incr("contended")
        finally:
            cql_cache.CAS_MAX_BACKOFF = saved
        self.assertEqual(Losing.tries, cql_cache.CAS_ATTEMPTS)
        self.assertEqual(cache.get("contended"), Losing.tries * 100)  # never overwritten

    def test_data_types(self):
        values = {"string": "this is a string", "int": 42, "bool": True, "list": [1, 2, 3],
                  "tuple": (1, 2, 3), "dict": {"A": 1, "B": 2}, "bytes": b"\x00\xff",
                  "unicode": "Iñtërnâtiônàlizætiøn", "Iñtërnâtiônàlizætiøn": {"x": 1}}
        for key, value in values.items():
            with self.subTest(key=key):
                cache.set(key, value)
                self.assertEqual(cache.get(key), value)
                self.assertIs(cache.delete(key), True)
                self.assertIs(cache.add(key, value), True)
                self.assertEqual(cache.get(key), value)

    def test_unpicklable_value(self):
        with self.assertRaises(TypeError):
            cache.set("unpicklable", Unpicklable())

    def test_set_many_delete_many_clear(self):
        self.assertEqual(cache.set_many({"key1": "spam", "key2": "eggs", "key3": "ham"}), [])
        self.assertEqual(cache.set_many({}), [])
        cache.delete_many(["key1", "key2"])
        self.assertIsNone(cache.get("key1"))
        self.assertIsNone(cache.get("key2"))
        self.assertEqual(cache.get("key3"), "ham")
        self.assertIsNone(cache.delete_many([]))
        cache.clear()
        self.assertIsNone(cache.get("key3"))

    def test_expiration(self):
        # one wait for the server's clock to pass a 1 s TTL (Django's tests wait the same way)
        cache.set("expire1", "very quickly", 1)
        cache.set("expire2", "very quickly", 1)
        cache.set("expire3", "very quickly", 1)
        cache.set_many({"many1": "spam", "many2": "eggs"}, 1)
        cache.set("touched", "longer", timeout=1)
        self.assertIs(cache.touch("touched", timeout=60), True)
        cache.set("forever", "fries", timeout=1)
        self.assertIs(cache.touch("forever", timeout=None), True)
        time.sleep(2.1)
        self.assertIsNone(cache.get("expire1"))
        self.assertIs(cache.add("expire2", "newvalue"), True)
        self.assertEqual(cache.get("expire2"), "newvalue")
        self.assertIs(cache.has_key("expire3"), False)
        self.assertEqual(cache.get_many(["many1", "many2"]), {})
        self.assertEqual(cache.get("touched"), "longer")
        self.assertEqual(cache.get("forever"), "fries")
        self.assertIs(cache.touch("nonexistent"), False)

    def test_ttls_on_the_server(self):
        session = connections["cassandra"].session
        ks = connections["cassandra"].settings_dict["NAME"]

        def ttl(key):
            row = session.execute(f'SELECT TTL(value) FROM "{ks}"."cache_table" WHERE key = %s',
                                  (cache.make_key(key),)).one()
            return row[0]

        cache.set("default", 1)  # TIMEOUT 300 (Django's default)
        self.assertTrue(290 <= ttl("default") <= 300)
        cache.set("float", 1, 100.2)  # rounded up
        self.assertTrue(95 <= ttl("float") <= 101)
        cache.set("none", 1, None)
        self.assertIsNone(ttl("none"))
        cache.set("huge", 1, MAX_TTL + 1)  # stored without a TTL rather than refused
        self.assertIsNone(ttl("huge"))
        cache.set("month", 1, 60 * 60 * 24 * 30 + 1)
        self.assertEqual(cache.get("month"), 1)

    def test_zero_timeout(self):
        cache.set("key1", "eggs", 0)
        self.assertIsNone(cache.get("key1"))
        self.assertIs(cache.add("key2", "ham", 0), True)
        self.assertIsNone(cache.get("key2"))
        cache.set_many({"key3": "sausage", "key4": "lobster bisque"}, 0)
        self.assertIsNone(cache.get("key3"))
        self.assertIsNone(cache.get("key4"))
        cache.set("key5", "belgian fries", timeout=5)
        self.assertIs(cache.touch("key5", timeout=0), True)
        self.assertIsNone(cache.get("key5"))

    def test_forever_timeout(self):
        cache.set("key1", "eggs", None)
        self.assertEqual(cache.get("key1"), "eggs")
        self.assertIs(cache.add("key2", "ham", None), True)
        self.assertIs(cache.add("key1", "new eggs", None), False)
        self.assertEqual(cache.get("key1"), "eggs")

    def test_get_or_set(self):
        self.assertEqual(cache.get_or_set("projector", 42), 42)
        self.assertEqual(cache.get("projector"), 42)
        self.assertIsNone(cache.get_or_set("null", None))
        self.assertEqual(cache.get_or_set("mykey", lambda: "default"), "default")

    def test_versioning(self):
        v2 = caches["v2"]
        cache.set("answer1", 42)
        self.assertEqual(cache.get("answer1", version=1), 42)
        self.assertIsNone(cache.get("answer1", version=2))
        self.assertIsNone(v2.get("answer1"))
        self.assertEqual(v2.get("answer1", version=1), 42)
        v2.set("answer3", 42)
        self.assertIsNone(cache.get("answer3"))
        self.assertEqual(cache.get("answer3", version=2), 42)
        self.assertIs(cache.add("answer4", 42, version=2), True)
        self.assertIs(cache.add("answer4", 37, version=2), False)
        self.assertIs(cache.add("answer4", 37, version=1), True)
        self.assertIs(v2.has_key("answer4"), True)
        self.assertIs(v2.has_key("answer4", version=1), True)
        cache.set("answer5", 37, version=1)
        cache.set("answer5", 42, version=2)
        self.assertEqual(cache.incr("answer5"), 38)
        self.assertEqual(cache.get("answer5", version=2), 42)
        self.assertEqual(v2.decr("answer5"), 41)
        self.assertIs(v2.delete("answer5", version=1), True)
        self.assertIsNone(cache.get("answer5"))
        v2.set_many({"ford": 37, "arthur": 42})
        self.assertEqual(cache.get_many(["ford", "arthur"]), {})
        self.assertEqual(cache.get_many(["ford", "arthur"], version=2),
                         {"ford": 37, "arthur": 42})

    def test_incr_decr_version(self):
        cache.set("answer", 42, version=2)
        self.assertEqual(cache.incr_version("answer", version=2), 3)
        self.assertIsNone(cache.get("answer", version=2))
        self.assertEqual(cache.get("answer", version=3), 42)
        self.assertEqual(cache.decr_version("answer", version=3), 2)
        self.assertEqual(cache.get("answer", version=2), 42)
        with self.assertRaises(ValueError):
            cache.incr_version("does_not_exist")

    def test_custom_key_func(self):
        caches["custom_key"].set("answer1", 42)
        self.assertIsNone(cache.get("answer1"))
        self.assertEqual(caches["custom_key"].get("answer1"), 42)

    def _invalid_key_warns(self, key, expected):
        old = cache.key_func
        cache.key_func = lambda key, *args: key
        try:
            for operation, args in [("add", [key, 1]), ("get", [key]), ("set", [key, 1]),
                                    ("incr", [key]), ("decr", [key]), ("touch", [key]),
                                    ("has_key", [key]), ("delete", [key]),
                                    ("get_many", [[key, "b"]]), ("set_many", [{key: 1}]),
                                    ("delete_many", [[key, "b"]])]:
                with self.subTest(operation=operation):
                    with self.assertWarns(CacheKeyWarning) as cm:
                        getattr(cache, operation)(*args)
                    self.assertEqual(str(cm.warning), expected)
        finally:
            cache.key_func = old

    def test_invalid_key_characters(self):
        key = "key with spaces and 清"
        self._invalid_key_warns(
            key, "Cache key contains characters that will cause errors if used with "
                 f"memcached: {key!r}")

    def test_invalid_key_length(self):
        key = ("a" * 250) + "清"
        self._invalid_key_warns(
            key, f"Cache key will cause errors if used with memcached: {key!r} (longer than 250)")

    def test_bad_location(self):
        with self.assertRaises(ValueError):
            CQLCache("no-dashes", {})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            CQLCache("fine_name", {"OPTIONS": {"database": "cassandra"}})
