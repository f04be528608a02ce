"""``cassandra.io.eventletreactor`` under greencql's name: ``EventletConnection``
picks the eventlet hub.

``Cluster(connection_class=EventletConnection)`` is ``Cluster(hub="eventlet")``
(see :mod:`greencql.io`).
"""

from greencql.io import ReactorMarker

__all__ = ["EventletConnection"]


class EventletConnection(ReactorMarker):
    """cassandra-driver's eventletreactor connection class, as greencql's ``"eventlet"`` hub."""

    hub = "eventlet"
