"""Gunicorn's configuration for Baton's web processes (`make prod`, or `gunicorn -c crm/gunicorn_conf.py
crm.wsgi`). Every value can be set from the environment; see README "Running in production".

Sync workers, one request at a time each: Baton's requests are short database work, and several
processes per machine (WEB_CONCURRENCY, default two per CPU core) use the cores; each process keeps
its database connection between requests (CONN_MAX_AGE, checked before reuse).
"""

import multiprocessing
import os

bind = os.environ.get("BATON_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", str(max(2, multiprocessing.cpu_count() * 2))))
worker_class = "sync"
# A request taking longer than this is killed and logged; the longest pages take well under a second.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle each process now and then (jittered, so they do not all restart at once).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "5000"))
max_requests_jitter = max_requests // 10
# The load balancer's address(es), whose X-Forwarded-* headers are trusted.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "baton-web"
