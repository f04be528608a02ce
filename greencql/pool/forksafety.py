"""Fork safety: a connection made before ``os.fork()`` is never used by the child.

gunicorn's ``preload_app`` (and multiprocessing's fork start method) copies a process with its
open sockets. If parent and child both read one CQL socket, each steals the other's response
bytes; if both write, their frames interleave on the server. So, in the child, right after the
fork (``os.register_at_fork(after_in_child=...)``):

- every live connection (a WeakSet of them) is marked forked: any use raises
  ``ConnectionShutdown('created in another process')``, and its pool makes new ones;
- its file descriptor *in the child* is replaced, with ``dup2``, by one end of a socketpair
  whose other end is closed. Nothing is written (no protocol message, no TLS close_notify, no
  ``shutdown()``, which would end the parent's socket too); the fd number stays owned by the
  socket object, so no later close can hit an unrelated file that reused the number; and a
  reader greenlet that the child inherited (gevent and eventlet copy every greenlet) reads
  end-of-file instead of the parent's bytes.

A socket whose CQL handshake is still running (:func:`guard_socket`, held by
``Connection.connect``) is cut off the same way: gevent and eventlet copy the greenlet that
waits on it into the child.

:func:`current_pid` is the pid cached at import and refreshed in the child, so pools can
check it per request for the price of a global lookup (redis-py's ``_checkpid``). The request
path reads the module attribute ``_pid`` itself (``forksafety._pid``): the same value without
even the call. The
Cluster and its sessions check it on first use and rebuild (``greencql/cluster/cluster.py``).

:data:`rng` is the driver's own random source (jitter, first hosts of a plan): the application's
global ``random`` state is never drawn from (a test that seeds it sees the same sequence with
or without the driver's background work), and it is reseeded in a forked child, as Python
reseeds the global one, so workers forked from one parent do not back off in lockstep.

Must not: touch the hub (the child's hub is re-initialised by gevent after our hook runs),
raise from the hook, or close anything of the parent.
"""

from __future__ import annotations

import logging
import os
import random
import weakref
from typing import Protocol

__all__ = [
    "ForkAware",
    "register",
    "unregister",
    "current_pid",
    "neutralize_fd",
    "live_count",
    "guard_socket",
    "rng",
]

_log = logging.getLogger("greencql.pool")


class ForkAware(Protocol):
    def _after_fork_in_child(self) -> None:
        """Mark forked and drop the fd copy; called in the child, must not raise."""


_live: weakref.WeakSet[ForkAware] = weakref.WeakSet()
_pid = os.getpid()
#: the driver's random source (see the module docstring)
rng = random.Random()


def current_pid() -> int:
    """This process's pid (cached; refreshed in a forked child before anything else runs)."""
    return _pid


def register(obj: ForkAware) -> None:
    """Track ``obj`` until it is unregistered or garbage."""
    _live.add(obj)


def unregister(obj: ForkAware) -> None:
    _live.discard(obj)


def live_count() -> int:
    """How many objects are tracked (tests)."""
    return len(_live)


def neutralize_fd(fd: int) -> None:
    """Make ``fd`` (in this process only) a socket whose peer is gone: reads see end-of-file,
    writes fail, and the parent's socket behind the old descriptor is untouched."""
    import _socket  # the C module: never monkey-patched, no hub involved

    a, b = _socket.socketpair()
    try:
        b.close()
        os.dup2(a.fileno(), fd)
    finally:
        a.close()


class _SocketGuard:
    """A socket that is not a Connection yet (its handshake is running): cut off in a child
    like a connection's, so that a greenlet the child inherited mid-handshake reads
    end-of-file instead of the parent's handshake bytes."""

    __slots__ = ("__weakref__", "_sock")

    def __init__(self, sock: object) -> None:
        self._sock = sock

    def _after_fork_in_child(self) -> None:
        try:
            neutralize_fd(self._sock.fileno())  # type: ignore[attr-defined]
        except (OSError, ValueError, AttributeError):
            pass


def guard_socket(sock: object) -> ForkAware:
    """Track ``sock`` (while the caller keeps the returned guard and until it is
    unregistered): in a forked child its descriptor is neutralized like a connection's."""
    guard = _SocketGuard(sock)
    _live.add(guard)
    return guard


def _after_fork_in_child() -> None:
    global _pid
    _pid = os.getpid()
    rng.seed()
    for obj in list(_live):
        try:
            obj._after_fork_in_child()
        except Exception:  # the child must come up whatever one connection does
            _log.exception("fork cleanup of %r failed", obj)
    _live.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
