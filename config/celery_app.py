"""The Celery application of the Execution Engine.

Workers, beat and every publisher (API processes included) share this configuration: the broker is
`RABBITMQ_URL`, and the queue topology (quorum `schema_execution_queue` with its dead-letter queue)
comes from settings so that countdown/ETA messages published by the API use the broker's delayed
delivery instead of a worker's memory.
"""

import os
import sys

from celery import Celery
from celery.signals import task_postrun, task_prerun

if "worker" in sys.argv:  # multiprocess metrics must be configured before prometheus_client loads
    from engine.prometheus_dir import ensure_multiprocess_dir

    ensure_multiprocess_dir("worker")

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("schema")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


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
