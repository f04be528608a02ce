"""``django_greencql.cache.CQLCache``: Django's cache API on a Cassandra table.

``CACHES = {"default": {"BACKEND": "django_greencql.cache.CQLCache", "LOCATION": "cache_table",
"OPTIONS": {"database": "cassandra"}, "TIMEOUT": 300}}``; ``manage.py cql_createtables``
creates the table ``(key text PRIMARY KEY, value blob)`` in the alias's keyspace.

Owns the mapping of the cache API onto CQL:

- values are pickled (``pickle.HIGHEST_PROTOCOL``, like Django's database cache) into a blob;
- expiry is Cassandra's TTL (``USING TTL``): the timeout rounded up to whole seconds; ``None``
  stores without a TTL, and so do timeouts over :data:`MAX_TTL` (Cassandra before 5.0 refuses
  expirations past 2038); ``0`` or less deletes the key, as Django's backends expire it;
- every write is an ``UPDATE`` (never an ``INSERT``), so no row marker outlives its value:
  a key exists exactly while its value cell does;
- ``add`` is one lightweight transaction (``IF value = null``: absent or expired);
- ``incr``/``decr`` and ``touch`` are compare-and-set loops (``IF value = <what was read>``)
  of at most :data:`CAS_ATTEMPTS` tries with random, doubling pauses between them, then
  :class:`CacheContention`. ``incr`` keeps the
  key's remaining TTL. Why not Cassandra counters: a counter column cannot live in a table
  with other columns nor carry a TTL, a counter update is not idempotent (a retried timeout
  may count twice), a deleted counter cannot be reliably written again, and a counter
  springs into existence at 0 where Django's ``incr`` of a missing key must raise ValueError;
- ``get_many``/``set_many``/``delete_many`` send their statements concurrently;
- ``clear`` is ``TRUNCATE``; ``MAX_ENTRIES``/``CULL_FREQUENCY`` have no effect (TTLs expire).

``set``/``delete`` are plain writes while ``add``/``incr``/``touch`` are LWTs; Cassandra
orders a plain write and an LWT on one key by their timestamps, so concurrent mixes on one key
are as consistent as the clocks of clients and coordinators.
Key validation is Django's own (``CacheKeyWarning`` for keys memcached would refuse).
"""

from __future__ import annotations

import math
import pickle
import random
import time
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache

from django_greencql.config import quote_identifier

__all__ = ["CQLCache", "CacheContention", "CAS_ATTEMPTS", "CAS_MAX_BACKOFF", "MAX_TTL"]

#: compare-and-set tries of incr/decr/touch before giving up: each failed try means another
#: client changed the key in between; 16 losses in a row is contention, not bad luck
CAS_ATTEMPTS = 16
#: the longest pause between two compare-and-set tries (seconds); pauses are random, doubling
#: from 1 ms, so that racing clients stop colliding
CAS_MAX_BACKOFF = 0.05
#: ten years: longer timeouts are stored without a TTL (Cassandra < 5.0 rejects a TTL whose
#: expiration falls after 2038-01-19; its hard maximum is 20 years)
MAX_TTL = 10 * 365 * 24 * 3600


def _backoff(attempt: int) -> None:
    # time.sleep parks only the calling greenlet in a monkey-patched program
    time.sleep(random.uniform(0, min(CAS_MAX_BACKOFF, 0.001 * 2 ** attempt)))


class CacheContention(Exception):
    """incr/decr/touch lost :data:`CAS_ATTEMPTS` compare-and-set races in a row."""


class CQLCache(BaseCache):
    pickle_protocol = pickle.HIGHEST_PROTOCOL

    def __init__(self, table: str, params: Mapping[str, Any]) -> None:
        super().__init__(params)
        quote_identifier(table)  # ValueError now rather than on the first request
        self._table = table
        self._database: str | None = (params.get("OPTIONS") or {}).get("database")

    # -- plumbing -------------------------------------------------------------------------

    @property
    def _alias(self) -> str:
        if self._database is None:
            from django_greencql.schema import default_alias

            self._database = default_alias()
        return self._database

    def _session_and_name(self) -> tuple[Any, str]:
        from django.db import connections

        conn = connections[self._alias]
        session = conn.session
        keyspace = conn.settings_dict["NAME"]
        return session, f"{quote_identifier(keyspace)}.{quote_identifier(self._table)}"

    def _prepared(self, kind: str) -> tuple[Any, Any]:
        session, name = self._session_and_name()
        cql = {
            "get": f"SELECT value FROM {name} WHERE key = ?",
            "get_ttl": f"SELECT value, TTL(value) FROM {name} WHERE key = ?",
            "set": f"UPDATE {name} USING TTL ? SET value = ? WHERE key = ?",
            "add": f"UPDATE {name} USING TTL ? SET value = ? WHERE key = ? IF value = null",
            "cas": f"UPDATE {name} USING TTL ? SET value = ? WHERE key = ? IF value = ?",
            "delete": f"DELETE FROM {name} WHERE key = ?",
        }[kind]
        stmt = session.prepare(cql)  # the session caches it: one round trip per process
        if kind in ("get", "get_ttl", "set", "delete"):
            stmt.is_idempotent = True
        return session, stmt

    def _ttl(self, timeout: Any) -> int | None:
        """Seconds of TTL (0: none), or None when the key must expire at once."""
        if timeout is DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        if timeout is None:
            return 0
        if timeout <= 0:
            return None
        ttl = math.ceil(timeout)
        return 0 if ttl > MAX_TTL else ttl

    def _dumps(self, value: Any) -> bytes:
        return pickle.dumps(value, self.pickle_protocol)

    @staticmethod
    def _loads(raw: Any) -> Any:
        return pickle.loads(raw)

    # -- single keys ----------------------------------------------------------------------

    def get(self, key: Any, default: Any = None, version: Any = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        session, stmt = self._prepared("get")
        row = session.execute(stmt, (key,)).one()
        if row is None or row[0] is None:
            return default
        return self._loads(row[0])

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT,
            version: Any = None) -> None:
        key = self.make_and_validate_key(key, version=version)
        ttl = self._ttl(timeout)
        if ttl is None:
            self._delete(key)
            return
        session, stmt = self._prepared("set")
        session.execute(stmt, (ttl, self._dumps(value), key))

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT,
            version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        ttl = self._ttl(timeout)
        if ttl is None:
            # stored and expired at once, as Django's backends do: True when it was absent
            return not self._exists(key)
        session, stmt = self._prepared("add")
        return bool(session.execute(stmt, (ttl, self._dumps(value), key)).was_applied)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        ttl = self._ttl(timeout)
        if ttl is None:
            return self._delete(key)
        raw, _ = self._read_with_ttl(key)
        for attempt in range(CAS_ATTEMPTS):
            if raw is None:
                return False
            applied, raw = self._cas(key, raw, raw, ttl)
            if applied:
                return True
            _backoff(attempt)
        raise CacheContention(f"touch({key!r}) lost {CAS_ATTEMPTS} races in a row")

    def delete(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._delete(key)

    def has_key(self, key: Any, version: Any = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._exists(key)

    def incr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        key = self.make_and_validate_key(key, version=version)
        raw, ttl = self._read_with_ttl(key)
        for attempt in range(CAS_ATTEMPTS):
            if raw is None:
                raise ValueError(f"Key '{key}' not found")
            new_value = self._loads(raw) + delta
            applied, current = self._cas(key, raw, self._dumps(new_value), ttl)
            if applied:
                return new_value
            _backoff(attempt)
            # lost a race: the LWT answered with the current value; its TTL needs a read
            raw, ttl = self._read_with_ttl(key) if current is not None else (None, 0)
        raise CacheContention(f"incr({key!r}) lost {CAS_ATTEMPTS} races in a row")

    def decr(self, key: Any, delta: int = 1, version: Any = None) -> Any:
        return self.incr(key, -delta, version=version)

    # -- many keys ------------------------------------------------------------------------

    def get_many(self, keys: Iterable[Any], version: Any = None) -> dict[Any, Any]:
        key_map = {self.make_and_validate_key(k, version=version): k for k in keys}
        if not key_map:
            return {}
        session, stmt = self._prepared("get")
        futures = [(k, session.execute_async(stmt, (k,))) for k in key_map]
        found = {}
        for made, future in futures:
            row = future.result().one()
            if row is not None and row[0] is not None:
                found[key_map[made]] = self._loads(row[0])
        return found

    def set_many(self, data: Mapping[Any, Any], timeout: Any = DEFAULT_TIMEOUT,
                 version: Any = None) -> list[Any]:
        ttl = self._ttl(timeout)
        items = [(self.make_and_validate_key(k, version=version), v) for k, v in data.items()]
        if ttl is None:
            self._delete_keys([k for k, _ in items])
            return []
        session, stmt = self._prepared("set")
        futures = [session.execute_async(stmt, (ttl, self._dumps(v), k)) for k, v in items]
        self._wait_all(futures)
        return []

    def delete_many(self, keys: Iterable[Any], version: Any = None) -> None:
        self._delete_keys([self.make_and_validate_key(k, version=version) for k in keys])

    def clear(self) -> None:
        session, name = self._session_and_name()
        session.execute(f"TRUNCATE {name}")

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _wait_all(futures: list[Any]) -> None:
        error = None
        for future in futures:  # wait for every one, then raise the first error
            try:
                future.result()
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error

    def _exists(self, key: str) -> bool:
        session, stmt = self._prepared("get")
        row = session.execute(stmt, (key,)).one()
        return row is not None and row[0] is not None

    def _delete(self, key: str) -> bool:
        existed = self._exists(key)
        session, stmt = self._prepared("delete")
        session.execute(stmt, (key,))
        return existed

    def _delete_keys(self, keys: list[str]) -> None:
        if keys:
            session, stmt = self._prepared("delete")
            self._wait_all([session.execute_async(stmt, (k,)) for k in keys])

    def _read_with_ttl(self, key: str) -> tuple[bytes | None, int]:
        session, stmt = self._prepared("get_ttl")
        row = session.execute(stmt, (key,)).one()
        if row is None or row[0] is None:
            return None, 0
        return row[0], int(row[1] or 0)

    def _cas(self, key: str, expected: bytes, new: bytes, ttl: int) -> tuple[bool, Any]:
        """One compare-and-set; (applied, the current value when not applied)."""
        session, stmt = self._prepared("cas")
        result = session.execute(stmt, (ttl, new, key, expected))
        if result.was_applied:
            return True, None
        row = result.one()
        current = row[1] if row is not None and len(row) > 1 else None
        return False, current
