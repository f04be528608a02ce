"""``cassandra.io.asyncorereactor`` under greencql's name: ``AsyncoreConnection``
picks the thread hub.

``Cluster(connection_class=AsyncoreConnection)`` is ``Cluster(hub="thread")``
(see :mod:`greencql.io`).
"""

from greencql.io import ReactorMarker

__all__ = ["AsyncoreConnection"]


class AsyncoreConnection(ReactorMarker):
    """cassandra-driver's asyncorereactor connection class, as greencql's ``"thread"`` hub."""

    hub = "thread"
