"""The request throttler's decisions, driven by a fake clock (plain floats for ``now``)."""

from __future__ import annotations

import math
import pickle
import random

import pytest

from greencql.cluster.policies import (
    DEFAULT_MAX_QUEUE_SIZE,
    Admission,
    AdmissionStatus,
    RequestThrottled,
    RequestThrottler,
)
from greencql.errors import DriverException

GRANTED, WAIT, REJECTED = AdmissionStatus.GRANTED, AdmissionStatus.WAIT, AdmissionStatus.REJECTED


def test_unlimited_grants_everything_and_counts():
    t = RequestThrottler()
    for _ in range(1000):
        assert t.try_acquire(0.0).status is GRANTED
    assert t.in_flight == 1000
    for _ in range(1000):
        assert t.release() is None
    assert t.in_flight == 0
    with pytest.raises(RuntimeError):
        t.release()
    assert t.max_queue_size == DEFAULT_MAX_QUEUE_SIZE


def test_concurrency_limit_queues_fifo_and_hands_off():
    t = RequestThrottler(max_concurrent_requests=2, max_wait=5.0)
    assert t.try_acquire(0).status is GRANTED
    assert t.try_acquire(0).status is GRANTED
    w1 = t.try_acquire(0.1)
    w2 = t.try_acquire(0.2)
    assert (w1.status, w2.status) == (WAIT, WAIT)
    assert (w1.until, w2.until) == (5.1, 5.2)  # their deadlines: only a release frees them
    assert t.queued == 2
    # asking again before a release changes nothing
    assert t.try_acquire(1.0, w1.ticket).status is WAIT
    # a release names the head of the queue
    assert t.release() is w1.ticket
    # a newcomer does not overtake the queue, even with a free slot
    w3 = t.try_acquire(1.1)
    assert w3.status is WAIT
    # the second in line cannot go before the first
    assert t.try_acquire(1.2, w2.ticket).status is WAIT
    got = t.try_acquire(1.2, w1.ticket)
    assert got.status is GRANTED and got.wake is None  # no slot left for anyone else
    assert t.in_flight == 2 and t.queued == 2
    assert t.release() is w2.ticket
    assert t.try_acquire(2.0, w2.ticket).status is GRANTED
    assert t.release() is w3.ticket
    assert t.try_acquire(2.0, w3.ticket).status is GRANTED
    assert t.release() is None and t.release() is None and t.in_flight == 0


def test_grant_wakes_the_next_waiter_when_slots_remain():
    t = RequestThrottler(max_concurrent_requests=2)
    t.try_acquire(0)
    t.try_acquire(0)
    w1, w2 = t.try_acquire(0), t.try_acquire(0)
    assert w1.until == math.inf  # no max_wait: only the request timeout bounds the wait
    assert t.release() is w1.ticket
    assert t.release() is w1.ticket  # still the head: signalling twice is harmless
    got = t.try_acquire(1, w1.ticket)
    assert got.status is GRANTED and got.wake is w2.ticket
    assert t.try_acquire(1, w2.ticket).status is GRANTED


def test_queue_full_rejects_at_once():
    t = RequestThrottler(max_concurrent_requests=1, max_queue_size=2)
    t.try_acquire(0)
    t.try_acquire(0)
    t.try_acquire(0)
    rejected = t.try_acquire(0)
    assert rejected.status is REJECTED
    assert isinstance(rejected.error, RequestThrottled)
    assert isinstance(rejected.error, DriverException)
    assert rejected.error.reason == "queue full"
    assert t.queued == 2


def test_no_queue_means_no_waiting():
    t = RequestThrottler(max_concurrent_requests=1, max_queue_size=0)
    assert t.try_acquire(0).status is GRANTED
    assert t.try_acquire(0).status is REJECTED
    t.release()
    assert t.try_acquire(0).status is GRANTED


def test_wait_times_out_and_passes_the_turn():
    t = RequestThrottler(max_concurrent_requests=1, max_wait=1.0)
    t.try_acquire(0)
    w1 = t.try_acquire(0)
    w2 = t.try_acquire(0.5)
    out = t.try_acquire(1.0, w1.ticket)
    assert out.status is REJECTED and out.error.reason == "timed out"
    assert out.wake is None  # the slot is still taken: nobody can go
    assert t.queued == 1
    with pytest.raises(ValueError):
        t.try_acquire(1.0, w1.ticket)  # a finished ticket
    assert t.release() is w2.ticket
    assert t.try_acquire(1.2, w2.ticket).status is GRANTED


def test_cancel_removes_a_waiter():
    t = RequestThrottler(max_concurrent_requests=1)
    t.try_acquire(0)
    w1, w2, w3 = (t.try_acquire(0) for _ in range(3))
    assert t.cancel(w2.ticket) is None  # not the head: nobody to wake
    assert t.cancel(w2.ticket) is None  # twice is once
    assert t.queued == 2
    t.release()
    # the head was signalled but is killed before it asks again: the turn passes on
    assert t.cancel(w1.ticket) is w3.ticket
    assert t.try_acquire(1, w3.ticket).status is GRANTED
    assert t.queued == 0


def test_dead_entries_do_not_accumulate():
    t = RequestThrottler(max_concurrent_requests=1, max_queue_size=10)
    t.try_acquire(0)
    head = t.try_acquire(0)
    for _ in range(10_000):
        w = t.try_acquire(0)
        t.cancel(w.ticket)
    assert t.queued == 1
    assert len(t._queue) < 100
    t.release()
    assert t.try_acquire(0, head.ticket).status is GRANTED


def test_rate_limit_token_bucket():
    t = RequestThrottler(max_requests_per_second=10, burst=2)
    assert t.try_acquire(100.0).status is GRANTED
    assert t.try_acquire(100.0).status is GRANTED  # the burst
    w = t.try_acquire(100.0)
    assert w.status is WAIT
    assert w.until == pytest.approx(100.1)  # one token every 0.1s
    assert t.try_acquire(100.05, w.ticket).status is WAIT
    assert t.try_acquire(w.until, w.ticket).status is GRANTED
    # finishing requests does not give tokens back
    t.release()
    t.release()
    t.release()
    w2 = t.try_acquire(100.1)
    assert w2.status is WAIT and w2.until == pytest.approx(100.2)
    # after a long idle the bucket holds only the burst
    t.cancel(w2.ticket)
    assert [t.try_acquire(200.0).status for _ in range(3)] == [GRANTED, GRANTED, WAIT]


def test_rate_limit_queue_chains_waiters():
    t = RequestThrottler(max_requests_per_second=4, burst=1)
    assert t.try_acquire(0).status is GRANTED
    w1, w2 = t.try_acquire(0), t.try_acquire(0)
    assert w1.until == pytest.approx(0.25)
    assert w2.until == math.inf  # not the head: it is woken when its turn comes
    got = t.try_acquire(0.25, w1.ticket)
    assert got.status is GRANTED and got.wake is w2.ticket
    again = t.try_acquire(0.25, w2.ticket)
    assert again.status is WAIT and again.until == pytest.approx(0.5)
    assert t.try_acquire(0.5, w2.ticket).status is GRANTED


def test_rate_limit_sustained_throughput_on_a_fake_clock():
    """Simulate a session: 1000 requests arrive at once under 50 req/s; every grant happens
    no earlier than the bucket allows and the queue drains in order."""
    t = RequestThrottler(max_requests_per_second=50, burst=5, max_queue_size=2000)
    now = 0.0
    pending = []
    grants = []
    for i in range(1000):
        a = t.try_acquire(now)
        if a.status is GRANTED:
            grants.append((now, i))
        else:
            pending.append((a, i))
    while pending:
        a, i = pending[0]
        b = t.try_acquire(now, a.ticket)  # the head was woken (by ``wake``) or its time came
        if b.status is GRANTED:
            grants.append((now, i))
            pending.pop(0)
            assert b.wake is (pending[0][0].ticket if pending else None)
        else:
            assert b.status is WAIT and b.until < math.inf  # the head knows when to go
            now = b.until
            pending[0] = (b, i)
    assert [i for _, i in grants] == list(range(1000))
    # 5 at once, then one every 20 ms
    assert grants[4][0] == 0.0
    assert grants[-1][0] == pytest.approx((1000 - 5) / 50)


def test_both_limits():
    t = RequestThrottler(max_concurrent_requests=1, max_requests_per_second=1, burst=1)
    assert t.try_acquire(0).status is GRANTED
    w = t.try_acquire(0)
    assert w.until == math.inf  # waiting for a slot first
    t.release()
    a = t.try_acquire(0.5, w.ticket)
    assert a.status is WAIT and a.until == pytest.approx(1.0)  # now for a token
    assert t.try_acquire(1.0, w.ticket).status is GRANTED


def test_random_walk_never_exceeds_the_limit():
    rng = random.Random(11)
    t = RequestThrottler(max_concurrent_requests=3, max_queue_size=5, max_wait=2.0)
    now = 0.0
    in_flight = 0
    waiting = []
    for _ in range(5000):
        now += rng.random() * 0.2
        r = rng.random()
        if r < 0.4:
            a = t.try_acquire(now)
            if a.status is GRANTED:
                in_flight += 1
            elif a.status is WAIT:
                waiting.append(a.ticket)
        elif r < 0.7 and in_flight:
            in_flight -= 1
            t.release()
        elif waiting:
            ticket = waiting[rng.randrange(len(waiting))]
            a = t.try_acquire(now, ticket)
            if a.status is not WAIT:
                waiting.remove(ticket)
                in_flight += a.status is GRANTED
        assert t.in_flight == in_flight <= 3
        assert t.queued == len(waiting) <= 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_concurrent_requests": 0},
        {"max_requests_per_second": 0},
        {"max_requests_per_second": 5, "burst": 0.5},
        {"max_queue_size": -1},
        {"max_wait": -1},
    ],
)
def test_validation(kwargs):
    with pytest.raises(ValueError):
        RequestThrottler(**kwargs)


def test_error_pickles():
    e = RequestThrottled("throttled", "queue full")
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is RequestThrottled and back.reason == "queue full"
    assert str(back) == "throttled"
    assert Admission(GRANTED).until == math.inf
