"""streams.py: stream id reuse rules (never hand out an id in use or orphaned, never release
twice)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greencql.protocol.streams import MAX_STREAM_IDS, StreamIdAllocator


def test_ids_start_at_zero_and_are_distinct():
    alloc = StreamIdAllocator()
    ids = [alloc.acquire() for _ in range(100)]
    assert ids == list(range(100))
    assert alloc.in_flight == 100
    assert len(alloc) == 100


def test_exhaustion_returns_none_and_release_makes_room():
    alloc = StreamIdAllocator(max_streams=3)
    assert [alloc.acquire() for _ in range(3)] == [0, 1, 2]
    assert alloc.acquire() is None
    assert alloc.available == 0
    alloc.release(1)
    assert alloc.available == 1
    assert alloc.acquire() == 1
    assert alloc.acquire() is None


def test_released_ids_are_reused_most_recent_first():
    alloc = StreamIdAllocator()
    for _ in range(5):
        alloc.acquire()
    alloc.release(3)
    alloc.release(1)
    assert alloc.acquire() == 1
    assert alloc.acquire() == 3
    assert alloc.acquire() == 5  # then fresh ids


def test_double_release_is_an_error():
    alloc = StreamIdAllocator()
    sid = alloc.acquire()
    alloc.release(sid)
    with pytest.raises(ValueError, match="double release"):
        alloc.release(sid)
    # the free stack holds the id once: two acquires give two different ids
    assert alloc.acquire() != alloc.acquire()


def test_release_of_never_acquired_id_is_an_error():
    alloc = StreamIdAllocator()
    for bad in (0, 5, -1, 40000):
        with pytest.raises(ValueError):
            alloc.release(bad)


def test_orphaned_id_is_never_handed_out_until_its_late_response():
    alloc = StreamIdAllocator(max_streams=2)
    a = alloc.acquire()
    b = alloc.acquire()
    alloc.orphan(a)
    assert alloc.in_flight == 1 and alloc.orphaned == 1
    assert alloc.is_orphaned(a) and not alloc.is_in_flight(a)
    alloc.release(b)
    # only b comes back, as often as we like; a stays reserved
    for _ in range(10):
        got = alloc.acquire()
        assert got == b
        alloc.release(got)
    alloc.acquire()
    assert alloc.acquire() is None
    alloc.release(a)  # the late response arrived
    assert alloc.orphaned == 0
    assert alloc.acquire() == a


def test_orphan_rules():
    alloc = StreamIdAllocator()
    sid = alloc.acquire()
    alloc.orphan(sid)
    with pytest.raises(ValueError, match="already orphaned"):
        alloc.orphan(sid)
    with pytest.raises(ValueError, match="not in flight"):
        alloc.orphan(7)
    alloc.release(sid)
    with pytest.raises(ValueError):
        alloc.release(sid)
    with pytest.raises(ValueError):
        alloc.orphan(sid)


def test_reset_frees_everything_including_orphans():
    alloc = StreamIdAllocator(max_streams=4)
    ids = [alloc.acquire() for _ in range(4)]
    alloc.orphan(ids[0])
    alloc.orphan(ids[2])
    alloc.reset()
    assert alloc.in_flight == 0 and alloc.orphaned == 0 and alloc.available == 4
    assert sorted(alloc.acquire() for _ in range(4)) == [0, 1, 2, 3]


def test_full_range_and_limits():
    alloc = StreamIdAllocator()
    assert alloc.max_streams == MAX_STREAM_IDS == 32768
    ids = [alloc.acquire() for _ in range(MAX_STREAM_IDS)]
    assert ids[-1] == 32767
    assert alloc.acquire() is None
    for bad in (0, -1, 32769):
        with pytest.raises(ValueError):
            StreamIdAllocator(max_streams=bad)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["acquire", "release", "orphan", "late"]), st.integers(0, 50)),
        max_size=200,
    )
)
def test_model_based(ops):
    """Against a plain-set model: ids in use are never handed out, counts always agree."""
    alloc = StreamIdAllocator(max_streams=16)
    in_flight: set[int] = set()
    orphaned: set[int] = set()
    for op, pick in ops:
        if op == "acquire":
            sid = alloc.acquire()
            if len(in_flight) + len(orphaned) == 16:
                assert sid is None
            else:
                assert sid is not None and sid not in in_flight and sid not in orphaned
                in_flight.add(sid)
        elif op == "release" and in_flight:
            sid = sorted(in_flight)[pick % len(in_flight)]
            alloc.release(sid)
            in_flight.discard(sid)
        elif op == "orphan" and in_flight:
            sid = sorted(in_flight)[pick % len(in_flight)]
            alloc.orphan(sid)
            in_flight.discard(sid)
            orphaned.add(sid)
        elif op == "late" and orphaned:
            sid = sorted(orphaned)[pick % len(orphaned)]
            alloc.release(sid)
            orphaned.discard(sid)
        assert alloc.in_flight == len(in_flight)
        assert alloc.orphaned == len(orphaned)
        assert alloc.available == 16 - len(in_flight) - len(orphaned)
