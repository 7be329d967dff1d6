"""The Celery application, and the worker's process hooks.

Workers, beat and every publisher (API processes included) share this configuration: the broker is
`RABBITMQ_URL`, and the queue topology (quorum `schema_execution_queue` with its dead-letter queue)
comes from settings so that countdown/ETA messages published by the API use the broker's delayed
delivery instead of a worker's memory. Tasks are autodiscovered (`executions_app/tasks.py`).
"""

import logging
import os
import sys
from typing import Any

from celery import Celery
from celery.signals import (
    beat_init,
    celeryd_after_setup,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
    worker_ready,
)

from config import heartbeat
from config.gc_freeze import freeze_after_startup
from config.prometheus import (
    ensure_multiprocess_dir,
    mark_process_dead,
    reset_multiprocess_dir,
    start_worker_metrics_server,
)
from config.queues import DLQ, EXECUTION_QUEUE, PRIORITY_QUEUE, WAKE_UP_QUEUE, declare_topology
from config.tracing import setup_tracing

if "worker" in sys.argv:  # multiprocess metrics must be configured before prometheus_client loads
    ensure_multiprocess_dir("worker")

logger = logging.getLogger("schema.engine")

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("schema")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["worker"].add(heartbeat.WorkerHeartbeat)  # the probes' signal (config/heartbeat.py)


@task_prerun.connect
@task_postrun.connect
def _reuse_database_connections(**kwargs: object) -> None:
    """Keep the worker's connection across tasks (CONN_MAX_AGE), as Django does across requests:
    drop it only when it is too old, unusable or had an error (so a database that went away is
    reconnected at the next task, never kept broken)."""
    task = kwargs.get("task")
    if task is not None and getattr(getattr(task, "request", None), "is_eager", False):
        return  # eager (tests, embedded mode): the caller's connection and transaction are not ours
    from django.db import close_old_connections

    close_old_connections()


@celeryd_after_setup.connect
def _consume_wake_ups_too(sender: Any = None, instance: Any = None, **kwargs: Any) -> None:
    """A worker that takes new executions (`-Q schema_execution_queue`, as every deployment starts it)
    also takes the wake-ups that continue them: a worker command line written before the wake-up
    queue existed cannot leave its timers unconsumed."""
    queues = instance.app.amqp.queues
    for name in (WAKE_UP_QUEUE, PRIORITY_QUEUE):  # and the high-priority starts
        if EXECUTION_QUEUE in queues.consume_from and name not in queues.consume_from:
            queues.select_add(queues[name])  # the declared queue, with its arguments


@worker_init.connect
def _on_worker_init(sender: Any = None, **kwargs: Any) -> None:
    """Main worker process: fresh metric files, the DLQ declared, the metrics endpoint up."""
    from django.conf import settings  # settings are configured by the time a worker starts

    reset_multiprocess_dir()
    if settings.CELERY_BROKER_URL.startswith("amqp"):
        try:
            with sender.app.connection_for_write() as connection:
                declare_topology(connection)
        except Exception as exc:  # noqa: BLE001 - the worker itself will retry the broker connection
            logger.warning("could not declare the queue topology yet: %s", exc)
    start_worker_metrics_server(
        settings.SCHEMA_WORKER_METRICS_PORT,
        settings.CELERY_BROKER_URL,
        [EXECUTION_QUEUE, PRIORITY_QUEUE, WAKE_UP_QUEUE, DLQ],
    )


@beat_init.connect
def _one_beat_at_a_time(**kwargs: Any) -> None:
    """Beat stands by until it holds the beat lock (config/beat_lock.py), on PostgreSQL."""
    from django.conf import settings

    from config import beat_lock

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.postgresql":
        connection = beat_lock.beat_lock_wait(database, silent_after=settings.SCHEMA_BEAT_LOCK_SECONDS)
        beat_lock.watch(connection)
        _BEAT_LOCK.append(connection)  # kept open for the life of the process


_BEAT_LOCK: list[Any] = []


@beat_init.connect
def _beat_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    """After the lock (the receiver above): each scheduler pass touches the probes' heartbeat."""
    heartbeat.beat_heartbeat(sender)


@worker_ready.connect
def _worker_ready_file(**kwargs: Any) -> None:
    heartbeat.worker_ready()


@worker_process_shutdown.connect
def _on_worker_process_shutdown(pid: int | None = None, **kwargs: Any) -> None:
    mark_process_dead(pid or os.getpid())


@worker_init.connect
def _tracing_in_the_worker(sender: Any = None, **kwargs: Any) -> None:
    """Threads and solo pools run tasks in this process; prefork pools in their children (below)."""
    if "prefork" not in str(getattr(sender, "pool_cls", "")).lower():
        setup_tracing("schema-worker")


@worker_process_init.connect
def _tracing_in_a_pool_process(**kwargs: Any) -> None:
    """After the fork: the span exporter's thread does not survive one (config/tracing.py)."""
    setup_tracing("schema-worker")


@worker_init.connect
def _freeze_startup_objects(**kwargs: Any) -> None:
    """Last of the worker's start-up: its objects out of the collector's way (config/gc_freeze.py);
    a prefork pool's processes, forked later, inherit the frozen heap."""
    freeze_after_startup()
