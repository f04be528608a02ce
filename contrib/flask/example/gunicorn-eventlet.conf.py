"""gunicorn settings for the example under eventlet workers.

gunicorn removed its eventlet worker in 26.0 (deprecated in 25); this runs with gunicorn 25.3.0,
the last release that has it (tested with eventlet 0.41.3):

    pip install "gunicorn==25.3.0"
    gunicorn -c gunicorn-eventlet.conf.py shortener:app
"""

worker_class = "eventlet"
workers = 2
worker_connections = 1000
preload_app = True           # the eventlet worker module patches the master at import: fine
bind = "127.0.0.1:8000"
timeout = 30
graceful_timeout = 15
keepalive = 5
# no max_requests: gunicorn's eventlet worker may reset a request that reaches a worker as it
# shuts down (seen in our tests; benoitc/gunicorn#511, #718); HUP has the same window.
