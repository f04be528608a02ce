"""Settings of the example project.

Where Cassandra is comes from the environment (``CASSANDRA_HOSTS``, ``CASSANDRA_PORT``,
``CASSANDRA_KEYSPACE``), so the same project runs against a real cluster or the simulator
(``greencql sim --nodes 3 --port 9042`` in another terminal).
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example only: not secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
USE_TZ = True

INSTALLED_APPS = ["django_greencql", "shop"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
ROOT_URLCONF = "example.urls"
WSGI_APPLICATION = "example.wsgi.application"

DATABASES = {
    # the SQL database, untouched (this example has no models)
    "default": {"ENGINE": "django.db.backends.sqlite3",
                "NAME": os.environ.get("DJANGO_SQLITE_PATH", BASE_DIR / "db.sqlite3")},
    "cassandra": {
        "ENGINE": "django_greencql.backend",
        "NAME": os.environ.get("CASSANDRA_KEYSPACE", "shop"),
        "HOST": os.environ.get("CASSANDRA_HOSTS", "127.0.0.1"),
        "PORT": int(os.environ.get("CASSANDRA_PORT", "9042")),
        "USER": os.environ.get("CASSANDRA_USER", ""),
        "PASSWORD": os.environ.get("CASSANDRA_PASSWORD", ""),
        "OPTIONS": {
            # SimpleStrategy suits one datacenter in development; production wants
            # {"class": "NetworkTopologyStrategy", "dc1": 3}
            "replication": {"class": "SimpleStrategy", "replication_factor": 1},
            "consistency": "LOCAL_QUORUM",
            "request_timeout": 5.0,
        },
        "TEST": {"NAME": "test_shop"},
    },
}
DATABASE_ROUTERS = ["django_greencql.router.CQLRouter"]

CACHES = {
    "default": {
        "BACKEND": "django_greencql.cache.CQLCache",
        "LOCATION": "cache_table",
        "OPTIONS": {"database": "cassandra"},
        "TIMEOUT": 300,
    },
}
SESSION_ENGINE = "django_greencql.sessions"

# server errors on the console, also with DEBUG off (gunicorn shows them in its log)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django.request": {"handlers": ["console"], "level": "ERROR"}},
}
