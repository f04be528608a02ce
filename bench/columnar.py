"""Columnar results benchmark: NumPy values decoded per second, side by side in one run.

Run: ``python bench/columnar.py [--quick] [--rows 5000] [--pages 20] [--no-network]
[--json]``. Not a test: it prints numbers and asserts nothing about speed (issue 12's target:
>= 10M numeric values/s).

1. Decoding only (bytes in, arrays or rows out, no network): one RESULT/ROWS body of
   ``--rows`` rows x 10 numeric columns (int, bigint, smallint, tinyint, float, double,
   boolean, timestamp, date, time), once without NULLs and once with ~10% NULL cells, decoded
   by
   - greencql ``decode_columns`` (greencql/protocol/columnar.py), pure Python
     (``GREENCQL_IMPL=python``) and with its Cython scan (``GREENCQL_IMPL=c``), each in its
     own subprocess (the twin is chosen at import);
   - greencql's tuple rows (``rows._rows_at``, the default row path, driver value types);
   - cassandra-driver 3.30.1: its Cython ``ProtocolHandler`` (tuple rows) on the same body;
     and its ``NumpyProtocolHandler`` when it works with the installed NumPy (it calls
     ``ndarray.newbyteorder``, which NumPy 2 removed: then it is reported as failing).
   Values/s = rows x 10 / the best time of several repetitions. Also, "mixed": bench/codec.py's
   5000 rows x 10 mixed columns (int, bigint, text, double, boolean, uuid, timestamp, blob,
   list<int>, map<text, int>: four object columns), columnar vs greencql's tuple rows.
2. End to end over the network: a one-node SimCluster in another process
   (``SimCluster.spawn_process``, gevent hub), a partition of ``--rows`` rows of those columns
   (no NULLs), one page per request, each client in its own subprocess: greencql on gevent
   with ``row_factory=numpy_columns`` (pure and C), greencql default rows + ``to_numpy()``,
   greencql default named-tuple rows, and cassandra-driver (libev reactor: tuple rows, its
   best, and its NumpyProtocolHandler). Also, marked (*), numpy_columns with the eager tuple
   decoding of ``decode_response`` stubbed out: today every ROWS result is decoded into
   tuples as it arrives, whatever the row factory; this estimates numpy_columns once rows are
   decoded lazily. Values/s by wall time and per client CPU second (medians of ``--pages``
   pages).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
import warnings

__all__ = ["main"]

HERE = os.path.abspath(__file__)
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(1, ROOT)  # this checkout's greencql, not an installed one

COLUMNS = [
    ("c_int", "int"), ("c_bigint", "bigint"), ("c_smallint", "smallint"),
    ("c_tinyint", "tinyint"), ("c_float", "float"), ("c_double", "double"),
    ("c_boolean", "boolean"), ("c_timestamp", "timestamp"), ("c_date", "date"),
    ("c_time", "time"),
]
NCOLS = len(COLUMNS)
TABLE = "bench.numeric"


def _value(kind: str, i: int):
    if kind in ("int", "bigint"):
        return i * 7 - 1000
    if kind == "smallint":
        return i % 30000
    if kind == "tinyint":
        return i % 100
    if kind in ("float", "double"):
        return i / 8
    if kind == "boolean":
        return i % 2 == 0
    if kind == "timestamp":
        return datetime.datetime(2020, 1, 1) + datetime.timedelta(seconds=i)
    if kind == "date":
        return datetime.date(2020, 1, 1) + datetime.timedelta(days=i % 3000)
    return datetime.time(i % 24, i % 60, 1)


def make_rows(count: int, nulls: bool) -> list[tuple]:
    # the first column is the clustering key end to end: never NULL
    return [
        tuple(
            None if nulls and j and (i * 7 + j * 3) % 10 == 0 else _value(kind, i)
            for j, (_, kind) in enumerate(COLUMNS)
        )
        for i in range(count)
    ]


def _body(count: int, nulls: bool) -> tuple[bytes, tuple]:
    """A whole RESULT body (kind, metadata, rows) as a server sends it, and its columns."""
    from greencql.protocol import messages as M
    from greencql.protocol import rows as R
    from greencql.protocol import types as T

    columns = tuple(R.ColumnSpec("bench", "numeric", n, T.parse_type_string(k))
                    for n, k in COLUMNS)
    _, body = M.encode_response(M.RowsResult(R.ResultMetadata.of(columns),
                                             make_rows(count, nulls)), 4)
    return body, columns


def _best(fn, repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


_NUMPY_HANDLER_BROKEN = "returns no rows (NumPy 2 has no ndarray.newbyteorder)"

# ----------------------------------------------------------------------------------------------
# 1. decoding only
# ----------------------------------------------------------------------------------------------


def _decode_child(args: argparse.Namespace) -> dict:
    """In a subprocess with GREENCQL_IMPL set: decode_columns (and, once, the others)."""
    import greencql._speedups as S
    from greencql.protocol import messages as M
    from greencql.protocol import rows as R
    from greencql.protocol import types as T
    from greencql.protocol.columnar import decode_columns
    from greencql.protocol.constants import Opcode

    out: dict = {"impl": None}
    for nulls in (False, True):
        body, columns = _body(args.rows, nulls)
        msg = M.decode_response(Opcode.RESULT, 0, body, 4)
        raw = msg.raw_rows
        label = "nulls" if nulls else "no nulls"
        t = _best(lambda raw=raw, columns=columns: decode_columns(*raw, columns), args.repeat)
        out[f"columnar {label}"] = args.rows * NCOLS / t
        if args.others:
            data, pos, end, _ = raw
            t = _best(lambda data=data, pos=pos, end=end, columns=columns:
                      R._rows_at(data, pos - 4, end, columns), args.repeat)
            out[f"tuple {label}"] = args.rows * NCOLS / t
            out.update(_driver_decode(body, args, label))
    # bench/codec.py's 10 mixed columns (text, blob, list, map... object columns), 5000 rows
    sys.path.insert(0, os.path.dirname(HERE))
    import codec

    columns = tuple(R.ColumnSpec("bench", "wide", n, T.parse_type_string(k))
                    for n, k in codec.COLUMNS)
    _, body = M.encode_response(M.RowsResult(R.ResultMetadata.of(columns), codec.make_rows()), 4)
    raw = M.decode_response(Opcode.RESULT, 0, body, 4).raw_rows
    values = raw[3] * len(columns)
    t = _best(lambda: decode_columns(*raw, columns), max(3, args.repeat // 4))
    out["columnar mixed"] = values / t
    if args.others:
        t = _best(lambda: R._rows_at(raw[0], raw[1] - 4, raw[2], columns), max(3, args.repeat // 4))
        out["tuple mixed"] = values / t
    out["impl"] = S.implementation()
    return out


def _driver_decode(body: bytes, args: argparse.Namespace, label: str) -> dict:
    warnings.simplefilter("ignore")
    from cassandra import protocol as P

    got: dict = {}
    opcode = 0x08  # RESULT
    handler = P.ProtocolHandler

    def theirs() -> None:
        handler.decode_message(4, {}, 0, 0, opcode, body, None, None)

    got[f"c-d Cython tuple {label}"] = args.rows * NCOLS / _best(theirs, args.repeat)
    numpy_handler = getattr(P, "NumpyProtocolHandler", None)
    if numpy_handler is None:
        got[f"c-d NumpyProtocolHandler {label}"] = "not built"
    else:
        def numpy_theirs() -> None:
            numpy_handler.decode_message(4, {}, 0, 0, opcode, body, None, None)

        msg = numpy_handler.decode_message(4, {}, 0, 0, opcode, body, None, None)
        if isinstance(getattr(msg, "parsed_rows", None), dict):
            got[f"c-d NumpyProtocolHandler {label}"] = (
                args.rows * NCOLS / _best(numpy_theirs, args.repeat))
        else:  # it swallows its own error (NumPy 2 removed ndarray.newbyteorder, which it
            # calls) and leaves no rows at all
            got[f"c-d NumpyProtocolHandler {label}"] = _NUMPY_HANDLER_BROKEN
    return got


# ----------------------------------------------------------------------------------------------
# 2. end to end
# ----------------------------------------------------------------------------------------------


def _setup_table(contact_points: list[str], port: int, rows: int) -> None:
    from greencql import Cluster

    defs = ", ".join(f"{n} {k}" for n, k in COLUMNS)
    names = ", ".join(n for n, _ in COLUMNS)
    cluster = Cluster(contact_points, port=port, protocol_version=4, hub="thread",
                      compression=False)
    try:
        session = cluster.connect()
        session.execute("CREATE KEYSPACE IF NOT EXISTS bench WITH replication = "
                        "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        session.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (p int, {defs}, "
                        f"PRIMARY KEY (p, {COLUMNS[0][0]}))")
        insert = session.prepare(f"INSERT INTO {TABLE} (p, {names}) VALUES (0, "
                                 f"{', '.join('?' for _ in COLUMNS)})")
        data = make_rows(rows, False)
        for start in range(0, len(data), 256):
            futures = [session.execute_async(insert, row) for row in data[start:start + 256]]
            for future in futures:
                future.result()
    finally:
        cluster.shutdown()


def _select() -> str:
    return f"SELECT {', '.join(n for n, _ in COLUMNS)} FROM {TABLE} WHERE p = ?"


def _skip_tuple_rows() -> None:
    """An estimate of numpy_columns once ROWS results decode their rows lazily (another
    branch of issue 12): the eager tuple decoding in ``decode_response`` is replaced by a stub
    that reads the row count only. Never do this outside a benchmark: the rows are Nones."""
    import struct

    from greencql.protocol import messages

    unpack = struct.Struct(">i").unpack_from

    def rows_at(data, pos, end, columns, value_types="driver"):
        return [None] * unpack(data, pos)[0], end

    messages._rows_at = rows_at


def _e2e_child(args: argparse.Namespace) -> dict:
    variant = args.variant
    contact_points = args.contact_points.split(",")
    if variant.startswith("greencql"):
        from gevent import monkey

        monkey.patch_all()
        from greencql import Cluster, numpy_columns
        cluster = Cluster(contact_points, port=args.port, protocol_version=4,
                          compression=False, hub="gevent")
        session = cluster.connect(wait_for_all_pools=True)
        bound = session.prepare(_select()).bind((0,))
        bound.fetch_size = args.rows + 1
        if os.environ.get("BENCH_SKIP_TUPLES"):  # connected and prepared: only pages now
            _skip_tuple_rows()

        if variant == "greencql numpy_columns":
            def page() -> int:
                [cols] = session.execute(bound, row_factory=numpy_columns).current_rows
                return len(cols["c_int"])
        elif variant == "greencql to_numpy":
            def page() -> int:
                return len(session.execute(bound).to_numpy()["c_int"])
        else:
            def page() -> int:
                return sum(1 for _ in session.execute(bound).current_rows)
    else:
        warnings.simplefilter("ignore")
        from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile
        from cassandra.io.libevreactor import LibevConnection
        from cassandra.query import tuple_factory

        cluster = Cluster(contact_points, port=args.port, protocol_version=4,
                          compression=False, connection_class=LibevConnection,
                          execution_profiles={EXEC_PROFILE_DEFAULT: ExecutionProfile(
                              row_factory=tuple_factory)})
        session = cluster.connect()
        bound = session.prepare(_select()).bind((0,))
        bound.fetch_size = args.rows + 1
        if variant == "cassandra-driver numpy":
            from cassandra.protocol import NumpyProtocolHandler

            session.client_protocol_handler = NumpyProtocolHandler

            def page() -> int:
                rows = session.execute(bound).current_rows
                return len(rows[0]["c_int"]) if rows else 0
        else:
            def page() -> int:
                return sum(1 for _ in session.execute(bound).current_rows)

    try:
        if page() != args.rows:  # warm-up: caches, the first decode
            return {"error": _NUMPY_HANDLER_BROKEN if variant.endswith("numpy") else "no rows"}
        walls: list[float] = []
        cpus: list[float] = []
        for _ in range(args.pages):
            c0, t0 = time.process_time(), time.perf_counter()
            page()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    finally:
        cluster.shutdown()
    values = args.rows * NCOLS
    return {"values_s": values / statistics.median(walls),
            "cpu_values_s": values / statistics.median(cpus)}


# ----------------------------------------------------------------------------------------------
# the parent
# ----------------------------------------------------------------------------------------------


def _child(argv: list[str], env: dict[str, str]) -> dict:
    paths = [ROOT, *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    out = subprocess.run([sys.executable, HERE, *argv], capture_output=True, text=True,
                         timeout=900, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(paths), **env})
    if out.returncode != 0:
        raise RuntimeError(f"{argv} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _fmt(v) -> str:
    return f"{v / 1e6:8.2f}M values/s" if isinstance(v, float) else str(v)


E2E_VARIANTS = [
    ("greencql numpy_columns", {"GREENCQL_IMPL": "python"}, "greencql numpy_columns (pure)"),
    ("greencql numpy_columns", {"GREENCQL_IMPL": "c"}, "greencql numpy_columns (C)"),
    ("greencql to_numpy", {"GREENCQL_IMPL": "c"}, "greencql rows + to_numpy() (C)"),
    ("greencql rows", {"GREENCQL_IMPL": "c"}, "greencql named-tuple rows (C)"),
    ("greencql numpy_columns", {"GREENCQL_IMPL": "c", "BENCH_SKIP_TUPLES": "1"},
     "greencql numpy_columns (C), no tuple decode (*)"),
    ("cassandra-driver", {}, "cassandra-driver libev tuple rows"),
    ("cassandra-driver numpy", {}, "cassandra-driver libev NumpyProtocolHandler"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--no-network", action="store_true")
    parser.add_argument("--json", action="store_true",
                        help="also print every number as one JSON line at the end "
                             "(for bench/run_all.py)")
    parser.add_argument("--role", default="parent")
    parser.add_argument("--others", action="store_true")
    parser.add_argument("--variant", default="")
    parser.add_argument("--contact-points", default="")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.role == "decode":
        print(json.dumps(_decode_child(args)))
        return
    if args.role == "e2e":
        print(json.dumps(_e2e_child(args)))
        return
    if args.quick:
        args.repeat, args.pages = 5, 5
    common = ["--rows", str(args.rows), "--repeat", str(args.repeat)]
    print(f"1. decoding one page of {args.rows} rows x {NCOLS} numeric columns "
          "(best of repetitions)")
    results: dict = {}
    for impl, others in (("python", False), ("c", True)):
        got = _child(["--role", "decode", *common, *(["--others"] if others else [])],
                     {"GREENCQL_IMPL": impl})
        for key, value in got.items():
            if key == "impl":
                continue
            name = f"greencql {key} ({got['impl']})" if key.startswith("columnar") else key
            results[name] = value
    for name, value in sorted(results.items()):
        print(f"   {name:48} {_fmt(value)}")
    e2e: dict = {}
    if not args.no_network:
        e2e = _end_to_end(args)
    if args.json:
        print(json.dumps({"decode": results, "e2e": e2e}))


def _end_to_end(args: argparse.Namespace) -> dict:
    from greencql.testing import SimCluster

    print(f"\n2. end to end: one page of {args.rows} rows x {NCOLS} numeric columns from a "
          "SimCluster in another process (medians)")
    e2e: dict = {}
    sim = SimCluster.spawn_process(1, hub="gevent")
    try:
        _setup_table(sim.contact_points, sim.port, args.rows)
        for variant, env, label in E2E_VARIANTS:
            row = _child(["--role", "e2e", "--variant", variant, "--rows", str(args.rows),
                          "--pages", str(args.pages), "--contact-points",
                          ",".join(sim.contact_points), "--port", str(sim.port)], env)
            e2e[label] = row
            if "error" in row:
                print(f"   {label:48} {row['error']}", flush=True)
                continue
            print(f"   {label:48} {_fmt(row['values_s'])} wall, "
                  f"{_fmt(row['cpu_values_s'])} per client CPU second", flush=True)
    finally:
        sim.stop()
    print("   (*) the eager tuple decoding of decode_response stubbed out: an estimate of "
          "numpy_columns once rows are decoded lazily")
    return e2e


if __name__ == "__main__":
    main()
