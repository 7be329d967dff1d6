"""Celery tasks of the Execution Engine (the Celery/Django adapter around the core walker).

`run_execution` takes one execution by id and walks it until it ends, pauses or must retry later;
all the durable work (lease, checkpoints, timers) is in `executions_app.runner`. Infrastructure
errors (database or broker unavailable) are retried with exponential back-off; when the retries are
exhausted the message is dead-lettered to `schema_execution_dlq` carrying the error. Node errors
never reach this level: they are business results recorded as failed steps.
"""

from __future__ import annotations

import logging
import os
import traceback
from typing import Any

from celery import shared_task
from celery.signals import worker_init, worker_process_shutdown
from django.db import DatabaseError, InterfaceError, OperationalError

from config.logging import log_context

logger = logging.getLogger("schema.engine")

INFRA_ERRORS = (OperationalError, InterfaceError, DatabaseError, ConnectionError, TimeoutError)
MAX_INFRA_RETRIES = 8


def _max_infra_retries() -> int:
    """`SCHEMA_INFRA_MAX_RETRIES` if the settings define it (the system tests use a small budget)."""
    from django.conf import settings

    return int(getattr(settings, "SCHEMA_INFRA_MAX_RETRIES", MAX_INFRA_RETRIES))


def _request_id(task: Any) -> str:
    headers = getattr(task.request, "headers", None) or {}
    return str(headers.get("request_id") or getattr(task.request, "request_id", "") or "")


@shared_task(bind=True, name="engine.tasks.run_execution", acks_late=True, reject_on_worker_lost=True)
def run_execution(self: Any, execution_id: str, timer_id: int | None = None, busy_retries: int = 0) -> str:
    from executions_app.runner import execution_run

    with log_context(execution_id=execution_id, request_id=_request_id(self) or None):
        try:
            return execution_run(
                execution_id,
                timer_id=timer_id,
                busy_retries=busy_retries,
                worker_id=f"{self.request.hostname or 'worker'}:{os.getpid()}",
            )
        except INFRA_ERRORS as exc:
            retries = self.request.retries or 0
            max_retries = _max_infra_retries()
            if retries >= max_retries:
                logger.error("infrastructure error, retries exhausted: dead-lettering", exc_info=exc)
                dead_letter(self, execution_id, timer_id, exc)
                # The copy with the error is in the DLQ now (publish confirmed): ack the original.
                # Rejecting it too made RabbitMQ dead-letter it a second time (two DLQ entries, so
                # `dlq requeue --all` would run the execution from two messages).
                return "dead-lettered"
            countdown = min(2**retries, 60)
            logger.warning("infrastructure error (%s); retry %d in %ss", type(exc).__name__, retries + 1, countdown)
            raise self.retry(exc=exc, countdown=countdown, max_retries=max_retries) from exc


def dead_letter(task: Any, execution_id: str, timer_id: int | None, exc: BaseException) -> None:
    """Publish the message to the DLQ with the error, so operators see why it died."""
    from engine.dlq import publish_dead_letter

    publish_dead_letter(
        app=task.app,
        task_name=task.name,
        args=[execution_id],
        kwargs={"timer_id": timer_id} if timer_id is not None else {},
        error="".join(traceback.format_exception(exc)),
    )


@shared_task(name="engine.tasks.schedule_fire", acks_late=True)
def schedule_fire(schema_id: str) -> str | None:
    """Cron tick from beat: start an execution of an active schedule-triggered schema."""
    from executions_app.services import execution_from_schedule

    with log_context(schema_id=schema_id):
        execution = execution_from_schedule(schema_id)
        return str(execution.id) if execution else None


@shared_task(name="engine.tasks.reconcile", acks_late=True)
def reconcile() -> dict[str, int]:
    """Periodic repair: re-publish stuck executions and fire overdue timers whose message was lost."""
    from executions_app.reconciler import reconcile_once

    return reconcile_once()


@shared_task(name="engine.tasks.prune_executions", acks_late=True)
def prune_executions() -> int:
    from executions_app.retention import prune_older_than_retention

    return prune_older_than_retention()


@worker_init.connect
def _on_worker_init(sender: Any = None, **kwargs: Any) -> None:
    """Main worker process: fresh metric files, the DLQ declared, the metrics endpoint up."""
    from django.conf import settings

    from engine.metrics import start_worker_metrics_server
    from engine.prometheus_dir import reset_multiprocess_dir
    from engine.queues import DLQ, EXECUTION_QUEUE, declare_topology

    reset_multiprocess_dir()
    if settings.CELERY_BROKER_URL.startswith("amqp"):
        try:
            with sender.app.connection_for_write() as connection:
                declare_topology(connection)
        except Exception as exc:  # noqa: BLE001 - the worker itself will retry the broker connection
            logger.warning("could not declare the queue topology yet: %s", exc)
    start_worker_metrics_server(settings.SCHEMA_WORKER_METRICS_PORT, settings.CELERY_BROKER_URL, [EXECUTION_QUEUE, DLQ])


@worker_process_shutdown.connect
def _on_worker_process_shutdown(pid: int | None = None, **kwargs: Any) -> None:
    from engine.metrics import mark_process_dead

    mark_process_dead(pid or os.getpid())
