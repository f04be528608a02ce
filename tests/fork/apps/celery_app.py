"""A Celery app whose Session is made when the module is imported: what a prefork worker runs
in tests/fork/test_fork_celery.py (not a test).

The worker's main process imports this module (and connects), then forks its pool processes;
every task runs in one of those and queries through the inherited session. Environment: that
of ``forkhelp.app_env`` plus ``GREENCQL_FORK_CELERY_DIR`` (broker and result folders).
"""

from __future__ import annotations

import os

from celery import Celery
from forkhelp import celery_config

from greencql import Cluster

app = Celery("celery_app")
app.conf.update(celery_config(os.environ["GREENCQL_FORK_CELERY_DIR"]))

cluster = Cluster(
    os.environ["GREENCQL_FORK_CONTACT_POINTS"].split(","),
    port=int(os.environ["GREENCQL_FORK_PORT"]),
    default_timeout=5.0,
)
session = cluster.connect(os.environ["GREENCQL_FORK_KEYSPACE"])
lookup_statement = session.prepare("SELECT v FROM kv WHERE k = ?")


@app.task(name="celery_app.lookup")
def lookup(k: int) -> list:
    row = session.execute(lookup_statement, (k,)).one()
    return [k, row.v if row else None, os.getpid()]
