"""A task's repr is short and safe (the gevent one recursed forever: found by the soak)."""

from __future__ import annotations


def test_task_repr_while_running_and_dead(hub):
    started = hub.event()
    release = hub.event()

    def body() -> None:
        started.set()
        release.wait(5.0)

    task = hub.spawn(body)
    assert started.wait(5.0)
    text = repr(task)
    assert "running" in text and len(text) < 200
    release.set()
    assert task.join(5.0)
    assert "dead" in repr(task)
