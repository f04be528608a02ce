"""greencql.cluster.murmur3 against cassandra-driver's pure and Cython murmur3 (the oracle)."""

from __future__ import annotations

import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.cluster.murmur3 import (
    MAX_TOKEN,
    MIN_TOKEN,
    murmur3,
    murmur3_token,
    serialize_partition_key,
    token_of_components,
)

try:
    from cassandra.cmurmur3 import murmur3 as c_murmur3
except ImportError:  # pragma: no cover - the venv has the Cython build
    c_murmur3 = None
from cassandra.metadata import Murmur3Token
from cassandra.murmur3 import _murmur3 as py_murmur3


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=80))
def test_matches_driver_pure_and_cython(data: bytes) -> None:
    expected = py_murmur3(data)
    assert murmur3(data) == expected
    if c_murmur3 is not None:
        assert c_murmur3(data) == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_token_matches_driver_murmur3token(data: bytes) -> None:
    assert murmur3_token(data) == Murmur3Token.hash_fn(data)


def test_every_length_and_high_tail_bytes() -> None:
    for n in range(0, 50):
        for fill in (0x00, 0x7F, 0x80, 0xFF):
            data = bytes([fill]) * n
            assert murmur3(data) == py_murmur3(data)


def test_known_values() -> None:
    # int 1 serialized as 4 bytes, a common routing key
    assert murmur3_token(struct.pack(">i", 1)) == -4069959284402364209
    assert murmur3_token(b"") == py_murmur3(b"")


def test_min_token_maps_to_max() -> None:
    assert MIN_TOKEN == -(2**63) and MAX_TOKEN == 2**63 - 1
    for data in (b"a", b"bb", b"x" * 17):
        assert MIN_TOKEN < murmur3_token(data) <= MAX_TOKEN


def test_composite_key_serialization() -> None:
    assert serialize_partition_key([b"abc"]) == b"abc"
    assert serialize_partition_key([b"ab", b"\x00\x01"]) == b"\x00\x02ab\x00\x00\x02\x00\x01\x00"
    comps = [b"ab", b"\x00\x01"]
    assert token_of_components(comps) == Murmur3Token.hash_fn(serialize_partition_key(comps))


def test_driver_composite_routing_key_agrees() -> None:
    from cassandra.query import SimpleStatement

    parts = [b"\x00\x00\x00\x01", b"hello", b""]
    stmt = SimpleStatement("SELECT 1")
    stmt.routing_key = parts
    assert serialize_partition_key(parts) == stmt.routing_key
    stmt.routing_key = [b"solo"]
    assert serialize_partition_key([b"solo"]) == stmt.routing_key
