"""bench/run_all.py (``make bench``) turns measurements into its table, its verdicts and its
docs section: the arithmetic and the bookkeeping, on made-up numbers (no timing here: the
benchmark itself runs only under ``make bench``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
CLIENTS = ["greencql", "greencql C", "c-d gevent", "c-d gevent tuple", "c-d libev tuple",
           "floor"]


@pytest.fixture
def run_all(monkeypatch):
    """bench/run_all.py as a module; bench/ leaves sys.path (and its modules sys.modules)
    afterwards, so that its ``session`` or ``connection`` shadow nothing in later tests."""
    monkeypatch.syspath_prepend(str(BENCH))
    before = set(sys.modules)
    import run_all as module

    yield module
    for name in set(sys.modules) - before:
        if getattr(sys.modules[name], "__file__", "") and \
                Path(sys.modules[name].__file__).parent == BENCH:
            del sys.modules[name]


def _results(cpu: dict[str, float], p50_1: dict[str, float], p99_over_p50: float,
             calls: float, wide: dict[str, float], imports: tuple[float, float],
             idle: float) -> dict:
    point = {}
    for name, us in cpu.items():
        for c in (1, 64, 512):
            p50 = p50_1[name] if c == 1 else 1000.0
            point[(name, c)] = {"cpu_us": us, "rps": 1000.0, "p50_us": p50,
                                "p99_us": p50 * p99_over_p50, "p999_us": p50 * 5, "n": 100}
    return {
        "point": point,
        "wide": {name: {"rows_s": v, "cpu_rows_s": v * 2} for name, v in wide.items()},
        "connects": {name: {"connect_ms": 30.0, "connect_first_ms": 300.0}
                     for name in ("greencql", "greencql C", "c-d gevent", "c-d libev tuple")},
        "imports": {"greencql python": imports[0], "greencql c": imports[0],
                    "cassandra": imports[1]},
        "memory": {impl: {"idle_connection_bytes": idle, "pending_request_bytes": 1000.0}
                   for impl in ("python", "c")},
        "calls": {impl: {"1": {"python_calls": calls, "c_calls": 1.0},
                         "64": {"python_calls": calls, "c_calls": 1.0}}
                  for impl in ("python", "c")},
        "columnar": {"greencql columnar nulls (python)": 12e6,
                     "greencql columnar nulls (c)": 30e6},
    }


def test_every_issue_target_is_judged(run_all):
    # every target met
    results = _results(
        cpu={"greencql": 10.0, "greencql C": 4.0, "c-d gevent": 200.0, "c-d gevent tuple": 150.0,
             "c-d libev tuple": 100.0, "floor": 2.0},
        p50_1={"greencql": 100.0, "greencql C": 100.0, "c-d gevent": 300.0,
               "c-d gevent tuple": 300.0, "c-d libev tuple": 200.0, "floor": 90.0},
        p99_over_p50=2.0, calls=70.0,
        wide={"greencql": 250.0, "greencql C": 500.0, "c-d gevent": 100.0,
              "c-d gevent tuple": 110.0, "c-d libev tuple": 120.0},
        imports=(0.1, 0.6), idle=20000.0)
    verdicts = {target: met for target, _measured, met in run_all._targets(results)}
    assert len(verdicts) == 24
    assert all(verdicts.values()), verdicts
    # the issue's list, one by one
    names = " ".join(verdicts)
    for fragment in ("pure CPU/req ÷ c-d gevent, 64", "pure CPU/req ÷ floor, 512",
                     "C CPU/req ÷ c-d libev tuple, 512", "pure p50 ÷ floor p50",
                     "pure p99 ÷ p50, 64", "pure Python calls/request, 64",
                     "wide page rows/s, pure ÷ c-d gevent >= 2",
                     "wide page rows/s, C ÷ c-d gevent >= 4", "import greencql",
                     "idle connection", "columnar, pure: >= 10M", "columnar, C: >= 10M"):
        assert fragment in names


def test_targets_not_met_and_not_measured(run_all):
    results = _results(
        cpu={"greencql": 80.0, "greencql C": 80.0, "c-d gevent": 300.0, "c-d gevent tuple": 1.0,
             "c-d libev tuple": 200.0, "floor": 4.0},
        p50_1={"greencql": 200.0, "greencql C": 200.0, "c-d gevent": 1.0,
               "c-d gevent tuple": 1.0, "c-d libev tuple": 1.0, "floor": 100.0},
        p99_over_p50=10.0, calls=130.0,
        wide={"greencql": 100.0, "greencql C": 100.0, "c-d gevent": 100.0,
              "c-d gevent tuple": 1.0, "c-d libev tuple": 1.0},
        imports=(0.4, 0.6), idle=160000.0)
    del results["point"][("floor", 64)]  # a cell that did not run
    results["columnar"] = {"greencql columnar nulls (python)": 2e6,
                           "greencql columnar nulls (c)": 9e6}
    judged = run_all._targets(results)
    assert [t for t, _m, met in judged if met is True] == []
    missing = [(t, m) for t, m, met in judged if met is None]
    assert missing == [("pure CPU/req ÷ floor, 64 greenlets <= 8", "not measured"),
                       ("C CPU/req ÷ floor, 64 greenlets <= 4", "not measured")]
    lines = run_all._target_lines(judged)
    assert lines[2].endswith("| 0.267 | not met |")  # 80 / 300
    assert sum(line.endswith("| not measured |") for line in lines) == 2


def test_one_table_row_per_measure_column_per_client(run_all):
    results = _results(
        cpu=dict.fromkeys(CLIENTS, 50.0), p50_1=dict.fromkeys(CLIENTS, 100.0),
        p99_over_p50=2.0, calls=100.0, wide=dict.fromkeys(CLIENTS[:-1], 1000.0),
        imports=(0.2, 0.6), idle=30000.0)
    table = run_all._table(CLIENTS, results)
    assert table[0] == "| measure | " + " | ".join(CLIENTS) + " |"
    rows = {line.split(" | ")[0][2:]: line.strip("|").split(" | ")[1:] for line in table[2:]}
    assert len(rows) == 15 + 2 + 1 + 2 + 1 + 2 + 2
    assert all(len(cells) == len(CLIENTS) for cells in rows.values())
    assert rows["columnar values/s (NumPy, 10% NULL cells)"][:3] == ["12,000,000", "30,000,000", ""]
    assert rows["CPU µs/request, 64 greenlets"][0] == "50.0"
    assert rows["import ms (greencql + Cluster / cassandra.cluster)"][:3] == \
        ["200.0", "200.0", "600.0"]


def test_docs_section_replaced_others_kept(run_all, tmp_path, monkeypatch):
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## Session\n\nkept\n", encoding="utf-8")
    monkeypatch.setattr(run_all, "DOCS", str(docs))
    run_all._write_docs(["first"])
    run_all._write_docs(["second"])
    text = docs.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\n## Session\n\nkept\n")
    assert text.count(run_all.SECTION) == 1
    assert "second" in text and "first" not in text
