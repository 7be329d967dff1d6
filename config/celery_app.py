"""The Celery application of the Execution Engine.

Workers, beat and every publisher (API processes included) share this configuration: the broker is
`RABBITMQ_URL`, and the queue topology (quorum `schema_execution_queue` with its dead-letter queue)
comes from settings so that countdown/ETA messages published by the API use the broker's delayed
delivery instead of a worker's memory.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("schema")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
