"""Throughput of the framing layer: FrameCodec encode / feed for v4 frames and v5 segments.

Run: ``python bench/framing.py`` (optionally ``--compare`` to time cassandra-driver's
SegmentCodec on the same v5 stream). Numbers go to stdout; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import io
import random
import time

from greencql.protocol.compression import get_compressor
from greencql.protocol.constants import Opcode
from greencql.protocol.frames import FrameCodec

__all__ = ["main"]

CHUNK = 64 * 1024


def _codecs(version: int, compression: str | None, segments: bool):
    comp = get_compressor(compression) if compression else None
    client = FrameCodec("client", version, negotiating=False)
    server = FrameCodec("server", version, negotiating=False)
    if segments:
        client.start_segments(comp)
        server.start_segments(comp)
    elif comp is not None:
        client.compressor = server.compressor = comp
    return client, server


def _timeit(fn, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_mode(label: str, version: int, compression: str | None, segments: bool) -> None:
    rnd = random.Random(0)
    n = 20_000
    bodies = [b"\x00\x00\x00\x02" + rnd.randbytes(rnd.randint(20, 200)) for _ in range(n)]
    server = _codecs(version, compression, segments)[1]

    def encode_one():
        enc = server.encode
        for i, body in enumerate(bodies):
            enc(i & 0x7FFF, Opcode.RESULT, body)

    items = [(i & 0x7FFF, Opcode.RESULT, body) for i, body in enumerate(bodies)]

    def encode_batches():
        for start in range(0, n, 50):
            server.encode_many(items[start : start + 50])

    wire = server.encode_many(items)
    chunks = [wire[i : i + CHUNK] for i in range(0, len(wire), CHUNK)]

    def feed():
        codec = _codecs(version, compression, segments)[0]
        count = 0
        for chunk in chunks:
            count += len(codec.feed(chunk))
        assert count == n

    t_one = _timeit(encode_one)
    t_many = _timeit(encode_batches)
    t_feed = _timeit(feed)
    print(
        f"{label:24s} encode {n / t_one / 1e3:7.0f}k frames/s | encode_many(50) "
        f"{n / t_many / 1e3:7.0f}k frames/s | feed {n / t_feed / 1e3:7.0f}k frames/s "
        f"({len(wire) / t_feed / 1e6:6.0f} MB/s)"
    )


def bench_large(label: str, version: int, compression: str | None, segments: bool) -> None:
    body = random.Random(1).randbytes(8 << 20)
    server = _codecs(version, compression, segments)[1]
    wire = server.encode(1, Opcode.RESULT, body)
    chunks = [wire[i : i + CHUNK] for i in range(0, len(wire), CHUNK)]

    def feed():
        codec = _codecs(version, compression, segments)[0]
        frames = []
        for chunk in chunks:
            frames.extend(codec.feed(chunk))
        assert len(frames) == 1

    t = _timeit(feed, 3)
    print(f"{label:24s} one 8 MiB frame in 64 KiB reads: {len(wire) / t / 1e6:6.0f} MB/s")


def bench_driver_segments() -> None:
    from cassandra.segment import SegmentCodec

    rnd = random.Random(0)
    msgs = [rnd.randbytes(rnd.randint(29, 209)) for _ in range(20_000)]
    codec = SegmentCodec()
    out = io.BytesIO()
    t = _timeit(lambda: [codec.encode(out, m) for m in msgs], 3)
    print(f"{'cassandra-driver v5':24s} SegmentCodec.encode {len(msgs) / t / 1e3:7.0f}k frames/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--compare", action="store_true", help="also time cassandra-driver")
    args = parser.parse_args()
    modes = [
        ("v4", 4, None, False),
        ("v4 lz4", 4, "lz4", False),
        ("v5 segments", 5, None, True),
        ("v5 segments lz4", 5, "lz4", True),
    ]
    for mode in modes:
        bench_mode(*mode)
    for mode in modes:
        bench_large(*mode)
    if args.compare:
        bench_driver_segments()


if __name__ == "__main__":
    main()
