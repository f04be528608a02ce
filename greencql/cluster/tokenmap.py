"""The driver's token map: which hosts hold the partition of a routing key, per keyspace.

Owns: the partitioners a client has to reproduce (Murmur3Partitioner, RandomPartitioner,
ByteOrderedPartitioner: the token of a routing key and the parsing of the token strings that
system.local / system.peers list), the sorted ring of (token, owning :class:`Host`) built from
the hosts' ``tokens``, and per keyspace the replicas of every ring range under the keyspace's
replication map, cached so that a lookup is one hash of the key plus one bisect.

Placement itself (SimpleStrategy walking the ring, NetworkTopologyStrategy with racks) is the
one implementation in :mod:`greencql.cluster.tokens`, shared with the simulator; this module
decides which of those to apply and caches the result.

Must not: do IO, read clocks, or know about the schema model (it gets replication maps as plain
``{'class': ..., ...}`` dicts). A TokenMap is rebuilt (a new object) when the topology changes;
replication changes update one keyspace in place. Lookups from many greenlets or threads only
read dicts that writers replace whole, so they never need a lock.

Strategies other than Simple and NetworkTopology:

- ``LocalStrategy`` (system, system_schema): every node holds its own copy of its own data, so
  no node is "the" replica; like cassandra-driver, the replica list is empty and a token-aware
  policy falls back to its child policy;
- ``EverywhereStrategy`` (DSE, ScyllaDB): every host holds every partition, so the replicas are
  all hosts, in ring order from the range's owner;
- any other class: empty, as in cassandra-driver.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from binascii import unhexlify
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

from greencql.cluster.host import Host
from greencql.cluster.murmur3 import MAX_TOKEN, MIN_TOKEN, murmur3_token
from greencql.cluster.tokens import (
    BytesToken,
    MD5Token,
    Murmur3Token,
    TokenRing,
    network_topology_replicas,
    simple_strategy_replicas,
)
from greencql.cluster.tokens import Token as TokenObject

__all__ = [
    "MURMUR3_PARTITIONER",
    "RANDOM_PARTITIONER",
    "BYTE_ORDERED_PARTITIONER",
    "Partitioner",
    "TokenMap",
    "get_partitioner",
    "replication_factor",
]

MURMUR3_PARTITIONER = "org.apache.cassandra.dht.Murmur3Partitioner"
RANDOM_PARTITIONER = "org.apache.cassandra.dht.RandomPartitioner"
BYTE_ORDERED_PARTITIONER = "org.apache.cassandra.dht.ByteOrderedPartitioner"

_log = logging.getLogger(__name__)

#: a ring token: an int for the hash partitioners, bytes for the byte-ordered one
Token = Any

_RANDOM_MAX = 2**127


class Partitioner:
    """How one partitioner turns a routing key into a token and reads token strings.

    ``token_for_key(routing_key)`` is the partitioner's own hash; ``parse_token(text)`` reads a
    token as the system tables list it (decimal for the hash partitioners, hex for the
    byte-ordered one). Tokens of one partitioner are totally ordered by ``<``.
    """

    __slots__ = ("name", "parse_token", "token_for_key")

    def __init__(
        self,
        name: str,
        token_for_key: Callable[[bytes], Token],
        parse_token: Callable[[str | int | bytes], Token],
    ) -> None:
        self.name = name
        self.token_for_key = token_for_key
        self.parse_token = parse_token

    def __repr__(self) -> str:
        return f"<Partitioner {self.name.rsplit('.', 1)[-1]}>"


def _parse_murmur3(text: str | int | bytes) -> int:
    value = int(text)
    if not MIN_TOKEN <= value <= MAX_TOKEN:
        raise ValueError(f"Murmur3 token out of range: {text!r}")
    return Murmur3Token(value)  # an int subclass: the ring sorts and bisects it as an int


def _random_token(key: bytes) -> int:
    # Cassandra: new BigInteger(md5(key)).abs() -- the digest as a signed big-endian number
    digest = hashlib.md5(key, usedforsecurity=False).digest()
    return abs(int.from_bytes(digest, "big", signed=True))


def _parse_random(text: str | int | bytes) -> int:
    value = int(text)
    if not 0 <= value <= _RANDOM_MAX:
        raise ValueError(f"RandomPartitioner token out of range: {text!r}")
    return MD5Token(value)


def _bytes_token(key: bytes) -> bytes:
    return bytes(key)


def _parse_bytes(text: str | int | bytes) -> bytes:
    if isinstance(text, bytes):
        return BytesToken(text)
    if isinstance(text, int):
        raise ValueError(f"ByteOrderedPartitioner tokens are hex strings, not {text!r}")
    return BytesToken(unhexlify(text))


_TOKEN_CLASSES: dict[str, type[TokenObject]] = {
    MURMUR3_PARTITIONER: Murmur3Token,
    RANDOM_PARTITIONER: MD5Token,
    BYTE_ORDERED_PARTITIONER: BytesToken,
}

_PARTITIONERS = {
    "Murmur3Partitioner": Partitioner(MURMUR3_PARTITIONER, murmur3_token, _parse_murmur3),
    "RandomPartitioner": Partitioner(RANDOM_PARTITIONER, _random_token, _parse_random),
    "ByteOrderedPartitioner": Partitioner(BYTE_ORDERED_PARTITIONER, _bytes_token, _parse_bytes),
}


def get_partitioner(name: str | None) -> Partitioner | None:
    """The partitioner named in system.local (full class name or short name), or None for a
    partitioner a client cannot route with (OrderPreservingPartitioner, LocalPartitioner,
    custom ones): token awareness is then off, as in cassandra-driver."""
    if not name:
        return None
    return _PARTITIONERS.get(name.rsplit(".", 1)[-1])


def replication_factor(text: str | int) -> int:
    """The number of *full* replicas in a replication factor as system_schema lists it:
    ``'3'``, or ``'3/1'`` (3 replicas of which 1 transient, Cassandra 4.0) -> 2, the count
    cassandra-driver routes to. Raises ValueError on anything else."""
    if isinstance(text, int):
        return text
    all_part, sep, transient = str(text).partition("/")
    full = int(all_part)
    if sep:
        full -= int(transient)
    if full < 0:
        raise ValueError(f"bad replication factor {text!r}")
    return full


def _strategy_key(replication: Mapping[str, str]) -> tuple[Any, ...] | None:
    """A hashable description of how a replication map places replicas (None: no replicas).
    Keyspaces with equal keys share one replica table."""
    cls = str(replication.get("class") or "").rsplit(".", 1)[-1]
    if cls == "SimpleStrategy":
        try:
            return ("simple", replication_factor(replication.get("replication_factor", "1")))
        except ValueError:
            return None
    if cls == "NetworkTopologyStrategy":
        rfs = []
        for dc, rf in replication.items():
            if dc in ("class", "replication_factor"):
                # 'replication_factor' in an NTS map is expanded by Cassandra to every DC at
                # creation time; a map that still holds it has nothing to route on
                continue
            try:
                full = replication_factor(rf)
            except ValueError:
                continue
            if full > 0:
                rfs.append((dc, full))
        return ("nts", tuple(sorted(rfs)))
    if cls == "EverywhereStrategy":
        return ("everywhere",)
    return None


class _Ring:
    """Sorted ring tokens and their owners, shaped like :class:`~greencql.cluster.tokens.
    TokenRing` (whose placement functions read only ``tokens`` and ``owners``) but for any
    partitioner's tokens, which TokenRing's Murmur3 range check would refuse."""

    __slots__ = ("owners", "tokens")

    def __init__(self, tokens: tuple[Token, ...], owners: tuple[Host, ...]) -> None:
        self.tokens = tokens
        self.owners = owners


class TokenMap:
    """The ring of one topology and the replicas of each keyspace on it.

    Built from the hosts (each ``Host.tokens`` as the system tables list them, plus
    ``datacenter`` and ``rack`` for NetworkTopologyStrategy) and the keyspaces' replication
    maps. ``get_replicas(keyspace, routing_key)`` costs one partitioner hash and one bisect:
    the replicas of every range are computed once per distinct replication setting, on first
    use, and shared by all keyspaces with that setting.
    """

    def __init__(
        self,
        partitioner: str | Partitioner,
        hosts: Iterable[Host],
        replication: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        if isinstance(partitioner, str):
            found = get_partitioner(partitioner)
            if found is None:
                raise ValueError(f"unsupported partitioner {partitioner!r}")
            partitioner = found
        self.partitioner: Partitioner = partitioner
        parse = partitioner.parse_token
        owner_of: dict[Token, Host] = {}
        for host in hosts:
            for text in host.tokens:
                try:
                    owner_of[parse(text)] = host
                except ValueError:
                    # one bad peer row must not turn token awareness off for the cluster
                    _log.warning("ignoring token %r of %s: not a %s token", text, host,
                                 partitioner.name.rsplit(".", 1)[-1])
        ordered = sorted(owner_of.items())
        #: ring tokens, ascending; ``ring[i]`` ends the range (ring[i-1], ring[i]]
        self.ring: tuple[Token, ...] = tuple(t for t, _ in ordered)
        #: ``owners[i]`` is the primary owner of the range ending at ``ring[i]``
        self.owners: tuple[Host, ...] = tuple(h for _, h in ordered)
        #: token -> owning host (cassandra-driver's ``TokenMap.token_to_host_owner``)
        self.token_to_host_owner: dict[Token, Host] = dict(ordered)
        self._ring = _Ring(self.ring, self.owners)
        self._replication: dict[str, dict[str, str]] = {
            k: dict(v) for k, v in (replication or {}).items()
        }
        # keyspace -> replicas per ring index (None: keyspace has no replica placement)
        self._by_keyspace: dict[str, tuple[tuple[Host, ...], ...] | None] = {}
        # strategy key -> replicas per ring index, shared by keyspaces with equal settings
        self._by_strategy: dict[tuple[Any, ...], tuple[tuple[Host, ...], ...]] = {}
        # serializes writers and cache fills (readers that hit the cache never take it)
        self._lock = threading.Lock()

    # -- tokens -----------------------------------------------------------------------------

    def token_for_key(self, routing_key: bytes) -> Token:
        """The partitioner token of a serialized routing key."""
        return self.partitioner.token_for_key(routing_key)

    def owner_index(self, token: Token) -> int:
        """Index in :attr:`ring` of the range holding ``token`` (first ring token >= it,
        wrapping past the last). Raises ValueError on an empty ring."""
        ring = self.ring
        if not ring:
            raise ValueError("empty token ring")
        i = bisect_left(ring, token)
        return 0 if i == len(ring) else i

    def primary_replica(self, token: Token) -> Host:
        """The host owning the range that holds ``token``."""
        return self.owners[self.owner_index(token)]

    def all_hosts(self) -> list[Host]:
        """Hosts that own tokens, in order of first appearance on the ring."""
        return list(dict.fromkeys(self.owners))

    # -- replicas ---------------------------------------------------------------------------

    @property
    def token_class(self) -> type[TokenObject]:
        """The :class:`~greencql.cluster.metadata.compat.Token` subclass of this ring's
        partitioner (cassandra-driver's ``TokenMap.token_class``)."""
        return _TOKEN_CLASSES[self.partitioner.name]

    def get_replicas(self, keyspace: str, routing_key: bytes | TokenObject) -> list[Host]:
        """The replicas of the partition with this serialized routing key, in placement order
        (for NetworkTopologyStrategy, each datacenter's replicas together). Empty when the
        keyspace is unknown, has no replica placement (LocalStrategy) or the ring is empty.
        A :class:`~greencql.cluster.metadata.compat.Token` is taken as the token itself, as
        cassandra-driver's ``TokenMap.get_replicas(keyspace, token)``."""
        if isinstance(routing_key, TokenObject):
            return self.get_replicas_for_token(keyspace, routing_key)
        return self.get_replicas_for_token(keyspace, self.partitioner.token_for_key(routing_key))

    def get_replicas_for_token(self, keyspace: str, token: Token) -> list[Host]:
        """The replicas of the range holding ``token`` (see :meth:`get_replicas`)."""
        table = self._by_keyspace.get(keyspace, _MISSING)
        if table is _MISSING:
            table = self._build_keyspace(keyspace)
        if not table:
            return []
        ring = self.ring
        i = bisect_left(ring, token)
        return list(table[0 if i == len(ring) else i])

    def replica_map(self, keyspace: str) -> dict[Token, tuple[Host, ...]]:
        """Ring token -> replicas of the range it ends, for one keyspace (for inspection and
        tests; lookups use :meth:`get_replicas`)."""
        table = self._by_keyspace.get(keyspace, _MISSING)
        if table is _MISSING:
            table = self._build_keyspace(keyspace)
        if not table:
            return {}
        return dict(zip(self.ring, table, strict=True))

    @property
    def tokens_to_hosts_by_ks(self) -> dict[str, dict[Token, tuple[Host, ...]]]:
        """Keyspace -> (ring token -> replicas), for every keyspace with a placement
        (cassandra-driver's attribute; built on access, for inspection)."""
        return {ks: self.replica_map(ks) for ks in self.keyspaces}

    def replica_map_for_keyspace(self, ks_metadata: Any) -> dict[Token, tuple[Host, ...]]:
        """Ring token -> replicas for a keyspace (its metadata, or its name)."""
        return self.replica_map(getattr(ks_metadata, "name", ks_metadata))

    def rebuild_keyspace(self, keyspace: str, build_if_absent: bool = False) -> None:
        """Compute a keyspace's replicas now instead of on first use."""
        if build_if_absent or keyspace in self._by_keyspace:
            with self._lock:
                self._by_keyspace = {k: v for k, v in self._by_keyspace.items() if k != keyspace}
            self._build_keyspace(keyspace)

    @property
    def keyspaces(self) -> list[str]:
        """Keyspaces whose replication this map knows."""
        return list(self._replication)

    def update_keyspace(self, keyspace: str, replication: Mapping[str, str]) -> None:
        """Set (add or change) a keyspace's replication map; its replicas are recomputed on
        next use only if the setting actually changed."""
        new = dict(replication)
        with self._lock:
            if self._replication.get(keyspace) == new:
                return
            replications = dict(self._replication)
            replications[keyspace] = new
            self._replication = replications
            by_keyspace = dict(self._by_keyspace)
            by_keyspace.pop(keyspace, None)
            self._by_keyspace = by_keyspace

    def remove_keyspace(self, keyspace: str) -> None:
        """Forget a dropped keyspace."""
        with self._lock:
            if keyspace not in self._replication and keyspace not in self._by_keyspace:
                return
            replications = dict(self._replication)
            replications.pop(keyspace, None)
            self._replication = replications
            by_keyspace = dict(self._by_keyspace)
            by_keyspace.pop(keyspace, None)
            self._by_keyspace = by_keyspace

    def _build_keyspace(self, keyspace: str) -> tuple[tuple[Host, ...], ...] | None:
        with self._lock:
            return self._build_keyspace_locked(keyspace)

    def _build_keyspace_locked(self, keyspace: str) -> tuple[tuple[Host, ...], ...] | None:
        cached = self._by_keyspace.get(keyspace, _MISSING)
        if cached is not _MISSING:
            return cached  # another thread filled it while this one waited
        replication = self._replication.get(keyspace)
        table: tuple[tuple[Host, ...], ...] | None = None
        if replication is not None and self.ring:
            key = _strategy_key(replication)
            if key is not None:
                table = self._by_strategy.get(key)
                if table is None:
                    table = self._place(key)
                    self._by_strategy[key] = table
        if keyspace in self._replication:
            # unknown keyspaces are not cached: the control connection may add them later
            self._by_keyspace[keyspace] = table
        return table

    def _place(self, key: tuple[Any, ...]) -> tuple[tuple[Host, ...], ...]:
        ring = cast(TokenRing[Host], self._ring)  # duck-typed: the placement reads two fields
        kind = key[0]
        if kind == "simple":
            placed = simple_strategy_replicas(ring, key[1])
        elif kind == "nts":
            placed = network_topology_replicas(
                ring, dict(key[1]), _datacenter_of, _rack_of
            )
        else:  # everywhere: all hosts, in ring order from the owner
            placed = simple_strategy_replicas(ring, len(set(self.owners)))
        return tuple(tuple(placed[t]) for t in self.ring)

    def __repr__(self) -> str:
        return (
            f"<TokenMap {self.partitioner.name.rsplit('.', 1)[-1]}: {len(self.ring)} tokens, "
            f"{len(set(self.owners))} hosts>"
        )


_MISSING: Any = object()


def _datacenter_of(host: Host) -> str | None:
    return host.datacenter


def _rack_of(host: Host) -> str | None:
    return host.rack

