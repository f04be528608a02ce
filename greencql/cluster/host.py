"""What the cluster layer knows about one node, and how far away it is.

Owns: :class:`EndPoint` (where to connect), :class:`Host` (a node as the control connection
describes it: datacenter, rack, host id, version, tokens, up/down state), :class:`HostDistance`
(how the load-balancing policy ranks a node, which also sizes its connection pool) and the
:class:`HostStateListener` protocol through which the cluster fans out up/down/add/remove.

Must not: open sockets, read clocks, keep listeners or pools. A Host is a plain record that the
control connection updates and the policies read; who listens to its changes is decided by the
cluster, not here. Names follow cassandra-driver (``cassandra.pool.Host``,
``cassandra.policies.HostDistance``) so user code ports by changing the import.
"""

from __future__ import annotations

import enum
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

__all__ = [
    "DEFAULT_PORT",
    "EndPoint",
    "Host",
    "HostDistance",
    "HostStateListener",
]

#: the native transport port Cassandra and ScyllaDB listen on out of the box
DEFAULT_PORT = 9042


@dataclass(frozen=True, order=True)
class EndPoint:
    """Where to open a connection: an RPC address and port. Immutable and hashable, so it can
    identify a host across topology refreshes (the address a node is reached at does not change
    when its datacenter, tokens or version are re-read)."""

    address: str
    port: int = DEFAULT_PORT

    def __post_init__(self) -> None:
        if not self.address:
            raise ValueError("endpoint address may not be empty")
        if not 0 < self.port < 65536:
            raise ValueError(f"port out of range: {self.port}")

    @classmethod
    def parse(cls, text: str, default_port: int = DEFAULT_PORT) -> EndPoint:
        """An endpoint from ``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` (contact points
        are usually given as strings)."""
        text = text.strip()
        if text.startswith("["):
            addr, _, rest = text[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else default_port
            return cls(addr, port)
        if text.count(":") == 1:  # more than one colon: a bare IPv6 address, no port
            addr, _, port_text = text.partition(":")
            return cls(addr, int(port_text))
        return cls(text, default_port)

    def __str__(self) -> str:
        if ":" in self.address:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"

    def resolve(self) -> tuple[str, int]:
        """``(address, port)`` to connect to, as cassandra-driver's ``EndPoint.resolve()``
        (names are resolved by the hub when connecting, not here)."""
        return self.address, self.port

    @property
    def socket_family(self) -> int:
        """cassandra-driver's attribute: the address family of a literal address."""
        return int(socket.AF_INET6 if ":" in self.address else socket.AF_INET)


class HostDistance(enum.IntEnum):
    """How near a node is to this client, as the load-balancing policy sees it.

    The distance orders query plans (nearer first) and sizes each host's pool: IGNORED hosts get
    no connections at all. Smaller values are nearer, except IGNORED, which is never used.
    ``LOCAL_RACK`` exists for rack-aware balancing (as in ScyllaDB's driver and the Java driver);
    policies that know nothing of racks never return it.
    """

    IGNORED = -1
    LOCAL_RACK = 0
    LOCAL = 1
    REMOTE = 2


class Host:
    """One Cassandra/ScyllaDB node, identified by its endpoint.

    Equality and hash use the endpoint only, because everything else (datacenter, rack, tokens,
    version, state) may be rewritten by a topology refresh while the same node stays in sets and
    dicts of the policies and pools. ``is_up`` is ``None`` until the cluster has tried the node,
    then ``True``/``False``.
    """

    __slots__ = (
        "__weakref__",
        "_datacenter",
        "_hash",
        "_hash_of",
        "_rack",
        "broadcast_address",
        "broadcast_port",
        "broadcast_rpc_address",
        "broadcast_rpc_port",
        "endpoint",
        "host_id",
        "is_up",
        "listen_address",
        "listen_port",
        "release_version",
        "tokens",
    )

    def __init__(
        self,
        endpoint: EndPoint | str,
        datacenter: str | None = None,
        rack: str | None = None,
        host_id: UUID | None = None,
        release_version: str | None = None,
        tokens: Iterable[int | str] = (),
        *,
        port: int | None = None,
    ) -> None:
        if isinstance(endpoint, str):
            endpoint = EndPoint(endpoint, port) if port is not None else EndPoint.parse(endpoint)
        self.endpoint: EndPoint = endpoint
        self._datacenter = datacenter
        self._rack = rack
        self.host_id = host_id
        self.release_version = release_version
        #: the node's tokens as the system tables list them (decimal strings or ints)
        self.tokens: tuple[int | str, ...] = tuple(tokens)
        self.broadcast_address: str | None = None
        self.broadcast_rpc_address: str | None = None
        self.listen_address: str | None = None
        # the ports cassandra-driver's Host reports (from system.local / system.peers_v2;
        # None where the server's tables do not say)
        self.broadcast_port: int | None = None
        self.broadcast_rpc_port: int | None = None
        self.listen_port: int | None = None
        self.is_up: bool | None = None

    @property
    def address(self) -> str:
        """The address the driver connects to (cassandra-driver's ``Host.address``)."""
        return self.endpoint.address

    @property
    def port(self) -> int:
        return self.endpoint.port

    @property
    def datacenter(self) -> str | None:
        return self._datacenter

    @property
    def rack(self) -> str | None:
        return self._rack

    def set_location_info(self, datacenter: str | None, rack: str | None) -> None:
        """Set datacenter and rack (the control connection does this on refresh). Policies group
        hosts by datacenter when the host is added; a host that moves must be removed and added
        again for them to notice, as in cassandra-driver."""
        self._datacenter = datacenter
        self._rack = rack

    def set_up(self) -> None:
        self.is_up = True

    def set_down(self) -> None:
        self.is_up = False

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Host):
            return self.endpoint == other.endpoint
        return NotImplemented

    def __hash__(self) -> int:
        # hashed per request (the session's pools are keyed by host): the endpoint's hash (a
        # dataclass's, in Python) is computed once per endpoint object
        endpoint = self.endpoint
        try:
            if self._hash_of is endpoint:
                return self._hash  # type: ignore[no-any-return]
        except AttributeError:
            pass
        self._hash = value = hash(endpoint)
        self._hash_of = endpoint
        return value

    def __repr__(self) -> str:
        where = f" {self._datacenter}" if self._datacenter else ""
        if self._rack:
            where += f"/{self._rack}"
        return f"<Host: {self.endpoint}{where}>"

    def __str__(self) -> str:
        return str(self.endpoint)

    def __reduce__(self) -> tuple[Any, ...]:
        # Slots and a read-only property need an explicit recipe; errors name hosts and must
        # pickle (NoHostAvailable.errors is keyed by Host).
        state = {name: getattr(self, name) for name in _PICKLED}
        return (_rebuild_host, (self.endpoint, self._datacenter, self._rack, state))


_PICKLED = (
    "host_id",
    "release_version",
    "tokens",
    "broadcast_address",
    "broadcast_rpc_address",
    "listen_address",
    "is_up",
    "broadcast_port",
    "broadcast_rpc_port",
    "listen_port",
)


def _rebuild_host(
    endpoint: EndPoint, datacenter: str | None, rack: str | None, state: dict[str, Any]
) -> Host:
    host = Host(endpoint, datacenter, rack)
    for name, value in state.items():
        setattr(host, name, value)
    return host


@runtime_checkable
class HostStateListener(Protocol):
    """What the cluster calls when a node changes state; load-balancing policies are listeners,
    and so may be user code (cassandra-driver's ``Cluster.register_listener``).

    ``on_add`` means a node joined the cluster and should be considered up; ``on_remove`` means
    it left the ring for good (decommissioned), which is different from ``on_down``.
    """

    def on_up(self, host: Host) -> None: ...

    def on_down(self, host: Host) -> None: ...

    def on_add(self, host: Host) -> None: ...

    def on_remove(self, host: Host) -> None: ...
