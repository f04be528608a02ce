"""%s / %(name)s literal rendering, fuzzed end to end: render, send, read back, compare.

Random values of every CQL type (strings with quotes, backslashes, NUL, unicode and 10,000
characters; blobs; extreme numbers, NaN and infinities; dates, times, timestamps, UUIDs,
inets; lists, sets, maps, tuples and frozen nested collections) are written with an
un-prepared INSERT whose parameters the driver renders as CQL literals, sent to the simulated
cluster (which parses the CQL text), and read back through a prepared SELECT (binary values,
no literal involved). The row must hold exactly the intended values, and nothing else may
have happened: the table keeps one row per written key and its other columns untouched (a
value that escaped its literal would have written or changed something else).
"""

from __future__ import annotations

import datetime
import ipaddress
import math
import struct
import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greencql import Cluster
from greencql.testing import SimCluster

KS = "fuzzlit"

COLUMNS = {
    "t": "text", "a": "ascii", "b": "blob", "bi": "bigint", "i": "int", "si": "smallint",
    "ti": "tinyint", "vi": "varint", "d": "decimal", "dbl": "double", "f": "float",
    "bo": "boolean", "u": "uuid", "tu": "timeuuid", "ts": "timestamp", "dt": "date",
    "tm": "time", "ip": "inet", "l": "list<text>", "s": "set<int>", "m": "map<text, text>",
    "tup": "tuple<int, text, blob>", "nest": "frozen<list<frozen<map<text, frozen<set<int>>>>>>",
}

# -- strategies: one per column -------------------------------------------------------------

_nasty = st.sampled_from(["'", "''", "\\", "\\'", "';", "'); DROP TABLE t; --", "$$", "\x00",
                          "%s", "%(x)s", "{", "}", "[", "]", ":", ",", "\n", "\u2028",
                          "\U0001f600", "é", "/*", "*/", "--"])
texts = st.one_of(
    st.text(max_size=40),
    st.lists(st.one_of(_nasty, st.text(max_size=3)), max_size=12).map("".join),
    st.integers(5000, 10_000).map(lambda n: ("a'\\\x00é" * n)[:n]),
)
asciis = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=40)


def _i(bits: int) -> st.SearchStrategy[int]:
    return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


floats32 = st.floats(width=32, allow_nan=True, allow_infinity=True)
timestamps = st.datetimes(datetime.datetime(1, 1, 1), datetime.datetime(9999, 12, 31),
                          timezones=st.just(datetime.timezone.utc)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
inets = st.one_of(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address),
                  st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address))

STRATEGIES = {
    "t": texts, "a": asciis, "b": st.binary(max_size=64), "bi": _i(64), "i": _i(32),
    "si": _i(16), "ti": _i(8), "vi": st.integers(-(2**200), 2**200),
    "d": st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: abs(d.adjusted()) < 1000),
    "dbl": st.floats(allow_nan=True, allow_infinity=True), "f": floats32,
    "bo": st.booleans(), "u": st.uuids(), "tu": st.uuids(version=1), "ts": timestamps,
    "dt": st.dates(), "tm": st.times(), "ip": inets,
    "l": st.lists(texts, min_size=1, max_size=5),
    "s": st.sets(_i(32), min_size=1, max_size=5),
    "m": st.dictionaries(texts, texts, min_size=1, max_size=4),
    "tup": st.tuples(_i(32), texts, st.binary(max_size=8)),
    "nest": st.lists(st.dictionaries(texts, st.frozensets(_i(32), min_size=1, max_size=3),
                                     min_size=1, max_size=2), min_size=1, max_size=3),
}


def _same(col: str, want, got) -> bool:
    if col in ("dbl", "f"):
        if col == "f":
            want = struct.unpack(">f", struct.pack(">f", want))[0]
        return (math.isnan(want) and math.isnan(got)) or want == got
    if col == "d":
        return Decimal(want) == got
    if col == "b":
        return bytes(want) == got
    if col == "ts":
        return got == want or got.replace(tzinfo=datetime.timezone.utc) == want
    if col == "dt":
        return got == want or getattr(got, "date", lambda: got)() == want
    if col == "tm":
        return got == want or getattr(got, "time", lambda: got)() == want
    if col == "s":
        return set(got) == want
    if col == "tup":
        return tuple(got) == want
    if col == "nest":
        return [{k: set(v) for k, v in m.items()} for m in got] == [
            {k: set(v) for k, v in m.items()} for m in want]
    return want == got


@pytest.fixture(scope="module")
def session(hub):
    with SimCluster(1, port=0, hub=hub) as sim:
        # the modern values (ipaddress, aware datetimes, set, dict) are what the values drawn
        # here are; the driver values (the default) are compared in tests/compat
        cluster = Cluster(sim.contact_points, port=sim.port, hub=hub, value_types="modern")
        s = cluster.connect()
        s.execute(f"CREATE KEYSPACE {KS} WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 1}")
        cols = ", ".join(f"{name} {cql}" for name, cql in COLUMNS.items())
        s.execute(f"CREATE TABLE {KS}.t (k int PRIMARY KEY, {cols}, guard text)")
        s.set_keyspace(KS)
        yield s
        cluster.shutdown()


_keys = iter(range(1, 10**9))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_type_renders_to_exactly_its_value(session, data):
    col = data.draw(st.sampled_from(sorted(COLUMNS)), label="column")
    value = data.draw(STRATEGIES[col], label="value")
    k = next(_keys)
    named = data.draw(st.booleans(), label="named")
    if named:
        session.execute(f"INSERT INTO t (k, {col}, guard) VALUES (%(k)s, %(v)s, %(g)s)",
                        {"k": k, "v": value, "g": "intact"})
    else:
        session.execute(f"INSERT INTO t (k, {col}, guard) VALUES (%s, %s, %s)",
                        (k, value, "intact"))
    select = session.prepare(f"SELECT {col}, guard FROM t WHERE k = ?")
    rows = list(session.execute(select, (k,)))
    assert len(rows) == 1
    got, guard = rows[0]
    assert guard == "intact"
    assert _same(col, value, got), (col, value, got)


def test_injection_attempts_stay_inside_their_literal(session):
    """Strings built to close the literal and append a statement are stored verbatim, and
    the table is exactly as it would be without them."""
    attempts = ["x'); DELETE FROM t WHERE k = 1; --", "x', guard = 'pwned", "\\'); --",
                "'' OR 1=1", "x' , 2) --", "\x00'; DROP KEYSPACE fuzzlit; --", "%s%s%s"]
    session.execute("INSERT INTO t (k, t, guard) VALUES (%s, %s, %s)", (-1, "victim", "ok"))
    for i, text in enumerate(attempts):
        session.execute("INSERT INTO t (k, t, guard) VALUES (%s, %s, %s)", (-100 - i, text, "g"))
        session.execute("UPDATE t SET t = %(v)s WHERE k = %(k)s", {"v": text, "k": -200 - i})
        row = session.execute("SELECT t, guard FROM t WHERE k = %s", (-100 - i,)).one()
        assert row == (text, "g")
        assert session.execute("SELECT t FROM t WHERE k = %s", (-200 - i,)).one()[0] == text
    assert session.execute("SELECT t, guard FROM t WHERE k = %s", (-1,)).one() == ("victim",
                                                                                   "ok")
    assert uuid  # imported for the strategies' types
