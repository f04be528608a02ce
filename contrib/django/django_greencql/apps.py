"""The Django app of django_greencql: management commands and system checks.

``ready()`` only registers checks: no Cluster is created here (gunicorn ``--preload`` runs it
in the master, which must not hold a connection its workers would inherit).
"""

from django.apps import AppConfig

__all__ = ["GreenCQLConfig"]


class GreenCQLConfig(AppConfig):
    name = "django_greencql"
    label = "django_greencql"
    verbose_name = "greencql (Cassandra)"

    def ready(self) -> None:
        from django_greencql import checks

        checks.register()
