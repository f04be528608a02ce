"""greencql.cluster.tokens against cassandra-driver's TokenMap strategies on random rings."""

from __future__ import annotations

import random

from cassandra.metadata import Murmur3Token, NetworkTopologyStrategy, SimpleStrategy
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.cluster.tokens import (
    TokenRing,
    network_topology_replicas,
    parse_token,
    replica_map_for,
    replicas_of,
    simple_strategy_replicas,
)


class _Host:
    """Stands in for cassandra.pool.Host (the driver's strategies read .datacenter/.rack)."""

    def __init__(self, name: str, dc: str, rack: str) -> None:
        self.name, self.datacenter, self.rack = name, dc, rack

    def __repr__(self) -> str:
        return f"{self.name}({self.datacenter}/{self.rack})"


def _random_cluster(rng: random.Random, max_dcs: int = 3) -> dict[_Host, list[int]]:
    hosts: dict[_Host, list[int]] = {}
    used: set[int] = set()
    n_dcs = rng.randint(1, max_dcs)
    for d in range(n_dcs):
        n_racks = rng.randint(1, 3)
        for h in range(rng.randint(1, 5)):
            host = _Host(f"h{d}.{h}", f"dc{d}", f"r{rng.randrange(n_racks)}")
            toks = []
            for _ in range(rng.randint(1, 8)):
                t = rng.randint(-(2**63) + 1, 2**63 - 1)
                if t not in used:
                    used.add(t)
                    toks.append(t)
            hosts[host] = toks
    return {h: t for h, t in hosts.items() if t}


def _driver_inputs(cluster: dict[_Host, list[int]]):
    owner = {}
    for host, toks in cluster.items():
        for t in toks:
            owner[Murmur3Token(t)] = host
    ring = sorted(owner)
    return owner, ring


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=6))
def test_simple_strategy_matches_driver(seed: int, rf: int) -> None:
    cluster = _random_cluster(random.Random(seed))
    ring = TokenRing(cluster)
    ours = simple_strategy_replicas(ring, rf)
    owner, dring = _driver_inputs(cluster)
    theirs = SimpleStrategy({"replication_factor": str(rf)}).make_token_replica_map(owner, dring)
    assert len(ours) == len(theirs)
    for tok, hosts in theirs.items():
        assert ours[tok.value] == hosts


@settings(max_examples=150, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**32),
    st.dictionaries(st.sampled_from(["dc0", "dc1", "dc2", "dc9"]), st.integers(0, 5), min_size=1),
)
def test_network_topology_matches_driver(seed: int, dc_rf: dict[str, int]) -> None:
    cluster = _random_cluster(random.Random(seed))
    ring = TokenRing(cluster)
    ours = network_topology_replicas(
        ring, dc_rf, lambda h: h.datacenter, lambda h: h.rack
    )
    owner, dring = _driver_inputs(cluster)
    nts = NetworkTopologyStrategy({dc: str(rf) for dc, rf in dc_rf.items()})
    theirs = nts.make_token_replica_map(owner, dring)
    java = _cassandra_nts(ring, dc_rf)
    for tok in dring:
        theirs_list = theirs.get(tok, [])
        if len(theirs_list) == len(set(theirs_list)):
            assert ours[tok.value] == theirs_list
        else:
            # the driver counts a host twice when it waited in line at two of its vnodes;
            # Cassandra (and we) do not, so we place more distinct replicas
            assert set(theirs_list) <= set(ours[tok.value])
        assert set(ours[tok.value]) == java[tok.value]


def _cassandra_nts(ring: TokenRing, dc_rf: dict[str, int]) -> dict[int, set]:
    """Cassandra 4.0's formulation (NetworkTopologyStrategy.calculateNaturalReplicas): one walk
    of the whole ring; a host on a rack already used is accepted only while there are more
    replicas wanted than racks in its DC."""
    racks: dict[str, set] = {}
    hosts: dict[str, set] = {}
    for h in ring.owners:
        racks.setdefault(h.datacenter, set()).add(h.rack)
        hosts.setdefault(h.datacenter, set()).add(h)
    out = {}
    n = len(ring.tokens)
    for i, tok in enumerate(ring.tokens):
        chosen: set = set()
        state = {
            dc: {"left": min(rf, len(hosts[dc])), "repeats": rf - len(racks[dc]), "racks": set()}
            for dc, rf in dc_rf.items()
            if rf > 0 and dc in hosts
        }
        for j in range(n):
            h = ring.owners[(i + j) % n]
            st_ = state.get(h.datacenter)
            if st_ is None or st_["left"] == 0 or h in chosen:
                continue
            if h.rack not in st_["racks"]:
                st_["racks"].add(h.rack)
            elif st_["repeats"] > 0:
                st_["repeats"] -= 1
            else:
                continue
            chosen.add(h)
            st_["left"] -= 1
        out[tok] = chosen
    return out


def test_owner_wraps_and_ring_order() -> None:
    ring = TokenRing({"a": [0, 100], "b": ["50"], "c": [-100]})
    assert ring.tokens == (-100, 0, 50, 100)
    assert ring.owner(-100) == "c"
    assert ring.owner(-99) == "a"
    assert ring.owner(1) == "b"
    assert ring.owner(100) == "a"
    assert ring.owner(101) == "c"  # wraps
    assert ring.hosts() == ["c", "a", "b"]


def test_replica_map_for_classes() -> None:
    ring = TokenRing({"a": [0], "b": [10], "c": [20]})
    dc = {"a": "d1", "b": "d1", "c": "d2"}
    rack = {"a": "r1", "b": "r1", "c": "r1"}
    simple = replica_map_for(
        ring, {"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "2"},
        dc, rack,
    )
    assert replicas_of(ring, simple, 5) == ["b", "c"]
    nts_opts = {"class": "NetworkTopologyStrategy", "d1": "2", "d2": "1"}
    nts = replica_map_for(ring, nts_opts, dc, rack)
    assert sorted(replicas_of(ring, nts, 5)) == ["a", "b", "c"]
    local = replica_map_for(ring, {"class": "org.apache.cassandra.locator.LocalStrategy"}, dc, rack)
    assert replicas_of(ring, local, 25) == ["a"]


def test_parse_token_range() -> None:
    assert parse_token("-9223372036854775808") == -(2**63)
    try:
        parse_token(str(2**63))
    except ValueError:
        pass
    else:
        raise AssertionError("out of range token accepted")
