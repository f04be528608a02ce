"""Reconnection schedules (seeded random, no waiting) and speculative execution plans."""

from __future__ import annotations

import itertools
import random

import pytest

from greencql.cluster.host import Host
from greencql.cluster.policies import (
    ConstantReconnectionPolicy,
    ConstantSpeculativeExecutionPolicy,
    ExponentialReconnectionPolicy,
    NoSpeculativeExecutionPolicy,
    ReconnectionPolicy,
    SpeculativeExecutionPolicy,
)

H = Host("10.0.0.1")


def _take(it, n):
    return list(itertools.islice(it, n))


# -- constant --------------------------------------------------------------------------------


def test_constant_forever_by_default():
    p = ConstantReconnectionPolicy(2.5)
    assert _take(p.new_schedule(), 1000) == [2.5] * 1000
    assert p.delay_for(10**6) == 2.5


def test_constant_bounded():
    p = ConstantReconnectionPolicy(1, max_attempts=3)
    assert list(p.new_schedule()) == [1.0, 1.0, 1.0]
    assert list(ConstantReconnectionPolicy(1, max_attempts=0).new_schedule()) == []
    # each schedule is fresh
    assert list(p.new_schedule()) == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("kwargs", [{"delay": -1}, {"delay": 1, "max_attempts": -1}])
def test_constant_validation(kwargs):
    with pytest.raises(ValueError):
        ConstantReconnectionPolicy(**kwargs)


# -- exponential -----------------------------------------------------------------------------


def test_exponential_without_jitter_doubles_to_the_cap():
    p = ExponentialReconnectionPolicy(1.0, 60.0, jitter="none")
    assert _take(p.new_schedule(), 9) == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert p.capped_delay(10_000) == 60  # no overflow after days of attempts
    assert p.delay_for(10**9) == 60


def test_exponential_equal_jitter_keeps_half():
    p = ExponentialReconnectionPolicy(0.5, 30.0, jitter="equal", rng=random.Random(1))
    delays = _take(p.new_schedule(), 200)
    for n, d in enumerate(delays):
        cap = p.capped_delay(n)
        assert cap / 2 <= d <= cap
    assert len(set(delays[10:])) > 100  # actually spread, not constant at the cap
    assert p.jitter == "equal"
    assert ExponentialReconnectionPolicy(1, 2).jitter == "equal"  # the default


def test_exponential_full_jitter_spans_zero_to_cap():
    p = ExponentialReconnectionPolicy(1.0, 8.0, jitter="full", rng=random.Random(2))
    delays = _take(p.new_schedule(), 2000)
    assert all(0 <= d <= p.capped_delay(n) for n, d in enumerate(delays))
    tail = delays[10:]
    assert min(tail) < 1.0 and max(tail) > 7.0


def test_exponential_is_deterministic_with_a_seed():
    def schedule(seed):
        p = ExponentialReconnectionPolicy(0.1, 10, rng=random.Random(seed), max_attempts=50)
        return list(p.new_schedule())

    assert schedule(3) == schedule(3)
    assert schedule(3) != schedule(4)
    assert len(schedule(3)) == 50


def test_exponential_delay_is_a_function_of_the_attempt():
    a = ExponentialReconnectionPolicy(0.2, 5, rng=random.Random(9))
    b = ExponentialReconnectionPolicy(0.2, 5, rng=random.Random(9))
    assert [a.delay_for(n) for n in range(20)] == _take(b.new_schedule(), 20)


def test_exponential_zero_base():
    p = ExponentialReconnectionPolicy(0, 0, max_attempts=3, rng=random.Random(0))
    assert list(p.new_schedule()) == [0, 0, 0]


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((-1, 5), {}),
        ((1, -5), {}),
        ((5, 1), {}),
        ((1, 5), {"max_attempts": -1}),
        ((1, 5), {"jitter": "half"}),
    ],
)
def test_exponential_validation(args, kwargs):
    with pytest.raises(ValueError):
        ExponentialReconnectionPolicy(*args, **kwargs)
    with pytest.raises(ValueError):
        ExponentialReconnectionPolicy(1, 2).capped_delay(-1)


def test_reconnection_protocol():
    assert isinstance(ConstantReconnectionPolicy(1), ReconnectionPolicy)
    assert isinstance(ExponentialReconnectionPolicy(1, 2), ReconnectionPolicy)


# -- speculative execution -----------------------------------------------------------------


def test_no_speculative_execution():
    p = NoSpeculativeExecutionPolicy()
    plan = p.new_plan("ks", None)
    assert [plan.next_execution(H) for _ in range(3)] == [-1, -1, -1]
    assert isinstance(p, SpeculativeExecutionPolicy)


def test_constant_speculative_execution():
    p = ConstantSpeculativeExecutionPolicy(0.05, 2)
    plan = p.new_plan("ks", object())
    assert [plan.next_execution(H) for _ in range(4)] == [0.05, 0.05, -1, -1]
    # a new request gets a new plan
    assert p.new_plan(None, None).next_execution(H) == 0.05
    assert ConstantSpeculativeExecutionPolicy(0.1, 0).new_plan(None, None).next_execution(H) == -1
    assert isinstance(p, SpeculativeExecutionPolicy)


@pytest.mark.parametrize("args", [(-0.1, 1), (0.1, -1)])
def test_constant_speculative_validation(args):
    with pytest.raises(ValueError):
        ConstantSpeculativeExecutionPolicy(*args)
