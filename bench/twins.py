"""Each protocol Cython twin against its Python original, same inputs, same process (not a test).

For every twinned function or class of greencql/protocol (frames, segments, value encoding,
the QUERY/EXECUTE body) the same operation is timed with the Python code and with the compiled
twin, and the speedup is printed: the evidence that a twin pays for itself (one that does not
is dropped). The inputs are those a request path sees: a prepared point query's
bind values and frames, a 64 KiB read of many small responses, one large RESULT page.

    .venv/bin/python bench/twins.py [--json]

Best of several repetitions (time.perf_counter), in ns per operation. Needs the twins built
(``python setup.py build_ext --inplace``); prints what is missing otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ["GREENCQL_IMPL"] = "python"  # the modules keep their Python names; twins imported apart

from greencql.protocol import frames, segments, types
from greencql.protocol.constants import Opcode

__all__ = ["main"]


def _best(fn, number: int, repeat: int = 7) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(number)
        best = min(best, time.perf_counter() - start)
    return best / number * 1e9


def _loop(call, *args):
    def run(n: int) -> None:
        for _ in range(n):
            call(*args)

    return run


def _cases(c):
    """(label, python runner, compiled runner, ops per run) for every twin that is built."""
    out = []
    if c.get("frames"):
        cf = c["frames"]
        body = b"\x00\x00\x00\x02" + bytes(60)
        out.append(("encode_frame (64-byte body)",
                    _loop(frames.encode_frame, 4, 0, 7, Opcode.EXECUTE, body),
                    _loop(cf.encode_frame, 4, 0, 7, Opcode.EXECUTE, body), 1))
        items = [(i, Opcode.EXECUTE, body, 0) for i in range(64)]
        out.append(("encode_plain_frames (a writer batch of 64), per frame",
                    _loop(frames.encode_plain_frames, 4, items, False),
                    _loop(cf.encode_plain_frames, 4, items, False), 64))
        one = frames.encode_frame(4, 0, 7, Opcode.RESULT, body, is_response=True)
        out.append(("FrameDecoder.feed (one whole frame)",
                    _loop(frames.FrameDecoder(4).feed, one),
                    _loop(cf.FrameDecoder(4).feed, one), 1))
        many = b"".join(
            frames.encode_frame(4, 0, i, Opcode.RESULT, body, is_response=True) for i in range(900)
        )
        chunks = [many[i : i + 65536] for i in range(0, len(many), 65536)]

        def feeder(cls):
            def run(n: int) -> None:
                for _ in range(n):
                    decoder = cls(4)
                    for chunk in chunks:
                        decoder.feed(chunk)
            return run

        out.append(("FrameDecoder.feed (900 frames in 64 KiB reads), per frame",
                    feeder(frames.FrameDecoder), feeder(cf.FrameDecoder), 900))
        page = frames.encode_frame(4, 0, 1, Opcode.RESULT, bytes(600_000), is_response=True)
        page_chunks = [page[i : i + 65536] for i in range(0, len(page), 65536)]

        def page_feeder(cls):
            def run(n: int) -> None:
                for _ in range(n):
                    decoder = cls(4)
                    for chunk in page_chunks:
                        decoder.feed(chunk)
            return run

        out.append(("FrameDecoder.feed (600 KB page in 64 KiB reads), per page",
                    page_feeder(frames.FrameDecoder), page_feeder(cf.FrameDecoder), 1))
    if c.get("segments"):
        cs = c["segments"]
        frame = frames.encode_frame(5, 0, 7, Opcode.RESULT, bytes(60), is_response=True)
        out.append(("crc24 (3-byte header)", _loop(segments.crc24, b"\x01\x02\x03"),
                    _loop(cs.crc24, b"\x01\x02\x03"), 1))
        out.append(("crc32 (69-byte payload)", _loop(segments.crc32, frame),
                    _loop(cs.crc32, frame), 1))
        out.append(("SegmentEncoder.encode (one small frame)",
                    _loop(segments.SegmentEncoder().encode, frame),
                    _loop(cs.SegmentEncoder().encode, frame), 1))
        batch = [frame] * 50
        out.append(("SegmentEncoder.encode_frames (50 frames), per frame",
                    _loop(segments.SegmentEncoder().encode_frames, batch),
                    _loop(cs.SegmentEncoder().encode_frames, batch), 50))
        seg = segments.SegmentEncoder().encode(frame)
        out.append(("SegmentDecoder.feed (one segment)",
                    _loop(segments.SegmentDecoder().feed, seg),
                    _loop(cs.SegmentDecoder().feed, seg), 1))
        stream = b"".join(segments.SegmentEncoder().encode(frame) for _ in range(800))
        seg_chunks = [stream[i : i + 65536] for i in range(0, len(stream), 65536)]

        def seg_feeder(cls):
            def run(n: int) -> None:
                for _ in range(n):
                    decoder = cls()
                    for chunk in seg_chunks:
                        decoder.feed(chunk)
            return run

        out.append(("SegmentDecoder.feed (800 segments in 64 KiB reads), per segment",
                    seg_feeder(segments.SegmentDecoder), seg_feeder(cs.SegmentDecoder), 800))
    if c.get("encode"):
        ce = c["encode"]
        for label, t, value in (
            ("int", types.INT, 123456), ("bigint", types.BIGINT, 1 << 40),
            ("text", types.TEXT, "value 42"), ("double", types.DOUBLE, 1.5),
            ("boolean", types.BOOLEAN, True),
            ("blob", types.BLOB, b"0123456789"),
        ):
            # the same type with the compiled encoder (the module keeps its Python ones here)
            ct = types.NativeType(t.kind, t.type_id, t._java_name, ce.ENCODERS[t.kind], t.decode)
            out.append((f"encode_value({label})", _loop(types.encode_value, t, value, "k"),
                        _loop(ce.encode_value, ct, value, "k"), 1))
    if c.get("request"):
        from greencql.protocol import messages

        params = messages.QueryParameters(1, values=[b"\x00\x00\x00\x2a"], skip_metadata=True,
                                          page_size=5000, timestamp=1_700_000_000_000_000)
        execute = messages.Execute(bytes(16), params)
        out.append(("_fast_statement (EXECUTE, 1 value, page size, timestamp)",
                    _loop(messages._fast_statement_python, execute, 4),
                    _loop(c["request"]._fast_statement, execute, 4), 1))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    compiled = {}
    for key, module in (("frames", "greencql.protocol._frames"),
                        ("segments", "greencql.protocol._segments"),
                        ("encode", "greencql.protocol._encode"),
                        ("request", "greencql.protocol._request")):
        try:
            compiled[key] = importlib.import_module(module)
        except ImportError:
            print(f"{module}: not built", file=sys.stderr)
    rows = []
    for label, py_run, c_run, per in _cases(compiled):
        number = 20_000 if per == 1 else 20 if per > 100 else 500
        t_py = _best(py_run, number) / per
        t_c = _best(c_run, number) / per
        rows.append({"case": label, "python_ns": round(t_py, 1), "c_ns": round(t_c, 1),
                     "speedup": round(t_py / t_c, 2)})
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    print(f"{'twin':64s} {'python ns':>10s} {'c ns':>9s} {'speedup':>8s}")
    for r in rows:
        print(f"{r['case']:64s} {r['python_ns']:10.1f} {r['c_ns']:9.1f} {r['speedup']:7.2f}x")


if __name__ == "__main__":
    main()
