"""``SESSION_ENGINE = "django_greencql.sessions"``: Django sessions in a Cassandra table.

The table ``(session_key text PRIMARY KEY, session_data text)`` (``GREENCQL_SESSION_TABLE``,
default ``django_session``) lives in the keyspace of ``GREENCQL_SESSION_DATABASE`` (default:
the first Cassandra alias); ``manage.py cql_createtables`` creates it.

Owns Django's SessionBase contract on it: ``load`` (an absent or expired row is an empty,
keyless session), ``exists``, ``create`` (a fresh key written with ``save(must_create=True)``,
which is a lightweight transaction, ``IF NOT EXISTS``: a key collision raises CreateError and
create() draws another), ``save`` (otherwise a plain write, as Django's cache backend does),
``delete`` and ``clear_expired`` (nothing to do: each row carries the session's expiry age as
its TTL, and Cassandra drops it). Data is encoded by SessionBase (signed), as every Django
backend does.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import CreateError, SessionBase

from django_greencql.config import quote_identifier

__all__ = ["SessionStore"]


class SessionStore(SessionBase):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)

    @classmethod
    def _table(cls) -> tuple[Any, str]:
        from django.db import connections

        from django_greencql.schema import DEFAULT_SESSION_TABLE, default_alias

        alias = getattr(settings, "GREENCQL_SESSION_DATABASE", None) or default_alias()
        table = getattr(settings, "GREENCQL_SESSION_TABLE", DEFAULT_SESSION_TABLE)
        conn = connections[alias]
        name = f"{quote_identifier(conn.settings_dict['NAME'])}.{quote_identifier(table)}"
        return conn.session, name

    @classmethod
    def _prepared(cls, kind: str) -> tuple[Any, Any]:
        session, name = cls._table()
        cql = {
            "load": f"SELECT session_data FROM {name} WHERE session_key = ?",
            "save": f"INSERT INTO {name} (session_key, session_data) VALUES (?, ?) USING TTL ?",
            "create": f"INSERT INTO {name} (session_key, session_data) VALUES (?, ?) "
                      "IF NOT EXISTS USING TTL ?",
            "delete": f"DELETE FROM {name} WHERE session_key = ?",
        }[kind]
        stmt = session.prepare(cql)
        if kind != "create":
            stmt.is_idempotent = True
        return session, stmt

    def load(self) -> dict[str, Any]:
        session, stmt = self._prepared("load")
        row = session.execute(stmt, (self._get_or_create_session_key(),)).one()
        if row is None or row[0] is None:
            self._session_key = None
            return {}
        return self.decode(row[0])

    def exists(self, session_key: str) -> bool:
        session, stmt = self._prepared("load")
        row = session.execute(stmt, (session_key,)).one()
        return row is not None

    def create(self) -> None:
        while True:
            self._session_key = self._get_new_session_key()
            try:
                self.save(must_create=True)
            except CreateError:
                continue  # the key was taken between drawing and writing it
            self.modified = True
            return

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self.encode(self._get_session(no_load=must_create))
        ttl = max(1, int(self.get_expiry_age()))
        if must_create:
            session, stmt = self._prepared("create")
            if not session.execute(stmt, (self._get_or_create_session_key(), data,
                                          ttl)).was_applied:
                raise CreateError
            return None
        session, stmt = self._prepared("save")
        session.execute(stmt, (self._get_or_create_session_key(), data, ttl))
        return None

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        session, stmt = self._prepared("delete")
        session.execute(stmt, (session_key,))

    @classmethod
    def clear_expired(cls) -> None:
        return None  # rows expire by their TTL
