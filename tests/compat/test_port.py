"""The whole claim: an application written against cassandra-driver runs on greencql after the
sed of docs/migrating.md, with the same values and exceptions.

``APP`` is such an application, written for cassandra-driver (its imports, its idioms: profiles,
``session.row_factory = dict_factory``, prepared and simple statements, batches, LWTs, paging
by iteration and by callbacks, ``execute_concurrent_with_args``, ``util`` helpers, error
classes from ``cassandra`` and ``cassandra.protocol``). It returns what it saw, as plain
reprs. The test ports it with the documented sed and runs it on greencql against the simulated
node; in the thread-hub process it also runs unported on cassandra-driver against the same
node, and both results must be equal.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import threading

import pytest
from compat_fixtures import *  # noqa: F403 (the fixtures)
from conftest import TEST_HUB, import_cassandra_cluster

APP = '''
import datetime
import threading

from cassandra import ConsistencyLevel, InvalidRequest, ProtocolVersion
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, NoHostAvailable
from cassandra.concurrent import execute_concurrent_with_args
from cassandra.policies import DCAwareRoundRobinPolicy, RetryPolicy, TokenAwarePolicy
from cassandra.protocol import SyntaxException
from cassandra.query import BatchStatement, SimpleStatement, dict_factory, named_tuple_factory
from cassandra.util import Date, SortedSet, max_uuid_from_time, min_uuid_from_time, uuid_from_time


def run(contact_points, port, keyspace, done_event):
    out = []
    profile = ExecutionProfile(
        load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()),
        retry_policy=RetryPolicy(),
        consistency_level=ConsistencyLevel.LOCAL_ONE,
        row_factory=named_tuple_factory,
        request_timeout=10,
    )
    cluster = Cluster(contact_points, port=port, protocol_version=ProtocolVersion.V4,
                      execution_profiles={EXEC_PROFILE_DEFAULT: profile})
    session = cluster.connect(keyspace)
    try:
        session.execute(
            "CREATE TABLE IF NOT EXISTS events (day date, at timeuuid, who text, tags set<text>, "
            "attrs map<text, int>, seen timestamp, ip inet, PRIMARY KEY (day, at))")
        insert = session.prepare(
            "INSERT INTO events (day, at, who, tags, attrs, seen, ip) VALUES (?, ?, ?, ?, ?, ?, ?)")
        insert.consistency_level = ConsistencyLevel.ONE
        base = datetime.datetime(2024, 3, 1, 12, 0, 0)
        day = Date(datetime.date(2024, 3, 1))
        params = [(day, uuid_from_time(base + datetime.timedelta(seconds=i), node=1, clock_seq=i),
                   "user%d" % i, {"b", "a"} if i % 2 else set(), {"n": i},
                   base + datetime.timedelta(seconds=i), "10.0.0.%d" % i) for i in range(12)]
        results = execute_concurrent_with_args(session, insert, params, concurrency=4)
        out.append(("concurrent", [ok for ok, _ in results]))

        batch = BatchStatement(consistency_level=ConsistencyLevel.ONE)
        batch.add(SimpleStatement("UPDATE events SET who = %s WHERE day = %s AND at = %s"),
                  ("renamed", day, params[0][1]))
        session.execute(batch)

        rows = list(session.execute(SimpleStatement(
            "SELECT * FROM events WHERE day = %s", fetch_size=5), (day,)))
        out.append(("count", len(rows)))
        first = rows[0]
        out.append(("first", first.who, first.seen == base, type(first.seen).__name__,
                    first.ip, type(first.ip).__name__, first.day == day, str(first.day),
                    first.attrs == {"n": 0}, first.tags))
        out.append(("sorted set", rows[1].tags == SortedSet(["a", "b"]), list(rows[1].tags)))
        window = session.execute(
            "SELECT who FROM events WHERE day = %s AND at > %s AND at < %s",
            (day, min_uuid_from_time(base + datetime.timedelta(seconds=2)),
             max_uuid_from_time(base + datetime.timedelta(seconds=4))))
        out.append(("window", [r.who for r in window]))

        session.row_factory = named_tuple_factory  # allowed? (profiles given: no)
    except ValueError as exc:
        out.append(("legacy refused", str(exc)))
    try:
        plain = Cluster(contact_points, port=port)
        s2 = plain.connect(keyspace)
        s2.row_factory = dict_factory
        s2.default_fetch_size = 4
        out.append(("dict rows", s2.execute(
            "SELECT who, attrs FROM events WHERE day = %s LIMIT 2", (day,)).all()))
        applied = s2.execute("INSERT INTO events (day, at, who) VALUES (%s, %s, %s) IF NOT EXISTS",
                             (day, params[1][1], "again"))
        out.append(("lwt", applied.was_applied))
        pages = []

        def on_page(page_rows, future):
            pages.append(len(page_rows))
            if future.has_more_pages:
                future.start_fetching_next_page()
            else:
                done_event.set()

        future = s2.execute_async(SimpleStatement("SELECT who FROM events WHERE day = %s",
                                                  fetch_size=5), (day,))
        future.add_callback(on_page, future)
        done_event.wait(10)
        out.append(("pages", pages))
        try:
            s2.execute("SELEC nonsense")
        except SyntaxException as exc:
            out.append(("syntax", type(exc).__name__))
        try:
            s2.execute("SELECT * FROM no_such_table")
        except InvalidRequest as exc:
            out.append(("invalid", type(exc).__name__))
        traced = s2.execute("SELECT who FROM events LIMIT 1").response_future
        out.append(("trace", traced.get_query_trace()))
        plain.shutdown()
    finally:
        cluster.shutdown()
    try:
        Cluster([], port=port).connect()
    except NoHostAvailable as exc:
        out.append(("no hosts", exc.args[0], exc.errors))
    return out
'''


def _sed_command() -> str:
    doc = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "migrating.md").read_text()
    command = re.search(r"## The port in one command\n\n```\n(.*?)```", doc, re.S).group(1)
    return command.replace("\\\n", " ").replace("$(git ls-files '*.py')", "").strip()


def _normalised(out: list) -> list:
    """The NoHostAvailable message up to its first colon (greencql says why after it)."""
    return [(o[0], o[1].split(":")[0], *o[2:]) if o[0] == "no hosts" else o for o in out]


def _run(source: str, sim, event) -> list:
    namespace: dict = {}
    exec(compile(source, "app.py", "exec"), namespace)
    return namespace["run"](sim.contact_points, sim.port, "compat", event)


@pytest.mark.skipif(shutil.which("sed") is None, reason="needs sed")
def test_a_cassandra_driver_application_runs_ported(sim, session, hub, tmp_path):
    path = tmp_path / "app.py"
    path.write_text(APP)
    subprocess.run(f"{_sed_command()} {path}", shell=True, check=True, timeout=30)
    ported = path.read_text()
    assert "from cassandra" not in ported and "from greencql.cluster import" in ported
    session.execute("DROP TABLE IF EXISTS events")
    ours = _run(ported, sim, hub.event())
    assert ours[0] == ("concurrent", [True] * 12)
    assert ("count", 12) in ours
    first = next(o for o in ours if o[0] == "first")
    assert first == ("first", "renamed", True, "datetime", "10.0.0.0", "str", True,
                     "2024-03-01", True, None)
    assert ("sorted set", True, ["a", "b"]) in ours
    window = next(o for o in ours if o[0] == "window")[1]
    assert window and set(window) <= {"user2", "user3", "user4"}  # the server compares
    assert ("lwt", False) in ours and ("pages", [5, 5, 2]) in ours
    assert ("syntax", "SyntaxException") in ours and ("invalid", "InvalidRequest") in ours
    assert ("trace", None) in ours
    assert ("no hosts", "Unable to connect to any servers", {}) in _normalised(ours)
    if TEST_HUB != "thread":
        return
    import_cassandra_cluster()
    session.execute("DROP TABLE IF EXISTS events")
    theirs = _run(APP, sim, threading.Event())
    assert _normalised(ours) == theirs
