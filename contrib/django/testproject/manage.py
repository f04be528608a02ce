#!/usr/bin/env python
"""manage.py of django_greencql's own test project (``manage.py test`` runs the package's tests).

``GREENCQL_MONKEY_PATCH=gevent|eventlet`` monkey-patches first thing, before Django or
greencql is imported; unset, the process runs on the thread hub.
"""

import os
import sys

_PATCH = os.environ.get("GREENCQL_MONKEY_PATCH", "")
if _PATCH == "gevent":
    from gevent import monkey

    monkey.patch_all()
elif _PATCH == "eventlet":
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
        import eventlet
    eventlet.monkey_patch()
elif _PATCH:
    sys.exit(f"GREENCQL_MONKEY_PATCH={_PATCH!r}: expected gevent or eventlet")

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "testsettings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
