"""Celery tasks of executions (found by Celery's autodiscovery; registered names in `config.queues`).

`execution_run_task` takes one execution by id and walks it until it ends, pauses or must retry
later; the durable work (lock, checkpoints, timers) is `executions_app.runner.execution_run`.
Infrastructure errors (database or broker unavailable) are retried with exponential back-off; when the
retries are exhausted the message is dead-lettered to `schema_execution_dlq` carrying the error. Node
errors never reach this level: they are business results recorded as failed steps.
"""

from __future__ import annotations

import logging
import os
import traceback
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from config.logging import log_context
from config.queues import TASK_PRUNE_EXECUTIONS, TASK_RECONCILE, TASK_RUN_EXECUTION, TASK_SCHEDULE_FIRE

from .admission import admission_reconcile
from .dlq import publish_dead_letter
from .locks import is_locked_elsewhere
from .models import FINISHED_STATUSES, Execution
from .pausing import pause_reconcile
from .policies import error_schema_reconcile
from .reconciler import reconcile_once
from .retention import prune_older_than_retention
from .runner import execution_run
from .services import execution_from_schedule
from .tracing import walk_span

logger = logging.getLogger("schema.engine")

INFRA_ERRORS = (OperationalError, InterfaceError, DatabaseError, ConnectionError, TimeoutError)
MAX_INFRA_RETRIES = 8


def _max_infra_retries() -> int:
    """`SCHEMA_INFRA_MAX_RETRIES` if the settings define it (the system tests use a small budget)."""
    return int(getattr(settings, "SCHEMA_INFRA_MAX_RETRIES", MAX_INFRA_RETRIES))


def _request_id(task: Any) -> str:
    headers = getattr(task.request, "headers", None) or {}
    return str(headers.get("request_id") or getattr(task.request, "request_id", "") or "")


@shared_task(bind=True, name=TASK_RUN_EXECUTION, acks_late=True, reject_on_worker_lost=True)
def execution_run_task(self: Any, execution_id: str, timer_id: int | None = None, busy_retries: int = 0) -> str:
    with log_context(execution_id=execution_id, request_id=_request_id(self) or None):
        try:
            with walk_span(execution_id, timer_id) as record:
                outcome = execution_run(
                    execution_id,
                    timer_id=timer_id,
                    busy_retries=busy_retries,
                    worker_id=f"{self.request.hostname or 'worker'}:{os.getpid()}",
                )
                record(outcome)
            return outcome
        except INFRA_ERRORS as exc:
            retries = self.request.retries or 0
            max_retries = _max_infra_retries()
            if retries >= max_retries:
                if _owned_elsewhere_or_finished(execution_id):
                    logger.warning(
                        "infrastructure error, retries exhausted; not dead-lettered: another worker owns the "
                        "execution (or it finished) — this message lost it",
                        exc_info=exc,
                    )
                    return "lease-lost"
                logger.error("infrastructure error, retries exhausted: dead-lettering", exc_info=exc)
                _dead_letter(self, execution_id, timer_id, exc)
                # The copy with the error is in the DLQ now (publish confirmed): ack the original.
                # Rejecting it too would dead-letter it a second time (two DLQ entries).
                return "dead-lettered"
            countdown = min(2**retries, 60)
            logger.warning("infrastructure error (%s); retry %d in %ss", type(exc).__name__, retries + 1, countdown)
            raise self.retry(exc=exc, countdown=countdown, max_retries=max_retries) from exc


def _owned_elsewhere_or_finished(execution_id: str) -> bool:
    """The dead letter's fence: a worker cut off long enough to exhaust its retries has usually lost
    the execution to another (issue 18); its dead letter would invite a requeue of a running one."""
    try:
        row = Execution.objects.filter(pk=execution_id).values_list("status", flat=True).first()
        return row in FINISHED_STATUSES or is_locked_elsewhere(execution_id)
    except INFRA_ERRORS:  # cannot tell (the database is still away): dead-letter it, as before
        return False


def _dead_letter(task: Any, execution_id: str, timer_id: int | None, exc: BaseException) -> None:
    """Publish the message to the DLQ with the error, so operators see why it died."""
    publish_dead_letter(
        app=task.app,
        task_name=task.name,
        args=[execution_id],
        kwargs={"timer_id": timer_id} if timer_id is not None else {},
        error="".join(traceback.format_exception(exc)),
    )


@shared_task(name=TASK_SCHEDULE_FIRE, acks_late=True)
def schedule_fire_task(schema_id: str, tick: str | None = None) -> str | None:
    """Cron tick from beat: start an execution of an active schedule-triggered schema, once per tick."""
    with log_context(schema_id=schema_id):
        execution = execution_from_schedule(schema_id, tick=tick)
        return str(execution.id) if execution else None


@shared_task(name=TASK_RECONCILE, acks_late=True)
def reconcile_task() -> dict[str, int]:
    """Periodic repair: re-publish stuck executions and fire overdue timers whose message was lost;
    hand free concurrency slots to waiters and start error schemas whose hand-off was lost."""
    counts = reconcile_once()
    counts["admitted"] = admission_reconcile()
    counts["error_schemas"] = error_schema_reconcile()
    counts["resumed"] = pause_reconcile()
    return counts


@shared_task(name=TASK_PRUNE_EXECUTIONS, acks_late=True)
def prune_executions_task() -> int:
    return prune_older_than_retention()
