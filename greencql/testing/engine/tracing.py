"""Query tracing in the simulated engine: the rows of system_traces.sessions and events.

Owns: what a traced request leaves behind, shaped like Apache Cassandra 4.0's traces: one
``system_traces.sessions`` row (client, command 'QUERY', coordinator and its storage port,
duration in microseconds, the request's parameters map, the request kind such as 'Execute
CQL3 query', started_at) and one ``system_traces.events`` row per step (activity, source,
source_elapsed in microseconds, source_port, thread), keyed by timeuuids, all written with
Cassandra's trace TTL of one day. The steps are the ones a single Cassandra coordinator
records for the statement (parsing and preparing for text queries, a single-partition read
or a range read with its live row count, the mutation steps of a write). Like Cassandra,
"Request complete" is not an event: tools such as cqlsh derive it from the session's
duration.

What it must not do: read a clock or touch a socket. The node server passes the times it
measured (the request's wall-clock start and its duration) and writes the trace before it
answers, so a client's first read of the trace finds it complete.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from greencql.testing.engine.modify import BatchPlan, ModifyPlan
from greencql.testing.engine.select import SelectPlan

__all__ = ["REQUEST_NAMES", "TRACE_TTL", "trace_parameters", "trace_steps", "write_trace"]

#: sessions.request per request opcode, as Cassandra's messages begin their sessions
REQUEST_NAMES = {
    "QUERY": "Execute CQL3 query",
    "EXECUTE": "Execute CQL3 prepared query",
    "BATCH": "Execute batch of CQL3 queries",
    "PREPARE": "Preparing CQL3 query",
}
#: seconds a trace lives (Cassandra's tracetype_query_ttl default: one day)
TRACE_TTL = 86400

_COORDINATOR_THREAD = "Native-Transport-Requests-1"
_READ_THREAD = "ReadStage-2"
_WRITE_THREAD = "MutationStage-2"
_UTC = datetime.timezone.utc

_INSERT_SESSION = (
    "INSERT INTO system_traces.sessions (session_id, client, command, coordinator, "
    "coordinator_port, duration, parameters, request, started_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) USING TTL " + str(TRACE_TTL)
)
_INSERT_EVENT = (
    "INSERT INTO system_traces.events (session_id, event_id, activity, source, "
    "source_elapsed, source_port, thread) VALUES (?, ?, ?, ?, ?, ?, ?) USING TTL "
    + str(TRACE_TTL)
)


def _level_name(level: Any) -> str | None:
    if level is None:
        return None
    from greencql.protocol.constants import ConsistencyLevel

    try:
        return ConsistencyLevel(int(level)).name
    except (ValueError, TypeError):
        return str(level)


def trace_parameters(kind: str, query: str | None, consistency: Any, serial: Any,
                     page_size: int | None) -> dict[str, str]:
    """sessions.parameters: what Cassandra's QUERY / EXECUTE / BATCH / PREPARE record (a
    missing serial consistency is Cassandra's default, SERIAL)."""
    if kind == "PREPARE":
        return {"query": query or ""}
    out: dict[str, str] = {}
    if kind != "BATCH" and query is not None:
        out["query"] = query
    if kind != "BATCH" and page_size is not None and page_size > 0:
        out["page_size"] = str(page_size)
    name = _level_name(consistency)
    if name is not None:
        out["consistency_level"] = name
    out["serial_consistency_level"] = _level_name(serial) or "SERIAL"
    return out


def _plan_of(engine: Any, query: str, keyspace: str | None) -> Any:
    try:
        with engine._lock:
            stmt, nmarkers = engine._parse(query)
            return engine._plan(stmt, nmarkers, query, keyspace)
    except Exception:  # the request failed to parse or plan: its error was the answer
        return None


def _plan_steps(plan: Any, rows: int | None) -> list[tuple[str, str]]:
    if isinstance(plan, SelectPlan):
        table = plan.table
        if plan.where.full_pk:
            return [
                (f"Executing single-partition query on {table.name}", _READ_THREAD),
                ("Acquiring sstable references", _READ_THREAD),
                ("Merging memtable contents", _READ_THREAD),
                (f"Read {rows or 0} live rows and 0 tombstone cells", _READ_THREAD),
            ]
        return [
            ("Computing ranges to query", _COORDINATOR_THREAD),
            ("Submitted 1 concurrent range requests", _COORDINATOR_THREAD),
            (f"Read {rows or 0} live rows and 0 tombstone cells", _READ_THREAD),
        ]
    if isinstance(plan, BatchPlan):
        steps: list[tuple[str, str]] = []
        for p in plan.plans:
            steps += _plan_steps(p, rows)
        return steps
    if isinstance(plan, ModifyPlan):
        steps = []
        if plan.is_lwt:
            steps.append((f"Executing single-partition query on {plan.table.name}",
                          _READ_THREAD))
        return [
            *steps,
            ("Determining replicas for mutation", _COORDINATOR_THREAD),
            ("Appending to commitlog", _WRITE_THREAD),
            (f"Adding to {plan.table.name} memtable", _WRITE_THREAD),
        ]
    return []


def trace_steps(engine: Any, kind: str, query: str | None, keyspace: str | None, *,
                prepared: bool = False, batch: Sequence[tuple[str | None, bool]] = (),
                rows: int | None = None, failed: bool = False) -> list[tuple[str, str]]:
    """(activity, thread) of each event of a request, in order. ``kind``: the opcode name;
    ``prepared``: an EXECUTE (no parsing); ``batch``: (query text, is prepared) per child;
    ``rows``: live rows returned; ``failed``: the request answered an error (its steps stop
    where Cassandra's would, after preparing)."""
    steps: list[tuple[str, str]] = []
    if kind == "BATCH":
        plans = []
        for text, is_prepared in batch:
            if text is None:
                continue
            if not is_prepared:
                steps.append((f"Parsing {text}", _COORDINATOR_THREAD))
                steps.append(("Preparing statement", _COORDINATOR_THREAD))
            plans.append(_plan_of(engine, text, keyspace))
        if not failed:
            for plan in plans:
                steps += _plan_steps(plan, rows)
        return steps
    if query is None:
        return steps
    if not prepared:
        steps.append((f"Parsing {query}", _COORDINATOR_THREAD))
        steps.append(("Preparing statement", _COORDINATOR_THREAD))
    if kind == "PREPARE" or failed:
        return steps
    return steps + _plan_steps(_plan_of(engine, query, keyspace), rows)


def _inet(address: Any) -> Any:
    if isinstance(address, tuple):
        address = address[0]
    return ipaddress.ip_address(address)


def write_trace(engine: Any, session_id: Any, *, kind: str, client: Any,
                coordinator: str, coordinator_port: int, started_at: float,
                duration_us: int, parameters: Mapping[str, str],
                steps: Sequence[tuple[str, str]]) -> None:
    """Write one traced request's session row and event rows. ``started_at``: seconds since
    the epoch (the request's arrival); event times are spread over ``duration_us`` in order,
    each event's source_elapsed strictly after the previous one's."""
    from greencql.testing.system_tables import find_node, storage_ports

    node = find_node(engine.nodes, (coordinator, coordinator_port))
    port = 7000
    if node is not None:
        port = storage_ports(engine.nodes).get(node.host_id, 7000)
    source = _inet(coordinator)
    duration_us = max(int(duration_us), len(steps) + 1)
    n = len(steps)
    for i, (activity, thread) in enumerate(steps):
        elapsed = max(i + 1, duration_us * (i + 1) // (n + 1))
        now = started_at + elapsed / 1e6
        event_id = engine.timeuuid(now)
        engine.execute(_INSERT_EVENT, values=[session_id, event_id, activity, source, elapsed,
                                              port, thread], now=now)
    start = datetime.datetime.fromtimestamp(int(started_at * 1000) / 1000, _UTC)
    engine.execute(_INSERT_SESSION, values=[
        session_id, _inet(client), "QUERY", source, port, duration_us, dict(parameters),
        REQUEST_NAMES.get(kind, kind), start,
    ], now=started_at + duration_us / 1e6)
