"""The ``flask cql`` command group: apply a .cql file, open cqlsh, ping every host.

Owns the click commands (``exec``, ``shell``, ``ping``) that ``init_app`` adds to the app's
CLI, and :func:`split_statements`, which cuts a CQL script into statements the way cqlsh
reads one: ``;`` ends a statement unless it is inside a string ('...' with '' escapes), a
quoted name ("..."), a $$ string or a comment (``--`` and ``//`` to the end of the line,
``/* ... */``); statements may span lines.

It must not implement a shell of its own (``shell`` runs cqlsh, the PyPI package) nor keep
anything open after a command: every command uses a Session of its own and closes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

__all__ = ["cql_group", "split_statements", "CQLScriptError"]

#: seconds one statement of ``flask cql exec`` may take (DDL waits for schema agreement)
DEFAULT_EXEC_TIMEOUT = 30.0
#: seconds one ``flask cql ping`` may wait for a host
DEFAULT_PING_TIMEOUT = 5.0

cql_group = AppGroup("cql", help="CQL commands of greencql (Cassandra, ScyllaDB).")


class CQLScriptError(ValueError):
    """A CQL script that cannot be split: an unterminated string, name or comment."""


def split_statements(text: str) -> list[str]:
    """The statements of a CQL script, comments removed, each without its ``;``; raises
    :class:`CQLScriptError` for an unterminated string, quoted name or block comment."""
    statements: list[str] = []
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        two = text[i:i + 2]
        if two in ("--", "//"):
            end = text.find("\n", i)
            i = n if end < 0 else end  # keep the newline
        elif two == "/*":
            end = text.find("*/", i + 2)
            if end < 0:
                raise CQLScriptError(f"unterminated /* comment at offset {i}")
            out.append(" ")
            i = end + 2
        elif two == "$$":
            end = text.find("$$", i + 2)
            if end < 0:
                raise CQLScriptError(f"unterminated $$ string at offset {i}")
            out.append(text[i:end + 2])
            i = end + 2
        elif c in ("'", '"'):
            j = i + 1
            while True:
                j = text.find(c, j)
                if j < 0:
                    what = "string" if c == "'" else "quoted name"
                    raise CQLScriptError(f"unterminated {what} at offset {i}")
                if text[j + 1:j + 2] == c:  # doubled quote: an escaped one
                    j += 2
                    continue
                break
            out.append(text[i:j + 1])
            i = j + 1
        elif c == ";":
            _flush(out, statements)
            i += 1
        else:
            out.append(c)
            i += 1
    _flush(out, statements)
    return statements


def _flush(out: list[str], statements: list[str]) -> None:
    lines = [line.rstrip() for line in "".join(out).strip().splitlines()]
    statement = "\n".join(line for line in lines if line.strip())
    if statement:
        statements.append(statement)
    out.clear()


def _extension() -> Any:
    from flask_greencql.extension import EXTENSION_NAME

    return current_app.extensions[EXTENSION_NAME]


@cql_group.command("exec")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--keyspace", "-k", default=None,
              help="USE this keyspace first (default: none; qualify names or USE in the file)")
@click.option("--timeout", default=DEFAULT_EXEC_TIMEOUT, show_default=True, type=float,
              help="seconds per statement")
def exec_command(path: str, keyspace: str | None, timeout: float) -> None:
    """Run the statements of a .cql file in order, printing each; stop at the first error."""
    with open(path, encoding="utf-8") as f:
        try:
            statements = split_statements(f.read())
        except CQLScriptError as exc:
            raise click.ClickException(f"{path}: {exc}") from exc
    session = _extension().cluster.connect(keyspace)
    try:
        for number, statement in enumerate(statements, 1):
            click.echo(f"-- [{number}/{len(statements)}]")
            click.echo(statement + ";")
            try:
                session.execute(statement, timeout=timeout)
            except Exception as exc:
                raise click.ClickException(
                    f"statement {number} of {path} failed: {type(exc).__name__}: {exc}"
                ) from exc
        click.echo(f"-- {len(statements)} statement(s) applied")
    finally:
        session.shutdown()


def _cqlsh_path() -> str:
    found = shutil.which("cqlsh")
    if found is None:
        beside = os.path.join(os.path.dirname(sys.executable), "cqlsh")
        if os.access(beside, os.X_OK):
            found = beside
    if found is None:
        raise click.ClickException(
            "cqlsh is not installed: pip install flask-greencql[shell] (or pip install cqlsh)")
    return found


def cqlsh_command(settings: Any, extra: Sequence[str] = ()) -> list[str]:
    """The cqlsh command line for ``settings`` (first contact point, port, keyspace,
    credentials, TLS) followed by ``extra``."""
    host = settings.contact_points[0]
    args = [_cqlsh_path(), host, str(settings.port)]
    if settings.keyspace:
        args += ["-k", settings.keyspace]
    if settings.username:
        args += ["-u", settings.username, "-p", settings.password or ""]
    if settings.ssl_context is not None or settings.ssl_ca_file:
        args.append("--ssl")
    if settings.protocol_version:
        args.append(f"--protocol-version={settings.protocol_version}")
    return args + list(extra)


@cql_group.command("shell", context_settings={"ignore_unknown_options": True,
                                              "allow_extra_args": True})
@click.argument("cqlsh_args", nargs=-1, type=click.UNPROCESSED)
def shell_command(cqlsh_args: tuple[str, ...]) -> None:
    """Open cqlsh on the configured host, port, keyspace and credentials; extra arguments go
    to cqlsh (e.g. `flask cql shell -e "DESCRIBE KEYSPACES"`)."""
    settings = _extension().settings()
    args = cqlsh_command(settings, cqlsh_args)
    env = dict(os.environ)
    if settings.ssl_ca_file:
        env["SSL_CERTFILE"] = settings.ssl_ca_file  # cqlsh's way to name the CA
        env["SSL_VALIDATE"] = "true" if settings.ssl_verify else "false"
    code = subprocess.call(args, env=env)
    if code:
        sys.exit(code)


@cql_group.command("ping")
@click.option("--timeout", default=DEFAULT_PING_TIMEOUT, show_default=True, type=float,
              help="seconds to wait for each host")
def ping_command(timeout: float) -> None:
    """Query each known host once: its address, datacenter and round-trip time."""
    cluster = _extension().cluster
    session = cluster.connect(wait_for_all_pools=True)
    failed = 0
    try:
        for host in sorted(cluster.metadata.all_hosts(), key=lambda h: str(h.address)):
            start = time.perf_counter()
            try:
                session.execute("SELECT release_version FROM system.local", host=host,
                                timeout=timeout)
            except Exception as exc:
                failed += 1
                click.echo(f"{host.address}  dc={host.datacenter}  DOWN  "
                           f"({type(exc).__name__}: {exc})")
                continue
            rtt_ms = (time.perf_counter() - start) * 1000.0
            click.echo(f"{host.address}  dc={host.datacenter}  {rtt_ms:.2f} ms")
    finally:
        session.shutdown()
    if failed:
        sys.exit(1)
