"""The token map: replicas of a routing key per keyspace, checked against cassandra-driver's
TokenMap on the same rings (Murmur3, Random and ByteOrdered partitioners; SimpleStrategy and
NetworkTopologyStrategy with racks; vnodes), plus caching and updates. Pure: no IO."""

from __future__ import annotations

import random
from typing import Any

import pytest
from cassandra import metadata as dmeta

from greencql.cluster.host import Host
from greencql.cluster.tokenmap import (
    BYTE_ORDERED_PARTITIONER,
    MURMUR3_PARTITIONER,
    RANDOM_PARTITIONER,
    TokenMap,
    get_partitioner,
    replication_factor,
)

SIMPLE = "org.apache.cassandra.locator.SimpleStrategy"
NTS = "org.apache.cassandra.locator.NetworkTopologyStrategy"

KEYSPACES: dict[str, dict[str, str]] = {
    "s1": {"class": SIMPLE, "replication_factor": "1"},
    "s2": {"class": SIMPLE, "replication_factor": "2"},
    "s3": {"class": SIMPLE, "replication_factor": "3"},
    "s3b": {"class": SIMPLE, "replication_factor": "3"},
    "s9": {"class": SIMPLE, "replication_factor": "9"},
    "n1": {"class": NTS, "dc1": "1"},
    "n23": {"class": NTS, "dc1": "2", "dc2": "3"},
    "n33": {"class": NTS, "dc1": "3", "dc2": "3"},
    "n_other": {"class": NTS, "dc1": "2", "nowhere": "2", "dc2": "0"},
    "local": {"class": "org.apache.cassandra.locator.LocalStrategy"},
}


def _token_text(partitioner: str, rng: random.Random) -> str:
    if partitioner == MURMUR3_PARTITIONER:
        return str(rng.randint(-(2**63) + 1, 2**63 - 1))
    if partitioner == RANDOM_PARTITIONER:
        return str(rng.randint(0, 2**127))
    return rng.randbytes(rng.randint(1, 6)).hex()


def _hosts(partitioner: str, n: int, dcs: int, racks: int, vnodes: int, seed: int
           ) -> list[Host]:
    rng = random.Random(seed)
    return [
        Host(f"127.0.{i // 250}.{i % 250 + 1}", f"dc{i % dcs + 1}", f"rack{i % racks}",
             tokens=[_token_text(partitioner, rng) for _ in range(vnodes)])
        for i in range(n)
    ]


def _driver(partitioner: str, hosts: list[Host]) -> Any:
    md = dmeta.Metadata()
    for name, repl in KEYSPACES.items():
        opts = {k: v for k, v in repl.items() if k != "class"}
        md.keyspaces[name] = dmeta.KeyspaceMetadata(name, True, repl["class"], opts)
    # our Host objects serve the driver too: it reads .datacenter/.rack and hashes them
    md.rebuild_token_map(partitioner, {h: h.tokens for h in hosts})
    return md


TOPOLOGIES = {
    "3-node": (3, 1, 3, 1),
    "3-node-vnodes": (3, 1, 3, 16),
    "2dc-6-node": (6, 2, 3, 8),
    "2dc-7-node-2-racks": (7, 2, 2, 4),
    "1dc-5-node-1-rack": (5, 1, 1, 4),
}


@pytest.mark.parametrize("partitioner", [MURMUR3_PARTITIONER, RANDOM_PARTITIONER,
                                         BYTE_ORDERED_PARTITIONER])
@pytest.mark.parametrize("topology", sorted(TOPOLOGIES))
def test_replicas_equal_cassandra_driver(partitioner: str, topology: str) -> None:
    n, dcs, racks, vnodes = TOPOLOGIES[topology]
    hosts = _hosts(partitioner, n, dcs, racks, vnodes, seed=n * 31 + vnodes)
    ours = TokenMap(partitioner, hosts, KEYSPACES)
    theirs = _driver(partitioner, hosts)
    rng = random.Random(7)
    keys = [rng.randbytes(rng.randint(0, 40)) for _ in range(150)]
    # ring tokens themselves and their neighbours hit the range edges
    if partitioner != BYTE_ORDERED_PARTITIONER:
        for t in ours.ring[:10]:
            assert ours.primary_replica(t) is ours.token_to_host_owner[t]
    for key in keys:
        token = ours.token_for_key(key)
        assert token == theirs.token_map.token_class.from_key(key).value
        for ks in KEYSPACES:
            assert ours.get_replicas(ks, key) == theirs.get_replicas(ks, key), (ks, key)


def test_ring_edges_and_wrap_around() -> None:
    hosts = [Host("127.0.0.1", "dc1", "r1", tokens=["-100"]),
             Host("127.0.0.2", "dc1", "r1", tokens=["0"]),
             Host("127.0.0.3", "dc1", "r1", tokens=["100"])]
    tm = TokenMap(MURMUR3_PARTITIONER, hosts, {"ks": {"class": SIMPLE,
                                                      "replication_factor": "2"}})
    a, b, c = hosts
    assert tm.ring == (-100, 0, 100)
    assert tm.get_replicas_for_token("ks", -100) == [a, b]  # a token belongs to its own range
    assert tm.get_replicas_for_token("ks", -99) == [b, c]
    assert tm.get_replicas_for_token("ks", 100) == [c, a]
    assert tm.get_replicas_for_token("ks", 101) == [a, b]  # past the last token: wraps
    assert tm.get_replicas_for_token("ks", -(2**63)) == [a, b]
    assert tm.primary_replica(50) is c
    assert tm.all_hosts() == [a, b, c]
    assert tm.replica_map("ks") == {-100: (a, b), 0: (b, c), 100: (c, a)}
    assert "3 tokens, 3 hosts" in repr(tm)


def test_empty_cases() -> None:
    hosts = _hosts(MURMUR3_PARTITIONER, 3, 1, 1, 2, seed=1)
    tm = TokenMap(MURMUR3_PARTITIONER, hosts, KEYSPACES)
    assert tm.get_replicas("local", b"k") == []
    assert tm.get_replicas("unknown", b"k") == []
    assert tm.replica_map("local") == {}
    empty = TokenMap(MURMUR3_PARTITIONER, [Host("127.0.0.1")], KEYSPACES)
    assert empty.get_replicas("s1", b"k") == []
    with pytest.raises(ValueError):
        empty.owner_index(0)
    with pytest.raises(ValueError):
        TokenMap("org.apache.cassandra.dht.OrderPreservingPartitioner", hosts)


def test_everywhere_strategy_lists_all_hosts() -> None:
    hosts = _hosts(MURMUR3_PARTITIONER, 4, 2, 2, 3, seed=2)
    tm = TokenMap(MURMUR3_PARTITIONER, hosts, {"e": {"class": "EverywhereStrategy"}})
    for key in (b"a", b"b", b"c"):
        replicas = tm.get_replicas("e", key)
        assert sorted(map(str, replicas)) == sorted(map(str, hosts))
        assert replicas[0] is tm.primary_replica(tm.token_for_key(key))


def test_replica_tables_are_shared_and_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = _hosts(MURMUR3_PARTITIONER, 6, 2, 3, 8, seed=4)
    tm = TokenMap(MURMUR3_PARTITIONER, hosts, KEYSPACES)
    calls: list[Any] = []
    place = TokenMap._place

    def counting(self: TokenMap, key: Any) -> Any:
        calls.append(key)
        return place(self, key)

    monkeypatch.setattr(TokenMap, "_place", counting)
    for _ in range(3):
        tm.get_replicas("s3", b"x")
        tm.get_replicas("s3b", b"y")  # same setting as s3: same table
        tm.get_replicas("n23", b"z")
    assert len(calls) == 2
    tm.update_keyspace("s3", KEYSPACES["s3"])  # unchanged setting: nothing to redo
    tm.get_replicas("s3", b"x")
    assert len(calls) == 2
    tm.update_keyspace("s3", {"class": SIMPLE, "replication_factor": "2"})
    assert len(tm.get_replicas("s3", b"x")) == 2
    assert len(tm.get_replicas("s3b", b"x")) == 3
    assert len(calls) == 3
    tm.remove_keyspace("s3")
    assert tm.get_replicas("s3", b"x") == [] and "s3" not in tm.keyspaces
    tm.update_keyspace("brand_new", {"class": NTS, "dc1": "1", "dc2": "1"})
    assert len(tm.get_replicas("brand_new", b"x")) == 2


def test_replicas_are_copies() -> None:
    hosts = _hosts(MURMUR3_PARTITIONER, 3, 1, 3, 2, seed=5)
    tm = TokenMap(MURMUR3_PARTITIONER, hosts, KEYSPACES)
    first = tm.get_replicas("s2", b"k")
    first.clear()
    assert len(tm.get_replicas("s2", b"k")) == 2


def test_partitioners_and_replication_factors() -> None:
    m3 = get_partitioner("Murmur3Partitioner")
    assert m3 is get_partitioner(MURMUR3_PARTITIONER)
    assert m3 is not None and m3.parse_token("-5") == -5
    with pytest.raises(ValueError):
        m3.parse_token(str(2**63))
    rnd = get_partitioner(RANDOM_PARTITIONER)
    assert rnd is not None
    with pytest.raises(ValueError):
        rnd.parse_token("-1")
    assert rnd.token_for_key(b"abc") == dmeta.MD5Token.hash_fn(b"abc")
    bop = get_partitioner(BYTE_ORDERED_PARTITIONER)
    assert bop is not None and bop.parse_token("00ff") == b"\x00\xff"
    assert bop.parse_token(b"\x01") == b"\x01"
    with pytest.raises(ValueError):
        bop.parse_token(5)
    assert get_partitioner(None) is None and get_partitioner("LocalPartitioner") is None
    assert replication_factor("3") == 3 and replication_factor("3/1") == 2
    assert replication_factor(2) == 2
    with pytest.raises(ValueError):
        replication_factor("x")
    with pytest.raises(ValueError):
        replication_factor("1/2")


def test_transient_and_malformed_replication() -> None:
    hosts = _hosts(MURMUR3_PARTITIONER, 4, 1, 4, 2, seed=8)
    tm = TokenMap(MURMUR3_PARTITIONER, hosts, {
        "t": {"class": SIMPLE, "replication_factor": "3/1"},
        "bad": {"class": SIMPLE, "replication_factor": "lots"},
        "nts_bad": {"class": NTS, "dc1": "lots", "dc2": "2"},
    })
    assert len(tm.get_replicas("t", b"k")) == 2  # full replicas, as cassandra-driver
    assert tm.get_replicas("bad", b"k") == []
    assert tm.get_replicas("nts_bad", b"k") == []  # no host in dc2


def test_unparseable_tokens_are_skipped() -> None:
    good = Host("127.0.0.1", "dc1", "r1", tokens=["10"])
    bad = Host("127.0.0.2", "dc1", "r1", tokens=["not-a-token", str(2**64)])
    tm = TokenMap(MURMUR3_PARTITIONER, [good, bad], {"ks": {"class": SIMPLE,
                                                            "replication_factor": "2"}})
    assert tm.ring == (10,) and tm.get_replicas("ks", b"k") == [good]
