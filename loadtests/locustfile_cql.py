"""A mixed CQL workload on one schema (user timelines), for `locust -f loadtests/locustfile_cql.py`.

Owns the schema and the mix of one realistic workload:

- 70%: read a slice of a user's timeline (the newest 20 posts of one partition);
- 20%: post to a timeline (a plain INSERT);
- 5%: register a user name once (a lightweight transaction, ``INSERT ... IF NOT EXISTS``);
- 5%: like a post (a counter update).

The schema is created (and a few timelines seeded) in ``test_start`` by the first process
only: the local runner, or the master in distributed mode and under ``--processes`` (the
master fires ``test_start`` before it tells any worker to spawn users). Workers never run DDL.

``--host`` is a ``cql://`` address (see ``greencql.locust.CQLUrl``); its keyspace (default
``loadtest``) is created with ``--cql-replication`` (default SimpleStrategy, RF 3).
Run it through ``loadtests/run.py`` (a simulated cluster, CSV and HTML reports, pass/fail).
"""

from __future__ import annotations

import logging
import random
import uuid

from locust import between, events, task
from locust.runners import WorkerRunner

from greencql.locust import CQLFailure, CQLUrlError, CQLUser, parse_cql_url

logger = logging.getLogger("locustfile_cql")

#: the keyspace when the --host URL names none
DEFAULT_KEYSPACE = "loadtest"
DEFAULT_REPLICATION = "{'class': 'SimpleStrategy', 'replication_factor': 3}"
#: users (partitions) the workload picks from; timelines seeded at start
USERS = 1000
SEEDED_USERS = 100
POSTS_PER_SEEDED_USER = 10


@events.init_command_line_parser.add_listener
def _options(parser, **_kwargs):
    parser.add_argument("--cql-replication", default=DEFAULT_REPLICATION,
                        help="replication map of the keyspace, when it is created")


def _keyspace(host: str | None) -> str:
    return parse_cql_url(host or "").keyspace or DEFAULT_KEYSPACE


def schema(keyspace: str, replication: str) -> list[str]:
    """The DDL of the workload, in order."""
    return [
        f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {replication}",
        f"CREATE TABLE IF NOT EXISTS {keyspace}.timeline ("
        " user_id int, posted_at bigint, post_id uuid, body text,"
        " PRIMARY KEY ((user_id), posted_at)) WITH CLUSTERING ORDER BY (posted_at DESC)",
        f"CREATE TABLE IF NOT EXISTS {keyspace}.users (name text PRIMARY KEY, user_id int)",
        f"CREATE TABLE IF NOT EXISTS {keyspace}.likes ("
        " post_id int PRIMARY KEY, likes counter)",
    ]


@events.test_start.add_listener
def create_schema(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner):
        return  # the master (or the local runner) did it before any user spawned
    try:
        url = parse_cql_url(environment.host or "")
    except CQLUrlError as exc:
        logger.error("no schema created: %s", exc)  # the users stop the test with the reason
        return
    keyspace = url.keyspace or DEFAULT_KEYSPACE
    options = environment.parsed_options
    replication = getattr(options, "cql_replication", None) or DEFAULT_REPLICATION
    from greencql import execute_concurrent_with_args

    # its own short-lived Cluster: the users' shared one is created in the worker processes
    with url.cluster() as cluster:
        session = cluster.connect()
        for statement in schema(keyspace, replication):
            session.execute(statement, timeout=30.0)
        insert = session.prepare(
            f"INSERT INTO {keyspace}.timeline (user_id, posted_at, post_id, body) "
            "VALUES (?, ?, ?, ?)")
        rows = [(u, p, uuid.uuid4(), f"seed post {p} of user {u}")
                for u in range(SEEDED_USERS) for p in range(POSTS_PER_SEEDED_USER)]
        results = execute_concurrent_with_args(session, insert, rows, concurrency=50)
        failed = sum(1 for r in results if not r.success)
    logger.info("schema of %s ready; %d rows seeded (%d failed)", keyspace, len(rows), failed)


class TimelineUser(CQLUser):
    """One person using the timeline service."""

    wait_time = between(0.05, 0.15)

    def on_start(self) -> None:
        super().on_start()
        ks = _keyspace(self.host)
        self.read_timeline = self.cql.prepare(
            f"SELECT posted_at, body FROM {ks}.timeline WHERE user_id = ? LIMIT 20",
            name="read timeline")
        self.post = self.cql.prepare(
            f"INSERT INTO {ks}.timeline (user_id, posted_at, post_id, body) VALUES (?, ?, ?, ?)",
            name="post")
        self.register = self.cql.prepare(
            f"INSERT INTO {ks}.users (name, user_id) VALUES (?, ?) IF NOT EXISTS",
            name="register (LWT)")
        self.like = self.cql.prepare(
            f"UPDATE {ks}.likes SET likes = likes + 1 WHERE post_id = ?", name="like (counter)")
        for statement in (self.read_timeline, self.post):
            if not isinstance(statement, CQLFailure):
                statement.is_idempotent = True  # may move to another node on failure

    @task(70)
    def read(self) -> None:
        self.cql.execute(self.read_timeline, (random.randrange(USERS),))

    @task(20)
    def write(self) -> None:
        user = random.randrange(USERS)
        self.cql.execute(self.post, (user, random.getrandbits(62), uuid.uuid4(), "hello"))

    @task(5)
    def sign_up(self) -> None:
        # most names are taken after a while: the LWT answers applied=False, not an error
        self.cql.execute(self.register, (f"user-{random.randrange(USERS * 10)}",
                                         random.randrange(USERS)))

    @task(5)
    def like_post(self) -> None:
        self.cql.execute(self.like, (random.randrange(USERS),))
