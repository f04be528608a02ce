"""Credentials, bind values and rendered parameters never show in logs, reprs or errors.

Canary strings go everywhere a secret can: the password, prepared bind values, ``%s`` and
``%(name)s`` parameters (rendered into the CQL text the driver sends), batch values. Then
every path that logs or raises runs: success, server errors the retry policy handles
(Unavailable, ReadTimeout, WriteTimeout, Overloaded, ServerError, retried then given up),
client timeouts, a paused node, a connection cut mid-response, a stopped node (the host going
down and up), a restarted node (UNPREPARED, re-prepare), a wrong password. Every log record
of every ``greencql`` logger but the simulator's (at DEBUG, message and exception text),
every exception's ``str`` and ``repr`` (with its causes), and the reprs of the statements,
futures, results, session, cluster and connections must be free of every canary.
"""

from __future__ import annotations

import logging
import traceback

import pytest

from greencql import (
    BatchStatement,
    Cluster,
    PlainTextAuthProvider,
    SimpleStatement,
)
from greencql.errors import DriverException, Overloaded, ReadTimeout, Unavailable, WriteTimeout
from greencql.testing import SimCluster

PASSWORD = "pw-CANARY-7f3a"
BOUND = "bound-CANARY-91c2"
RENDERED = "rendered-CANARY-55de"
NAMED = "named-CANARY-0b7e"
BATCHED = "batched-CANARY-c0de"
CANARIES = (PASSWORD, BOUND, RENDERED, NAMED, BATCHED)
# the password as the SASL token carries it, and hex renderings of the values
FORMS = tuple(c for x in CANARIES for c in (x, x.encode().hex()))


def _leaks(text: str) -> list[str]:
    return [c for c in FORMS if c in text]


def _exception_text(exc: BaseException) -> str:
    parts = []
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(f"{exc!s} | {exc!r}")
        parts.extend(str(v) for v in getattr(exc, "errors", {}).values())
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


@pytest.fixture
def sim(hub):
    with SimCluster(3, port=0, hub=hub, auth=("cassandra", PASSWORD)) as s:
        yield s


def test_secrets_never_shown(hub, sim, caplog):
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []

    def attempt(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DriverException as exc:
            texts.append(_exception_text(exc))
            texts.append("".join(traceback.format_exception(exc)))
            return None

    # a wrong password first (the right one is a canary too)
    bad = Cluster(sim.contact_points, port=sim.port, hub=hub, connect_timeout=2.0,
                  auth_provider=PlainTextAuthProvider("cassandra", PASSWORD + "x"))
    attempt(bad.connect)
    texts.append(repr(bad))
    bad.shutdown()

    provider = PlainTextAuthProvider("cassandra", PASSWORD)
    texts.append(repr(provider))
    texts.append(repr(provider.new_authenticator("127.0.0.1")))
    cluster = Cluster(sim.contact_points, port=sim.port, hub=hub, auth_provider=provider)
    try:
        s = cluster.connect()
        s.execute("CREATE KEYSPACE leak WITH replication = "
                  "{'class': 'SimpleStrategy', 'replication_factor': 3}")
        s.execute("CREATE TABLE leak.t (k text PRIMARY KEY, v text)")
        s.set_keyspace("leak")
        ins = s.prepare("INSERT INTO t (k, v) VALUES (?, ?)")
        ins.is_idempotent = True
        bound = ins.bind((BOUND, BOUND))
        simple = SimpleStatement("INSERT INTO t (k, v) VALUES (%s, %s)", is_idempotent=True)
        named = "UPDATE t SET v = %(v)s WHERE k = %(k)s"
        batch = BatchStatement()
        batch.add(ins, (BATCHED, BATCHED))
        batch.add("INSERT INTO t (k, v) VALUES (%s, %s)", (BATCHED + "2", BATCHED))

        def run_all(timeout=None):
            kw = {} if timeout is None else {"timeout": timeout}
            for call in (lambda: s.execute(bound, **kw),
                         lambda: s.execute(simple, (RENDERED, RENDERED), **kw),
                         lambda: s.execute(named, {"k": NAMED, "v": NAMED}, **kw),
                         lambda: s.execute(batch, **kw)):
                result = attempt(call)
                if result is not None:
                    texts.append(repr(result))
            for q, p in ((bound, None), (simple, (RENDERED, RENDERED)),
                         (named, {"k": NAMED, "v": NAMED})):
                fut = s.execute_async(q, p, **kw)
                texts.append(repr(fut))
                attempt(fut.result)
                texts.append(repr(fut))
                texts.append(repr(getattr(fut, "query", None)))

        run_all()
        # server errors the retry policy sees, then gives up on
        for error in (Unavailable, ReadTimeout, WriteTimeout, Overloaded, 0x0000):
            prime = sim.prime("t", error=error)
            run_all()
            assert prime.hits
            sim.clear_primes()
        # client timeouts: a slow node, a paused one
        sim.nodes[1].latency = 0.5
        run_all(timeout=0.2)
        sim.nodes[1].latency = 0.0
        sim.nodes[2].pause()
        run_all(timeout=0.3)
        sim.nodes[2].resume()
        # responses cut mid-frame
        for node in sim.nodes:
            node.drop_next_responses(2)
        run_all()
        # a node stopped (host down) and restarted (prepared statements forgotten)
        sim.nodes[0].stop()
        run_all()
        sim.nodes[0].start()
        run_all()
        texts += [repr(bound), str(bound), repr(simple), repr(batch), repr(ins), repr(s),
                  repr(cluster)]
        for pool in s._pools.values():
            for conn in pool._pool.connections:
                texts.append(repr(conn))
    finally:
        cluster.shutdown()
    for record in caplog.records:
        if record.name.startswith("greencql.testing"):
            continue  # the simulator plays the server: it may show what it received
        texts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            texts.append("".join(traceback.format_exception(record.exc_info[1])))
    found = sorted({t[:200] for t in texts if _leaks(t)})
    assert not found, found
