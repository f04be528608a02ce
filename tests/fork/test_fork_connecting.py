"""A green program forks while another greenlet is in the middle of a connection's handshake.

gevent and eventlet copy every greenlet into the child, also one waiting for the server's
answer to STARTUP on a socket the parent shares. That socket is cut off in the child like a
finished connection's: the child's copy of the handshake never gets a connection (on gevent it
ends at once, reading end of file), and the parent's goes on, untouched. The server here
accepts and reads but never answers.

Green hubs only: on the thread hub the connecting thread does not exist in the child.
"""

from __future__ import annotations

import os

import pytest
from conftest import TEST_HUB, run_forked

from greencql.errors import ConnectionException
from greencql.pool.connection import Connection
from greencql.pool.options import ConnectionOptions

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork"),
    pytest.mark.skipif(TEST_HUB == "thread", reason="threads do not survive a fork"),
]

CONNECT_TIMEOUT = 30.0  # never reached: both copies of the attempt end long before
WAIT = 10.0


def test_a_handshake_in_progress_is_cut_off_in_the_child_only(hub):
    srv = hub.listen_tcp("127.0.0.1", 0)
    port = srv.getsockname()[1]
    box: dict = {}

    def attempt() -> None:
        try:
            box["conn"] = Connection.connect(
                hub, "127.0.0.1", port, ConnectionOptions(connect_timeout=CONNECT_TIMEOUT)
            )
        except ConnectionException as exc:
            box["error"] = exc

    task = hub.spawn(attempt)
    peer, _ = srv.accept()
    try:
        peer.settimeout(WAIT)
        assert peer.recv(9)  # the client's first handshake request: it now waits for us

        def child() -> int:
            if TEST_HUB == "eventlet":
                # eventlet's poller is the parent's (shared by the fork): the copy is only
                # woken by activity on the parent's socket, and then reads end of file
                task.join(1.0)
                return 0 if "conn" not in box else 3
            if not task.join(WAIT):
                return 2  # still reading the parent's socket
            error = box.get("error")
            return 0 if error is not None and "conn" not in box else 3

        assert run_forked(child, timeout=30) == 0
        # the parent's attempt was not disturbed: still waiting, its socket still open
        assert not task.ready()
        peer.sendall(b"")  # the parent's socket is still connected
    finally:
        task.kill()
        peer.close()
        srv.close()
