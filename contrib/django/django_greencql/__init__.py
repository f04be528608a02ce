"""django_greencql: greencql for Django sites (the distribution ``django-greencql``).

A DATABASES alias with ENGINE ``django_greencql.backend`` whose ``connections[alias].session``
is the process's greencql Session (created on first use, after any fork), a cache backend
(:mod:`django_greencql.cache`), a session engine (:mod:`django_greencql.sessions`), CQL
migrations (``manage.py cql_migrate``), system checks and test-runner support
(:mod:`django_greencql.test`). Importing this package connects nothing.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0.dev0"
__all__ = ["get_session", "get_cluster"]



def _alias(alias: str | None) -> str:
    if alias is not None:
        return alias
    from django_greencql.schema import default_alias

    return default_alias()


def get_session(alias: str | None = None) -> Any:
    """The greencql Session of ``alias`` (default: the first Cassandra alias of DATABASES);
    ``connections[alias].session``."""
    from django.db import connections

    return connections[_alias(alias)].session


def get_cluster(alias: str | None = None) -> Any:
    """The greencql Cluster of ``alias``; ``connections[alias].cluster``."""
    from django.db import connections

    return connections[_alias(alias)].cluster
