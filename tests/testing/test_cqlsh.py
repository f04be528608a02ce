"""cqlsh (the real one, installed with the test extras) against an in-process SimCluster.

cqlsh runs in a child process with its own bundled-or-installed cassandra-driver, so this runs
in every hub process: the cluster serves on this process's hub while the test waits for the
child (bounded by a timeout)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

CQLSH = shutil.which("cqlsh") or os.path.join(os.path.dirname(sys.executable), "cqlsh")
pytestmark = pytest.mark.skipif(not os.path.exists(CQLSH), reason="cqlsh is not installed")


def _cqlsh(port: int, cql: str, home: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GREENCQL", "PYTHONWARN"))}
    env["HOME"] = home  # no user cqlshrc, no history file in the real home
    return subprocess.run([CQLSH, "127.0.0.1", str(port), "--connect-timeout", "10",
                           "--request-timeout", "10", "-e", cql],
                          capture_output=True, text=True, timeout=60, env=env)


def test_cqlsh_select_and_insert(make_sim_cluster, tmp_path):
    sim = make_sim_cluster(3)
    sim.engine.execute("CREATE KEYSPACE shop WITH replication = {'class': 'SimpleStrategy', "
                       "'replication_factor': 2}")
    sim.engine.execute("CREATE TABLE shop.kv (k int PRIMARY KEY, v text)")
    result = _cqlsh(sim.port, "INSERT INTO shop.kv (k, v) VALUES (1, 'from cqlsh'); "
                    "SELECT k, v FROM shop.kv WHERE k = 1; "
                    "SELECT cluster_name, release_version FROM system.local;",
                    str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "from cqlsh" in result.stdout and "(1 rows)" in result.stdout
    assert "4.0.13" in result.stdout
    assert sim.engine.execute("SELECT v FROM shop.kv WHERE k = 1").rows == [("from cqlsh",)]
    inserts = sim.records(kind="QUERY", query="INSERT INTO shop.kv")
    assert len(inserts) == 1 and inserts[0].keyspace is None
