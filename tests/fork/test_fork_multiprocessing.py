"""``multiprocessing.Pool(4)`` (fork start method) mapping a function that queries through a
module-level session (apps/mp_app.py), in a program on threads. (A gevent-patched program
cannot use ``multiprocessing.Pool`` at all: its pool hangs with gevent alone, greencql or not;
green programs fork through gunicorn or Celery, tested beside this file.)

Hub-independent (the script is a process of its own, and so is the simulator): runs once, in
the gevent test process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import TEST_HUB
from forkhelp import APPS, app_env, fill, value_of

from greencql.testing import SimCluster

pytestmark = pytest.mark.skipif(
    TEST_HUB != "gevent",
    reason="hub-independent (the pool runs in its own processes): runs in the gevent process",
)


@pytest.fixture(scope="module")
def sim():
    with SimCluster.spawn_process(3) as process:
        fill(process)
        yield process


def test_pool_workers_query_through_a_module_level_session(sim):
    # its own process group: on a timeout the pool's workers are killed with it
    proc = subprocess.Popen([sys.executable, str(APPS / "mp_app.py")], env=app_env(sim),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr[-3000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    results = out["results"]
    assert [r[:2] for r in results] == [[k, value_of(k)] for k in range(200)]
    workers = {r[2] for r in results}
    assert out["parent"] not in workers and 1 <= len(workers) <= 4
    assert out["after"] == value_of(7)
