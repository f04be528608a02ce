"""The values an application compares: greencql's defaults are cassandra-driver's.

Against the simulated node over real sockets; in the thread-hub process cassandra-driver
reads the same rows in the same test and every value is compared with its value and type.
``value_types="modern"`` gives greencql's own representation instead.
"""

from __future__ import annotations

import datetime
import ipaddress
import uuid

import pytest
from compat_fixtures import *  # noqa: F403 (the fixtures)

from greencql import Cluster, DriverException
from greencql.util import Date, OrderedMapSerializedKey, SortedSet, Time

TS = datetime.datetime(2020, 1, 2, 3, 4, 5, 678000)

COLUMNS = (
    ("ts", "timestamp", TS),
    ("ip4", "inet", "10.1.2.3"),
    ("ip6", "inet", "2001:db8::1"),
    ("d", "date", Date("2020-01-02")),
    ("t", "time", Time("13:14:15.000000123")),
    ("s", "set<int>", {3, 1, 2}),
    ("sl", "set<frozen<list<int>>>", [[2, 1], [1, 2]]),
    ("m", "map<text, int>", {"b": 1, "a": 2}),
    ("mm", "map<frozen<map<int, int>>, text>", None),  # bound below (a dict key)
    ("lt", "list<timestamp>", [TS, datetime.datetime(1999, 12, 31)]),
    ("tu", "tuple<int, text, int>", (1,)),  # short: padded with nulls when bound
)


@pytest.fixture(scope="module")
def table(session):
    cols = ", ".join(f"{n} {t}" for n, t, _ in COLUMNS)
    session.execute(f"CREATE TABLE IF NOT EXISTS vals (k int PRIMARY KEY, {cols})")
    names = [n for n, _, _ in COLUMNS]
    insert = session.prepare(
        f"INSERT INTO vals (k, {', '.join(names)}) VALUES ({', '.join(['?'] * (len(names) + 1))})"
    )
    values = [v for _, _, v in COLUMNS]
    values[names.index("mm")] = OrderedMapSerializedKey_of({1: 2}, "x")
    session.execute(insert, [1, *values])
    return names


def OrderedMapSerializedKey_of(key: dict, value: str):
    """A map keyed by a dict, which a plain dict cannot hold."""
    from greencql.util import OrderedMap

    return OrderedMap([(key, value)])


def _check_driver_values(row) -> None:
    """What cassandra-driver returns for the row written by ``table`` (checked against
    cassandra-driver itself in the thread process)."""
    assert row.ts == TS and row.ts.tzinfo is None  # naive UTC
    assert row.ip4 == "10.1.2.3" and type(row.ip4) is str
    assert row.ip6 == "2001:db8::1"
    assert type(row.d).__name__ == "Date" and row.d == Date(datetime.date(2020, 1, 2))
    assert str(row.d) == "2020-01-02" and row.d.date() == datetime.date(2020, 1, 2)
    assert type(row.t).__name__ == "Time" and row.t.nanosecond_time == 47655000000123
    assert type(row.s).__name__ == "SortedSet" and row.s == {1, 2, 3} and list(row.s) == [1, 2, 3]
    assert row.sl == [[1, 2], [2, 1]] and [1, 2] in row.sl  # unhashable members
    assert type(row.m).__name__ == "OrderedMapSerializedKey"
    assert row.m == {"a": 2, "b": 1} and row.m["a"] == 2 and list(row.m) == ["a", "b"]
    assert row.mm[{1: 2}] == "x"  # an unhashable key
    assert row.lt == [TS, datetime.datetime(1999, 12, 31)]
    assert row.tu == (1, None, None)


def test_default_values_are_cassandra_drivers(session, table, oracle):
    ours = session.execute("SELECT * FROM vals WHERE k = 1").one()
    _check_driver_values(ours)
    prepared = session.execute(session.prepare("SELECT * FROM vals WHERE k = ?"), [1]).one()
    assert tuple(prepared) == tuple(ours)
    if oracle is None:
        return
    theirs = oracle.execute("SELECT * FROM vals WHERE k = 1").one()
    _check_driver_values(theirs)
    for name in table:
        a, b = getattr(ours, name), getattr(theirs, name)
        assert a == b, name
        assert type(a).__name__ == type(b).__name__, name
        assert repr(a) == repr(b), name
        assert str(a) == str(b), name


def test_cassandra_driver_values_bind_back(session, table, oracle):
    """Values read (ours, and in the thread process cassandra-driver's own objects) can be
    written again unchanged."""
    row = session.execute("SELECT * FROM vals WHERE k = 1").one()
    insert = session.prepare(
        f"INSERT INTO vals (k, {', '.join(table)}) VALUES ({', '.join(['?'] * (len(table) + 1))})"
    )
    session.execute(insert, [2, *[getattr(row, n) for n in table]])
    _check_driver_values(session.execute("SELECT * FROM vals WHERE k = 2").one())
    if oracle is not None:
        theirs = oracle.execute("SELECT * FROM vals WHERE k = 1").one()
        session.execute(insert, [3, *[getattr(theirs, n) for n in table]])
        _check_driver_values(session.execute("SELECT * FROM vals WHERE k = 3").one())


def test_modern_value_types_are_an_option(sim, session, table):
    with Cluster(sim.contact_points, port=sim.port, hub=sim.hub,
                 value_types="modern") as cluster:
        row = cluster.connect("compat").execute("SELECT * FROM vals WHERE k = 1").one()
    assert row.ts == TS.replace(tzinfo=datetime.timezone.utc)
    assert row.ip4 == ipaddress.ip_address("10.1.2.3")
    assert row.d == datetime.date(2020, 1, 2) and type(row.d) is datetime.date
    assert type(row.s) is set and row.s == {1, 2, 3}
    assert type(row.m) is dict and row.m == {"a": 2, "b": 1}
    assert row.sl == {(1, 2), (2, 1)}  # hashable forms inside a set


def test_value_types_is_checked():
    with pytest.raises(ValueError, match="value_types"):
        Cluster(["127.0.0.1"], value_types="new")


def test_out_of_range_timestamp_is_reported_as_cassandra_driver(session, oracle):
    session.execute("CREATE TABLE IF NOT EXISTS far (k int PRIMARY KEY, ts timestamp)")
    session.execute(session.prepare("INSERT INTO far (k, ts) VALUES (?, ?)"), [1, 2**62])
    with pytest.raises(DriverException, match='Failed decoding result column "ts" of type '
                                              "timestamp"):
        session.execute("SELECT * FROM far WHERE k = 1")
    # the connection stays usable (cassandra-driver's is defunct after this)
    assert session.execute("SELECT k FROM far WHERE k = 1").one().k == 1
    if oracle is not None:
        from cassandra import DriverException as TheirDriverException

        with pytest.raises(TheirDriverException, match='Failed decoding result column "ts" of '
                                                       "type timestamp"):
            oracle.execute("SELECT * FROM far WHERE k = 1")


def test_result_set_and_prepared_metadata_shapes(session, table, oracle):
    query = "SELECT k, ts, s, m FROM vals WHERE k = 1"
    rs = session.execute(query)
    assert rs.column_names == ["k", "ts", "s", "m"]
    assert [t.typename for t in rs.column_types] == ["int", "timestamp", "set", "map"]
    assert [t.cassname for t in rs.column_types] == ["Int32Type", "DateType", "SetType",
                                                     "MapType"]
    assert [[s.typename for s in t.subtypes] for t in rs.column_types] == [
        [], [], ["int"], ["varchar", "int"]]
    ps = session.prepare("SELECT k, ts FROM vals WHERE k = ?")
    assert [(c[0], c[1], c[2]) for c in ps.result_metadata] == [
        ("compat", "vals", "k"), ("compat", "vals", "ts")]
    assert [c.type.typename for c in ps.result_metadata] == ["int", "timestamp"]
    lwt = session.prepare("INSERT INTO vals (k) VALUES (?) IF NOT EXISTS")
    assert lwt.result_metadata is None
    if oracle is None:
        return
    theirs = oracle.execute(query)
    assert theirs.column_names == rs.column_names
    assert [t.typename for t in theirs.column_types] == ["int", "timestamp", "set", "map"]
    assert [[s.typename for s in t.subtypes] for t in theirs.column_types] == [
        [], [], ["int"], ["varchar", "int"]]
    assert [t.cassname for t in theirs.column_types] == [t.cassname for t in rs.column_types]
    their_ps = oracle.prepare("SELECT k, ts FROM vals WHERE k = ?")
    assert [tuple(c[:3]) for c in their_ps.result_metadata] == [
        tuple(c[:3]) for c in ps.result_metadata]
    assert oracle.prepare("INSERT INTO vals (k) VALUES (?) IF NOT EXISTS").result_metadata is None


# -- util values, no server ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    datetime.date(2020, 1, 2), datetime.datetime(2020, 1, 2, 23, 59), 18263, "2020-01-02",
])
def test_date_accepts_what_cassandra_drivers_does(value):
    import cassandra.util as theirs

    ours = Date(value)
    assert ours.days_from_epoch == theirs.Date(value).days_from_epoch == 18263
    assert ours == 18263 and ours == datetime.date(2020, 1, 2) and ours == Date(ours)
    assert str(ours) == str(theirs.Date(value)) and repr(ours) == repr(theirs.Date(value))
    assert ours.seconds == theirs.Date(value).seconds


@pytest.mark.parametrize("value", [
    datetime.time(1, 2, 3, 4), 3723000004000, "01:02:03.000004", "1:02:03.000004",
])
def test_time_accepts_what_cassandra_drivers_does(value):
    import cassandra.util as theirs

    ours, t = Time(value), theirs.Time(value)
    assert ours.nanosecond_time == t.nanosecond_time
    assert (ours.hour, ours.minute, ours.second, ours.nanosecond) == (
        t.hour, t.minute, t.second, t.nanosecond)
    assert ours == t.nanosecond_time and ours.time() == t.time()
    assert str(ours) == str(t) and repr(ours) == repr(t)


def test_date_and_time_refuse_garbage_with_clear_errors():
    with pytest.raises(ValueError, match="not a date"):
        Date("yesterday")
    with pytest.raises(TypeError, match="Date"):
        Date(1.5)
    with pytest.raises(ValueError, match="not a time"):
        Time("noon")
    with pytest.raises(ValueError, match="not a time of day"):
        Time("25:00:00")


def test_sorted_set_and_ordered_map_compare_as_cassandra_drivers():
    import cassandra.util as theirs

    ours, t = SortedSet([3, 1, 2]), theirs.SortedSet([3, 1, 2])
    assert ours == t._items and list(ours) == list(t) and repr(ours) == repr(t)
    assert ours == {1, 2, 3} and {1, 2, 3} == ours and ours == [1, 2, 3]
    assert (ours | {4}) == {1, 2, 3, 4} and (ours & {1, 9}) == {1} and (ours - {1}) == {2, 3}
    unhashable = SortedSet([[2], [1]])
    assert [1] in unhashable and list(unhashable) == [[1], [2]]
    m = OrderedMapSerializedKey()
    m._insert({"a": 1}, "x")
    m._insert(1, "y")
    tm = theirs.OrderedMap([({"a": 1}, "x"), (1, "y")])
    assert m[{"a": 1}] == "x" and list(m.items()) == list(tm.items())
    assert str(m) == str(tm)
    assert theirs.OrderedMap([("a", 1)]) == {"a": 1}
    from greencql.util import OrderedMap

    assert OrderedMap([("a", 1)]) == {"a": 1} and {"a": 1} == OrderedMap([("a", 1)])


def test_time_uuid_helpers_match_cassandra_drivers():
    import cassandra.util as theirs

    from greencql import util

    for t in (1.5, 1_600_000_000.123456, datetime.datetime(2021, 5, 6, 7, 8, 9, 123456)):
        assert util.uuid_from_time(t, node=1, clock_seq=2) == theirs.uuid_from_time(
            t, node=1, clock_seq=2)
        assert util.min_uuid_from_time(t) == theirs.min_uuid_from_time(t)
        assert util.max_uuid_from_time(t) == theirs.max_uuid_from_time(t)
    u = uuid.uuid1()
    assert util.unix_time_from_uuid1(u) == theirs.unix_time_from_uuid1(u)
    assert util.datetime_from_uuid1(u) == theirs.datetime_from_uuid1(u)
    assert util.datetime_from_timestamp(1.5) == theirs.datetime_from_timestamp(1.5)
    assert util.utc_datetime_from_ms_timestamp(1500) == theirs.utc_datetime_from_ms_timestamp(
        1500)
    dt = datetime.datetime(2021, 5, 6, 7, 8, 9, 123456)
    assert util.ms_timestamp_from_datetime(dt) == theirs.ms_timestamp_from_datetime(dt)
    assert util.Version("4.0.13") > util.Version("4.0.0-beta1")
    assert str(util.Version("4.0.13-SNAPSHOT")) == str(theirs.Version("4.0.13-SNAPSHOT"))
    assert repr(util.Version("3.11")) == repr(theirs.Version("3.11"))


@pytest.mark.parametrize("parts", [(1, 2, 3), (0, 0, 0), (-1, -2, -3), (14, 0, 10**9)])
def test_duration_text_and_equality_match_cassandra_drivers(parts):
    import cassandra.util as theirs

    from greencql.util import Duration

    ours, t = Duration(*parts), theirs.Duration(*parts)
    assert str(ours) == str(t) and repr(ours) == repr(t) and ours == t
