"""A WSGI entry point for the tests only: the gunicorn master (``--preload``) uses Cassandra
before it forks, as a project that warms up at import would. Each worker must still build a
Cluster of its own on first use and never touch the master's sockets."""

from django_greencql import get_session
from example.wsgi import application

get_session().execute("SELECT release_version FROM system.local")

__all__ = ["application"]
