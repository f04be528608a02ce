"""What each simulated node received: the request log tests assert on, and waits without polling.

Owns: :class:`RequestRecord` (one decoded request as the node saw it: opcode, query or
prepared id and its text, consistency, serial consistency, timestamp, keyspace, paging state,
connection, and whether this node is a replica of the request's routing key) and
:class:`RequestLog` (a bounded, ordered log per node with :meth:`RequestLog.wait_for`, which
parks the caller on a hub event until a matching record arrives). It decodes nothing and
touches no socket: the node server fills records in.

Waiting: ``wait_for`` must be called from a greenlet of the hub the cluster runs on (or from
any thread when that hub is the thread hub): hub events do not cross OS threads' loops.
"""

from __future__ import annotations

import collections
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

from greencql.errors import OperationTimedOut
from greencql.protocol.constants import Opcode

__all__ = ["RequestRecord", "RequestLog", "DEFAULT_LOG_SIZE", "DEFAULT_WAIT_TIMEOUT"]

#: records kept per node; enough for any functional test, bounded for load tests and benches
DEFAULT_LOG_SIZE = 20_000
#: a test waiting longer than this for a request has found a bug, not a slow machine
DEFAULT_WAIT_TIMEOUT = 10.0


class RequestRecord:
    """One request received by one node.

    ``kind`` is the opcode's name ('QUERY', 'EXECUTE', 'PREPARE', 'BATCH', 'OPTIONS',
    'STARTUP', 'REGISTER', 'AUTH_RESPONSE'). ``query`` is the CQL text (for EXECUTE the
    prepared statement's text, when the node knows the id; for BATCH the children's texts
    joined by '; '). ``batch`` lists (query text or None, prepared id or None) per child.
    ``keyspace`` is the keyspace the request ran in (v5 per-request keyspace, else the
    prepared statement's, else the connection's USE). ``response`` is filled once answered:
    'READY', 'ROWS', 'VOID', 'PREPARED', 'SET_KEYSPACE', 'SCHEMA_CHANGE', 'SUPPORTED', ...,
    'ERROR 0x2500', or 'DROPPED' (paused node, primed drop).
    ``is_replica``: whether the node owns a replica of the request's routing key (partition
    key from bound values and the statement's partition-key indexes), None when unknown
    (no routing key, or a query without bound values). ``routing_key`` /
    ``routing_keyspace`` and ``is_replica`` are computed on first access (off the node's
    hot path), against the topology and schema of that moment.
    ``custom_payload``: the request's custom payload (v4+), None without one; ``tracing``:
    whether the client asked for a trace, and ``tracing_id`` the session id the node answered
    with; ``warnings``: the client warnings sent with the answer; ``rows``: the number of
    rows a ROWS answer carried.
    """

    __slots__ = (
        "_replica",
        "_router",
        "_routing",
        "batch",
        "batch_type",
        "client",
        "connection",
        "consistency",
        "custom_payload",
        "keyspace",
        "node",
        "opcode",
        "page_size",
        "paging_state",
        "prepared_id",
        "query",
        "response",
        "rows",
        "serial_consistency",
        "stream",
        "time",
        "timestamp",
        "tracing",
        "tracing_id",
        "values",
        "version",
        "warnings",
    )

    def __init__(self, node: str, connection: int, client: Any, stream: int, opcode: int,
                 version: int, time: float) -> None:
        self.node = node
        self.connection = connection
        self.client = client
        self.stream = stream
        self.opcode = opcode
        self.version = version
        self.time = time
        self.query: str | None = None
        self.prepared_id: bytes | None = None
        self.consistency: int | None = None
        self.serial_consistency: int | None = None
        self.timestamp: int | None = None
        self.keyspace: str | None = None
        self.paging_state: bytes | None = None
        self.page_size: int | None = None
        self.values: Any = None
        self.batch: tuple[tuple[str | None, bytes | None], ...] | None = None
        self.batch_type: int | None = None
        self.response: str | None = None
        self.custom_payload: dict[str, bytes | None] | None = None
        self.tracing = False
        self.tracing_id: Any = None
        self.warnings: tuple[str, ...] | None = None
        self.rows: int | None = None
        #: computes routing and replica facts on first access (None: nothing to compute)
        self._router: Any = None
        self._routing: Any = self  # self = not computed yet
        self._replica: Any = self

    def note_request(self, msg: Any) -> None:
        """Take the custom payload and the tracing flag of the decoded request."""
        payload = getattr(msg, "custom_payload", None)
        self.custom_payload = dict(payload) if payload is not None else None
        self.tracing = bool(getattr(msg, "tracing", False))

    def note_result(self, result: Any) -> None:
        """Take what the node server needs later from the engine's result: its client
        warnings and, for rows, how many."""
        self.warnings = tuple(getattr(result, "warnings", ()) or ()) or None
        rows = getattr(result, "rows", None)
        self.rows = len(rows) if isinstance(rows, list) else None

    @property
    def kind(self) -> str:
        try:
            return Opcode(self.opcode).name
        except ValueError:
            return f"0x{self.opcode:02x}"

    def _route(self) -> tuple[str, bytes] | None:
        if self._routing is self:
            router = self._router
            self._routing = router.routing_of(self) if router is not None else None
        return self._routing

    @property
    def routing_key(self) -> bytes | None:
        """The serialized partition key of the request, when known."""
        r = self._route()
        return None if r is None else r[1]

    @property
    def routing_keyspace(self) -> str | None:
        """The keyspace of the table the routing key belongs to, when known."""
        r = self._route()
        return None if r is None else r[0]

    @property
    def is_replica(self) -> bool | None:
        if self._replica is self:
            r = self._route()
            self._replica = None if r is None else self._router.is_replica(r[0], r[1])
        return self._replica

    def __repr__(self) -> str:
        what = self.query if self.query is not None else (
            self.prepared_id.hex() if self.prepared_id else "")
        return (f"<RequestRecord {self.node} conn={self.connection} {self.kind} {what!r} "
                f"cl={self.consistency} -> {self.response}>")


class _Waiter:
    __slots__ = ("event", "predicate", "record")

    def __init__(self, predicate: Callable[[RequestRecord], bool], event: Any) -> None:
        self.predicate = predicate
        self.event = event
        self.record: RequestRecord | None = None


def _matcher(predicate: Callable[[RequestRecord], bool] | None, kind: str | None,
             query: str | re.Pattern[str] | None) -> Callable[[RequestRecord], bool]:
    def match(r: RequestRecord) -> bool:
        if kind is not None and r.kind != kind.upper():
            return False
        if query is not None:
            if r.query is None:
                return False
            if isinstance(query, re.Pattern):
                if not query.search(r.query):
                    return False
            elif query not in r.query:
                return False
        return predicate is None or bool(predicate(r))

    return match


class RequestLog:
    """The bounded log of one node (oldest records fall off past ``maxlen``)."""

    def __init__(self, hub: Any, maxlen: int = DEFAULT_LOG_SIZE) -> None:
        self._hub = hub
        self._records: collections.deque[RequestRecord] = collections.deque(maxlen=maxlen)
        self._waiters: list[_Waiter] = []
        # a plain lock: held for a few list operations, never across a wait or a switch
        self._lock = threading.Lock() if hub.name == "thread" else None
        self.total = 0

    # -- filled by the node ----------------------------------------------------------------

    def append(self, record: RequestRecord) -> None:
        self._records.append(record)
        self.total += 1
        if self._waiters:
            self._notify(record)

    def _notify(self, record: RequestRecord) -> None:
        if self._lock is not None:
            with self._lock:
                fired = self._match_waiters(record)
        else:
            fired = self._match_waiters(record)
        for w in fired:
            w.event.set()

    def _match_waiters(self, record: RequestRecord) -> list[_Waiter]:
        fired = []
        for w in self._waiters:
            if w.record is None and w.predicate(record):
                w.record = record
                fired.append(w)
        if fired:
            self._waiters = [w for w in self._waiters if w.record is None]
        return fired

    # -- read by tests ---------------------------------------------------------------------

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)

    def records(self, predicate: Callable[[RequestRecord], bool] | None = None, *,
                kind: str | None = None, query: str | re.Pattern[str] | None = None
                ) -> list[RequestRecord]:
        """Records (oldest first) matching all given filters: ``kind`` ('QUERY', ...),
        ``query`` (substring or compiled regex of the CQL text) and ``predicate``."""
        match = _matcher(predicate, kind, query)
        return [r for r in list(self._records) if match(r)]

    def clear(self) -> None:
        self._records.clear()

    def wait_for(self, predicate: Callable[[RequestRecord], bool] | None = None, *,
                 kind: str | None = None, query: str | re.Pattern[str] | None = None,
                 timeout: float = DEFAULT_WAIT_TIMEOUT, include_past: bool = True
                 ) -> RequestRecord:
        """The first record matching the filters (see :meth:`records`): an already logged
        one when ``include_past``, else the next to arrive. Raises OperationTimedOut after
        ``timeout`` seconds."""
        match = _matcher(predicate, kind, query)
        waiter = _Waiter(match, self._hub.event())
        if self._lock is not None:
            with self._lock:
                found = self._register(waiter, include_past)
        else:
            found = self._register(waiter, include_past)
        if found is not None:
            return found
        if not waiter.event.wait(timeout) and waiter.record is None:
            self._forget(waiter)
            raise OperationTimedOut(f"no matching request within {timeout} s", timeout=timeout)
        assert waiter.record is not None
        return waiter.record

    def _register(self, waiter: _Waiter, include_past: bool) -> RequestRecord | None:
        if include_past:
            for r in list(self._records):
                if waiter.predicate(r):
                    return r
        self._waiters.append(waiter)
        return None

    def _forget(self, waiter: _Waiter) -> None:
        if self._lock is not None:
            with self._lock:
                self._waiters = [w for w in self._waiters if w is not waiter]
        else:
            self._waiters = [w for w in self._waiters if w is not waiter]
