"""greencql.hubs: the only package of greencql that imports gevent or eventlet.

Everything above (pool/, cluster/) asks a :class:`Hub` for greenlets, events, futures, queues,
locks, sockets, TLS and timers, and gets one with :func:`get_hub`. Importing this package
imports neither gevent nor eventlet and detects nothing: the adapters load when chosen.
"""

from greencql.hubs.base import (
    DEFAULT_TLS_HANDSHAKE_TIMEOUT,
    Event,
    Future,
    Hub,
    Lock,
    Queue,
    Semaphore,
    Task,
    TaskExit,
    TimerHandle,
    os_lock,
)
from greencql.hubs.detect import ENV_VAR, HUB_NAMES, detect_hub_name, get_hub
from greencql.hubs.timerwheel import DEFAULT_SLOTS, DEFAULT_TICK, TimerWheel, WheelCore, WheelTimer

__all__ = [
    "DEFAULT_SLOTS",
    "DEFAULT_TICK",
    "DEFAULT_TLS_HANDSHAKE_TIMEOUT",
    "ENV_VAR",
    "HUB_NAMES",
    "Event",
    "Future",
    "Hub",
    "Lock",
    "Queue",
    "Semaphore",
    "Task",
    "TaskExit",
    "TimerHandle",
    "TimerWheel",
    "WheelCore",
    "WheelTimer",
    "detect_hub_name",
    "get_hub",
    "os_lock",
]
