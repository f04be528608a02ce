"""WSGI entry point: ``gunicorn -k gevent --preload -w 2 example.wsgi``.

Importing it (gunicorn's master does, with ``--preload``) sets Django up and connects nothing:
each worker connects to Cassandra on its first request.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
application = get_wsgi_application()
