"""handshake.py and auth.py: the client and server machines, alone and against each other.

The pair tests push every message through real bytes (encode_request -> decode_request ->
server -> encode_response -> decode_response), so the machines and the codecs agree; the SASL
PLAIN token is compared with cassandra-driver's PlainTextAuthenticator.
"""

from __future__ import annotations

import pytest
from cassandra.auth import PlainTextAuthenticator as CassPlainTextAuthenticator

import greencql
from greencql.errors import (
    AuthenticationFailed,
    ProtocolError,
    ServerException,
    UnsupportedProtocolVersion,
)
from greencql.protocol.auth import (
    PasswordAuthenticator,
    PlainTextAuthenticator,
    PlainTextAuthProvider,
    parse_sasl_plain,
    sasl_plain_token,
)
from greencql.protocol.handshake import (
    ClientHandshake,
    EnableCompression,
    HandshakeDone,
    HandshakeState,
    RetryWithVersion,
    SendRequest,
    SendResponse,
    ServerHandshake,
    StartSegments,
    negotiate_server_version,
    next_protocol_version,
    parse_supported_versions,
    unsupported_version_error,
)
from greencql.protocol.messages import (
    AuthChallenge,
    Authenticate,
    AuthResponse,
    AuthSuccess,
    ErrorResponse,
    Options,
    Query,
    QueryParameters,
    Ready,
    Startup,
    Supported,
    VoidResult,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
    request_flags,
)

SUPPORTED = Supported(
    {
        "CQL_VERSION": ["3.4.7"],
        "COMPRESSION": ["snappy", "lz4"],
        "PROTOCOL_VERSIONS": ["3/v3", "4/v4", "5/v5"],
    }
)


def only(outputs, cls):
    found = [o for o in outputs if isinstance(o, cls)]
    assert len(found) == 1, outputs
    return found[0]


# -- client alone ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", (3, 4))
def test_client_v3_v4_with_compression(version):
    hs = ClientHandshake(version, compression=("lz4", "snappy"))
    assert hs.start() == [SendRequest(Options())]
    assert hs.state is HandshakeState.AWAIT_SUPPORTED
    out = hs.receive(SUPPORTED, version)
    startup = out[0].message
    assert isinstance(startup, Startup)
    assert startup.options == {
        "CQL_VERSION": "3.0.0",
        "DRIVER_NAME": "greencql",
        "DRIVER_VERSION": greencql.__version__,
        "COMPRESSION": "lz4",
    }
    assert out[1:] == [EnableCompression("lz4")]  # after the STARTUP it applies to
    assert hs.receive(Ready(), version) == [HandshakeDone(version, "lz4", None, SUPPORTED.options)]
    assert hs.done


def test_client_v5_compresses_segments_only_with_lz4():
    hs = ClientHandshake(5, compression=("snappy", "lz4"))
    hs.start()
    out = hs.receive(SUPPORTED, 5)
    assert out == [SendRequest(out[0].message)] and out[0].message.options["COMPRESSION"] == "lz4"
    assert hs.receive(Ready(), 5) == [
        StartSegments("lz4"),
        HandshakeDone(5, "lz4", None, SUPPORTED.options),
    ]

    hs = ClientHandshake(5, compression=("snappy",))
    hs.start()
    out = hs.receive(Supported({"COMPRESSION": ["snappy"]}), 5)
    assert "COMPRESSION" not in out[0].message.options
    assert hs.receive(Ready(), 5)[0] == StartSegments(None)


def test_client_without_options_and_without_common_compression():
    hs = ClientHandshake(4, compression=("lz4",), send_options=False)
    out = hs.start()
    assert out[0].message.options["COMPRESSION"] == "lz4" and out[1] == EnableCompression("lz4")
    hs = ClientHandshake(4, compression=("zstd",))
    hs.start()
    out = hs.receive(SUPPORTED, 4)
    assert len(out) == 1 and "COMPRESSION" not in out[0].message.options


def test_client_extra_startup_options_and_driver_version():
    hs = ClientHandshake(
        4, send_options=False, driver_version="9.9", startup_options={"APPLICATION_NAME": "app"}
    )
    opts = hs.start()[0].message.options
    assert opts["DRIVER_VERSION"] == "9.9" and opts["APPLICATION_NAME"] == "app"


def test_client_password_authentication():
    auth = PlainTextAuthenticator("cassandra", "secret")
    hs = ClientHandshake(4, authenticator=auth, send_options=False)
    hs.start()
    out = hs.receive(Authenticate("org.apache.cassandra.auth.PasswordAuthenticator"), 4)
    assert out == [SendRequest(AuthResponse(b"\x00cassandra\x00secret"))]
    assert auth.server_authenticator_class == "org.apache.cassandra.auth.PasswordAuthenticator"
    assert hs.state is HandshakeState.AUTHENTICATING
    done = only(hs.receive(AuthSuccess(None), 4), HandshakeDone)
    assert done.authenticator == "org.apache.cassandra.auth.PasswordAuthenticator"
    assert auth.succeeded


def test_client_dse_mechanism_negotiation_and_v5_segments_after_authenticate():
    auth = PlainTextAuthenticator("u", "p")
    hs = ClientHandshake(5, authenticator=auth, send_options=False)
    hs.start()
    out = hs.receive(Authenticate("com.datastax.bdp.cassandra.auth.DseAuthenticator"), 5)
    # v5: segments start right after AUTHENTICATE, before the first AUTH_RESPONSE
    assert out == [StartSegments(None), SendRequest(AuthResponse(b"PLAIN"))]
    out = hs.receive(AuthChallenge(b"PLAIN-START"), 5)
    assert out == [SendRequest(AuthResponse(b"\x00u\x00p"))]
    out = hs.receive(AuthSuccess(b""), 5)
    assert out == [HandshakeDone(5, None, "com.datastax.bdp.cassandra.auth.DseAuthenticator", None)]


def test_client_auth_failures():
    hs = ClientHandshake(4, send_options=False)
    hs.start()
    with pytest.raises(AuthenticationFailed, match="no auth_provider was configured"):
        hs.receive(Authenticate("X"), 4)
    assert hs.state is HandshakeState.FAILED

    hs = ClientHandshake(4, authenticator=PlainTextAuthenticator("u", "bad"), send_options=False)
    hs.start()
    hs.receive(Authenticate("X"), 4)
    msg = "Provided username u and/or password are incorrect"
    with pytest.raises(AuthenticationFailed, match=msg) as info:
        hs.receive(ErrorResponse(0x0100, msg), 4)
    assert hs.error is info.value

    # a challenge PLAIN cannot answer
    hs = ClientHandshake(4, authenticator=PlainTextAuthenticator("u", "p"), send_options=False)
    hs.start()
    hs.receive(Authenticate("X"), 4)
    with pytest.raises(AuthenticationFailed, match="challenge"):
        hs.receive(AuthChallenge(b"???"), 4)


def test_client_authenticator_errors_are_wrapped():
    class Broken:
        server_authenticator_class = None

        def initial_response(self):
            raise KeyError("oops")

        def evaluate_challenge(self, challenge):
            return None

        def on_authentication_success(self, token):
            pass

    hs = ClientHandshake(4, authenticator=Broken(), send_options=False)
    hs.start()
    with pytest.raises(AuthenticationFailed) as info:
        hs.receive(Authenticate("X"), 4)
    assert isinstance(info.value.__cause__, KeyError)


def test_client_other_server_errors_and_unexpected_messages():
    hs = ClientHandshake(4, send_options=False)
    hs.start()
    with pytest.raises(ServerException, match="boom"):
        hs.receive(ErrorResponse(0x0000, "boom"), 4)

    hs = ClientHandshake(4)
    hs.start()
    with pytest.raises(ProtocolError, match="unexpected Ready"):
        hs.receive(Ready(), 4)
    with pytest.raises(ProtocolError):
        hs.receive(Ready(), 4)  # FAILED stays failed

    hs = ClientHandshake(4, send_options=False)
    hs.start()
    with pytest.raises(ProtocolError, match="unexpected VoidResult"):
        hs.receive(VoidResult(), 4)
    with pytest.raises(RuntimeError):
        ClientHandshake(4).retry()


# -- version negotiation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempted", "message", "frame_version", "expected"),
    [
        (
            5,
            "Invalid or unsupported protocol version (5); "
            "supported versions are (3/v3, 4/v4, 5/v5-beta)",
            5,
            4,
        ),
        (5, "Invalid or unsupported protocol version (5); supported versions are (3/v3)", 5, 3),
        (5, "Beta version of the protocol used (5/v5-beta), but USE_BETA flag is unset", 5, 4),
        (5, "Invalid or unsupported protocol version: 5", 4, 4),  # ScyllaDB / old Cassandra
        (4, "Invalid or unsupported protocol version: 4", 3, 3),  # Cassandra 2.1 answers in v3
        (5, "Invalid or unsupported protocol version: 5", None, 4),
    ],
)
def test_client_downgrade(attempted, message, frame_version, expected):
    hs = ClientHandshake(
        attempted, compression=("lz4",), authenticator=PlainTextAuthenticator("u", "p")
    )
    hs.start()
    out = hs.receive(ErrorResponse(0x000A, message), frame_version)
    assert out == [RetryWithVersion(expected, message)]
    assert hs.state is HandshakeState.RETRY_VERSION
    again = hs.retry()
    assert again.version == expected and again.state is HandshakeState.IDLE
    assert again.start() == [SendRequest(Options())]


def test_client_downgrade_on_lower_frame_version_of_any_answer():
    hs = ClientHandshake(5)
    hs.start()
    out = hs.receive(SUPPORTED, 4)
    assert out == [RetryWithVersion(4, "the server answered with protocol v4")]


def test_client_never_below_min_version():
    hs = ClientHandshake(4, min_version=4)
    hs.start()
    with pytest.raises(UnsupportedProtocolVersion):
        hs.receive(
            ErrorResponse(
                0x000A, "Invalid or unsupported protocol version (4); supported versions are (3/v3)"
            ),
            4,
        )
    assert hs.state is HandshakeState.FAILED
    hs = ClientHandshake(3)
    hs.start()
    with pytest.raises(UnsupportedProtocolVersion):
        hs.receive(ErrorResponse(0x000A, "Invalid or unsupported protocol version: 3"), None)


def test_protocol_errors_that_are_not_about_versions_are_raised():
    hs = ClientHandshake(5, send_options=False)
    hs.start()
    from greencql.errors import ProtocolException

    with pytest.raises(ProtocolException, match="Unknown compression"):
        hs.receive(ErrorResponse(0x000A, "Unknown compression algorithm: zstd"), 5)


def test_version_helpers():
    assert parse_supported_versions("supported versions are (3/v3, 4/v4, 5/v5-beta)") == [
        (3, False),
        (4, False),
        (5, True),
    ]
    assert parse_supported_versions("nothing") is None
    assert next_protocol_version(5, "", 3) == 3
    with pytest.raises(UnsupportedProtocolVersion):
        next_protocol_version(5, "supported versions are (6/v6-beta)", None, 3)


# -- server alone ---------------------------------------------------------------------------------


def test_server_answers_like_cassandra():
    srv = ServerHandshake(4)
    assert srv.receive(Options()) == [SendResponse(srv.supported())]
    out = srv.receive(Query("SELECT 1", QueryParameters(1)))
    assert out == [
        SendResponse(
            ErrorResponse(0x000A, "Unexpected message QUERY, expecting STARTUP or OPTIONS")
        )
    ]
    out = srv.receive(Startup({"COMPRESSION": "lz4"}))
    assert out == [
        SendResponse(ErrorResponse(0x000A, "Missing value CQL_VERSION in STARTUP message"))
    ]
    out = srv.receive(Startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "zstd"}))
    assert out == [SendResponse(ErrorResponse(0x000A, "Unknown compression algorithm: zstd"))]
    out = srv.receive(Startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "lz4"}))
    assert out[0] == EnableCompression("lz4") and out[1] == SendResponse(Ready())
    assert srv.done
    assert srv.receive(Query("SELECT 1", QueryParameters(1))) == []
    out = srv.receive(Startup({"CQL_VERSION": "3.0.0"}))
    assert (
        out[0].message.message
        == "Unexpected message STARTUP, the connection is already initialized"
    )


def test_server_snappy_refused_in_v5():
    srv = ServerHandshake(5)
    out = srv.receive(Startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "snappy"}))
    assert out[0].message.code == 0x000A
    out = ServerHandshake(5).receive(Startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "lz4"}))
    assert out[0] == SendResponse(Ready()) and out[1] == StartSegments("lz4")


def test_server_authentication():
    srv = ServerHandshake(4, credentials={"cassandra": "cassandra"})
    out = srv.receive(Startup({"CQL_VERSION": "3.0.0"}))
    assert out == [SendResponse(Authenticate("org.apache.cassandra.auth.PasswordAuthenticator"))]
    out = srv.receive(Query("SELECT 1", QueryParameters(1)))
    assert out[0].message.message == "Unexpected message QUERY, expecting SASL_RESPONSE"
    out = srv.receive(AuthResponse(sasl_plain_token("cassandra", "nope")))
    assert out == [
        SendResponse(
            ErrorResponse(0x0100, "Provided username cassandra and/or password are incorrect")
        )
    ]
    out = srv.receive(AuthResponse(b"garbage"))
    assert out[0].message.code == 0x0100
    out = srv.receive(AuthResponse(sasl_plain_token("cassandra", "cassandra")))
    assert out[0] == SendResponse(AuthSuccess(None))
    assert out[-1].username == "cassandra" and srv.done


def test_server_version_negotiation():
    assert negotiate_server_version(4) == (4, None)
    version, err = negotiate_server_version(6, (3, 4, 5))
    assert version == 5
    assert (
        err.message
        == "Invalid or unsupported protocol version (6); supported versions are (3/v3, 4/v4, 5/v5)"
    )
    version, err = negotiate_server_version(2, (3, 4, 5))
    assert version == 2 and err is not None
    version, err = negotiate_server_version(5, (3, 4), beta=(5,))
    assert (
        err.message == "Beta version of the protocol used (5/v5-beta), but USE_BETA flag is unset"
    )
    assert negotiate_server_version(5, (3, 4), beta=(5,), use_beta=True) == (5, None)
    assert unsupported_version_error(5, (3, 4), (5,)).message.endswith("(3/v3, 4/v4, 5/v5-beta)")


# -- the two machines against each other, through bytes -------------------------------------------


def run_pair(client: ClientHandshake, server_factory, server_versions=(3, 4, 5)):
    """Drive a client against a server over encoded bodies; follows downgrades. Returns the
    final client machine, its HandshakeDone, and the transcript of (direction, name, version)."""
    transcript = []
    while True:
        version = client.version
        server_version, refusal = negotiate_server_version(version, server_versions)
        server = server_factory(server_version)
        pending = client.start()
        done = None
        retry = None
        while pending:
            output = pending.pop(0)
            if isinstance(output, SendRequest):
                msg = output.message
                body = encode_request(msg, version)
                request = decode_request(msg.opcode, body, version, request_flags(msg))
                transcript.append(("->", type(request).__name__, version))
                answers = (
                    [SendResponse(refusal)] if refusal is not None else server.receive(request)
                )
                for answer in answers:
                    if isinstance(answer, SendResponse):
                        flags, rbody = encode_response(answer.message, server_version)
                        response = decode_response(
                            answer.message.opcode, flags, rbody, server_version
                        )
                        transcript.append(("<-", type(response).__name__, server_version))
                        pending.extend(client.receive(response, server_version))
            elif isinstance(output, HandshakeDone):
                done = output
            elif isinstance(output, RetryWithVersion):
                retry = output
        if retry is not None:
            client = client.retry()
            continue
        return client, done, transcript


@pytest.mark.parametrize("version", (3, 4, 5))
@pytest.mark.parametrize("with_auth", (False, True))
def test_pair(version, with_auth):
    creds = {"admin": "pw"} if with_auth else None
    auth = PlainTextAuthenticator("admin", "pw") if with_auth else None
    client, done, transcript = run_pair(
        ClientHandshake(version, compression=("lz4", "snappy"), authenticator=auth),
        lambda v: ServerHandshake(v, credentials=creds),
    )
    assert done == HandshakeDone(
        version,
        "lz4",
        "org.apache.cassandra.auth.PasswordAuthenticator" if with_auth else None,
        client.supported,
    )
    names = [name for _, name, _ in transcript]
    expected = ["Options", "Supported", "Startup"]
    expected += ["Authenticate", "AuthResponse", "AuthSuccess"] if with_auth else ["Ready"]
    assert names == expected


def test_pair_downgrades_to_what_the_server_speaks():
    client, done, transcript = run_pair(
        ClientHandshake(5, compression=("lz4",)),
        lambda v: ServerHandshake(v, protocol_versions=("3/v3",)),
        server_versions=(3,),
    )
    assert done.version == 3 and client.version == 3
    assert transcript[:3] == [
        ("->", "Options", 5),
        ("<-", "ErrorResponse", 3),
        ("->", "Options", 3),
    ]
    assert transcript[-1] == ("<-", "Ready", 3)


def test_pair_bad_password():
    with pytest.raises(
        AuthenticationFailed, match="Provided username admin and/or password are incorrect"
    ):
        run_pair(
            ClientHandshake(4, authenticator=PlainTextAuthenticator("admin", "wrong")),
            lambda v: ServerHandshake(v, credentials={"admin": "pw"}),
        )


# -- auth.py --------------------------------------------------------------------------------------


def test_sasl_plain_matches_cassandra_driver():
    theirs = CassPlainTextAuthenticator("user", "pässword")
    ours = PlainTextAuthenticator("user", "pässword")
    assert ours.initial_response() == theirs.initial_response()
    assert ours.evaluate_challenge(b"PLAIN-START") == theirs.evaluate_challenge(b"PLAIN-START")
    assert PasswordAuthenticator is PlainTextAuthenticator
    assert "pässword" not in repr(ours)
    provider = PlainTextAuthProvider("user", "pw")
    assert provider.new_authenticator("10.0.0.1").initial_response() == b"\x00user\x00pw"
    assert "pw" not in repr(provider)


def test_parse_sasl_plain():
    assert parse_sasl_plain(b"\x00u\x00p") == ("", "u", "p")
    assert parse_sasl_plain(b"z\x00u\x00") == ("z", "u", "")
    for bad in (None, b"", b"u\x00p", b"\x00\x00p", b"\x00\xff\x00p", b"a\x00b\x00c\x00d"):
        assert parse_sasl_plain(bad) is None


def test_cassandra_driver_authenticators_work_unchanged():
    auth = CassPlainTextAuthenticator("u", "p")
    hs = ClientHandshake(4, authenticator=auth, send_options=False)
    hs.start()
    out = hs.receive(Authenticate("org.apache.cassandra.auth.PasswordAuthenticator"), 4)
    assert out == [SendRequest(AuthResponse(b"\x00u\x00p"))]
    assert auth.server_authenticator_class == "org.apache.cassandra.auth.PasswordAuthenticator"
    assert isinstance(only(hs.receive(AuthSuccess(None), 4), HandshakeDone), HandshakeDone)


def test_server_v5_switches_to_segments_after_authenticate():
    srv = ServerHandshake(5, credentials={"u": "p"})
    out = srv.receive(Startup({"CQL_VERSION": "3.0.0", "COMPRESSION": "lz4"}))
    assert out == [SendResponse(Authenticate(srv.authenticator_class)), StartSegments("lz4")]
    out = srv.receive(AuthResponse(sasl_plain_token("u", "p")))
    assert out[0] == SendResponse(AuthSuccess(None))
    assert not any(isinstance(o, StartSegments) for o in out)
