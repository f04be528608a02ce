"""``flask run`` (Werkzeug's threaded development server, greencql's thread hub) serves the
example against the simulated cluster, in a child process as a developer runs it."""

from __future__ import annotations

# isort: off
from flask_helpers import CONTRIB, EXAMPLE, ROOT, shortener_app_fixture  # noqa: F401

import http.client
import json
import os
import re
import select
import subprocess
import sys
import time

import pytest
from conftest import TEST_HUB
# isort: on

pytestmark = pytest.mark.skipif(TEST_HUB != "thread",
                                reason="`flask run` is the thread hub's case; runs once")


def _running_port(proc: subprocess.Popen, timeout: float) -> int:
    """Read the server's output until it says where it listens (bounded, no sleeps)."""
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    seen = b""
    while True:
        match = re.search(rb"Running on http://127\.0\.0\.1:(\d+)", seen)
        if match:
            return int(match.group(1))
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"flask run did not start: {seen.decode(errors='replace')}"
        readable, _, _ = select.select([fd], [], [], remaining)
        if readable:
            chunk = os.read(fd, 4096)
            assert chunk, f"flask run exited: {seen.decode(errors='replace')}"
            seen += chunk


def test_flask_run_serves_the_example(shortener_app, sim_cluster):
    env = dict(os.environ, FLASK_GREENCQL_PORT=str(sim_cluster.port),
               FLASK_GREENCQL_CONTACT_POINTS=",".join(sim_cluster.contact_points),
               PYTHONPATH=os.pathsep.join([str(ROOT), str(CONTRIB), str(EXAMPLE)]))
    env.pop("GREENCQL_TEST_HUB", None)
    proc = subprocess.Popen([sys.executable, "-m", "flask", "--app", "shortener", "run",
                             "--port", "0"], cwd=str(EXAMPLE), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        port = _running_port(proc, 30)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        conn.request("POST", "/links", body=json.dumps({"url": "https://example.com/dev",
                                                        "code": "dev1"}),
                     headers={"Content-Type": "application/json"})
        created = conn.getresponse()
        assert created.status == 201, created.read()
        created.read()
        conn.request("GET", "/links/dev1")
        response = conn.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["url"] == "https://example.com/dev"
        conn.close()
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)
        proc.stdout.close()
