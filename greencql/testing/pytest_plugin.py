"""pytest fixtures for a simulated Cassandra cluster (registered as the `greencql` plugin).

Loaded by pytest before any conftest runs, so it must import nothing heavy at module level:
a gevent or eventlet program monkey-patches in its conftest, after this module is imported.
"""

from __future__ import annotations

__all__: list[str] = []
