"""gunicorn settings for the example under gevent workers (tested with gunicorn 27.0.1).

    gunicorn -c gunicorn.conf.py shortener:app

The app's GREENCQL_REQUEST_TIMEOUT is 5 s (see shortener.py); the timeouts below are set
from it.
"""

worker_class = "gevent"
workers = 2                  # about one per core: each worker is one process, one hub
worker_connections = 1000    # requests in progress per worker (one greenlet each)
preload_app = True           # import once in the master; flask-greencql connects only in workers
bind = "127.0.0.1:8000"
# a request may wait for the driver's request timeout (5 s) on each host it tries:
timeout = 30                 # silence after which the master kills a worker (> 5 s x retries)
graceful_timeout = 15        # HUP / max_requests: in-flight queries get to finish (> 5 s)
keepalive = 5
max_requests = 10000         # recycle workers now and then; each closes its connections
max_requests_jitter = 1000
