"""The Celery application of the Execution Engine.

Workers, beat and every publisher (API processes included) share this configuration: the broker is
`RABBITMQ_URL`, and the queue topology (quorum `schema_execution_queue` with its dead-letter queue)
comes from settings so that countdown/ETA messages published by the API use the broker's delayed
delivery instead of a worker's memory.
"""

import os
import sys

from celery import Celery

if "worker" in sys.argv:  # multiprocess metrics must be configured before prometheus_client loads
    from engine.prometheus_dir import ensure_multiprocess_dir

    ensure_multiprocess_dir("worker")

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("schema")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
