"""The soak's duplicate detector detects: a counter statement sent twice for one key is
reported by the simulator's tracker (so the soak's "0 sent twice" means something)."""

from __future__ import annotations

from soak_harness import SimControl

from greencql import Cluster


def test_tracker_reports_a_statement_sent_twice(hub):
    sim = SimControl(hub, track=("soak_ctr",))
    cluster = Cluster(sim.contact_points, port=sim.port, hub=hub)
    try:
        s = cluster.connect()
        s.execute("CREATE KEYSPACE soak WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE soak.soak_ctr (k bigint PRIMARY KEY, n counter)")
        ctr = s.prepare("UPDATE soak.soak_ctr SET n = n + 1 WHERE k = ?")
        s.execute(ctr, (1,))
        s.execute(ctr, (2,))
        s.execute(ctr, (2,))
        report = sim("report")
        assert report["tracked_statements"] == 2 and report["tracked_requests"] == 3
        assert report["sent_twice"] == 1
        assert report["examples"][0]["key"] == (2).to_bytes(8, "big").hex()
    finally:
        cluster.shutdown()
        sim.close()
