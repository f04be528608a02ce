"""CQL migrations: numbered ``.cql`` files in each app's ``cql_migrations/`` folder.

Owns: finding the files (``0001_initial.cql``, ``0002_add_orders.cql``, ... in
``INSTALLED_APPS`` order, then by number), splitting a file into statements (``;`` outside
strings, quoted identifiers, ``$$`` blocks and comments), the record of applied migrations
(table :data:`RECORD_TABLE` in the alias's keyspace: app, name, sha256 checksum, applied_at),
the plan (pending files; a changed checksum of an applied file is an error), and applying a
file statement by statement, waiting for schema agreement after each DDL statement (greencql
waits up to ``max_schema_agreement_wait`` after a schema change; a cluster that did not agree
stops the run). A file is recorded only once all its statements ran: Cassandra has no
transactional DDL, so a file that failed halfway runs again from its first statement next
time; write DDL with ``IF NOT EXISTS`` / ``IF EXISTS``.

It must not create keyspaces or the package's own tables (the command does, in that order).
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps

from django_greencql.config import quote_identifier

__all__ = [
    "MIGRATIONS_DIR",
    "RECORD_TABLE",
    "Migration",
    "MigrationError",
    "ChecksumMismatch",
    "split_statements",
    "is_ddl",
    "load_migrations",
    "applied_migrations",
    "ensure_record_table",
    "pending_migrations",
    "apply_migration",
    "record_migration",
    "next_migration_path",
]

MIGRATIONS_DIR = "cql_migrations"
RECORD_TABLE = "django_cql_migrations"
_FILE_RE = re.compile(r"^(\d{4,})_([A-Za-z0-9_]+)\.cql$")
_DDL_RE = re.compile(r"^\s*(CREATE|ALTER|DROP|TRUNCATE)\b", re.IGNORECASE)


class MigrationError(Exception):
    """A migration could not be planned or applied."""


class ChecksumMismatch(MigrationError):
    """An applied migration file changed since it was applied."""


@dataclass(frozen=True)
class Migration:
    app: str
    name: str  # the file name without .cql, e.g. 0001_initial
    path: Path
    checksum: str
    statements: tuple[str, ...] = field(repr=False)

    @property
    def label(self) -> str:
        return f"{self.app}.{self.name}"


def split_statements(text: str) -> list[str]:
    """The statements of a CQL script, without comments, without their ``;``."""
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        two = text[i:i + 2]
        if two in ("--", "//"):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if two == "/*":
            j = text.find("*/", i + 2)
            if j < 0:
                raise MigrationError("unterminated /* comment")
            i = j + 2
            buf.append(" ")
            continue
        if c in ("'", '"') or two == "$$":
            close = "$$" if two == "$$" else c
            j = i + len(close)
            while True:
                k = text.find(close, j)
                if k < 0:
                    raise MigrationError(f"unterminated {close} in CQL script")
                if close != "$$" and text[k + 1:k + 2] == close:  # doubled quote: escaped
                    j = k + 2
                    continue
                break
            buf.append(text[i:k + len(close)])
            i = k + len(close)
            continue
        if c == ";":
            stmt = "".join(buf).strip()
            if stmt:
                out.append(stmt)
            buf = []
            i += 1
            continue
        buf.append(c)
        i += 1
    stmt = "".join(buf).strip()
    if stmt:
        out.append(stmt)
    return out


def is_ddl(statement: str) -> bool:
    return bool(_DDL_RE.match(statement))


def _app_configs(app_labels: Iterable[str] | None) -> list[Any]:
    if app_labels:
        return [apps.get_app_config(label) for label in app_labels]
    return list(apps.get_app_configs())


def load_migrations(app_labels: Iterable[str] | None = None) -> list[Migration]:
    """Every migration file of the given apps (all installed apps when None), in order."""
    found: list[Migration] = []
    for config in _app_configs(app_labels):
        folder = Path(config.path) / MIGRATIONS_DIR
        if not folder.is_dir():
            continue
        numbers: dict[int, str] = {}
        for path in sorted(folder.glob("*.cql")):
            match = _FILE_RE.match(path.name)
            if match is None:
                raise MigrationError(f"{path}: migration files are named NNNN_name.cql")
            number = int(match.group(1))
            if number in numbers:
                raise MigrationError(f"{config.label}: two migrations numbered {number}: "
                                     f"{numbers[number]} and {path.name}")
            numbers[number] = path.name
            data = path.read_bytes()
            found.append(Migration(
                app=config.label, name=path.stem, path=path,
                checksum=hashlib.sha256(data).hexdigest(),
                statements=tuple(split_statements(data.decode("utf-8")))))
    order = {c.label: i for i, c in enumerate(apps.get_app_configs())}
    found.sort(key=lambda m: (order.get(m.app, 0), int(m.name.split("_", 1)[0])))
    return found


def _record_name(keyspace: str) -> str:
    return f"{quote_identifier(keyspace)}.{quote_identifier(RECORD_TABLE)}"


def ensure_record_table(session: Any, keyspace: str) -> None:
    session.execute(f"CREATE TABLE IF NOT EXISTS {_record_name(keyspace)} (app text, "
                    "name text, checksum text, applied_at timestamp, PRIMARY KEY (app, name))")


def applied_migrations(session: Any, keyspace: str) -> dict[tuple[str, str], str]:
    """(app, name) -> checksum of every recorded migration."""
    rows = session.execute(f"SELECT app, name, checksum FROM {_record_name(keyspace)}")
    return {(r[0], r[1]): r[2] for r in rows}


def pending_migrations(migrations: list[Migration], applied: dict[tuple[str, str], str]
                       ) -> list[Migration]:
    """The migrations not applied yet; ChecksumMismatch if an applied file changed."""
    changed = [m for m in migrations
               if (m.app, m.name) in applied and applied[(m.app, m.name)] != m.checksum]
    if changed:
        raise ChecksumMismatch(
            "applied CQL migrations changed since they were applied: "
            + ", ".join(f"{m.label} ({m.path})" for m in changed)
            + "; write a new migration instead of editing an applied one")
    return [m for m in migrations if (m.app, m.name) not in applied]


def apply_migration(session: Any, migration: Migration) -> None:
    """Run every statement of ``migration``; after DDL, schema agreement or MigrationError."""
    for index, statement in enumerate(migration.statements, 1):
        try:
            result = session.execute(statement)
        except Exception as exc:
            raise MigrationError(f"{migration.label}: statement {index} failed: {exc}\n"
                                 f"  {statement}") from exc
        future = getattr(result, "response_future", None)
        if is_ddl(statement) and future is not None and not future.is_schema_agreed:
            raise MigrationError(
                f"{migration.label}: the cluster did not agree on the schema after statement "
                f"{index} ({statement.splitlines()[0]}); run cql_migrate again once it does")


def record_migration(session: Any, keyspace: str, migration: Migration) -> None:
    session.execute(
        f"INSERT INTO {_record_name(keyspace)} (app, name, checksum, applied_at) "
        "VALUES (%s, %s, %s, %s)",
        (migration.app, migration.name, migration.checksum,
         datetime.datetime.now(datetime.timezone.utc)))


def next_migration_path(app_label: str, name: str) -> Path:
    """Where ``cql_makemigration app name`` writes: the next number in the app's folder."""
    if not re.match(r"^[A-Za-z0-9_]+$", name):
        raise MigrationError(f"migration name {name!r}: use letters, digits and underscores")
    config = apps.get_app_config(app_label)
    folder = Path(config.path) / MIGRATIONS_DIR
    numbers = [int(m.group(1)) for p in folder.glob("*.cql")
               if (m := _FILE_RE.match(p.name))] if folder.is_dir() else []
    return folder / f"{max(numbers, default=0) + 1:04d}_{name}.cql"
