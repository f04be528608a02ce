"""Cassandra's Murmur3 partitioner token (pure Python; a Cython twin in ``_murmur3.pyx``).

Owns: the 64-bit token of a serialized partition key, exactly as
``org.apache.cassandra.dht.Murmur3Partitioner`` computes it (MurmurHash3 x64 128-bit, seed 0,
first 64 bits as a signed long), including Cassandra's two quirks:

- tail bytes are read as *signed* Java bytes, so a tail byte >= 0x80 is sign-extended before it
  is shifted into place (this differs from the reference MurmurHash3);
- the minimum long (-2**63) is reserved by the partitioner and mapped to 2**63 - 1.

Also owns the serialization of a (possibly composite) partition key: one component is its bytes
as is; several are each ``[2-byte length][bytes][0x00]``.

It sits on two hot paths (the simulator's request path and the driver's token-aware routing),
so the tail contributions are precomputed per (position, byte). It must not do any IO and must
not depend on cassandra-driver (which is only the test oracle).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from greencql._speedups import twin

__all__ = [
    "MIN_TOKEN",
    "MAX_TOKEN",
    "murmur3",
    "murmur3_token",
    "serialize_partition_key",
    "token_of_components",
]

MIN_TOKEN = -(2**63)
MAX_TOKEN = 2**63 - 1

_M64 = 0xFFFFFFFFFFFFFFFF
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F

# _TAIL[i][b]: the (sign-extended, masked) contribution of byte value b at tail position i % 8.
_TAIL: tuple[tuple[int, ...], ...] = tuple(
    tuple((((b - 256) if b >= 128 else b) << (8 * i)) & _M64 for b in range(256)) for i in range(8)
)
_UNPACK: dict[int, struct.Struct] = {}


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    return k ^ (k >> 33)


def murmur3(data: bytes) -> int:
    """The signed 64-bit first half of MurmurHash3 x64/128 as Cassandra computes it (no
    MIN_TOKEN normalization; see :func:`murmur3_token`)."""
    length = len(data)
    nblocks = length >> 4
    h1 = h2 = 0
    if nblocks:
        unpack = _UNPACK.get(nblocks)
        if unpack is None:
            unpack = _UNPACK[nblocks] = struct.Struct(f"<{2 * nblocks}Q")
        words = unpack.unpack_from(data)
        for i in range(0, 2 * nblocks, 2):
            k1 = (words[i] * _C1) & _M64
            k1 = ((k1 << 31) | (k1 >> 33)) & _M64
            h1 ^= (k1 * _C2) & _M64
            h1 = ((h1 << 27) | (h1 >> 37)) & _M64
            h1 = ((h1 + h2) * 5 + 0x52DCE729) & _M64

            k2 = (words[i + 1] * _C2) & _M64
            k2 = ((k2 << 33) | (k2 >> 31)) & _M64
            h2 ^= (k2 * _C1) & _M64
            h2 = ((h2 << 31) | (h2 >> 33)) & _M64
            h2 = ((h2 + h1) * 5 + 0x38495AB5) & _M64

    tail = length & 15
    if tail:
        base = nblocks << 4
        if tail > 8:
            chunk = data[base + 8:base + tail]
            if chunk.isascii():
                # no byte has its sign bit: sign extension adds nothing, the XOR of the
                # shifted bytes is the little-endian integer (one C call, not a loop)
                k2 = int.from_bytes(chunk, "little")
            else:
                k2 = 0
                for i in range(8, tail):
                    k2 ^= _TAIL[i - 8][data[base + i]]
            k2 = (k2 * _C2) & _M64
            k2 = ((k2 << 33) | (k2 >> 31)) & _M64
            h2 ^= (k2 * _C1) & _M64
        chunk = data[base:base + min(tail, 8)]
        if chunk.isascii():
            k1 = int.from_bytes(chunk, "little")
        else:
            k1 = 0
            for i in range(min(tail, 8)):
                k1 ^= _TAIL[i][data[base + i]]
        k1 = (k1 * _C1) & _M64
        k1 = ((k1 << 31) | (k1 >> 33)) & _M64
        h1 ^= (k1 * _C2) & _M64

    h1 ^= length
    h2 ^= length
    h1 = (h1 + h2) & _M64
    h2 = (h2 + h1) & _M64
    # _fmix twice, inlined: a routing key is hashed once per request
    h1 ^= h1 >> 33
    h1 = (h1 * 0xFF51AFD7ED558CCD) & _M64
    h1 ^= h1 >> 33
    h1 = (h1 * 0xC4CEB9FE1A85EC53) & _M64
    h1 ^= h1 >> 33
    h2 ^= h2 >> 33
    h2 = (h2 * 0xFF51AFD7ED558CCD) & _M64
    h2 ^= h2 >> 33
    h2 = (h2 * 0xC4CEB9FE1A85EC53) & _M64
    h2 ^= h2 >> 33
    h1 = (h1 + h2) & _M64
    return h1 - (1 << 64) if h1 >> 63 else h1


_murmur3_python = murmur3  # kept for the tests that hold the twin to it
_twin = twin("greencql.cluster._murmur3")
if _twin is not None:
    murmur3 = _twin.murmur3  # the Cython twin: same name, same results


def murmur3_token(key: bytes) -> int:
    """The Murmur3Partitioner token of a serialized partition key."""
    h = murmur3(key)
    # Cassandra reserves Long.MIN_VALUE as the ring's minimum token, never a key's token
    return MAX_TOKEN if h == MIN_TOKEN else h


def serialize_partition_key(components: Sequence[bytes]) -> bytes:
    """The routing key of a partition key: one component as is; a composite key as
    ``[u16 length][bytes][0x00]`` per component (Cassandra's CompositeType)."""
    if len(components) == 1:
        return bytes(components[0])
    parts = []
    for c in components:
        parts.append(struct.pack(">H", len(c)))
        parts.append(c)
        parts.append(b"\x00")
    return b"".join(parts)


def token_of_components(components: Sequence[bytes]) -> int:
    """The token of a partition key given its serialized components."""
    return murmur3_token(serialize_partition_key(components))
