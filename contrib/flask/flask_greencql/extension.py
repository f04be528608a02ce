"""The ``GreenCQL`` Flask extension: one Cluster and one Session per app and per process.

Owns :class:`GreenCQL` (``GreenCQL(app)`` or ``GreenCQL()`` + ``init_app(app)``, registered in
``app.extensions["greencql"]``), the per-app state it keeps (validated settings, and for the
current process its Cluster, Session and prepared statements), the pid check that gives a
forked child a Cluster of its own, and the shutdown at process exit.

The rules it keeps:

- ``init_app`` validates and stores; it never connects, resolves a name or creates a Cluster.
  gunicorn ``--preload`` runs it in the master, which must hold no connection to share.
- The Cluster is created on first use *in the process that uses it*; the state remembers the
  pid it was created in. A process that finds another pid's Cluster (it was forked after
  first use: a warm-up in a preloading master, multiprocessing) creates a new one and
  *abandons* the inherited one: it never calls ``shutdown()`` on it, so nothing of the
  parent's connections is written to or closed from the child (greencql's pool already cuts
  the child's copies of those sockets off without writing; see greencql/pool/forksafety.py).
- Shutdown happens once, at interpreter exit (``atexit``), in the process that created the
  Cluster; never per request or per app context: a Session is meant to live as long as the
  worker does.
- Locks are made in the process that uses them, after a worker has monkey-patched, so a
  greenlet waiting for the first connect parks instead of blocking the hub.

It must not import gevent or eventlet (greencql detects the hub at connect time) nor use
greencql internals: only its public API.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app, has_app_context

from flask_greencql.config import DEFAULTS, Settings, read_settings

if TYPE_CHECKING:
    from greencql import Cluster, PreparedStatement, Session

__all__ = ["GreenCQL", "EXTENSION_NAME"]

_log = logging.getLogger("flask_greencql")

#: the key of ``app.extensions``
EXTENSION_NAME = "greencql"

# Guards only the swap of a state's per-process fields (no wait happens inside it, so it is
# safe whether it was made before or after a worker monkey-patched).
_GUARD = threading.Lock()
# every state that created a Cluster, for the shutdown at exit (strong references: an app that
# is dropped without shutdown() still has its connections closed at exit)
_LIVE: set[_ProcessState] = set()


class _ProcessState:
    """One app's connection objects in one process; replaced wholesale after a fork."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid: int | None = None
        self.lock: Any = None
        self.cluster: Cluster | None = None
        self.session: Session | None = None
        self.prepared: dict[str, PreparedStatement] = {}
        #: clusters inherited from a parent process and abandoned here: never shut down, and
        #: kept referenced so that no finalizer of theirs runs in this process either
        self.inherited: list[Cluster] = []

    def here(self) -> _ProcessState:
        """Make sure the fields belong to this process; return self."""
        pid = os.getpid()
        if self.pid != pid:
            with _GUARD:
                if self.pid != pid:
                    if self.cluster is not None:
                        # forked after first use: the parent's objects stay the parent's
                        self.inherited.append(self.cluster)
                        _log.info("greencql: process %d inherited a Cluster from process %s; "
                                  "creating a new one (the inherited one is left alone)",
                                  pid, self.pid)
                    self.cluster = None
                    self.session = None
                    self.prepared = {}
                    self.lock = threading.RLock()  # the (possibly green) lock of this process
                    self.pid = pid
        return self

    def get_cluster(self) -> Cluster:
        self.here()
        cluster = self.cluster
        if cluster is None:
            with self.lock:
                cluster = self.cluster
                if cluster is None:
                    from greencql import Cluster

                    cluster = Cluster(**self.settings.cluster_kwargs())
                    self.cluster = cluster
                    _LIVE.add(self)
        return cluster

    def get_session(self) -> Session:
        self.here()
        session = self.session
        if session is None:
            with self.lock:
                session = self.session
                if session is None:
                    # a failed connect caches nothing: the next request tries again
                    session = self.get_cluster().connect(self.settings.keyspace)
                    self.session = session
        return session

    def prepare(self, query: str) -> PreparedStatement:
        self.here()
        prepared = self.prepared.get(query)
        if prepared is None:
            statement = self.get_session().prepare(query)
            # two greenlets may prepare the same text at once: both get the first one stored
            prepared = self.prepared.setdefault(query, statement)
        return prepared

    def shutdown(self) -> None:
        """Shut down this process's Cluster (never an inherited one)."""
        if self.pid != os.getpid():
            return
        with _GUARD:
            cluster, self.cluster, self.session, self.prepared = self.cluster, None, None, {}
            _LIVE.discard(self)
        if cluster is not None:
            cluster.shutdown()


def _shutdown_at_exit() -> None:
    # atexit handlers are inherited by forked children: each state checks its own pid
    pid = os.getpid()
    for state in list(_LIVE):
        if state.pid == pid and state.cluster is not None:
            try:
                state.shutdown()
            except Exception:  # exiting anyway: report, and close the others
                _log.exception("greencql: shutting down at exit failed")


atexit.register(_shutdown_at_exit)


class GreenCQL:
    """The Flask extension: ``cql = GreenCQL(app)``, or ``cql = GreenCQL()`` then
    ``cql.init_app(app)`` in an app factory. One instance may serve several apps; each app has
    its own configuration and, per process, its own Cluster and Session.

    Inside an app context (a request, a CLI command) the current app's objects are used;
    outside one, the app given to the constructor, if any.
    """

    def __init__(self, app: Flask | None = None) -> None:
        self._app = app
        self._states: weakref.WeakKeyDictionary[Flask, _ProcessState] = (
            weakref.WeakKeyDictionary())
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Validate the ``GREENCQL_*`` keys of ``app.config`` (raise
        :class:`~flask_greencql.ConfigError` naming the wrong key), fill in the defaults of the
        missing ones, register the extension and the ``flask cql`` commands. Connects nothing."""
        settings = read_settings(app.config)
        existing = app.extensions.get(EXTENSION_NAME)
        if existing is not None and existing is not self:
            raise RuntimeError("another GreenCQL instance is already registered on this app")
        if app in self._states:
            raise RuntimeError(f"GreenCQL.init_app() was already called for app {app.name!r}")
        for key, default in DEFAULTS.items():
            app.config.setdefault(key, default)
        self._states[app] = _ProcessState(settings)
        app.extensions[EXTENSION_NAME] = self
        from flask_greencql.cli import cql_group

        app.cli.add_command(cql_group)

    # -- the objects of the current app, in this process ------------------------------------

    def _state(self) -> _ProcessState:
        if has_app_context():
            app = current_app._get_current_object()  # type: ignore[attr-defined]
        elif self._app is not None:
            app = self._app
        else:
            raise RuntimeError(
                "GreenCQL needs an app: use it in a request or inside `with app.app_context():`"
                " (or create it with GreenCQL(app))")
        try:
            return self._states[app]
        except KeyError:
            raise RuntimeError(f"GreenCQL.init_app() was not called for app {app.name!r}") \
                from None

    def settings(self) -> Settings:
        """The validated configuration of the current app."""
        return self._state().settings

    @property
    def cluster(self) -> Cluster:
        """This process's :class:`greencql.Cluster` for the current app, created (not
        connected) on first use in this process."""
        return self._state().get_cluster()

    @property
    def session(self) -> Session:
        """This process's :class:`greencql.Session` for the current app (in
        ``GREENCQL_KEYSPACE``), connected on first use in this process."""
        return self._state().get_session()

    def prepare(self, query: str) -> PreparedStatement:
        """``session.prepare(query)``, cached per process: the same text gives the same
        :class:`~greencql.PreparedStatement` for as long as this process's Session lives."""
        return self._state().prepare(query)

    def shutdown(self) -> None:
        """Shut down this process's Cluster of the current app now (it is otherwise shut down
        at exit); the next use connects again."""
        self._state().shutdown()

    @property
    def inherited_clusters_abandoned(self) -> int:
        """How many Clusters of a parent process this process found and left alone."""
        return len(self._state().here().inherited)
