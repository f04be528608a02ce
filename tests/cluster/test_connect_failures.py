"""Connection failures that say what went wrong: authentication and TLS (issue 16).

Each cause gets its own message and advice: no authenticator configured (not worded as a
server error), wrong credentials, an untrusted CA, a certificate for another name (refused by
default, accepted with an explicit ``check_hostname=False`` context and one warning), a plain
connection to a TLS port and the reverse, an unsupported pinned protocol version, and hosts
failing for different causes. Against the simulator over real sockets.
"""

import ssl
import warnings

import pytest

from greencql import Cluster, EndPoint, PlainTextAuthProvider
from greencql.cluster.failures import connect_advice, failure_kind
from greencql.errors import (
    AuthenticationFailed,
    ClientAuthenticationFailed,
    ConnectionException,
    InsecureTLSWarning,
    NoHostAvailable,
)
from greencql.testing import SimCluster
from greencql.testing.certs import make_test_certificates

RUNNING = "check that the nodes are running"


def _fail(sim, **options) -> NoHostAvailable:
    options.setdefault("connect_timeout", 5)
    with pytest.raises(NoHostAvailable) as info:
        with Cluster(sim.contact_points[:1], port=sim.port, hub=sim.hub, **options) as c:
            c.connect()
    return info.value


@pytest.fixture(scope="module")
def auth_sim(hub):
    with SimCluster(1, port=0, auth=("cassandra", "secret"), hub=hub) as sim:
        yield sim


@pytest.fixture(scope="module")
def tls_sim(hub):
    with SimCluster(1, port=0, tls=True, hub=hub) as sim:
        yield sim


@pytest.fixture(scope="module")
def wrong_name_sim(hub, tmp_path_factory):
    certs = make_test_certificates(["127.0.0.1"], str(tmp_path_factory.mktemp("certs")),
                                   names=["wrong.example"])
    with SimCluster(1, port=0, tls=certs, hub=hub) as sim:
        yield sim


def test_no_authenticator_is_not_worded_as_a_server_error(auth_sim):
    error = _fail(auth_sim)
    cause = next(iter(error.errors.values()))
    assert isinstance(cause, ClientAuthenticationFailed)
    assert isinstance(cause, AuthenticationFailed)  # except clauses of ported code still match
    text = str(cause)
    assert "Error from server" not in text and "code=0100" not in text
    assert "org.apache.cassandra.auth.PasswordAuthenticator" in text
    assert "auth_provider=PlainTextAuthProvider" in text
    assert "answered AuthenticationFailed" not in str(error)
    assert str(error).endswith("; the nodes require authentication: configure auth_provider")
    assert RUNNING not in str(error)


def test_wrong_credentials_advise_the_credentials(auth_sim):
    error = _fail(auth_sim, auth_provider=PlainTextAuthProvider("cassandra", "wrong"))
    assert "Provided username cassandra and/or password are incorrect" in str(error)
    assert str(error).endswith(
        "; check the username and password of auth_provider (the server refused them)")
    assert RUNNING not in str(error)


def test_untrusted_ca_advises_tls(tls_sim):
    error = _fail(tls_sim, ssl_context=ssl.create_default_context())
    text = str(error)
    assert "certificate verify failed: unable to get local issuer certificate" in text
    assert "check TLS: that ssl_context trusts the CA" in text
    assert RUNNING not in text
    cause = next(iter(error.errors.values()))
    assert isinstance(cause.__cause__, ssl.SSLCertVerificationError)


def test_wrong_name_refused_by_default_and_printed_as_a_sentence(wrong_name_sim):
    error = _fail(wrong_name_sim, ssl_context=wrong_name_sim.certs.client_context())
    text = str(error)
    assert "IP address mismatch, certificate is not valid for '127.0.0.1'" in text
    assert "('" not in text and "',)" not in text  # not an args tuple
    assert "check TLS" in text
    cause = next(iter(error.errors.values()))
    assert isinstance(cause, ConnectionException)
    assert isinstance(cause.__cause__, ssl.SSLCertVerificationError)  # original kept


def test_explicit_check_hostname_false_is_obeyed_with_one_warning(wrong_name_sim):
    context = wrong_name_sim.certs.client_context(check_hostname=False)
    with pytest.warns(InsecureTLSWarning, match="check_hostname=False") as caught:
        for _ in range(2):  # the same context twice: warned once
            with Cluster(wrong_name_sim.contact_points, port=wrong_name_sim.port,
                         hub=wrong_name_sim.hub, ssl_context=context) as cluster:
                assert cluster.connect().execute("SELECT key FROM system.local").one()
    assert len([w for w in caught if issubclass(w.category, InsecureTLSWarning)]) == 1


@pytest.mark.parametrize("server_hostname", [
    "wrong.example", {"127.0.0.1": "wrong.example"}, lambda address: "wrong.example",
])
def test_expected_server_name_per_host(wrong_name_sim, server_hostname):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # checked names: no warning
        with Cluster(wrong_name_sim.contact_points, port=wrong_name_sim.port,
                     hub=wrong_name_sim.hub, ssl_context=wrong_name_sim.certs.client_context(),
                     ssl_options={"server_hostname": server_hostname}) as cluster:
            assert cluster.connect().execute("SELECT key FROM system.local").one()


def test_ssl_options_build_a_verifying_context(tls_sim, wrong_name_sim):
    legacy = pytest.warns(DeprecationWarning, match="ssl_options without ssl_context")
    with legacy:  # deprecated in cassandra-driver too, and it says so
        cluster = Cluster(tls_sim.contact_points, port=tls_sim.port, hub=tls_sim.hub,
                          ssl_options={"ca_certs": tls_sim.certs.ca_cert})
    with cluster:
        assert cluster.ssl_context.check_hostname  # unlike cassandra-driver: checked by default
        assert cluster.connect().execute("SELECT key FROM system.local").one()
    with pytest.warns(DeprecationWarning):
        error = _fail(wrong_name_sim, ssl_options={"ca_certs": wrong_name_sim.certs.ca_cert})
    assert "address mismatch" in str(error)
    with pytest.raises(ValueError, match="unknown ssl_options"), pytest.warns(DeprecationWarning):
        Cluster(["127.0.0.1"], ssl_options={"ca_cert": "x"})
    with pytest.raises(ValueError, match="set them on the context"):
        Cluster(["127.0.0.1"], ssl_context=ssl.create_default_context(),
                ssl_options={"ca_certs": "x"})


def test_plain_connection_to_a_tls_port_fails_fast_and_says_so(tls_sim, hub):
    started = hub.monotonic()
    error = _fail(tls_sim, connect_timeout=10)
    assert hub.monotonic() - started < 5  # refused, not waited out
    text = str(error)
    assert "requires client TLS" in text
    assert "if the nodes require client TLS, pass ssl_context" in text


def test_tls_connection_to_a_plain_port_fails_fast_and_says_so(hub):
    with SimCluster(1, port=0, hub=hub) as sim:
        started = hub.monotonic()
        error = _fail(sim, connect_timeout=10, ssl_context=ssl.create_default_context())
        assert hub.monotonic() - started < 5
    assert "the server did not answer in TLS: is this its TLS port" in str(error)
    assert "check TLS" in str(error)


def test_unsupported_pinned_protocol_version_advises_the_version(hub):
    with SimCluster(1, port=0, protocol_versions=(3, 4), hub=hub) as sim:
        error = _fail(sim, protocol_version=5)
    assert str(error).endswith(
        "; check protocol_version: leave it None to negotiate, or pin a version every node "
        "supports")


def test_hosts_failing_for_different_causes_are_each_named(auth_sim, hub):
    closed = EndPoint("127.0.0.1", 1)  # nothing listens on port 1
    with pytest.raises(NoHostAvailable) as info:
        with Cluster([auth_sim.contact_points[0], closed], port=auth_sim.port, hub=hub,
                     connect_timeout=5) as c:
            c.connect()
    text = str(info.value)
    assert "for 127.0.0.1:1: check that the nodes are running" in text
    assert f"for 127.0.0.1:{auth_sim.port}: the nodes require authentication" in text


def test_failure_kinds_without_io():
    assert failure_kind(ConnectionException("cannot connect: refused")) == "unreachable"
    wrapped = ConnectionException("TLS handshake with x failed")
    wrapped.__cause__ = ssl.SSLError(1, "bad")
    assert failure_kind(wrapped) == "tls"
    assert connect_advice({}) == ""
