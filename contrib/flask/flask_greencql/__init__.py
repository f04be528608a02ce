"""flask-greencql: greencql (a gevent/eventlet-first Cassandra client) for Flask apps.

Re-exports what users may touch: the :class:`GreenCQL` extension, :class:`ConfigError` (a wrong
``GREENCQL_*`` key, named) and the defaults table. Importing this package connects nothing and
imports neither gevent nor eventlet.
"""

from flask_greencql.config import DEFAULTS, ConfigError, Settings
from flask_greencql.extension import EXTENSION_NAME, GreenCQL

__version__ = "0.1.0.dev0"

__all__ = ["GreenCQL", "ConfigError", "Settings", "DEFAULTS", "EXTENSION_NAME", "__version__"]
