# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Cython twin of :func:`greencql.cluster.murmur3.murmur3` (same name, same results).

MurmurHash3 x64/128, seed 0, first half as a signed 64-bit integer, with Cassandra's quirk:
tail bytes are *signed* Java bytes, sign-extended before they are shifted into place. Chosen by
greencql._speedups; the Python module documents the algorithm.
"""

from libc.stdint cimport int8_t, int64_t, uint64_t

cdef uint64_t C1 = 0x87C37B91114253D5ULL
cdef uint64_t C2 = 0x4CF5AD432745937FULL


cdef inline uint64_t rotl(uint64_t x, int r) nogil:
    return (x << r) | (x >> (64 - r))


cdef inline uint64_t fmix(uint64_t k) nogil:
    k ^= k >> 33
    k *= 0xFF51AFD7ED558CCDULL
    k ^= k >> 33
    k *= 0xC4CEB9FE1A85EC53ULL
    k ^= k >> 33
    return k


cdef inline uint64_t block(const unsigned char* p) nogil:
    # little-endian 64-bit word, whatever the machine's byte order
    cdef uint64_t v = 0
    cdef int i
    for i in range(7, -1, -1):
        v = (v << 8) | p[i]
    return v


def murmur3(data):
    """The signed 64-bit first half of MurmurHash3 x64/128 as Cassandra computes it."""
    cdef const unsigned char[::1] view = data
    cdef Py_ssize_t length = view.shape[0]
    cdef Py_ssize_t nblocks = length >> 4
    cdef Py_ssize_t i, base
    cdef int tail
    cdef uint64_t h1 = 0, h2 = 0, k1, k2
    cdef const unsigned char* p = &view[0] if length else NULL
    with nogil:
        for i in range(nblocks):
            k1 = block(p + 16 * i)
            k2 = block(p + 16 * i + 8)
            k1 *= C1
            k1 = rotl(k1, 31)
            k1 *= C2
            h1 ^= k1
            h1 = rotl(h1, 27)
            h1 += h2
            h1 = h1 * 5 + 0x52DCE729
            k2 *= C2
            k2 = rotl(k2, 33)
            k2 *= C1
            h2 ^= k2
            h2 = rotl(h2, 31)
            h2 += h1
            h2 = h2 * 5 + 0x38495AB5
        base = nblocks << 4
        tail = length & 15
        k1 = 0
        k2 = 0
        # signed bytes, sign-extended to 64 bits, as Cassandra's Java code reads them
        for i in range(tail - 1, 7, -1):
            k2 ^= (<uint64_t><int64_t><int8_t>p[base + i]) << (8 * (i - 8))
        if tail > 8:
            k2 *= C2
            k2 = rotl(k2, 33)
            k2 *= C1
            h2 ^= k2
        for i in range(min(tail, 8) - 1, -1, -1):
            k1 ^= (<uint64_t><int64_t><int8_t>p[base + i]) << (8 * i)
        if tail > 0:
            k1 *= C1
            k1 = rotl(k1, 31)
            k1 *= C2
            h1 ^= k1
        h1 ^= <uint64_t>length
        h2 ^= <uint64_t>length
        h1 += h2
        h2 += h1
        h1 = fmix(h1)
        h2 = fmix(h2)
        h1 += h2
    return <int64_t>h1
