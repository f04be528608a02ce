"""``manage.py dbshell`` for a Cassandra alias: runs cqlsh (the PyPI package, extra
``django-greencql[cqlsh]``) with the alias's host, port, keyspace and credentials.

Owns only the command line; Django's BaseDatabaseClient runs it. cqlsh takes one host: the
first of HOST. The password, when set, is passed with ``-p`` (visible in the process list
while cqlsh runs; leave PASSWORD out of the settings and use cqlsh's own credentials file
to avoid that).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db.backends.base.client import BaseDatabaseClient

__all__ = ["DatabaseClient"]


class DatabaseClient(BaseDatabaseClient):
    executable_name = "cqlsh"

    @classmethod
    def settings_to_cmd_args_env(cls, settings_dict: Mapping[str, Any],
                                 parameters: Sequence[str]) -> tuple[list[str], None]:
        host = str(settings_dict.get("HOST") or "").split(",")[0].strip() or "127.0.0.1"
        args = [cls.executable_name, host]
        if settings_dict.get("PORT"):
            args.append(str(settings_dict["PORT"]))
        if settings_dict.get("USER"):
            args += ["-u", str(settings_dict["USER"])]
        if settings_dict.get("PASSWORD"):
            args += ["-p", str(settings_dict["PASSWORD"])]
        if settings_dict.get("NAME"):
            args += ["-k", str(settings_dict["NAME"])]
        args.extend(parameters)
        return args, None
