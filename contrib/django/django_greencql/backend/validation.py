"""``connection.validation`` of a Cassandra alias: the checks that need the cluster.

Django runs them for the aliases given to ``manage.py check --database ALIAS`` (and the test
runner for the aliases its tests use); :mod:`django_greencql.checks` runs the same for every
alias under ``--deploy``.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.validation import BaseDatabaseValidation

__all__ = ["DatabaseValidation"]


class DatabaseValidation(BaseDatabaseValidation):
    def check(self, **kwargs: Any) -> list[Any]:
        from django_greencql.checks import check_alias_connection

        return check_alias_connection(self.connection.alias, self.connection.settings_dict)
