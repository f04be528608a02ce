"""The hub interface: what every layer above asks of gevent, eventlet or plain threads.

This module owns the :class:`Hub` protocol (and the protocols of the small objects a hub hands
out), the hub-independent constants, and the helpers every adapter shares (IP-literal parsing,
the TCP connect loop, the TLS handshake and hostname check). It must not import gevent or
eventlet: the adapters in ``_gevent.py`` / ``_eventlet.py`` do, and are imported only when chosen.

Timeout conventions (one rule per kind of wait, the same on every hub):

- waits that *test a condition* return ``False`` on timeout: ``Event.wait``, ``Lock.acquire``,
  ``Semaphore.acquire``, ``Task.join``;
- waits that *produce a value* raise: ``Future.result`` raises
  :class:`greencql.errors.OperationTimedOut` (the client's own timeout), ``Queue.get`` raises the
  stdlib ``queue.Empty`` (and ``Queue.put`` raises ``queue.Full``), as every Python queue does;
- connecting (``connect_tcp``, ``wrap_tls``, ``wrap_tls_server``) raises
  :class:`greencql.errors.ConnectionException` chained ``from`` the socket error (refused, timed
  out, unresolvable, certificate refused); ``listen_tcp`` raises the socket's own ``OSError``
  (address in use, cannot assign): a server's setup error, not a broken connection.

Sockets shared between tasks: to wake a task blocked on a socket (``recv``, ``accept``), shut
the socket down (``shutdown(SHUT_RDWR)``) and let that task close it when it wakes. Closing a
socket another greenlet waits on leaves eventlet's hub watching a dead file descriptor, and a
thread blocked in ``accept()``/``recv()`` is woken by shutdown, not by close.

No adapter ever raises gevent's or eventlet's ``Timeout`` out of its own waits, and none catches
them: a ``gevent.Timeout`` / ``eventlet.Timeout`` started by the application, ``GreenletExit``
and :class:`TaskExit` are ``BaseException`` and pass through every wait untouched.
"""

from __future__ import annotations

import _thread
import ipaddress
import logging
import socket
import ssl
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from greencql.errors import ConnectionException

if TYPE_CHECKING:
    from greencql.hubs.timerwheel import TimerWheel

__all__ = [
    "DEFAULT_LISTEN_BACKLOG",
    "DEFAULT_TLS_HANDSHAKE_TIMEOUT",
    "Event",
    "Future",
    "Hub",
    "Lock",
    "Queue",
    "Semaphore",
    "Task",
    "TaskExit",
    "TimerHandle",
]

#: Logger of the hubs layer: crashed tasks, failing timer and future callbacks.
_log = logging.getLogger("greencql.hubs")

#: A TLS handshake that has not finished after this long is abandoned. Same order as
#: cassandra-driver's default connect_timeout (5 s): a handshake is a few round trips, so
#: anything slower is a dead or overloaded peer, not a slow network.
DEFAULT_TLS_HANDSHAKE_TIMEOUT = 5.0

#: Pending connections a listening socket queues before the kernel refuses more. Python's
#: ``socketserver`` and gevent's ``StreamServer`` use small values too; a test server that
#: accepts bursts of hundreds of connections asks for more.
DEFAULT_LISTEN_BACKLOG = 128


class TaskExit(BaseException):
    """Raised inside a *thread-hub* task by ``Task.kill()``, at its next ``hub.sleep()``.

    The thread hub's counterpart of ``GreenletExit`` (an OS thread cannot be interrupted
    anywhere else). Like ``GreenletExit`` it is a ``BaseException``: catch it only to clean up,
    then re-raise. The task runner treats it as a normal exit.
    """


# --------------------------------------------------------------------------------------------
# The protocols
# --------------------------------------------------------------------------------------------


@runtime_checkable
class Task(Protocol):
    """A spawned greenlet (or thread, on the thread hub).

    An exception escaping the task's function is logged on ``greencql.hubs`` and kept in
    :attr:`exception`; it never reaches the hub's error printer.
    """

    def kill(self, block: bool = False, timeout: float | None = None) -> None:
        """Ask the task to stop (``GreenletExit`` inside it; :class:`TaskExit` at its next
        ``hub.sleep`` on the thread hub, which cannot interrupt a blocking call: wake those by
        closing the socket or queueing a sentinel). ``block=True`` waits up to ``timeout``."""

    def join(self, timeout: float | None = None) -> bool:
        """Wait until the task has finished; ``True`` if it has, ``False`` on timeout."""

    def ready(self) -> bool:
        """``True`` once the task has finished (returned, raised or was killed)."""

    @property
    def dead(self) -> bool:
        """Same as :meth:`ready`."""

    @property
    def exception(self) -> BaseException | None:
        """The exception that ended the task's function, if any (``None`` if killed)."""


@runtime_checkable
class Event(Protocol):
    """A resettable flag greenlets wait on (``threading.Event`` semantics)."""

    def set(self) -> None: ...

    def clear(self) -> None: ...

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until set; ``True`` if set, ``False`` on timeout."""


@runtime_checkable
class Future(Protocol):
    """A one-shot result a greenlet waits on: the per-request waiter.

    The first ``set_result`` / ``set_exception`` wins; later ones return ``False`` and change
    nothing (a late response racing its own timeout is normal, not an error). Not bound to a
    thread's hub by itself: owners check with :meth:`Hub.check_owner`.
    """

    def set_result(self, value: Any) -> bool:
        """Complete with ``value``; ``False`` if already done."""

    def set_exception(self, exc: BaseException) -> bool:
        """Complete with ``exc`` (raised by :meth:`result`); ``False`` if already done."""

    def result(self, timeout: float | None = None) -> Any:
        """The value (or raise the exception); raise ``OperationTimedOut`` after ``timeout``."""

    def done(self) -> bool: ...

    def add_done_callback(self, fn: Callable[[Any], object]) -> None:
        """Call ``fn(future)`` once done: at once if already done, else from the greenlet or
        thread that completes it, right after completion. ``fn`` must not block; its
        exceptions are logged and swallowed."""


@runtime_checkable
class Queue(Protocol):
    """A FIFO queue; ``maxsize=0`` means unbounded. ``Empty``/``Full`` are the stdlib ones."""

    def put(self, item: Any, timeout: float | None = None) -> None: ...

    def put_nowait(self, item: Any) -> None: ...

    def get(self, timeout: float | None = None) -> Any: ...

    def get_nowait(self) -> Any: ...

    def qsize(self) -> int: ...

    def drain(self) -> list[Any]:
        """Everything queued right now, oldest first, without waiting (maybe ``[]``)."""

    def get_batch(self, timeout: float | None = None) -> list[Any]:
        """Wait for one item (``queue.Empty`` after ``timeout``), then take everything else
        queued: what a writer greenlet coalesces into one ``sendall``."""


@runtime_checkable
class Lock(Protocol):
    """A non-reentrant lock; also a context manager."""

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool: ...

    def release(self) -> None: ...

    def locked(self) -> bool: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc_info: object) -> Any: ...


@runtime_checkable
class Semaphore(Protocol):
    """A bounded semaphore (releasing above the initial value raises ``ValueError``)."""

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool: ...

    def release(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc_info: object) -> Any: ...


@runtime_checkable
class TimerHandle(Protocol):
    """A pending call scheduled with :meth:`Hub.call_later`."""

    #: the monotonic time the call is due (it runs at most one wheel tick later)
    when: float

    def cancel(self) -> bool:
        """Forget the call; ``True`` if it was still pending. O(1)."""


@runtime_checkable
class Hub(Protocol):
    """Everything the layers above need from gevent, eventlet or threads.

    Get one with :func:`greencql.hubs.get_hub`. One adapter object serves every thread; what is
    per thread (gevent and eventlet run one loop per thread) is looked up on use.
    """

    #: 'gevent', 'eventlet' or 'thread'
    name: str

    def spawn(self, fn: Callable[..., object], *args: Any, **kwargs: Any) -> Task:
        """Run ``fn(*args, **kwargs)`` in a new greenlet (a daemon thread on the thread hub)."""

    def sleep(self, seconds: float) -> None:
        """Yield to other greenlets for ``seconds`` (0: just yield)."""

    def idle(self) -> None:
        """Yield until the hub has run everything else that is ready, due timers and IO
        included (long CPU work calls it between slices; gevent's ``sleep(0)`` may run other
        ready greenlets many times over before a due timer)."""

    def monotonic(self) -> float:
        """The clock every timeout of this hub is measured with (``time.monotonic``)."""

    def event(self) -> Event: ...

    def future(self) -> Future: ...

    def queue(self, maxsize: int = 0) -> Queue: ...

    def lock(self) -> Lock: ...

    def raw_lock(self) -> Lock:
        """A plain OS lock (the C one, never monkey-patched): for bookkeeping sections that
        never switch, held for a few attribute updates. On a green hub it is never
        contended (nothing switches while it is held) and costs no Python call; on the
        thread hub it is the lock they need."""

    def owner_now(self) -> object:
        """The token :meth:`owner_token` would return now, or None outside any loop; a C
        function where the hub library has one, so that a per-request check that the caller
        runs on the owning loop costs no Python call (``check_owner`` raises the error)."""

    def semaphore(self, value: int = 1) -> Semaphore: ...

    def getaddrinfo(
        self, host: str, port: int, family: int = 0, type: int = socket.SOCK_STREAM
    ) -> list[tuple[Any, ...]]:
        """Cooperative ``socket.getaddrinfo`` (IP literals never reach a resolver)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None,
        source_address: tuple[str, int] | None = None,
    ) -> socket.socket:
        """A connected TCP socket (TCP_NODELAY on, blocking mode) to the first address of
        ``host`` that answers within ``timeout`` seconds overall (resolution included).
        Raises ``ConnectionException`` from the socket error."""

    def wrap_tls(
        self,
        sock: socket.socket,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> ssl.SSLSocket:
        """TLS over ``sock``, handshake done within ``timeout``. ``server_hostname`` is sent as
        SNI and checked against the certificate exactly as the context says (its
        ``verify_mode`` and ``check_hostname``: the caller decides, see greencql.cluster.tls).
        On failure ``sock`` is closed and ``ConnectionException`` raised from the SSL/socket
        error, its message a sentence (never an ``args`` tuple)."""

    def listen_tcp(
        self,
        host: str,
        port: int,
        backlog: int = DEFAULT_LISTEN_BACKLOG,
        reuse_address: bool = True,
    ) -> socket.socket:
        """A TCP socket of this hub's kind bound to ``host:port`` (port 0: any free one, read
        it with ``getsockname()``) and listening; its ``accept()`` waits cooperatively and
        returns sockets of the same kind. ``host`` is an IP literal, a name (its first
        address) or ``""`` (every IPv4 interface). ``reuse_address`` sets SO_REUSEADDR, so a
        restarted server can bind again while old connections sit in TIME_WAIT. Raises
        ``OSError`` (address in use...). Stop an accept loop with ``shutdown()``, not
        ``close()`` (see the module docstring)."""

    def wrap_tls_server(
        self,
        sock: socket.socket,
        ssl_context: ssl.SSLContext,
        timeout: float | None = DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    ) -> ssl.SSLSocket:
        """The server side of TLS over an accepted ``sock``, handshake done within
        ``timeout`` (a client that connects and never speaks cannot hold a task forever);
        the returned socket is in blocking mode. One task may read while another writes. On
        failure ``sock`` is closed and ``ConnectionException`` raised from the SSL/socket
        error. ``shutdown()`` on the result wakes a blocked reader, whose next read then
        raises ``ValueError`` or returns ``b""``."""

    def call_later(self, delay: float, fn: Callable[..., object], *args: Any) -> TimerHandle:
        """Call ``fn(*args)`` after ``delay`` seconds on the timer wheel of the current
        thread's hub. Callbacks must not block (spawn if they need to)."""

    def timer_wheel(self) -> TimerWheel:
        """The :class:`greencql.hubs.timerwheel.TimerWheel` of the current thread's hub."""

    def owner_token(self) -> object:
        """An opaque token for the event loop of the caller (compare with check_owner)."""

    def check_owner(self, token: object, what: str = "this object") -> None:
        """Raise ``HubError`` if the caller runs on another loop than ``token``'s: gevent and
        eventlet objects waited on from another thread's hub hang instead of failing."""


# --------------------------------------------------------------------------------------------
# Helpers the adapters share
# --------------------------------------------------------------------------------------------


def os_lock() -> Any:
    """A new plain OS lock, the C one even in a monkey-patched program (whose
    ``threading.Lock`` is a green lock with Python-level methods): for sections of a few
    attribute updates that never switch, taken per request by objects that are not given a
    hub (a timestamp generator). Looks at ``sys.modules`` only: imports no hub library."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None:
        return monkey.get_original("_thread", "allocate_lock")()
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None:
        return patcher.original("_thread").allocate_lock()
    return _thread.allocate_lock()



def _run_logged(fn: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call ``fn``; log an ``Exception`` on ``greencql.hubs`` and return it (not raise it).

    BaseExceptions (GreenletExit, Timeout, TaskExit, KeyboardInterrupt) propagate untouched.
    """
    try:
        fn(*args, **kwargs)
    except Exception as exc:
        _log.exception("task %r crashed", getattr(fn, "__qualname__", fn))
        return exc
    return None


def _call_logged(fn: Callable[..., object], *args: Any) -> None:
    """Call a callback whose failure must not hurt the caller (timers, done callbacks)."""
    try:
        fn(*args)
    except Exception:
        _log.exception("callback %r failed", getattr(fn, "__qualname__", fn))


class _EventDoneTask:
    """The completion half of a Task for hubs whose tasks signal the end with a ``_done``
    event (eventlet, threads); gevent asks its greenlet instead."""

    __slots__ = ()
    _done: Any
    _exception: BaseException | None

    def join(self, timeout: float | None = None) -> bool:
        return bool(self._done.wait(timeout))

    def ready(self) -> bool:
        return bool(self._done.is_set())

    @property
    def dead(self) -> bool:
        return bool(self._done.is_set())

    @property
    def exception(self) -> BaseException | None:
        return self._exception


class _QueueAdapter:
    """The :class:`Queue` protocol over a gevent/eventlet/stdlib queue (whose ``put``/``get``
    take a ``block`` flag first, which ours do not)."""

    __slots__ = ("_bounded", "_items", "_q")

    def __init__(self, q: Any, items: Any, bounded: bool) -> None:
        self._q = q
        self._items = items  # the underlying deque
        self._bounded = bounded

    def put(self, item: Any, timeout: float | None = None) -> None:
        self._q.put(item, True, timeout)

    def put_nowait(self, item: Any) -> None:
        self._q.put_nowait(item)

    def get(self, timeout: float | None = None) -> Any:
        return self._q.get(True, timeout)

    def get_nowait(self) -> Any:
        return self._q.get_nowait()

    def qsize(self) -> int:
        return self._q.qsize()

    def drain(self) -> list[Any]:
        if not self._bounded:
            # Nobody can be waiting to put; items sitting in the deque while a getter is being
            # woken are re-checked by that getter's wake-up, so taking them here is safe.
            items = list(self._items)
            self._items.clear()
            return items
        q = self._q
        out = []
        while q.qsize():
            out.append(q.get_nowait())  # wakes blocked putters as room frees up
        return out

    def get_batch(self, timeout: float | None = None) -> list[Any]:
        first = self._q.get(True, timeout)
        rest = self.drain()
        rest.insert(0, first)
        return rest


def _literal_addrinfo(host: str, port: int, family: int) -> list[tuple[Any, ...]] | None:
    """``getaddrinfo`` results for an IP literal without touching a resolver, else ``None``.

    Contact points and peers are nearly always IP literals; answering them here keeps gevent's
    default (thread-pool) resolver, and any DNS round trip, off the common path.
    """
    if "%" in host:  # scoped IPv6: let the resolver map the zone name to an index
        return None
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if ip.version == 4:
        if family not in (0, socket.AF_INET):
            return []
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (str(ip), port))]
    if family not in (0, socket.AF_INET6):
        return []
    return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (str(ip), port, 0, 0))]


def _connect_tcp(
    new_socket: Callable[[int, int, int], Any],
    getaddrinfo: Callable[..., list[tuple[Any, ...]]],
    monotonic: Callable[[], float],
    host: str,
    port: int,
    timeout: float | None,
    source_address: tuple[str, int] | None,
) -> Any:
    """The connect loop shared by every hub; ``new_socket`` makes the hub's kind of socket.

    One deadline covers resolution and every address tried, so a caller's connect timeout
    means what it says even when a name resolves to several dead addresses.
    """
    deadline = None if timeout is None else monotonic() + timeout
    try:
        infos = getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except OSError as exc:
        raise ConnectionException(f"cannot resolve {host!r}: {exc}", host=(host, port)) from exc
    if not infos:
        raise ConnectionException(f"{host!r} resolved to no address", host=(host, port))
    last: OSError | None = None
    for family, socktype, proto, _canon, sockaddr in infos:
        remaining = None if deadline is None else deadline - monotonic()
        if remaining is not None and remaining <= 0:
            last = last or TimeoutError("timed out")
            break
        sock = new_socket(family, socktype, proto)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if source_address is not None:
                sock.bind(source_address)
            sock.settimeout(remaining)
            sock.connect(sockaddr)
            # Readers block in recv() until data or close; the hub makes that cooperative.
            sock.settimeout(None)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
        except BaseException:
            sock.close()
            raise
    detail = "timed out" if isinstance(last, TimeoutError) else str(last)
    raise ConnectionException(
        f"cannot connect to {host}:{port} ({detail}; timeout={timeout})", host=(host, port)
    ) from last


def _tls_handshake(
    wrap: Callable[[], Any],
    sock: Any,
    ssl_context: ssl.SSLContext,
    server_hostname: str | None,
    timeout: float | None,
) -> Any:
    """Run a TLS client handshake on the socket ``wrap()`` returns; shared by every hub.

    ``wrap`` builds the hub's SSL socket with ``do_handshake_on_connect=False`` so the handshake
    runs here, under ``timeout``.
    """
    host = server_hostname or _peer_name(sock)
    try:
        tls = wrap()
    except (OSError, ValueError) as exc:
        sock.close()
        raise ConnectionException(f"cannot start TLS with {host}: {exc}", host=host) from exc
    try:
        tls.settimeout(timeout)
        tls.do_handshake()
        tls.settimeout(None)
        return tls
    except OSError as exc:
        tls.close()
        sock.close()
        raise ConnectionException(
            f"TLS handshake with {host} failed: {_tls_failure_text(exc)}", host=host
        ) from exc
    except BaseException:
        tls.close()
        sock.close()
        raise


def _listen_tcp(
    new_socket: Callable[[int, int, int], Any],
    getaddrinfo: Callable[..., list[tuple[Any, ...]]],
    host: str,
    port: int,
    backlog: int,
    reuse_address: bool,
) -> Any:
    """The bind-and-listen shared by every hub; ``new_socket`` makes the hub's kind of socket."""
    if host == "":
        family, sockaddr = socket.AF_INET, ("", port)
    else:
        infos = getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        if not infos:
            raise OSError(f"{host!r} resolved to no address")
        family, _type, _proto, _canon, sockaddr = infos[0]
    sock = new_socket(family, socket.SOCK_STREAM, 0)
    try:
        if reuse_address:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def _tls_server_handshake(wrap: Callable[[], Any], sock: Any, timeout: float | None) -> Any:
    """Run a TLS server handshake on the socket ``wrap()`` returns; shared by every hub.

    ``wrap`` builds the hub's SSL socket with ``server_side=True`` and
    ``do_handshake_on_connect=False`` so the handshake runs here, under ``timeout``.
    """
    peer = _peer_name(sock)
    try:
        tls = wrap()
    except (OSError, ValueError) as exc:
        sock.close()
        raise ConnectionException(f"cannot start TLS with {peer}: {exc}", host=peer) from exc
    try:
        tls.settimeout(timeout)
        tls.do_handshake()
        tls.settimeout(None)
        return tls
    except (OSError, ValueError) as exc:
        tls.close()
        sock.close()
        what = "timed out" if isinstance(exc, TimeoutError) else str(exc)
        raise ConnectionException(f"TLS handshake with {peer} failed: {what}", host=peer) from exc
    except BaseException:
        tls.close()
        sock.close()
        raise


# OpenSSL's reasons when the peer answered a ClientHello with something that is not TLS
_NOT_TLS_REASONS = frozenset(
    {"WRONG_VERSION_NUMBER", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE", "HTTP_REQUEST",
     "UNEXPECTED_EOF_WHILE_READING"}
)


def _tls_failure_text(exc: BaseException) -> str:
    """A TLS failure as a sentence: ``str()`` of an SSLError made from one message prints its
    ``args`` tuple, and OpenSSL's reason alone does not say what to look at."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"certificate verify failed: {exc.verify_message}"
    if len(exc.args) == 1 and isinstance(exc.args[0], str):
        text = exc.args[0]
    else:
        text = str(exc)
    if getattr(exc, "reason", None) in _NOT_TLS_REASONS:
        text += (" (the server did not answer in TLS: is this its TLS port, with client "
                 "encryption enabled?)")
    return text


def _peer_name(sock: Any) -> object:
    try:
        return sock.getpeername()
    except OSError:
        return None
