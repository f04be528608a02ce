"""Cross-hub misuse: an object of one thread's hub used from another thread's hub."""

import threading

import pytest

from greencql.errors import HubError

WAIT = 5.0


def _native_thread_tools(hub):
    """(start_new_thread, allocate_lock) of real OS threads, even in a patched process."""
    if hub.name == "gevent":
        from gevent.monkey import get_original

        return get_original("_thread", ["start_new_thread", "allocate_lock"])
    if hub.name == "eventlet":
        from eventlet.patcher import original

        thread = original("_thread")
        return thread.start_new_thread, thread.allocate_lock
    import _thread

    return _thread.start_new_thread, _thread.allocate_lock


def _in_native_thread(hub, fn):
    """Run ``fn`` inside a greenlet of a fresh OS thread's own hub; bounded wait for it."""
    start_new_thread, allocate_lock = _native_thread_tools(hub)
    finished = allocate_lock()
    finished.acquire()
    outcome = []

    def main():
        try:
            task = hub.spawn(lambda: outcome.append(_capture(fn)))
            task.join(WAIT)
            if hub.name == "gevent":
                import gevent

                gevent.get_hub().destroy(destroy_loop=True)
        finally:
            finished.release()

    start_new_thread(main, ())
    # blocks this thread's hub for a moment at most: fine in a test
    assert finished.acquire(True, WAIT), "native thread did not finish"
    assert outcome, "task in the native thread did not run"
    return outcome[0]


def _capture(fn):
    try:
        return ("ok", fn())
    except Exception as exc:
        return ("error", exc)


def test_same_hub_passes(hub):
    token = hub.owner_token()
    hub.check_owner(token)
    task = hub.spawn(hub.check_owner, token)
    assert task.join(WAIT)
    assert task.exception is None


def test_other_threads_hub_raises_hub_error(hub):
    token = hub.owner_token()  # "created" on the main thread's hub
    kind, value = _in_native_thread(hub, lambda: hub.check_owner(token, "Session"))
    if hub.name == "thread":
        assert kind == "ok"  # the thread hub is shared by every thread
    else:
        assert kind == "error"
        assert isinstance(value, HubError)
        assert "Session" in str(value)
        assert hub.name in str(value)


def test_each_native_thread_gets_its_own_wheel(hub):
    if hub.name == "thread":
        pytest.skip("one wheel for all threads on the thread hub")
    mine = hub.timer_wheel()
    kind, theirs = _in_native_thread(hub, hub.timer_wheel)
    assert kind == "ok"
    assert theirs is not mine


def test_thread_hub_objects_are_shared_across_threads(hub):
    if hub.name != "thread":
        pytest.skip("thread hub only")
    fut = hub.future()
    q = hub.queue()
    results = []

    def worker():
        results.append(fut.result(WAIT))
        q.put("from-thread")

    t = threading.Thread(target=worker)
    t.start()
    fut.set_result("from-main")
    assert q.get(WAIT) == "from-thread"
    t.join(WAIT)
    assert results == ["from-main"]
