"""Session, Cluster and ControlConnection pieces that need no server: messages built per
statement kind and protocol version, option resolution, error messages, the throttle driver,
peer rows, configuration validation."""

from __future__ import annotations

import uuid

import pytest

from greencql import (
    EXEC_PROFILE_DEFAULT,
    BatchStatement,
    Cluster,
    ConsistencyLevel,
    ExecutionProfile,
    PreparedStatement,
    RequestThrottled,
    RequestThrottler,
    RoundRobinPolicy,
    SimpleStatement,
)
from greencql.cluster.control import _peer_info, _unable_to_connect
from greencql.cluster.host import EndPoint, Host
from greencql.cluster.session import Session, _no_host_available, _Throttle
from greencql.errors import (
    ConnectionException,
    NoHostAvailable,
    Overloaded,
    WriteTimeout,
)
from greencql.protocol.messages import Batch, Execute, Query
from greencql.protocol.rows import ColumnSpec, ResultMetadata
from greencql.protocol.types import parse_type_string


def _session(hub, version=5, **cluster_kwargs):
    cluster = Cluster(**cluster_kwargs)
    cluster.protocol_version = version
    cluster.hub = hub
    return Session(cluster, "ks", hub)


def _message(session, query, parameters=None, **kwargs):
    future = session._create_future(query, parameters, False, None, 5.0, EXEC_PROFILE_DEFAULT,
                                    None, None)
    for name, value in kwargs.items():
        setattr(future, name, value)
    return future, session._build_message(future)


def _prepared(version=5):
    int_t = parse_type_string("int")
    cols = (ColumnSpec("ks", "t", "k", int_t), ColumnSpec("ks", "t", "v", int_t))
    return PreparedStatement(
        b"\x01\x02", "INSERT INTO t (k, v) VALUES (?, ?)", cols, [0], "ks", version,
        ResultMetadata.of(cols), b"mdid",
    )


def test_simple_statement_message(hub):
    s = _session(hub)
    _future, msg = _message(s, "SELECT * FROM t WHERE k = %s", (3,))
    assert isinstance(msg, Query)
    assert msg.query == "SELECT * FROM t WHERE k = 3"
    assert msg.params.consistency == ConsistencyLevel.LOCAL_ONE
    assert msg.params.page_size == 5000
    assert msg.params.timestamp is not None
    assert msg.params.keyspace is None


def test_statement_options_win_over_profile(hub):
    s = _session(hub)
    stmt = SimpleStatement("SELECT 1", consistency_level=ConsistencyLevel.QUORUM,
                           serial_consistency_level=ConsistencyLevel.LOCAL_SERIAL,
                           fetch_size=10, keyspace="other", timestamp=42)
    _future, msg = _message(s, stmt)
    assert msg.params.consistency == ConsistencyLevel.QUORUM
    assert msg.params.serial_consistency == ConsistencyLevel.LOCAL_SERIAL
    assert msg.params.page_size == 10
    assert msg.params.timestamp == 42
    assert msg.params.keyspace == "other"  # v5 only
    s4 = _session(hub, version=4)
    _, msg4 = _message(s4, stmt)
    assert msg4.params.keyspace is None


def test_fetch_size_none_turns_paging_off(hub):
    s = _session(hub)
    _, msg = _message(s, SimpleStatement("SELECT 1", fetch_size=None))
    assert msg.params.page_size is None


def test_bound_statement_message(hub):
    s = _session(hub)
    ps = _prepared()
    _, msg = _message(s, ps, (1, 2))
    assert isinstance(msg, Execute)
    assert msg.query_id == b"\x01\x02"
    assert msg.params.skip_metadata is True
    assert msg.result_metadata_id == b"mdid"
    assert list(msg.params.values) == [b"\x00\x00\x00\x01", b"\x00\x00\x00\x02"]
    s4 = _session(hub, version=4)
    _, msg4 = _message(s4, _prepared(4), (1, 2))
    assert msg4.result_metadata_id is None


def test_batch_message(hub):
    s = _session(hub)
    batch = BatchStatement(consistency_level=ConsistencyLevel.ALL)
    batch.add(_prepared(), (1, 2))
    batch.add("INSERT INTO t (k, v) VALUES (%s, %s)", (3, 4))
    _, msg = _message(s, batch)
    assert isinstance(msg, Batch)
    assert msg.consistency == ConsistencyLevel.ALL
    assert [c.kind for c in msg.statements] == ["prepared", "query"]
    assert msg.statements[1].query_or_id == "INSERT INTO t (k, v) VALUES (3, 4)"
    assert msg.keyspace == "ks"  # routing keyspace of the prepared child, v5


def test_statement_misuse(hub):
    s = _session(hub)
    with pytest.raises(ValueError):
        _message(s, _prepared().bind((1, 2)), (1, 2))
    with pytest.raises(TypeError):
        _message(s, 42)
    with pytest.raises(TypeError):
        _message(s, "SELECT %s, %s", (1,))


def test_retry_keeps_timestamp(hub):
    s = _session(hub)
    future, first = _message(s, "INSERT INTO t (k) VALUES (1)")
    future._consistency = ConsistencyLevel.ONE
    again = s._build_message(future)
    assert again.params.timestamp == first.params.timestamp
    assert again.params.consistency == ConsistencyLevel.ONE


def test_no_host_available_messages():
    h1, h2 = Host("127.0.0.1"), Host("127.0.0.2")
    err = _no_host_available(
        {h1: Overloaded("busy"), h2: WriteTimeout("slow", write_type="SIMPLE")}, [h1, h2]
    )
    assert str(err).startswith("All 2 hosts tried failed; last: 127.0.0.2:9042: WriteTimeout")
    assert set(err.errors) == {h1, h2}
    err = _no_host_available({h1: ConnectionException("refused", host=h1)}, [])
    assert str(err).startswith("No connection to any of host; last: 127.0.0.1:9042: refused")
    assert "query plan was empty" in str(_no_host_available({}, []))


def test_unable_to_connect_message():
    refused = ConnectionException("cannot connect to 127.0.0.1:9042 (Connection refused)")
    refused.__cause__ = ConnectionRefusedError()
    err = _unable_to_connect({EndPoint("127.0.0.1"): refused})
    assert str(err).startswith(
        "Unable to connect to any servers: 127.0.0.1:9042 refused the connection (cannot"
    )
    assert isinstance(err, NoHostAvailable)


def test_peer_rows_v2_and_legacy():
    host_id = uuid.uuid4()
    v2 = {"peer": "10.0.0.9", "native_address": "10.0.0.2", "native_port": 9142,
          "data_center": "dc1", "rack": "r1", "host_id": host_id, "tokens": {"5", "-3"},
          "schema_version": uuid.uuid4(), "release_version": "4.0"}
    info = _peer_info(v2, None, 9042, is_local=False)
    assert info.endpoint == EndPoint("10.0.0.2", 9142)
    assert info.tokens == ("-3", "5")
    legacy = {"peer": "10.0.0.3", "rpc_address": "0.0.0.0", "data_center": "dc2",
              "rack": "r2", "host_id": host_id, "tokens": None}
    info = _peer_info(legacy, None, 9042, is_local=False)
    assert info.endpoint == EndPoint("10.0.0.3", 9042)
    assert info.tokens == ()
    assert _peer_info({"peer": None, "rpc_address": None}, None, 9042, is_local=False) is None


def test_throttle_driver(hub):
    throttle = _Throttle(RequestThrottler(max_concurrent_requests=1, max_queue_size=1), hub)
    got = []
    throttle.acquire(got.append)
    assert got == [None]
    second = []
    ticket = throttle.acquire(second.append)
    assert ticket is not None and second == []
    third = []
    throttle.acquire(third.append)
    assert isinstance(third[0], RequestThrottled) and third[0].reason == "queue full"
    throttle.release()  # wakes the queued one
    assert second == [None]
    throttle.release()
    fourth = []
    ticket = throttle.acquire(fourth.append)
    assert fourth == [None] and ticket is None


def test_throttle_max_wait_rejects_via_timer(hub):
    throttle = _Throttle(
        RequestThrottler(max_concurrent_requests=1, max_queue_size=5, max_wait=0.05), hub
    )
    throttle.acquire(lambda e: None)
    done = hub.event()
    out = []
    throttle.acquire(lambda e: (out.append(e), done.set()))
    assert done.wait(2)
    assert isinstance(out[0], RequestThrottled) and out[0].reason == "timed out"


def test_cluster_profiles_and_legacy_parameters():
    policy = RoundRobinPolicy()
    c = Cluster(load_balancing_policy=policy, default_timeout=3,
                default_consistency_level=ConsistencyLevel.QUORUM)
    default = c.profile_manager[EXEC_PROFILE_DEFAULT]
    assert default.load_balancing_policy is policy
    assert default.request_timeout == 3
    assert default.consistency_level == ConsistencyLevel.QUORUM
    c = Cluster(execution_profiles={"slow": ExecutionProfile(request_timeout=60)})
    assert c._profile("slow").request_timeout == 60
    assert c._profile(EXEC_PROFILE_DEFAULT).request_timeout == 10
    with pytest.raises(ValueError, match="no execution profile named 'nope'"):
        c._profile("nope")


def test_cluster_settings():
    c = Cluster(["10.0.0.1:9043", EndPoint("10.0.0.2", 9044)], compression=False)
    assert c.compression is None
    assert Cluster(compression="lz4").compression == "lz4"
    assert c.hub is None and c.protocol_version is None
    assert Cluster("10.0.0.1").contact_points == ["10.0.0.1"]
    with pytest.raises(TypeError):
        Cluster(auth_provider=object())
    with pytest.raises(ValueError):
        Cluster(connect_timeout=0)
    t = RequestThrottler(max_concurrent_requests=3)
    c = Cluster(request_throttler=t)
    assert c.request_throttler is not c.request_throttler  # one per session
    assert c.request_throttler.max_concurrent_requests == 3
