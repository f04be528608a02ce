"""Shared by the flask-greencql tests: import paths, the example app against a simulated cluster.

Not a conftest.py: the suite's root conftest is imported by name (``from conftest import
run_forked``) and a second conftest.py in a sub-folder would take that name. Test modules
import this one first.

``flask_greencql`` is imported from the checkout (contrib/flask), installed or not
(``pip install -e contrib/flask`` installs it), and the example app (contrib/flask/example,
module ``shortener``) from its directory. The ``shortener_app`` fixture makes a fresh app of
the example (the app factory, configured for the module's simulated cluster), applies the
schema once per module with ``flask cql exec``, and shuts the app's Cluster down afterwards.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ROOT", "CONTRIB", "EXAMPLE", "SCHEMA", "sim_config", "shortener_app_fixture"]

ROOT = Path(__file__).resolve().parents[2]
CONTRIB = ROOT / "contrib" / "flask"
EXAMPLE = CONTRIB / "example"
SCHEMA = EXAMPLE / "schema.cql"

# the checkout's copy first, installed or not (as the worktree's greencql shadows its install)
for _path in (str(CONTRIB), str(EXAMPLE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)


def sim_config(sim: Any, **extra: Any) -> dict[str, Any]:
    config = {
        "TESTING": True,
        "GREENCQL_CONTACT_POINTS": list(sim.contact_points),
        "GREENCQL_PORT": sim.port,
        "SHORTENER_DEBUG": True,
    }
    config.update(extra)
    return config


# the simulated clusters the example's schema was applied to
_SCHEMA_APPLIED: weakref.WeakSet[Any] = weakref.WeakSet()


@pytest.fixture(name="shortener_app")
def shortener_app_fixture(sim_cluster: Any) -> Iterator[Any]:
    """The example app (a fresh one from the factory) on the module's simulated cluster."""
    import shortener

    app = shortener.create_app(sim_config(sim_cluster))
    try:
        if sim_cluster not in _SCHEMA_APPLIED:
            result = app.test_cli_runner().invoke(args=["cql", "exec", str(SCHEMA)])
            assert result.exit_code == 0, result.output
            _SCHEMA_APPLIED.add(sim_cluster)
        yield app
    finally:
        with app.app_context():
            shortener.cql.shutdown()
