"""Choosing the hub: explicitly, by the implementation switch, or by what the program patched.

:func:`get_hub` owns the choice. Order: an explicit ``name`` wins; else the environment
variable ``GREENCQL_HUB`` (an implementation switch, like psycopg's ``PSYCOPG_IMPL``); else
detection: ``gevent`` if the program monkey-patched ``socket`` with gevent, ``eventlet`` if with
eventlet, ``thread`` otherwise.

Detection only looks at ``sys.modules`` and at what ``socket.socket`` currently is. It never
imports gevent or eventlet to find out (importing one is not free, and eventlet warns on import),
and it runs when asked (at Cluster creation / connect time), never when greencql is imported:
gunicorn's ``--preload`` imports the application before the worker patches.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from greencql.errors import HubError
from greencql.hubs.base import Hub

__all__ = ["ENV_VAR", "HUB_NAMES", "detect_hub_name", "get_hub"]

#: the environment variable that forces a hub (gevent, eventlet or thread)
ENV_VAR = "GREENCQL_HUB"

HUB_NAMES = ("gevent", "eventlet", "thread")

_hubs: dict[str, Hub] = {}
_lock = threading.Lock()


def detect_hub_name() -> str:
    """The hub the running program is built for, judged by what it has patched."""
    socket_module = sys.modules.get("socket")
    socket_class: Any = getattr(socket_module, "socket", None)
    origin = getattr(socket_class, "__module__", "") or ""
    if origin.startswith("gevent"):
        return "gevent"
    if origin.startswith("eventlet"):
        return "eventlet"
    # Belt and braces: the patchers' own records, if they are loaded at all.
    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("socket"):
        return "gevent"
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None and patcher.is_monkey_patched("socket"):
        return "eventlet"
    return "thread"


def get_hub(name: str | None = None) -> Hub:
    """The hub adapter to use: ``name`` if given, else ``$GREENCQL_HUB``, else detection.

    Adapters are created once per name and shared; they are stateless across threads (what
    belongs to one thread's loop is looked up on use). Raises ``HubError`` for an unknown name
    or a hub library that is not installed.
    """
    if name is None:
        name = os.environ.get(ENV_VAR) or detect_hub_name()
    name = name.strip().lower()
    hub = _hubs.get(name)
    if hub is not None:
        return hub
    if name not in HUB_NAMES:
        raise HubError(f"unknown hub {name!r}; expected one of {', '.join(HUB_NAMES)}")
    with _lock:
        hub = _hubs.get(name)
        if hub is None:
            hub = _hubs[name] = _create(name)
    return hub


def _create(name: str) -> Hub:
    try:
        if name == "gevent":
            from greencql.hubs._gevent import GeventHub

            return GeventHub()
        if name == "eventlet":
            from greencql.hubs._eventlet import EventletHub

            return EventletHub()
    except ImportError as exc:
        raise HubError(f"the {name} hub needs {name} installed: {exc}") from exc
    from greencql.hubs._threads import ThreadHub

    return ThreadHub()
