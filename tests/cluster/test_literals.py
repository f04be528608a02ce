"""greencql.cluster.literals: client-side parameter rendering.

Checked against cassandra-driver's ``bind_params(query, params, Encoder())`` (byte for byte on
the common types) and against cqlsh's CQL lexer (an independent tokenizer): a rendered string
value is always exactly one string-literal token that decodes back to the value.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import ipaddress
import warnings
from collections import OrderedDict, namedtuple
from decimal import Decimal

import pytest
from cassandra.encoder import Encoder as DriverEncoder
from cassandra.query import UNSET_VALUE as DRIVER_UNSET
from cassandra.query import ValueSequence as DriverValueSequence
from cassandra.query import bind_params as driver_bind_params
from cassandra.util import Date as DriverDate
from cassandra.util import Duration as DriverDuration
from cassandra.util import Time as DriverTime
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.cluster.literals import (
    Encoder,
    ValueSequence,
    bind_params,
    cql_literal,
    cql_quote,
    cql_quote_identifier,
)
from greencql.protocol import types
from greencql.protocol.wire import UNSET

with warnings.catch_warnings():
    # cqlsh's lexer (the independent tokenizer used below) imports the deprecated sre modules
    warnings.filterwarnings("ignore", r"module 'sre_\w+' is deprecated", DeprecationWarning)
    from cqlshlib.cql3handling import CqlRuleSet

_DRIVER = DriverEncoder()


def _driver(query, params):
    return driver_bind_params(query, params, _DRIVER)


# --------------------------------------------------------------------------------------------
# strategies for the types both drivers render the same way
# --------------------------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.binary(max_size=40),
    st.uuids(),
    # post-1970 and before 2200: cassandra-driver's float arithmetic is exact there
    st.datetimes(
        min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(2200, 1, 1)
    ),
    st.dates(min_value=datetime.date(1000, 1, 1)),
    st.times(),
    st.ip_addresses(),
)

# collection elements must be hashable for sets and map keys
_hashable = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40), st.text(max_size=10), st.uuids()
)

_values = st.one_of(
    _scalars,
    st.lists(_scalars, max_size=5),
    st.frozensets(_hashable, max_size=5),
    st.sets(_hashable, max_size=5),
    st.dictionaries(_hashable, _scalars, max_size=5),
    st.dictionaries(_hashable, st.lists(_hashable, max_size=3), max_size=3),
)


@settings(max_examples=400)
@given(st.lists(_values, max_size=6))
def test_positional_rendering_matches_cassandra_driver(params):
    query = "INSERT INTO t (k) VALUES (" + ", ".join(["%s"] * len(params)) + ") -- 100%%"
    assert bind_params(query, params) == _driver(query, tuple(params))


@settings(max_examples=200)
@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), _values, max_size=5))
def test_named_rendering_matches_cassandra_driver(params):
    query = " AND ".join(f"{name} = %({name})s" for name in params) or "x"
    assert bind_params(query, params) == _driver(query, params)


@pytest.mark.parametrize(
    "value",
    [
        DriverDuration(1, 2, 3),
        DriverDuration(-1, -2, -3),
        DriverDuration(0, 0, 0),
        DriverDate(0),
        DriverDate(-5),
        DriverDate(2**31 - 1),
        DriverTime(0),
        DriverTime(3723_000_000_004),
        datetime.datetime(2020, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc),
        datetime.datetime(
            2020, 1, 2, 3, 4, 5, tzinfo=datetime.timezone(datetime.timedelta(hours=-7))
        ),
        datetime.datetime(1969, 12, 31, 23, 59, 59),  # whole milliseconds: no rounding issue
        datetime.time(23, 59, 59, 999999),
        OrderedDict([(2, "b"), (1, "a")]),
        (x for x in (1, 2, 3)),
        ipaddress.IPv6Address("2001:db8::8a2e:370:7334"),
        float("-0.0"),
        5e-324,
        1.7976931348623157e308,
        b"",
        "",
    ],
    ids=repr,
)
def test_more_types_match_cassandra_driver(value):
    if isinstance(value, type(x for x in ())):
        assert bind_params("%s", (value,)) == "[1, 2, 3]"
        return
    assert bind_params("v = %s", (value,)) == _driver("v = %s", (value,))


@pytest.mark.parametrize("items", [[1, "two", None], [], [[1], {"a": 2}]])
def test_value_sequence_matches_cassandra_driver(items):
    query = "SELECT * FROM t WHERE k IN %s"
    assert bind_params(query, (ValueSequence(items),)) == _driver(
        query, (DriverValueSequence(items),)
    )


# --------------------------------------------------------------------------------------------
# the documented differences
# --------------------------------------------------------------------------------------------


def test_decimal_is_exact():
    d = Decimal("12345678901234567890.123456789")
    assert cql_literal(d) == "12345678901234567890.123456789"
    assert _driver("%s", (d,)) != "12345678901234567890.123456789"  # float loses digits
    assert cql_literal(Decimal("1E+3")) == "1E+3"
    assert cql_literal(Decimal("-0.001")) == "-0.001"
    assert cql_literal(Decimal("NaN")) == "NaN"
    assert cql_literal(Decimal("-Infinity")) == "-Infinity"
    # where float is exact, both agree
    assert cql_literal(Decimal("1.5")) == _driver("%s", (Decimal("1.5"),))


def test_tuple_is_a_tuple_literal():
    assert cql_literal((1, "a", None)) == "(1, 'a', NULL)"
    assert cql_literal(()) == "()"
    assert bind_params("SELECT * FROM t WHERE k IN %s", ((1, 2, 3),)) == (
        "SELECT * FROM t WHERE k IN (1, 2, 3)"
    )
    assert cql_literal([(1, 2), (3, 4)]) == "[(1, 2), (3, 4)]"


def test_udt_literals_from_namedtuples_and_dataclasses():
    Address = namedtuple("Address", "street zip_code Country")
    assert cql_literal(Address("Main St's", 12345, None)) == (
        "{street: 'Main St''s', zip_code: 12345, \"Country\": NULL}"
    )

    @dataclasses.dataclass
    class Point:
        x: float
        y: float
        tags: list

    assert cql_literal(Point(1.5, -2.0, ["a"])) == "{x: 1.5, y: -2.0, tags: ['a']}"
    assert cql_literal([Address("a", 1, "b")]) == "[{street: 'a', zip_code: 1, \"Country\": 'b'}]"


def test_quote_identifier():
    assert cql_quote_identifier("abc_1") == "abc_1"
    assert cql_quote_identifier("Abc") == '"Abc"'
    assert cql_quote_identifier('we"ird') == '"we""ird"'
    assert cql_quote_identifier("1x") == '"1x"'
    assert cql_quote("it's") == "'it''s'"
    assert cql_quote(5) == "5"


def test_pre_epoch_datetime_floors_milliseconds():
    value = datetime.datetime(1969, 12, 31, 23, 59, 59, 999500)
    assert cql_literal(value) == "-1"  # floor(-0.5 ms)
    assert _driver("%s", (value,)) == "0"  # cassandra-driver truncates toward zero


def test_early_years_are_zero_padded():
    assert cql_literal(datetime.date(999, 1, 2)) == "'0999-01-02'"
    assert cql_literal(datetime.date(1, 1, 1)) == "'0001-01-01'"


def test_aware_time_drops_its_offset():
    t = datetime.time(1, 2, 3, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    assert cql_literal(t) == "'01:02:03'"


def test_unset_is_refused():
    for unset in (UNSET,):
        with pytest.raises(ValueError, match="UNSET_VALUE cannot be sent in a simple"):
            bind_params("INSERT INTO t (a) VALUES (%s)", (unset,))
        with pytest.raises(ValueError, match="UNSET_VALUE"):
            cql_literal([1, unset])
    with pytest.raises(TypeError, match="cannot render"):
        cql_literal(DRIVER_UNSET)  # cassandra-driver's own sentinel is not ours


def test_unknown_types_are_refused_not_stringified():
    class Sneaky:
        def __str__(self) -> str:
            return "1; DROP TABLE users"

    with pytest.raises(TypeError, match=r"cannot render a value of type .*Sneaky"):
        bind_params("SELECT %s", (Sneaky(),))
    assert "DROP" in _driver("SELECT %s", (Sneaky(),))  # cassandra-driver passes it through


def test_subclasses_render_from_their_value_not_their_str():
    class Color(enum.IntEnum):
        RED = 1

    class Mood(str, enum.Enum):
        HAPPY = "it's fine"

    class LoudInt(int):
        def __str__(self) -> str:
            return "'; DROP"

    class LoudFloat(float):
        def __repr__(self) -> str:
            return "'; DROP"

    assert cql_literal(Color.RED) == "1"
    assert cql_literal(Mood.HAPPY) == "'it''s fine'"
    assert cql_literal(LoudInt(7)) == "7"
    assert cql_literal(LoudFloat(1.5)) == "1.5"
    assert cql_literal(Decimal("2.5")) == "2.5"


def test_duration_cannot_mix_signs():
    with pytest.raises(ValueError, match="cannot mix signs"):
        cql_literal(DriverDuration(1, -1, 0))


def test_custom_encoder_mapping():
    class Money:
        def __init__(self, cents: int) -> None:
            self.cents = cents

    enc = Encoder()
    enc.mapping[Money] = lambda m: enc.cql_encode_int(m.cents)
    assert bind_params("SELECT %s, %s", (Money(250), [Money(1)]), enc) == "SELECT 250, [1]"
    with pytest.raises(TypeError):
        bind_params("SELECT %s", (Money(250),))  # the default encoder does not know it


# --------------------------------------------------------------------------------------------
# markers and their errors
# --------------------------------------------------------------------------------------------


def test_percent_escaping():
    assert bind_params("SELECT * FROM t WHERE a LIKE 'x%%' AND b = %s", (1,)) == (
        "SELECT * FROM t WHERE a LIKE 'x%' AND b = 1"
    )
    assert bind_params("100%%", ()) == "100%"
    assert bind_params("%(a)s%%%(b)s", {"a": 1, "b": 2}) == "1%2"
    # a rendered value that contains markers is never re-scanned
    assert bind_params("%s %s", ("%s", "%%")) == "'%s' '%%'"


def test_named_markers_repeat_and_ignore_extra_keys():
    query = "UPDATE t SET a = %(v)s WHERE k = %(k)s IF a != %(v)s"
    assert bind_params(query, {"v": "x", "k": 1, "unused": 2}) == (
        "UPDATE t SET a = 'x' WHERE k = 1 IF a != 'x'"
    )


def test_too_few_positional_parameters():
    with pytest.raises(TypeError, match="not enough parameters: the query has 3 %s markers, 2"):
        bind_params("INSERT INTO t (a, b, c) VALUES (%s, %s, %s)", (1, 2))


def test_too_many_positional_parameters():
    with pytest.raises(TypeError, match="too many parameters: the query has 1 %s markers, 2"):
        bind_params("SELECT * FROM t WHERE k = %s", (1, 2))
    with pytest.raises(TypeError, match="too many"):
        bind_params("SELECT now() FROM t", (1,))


def test_missing_name_names_the_marker():
    with pytest.raises(KeyError, match=r"no parameter named 'b' for marker %\(b\)s"):
        bind_params("SELECT %(a)s, %(b)s", {"a": 1})


def test_mixed_or_mismatched_styles():
    with pytest.raises(TypeError, match="positional marker %s"):
        bind_params("SELECT %s", {"a": 1})
    with pytest.raises(TypeError, match=r"named marker %\(a\)s .* a tuple, not a mapping"):
        bind_params("SELECT %(a)s", (1,))


def test_unsupported_markers():
    with pytest.raises(ValueError, match="unsupported parameter marker '%d'"):
        bind_params("SELECT %d", (1,))
    with pytest.raises(ValueError, match="unsupported parameter marker '%'"):
        bind_params("SELECT 5%", (1,))
    with pytest.raises(ValueError, match=r"unsupported parameter marker '%\(a\)d'"):
        bind_params("SELECT %(a)d", {"a": 1})


def test_parameters_must_not_be_a_string():
    with pytest.raises(TypeError, match="not str"):
        bind_params("SELECT %s", "abc")
    with pytest.raises(TypeError, match="not bytes"):
        bind_params("SELECT %s", b"abc")


def test_iterables_of_parameters():
    assert bind_params("%s-%s", iter([1, 2])) == "1-2"
    assert bind_params("%s", [[1, 2]]) == "[1, 2]"


# --------------------------------------------------------------------------------------------
# injection safety, checked with cqlsh's lexer
# --------------------------------------------------------------------------------------------


def _lex(query: str) -> list[tuple[str, str]]:
    return [(kind, text) for kind, text, *_ in CqlRuleSet.lex(query)]


def _unquote(token: str) -> str:
    assert token[0] == "'" and token[-1] == "'"
    return token[1:-1].replace("''", "'")


_QUERY = "SELECT * FROM ks.t WHERE a = %s AND b = 1;"
_EXPECTED = _lex("SELECT * FROM ks.t WHERE a = 'x' AND b = 1;")
_AT = 9  # index of the literal


@settings(max_examples=500)
@given(st.text())
def test_a_string_value_is_one_literal_token(value):
    tokens = _lex(bind_params(_QUERY, (value,)))
    assert len(tokens) == len(_EXPECTED)
    assert tokens[:_AT] == _EXPECTED[:_AT]
    assert tokens[_AT + 1 :] == _EXPECTED[_AT + 1 :]
    kind, text = tokens[_AT]
    assert kind == "quotedStringLiteral"
    assert _unquote(text) == value


@settings(max_examples=200)
@given(st.lists(st.text(max_size=20), min_size=1, max_size=5))
def test_strings_inside_collections_stay_literals(values):
    tokens = _lex(bind_params("UPDATE t SET l = %s WHERE k = 1;", (values,)))
    literals = [text for kind, text in tokens if kind == "quotedStringLiteral"]
    assert [_unquote(t) for t in literals] == values
    assert tokens[-5:] == _lex("WHERE k = 1;")
    # every token between the brackets is a literal or a comma
    inner = tokens[tokens.index(("brackets", "[")) + 1 : tokens.index(("brackets", "]"))]
    assert all(kind == "quotedStringLiteral" or text == "," for kind, text in inner)


@settings(max_examples=200)
@given(st.dictionaries(st.text(max_size=10), st.text(max_size=10), min_size=1, max_size=4))
def test_strings_in_maps_stay_literals(mapping):
    tokens = _lex(bind_params("UPDATE t SET m = %s WHERE k = 1;", (mapping,)))
    literals = [_unquote(text) for kind, text in tokens if kind == "quotedStringLiteral"]
    assert literals == [s for kv in mapping.items() for s in kv]


# min_size=1: cqlsh's lexer wants a hex digit after 0x; Cassandra's takes the empty blob '0x'
@given(st.binary(min_size=1, max_size=64))
def test_blobs_are_one_hex_token(value):
    kind, text = _lex(bind_params("x = %s;", (value,)))[2]
    assert kind == "blobLiteral" and bytes.fromhex(text[2:]) == value


# --------------------------------------------------------------------------------------------
# the protocol layer's value types render like cassandra-driver's equivalents
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (types.Duration(1, 2, 3), DriverDuration(1, 2, 3)),
        (types.Duration(-14, -1, -500), DriverDuration(-14, -1, -500)),
        (types.Duration(), DriverDuration()),
        (types.Date(0), DriverDate(0)),
        (types.Date(-(2**31)), DriverDate(-(2**31))),
        (types.Date(10**6), DriverDate(10**6)),
        (types.Time(0), DriverTime(0)),
        (types.Time(86_399_999_999_999), DriverTime(86_399_999_999_999)),
    ],
    ids=repr,
)
def test_protocol_value_types_match_cassandra_driver(ours, theirs):
    assert cql_literal(ours) == _driver("%s", (theirs,))
    assert cql_literal([ours]) == _driver("%s", ([theirs],))


def test_frozen_map_renders_as_a_map():
    frozen = types.FrozenMap([("a", 1), ("b's", (2,))])
    assert cql_literal(frozen) == "{'a': 1, 'b''s': (2)}"
    assert cql_literal({frozen: 1}) == "{{'a': 1, 'b''s': (2)}: 1}"
