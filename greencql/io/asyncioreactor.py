"""``cassandra.io.asyncioreactor`` under greencql's name: ``AsyncioConnection``
picks the thread hub.

``Cluster(connection_class=AsyncioConnection)`` is ``Cluster(hub="thread")``
(see :mod:`greencql.io`).
"""

from greencql.io import ReactorMarker

__all__ = ["AsyncioConnection"]


class AsyncioConnection(ReactorMarker):
    """cassandra-driver's asyncioreactor connection class, as greencql's ``"thread"`` hub."""

    hub = "thread"
