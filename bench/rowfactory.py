"""Row factory benchmark: greencql's row factories next to cassandra-driver's, in one run.

Run: ``python bench/rowfactory.py`` (``--quick`` for fewer repetitions). Not a test: it
prints numbers, it asserts nothing about speed.

Measured, in µs per result (one call of the factory on the rows of one result): the named
tuple, dict and tuple factories on results of 1 row and 100 rows of 5 columns (the decoded
rows as the protocol layer hands them: a list of tuples). cassandra-driver's
``named_tuple_factory`` builds a new ``namedtuple`` class for every result; greencql's
builds it once per distinct column names and caches it. Also measured: the ResultSet
around the rows (build, then iterate every row), ours and cassandra-driver's.

cassandra-driver runs as installed (its ``query`` module is compiled by Cython in the
wheel). Each number is the best of several repetitions (time.perf_counter).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings

__all__ = ["main"]

COLUMNS = ("id", "name", "email", "created_at", "score")


def best_of(fn, number: int, repeat: int) -> float:
    """Seconds per call: the best of ``repeat`` runs of ``number`` calls."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def _rows(n: int) -> list[tuple]:
    return [(i, f"user{i}", f"user{i}@example.com", 1_700_000_000 + i, i * 0.5) for i in range(n)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else 7
    scale = 0.2 if args.quick else 1.0

    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from cassandra import cluster as cc
        from cassandra import query as cq

    from greencql.cluster import rowfactories as rf
    from greencql.cluster.results import Page, ResultSet

    class CassFuture:  # what cassandra-driver's ResultSet reads from its response future
        _col_names = list(COLUMNS)
        _col_types = None
        _continuous_paging_session = None
        has_more_pages = False

    names_list = list(COLUMNS)
    print(f"python {sys.version.split()[0]}; {len(COLUMNS)} columns; µs per result (best of "
          f"{repeat})")
    print(f"{'factory':<14}{'rows':>6}{'cassandra-driver':>18}{'greencql':>12}{'speed-up':>10}")
    for n in (1, 100):
        rows = _rows(n)
        number = int((20000 if n == 1 else 2000) * scale)
        pairs = [
            ("named_tuple", cq.named_tuple_factory, rf.named_tuple_factory),
            ("dict", cq.dict_factory, rf.dict_factory),
            ("tuple", cq.tuple_factory, rf.tuple_factory),
        ]
        for label, theirs, ours in pairs:
            assert [tuple(r) for r in theirs(names_list, rows)] == [
                tuple(r) for r in ours(COLUMNS, rows)
            ] or label == "dict"
            t_theirs = best_of(lambda f=theirs, r=rows: f(names_list, r), number, repeat) * 1e6
            t_ours = best_of(lambda f=ours, r=rows: f(COLUMNS, r), number, repeat) * 1e6
            print(f"{label:<14}{n:>6}{t_theirs:>18.2f}{t_ours:>12.2f}{t_theirs / t_ours:>9.1f}x")

        # The whole result object: named tuples made, ResultSet built, every row iterated.
        def theirs_rs(rows=rows):
            rs = cc.ResultSet(CassFuture(), cq.named_tuple_factory(names_list, rows))
            for _ in rs:
                pass

        def ours_rs(rows=rows):
            rs = ResultSet(Page(rf.named_tuple_factory(COLUMNS, rows), None, COLUMNS))
            for _ in rs:
                pass

        t_theirs = best_of(theirs_rs, number, repeat) * 1e6
        t_ours = best_of(ours_rs, number, repeat) * 1e6
        label = "+ResultSet"
        print(f"{label:<14}{n:>6}{t_theirs:>18.2f}{t_ours:>12.2f}{t_theirs / t_ours:>9.1f}x")


if __name__ == "__main__":
    main()
