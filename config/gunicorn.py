"""gunicorn configuration for the API (`gunicorn config.wsgi:application -c config/gunicorn.py`).

Workers and threads come from the environment; metrics use prometheus_client's multiprocess mode
so `/metrics` reports every worker, not just the one that answers the scrape. gunicorn's own lines
are the JSON lines of `config/logging.py`, on stdout like every other line.
"""

import logging
import os
import sys

from gunicorn import glogging

from config.logging import ContextFilter, JsonFormatter
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
# gunicorn >= 25.1 opens a control socket for `gunicornc` at one path per user
# ($XDG_RUNTIME_DIR or ~/.gunicorn/gunicorn.ctl): two servers of one user clobber each other's.
# Nothing of ours uses it; signals (TERM, HUP, TTIN/TTOU) still control the arbiter.
control_socket_disable = True


class JsonLogger(glogging.Logger):
    """gunicorn's logger with our formatter: its default format has `%(process)d`, which
    `config/logging.py` turns off (`logging.logProcesses = False`), so a worker's lines (e.g.
    "Worker exiting") failed to format once Django was loaded. Not `logconfig_dict`: that switches
    gunicorn's access line on whatever `accesslog` says — a second line for each request the
    middleware already logs, and ~37 µs per request to build it."""

    def setup(self, cfg):  # type: ignore[no-untyped-def]
        super().setup(cfg)
        formatter = JsonFormatter()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr:
                    handler.setStream(sys.stdout)
                handler.setFormatter(formatter)
                handler.addFilter(ContextFilter())


logger_class = JsonLogger

ensure_multiprocess_dir("api")


def on_starting(server):  # type: ignore[no-untyped-def]
    reset_multiprocess_dir()


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    from config.gc_freeze import freeze_after_startup

    freeze_after_startup(urls=True)  # the application is loaded: its objects out of the collector's way


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    mark_process_dead(worker.pid)
