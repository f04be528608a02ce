"""greencql.cluster.host: endpoints, host identity, distances, the listener protocol."""

from __future__ import annotations

import pickle
import uuid

import pytest

from greencql.cluster.host import DEFAULT_PORT, EndPoint, Host, HostDistance, HostStateListener


@pytest.mark.parametrize(
    "text, expected",
    [
        ("127.0.0.1", EndPoint("127.0.0.1", 9042)),
        ("127.0.0.1:9043", EndPoint("127.0.0.1", 9043)),
        ("node1.example", EndPoint("node1.example", DEFAULT_PORT)),
        ("::1", EndPoint("::1", 9042)),
        ("[::1]", EndPoint("::1", 9042)),
        ("[::1]:19042", EndPoint("::1", 19042)),
        (" 10.0.0.2 ", EndPoint("10.0.0.2", 9042)),
    ],
)
def test_endpoint_parse(text, expected):
    assert EndPoint.parse(text) == expected


def test_endpoint_str_and_validation():
    assert str(EndPoint("10.0.0.1")) == "10.0.0.1:9042"
    assert str(EndPoint("::1", 9043)) == "[::1]:9043"
    with pytest.raises(ValueError):
        EndPoint("")
    with pytest.raises(ValueError):
        EndPoint("10.0.0.1", 0)
    with pytest.raises(ValueError):
        EndPoint("10.0.0.1", 70000)


def test_host_identity_is_the_endpoint():
    a = Host("10.0.0.1", "dc1", "r1")
    b = Host(EndPoint("10.0.0.1"), "dc2", "r9", release_version="4.1.3")
    c = Host("10.0.0.1", port=9043)
    assert a == b and hash(a) == hash(b)
    assert a != c
    assert len({a, b, c}) == 2
    assert a != "10.0.0.1"  # no comparison with bare addresses
    # rewriting the location keeps the host in the same set slot
    s = {a}
    a.set_location_info("dc3", "r3")
    assert a in s and (a.datacenter, a.rack) == ("dc3", "r3")


def test_host_fields_and_state():
    hid = uuid.uuid4()
    h = Host("10.0.0.7:9142", "dc1", "rack1", host_id=hid, release_version="5.0", tokens=["1", 2])
    assert (h.address, h.port) == ("10.0.0.7", 9142)
    assert h.host_id == hid and h.release_version == "5.0" and h.tokens == ("1", 2)
    assert h.is_up is None
    h.set_up()
    assert h.is_up is True
    h.set_down()
    assert h.is_up is False
    assert repr(h) == "<Host: 10.0.0.7:9142 dc1/rack1>"
    assert str(h) == "10.0.0.7:9142"


def test_host_pickles_with_its_state():
    h = Host("10.0.0.1", "dc1", "r1", host_id=uuid.uuid4(), tokens=["-5", "7"])
    h.set_up()
    h.broadcast_address = "192.168.0.1"
    back = pickle.loads(pickle.dumps(h))
    assert back == h
    for name in ("datacenter", "rack", "host_id", "tokens", "is_up", "broadcast_address"):
        assert getattr(back, name) == getattr(h, name)


def test_distance_order_nearer_is_smaller():
    assert HostDistance.LOCAL_RACK < HostDistance.LOCAL < HostDistance.REMOTE
    assert HostDistance.IGNORED == -1


def test_listener_protocol_is_structural():
    class Recorder:
        def __init__(self):
            self.seen = []

        def on_up(self, host):
            self.seen.append(("up", host))

        def on_down(self, host):
            self.seen.append(("down", host))

        def on_add(self, host):
            self.seen.append(("add", host))

        def on_remove(self, host):
            self.seen.append(("remove", host))

    assert isinstance(Recorder(), HostStateListener)
    assert not isinstance(object(), HostStateListener)
