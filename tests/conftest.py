"""Root of the test suite: picks the hub of this pytest process, before anything else.

The suite runs once per hub, each in its own process, chosen by ``GREENCQL_TEST_HUB``:

- ``gevent`` (default): ``gevent.monkey.patch_all()`` first thing;
- ``eventlet``: ``eventlet.monkey_patch()`` first thing;
- ``thread``: nothing patched (the plain-threads hub);
- ``none``: only ``tests/protocol`` (hub-free, bytes only) is collected.

With a hub set, ``tests/protocol`` is not collected: it runs once, in the ``none`` process.
The ``hub`` fixture is the greencql hub adapter of this process.
"""

import os

TEST_HUB = os.environ.get("GREENCQL_TEST_HUB", "gevent").strip().lower()

# Patch before any other import (pytest itself has imported little that patching could miss).
if TEST_HUB == "gevent":
    from gevent import monkey

    monkey.patch_all()
elif TEST_HUB == "eventlet":
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
        import eventlet

    eventlet.monkey_patch()
elif TEST_HUB not in ("thread", "none"):
    raise RuntimeError(f"GREENCQL_TEST_HUB={TEST_HUB!r}: expected gevent, eventlet, thread or none")

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

__all__ = ["TEST_HUB", "hub", "import_cassandra_cluster", "run_forked"]

_TESTS = Path(__file__).parent
_HUB_FREE = "protocol"  # the one directory that runs without a hub


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    try:
        top = collection_path.relative_to(_TESTS).parts[0]
    except (ValueError, IndexError):
        return None  # outside tests/, or tests/ itself
    if not (_TESTS / top).is_dir():
        return None  # files at the top of tests/ (this conftest)
    if TEST_HUB == "none":
        return True if top != _HUB_FREE else None
    return True if top == _HUB_FREE else None


def pytest_report_header(config: pytest.Config) -> str:
    if TEST_HUB == "none":
        return "greencql test hub: none (only tests/protocol is collected)"
    return f"greencql test hub: {TEST_HUB} (tests/protocol runs with GREENCQL_TEST_HUB=none)"


@pytest.fixture(scope="session")
def hub():
    """The greencql hub of this process (gevent, eventlet or thread)."""
    if TEST_HUB == "none":
        pytest.skip("hub-free process (GREENCQL_TEST_HUB=none)")
    from greencql.hubs import get_hub

    return get_hub(TEST_HUB)


def import_cassandra_cluster():
    """``cassandra.cluster`` of the oracle (cassandra-driver), without a second hub library.

    ``cassandra.cluster`` imports its eventlet reactor unconditionally, which imports eventlet
    into a gevent (or thread) process; eventlet then hooks ``os.fork`` and warns on every
    subprocess the suite spawns. Outside the eventlet process that reactor is hidden, so the
    import fails inside cassandra-driver's own ``try``, as on a machine without eventlet.
    """
    import sys
    import warnings

    if TEST_HUB != "eventlet" and "cassandra.cluster" not in sys.modules:
        sys.modules.setdefault("cassandra.io.eventletreactor", None)  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        import cassandra.cluster
    return cassandra.cluster


_CHILD_RAISED = 250  # run_forked: the child's function raised instead of returning a code


def run_forked(child: Callable[[], int], timeout: float = 30.0) -> int:
    """Run ``child()`` in a forked child process; return its code (0-255).

    The child writes its code on a socketpair made before the fork and leaves with
    ``os._exit(code)``; an exception in ``child`` gives ``250``. The parent waits on that
    socket (cooperative on every hub, the process being patched), never by polling, then
    reaps the child. Past ``timeout`` the child is killed, reaped, and the test fails.
    """
    import signal
    import socket
    import warnings

    parent_end, child_end = socket.socketpair()
    try:
        with warnings.catch_warnings():
            # eventlet warns (in its own at-fork hook) that fork() is a bad idea
            warnings.filterwarnings("ignore", "Using fork", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: never returns into pytest
            code = _CHILD_RAISED
            try:
                parent_end.close()
                code = int(child()) & 0xFF
            except BaseException:
                code = _CHILD_RAISED
                import traceback

                traceback.print_exc()  # on the shared stderr: the test's report shows it
            finally:
                try:
                    child_end.sendall(bytes([code]))
                finally:
                    os._exit(code)
        child_end.close()
        parent_end.settimeout(timeout)
        try:
            got = parent_end.recv(1)
        except TimeoutError:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail(f"forked child {pid} did not finish within {timeout} s (killed)")
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if not got:
            pytest.fail(f"forked child {pid} exited ({code}) without reporting a code")
        assert got[0] == code, (got[0], code)
        return code
    finally:
        parent_end.close()
        child_end.close()
