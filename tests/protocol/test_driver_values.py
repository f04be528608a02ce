"""The "driver" value types: for every CQL type, our driver decoder gives the value
cassandra-driver's own deserializer gives for the same bytes, equal and of the same type name,
nested collections included (random types and values, as test_types_hypothesis.py draws them).
"""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from test_types_hypothesis import _FAST, driver_type, typed_values

from greencql.protocol import types as T

pytestmark = pytest.mark.hubfree


def _shape(value):
    """Type names all the way down (containers and their members)."""
    name = type(value).__name__
    if name == "SortedSet":  # members that order only partially (sets) may come in any order
        return (name, sorted((_shape(v) for v in value), key=repr))
    if name in ("list", "tuple"):
        return (name, [_shape(v) for v in value])
    if name == "OrderedMapSerializedKey":
        return (name, [(_shape(k), _shape(v)) for k, v in value._items])
    if hasattr(value, "_fields"):  # a user type's named tuple
        return ("udt", [_shape(v) for v in value])
    return name


# cassandra-driver's timestamps go through a float of seconds: some microseconds off far
# from 1970 (ours are exact); both name the same millisecond
_MILLISECOND = datetime.timedelta(milliseconds=1)


def _same(ours, theirs) -> bool:
    """Equal, except for cassandra-driver's float timestamps (see above; docs/types.md)."""
    if isinstance(ours, datetime.datetime) and isinstance(theirs, datetime.datetime):
        return abs(ours - theirs) < _MILLISECOND
    name = type(ours).__name__
    if name in ("list", "tuple") or hasattr(ours, "_fields"):
        return len(ours) == len(theirs) and all(map(_same, ours, theirs))
    if name == "SortedSet":
        return len(ours) == len(theirs) and all(
            any(_same(a, b) for b in theirs) for a in ours)
    if name == "OrderedMapSerializedKey":
        # their _items: looking their own float-rounded timestamp keys up again fails
        return len(ours) == len(theirs) and all(
            _same(ka, kb) and _same(va, vb)
            for (ka, va), (kb, vb) in zip(ours._items, theirs._items, strict=True))
    return ours == theirs


@_FAST
@given(typed_values())
def test_driver_values_are_cassandra_drivers(tv):
    t, v = tv
    data = t.encode(v)
    ours = T.driver_decoder(t)(data)
    theirs = driver_type(t).deserialize(data, 4)
    assert _same(ours, theirs)
    assert _shape(ours) == _shape(theirs)
    # and they bind back to the same bytes
    if ours is not None:
        assert t.encode(ours) == data or T.driver_decoder(t)(t.encode(ours)) == ours


@pytest.mark.parametrize("address", [
    "::ffff:0.0.0.0", "::ffff:192.0.2.1", "::1.2.3.4", "::", "::1", "2001:db8::8a2e:370:7334",
])
def test_inet_v6_text_is_cassandra_drivers(address):
    """IPv6 inet as cassandra-driver writes it (socket.inet_ntop): IPv4-mapped and
    -compatible addresses keep their dotted tail (found by the property test above)."""
    import ipaddress

    data = ipaddress.IPv6Address(address).packed
    assert T.driver_decoder(T.INET)(data) == driver_type(T.INET).deserialize(data, 4) == address
