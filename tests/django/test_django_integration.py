"""django_greencql (contrib/django) on this process's hub, through Django's own test runner
and manage.py, each in a fresh interpreter (Django is configured once per process).

- ``runtests.py --hub HUB``: the package's tests and the example project's tests (with its
  gunicorn ``-k gevent --preload -w 2`` run), and the test keyspaces gone afterwards;
- ``--keepdb`` keeps the test keyspace, a second run reuses it, a run without it replaces it;
- the example's manage.py commands against a fresh simulated cluster: ``check --database``
  (E004 before the keyspace exists), ``cql_migrate --plan``, ``cql_migrate`` (creates the
  keyspace, applies, then is a no-op), ``dbshell -- -e`` (cqlsh), and ``runserver`` serving
  requests on the thread hub.
"""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import TEST_HUB

CONTRIB = Path(__file__).resolve().parents[2] / "contrib" / "django"
ROOT = CONTRIB.parents[1]

pytestmark = [
    pytest.mark.skipif(TEST_HUB == "none", reason="needs a hub"),
    pytest.mark.timeout(240),
]


@pytest.fixture(scope="module")
def sim():
    from greencql.testing import SimCluster

    with SimCluster.spawn_process(3, port=0) as process:
        yield process


def _env(sim, hub: str | None = TEST_HUB, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("GREENCQL_TEST_HUB", None)
    env["GREENCQL_MONKEY_PATCH"] = "" if hub in (None, "thread") else hub
    env["CASSANDRA_HOSTS"] = ",".join(sim.contact_points)
    env["CASSANDRA_PORT"] = str(sim.port)
    env["PYTHONPATH"] = os.pathsep.join([str(CONTRIB), str(ROOT), env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def _manage(folder: str, args: list[str], env: dict[str, str], timeout: float = 120
            ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=CONTRIB / folder, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _keyspaces(sim) -> set[str]:
    from greencql import Cluster

    with Cluster(sim.contact_points, port=sim.port) as cluster:
        rows = cluster.connect().execute("SELECT keyspace_name FROM system_schema.keyspaces")
        return {r[0] for r in rows}


# Django 4.2 LTS, apart (.venv/django42, from requirements/django42.txt): the lock holds the
# newest Django this Python runs (5.2); 4.2 is still maintained upstream
DJANGO_42 = Path(os.environ.get("GREENCQL_TEST_DJANGO_42", ROOT / ".venv" / "django42"))


def test_django_runner_suites():
    _run_suites(None)


@pytest.mark.skipif(TEST_HUB != "gevent", reason="Django 4.2: once, in the gevent process")
def test_django_runner_suites_on_django_4_2():
    if not (DJANGO_42 / "django" / "__init__.py").is_file():
        pytest.skip(f"no Django 4.2 in {DJANGO_42}")
    out = _run_suites(str(DJANGO_42))
    assert "Django 4.2." in out


def _run_suites(django_path: str | None) -> str:
    env = dict(os.environ)
    if django_path is not None:
        env["PYTHONPATH"] = os.pathsep.join([django_path, env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, str(CONTRIB / "runtests.py"), "--hub", TEST_HUB],
                          capture_output=True, text=True, timeout=230, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    ran = [int(n) for n in re.findall(r"^Ran (\d+) tests?", out, re.MULTILINE)]
    assert len(ran) == 2 and ran[0] >= 50 and ran[1] >= 4, ran
    assert f"== hub {TEST_HUB}: all passed" in out
    return out


def test_keepdb_keeps_the_test_keyspace(sim):
    label = "cqltests.tests.test_backend.AliasTests.test_test_keyspace_is_in_use"
    env = _env(sim)
    try:
        first = _manage("testproject", ["test", "--noinput", "--keepdb", "-v", "2", label], env)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "Applying cqltests.0001_initial... OK" in first.stdout + first.stderr
        assert "test_dg_tests" in _keyspaces(sim)
        second = _manage("testproject", ["test", "--noinput", "--keepdb", "-v", "2", label], env)
        out = second.stdout + second.stderr
        assert second.returncode == 0, out
        assert "Using existing test keyspace for alias 'cassandra' (test_dg_tests)" in out
        assert "No CQL migrations to apply." in out
        assert "test_dg_tests" in _keyspaces(sim)
        third = _manage("testproject", ["test", "--noinput", "-v", "2", label], env)
        out = third.stdout + third.stderr
        assert third.returncode == 0, out
        assert "Destroying old test keyspace test_dg_tests" in out  # the leftover, then ours
        assert "test_dg_tests" not in _keyspaces(sim)
    finally:
        from greencql import Cluster

        with Cluster(sim.contact_points, port=sim.port) as cluster:
            cluster.connect().execute("DROP KEYSPACE IF EXISTS test_dg_tests")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_until(proc: subprocess.Popen, marker: bytes, timeout: float) -> bytes:
    import time

    out = b""
    deadline = time.monotonic() + timeout
    while marker not in out:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([proc.stdout], [], [], remaining)[0]:
            raise AssertionError(f"no {marker!r} within {timeout} s: {out.decode()}")
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            raise AssertionError(f"exited before {marker!r}: {out.decode()}")
        out += chunk
    return out


def test_example_commands_and_runserver(sim, tmp_path):
    sqlite = str(tmp_path / "db.sqlite3")  # runserver's migration check opens it
    env = _env(sim, CASSANDRA_KEYSPACE="shop_cmds", DJANGO_SQLITE_PATH=sqlite)
    try:
        check = _manage("example", ["check", "--database", "cassandra"], env)
        assert check.returncode != 0
        assert "django_greencql.E004" in check.stderr and "shop_cmds" in check.stderr

        plan = _manage("example", ["cql_migrate", "--plan"], env)
        assert plan.returncode == 0, plan.stderr
        assert "Create keyspace shop_cmds" in plan.stdout
        assert "shop.0001_initial" in plan.stdout and "CREATE TABLE IF NOT EXISTS items" \
            in plan.stdout
        assert "shop_cmds" not in _keyspaces(sim)

        migrate = _manage("example", ["cql_migrate"], env)
        assert migrate.returncode == 0, migrate.stderr
        assert "Created keyspace shop_cmds" in migrate.stdout
        assert "Applying shop.0001_initial... OK" in migrate.stdout
        again = _manage("example", ["cql_migrate", "--database", "cassandra"], env)
        assert again.returncode == 0 and "No CQL migrations to apply." in again.stdout

        check = _manage("example", ["check", "--database", "cassandra", "--deploy"], env)
        assert "django_greencql" not in check.stdout + check.stderr

        shell = _manage("example", ["dbshell", "--database", "cassandra", "--", "-e",
                                    "SELECT name FROM items WHERE id = 1"], env)
        assert shell.returncode == 0, shell.stderr
        assert "teapot" in shell.stdout

        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=CONTRIB / "example",
            env=_env(sim, None, CASSANDRA_KEYSPACE="shop_cmds", DJANGO_SQLITE_PATH=sqlite),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            _read_until(server, b"Quit the server with", 60)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/items/", timeout=20) as r:
                assert b"teapot" in r.read()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status/", timeout=20) as r:
                assert r.status == 200 and b"release_version" in r.read()
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(15)
            server.stdout.close()
    finally:
        from greencql import Cluster

        with Cluster(sim.contact_points, port=sim.port) as cluster:
            cluster.connect().execute("DROP KEYSPACE IF EXISTS shop_cmds")


def test_readme_quick_start_settings_are_valid():
    """The README's Django settings pass the package's settings checks."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Django\n", 1)[1]
    block = re.findall(r"```python\n(.*?)```", section, re.S)[0]
    lines = [ln for ln in section.split("\n## ", 1)[0].splitlines() if ln.strip()]
    assert len(lines) <= 15
    namespace: dict = {"INSTALLED_APPS": [], "DATABASES": {"default": {}}}
    exec(compile(block, "README Django quick start", "exec"), namespace)
    sys.path.insert(0, str(CONTRIB))
    try:
        from django_greencql.config import config_problems, get_config

        assert config_problems("cassandra", namespace["DATABASES"]["cassandra"]) == []
        config = get_config("cassandra", namespace["DATABASES"]["cassandra"])
    finally:
        sys.path.remove(str(CONTRIB))
    assert config.hosts == ("10.0.0.1", "10.0.0.2") and config.keyspace == "shop"
    assert namespace["INSTALLED_APPS"] == ["django_greencql"]
    assert namespace["CACHES"]["default"]["BACKEND"] == "django_greencql.cache.CQLCache"
