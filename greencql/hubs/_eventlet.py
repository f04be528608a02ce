"""The eventlet hub adapter: one of the two modules of greencql that import eventlet.

Owns the eventlet flavour of every :class:`greencql.hubs.base.Hub` primitive. eventlet runs one
hub per OS thread; per-loop state (the timer wheel) lives as an attribute of that thread's
eventlet hub. Sockets and TLS use ``eventlet.green`` classes, so monkey-patching is not needed.

Event and Future are written here on eventlet's hub switch (the same pattern as
``eventlet.event.Event``, whose one-shot Event cannot be cleared and costs a set per object):
a waiter parks with ``hub.switch()``; completion schedules one hub callback that switches back
every waiter still waiting; a timeout is a hub timer that switches back one waiter.

DNS is ``eventlet.green.socket.getaddrinfo``: eventlet's greendns (dnspython over green
sockets, cooperative, no thread) unless ``EVENTLET_NO_GREENDNS`` is set.
"""

from __future__ import annotations

import socket as _stdsocket
import ssl
import time
import warnings
from collections.abc import Callable
from typing import Any

with warnings.catch_warnings():
    # eventlet announces its own deprecation on first import; this module only adapts to it
    # when the program already chose eventlet (or asked for it by name).
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet
    import eventlet.green.socket
    import eventlet.green.ssl
    import eventlet.greenthread
    import eventlet.hubs
    import eventlet.patcher
    import eventlet.queue
    import eventlet.semaphore
    from eventlet.support import greenlets as _greenlet

from greencql.errors import HubError, OperationTimedOut
from greencql.hubs.base import (
    DEFAULT_LISTEN_BACKLOG,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    _call_logged,
    _connect_tcp,
    _EventDoneTask,
    _listen_tcp,
    _literal_addrinfo,
    _QueueAdapter,
    _run_logged,
    _tls_handshake,
    _tls_server_handshake,
)
from greencql.hubs.timerwheel import PerLoopWheels

__all__ = ["EventletHub", "EventletTask", "EventletEvent", "EventletFuture"]

_get_hub = eventlet.hubs.get_hub
_getcurrent = _greenlet.getcurrent


def _wake_one(waiters: set[Any], waiter: Any) -> None:
    if waiter in waiters:
        waiter.switch(False)


def _wake_all(waiters: set[Any]) -> None:
    for waiter in list(waiters):
        # a waiter may have left meanwhile (its timeout fired first): never switch into it
        if waiter in waiters:
            waiter.switch(True)


def _park(waiters: set[Any], timeout: float | None) -> bool:
    """Park the current greenlet in ``waiters`` until woken; ``False`` if the timeout woke it."""
    hub = _get_hub()
    current = _getcurrent()
    if current is hub.greenlet:
        raise HubError("cannot wait inside the eventlet hub greenlet (e.g. in a timer callback)")
    waiters.add(current)
    timer = None
    if timeout is not None:
        timer = hub.schedule_call_global(max(timeout, 0.0), _wake_one, waiters, current)
    try:
        return bool(hub.switch())
    finally:
        waiters.discard(current)
        if timer is not None:
            timer.cancel()


class EventletEvent:
    """A resettable event (``threading.Event`` semantics) on eventlet's hub."""

    __slots__ = ("_flag", "_waiters")

    def __init__(self) -> None:
        self._flag = False
        self._waiters: set[Any] = set()

    def set(self) -> None:
        if not self._flag:
            self._flag = True
            if self._waiters:
                # hand the current waiters over: whoever waits after a later clear() must
                # not be woken by this set()
                waiters, self._waiters = self._waiters, set()
                _get_hub().schedule_call_global(0, _wake_all, waiters)

    def clear(self) -> None:
        self._flag = False

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: float | None = None) -> bool:
        if self._flag:
            return True
        if timeout is not None and timeout <= 0:
            return False
        return _park(self._waiters, timeout) or self._flag


_PENDING, _RESULT, _EXCEPTION = 0, 1, 2


class EventletFuture:
    """A one-shot result on eventlet's hub (see :class:`greencql.hubs.base.Future`)."""

    __slots__ = ("_callbacks", "_state", "_value", "_waiters")

    def __init__(self) -> None:
        self._state = _PENDING
        self._value: Any = None
        self._waiters: set[Any] | None = None  # created by the first waiter
        self._callbacks: list[Callable[[Any], object]] | None = None

    def _complete(self, state: int, value: Any) -> bool:
        if self._state:
            return False
        self._state = state
        self._value = value
        if self._waiters:
            _get_hub().schedule_call_global(0, _wake_all, self._waiters)
        if self._callbacks:
            callbacks, self._callbacks = self._callbacks, None
            for fn in callbacks:
                _call_logged(fn, self)
        return True

    def set_result(self, value: Any) -> bool:
        return self._complete(_RESULT, value)

    def set_exception(self, exc: BaseException) -> bool:
        return self._complete(_EXCEPTION, exc)

    def done(self) -> bool:
        return self._state != _PENDING

    def result(self, timeout: float | None = None) -> Any:
        if not self._state:
            if timeout is None or timeout > 0:
                waiters = self._waiters
                if waiters is None:
                    waiters = self._waiters = set()
                _park(waiters, timeout)
            if not self._state:
                raise OperationTimedOut(f"no result within {timeout} s", timeout=timeout)
        if self._state == _EXCEPTION:
            raise self._value
        return self._value

    def add_done_callback(self, fn: Callable[[Any], object]) -> None:
        if self._state:
            _call_logged(fn, self)
        elif self._callbacks is None:
            self._callbacks = [fn]
        else:
            self._callbacks.append(fn)


class EventletTask(_EventDoneTask):
    """An eventlet GreenThread running one function (see :class:`greencql.hubs.base.Task`)."""

    __slots__ = ("_done", "_exception", "_gt")

    def __init__(self) -> None:
        self._exception: BaseException | None = None
        self._done = EventletEvent()
        self._gt: Any = None

    def _run(self, fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self._exception = _run_logged(fn, args, kwargs)

    def _finished(self, _gt: Any) -> None:
        # linked: runs on exit, also when killed before it ever started
        self._done.set()

    def kill(self, block: bool = False, timeout: float | None = None) -> None:
        gt = self._gt
        if gt.dead:
            return
        if not block and gt:
            # A running greenthread: eventlet's kill() would switch to it at once; deferring
            # the kill to the hub returns without switching, like gevent's kill(block=False).
            # One not started yet is cancelled on the spot below (never runs, yields once).
            _get_hub().schedule_call_global(0, eventlet.greenthread.kill, gt)
            return
        eventlet.greenthread.kill(gt)
        if block:
            self._done.wait(timeout)

    def __repr__(self) -> str:
        return f"<EventletTask {self._gt!r} {'dead' if self.dead else 'running'}>"


def _new_queue(maxsize: int) -> _QueueAdapter:
    # eventlet's maxsize=0 means a rendezvous channel; ours means unbounded (stdlib meaning)
    q = eventlet.queue.LightQueue(maxsize if maxsize > 0 else None)
    return _QueueAdapter(q, q.queue, maxsize > 0)


class EventletHub(PerLoopWheels):
    """The :class:`greencql.hubs.base.Hub` of eventlet."""

    name = "eventlet"
    _current_loop = staticmethod(_get_hub)

    def spawn(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> EventletTask:
        task = EventletTask()
        gt = task._gt = eventlet.spawn(task._run, fn, args, kwargs)
        gt.link(task._finished)
        return task

    sleep = staticmethod(eventlet.sleep)

    @staticmethod
    def idle() -> None:
        eventlet.sleep(0)  # eventlet's hub fires due timers and polls IO on every turn
    monotonic = staticmethod(time.monotonic)

    def event(self) -> EventletEvent:
        return EventletEvent()

    future = EventletFuture

    def queue(self, maxsize: int = 0) -> _QueueAdapter:
        return _new_queue(maxsize)

    def lock(self) -> eventlet.semaphore.BoundedSemaphore:
        return eventlet.semaphore.BoundedSemaphore(1)

    # the unpatched C lock constructor (see Hub.raw_lock)
    raw_lock = staticmethod(eventlet.patcher.original("_thread").allocate_lock)
    owner_now = staticmethod(_get_hub)

    def semaphore(self, value: int = 1) -> eventlet.semaphore.BoundedSemaphore:
        return eventlet.semaphore.BoundedSemaphore(value)

    # -- network ---------------------------------------------------------------------------

    def getaddrinfo(
        self, host: str, port: int, family: int = 0, type: int = _stdsocket.SOCK_STREAM
    ) -> list[tuple[Any, ...]]:
        infos = _literal_addrinfo(host, port, family)
        if infos is not None:
            return infos
        return eventlet.green.socket.getaddrinfo(host, port, family, type)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None,
        source_address: tuple[str, int] | None = None,
    ) -> Any:
        return _connect_tcp(
            eventlet.green.socket.socket,
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
            return eventlet.green.ssl.GreenSSLSocket(
                sock,
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
            eventlet.green.socket.socket, self.getaddrinfo, host, port, backlog, reuse_address
        )

    def wrap_tls_server(
        self,
        sock: Any,
        ssl_context: ssl.SSLContext,
        timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> Any:
        def wrap() -> Any:
            return eventlet.green.ssl.GreenSSLSocket(
                sock, server_side=True, do_handshake_on_connect=False, _context=ssl_context
            )

        return _tls_server_handshake(wrap, sock, timeout)

    # -- timers ----------------------------------------------------------------------------


    # -- ownership -------------------------------------------------------------------------

    def owner_token(self) -> object:
        return _get_hub()

    def check_owner(self, token: object, what: str = "this object") -> None:
        current = _get_hub()
        if current is not token:
            raise HubError(
                f"{what} belongs to the eventlet hub {token!r} of another thread, but was used "
                f"from a thread running {current!r}; eventlet objects cannot be shared between "
                "threads' hubs (create one per thread, or hand work to the owning thread)"
            )

    def __repr__(self) -> str:
        return "<greencql EventletHub>"
