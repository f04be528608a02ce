"""The greencql Cluster and Session of this process, one per database alias.

Owns: creating the Cluster of an alias on first use (never at import, never in
``AppConfig.ready()``: gunicorn ``--preload`` imports the project in the master, which must not
hold a connection), sharing it between every thread and greenlet of the process (Django's
``connections[alias]`` is a per-thread object, a Cluster is not), pointing its Session at the
configured keyspace, and fork safety of our own: the state is keyed by pid, so a child forked
after first use builds a Cluster of its own. The inherited one is abandoned, never shut down
(shutting it down in the child could write on, or close, sockets the parent still uses) and
kept referenced so that no finalizer runs on it in the child.

It must not rely on greencql's own fork handling (which may change independently) and must not
hold a hub-blocking lock across a connect: the per-process lock is created lazily in the
process that uses it, after any monkey patching.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from django_greencql.config import CQLConfig

__all__ = ["get_entry", "ready_entry", "get_cluster", "get_session", "use_keyspace",
           "shutdown", "abandoned_count"]

_log = logging.getLogger("django_greencql")


class _Entry:
    __slots__ = ("cluster", "config", "keyspace", "session")

    def __init__(self, cluster: Any, session: Any, config: CQLConfig) -> None:
        self.cluster = cluster
        self.session = session
        self.config = config
        #: the keyspace the session was last pointed at ("" : none yet)
        self.keyspace = ""


class _ProcessState:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        # created here, in the process (and after the monkey patching) that uses it: under
        # gevent it is a gevent lock, so a greenlet waiting for another's connect parks
        self.lock = threading.Lock()
        self.entries: dict[str, _Entry] = {}


_state: _ProcessState | None = None
# Held only for a few non-blocking lines (never across I/O), so it may be a real OS lock even
# when the module was imported before monkey patching.
_guard = threading.Lock()
# States inherited from a parent process: abandoned, referenced forever, never shut down.
_abandoned: list[_ProcessState] = []


def _process_state() -> _ProcessState:
    global _state
    pid = os.getpid()
    state = _state
    if state is not None and state.pid == pid:
        return state
    with _guard:
        state = _state
        if state is None or state.pid != pid:
            if state is not None:
                _abandoned.append(state)
            state = _state = _ProcessState(pid)
    return state


def abandoned_count() -> int:
    """How many Cluster sets this process inherited and abandoned (tests)."""
    return sum(len(s.entries) for s in _abandoned)


def _connect(config: CQLConfig) -> _Entry:
    from greencql import Cluster

    cluster = Cluster(list(config.hosts), **config.cluster_kwargs())
    try:
        session = cluster.connect()
    except BaseException:
        cluster.shutdown()
        raise
    return _Entry(cluster, session, config)


def get_entry(alias: str, config: CQLConfig, *, point: bool = True) -> _Entry:
    """This process's entry of ``alias``: connected on first use, its session pointed at
    ``config.keyspace`` when that keyspace exists (unless ``point`` is False: callers that
    are about to check or create the keyspace)."""
    state = _process_state()
    entry = state.entries.get(alias)
    if (entry is None or entry.cluster.is_shutdown
            or (point and entry.keyspace != config.keyspace)):
        # connecting and USE both happen under the lock: a greenlet arriving meanwhile waits,
        # rather than running an unqualified statement before the keyspace is set
        with state.lock:
            entry = state.entries.get(alias)
            if entry is None or entry.cluster.is_shutdown:
                entry = state.entries[alias] = _connect(config)
            if point and entry.keyspace != config.keyspace:
                _point_at(entry, config.keyspace)
    return entry


def _point_at(entry: _Entry, keyspace: str) -> None:
    # remembered even when it fails: a keyspace that does not exist yet (before cql_migrate
    # creates it) costs one failed USE, not one per request; use_keyspace() retries
    from greencql import InvalidRequest

    try:
        entry.session.set_keyspace(keyspace)
    except InvalidRequest as exc:
        _log.warning("keyspace %s of database %r is not usable yet: %s", keyspace,
                     entry.config.alias, exc)
    entry.keyspace = keyspace


def ready_entry(alias: str, keyspace: str) -> _Entry | None:
    """The fast path of every request: this process's connected entry of ``alias`` already
    pointed at ``keyspace``, or None (then :func:`get_entry` with the full configuration)."""
    state = _state
    if state is None or state.pid != os.getpid():
        return None
    entry = state.entries.get(alias)
    if entry is None or entry.keyspace != keyspace or entry.cluster.is_shutdown:
        return None
    return entry


def get_session(alias: str, config: CQLConfig, *, point: bool = True) -> Any:
    return get_entry(alias, config, point=point).session


def get_cluster(alias: str, config: CQLConfig) -> Any:
    return get_entry(alias, config).cluster


def use_keyspace(alias: str, config: CQLConfig) -> None:
    """Point the session of ``alias`` at ``config.keyspace`` now (after creating it)."""
    entry = get_entry(alias, config, point=False)
    state = _process_state()
    with state.lock:
        entry.session.set_keyspace(config.keyspace)
        entry.keyspace = config.keyspace


def shutdown(alias: str | None = None) -> None:
    """Shut down this process's Cluster of ``alias`` (all when None); the next use connects
    again. Never touches a Cluster inherited from a parent process."""
    state = _process_state()
    with state.lock:
        aliases = list(state.entries) if alias is None else [alias]
        entries = [state.entries.pop(a) for a in aliases if a in state.entries]
    for entry in entries:
        entry.cluster.shutdown()
