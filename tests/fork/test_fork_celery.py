"""A Celery prefork worker running tasks that query through a session made at import time
(apps/celery_app.py). Broker: kombu's filesystem transport; results: files (no service).

Hub-independent (the worker is a process of its own, and so is the simulator): runs once, in
the gevent test process, which sends the tasks and reads their results.
"""

from __future__ import annotations

import sys

import pytest
from conftest import TEST_HUB
from forkhelp import APPS, LoggedProcess, app_env, celery_config, fill, value_of

from greencql.testing import SimCluster

pytestmark = pytest.mark.skipif(
    TEST_HUB != "gevent",
    reason="hub-independent (Celery runs in its own processes): runs in the gevent process",
)

TASKS = 40
BOOT_TIMEOUT = 60.0
RESULT_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def sim():
    with SimCluster.spawn_process(3) as process:
        fill(process)
        yield process


def test_prefork_worker_tasks_query_through_the_import_time_session(sim, tmp_path):
    from celery import Celery

    folder = str(tmp_path)
    worker = LoggedProcess(
        [sys.executable, "-m", "celery", "-A", "celery_app", "worker", "--pool", "prefork",
         "--concurrency", "2", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-n", "greencql-fork@localhost"],
        app_env(sim, GREENCQL_FORK_CELERY_DIR=folder),
        cwd=APPS,
    )
    try:
        worker.wait_for(lambda lines: any(" ready." in line for line in lines), BOOT_TIMEOUT,
                        "the Celery worker to be ready")
        producer = Celery("producer")
        producer.conf.update(celery_config(folder))
        results = [producer.send_task("celery_app.lookup", args=[k]) for k in range(TASKS)]
        answers = [r.get(timeout=RESULT_TIMEOUT, interval=0.05) for r in results]
        assert [a[:2] for a in answers] == [[k, value_of(k)] for k in range(TASKS)]
        pids = {a[2] for a in answers}
        assert worker.process.pid not in pids  # run by the forked pool processes
    finally:
        worker.stop()
