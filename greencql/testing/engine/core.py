"""The simulated cluster's engine: one shared store behind every simulated node.

Owns: the :class:`Engine` (schema, data, prepared statements, plan caches, the server-side
write clock), execution of QUERY / PREPARE / EXECUTE / BATCH requests given as CQL text and
bound values, DDL (keyspaces, tables, types, indexes) with schema-change results and a new
schema version per effective change, USE, and the generated system tables (refreshed when the
schema, the topology or the coordinator changes). It never touches sockets and never reads a
clock: callers pass ``now`` (seconds since the epoch). It is safe to call from several
threads (one lock; nothing in it blocks).
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from greencql.errors import (
    AlreadyExists,
    ConfigurationException,
    InvalidRequest,
    SyntaxException,
    Unauthorized,
    Unprepared,
)
from greencql.testing.cql import ast
from greencql.testing.engine.modify import (
    BATCH_SIZE_FAIL_THRESHOLD,
    BATCH_SIZE_WARN_THRESHOLD,
    UNLOGGED_BATCH_PARTITIONS_WARN_THRESHOLD,
    BatchPlan,
    ModifyPlan,
)
from greencql.testing.engine.results import (
    UNSET,
    ColumnSpec,
    Prepared,
    Result,
    SchemaChange,
    SetKeyspace,
    Void,
)
from greencql.testing.engine.select import SelectPlan
from greencql.testing.engine.storage import TableData
from greencql.testing.engine.values import Binder, Ctx
from greencql.testing.schema import (
    DEFAULT_TABLE_OPTIONS,
    Column,
    Index,
    Keyspace,
    Schema,
    Table,
    UserType,
    normalize_replication,
    resolve_type,
)
from greencql.testing.system_tables import (
    CLUSTER_NAME,
    NodeInfo,
    NodeRef,
    find_node,
    install_system_keyspaces,
    system_rows,
)

__all__ = ["Engine", "BATCH_LOGGED", "BATCH_UNLOGGED", "BATCH_COUNTER"]

BATCH_LOGGED = "LOGGED"
BATCH_UNLOGGED = "UNLOGGED"
BATCH_COUNTER = "COUNTER"
_BATCH_TYPES = {0: BATCH_LOGGED, 1: BATCH_UNLOGGED, 2: BATCH_COUNTER}
# parsed statements kept per query text; plenty for tests and load tests, bounded for fuzzing
_PARSE_CACHE_SIZE = 4096
# the options CREATE/ALTER TABLE take in 4.0 (TableParams.Option plus id): the
# *read_repair_chance columns are still in system_schema.tables but no longer options
_TABLE_OPTION_NAMES = (frozenset(DEFAULT_TABLE_OPTIONS) - {"read_repair_chance",
                                                           "dclocal_read_repair_chance"}) | {"id"}
_NAME_RE = re.compile(r"\w{1,48}", re.ASCII)
_LOCAL_SYSTEM_KEYSPACES = ("system", "system_schema")
_VIRTUAL_KEYSPACES = ("system_views", "system_virtual_schema")
_COMPACTION_CLASSES = ("SizeTieredCompactionStrategy", "LeveledCompactionStrategy",
                       "TimeWindowCompactionStrategy", "DateTieredCompactionStrategy")
_COMPRESSORS = ("LZ4Compressor", "SnappyCompressor", "DeflateCompressor", "ZstdCompressor",
                "NoopCompressor")
_MAX_TTL = 630720000


class _DDL:
    """A statement executed directly from its syntax tree (DDL, USE)."""

    kind = "ddl"
    is_lwt = False
    result_specs: tuple[ColumnSpec, ...] = ()
    pk_indexes: tuple[int, ...] = ()

    def __init__(self, stmt: ast.Statement, nmarkers: int) -> None:
        if nmarkers:
            raise InvalidRequest("Bind variables are not supported in schema statements")
        self.stmt = stmt
        self.bind_specs: tuple[ColumnSpec, ...] = ()


class Engine:
    """Keyspaces, tables, data and prepared statements shared by all nodes of a SimCluster.

    ``nodes`` describes the topology for the system tables; ``execute(...,
    coordinator=...)`` says which node runs the request (system.local vs system.peers): its
    host id, (address, native port), NodeInfo, or an address alone (the first node there;
    ambiguous when nodes share an address and differ by port). No or an unknown coordinator
    means the first node.
    """

    def __init__(self, nodes: Sequence[NodeInfo] = (), *, cluster_name: str = CLUSTER_NAME,
                 seed: int = 0) -> None:
        self.cluster_name = cluster_name
        self.schema = Schema()
        install_system_keyspaces(self.schema, TableData)
        self.schema.changed()
        self._nodes: list[NodeInfo] = list(nodes)
        self._topology_gen = 0
        self._lock = threading.RLock()
        self._parsed: dict[str, tuple[ast.Statement, int]] = {}
        self._plans: dict[tuple[str | None, str], tuple[int, Any]] = {}
        self._prepared: dict[bytes, Prepared] = {}
        self._last_ts = 0
        self._list_seq = 0
        self._rng = random.Random(seed)
        self._clock_seq = self._rng.getrandbits(14)
        self._node_bits = self._rng.getrandbits(48) | 0x010000000000
        self._last_uuid_time = 0
        self._sys_cache: dict[tuple[str, str, str | None], tuple[Any, ...]] = {}
        #: Cassandra's batch size thresholds (bytes) and partitions per unlogged batch before
        #: a client warning; None turns a check off
        self.batch_size_warn_threshold: int | None = BATCH_SIZE_WARN_THRESHOLD
        self.batch_size_fail_threshold: int | None = BATCH_SIZE_FAIL_THRESHOLD
        self.unlogged_batch_across_partitions_warn_threshold: int | None = (
            UNLOGGED_BATCH_PARTITIONS_WARN_THRESHOLD)
        #: the host ids of the nodes that are up (set by SimCluster); None: all are
        self.live_hosts: Any = None
        self._ring_cache: tuple[int, Any] | None = None
        #: reads meeting more tombstones than this warn (None: never)
        self.tombstone_warn_threshold: int | None = 1000
        #: rows of system_views.clients for a coordinator (set by SimCluster: the node's
        #: open client connections); None answers no rows
        self.client_source: Any = None

    # -- topology -------------------------------------------------------------------------------

    @property
    def nodes(self) -> list[NodeInfo]:
        return list(self._nodes)

    def set_nodes(self, nodes: Sequence[NodeInfo]) -> None:
        """Replace the topology the system tables describe."""
        with self._lock:
            self._nodes = list(nodes)
            self._topology_gen += 1

    @property
    def schema_version(self) -> uuid.UUID:
        return self.schema.version

    # -- clocks and ids ---------------------------------------------------------------------

    def next_timestamp(self, now: float) -> int:
        """A server-side write timestamp (microseconds), strictly increasing."""
        ts = int(now * 1_000_000)
        if ts <= self._last_ts:
            ts = self._last_ts + 1
        self._last_ts = ts
        return ts

    def list_keys(self, n: int, append: bool) -> list[tuple[int, int]]:
        """Position keys for list elements: appends sort after, prepends before, all others."""
        keys = []
        for _ in range(n):
            self._list_seq += 1
            keys.append((1, self._list_seq))
        if not append:
            keys = [(0, -(self._list_seq + n - i)) for i in range(n)]
            self._list_seq += n
        return keys

    def timeuuid(self, now: float) -> uuid.UUID:
        """A version 1 UUID for ``now`` (unique per engine)."""
        t = int(now * 1e7) + 0x01B21DD213814000
        if t <= self._last_uuid_time:
            t = self._last_uuid_time + 1
        self._last_uuid_time = t
        fields = (t & 0xFFFFFFFF, (t >> 32) & 0xFFFF, ((t >> 48) & 0x0FFF) | 0x1000,
                  ((self._clock_seq >> 8) & 0x3F) | 0x80, self._clock_seq & 0xFF,
                  self._node_bits)
        return uuid.UUID(fields=fields)

    def random_uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self._rng.getrandbits(128), version=4)

    # -- public entry points ----------------------------------------------------------------

    def execute(self, cql: str, *, keyspace: str | None = None,
                values: Sequence[Any] | dict[str, Any] | None = None,
                consistency: Any = None, timestamp: int | None = None,
                page_size: int | None = None, paging_state: bytes | None = None,
                now: float = 0.0, coordinator: NodeRef | None = None,
                serial_consistency: Any = None) -> Result:
        """Run one CQL statement (a QUERY message). ``values`` are serialized bytes, None
        (null) or :data:`UNSET` per marker (a dict for named values); already-decoded Python
        values are accepted too, for tests."""
        with self._lock:
            stmt, nmarkers = self._parse(cql)
            plan = self._plan(stmt, nmarkers, cql, keyspace)
            return self._run(plan, stmt, values, keyspace, timestamp, page_size, paging_state,
                             now, coordinator, consistency, serial_consistency)

    def prepare(self, cql: str, keyspace: str | None = None) -> Prepared:
        """Prepare a statement (a PREPARE message); the id is stable for (keyspace, query)."""
        with self._lock:
            stmt, nmarkers = self._parse(cql)
            plan = self._plan(stmt, nmarkers, cql, keyspace)
            pid = hashlib.md5(((keyspace or "") + cql).encode("utf-8"),
                              usedforsecurity=False).digest()
            prep = Prepared(pid, cql, keyspace, tuple(plan.bind_specs),
                            tuple(plan.result_specs), tuple(plan.pk_indexes), plan,
                            self.schema.generation, plan.is_lwt)
            self._prepared[pid] = prep
            return prep

    def get_prepared(self, prepared_id: bytes) -> Prepared | None:
        return self._prepared.get(bytes(prepared_id))

    def forget_prepared(self) -> None:
        """Drop every prepared statement (as a restarted node would)."""
        with self._lock:
            self._prepared.clear()

    def execute_prepared(self, prepared_id: bytes, values: Sequence[Any] | dict[str, Any] | None
                         = None, *, consistency: Any = None, timestamp: int | None = None,
                         page_size: int | None = None, paging_state: bytes | None = None,
                         now: float = 0.0, coordinator: NodeRef | None = None,
                         keyspace: str | None = None, serial_consistency: Any = None) -> Result:
        """Run a prepared statement (an EXECUTE message); unknown ids raise Unprepared."""
        with self._lock:
            prep = self._prepared.get(bytes(prepared_id))
            if prep is None:
                raise Unprepared(f"Prepared query with ID {bytes(prepared_id).hex()} not found "
                                 "(either the query was not prepared on this host (maybe the "
                                 "host has been restarted?) or you have prepared too many "
                                 "queries and it has been evicted from the internal cache)",
                                 statement_id=bytes(prepared_id))
            plan = prep.plan
            if prep.generation != self.schema.generation:
                stmt, nmarkers = self._parse(prep.query)
                plan = self._plan(stmt, nmarkers, prep.query, prep.keyspace)
                prep.plan = plan
                prep.generation = self.schema.generation
                prep.result_specs = tuple(plan.result_specs)
            stmt = getattr(plan, "stmt", None)
            return self._run(plan, stmt, values, prep.keyspace, timestamp, page_size,
                             paging_state, now, coordinator, consistency, serial_consistency)

    def execute_batch(self, statements: Sequence[tuple[str | bytes, Any]], batch_type: str | int
                      = BATCH_LOGGED, *, keyspace: str | None = None, consistency: Any = None,
                      timestamp: int | None = None, now: float = 0.0,
                      coordinator: NodeRef | None = None, serial_consistency: Any = None
                      ) -> Result:
        """Run a protocol BATCH: each item is (query text or prepared id bytes, values)."""
        btype = _BATCH_TYPES.get(batch_type, batch_type) if isinstance(batch_type, int) \
            else str(batch_type).upper()
        with self._lock:
            plans: list[ModifyPlan] = []
            ctxs: list[Ctx] = []
            for query, vals in statements:
                if isinstance(query, (bytes, bytearray)):
                    prep = self._prepared.get(bytes(query))
                    if prep is None:
                        raise Unprepared(f"Prepared query with ID {bytes(query).hex()} not found",
                                         statement_id=bytes(query))
                    if prep.generation != self.schema.generation:
                        stmt, n = self._parse(prep.query)
                        prep.plan = self._plan(stmt, n, prep.query, prep.keyspace)
                        prep.generation = self.schema.generation
                    plan = prep.plan
                else:
                    stmt, n = self._parse(query)
                    plan = self._plan(stmt, n, query, keyspace)
                if not isinstance(plan, ModifyPlan):
                    raise InvalidRequest("Invalid statement in batch: only UPDATE, INSERT and "
                                         "DELETE statements are allowed.")
                plans.append(plan)
                ctxs.append(Ctx(self._values(vals, plan.bind_specs), plan.bind_specs, now, self))
            bp = BatchPlan(plans, btype)
            self._check_available(bp, ctxs, consistency, serial_consistency, coordinator)
            ts = timestamp if timestamp is not None else self.next_timestamp(now)
            return bp.run(self, ctxs, ts)

    def record_trace(self, kind: str, *, query: str | None, keyspace: str | None,
                     client: Any, coordinator: tuple[str, int], started_at: float,
                     duration_us: int, consistency: Any = None, serial_consistency: Any = None,
                     page_size: int | None = None, prepared: bool = False,
                     batch: Sequence[tuple[str | None, bool]] = (), rows: int | None = None,
                     failed: bool = False) -> uuid.UUID:
        """Write the trace of one request into system_traces (see
        :mod:`greencql.testing.engine.tracing`) and return its session id, a timeuuid of
        ``started_at``. ``coordinator``: the node's (address, native port); ``client``: the
        client's address."""
        from greencql.testing.engine import tracing

        with self._lock:
            session_id = self.timeuuid(started_at)
            steps = tracing.trace_steps(self, kind, query, keyspace, prepared=prepared,
                                        batch=batch, rows=rows, failed=failed)
            params = tracing.trace_parameters(kind, query, consistency, serial_consistency,
                                              page_size)
            tracing.write_trace(self, session_id, kind=kind, client=client,
                                coordinator=coordinator[0], coordinator_port=coordinator[1],
                                started_at=started_at, duration_us=duration_us,
                                parameters=params, steps=steps)
            return session_id

    # -- internals ----------------------------------------------------------------------------

    def _parse(self, cql: str) -> tuple[ast.Statement, int]:
        hit = self._parsed.get(cql)
        if hit is not None:
            return hit
        try:
            from greencql.testing.cql.parser import _Parser

            p = _Parser(cql)
            stmt = p.parse_single()
            nmarkers = p.markers
        except SyntaxException:
            raise
        except RecursionError as exc:
            raise SyntaxException("line 1:0 statement too deeply nested") from exc
        if len(self._parsed) >= _PARSE_CACHE_SIZE:
            self._parsed.clear()
        self._parsed[cql] = (stmt, nmarkers)
        return stmt, nmarkers

    def _plan(self, stmt: ast.Statement, nmarkers: int, cql: str, keyspace: str | None) -> Any:
        key = (keyspace, cql)
        gen = self.schema.generation
        hit = self._plans.get(key)
        if hit is not None and hit[0] == gen:
            return hit[1]
        plan = self._build_plan(stmt, nmarkers, keyspace)
        if len(self._plans) >= _PARSE_CACHE_SIZE:
            self._plans.clear()
        self._plans[key] = (gen, plan)
        return plan

    def _table(self, qn: ast.QualifiedName, keyspace: str | None) -> Table:
        ks_name = qn.keyspace or keyspace
        if ks_name is None:
            raise InvalidRequest("No keyspace has been specified. USE a keyspace, or explicitly "
                                 "specify keyspace.tablename")
        ks = self.schema.keyspaces.get(ks_name)
        if ks is None:
            raise InvalidRequest(f"keyspace {ks_name} does not exist")
        t = ks.tables.get(qn.name)
        if t is None:
            raise InvalidRequest(f"table {qn.name} does not exist")
        return t

    def _build_plan(self, stmt: ast.Statement, nmarkers: int, keyspace: str | None) -> Any:
        if isinstance(stmt, ast.Select):
            table = self._table(stmt.table, keyspace)
            return SelectPlan(stmt, table, Binder(table.keyspace, table.name), nmarkers)
        if isinstance(stmt, (ast.Insert, ast.Update, ast.Delete)):
            table = self._table(stmt.table, keyspace)
            return ModifyPlan(stmt, table, Binder(table.keyspace, table.name), nmarkers)
        if isinstance(stmt, ast.Batch):
            if stmt.ttl is not None:
                raise InvalidRequest("Global TTL on the BATCH statement is not supported.")
            binder = None
            plans = []
            for s in stmt.statements:
                table = self._table(s.table, keyspace)  # type: ignore[attr-defined]
                if binder is None:
                    binder = Binder(table.keyspace, table.name)
                binder.keyspace, binder.table = table.keyspace, table.name
                plans.append(ModifyPlan(s, table, binder, None))
            bp = BatchPlan(plans, stmt.kind, stmt.timestamp is not None)
            bp.bind_specs = binder.spec_list(nmarkers) if binder else ()  # type: ignore[attr-defined]
            bp.result_specs = ()  # type: ignore[attr-defined]
            bp.pk_indexes = ()  # type: ignore[attr-defined]
            if stmt.timestamp is not None:
                from greencql.testing.engine.values import compile_term
                from greencql.testing.schema import ColType

                bp.ts_fn = compile_term(stmt.timestamp, ColType("bigint"),  # type: ignore[attr-defined]
                                        "[timestamp]", binder or Binder("", ""))
            else:
                bp.ts_fn = None  # type: ignore[attr-defined]
            bp.stmt = stmt  # type: ignore[attr-defined]
            return bp
        return _DDL(stmt, nmarkers)

    def _values(self, values: Any, specs: tuple[ColumnSpec, ...]) -> list[Any]:
        if values is None:
            values = []
        if isinstance(values, dict):
            lowered = {k.lower() if isinstance(k, str) else k: v for k, v in values.items()}
            out = []
            for s in specs:
                if s.name in values:
                    out.append(values[s.name])
                elif s.name.lower() in lowered:
                    out.append(lowered[s.name.lower()])
                else:
                    out.append(UNSET)
            return out
        vals = list(values)
        if len(vals) != len(specs):
            raise InvalidRequest(f"There were {len(specs)} markers(?) in CQL but {len(vals)} "
                                 "bound variables")
        return vals

    def _run(self, plan: Any, stmt: Any, values: Any, keyspace: str | None,
             timestamp: int | None, page_size: int | None, paging_state: bytes | None,
             now: float, coordinator: NodeRef | None, consistency: Any = None,
             serial: Any = None) -> Result:
        kind = plan.kind
        if kind == "select":
            ctx = Ctx(self._values(values, plan.bind_specs), plan.bind_specs, now, self)
            if plan.table.virtual:
                self._refresh_system(plan.table, coordinator)
            else:
                self._check_available(plan, [ctx], consistency, serial, coordinator)
            return plan.run(self, ctx, page_size, paging_state)
        if kind == "modify":
            ctx = Ctx(self._values(values, plan.bind_specs), plan.bind_specs, now, self)
            self._check_available(plan, [ctx], consistency, serial, coordinator)
            ts = timestamp if timestamp is not None else self.next_timestamp(now)
            return plan.run(self, ctx, ts)
        if kind == "batch":
            ctx = Ctx(self._values(values, plan.bind_specs), plan.bind_specs, now, self)
            self._check_available(plan, [ctx] * len(plan.plans), consistency, serial,
                                  coordinator)
            ts = timestamp
            if plan.ts_fn is not None:
                v = plan.ts_fn(ctx)
                if v is not None and v is not UNSET:
                    ts = v
            if ts is None:
                ts = self.next_timestamp(now)
            return plan.run(self, [ctx] * len(plan.plans), ts)
        return self._ddl(plan.stmt, keyspace)

    # -- availability -------------------------------------------------------------------------

    def _check_available(self, plan: Any, ctxs: list[Ctx], consistency: Any, serial: Any,
                         coordinator: NodeRef | None) -> None:
        """Unavailable when too few replicas of a partition the request touches are alive
        for its consistency level (serial consistency first for LWTs). Only when a
        SimCluster reports liveness and some node is down."""
        if consistency is None or self.live_hosts is None or not self._nodes:
            return
        live = self.live_hosts()
        if all(n.host_id in live for n in self._nodes):
            return
        from greencql.cluster.murmur3 import murmur3_token
        from greencql.protocol.constants import ConsistencyLevel as CL
        from greencql.testing.engine.availability import Ring, check_available

        ring = self._ring_cache
        if ring is None or ring[0] != self._topology_gen:
            ring = self._ring_cache = (self._topology_gen, Ring(self._nodes))
        node = self._coordinator(coordinator)
        local_dc = node.dc if node is not None else None
        plans = plan.plans if plan.kind == "batch" else [plan]
        cl = int(consistency)
        for p, ctx in zip(plans, ctxs, strict=False):
            table = p.table
            ks = self.schema.keyspaces.get(table.keyspace)
            if ks is None or (ks.system and table.keyspace not in (
                    "system_auth", "system_distributed", "system_traces")):
                continue
            repl = ks.replication
            if p.kind == "select":
                w = p.where
                if w.full_pk:
                    tokens = [murmur3_token(k) for k in w.partition_keys(ctx)]
                else:
                    if cl in (CL.SERIAL, CL.LOCAL_SERIAL):
                        raise InvalidRequest("SERIAL/LOCAL_SERIAL consistency may only be "
                                             "requested for one partition at a time")
                    tokens = list(dict.fromkeys(ring[1].tokens))
                write = False
            else:
                tokens = [murmur3_token(k) for k, _ck, _pred in p.targets(ctx)]
                write = True
            levels = [cl]
            if write and p.is_lwt:
                levels = [int(serial) if serial is not None else int(CL.SERIAL), cl]
            for token in dict.fromkeys(tokens):
                replicas = ring[1].replicas(token, repl)
                for level in levels:
                    check_available(level, replicas, repl, self._nodes, live, local_dc,
                                    write and level not in (CL.SERIAL, CL.LOCAL_SERIAL))

    # -- system tables ------------------------------------------------------------------------

    def _coordinator(self, ref: NodeRef | None) -> NodeInfo | None:
        node = find_node(self._nodes, ref)
        if node is None and self._nodes:
            return self._nodes[0]
        return node

    def _refresh_system(self, table: Table, coordinator: NodeRef | None) -> None:
        node = self._coordinator(coordinator)
        # by host id: nodes on distinct ports share an address but not their system.local
        stamp: tuple[Any, ...] = (self.schema.generation, self._topology_gen,
                                  node.host_id if node else None)
        if table.keyspace == "system_schema" or table.keyspace == "system_virtual_schema":
            stamp = (self.schema.generation, -1, None)
        live = table.keyspace == "system_views" and table.name == "clients"
        cached = self._sys_cache.get((table.keyspace, table.name, None))
        if cached == stamp and not live:
            return
        rows = system_rows(table, self.schema, self._nodes, node, self.cluster_name)
        if live and self.client_source is not None:
            rows = list(self.client_source(node))
        data = TableData()
        pk_types = [c.type for c in table.partition_key]
        from greencql.cluster.murmur3 import serialize_partition_key
        from greencql.testing.engine.storage import Cell, Multi

        for row in rows:
            key_b = serialize_partition_key([c.type.encode(row[c.name])
                                             for c in table.partition_key])
            p = data.make(key_b, pk_types)
            ck = tuple(c.type.encode(row[c.name]) for c in table.clustering)
            r = p.make_row(ck, table) if table.clustering else p.make_row((), table)
            r.marker = (1, None, None)
            for c in table.columns.values():
                if c.kind in ("partition_key", "clustering"):
                    continue
                v = row.get(c.name)
                if v is None:
                    continue
                if c.type.multicell:
                    m = Multi()
                    t = c.type
                    if t.name == "set":
                        for x in v:
                            m.put(t.params[0].sort_key(x), x, None, 1, None, None)
                    elif t.name == "map":
                        for k, x in v.items():
                            m.put(t.params[0].sort_key(k), k, x, 1, None, None)
                    else:
                        for i, x in enumerate(v):
                            m.put((1, i), None, x, 1, None, None)
                    r.cells[c.name] = m
                else:
                    r.cells[c.name] = Cell(v, 1)
        table.data = data
        self._sys_cache[(table.keyspace, table.name, None)] = stamp

    # -- DDL ----------------------------------------------------------------------------------

    def _ks(self, name: str | None) -> Keyspace:
        if name is None:
            raise InvalidRequest("No keyspace has been specified. USE a keyspace, or explicitly "
                                 "specify keyspace.tablename")
        ks = self.schema.keyspaces.get(name)
        if ks is None:
            raise InvalidRequest(f"keyspace {name} does not exist")
        return ks

    def _schema_ks(self, name: str | None, missing: str, if_exists: bool = False
                   ) -> Keyspace:
        """The keyspace of a schema statement; a missing one answers ``missing`` (4.0's
        schema statements name what they looked for), or None under IF EXISTS."""
        if name is None:
            raise InvalidRequest("No keyspace has been specified. USE a keyspace, or explicitly "
                                 "specify keyspace.tablename")
        ks = self.schema.keyspaces.get(name)
        if ks is None:
            if if_exists:
                return None  # type: ignore[return-value]
            raise InvalidRequest(missing)
        return ks

    def _check_user_ks(self, ks: Keyspace) -> None:
        if ks.system:
            raise Unauthorized(f"{ks.name} keyspace is not user-modifiable.")

    def _ddl(self, stmt: ast.Statement, keyspace: str | None) -> Result:
        schema = self.schema
        if isinstance(stmt, ast.UseStmt):
            if stmt.keyspace not in schema.keyspaces:
                raise InvalidRequest(f"Keyspace '{stmt.keyspace}' does not exist")
            return SetKeyspace(stmt.keyspace)
        if isinstance(stmt, ast.CreateKeyspace):
            return self._create_keyspace(stmt)
        if isinstance(stmt, ast.AlterKeyspace):
            ks = schema.keyspaces.get(stmt.name)
            if ks is None:
                if stmt.if_exists:
                    return Void()
                raise InvalidRequest(f"Keyspace '{stmt.name}' doesn't exist")
            self._check_user_ks(ks)
            repl, durable = self._ks_options(stmt.options, require=False, ks_name=ks.name)
            warnings = list(self._rf_warnings(ks.name, repl or {}))
            if repl is not None:
                if _total_rf(repl) > _total_rf(ks.replication):
                    warnings.append("When increasing replication factor you need to run a full "
                                    "(-full) repair to distribute the data.")
                ks.replication = repl
            if durable is not None:
                ks.durable_writes = durable
            return self._changed("UPDATED", "KEYSPACE", ks.name, warnings=tuple(warnings))
        if isinstance(stmt, ast.DropKeyspace):
            ks = schema.keyspaces.get(stmt.name)
            if ks is None:
                if stmt.if_exists:
                    return Void()
                raise InvalidRequest(f"Keyspace '{stmt.name}' doesn't exist")
            self._check_user_ks(ks)
            del schema.keyspaces[stmt.name]
            return self._changed("DROPPED", "KEYSPACE", stmt.name)
        if isinstance(stmt, ast.CreateTable):
            return self._create_table(stmt, keyspace)
        if isinstance(stmt, ast.DropTable):
            ks_name = stmt.table.keyspace or keyspace
            ks = self._schema_ks(ks_name, f"Table '{ks_name}.{stmt.table.name}' doesn't exist",
                                 stmt.if_exists)
            if ks is None:
                return Void()
            if stmt.table.name not in ks.tables:
                if stmt.if_exists:
                    return Void()
                raise InvalidRequest(f"Table '{ks.name}.{stmt.table.name}' doesn't exist")
            self._check_user_ks(ks)
            del ks.tables[stmt.table.name]
            return self._changed("DROPPED", "TABLE", ks.name, stmt.table.name)
        if isinstance(stmt, ast.AlterTable):
            return self._alter_table(stmt, keyspace)
        if isinstance(stmt, ast.Refused):
            raise InvalidRequest(stmt.message)
        if isinstance(stmt, ast.Describe):
            from greencql.testing.engine.describe import describe

            return describe(schema, stmt.words, (stmt.keyspace, stmt.name), keyspace,
                            self.cluster_name)
        if isinstance(stmt, ast.Truncate):
            table = self._table(stmt.table, keyspace)
            if table.virtual or table.keyspace in ("system", "system_schema"):
                raise Unauthorized(f"{table.keyspace} keyspace is not user-modifiable.")
            table.data.truncate()
            return Void()
        if isinstance(stmt, ast.CreateType):
            ks_name = stmt.name.keyspace or keyspace
            ks = self._schema_ks(ks_name, f"Keyspace '{ks_name}' doesn't exist")
            self._check_user_ks(ks)
            if stmt.name.name in ks.types:
                if stmt.if_not_exists:
                    return Void()
                raise InvalidRequest(f"A user type with name '{stmt.name.name}' already exists")
            names = [f for f, _ in stmt.fields]
            for i, f in enumerate(names):
                if f in names[:i]:
                    raise InvalidRequest(f"Duplicate field name '{f}' in type "
                                         f"'{stmt.name.name}'")
            types = []
            for _fname, texpr in stmt.fields:
                t = resolve_type(texpr, ks, top=False)
                if t.is_counter:
                    raise InvalidRequest("A user type cannot contain counters")
                if t.multicell and t.name == "udt":
                    raise InvalidRequest("A user type cannot contain non-frozen UDTs")
                types.append(t)
            ks.types[stmt.name.name] = UserType(ks.name, stmt.name.name, names, types)
            return self._changed("CREATED", "TYPE", ks.name, stmt.name.name)
        if isinstance(stmt, ast.AlterType):
            return self._alter_type(stmt, keyspace)
        if isinstance(stmt, ast.DropType):
            ks_name = stmt.name.keyspace or keyspace
            ks = self._schema_ks(ks_name, f"Type '{ks_name}.{stmt.name.name}' doesn't exist",
                                 stmt.if_exists)
            if ks is None:
                return Void()
            if stmt.name.name not in ks.types:
                if stmt.if_exists:
                    return Void()
                raise InvalidRequest(f"Type '{ks.name}.{stmt.name.name}' doesn't exist")
            users = [u.name for u in ks.types.values() if any(
                _uses_type(ft, stmt.name.name) for ft in u.field_types)]
            if users:
                raise InvalidRequest(f"Cannot drop user type '{ks.name}.{stmt.name.name}' as it "
                                     f"is still used by user types {', '.join(users)}")
            tables = [t.name for t in ks.tables.values()
                      if any(_uses_type(c.type, stmt.name.name) for c in t.columns.values())]
            if tables:
                raise InvalidRequest(f"Cannot drop user type '{ks.name}.{stmt.name.name}' as it "
                                     f"is still used by tables {', '.join(tables)}")
            del ks.types[stmt.name.name]
            return self._changed("DROPPED", "TYPE", ks.name, stmt.name.name)
        if isinstance(stmt, ast.CreateIndex):
            return self._create_index(stmt, keyspace)
        if isinstance(stmt, ast.DropIndex):
            ks_name = stmt.name.keyspace or keyspace
            ks = self._schema_ks(ks_name, f"Index '{ks_name}.{stmt.name.name}' doesn't exist",
                                 stmt.if_exists)
            if ks is None:
                return Void()
            for t in ks.tables.values():
                if stmt.name.name in t.indexes:
                    del t.indexes[stmt.name.name]
                    return self._changed("UPDATED", "TABLE", ks.name, t.name)
            if stmt.if_exists:
                return Void()
            raise InvalidRequest(f"Index '{ks.name}.{stmt.name.name}' doesn't exist")
        raise InvalidRequest(f"Unsupported statement {type(stmt).__name__}")

    def _alter_type(self, stmt: ast.AlterType, keyspace: str | None) -> Result:
        """ALTER TYPE ... ADD / RENAME (4.0): the type changes in place and so does every
        column that uses it, stored values included."""
        ks_name = stmt.name.keyspace or keyspace
        ks = self._schema_ks(ks_name, f"Type '{ks_name}.{stmt.name.name}' doesn't exist")
        self._check_user_ks(ks)
        ut = ks.types.get(stmt.name.name)
        if ut is None:
            raise InvalidRequest(f"Type '{ks.name}.{stmt.name.name}' doesn't exist")
        names = list(ut.field_names)
        types = list(ut.field_types)
        if stmt.action == "add":
            for fname, texpr in stmt.fields:
                if fname in names:
                    raise InvalidRequest(f"Cannot add new field {fname} to type "
                                         f"{ks.name}.{ut.name}: a field with name {fname} "
                                         "already exists")
                t = resolve_type(texpr, ks, top=False)
                if t.is_counter:
                    raise InvalidRequest("A user type cannot contain counters")
                if t.multicell and t.name == "udt":
                    raise InvalidRequest("A user type cannot contain non-frozen UDTs")
                if _uses_type(t, ut.name):
                    raise InvalidRequest(f"Cannot add new field {fname} of type {t.cql_name} to "
                                         f"user type {ks.name}.{ut.name} as it would create a "
                                         "circular reference")
                names.append(fname)
                types.append(t)
        else:
            for old, new in stmt.renames:
                if old not in names:
                    raise InvalidRequest(f"Unkown field {old} in user type {ks.name}.{ut.name}")
                if new in names:
                    raise InvalidRequest(f"Duplicate field name {new} in type {ut.name}")
                names[names.index(old)] = new
        ut.field_names = names
        ut.field_types = types
        for t in ks.tables.values():
            changed = False
            for c in t.columns.values():
                if _uses_type(c.type, ut.name):
                    c.type = _retype(c.type, ut)
                    changed = True
            if changed:
                _refresh_values(t)
                t.invalidate()
        for other in ks.types.values():
            other.field_types = [_retype(ft, ut) if _uses_type(ft, ut.name) else ft
                                 for ft in other.field_types]
        return self._changed("UPDATED", "TYPE", ks.name, ut.name)

    def _changed(self, change: str, target: str, ks: str, name: str | None = None,
                 warnings: tuple[str, ...] = ()) -> SchemaChange:
        self.schema.changed()
        return SchemaChange(change, target, ks, name, warnings=warnings)

    def _rf_warnings(self, ks: str, repl: dict[str, str]) -> tuple[str, ...]:
        """A replication factor above the nodes there are warns (4.0's
        validateExpectedOptions / ClientWarn)."""
        if not self._nodes or not repl:
            return ()
        cls = repl.get("class", "").rsplit(".", 1)[-1]
        out = []
        if cls == "SimpleStrategy":
            rf = int(repl.get("replication_factor", "0").split("/")[0])
            if rf > len(self._nodes):
                out.append(f"Your replication factor {rf} for keyspace {ks} is higher than the "
                           f"number of nodes {len(self._nodes)}")
        elif cls == "NetworkTopologyStrategy":
            for dc, value in repl.items():
                if dc == "class":
                    continue
                n = sum(1 for node in self._nodes if node.dc == dc)
                rf = int(value.split("/")[0])
                if rf > n:
                    out.append(f"Your replication factor {rf} for keyspace {ks} is higher than "
                               f"the number of nodes {n} for datacenter {dc}")
        return tuple(out)

    def _ks_options(self, options: dict[str, Any], require: bool, ks_name: str = ""
                    ) -> tuple[dict[str, str] | None, bool | None]:
        repl = None
        durable = None
        for k, v in options.items():
            if k == "replication":
                if not isinstance(v, dict):
                    raise SyntaxException("line 1:0 replication must be a map")
                try:
                    repl = normalize_replication(v)
                except ConfigurationException as exc:
                    if exc.message.endswith("for keyspace") and ks_name:
                        raise ConfigurationException(f"{exc.message} {ks_name}") from None
                    raise
            elif k == "durable_writes":
                durable = v if isinstance(v, bool) else str(v).lower() == "true"
            else:
                raise SyntaxException(f"Unknown property '{k}'")
        if require and repl is None:
            raise InvalidRequest("Missing mandatory option 'replication'")
        if repl is not None:
            self._check_replication(repl, ks_name)
            repl = self._expand_replication(repl)
        return repl, durable

    def _expand_replication(self, repl: dict[str, str]) -> dict[str, str]:
        """NetworkTopologyStrategy's 'replication_factor' option (4.0) stands for every data
        center the cluster has that is not named explicitly."""
        if not repl["class"].endswith(".NetworkTopologyStrategy") or \
                "replication_factor" not in repl:
            return repl
        rf = repl["replication_factor"]
        dcs = sorted({n.dc for n in self._nodes}) or ["datacenter1"]
        out = {k: v for k, v in repl.items() if k != "replication_factor"}
        for dc in dcs:
            out.setdefault(dc, rf)
        rest = sorted((k, v) for k, v in out.items() if k != "class")
        return {"class": out["class"], **dict(rest)}

    def _check_replication(self, repl: dict[str, str], ks_name: str) -> None:
        """4.0's strategy validation: LocalStrategy is internal, NetworkTopologyStrategy
        takes only data centers the cluster has (recognizedOptions)."""
        cls = repl["class"].rsplit(".", 1)[-1]
        if cls == "LocalStrategy":
            raise InvalidRequest("Unable to use given strategy class: LocalStrategy is reserved "
                                 "for internal use.")
        if cls == "NetworkTopologyStrategy":
            # an engine without nodes has no topology to check against
            dcs = {n.dc for n in self._nodes}
            opts = [k for k in repl if k != "class"]
            if not opts:
                raise ConfigurationException("Configuration for at least one datacenter must be "
                                             "present")
            for k in opts:
                if dcs and k not in dcs and k != "replication_factor":
                    raise ConfigurationException(
                        f"Unrecognized strategy option {{{k}}} passed to NetworkTopologyStrategy "
                        f"for keyspace {ks_name}")

    def _create_keyspace(self, stmt: ast.CreateKeyspace) -> Result:
        if stmt.name in _LOCAL_SYSTEM_KEYSPACES:
            raise InvalidRequest(f"System keyspace '{stmt.name}' is not user-modifiable")
        if stmt.name in _VIRTUAL_KEYSPACES:
            raise InvalidRequest(f"Virtual keyspace '{stmt.name}' is not user-modifiable")
        if not _NAME_RE.fullmatch(stmt.name):
            raise InvalidRequest("Keyspace name must not be empty, more than 48 characters long, "
                                 "or contain non-alphanumeric-underscore characters (got "
                                 f"'{stmt.name}')")
        if stmt.name in self.schema.keyspaces:
            if stmt.if_not_exists:
                return Void()
            raise AlreadyExists(f'Cannot add existing keyspace "{stmt.name}"',
                                keyspace=stmt.name, table="")
        repl, durable = self._ks_options(stmt.options, require=True, ks_name=stmt.name)
        self.schema.keyspaces[stmt.name] = Keyspace(stmt.name, repl or {}, durable is not False)
        return self._changed("CREATED", "KEYSPACE", stmt.name,
                             warnings=self._rf_warnings(stmt.name, repl or {}))

    def _create_table(self, stmt: ast.CreateTable, keyspace: str | None) -> Result:
        ks_name = stmt.table.keyspace or keyspace
        ks = self._schema_ks(ks_name, f"Keyspace '{ks_name}' doesn't exist")
        name = stmt.table.name
        if name in ks.tables:
            if stmt.if_not_exists:
                return Void()
            raise AlreadyExists(f'Cannot add already existing table "{name}" to keyspace '
                                f'"{ks.name}"', keyspace=ks.name, table=name)
        self._check_user_ks(ks)
        # CreateTableStatement.Raw of 4.0: the name as written, checks in parse order
        shown = f"{stmt.table.keyspace}.{name}" if stmt.table.keyspace else name
        defs: dict[str, ast.ColumnDefAst] = {}
        for c in stmt.columns:
            if c.name in defs:
                raise InvalidRequest(f"Duplicate column '{c.name}' declaration for table "
                                     f"'{shown}'")
            defs[c.name] = c
        if stmt.multiple_pk:
            raise InvalidRequest(f"Multiple PRIMARY KEY specified for table '{shown}' (exactly "
                                 "one required)")
        seen_order: set[str] = set()
        for cname, _d in stmt.clustering_order:
            if cname in seen_order:
                raise InvalidRequest(f"Duplicate column '{cname}' in CLUSTERING ORDER BY clause "
                                     f"for table '{shown}'")
            seen_order.add(cname)
        if not stmt.partition_key:
            raise InvalidRequest(f"No PRIMARY KEY specifed for table '{shown}' (exactly one "
                                 "required)")
        if not _NAME_RE.fullmatch(name):
            raise ConfigurationException("Table name must not be empty, more than 48 characters "
                                         "long, or contain non-alphanumeric-underscore characters "
                                         f'(got "{name}")')
        key_seen: set[str] = set()
        for n in list(stmt.partition_key) + list(stmt.clustering):
            if n not in defs:
                raise InvalidRequest(f"Unknown column '{n}' referenced in PRIMARY KEY for table "
                                     f"'{name}'")
            if n in key_seen:
                raise InvalidRequest(f"Duplicate column '{n}' in PRIMARY KEY clause for table "
                                     f"'{name}'")
            key_seen.add(n)
        order = dict(stmt.clustering_order)
        if len(stmt.clustering_order) > len(stmt.clustering):
            raise InvalidRequest("Only clustering columns can be defined in CLUSTERING ORDER "
                                 "directive")
        for i, (cname, _d) in enumerate(stmt.clustering_order):
            expected = stmt.clustering[i]
            if cname != expected:
                if expected in order:
                    raise InvalidRequest("The order of columns in the CLUSTERING ORDER directive "
                                         "must match that of the clustering columns "
                                         f"({expected} must appear before {cname})")
                raise InvalidRequest(f"Missing CLUSTERING ORDER for column {expected}")
        columns: dict[str, Column] = {}
        pk: list[Column] = []
        ck: list[Column] = []
        has_counter = False
        for cdef in stmt.columns:
            t = resolve_type(cdef.type, ks)
            _check_nested_multicell(t)
            if cdef.name in stmt.partition_key or cdef.name in stmt.clustering:
                if t.multicell:
                    raise InvalidRequest(f"Invalid non-frozen collection type {t.cql_name} for "
                                         f"PRIMARY KEY column '{cdef.name}'" if t.is_collection
                                         else f"Invalid non-frozen user-defined type "
                                         f"{t.cql_name} for PRIMARY KEY column '{cdef.name}'")
                if t.is_counter:
                    raise InvalidRequest(f"counter type is not supported for PRIMARY KEY column "
                                         f"'{cdef.name}'")
                if t.name == "duration":
                    raise InvalidRequest(f"duration type is not supported for PRIMARY KEY column "
                                         f"'{cdef.name}'")
                if cdef.static:
                    raise InvalidRequest(f"Static column '{cdef.name}' cannot be part of the "
                                         "PRIMARY KEY")
            if cdef.name in stmt.partition_key:
                col = Column(cdef.name, t, "partition_key", stmt.partition_key.index(cdef.name))
                pk.append(col)
            elif cdef.name in stmt.clustering:
                col = Column(cdef.name, t, "clustering", stmt.clustering.index(cdef.name),
                             order.get(cdef.name, "asc"))
                ck.append(col)
            else:
                if cdef.static and not stmt.clustering and not stmt.compact_storage:
                    raise InvalidRequest("Static columns are only useful (and thus allowed) if "
                                         "the table has at least one clustering column")
                col = Column(cdef.name, t, "static" if cdef.static else "regular")
                has_counter = has_counter or t.is_counter
            columns[cdef.name] = col
        pk.sort(key=lambda c: c.position)
        ck.sort(key=lambda c: c.position)
        if has_counter and any(c.kind in ("regular", "static") and not c.type.is_counter
                               for c in columns.values()):
            raise InvalidRequest("Cannot mix counter and non counter columns in the same table")
        if has_counter and int(stmt.options.get("default_time_to_live", 0) or 0) > 0:
            raise InvalidRequest("Cannot set default_time_to_live on a table with counters")
        options = dict(DEFAULT_TABLE_OPTIONS)
        options.update(self._table_options(stmt.options))
        if "bloom_filter_fp_chance" not in stmt.options and options["compaction"]["class"] \
                .endswith(".LeveledCompactionStrategy"):
            options["bloom_filter_fp_chance"] = 0.1
        self._validate_table_options(options)
        tid = uuid.uuid3(uuid.NAMESPACE_OID, f"greencql/{ks.name}.{name}/{self.schema.generation}")
        if "id" in stmt.options:
            tid = uuid.UUID(str(stmt.options["id"]))
            options.pop("id", None)
        if stmt.compact_storage:
            others = [c for c in columns.values() if c.kind in ("regular", "static")]
            if any(c.type.multicell for c in others):
                raise InvalidRequest("Non-frozen collections and UDTs are not supported with "
                                     "COMPACT STORAGE")
            if any(c.kind == "static" for c in others):
                raise InvalidRequest("Static columns are not supported in COMPACT STORAGE tables")
            if ck and len(others) > 1:
                raise InvalidRequest("COMPACT STORAGE with composite PRIMARY KEY allows no more "
                                     "than one column not part of the PRIMARY KEY (got: "
                                     f"{', '.join(sorted(c.name for c in others))})")
            if not ck and not others:
                raise InvalidRequest("No definition found that is not part of the PRIMARY KEY")
            flags: tuple[str, ...] = (("dense",) + (("compound",) if len(ck) > 1 else ())
                                      if ck else ())
        else:
            flags = ("compound",)
        if has_counter:
            flags = (*flags, "counter")
        table = Table(ks.name, name, columns, pk, ck, tid, options, flags=flags,
                      compact=stmt.compact_storage)
        table.data = TableData()
        ks.tables[name] = table
        return self._changed("CREATED", "TABLE", ks.name, name)

    def _table_options(self, opts: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in opts.items():
            if k not in _TABLE_OPTION_NAMES:
                raise SyntaxException(f"Unknown property '{k}'")
            default = DEFAULT_TABLE_OPTIONS.get(k)
            if k == "cdc":
                out[k] = None  # CDC is disabled on the node: 4.0 stores null
            elif isinstance(default, bool):
                out[k] = v if isinstance(v, bool) else str(v).lower() == "true"
            elif isinstance(default, int):
                try:
                    out[k] = int(v)
                except (TypeError, ValueError):
                    raise SyntaxException(f"Invalid integer value {v} for '{k}'") from None
            elif isinstance(default, float):
                try:
                    out[k] = float(v)
                except (TypeError, ValueError):
                    raise SyntaxException(f"Invalid double value {v} for '{k}'") from None
            elif isinstance(default, dict):
                if not isinstance(v, dict):
                    raise SyntaxException(f"Invalid value for property '{k}': expected a map")
                out[k] = self._map_option(k, v)
            elif k in ("speculative_retry", "additional_write_policy"):
                out[k] = _retry_policy(k, str(v))
            elif k == "read_repair":
                if str(v).upper() not in ("BLOCKING", "NONE"):
                    raise ConfigurationException(f"Invalid read repair strategy: {v}")
                out[k] = str(v).upper()
            else:
                out[k] = str(v)
        return out

    @staticmethod
    def _map_option(k: str, v: dict[str, Any]) -> dict[str, str]:
        m = {str(a): str(b) for a, b in v.items()}
        if k == "compaction":
            if "class" not in m:
                raise ConfigurationException("Missing sub-option 'class' for the 'compaction' "
                                             "option.")
            short = m["class"].rsplit(".", 1)[-1]
            known = short in _COMPACTION_CLASSES and (
                "." not in m["class"]
                or m["class"] == "org.apache.cassandra.db.compaction." + short)
            if not known:
                raise ConfigurationException(f"Unable to find compaction strategy class "
                                             f"'{m['class']}'")
            m["class"] = "org.apache.cassandra.db.compaction." + short
            if short in ("SizeTieredCompactionStrategy", "LeveledCompactionStrategy",
                         "TimeWindowCompactionStrategy", "DateTieredCompactionStrategy"):
                m = {"max_threshold": "32", "min_threshold": "4", **m}
        if k == "compression" and "class" in m:
            short = m["class"].rsplit(".", 1)[-1]
            if short not in _COMPRESSORS:
                full = m["class"] if "." in m["class"] else \
                    "org.apache.cassandra.io.compress." + m["class"]
                raise ConfigurationException(f"Could not create Compression for type {full}")
            m["class"] = "org.apache.cassandra.io.compress." + short
            if "chunk_length_kb" in m:
                m["chunk_length_in_kb"] = m.pop("chunk_length_kb")
            m.setdefault("chunk_length_in_kb", "16")
        if k == "compression" and m.get("enabled", "true").lower() == "false":
            m = {"enabled": "false"}
        return dict(sorted(m.items()))

    @staticmethod
    def _validate_table_options(o: dict[str, Any]) -> None:
        """TableParams.validate of 4.0 (ConfigurationException)."""
        def fail(msg: str) -> None:
            raise ConfigurationException(msg)

        bf = o["bloom_filter_fp_chance"]
        if bf <= 6.71e-05 or bf > 1.0:
            fail(f"bloom_filter_fp_chance must be larger than 6.71E-5 and less than or equal to "
                 f"1.0 (got {bf})")
        crc = o["crc_check_chance"]
        if crc < 0 or crc > 1.0:
            fail(f"crc_check_chance must be larger than or equal to 0 and smaller than or equal "
                 f"to 1.0 (got {crc})")
        ttl = o["default_time_to_live"]
        if ttl < 0:
            fail(f"default_time_to_live must be greater than or equal to 0 (got {ttl})")
        if ttl > _MAX_TTL:
            fail(f"default_time_to_live must be less than or equal to {_MAX_TTL} (got {ttl})")
        for name in ("gc_grace_seconds", "memtable_flush_period_in_ms"):
            if o[name] < 0:
                fail(f"{name} must be greater than or equal to 0 (got {o[name]})")
        if o["min_index_interval"] < 1:
            fail(f"min_index_interval must be greater than or equal to 1 (got "
                 f"{o['min_index_interval']})")
        if o["max_index_interval"] < o["min_index_interval"]:
            fail(f"max_index_interval must be greater than or equal to min_index_interval "
                 f"({o['min_index_interval']}) (got {o['max_index_interval']})")

    def _alter_table(self, stmt: ast.AlterTable, keyspace: str | None) -> Result:
        ks_name = stmt.table.keyspace or keyspace
        ks = self._schema_ks(ks_name, f"Table '{ks_name}.{stmt.table.name}' doesn't exist")
        table = ks.tables.get(stmt.table.name)
        if table is None:
            if stmt.if_exists:
                return Void()
            raise InvalidRequest(f"Table '{ks.name}.{stmt.table.name}' doesn't exist")
        self._check_user_ks(ks)
        if stmt.action == "refused":
            raise InvalidRequest(stmt.names[0])
        if stmt.action == "add":
            for cdef in stmt.columns:
                if cdef.name in table.columns:
                    raise InvalidRequest(f"Column with name '{cdef.name}' already exists")
                if table.compact:
                    raise InvalidRequest("Cannot add new column to a COMPACT STORAGE table")
                t = resolve_type(cdef.type, ks)
                _check_nested_multicell(t)
                if cdef.static and not table.clustering:
                    raise InvalidRequest("Static columns are only useful (and thus allowed) if "
                                         "the table has at least one clustering column")
                for d in getattr(table, "dropped", []):
                    if d["column_name"] != cdef.name:
                        continue
                    kind = "static" if cdef.static else "regular"
                    if d["kind"] != kind:
                        raise InvalidRequest(f"Cannot re-add previously dropped column "
                                             f"'{cdef.name}' of kind {kind}, incompatible with "
                                             f"previous kind {d['kind']}")
                    if not _value_compatible(t.cql_name, d["type"]):
                        raise InvalidRequest(f"Cannot re-add previously dropped column "
                                             f"'{cdef.name}' of type {_plain_type(t.cql_name)}, "
                                             f"incompatible with previous type "
                                             f"{_plain_type(d['type'])}")
                if table.is_counter and not t.is_counter:
                    raise ConfigurationException(f'Cannot have a non counter column ("{cdef.name}")'
                                                 " in a counter table")
                if t.is_counter and not table.is_counter:
                    raise ConfigurationException(f'Cannot have a counter column ("{cdef.name}") in '
                                                 "a non counter table")
                table.columns[cdef.name] = Column(cdef.name, t,
                                                  "static" if cdef.static else "regular")
        elif stmt.action == "drop":
            for n in stmt.names:
                col = table.columns.get(n)
                shown = f"{_quoted_name(table.keyspace)}.{_quoted_name(table.name)}"
                if col is None:
                    raise InvalidRequest(f"Column {n} was not found in table '{shown}'")
                if col.kind in ("partition_key", "clustering"):
                    raise InvalidRequest(f"Cannot drop PRIMARY KEY column {n}")
                if col.type.name == "udt" and col.type.multicell:
                    raise InvalidRequest(f"Cannot drop non-frozen column {n} of user type "
                                         f"{col.type.cql_name}")
                dependent = sorted(ix.name for ix in table.indexes.values() if ix.column == n)
                if dependent:
                    raise InvalidRequest(f"Cannot drop column {n} because it has dependent "
                                         f"secondary indexes ({', '.join(dependent)})")
                del table.columns[n]
                for part in table.data.partitions.values():
                    part.static.cells.pop(n, None)
                    for r in part.rows.values():
                        r.cells.pop(n, None)
                import datetime

                dropped = getattr(table, "dropped", [])
                dropped.append({"keyspace_name": ks.name, "table_name": table.name,
                                "column_name": n,
                                "dropped_time": datetime.datetime(1970, 1, 1,
                                                                  tzinfo=datetime.timezone.utc),
                                "kind": col.kind, "type": col.type.cql_name})
                table.dropped = dropped  # type: ignore[attr-defined]
        elif stmt.action == "with":
            if "id" in stmt.options:
                raise InvalidRequest("Cannot alter table id.")
            options = dict(table.options)
            options.update(self._table_options(stmt.options))
            self._validate_table_options(options)
            if table.is_counter and int(options.get("default_time_to_live") or 0) > 0:
                raise InvalidRequest("Cannot set default_time_to_live on a table with counters")
            table.options = options
        else:
            pairs = list(zip(stmt.names[0::2], stmt.names[1::2], strict=True))
            for old, new in pairs:
                col = table.columns.get(old)
                if col is None:
                    raise InvalidRequest(f"Column {old} was not found in table "
                                         f"{_quoted_name(table.keyspace)}."
                                         f"{_quoted_name(table.name)}")
                if col.kind not in ("partition_key", "clustering"):
                    raise InvalidRequest(f"Cannot rename non PRIMARY KEY column {old}")
                if new in table.columns:
                    raise InvalidRequest(f"Cannot rename column {old} to {new} in table "
                                         f"'{_quoted_name(table.keyspace)}."
                                         f"{_quoted_name(table.name)}'; another column with "
                                         "that name already exists")
                col.name = new
                table.columns = {(new if k == old else k): v for k, v in table.columns.items()}
        table.invalidate()
        return self._changed("UPDATED", "TABLE", ks.name, table.name)

    @staticmethod
    def _index_name(ks: Keyspace, table: str, column: str) -> str:
        """IndexMetadata.generateDefaultIndexName + findAvailableIndexName."""
        base = re.sub(r"\W", "", f"{table}_{column}_idx")
        taken = {n for t in ks.tables.values() for n in t.indexes}
        name, i = base, 1
        while name in taken:
            name = f"{base}_{i}"
            i += 1
        return name

    @staticmethod
    def _check_index_target(table: Table, col: Column, kind: str) -> None:
        """CreateIndexStatement.validateIndexTarget of 4.0."""
        t = col.type
        if _references(t, "duration"):
            if t.is_collection:
                raise InvalidRequest("Secondary indexes are not supported on collections "
                                     "containing durations")
            if t.name == "tuple":
                raise InvalidRequest("Secondary indexes are not supported on tuples containing "
                                     "durations")
            if t.name == "udt":
                raise InvalidRequest("Secondary indexes are not supported on UDTs containing "
                                     "durations")
            raise InvalidRequest("Secondary indexes are not supported on duration columns")
        if col.kind == "partition_key" and len(table.partition_key) == 1:
            raise InvalidRequest(f"Cannot create secondary index on the only partition key "
                                 f"column {col.name}")
        frozen_coll = t.is_collection and t.frozen
        shown = "values" if kind == "values" else kind
        if frozen_coll and kind != "full":
            raise InvalidRequest(f"Cannot create {shown}() index on frozen column {col.name}. "
                                 "Frozen collections are immutable and must be fully indexed by "
                                 f"using the 'full({col.name})' modifier")
        if not frozen_coll and kind == "full":
            raise InvalidRequest("full() indexes can only be created on frozen collections")
        if not t.is_collection and kind not in ("values", "full") :
            raise InvalidRequest(f"Cannot create {shown}() index on {col.name}. Non-collection "
                                 "columns only support simple indexes")
        if not (t.name == "map" and t.multicell) and kind in ("keys", "entries"):
            raise InvalidRequest(f"Cannot create index on {kind} of column {col.name} with "
                                 "non-map type")
        if t.name == "udt" and t.multicell:
            raise InvalidRequest(f"Cannot create index on non-frozen UDT column {col.name}")

    def _create_index(self, stmt: ast.CreateIndex, keyspace: str | None) -> Result:
        ks_name = stmt.table.keyspace or keyspace
        ks = self._schema_ks(ks_name, f"Keyspace '{ks_name}' doesn't exist")
        table = ks.tables.get(stmt.table.name)
        if table is None:
            raise InvalidRequest(f"Table '{stmt.table.name}' doesn't exist")
        self._check_user_ks(ks)
        if stmt.custom_class == "org.apache.cassandra.index.sasi.SASIIndex":
            raise InvalidRequest("SASI indexes are disabled. Enable in cassandra.yaml to use.")
        if stmt.name is not None and any(stmt.name in t.indexes for t in ks.tables.values()):
            if stmt.if_not_exists:
                return Void()
            raise InvalidRequest(f"Index '{stmt.name}' already exists")
        if stmt.name is not None and not _NAME_RE.fullmatch(stmt.name):
            raise ConfigurationException("Index name must not be empty, or contain "
                                         "non-alphanumeric-underscore characters (got "
                                         f'"{stmt.name}")')
        if table.is_counter:
            raise InvalidRequest("Secondary indexes on counter tables aren't supported")
        col = table.columns.get(stmt.target)
        if col is None:
            raise InvalidRequest(f"Undefined column name {stmt.target} in table "
                                 f"{table.qualified}")
        self._check_index_target(table, col, stmt.target_kind)
        name = stmt.name or self._index_name(ks, table.name, col.name)
        qname = _quoted_name(col.name)
        target = qname if stmt.target_kind == "values" and not col.type.multicell \
            else f"{stmt.target_kind}({qname})"
        for ix in table.indexes.values():
            if ix.target == target and (ix.kind == "CUSTOM") == bool(stmt.custom_class):
                if stmt.if_not_exists:
                    return Void()
                raise InvalidRequest(f"Index {name} is a duplicate of existing index {ix.name}")
        options = {"target": target}
        kind = "COMPOSITES"
        if stmt.custom_class:
            kind = "CUSTOM"
            options = {"class_name": stmt.custom_class, "target": target}
        table.indexes[name] = Index(name, table.name, target, col.name, kind, options)
        return self._changed("UPDATED", "TABLE", ks.name, table.name)


_INTEGERS = ("int", "bigint", "smallint", "tinyint", "varint")


def _retry_policy(option: str, text: str) -> str:
    """SpeculativeRetryPolicy.fromString/toString of 4.0: '99PERCENTILE' -> '99p',
    '10MS' -> '10ms', NONE -> NEVER, ALWAYS."""
    t = text.strip()
    up = t.upper()
    if up in ("NONE", "NEVER"):
        return "NEVER"
    if up == "ALWAYS":
        return "ALWAYS"
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(P|PERCENTILE)", up)
    if m:
        pct = float(m.group(1))
        if 0 <= pct <= 100:
            return (f"{pct:.4f}".rstrip("0").rstrip(".")) + "p"
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*MS", up)
    if m:
        return f"{int(float(m.group(1)))}ms"
    m = re.fullmatch(r"(MIN|MAX)\((.+),(.+)\)", up.replace(" ", ""))
    if m:
        a = _retry_policy(option, m.group(2))
        b = _retry_policy(option, m.group(3))
        return f"{m.group(1)}({a},{b})"
    raise ConfigurationException(f"Invalid value {text} for option '{option}'")


def _plain_type(cql_name: str) -> str:
    """A type as asCQL3Type prints it (tuples are not wrapped in frozen<>)."""
    if cql_name.startswith("frozen<tuple<"):
        return cql_name[len("frozen<"):-1]
    return cql_name


def _value_compatible(new: str, old: str) -> bool:
    """AbstractType.isValueCompatibleWith for re-adding a dropped column: the new type can
    read every value written with the old one."""
    if new == old or new == "blob":
        return True
    if new == "text" and old == "ascii":
        return True
    if new == "varint" and old in _INTEGERS:
        return True
    return new == "timestamp" and old == "bigint"


def _quoted_name(name: str) -> str:
    """ColumnIdentifier.toCQLString: case-sensitive or unusual names are double-quoted."""
    if re.fullmatch(r"[a-z][a-z0-9_]*", name):
        return name
    return '"' + name.replace('"', '""') + '"'


def _total_rf(repl: dict[str, str]) -> int:
    total = 0
    for k, v in repl.items():
        if k != "class":
            try:
                total += int(str(v).split("/")[0])
            except ValueError:
                pass
    return total


def _check_nested_multicell(t: Any) -> None:
    if t.name == "udt" and t.multicell and any(p.multicell for p in t.params):
        raise InvalidRequest("Non-frozen UDTs with nested non-frozen collections are not "
                             "supported")


def _references(t: Any, native_name: str) -> bool:
    return t.name == native_name or any(_references(p, native_name) for p in t.params)


def _retype(t: Any, ut: UserType) -> Any:
    """``t`` with every use of the user type ``ut`` replaced by its current definition."""
    from greencql.testing.schema import ColType, _frozen

    if t.name == "udt" and t.udt_name == ut.name:
        new = ColType("udt", tuple(ut.field_types), False, ut.keyspace, ut.name,
                      tuple(ut.field_names))
        return _frozen(new) if t.frozen else new
    if not t.params:
        return t
    return ColType(t.name, tuple(_retype(p, ut) for p in t.params), t.frozen, t.udt_keyspace,
                   t.udt_name, t.field_names, dimension=t.dimension)


def _refresh_values(table: Table) -> None:
    """Re-make stored single-cell values of altered types (a UDT value gets its new field
    names, and null for the new fields)."""
    from greencql.testing.engine.storage import Cell

    cols = [c for c in table.columns.values() if not c.type.multicell]
    for part in table.data.partitions.values():
        for row in [part.static, *part.rows.values()]:
            for c in cols:
                cell = row.cells.get(c.name)
                if isinstance(cell, Cell) and cell.value is not None:
                    cell.value = _convert(cell.value, c.type)
                    cell.raw = None


def _convert(v: Any, t: Any) -> Any:
    if v is None:
        return None
    n = t.name
    if n == "udt":
        vals = list(v) if isinstance(v, tuple) else [getattr(v, f, None)
                                                    for f in t.field_names]
        vals = vals + [None] * (len(t.params) - len(vals))
        return t.proto.value_class(*[_convert(x, p) for x, p in zip(vals, t.params,
                                                                    strict=False)])
    if n in ("list", "vector"):
        return [_convert(x, t.params[0]) for x in v]
    if n == "set":
        return type(v)(_convert(x, t.params[0]) for x in v)
    if n == "map":
        return type(v)((_convert(a, t.params[0]), _convert(b, t.params[1]))
                       for a, b in v.items())
    if n == "tuple":
        return tuple(_convert(x, p) for x, p in zip(v, t.params, strict=False))
    return v


def _uses_type(t: Any, name: str) -> bool:
    if t.name == "udt" and t.udt_name == name:
        return True
    return any(_uses_type(p, name) for p in t.params)

