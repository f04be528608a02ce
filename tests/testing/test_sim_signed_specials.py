"""The simulator parses -Infinity and -NaN literals (Cassandra's grammar allows a sign before
NaN and Infinity; drivers render float('-inf') as -Infinity). Found by the literal fuzz."""

from __future__ import annotations

import math

from greencql import Cluster
from greencql.testing import SimCluster


def test_negative_infinity_literal(hub):
    with SimCluster(1, port=0, hub=hub) as sim:
        cluster = Cluster(sim.contact_points, port=sim.port, hub=hub)
        try:
            s = cluster.connect()
            s.execute("CREATE KEYSPACE ks WITH replication = "
                      "{'class': 'SimpleStrategy', 'replication_factor': 1}")
            s.execute("CREATE TABLE ks.t (k int PRIMARY KEY, d double, f float)")
            s.execute("INSERT INTO ks.t (k, d, f) VALUES (1, -Infinity, -NaN)")
            s.execute("INSERT INTO ks.t (k, d, f) VALUES (%s, %s, %s)",
                      (2, float("-inf"), float("inf")))
            d, f = s.execute("SELECT d, f FROM ks.t WHERE k = 1").one()
            assert d == float("-inf") and math.isnan(f)
            assert s.execute("SELECT d, f FROM ks.t WHERE k = 2").one() == (float("-inf"),
                                                                           float("inf"))
        finally:
            cluster.shutdown()
