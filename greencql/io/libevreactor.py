"""``cassandra.io.libevreactor`` under greencql's name: ``LibevConnection``
picks the thread hub.

``Cluster(connection_class=LibevConnection)`` is ``Cluster(hub="thread")``
(see :mod:`greencql.io`).
"""

from greencql.io import ReactorMarker

__all__ = ["LibevConnection"]


class LibevConnection(ReactorMarker):
    """cassandra-driver's libevreactor connection class, as greencql's ``"thread"`` hub."""

    hub = "thread"
