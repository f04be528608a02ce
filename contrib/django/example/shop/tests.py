"""The example project's tests: its views through the test client, and the project served by
gunicorn ``-k gevent --preload -w 2`` against the same (test) keyspace."""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.db import connections
from django.test import SimpleTestCase

from django_greencql.test import CQLTestCase

PROJECT = Path(__file__).resolve().parent.parent


def _no_control_socket() -> list[str]:
    # gunicorn 27's control socket has one default path for every gunicorn of the user:
    # parallel runs (other hubs, other suites) would fight over it
    import gunicorn

    return ["--no-control-socket"] if gunicorn.version_info >= (27,) else []


_NO_CONTROL_SOCKET = _no_control_socket()


class ShopViewTests(CQLTestCase):
    databases = {"cassandra"}
    cql_truncate = ["cache_table"]

    def test_items(self):
        self.assertEqual(self.client.get("/items/").json()["items"][0]["name"], "teapot")
        response = self.client.post("/items/", {"id": 2, "name": "cup", "price_cents": 400},
                                    content_type="application/json")
        self.assertEqual(response.status_code, 201)
        self.assertEqual(self.client.get("/items/2/").json(),
                         {"id": 2, "name": "cup", "price_cents": 400})
        self.assertEqual(self.client.get("/items/3/").status_code, 404)
        self.cql_session.execute("DELETE FROM items WHERE id = 2")

    def test_cart_lives_in_the_session(self):
        self.assertEqual(self.client.get("/cart/").json(), {"cart": []})
        self.client.get("/cart/add/1/")
        self.assertEqual(self.client.get("/cart/add/1/").json(), {"cart": [1, 1]})
        self.assertEqual(self.client.get("/cart/").json(), {"cart": [1, 1]})

    def test_status_counts_in_the_cache(self):
        first = self.client.get("/status/").json()
        second = self.client.get("/status/").json()
        self.assertEqual((first["visits"], second["visits"]), (1, 2))
        self.assertEqual((first["seen"], second["seen"]), (1, 2))
        self.assertEqual(first["pid"], os.getpid())


def _tcp_peers(pid: int, port: int) -> set[tuple[str, int, str]]:
    """(local address, local port, remote address) of the established TCP connections of
    process ``pid`` to ``port`` (Linux /proc): the sockets the process itself holds. The
    remote address is part of a socket's identity: one local port serves connections to
    127.0.0.1 and 127.0.0.2 at once."""
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        local, remote, state, inode = parts[1], parts[2], parts[3], parts[9]
        if state != "01" or inode not in inodes or int(remote.split(":")[1], 16) != port:
            continue
        addr, lport = local.split(":")
        found.add((_ipv4(addr), int(lport, 16), _ipv4(remote.split(":")[0])))
    return found


def _ipv4(hex_address: str) -> str:
    return ".".join(str(b) for b in bytes.fromhex(hex_address)[::-1])


class GunicornTests(SimpleTestCase):
    """Two gevent workers forked from a master that imported the project (``--preload``):
    every request succeeds, each worker holds connections of its own, the master none."""

    databases = {"cassandra"}
    REQUESTS = 60
    CLIENTS = 6
    MAX_BATCHES = 5

    def setUp(self):
        if not Path("/proc/self/net/tcp").exists():
            self.skipTest("needs Linux /proc to see whose sockets are whose")

    def _start(self, app: str) -> tuple[subprocess.Popen, int]:
        sd = connections["cassandra"].settings_dict
        env = dict(os.environ, CASSANDRA_HOSTS=sd["HOST"], CASSANDRA_PORT=str(sd["PORT"]),
                   CASSANDRA_KEYSPACE=sd["NAME"], DJANGO_DEBUG="0",
                   DJANGO_SETTINGS_MODULE="example.settings")
        env.pop("GREENCQL_MONKEY_PATCH", None)  # the gevent worker patches itself
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-k", "gevent", "--preload", "-w", "2",
             "-b", "127.0.0.1:0", "--graceful-timeout", "5", *_NO_CONTROL_SOCKET, app],
            cwd=PROJECT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        log = b""
        port = None
        booted = 0
        while port is None or booted < 2:
            remaining = deadline - time.monotonic()
            readable = select.select([proc.stderr], [], [], max(0.0, remaining))[0]
            if not readable:
                self._stop(proc)
                self.fail(f"gunicorn did not start within 30 s: {log.decode()}")
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                self._stop(proc)
                self.fail(f"gunicorn exited: {log.decode()}")
            log += chunk
            for line in log.decode(errors="replace").splitlines():
                if "Listening at: http://127.0.0.1:" in line:
                    port = int(line.rsplit(":", 1)[1].split()[0])
            booted = log.count(b"Booting worker")
        self._log = log
        return proc, port

    @staticmethod
    def _stop(proc: subprocess.Popen) -> str:
        """Stop gunicorn (SIGTERM, then SIGKILL); what it logged after booting."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(15)
        if proc.stderr.closed:
            return ""
        log = proc.stderr.read().decode(errors="replace")  # the process is gone: bounded
        proc.stderr.close()
        return log

    def test_preload_two_gevent_workers(self):
        master, workers = self._serve("example.wsgi:application")
        self.assertEqual(master, set(), "the master holds no connection")
        a, b = workers
        self.assertTrue(a and b, "each worker holds connections")
        self.assertEqual(a & b, set())

    def test_master_used_cassandra_before_forking(self):
        master, workers = self._serve("shop.warm_wsgi:application")
        self.assertTrue(master, "the master connected before forking")
        a, b = workers
        self.assertTrue(a and b, "each worker holds connections of its own")
        self.assertEqual(a & b, set())
        self.assertEqual((a | b) & master, set(), "no worker uses the master's sockets")

    def _serve(self, app: str) -> tuple[set, list[set]]:
        """Serve ``app`` with gunicorn, send requests until both workers answered; the
        master's and each worker's connections to the cluster."""
        proc, port = self._start(app)
        try:
            results: list[tuple[int, dict]] = []
            lock = threading.Lock()

            def client(n: int) -> None:
                for _ in range(n):
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
                    try:
                        conn.request("GET", "/status/")
                        response = conn.getresponse()
                        body = response.read()
                        item = (response.status, json.loads(body) if response.status == 200
                                else {"body": body[:500]})
                    except Exception as exc:  # counted as a failed request below
                        item = (0, {"error": repr(exc)})
                    finally:
                        conn.close()
                    with lock:
                        results.append(item)

            per_client = self.REQUESTS // self.CLIENTS
            sent = 0
            # concurrent batches until both workers answered (the kernel picks who accepts)
            for _ in range(self.MAX_BATCHES):
                threads = [threading.Thread(target=client, args=(per_client,))
                           for _ in range(self.CLIENTS)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(60)
                sent += per_client * self.CLIENTS
                if len({r[1].get("pid") for r in results if r[0] == 200}) >= 2:
                    break
            self.assertEqual(len(results), sent)
            failures = [r for r in results if r[0] != 200]
            if failures:
                self.fail(f"{len(failures)} requests failed: {failures[:3]}\n"
                          f"gunicorn log:\n{self._stop(proc)}")
            pids = {r[1]["pid"] for r in results}
            self.assertTrue(pids <= set(self._worker_pids(proc.pid)), pids)
            self.assertEqual(len(pids), 2, "both workers answered")
            cql_port = int(connections["cassandra"].settings_dict["PORT"])
            return (_tcp_peers(proc.pid, cql_port),
                    [_tcp_peers(pid, cql_port) for pid in sorted(pids)])
        finally:
            self._stop(proc)

    @staticmethod
    def _worker_pids(master: int) -> list[int]:
        children = Path(f"/proc/{master}/task/{master}/children")
        return [int(p) for p in children.read_text().split()]
