"""Error classes and codes as a real Cassandra 4.0.13 sends them (reference section 3), so an
application's ``except`` clauses behave the same on the simulator.

End to end: a greencql Session against a one-node SimCluster over real sockets, asserting the
exception class, its protocol error code and the server's message.
"""

from __future__ import annotations

import pytest

from greencql import Cluster
from greencql.errors import ConfigurationException, InvalidRequest
from greencql.testing.cluster import SimCluster


@pytest.fixture(scope="module")
def session(hub):
    with SimCluster(1, port=0, hub=hub) as sim:
        c = Cluster(sim.contact_points[:1], port=sim.port, hub=sim.hub)
        try:
            s = c.connect()
            s.execute("CREATE KEYSPACE errs WITH replication = {'class': 'SimpleStrategy', "
                      "'replication_factor': 1}")
            s.set_keyspace("errs")
            s.execute("CREATE TABLE counters (k int PRIMARY KEY, n counter)")
            s.execute("CREATE TABLE t (k int PRIMARY KEY, v int)")
            yield s
        finally:
            c.shutdown()


def _fails(session, cql: str, cls: type, code: int, message: str | None = None):
    with pytest.raises(cls) as info:
        session.execute(cql)
    assert type(info.value) is cls
    assert info.value.error_code == code
    if message is not None:
        assert info.value.message == message


def test_drop_missing_keyspace(session) -> None:
    _fails(session, "DROP KEYSPACE nosuchks", InvalidRequest, 0x2200,
           "Keyspace 'nosuchks' doesn't exist")
    session.execute("DROP KEYSPACE IF EXISTS nosuchks")


def test_keyspace_without_replication(session) -> None:
    _fails(session, "CREATE KEYSPACE k2 WITH durable_writes = true", InvalidRequest, 0x2200,
           "Missing mandatory option 'replication'")


def test_create_keyspace_system(session) -> None:
    _fails(session, "CREATE KEYSPACE system WITH replication = {'class': 'SimpleStrategy', "
                    "'replication_factor': 1}", InvalidRequest, 0x2200,
           "System keyspace 'system' is not user-modifiable")


def test_non_counter_column_on_counter_table(session) -> None:
    _fails(session, "ALTER TABLE counters ADD v int", ConfigurationException, 0x2300,
           'Cannot have a non counter column ("v") in a counter table')
    _fails(session, "ALTER TABLE t ADD n counter", ConfigurationException, 0x2300,
           'Cannot have a counter column ("n") in a non counter table')


def test_disabled_views_and_functions(session) -> None:
    _fails(session, "CREATE MATERIALIZED VIEW mv AS SELECT * FROM t WHERE v IS NOT NULL AND "
                    "k IS NOT NULL PRIMARY KEY (v, k)", InvalidRequest, 0x2200,
           "Materialized views are disabled. Enable in cassandra.yaml to use.")
    msg = ("User-defined functions are disabled in cassandra.yaml - set "
           "enable_user_defined_functions=true to enable")
    _fails(session, "CREATE FUNCTION f (a int) CALLED ON NULL INPUT RETURNS int LANGUAGE java "
                    "AS 'return a;'", InvalidRequest, 0x2200, msg)
    _fails(session, "CREATE OR REPLACE FUNCTION f (a int) RETURNS NULL ON NULL INPUT RETURNS int "
                    "LANGUAGE java AS 'return a;'", InvalidRequest, 0x2200, msg)


def test_wrong_cause_messages(session) -> None:
    session.execute("CREATE TABLE wc (k int, ts int, v int, c_int int, PRIMARY KEY (k, ts))")
    _fails(session, "DELETE v FROM wc WHERE k = 1 AND ts > 1", InvalidRequest, 0x2200,
           "Range deletions are not supported for specific columns")
    _fails(session, "UPDATE wc SET v = 1 WHERE c_int = 1", InvalidRequest, 0x2200,
           "Some partition key parts are missing: k")
