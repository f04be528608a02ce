"""Murmur3 token ring and replica placement, shared by the simulator and the driver.

Owns: a sorted ring built from each host's tokens, the owner of a token (the first ring token
at or after it, wrapping), and the replicas of every ring range under SimpleStrategy(rf) and
NetworkTopologyStrategy({dc: rf}) with racks, placed the way Cassandra (and cassandra-driver's
TokenMap) place them. Hosts are opaque hashable values; their datacenter and rack come from
caller-given mappings, so this module knows nothing about Host objects, sockets or clocks.
Pure functions and one immutable value class; no IO.
"""

from __future__ import annotations

import hashlib
from binascii import hexlify, unhexlify
from bisect import bisect_left
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from greencql.cluster.murmur3 import MAX_TOKEN, MIN_TOKEN, murmur3_token

__all__ = [
    "Token",
    "HashToken",
    "Murmur3Token",
    "MD5Token",
    "BytesToken",
    "MIN_TOKEN",
    "MAX_TOKEN",
    "TokenRing",
    "murmur3_token",
    "simple_strategy_replicas",
    "network_topology_replicas",
    "replica_map_for",
    "parse_token",
    "replicas_of",
]

H = TypeVar("H", bound=Hashable)


def parse_token(text: str | int) -> int:
    """A Murmur3 token from its decimal text (as system.local/peers list them)."""
    value = int(text)
    if not MIN_TOKEN <= value <= MAX_TOKEN:
        raise ValueError(f"token out of range: {text!r}")
    return value


class TokenRing(Generic[H]):
    """The sorted ring of (token, owning host). Immutable once built."""

    __slots__ = ("owners", "tokens")

    def __init__(self, host_tokens: Mapping[H, Iterable[int | str]]) -> None:
        pairs: dict[int, H] = {}
        for host, toks in host_tokens.items():
            for t in toks:
                pairs[parse_token(t)] = host
        ordered = sorted(pairs.items())
        #: ring tokens, ascending
        self.tokens: tuple[int, ...] = tuple(t for t, _ in ordered)
        #: owners[i] owns the range (tokens[i-1], tokens[i]]
        self.owners: tuple[H, ...] = tuple(h for _, h in ordered)

    def __len__(self) -> int:
        return len(self.tokens)

    def index_of(self, token: int) -> int:
        """Index of the ring token that owns ``token`` (first ring token >= token, wrapping)."""
        if not self.tokens:
            raise ValueError("empty token ring")
        i = bisect_left(self.tokens, token)
        return 0 if i == len(self.tokens) else i

    def owner(self, token: int) -> H:
        """The primary owner of ``token``."""
        return self.owners[self.index_of(token)]

    def hosts(self) -> list[H]:
        """Distinct hosts in order of first appearance on the ring."""
        return list(dict.fromkeys(self.owners))


def simple_strategy_replicas(ring: TokenRing[H], rf: int) -> dict[int, list[H]]:
    """Replicas of each ring token under SimpleStrategy: the next ``rf`` distinct hosts
    walking the ring clockwise from the token's owner."""
    tokens, owners = ring.tokens, ring.owners
    n = len(tokens)
    distinct = len(set(owners))
    want = min(rf, distinct)
    result: dict[int, list[H]] = {}
    for i in range(n):
        replicas: list[H] = []
        j = 0
        while len(replicas) < want and j < n:
            h = owners[(i + j) % n]
            if h not in replicas:
                replicas.append(h)
            j += 1
        result[tokens[i]] = replicas
    return result


def network_topology_replicas(
    ring: TokenRing[H],
    dc_rf: Mapping[str, int],
    dc_of: Callable[[H], str | None] | Mapping[H, str | None],
    rack_of: Callable[[H], str | None] | Mapping[H, str | None],
) -> dict[int, list[H]]:
    """Replicas of each ring token under NetworkTopologyStrategy.

    For each datacenter (in order of first appearance on the ring) walk that DC's ring tokens
    clockwise from the range, taking hosts on racks not yet used; hosts on an already-used rack
    wait in line and are taken, in order, once every rack of the DC holds a replica. The
    result lists each DC's replicas together, like cassandra-driver's TokenMap.
    """
    get_dc = dc_of.get if isinstance(dc_of, Mapping) else dc_of
    get_rack = rack_of.get if isinstance(rack_of, Mapping) else rack_of
    tokens, owners = ring.tokens, ring.owners
    n = len(tokens)
    rfs = {dc: rf for dc, rf in dc_rf.items() if rf > 0}

    dc_positions: dict[str | None, list[int]] = {}
    dc_racks: dict[str | None, set[str]] = {}
    dc_hosts: dict[str | None, set[H]] = {}
    for i, h in enumerate(owners):
        dc = get_dc(h)
        dc_positions.setdefault(dc, []).append(i)
        rack = get_rack(h)
        if dc and rack:
            dc_racks.setdefault(dc, set()).add(rack)
            dc_hosts.setdefault(dc, set()).add(h)

    result: dict[int, list[H]] = {}
    for i in range(n):
        replicas: list[H] = []
        for dc, positions in dc_positions.items():
            rf = rfs.get(dc) if dc is not None else None
            if not rf:
                continue
            start = bisect_left(positions, i)
            racks_total = len(dc_racks.get(dc, ()))
            hosts_total = len(dc_hosts.get(dc, ()))
            remaining = rf
            placed_here = 0
            racks_used: set[str | None] = set()
            waiting: list[H] = []
            count = len(positions)
            for k in range(count):
                if remaining == 0 or placed_here == hosts_total:
                    break
                h = owners[positions[(start + k) % count]]
                if h in replicas:
                    continue
                rack = get_rack(h)
                if rack in racks_used and len(racks_used) < racks_total:
                    if h not in waiting:
                        waiting.append(h)
                    continue
                replicas.append(h)
                placed_here += 1
                remaining -= 1
                racks_used.add(rack)
                if len(racks_used) == racks_total:
                    for w in waiting:
                        if remaining == 0:
                            break
                        if w not in replicas:
                            replicas.append(w)
                            remaining -= 1
                    waiting.clear()
        result[tokens[i]] = replicas
    return result


def replica_map_for(
    ring: TokenRing[H],
    replication: Mapping[str, str],
    dc_of: Callable[[H], str | None] | Mapping[H, str | None],
    rack_of: Callable[[H], str | None] | Mapping[H, str | None],
) -> dict[int, list[H]]:
    """Replica map for a keyspace's replication map (``{'class': ..., ...}`` as in
    system_schema.keyspaces). LocalStrategy and unknown classes give each range its owner."""
    cls = replication.get("class", "").rsplit(".", 1)[-1]
    if cls == "SimpleStrategy":
        return simple_strategy_replicas(ring, int(replication.get("replication_factor", "1")))
    if cls == "NetworkTopologyStrategy":
        dc_rf = {k: int(v) for k, v in replication.items() if k != "class" and v.isdigit()}
        return network_topology_replicas(ring, dc_rf, dc_of, rack_of)
    return {t: [h] for t, h in zip(ring.tokens, ring.owners, strict=True)}


def replicas_of(ring: TokenRing[H], replica_map: Mapping[int, Sequence[H]], token: int) -> list[H]:
    """Replicas of ``token`` given a replica map from this module."""
    return list(replica_map[ring.tokens[ring.index_of(token)]])


# -- token objects (cassandra-driver's cassandra.metadata.Token and subclasses) ------------------
# int and bytes subclasses, so that the token map's ring sorts, bisects and hashes them as fast
# as plain ints and bytes, while applications get the objects they compare and print.


class Token:
    """A token of the ring (base class). Partitioner subclasses are also ints or bytes, so a
    token compares, sorts and hashes as its value does."""

    __slots__ = ()

    @classmethod
    def hash_fn(cls, key: bytes) -> Any:
        return key

    @classmethod
    def from_key(cls, key: bytes) -> Token:
        """The token of a serialized partition key."""
        return cls(cls.hash_fn(key))  # type: ignore[call-arg]

    @classmethod
    def from_string(cls, token_string: str) -> Token:
        """A token as the system tables list it."""
        return cls(token_string)  # type: ignore[call-arg]

    @property
    def value(self) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.value!r}>"

    __str__ = __repr__


class HashToken(int, Token):
    """A token that is a number (the hash partitioners)."""

    __slots__ = ()

    def __new__(cls, token: Any) -> HashToken:
        return super().__new__(cls, int(token))

    @property
    def value(self) -> int:
        return int(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {int(self)}>"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (int(self),))


class Murmur3Token(HashToken):
    """A token of the Murmur3Partitioner (a signed 64-bit int)."""

    __slots__ = ()

    def __new__(cls, token: Any) -> Murmur3Token:
        value = int(token)
        if not MIN_TOKEN <= value <= MAX_TOKEN:
            raise ValueError(f"Murmur3 token out of range: {token!r}")
        return super().__new__(cls, value)  # type: ignore[return-value]

    @classmethod
    def hash_fn(cls, key: bytes) -> int:
        return murmur3_token(key)


class MD5Token(HashToken):
    """A token of the RandomPartitioner (0 to 2**127)."""

    __slots__ = ()

    @classmethod
    def hash_fn(cls, key: bytes) -> int:
        digest = hashlib.md5(key, usedforsecurity=False).digest()
        return abs(int.from_bytes(digest, "big", signed=True))


class BytesToken(bytes, Token):
    """A token of the ByteOrderedPartitioner (the key's bytes)."""

    __slots__ = ()

    def __new__(cls, token: Any) -> BytesToken:
        if isinstance(token, str):
            token = unhexlify(token)
        return super().__new__(cls, bytes(token))

    @classmethod
    def from_string(cls, token_string: str) -> BytesToken:
        return cls(unhexlify(token_string))

    @property
    def value(self) -> bytes:
        return bytes(self)

    def __repr__(self) -> str:
        return f"<BytesToken: {hexlify(self).decode()}>"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        return (BytesToken, (bytes(self),))
