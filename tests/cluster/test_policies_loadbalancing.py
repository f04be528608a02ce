"""Load-balancing policies over fixed host sets: plans, distances, fairness, token awareness.

Pure: no clock, no network. Random choices use seeded ``random.Random`` instances.
"""

from __future__ import annotations

import collections
import itertools
import logging
import random
from dataclasses import dataclass

import pytest

from greencql.cluster.host import EndPoint, Host, HostDistance
from greencql.cluster.policies import (
    DCAwareRoundRobinPolicy,
    HostFilterPolicy,
    LoadBalancingPolicy,
    PolicyContext,
    RackAwareRoundRobinPolicy,
    RoundRobinPolicy,
    TokenAwarePolicy,
    default_load_balancing_policy,
)

LOGGER = "greencql.cluster.policies"


def _host(n: int, dc: str | None = "dc1", rack: str | None = "r1") -> Host:
    h = Host(f"10.0.0.{n}", dc, rack)
    h.set_up()
    return h


@pytest.fixture
def three():
    """One datacenter, three nodes."""
    return [_host(1), _host(2), _host(3)]


@pytest.fixture
def six():
    """Two datacenters of three nodes; dc1 spans racks r1 (two nodes) and r2."""
    return [
        _host(1, "dc1", "r1"),
        _host(2, "dc1", "r1"),
        _host(3, "dc1", "r2"),
        _host(4, "dc2", "r1"),
        _host(5, "dc2", "r1"),
        _host(6, "dc2", "r2"),
    ]


def _plans(policy, n, keyspace=None, query=None):
    return [list(policy.make_query_plan(keyspace, query)) for _ in range(n)]


# -- round robin -----------------------------------------------------------------------------


def test_round_robin_plans_are_rotations(three):
    p = RoundRobinPolicy(rng=random.Random(1))
    p.populate(three)
    plans = _plans(p, 6)
    for plan in plans:
        assert sorted(plan, key=str) == sorted(three, key=str)
    # each plan starts one further along than the previous one
    idx = [three.index(plan[0]) for plan in plans]
    assert all((b - a) % 3 == 1 for a, b in itertools.pairwise(idx))
    assert plans[0][1:] + plans[0][:1] == plans[1]
    assert all(p.distance(h) is HostDistance.LOCAL for h in three)


def test_round_robin_is_fair(three):
    p = RoundRobinPolicy(rng=random.Random(7))
    p.populate(three)
    firsts = collections.Counter(plan[0] for plan in _plans(p, 3000))
    assert set(firsts.values()) == {1000}
    seconds = collections.Counter(plan[1] for plan in _plans(p, 3000))
    assert set(seconds.values()) == {1000}


def test_round_robin_tracks_host_state(three):
    b = three[1]
    p = RoundRobinPolicy(rng=random.Random(0))
    p.populate(three)
    p.on_down(b)
    assert all(b not in plan and len(plan) == 2 for plan in _plans(p, 4))
    p.on_up(b)
    p.on_up(b)  # twice is once
    assert all(len(plan) == 3 for plan in _plans(p, 4))
    d = _host(4)
    p.on_add(d)
    assert all(len(plan) == 4 and d in plan for plan in _plans(p, 4))
    p.on_remove(d)
    p.on_remove(d)
    assert all(d not in plan for plan in _plans(p, 4))


def test_round_robin_empty_and_down_at_populate(three):
    p = RoundRobinPolicy()
    p.populate([])
    assert list(p.make_query_plan()) == []
    three[0].set_down()
    p.populate(three)
    assert all(three[0] not in plan for plan in _plans(p, 3))


def test_plans_made_after_a_change_see_it(three):
    p = RoundRobinPolicy(rng=random.Random(0))
    p.populate(three)
    for h in three[1:]:
        p.on_down(h)
    assert _plans(p, 2) == [[three[0]], [three[0]]]
    p.on_down(three[0])
    assert list(p.make_query_plan()) == []


def test_plan_survives_change_while_iterating(three):
    p = RoundRobinPolicy(rng=random.Random(0))
    p.populate(three)
    plan = p.make_query_plan()
    got = [next(plan)]
    p.on_down(three[0])
    p.on_add(_host(9))
    got.extend(plan)
    assert sorted(got, key=str) == sorted(three, key=str)  # the plan's own snapshot


# -- DC-aware -------------------------------------------------------------------------------


def test_dc_aware_local_only_by_default(six):
    p = DCAwareRoundRobinPolicy("dc1", rng=random.Random(3))
    p.populate(six)
    local, remote = six[:3], six[3:]
    for plan in _plans(p, 9):
        assert sorted(plan, key=str) == sorted(local, key=str)
    assert [p.distance(h) for h in local] == [HostDistance.LOCAL] * 3
    assert [p.distance(h) for h in remote] == [HostDistance.IGNORED] * 3
    firsts = collections.Counter(plan[0] for plan in _plans(p, 900))
    assert set(firsts.values()) == {300}


def test_dc_aware_remote_hosts_last(six):
    p = DCAwareRoundRobinPolicy("dc1", used_hosts_per_remote_dc=2, rng=random.Random(3))
    p.populate(six)
    for plan in _plans(p, 6):
        assert set(plan[:3]) == set(six[:3])
        assert plan[3:] == six[3:5]  # the first two live hosts of dc2, in a stable order
    assert [p.distance(h) for h in six[3:]] == [
        HostDistance.REMOTE,
        HostDistance.REMOTE,
        HostDistance.IGNORED,
    ]
    # a remote host goes down: the next one of its datacenter becomes REMOTE
    p.on_down(six[3])
    assert p.distance(six[5]) is HostDistance.REMOTE
    assert all(plan[3:] == [six[4], six[5]] for plan in _plans(p, 3))
    # the whole remote datacenter goes down
    for h in six[3:]:
        p.on_down(h)
    assert all(len(plan) == 3 for plan in _plans(p, 3))


def test_dc_aware_local_outage_falls_back_to_remote(six):
    p = DCAwareRoundRobinPolicy("dc1", used_hosts_per_remote_dc=1, rng=random.Random(0))
    p.populate(six)
    for h in six[:3]:
        p.on_down(h)
    assert _plans(p, 2) == [[six[3]], [six[3]]]
    p.on_up(six[1])
    assert _plans(p, 2) == [[six[1], six[3]], [six[1], six[3]]]


def test_dc_aware_local_dc_from_first_contact_point(six, caplog):
    p = DCAwareRoundRobinPolicy(rng=random.Random(0))
    ctx = PolicyContext(contact_points=(EndPoint("10.0.0.99"), six[4].endpoint, six[0].endpoint))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        p.populate(six, ctx)
    assert p.local_dc == "dc2"
    assert any(
        r.name == LOGGER and "dc2" in r.getMessage() and "10.0.0.5" in r.getMessage()
        for r in caplog.records
    )
    assert all(set(plan) == set(six[3:]) for plan in _plans(p, 3))


def test_dc_aware_local_dc_from_contact_point_seen_later(six, caplog):
    p = DCAwareRoundRobinPolicy(rng=random.Random(0))
    late = _host(7, "dc2", "r1")
    p.populate([], PolicyContext(contact_points=(late.endpoint,)))
    assert p.local_dc is None
    p.on_up(six[0])  # not a contact point: decides nothing
    assert p.local_dc is None
    with caplog.at_level(logging.INFO, logger=LOGGER):
        p.on_add(late)
    assert p.local_dc == "dc2"
    assert caplog.records and caplog.records[0].name == LOGGER
    p.on_add(six[0])  # already decided
    assert p.local_dc == "dc2"
    assert all(plan == [late] for plan in _plans(p, 3))


def test_dc_aware_unmatched_contact_points_fall_back_to_first_host(six, caplog):
    p = DCAwareRoundRobinPolicy()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        p.populate(six[3:] + six[:3], PolicyContext(contact_points=(EndPoint("cassandra"),)))
    assert p.local_dc == "dc2"
    assert "no contact point matched" in caplog.records[0].getMessage()


def test_dc_aware_without_contact_points_uses_first_host(six):
    p = DCAwareRoundRobinPolicy()
    p.populate(list(reversed(six)))
    assert p.local_dc == "dc2"
    q = DCAwareRoundRobinPolicy()
    q.populate([])
    q.on_up(six[1])
    assert q.local_dc == "dc1"


def test_dc_aware_explicit_local_dc_is_kept(six):
    p = DCAwareRoundRobinPolicy("dc1")
    p.populate(six, PolicyContext(contact_points=(six[5].endpoint,)))
    assert p.local_dc == "dc1"


def test_dc_aware_unknown_datacenter_counts_as_local(six):
    odd = _host(8, None, None)
    p = DCAwareRoundRobinPolicy("dc1", rng=random.Random(0))
    p.populate([*six, odd])
    assert p.distance(odd) is HostDistance.LOCAL
    for plan in _plans(p, 4):
        assert set(plan) == {*six[:3], odd}
        assert plan[-1] == odd  # after the hosts known to be local


def test_dc_aware_host_that_moved_is_removed(six):
    p = DCAwareRoundRobinPolicy("dc1", rng=random.Random(0))
    p.populate(six)
    six[0].set_location_info("dc2", "r1")  # rewritten by a refresh
    p.on_remove(six[0])
    assert all(six[0] not in plan for plan in _plans(p, 3))


def test_dc_aware_validation():
    with pytest.raises(ValueError):
        DCAwareRoundRobinPolicy("dc1", used_hosts_per_remote_dc=-1)


def test_dc_aware_agrees_with_cassandra_driver(six):
    """Same hosts and distances as cassandra-driver's policy (plans' order is random there)."""
    from cassandra.connection import DefaultEndPoint
    from cassandra.policies import DCAwareRoundRobinPolicy as TheirDCAware
    from cassandra.policies import HostDistance as TheirDistance
    from cassandra.policies import SimpleConvictionPolicy
    from cassandra.pool import Host as TheirHost

    theirs_hosts = []
    for h in six:
        t = TheirHost(DefaultEndPoint(h.address), SimpleConvictionPolicy, h.datacenter, h.rack)
        t.set_up()
        theirs_hosts.append(t)
    theirs = TheirDCAware("dc1", used_hosts_per_remote_dc=0)
    # their populate groups with an unsorted groupby; feed hosts grouped, as a cluster does
    theirs.populate(None, theirs_hosts)
    ours = DCAwareRoundRobinPolicy("dc1")
    ours.populate(six)
    names = {TheirDistance.LOCAL: "LOCAL", TheirDistance.REMOTE: "REMOTE", -1: "IGNORED"}
    for h, t in zip(six, theirs_hosts, strict=True):
        assert ours.distance(h).name == names[theirs.distance(t)]
    for _ in range(6):
        assert {h.address for h in ours.make_query_plan()} == {
            t.address for t in theirs.make_query_plan()
        }


# -- rack-aware -----------------------------------------------------------------------------


def test_rack_aware_order_and_distances(six):
    p = RackAwareRoundRobinPolicy("dc1", "r1", used_hosts_per_remote_dc=1, rng=random.Random(5))
    p.populate(six)
    assert [p.distance(h) for h in six] == [
        HostDistance.LOCAL_RACK,
        HostDistance.LOCAL_RACK,
        HostDistance.LOCAL,
        HostDistance.REMOTE,
        HostDistance.IGNORED,
        HostDistance.IGNORED,
    ]
    plans = _plans(p, 400)
    for plan in plans:
        assert set(plan[:2]) == set(six[:2])
        assert plan[2:] == [six[2], six[3]]
    assert set(collections.Counter(plan[0] for plan in plans).values()) == {200}


def test_rack_aware_local_rack_down(six):
    p = RackAwareRoundRobinPolicy("dc1", "r1", rng=random.Random(5))
    p.populate(six)
    p.on_down(six[0])
    p.on_down(six[1])
    assert _plans(p, 2) == [[six[2]], [six[2]]]


def test_rack_aware_needs_dc_and_rack():
    with pytest.raises(ValueError):
        RackAwareRoundRobinPolicy("dc1", "")
    with pytest.raises(ValueError):
        RackAwareRoundRobinPolicy("", "r1")


# -- token-aware ----------------------------------------------------------------------------


@dataclass
class Stmt:
    routing_key: bytes | None = None
    keyspace: str | None = None


class FakeReplicas:
    """replicas(keyspace, routing_key) from a fixed table; records its calls."""

    def __init__(self, table):
        self.table = table
        self.calls = []

    def __call__(self, keyspace, routing_key):
        self.calls.append((keyspace, routing_key))
        return list(self.table.get((keyspace, routing_key), ()))


def test_token_aware_replicas_first_then_child_without_duplicates(six):
    replicas = FakeReplicas({("ks", b"k"): [six[2], six[0]]})
    child = DCAwareRoundRobinPolicy("dc1", used_hosts_per_remote_dc=1, rng=random.Random(0))
    p = TokenAwarePolicy(child, shuffle_replicas=False, replicas=replicas)
    p.populate(six)
    for plan in _plans(p, 6, query=Stmt(b"k", "ks")):
        assert plan[:2] == [six[2], six[0]]  # the lookup's order, unshuffled
        assert len(plan) == len(set(plan)) == 4
        assert set(plan[2:]) == {six[1], six[3]}
    assert replicas.calls[0] == ("ks", b"k")


def test_token_aware_shuffles_replicas_evenly(six):
    replicas = FakeReplicas({("ks", b"k"): [six[2], six[0]]})
    p = TokenAwarePolicy(
        DCAwareRoundRobinPolicy("dc1", rng=random.Random(0)),
        replicas=replicas,
        rng=random.Random(42),
    )
    p.populate(six)
    plans = _plans(p, 2000, query=Stmt(b"k", "ks"))
    assert p.shuffle_replicas is True  # the default
    firsts = collections.Counter(plan[0] for plan in plans)
    assert set(firsts) == {six[0], six[2]}
    assert all(900 < n < 1100 for n in firsts.values())
    assert all(set(plan[:2]) == {six[0], six[2]} and plan[2] == six[1] for plan in plans)


def test_token_aware_does_not_promote_remote_or_down_replicas(six):
    remote_replica, down_replica, local_replica = six[3], six[1], six[2]
    down_replica.set_down()
    replicas = FakeReplicas({("ks", b"k"): [remote_replica, down_replica, local_replica]})
    child = DCAwareRoundRobinPolicy("dc1", used_hosts_per_remote_dc=1, rng=random.Random(0))
    p = TokenAwarePolicy(child, shuffle_replicas=False, replicas=replicas)
    p.populate(six)
    p.on_down(down_replica)
    for plan in _plans(p, 4, query=Stmt(b"k", "ks")):
        assert plan[0] == local_replica
        assert down_replica not in plan
        assert plan[-1] == remote_replica  # where the child puts it: last resort


def test_token_aware_rack_before_dc(six):
    replicas = FakeReplicas({("ks", b"k"): [six[2], six[4], six[1]]})
    child = RackAwareRoundRobinPolicy("dc1", "r1", rng=random.Random(0))
    p = TokenAwarePolicy(child, shuffle_replicas=False, replicas=replicas)
    p.populate(six)
    for plan in _plans(p, 4, query=Stmt(b"k", "ks")):
        assert plan == [six[1], six[2], six[0]]


def test_token_aware_falls_back_to_child(six):
    replicas = FakeReplicas({("ks", b"k"): [six[2]]})
    p = TokenAwarePolicy(DCAwareRoundRobinPolicy("dc1", rng=random.Random(4)), replicas=replicas)
    twin = DCAwareRoundRobinPolicy("dc1", rng=random.Random(4))  # same rotation, no tokens
    p.populate(six)
    twin.populate(six)
    for query, ks in [(None, "ks"), (Stmt(None, "ks"), "ks"), (Stmt(b"k"), None), (object(), "ks")]:
        assert _plans(p, 3, ks, query) == _plans(twin, 3, ks, query)
    assert replicas.calls == []
    no_lookup = TokenAwarePolicy(DCAwareRoundRobinPolicy("dc1"))
    no_lookup.populate(six)
    assert len(list(no_lookup.make_query_plan("ks", Stmt(b"k", "ks")))) == 3


def test_token_aware_keyspace_statement_over_session(six):
    replicas = FakeReplicas({("own", b"k"): [six[1]], ("session", b"k"): [six[2]]})
    p = TokenAwarePolicy(DCAwareRoundRobinPolicy("dc1"), replicas=replicas)
    p.populate(six)
    assert next(p.make_query_plan("session", Stmt(b"k", "own"))) == six[1]
    assert next(p.make_query_plan("session", Stmt(b"k"))) == six[2]


def test_token_aware_lookup_from_context(six):
    replicas = FakeReplicas({("ks", b"k"): [six[2]]})
    p = default_load_balancing_policy()
    p.populate(six, PolicyContext(contact_points=(six[0].endpoint,), replicas=replicas))
    assert all(plan[0] == six[2] for plan in _plans(p, 5, "ks", Stmt(b"k")))
    assert p.distance(six[4]) is HostDistance.IGNORED
    p.on_down(six[2])
    six[2].set_down()
    assert all(six[2] not in plan for plan in _plans(p, 3, "ks", Stmt(b"k")))


def test_default_policy_shape():
    a, b = default_load_balancing_policy(), default_load_balancing_policy()
    assert isinstance(a, TokenAwarePolicy) and a is not b
    assert isinstance(a.child_policy, DCAwareRoundRobinPolicy)
    assert a.child_policy is not b.child_policy


# -- host filter ----------------------------------------------------------------------------


def test_host_filter_hides_refused_hosts_and_stays_fair(three):
    refused = three[1]
    p = HostFilterPolicy(RoundRobinPolicy(rng=random.Random(0)), lambda h: h != refused)
    p.populate(three)
    assert p.distance(refused) is HostDistance.IGNORED
    assert p.distance(three[0]) is HostDistance.LOCAL
    plans = _plans(p, 1000)
    assert all(refused not in plan and len(plan) == 2 for plan in plans)
    # no favouring of the host after the refused one (cassandra-driver's caveat)
    assert set(collections.Counter(plan[0] for plan in plans).values()) == {500}
    p.on_add(_host(4))
    p.on_up(refused)
    assert all(refused not in plan and len(plan) == 3 for plan in _plans(p, 3))
    p.on_down(three[0])
    assert all(three[0] not in plan for plan in _plans(p, 3))


# -- the protocol ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [
        RoundRobinPolicy(),
        DCAwareRoundRobinPolicy(),
        RackAwareRoundRobinPolicy("dc1", "r1"),
        TokenAwarePolicy(RoundRobinPolicy()),
        HostFilterPolicy(RoundRobinPolicy(), bool),
    ],
    ids=lambda p: type(p).__name__,
)
def test_policies_implement_the_protocol(policy):
    assert isinstance(policy, LoadBalancingPolicy)


def test_token_aware_shuffle_is_uniform_and_leaves_the_lookup_alone(six):
    table = [six[0], six[1], six[2]]
    p = TokenAwarePolicy(
        DCAwareRoundRobinPolicy("dc1", rng=random.Random(0)),
        replicas=lambda ks, key: table,
        rng=random.Random(5),
    )
    p.populate(six)
    orders = collections.Counter(tuple(plan) for plan in _plans(p, 6000, "ks", Stmt(b"k")))
    assert len(orders) == 6
    assert all(850 < n < 1150 for n in orders.values())
    assert table == [six[0], six[1], six[2]]  # the metadata's list is not shuffled in place


def test_token_aware_with_the_token_ring(six):
    """The lookup a cluster would build from greencql.cluster.tokens plugs in as is."""
    from greencql.cluster.murmur3 import murmur3_token
    from greencql.cluster.tokens import TokenRing, replica_map_for, replicas_of

    rng = random.Random(8)
    tokens = {h: [rng.randrange(-(2**63), 2**63) for _ in range(8)] for h in six}
    ring = TokenRing(tokens)
    rmap = replica_map_for(
        ring,
        {"class": "NetworkTopologyStrategy", "dc1": "2", "dc2": "2"},
        lambda h: h.datacenter,
        lambda h: h.rack,
    )

    def lookup(keyspace, routing_key):
        return replicas_of(ring, rmap, murmur3_token(routing_key))

    p = TokenAwarePolicy(DCAwareRoundRobinPolicy("dc1", rng=random.Random(1)), rng=random.Random(2))
    p.populate(six, PolicyContext(replicas=lookup))
    for n in range(200):
        key = f"key{n}".encode()
        local_replicas = {h for h in lookup("ks", key) if h.datacenter == "dc1"}
        plan = list(p.make_query_plan("ks", Stmt(key)))
        assert len(local_replicas) == 2
        assert set(plan[:2]) == local_replicas
        assert set(plan) == set(six[:3])
