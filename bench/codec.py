"""Codec benchmark: greencql's protocol codecs side by side with cassandra-driver's, in one run.

Run: ``python bench/codec.py`` (``--quick`` for fewer repetitions). Not a test: it prints
numbers, it asserts nothing about speed.

Measured:

1. encoding an EXECUTE with 3 bind values (int, text, uuid), header included, in µs per
   request; the typed encoding of the 3 values alone; and a QUERY (CQL text, page size 5000,
   no values), header included;
2. decoding a RESULT/ROWS body of 5000 rows x 10 columns (int, bigint, text, double, boolean,
   uuid, timestamp, blob, list<int>, map<text, int>) in rows per second, metadata included.

cassandra-driver is measured three ways:

- "driver, Cython": its ``ProtocolHandler`` (the Cython row parser), as installed;
- "driver, compiled py": its pure-Python classes (``_ProtocolHandler``, ``ResultMessage``) as
  installed: the wheel compiles those modules with Cython too, so this is the Python
  algorithm at compiled speed;
- "driver, pure Python": the same package with every compiled module removed (a copy of its
  ``.py`` files only, run in a subprocess) -- what a platform without the wheel gets.

Each number is the best of several repetitions (time.perf_counter).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import warnings

ROWS = 5000
COLUMNS = [
    ("c_int", "int"),
    ("c_bigint", "bigint"),
    ("c_text", "text"),
    ("c_double", "double"),
    ("c_boolean", "boolean"),
    ("c_uuid", "uuid"),
    ("c_timestamp", "timestamp"),
    ("c_blob", "blob"),
    ("c_list", "list<int>"),
    ("c_map", "map<text, int>"),
]
QUERY_ID = b"\x12\x34\x56\x78" * 4
BIND_VALUES = (42, "some text value", uuid.UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"))
BIND_TYPES = ("int", "text", "uuid")
VERSION = 4
CL_ONE = 1
QUERY_TEXT = "SELECT c_int, c_text FROM ks.tbl WHERE k = 42"
PAGE_SIZE = 5000


def best_of(fn, number: int, repeat: int) -> float:
    """Seconds per call: the best of `repeat` runs of `number` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def make_rows() -> list[tuple]:
    base = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    rows = []
    for i in range(ROWS):
        rows.append(
            (
                i,
                i * 1_000_003,
                f"user-{i:06d}@example.com",
                i / 7.0,
                i % 2 == 0,
                uuid.UUID(int=(i * 0x9E3779B97F4A7C15) % (1 << 128)),
                base + datetime.timedelta(seconds=i),
                bytes(range(i % 7, i % 7 + 24)),
                [i, i + 1, i + 2, i + 3],
                {"a": i, "bb": i * 2, "ccc": i * 3},
            )
        )
    return rows


def build_rows_body() -> bytes:
    """A RESULT body of kind ROWS, metadata and all, written by greencql (and checked below by
    decoding it with cassandra-driver)."""
    from greencql.protocol.rows import (
        ColumnSpec,
        ResultMetadata,
        encode_rows,
        write_result_metadata,
    )
    from greencql.protocol.types import parse_type_string
    from greencql.protocol.wire import Writer

    columns = [ColumnSpec("ks", "tbl", n, parse_type_string(t)) for n, t in COLUMNS]
    w = Writer()
    w.write_int(2)  # kind: ROWS
    write_result_metadata(w, ResultMetadata.of(columns), VERSION)
    encode_rows(w, columns, make_rows())
    return w.getvalue()


# ------------------------------------------------------------------------------------------
# cassandra-driver (run in-process for its installed build, and in a subprocess for the copy
# with no compiled modules: the same function serves both)
# ------------------------------------------------------------------------------------------


def driver_measure(body: bytes, number: int, repeat: int, handlers: list[str]) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from cassandra import cqltypes
        from cassandra.protocol import (
            ExecuteMessage,
            ProtocolHandler,
            QueryMessage,
            _ProtocolHandler,
        )

    out: dict = {}
    ser = [cqltypes.lookup_casstype(n) for n in ("Int32Type", "UTF8Type", "UUIDType")]

    def encode_values():
        return [t.serialize(v, VERSION) for t, v in zip(ser, BIND_VALUES, strict=True)]

    for label, handler in (("cython", ProtocolHandler), ("py", _ProtocolHandler)):
        if label not in handlers:
            continue

        def encode_execute(handler=handler):
            msg = ExecuteMessage(QUERY_ID, encode_values(), CL_ONE)
            return handler.encode_message(msg, 1, VERSION, None, False)

        def encode_query(handler=handler):
            msg = QueryMessage(QUERY_TEXT, CL_ONE, fetch_size=PAGE_SIZE)
            return handler.encode_message(msg, 1, VERSION, None, False)

        def decode(handler=handler):
            return handler.decode_message(VERSION, {}, 1, 0, 0x08, body, None, None)

        msg = decode()
        assert len(msg.parsed_rows) == ROWS, len(msg.parsed_rows)
        out[label] = {
            "execute_us": best_of(encode_execute, number * 20, repeat) * 1e6,
            "values_us": best_of(encode_values, number * 20, repeat) * 1e6,
            "query_us": best_of(encode_query, number * 20, repeat) * 1e6,
            "rows_per_s": ROWS / best_of(decode, max(1, number // 10), repeat),
            "handler_is_cython": handler is not _ProtocolHandler,
        }
    return out


def pure_driver_measure(body: bytes, number: int, repeat: int) -> dict | None:
    """cassandra-driver from a copy of its .py files only (no compiled module at all)."""
    import cassandra

    src = os.path.dirname(cassandra.__file__)
    with tempfile.TemporaryDirectory() as tmp:
        dst = os.path.join(tmp, "cassandra")
        shutil.copytree(
            src,
            dst,
            ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "*.pyx", "*.pxd", "__pycache__"),
        )
        body_path = os.path.join(tmp, "body.bin")
        with open(body_path, "wb") as f:
            f.write(body)
        bench_dir = os.path.dirname(os.path.abspath(__file__))
        script = (
            f"import sys, json; sys.path.insert(0, {tmp!r}); sys.path.insert(0, {bench_dir!r})\n"
            "import cassandra, cassandra.protocol as p\n"
            f"assert cassandra.__file__.startswith({tmp!r}), cassandra.__file__\n"
            "assert p.ProtocolHandler is p._ProtocolHandler, 'compiled modules still in use'\n"
            "import codec\n"
            f"body = open({body_path!r}, 'rb').read()\n"
            f"print(json.dumps(codec.driver_measure(body, {number}, {repeat}, ['py'])))\n"
        )
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
        )
        if proc.returncode != 0:
            print("pure-Python cassandra-driver run failed:\n" + proc.stderr, file=sys.stderr)
            return None
        return json.loads(proc.stdout.strip().splitlines()[-1])["py"]


# ------------------------------------------------------------------------------------------
# greencql
# ------------------------------------------------------------------------------------------


def greencql_measure(body: bytes, number: int, repeat: int) -> dict:
    from greencql.protocol.constants import Opcode
    from greencql.protocol.rows import decode_rows, read_result_metadata
    from greencql.protocol.types import encode_value, parse_type_string
    from greencql.protocol.wire import Reader

    types = [parse_type_string(t) for t in BIND_TYPES]
    names = ["a", "b", "c"]

    def encode_values():
        return [encode_value(t, v, n) for t, v, n in zip(types, BIND_VALUES, names, strict=True)]

    out = {"values_us": best_of(encode_values, number * 20, repeat) * 1e6}

    try:
        from greencql.protocol.frames import encode_frame
        from greencql.protocol.messages import (
            Execute,
            Query,
            QueryParameters,
            decode_response,
            encode_request,
        )
    except ImportError:  # the messages layer is not there yet: measure the codecs alone
        encode_request = None

    if encode_request is not None:

        def encode_execute():
            msg = Execute(QUERY_ID, QueryParameters(CL_ONE, values=encode_values()))
            return encode_frame(VERSION, 0, 1, Opcode.EXECUTE, encode_request(msg, VERSION))

        def encode_query():
            msg = Query(QUERY_TEXT, QueryParameters(CL_ONE, page_size=PAGE_SIZE))
            return encode_frame(VERSION, 0, 1, Opcode.QUERY, encode_request(msg, VERSION))

        def decode():
            return decode_response(Opcode.RESULT, 0, body, VERSION)

        assert len(decode().rows) == ROWS
        out["execute_us"] = best_of(encode_execute, number * 20, repeat) * 1e6
        out["query_us"] = best_of(encode_query, number * 20, repeat) * 1e6
        out["rows_per_s"] = ROWS / best_of(decode, max(1, number // 10), repeat)

    def decode_rows_only():
        r = Reader(body, 4)
        md = read_result_metadata(r, VERSION)
        return decode_rows(r, md.columns)

    assert len(decode_rows_only()) == ROWS
    out["rows_only_per_s"] = ROWS / best_of(decode_rows_only, max(1, number // 10), repeat)
    return out


def check_same_rows(body: bytes) -> None:
    """Both decoders read the bench body to the same values (greencql's default value types
    are cassandra-driver's: naive UTC timestamps, SortedSet, OrderedMapSerializedKey)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from cassandra.protocol import ProtocolHandler
    from greencql.protocol.rows import decode_rows, read_result_metadata
    from greencql.protocol.wire import Reader

    r = Reader(body, 4)
    ours = decode_rows(r, read_result_metadata(r, VERSION).columns)
    theirs = ProtocolHandler.decode_message(VERSION, {}, 1, 0, 0x08, body, None, None).parsed_rows
    for a, b in zip(ours, theirs, strict=True):
        assert tuple(a) == tuple(b), (a, b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--no-pure", action="store_true", help="skip the no-compiled-modules run")
    args = parser.parse_args()
    number, repeat = (20, 3) if args.quick else (50, 7)

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    body = build_rows_body()
    check_same_rows(body)

    ours = greencql_measure(body, number, repeat)
    drv = driver_measure(body, number, repeat, ["cython", "py"])
    pure = None if args.no_pure else pure_driver_measure(body, number, repeat)

    cols: list[tuple[str, dict | None]] = [
        ("greencql", ours),
        ("driver, Cython", drv.get("cython")),
        ("driver, compiled py", drv.get("py")),
        ("driver, pure Python", pure),
    ]
    print(f"python {sys.version.split()[0]}; body {len(body)} bytes; best of {repeat}")
    print()
    header = f"{'':34}" + "".join(f"{name:>22}" for name, _ in cols)
    print(header)

    def line(label: str, key: str, fmt: str) -> None:
        cells = []
        for _, d in cols:
            v = None if d is None else d.get(key)
            cells.append(f"{'n/a' if v is None else format(v, fmt):>22}")
        print(f"{label:34}" + "".join(cells))

    line("EXECUTE, 3 values, encode (µs)", "execute_us", ".2f")
    line("3 typed values, encode (µs)", "values_us", ".2f")
    line("QUERY, page size, encode (µs)", "query_us", ".2f")
    line("ROWS 5000x10 decode (rows/s)", "rows_per_s", ",.0f")
    line("  decode_rows only (rows/s)", "rows_only_per_s", ",.0f")
    print()
    print("ratios (greencql speed / driver speed; > 1 means greencql is faster):")
    for name, d in cols[1:]:
        if d is None:
            continue
        parts = []
        if "execute_us" in ours and d.get("execute_us"):
            parts.append(f"EXECUTE encode x{d['execute_us'] / ours['execute_us']:.2f}")
        if "query_us" in ours and d.get("query_us"):
            parts.append(f"QUERY encode x{d['query_us'] / ours['query_us']:.2f}")
        parts.append(f"value encode x{d['values_us'] / ours['values_us']:.2f}")
        if "rows_per_s" in ours:
            parts.append(f"ROWS decode x{ours['rows_per_s'] / d['rows_per_s']:.2f}")
        print(f"  vs {name:22} " + ", ".join(parts))


if __name__ == "__main__":
    main()
