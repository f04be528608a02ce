"""greencql.locust: load-test Cassandra and ScyllaDB with locust (``pip install greencql[locust]``).

Owns :class:`CQLUser`, a locust ``User`` whose ``self.cql`` runs CQL requests and reports each
of them through locust's ``request`` event, the ``cql://`` address that locust's ``--host``
carries (:func:`parse_cql_url`), and the one :class:`~greencql.Cluster` each locust process
shares between its users.

Why it looks the way it does:

- locust runs every user as a gevent greenlet and monkey-patches the process when it is
  imported; greencql detects that hub at ``connect()``, so a request parks only its user.
  This module imports locust (which patches), never gevent itself: only ``greencql.hubs`` may.
- One Cluster per process, not per user: a Cluster is a control connection, a pool per host
  and the metadata; hundreds of users share it, as the greenlets of one web worker do. It is
  created lazily, in the process that runs the users (after ``--processes`` forks), when the
  first user starts, and shut down when the test stops (``test_stop``) or locust quits.
- A failed request is reported, never raised: ``execute()`` returns a :class:`CQLFailure`
  (falsy, no rows) so a user's loop keeps going, and locust's failure table gets one row per
  error type (the reported exception is a copy of the typed one with a message that does not
  change from one request to the next; the original is its ``__cause__``).

It depends on greencql's public API only.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote

try:
    from locust import User
    from locust.exception import StopTest
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise ImportError("greencql.locust needs locust: pip install 'greencql[locust]'") from exc

from greencql import EXEC_PROFILE_DEFAULT
from greencql.errors import (
    ConnectionException,
    NoHostAvailable,
    OperationTimedOut,
    RequestThrottled,
    RequestValidationException,
    ServerException,
)

__all__ = [
    "CQLUser",
    "CQLClient",
    "CQLFuture",
    "CQLFailure",
    "CQLUrl",
    "CQLUrlError",
    "parse_cql_url",
    "statement_name",
    "shutdown_clusters",
    "REQUEST_TYPE",
    "DEFAULT_CQL_PORT",
]

_log = logging.getLogger(__name__)

#: the ``request_type`` of every request CQLUser reports (locust's "Type" column)
REQUEST_TYPE = "CQL"
#: Cassandra's native transport port, when the URL names none
DEFAULT_CQL_PORT = 9042
#: a request name longer than this is cut (locust's tables stay readable)
MAX_NAME_LENGTH = 60
#: how long a user waits for another user of its process to finish connecting the shared
#: Cluster (a connect is bounded by connect_timeout per host; this bounds the queue behind it)
DEFAULT_CONNECT_WAIT = 60.0

_URL_OPTIONS = ("local_dc", "consistency", "timeout", "connect_timeout", "protocol_version")
_KEYSPACE = re.compile(r"^[A-Za-z0-9_]{1,48}$")
_HOST = re.compile(r"^[A-Za-z0-9_.\-]+$")


class CQLUrlError(ValueError):
    """A ``cql://`` address that cannot be used; the message says which part and why."""


@dataclass(frozen=True)
class CQLUrl:
    """Where the users connect, parsed from ``--host``::

        cql://[user:password@]host1[,host2...][:port][/keyspace][?option=value&...]

    Options: ``local_dc`` (the load-balancing policy's local datacenter), ``consistency``
    (the default consistency level, e.g. ``LOCAL_QUORUM``), ``timeout`` (request timeout in
    seconds), ``connect_timeout`` (seconds), ``protocol_version`` (3, 4 or 5; default:
    negotiate). One port for every host (Cassandra's layout); default 9042.
    """

    hosts: tuple[str, ...]
    port: int = DEFAULT_CQL_PORT
    keyspace: str | None = None
    local_dc: str | None = None
    consistency: Any = None  # a ConsistencyLevel
    timeout: float | None = None
    connect_timeout: float | None = None
    protocol_version: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def cluster_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`greencql.Cluster` (without the contact points)."""
        from greencql import DCAwareRoundRobinPolicy, PlainTextAuthProvider, TokenAwarePolicy

        options: dict[str, Any] = {"port": self.port}
        if self.local_dc is not None:
            options["load_balancing_policy"] = TokenAwarePolicy(
                DCAwareRoundRobinPolicy(local_dc=self.local_dc))
        if self.consistency is not None:
            options["default_consistency_level"] = self.consistency
        if self.timeout is not None:
            options["default_timeout"] = self.timeout
        if self.connect_timeout is not None:
            options["connect_timeout"] = self.connect_timeout
        if self.protocol_version is not None:
            options["protocol_version"] = self.protocol_version
        if self.username is not None:
            options["auth_provider"] = PlainTextAuthProvider(self.username, self.password or "")
        return options

    def cluster(self, **overrides: Any) -> Any:
        """A new (not yet connected) :class:`greencql.Cluster` for this address; e.g. for a
        locustfile's ``test_start`` schema setup: ``with url.cluster() as c: ...``."""
        from greencql import Cluster

        return Cluster(list(self.hosts), **{**self.cluster_options(), **overrides})


def parse_cql_url(url: str) -> CQLUrl:
    """Parse a ``cql://`` address (see :class:`CQLUrl`); raise :class:`CQLUrlError`."""
    if not isinstance(url, str) or not url.strip():
        raise CQLUrlError("no CQL address: pass --host cql://host1,host2:9042/keyspace")
    text = url.strip()
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() != "cql":
        raise CQLUrlError(f"{url!r}: a CQL address starts with cql://, "
                          "e.g. cql://10.0.0.1,10.0.0.2:9042/shop?local_dc=dc1")
    if "#" in rest:
        raise CQLUrlError(f"{url!r}: a CQL address has no #fragment")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    username = password = None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        user, has_password, secret = userinfo.partition(":")
        if not user:
            raise CQLUrlError(f"{url!r}: empty user name before '@'")
        username = unquote(user)
        password = unquote(secret) if has_password else ""
    hosts, port = _parse_hosts(url, netloc)
    keyspace = _parse_keyspace(url, path)
    options = _parse_options(url, query)
    return CQLUrl(hosts=hosts, port=port, keyspace=keyspace, username=username,
                  password=password, **options)


def _parse_hosts(url: str, netloc: str) -> tuple[tuple[str, ...], int]:
    if not netloc:
        raise CQLUrlError(f"{url!r}: no host; e.g. cql://127.0.0.1:9042/keyspace")
    hosts: list[str] = []
    ports: set[int] = set()
    for part in netloc.split(","):
        part = part.strip()
        if not part:
            raise CQLUrlError(f"{url!r}: an empty host between commas")
        if part.startswith("["):  # [IPv6]:port
            host, bracket, tail = part[1:].partition("]")
            if not bracket or not host:
                raise CQLUrlError(f"{url!r}: unclosed '[' in host {part!r}")
            if tail and not tail.startswith(":"):
                raise CQLUrlError(f"{url!r}: unexpected {tail!r} after [{host}]")
            port_text = tail[1:] if tail else None
        else:
            host, colon, port_text_ = part.partition(":")
            port_text = port_text_ if colon else None
            if not host or not _HOST.match(host):
                raise CQLUrlError(f"{url!r}: {host!r} is not a host name or address")
        if port_text is not None:
            if not port_text.isdigit() or not 0 < int(port_text) < 65536:
                raise CQLUrlError(f"{url!r}: port {port_text!r} is not a number in 1-65535")
            ports.add(int(port_text))
        hosts.append(host)
    if len(ports) > 1:
        raise CQLUrlError(f"{url!r}: every host must use the same port, got {sorted(ports)}")
    return tuple(hosts), ports.pop() if ports else DEFAULT_CQL_PORT


def _parse_keyspace(url: str, path: str) -> str | None:
    keyspace = unquote(path.strip("/"))
    if not keyspace:
        return None
    if not _KEYSPACE.match(keyspace):
        raise CQLUrlError(f"{url!r}: {keyspace!r} is not a keyspace name "
                          "(letters, digits and _, at most 48)")
    return keyspace


def _parse_options(url: str, query: str) -> dict[str, Any]:
    from greencql import ConsistencyLevel

    options: dict[str, Any] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise CQLUrlError(f"{url!r}: malformed options {query!r}") from exc
    for key, value in pairs:
        if key not in _URL_OPTIONS:
            raise CQLUrlError(f"{url!r}: unknown option {key!r}; known: {', '.join(_URL_OPTIONS)}")
        if key in options:
            raise CQLUrlError(f"{url!r}: option {key!r} given twice")
        if not value:
            raise CQLUrlError(f"{url!r}: option {key!r} has no value")
        if key == "local_dc":
            options[key] = value
        elif key == "consistency":
            try:
                options[key] = ConsistencyLevel[value.upper()]
            except KeyError:
                names = ", ".join(c.name for c in ConsistencyLevel)
                raise CQLUrlError(f"{url!r}: consistency {value!r} is not one of {names}"
                                  ) from None
        elif key in ("timeout", "connect_timeout"):
            try:
                seconds = float(value)
            except ValueError:
                seconds = -1.0
            if not 0 < seconds < float("inf"):
                raise CQLUrlError(f"{url!r}: {key} must be a positive number of seconds, "
                                  f"not {value!r}")
            options[key] = seconds
        else:  # protocol_version
            if value not in ("3", "4", "5"):
                raise CQLUrlError(f"{url!r}: protocol_version must be 3, 4 or 5, not {value!r}")
            options[key] = int(value)
    return options


# -- request names --------------------------------------------------------------------------

_TABLE_WORDS = {"FROM", "INTO", "UPDATE", "TABLE", "KEYSPACE", "INDEX", "TYPE"}


def statement_name(query: Any) -> str:
    """The default request name: the first words of the statement, up to its table.

    ``"SELECT id, name FROM shop.items WHERE id = ?"`` -> ``"SELECT id, name FROM shop.items"``;
    a prepared or bound statement is named by its query; a batch is ``"BATCH"``.
    """
    text = _query_string(query)
    words = text.split()
    if not words:
        return "(empty statement)"
    end = min(len(words), 4)
    for i, word in enumerate(words[:12]):
        if word.upper() in _TABLE_WORDS and i + 1 < len(words):
            end = i + 2
            if words[i + 1].upper() in ("IF", "NOT", "EXISTS"):  # CREATE TABLE IF NOT EXISTS t
                end = min(len(words), i + 5)
            break
    name = " ".join(words[:end])
    if len(name) > MAX_NAME_LENGTH:
        name = name[: MAX_NAME_LENGTH - 1] + "\u2026"
    return name


def _query_string(query: Any) -> str:
    if isinstance(query, str):
        return query
    prepared = getattr(query, "prepared_statement", None)  # a BoundStatement
    if prepared is not None:
        query = prepared
    text = getattr(query, "query_string", None)
    if isinstance(text, str):
        return text
    if type(query).__name__ == "BatchStatement":
        return "BATCH"
    return type(query).__name__


# -- failures -------------------------------------------------------------------------------


def _stable_text(error: BaseException) -> str | None:
    """A message for the failure table that names the kind of failure and nothing that
    changes per request (elapsed times, hosts); None keeps the error as it is."""
    if isinstance(error, OperationTimedOut):
        timeout = getattr(error, "timeout", None)
        return f"client timeout after {timeout:g} s" if timeout else "client timeout"
    if isinstance(error, NoHostAvailable):
        kinds = sorted({type(e).__name__ for e in getattr(error, "errors", {}).values()})
        return f"no host could serve the request ({', '.join(kinds) or 'empty query plan'})"
    if isinstance(error, ServerException):
        consistency = getattr(error, "consistency", None)
        at = f" at {getattr(consistency, 'name', consistency)}" if consistency is not None else ""
        # validation errors (bad CQL, unknown table) carry a message worth keeping; execution
        # errors (timeouts, unavailable) carry counts that change per request
        if isinstance(error, RequestValidationException):
            return error.message or error.summary
        return f"{error.summary}{at}"
    if isinstance(error, ConnectionException):
        return "connection failed or broke"
    if isinstance(error, RequestThrottled):
        return "throttled by the client's request throttler"
    return None


def _for_failure_table(error: BaseException) -> BaseException:
    text = _stable_text(error)
    if text is None:
        return error
    try:
        reported = copy.copy(error)
        reported.args = (text,)
    except Exception:  # an exception type that cannot be copied: report it as it is
        return error
    reported.__cause__ = error
    reported.__traceback__ = None
    return reported


class CQLFailure:
    """What ``self.cql.execute()`` returns when a request failed (it has been reported to
    locust already): falsy, no rows, ``was_applied`` False; ``exception`` is the typed error.
    Test for it with ``isinstance(result, CQLFailure)``."""

    current_rows: ClassVar[list[Any]] = []
    was_applied = False
    has_more_pages = False
    paging_state = None

    def __init__(self, exception: BaseException, query_string: str | None = None) -> None:
        self.exception = exception
        #: the CQL of a failed prepare(): executing this failure is named after it
        self.query_string = query_string

    def __bool__(self) -> bool:
        return False

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def one(self) -> None:
        return None

    def all(self) -> list[Any]:
        return []

    def result(self, timeout: float | None = None) -> CQLFailure:
        return self

    def __repr__(self) -> str:
        return f"<CQLFailure {type(self.exception).__name__}: {self.exception}>"


# -- one Cluster per process ------------------------------------------------------------------


class _ProcessCluster:
    """The Cluster and Session the users of one process share for one address."""

    def __init__(self, url: CQLUrl) -> None:
        self.url = url
        self.cluster: Any = None
        self.session: Any = None
        self.prepared: dict[tuple[str, str], Any] = {}  # (keyspace, query) -> PreparedStatement
        self.names: dict[str, str] = {}  # query -> the name given to prepare()
        self._lock = threading.Lock()  # patched into a gevent lock by locust
        self.prepare_lock = threading.Lock()

    def get_session(self) -> Any:
        session = self.session
        if session is not None:
            return session
        if not self._lock.acquire(timeout=DEFAULT_CONNECT_WAIT):
            raise OperationTimedOut(
                f"waited {DEFAULT_CONNECT_WAIT:g} s for another user to connect to "
                f"{','.join(self.url.hosts)}")
        try:
            if self.session is None:
                cluster = self.url.cluster()
                try:
                    self.session = cluster.connect(self.url.keyspace)
                except BaseException:
                    cluster.shutdown()
                    raise
                self.cluster = cluster
            return self.session
        finally:
            self._lock.release()

    def shutdown(self) -> None:
        cluster, self.cluster, self.session = self.cluster, None, None
        self.prepared.clear()
        if cluster is not None:
            cluster.shutdown()


_processes: dict[CQLUrl, _ProcessCluster] = {}
_owner_pid = os.getpid()
_watched: weakref.WeakSet[Any] = weakref.WeakSet()


def _shared(url: CQLUrl) -> _ProcessCluster:
    global _owner_pid
    if os.getpid() != _owner_pid:
        # a forked child (locust --processes): the parent's clusters are not ours to use or
        # to shut down (their sockets belong to the parent)
        _processes.clear()
        _owner_pid = os.getpid()
    shared = _processes.get(url)
    if shared is None:
        shared = _processes[url] = _ProcessCluster(url)
    return shared


def shutdown_clusters(**_kwargs: Any) -> None:
    """Shut down every Cluster this process's users opened (locust's ``test_stop`` and
    ``quitting`` do it); the next user to start opens a new one."""
    if os.getpid() != _owner_pid:
        _processes.clear()
        return
    while _processes:
        _, shared = _processes.popitem()
        try:
            shared.shutdown()
        except Exception:  # one cluster's trouble must not keep the others open
            _log.exception("shutting down the cluster of %s", ",".join(shared.url.hosts))


def _watch(environment: Any) -> None:
    if environment in _watched:
        return
    _watched.add(environment)
    environment.events.test_stop.add_listener(shutdown_clusters)
    environment.events.quitting.add_listener(shutdown_clusters)


# -- the client and the user ----------------------------------------------------------------

_DEFAULT = object()


class CQLFuture:
    """A request started by ``self.cql.execute_async()``. ``result()`` returns the ResultSet,
    or a :class:`CQLFailure` (never raises); ``response_future`` is greencql's
    :class:`~greencql.ResponseFuture` (None when the request could not start)."""

    def __init__(self, response_future: Any = None, failure: CQLFailure | None = None) -> None:
        self.response_future = response_future
        self._failure = failure

    def result(self, timeout: float | None = None) -> Any:
        if self._failure is not None:
            return self._failure
        try:
            return self.response_future.result(timeout)
        except Exception as exc:
            return CQLFailure(exc)


class CQLClient:
    """``self.cql`` of a :class:`CQLUser`: ``execute``, ``execute_async`` and ``prepare``
    with greencql's arguments plus ``name=`` (the row in locust's tables), each request
    reported through locust's ``request`` event."""

    def __init__(self, user: User, url: CQLUrl) -> None:
        self.user = user
        self.url = url
        self._request_event = user.environment.events.request

    @property
    def session(self) -> Any:
        """The process's shared :class:`~greencql.Session` (connects on first use)."""
        return _shared(self.url).get_session()

    def connect(self) -> bool:
        """Connect the process's Cluster now (the first user does it at start); a failure is
        reported (name ``connect``) and the next request tries again."""
        started = time.perf_counter()
        try:
            self.session  # noqa: B018 (connects)
        except Exception as exc:
            self._report("connect", started, None, 0, exc, None)
            return False
        return True

    def prepare(self, query: str, name: str | None = None, keyspace: str | None = None) -> Any:
        """Prepare ``query`` once per process (later calls return the cached statement) and
        report the preparation; ``name`` also names later executions of the statement. On
        failure, return a :class:`CQLFailure` (executing it reports that failure again)."""
        shared = _shared(self.url)
        key = (keyspace or self.url.keyspace or "", query)
        if name is not None:
            shared.names[query] = name
        cached = shared.prepared.get(key)
        if cached is not None:
            return cached
        started = time.perf_counter()
        label = f"prepare {name or statement_name(query)}"
        # one preparation per statement and process, however many users start at once
        if not shared.prepare_lock.acquire(timeout=DEFAULT_CONNECT_WAIT):
            return self._fail(label, started, OperationTimedOut(
                f"waited {DEFAULT_CONNECT_WAIT:g} s for another user's prepare"), None)
        try:
            cached = shared.prepared.get(key)
            if cached is not None:
                return cached
            try:
                prepared = shared.get_session().prepare(query, keyspace=keyspace)
            except Exception as exc:
                self._fail(label, started, exc, None)
                return CQLFailure(exc, query_string=query)
            shared.prepared[key] = prepared
        finally:
            shared.prepare_lock.release()
        self._report(label, started, None, 0, None, None)
        return prepared

    def execute(self, query: Any, parameters: Sequence[Any] | Mapping[str, Any] | None = None,
                *, name: str | None = None, timeout: Any = _DEFAULT, **kwargs: Any) -> Any:
        """Run ``query`` (text, a statement, or a prepared statement with ``parameters``) and
        return its ResultSet, or a :class:`CQLFailure` once the failure has been reported.
        Other keyword arguments go to :meth:`greencql.Session.execute`."""
        return self.execute_async(query, parameters, name=name, timeout=timeout,
                                  **kwargs).result()

    def execute_async(self, query: Any,
                      parameters: Sequence[Any] | Mapping[str, Any] | None = None, *,
                      name: str | None = None, timeout: Any = _DEFAULT,
                      **kwargs: Any) -> CQLFuture:
        """Start ``query``; the request is reported when it completes (timed from this
        call). ``result()`` of the returned :class:`CQLFuture` never raises."""
        started = time.perf_counter()
        label = name or self._name_of(query)
        if isinstance(query, CQLFailure):  # a prepare() that failed
            return CQLFuture(failure=self._fail(label, started, query.exception, None))
        if timeout is not _DEFAULT:
            kwargs["timeout"] = timeout
        try:
            session = _shared(self.url).get_session()
            future = session.execute_async(query, parameters, **kwargs)
        except Exception as exc:
            return CQLFuture(failure=self._fail(label, started, exc, None))
        consistency = getattr(query, "consistency_level", None)
        if consistency is None:
            profile = kwargs.get("execution_profile", EXEC_PROFILE_DEFAULT)
            consistency = session.get_execution_profile(profile).consistency_level
        user_context = self.user.context()

        def on_result(rows: Any) -> None:
            # callbacks get the page's rows (a list; None for a result without rows), as
            # cassandra-driver's do
            count = len(rows) if rows is not None else 0
            self._report(label, started, future, count, None, consistency, user_context)

        def on_error(exc: BaseException) -> None:
            self._report(label, started, future, 0, exc, consistency, user_context)

        future.add_callbacks(on_result, on_error)
        return CQLFuture(future)

    # -- reporting ------------------------------------------------------------------------

    def _name_of(self, query: Any) -> str:
        text = _query_string(query)
        given = _shared(self.url).names.get(text)
        return given or statement_name(query)

    def _fail(self, label: str, started: float, exc: BaseException, consistency: Any
              ) -> CQLFailure:
        self._report(label, started, None, 0, exc, consistency)
        return CQLFailure(exc)

    def _report(self, name: str, started: float, future: Any, rows: int,
                exc: BaseException | None, consistency: Any,
                user_context: Mapping[str, Any] | None = None) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        host = None
        attempts = 0
        if future is not None:
            attempts = len(future.attempted_hosts)
            served = future.coordinator_host or (
                future.attempted_hosts[-1] if future.attempted_hosts else None)
            host = str(served) if served is not None else None
        context: dict[str, Any] = dict(user_context if user_context is not None
                                       else self.user.context())
        context.update(host=host, attempts=attempts,
                       consistency=getattr(consistency, "name", consistency))
        self._request_event.fire(
            request_type=REQUEST_TYPE,
            name=name,
            response_time=elapsed_ms,
            response_length=rows,
            response=None,
            context=context,
            exception=_for_failure_table(exc) if exc is not None else None,
        )


class CQLUser(User):
    """A locust user with a CQL client, ``self.cql`` (a :class:`CQLClient`).

    ``host`` (or locust's ``--host``) is a ``cql://`` address (:class:`CQLUrl`). All users of
    a process share one greencql Cluster, connected when the first of them starts and shut
    down when the test stops. A bad address stops the test at start with the reason.
    """

    abstract = True

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        try:
            url = parse_cql_url(self.host or "")
        except CQLUrlError as exc:
            environment.process_exit_code = 2
            raise StopTest(f"CQLUser: bad --host: {exc}") from exc
        _watch(environment)
        self.cql = CQLClient(self, url)

    def on_start(self) -> None:
        """Connects the process's Cluster if no user did yet (failures are reported as a
        ``connect`` request). Subclasses that override this should call it first."""
        self.cql.connect()

