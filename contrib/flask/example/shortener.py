"""The example app of flask-greencql: a small URL shortener.

- ``POST /links`` (form or JSON: ``url``, optional ``code``): takes the code with a
  lightweight transaction (``INSERT ... IF NOT EXISTS``); 201, or 409 if the code is taken;
- ``GET /links?size=N&page=TOKEN``: one page of links; ``next`` is the URL of the next page
  (the driver's paging state, hex-encoded, travels in the URL);
- ``GET /links/<code>``: the link and its visit count (idempotent reads: retried on another
  node when one fails);
- ``GET /r/<code>``: counts a visit (a counter update, never retried) and redirects;
- ``SHORTENER_WARMUP = True`` connects in ``create_app`` (a warm-up in a preloading master);
- ``GET /_debug/worker`` (only with ``SHORTENER_DEBUG = True``): this process's pid, its OS
  threads, how many Clusters it inherited from its parent and left alone, and its connections
  to the cluster: local ports, and "node address:local port" (the gunicorn tests use it).

Run: ``flask --app shortener cql exec schema.cql`` then ``flask --app shortener run`` (thread
hub), or ``gunicorn -c gunicorn.conf.py shortener:app`` (gevent). Settings come from
``app.config`` and from ``FLASK_*`` environment variables (``FLASK_GREENCQL_PORT=9043``,
``FLASK_GREENCQL_CONTACT_POINTS=127.0.0.1,127.0.0.2``): Flask's ``from_prefixed_env``.
"""

from __future__ import annotations

import datetime
import os
import secrets
from typing import Any

from flask import Flask, abort, jsonify, redirect, request, url_for
from flask_greencql import GreenCQL

__all__ = ["cql", "create_app", "app", "connection_ports", "connections_to"]

#: links per page unless ?size= says otherwise
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 500

cql = GreenCQL()

_INSERT = "INSERT INTO links (code, url, created) VALUES (?, ?, ?) IF NOT EXISTS"
_GET_LINK = "SELECT url FROM links WHERE code = ?"
_GET_VISITS = "SELECT n FROM visits WHERE code = ?"
_VISIT = "UPDATE visits SET n = n + 1 WHERE code = ?"


def _idempotent(query: str) -> Any:
    statement = cql.prepare(query)  # cached per process: prepared once per worker
    statement.is_idempotent = True
    return statement


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        GREENCQL_KEYSPACE="shortener",
        GREENCQL_REQUEST_TIMEOUT=5.0,
        SHORTENER_DEBUG=False,
        SHORTENER_WARMUP=False,
    )
    app.config.from_prefixed_env()  # FLASK_GREENCQL_PORT=9043 and friends
    if config:
        app.config.update(config)
    cql.init_app(app)  # validates the GREENCQL_* keys; connects nothing
    if app.config["SHORTENER_WARMUP"]:
        # connect now, e.g. to fail fast in a preloading gunicorn master: the workers it forks
        # then each make their own Cluster and leave the master's alone
        with app.app_context():
            cql.session.execute("SELECT release_version FROM system.local")

    @app.post("/links")
    def create_link() -> Any:
        data = request.get_json(silent=True) or request.form
        url = data.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            abort(400, "url: an http:// or https:// URL is required")
        code = data.get("code") or secrets.token_urlsafe(6)
        if not isinstance(code, str) or not 1 <= len(code) <= 64:
            abort(400, "code: 1 to 64 characters")
        now = datetime.datetime.now(datetime.timezone.utc)
        result = cql.session.execute(cql.prepare(_INSERT), (code, url, now))
        if not result.was_applied:
            return jsonify(error="code taken", code=code), 409
        return jsonify(code=code, url=url), 201

    @app.get("/links")
    def list_links() -> Any:
        from greencql import SimpleStatement

        try:
            size = int(request.args.get("size", DEFAULT_PAGE_SIZE))
            page = request.args.get("page")
            paging_state = bytes.fromhex(page) if page else None
        except ValueError:
            abort(400, "size must be an integer and page a token from a previous page")
        if not 1 <= size <= MAX_PAGE_SIZE:
            abort(400, f"size: 1 to {MAX_PAGE_SIZE}")
        statement = SimpleStatement("SELECT code, url FROM links", fetch_size=size,
                                    is_idempotent=True)
        result = cql.session.execute(statement, paging_state=paging_state)
        links = [{"code": row.code, "url": row.url} for row in result.current_rows]
        state = result.paging_state
        next_url = url_for("list_links", size=size, page=state.hex()) if state else None
        return jsonify(links=links, next=next_url)

    @app.get("/links/<code>")
    def get_link(code: str) -> Any:
        session = cql.session
        link = session.execute(_idempotent(_GET_LINK), (code,)).one()
        if link is None:
            abort(404)
        visits = session.execute(_idempotent(_GET_VISITS), (code,)).one()
        return jsonify(code=code, url=link.url, visits=visits.n if visits else 0)

    @app.get("/r/<code>")
    def follow(code: str) -> Any:
        session = cql.session
        link = session.execute(_idempotent(_GET_LINK), (code,)).one()
        if link is None:
            abort(404)
        session.execute(cql.prepare(_VISIT), (code,))  # not idempotent: never retried
        return redirect(link.url, code=302)

    @app.get("/_debug/worker")
    def debug_worker() -> Any:
        if not app.config["SHORTENER_DEBUG"]:
            abort(404)
        cql.session  # noqa: B018 (connected, so there is something to report)
        return jsonify(
            pid=os.getpid(),
            ppid=os.getppid(),
            threads=len(os.listdir("/proc/self/task")),
            inherited_clusters=cql.inherited_clusters_abandoned,
            ports=connection_ports(int(app.config["GREENCQL_PORT"])),
            connections=[f"{address}:{port}" for address, port
                         in connections_to(int(app.config["GREENCQL_PORT"]))],
        )

    return app


def connection_ports(remote_port: int) -> list[int]:
    """Local ports of this process's established TCP connections to ``remote_port``."""
    return sorted(port for _, port in connections_to(remote_port))


def connections_to(remote_port: int) -> list[tuple[str, int]]:
    """(remote address, local port) of this process's established TCP connections to
    ``remote_port`` (Linux: the socket inodes of /proc/self/fd matched against
    /proc/self/net/tcp; IPv4 only, as the simulated cluster listens on 127.0.0.x)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    try:
        with open("/proc/self/net/tcp") as f:
            lines = f.readlines()[1:]
    except OSError:
        return []
    for line in lines:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
        remote_ip, remote_at = remote.split(":")
        if state == "01" and inode in inodes and int(remote_at, 16) == remote_port:
            address = ".".join(str(b) for b in reversed(bytes.fromhex(remote_ip)))
            found.append((address, int(local.split(":")[1], 16)))
    return sorted(found)

app = create_app()
