"""Sockets through the hub: DNS, TCP connect (success, refused, timeout) and TLS."""

import datetime
import ipaddress
import socket
import ssl

import pytest

from greencql.errors import ConnectionException

WAIT = 5.0

# eventlet's greendns still calls dnspython's deprecated Resolver.query()
_greendns_warning = pytest.mark.filterwarnings(
    "ignore:please use dns.resolver.Resolver.resolve:DeprecationWarning"
)


@pytest.fixture
def listener():
    """A local listening socket (green in patched processes): ``(sock, port)``."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(WAIT)  # bounds accept() in server tasks
    yield srv, srv.getsockname()[1]
    srv.close()


def test_getaddrinfo_ip_literals_skip_the_resolver(hub):
    assert hub.getaddrinfo("127.0.0.1", 9042) == [
        (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", 9042))
    ]
    (info,) = hub.getaddrinfo("::1", 9042)
    assert info[0] == socket.AF_INET6 and info[4][:2] == ("::1", 9042)
    assert hub.getaddrinfo("127.0.0.1", 9042, socket.AF_INET6) == []


@_greendns_warning
def test_getaddrinfo_name(hub):
    infos = hub.getaddrinfo("localhost", 9042, socket.AF_INET)
    assert infos
    assert all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def test_gevent_resolver_uses_no_thread(hub):
    if hub.name != "gevent":
        pytest.skip("gevent only")
    import gevent

    assert hub.getaddrinfo("localhost", 9042)
    # unless the application chose a resolver, each loop gets a private cooperative one
    resolver = gevent.get_hub()._greencql_resolver
    assert type(resolver).__module__ in ("gevent.resolver.ares", "gevent.resolver.dnspython")


def test_connect_tcp_success_sets_nodelay(hub, listener):
    srv, port = listener
    accepted = []
    server = hub.spawn(lambda: accepted.append(srv.accept()[0]))
    sock = hub.connect_tcp("127.0.0.1", port, timeout=WAIT)
    try:
        assert server.join(WAIT)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        assert sock.gettimeout() is None
        sock.sendall(b"ping")
        assert accepted[0].recv(4) == b"ping"
    finally:
        sock.close()
        for conn in accepted:
            conn.close()


def test_connect_tcp_source_address(hub, listener):
    srv, port = listener
    server = hub.spawn(lambda: srv.accept()[0].close())
    sock = hub.connect_tcp("127.0.0.1", port, timeout=WAIT, source_address=("127.0.0.1", 0))
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
        assert server.join(WAIT)
    finally:
        sock.close()


def test_connect_tcp_refused(hub):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(ConnectionException) as info:
        hub.connect_tcp("127.0.0.1", port, timeout=WAIT)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert info.value.host == ("127.0.0.1", port)


def test_connect_tcp_times_out(hub):
    """A listener that never accepts and has a full backlog drops SYNs: connect hangs."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    filler = []
    try:
        for _ in range(16):  # the first few fill the accept queue, then one hangs
            try:
                filler.append(hub.connect_tcp("127.0.0.1", port, timeout=0.2))
            except ConnectionException as exc:
                assert isinstance(exc.__cause__, TimeoutError)
                assert "timed out" in str(exc)
                break
        else:
            pytest.fail("the backlog never filled")
    finally:
        for s in filler:
            s.close()
        srv.close()


@_greendns_warning
def test_connect_tcp_unresolvable(hub):
    with pytest.raises(ConnectionException):
        hub.connect_tcp("no-such-host.invalid", 9042, timeout=WAIT)


# -- TLS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A throwaway CA and a server certificate for localhost / 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    one_day = datetime.timedelta(days=1)

    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("greencql test CA"))
        .issuer_name(name("greencql test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - one_day)
        .not_valid_after(now + one_day)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - one_day)
        .not_valid_after(now + one_day)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("certs")
    ca_pem = d / "ca.pem"
    ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_pem = d / "server.pem"
    cert_pem.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(ca_pem), str(cert_pem)


@pytest.fixture
def tls_server(hub, listener, certs):
    """Serves one TLS connection: handshake, then echo one message. Returns the port."""
    srv, port = listener
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs[1])

    def serve():
        conn, _ = srv.accept()
        tls = ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        try:
            tls.do_handshake()
            tls.sendall(tls.recv(64))
        except OSError:
            pass  # the client refused us: expected in the negative tests
        finally:
            tls.close()
            conn.close()

    task = hub.spawn(serve)
    yield port
    task.join(WAIT)


def _client_ctx(ca, check_hostname=True):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = check_hostname
    return ctx


@pytest.mark.parametrize("server_hostname", ["localhost", "127.0.0.1"])
def test_wrap_tls_handshake_and_echo(hub, certs, tls_server, server_hostname):
    sock = hub.connect_tcp("127.0.0.1", tls_server, timeout=WAIT)
    tls = hub.wrap_tls(sock, _client_ctx(certs[0]), server_hostname=server_hostname, timeout=WAIT)
    try:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        assert tls.gettimeout() is None
        tls.sendall(b"hello")
        assert tls.recv(64) == b"hello"
    finally:
        tls.close()


def test_wrap_tls_hostname_mismatch_refused(hub, certs, tls_server):
    sock = hub.connect_tcp("127.0.0.1", tls_server, timeout=WAIT)
    with pytest.raises(ConnectionException) as info:
        hub.wrap_tls(sock, _client_ctx(certs[0]), server_hostname="wrong.example.com",
                     timeout=WAIT)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)
    assert "certificate verify failed: Hostname mismatch" in str(info.value)
    assert sock.fileno() == -1  # closed


def test_wrap_tls_obeys_check_hostname_off(hub, certs, tls_server):
    """The context decides (greencql.cluster.tls warns when an application turns it off)."""
    sock = hub.connect_tcp("127.0.0.1", tls_server, timeout=WAIT)
    ctx = _client_ctx(certs[0], check_hostname=False)
    tls = hub.wrap_tls(sock, ctx, server_hostname="wrong.example.com", timeout=WAIT)
    try:
        tls.sendall(b"hello")
        assert tls.recv(64) == b"hello"
    finally:
        tls.close()


def test_wrap_tls_untrusted_ca_refused(hub, tls_server):
    sock = hub.connect_tcp("127.0.0.1", tls_server, timeout=WAIT)
    with pytest.raises(ConnectionException) as info:
        hub.wrap_tls(sock, ssl.create_default_context(), server_hostname="localhost", timeout=WAIT)
    assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


def test_wrap_tls_handshake_times_out(hub, listener, certs):
    srv, port = listener
    release = hub.event()
    accepted = []

    def silent():  # accepts, never speaks TLS
        conn, _ = srv.accept()
        accepted.append(conn)
        release.wait(WAIT)
        conn.close()

    task = hub.spawn(silent)
    sock = hub.connect_tcp("127.0.0.1", port, timeout=WAIT)
    try:
        with pytest.raises(ConnectionException) as info:
            hub.wrap_tls(sock, _client_ctx(certs[0]), server_hostname="localhost", timeout=0.1)
        assert isinstance(info.value.__cause__, TimeoutError)
        assert "timed out" in str(info.value)
    finally:
        release.set()
        assert task.join(WAIT)


def _serve_once(hub, srv, handler):
    """Spawn a task that accepts one connection and runs ``handler(conn)``; returns the task
    and a list that receives the handler's result (or the exception it raised)."""
    out = []

    def run():
        conn, _ = srv.accept()
        try:
            out.append(handler(conn))
        except Exception as exc:  # reported to the test through ``out``
            out.append(exc)
        finally:
            conn.close()

    return hub.spawn(run), out


def test_listen_tcp_accepts_cooperatively(hub):
    srv = hub.listen_tcp("127.0.0.1", 0)
    try:
        host, port = srv.getsockname()
        assert host == "127.0.0.1" and port > 0
        assert srv.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        # the accepting task waits on the hub while this one connects
        task, out = _serve_once(hub, srv, lambda conn: conn.recv(4))
        sock = hub.connect_tcp("127.0.0.1", port, timeout=WAIT)
        try:
            sock.sendall(b"ping")
            assert task.join(WAIT)
            assert out == [b"ping"]
        finally:
            sock.close()
    finally:
        srv.close()


def test_listen_tcp_address_in_use_and_options(hub):
    srv = hub.listen_tcp("127.0.0.1", 0, backlog=4, reuse_address=False)
    try:
        assert not srv.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        with pytest.raises(OSError):
            hub.listen_tcp("127.0.0.1", srv.getsockname()[1])
    finally:
        srv.close()


def test_listen_tcp_ipv6_and_names(hub):
    try:
        srv6 = hub.listen_tcp("::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        assert srv6.family == socket.AF_INET6
    finally:
        srv6.close()
    srv = hub.listen_tcp("", 0)
    try:
        assert srv.family == socket.AF_INET and srv.getsockname()[0] == "0.0.0.0"
    finally:
        srv.close()


def test_listen_tcp_shutdown_wakes_a_blocked_accept(hub):
    srv = hub.listen_tcp("127.0.0.1", 0)
    woke = []

    def accept_loop():
        try:
            srv.accept()
        except (OSError, ValueError, EOFError) as exc:  # what each hub raises
            woke.append(exc)
        finally:
            srv.close()  # the waiting task closes, as the hub contract says

    task = hub.spawn(accept_loop)
    hub.sleep(0.05)  # let it block in accept()
    srv.shutdown(socket.SHUT_RDWR)
    assert task.join(WAIT)
    assert len(woke) == 1 and srv.fileno() == -1


@pytest.fixture
def server_ctx(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs[1])
    return ctx


def test_wrap_tls_server_handshake_and_concurrent_read_write(hub, certs, server_ctx):
    """One task blocks reading the server's TLS socket while another writes to it; a
    shutdown() from a third wakes the reader."""
    srv = hub.listen_tcp("127.0.0.1", 0)
    port = srv.getsockname()[1]
    ready = hub.event()
    state = {}

    def serve(conn):
        tls = hub.wrap_tls_server(conn, server_ctx, timeout=WAIT)
        state["tls"] = tls
        assert tls.gettimeout() is None and tls.version() in ("TLSv1.2", "TLSv1.3")
        ready.set()
        got = []
        try:
            while True:
                data = tls.recv(64)
                if not data:
                    break
                got.append(data)
        except (OSError, ValueError):
            pass  # shut down under us: what the hub contract promises
        finally:
            tls.close()
        return b"".join(got)

    task, out = _serve_once(hub, srv, serve)
    client = hub.wrap_tls(
        hub.connect_tcp("127.0.0.1", port, timeout=WAIT),
        _client_ctx(certs[0]),
        server_hostname="localhost",
        timeout=WAIT,
    )
    try:
        assert ready.wait(WAIT)
        hub.sleep(0.05)  # the reader is now blocked in recv()
        writer = hub.spawn(state["tls"].sendall, b"from the server")
        assert writer.join(WAIT) and writer.exception is None
        assert client.recv(64) == b"from the server"
        client.sendall(b"from the client")
        hub.sleep(0.05)
        state["tls"].shutdown(socket.SHUT_RDWR)
        assert task.join(WAIT)
        assert out == [b"from the client"]
    finally:
        client.close()
        srv.close()


def test_wrap_tls_server_handshake_times_out(hub, server_ctx):
    srv = hub.listen_tcp("127.0.0.1", 0)
    port = srv.getsockname()[1]
    accepted = []

    def serve(conn):
        accepted.append(conn)
        hub.wrap_tls_server(conn, server_ctx, timeout=0.1)

    task, out = _serve_once(hub, srv, serve)
    silent = hub.connect_tcp("127.0.0.1", port, timeout=WAIT)  # never speaks TLS
    try:
        assert task.join(WAIT)
        (exc,) = out
        assert isinstance(exc, ConnectionException) and "timed out" in str(exc)
        assert isinstance(exc.__cause__, TimeoutError)
        assert accepted[0].fileno() == -1  # closed
    finally:
        silent.close()
        srv.close()


def test_wrap_tls_server_refuses_plain_text(hub, server_ctx):
    srv = hub.listen_tcp("127.0.0.1", 0)
    port = srv.getsockname()[1]
    task, out = _serve_once(hub, srv, lambda conn: hub.wrap_tls_server(conn, server_ctx))
    plain = hub.connect_tcp("127.0.0.1", port, timeout=WAIT)
    try:
        plain.sendall(b"\x04\x00\x00\x00\x05\x00\x00\x00\x00" * 8)  # a CQL frame, not TLS
        assert task.join(WAIT)
        (exc,) = out
        assert isinstance(exc, ConnectionException)
        assert isinstance(exc.__cause__, ssl.SSLError)
    finally:
        plain.close()
        srv.close()
