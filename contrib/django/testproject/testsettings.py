"""Settings of django_greencql's test project.

The Cassandra alias points at ``CASSANDRA_HOSTS``/``CASSANDRA_PORT`` when set (runtests.py
starts one simulated cluster for all its Django processes); otherwise a simulated 3-node
cluster (``greencql sim``) is started in a child process here and stopped at exit.
"""

import atexit
import os
import sys
import warnings

# dbshell runs cqlsh: the one installed beside this interpreter
os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")

# our own code's warnings are errors, as in the project's pytest configuration
for _module in (r"django_greencql(\..*)?", r"cqltests(\..*)?", r"migapp(\..*)?"):
    warnings.filterwarnings("error", module=_module)

if not os.environ.get("CASSANDRA_HOSTS"):
    from greencql.testing import SimCluster

    _sim = SimCluster.spawn_process(3, port=0)
    atexit.register(_sim.stop)
    os.environ["CASSANDRA_HOSTS"] = ",".join(_sim.contact_points)
    os.environ["CASSANDRA_PORT"] = str(_sim.port)

SECRET_KEY = "django_greencql tests"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_greencql",
    "cqltests",
    "migapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "cqltests.urls"
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"},
    "cassandra": {
        "ENGINE": "django_greencql.backend",
        "NAME": "dg_tests",
        "HOST": os.environ["CASSANDRA_HOSTS"],
        "PORT": int(os.environ["CASSANDRA_PORT"]),
        "OPTIONS": {
            "local_dc": "datacenter1",
            "replication": {"class": "SimpleStrategy", "replication_factor": 1},
            "consistency": "LOCAL_QUORUM",
            "request_timeout": 10.0,
            "cluster": {"connect_timeout": 5.0},
        },
    },
}
DATABASE_ROUTERS = ["django_greencql.router.CQLRouter"]


def custom_key_func(key, key_prefix, version):
    return "CUSTOM-" + "-".join([key_prefix, str(version), key])


_CACHE = {"BACKEND": "django_greencql.cache.CQLCache", "LOCATION": "cache_table",
          "OPTIONS": {"database": "cassandra"}}
CACHES = {
    "default": dict(_CACHE),
    "prefix": dict(_CACHE, KEY_PREFIX="cacheprefix"),
    "v2": dict(_CACHE, VERSION=2),
    "custom_key": dict(_CACHE, KEY_FUNCTION=custom_key_func),
    "other_table": dict(_CACHE, LOCATION="other_cache"),
}
SESSION_ENGINE = "django_greencql.sessions"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
