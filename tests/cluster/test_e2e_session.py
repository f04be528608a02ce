"""Cluster + Session end to end against a simulated 3-node cluster, over real sockets.

One module-scoped SimCluster and session serve every test here: none of them changes the
topology (primes and latencies are undone by each test). Topology-changing tests live in
test_e2e_topology.py.
"""

from __future__ import annotations

import datetime
import decimal
import ipaddress
import uuid

import pytest

from greencql import (
    UNSET_VALUE,
    BatchStatement,
    BatchType,
    Cluster,
    ConsistencyLevel,
    ConstantSpeculativeExecutionPolicy,
    ExecutionProfile,
    InvalidRequest,
    NoHostAvailable,
    OperationTimedOut,
    ReadTimeout,
    RequestThrottled,
    RequestThrottler,
    SimpleStatement,
    SyntaxException,
    TraceUnavailable,
    Unavailable,
    WriteTimeout,
    dict_factory,
    execute_concurrent_with_args,
    tuple_factory,
)
from greencql.cluster.policies import RoundRobinPolicy
from greencql.testing.cluster import SimCluster

KS = "e2e"


@pytest.fixture(scope="module")
def sim(hub):
    with SimCluster(3, port=0, hub=hub) as s:
        yield s


@pytest.fixture(scope="module")
def cluster(sim):
    c = Cluster(sim.contact_points[:1], port=sim.port, hub=sim.hub)
    yield c
    c.shutdown()


@pytest.fixture(scope="module")
def session(cluster):
    s = cluster.connect()
    s.execute(
        f"CREATE KEYSPACE {KS} WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 2}"
    )
    s.execute(f"CREATE TABLE {KS}.kv (k int PRIMARY KEY, v text)")
    s.set_keyspace(KS)
    yield s
    s.shutdown()


@pytest.fixture(autouse=True)
def _clean_faults(sim):
    yield
    sim.reset_faults()
    sim.clear_primes()


# -- the basics ---------------------------------------------------------------------------


def test_connect_negotiates_and_discovers(cluster, session, sim):
    assert cluster.protocol_version == 5
    hosts = cluster.metadata.all_hosts()
    assert sorted(h.address for h in hosts) == sorted(sim.contact_points)
    assert all(h.is_up for h in hosts)
    assert cluster.metadata.token_map is not None
    assert session.keyspace == KS
    row = session.execute("SELECT cluster_name FROM system.local").one()
    assert row.cluster_name == "greencql"


def test_ddl_updates_metadata_and_agreement(session, cluster):
    future = session.execute_async("CREATE TABLE ddl_t (a int, b int, c text, "
                                   "PRIMARY KEY (a, b))")
    future.result()
    assert future.is_schema_agreed
    table = cluster.metadata.keyspaces[KS].tables["ddl_t"]
    assert [c.name for c in table.partition_key] == ["a"]
    assert "CREATE TABLE e2e.ddl_t" in table.export_as_string()
    session.execute("ALTER TABLE ddl_t ADD d int")
    assert "d" in cluster.metadata.keyspaces[KS].tables["ddl_t"].columns
    session.execute("DROP TABLE ddl_t")
    assert "ddl_t" not in cluster.metadata.keyspaces[KS].tables


_TYPES = [
    ("a_ascii", "ascii", "hello"),
    ("a_bigint", "bigint", -(2**62)),
    ("a_blob", "blob", b"\x00\x01\xff"),
    ("a_boolean", "boolean", True),
    ("a_date", "date", datetime.date(2024, 2, 29)),
    ("a_decimal", "decimal", decimal.Decimal("-12.3456")),
    ("a_double", "double", 1.5e300),
    ("a_float", "float", 2.5),
    ("a_inet", "inet", ipaddress.ip_address("10.1.2.3")),
    ("a_int", "int", -7),
    ("a_smallint", "smallint", 300),
    ("a_text", "text", "héllo ✓ 'quoted'"),
    ("a_time", "time", datetime.time(13, 14, 15, 123000)),
    ("a_timestamp", "timestamp", datetime.datetime(2020, 1, 2, 3, 4, 5, 678000)),
    ("a_timeuuid", "timeuuid", uuid.UUID("d2177dd0-eaa2-11de-a572-001b779c76e3")),
    ("a_tinyint", "tinyint", -5),
    ("a_uuid", "uuid", uuid.UUID("12345678-1234-5678-1234-567812345678")),
    ("a_varchar", "varchar", "v"),
    ("a_varint", "varint", 2**80),
    ("a_list", "list<int>", [1, 2, 3]),
    ("a_set", "set<text>", {"a", "b"}),
    ("a_map", "map<text, int>", {"x": 1, "y": 2}),
    ("a_tuple", "tuple<int, text>", (1, "one")),
    ("a_frozen", "frozen<list<frozen<map<int, text>>>>", [{1: "a"}, {2: "b"}]),
]


def _normalise(value):
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return str(value)  # the default value types give inet as str, as cassandra-driver
    if isinstance(value, (set, frozenset)):
        return set(value)
    if isinstance(value, dict) or hasattr(value, "items"):
        return dict(value.items())
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if hasattr(value, "date") and callable(value.date) and not isinstance(
        value, datetime.datetime
    ):
        return value.date()
    if hasattr(value, "time") and callable(value.time) and not isinstance(
        value, datetime.datetime
    ):
        return value.time()
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


def test_every_type_round_trips_prepared_and_simple(session):
    cols = ", ".join(f"{n} {t}" for n, t, _ in _TYPES)
    session.execute(f"CREATE TABLE IF NOT EXISTS types_t (k int PRIMARY KEY, {cols})")
    names = [n for n, _, _ in _TYPES]
    values = [v for _, _, v in _TYPES]
    insert = f"INSERT INTO types_t (k, {', '.join(names)}) VALUES "
    ps = session.prepare(insert + "(" + ", ".join(["?"] * (len(names) + 1)) + ")")
    session.execute(ps, [1, *values])
    session.execute(insert + "(" + ", ".join(["%s"] * (len(names) + 1)) + ")", [2, *values])
    select = session.prepare("SELECT * FROM types_t WHERE k = ?")
    for k in (1, 2):
        for row in (session.execute(select, [k]).one(),
                    session.execute("SELECT * FROM types_t WHERE k = %s", [k]).one()):
            for name, _t, value in _TYPES:
                assert _normalise(getattr(row, name)) == _normalise(value), name


def test_unset_and_null(session):
    ps = session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
    session.execute(ps, (50, "keep"))
    session.execute(ps, (50, UNSET_VALUE))
    assert session.execute("SELECT v FROM kv WHERE k = 50").one().v == "keep"
    session.execute(ps, {"k": 50, "v": None})
    assert session.execute("SELECT v FROM kv WHERE k = 50").one().v is None


def test_prepare_is_cached_and_prepared_everywhere(session, sim):
    sim.clear_logs()
    ps1 = session.prepare("SELECT v FROM kv WHERE k = ?")
    ps2 = session.prepare("SELECT v FROM kv WHERE k = ?")
    assert ps1 is ps2
    prepared_on = {r.node for r in sim.records(kind="PREPARE")}
    assert len(prepared_on) == 3


def test_named_markers_and_dict_rows(session):
    ps = session.prepare("INSERT INTO kv (k, v) VALUES (:k, :v)")
    session.execute(ps, {"v": "named", "k": 51})
    profile = session.execution_profile_clone_update("default" if False else _default(session),
                                                     row_factory=dict_factory)
    row = session.execute("SELECT k, v FROM kv WHERE k = %(k)s", {"k": 51},
                          execution_profile=profile).one()
    assert row == {"k": 51, "v": "named"}
    profile = _default(session).replace(row_factory=tuple_factory)
    assert session.execute("SELECT k, v FROM kv WHERE k = 51",
                           execution_profile=profile).one() == (51, "named")


def _default(session):
    from greencql import EXEC_PROFILE_DEFAULT

    return session.get_execution_profile(EXEC_PROFILE_DEFAULT)


def test_token_aware_routing_hits_replicas(session, sim):
    ps = session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
    sim.clear_logs()
    for i in range(300):
        session.execute(ps, (i, "r"))
    records = sim.records(kind="EXECUTE")
    assert len(records) == 300
    on_replica = sum(1 for r in records if r.is_replica)
    assert on_replica / len(records) >= 0.99


def test_execute_async_callbacks_and_concurrent(session, hub):
    ps = session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
    results = execute_concurrent_with_args(session, ps, [(1000 + i, "c") for i in range(50)])
    assert all(ok for ok, _ in results)
    done = hub.event()
    seen = []
    future = session.execute_async("SELECT v FROM kv WHERE k = 1001")
    future.add_callbacks(lambda rows: (seen.append(rows[0].v), done.set()),
                         lambda exc: (seen.append(exc), done.set()))
    assert done.wait(5)
    assert seen == ["c"]
    errors = []
    bad = session.execute_async("SELECT nope FROM kv")
    bad.add_errback(lambda exc: (errors.append(exc), done.set()))
    with pytest.raises(InvalidRequest):
        bad.result()
    assert isinstance(errors[0], InvalidRequest)


def test_server_errors_are_typed(session):
    with pytest.raises(SyntaxException):
        session.execute("SELEKT * FROM kv")
    with pytest.raises(InvalidRequest):
        session.execute("SELECT * FROM no_such_table")


# -- paging -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paged_rows(session):
    session.execute("CREATE TABLE paged (p int, c int, v int, PRIMARY KEY (p, c))")
    ps = session.prepare("INSERT INTO paged (p, c, v) VALUES (0, ?, ?)")
    n = 10_000
    for start in range(0, n, 250):
        batch = BatchStatement(BatchType.UNLOGGED)
        for c in range(start, start + 250):
            batch.add(ps, (c, c * 2))
        session.execute(batch)
    return n


def test_paging_iterates_lazily_across_pages(session, paged_rows, sim):
    sim.clear_logs()
    stmt = SimpleStatement("SELECT c, v FROM paged WHERE p = 0", fetch_size=1000)
    rs = session.execute(stmt)
    assert rs.has_more_pages and len(rs.current_rows) == 1000
    rows = list(rs)
    assert len(rows) == paged_rows
    assert [r.c for r in rows] == list(range(paged_rows))
    assert len(sim.records(kind="QUERY", predicate=lambda r: "FROM paged" in r.query)) == 10


def test_paging_state_resumes(session, paged_rows):
    ps = session.prepare("SELECT c FROM paged WHERE p = 0")
    ps.fetch_size = 3000
    first = session.execute(ps)
    state = first.paging_state
    assert state is not None and len(first.current_rows) == 3000
    seen = [r.c for r in first.current_rows]
    while state is not None:
        rs = session.execute(ps, paging_state=state)
        seen += [r.c for r in rs.current_rows]
        state = rs.paging_state
    assert seen == list(range(paged_rows))


def test_default_fetch_size_is_5000(session, paged_rows):
    rs = session.execute("SELECT c FROM paged WHERE p = 0")
    assert len(rs.current_rows) == 5000
    assert len(rs.all()) == paged_rows


# -- batches and LWT ------------------------------------------------------------------------


def test_batches_logged_unlogged_counter(session):
    session.execute("CREATE TABLE IF NOT EXISTS counters (k int PRIMARY KEY, n counter)")
    ps = session.prepare("INSERT INTO kv (k, v) VALUES (?, ?)")
    logged = BatchStatement()
    logged.add(ps, (200, "a"))
    logged.add("INSERT INTO kv (k, v) VALUES (%s, %s)", (201, "b"))
    logged.add(SimpleStatement("INSERT INTO kv (k, v) VALUES (202, 'c')"))
    session.execute(logged)
    unlogged = BatchStatement(BatchType.UNLOGGED)
    unlogged.add(ps.bind((203, "d")))
    session.execute(unlogged)
    counter = BatchStatement(BatchType.COUNTER)
    counter.add("UPDATE counters SET n = n + 5 WHERE k = 1")
    counter.add("UPDATE counters SET n = n + 2 WHERE k = 1")
    session.execute(counter)
    rows = session.execute("SELECT k, v FROM kv WHERE k IN (200, 201, 202, 203)").all()
    assert sorted((r.k, r.v) for r in rows) == [(200, "a"), (201, "b"), (202, "c"), (203, "d")]
    assert session.execute("SELECT n FROM counters WHERE k = 1").one().n == 7


def test_lwt_was_applied(session):
    stmt = SimpleStatement("INSERT INTO kv (k, v) VALUES (300, 'x') IF NOT EXISTS",
                           serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL)
    assert session.execute(stmt).was_applied is True
    rs = session.execute(stmt)
    assert rs.was_applied is False
    assert rs.one().v == "x"
    rs = session.execute("UPDATE kv SET v = 'y' WHERE k = 300 IF v = 'x'")
    assert rs.was_applied is True


def test_client_timestamps_are_sent(session, sim):
    sim.clear_logs()
    session.execute("INSERT INTO kv (k, v) VALUES (400, 'ts')")
    session.execute(SimpleStatement("INSERT INTO kv (k, v) VALUES (401, 'ts')",
                                    timestamp=1234567))
    recs = sim.records(kind="QUERY", predicate=lambda r: "VALUES (40" in r.query)
    assert recs[0].timestamp is not None and recs[0].timestamp > 1_600_000_000_000_000
    assert recs[1].timestamp == 1234567


def test_consistency_levels_per_statement_and_profile(session, sim):
    sim.clear_logs()
    session.execute(SimpleStatement("SELECT * FROM kv WHERE k = 1",
                                    consistency_level=ConsistencyLevel.QUORUM))
    session.execute("SELECT * FROM kv WHERE k = 2")
    recs = sim.records(kind="QUERY", predicate=lambda r: "FROM kv WHERE k =" in r.query)
    assert [r.consistency for r in recs] == [ConsistencyLevel.QUORUM, ConsistencyLevel.LOCAL_ONE]


# -- retries, timeouts, speculation, throttling ---------------------------------------------


def test_unavailable_retries_next_host_once(session, sim):
    sim.prime("FROM kv WHERE k = 7", error=Unavailable)
    sim.clear_logs()
    with pytest.raises(Unavailable):
        session.execute(SimpleStatement("SELECT * FROM kv WHERE k = 7"))
    recs = sim.records(kind="QUERY", predicate=lambda r: "k = 7" in r.query)
    assert len(recs) == 2
    assert recs[0].node != recs[1].node


def test_read_timeout_retried_on_same_host(session, sim):
    error = ReadTimeout("primed", consistency=1, received_responses=1, required_responses=1,
                        data_retrieved=False)
    prime = sim.prime("FROM kv WHERE k = 8", error=error, times=1)
    sim.clear_logs()
    session.execute("SELECT * FROM kv WHERE k = 8")
    assert prime.hits == 1
    recs = sim.records(kind="QUERY", predicate=lambda r: "k = 8" in r.query)
    assert len(recs) == 2 and recs[0].node == recs[1].node
    # data retrieved: the default policy does not retry
    sim.prime("FROM kv WHERE k = 9", error=ReadTimeout("primed", consistency=1,
              received_responses=1, required_responses=1, data_retrieved=True))
    with pytest.raises(ReadTimeout):
        session.execute("SELECT * FROM kv WHERE k = 9")


def test_write_timeout_is_not_retried_unless_batch_log(session, sim):
    sim.prime("VALUES (500", error=WriteTimeout("primed", consistency=1, received_responses=0,
                                                  required_responses=1, write_type="SIMPLE"))
    sim.clear_logs()
    with pytest.raises(WriteTimeout):
        session.execute("INSERT INTO kv (k, v) VALUES (500, 'w')")
    assert len(sim.records(kind="QUERY", predicate=lambda r: "(500" in r.query)) == 1
    sim.prime("VALUES (501", error=WriteTimeout("primed", consistency=1, received_responses=0,
              required_responses=1, write_type="BATCH_LOG"), times=1)
    # the policy says RETRY; the idempotence rule lets only idempotent statements re-send
    session.execute(SimpleStatement("INSERT INTO kv (k, v) VALUES (501, 'w')",
                                    is_idempotent=True))
    recs = sim.records(kind="QUERY", predicate=lambda r: "(501" in r.query)
    assert len(recs) == 2 and recs[0].node == recs[1].node


def test_client_timeout_is_bounded_and_names_the_host(session, sim, hub):
    sim.prime("k = 600", drop=True)
    start = hub.monotonic()
    with pytest.raises(OperationTimedOut) as info:
        session.execute("SELECT * FROM kv WHERE k = 600", timeout=0.3)
    assert hub.monotonic() - start < 3
    assert "127.0.0." in str(info.value) and "timeout=0.3" in str(info.value)
    assert info.value.host is not None


def test_overloaded_moves_to_next_host(session, sim):
    from greencql.errors import Overloaded

    sim.prime("k = 601", error=Overloaded, times=1)
    sim.clear_logs()
    session.execute(SimpleStatement("SELECT * FROM kv WHERE k = 601", is_idempotent=True))
    recs = sim.records(kind="QUERY", predicate=lambda r: "k = 601" in r.query)
    assert len(recs) == 2 and recs[0].node != recs[1].node


def test_all_hosts_failing_gives_no_host_available(session, sim):
    from greencql.errors import Overloaded

    sim.prime("k = 602", error=Overloaded)
    with pytest.raises(NoHostAvailable) as info:
        session.execute(SimpleStatement("SELECT * FROM kv WHERE k = 602", is_idempotent=True))
    assert str(info.value).startswith("All 3 hosts tried failed; last: ")
    assert "Overloaded" in str(info.value)
    assert len(info.value.errors) == 3


def test_speculative_execution_for_idempotent_statements(cluster, session, sim):
    profile = ExecutionProfile(
        load_balancing_policy=RoundRobinPolicy(),
        speculative_execution_policy=ConstantSpeculativeExecutionPolicy(0.05, 2),
        request_timeout=5,
    )
    cluster.add_execution_profile("speculative", profile)
    sim.prime("k = 700", delay=1.0, times=1)
    sim.clear_logs()
    stmt = SimpleStatement("SELECT * FROM kv WHERE k = 700", is_idempotent=True)
    future = session.execute_async(stmt, execution_profile="speculative")
    future.result()
    assert len({r.node for r in sim.records(predicate=lambda r: "k = 700" in (r.query or ""))}
               ) >= 2
    # not idempotent: never speculated
    sim.prime("k = 701", delay=0.3, times=1)
    sim.clear_logs()
    session.execute("SELECT * FROM kv WHERE k = 701", execution_profile="speculative")
    assert len(sim.records(predicate=lambda r: "k = 701" in (r.query or ""))) == 1


def test_throttler_queues_then_refuses(sim, hub):
    throttler = RequestThrottler(max_concurrent_requests=2, max_queue_size=2, max_wait=0.2)
    with Cluster(sim.contact_points[:1], port=sim.port, hub=hub,
                 request_throttler=throttler) as c:
        s = c.connect(KS)
        sim.prime("k = 800", delay=0.5)
        futures = [s.execute_async("SELECT * FROM kv WHERE k = 800") for _ in range(5)]
        outcomes = []
        for f in futures:
            try:
                f.result()
                outcomes.append("ok")
            except RequestThrottled as exc:
                outcomes.append(exc.reason)
        assert outcomes[:2] == ["ok", "ok"]
        assert outcomes[2:4] == ["timed out", "timed out"]
        assert outcomes[4] == "queue full"
        sim.clear_primes()
        assert s.execute("SELECT * FROM kv WHERE k = 1") is not None


# -- tracing, errors of connecting ----------------------------------------------------------


def test_tracing_is_bounded(session, sim):
    sim_records_before = len(sim.records(kind="QUERY"))
    future = session.execute_async("SELECT * FROM kv WHERE k = 1", trace=True)
    future.result()
    assert len(sim.records(kind="QUERY")) > sim_records_before
    try:
        trace = future.get_query_trace(max_wait=0.3)
    except TraceUnavailable as exc:
        # the simulator may keep no traces: a clear error, after a bounded wait
        assert "trace" in str(exc)
    else:
        assert trace.trace_id == future.get_query_trace_ids()[0]
    plain = session.execute_async("SELECT * FROM kv WHERE k = 1")
    plain.result()
    assert plain.get_query_trace() is None  # not traced: None, as cassandra-driver


def test_unreachable_contact_points(hub):
    with Cluster(["127.0.0.1"], port=1, hub=hub, connect_timeout=1) as c:
        with pytest.raises(NoHostAvailable) as info:
            c.connect()
    text = str(info.value)
    assert text.startswith("Unable to connect to any servers: 127.0.0.1:1 refused the connection")
    assert list(info.value.errors) and "127.0.0.1" in str(next(iter(info.value.errors)))


def test_unresolvable_contact_point(hub, sim):
    with Cluster(["no-such-host.invalid"], port=sim.port, hub=hub) as c:
        with pytest.raises(NoHostAvailable) as info:
            c.connect()
    assert "no-such-host.invalid" in str(info.value)


def test_cluster_validation():
    with pytest.raises(ValueError):
        Cluster([None])  # an empty list is accepted, as cassandra-driver (tests/compat)
    with pytest.raises(ValueError):
        Cluster(protocol_version=2)
    with pytest.raises(ValueError):
        Cluster(compression="zstd")
    with pytest.raises(ValueError):
        from greencql import EXEC_PROFILE_DEFAULT

        Cluster(execution_profiles={EXEC_PROFILE_DEFAULT: ExecutionProfile()},
                default_timeout=3)
    c = Cluster()
    assert c.hub is None  # detected at connect(), never before


# -- v5 specifics ---------------------------------------------------------------------------


def test_result_metadata_change_is_followed(session, sim):
    session.execute("CREATE TABLE IF NOT EXISTS evolving (k int PRIMARY KEY, a int)")
    session.execute("INSERT INTO evolving (k, a) VALUES (1, 10)")
    ps = session.prepare("SELECT * FROM evolving WHERE k = ?")
    old_id = ps.result_metadata_id
    assert [c.name for c in ps.result_metadata.columns] == ["k", "a"]
    session.execute("ALTER TABLE evolving ADD b text")
    session.execute("UPDATE evolving SET b = 'new' WHERE k = 1")
    row = session.execute(ps, (1,)).one()
    assert (row.k, row.a, row.b) == (1, 10, "new")
    assert ps.result_metadata_id != old_id
    assert [c.name for c in ps.result_metadata.columns] == ["k", "a", "b"]
    assert session.execute(ps, (1,)).one().b == "new"


def test_per_statement_keyspace(session, sim):
    sim.clear_logs()
    stmt = SimpleStatement("SELECT release_version FROM local", keyspace="system")
    assert session.execute(stmt).one().release_version
    rec = sim.records(kind="QUERY", predicate=lambda r: r.query.endswith("FROM local"))[0]
    assert rec.keyspace == "system"


def test_serial_consistency_sent(session, sim):
    sim.clear_logs()
    stmt = SimpleStatement("UPDATE kv SET v = 'z' WHERE k = 300 IF v = 'y'",
                           serial_consistency_level=ConsistencyLevel.SERIAL)
    session.execute(stmt)
    rec = sim.records(kind="QUERY", predicate=lambda r: "IF v = 'y'" in r.query)[0]
    assert rec.serial_consistency == ConsistencyLevel.SERIAL


def test_udt_and_duration_round_trip(session):
    import collections

    from greencql.protocol.types import Duration

    session.execute("CREATE TYPE IF NOT EXISTS address (street text, number int)")
    session.execute("CREATE TABLE IF NOT EXISTS rich (k int PRIMARY KEY, a frozen<address>, "
                    "d duration)")
    Address = collections.namedtuple("Address", "street number")
    value = Address("Main", 5)
    duration = Duration(1, 2, 3_000_000_000)
    ps = session.prepare("INSERT INTO rich (k, a, d) VALUES (?, ?, ?)")
    session.execute(ps, (1, value, duration))
    session.execute("INSERT INTO rich (k, a, d) VALUES (%s, %s, %s)", (2, value, duration))
    select = session.prepare("SELECT a, d FROM rich WHERE k = ?")
    for k in (1, 2):
        row = session.execute(select, (k,)).one()
        assert (row.a.street, row.a.number) == ("Main", 5)
        assert row.d == duration


def test_connect_to_missing_keyspace_is_the_callers_error(sim, hub):
    """A wrong keyspace is InvalidRequest, as from the server; no host is marked down."""
    with Cluster(sim.contact_points, port=sim.port, hub=hub, connect_timeout=2) as c:
        with pytest.raises(InvalidRequest, match="Keyspace 'no_such_keyspace' does not exist"):
            c.connect("no_such_keyspace")
        assert not [h for h in c.metadata.all_hosts() if h.is_up is False]
        session = c.connect()
        with pytest.raises(InvalidRequest, match="no_such_keyspace"):
            session.set_keyspace("no_such_keyspace")
        assert not [h for h in c.metadata.all_hosts() if h.is_up is False]
        assert session.execute("SELECT release_version FROM system.local").one()
