"""cassandra-driver's reactor choice, ported: ``Cluster(connection_class=GeventConnection)``
picks greencql's gevent hub (and so on), and ``executor_threads`` is accepted."""

from __future__ import annotations

import pytest
from compat_fixtures import *  # noqa: F403 (the fixtures)
from conftest import TEST_HUB

from greencql import Cluster
from greencql.io.asyncorereactor import AsyncoreConnection
from greencql.io.eventletreactor import EventletConnection
from greencql.io.geventreactor import GeventConnection
from greencql.io.libevreactor import LibevConnection

MARKER = {"gevent": GeventConnection, "eventlet": EventletConnection,
          "thread": LibevConnection}


def test_connection_class_picks_the_hub(sim):
    marker = MARKER[TEST_HUB]
    with Cluster(sim.contact_points, port=sim.port, connection_class=marker,
                 executor_threads=4) as cluster:
        session = cluster.connect()
        assert session.execute("SELECT release_version FROM system.local").one()
        assert cluster.hub.name == TEST_HUB
        assert cluster.connection_class is marker and cluster.executor_threads == 4


def test_reactor_names_are_markers_only():
    assert AsyncoreConnection.hub == "thread" and GeventConnection.hub == "gevent"
    with pytest.raises(TypeError, match="only names a hub"):
        GeventConnection()
    with pytest.raises(TypeError, match="connection_class"):
        Cluster(connection_class=object)
