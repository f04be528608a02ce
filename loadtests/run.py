"""Run a locust load test end to end: `python loadtests/run.py` (or `make loadtest`).

Owns the steps around locust: start a simulated 3-node cluster in its own process (unless
``--host`` names a real one), run locust headless on a locustfile for ``--run-time`` with
``--users`` spawned at ``--spawn-rate`` (optionally ``--processes N``), write locust's CSV
files and HTML report to ``--out``, print a summary, and decide: the exit code is 0 only when
requests happened, none failed, locust itself exited 0, and the aggregated p99 is within
``--max-p99`` milliseconds. It must not measure anything itself: locust does.

Exit codes: 0 pass, 1 the load test failed one of its checks, 2 it could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FLASK_PACKAGE = ROOT / "contrib" / "flask" / "flask_greencql"
FLASK_EXAMPLE = ROOT / "contrib" / "flask" / "example"
WORKLOADS = {"cql": HERE / "locustfile_cql.py", "http": HERE / "locustfile_http.py"}
#: p99 bound (ms) when none is given: generous, for a shared 2-core machine and a simulator
DEFAULT_MAX_P99_MS = 1000.0
#: locust's own shutdown (stop users, write reports) on top of --run-time
SHUTDOWN_MARGIN = 60.0

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="cql",
                        help="cql (default): CQLUser mix; http: the Flask example over HTTP")
    parser.add_argument("--host", default=None,
                        help="cql://h1,h2:9042/keyspace?local_dc=dc1 (default: a simulated "
                             "3-node cluster in its own process); http://... for --workload http")
    parser.add_argument("--users", "-u", type=int, default=50)
    parser.add_argument("--spawn-rate", "-r", type=float, default=25.0)
    parser.add_argument("--run-time", "-t", default="10s", help="e.g. 10s, 5m, 1h30m")
    parser.add_argument("--processes", type=int, default=0,
                        help="locust --processes N (one Cluster per process); -1: one per "
                             "core; 0 (default): no worker processes")
    parser.add_argument("--nodes", type=int, default=3, help="nodes of the simulated cluster")
    parser.add_argument("--consistency", default="LOCAL_QUORUM",
                        help="consistency level for the simulated cluster's URL")
    parser.add_argument("--out", default=str(HERE / "report"),
                        help="folder for the CSV files and report.html")
    parser.add_argument("--max-p99", type=float, default=DEFAULT_MAX_P99_MS,
                        help=f"fail above this aggregated p99, in ms ({DEFAULT_MAX_P99_MS:g})")
    parser.add_argument("--locust-arg", action="append", default=[],
                        help="one more argument for locust (repeatable)")
    args = parser.parse_args(argv)
    if args.users < 1 or args.spawn_rate <= 0 or args.processes < -1:
        parser.error("--users >= 1, --spawn-rate > 0 and --processes >= -1 please")
    try:
        args.run_seconds = run_time_seconds(args.run_time)
    except ValueError as exc:
        parser.error(str(exc))
    return args


def run_time_seconds(text: str) -> float:
    """locust's --run-time syntax (``90``, ``10s``, ``5m``, ``1h30m``) in seconds."""
    text = text.strip().lower()
    if re.fullmatch(r"\d+", text):
        return float(text)
    parts = re.fullmatch(r"(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?", text)
    if not text or parts is None:
        raise ValueError(f"--run-time {text!r}: expected e.g. 10s, 5m or 1h30m")
    hours, minutes, seconds = (int(p or 0) for p in parts.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


@dataclass
class Row:
    """One request name (or the total) of the final statistics."""

    name: str
    kind: str
    requests: int
    failures: int
    rps: float
    p50: float
    p99: float
    p999: float


@dataclass
class Summary:
    total: Row
    rows: list[Row]
    errors: list[dict[str, str]]


def percentile(histogram: dict[float, int], fraction: float) -> float:
    """The response time (ms) at ``fraction`` of locust's histogram {rounded ms: count}."""
    count = sum(histogram.values())
    if not count:
        return 0.0
    wanted = max(1, math.ceil(fraction * count))
    seen = 0
    for ms in sorted(histogram):
        seen += histogram[ms]
        if seen >= wanted:
            return ms
    return max(histogram)


def _span(entries: list[dict]) -> float:
    starts = [e["start_time"] for e in entries if e["num_requests"]]
    ends = [e["last_request_timestamp"] for e in entries if e["last_request_timestamp"]]
    return (max(ends) - min(starts)) if starts and ends else 0.0


def _row(name: str, kind: str, entries: list[dict], span: float) -> Row:
    histogram: dict[float, int] = {}
    for entry in entries:
        for ms, n in entry["response_times"].items():
            histogram[float(ms)] = histogram.get(float(ms), 0) + n
    requests = sum(e["num_requests"] for e in entries)
    return Row(name, kind, requests, sum(e["num_failures"] for e in entries),
               requests / span if span > 0 else 0.0, percentile(histogram, 0.50),
               percentile(histogram, 0.99), percentile(histogram, 0.999))


def read_summary(prefix: Path) -> Summary:
    """The final statistics: locust's ``--json-file`` (written once, at the end; the CSV
    files are rewritten every second and may miss the last one), failures from the CSV."""
    with open(f"{prefix}.json") as f:
        entries = json.load(f)
    span = _span(entries)  # requests per second over the whole test, for every row
    rows = [_row(e["name"], e["method"], [e], span) for e in entries]
    errors: list[dict[str, str]] = []
    failures_csv = Path(f"{prefix}_failures.csv")
    if failures_csv.exists():
        with open(failures_csv, newline="") as f:
            errors = list(csv.DictReader(f))
    return Summary(_row("total", "", entries, span), sorted(rows, key=lambda r: r.name), errors)


def print_summary(summary: Summary) -> None:
    print(f"\n{'name':<36} {'type':<5} {'requests':>9} {'failed':>7} {'req/s':>8} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'p99.9 ms':>8}")
    for row in [*summary.rows, summary.total]:
        print(f"{row.name[:36]:<36} {row.kind[:5]:<5} {row.requests:>9} {row.failures:>7} "
              f"{row.rps:>8.1f} {row.p50:>7g} {row.p99:>7g} {row.p999:>8g}")
    for error in summary.errors:
        print(f"  failure x{error.get('Occurrences')}: {error.get('Method')} "
              f"{error.get('Name')}: {error.get('Error')}")


def verdict(summary: Summary, locust_code: int, max_p99: float) -> list[str]:
    """Why the run failed (empty when it passed)."""
    problems = []
    total = summary.total
    if total.requests == 0:
        problems.append("no request was made")
    if total.failures:
        problems.append(f"{total.failures} requests failed")
    if total.p99 > max_p99:
        problems.append(f"p99 {total.p99:g} ms is above the bound of {max_p99:g} ms")
    if locust_code != 0:
        problems.append(f"locust exited with code {locust_code}")
    return problems


def locust_command(args: argparse.Namespace, host: str, prefix: Path, html: Path
                   ) -> list[str]:
    command = [
        sys.executable, "-m", "locust", "-f", str(WORKLOADS[args.workload]),
        "--headless", "--host", host, "--users", str(args.users),
        "--spawn-rate", str(args.spawn_rate), "--run-time", args.run_time,
        "--csv", str(prefix), "--json-file", str(prefix), "--html", str(html),
        "--only-summary",
        "--stop-timeout", "5", "--exit-code-on-error", "1",
    ]
    if args.processes:
        command += ["--processes", str(args.processes)]
    return command + list(args.locust_arg)


def http_workload_missing() -> str | None:
    """Why the HTTP workload cannot run here (None when it can); locustfile_http.py asks
    the same (it cannot be imported here: locust would monkey-patch this process)."""
    if importlib.util.find_spec("flask_greencql") is None and not FLASK_PACKAGE.is_dir():
        return ("flask_greencql (contrib/flask, the Flask integration of issue 9) is neither "
                "installed nor in this checkout")
    if not (FLASK_EXAMPLE / "shortener.py").exists():
        return f"the Flask example {FLASK_EXAMPLE.relative_to(ROOT)}/shortener.py is missing"
    if importlib.util.find_spec("gunicorn") is None:
        return "gunicorn is not installed (pip install gunicorn)"
    return None


def cql_statements(text: str) -> list[str]:
    """The statements of a .cql file (comments removed; no ';' inside string literals,
    which the example's schema does not have)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"(--|//)[^\n]*", " ", text)
    return [" ".join(s.split()) for s in text.split(";") if s.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait (at most ``timeout`` s) until ``url`` answers; fail if ``process`` exits."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                response.read()
                return
        except (OSError, urllib.error.HTTPError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout:g} s") from None
            time.sleep(0.2)  # a start-up poll of another process, in a script, not a test


@contextlib.contextmanager
def serve_example(sim: Any, env: dict[str, str]) -> Iterator[str]:
    """Apply the example's schema to ``sim`` and serve the example with gunicorn (gevent,
    2 workers) on a free port; yield its base URL; stop it (SIGTERM, then SIGKILL)."""
    from greencql import Cluster

    with Cluster(sim.contact_points, port=sim.port) as cluster:
        session = cluster.connect()
        for statement in cql_statements((FLASK_EXAMPLE / "schema.cql").read_text()):
            session.execute(statement, timeout=30.0)
    port = free_port()
    app_env = dict(env)
    app_env["PYTHONPATH"] = os.pathsep.join([str(FLASK_PACKAGE.parent), app_env["PYTHONPATH"]])
    app_env["FLASK_GREENCQL_CONTACT_POINTS"] = ",".join(sim.contact_points)
    app_env["FLASK_GREENCQL_PORT"] = str(sim.port)
    command = [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "2",
               "--bind", f"127.0.0.1:{port}", "--chdir", str(FLASK_EXAMPLE), "shortener:app"]
    helptext = subprocess.run([sys.executable, "-m", "gunicorn", "--help"], capture_output=True,
                              text=True, timeout=60).stdout
    if "--no-control-socket" in helptext:  # gunicorn 27: no socket in ~/.gunicorn per run
        command.insert(-1, "--no-control-socket")
    print("serving the example:", " ".join(command[1:]), flush=True)
    process = subprocess.Popen(command, env=app_env)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/links?size=1", process, 60.0)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(15)


def _terminate(signum: int, frame: Any) -> None:
    raise SystemExit(EXIT_ERROR)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    prefix, html = out / args.workload, out / "report.html"
    env = dict(os.environ)
    # the checkout first, so that locust (a child process) loads this greencql
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("GREENCQL_TEST_HUB", None)

    if args.workload == "http":
        missing = http_workload_missing()
        if missing:
            print(f"loadtest http: SKIPPED: {missing}")
            return EXIT_PASS

    # SIGTERM unwinds like Ctrl-C: the simulator, gunicorn and locust are stopped on the way
    signal.signal(signal.SIGTERM, _terminate)
    with contextlib.ExitStack() as stack:
        host = args.host
        if host is None:
            from greencql.testing import SimCluster

            sim = stack.enter_context(SimCluster.spawn_process(args.nodes, port=0, env=env))
            print(f"simulated cluster: {args.nodes} nodes on "
                  f"{','.join(sim.contact_points)}:{sim.port} (pid {sim.process.pid})")
            if args.workload == "http":
                host = stack.enter_context(serve_example(sim, env))
            else:
                host = (f"cql://{','.join(sim.contact_points)}:{sim.port}/loadtest"
                        f"?consistency={args.consistency}")
        command = locust_command(args, host, prefix, html)
        print("running:", " ".join(command[1:]), flush=True)
        try:
            done = subprocess.run(command, env=env, cwd=str(ROOT),
                                  timeout=args.run_seconds + SHUTDOWN_MARGIN)
        except subprocess.TimeoutExpired:
            print(f"locust did not finish within {args.run_seconds + SHUTDOWN_MARGIN:g} s "
                  "(killed)", file=sys.stderr)
            return EXIT_ERROR
    try:
        summary = read_summary(prefix)
    except (OSError, KeyError, TypeError, ValueError) as exc:
        print(f"no usable statistics in {prefix}.json ({exc!r}); locust exited "
              f"{done.returncode}", file=sys.stderr)
        return EXIT_ERROR
    print_summary(summary)
    print(f"\nreport: {html}  csv: {prefix}_stats.csv, {prefix}_failures.csv  json: {prefix}.json")
    problems = verdict(summary, done.returncode, args.max_p99)
    if problems:
        print("LOADTEST FAILED: " + "; ".join(problems))
        return EXIT_FAIL
    print(f"LOADTEST PASSED: {summary.total.requests} requests, 0 failed, "
          f"p99 {summary.total.p99:g} ms "
          f"<= {args.max_p99:g} ms")
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
