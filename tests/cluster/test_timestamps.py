"""greencql.cluster.timestamps: monotonic client timestamps, with a fake clock (no sleeping)."""

from __future__ import annotations

import logging
import threading
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greencql.cluster.timestamps import MonotonicTimestampGenerator, wall_clock_micros


class _FakeClock:
    """A clock the test moves by hand (microseconds)."""

    def __init__(self, now: int = 1_700_000_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def _warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "greencql.cluster" and r.levelno == logging.WARNING
    ]


def test_follows_the_clock_when_it_moves():
    clock = _FakeClock(1000)
    gen = MonotonicTimestampGenerator(clock=clock)
    assert gen() == 1000
    clock.now = 1500
    assert gen() == 1500
    assert gen.last == 1500


def test_strictly_increasing_when_called_faster_than_the_clock():
    clock = _FakeClock(5000)
    gen = MonotonicTimestampGenerator(clock=clock)
    assert [gen() for _ in range(5)] == [5000, 5001, 5002, 5003, 5004]
    clock.now = 5002  # the clock caught up partly: still ahead of it
    assert gen() == 5005
    clock.now = 9000
    assert gen() == 9000


def test_clock_stepped_backwards_never_goes_backwards(caplog):
    clock = _FakeClock(10_000_000)
    gen = MonotonicTimestampGenerator(clock=clock)
    assert gen() == 10_000_000
    clock.now = 5_000_000  # NTP stepped the clock back by 5 s
    with caplog.at_level(logging.WARNING, logger="greencql.cluster"):
        assert gen() == 10_000_001
    (record,) = _warnings(caplog)
    assert "skew" in record.getMessage()
    assert "5000001" in record.getMessage()  # the drift, in microseconds


def test_small_drift_does_not_warn(caplog):
    clock = _FakeClock(10_000_000)
    gen = MonotonicTimestampGenerator(clock=clock)
    gen()
    clock.now -= 999_000  # under the 1 s threshold
    with caplog.at_level(logging.WARNING, logger="greencql.cluster"):
        gen()
        gen()
    assert _warnings(caplog) == []


def test_warnings_are_rate_limited(caplog):
    clock = _FakeClock(100_000_000)
    gen = MonotonicTimestampGenerator(clock=clock, warning_threshold=1, warning_interval=2)
    gen()
    clock.now = 50_000_000
    with caplog.at_level(logging.WARNING, logger="greencql.cluster"):
        for _ in range(100):
            gen()
        assert len(_warnings(caplog)) == 1
        clock.now += 1_999_999  # still inside the interval
        gen()
        assert len(_warnings(caplog)) == 1
        clock.now += 1  # the interval has passed, still far behind: warn again
        gen()
        assert len(_warnings(caplog)) == 2


def test_warn_on_drift_false_is_silent(caplog):
    clock = _FakeClock(100_000_000)
    gen = MonotonicTimestampGenerator(clock=clock, warn_on_drift=False)
    gen()
    clock.now = 0
    with caplog.at_level(logging.WARNING, logger="greencql.cluster"):
        assert gen() == 100_000_001
    assert _warnings(caplog) == []


def test_rejects_negative_settings():
    with pytest.raises(ValueError):
        MonotonicTimestampGenerator(warning_threshold=-1)
    with pytest.raises(ValueError):
        MonotonicTimestampGenerator(warning_interval=-0.5)


def test_default_clock_is_wall_clock_microseconds():
    import time

    before = time.time_ns() // 1000
    value = MonotonicTimestampGenerator()()
    after = time.time_ns() // 1000
    assert before <= value <= after + 1
    assert isinstance(wall_clock_micros(), int)


def test_real_clock_strictly_increasing_in_a_burst():
    gen = MonotonicTimestampGenerator()
    values = [gen() for _ in range(10_000)]
    assert all(b > a for a, b in pairwise(values))


@given(st.lists(st.integers(min_value=1, max_value=2**62), min_size=1, max_size=200))
def test_any_clock_sequence_gives_strictly_increasing_values(readings):
    it = iter(readings)
    gen = MonotonicTimestampGenerator(clock=lambda: next(it), warn_on_drift=False)
    values = [gen() for _ in readings]
    assert all(b > a for a, b in pairwise(values))
    assert all(v >= r for v, r in zip(values, readings, strict=True))
    # never ahead of the clock unless it had to be
    assert values[0] == readings[0]


def test_shared_between_threads_gives_unique_values():
    # The thread hub shares one session (and one generator) between OS threads.
    clock = _FakeClock(1)  # a stuck clock: every value comes from the increment path
    gen = MonotonicTimestampGenerator(clock=clock, warn_on_drift=False)
    results: list[list[int]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def work(out: list[int]) -> None:
        start.wait(timeout=10)
        for _ in range(2000):
            out.append(gen())

    threads = [threading.Thread(target=work, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    values = [v for r in results for v in r]
    assert len(values) == 16_000
    assert len(set(values)) == 16_000
    for r in results:  # each caller sees its own calls in increasing order
        assert all(b > a for a, b in pairwise(r))
