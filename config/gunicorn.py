"""gunicorn configuration for the API (`gunicorn config.wsgi:application -c config/gunicorn.py`).

Workers and threads come from the environment; metrics use prometheus_client's multiprocess mode
so `/metrics` reports every worker, not just the one that answers the scrape.
"""

import os

from config.prometheus import ensure_multiprocess_dir, mark_process_dead, reset_multiprocess_dir

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# A worker is replaced after this many requests (a guard against slow leaks). A restart costs a
# re-import of Django and new connections, a latency spike: rare at webhook rates.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "100000"))
max_requests_jitter = max_requests // 10
accesslog = None  # the request middleware logs every request as JSON
errorlog = "-"
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - heartbeat files, not data

ensure_multiprocess_dir("api")


def on_starting(server):  # type: ignore[no-untyped-def]
    reset_multiprocess_dir()


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    mark_process_dead(worker.pid)
