"""pytest fixtures for a simulated Cassandra cluster (registered as the `greencql` plugin).

Loaded by pytest before any conftest runs, so it must import nothing heavy at module level:
a gevent or eventlet program monkey-patches in its conftest, after this module is imported.
Everything greencql is imported inside the fixtures.

Fixtures:

- ``sim_cluster``: a 3-node :class:`~greencql.testing.SimCluster` on a free port, shared by
  the tests of a module (faults are reset and stopped nodes restarted after each test that
  used it, so one test's fault does not leak into the next);
- ``make_sim_cluster``: a factory, ``make_sim_cluster(**SimCluster kwargs)`` returns a
  started cluster (``port=0`` unless given); every cluster it made is stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

__all__ = ["sim_cluster", "make_sim_cluster"]


@pytest.fixture(scope="module")
def _greencql_module_sim_cluster() -> Iterator[Any]:
    from greencql.testing import SimCluster

    cluster = SimCluster(3, port=0).start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def sim_cluster(_greencql_module_sim_cluster: Any) -> Iterator[Any]:
    """A started 3-node SimCluster (module scoped; healed after each test)."""
    cluster = _greencql_module_sim_cluster
    yield cluster
    cluster.reset_faults()
    for node in cluster.nodes:
        if not node.running:
            node.start()


@pytest.fixture
def make_sim_cluster() -> Iterator[Callable[..., Any]]:
    """``make_sim_cluster(**kwargs)``: a started SimCluster, stopped at teardown."""
    from greencql.testing import SimCluster

    made: list[Any] = []

    def make(nodes: int = 3, **kwargs: Any) -> Any:
        kwargs.setdefault("port", 0)
        cluster = SimCluster(nodes, **kwargs)
        made.append(cluster)
        return cluster.start()

    yield make
    for cluster in reversed(made):
        cluster.stop()
