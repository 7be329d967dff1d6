"""The worker side of an execution: the engine's `ExecutionStore` on PostgreSQL, and `execution_run`.

`execution_run` is what the Celery task calls: fire the timer that woke us (once), take the
execution's lock, and let the engine's walker continue from the checkpoint. Every write of the store
is one transaction: the new `execution_steps` rows, the `execution_state` checkpoint and the
execution's status — so a crash at any point leaves either the old or the new checkpoint, and
`(execution_id, seq)` uniqueness makes a double-recorded step impossible.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from config.logging import log_context
from engine import metrics
from engine.dispatch import publish_execution
from engine.nodes import NodeServices
from engine.store import Checkpoint, ExecutionSnapshot, StepRecord, Waiting, current_node_id
from engine.walker import run_execution as walk

from .locks import execution_lock
from .models import (
    FINISHED_STATUSES,
    Execution,
    ExecutionState,
    ExecutionStatus,
    ExecutionStep,
    ExecutionTimer,
    TimerStatus,
)
from .timers import timer_fire, timer_schedule, timers_cancel

logger = logging.getLogger("schema.engine")
BUSY_REPUBLISH_LIMIT = 5
CANCEL_CHECK_INTERVAL = 0.2  # seconds; a cancel is noticed within this long of a running walk
_OPEN = ~Q(status__in=FINISHED_STATUSES)


class DjangoExecutionStore:
    """`engine.store.ExecutionStore` on the Django models (PostgreSQL in production)."""

    def __init__(self) -> None:
        self._cancel_checked: dict[str, float] = {}
        self._meta: dict[str, tuple[str, str]] = {}  # execution id → (schema id, trigger type)

    # --- reads -----------------------------------------------------------------------------------
    def load(self, execution_id: str) -> ExecutionSnapshot:
        execution = Execution.objects.select_related("schema_version", "state").get(pk=execution_id)
        self._meta[execution_id] = (str(execution.schema_id), execution.trigger_type)
        # The status was just read: the first cancel check is due one interval from now (saves a
        # query per execution; a cancel is still noticed within CANCEL_CHECK_INTERVAL).
        self._cancel_checked[execution_id] = time.monotonic()
        state = getattr(execution, "state", None)
        return ExecutionSnapshot(
            execution_id=str(execution.id),
            status=execution.status,
            definition=execution.schema_version.definition,
            trigger_payload=execution.trigger_payload,
            checkpoint=dict(state.checkpoint) if state else {},
        )

    def is_cancelled(self, execution_id: str) -> bool:
        now = time.monotonic()
        if now - self._cancel_checked.get(execution_id, 0.0) < CANCEL_CHECK_INTERVAL:
            return False
        self._cancel_checked[execution_id] = now
        return Execution.objects.filter(pk=execution_id, status=ExecutionStatus.CANCELLED).exists()

    # --- writes (each one transaction) -------------------------------------------------------------
    def _append(
        self,
        execution_id: str,
        steps: Sequence[StepRecord],
        checkpoint: Checkpoint,
        wait_kind: str = "",
        resume_at: datetime | None = None,
    ) -> None:
        if steps:
            ExecutionStep.objects.bulk_create(
                ExecutionStep(
                    execution_id=execution_id,
                    seq=s.seq,
                    node_id=s.node_id,
                    node_type=s.node_type,
                    input=s.input,
                    output=s.output,
                    status=s.status,
                    error=s.error,
                    attempt=s.attempt,
                    started_at=s.started_at,
                    finished_at=s.finished_at,
                )
                for s in steps
            )
        ExecutionState.objects.filter(execution_id=execution_id).update(
            checkpoint=checkpoint,
            context=checkpoint.get("vars", {}),
            current_node_id=current_node_id(checkpoint),
            wait_kind=wait_kind,
            resume_at=resume_at,
            updated_at=timezone.now(),
        )
        self._observe(execution_id, steps)

    def _observe(self, execution_id: str, steps: Sequence[StepRecord]) -> None:
        schema_id = self._meta.get(execution_id, ("", ""))[0]
        for step in steps:
            metrics.STEP_DURATION.labels(step.node_type, step.status).observe(step.duration_ms / 1000)
            with log_context(schema_id=schema_id, node_id=step.node_id):
                log = logger.error if step.status == "failed" else logger.info
                log(
                    "step %s %s (%s, attempt %d, %.1f ms)",
                    step.node_id,
                    step.status,
                    step.node_type,
                    step.attempt,
                    step.duration_ms,
                    extra={
                        "seq": step.seq,
                        "node_type": step.node_type,
                        "step_status": step.status,
                        "attempt": step.attempt,
                        "duration_ms": step.duration_ms,
                        **({"error": step.error} if step.error else {}),
                    },
                )

    def _finish(self, execution_id: str, status: str, **fields: Any) -> None:
        updated = Execution.objects.filter(_OPEN, pk=execution_id).update(
            status=status, finished_at=timezone.now(), lease_owner="", lease_expires_at=None, **fields
        )
        if updated:
            trigger = self._meta.get(execution_id, ("", "unknown"))[1]
            metrics.EXECUTIONS_FINISHED.labels(status, trigger).inc()
            # The result may carry users' data (it is in the database for those allowed to see it):
            # the log line says only how big it is.
            summary = {k: v for k, v in fields.items() if k != "result"}
            if "result" in fields:
                summary["result_bytes"] = len(json.dumps(fields["result"], default=str))
            logger.info("execution %s", status, extra={"execution_status": status, **summary})

    @transaction.atomic
    def save_checkpoint(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint) -> None:
        self._append(execution_id, steps, checkpoint)
        self._mark_running(execution_id)

    def _mark_running(self, execution_id: str) -> None:
        Execution.objects.filter(_OPEN, pk=execution_id).exclude(status=ExecutionStatus.RUNNING).update(
            status=ExecutionStatus.RUNNING
        )

    @transaction.atomic
    def pause(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint, waiting: Waiting) -> None:
        self._append(execution_id, steps, checkpoint, wait_kind=waiting.kind, resume_at=waiting.resume_at)
        updated = Execution.objects.filter(_OPEN, pk=execution_id).update(status=ExecutionStatus.PAUSED)
        execution = Execution(pk=execution_id, request_id="")
        ExecutionTimer.objects.filter(execution_id=execution_id, status=TimerStatus.SCHEDULED).update(
            status=TimerStatus.CANCELLED
        )
        if updated and waiting.resume_at is not None:
            execution.request_id = Execution.objects.values_list("request_id", flat=True).get(pk=execution_id)
            timer_schedule(execution=execution, due_at=waiting.resume_at, reason=waiting.kind, node_id=waiting.node_id)
        if waiting.kind == "retry":
            node_type = steps[-1].node_type if steps else "unknown"
            metrics.STEP_RETRIES.labels(node_type).inc()
        logger.info(
            "execution paused (%s at %s)",
            waiting.kind,
            waiting.node_id,
            extra={
                "wait_kind": waiting.kind,
                "node_id": waiting.node_id,
                "resume_at": waiting.resume_at.isoformat() if waiting.resume_at else None,
            },
        )

    @transaction.atomic
    def complete(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint, result: Any) -> None:
        self._append(execution_id, steps, checkpoint)
        self._finish(execution_id, ExecutionStatus.COMPLETED, result=result)

    @transaction.atomic
    def fail(
        self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint, error: str, node_id: str | None
    ) -> None:
        self._append(execution_id, steps, checkpoint)
        self._finish(execution_id, ExecutionStatus.FAILED, error=error)

    @transaction.atomic
    def cancel(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint) -> None:
        self._append(execution_id, steps, checkpoint)
        Execution.objects.filter(pk=execution_id).exclude(status__in=FINISHED_STATUSES).update(
            status=ExecutionStatus.CANCELLED, finished_at=timezone.now()
        )
        timers_cancel(Execution(pk=execution_id))


def _eager() -> bool:
    from celery import current_app

    return bool(current_app.conf.task_always_eager)


def node_services() -> NodeServices:
    from executions_app.outbound import outbound_policy

    return NodeServices(outbound_policy=outbound_policy(), logger_name="schema.nodes")


def _wake_up_unfinished(execution_id: str, timer: ExecutionTimer) -> bool:
    """True when the execution still waits for the pause this timer ended: its wake-up was taken
    (the timer is fired) but no checkpoint after it was committed. Checked under the execution's
    lock, so no walk is in progress; any committed step after the wake-up clears `resume_at`."""
    return ExecutionState.objects.filter(
        execution_id=execution_id, execution__status=ExecutionStatus.PAUSED, resume_at=timer.due_at
    ).exists()


def execution_run(
    execution_id: str, *, timer_id: int | None = None, worker_id: str = "worker", busy_retries: int = 0
) -> str:
    """Continue one execution; returns what happened (for logs and tests)."""
    if timer_id is not None:
        timer = ExecutionTimer.objects.filter(pk=timer_id).only("status", "due_at", "reason").first()
        if timer is None or timer.status == TimerStatus.CANCELLED:
            return "timer-already-handled"
        if timer.status == TimerStatus.FIRED and not _wake_up_unfinished(execution_id, timer):
            return "timer-already-handled"
        if timer.status == TimerStatus.SCHEDULED and timer.due_at > timezone.now() + timedelta(milliseconds=5):
            if not _eager():  # arrived early: wait in the broker again (eagerly it would recurse)
                publish_execution(execution_id, eta=timer.due_at, timer_id=timer_id)
            return "timer-not-due"
    with execution_lock(execution_id, worker_id) as owned:
        if not owned:
            if busy_retries < BUSY_REPUBLISH_LIMIT and not _eager():
                from engine.tasks import run_execution

                # A whole-second countdown: a fractional ETA just under 1 s made Celery's native
                # delayed delivery raise "countdown must be a positive number" (see engine.dispatch).
                run_execution.apply_async(
                    args=[execution_id],
                    kwargs={"timer_id": timer_id, "busy_retries": busy_retries + 1},
                    countdown=1 + busy_retries,
                )
            return "busy"
        if timer_id is not None:
            fired = timer_fire(timer_id)
            if fired is not None:
                metrics.TIMER_LATENESS.labels(fired.reason).observe((fired.lateness_ms or 0) / 1000)
            elif timer is None or not _wake_up_unfinished(execution_id, timer):
                return "timer-already-handled"
            # else: the timer fired, but the walk it started died before its next checkpoint (the
            # worker was killed, the database went away): this redelivered or retried message
            # finishes the wake-up. Dropping it left the execution paused forever.
        started = Execution.objects.filter(pk=execution_id, status=ExecutionStatus.PENDING).update(
            status=ExecutionStatus.RUNNING, started_at=timezone.now(), lease_owner=worker_id
        )
        store = DjangoExecutionStore()
        try:
            snapshot_meta = Execution.objects.values_list("schema_id", "trigger_type").get(pk=execution_id)
        except Execution.DoesNotExist:
            logger.warning("execution %s does not exist (deleted?); message dropped", execution_id)
            return "missing"
        with log_context(schema_id=str(snapshot_meta[0])):
            if started:
                metrics.EXECUTIONS_STARTED.labels(snapshot_meta[1]).inc()
                logger.info("execution started", extra={"trigger_type": snapshot_meta[1]})
            outcome = walk(store, execution_id, services=node_services())
        if outcome.status == "running":  # step budget used up: continue in a fresh message
            publish_execution(execution_id)
        return outcome.status
