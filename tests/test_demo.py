"""The main job (`make demo`) runs to the end on this process's hub, in a fresh interpreter:
on the embedded simulator, and with ``--hosts`` against a cluster in another process (as a
real cluster would be), whose keyspace it drops at the end."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from conftest import TEST_HUB

pytestmark = pytest.mark.skipif(TEST_HUB == "none", reason="the demo needs a hub")

LOAD_ARGS = ["--requests", "1000", "--greenlets", "100"]


def _demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("GREENCQL_TEST_HUB", None)
    return subprocess.run(
        [sys.executable, "-m", "greencql.demo", "--hub", TEST_HUB, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _load_table(out: str) -> dict[str, str]:
    """measure -> value of the load phase's table."""
    return {m.group(1).strip(): m.group(2).strip()
            for m in re.finditer(r"│ ([^│]+?)\s+│\s+([^│]+?)\s+│", out)}


def _check_load_phase(out: str) -> None:
    table = _load_table(out)
    assert table["requests (failed)"] == "1,000 (0)"
    assert table["concurrent callers"] == "100"
    assert table["throughput"].endswith("requests/s")
    for label in ("p50", "p99", "p999"):
        assert re.fullmatch(r"[\d.]+ ms", table[f"latency {label}"]), table
    if TEST_HUB in ("gevent", "eventlet"):
        assert table["OS threads of this process"] == "1"  # no thread in the runtime path
    served = re.findall(r"│ (127\.0\.0\.\d+:\d+) +│ +([\d,]+) │ +[\d.]+% │", out)
    assert len(served) == 3, out  # every node served some: token-aware spreads the load
    assert sum(int(n.replace(",", "")) for _, n in served) == 1000
    assert "1000 of 1000 requests were served by a replica of their partition" in out
    assert re.search(r"requests +━+ 1000/1000", out)  # the progress bar's last state


def test_demo_runs_to_the_end():
    proc = _demo("--rows", "300", *LOAD_ARGS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "300 inserts in" in out and ", 0 failed" in out
    assert "demo.visits: PRIMARY KEY ((site), day DESC, n)" in out
    assert "WITH" not in out.split("== schema")[1].split("==")[0]  # no table options
    assert "300 reads with node2 down: 300 succeeded" in out
    assert "first insert applied=True, second applied=False" in out
    _check_load_phase(out)
    restarted = re.search(r"node2 restarted; the driver saw it up after ([\d.]+) s, and it "
                          r"served its first request ([\d.]+) s after the restart", out)
    assert restarted, out
    assert "OperationTimedOut after" in out
    assert out.rstrip().endswith("no greenlet left running")


def test_demo_against_a_cluster_in_another_process():
    from greencql import Cluster
    from greencql.testing import SimCluster

    with SimCluster.spawn_process(3, port=0) as sim:
        proc = _demo("--hosts", ",".join(sim.contact_points[:2]), "--port", str(sim.port),
                     "--keyspace", "demo_elsewhere", "--rows", "200", *LOAD_ARGS)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        out = proc.stdout
        assert f"a real cluster at 127.0.0.1, 127.0.0.2 (port {sim.port})" in out
        assert "discovered 3 hosts" in out
        assert "demo_elsewhere.visits: PRIMARY KEY ((site), day DESC, n)" in out
        _check_load_phase(out)
        assert "node failure and return: skipped on a real cluster" in out
        assert "bounded timeout: skipped on a real cluster" in out
        assert "keyspace demo_elsewhere dropped" in out
        assert out.rstrip().endswith("no greenlet left running")
        with Cluster(sim.contact_points, port=sim.port) as cluster:
            session = cluster.connect()
            names = {r.keyspace_name for r in
                     session.execute("SELECT keyspace_name FROM system_schema.keyspaces")}
            assert "demo_elsewhere" not in names and "system" in names


@pytest.mark.parametrize("args, message", [
    (["--hosts", " , "], "--hosts wants"),
    (["--keyspace", "system_auth"], "not a system keyspace"),
    (["--keyspace", "bad-name"], "letters, digits"),
    (["--requests", "0"], "at least 1"),
    (["--port", "0"], "not in 1-65535"),
])
def test_bad_arguments_are_refused(args, message):
    proc = _demo(*args)
    assert proc.returncode == 2
    assert message in proc.stderr
