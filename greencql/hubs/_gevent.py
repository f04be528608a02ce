"""The gevent hub adapter: one of the two modules of greencql that import gevent.

Owns the gevent flavour of every :class:`greencql.hubs.base.Hub` primitive. gevent runs one hub
(loop) per OS thread; this adapter serves them all and keeps what belongs to one loop (its timer
wheel, its DNS resolver) as attributes of that loop's ``gevent.hub.Hub``. It uses gevent's own
socket and ssl classes, so it works whether or not the program monkey-patched the stdlib.

DNS: gevent's default resolver runs ``getaddrinfo`` in a thread pool. Unless the application
chose a resolver itself (``GEVENT_RESOLVER`` or ``gevent.config.resolver``), each loop gets a
private c-ares resolver (cooperative, no thread), else dnspython's; only if neither imports do
we fall back to the hub's resolver. IP literals never reach any resolver.
"""

from __future__ import annotations

import os
import socket as _stdsocket
import ssl
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.lock
import gevent.monkey
import gevent.queue
import gevent.socket
import gevent.ssl
from gevent._hub_local import get_hub_if_exists
from greenlet import getcurrent as _getcurrent

from greencql.errors import HubError, OperationTimedOut
from greencql.hubs.base import (
    DEFAULT_LISTEN_BACKLOG,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    _call_logged,
    _connect_tcp,
    _listen_tcp,
    _literal_addrinfo,
    _QueueAdapter,
    _run_logged,
    _tls_handshake,
    _tls_server_handshake,
)
from greencql.hubs.timerwheel import PerLoopWheels

__all__ = ["GeventHub", "GeventTask", "GeventFuture"]

_get_hub = gevent.get_hub


class GeventTask:
    """A gevent greenlet running one function (see :class:`greencql.hubs.base.Task`)."""

    __slots__ = ("_exception", "_greenlet")

    def __init__(self) -> None:
        self._exception: BaseException | None = None
        self._greenlet: Any = None

    def _run(self, fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self._exception = _run_logged(fn, args, kwargs)

    def kill(self, block: bool = False, timeout: float | None = None) -> None:
        self._greenlet.kill(block=block, timeout=timeout)

    def join(self, timeout: float | None = None) -> bool:
        self._greenlet.join(timeout)
        return bool(self._greenlet.dead)

    def ready(self) -> bool:
        return bool(self._greenlet.dead)

    @property
    def dead(self) -> bool:
        return bool(self._greenlet.dead)

    @property
    def exception(self) -> BaseException | None:
        return self._exception

    def __repr__(self) -> str:
        # not the greenlet's repr: gevent's names its run callable, this task's bound _run,
        # whose repr is this one (RecursionError)
        g = self._greenlet
        state = "dead" if g is not None and g.dead else "running"
        return f"<GeventTask {state} at {id(self):#x}>"


class GeventFuture(gevent.event.AsyncResult):
    """``gevent.event.AsyncResult`` with the :class:`greencql.hubs.base.Future` methods.

    A subclass rather than a wrapper: one object per request instead of two.
    """

    # No __init__ of our own: creation stays AsyncResult's C constructor. The instance dict
    # (for _callbacks) is only allocated by a future that gets a callback.
    _callbacks: list[Callable[[Any], object]] | None = None

    def set_result(self, value: Any) -> bool:
        if self.ready():
            return False
        self.set(value)
        if self._callbacks:
            self._run_callbacks()
        return True

    def set_exception(self, exc: BaseException, exc_info: Any = None) -> bool:  # type: ignore[override]
        if self.ready():
            return False
        super().set_exception(exc, exc_info)
        if self._callbacks:
            self._run_callbacks()
        return True

    def _run_callbacks(self) -> None:
        callbacks, self._callbacks = self._callbacks, None
        for fn in callbacks or ():
            _call_logged(fn, self)

    def result(self, timeout: float | None = None) -> Any:
        if not self.ready():
            if (timeout is None and _getcurrent() is not (hub := _get_hub())
                    and (self.hub is None or self.hub is hub)):
                # The unbounded wait of a request whose deadline timer completes it (or of a
                # caller who asked for no bound): park on the hub and be switched back by
                # the completion, gevent's own Waiter protocol, without the Timeout object
                # (and its four Python calls) that wait() makes even for None.
                switch = _getcurrent().switch
                self.rawlink(switch)
                try:
                    while not self.ready():
                        hub.switch()
                finally:
                    self.unlink(switch)
            else:
                # wait() neither raises the stored exception nor a Timeout of its own
                self.wait(timeout)
                if not self.ready():
                    raise OperationTimedOut(f"no result within {timeout} s", timeout=timeout)
        return self.get(block=False)

    def done(self) -> bool:
        return bool(self.ready())

    def add_done_callback(self, fn: Callable[[Any], object]) -> None:
        if self.ready():
            _call_logged(fn, self)
        elif self._callbacks is None:
            self._callbacks = [fn]
        else:
            self._callbacks.append(fn)


def _new_queue(maxsize: int) -> _QueueAdapter:
    q = gevent.queue.SimpleQueue(maxsize if maxsize > 0 else None)
    return _QueueAdapter(q, q.queue, maxsize > 0)


def _app_chose_resolver() -> bool:
    if os.environ.get("GEVENT_RESOLVER"):
        return True
    try:
        return "gevent.resolver.thread" not in gevent.config.resolver.__module__
    except Exception:  # an unimportable configured resolver: leave it to gevent to complain
        return True


def _private_resolver(hub: Any) -> Any:
    for module in ("gevent.resolver.ares", "gevent.resolver.dnspython"):
        try:
            resolver_class = __import__(module, fromlist=["Resolver"]).Resolver
            return resolver_class(hub=hub)
        except Exception:
            continue
    return None


class GeventHub(PerLoopWheels):
    """The :class:`greencql.hubs.base.Hub` of gevent."""

    name = "gevent"
    _current_loop = staticmethod(_get_hub)

    def spawn(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> GeventTask:
        task = GeventTask()
        task._greenlet = gevent.spawn(task._run, fn, args, kwargs)
        return task

    sleep = staticmethod(gevent.sleep)
    @staticmethod
    def idle() -> None:
        # Not sleep(0): gevent runs up to 50 ready callbacks before it looks at due timers
        # and IO. An idle watcher of the highest priority (2) fires on every loop iteration
        # (a default-priority one would wait while other greenlets keep the loop busy), and
        # the timers and IO that iteration found due run right after this greenlet yields.
        gevent.idle(2)
    monotonic = staticmethod(time.monotonic)

    def event(self) -> gevent.event.Event:
        return gevent.event.Event()

    future = GeventFuture

    def queue(self, maxsize: int = 0) -> _QueueAdapter:
        return _new_queue(maxsize)

    def lock(self) -> gevent.lock.BoundedSemaphore:
        return gevent.lock.BoundedSemaphore(1)

    def semaphore(self, value: int = 1) -> gevent.lock.BoundedSemaphore:
        return gevent.lock.BoundedSemaphore(value)

    # the unpatched C lock constructor (see Hub.raw_lock) and the C owner lookup
    raw_lock = staticmethod(gevent.monkey.get_original("_thread", "allocate_lock"))
    owner_now = staticmethod(get_hub_if_exists)

    # -- network ---------------------------------------------------------------------------

    def _resolver(self) -> Any:
        hub = _get_hub()
        try:
            return hub._greencql_resolver
        except AttributeError:
            pass
        resolver = None if _app_chose_resolver() else _private_resolver(hub)
        hub._greencql_resolver = resolver
        return resolver

    def getaddrinfo(
        self, host: str, port: int, family: int = 0, type: int = _stdsocket.SOCK_STREAM
    ) -> list[tuple[Any, ...]]:
        infos = _literal_addrinfo(host, port, family)
        if infos is not None:
            return infos
        resolver = self._resolver()
        if resolver is None:
            return gevent.socket.getaddrinfo(host, port, family, type)
        return resolver.getaddrinfo(host, port, family, type)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None,
        source_address: tuple[str, int] | None = None,
    ) -> Any:
        return _connect_tcp(
            gevent.socket.socket,
            self.getaddrinfo,
            time.monotonic,
            host,
            port,
            timeout,
            source_address,
        )

    def wrap_tls(
        self,
        sock: Any,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> Any:
        def wrap() -> Any:
            # gevent's SSLSocket accepts any stdlib SSLContext: no need for the program to
            # have patched ssl, nor to build the context with gevent's class.
            return gevent.ssl.SSLSocket(
                sock=sock,
                server_side=False,
                do_handshake_on_connect=False,
                server_hostname=server_hostname,
                _context=ssl_context,
            )

        return _tls_handshake(wrap, sock, ssl_context, server_hostname, timeout)

    def listen_tcp(
        self,
        host: str,
        port: int,
        backlog: int = DEFAULT_LISTEN_BACKLOG,
        reuse_address: bool = True,
    ) -> Any:
        return _listen_tcp(
            gevent.socket.socket, self.getaddrinfo, host, port, backlog, reuse_address
        )

    def wrap_tls_server(
        self,
        sock: Any,
        ssl_context: ssl.SSLContext,
        timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> Any:
        def wrap() -> Any:
            return gevent.ssl.SSLSocket(
                sock=sock, server_side=True, do_handshake_on_connect=False, _context=ssl_context
            )

        return _tls_server_handshake(wrap, sock, timeout)

    # -- timers ----------------------------------------------------------------------------


    # -- ownership -------------------------------------------------------------------------

    def owner_token(self) -> object:
        return _get_hub()

    def check_owner(self, token: object, what: str = "this object") -> None:
        current = get_hub_if_exists()
        if current is not token:
            owner = getattr(token, "thread_ident", "?")
            here = (
                f"the hub of thread {current.thread_ident}"
                if current is not None
                else "a thread without a gevent hub"
            )
            raise HubError(
                f"{what} belongs to the gevent hub of thread {owner}, but was used from "
                f"{here}; gevent objects cannot be shared between threads' hubs "
                "(create one per thread, or hand work to the owning thread)"
            )

    def __repr__(self) -> str:
        return "<greencql GeventHub>"
