"""The example app under gunicorn with real worker processes (``--preload -w 2``), against a
simulated cluster in a process of its own (tests/flask/simctl.py).

Proved for each worker class:

- with ``--preload`` the master imports the app and neither it nor the idle workers open any
  connection before the first request, and the master never holds one;
- N >= 500 concurrent HTTP requests (>= 50 in flight) all succeed with the right body;
- each worker has its own connections: >= 2 worker pids, no connection (node address, client
  port) reported by two of them, every one of them seen by the simulator;
- no OS thread beyond the main one in a worker (``/proc/<pid>/task``);
- ``--max-requests`` recycling and ``kill -HUP``: requests keep succeeding, and the
  connections of the workers that left are closed (the simulator sees them close); gunicorn's
  eventlet worker may reset a request that reaches a worker as it shuts down (also without
  greencql; benoitc/gunicorn#511, #718): the eventlet run has no ``--max-requests`` and its
  HUP test allows such resets, nothing else;
- a node stopped during a run: idempotent GETs keep succeeding;
- a warm-up in the master (it connects before forking; gevent worker): each worker makes its
  own Cluster, leaves the inherited one alone, and the master's connections stay open.

Each runs with the documented configuration file (contrib/flask/example/gunicorn.conf.py,
gunicorn-eventlet.conf.py) plus the test's overrides (bind, max_requests). Worker classes:
``gevent`` with the installed gunicorn (27); ``eventlet`` with gunicorn 25.3.0,
the last release that ships the eventlet worker (removed in 26), installed apart with
``pip install --no-deps --target .venv/gunicorn-eventlet gunicorn==25.3.0`` (the directory can
be moved with GREENCQL_TEST_GUNICORN_EVENTLET); without it, the eventlet case is skipped.

These tests spawn their own processes, so they run in one pytest process only: the gevent one.
Every wait is bounded; nothing polls with sleeps (log lines and answers are read as they come).
"""

from __future__ import annotations

# isort: off
from flask_helpers import CONTRIB, EXAMPLE, ROOT, SCHEMA, sim_config  # first: sys.path

import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import TEST_HUB
# isort: on

pytestmark = pytest.mark.skipif(
    TEST_HUB != "gevent",
    reason="spawns gunicorn and simulator processes: runs in the gevent test process only")

GUNICORN_EVENTLET = os.environ.get("GREENCQL_TEST_GUNICORN_EVENTLET",
                                   str(ROOT / ".venv" / "gunicorn-eventlet"))
#: requests of the big concurrent run, and how many are in flight at once
REQUESTS = 600
IN_FLIGHT = 60
#: each worker is replaced after this many requests (recycling during the big run)
MAX_REQUESTS = 200
#: bound of every wait for a process, a log line or an answer
WAIT = 30.0
HTTP_TIMEOUT = 15.0


# -- the simulator process ---------------------------------------------------------------------


class SimControl:
    """tests/flask/simctl.py in a child process; :meth:`ask` sends one command, reads one
    JSON answer (bounded)."""

    def __init__(self) -> None:
        env = _child_env()
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "flask" / "simctl.py"), "3"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=str(ROOT))
        self._buf = b""
        try:
            ready = self._read(WAIT)
        except BaseException:
            self.stop()
            raise
        self.contact_points: list[str] = ready["contact_points"]
        self.port: int = ready["port"]

    def _read(self, timeout: float) -> Any:
        out = self.process.stdout
        assert out is not None
        fd = out.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("simctl did not answer in time")
            readable, _, _ = select.select([fd], [], [], remaining)
            if readable:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(f"simctl exited ({self.process.poll()})")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def ask(self, command: str, timeout: float = WAIT) -> Any:
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(command.encode() + b"\n")
        stdin.flush()
        return self._read(timeout)

    # a connection is named "node address:client port" on both sides

    def seen(self) -> set[str]:
        return set(self.ask("clients")["seen"])

    def open(self) -> set[str]:
        return set(self.ask("clients")["open"])

    def wait_closed(self, connections: set[str], timeout: float = WAIT) -> list[str]:
        """Wait until none of ``connections`` is open; the ones still open."""
        if not connections:
            return []
        answer = self.ask(f"wait_closed {','.join(sorted(connections))} {timeout}",
                          timeout + 5)
        return answer["still_open"]

    def stop(self) -> None:
        proc = self.process
        try:
            if proc.poll() is None and proc.stdin is not None:
                proc.stdin.write(b"quit\n")
                proc.stdin.flush()
            proc.wait(WAIT)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(WAIT)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def _child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GREENCQL_TEST_HUB", None)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(CONTRIB), str(EXAMPLE)])
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


# -- gunicorn ----------------------------------------------------------------------------------

_BOOT = re.compile(r"Booting worker with pid: (\d+)")
_EXIT = re.compile(r"Worker exiting \(pid: (\d+)\)")


class Gunicorn:
    """gunicorn serving the example on an inherited listening socket (``fd://``: a free port
    with no race); its log is read by a task as it comes, so waits for a line need no polling."""

    def __init__(self, hub: Any, worker: str, sim: SimControl, extra_args: list[str],
                 pythonpath_first: str | None = None, **extra_env: str) -> None:
        self.hub = hub
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1024)
        self.port = self.listener.getsockname()[1]
        fd = self.listener.fileno()
        env = _child_env(
            FLASK_GREENCQL_CONTACT_POINTS=",".join(sim.contact_points),
            FLASK_GREENCQL_PORT=str(sim.port),
            FLASK_SHORTENER_DEBUG="true",
            **extra_env,
        )
        if pythonpath_first:
            env["PYTHONPATH"] = pythonpath_first + os.pathsep + env["PYTHONPATH"]
        # the documented configuration file of this worker class, with the test's overrides
        conf = EXAMPLE / ("gunicorn.conf.py" if worker == "gevent"
                          else f"gunicorn-{worker}.conf.py")
        # no control socket: its default path is shared by every gunicorn of the user
        args = [sys.executable, "-m", "gunicorn", "-c", str(conf), "-k", worker, "-w", "2",
                "--preload", "--bind", f"fd://{fd}", "--chdir", str(EXAMPLE),
                "--no-control-socket", *extra_args, "shortener:app"]
        self.lines: list[str] = []
        self._changed = hub.event()
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                        env=env, pass_fds=(fd,), cwd=str(EXAMPLE))
        self.pid = self.process.pid
        self._reader = hub.spawn(self._read_log)

    def _read_log(self) -> None:
        err = self.process.stderr
        assert err is not None
        for raw in err:
            self.lines.append(raw.decode("utf-8", "replace").rstrip())
            self._changed.set()
        self._changed.set()

    def wait_for(self, predicate: Callable[[list[str]], Any], what: str,
                 timeout: float = WAIT) -> Any:
        """Wait until ``predicate(lines)`` is true (checked at each new log line)."""
        deadline = time.monotonic() + timeout
        while True:
            self._changed.clear()
            value = predicate(self.lines)
            if value:
                return value
            if self.process.poll() is not None and not self._changed.is_set():
                raise AssertionError(f"gunicorn exited ({self.process.returncode}) before "
                                     f"{what}:\n" + "\n".join(self.lines[-40:]))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting for {what}:\n"
                                     + "\n".join(self.lines[-40:]))
            self._changed.wait(remaining)  # a new line, or the end of the log, wakes it

    def booted(self) -> list[int]:
        return [int(m.group(1)) for line in self.lines if (m := _BOOT.search(line))]

    def exited(self) -> list[int]:
        return [int(m.group(1)) for line in self.lines if (m := _EXIT.search(line))]

    def live_workers(self) -> set[int]:
        return set(self.booted()) - set(self.exited())

    def stop(self) -> None:
        proc = self.process
        workers = self.live_workers()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(WAIT)
        for pid in workers:  # a worker never outlives the test, even if the master was killed
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._reader.join(WAIT)
        if proc.stderr is not None:
            proc.stderr.close()
        self.listener.close()


# -- HTTP load ---------------------------------------------------------------------------------


def http_get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_post_json(port: int, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        conn.request("POST", path, body=json.dumps(body),
                     headers={"Content-Type": "application/json", "Connection": "close"})
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


class Load:
    """``count`` GETs from ``in_flight`` concurrent tasks (each request on its own TCP
    connection, so both workers accept some); ``path(i)`` chooses the URL; ``during(i)`` runs
    in the task that is about to send request ``i`` (to stop a node, send a signal...)."""

    def __init__(self, hub: Any, port: int, count: int, in_flight: int,
                 path: Callable[[int], str], during: Callable[[int], None] | None = None) -> None:
        self.results: list[tuple[int, str, int, bytes]] = []
        self.errors: list[tuple[int, str, BaseException]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._next = 0
        done = hub.event()
        workers = [in_flight]

        def task() -> None:
            try:
                while self._next < count:
                    i = self._next
                    self._next += 1
                    if during is not None:
                        during(i)
                    url = path(i)
                    self._in_flight += 1
                    self.max_in_flight = max(self.max_in_flight, self._in_flight)
                    try:
                        status, body = http_get(port, url)
                    except Exception as exc:
                        self.errors.append((i, url, exc))
                        continue
                    finally:
                        self._in_flight -= 1
                    self.results.append((i, url, status, body))
            finally:
                workers[0] -= 1
                if workers[0] == 0:
                    done.set()

        for _ in range(in_flight):
            hub.spawn(task)
        assert done.wait(120), "the load did not finish in 120 s"

    def failures(self, check: Callable[[str, int, bytes], bool]) -> list[Any]:
        bad = [(i, url, status, body[:200]) for i, url, status, body in self.results
               if not check(url, status, body)]
        return bad + [(i, url, repr(exc)) for i, url, exc in self.errors]

    def debug_reports(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, url, status, body in self.results
                if url == "/_debug/worker" and status == 200]


def _mixed(i: int) -> str:
    return "/_debug/worker" if i % 10 == 0 else "/links/gu1"


def _right(url: str, status: int, body: bytes) -> bool:
    if status != 200:
        return False
    data = json.loads(body)
    if url == "/_debug/worker":
        return isinstance(data.get("pid"), int)
    return data.get("url") == "https://example.com/gunicorn" and data.get("code") == "gu1"


def _socket_ports_of(pid: int, remote_port: int) -> list[int]:
    """Local ports of ``pid``'s established TCP connections to ``remote_port`` (/proc)."""
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return []
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for table in (f"/proc/{pid}/net/tcp", f"/proc/{pid}/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.readlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] == "01" and fields[9] in inodes \
                    and int(fields[2].rsplit(":", 1)[1], 16) == remote_port:
                ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> Iterator[SimControl]:
    control = SimControl()
    try:
        yield control
    finally:
        control.stop()


@pytest.fixture(scope="module")
def schema(sim: SimControl) -> None:
    """The example's schema, applied with `flask cql exec` from this process (which then
    closes its connections: everything the simulator sees next comes from gunicorn)."""
    import shortener

    app = shortener.create_app(sim_config(sim))
    try:
        result = app.test_cli_runner().invoke(args=["cql", "exec", str(SCHEMA)])
        assert result.exit_code == 0, result.output
    finally:
        with app.app_context():
            shortener.cql.shutdown()


def _eventlet_gunicorn() -> str:
    if not os.path.isfile(os.path.join(GUNICORN_EVENTLET, "gunicorn", "workers",
                                       "geventlet.py")):
        pytest.skip(f"no gunicorn with an eventlet worker in {GUNICORN_EVENTLET} (pip install "
                    f"--no-deps --target {GUNICORN_EVENTLET} gunicorn==25.3.0)")
    return GUNICORN_EVENTLET


class Run:
    """What the tests of one gunicorn learn and pass on (they run in file order)."""

    def __init__(self, worker: str, server: Gunicorn, sim: SimControl,
                 seen_before: set[str]) -> None:
        self.worker = worker
        self.server = server
        self.sim = sim
        self.seen_before = seen_before
        #: worker pid -> the connections it reported ("node address:client port")
        self.by_pid: dict[int, set[str]] = {}

    def note(self, reports: list[dict[str, Any]]) -> None:
        for report in reports:
            self.by_pid.setdefault(report["pid"], set()).update(report["connections"])

    def of(self, pids: Any) -> set[str]:
        return set().union(*(self.by_pid.get(pid, set()) for pid in pids))


@pytest.fixture(scope="module", params=["gevent", "eventlet"])
def run(request: Any, hub: Any, sim: SimControl, schema: None) -> Iterator[Run]:
    worker = request.param
    first = _eventlet_gunicorn() if worker == "eventlet" else None
    seen_before = sim.seen()
    # gunicorn's eventlet worker drops requests while it recycles itself (see
    # test_max_requests_recycling...), so its run recycles only on HUP
    recycle = ["--max-requests", str(MAX_REQUESTS), "--max-requests-jitter", "0"]
    server = Gunicorn(hub, worker, sim, recycle if worker == "gevent" else [], first)
    try:
        server.wait_for(lambda lines: len(server.booted()) >= 2, "2 workers booted")
        yield Run(worker, server, sim, seen_before)
    finally:
        server.stop()
        # whatever the tests did, gunicorn's connections are closed once it is gone
        still = sim.wait_closed(sim.open())
        assert not still, f"left open after gunicorn stopped: {still}: {_owners(set(still), sim)}"


# -- the tests (in order, on one gunicorn per worker class) --------------------------------------


def test_preload_opens_no_connection_before_the_first_request(run: Run):
    server, sim = run.server, run.sim
    workers = server.live_workers()
    assert len(workers) == 2
    # the app is imported (preload) and 2 workers are up: nobody connected yet
    assert sim.open() == set()
    assert sim.seen() == run.seen_before
    assert _socket_ports_of(server.pid, sim.port) == []
    for pid in workers:
        assert _socket_ports_of(pid, sim.port) == []
        assert _threads_of(pid) == 1, f"worker {pid} has OS threads beyond the main one"
    status, body = http_post_json(server.port, "/links",
                                  {"url": "https://example.com/gunicorn", "code": "gu1"})
    assert status in (201, 409), body  # 409: the eventlet run finds the gevent run's link


def test_concurrent_requests_succeed_and_each_worker_has_its_own_connections(run: Run, hub):
    server, sim = run.server, run.sim
    load = Load(hub, server.port, REQUESTS, IN_FLIGHT, _mixed)
    assert load.failures(_right) == []
    assert len(load.results) == REQUESTS
    assert load.max_in_flight >= 50
    reports = load.debug_reports()
    run.note(reports)
    assert len(run.by_pid) >= 2, run.by_pid
    assert server.pid not in run.by_pid  # the master serves nothing
    pids = sorted(run.by_pid)
    for i, a in enumerate(pids):
        assert run.by_pid[a], f"worker {a} reported no connection"
        for b in pids[i + 1:]:
            assert not run.by_pid[a] & run.by_pid[b], (a, b)
    # every connection a worker reported, the simulator saw (one that was still in its
    # handshake when reported has sent its first request by now, or is open)
    assert run.of(pids) <= sim.seen() | sim.open()
    assert all(r["threads"] == 1 for r in reports), {r["pid"]: r["threads"] for r in reports}
    for pid in server.live_workers():
        assert _threads_of(pid) == 1
    assert _socket_ports_of(server.pid, sim.port) == []  # the master still holds none


def test_max_requests_recycling_closes_the_old_workers_connections(run: Run):
    if run.worker == "eventlet":
        pytest.skip("gunicorn 25's eventlet worker resets some requests while it recycles "
                    "itself at --max-requests (seen here; benoitc/gunicorn#511, #718): a "
                    "gunicorn limitation, so only the gevent worker is run with it")
    server, sim = run.server, run.sim
    # REQUESTS over 2 workers with MAX_REQUESTS each: some were recycled during the run
    server.wait_for(lambda lines: server.exited(), "a recycled worker's exit")
    assert any("Autorestarting worker" in line for line in server.lines)
    assert len(server.live_workers()) <= 2
    gone = [pid for pid in run.by_pid if pid in server.exited()]
    assert gone, (run.by_pid, server.exited())
    assert sim.wait_closed(run.of(gone)) == []
    # and the replacements serve
    load = Load(run.server.hub, server.port, 100, 20, _mixed)
    assert load.failures(_right) == []
    run.note(load.debug_reports())


def test_idempotent_gets_survive_a_node_stopped_during_the_run(run: Run, hub):
    server, sim = run.server, run.sim

    def stop_node_2(i: int) -> None:
        if i == 100:
            assert sim.ask("stop 2") == {"ok": True}

    try:
        load = Load(hub, server.port, 400, IN_FLIGHT,
                    lambda i: "/links/gu1", during=stop_node_2)
        assert load.failures(_right) == []
        assert len(load.results) == 400
    finally:
        assert sim.ask("start 2") == {"ok": True}


def test_hup_replaces_the_workers_and_closes_their_connections(run: Run, hub):
    server, sim = run.server, run.sim
    before = server.live_workers()
    warm = Load(hub, server.port, 100, 20, _mixed)
    assert warm.failures(_right) == []
    run.note(warm.debug_reports())
    old_connections = run.of(before)
    booted = len(server.booted())

    def hup(i: int) -> None:
        if i == 50:
            os.kill(server.pid, signal.SIGHUP)

    load = Load(hub, server.port, 300, 30, _mixed, during=hup)
    failures = load.failures(_right)
    if run.worker == "eventlet":
        # gunicorn 25's eventlet worker may reset a request that reaches a worker as it shuts
        # down (benoitc/gunicorn#511, #718); anything else is a failure
        failures = [f for f in failures if "ConnectionResetError" not in str(f[-1])]
        assert len(load.errors) <= len(load.results) // 20
    assert failures == []  # requests keep succeeding across the reload
    server.wait_for(lambda lines: set(server.exited()) >= before, "the old workers' exit")
    server.wait_for(lambda lines: len(server.booted()) >= booted + 2, "2 new workers")
    assert sim.wait_closed(old_connections) == []
    after = Load(hub, server.port, 100, 20, _mixed)
    assert after.failures(_right) == []
    new_pids = {r["pid"] for r in after.debug_reports()}
    assert new_pids and not new_pids & before
    assert _socket_ports_of(server.pid, sim.port) == []


def _connections_of(pid: int, remote_port: int) -> set[str]:
    """``pid``'s established connections to ``remote_port`` as "node address:local port"."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    with open(f"/proc/{pid}/net/tcp") as f:
        for row in f.readlines()[1:]:
            fields = row.split()
            remote_ip, remote_at = fields[2].split(":")
            if fields[3] == "01" and fields[9] in inodes and int(remote_at, 16) == remote_port:
                address = ".".join(str(b) for b in reversed(bytes.fromhex(remote_ip)))
                found.add(f"{address}:{int(fields[1].split(':')[1], 16)}")
    return found


def test_a_warm_up_in_the_master_leaves_each_worker_its_own_cluster(hub, sim, schema):
    server = Gunicorn(hub, "gevent", sim, [], FLASK_SHORTENER_WARMUP="true")
    master: set[str] = set()
    by_pid: dict[int, set[str]] = {}
    try:
        server.wait_for(lambda lines: len(server.booted()) >= 2, "2 workers booted")
        master = _connections_of(server.pid, sim.port)
        assert master, "the warm-up connected in the master"
        status, body = http_post_json(server.port, "/links",
                                      {"url": "https://example.com/gunicorn", "code": "gu1"})
        assert status in (201, 409), body
        assert master <= sim.seen() | sim.open()
        load = Load(hub, server.port, 300, 50, _mixed)
        assert load.failures(_right) == []
        reports = load.debug_reports()
        for report in reports:
            by_pid.setdefault(report["pid"], set()).update(report["connections"])
            assert report["inherited_clusters"] == 1  # the master's, left alone
            assert report["threads"] == 1
        assert len(by_pid) >= 2
        pids = sorted(by_pid)
        for i, a in enumerate(pids):
            assert by_pid[a] and not by_pid[a] & master
            for b in pids[i + 1:]:
                assert not by_pid[a] & by_pid[b]
        # the workers never closed (nor used) the master's connections
        assert master <= sim.open()
        assert _connections_of(server.pid, sim.port) == master
    finally:
        server.stop()
    # (the eventlet gunicorn of the parametrized tests may still be up: only ours are checked)
    ours = master.union(*by_pid.values())
    still = sim.wait_closed(ours)
    assert not still, f"left open after gunicorn stopped: {still}: {_owners(set(still), sim)}"


def _owners(connections: set[str], sim: SimControl) -> dict[str, str]:
    """Which processes hold ``connections`` (for failure messages)."""
    owners = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                held = _connections_of(int(entry), sim.port) & connections
                if held:
                    with open(f"/proc/{entry}/cmdline", "rb") as f:
                        cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:160]
                    owners[entry] = f"{cmd} holds {sorted(held)}"
            except OSError:
                continue
    return owners
