"""greencql: a CQL client that lives on the gevent or eventlet hub.

This module re-exports what users may touch; everything else is internal.
"""

__version__ = "0.1.0.dev0"

__all__ = ["__version__"]
