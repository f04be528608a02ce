"""``cassandra.io.twistedreactor`` under greencql's name: ``TwistedConnection``
picks the thread hub.

``Cluster(connection_class=TwistedConnection)`` is ``Cluster(hub="thread")``
(see :mod:`greencql.io`).
"""

from greencql.io import ReactorMarker

__all__ = ["TwistedConnection"]


class TwistedConnection(ReactorMarker):
    """cassandra-driver's twistedreactor connection class, as greencql's ``"thread"`` hub."""

    hub = "thread"
