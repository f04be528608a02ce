"""``cassandra.io`` under greencql's name: the reactor class names, as hub choices.

cassandra-driver picks its I/O with ``Cluster(connection_class=GeventConnection)`` and the
like. greencql has no reactors: each connection is a reader and a writer greenlet on the hub
of the program (see :mod:`greencql.hubs`). So that ported code keeps working, each reactor
module here offers its class name as a marker, and ``Cluster(connection_class=...)`` turns it
into the matching hub: ``GeventConnection`` -> ``hub="gevent"``, ``EventletConnection`` ->
``"eventlet"``, ``AsyncoreConnection``, ``LibevConnection``, ``AsyncioConnection`` and
``TwistedConnection`` -> ``"thread"`` (OS threads, for programs that are not green). Nothing
here imports gevent or eventlet.
"""

from __future__ import annotations

__all__ = ["ReactorMarker"]


class ReactorMarker:
    """A cassandra-driver reactor class name; ``hub`` is the greencql hub it stands for.
    Not instantiable: greencql's connections are not reactor subclasses."""

    hub: str = "thread"

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError(
            f"{type(self).__name__} only names a hub in greencql; pass it as "
            "Cluster(connection_class=...) or use Cluster(hub=...)"
        )
