"""The thread hub: greencql on plain OS threads, for programs that are not green.

``flask run``, ``manage.py runserver`` and scripts serve or run on OS threads; a session shared
by those threads must work there too. Everything handed out here is thread-safe, tasks are
daemon threads (a forgotten reader never blocks interpreter exit), and one daemon thread ticks
the timer wheel. It uses ``threading``, ``socket`` and ``ssl`` as found at call time.

Threads cannot be interrupted: ``Task.kill()`` is cooperative (see :class:`ThreadTask`).
"""

from __future__ import annotations

import _thread
import os
import queue as _queue
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from greencql.errors import OperationTimedOut
from greencql.hubs.base import (
    DEFAULT_LISTEN_BACKLOG,
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    TaskExit,
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
from greencql.hubs.timerwheel import TimerWheel, WheelTimer

__all__ = ["ThreadHub", "ThreadTask", "ThreadFuture", "ThreadQueue"]

_current = threading.local()
_OWNER = object()  # every thread shares the one thread hub: one token for all

# Guards the pending -> done transition of every ThreadFuture and its callback list. One
# module-wide lock instead of one per future: it is held for a few bytecodes, and a future that
# needs no lock of its own is cheaper to create on the per-request path.
_GUARD = _thread.allocate_lock()

_PENDING, _RESULT, _EXCEPTION = 0, 1, 2


class ThreadTask(_EventDoneTask):
    """A daemon thread running one function.

    ``kill()`` cannot interrupt a thread: it stops one that has not started yet and makes the
    task's next ``hub.sleep()`` raise :class:`TaskExit`. A task blocked in ``recv`` or
    ``Queue.get`` must be woken by closing its socket or queueing a sentinel.
    """

    __slots__ = ("_done", "_exception", "_killed", "_thread")

    def __init__(self, fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self._killed = threading.Event()
        self._done = threading.Event()
        self._exception: BaseException | None = None
        name = f"greencql-{getattr(fn, '__qualname__', 'task')}"
        self._thread = threading.Thread(
            target=self._run, args=(fn, args, kwargs), name=name, daemon=True
        )

    def _run(self, fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any]):
        _current.task = self
        try:
            if not self._killed.is_set():
                self._exception = _run_logged(fn, args, kwargs)
        except TaskExit:
            pass  # the thread hub's GreenletExit: a normal end
        finally:
            _current.task = None
            self._done.set()

    def kill(self, block: bool = False, timeout: float | None = None) -> None:
        self._killed.set()
        if block and self._thread is not threading.current_thread():
            self._done.wait(timeout)

    def __repr__(self) -> str:
        return f"<ThreadTask {self._thread.name} {'dead' if self.dead else 'running'}>"


class ThreadFuture:
    """A one-shot result, thread-safe, built on one raw lock held until completion."""

    __slots__ = ("_callbacks", "_state", "_value", "_waiter")

    def __init__(self) -> None:
        self._waiter = _thread.allocate_lock()
        self._waiter.acquire()
        self._state = _PENDING
        self._value: Any = None
        self._callbacks: list[Callable[[Any], object]] | None = None

    def _complete(self, state: int, value: Any) -> bool:
        with _GUARD:
            if self._state:
                return False
            self._value = value
            self._state = state
            callbacks = self._callbacks
            self._callbacks = None
        self._waiter.release()
        if callbacks:
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
            waiter = self._waiter
            if timeout is None:
                got = waiter.acquire()
            else:
                got = waiter.acquire(True, timeout) if timeout > 0 else waiter.acquire(False)
            if got:
                waiter.release()  # pass the wake-up on to the next waiter, if any
            else:
                raise OperationTimedOut(f"no result within {timeout} s", timeout=timeout)
        if self._state == _EXCEPTION:
            raise self._value
        return self._value

    def add_done_callback(self, fn: Callable[[Any], object]) -> None:
        with _GUARD:
            if not self._state:
                if self._callbacks is None:
                    self._callbacks = [fn]
                else:
                    self._callbacks.append(fn)
                return
        _call_logged(fn, self)


class ThreadQueue(_QueueAdapter):
    """A ``queue.Queue`` behind the :class:`Queue` protocol; drains under its mutex."""

    __slots__ = ()

    def __init__(self, maxsize: int = 0) -> None:
        q: _queue.Queue[Any] = _queue.Queue(maxsize)
        super().__init__(q, q.queue, maxsize > 0)

    def drain(self) -> list[Any]:
        q = self._q
        with q.mutex:
            items = list(q.queue)
            q.queue.clear()
            if items:
                q.not_full.notify_all()
        return items


class ThreadHub:
    """The :class:`greencql.hubs.base.Hub` of plain threads."""

    name = "thread"

    def __init__(self) -> None:
        self._wheel: TimerWheel | None = None
        self._wheel_lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            # the wheel's ticking thread does not survive a fork: the child starts a new wheel
            os.register_at_fork(after_in_child=self._forget_wheel)

    def _forget_wheel(self) -> None:
        self._wheel = None
        self._wheel_lock = threading.Lock()

    def spawn(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> ThreadTask:
        task = ThreadTask(fn, args, kwargs)
        task._thread.start()
        return task

    def sleep(self, seconds: float) -> None:
        task = getattr(_current, "task", None)
        if task is None:
            time.sleep(seconds)
        elif task._killed.wait(seconds) or task._killed.is_set():
            raise TaskExit()

    @staticmethod
    def idle() -> None:
        time.sleep(0)  # threads preempt: just offer the GIL

    monotonic = staticmethod(time.monotonic)

    def event(self) -> threading.Event:
        return threading.Event()

    def future(self) -> ThreadFuture:
        return ThreadFuture()

    def queue(self, maxsize: int = 0) -> ThreadQueue:
        return ThreadQueue(maxsize)

    def lock(self) -> Any:
        return threading.Lock()

    raw_lock = staticmethod(_thread.allocate_lock)

    def owner_now(self) -> object:
        return _OWNER

    def semaphore(self, value: int = 1) -> threading.BoundedSemaphore:
        return threading.BoundedSemaphore(value)

    def getaddrinfo(
        self, host: str, port: int, family: int = 0, type: int = socket.SOCK_STREAM
    ) -> list[tuple[Any, ...]]:
        infos = _literal_addrinfo(host, port, family)
        if infos is not None:
            return infos
        return socket.getaddrinfo(host, port, family, type)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        return _connect_tcp(
            socket.socket, self.getaddrinfo, time.monotonic, host, port, timeout, source_address
        )

    def wrap_tls(
        self,
        sock: socket.socket,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> ssl.SSLSocket:
        def wrap() -> ssl.SSLSocket:
            return ssl_context.wrap_socket(
                sock, server_hostname=server_hostname, do_handshake_on_connect=False
            )

        return _tls_handshake(wrap, sock, ssl_context, server_hostname, timeout)

    def listen_tcp(
        self,
        host: str,
        port: int,
        backlog: int = DEFAULT_LISTEN_BACKLOG,
        reuse_address: bool = True,
    ) -> socket.socket:
        return _listen_tcp(socket.socket, self.getaddrinfo, host, port, backlog, reuse_address)

    def wrap_tls_server(
        self,
        sock: socket.socket,
        ssl_context: ssl.SSLContext,
        timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> ssl.SSLSocket:
        def wrap() -> ssl.SSLSocket:
            return ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)

        return _tls_server_handshake(wrap, sock, timeout)

    def timer_wheel(self) -> TimerWheel:
        wheel = self._wheel
        if wheel is None:
            with self._wheel_lock:
                wheel = self._wheel
                if wheel is None:
                    wheel = self._wheel = TimerWheel(self, threadsafe=True)
        return wheel

    def call_later(self, delay: float, fn: Callable[..., object], *args: Any) -> WheelTimer:
        wheel = self._wheel or self.timer_wheel()
        return wheel.call_later(delay, fn, *args)

    def owner_token(self) -> object:
        return _OWNER

    def check_owner(self, token: object, what: str = "this object") -> None:
        # Threads share everything on the thread hub; nothing to check.
        return None

    def __repr__(self) -> str:
        return "<greencql ThreadHub>"
