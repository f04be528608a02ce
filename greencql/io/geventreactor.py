"""``cassandra.io.geventreactor`` under greencql's name: ``GeventConnection``
picks the gevent hub.

``Cluster(connection_class=GeventConnection)`` is ``Cluster(hub="gevent")``
(see :mod:`greencql.io`).
"""

from greencql.io import ReactorMarker

__all__ = ["GeventConnection"]


class GeventConnection(ReactorMarker):
    """cassandra-driver's geventreactor connection class, as greencql's ``"gevent"`` hub."""

    hub = "gevent"
