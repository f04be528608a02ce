"""``make bench``: issue 12's benchmark suite in one run, one side-by-side table, the targets.

Against ONE simulated 3-node cluster in another process (``SimCluster.spawn_process``, served
on gevent, protocol v4 for every client: see bench/session.py for why not v5), each client cell
in its own subprocess, side by side in the same run. The clients (the table's columns):

- ``greencql``: ``Session.execute``, pure Python (``GREENCQL_IMPL=python``), default rows;
- ``greencql C``: the same with ``GREENCQL_IMPL=c`` (every Cython twin: rows, frames,
  segments, encoding, murmur3);
- ``c-d gevent``: cassandra-driver 3.30.1, GeventConnection, its default named-tuple rows;
- ``c-d gevent tuple``: the same with ``tuple_factory`` rows;
- ``c-d libev tuple``: cassandra-driver on its libev reactor with tuple rows (its best), in a
  process nothing monkey-patched: C requests in flight by ``execute_async`` callbacks;
- ``floor``: pre-encoded EXECUTE frames, header parsing only (bench/connection.py's floor).

The measures (the table's rows), each taken by the script that owns it:

- point query (bench/session.py's cells): a prepared single-row SELECT at 1, 64 and 512
  greenlets: client CPU per request (``time.process_time()`` of the client process), req/s,
  p50/p99/p999 latency; median of ``--repeat`` runs, rounds interleaved;
- wide page: 5000 rows x 10 mixed columns (bench/codec.py's columns and rows) in one page
  over the network, rows/s by wall time and by the client's CPU time (median of the pages);
- columnar values/s (bench/columnar.py, decode only): a page of 5000 rows x 10 numeric columns,
  one cell in ten NULL, decoded into NumPy arrays (``decode_columns``), pure and C; the
  cassandra-driver column stays empty (its NumpyProtocolHandler returns no rows on NumPy 2);
- connect: ``Cluster(...).connect()`` to the 3-node cluster, schema and token metadata
  included, until every pool is up, several times in one process: the first (which pays for
  what each driver imports or builds lazily) and the best of the others;
- import: ``import greencql; from greencql import Cluster`` vs ``import cassandra.cluster``,
  each in a fresh interpreter, best of ``--imports``;
- memory (bench/connection.py ``--role memory``, tracemalloc): bytes per idle connection and
  per pending request, greencql only;
- calls per request (bench/calls.py, a counting profiler): Python calls per prepared point
  query through ``Session.execute`` at 1 and 64 greenlets, greencql only.

Then every target of issue 12 as a ratio, met or not met. The results and the machine go into
docs/benchmarks.md (section "make bench: issue 12 suite"; ``--no-write`` to skip).

    .venv/bin/python bench/run_all.py [--quick] [--repeat 3] [--requests 16000] [--no-write]

A full run takes about 5 minutes on a 2-core machine (longer when it is shared and loaded);
``--quick`` about 1.5.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import session as S  # bench/session.py (this script's folder is first on sys.path)

__all__ = ["main"]

HERE = os.path.abspath(__file__)
BENCH = os.path.dirname(HERE)
ROOT = os.path.dirname(BENCH)


def _this_checkout() -> None:
    """Measure the greencql of this checkout, not whichever one is installed (an editable
    install may point at another work tree): first on sys.path here and, through
    PYTHONPATH, in every child (the simulator, the cells, calls.py, connection.py)."""
    if ROOT not in sys.path:
        sys.path.insert(1, ROOT)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != ROOT]
    os.environ["PYTHONPATH"] = os.pathsep.join([ROOT, *paths])
DOCS = os.path.join(ROOT, "docs", "benchmarks.md")
SECTION = "## make bench: issue 12 suite"

#: column -> (bench/session.py variant, extra environment)
CLIENTS = {
    "greencql": ("greencql", {"GREENCQL_IMPL": "python"}),
    "greencql C": ("greencql", {"GREENCQL_IMPL": "c"}),
    "c-d gevent": ("cassandra-driver", {}),
    "c-d gevent tuple": ("cassandra-driver tuple", {}),
    "c-d libev tuple": ("cassandra-driver libev tuple", {}),
    "floor": ("floor", {}),
}
GREENCQL = ("greencql", "greencql C")
CONCURRENCY = (1, 64, 512)

WIDE_ROWS = 5000
WIDE_TABLE = "bench.wide"
IMPORT_CODE = {
    "greencql": "import greencql\nfrom greencql import Cluster",
    "cassandra": "import cassandra.cluster",
}


# ----------------------------------------------------------------------------------------------
# the wide table (set up once, in the parent, on the thread hub)
# ----------------------------------------------------------------------------------------------


def _wide_columns() -> list[tuple[str, str]]:
    from codec import COLUMNS  # bench/codec.py: the same 10 mixed columns as its decode bench

    return COLUMNS


def _wide_select() -> str:
    names = ", ".join(name for name, _ in _wide_columns())
    return f"SELECT {names} FROM {WIDE_TABLE} WHERE p = ?"


def _setup_wide(contact_points: list[str], port: int, version: int) -> None:
    """One partition of 5000 rows: the first column (int) clusters, the key ``p`` is 0."""
    from codec import make_rows

    from greencql import Cluster

    columns = _wide_columns()
    defs = ", ".join(f"{name} {cql}" for name, cql in columns)
    names = ", ".join(name for name, _ in columns)
    rows = make_rows()
    assert len(rows) == WIDE_ROWS
    cluster = Cluster(contact_points, port=port, protocol_version=version, hub="thread",
                      compression=False)
    try:
        session = cluster.connect()
        session.execute(f"CREATE TABLE IF NOT EXISTS {WIDE_TABLE} (p int, {defs}, "
                        f"PRIMARY KEY (p, {columns[0][0]}))")
        insert = session.prepare(f"INSERT INTO {WIDE_TABLE} (p, {names}) VALUES (0, "
                                 f"{', '.join('?' for _ in columns)})")
        for start in range(0, len(rows), 256):  # 256 in flight at a time
            futures = [session.execute_async(insert, row) for row in rows[start:start + 256]]
            for future in futures:
                future.result()
    finally:
        cluster.shutdown()


# ----------------------------------------------------------------------------------------------
# child roles (each cell in its own subprocess)
# ----------------------------------------------------------------------------------------------


_patched: list[bool] = []


def _open(args: argparse.Namespace):
    """Patch once (unless libev), then the variant's Cluster, not connected; and its driver."""
    driver, row_factory, _style = S.ALL_VARIANTS[args.variant]
    if driver != "cassandra-driver-libev" and not _patched:
        S._patch(args.hub)
        _patched.append(True)
    if driver == "greencql":
        return S.greencql_cluster(args, row_factory), driver
    reactor = "libev" if driver == "cassandra-driver-libev" else "hub"
    return S.driver_cluster(args, row_factory, reactor), driver


def _connect(cluster, driver: str):
    if driver == "greencql":
        return cluster.connect(wait_for_all_pools=True)
    return cluster.connect()  # cassandra-driver's connect waits for every pool


def _wide_child(args: argparse.Namespace) -> dict:
    cluster, driver = _open(args)
    session = _connect(cluster, driver)
    try:
        bound = session.prepare(_wide_select()).bind((0,))
        execute = session.execute

        def page() -> None:
            rows = execute(bound).current_rows
            n = 0
            for _row in rows:
                n += 1
            assert n == WIDE_ROWS, n

        page()  # warm-up: caches, the first decode
        walls: list[float] = []
        cpus: list[float] = []
        for _ in range(args.pages):
            c0, t0 = time.process_time(), time.perf_counter()
            page()
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
    finally:
        cluster.shutdown()
    return {"rows_s": WIDE_ROWS / statistics.median(walls),
            "cpu_rows_s": WIDE_ROWS / statistics.median(cpus)}


def _connect_child(args: argparse.Namespace) -> dict:
    times: list[float] = []
    for _ in range(args.connects):
        t0 = time.perf_counter()
        cluster, driver = _open(args)
        _connect(cluster, driver)
        times.append(time.perf_counter() - t0)
        cluster.shutdown()
    # the first pays for what the drivers import or build lazily on their first connect
    return {"connect_ms": min(times[1:] or times) * 1e3, "connect_first_ms": times[0] * 1e3}


# ----------------------------------------------------------------------------------------------
# the parent: run the cells
# ----------------------------------------------------------------------------------------------


def _child(argv: list[str], env: dict[str, str] | None = None, script: str = HERE,
           timeout: float = 600) -> dict:
    """Run ``script`` with ``argv`` in a subprocess; its last stdout line is JSON."""
    out = subprocess.run([sys.executable, script, *argv], capture_output=True, text=True,
                         timeout=timeout, env={**os.environ, **(env or {})}, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"{os.path.basename(script)} {argv} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cell_args(sim, args: argparse.Namespace, variant: str) -> list[str]:
    return ["--variant", variant, "--hub", "gevent", "--contact-points",
            ",".join(sim.contact_points), "--port", str(sim.port), "--version", str(args.version)]


def _median_runs(runs: list[dict]) -> dict:
    return {key: statistics.median(r[key] for r in runs) for key in runs[0]}


def _point(sim, args: argparse.Namespace, clients: list[str]) -> dict:
    """bench/session.py's cells: {(client, concurrency): medians}."""
    runs: dict[tuple[str, int], list[dict]] = {}
    print(f"\npoint query: {'client':18} {'greenlets':>9} {'CPU us/req':>11} {'req/s':>8} "
          f"{'p50 us':>8} {'p99 us':>8} {'p999 us':>8}")
    for c in CONCURRENCY:
        n = S._cell_requests(args.requests, c)
        warmup = min(n, max(n // 5, c * 4))
        for _round in range(args.repeat):
            for name in clients:
                variant, env = CLIENTS[name]
                row = S._run_child(["--role", "client", *_cell_args(sim, args, variant),
                                    "--concurrency", str(c), "--requests", str(n),
                                    "--warmup", str(warmup)], env)
                runs.setdefault((name, c), []).append(row)
                print(f"             {name:18} {c:9d} {row['cpu_us']:11.1f} {row['rps']:8.0f} "
                      f"{row['p50_us']:8.0f} {row['p99_us']:8.0f} {row['p999_us']:8.0f}",
                      flush=True)
    return {cell: _median_runs(rows) for cell, rows in runs.items()}


def _wide(sim, args: argparse.Namespace, clients: list[str]) -> dict:
    runs: dict[str, list[dict]] = {}
    for _round in range(args.repeat):
        for name in clients:
            if name == "floor":
                continue
            variant, env = CLIENTS[name]
            row = _child(["--role", "wide", *_cell_args(sim, args, variant),
                          "--pages", str(args.pages)], env)
            runs.setdefault(name, []).append(row)
            print(f"wide page:   {name:18} {row['rows_s']:10,.0f} rows/s "
                  f"({row['cpu_rows_s']:,.0f} per client CPU second)", flush=True)
    return {name: _median_runs(rows) for name, rows in runs.items()}


def _connects(sim, args: argparse.Namespace, clients: list[str]) -> dict:
    out = {}
    for name in clients:
        if name in ("floor", "c-d gevent tuple"):  # same connect as its neighbour
            continue
        variant, env = CLIENTS[name]
        out[name] = _child(["--role", "connect", *_cell_args(sim, args, variant),
                            "--connects", str(args.connects)], env)
        print(f"connect:     {name:18} {out[name]['connect_ms']:8.1f} ms (best of the "
              f"{args.connects - 1} after the first; the first "
              f"{out[name]['connect_first_ms']:.1f} ms)", flush=True)
    return out


def _imports(args: argparse.Namespace, impls: list[str]) -> dict:
    """Best of ``--imports`` fresh interpreters per module, interleaved."""
    timer = ("import time\nt0 = time.perf_counter()\n{code}\n"
             "print(time.perf_counter() - t0)")
    cells = [(f"greencql {impl}", IMPORT_CODE["greencql"], {"GREENCQL_IMPL": impl})
             for impl in impls] + [("cassandra", IMPORT_CODE["cassandra"], {})]
    best: dict[str, float] = {}
    for _ in range(args.imports):
        for name, code, env in cells:
            out = subprocess.run([sys.executable, "-c", timer.format(code=code)], cwd=ROOT,
                                 capture_output=True, text=True, timeout=60,
                                 env={**os.environ, **env})
            if out.returncode != 0:
                raise RuntimeError(f"import {name} failed:\n{out.stderr[-2000:]}")
            seconds = float(out.stdout.strip().splitlines()[-1])
            best[name] = min(best.get(name, seconds), seconds)
    for name, seconds in best.items():
        print(f"import:      {name:18} {seconds * 1e3:8.1f} ms (best of {args.imports})")
    return best


def _memory(impls: list[str]) -> dict:
    out = {}
    for impl in impls:
        out[impl] = _child(["--role", "memory"], {"GREENCQL_IMPL": impl},
                           script=os.path.join(BENCH, "connection.py"))
        print(f"memory:      greencql {impl:9} {out[impl]['idle_connection_bytes']:10,.0f} B "
              f"idle connection, {out[impl]['pending_request_bytes']:,.0f} B pending request")
    return out


def _calls(sim, args: argparse.Namespace, impls: list[str]) -> dict:
    out = {}
    for impl in impls:
        out[impl] = _child(["--requests", str(args.calls_requests), "--concurrency", "1,64",
                            "--hub", "gevent", "--json", "--contact-points",
                            ",".join(sim.contact_points), "--port", str(sim.port)],
                           {"GREENCQL_IMPL": impl}, script=os.path.join(BENCH, "calls.py"))
        print(f"calls:       greencql {impl:9} " + ", ".join(
            f"c{c}: {v['python_calls']:.1f} Python calls/request" for c, v in out[impl].items()))
    return out


#: bench/columnar.py's decode-only cell that the table and the target read
_COLUMNAR_KEY = "greencql columnar nulls ({impl})"


def _columnar(args: argparse.Namespace) -> dict:
    """bench/columnar.py's decode-only numbers (values/s by name), in its own process."""
    return _child(["--no-network", "--json", *(["--quick"] if args.quick else [])],
                  script=os.path.join(BENCH, "columnar.py"))["decode"]


def _twins_built() -> bool:
    out = subprocess.run([sys.executable, "-c", "import greencql.cluster.murmur3"], cwd=ROOT,
                         capture_output=True, timeout=60, env={**os.environ, "GREENCQL_IMPL": "c"})
    return out.returncode == 0


# ----------------------------------------------------------------------------------------------
# the table and the targets
# ----------------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "n/a" if value is None else format(value, spec)


def _table(clients: list[str], r: dict) -> list[str]:
    """One markdown table: a row per measure, a column per client."""
    lines = ["| measure | " + " | ".join(clients) + " |",
             "|---|" + "--:|" * len(clients)]

    def row(label: str, cell) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(name) for name in clients) + " |")

    point = r["point"]
    impl = {"greencql": "python", "greencql C": "c"}
    for c in CONCURRENCY:
        for key, label, spec in (("cpu_us", "CPU µs/request", ",.1f"),
                                 ("rps", "requests/s", ",.0f"), ("p50_us", "p50 µs", ",.0f"),
                                 ("p99_us", "p99 µs", ",.0f"), ("p999_us", "p999 µs", ",.0f")):
            row(f"{label}, {c} greenlet{'s' if c > 1 else ''}",
                lambda n, c=c, key=key, spec=spec: _fmt(point.get((n, c), {}).get(key), spec))
    wide = r["wide"]
    row(f"wide page rows/s ({WIDE_ROWS} x 10, wall)",
        lambda n: _fmt(wide.get(n, {}).get("rows_s")) if n != "floor" else "transport only")
    row("wide page rows per client CPU second",
        lambda n: _fmt(wide.get(n, {}).get("cpu_rows_s")) if n != "floor" else "")
    columnar = r.get("columnar", {})
    row("columnar values/s (NumPy, 10% NULL cells)", lambda n: _fmt(
        columnar.get(_COLUMNAR_KEY.format(impl=impl.get(n)))) if n in GREENCQL else "")
    connects = r["connects"]
    row("connect ms, 3 nodes + metadata (best after the first)",
        lambda n: _fmt(connects.get(n, {}).get("connect_ms"), ",.1f") if n in connects else "")
    row("connect ms, the first in the process",
        lambda n: _fmt(connects.get(n, {}).get("connect_first_ms"), ",.1f")
        if n in connects else "")
    imports = r["imports"]

    def import_cell(n: str) -> str:
        key = {"greencql": "greencql python", "greencql C": "greencql c",
               "c-d gevent": "cassandra"}.get(n)
        return _fmt(imports[key] * 1e3, ",.1f") if key in imports else ""

    row("import ms (greencql + Cluster / cassandra.cluster)", import_cell)
    memory = r["memory"]
    row("bytes per idle connection (tracemalloc)", lambda n: _fmt(
        memory.get(impl.get(n), {}).get("idle_connection_bytes")) if n in GREENCQL else "")
    row("bytes per pending request (tracemalloc)", lambda n: _fmt(
        memory.get(impl.get(n), {}).get("pending_request_bytes")) if n in GREENCQL else "")
    calls = r["calls"]
    for c in ("1", "64"):
        row(f"Python calls/request, {c} greenlet{'s' if c != '1' else ''}", lambda n, c=c: _fmt(
            calls.get(impl.get(n), {}).get(c, {}).get("python_calls"), ",.1f")
            if n in GREENCQL else "")
    return lines


def _targets(r: dict) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for every target of issue 12; met None: not measurable."""
    point = r["point"]
    out: list[tuple[str, str, bool | None]] = []

    def cpu(name: str, c: int) -> float | None:
        return point.get((name, c), {}).get("cpu_us")

    def ratio(target: str, a: float | None, b: float | None, limit: float,
              at_least: bool = False) -> None:
        if a is None or b is None:
            out.append((target, "not measured", None))
            return
        value = a / b
        out.append((target, f"{value:.3f}", value >= limit if at_least else value <= limit))

    for c in (64, 512):
        ratio(f"pure CPU/req ÷ c-d gevent, {c} greenlets <= 0.1", cpu("greencql", c),
              cpu("c-d gevent", c), 0.1)
        ratio(f"pure CPU/req ÷ floor, {c} greenlets <= 8", cpu("greencql", c), cpu("floor", c), 8)
        ratio(f"C CPU/req ÷ c-d gevent, {c} greenlets <= 0.05", cpu("greencql C", c),
              cpu("c-d gevent", c), 0.05)
        ratio(f"C CPU/req ÷ floor, {c} greenlets <= 4", cpu("greencql C", c), cpu("floor", c), 4)
        ratio(f"C CPU/req ÷ c-d libev tuple, {c} greenlets <= 0.333", cpu("greencql C", c),
              cpu("c-d libev tuple", c), 1 / 3)
    for name, label in (("greencql", "pure"), ("greencql C", "C")):
        ratio(f"{label} p50 ÷ floor p50, 1 greenlet <= 1.3",
              point.get((name, 1), {}).get("p50_us"), point.get(("floor", 1), {}).get("p50_us"),
              1.3)
    for name, label in (("greencql", "pure"), ("greencql C", "C")):
        cell = point.get((name, 64), {})
        ratio(f"{label} p99 ÷ p50, 64 greenlets <= 3", cell.get("p99_us"), cell.get("p50_us"), 3)
    for c in ("1", "64"):
        value = r["calls"].get("python", {}).get(c, {}).get("python_calls")
        out.append((f"pure Python calls/request, {c} greenlet{'s' if c != '1' else ''} <= 80",
                    _fmt(value, ".1f"), None if value is None else value <= 80))
    wide = r["wide"]
    base = wide.get("c-d gevent", {}).get("rows_s")
    ratio("wide page rows/s, pure ÷ c-d gevent >= 2", wide.get("greencql", {}).get("rows_s"),
          base, 2, at_least=True)
    ratio("wide page rows/s, C ÷ c-d gevent >= 4", wide.get("greencql C", {}).get("rows_s"),
          base, 4, at_least=True)
    # the wall rate above is bounded by the simulator's encoding of the page as much as by the
    # client; the same targets on the client's own CPU say what the client does
    base = wide.get("c-d gevent", {}).get("cpu_rows_s")
    ratio("(same on client CPU) wide rows per CPU s, pure ÷ c-d gevent >= 2",
          wide.get("greencql", {}).get("cpu_rows_s"), base, 2, at_least=True)
    ratio("(same on client CPU) wide rows per CPU s, C ÷ c-d gevent >= 4",
          wide.get("greencql C", {}).get("cpu_rows_s"), base, 4, at_least=True)
    for name, label in (("python", "pure"), ("c", "C")):
        value = r.get("columnar", {}).get(_COLUMNAR_KEY.format(impl=name))
        value = value if isinstance(value, (int, float)) else None
        out.append((f"columnar, {label}: >= 10M numeric values/s", _fmt(value),
                    None if value is None else value >= 10e6))
    imports = r["imports"]
    ratio("import greencql + Cluster ÷ import cassandra.cluster <= 0.333",
          imports.get("greencql python"), imports.get("cassandra"), 1 / 3)
    idle = r["memory"].get("python", {}).get("idle_connection_bytes")
    out.append(("idle connection <= 32 KB (32,768 B)", _fmt(idle),
                None if idle is None else idle <= 32768))
    return out


def _target_lines(targets: list[tuple[str, str, bool | None]]) -> list[str]:
    lines = ["| target (issue 12) | measured | |", "|---|--:|---|"]
    for target, measured, met in targets:
        verdict = "not measured" if met is None else ("met" if met else "not met")
        lines.append(f"| {target} | {measured} | {verdict} |")
    return lines


# ----------------------------------------------------------------------------------------------
# the machine, the docs
# ----------------------------------------------------------------------------------------------


def _machine() -> str:
    model = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f
                          if line.startswith("model name")), "?")
    except OSError:
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return (f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, load average "
            f"{load} at the start (a shared machine: other work ran beside this one)")


def _write_docs(body: list[str]) -> None:
    """Replace (or append) this script's section of docs/benchmarks.md; keep the others."""
    try:
        with open(DOCS, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = ["# Benchmarks", ""]
    section = [SECTION, "", *body, ""]
    if SECTION in lines:
        start = lines.index(SECTION)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
        lines[start:end] = section
    else:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *section]
    with open(DOCS, "w", encoding="utf-8") as f:
        f.write("\n".join(lines).rstrip("\n") + "\n")


def _intro() -> list[str]:
    return [
        "`make bench` (`bench/run_all.py`): every measure of issue 12 in one run against ONE",
        "simulated 3-node cluster in another process (`greencql sim` on gevent, protocol v4",
        "for every client), each client cell in its own subprocess. Columns: `greencql`",
        "(`Session.execute`, pure Python, default rows), `greencql C` (`GREENCQL_IMPL=c`: the",
        "Cython twins of the protocol hot paths), cassandra-driver 3.30.1 on GeventConnection with",
        "its default rows and with `tuple_factory`, cassandra-driver on its libev reactor with",
        "tuple rows (an unpatched process; `execute_async` callbacks keep N requests in",
        "flight, latency from `execute_async` to the callback), and the floor client",
        "(pre-encoded frames, header parsing only).",
        "",
        "- Point query: a prepared `SELECT k, v FROM bench.kv WHERE k = ?` at 1/64/512",
        "  greenlets (bench/session.py's cells); CPU is `time.process_time()` of the client",
        "  process, so the simulator's CPU is not counted; medians of the runs, rounds",
        "  interleaved. The simulator answers from Python on one core: req/s and latency",
        "  under load are bounded by it as much as by the client.",
        "- Wide page: one page of 5000 rows x 10 mixed columns (bench/codec.py's columns) over",
        "  the network; rows/s by wall time (bounded by the simulator's encoding as well) and",
        "  per second of the client's CPU.",
        "- Connect: `Cluster(...).connect()` until every pool is up, schema and token",
        "  metadata included, several times in one process: the first, and the best of the",
        "  others. Import: fresh interpreters, best of several. Memory: tracemalloc",
        "  (bench/connection.py). Calls: bench/calls.py (a counting profiler).",
        "- Targets: issue 12's, as ratios of this run's medians, met or not met. The two",
        "  \"(same on client CPU)\" rows are not the issue's: they put its wide-page ratios",
        "  on the client's own CPU, since the wall rate is the simulator's as much.",
        "- The libev column runs no greenlets: \"N greenlets\" there is N requests in flight.",
        "",
    ]


# ----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one run per cell, fewer requests and pages (about 1.5 minutes)")
    parser.add_argument("--requests", type=int, default=None,
                        help="measured requests per point-query cell, a fifth at 1 greenlet "
                             "(default 16000, --quick 2000)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per point-query and wide-page cell (default 3, --quick 1)")
    parser.add_argument("--clients", default=",".join(CLIENTS),
                        help=f"comma-separated subset of {', '.join(CLIENTS)}")
    parser.add_argument("--no-write", action="store_true",
                        help=f"do not write {os.path.relpath(DOCS, ROOT)}")
    # child cells (the parent runs itself with these)
    parser.add_argument("--role", default="main", choices=("main", "wide", "connect"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="greencql", help=argparse.SUPPRESS)
    parser.add_argument("--hub", default="gevent", help=argparse.SUPPRESS)
    parser.add_argument("--contact-points", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=9042, help=argparse.SUPPRESS)
    parser.add_argument("--version", type=int, default=4, help=argparse.SUPPRESS)
    parser.add_argument("--pages", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--connects", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    quick = args.quick
    args.requests = args.requests or (2000 if quick else 16000)
    args.repeat = args.repeat or (1 if quick else 3)
    args.pages = args.pages or (5 if quick else 20)
    args.connects = max(2, args.connects or (3 if quick else 6))
    args.imports = 3 if quick else 7
    args.calls_requests = 500 if quick else 2000
    if args.role == "wide":
        print(json.dumps(_wide_child(args)))
        return
    if args.role == "connect":
        print(json.dumps(_connect_child(args)))
        return

    _this_checkout()
    clients = [c for c in args.clients.split(",") if c]
    bad = [c for c in clients if c not in CLIENTS]
    if bad or not clients:
        parser.error(f"--clients must be among {', '.join(CLIENTS)}, not {bad or clients}")
    impls = ["python"]
    notes: list[str] = []
    if "greencql C" in clients:
        if _twins_built():
            impls.append("c")
        else:
            clients.remove("greencql C")
            notes.append("greencql C: the Cython twins are not built in this checkout "
                         "(GREENCQL_IMPL=c fails); its column is left out.")
            print(notes[-1])
    command = " ".join([".venv/bin/python", "bench/run_all.py", *sys.argv[1:]])
    machine = _machine()
    versions = S._versions()
    import greencql

    print(f"greencql from {os.path.dirname(greencql.__file__)}")
    print(machine)
    print(versions)

    from greencql.testing.cluster import SimCluster

    started = time.monotonic()
    sim = SimCluster.spawn_process(nodes=3, port=0, hub="gevent")
    try:
        S._setup(sim.contact_points, sim.port, 3, args.version)
        _setup_wide(sim.contact_points, sim.port, args.version)
        print(f"simulated cluster {', '.join(sim.contact_points)} port {sim.port} in pid "
              f"{sim.process.pid}; setup {time.monotonic() - started:.0f} s", flush=True)
        results = {
            "point": _point(sim, args, clients),
            "wide": _wide(sim, args, clients),
            "connects": _connects(sim, args, clients),
            "imports": _imports(args, impls),
            "memory": _memory(impls),
            "calls": _calls(sim, args, impls),
            "columnar": _columnar(args),
        }
    finally:
        sim.stop()
    elapsed = time.monotonic() - started
    table = _table(clients, results)
    targets = _target_lines(_targets(results))
    print()
    print("\n".join(table))
    print()
    print("\n".join(targets))
    print(f"\nwhole run {elapsed:.0f} s")
    if args.no_write:
        return
    today = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        *_intro(),
        f"{today}; {machine}.",
        f"{versions}.",
        f"{args.requests} measured requests per point-query cell "
        f"({S._cell_requests(args.requests, 1)} at 1 greenlet), median of {args.repeat} "
        "run(s) per cell; wide page: median of "
        f"{args.pages} pages per run; whole run {elapsed:.0f} s.",
        *(f"Note: {note}" for note in notes),
        "",
        f"    {command}",
        "",
        *table,
        "",
        *targets,
    ]
    _write_docs(body)
    print(f"written to {os.path.relpath(DOCS, ROOT)}")


if __name__ == "__main__":
    main()
