"""Fault injection for the simulated cluster: primed answers and the per-node fault switches.

Owns: :class:`Prime` (an answer forced for requests whose CQL text matches a substring or a
regular expression: any server error with its fields, primed rows, a void result, an added
delay, or no answer at all / a closed connection; and client warnings or a custom payload
attached to the primed answer, or to the real one when nothing else is primed), and
:class:`NodeFaults` (one node's switches: paused, added latency, responses cut in the
middle, corrupted v5 checksums, the highest protocol version it accepts, and its primes).
The node server consults these on every request; this module does no IO and decides
nothing about sockets.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from greencql.errors import ServerException, server_error_class

__all__ = ["Prime", "NodeFaults", "PRIMED_OPCODES", "error_response_fields"]

#: the requests primes apply to unless told otherwise (the ones that carry CQL)
PRIMED_OPCODES = ("QUERY", "EXECUTE", "BATCH")

# Defaults for the fields of errors a test primes without giving every field: what a
# coordinator would plausibly send at consistency ONE.
_FIELD_DEFAULTS: dict[str, Any] = {
    "consistency": 1,
    "required_replicas": 1,
    "alive_replicas": 0,
    "received_responses": 0,
    "required_responses": 1,
    "write_type": "SIMPLE",
    "data_retrieved": False,
    "failures": 1,
    "error_code_map": None,
    "contentions": 0,
    "keyspace": "",
    "table": "",
    "function": "",
    "arg_types": (),
    "statement_id": b"",
}


def error_response_fields(exc: ServerException, consistency: int | None = None,
                          statement_id: bytes | None = None) -> dict[str, Any]:
    """The wire fields of ``exc``: its own, completed with defaults (the request's
    consistency, the prepared id for Unprepared) so a primed error is always encodable."""
    fields = dict(exc.fields)
    for name in type(exc).field_names:
        if fields.get(name) is None and name != "error_code_map":
            if name == "consistency" and consistency is not None:
                fields[name] = consistency
            elif name == "statement_id" and statement_id is not None:
                fields[name] = statement_id
            else:
                fields[name] = _FIELD_DEFAULTS.get(name)
    return fields


class Prime:
    """One primed answer. Matches requests whose CQL text contains ``pattern`` (or matches
    it, when ``pattern`` is a compiled regex or ``regex=True``), among ``opcodes``.

    At most one action: ``error`` (a ServerException instance, class, or error code),
    ``rows`` (with ``columns``: [(name, cql type string), ...]), ``void=True``,
    ``drop=True`` (never answer) or ``close=True`` (close the connection instead of
    answering); ``delay`` (seconds added before the answer) may come with any of them.
    ``warnings`` (client warnings, strings) and ``custom_payload`` ({name: bytes}, as a
    server's QueryHandler may send) are attached to the answer, primed or real (protocol v4+;
    a v3 answer goes without them, as Cassandra's). A prime needs an action, a delay,
    warnings or a payload. ``times``: how many matching requests it applies to (None:
    forever); a prime shared by several nodes (primed on the cluster) counts them all.
    """

    def __init__(self, pattern: str | re.Pattern[str], *, regex: bool = False,
                 error: ServerException | type[ServerException] | int | None = None,
                 message: str | None = None,
                 rows: Sequence[Sequence[Any]] | None = None,
                 columns: Sequence[tuple[str, str]] | None = None,
                 void: bool = False, delay: float | None = None, drop: bool = False,
                 close: bool = False, times: int | None = None,
                 opcodes: Sequence[str] = PRIMED_OPCODES,
                 warnings: Sequence[str] | None = None,
                 custom_payload: Mapping[str, bytes | None] | None = None) -> None:
        main = [error is not None, rows is not None, void, drop, close]
        extras = delay is not None or warnings is not None or custom_payload is not None
        if sum(main) > 1 or (sum(main) == 0 and not extras):
            raise ValueError("a Prime needs one of error, rows, void, drop, close, or delay, "
                             "warnings or custom_payload (these may also accompany error, "
                             "rows or void)")
        if isinstance(warnings, str):
            raise TypeError("warnings is a list of strings, not one string")
        if rows is not None and columns is None:
            raise ValueError("primed rows need columns=[(name, cql type), ...]")
        if isinstance(pattern, str) and regex:
            pattern = re.compile(pattern)
        self.pattern = pattern
        if isinstance(error, int):
            error = server_error_class(error)
        if isinstance(error, type):
            error = error(message or f"primed {error.__name__}")
        elif error is not None and message is not None:
            error = type(error)(message, **error.fields)
        self.error: ServerException | None = error
        self.rows = [tuple(r) for r in rows] if rows is not None else None
        self.columns = list(columns) if columns is not None else None
        self.void = void
        self.delay = delay
        self.drop = drop
        self.close = close
        self.warnings: tuple[str, ...] = tuple(warnings or ())
        self.custom_payload = dict(custom_payload) if custom_payload is not None else None
        self.opcodes = frozenset(o.upper() for o in opcodes)
        self.remaining = times
        self.hits = 0
        self._lock = threading.Lock()

    def matches(self, kind: str, query: str | None) -> bool:
        if kind not in self.opcodes or query is None:
            return False
        p = self.pattern
        return bool(p.search(query)) if isinstance(p, re.Pattern) else p in query

    def take(self) -> bool:
        """Count one use; False once ``times`` is used up."""
        with self._lock:
            if self.remaining is not None:
                if self.remaining <= 0:
                    return False
                self.remaining -= 1
            self.hits += 1
            return True

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def __repr__(self) -> str:
        action = ("error" if self.error is not None else "rows" if self.rows is not None
                  else "void" if self.void else "drop" if self.drop else "close" if self.close
                  else "delay" if self.delay is not None else "extras")
        return f"<Prime {self.pattern!r} {action} remaining={self.remaining} hits={self.hits}>"


class NodeFaults:
    """The fault switches of one node (read by its connections on every request)."""

    def __init__(self) -> None:
        self.paused = False
        #: seconds added before every response
        self.latency = 0.0
        #: the next N responses are cut in the middle, then the connection is closed
        self.drop_mid_response = 0
        #: the next N v5 segments sent carry a bad checksum: 'crc32' (payload) or 'crc24'
        self.corrupt_segments = 0
        self.corrupt_kind = "crc32"
        #: the highest protocol version accepted on new connections (None: all configured)
        self.max_protocol_version: int | None = None
        self.primes: list[Prime] = []
        self._lock = threading.Lock()

    def add_prime(self, prime: Prime) -> Prime:
        self.primes = [*self.primes, prime]  # copy on write: readers iterate without a lock
        return prime

    def remove_prime(self, prime: Prime) -> None:
        self.primes = [p for p in self.primes if p is not prime]

    def clear_primes(self) -> None:
        self.primes = []

    def find_prime(self, kind: str, query: str | None) -> Prime | None:
        """The first live prime matching the request (and count its use)."""
        for p in self.primes:
            if p.matches(kind, query) and p.take():
                return p
        return None

    def take_drop_mid_response(self) -> bool:
        if self.drop_mid_response <= 0:
            return False
        with self._lock:
            if self.drop_mid_response <= 0:
                return False
            self.drop_mid_response -= 1
            return True

    def take_corrupt_segment(self) -> str | None:
        if self.corrupt_segments <= 0:
            return None
        with self._lock:
            if self.corrupt_segments <= 0:
                return None
            self.corrupt_segments -= 1
            return self.corrupt_kind

    def reset(self) -> None:
        """Back to a healthy node (primes included)."""
        self.paused = False
        self.latency = 0.0
        self.drop_mid_response = 0
        self.corrupt_segments = 0
        self.max_protocol_version = None
        self.primes = []
