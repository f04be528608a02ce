"""greencql.locust: the cql:// parser, request names, what CQLUser reports to locust, and the
load test end to end (loadtests/run.py as a subprocess, the short CI version).

locust monkey-patches gevent when imported, so this file runs in the gevent test process
only. The reporting tests use a real locust Environment (and a local runner where the
failure table or the user loop matters) against the simulated cluster, in this process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import TEST_HUB

if TEST_HUB != "gevent":
    pytest.skip("locust runs its users on gevent: these tests run in the gevent process",
                allow_module_level=True)

from locust import constant, task
from locust.env import Environment
from locust.event import Events
from locust.exception import StopTest

from greencql import ConsistencyLevel, InvalidRequest, OperationTimedOut
from greencql.locust import (
    CQLFailure,
    CQLUrl,
    CQLUrlError,
    CQLUser,
    parse_cql_url,
    shutdown_clusters,
    statement_name,
)

ROOT = Path(__file__).resolve().parents[2]

# -- the cql:// address ------------------------------------------------------------------------


def test_a_full_url():
    url = parse_cql_url("cql://app:s%40cret@10.0.0.1,10.0.0.2:9142/shop"
                        "?local_dc=dc1&consistency=local_quorum&timeout=2.5"
                        "&connect_timeout=3&protocol_version=4")
    assert url == CQLUrl(hosts=("10.0.0.1", "10.0.0.2"), port=9142, keyspace="shop",
                         local_dc="dc1", consistency=ConsistencyLevel.LOCAL_QUORUM,
                         timeout=2.5, connect_timeout=3.0, protocol_version=4,
                         username="app", password="s@cret")
    assert "s@cret" not in repr(url)
    options = url.cluster_options()
    assert options["port"] == 9142
    assert options["default_consistency_level"] is ConsistencyLevel.LOCAL_QUORUM
    assert options["default_timeout"] == 2.5 and options["protocol_version"] == 4
    assert type(options["load_balancing_policy"]).__name__ == "TokenAwarePolicy"
    assert type(options["auth_provider"]).__name__ == "PlainTextAuthProvider"


def test_defaults_and_per_host_ports():
    assert parse_cql_url("cql://db") == CQLUrl(hosts=("db",))
    assert parse_cql_url("CQL://a:9043,b:9043/") == CQLUrl(hosts=("a", "b"), port=9043)
    url = parse_cql_url("cql://[::1]:9044,[fe80::2]/ks_1")
    assert (url.hosts, url.port, url.keyspace) == (("::1", "fe80::2"), 9044, "ks_1")
    assert url.cluster_options() == {"port": 9044}


@pytest.mark.parametrize("url, reason", [
    ("", "no CQL address"),
    ("http://127.0.0.1:9042", "starts with cql://"),
    ("127.0.0.1:9042", "starts with cql://"),
    ("cql://", "no host"),
    ("cql:///ks", "no host"),
    ("cql://a,,b", "empty host"),
    ("cql://a:9042,b:9043", "same port"),
    ("cql://a:99999", "port '99999'"),
    ("cql://a:x", "port 'x'"),
    ("cql://[::1", "unclosed"),
    ("cql://a b", "not a host"),
    ("cql://a/my-keyspace", "not a keyspace"),
    ("cql://a/ks?consistency=MOST", "consistency 'MOST'"),
    ("cql://a/ks?timeout=0", "positive number"),
    ("cql://a/ks?timeout=soon", "positive number"),
    ("cql://a/ks?protocol_version=2", "3, 4 or 5"),
    ("cql://a/ks?local_dc=dc1&local_dc=dc2", "given twice"),
    ("cql://a/ks?datacenter=dc1", "unknown option 'datacenter'"),
    ("cql://a/ks?local_dc=", "has no value"),
    ("cql://a/ks#x", "fragment"),
    ("cql://:pw@a", "empty user"),
])
def test_bad_urls_say_why(url, reason):
    with pytest.raises(CQLUrlError, match=reason.replace("(", r"\(")):
        parse_cql_url(url)


@pytest.mark.parametrize("query, name", [
    ("SELECT * FROM ks.t WHERE id = ?", "SELECT * FROM ks.t"),
    ("select a, b,\n  c from t where x=1", "select a, b, c from t"),
    ("INSERT INTO ks.t (a, b) VALUES (?, ?)", "INSERT INTO ks.t"),
    ("UPDATE ks.likes SET n = n + 1 WHERE id = ?", "UPDATE ks.likes"),
    ("DELETE FROM t WHERE id = 1", "DELETE FROM t"),
    ("CREATE TABLE IF NOT EXISTS ks.t (a int PRIMARY KEY)", "CREATE TABLE IF NOT EXISTS ks.t"),
    ("BEGIN BATCH INSERT INTO t (a) VALUES (1) APPLY BATCH", "BEGIN BATCH INSERT INTO t"),
    ("TRUNCATE t", "TRUNCATE t"),
    ("   ", "(empty statement)"),
    ("SELECT " + "x, " * 40 + "y FROM t", "SELECT x, x, x,"),  # no table early: 4 words
    ("SELECT * FROM " + "k" * 80, "SELECT * FROM " + "k" * 45 + "\u2026"),  # at most 60
])
def test_default_request_names(query, name):
    assert statement_name(query) == name


# -- reporting through locust's request event ----------------------------------------------------


@pytest.fixture
def make_user(sim_cluster):
    """make_user(options="?consistency=ONE") -> (environment, user, reported events)."""
    made = []

    def make(options: str = "?consistency=ONE", host: str | None = None):
        class SimUser(CQLUser):
            wait_time = constant(0)

            @task
            def nothing(self) -> None:
                pass

        points = ",".join(sim_cluster.contact_points)
        SimUser.host = host or f"cql://{points}:{sim_cluster.port}/{options}"
        env = Environment(user_classes=[SimUser], events=Events())
        env.create_local_runner()
        reported: list[dict] = []
        env.events.request.add_listener(lambda **kw: reported.append(kw))
        made.append(env)
        return env, SimUser(env), reported

    yield make
    for env in made:
        env.runner.quit()
    shutdown_clusters()


def _endpoints(sim) -> set[str]:
    return {f"{address}:{port}" for address, port in sim.endpoints}


def test_a_request_is_reported_with_its_host_rows_and_consistency(make_user, sim_cluster):
    env, user, reported = make_user("?consistency=LOCAL_QUORUM")
    user.on_start()
    result = user.cql.execute("SELECT peer FROM system.peers")
    assert len(result.current_rows) == 2
    [event] = reported
    assert event["request_type"] == "CQL"
    assert event["name"] == "SELECT peer FROM system.peers"
    assert event["response_length"] == 2
    assert event["exception"] is None
    assert isinstance(event["response_time"], float) and event["response_time"] > 0
    assert event["context"]["host"] in _endpoints(sim_cluster)
    assert event["context"]["consistency"] == "LOCAL_QUORUM"
    assert event["context"]["attempts"] == 1
    assert env.stats.get("SELECT peer FROM system.peers", "CQL").num_requests == 1


def test_names_prepare_cache_and_async(make_user):
    env, user, reported = make_user()
    first = user.cql.prepare("SELECT * FROM system.local WHERE key = ?", name="local row")
    again = user.cql.prepare("SELECT * FROM system.local WHERE key = ?")
    assert first is again  # cached per process: prepared (and reported) once
    assert [e["name"] for e in reported] == ["prepare local row"]
    user.cql.execute(first, ("local",))
    user.cql.execute("SELECT key FROM system.local", name="mine")
    future = user.cql.execute_async(first, ("local",))
    assert future.result(10).one().key == "local"
    assert [e["name"] for e in reported[1:]] == ["local row", "mine", "local row"]
    assert all(e["exception"] is None and e["response_length"] == 1 for e in reported[1:])
    # another user of the same process shares the Cluster and the cache
    other = type(user)(env)
    assert other.cql.prepare("SELECT * FROM system.local WHERE key = ?") is first
    assert other.cql.session is user.cql.session


def test_server_errors_are_reported_typed_and_never_raised(make_user):
    env, user, reported = make_user()
    for _ in range(3):
        result = user.cql.execute("SELECT * FROM no_such_keyspace.t")
        assert isinstance(result, CQLFailure) and not result
        assert result.one() is None and list(result) == [] and not result.was_applied
        assert isinstance(result.exception, InvalidRequest)
    assert all(isinstance(e["exception"], InvalidRequest) for e in reported)
    # the original is the cause of what locust got
    assert reported[0]["exception"].__cause__ is not None
    [row] = env.stats.errors.values()  # one row of the failure table for the three
    assert row.occurrences == 3
    assert "InvalidRequest(" in row.to_name()
    failing_prepare = user.cql.prepare("SELECT * FROM no_such_keyspace.t WHERE a = ?",
                                       name="doomed")
    assert isinstance(failing_prepare, CQLFailure)
    assert isinstance(user.cql.execute(failing_prepare, (1,)), CQLFailure)
    assert [e["name"] for e in reported[-2:]] == ["prepare doomed", "doomed"]
    assert all(isinstance(e["exception"], InvalidRequest) for e in reported[-2:])


def test_client_timeouts_are_one_row_of_the_failure_table(make_user, sim_cluster):
    env, user, reported = make_user("?consistency=ONE&timeout=0.2")
    user.on_start()
    for node in sim_cluster.nodes:
        node.prime("FROM system.local WHERE key = 'slow'", drop=True)
    for _ in range(3):
        result = user.cql.execute("SELECT * FROM system.local WHERE key = 'slow'")
        assert isinstance(result.exception, OperationTimedOut)
    async_result = user.cql.execute_async("SELECT * FROM system.local WHERE key = 'slow'")
    assert isinstance(async_result.result(10), CQLFailure)
    assert len(reported) == 4
    assert all(isinstance(e["exception"], OperationTimedOut) for e in reported)
    assert all(e["context"]["host"] is not None for e in reported)
    [row] = env.stats.errors.values()
    assert row.occurrences == 4
    assert row.to_name().endswith("OperationTimedOut('client timeout after 0.2 s')")


def test_server_timeouts_are_one_row_per_type_and_consistency(make_user, sim_cluster):
    from greencql import ReadTimeout, Unavailable

    env, user, reported = make_user("?consistency=QUORUM")
    user.on_start()
    sim_cluster.prime("FROM system.local WHERE key = 'rt'", error=ReadTimeout)
    sim_cluster.prime("FROM system.local WHERE key = 'un'", error=Unavailable)
    for i in range(4):
        key = "rt" if i % 2 else "un"
        assert isinstance(user.cql.execute(f"SELECT * FROM system.local WHERE key = '{key}'",
                                           name="primed"), CQLFailure)
    kinds = sorted(type(e["exception"]).__name__ for e in reported)
    assert kinds == ["ReadTimeout", "ReadTimeout", "Unavailable", "Unavailable"]
    rows = sorted((row.to_name(), row.occurrences) for row in env.stats.errors.values())
    assert len(rows) == 2 and all(n == 2 for _, n in rows)
    assert "CQL primed: ReadTimeout(" in rows[0][0] and "at QUORUM" in rows[0][0]
    assert "CQL primed: Unavailable(" in rows[1][0]


def test_a_bad_host_stops_the_test_with_the_reason():
    class BadHostUser(CQLUser):
        host = "http://127.0.0.1:9042"

        @task
        def nothing(self) -> None:
            pass

    env = Environment(user_classes=[BadHostUser], events=Events())
    with pytest.raises(StopTest, match=r"bad --host.*starts with cql://"):
        BadHostUser(env)  # as locust's spawner creates it: StopTest ends the test
    assert env.process_exit_code == 2


def test_an_unreachable_cluster_is_reported_not_raised(make_user):
    # a port nobody listens on: connection refused at once
    _env, user, reported = make_user(host="cql://127.0.0.1:1/?connect_timeout=1")
    user.on_start()
    assert [e["name"] for e in reported] == ["connect"]
    assert reported[0]["exception"] is not None
    assert isinstance(user.cql.execute("SELECT * FROM system.local"), CQLFailure)
    assert len(reported) == 2


def test_the_user_loop_survives_failures_and_test_stop_shuts_the_cluster(sim_cluster):
    points = ",".join(sim_cluster.contact_points)
    enough = threading.Event()
    counts = {"ok": 0, "failed": 0}

    class MixedUser(CQLUser):
        host = f"cql://{points}:{sim_cluster.port}/"
        wait_time = constant(0.001)

        @task
        def good_and_bad(self) -> None:
            self.cql.execute("SELECT key FROM system.local")
            self.cql.execute("SELECT * FROM no_such_keyspace.t")

    def on_request(exception=None, **_kw):
        counts["failed" if exception else "ok"] += 1
        if counts["ok"] >= 100 and counts["failed"] >= 100:
            enough.set()

    env = Environment(user_classes=[MixedUser], events=Events())
    runner = env.create_local_runner()
    env.events.request.add_listener(on_request)
    try:
        runner.start(10, spawn_rate=100)
        assert enough.wait(30), counts
        users = [greenlet.args[0] for greenlet in runner.user_greenlets]
        assert len(users) == 10 and all(not g.dead for g in runner.user_greenlets)
        cluster = users[0].cql.session.cluster
        assert all(u.cql.session.cluster is cluster for u in users)  # one per process
        assert not cluster.is_shutdown
    finally:
        runner.quit()  # fires test_stop
    assert cluster.is_shutdown
    assert not env.runner.exceptions  # no task raised


def test_the_readme_workload_runs(make_user, sim_cluster):
    readme = (ROOT / "loadtests" / "README.md").read_text()
    [code] = re.findall(r"```python\n(.*?)```", readme, re.S)
    namespace: dict = {"__name__": "readme_locustfile"}
    exec(compile(code, "loadtests/README.md", "exec"), namespace)
    reader_class = namespace["Reader"]
    env, _user, reported = make_user()  # for its host, environment and clean-up
    reader_class.host = _user.host
    reader = reader_class(env)
    reader.on_start()
    reader.read_local()
    assert [e["name"] for e in reported] == ["prepare local", "local"]
    assert all(e["exception"] is None for e in reported)


# -- loadtests/run.py's own logic ----------------------------------------------------------------


@pytest.fixture(scope="module")
def run_py():
    import importlib.util

    spec = importlib.util.spec_from_file_location("loadtests_run", ROOT / "loadtests" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_run_time_like_locust(run_py):
    assert [run_py.run_time_seconds(t) for t in ("90", "10s", "5m", "1h30m", "2h")] == \
        [90, 10, 300, 5400, 7200]
    for bad in ("", "10x", "m", "1.5s"):
        with pytest.raises(ValueError, match="--run-time"):
            run_py.run_time_seconds(bad)


def test_percentiles_of_locusts_histogram(run_py):
    histogram = {1.0: 98, 5.0: 1, 50.0: 1}
    assert run_py.percentile(histogram, 0.50) == 1.0
    assert run_py.percentile(histogram, 0.99) == 5.0
    assert run_py.percentile(histogram, 0.999) == 50.0
    assert run_py.percentile({}, 0.99) == 0.0


def test_the_verdict_names_every_problem(run_py):
    def summary(requests, failures, p99):
        total = run_py.Row("total", "", requests, failures, 1.0, 1.0, p99, p99)
        return run_py.Summary(total, [], [])

    assert run_py.verdict(summary(100, 0, 10.0), 0, 50.0) == []
    problems = run_py.verdict(summary(100, 3, 80.0), 1, 50.0)
    assert problems == ["3 requests failed", "p99 80 ms is above the bound of 50 ms",
                        "locust exited with code 1"]
    assert run_py.verdict(summary(0, 0, 0.0), 0, 50.0) == ["no request was made"]


def test_cql_files_are_split_into_statements(run_py):
    text = """-- a comment; with a semicolon
    CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy'};
    /* two
       lines; */
    CREATE TABLE k.t (a int PRIMARY KEY,  // why
        b counter);
    """
    assert run_py.cql_statements(text) == [
        "CREATE KEYSPACE k WITH replication = {'class': 'SimpleStrategy'}",
        "CREATE TABLE k.t (a int PRIMARY KEY, b counter)",
    ]


# -- end to end: the short load test of CI -------------------------------------------------------


def _loadtest(out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("GREENCQL_TEST_HUB", None)
    return subprocess.run(
        [sys.executable, str(ROOT / "loadtests" / "run.py"), "--out", str(out), *args],
        capture_output=True, text=True, timeout=150, env=env, cwd=str(ROOT))


def _totals(out: Path, workload: str) -> dict:
    assert (out / "report.html").stat().st_size > 0
    assert (out / f"{workload}_stats.csv").exists()
    entries = json.loads((out / f"{workload}.json").read_text())
    return {"names": {e["name"] for e in entries},
            "requests": sum(e["num_requests"] for e in entries),
            "failures": sum(e["num_failures"] for e in entries)}


def _run_loadtest(tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / "report"
    proc = _loadtest(out, "--users", "50", "--spawn-rate", "50", *extra)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "LOADTEST PASSED" in proc.stdout
    totals = _totals(out, "cql")
    assert {"read timeline", "post", "register (LWT)", "like (counter)"} <= totals["names"]
    return totals


def test_the_short_load_test_passes(tmp_path):
    totals = _run_loadtest(tmp_path, "--run-time", "10s")
    assert totals["requests"] > 0
    assert totals["failures"] == 0


def test_the_load_test_with_two_processes(tmp_path):
    totals = _run_loadtest(tmp_path, "--run-time", "5s", "--processes", "2")
    assert totals["requests"] > 0
    assert totals["failures"] == 0


def test_the_http_workload_runs_or_says_why_not(tmp_path):
    out = tmp_path / "report"
    proc = _loadtest(out, "--workload", "http", "--users", "10", "--spawn-rate", "10",
                     "--run-time", "5s")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if "loadtest http: SKIPPED: " in proc.stdout:
        pytest.skip(proc.stdout.split("SKIPPED: ", 1)[1].strip())
    assert "LOADTEST PASSED" in proc.stdout
    totals = _totals(out, "http")
    assert totals["requests"] > 0 and totals["failures"] == 0


def test_master_and_worker_processes(tmp_path):
    """locust's distributed mode, as across machines: a master that creates the schema and a
    worker (its own process, its own Cluster) that runs the users."""
    import socket

    from greencql.testing import SimCluster

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ)
    env.pop("GREENCQL_TEST_HUB", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    locustfile = str(ROOT / "loadtests" / "locustfile_cql.py")
    with SimCluster.spawn_process(3, port=0, env=env) as sim:
        host = f"cql://{','.join(sim.contact_points)}:{sim.port}/distributed"
        master = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", locustfile, "--master", "--headless",
             "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
             "--expect-workers", "1", "-u", "20", "-r", "20", "-t", "5s", "--host", host,
             "--json-file", str(tmp_path / "stats"), "--only-summary"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        worker = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", locustfile, "--worker",
             "--master-host", "127.0.0.1", "--master-port", str(port)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            master_out, _ = master.communicate(timeout=90)
            worker_out, _ = worker.communicate(timeout=30)
        finally:
            for process in (master, worker):
                if process.poll() is None:
                    process.kill()
                    process.communicate(timeout=10)
    assert master.returncode == 0, master_out[-3000:]
    assert worker.returncode == 0, worker_out[-3000:]
    entries = json.loads((tmp_path / "stats.json").read_text())
    assert sum(e["num_requests"] for e in entries) > 0
    assert sum(e["num_failures"] for e in entries) == 0
    assert {"read timeline", "post"} <= {e["name"] for e in entries}
