from typing import Any

from celery.signals import beat_init
from django.apps import AppConfig


class ExecutionsAppConfig(AppConfig):
    name = "executions_app"
    verbose_name = "Executions"

    def ready(self) -> None:
        # Registered in every process (API, worker, manage.py): dispatch publishes by task name.
        from . import tasks  # noqa: F401

        beat_init.connect(_start_outbox_relay, weak=False)


def _start_outbox_relay(**_: Any) -> None:
    """Beat runs the outbox relay (after config.celery_app has taken the beat lock: one at a time)."""
    from .outbox import start_relay_thread

    start_relay_thread()
