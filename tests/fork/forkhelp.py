"""Helpers of tests/fork: the simulator's data, a child process's log read without polling, and
the TCP connections of a process (psutil), shared by the gunicorn and Celery tests."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

from greencql import Cluster

REPO = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
KEYSPACE = "forktest"
ROWS = 500


def value_of(k: int) -> str:
    return f"v{k}"


def fill(sim) -> None:
    """Create forktest.kv (k int -> v text) with ROWS rows in the simulator."""
    with Cluster(sim.contact_points, port=sim.port) as cluster:
        session = cluster.connect()
        session.execute(f"CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = "
                        "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        session.execute(f"CREATE TABLE IF NOT EXISTS {KEYSPACE}.kv (k int PRIMARY KEY, v text)")
        insert = session.prepare(f"INSERT INTO {KEYSPACE}.kv (k, v) VALUES (?, ?)")
        futures = [session.execute_async(insert, (k, value_of(k))) for k in range(ROWS)]
        for f in futures:
            f.result()


def app_env(sim, **extra: str) -> dict[str, str]:
    """The environment of an app process: this worktree first on the path, the simulator's
    address, no test-hub switch (the app picks its own hub)."""
    env = {k: v for k, v in os.environ.items() if k not in ("GREENCQL_TEST_HUB", "GREENCQL_HUB")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(APPS), str(APPS.parent)])
    env["PYTHONUNBUFFERED"] = "1"
    env["GREENCQL_FORK_CONTACT_POINTS"] = ",".join(sim.contact_points)
    env["GREENCQL_FORK_PORT"] = str(sim.port)
    env["GREENCQL_FORK_KEYSPACE"] = KEYSPACE
    env.update(extra)
    return env


class LoggedProcess:
    """A child process whose stderr (and stdout) lines are collected by a reader task;
    :meth:`wait_for` waits on a condition, never by polling."""

    def __init__(self, args: Sequence[str], env: dict[str, str], cwd: Path | None = None):
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.process = subprocess.Popen(list(args), env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        out = self.process.stdout
        assert out is not None
        for raw in iter(out.readline, b""):
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip())
                self._cond.notify_all()
        with self._cond:
            self.lines.append("<eof>")
            self._cond.notify_all()

    def wait_for(self, done: Callable[[list[str]], object], timeout: float, what: str):
        """Wait until ``done(lines)`` is true (returns its value); fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = done(self.lines)
                if value:
                    return value
                if self.lines and self.lines[-1] == "<eof>":
                    raise AssertionError(f"{what}: the process ended:\n" + self.log())
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{what}: not within {timeout} s:\n" + self.log())
                self._cond.wait(remaining)

    def log(self) -> str:
        return "\n".join(self.lines[-60:])

    def stop(self, timeout: float = 15.0) -> None:
        proc = self.process
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self._reader.join(timeout)
        if proc.stdout is not None:
            proc.stdout.close()


def tcp_ports_to(pid: int, port: int) -> set[tuple[int, str]]:
    """(local port, remote address) of ``pid``'s ESTABLISHED TCP connections to ``port`` (any
    address): one local port can serve connections to 127.0.0.1 and 127.0.0.2 at once."""
    out = set()
    for c in psutil.Process(pid).net_connections(kind="tcp"):
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED:
            out.add((c.laddr.port, c.raddr.ip))
    return out


def celery_config(folder: str) -> dict:
    """Celery settings with no external service: kombu's filesystem transport as the broker,
    files as the result backend, both under ``folder``; no remote control (pidbox)."""
    queue = os.path.join(folder, "queue")
    os.makedirs(queue, exist_ok=True)
    os.makedirs(os.path.join(folder, "results"), exist_ok=True)
    return {
        "broker_url": "filesystem://",
        "broker_transport_options": {
            "data_folder_in": queue,
            "data_folder_out": queue,
            "store_processed": False,
            "control_folder": os.path.join(folder, "control"),  # default: ./control
            "polling_interval": 0.05,  # kombu's own loop: how soon a worker sees a task
        },
        "result_backend": "file://" + os.path.join(folder, "results"),
        "worker_enable_remote_control": False,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
    }
