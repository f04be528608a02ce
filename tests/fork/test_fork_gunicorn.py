"""gunicorn ``--preload -w 2`` serving an app that connects at import time (apps/preload_app.py),
with the sync, gthread and gevent workers, and eventlet (gunicorn 25.3, the last to have it).

The master imports the app (so it connects, on the thread hub: with ``-k gevent`` the master is
not patched; the worker patches after the fork) and forks two workers. Every request must
succeed with the right body; each worker must hold connections of its own (its /debug
answer, checked against the process's sockets); the master's connections stay untouched and
open. The simulator runs in its own process.

Hub-independent (gunicorn and the simulator are processes of their own): runs once, in the
gevent test process, whose client greenlets send the requests.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import TEST_HUB
from forkhelp import (
    APPS,
    REPO,
    ROWS,
    LoggedProcess,
    app_env,
    fill,
    tcp_ports_to,
    value_of,
)

from greencql.testing import SimCluster

pytestmark = pytest.mark.skipif(
    TEST_HUB != "gevent",
    reason="hub-independent (gunicorn runs in its own processes): runs in the gevent process",
)

REQUESTS = 500
CONCURRENCY = 16
HTTP_TIMEOUT = 15.0
BOOT_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def sim():
    with SimCluster.spawn_process(3) as process:
        fill(process)
        yield process


def _get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _listening(lines: list[str]) -> int | None:
    booted = sum("Booting worker with pid" in line for line in lines)
    for line in lines:
        m = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line)
        if m and booted >= 2:
            return int(m.group(1))
    return None


# gunicorn 27 has no eventlet worker (removed in 26): 25.3, the last with one, lies apart in
# .venv/gunicorn-eventlet (scripts/venv installs it from requirements/gunicorn-eventlet.txt)
GUNICORN_EVENTLET = Path(os.environ.get("GREENCQL_TEST_GUNICORN_EVENTLET",
                                        REPO / ".venv" / "gunicorn-eventlet"))


@pytest.mark.parametrize("worker", ["sync", "gthread", "gevent", "eventlet"])
def test_preloaded_app_serves_from_every_worker(sim, worker):
    args = [sys.executable, "-m", "gunicorn", "--preload", "-w", "2", "-k", worker,
            "-b", "127.0.0.1:0", "--graceful-timeout", "5", "--timeout", "60",
            "--log-level", "info", "preload_app:app"]
    if worker == "gthread":
        args[-1:-1] = ["--threads", "4"]
    env = app_env(sim)
    if worker == "eventlet":
        if not (GUNICORN_EVENTLET / "gunicorn" / "workers" / "geventlet.py").is_file():
            pytest.skip(f"no gunicorn with an eventlet worker in {GUNICORN_EVENTLET}")
        env["PYTHONPATH"] = f"{GUNICORN_EVENTLET}{os.pathsep}{env['PYTHONPATH']}"
    gunicorn = LoggedProcess(args, env, cwd=APPS)
    try:
        port = gunicorn.wait_for(_listening, BOOT_TIMEOUT, "gunicorn booting two workers")
        master = gunicorn.process.pid
        master_ports = tcp_ports_to(master, sim.port)
        assert len(master_ports) >= 4, gunicorn.log()  # control + one pool per node

        def one(k: int) -> tuple[int, int, str]:
            status, body = _get(port, f"/kv/{k}")
            return k, status, body

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            answers = list(pool.map(one, [i % ROWS for i in range(REQUESTS)]))
        pids = set()
        for k, status, body in answers:
            assert status == 200, (k, body, gunicorn.log())
            key, value, pid = body.split(":")
            assert (int(key), value) == (k, value_of(k)), body
            pids.add(int(pid))
        assert master not in pids

        # each worker: its own connections, on the hub of its kind
        seen: dict[int, dict] = {}
        for _ in range(200):  # bounded: the kernel hands connections to either worker
            status, body = _get(port, "/debug")
            assert status == 200, body
            info = json.loads(body)
            seen.setdefault(info["pid"], info)
            if len(seen) == 2 and pids <= set(seen):
                break
        assert len(seen) == 2, seen
        expected_hub = worker if worker in ("gevent", "eventlet") else "thread"
        all_ports = [set(master_ports)]
        for pid, info in seen.items():
            assert info["hub"] == expected_hub, info
            ports = {tuple(p) for p in info["ports"]}
            assert len(ports) >= 4, info  # control + one pool per node, made in the worker
            assert ports <= tcp_ports_to(pid, sim.port), (info, tcp_ports_to(pid, sim.port))
            all_ports.append(ports)
        assert not set.intersection(*all_ports[1:]) and not (all_ports[0] & (all_ports[1] |
                                                                           all_ports[2]))
        # the master's connections: untouched and open (a worker closing or shutting down its
        # copy would have ended them)
        assert tcp_ports_to(master, sim.port) == master_ports
    finally:
        gunicorn.stop()
