"""The hub primitives, on the hub of this process: tasks, events, futures, queues, locks."""

import logging
import queue

import pytest

from greencql.errors import OperationTimedOut
from greencql.hubs import Event, Future, Hub, Lock, Queue, Semaphore, Task

WAIT = 5.0  # generous bound for things that should happen at once; never reached when green


def test_hub_satisfies_protocols(hub):
    assert isinstance(hub, Hub)
    assert hub.name in ("gevent", "eventlet", "thread")
    assert isinstance(hub.event(), Event)
    assert isinstance(hub.future(), Future)
    assert isinstance(hub.queue(), Queue)
    assert isinstance(hub.lock(), Lock)
    assert isinstance(hub.semaphore(2), Semaphore)
    assert isinstance(hub.spawn(lambda: None), Task)


# -- tasks ------------------------------------------------------------------------------------


def test_spawn_runs_and_joins(hub):
    seen = []
    task = hub.spawn(seen.append, 42)
    assert task.join(WAIT)
    assert task.dead and task.ready()
    assert seen == [42]
    assert task.exception is None


def test_spawn_passes_kwargs(hub):
    seen = {}
    task = hub.spawn(seen.update, a=1, b=2)
    assert task.join(WAIT)
    assert seen == {"a": 1, "b": 2}


def test_task_exception_is_logged_and_kept(hub, caplog):
    def boom():
        raise ValueError("boom")

    with caplog.at_level(logging.ERROR, logger="greencql.hubs"):
        task = hub.spawn(boom)
        assert task.join(WAIT)
    assert isinstance(task.exception, ValueError)
    assert any("crashed" in r.getMessage() for r in caplog.records)


def test_join_times_out_on_a_running_task(hub):
    release = hub.event()
    task = hub.spawn(release.wait, WAIT)
    assert task.join(0.02) is False
    assert not task.dead
    release.set()
    assert task.join(WAIT)


def test_kill_a_sleeping_task(hub):
    started = hub.event()
    after = []

    def sleeper():
        started.set()
        hub.sleep(30)
        after.append("woke")  # never: killed while sleeping

    task = hub.spawn(sleeper)
    assert started.wait(WAIT)
    task.kill()
    assert task.join(WAIT)
    assert after == []
    assert task.exception is None


def test_kill_block_waits(hub):
    started = hub.event()

    def sleeper():
        started.set()
        hub.sleep(30)

    task = hub.spawn(sleeper)
    assert started.wait(WAIT)
    task.kill(block=True, timeout=WAIT)
    assert task.dead


def test_kill_before_start_never_runs(hub):
    seen = []
    task = hub.spawn(seen.append, 1)
    task.kill()
    assert task.join(WAIT)
    # a thread may already be running; a greenlet certainly has not started
    if hub.name != "thread":
        assert seen == []


def test_kill_cleanup_sees_a_base_exception(hub):
    started = hub.event()
    cleaned = []

    def worker():
        started.set()
        try:
            hub.sleep(30)
        except BaseException as exc:  # GreenletExit / TaskExit: clean up and re-raise
            cleaned.append(type(exc).__name__)
            raise

    task = hub.spawn(worker)
    assert started.wait(WAIT)
    task.kill()
    assert task.join(WAIT)
    assert cleaned and cleaned[0] in ("GreenletExit", "TaskExit")
    assert task.exception is None


# -- events ---------------------------------------------------------------------------------


def test_event_wait_times_out(hub):
    ev = hub.event()
    assert not ev.is_set()
    assert ev.wait(0.02) is False
    assert ev.wait(0) is False


def test_event_set_wakes_waiters(hub):
    ev = hub.event()
    results = []
    tasks = [hub.spawn(lambda: results.append(ev.wait(WAIT))) for _ in range(3)]
    hub.sleep(0)
    ev.set()
    for task in tasks:
        assert task.join(WAIT)
    assert results == [True, True, True]
    assert ev.is_set() and ev.wait(0)
    ev.clear()
    assert not ev.is_set()
    assert ev.wait(0.01) is False


# -- futures --------------------------------------------------------------------------------


def test_future_result(hub):
    fut = hub.future()
    assert not fut.done()
    assert fut.set_result("v") is True
    assert fut.done()
    assert fut.result() == "v"
    assert fut.result(0) == "v"
    # first outcome wins
    assert fut.set_result("other") is False
    assert fut.set_exception(ValueError()) is False
    assert fut.result() == "v"


def test_future_exception(hub):
    fut = hub.future()
    assert fut.set_exception(KeyError("k")) is True
    with pytest.raises(KeyError):
        fut.result()
    with pytest.raises(KeyError):
        fut.result(1)
    assert fut.set_result(1) is False


def test_future_timeout_raises_operation_timed_out(hub):
    fut = hub.future()
    with pytest.raises(OperationTimedOut) as info:
        fut.result(0.02)
    assert info.value.timeout == 0.02
    with pytest.raises(OperationTimedOut):
        fut.result(0)
    # still usable after a timed-out wait
    fut.set_result(3)
    assert fut.result(0) == 3


def test_future_set_from_another_task_wakes_all_waiters(hub):
    fut = hub.future()
    results = []
    waiters = [hub.spawn(lambda: results.append(fut.result(WAIT))) for _ in range(3)]
    hub.sleep(0)
    setter = hub.spawn(fut.set_result, "done")
    assert setter.join(WAIT)
    for task in waiters:
        assert task.join(WAIT)
    assert results == ["done"] * 3


def test_future_callbacks(hub, caplog):
    fut = hub.future()
    seen = []
    fut.add_done_callback(lambda f: seen.append(("first", f.result(0))))

    def bad(_f):
        raise RuntimeError("callback failure")

    fut.add_done_callback(bad)
    fut.add_done_callback(lambda f: seen.append(("third", f.result(0))))
    with caplog.at_level(logging.ERROR, logger="greencql.hubs"):
        assert fut.set_result(7)
    assert seen == [("first", 7), ("third", 7)]
    assert any("callback" in r.getMessage() for r in caplog.records)
    # after completion: called at once
    fut.add_done_callback(lambda f: seen.append(("late", f.result(0))))
    assert seen[-1] == ("late", 7)


def test_future_does_not_swallow_hub_timeouts(hub):
    """A Timeout of the application's is a BaseException and passes through result()."""
    if hub.name == "gevent":
        import gevent

        fut = hub.future()
        with pytest.raises(gevent.Timeout):
            with gevent.Timeout(0.02):
                fut.result()
    elif hub.name == "eventlet":
        import eventlet

        fut = hub.future()
        with pytest.raises(eventlet.Timeout):
            with eventlet.Timeout(0.02):
                fut.result()
    else:
        pytest.skip("threads have no hub Timeout")
    assert not fut.done()
    fut.set_result(1)
    assert fut.result(0) == 1


# -- queues ---------------------------------------------------------------------------------


def test_queue_fifo_and_empty(hub):
    q = hub.queue()
    for i in range(3):
        q.put(i)
    q.put_nowait(3)
    assert q.qsize() == 4
    assert [q.get(), q.get(0.1), q.get_nowait(), q.get(WAIT)] == [0, 1, 2, 3]
    with pytest.raises(queue.Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get(0.02)


def test_queue_get_wakes_on_put(hub):
    q = hub.queue()
    results = []
    task = hub.spawn(lambda: results.append(q.get(WAIT)))
    hub.sleep(0)
    q.put("x")
    assert task.join(WAIT)
    assert results == ["x"]


def test_queue_drain_and_batch(hub):
    q = hub.queue()
    assert q.drain() == []
    for i in range(5):
        q.put(i)
    assert q.drain() == [0, 1, 2, 3, 4]
    assert q.qsize() == 0
    batches = []
    writer = hub.spawn(lambda: batches.append(q.get_batch(WAIT)))
    hub.sleep(0)
    for i in range(3):
        q.put_nowait(i)
    assert writer.join(WAIT)
    (batch,) = batches
    # green hubs: the writer wakes after all three puts; a thread may wake after the first
    assert batch + q.drain() == [0, 1, 2]
    if hub.name != "thread":
        assert batch == [0, 1, 2]
    with pytest.raises(queue.Empty):
        q.get_batch(0.01)


def test_bounded_queue(hub):
    q = hub.queue(2)
    q.put(1)
    q.put_nowait(2)
    with pytest.raises(queue.Full):
        q.put_nowait(3)
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.02)
    # a blocked putter is let in by drain()
    putter = hub.spawn(q.put, 3, WAIT)
    hub.sleep(0)
    assert q.drain() == [1, 2]
    assert putter.join(WAIT)
    assert q.get_nowait() == 3


# -- locks and semaphores -----------------------------------------------------------------------


def test_lock_bounded_acquire(hub):
    lock = hub.lock()
    assert lock.acquire()
    assert lock.locked()
    results = []
    task = hub.spawn(lambda: results.append(lock.acquire(timeout=0.02)))
    assert task.join(WAIT)
    assert results == [False]
    lock.release()
    assert not lock.locked()
    with lock:
        assert lock.locked()
        assert lock.acquire(blocking=False) is False
    assert not lock.locked()


def test_lock_handoff(hub):
    lock = hub.lock()
    lock.acquire()
    results = []
    task = hub.spawn(lambda: results.append(lock.acquire(timeout=WAIT)))
    hub.sleep(0)
    lock.release()
    assert task.join(WAIT)
    assert results == [True]


def test_semaphore_bounded(hub):
    sem = hub.semaphore(2)
    assert sem.acquire(timeout=0)
    assert sem.acquire(timeout=0.01)
    results = []
    task = hub.spawn(lambda: results.append(sem.acquire(timeout=0.02)))
    assert task.join(WAIT)
    assert results == [False]
    sem.release()
    with sem:
        pass
    sem.release()
    with pytest.raises(ValueError):
        sem.release()


def test_monotonic_and_sleep(hub):
    t0 = hub.monotonic()
    hub.sleep(0)
    hub.sleep(0.01)
    assert hub.monotonic() >= t0 + 0.005


def test_thread_hub_future_race_has_one_winner(hub):
    """Real threads racing to complete one future: exactly one outcome wins, every waiter
    sees it, every callback runs once."""
    if hub.name != "thread":
        pytest.skip("thread hub only")
    import threading

    for _ in range(50):
        fut = hub.future()
        calls = []
        fut.add_done_callback(calls.append)
        wins = []
        go = threading.Event()

        def complete(i, fut=fut, wins=wins, go=go):
            go.wait(WAIT)
            ok = fut.set_result(i) if i % 2 else fut.set_exception(ValueError(i))
            if ok:
                wins.append(i)

        seen = []

        def wait(fut=fut, seen=seen):
            try:
                seen.append(fut.result(WAIT))
            except ValueError as exc:
                seen.append(exc.args[0])

        threads = [threading.Thread(target=complete, args=(i,)) for i in range(4)]
        threads += [threading.Thread(target=wait) for _ in range(3)]
        for t in threads:
            t.start()
        go.set()
        for t in threads:
            t.join(WAIT)
        assert len(wins) == 1
        assert seen == wins * 3
        assert calls == [fut]
