"""flask_greencql.GreenCQL: configuration checked at init_app, lazy per-process objects, app
factories and several apps, the fork rule, the shutdown at exit; against the simulated cluster
over real sockets, on every hub."""

from __future__ import annotations

import os
import ssl

# isort: off
from flask_helpers import sim_config  # first: puts contrib/flask on sys.path

import pytest
from conftest import run_forked
from flask import Flask

from flask_greencql import DEFAULTS, ConfigError, GreenCQL
from flask_greencql.extension import _shutdown_at_exit
# isort: on


def _app(**config: object) -> Flask:
    app = Flask("t")
    app.config.update(config)
    return app


# -- configuration ---------------------------------------------------------------------------


def test_init_app_registers_and_fills_defaults():
    app = _app(GREENCQL_CONTACT_POINTS="10.0.0.1, 10.0.0.2", GREENCQL_PORT=9043)
    cql = GreenCQL(app)
    assert app.extensions["greencql"] is cql
    for key in DEFAULTS:
        assert key in app.config, key
    assert app.config["GREENCQL_CONSISTENCY"] == DEFAULTS["GREENCQL_CONSISTENCY"]
    with app.app_context():
        settings = cql.settings()
    assert settings.contact_points == ("10.0.0.1", "10.0.0.2")
    assert settings.port == 9043
    kwargs = settings.cluster_kwargs()
    assert kwargs["contact_points"] == ["10.0.0.1", "10.0.0.2"]
    assert kwargs["default_timeout"] == DEFAULTS["GREENCQL_REQUEST_TIMEOUT"]


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("GREENCQL_CONSISTENCY", "LOCAL_QUROUM", "unknown consistency level"),
        ("GREENCQL_CONSISTENCY", 3, "unknown consistency level"),
        ("GREENCQL_PORT", "ninety", "expected an integer"),
        ("GREENCQL_PORT", 70000, "out of range"),
        ("GREENCQL_CONTACT_POINTS", 127, "expected a list"),
        ("GREENCQL_CONTACT_POINTS", ["a", ""], "non-empty"),
        ("GREENCQL_KEYSPACE", 5, "expected a string"),
        ("GREENCQL_PROTOCOL_VERSION", 2, "expected one of"),
        ("GREENCQL_COMPRESSION", "zstd", "expected True"),
        ("GREENCQL_REQUEST_TIMEOUT", "10", "expected seconds"),
        ("GREENCQL_REQUEST_TIMEOUT", 0, "must be positive"),
        ("GREENCQL_SSL_CONTEXT", "yes", "ssl.SSLContext"),
        ("GREENCQL_SSL_CA_FILE", "/nonexistent/ca.pem", "no such file"),
        ("GREENCQL_SSL_VERIFY", "maybe", "expected a boolean"),
        ("GREENCQL_CLUSTER_OPTIONS", ["a"], "expected a dict"),
        ("GREENCQL_CLUSTER_OPTIONS", {"no_such_option": 1}, "no option 'no_such_option'"),
        ("GREENCQL_CLUSTER_OPTIONS", {"port": 1}, "GREENCQL_PORT"),
        ("GREENCQL_CLUSTER_OPTIONS", {"core_connections": 0}, "core_connections"),
        ("GREENCQL_USERNAME", "cassandra", "go together"),
        ("GREENCQL_LOCAL_DC", "dc1", "load_balancing_policy"),
    ],
)
def test_misconfiguration_raises_at_init_app_naming_the_key(key, value, words):
    app = _app(**{key: value})
    if key == "GREENCQL_LOCAL_DC":
        from greencql import RoundRobinPolicy

        app.config["GREENCQL_CLUSTER_OPTIONS"] = {"load_balancing_policy": RoundRobinPolicy()}
    with pytest.raises(ConfigError) as info:
        GreenCQL().init_app(app)
    assert info.value.key == (key if key != "GREENCQL_USERNAME" else "GREENCQL_PASSWORD")
    assert str(info.value).startswith(info.value.key + ": ")
    assert words in str(info.value)
    assert "greencql" not in app.extensions


def test_good_values_are_accepted():
    ctx = ssl.create_default_context()
    app = _app(GREENCQL_CONSISTENCY="local_quorum", GREENCQL_PORT="9042",
               GREENCQL_PROTOCOL_VERSION=4, GREENCQL_COMPRESSION="lz4",
               GREENCQL_SSL_CONTEXT=ctx, GREENCQL_USERNAME="u", GREENCQL_PASSWORD="p",
               GREENCQL_LOCAL_DC="dc1",
               GREENCQL_CLUSTER_OPTIONS={"core_connections": 2, "connect_timeout": 1.0})
    cql = GreenCQL(app)
    with app.app_context():
        kwargs = cql.settings().cluster_kwargs()
    from greencql import ConsistencyLevel, PlainTextAuthProvider, TokenAwarePolicy

    assert kwargs["default_consistency_level"] is ConsistencyLevel.LOCAL_QUORUM
    assert kwargs["ssl_context"] is ctx
    assert isinstance(kwargs["auth_provider"], PlainTextAuthProvider)
    assert isinstance(kwargs["load_balancing_policy"], TokenAwarePolicy)
    assert kwargs["core_connections"] == 2
    assert kwargs["protocol_version"] == 4


def test_ca_file_builds_a_context_when_connecting(tmp_path):
    from greencql.testing.certs import make_test_certificates

    certs = make_test_certificates(["127.0.0.1"], str(tmp_path))
    app = _app(GREENCQL_SSL_CA_FILE=certs.ca_cert, GREENCQL_SSL_VERIFY=False)
    cql = GreenCQL(app)
    with app.app_context():
        ctx = cql.settings().cluster_kwargs()["ssl_context"]
    assert isinstance(ctx, ssl.SSLContext)
    assert ctx.verify_mode == ssl.CERT_NONE


def test_init_app_never_connects(sim_cluster):
    before = len(sim_cluster.records())
    app = _app(**sim_config(sim_cluster))
    cql = GreenCQL()
    cql.init_app(app)
    assert len(sim_cluster.records()) == before
    assert all(not n.connections for n in sim_cluster.nodes) or before
    with app.app_context():
        state = cql._state()
    assert state.cluster is None and state.session is None


def test_init_app_twice_is_refused():
    app = _app()
    cql = GreenCQL(app)
    with pytest.raises(RuntimeError, match="already called"):
        cql.init_app(app)
    with pytest.raises(RuntimeError, match="another GreenCQL"):
        GreenCQL(app)


def test_outside_an_app_context():
    cql = GreenCQL()
    with pytest.raises(RuntimeError, match="needs an app"):
        cql.session  # noqa: B018
    app = _app()
    with app.app_context(), pytest.raises(RuntimeError, match="init_app"):
        cql.session  # noqa: B018


# -- the per-process objects -----------------------------------------------------------------


def test_session_is_created_on_first_use_and_kept(sim_cluster):
    app = _app(**sim_config(sim_cluster))
    cql = GreenCQL(app)  # bound at construction: usable outside an app context too
    try:
        session = cql.session
        assert cql.session is session
        assert cql.cluster is session.cluster
        with app.test_request_context("/"):
            assert cql.session is session
        assert session.execute("SELECT release_version FROM system.local").one()
        first = cql.prepare("SELECT release_version FROM system.local WHERE key = ?")
        assert cql.prepare("SELECT release_version FROM system.local WHERE key = ?") is first
        assert session.execute(first, ("local",)).one()
    finally:
        cql.shutdown()
    assert session.cluster.is_shutdown
    # the next use connects again
    try:
        assert cql.session is not session
    finally:
        cql.shutdown()


def test_app_factory_and_several_apps(sim_cluster, make_sim_cluster):
    other = make_sim_cluster(1)
    cql = GreenCQL()

    def factory(sim):
        app = Flask(f"app-on-{sim.port}")
        app.config.update(sim_config(sim))
        cql.init_app(app)

        @app.get("/port")
        def port():
            host = cql.session.execute("SELECT rpc_port FROM system.local").one()
            return {"cluster_port": cql.cluster.port, "rows": bool(host)}

        return app

    one, two = factory(sim_cluster), factory(other)
    try:
        assert one.extensions["greencql"] is cql is two.extensions["greencql"]
        assert one.test_client().get("/port").json["cluster_port"] == sim_cluster.port
        assert two.test_client().get("/port").json["cluster_port"] == other.port
        with one.app_context():
            s1 = cql.session
        with two.app_context():
            s2 = cql.session
        assert s1 is not s2 and s1.cluster is not s2.cluster
    finally:
        for app in (one, two):
            with app.app_context():
                cql.shutdown()


def test_concurrent_first_requests_share_one_session(sim_cluster, hub):
    app = _app(**sim_config(sim_cluster))
    cql = GreenCQL(app)
    sessions = []
    done = hub.event()

    def first_use():
        with app.app_context():
            sessions.append(cql.session)
            if len(sessions) == 20:
                done.set()

    try:
        for _ in range(20):
            hub.spawn(first_use)
        assert done.wait(20)
        assert len({id(s) for s in sessions}) == 1
    finally:
        cql.shutdown()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_child_forked_after_first_use_gets_its_own_cluster(hub):
    from greencql.testing import SimCluster

    # on its own thread: the child (which keeps no threads) never serves the copied listener
    sim = SimCluster(3, port=0).start_in_thread()
    app = _app(**sim_config(sim))
    cql = GreenCQL(app)
    try:
        parent_session = cql.session
        parent_cluster = cql.cluster
        assert parent_session.execute("SELECT release_version FROM system.local").one()
        clients_before = {r.client for r in sim.records(kind="STARTUP")}

        def child() -> int:
            from shortener import connection_ports

            if connection_ports(sim.port):  # the inherited sockets are cut off in the child
                return 6
            session = cql.session
            if session is parent_session or cql.cluster is parent_cluster:
                return 2
            if parent_cluster.is_shutdown:  # abandoned, never shut down
                return 3
            if cql.inherited_clusters_abandoned != 1:
                return 4
            if not session.execute("SELECT release_version FROM system.local").one():
                return 5
            return 0

        assert run_forked(child, timeout=30) == 0
        # the parent's objects are untouched and still work
        assert cql.session is parent_session and not parent_cluster.is_shutdown
        assert parent_session.execute("SELECT release_version FROM system.local").one()
        clients_after = {r.client for r in sim.records(kind="STARTUP")}
        assert clients_after - clients_before  # the child connected over sockets of its own
    finally:
        cql.shutdown()
        sim.stop()


def test_shutdown_at_exit_closes_this_process_connections(sim_cluster, hub):
    app = _app(**sim_config(sim_cluster))
    cql = GreenCQL(app)
    session = cql.session
    assert session.execute("SELECT release_version FROM system.local").one()
    assert any(n.connections for n in sim_cluster.nodes)
    _shutdown_at_exit()  # what atexit runs
    assert session.cluster.is_shutdown
    with app.app_context():
        assert cql._state().cluster is None
