"""cassandra-driver's Cluster, metadata and policy surface, against simulated nodes.

Construction forms and their errors, metrics, targeted schema refreshes, registered user
types, host addresses and ports, the token map's tokens, the address translator and the
white-list policy. In the thread-hub process cassandra-driver answers the same questions on
the same node in the same test.
"""

from __future__ import annotations

import pytest
from compat_fixtures import *  # noqa: F403 (the fixtures)
from compat_fixtures import KS
from conftest import TEST_HUB, import_cassandra_cluster

from greencql import (
    Cluster,
    InvalidRequest,
    NoHostAvailable,
    ProtocolVersion,
    UnresolvableContactPoints,
    UserFunctionDescriptor,
)
from greencql.cluster import UserTypeDoesNotExist
from greencql.errors import InsecureTLSWarning
from greencql.metadata import Murmur3Token, group_keys_by_replica, protect_names
from greencql.policies import (
    AddressTranslator,
    DefaultLoadBalancingPolicy,
    RoundRobinPolicy,
    SimpleConvictionPolicy,
    WhiteListRoundRobinPolicy,
)
from greencql.testing import SimCluster


def test_protocol_version_constants():
    import cassandra

    for name in ("MAX_SUPPORTED", "MIN_SUPPORTED"):
        assert isinstance(getattr(ProtocolVersion, name), int)
    assert ProtocolVersion.MAX_SUPPORTED == 5 and ProtocolVersion.V6 == 6
    assert ProtocolVersion.BETA_VERSIONS == cassandra.ProtocolVersion.BETA_VERSIONS
    theirs = cassandra.ProtocolVersion
    assert ProtocolVersion.get_lower_supported(5) == theirs.get_lower_supported(5)
    assert ProtocolVersion.get_lower_supported(3) == 0
    for fn in ("uses_int_query_flags", "uses_prepare_flags", "uses_prepared_metadata",
               "uses_error_code_map", "uses_keyspace_flag"):
        for v in (3, 4, 5):
            assert getattr(ProtocolVersion, fn)(v) == getattr(cassandra.ProtocolVersion, fn)(v)


# -- construction ---------------------------------------------------------------------------


def test_empty_contact_points_fail_at_connect_with_no_host_available(hub):
    cluster = Cluster(contact_points=[], hub=hub)
    with pytest.raises(NoHostAvailable, match="Unable to connect to any servers") as info:
        cluster.connect()
    assert info.value.errors == {}
    cluster.shutdown()
    if TEST_HUB == "thread":
        cc = import_cassandra_cluster()
        theirs = cc.Cluster(contact_points=[], connect_timeout=1)
        with pytest.raises(cc.NoHostAvailable, match="Unable to connect to any servers") as t:
            theirs.connect()
        assert t.value.errors == {}
        theirs.shutdown()


def test_none_contact_point_is_refused_at_construction():
    with pytest.raises(ValueError, match="contact_points should not contain None"):
        Cluster([None])
    if TEST_HUB == "thread":
        cc = import_cassandra_cluster()
        with pytest.raises(ValueError, match="contact_points should not contain None"):
            cc.Cluster([None])


def test_unresolvable_contact_points(hub):
    with Cluster(["no-such-host.invalid"], hub=hub) as cluster:
        with pytest.raises(UnresolvableContactPoints):
            cluster.connect()
    if TEST_HUB == "thread":
        cc = import_cassandra_cluster()
        from cassandra import UnresolvableContactPoints as Theirs

        with pytest.raises(Theirs):  # cassandra-driver: already in the constructor
            cc.Cluster(["no-such-host.invalid"])


def test_legacy_keywords_are_accepted(sim, tmp_path):
    with pytest.warns(DeprecationWarning, match="ssl_options without ssl_context"), \
            pytest.warns(InsecureTLSWarning, match="certificates are not verified"):
        c = Cluster(sim.contact_points, port=sim.port, hub=sim.hub,
                    ssl_options={"cert_reqs": 0}, sockopts=[], cql_version="3.4.5",
                    allow_beta_protocol_version=False,
                    conviction_policy_factory=SimpleConvictionPolicy)
    assert c.ssl_context is not None and c.cql_version == "3.4.5"
    assert c.conviction_policy_factory is SimpleConvictionPolicy
    c.shutdown()
    with pytest.raises(ValueError, match="unknown ssl_options"):
        with pytest.warns(DeprecationWarning):
            Cluster(ssl_options={"bogus": 1})


def test_cql_version_goes_in_startup(sim):
    with Cluster(sim.contact_points, port=sim.port, hub=sim.hub, cql_version="3.4.5") as c:
        c.connect().execute("SELECT release_version FROM system.local")
    assert c._connection_options(None).startup_options == {"CQL_VERSION": "3.4.5"}


# -- metrics --------------------------------------------------------------------------------


def test_metrics(sim, session):
    with Cluster(sim.contact_points, port=sim.port, hub=sim.hub,
                 metrics_enabled=True) as cluster:
        s = cluster.connect(KS)
        for _ in range(5):
            s.execute("SELECT release_version FROM system.local")
        sim.prime("SELECT release_version FROM system.peers", error=InvalidRequest("no"))
        try:
            with pytest.raises(InvalidRequest):
                s.execute("SELECT release_version FROM system.peers")
        finally:
            sim.clear_primes()
        metrics = cluster.metrics
        assert metrics.request_timer["count"] >= 5
        timer = metrics.request_timer.snapshot()
        assert 0 < timer["min"] <= timer["median"] <= timer["max"]
        assert set(timer) >= {"mean", "stddev", "75percentile", "95percentile", "98percentile",
                              "99percentile", "999percentile"}
        assert metrics.stats.other_errors == 1 and metrics.other_errors == 1
        assert metrics.stats.read_timeouts == 0 and metrics.stats.retries == 0
        assert metrics.stats.known_hosts == 1 and metrics.stats.connected_to == 1
        assert metrics.stats.open_connections >= 1
        assert metrics.get_stats()["request_timer"]["count"] >= 5
    with Cluster(sim.contact_points, port=sim.port, hub=sim.hub) as plain:
        assert plain.metrics is None


# -- schema -----------------------------------------------------------------------------------


def test_targeted_refreshes_and_cluster_name(cluster, session, oracle):
    session.execute("CREATE TABLE IF NOT EXISTS refreshed (k int PRIMARY KEY, v text)")
    session.execute("CREATE TYPE IF NOT EXISTS point (x int, y int)")
    cluster.refresh_keyspace_metadata(KS)
    cluster.refresh_table_metadata(KS, "refreshed")
    cluster.refresh_user_type_metadata(KS, "point")
    cluster.refresh_user_function_metadata(KS, UserFunctionDescriptor("nofn", ["int"]))
    ks = cluster.metadata.keyspaces[KS]
    assert "refreshed" in ks.tables and "point" in ks.user_types
    with pytest.warns(DeprecationWarning, match="set_meta_refresh_enabled is deprecated"):
        cluster.set_meta_refresh_enabled(False)
    assert not cluster.schema_metadata_enabled and not cluster.token_metadata_enabled
    with pytest.warns(DeprecationWarning):
        cluster.set_meta_refresh_enabled(True)
    assert cluster.metadata.cluster_name
    assert cluster.load_balancing_policy is not None and cluster.default_retry_policy is not None
    assert cluster.sessions
    if oracle is not None:
        assert oracle.cluster.metadata.cluster_name == cluster.metadata.cluster_name


class Point:
    def __init__(self, x=None, y=None):
        self.x, self.y = x, y

    def __eq__(self, other):
        return (self.x, self.y) == (getattr(other, "x", None), getattr(other, "y", None))


def test_register_user_type(cluster, session, oracle_cluster):
    session.execute("CREATE TYPE IF NOT EXISTS point (x int, y int)")
    session.execute("CREATE TABLE IF NOT EXISTS shapes (k int PRIMARY KEY, p frozen<point>)")
    cluster.refresh_user_type_metadata(KS, "point")
    cluster.register_user_type(KS, "point", Point)
    try:
        insert = session.prepare("INSERT INTO shapes (k, p) VALUES (?, ?)")
        session.execute(insert, (1, Point(1, 2)))
        got = session.execute("SELECT p FROM shapes WHERE k = 1").one().p
        assert type(got) is Point and (got.x, got.y) == (1, 2)
        with pytest.raises(UserTypeDoesNotExist, match="does not exist in keyspace"):
            cluster.register_user_type(KS, "nosuchtype", Point)
        with pytest.raises(UserTypeDoesNotExist, match="Keyspace nosuchks does not exist"):
            cluster.register_user_type("nosuchks", "point", Point)
        if oracle_cluster is not None:
            oracle_cluster.refresh_user_type_metadata(KS, "point")
            oracle_cluster.register_user_type(KS, "point", Point)
            theirs = oracle_cluster.connect(KS)
            try:
                their_got = theirs.execute("SELECT p FROM shapes WHERE k = 1").one().p
                assert type(their_got) is Point and their_got == got
            finally:
                theirs.shutdown()
    finally:
        from greencql.protocol.rows import register_user_type

        register_user_type(KS, "point", None)
    assert type(session.execute("SELECT p FROM shapes WHERE k = 1").one().p) is not Point


# -- hosts, tokens, policies ----------------------------------------------------------------------


def test_host_addresses_and_ports(cluster, session, oracle_cluster):
    (host,) = cluster.metadata.all_hosts()
    assert host.broadcast_rpc_address == host.address
    assert host.broadcast_rpc_port == cluster.port
    if oracle_cluster is not None:
        oracle_cluster.connect().shutdown()
        (theirs,) = oracle_cluster.metadata.all_hosts()
        for name in ("broadcast_address", "broadcast_rpc_address", "broadcast_rpc_port",
                     "broadcast_port", "listen_address", "listen_port"):
            assert getattr(host, name) == getattr(theirs, name), name


def test_token_map_tokens_and_replicas(cluster, session, oracle_cluster):
    session.execute("CREATE TABLE IF NOT EXISTS tok (k int PRIMARY KEY)")
    token_map = cluster.metadata.token_map
    assert token_map.token_class is Murmur3Token
    assert token_map.ring and all(isinstance(t, Murmur3Token) for t in token_map.ring)
    (host,) = cluster.metadata.all_hosts()
    token = Murmur3Token.from_key(b"\x00\x00\x00\x01")
    assert token_map.get_replicas(KS, token) == [host]
    token_map.rebuild_keyspace(KS, build_if_absent=True)
    replica_map = token_map.replica_map_for_keyspace(cluster.metadata.keyspaces[KS])
    assert set(replica_map) == set(token_map.ring)
    assert token_map.tokens_to_hosts_by_ks[KS] == replica_map
    groups = group_keys_by_replica(session, KS, "tok", [(1,), (2,), (3,)])
    assert groups == {host: [(1,), (2,), (3,)]}
    assert protect_names(["a", "Select", "b c"]) == ["a", '"Select"', '"b c"']
    if oracle_cluster is not None:
        from cassandra.metadata import Murmur3Token as TheirToken
        from cassandra.metadata import protect_names as their_protect_names

        oracle_cluster.connect().shutdown()
        their_map = oracle_cluster.metadata.token_map
        assert [t.value for t in their_map.ring] == [t.value for t in token_map.ring]
        assert TheirToken.from_key(b"\x00\x00\x00\x01").value == token.value
        assert repr(TheirToken(5)) == repr(Murmur3Token(5))
        assert their_protect_names(["a", "Select", "b c"]) == protect_names(["a", "Select",
                                                                              "b c"])


class _Recording(AddressTranslator):
    def __init__(self):
        self.seen = []

    def translate(self, addr):
        self.seen.append(addr)
        return addr


@pytest.fixture(scope="module")
def sim2(hub):
    with SimCluster(2, port=0, hub=hub) as s:
        yield s


def test_address_translator_sees_each_peer(sim2):
    translator = _Recording()
    with Cluster(sim2.contact_points[:1], port=sim2.port, hub=sim2.hub,
                 address_translator=translator) as cluster:
        cluster.connect()
        assert sim2.nodes[1].address in translator.seen
        assert len(cluster.metadata.all_hosts()) == 2
    with pytest.raises(TypeError, match="translate"):
        Cluster(address_translator=object())


def test_white_list_policy_keeps_to_its_hosts(sim2):
    allowed = sim2.nodes[1].address
    with Cluster(sim2.contact_points, port=sim2.port, hub=sim2.hub,
                 load_balancing_policy=WhiteListRoundRobinPolicy([allowed])) as cluster:
        session = cluster.connect()
        sim2.clear_logs()
        for _ in range(6):
            session.execute("SELECT release_version FROM system.local")
        nodes = {r.node for r in sim2.records(kind="QUERY")
                 if r.query == "SELECT release_version FROM system.local"}
        assert nodes == {sim2.nodes[1].name}


def test_default_load_balancing_policy_targets_a_host(sim2):
    class Targeted:
        def __init__(self, host):
            self.target_host = host

    policy = DefaultLoadBalancingPolicy(RoundRobinPolicy())
    with Cluster(sim2.contact_points, port=sim2.port, hub=sim2.hub,
                 load_balancing_policy=policy) as cluster:
        cluster.connect()
        hosts = cluster.metadata.all_hosts()
        for host in hosts:
            for _ in range(3):
                assert next(iter(policy.make_query_plan(None, Targeted(host.address)))) == host
