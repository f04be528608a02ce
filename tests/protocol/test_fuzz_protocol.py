"""The short protocol fuzz (CI): mutated valid inputs through every decoder, bytes only.

The corpus, mutators and targets are ``fuzzing.py``'s (the long run is ``bench/fuzz.py``):
frames and v5 segments with and without LZ4, every message both ways in v3-v5, values of
every CQL type, the simulator's server-side decoding and both handshake state machines.
Each input may only return or raise a ProtocolError (handshakes: a DriverException), within
a second, and the inputs measured under tracemalloc stay within the allocation bound.
Seeded: a failure here replays with the same seed.
"""

from __future__ import annotations

import random
import struct
import tracemalloc

import pytest
from fuzzing import ALLOC_PER_BYTE, ALLOC_SLACK, TARGETS, Case, Fuzzer, build_corpus

from greencql.errors import CompressionError, ProtocolError
from greencql.protocol.compression import available_compressors
from greencql.protocol.constants import DEFAULT_MAX_FRAME_BODY

pytestmark = pytest.mark.hubfree

CORPUS = build_corpus(0)


class _NoMutation(random.Random):
    """The runners' own random choices (header flags, chunking) left at their defaults."""

    def random(self) -> float:
        return 0.0


def test_the_corpus_is_valid_and_covers_every_target():
    """Unmutated, every input decodes (so mutations start from valid bytes)."""
    rng = _NoMutation()
    for case in CORPUS:
        TARGETS[case.target][0](case, case.data, rng)
    assert {c.target for c in CORPUS} == set(TARGETS)
    kinds = {c.aux.kind for c in CORPUS if c.target == "value"}
    assert {"list", "set", "map", "tuple", "udt", "vector"} <= kinds
    streams = {(c.version, c.aux) for c in CORPUS if c.target == "client_stream"}
    assert {(3, None), (4, None), (5, None), (4, "lz4"), (5, "lz4")} <= streams


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_mutated_inputs_raise_protocol_errors_only(seed):
    fuzzer = Fuzzer(seed, CORPUS, memory_every=100, slow_after=1.0)
    for _ in range(40_000):
        fuzzer.one()
    assert not fuzzer.failures, "\n".join(str(f) for f in fuzzer.failures[:10])
    assert all(n > 1000 for n in fuzzer.by_target.values()), fuzzer.by_target
    # most mutated inputs are refused; some still decode (a changed value, not a length)
    assert 0.3 < fuzzer.rejected / fuzzer.count < 0.99
    assert fuzzer.measured == 400


def _peak(case: Case, data: bytes) -> int:
    runner, allowed = TARGETS[case.target]
    tracemalloc.start()
    try:
        runner(case, data, random.Random(0))
    except allowed:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize("value", [0x7FFFFFFF, 0x7FFFFFF0, 0x01000000])
def test_a_declared_length_never_allocates_more_than_what_was_received(value):
    """Every 4-byte position of every input set to a huge length: the peak allocation stays
    within the bound (received bytes x a constant + a fixed slack)."""
    worst = 0.0
    for case in CORPUS:
        data = case.data
        for pos in range(0, max(0, len(data) - 3), 1 if len(data) < 64 else 3):
            mutated = data[:pos] + struct.pack(">i", value) + data[pos + 4:]
            peak = _peak(case, mutated)
            bound = ALLOC_SLACK + ALLOC_PER_BYTE * len(mutated)
            assert peak <= bound, (case.target, case.version, pos, peak)
            worst = max(worst, peak / bound)
    assert worst < 1


@pytest.mark.skipif("lz4" not in available_compressors(), reason="lz4 not installed")
def test_lz4_length_beyond_what_the_block_can_expand_to_is_refused_before_allocating():
    """Found by the fuzzer: a 20-byte LZ4 body declaring 200 MB made lz4 allocate 200 MB."""
    lz4 = available_compressors()["lz4"]
    body = lz4.compress_body(b"x" * 100)
    lying = struct.pack(">I", 200_000_000) + body[4:]
    tracemalloc.start()
    try:
        with pytest.raises(CompressionError, match="more than lz4 can expand"):
            lz4.decompress_body(lying, DEFAULT_MAX_FRAME_BODY)
        with pytest.raises(CompressionError):
            lz4.decompress_segment(body[4:], 100_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    # the real maximum ratio still decompresses: 10 MB of zeros is a ~40 KB block
    data = b"\x00" * 10_000_000
    assert lz4.decompress_body(lz4.compress_body(data), DEFAULT_MAX_FRAME_BODY) == data
    assert issubclass(CompressionError, ProtocolError)


@pytest.mark.parametrize("ncols", [129, 2_000, 10_000])
def test_a_wide_result_decodes_without_compiling_a_decoder_for_it(ncols):
    """Found while bounding allocations: a ROWS result of 10,000 int columns (170 KB) made
    the row decoder compile a 10,000-column function: seconds of CPU and ~0.5 GB at the
    peak. Wide results now take the per-cell reader: the same values, memory in proportion
    to the bytes received."""
    from greencql.protocol import types as T
    from greencql.protocol.messages import RowsResult, decode_response, encode_response
    from greencql.protocol.rows import ColumnSpec, ResultMetadata

    cols = tuple(ColumnSpec("ks", "t", f"c{i}", T.INT if i % 2 else T.TEXT)
                 for i in range(ncols))
    rows = [tuple(i if i % 2 else str(i) for i in range(ncols)) for _ in range(2)]
    msg = RowsResult(ResultMetadata.of(cols), rows)
    flags, body = encode_response(msg, 4)
    tracemalloc.start()
    try:
        got = decode_response(msg.opcode, flags, body, 4)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert list(got.rows) == rows
    assert peak <= ALLOC_SLACK + ALLOC_PER_BYTE * len(body), (peak, len(body))
