"""Timeout arguments are checked at the call, and the library logs like a library (issue 8).

``timeout=None`` keeps cassandra-driver's meaning (no client timeout: the one unbounded wait,
asked for explicitly); zero, negative and NaN request timeouts are refused with ValueError
naming the argument (``result(timeout=0)`` stays legal: it does not wait).
The ``greencql`` logger has a NullHandler, so an application that configured no logging gets
nothing on stderr from Python's last-resort handler.
"""

import math
import subprocess
import sys

import pytest

from greencql import Cluster, ExecutionProfile, SimpleStatement
from greencql.testing.cluster import SimCluster

BAD = [0, -1, -0.5, math.nan]


@pytest.fixture(scope="module")
def session(hub):
    with SimCluster(1, port=0, hub=hub) as sim:
        with Cluster(sim.contact_points, port=sim.port, hub=hub) as cluster:
            yield cluster.connect()


@pytest.mark.parametrize("bad", BAD)
def test_execute_refuses_bad_timeouts(session, bad):
    with pytest.raises(ValueError, match=r"^timeout must be a positive number of seconds or None"):
        session.execute("SELECT release_version FROM system.local", timeout=bad)
    with pytest.raises(ValueError, match=r"^timeout must be"):
        session.execute_async("SELECT release_version FROM system.local", timeout=bad)


@pytest.mark.parametrize("bad", [-1, -0.5, math.nan])
def test_result_refuses_bad_timeouts(session, bad):
    future = session.execute_async("SELECT release_version FROM system.local")
    with pytest.raises(ValueError, match=r"^timeout must be >= 0 seconds or None"):
        future.result(timeout=bad)
    assert future.result().one()  # the request itself was not disturbed
    assert future.result(timeout=0).one()  # 0: no wait, as for a done concurrent future


@pytest.mark.parametrize("bad", BAD)
def test_profiles_and_statements_refuse_bad_timeouts(bad):
    with pytest.raises(ValueError, match=r"^request_timeout must be"):
        ExecutionProfile(request_timeout=bad)
    with pytest.raises(ValueError, match=r"^timeout must be"):
        SimpleStatement("SELECT 1", timeout=bad)
    with pytest.raises(ValueError, match=r"connect_timeout must be"):
        Cluster(["127.0.0.1"], connect_timeout=bad)


def test_none_means_no_client_timeout(session):
    future = session.execute_async("SELECT release_version FROM system.local", timeout=None)
    assert future.timeout is None
    assert future.result(timeout=5).one()
    assert session.execute("SELECT release_version FROM system.local", timeout=None).one()


def test_library_logs_nothing_without_logging_configured():
    code = (
        "import logging, greencql\n"
        "logging.getLogger('greencql.cluster').warning('a host went down')\n"
        "logging.getLogger('greencql').error('an error')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    configured = code.replace("import logging, greencql\n",
                              "import logging, greencql\nlogging.basicConfig()\n")
    proc = subprocess.run([sys.executable, "-c", configured], capture_output=True, text=True,
                          timeout=60)
    assert "a host went down" in proc.stderr  # reachable once the application configures logging
