"""SimCluster: several simulated Cassandra nodes sharing one engine, on real sockets.

Owns: the layout of a simulated cluster (how many nodes, datacenters, racks, their addresses:
node i on 127.0.0.i with one shared port, as real clusters are laid out, or distinct ports on
127.0.0.1; tokens and host ids, seeded so a cluster is reproducible), starting and stopping
its nodes on a hub (in-process greenlets, a background OS thread with its own hub, or a
separate process running ``greencql sim``), the pushed events that cross nodes (STATUS_CHANGE
when a node stops or starts, TOPOLOGY_CHANGE when one is added or removed, SCHEMA_CHANGE after
DDL), and which nodes replicate a partition (for the request log's ``is_replica``).

It must not parse CQL or store data (the engine does) nor speak the protocol (the nodes do).
"""

from __future__ import annotations

import _socket
import ipaddress
import os
import random
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from greencql.cluster.murmur3 import MAX_TOKEN, MIN_TOKEN, murmur3_token, serialize_partition_key
from greencql.cluster.tokens import TokenRing, replica_map_for, replicas_of
from greencql.errors import OperationTimedOut
from greencql.protocol.constants import Opcode
from greencql.protocol.messages import Event, StatusChangeEvent, TopologyChangeEvent
from greencql.protocol.wire import UNSET
from greencql.testing.engine import Engine, NodeInfo
from greencql.testing.faults import Prime
from greencql.testing.requestlog import RequestRecord
from greencql.testing.server import SUPPORTED_PROTOCOL_VERSIONS, SimNode, _socket_module

__all__ = [
    "SimCluster",
    "SimProcess",
    "DEFAULT_PORT",
    "DEFAULT_NUM_TOKENS",
    "LOOPBACK_ALIASES",
    "DISTINCT_PORTS",
]

#: Cassandra's native transport port
DEFAULT_PORT = 9042
#: Cassandra 4.0's default num_tokens
DEFAULT_NUM_TOKENS = 16
LOOPBACK_ALIASES = "loopback-aliases"
DISTINCT_PORTS = "distinct-ports"
#: a process that has not printed where it listens after this long is stuck
DEFAULT_SPAWN_TIMEOUT = 30.0
_PORT_ATTEMPTS = 20


class SimCluster:
    """A simulated cluster. Use as a context manager (``with SimCluster(3) as sim:``) or call
    :meth:`start` / :meth:`stop`.

    ``nodes``: nodes per datacenter (when ``dcs`` is given) or in total. ``datacenters``:
    ``{"dc1": 3, "dc2": 3}`` (overrides ``nodes``/``dcs``); ``dcs=2`` means dc1, dc2 with
    ``nodes`` each; neither means one datacenter named ``datacenter1`` (Cassandra's default).
    ``racks``: racks per datacenter (nodes dealt round-robin). ``auth``: (user, password) turns
    on PasswordAuthenticator. ``tls``: serve TLS with a fresh test CA (:attr:`certs`), or with
    the given :class:`~greencql.testing.certs.TestCertificates`.
    ``port``: the native port (0: any free one). ``addresses``: 'loopback-aliases' (node i on
    127.0.0.i, one port) or 'distinct-ports' (all on 127.0.0.1, consecutive ports; only
    system.peers_v2 can describe that layout: drivers reading system.peers see one peer). ``hub``:
    a hub name or object (default: the detected hub).
    """

    def __init__(
        self,
        nodes: int = 3,
        *,
        datacenters: Mapping[str, int] | None = None,
        dcs: int | None = None,
        racks: int = 1,
        protocol_versions: Sequence[int] = SUPPORTED_PROTOCOL_VERSIONS,
        auth: tuple[str, str] | None = None,
        tls: Any = False,
        port: int = DEFAULT_PORT,
        addresses: str = LOOPBACK_ALIASES,
        num_tokens: int = DEFAULT_NUM_TOKENS,
        hub: Any = None,
        cluster_name: str = "greencql",
        seed: int = 0,
        first_address: str = "127.0.0.1",
    ) -> None:
        if hub is None or isinstance(hub, str):
            from greencql.hubs import get_hub

            hub = get_hub(hub)
        self.hub = hub
        if datacenters is None:
            if dcs is None:
                datacenters = {"datacenter1": nodes}
            else:
                datacenters = {f"dc{i}": nodes for i in range(1, dcs + 1)}
        if addresses not in (LOOPBACK_ALIASES, DISTINCT_PORTS):
            raise ValueError(f"addresses must be {LOOPBACK_ALIASES!r} or {DISTINCT_PORTS!r}")
        bad = [v for v in protocol_versions if v not in SUPPORTED_PROTOCOL_VERSIONS]
        if bad or not protocol_versions:
            raise ValueError(f"protocol versions must be among {SUPPORTED_PROTOCOL_VERSIONS}")
        self.protocol_versions = tuple(sorted(protocol_versions))
        self.credentials = {auth[0]: auth[1]} if auth is not None else None
        self.auth = auth
        self.addresses = addresses
        self.num_tokens = num_tokens
        self.cluster_name = cluster_name
        self._rng = random.Random(seed)
        self._base = ipaddress.ip_address(first_address)
        self._requested_port = port
        self._started = False
        self._topology_cache: dict[Any, Any] = {}
        self._topology_gen = 0
        self._thread: _ClusterThread | None = None
        layout = []
        for dc, count in datacenters.items():
            for i in range(count):
                layout.append((dc, f"rack{i % max(1, racks) + 1}"))
        self.certs: Any = None
        if tls and not isinstance(tls, bool):
            self.certs = tls  # TestCertificates made by the caller (e.g. for the wrong name)
        elif tls:
            from greencql.testing.certs import make_test_certificates

            self.certs = make_test_certificates(
                [self._address_of(i) for i in range(1, len(layout) + 20)])
        self.nodes: list[SimNode] = []
        for dc, rack in layout:
            self._new_node(dc, rack)
        self.engine = Engine(self._node_infos(), cluster_name=cluster_name, seed=seed)
        self.engine.client_source = self._client_rows
        self.engine.live_hosts = self._live_hosts

    def _live_hosts(self) -> set[uuid.UUID]:
        """Host ids of the nodes serving (a stopped node is down for the others)."""
        return {n.host_id for n in self.nodes if n.running}

    def _client_rows(self, info: NodeInfo | None) -> list[dict[str, Any]]:
        """system_views.clients as the node ``info`` serves it: its open connections."""
        node = next((n for n in self.nodes if info is not None and n.host_id == info.host_id),
                    None)
        if node is None:
            return []
        out = []
        for conn in node.connections:
            peer = conn.peer if isinstance(conn.peer, tuple) else (str(conn.peer), 0)
            hs = getattr(conn, "handshake", None)
            opts = (getattr(hs, "startup_options", None) or {}) if hs is not None else {}
            try:
                address = ipaddress.ip_address(peer[0])
            except ValueError:
                continue
            out.append({
                "address": address, "port": int(peer[1]),
                "connection_stage": "ready" if getattr(conn, "ready", False) else "established",
                "driver_name": opts.get("DRIVER_NAME"),
                "driver_version": opts.get("DRIVER_VERSION"),
                "hostname": str(address), "protocol_version": conn.version or None,
                "request_count": 0, "ssl_cipher_suite": None,
                "ssl_enabled": node._tls_context is not None, "ssl_protocol": None,
                "username": "anonymous",
            })
        return out

    # -- layout ---------------------------------------------------------------------------

    def _address_of(self, index: int) -> str:
        if self.addresses == DISTINCT_PORTS:
            return str(self._base)
        return str(self._base + (index - 1))

    def _port_of(self, index: int) -> int:
        if self.addresses == DISTINCT_PORTS and self._requested_port:
            return self._requested_port + index - 1
        if self.addresses == LOOPBACK_ALIASES and self.nodes and self.nodes[0].port:
            return self.nodes[0].port
        return self._requested_port

    def _new_node(self, dc: str, rack: str) -> SimNode:
        index = max((n.index for n in self.nodes), default=0) + 1
        tokens = sorted({self._rng.randint(MIN_TOKEN + 1, MAX_TOKEN)
                         for _ in range(self.num_tokens)})
        host_id = uuid.UUID(int=self._rng.getrandbits(128), version=4)
        address = self._address_of(index)
        ctx = self.certs.server_context(address) if self.certs is not None else None
        node = SimNode(self, index, address, self._port_of(index), dc=dc, rack=rack,
                       tokens=tokens, host_id=host_id, tls_context=ctx)
        self.nodes.append(node)
        return node

    def _node_infos(self) -> list[NodeInfo]:
        return [NodeInfo(n.address, n.host_id, n.tokens, port=n.port, dc=n.dc, rack=n.rack)
                for n in self.nodes]

    def _topology_changed(self) -> None:
        self.engine.set_nodes(self._node_infos())
        self._topology_gen += 1
        self._topology_cache.clear()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> SimCluster:
        """Bind every node and start accepting, on the current hub. Returns self."""
        if self._started:
            return self
        self._bind_all()
        self._topology_changed()  # ports are known now
        for node in self.nodes:
            node.start()
        self._started = True
        return self

    def _bind_all(self) -> None:
        if self.addresses == DISTINCT_PORTS or self._requested_port:
            for node in self.nodes:
                node.bind()
            return
        # loopback aliases on port 0: the first node picks a free port, the others must get
        # the same one on their own address (almost always free; else try another)
        for _ in range(_PORT_ATTEMPTS):
            for node in self.nodes:
                node.port = 0
            try:
                port = self.nodes[0].bind()
                for node in self.nodes[1:]:
                    node.port = port
                    node.bind()
                return
            except OSError:
                for node in self.nodes:
                    node._unbind()
        raise OSError("no port free on every node address")

    def stop(self) -> None:
        """Stop every node (no events: the whole cluster goes away)."""
        if self._thread is not None:
            thread, self._thread = self._thread, None
            thread.stop()
            return
        self._started = False
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> SimCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start_in_thread(self, timeout: float = 10.0) -> SimCluster:
        """Run the cluster on a background OS thread with its own hub loop, for clients that
        block an OS thread (cassandra-driver, cqlsh) in this process. On the thread hub this
        is :meth:`start` (its tasks are threads already). Stop with :meth:`stop`.
        Calls into the cluster (faults, logs) then happen from another thread than its
        loop: keep them to simple switches (stop/start from the owning thread only)."""
        if self.hub.name == "thread":
            return self.start()
        self._thread = _ClusterThread(self)
        self._thread.start(timeout)
        return self

    # -- access ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.nodes[0].port

    @property
    def contact_points(self) -> list[str]:
        """Node addresses (for drivers: with :attr:`port`, in the loopback layout)."""
        return [n.address for n in self.nodes]

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        return [n.endpoint for n in self.nodes]

    def node(self, which: int | str) -> SimNode:
        """A node by 1-based index (as in its name and address), name or address."""
        for n in self.nodes:
            if which in (n.index, n.name, n.address, f"{n.address}:{n.port}"):
                return n
        raise KeyError(which)

    def __getitem__(self, index: int) -> SimNode:
        return self.nodes[index]

    def __len__(self) -> int:
        return len(self.nodes)

    def records(self, predicate: Any = None, **filters: Any) -> list[RequestRecord]:
        """Every node's request records matching the filters, in arrival time order."""
        out = [r for n in self.nodes for r in n.log.records(predicate, **filters)]
        out.sort(key=lambda r: r.time)
        return out

    def clear_logs(self) -> None:
        for n in self.nodes:
            n.log.clear()

    def prime(self, pattern: Any, *, nodes: Sequence[SimNode] | None = None,
              **kwargs: Any) -> Prime:
        """Prime an answer on several nodes (all by default); ``times`` counts them all."""
        prime = pattern if isinstance(pattern, Prime) else Prime(pattern, **kwargs)
        for n in nodes or self.nodes:
            n.faults.add_prime(prime)
        return prime

    def clear_primes(self) -> None:
        for n in self.nodes:
            n.faults.clear_primes()

    def reset_faults(self) -> None:
        for n in self.nodes:
            n.faults.reset()

    # -- topology changes -----------------------------------------------------------------

    def add_node(self, dc: str | None = None, rack: str | None = None) -> SimNode:
        """Add and start a node (next address); other nodes' clients get TOPOLOGY_CHANGE
        NEW_NODE, then STATUS_CHANGE UP."""
        dc = dc or self.nodes[-1].dc
        node = self._new_node(dc, rack or "rack1")
        if self._started:
            node.bind()
        self._topology_changed()
        if self._started:
            # NEW_NODE while the listener is bound (connections wait in its backlog), then the
            # node comes UP, as a joining Cassandra node is announced
            self.broadcast_event(TopologyChangeEvent("NEW_NODE", node.endpoint), exclude=node)
            node.start()
        return node

    def remove_node(self, node: SimNode) -> None:
        """Stop and remove a node (decommission); clients get TOPOLOGY_CHANGE REMOVED_NODE."""
        was_started = self._started
        self._started = False  # no STATUS_CHANGE for a decommission
        try:
            node.stop()
        finally:
            self._started = was_started
        self.nodes.remove(node)
        self._topology_changed()
        if self._started:
            self.broadcast_event(TopologyChangeEvent("REMOVED_NODE", node.endpoint))

    # -- events ---------------------------------------------------------------------------

    def broadcast_event(self, event: Event, exclude: SimNode | None = None) -> None:
        """Push ``event`` to registered connections of every running node."""
        for n in self.nodes:
            if n.running and n is not exclude:
                n.push_event(event)

    def _has_listeners(self, event_type: str, exclude: SimNode | None = None) -> bool:
        """Whether a connection to a running node (but ``exclude``) registered for
        ``event_type`` events."""
        return any(n.running and n is not exclude and n.has_listeners(event_type)
                   for n in self.nodes)

    def _node_changed(self, node: SimNode, change: str) -> None:
        if self._started:
            self.broadcast_event(StatusChangeEvent(change, node.endpoint), exclude=node)

    # -- replicas -------------------------------------------------------------------------

    def replicas(self, keyspace: str, routing_key: bytes) -> list[SimNode]:
        """The nodes replicating the partition ``routing_key`` (serialized partition key) of
        a table in ``keyspace``, as its replication strategy places them."""
        ks = self.engine.schema.keyspaces.get(keyspace)
        if ks is None:
            return []
        repl = dict(ks.replication)
        key = tuple(sorted(repl.items()))
        cached = self._topology_cache.get(key)
        if cached is None:
            ring: TokenRing[SimNode] = TokenRing({n: n.tokens for n in self.nodes})
            rmap = replica_map_for(ring, repl, {n: n.dc for n in self.nodes},
                                   {n: n.rack for n in self.nodes})
            cached = self._topology_cache[key] = (ring, rmap)
        ring, rmap = cached
        return replicas_of(ring, rmap, murmur3_token(routing_key))

    def routing_of(self, rec: RequestRecord) -> tuple[str, bytes] | None:
        """(keyspace, serialized partition key) of a logged request, when its bound values
        determine it."""
        engine = self.engine
        values = rec.values
        if values is None:
            return None
        try:
            if rec.opcode == Opcode.EXECUTE and rec.prepared_id is not None:
                prep = engine.get_prepared(rec.prepared_id)
            elif rec.opcode == Opcode.QUERY and rec.query is not None:
                prep = engine.prepare(rec.query, rec.keyspace)
            else:
                return None
        except Exception:
            return None
        if prep is None or not prep.pk_indexes:
            return None
        if isinstance(values, Mapping):
            names = [s.name for s in prep.bind_specs]
            try:
                values = [values[n] for n in names]
            except KeyError:
                return None
        try:
            parts = [values[i] for i in prep.pk_indexes]
        except IndexError:
            return None
        if any(p is None or p is UNSET or not isinstance(p, (bytes, bytearray, memoryview))
               for p in parts):
            return None
        keyspace = prep.bind_specs[prep.pk_indexes[0]].keyspace
        return keyspace, serialize_partition_key([bytes(p) for p in parts])

    # -- a separate process ---------------------------------------------------------------

    @classmethod
    def spawn_process(cls, nodes: int = 3, *, dcs: int | None = None, racks: int = 1,
                      port: int = 0, auth: tuple[str, str] | None = None,
                      tls_dir: str | None = None, protocol_versions: Sequence[int] | None
                      = None, num_tokens: int = DEFAULT_NUM_TOKENS, hub: str | None = None,
                      extra_args: Sequence[str] = (), timeout: float = DEFAULT_SPAWN_TIMEOUT,
                      env: Mapping[str, str] | None = None) -> SimProcess:
        """Run ``greencql sim`` in a child process and wait (at most ``timeout`` seconds)
        until every node listens. For clients that block OS threads (cassandra-driver,
        cqlsh) from a green process. ``hub``: the child's hub (default: thread)."""
        args = [sys.executable, "-m", "greencql", "sim", "--nodes", str(nodes),
                "--port", str(port), "--racks", str(racks), "--num-tokens", str(num_tokens)]
        if dcs:
            args += ["--dcs", str(dcs)]
        if auth:
            args += ["--auth", f"{auth[0]}:{auth[1]}"]
        if tls_dir:
            args += ["--tls-dir", tls_dir]
        if protocol_versions:
            args += ["--protocol-versions", ",".join(str(v) for v in protocol_versions)]
        if hub:
            args += ["--hub", hub]
        args += list(extra_args)
        child_env = dict(os.environ if env is None else env)
        child_env.pop("GREENCQL_TEST_HUB", None)
        child_env.setdefault("PYTHONUNBUFFERED", "1")
        return SimProcess(args, child_env, timeout)


class SimProcess:
    """A ``greencql sim`` child process; ``.endpoints`` / ``.contact_points`` / ``.port`` are
    where it listens. Stop with :meth:`stop` (SIGTERM, then SIGKILL after a grace period)."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], timeout: float) -> None:
        self.args = list(args)
        self.endpoints: list[tuple[str, int]] = []
        #: the test CA's PEM file when the process serves TLS (``--tls-dir``)
        self.ca_cert: str | None = None
        self.output: list[str] = []
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=dict(env))
        self._buf = b""
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _readline(self, deadline: float) -> str | None:
        out = self.process.stdout
        assert out is not None
        fd = out.fileno()
        while b"\n" not in self._buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OperationTimedOut("greencql sim did not start in time: "
                                        + " | ".join(self.output))
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        text = line.decode("utf-8", "replace").rstrip()
        self.output.append(text)
        return text

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            line = self._readline(deadline)
            if line is None:
                err = self.process.stderr.read().decode("utf-8", "replace") \
                    if self.process.stderr else ""
                raise RuntimeError(f"greencql sim exited: {' | '.join(self.output)} {err}")
            if " listening on " in line:
                host, _, port = line.rsplit(" ", 1)[1].rpartition(":")
                self.endpoints.append((host, int(port)))
            elif line.startswith("tls ca "):
                self.ca_cert = line[len("tls ca "):]
            elif line.startswith("greencql sim: ready"):
                return

    @property
    def contact_points(self) -> list[str]:
        return [h for h, _ in self.endpoints]

    @property
    def port(self) -> int:
        return self.endpoints[0][1]

    def stop(self, timeout: float = 10.0) -> int | None:
        """Terminate the process; its exit code (None if it had to be killed)."""
        proc = self.process
        code: int | None = proc.poll()
        if code is None:
            proc.terminate()
            try:
                code = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
                code = None
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        return code

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- a background OS thread with its own hub loop ----------------------------------------------


def _real_start_new_thread() -> Any:
    """``_thread.start_new_thread`` as it was before monkey patching (a real OS thread).

    Looked up through the patchers' own records in sys.modules: this module must not import
    gevent or eventlet (only hubs/ does)."""
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("threading"):
        return monkey.get_original("_thread", "start_new_thread")
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None and patcher.is_monkey_patched("thread"):
        return patcher.original("_thread").start_new_thread
    import _thread

    return _thread.start_new_thread


class _ClusterThread:
    """Runs a SimCluster on a real OS thread; start/stop handshakes go through pipes, which
    every hub waits on without blocking another thread's loop."""

    def __init__(self, cluster: SimCluster) -> None:
        self.cluster = cluster
        self._ready_r, self._ready_w = os.pipe()
        # the stop signal must be a socket: the loop thread waits on it with its hub's socket
        # class; _socket is below every monkey patch, so these two are plain fds here
        self._stop_waiter, self._stop_sender = _socket.socketpair()
        self.error: BaseException | None = None

    def start(self, timeout: float) -> None:
        _real_start_new_thread()(self._main, ())
        self._wait_pipe(self._ready_r, timeout, "start")
        if self.error is not None:
            raise self.error

    def _main(self) -> None:
        cluster = self.cluster
        hub = cluster.hub
        try:
            cluster.start()
        except BaseException as exc:
            self.error = exc
            os.write(self._ready_w, b"x")
            return
        os.write(self._ready_w, b"1")
        mod = _socket_module(hub)
        # wait cooperatively on this thread's loop for the stop byte
        waker = mod.socket(fileno=self._stop_waiter.detach())
        try:
            waker.recv(1)
        except OSError:
            pass
        finally:
            waker.close()
        cluster._started = False
        for node in cluster.nodes:
            node.stop()
        hub.sleep(0)
        os.write(self._ready_w, b"2")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_sender.send(b"s")
        try:
            self._wait_pipe(self._ready_r, timeout, "stop")
        finally:
            self._stop_sender.close()
            for fd in (self._ready_r, self._ready_w):
                try:
                    os.close(fd)
                except OSError:
                    pass

    @staticmethod
    def _wait_pipe(fd: int, timeout: float, what: str) -> None:
        readable, _, _ = select.select([fd], [], [], timeout)
        if not readable:
            raise OperationTimedOut(f"the cluster thread did not {what} within {timeout} s")
        os.read(fd, 1)

