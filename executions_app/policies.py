"""Execution policies after admission: `timeout_seconds` and `error_schema` (docs/contracts.md).

Timeout: when a walk starts an execution of a schema with `timeout_seconds`, a durable timer
(`execution_timers`, reason `timeout`) is scheduled for start + N s: the same row + delayed message +
reconciler as every other timer, so it fires across restarts of any process. When it fires on an
unfinished execution, the execution fails with "timed out after N s": a paused one at once (its
waiting branches recorded as interrupted steps, its timers dropped); a running one is marked failed,
and its walk stops before the next step (the step in flight ends as it ends: a call already sent
cannot be taken back). Measured from the start, not from creation: time queued for a concurrency
slot does not count.

Error schema: when an execution fails (after its retries and error ports), the schema named by
`error_schema` starts with `{execution, schema, failed_node, error}` as its trigger payload. Once
per failure: the new execution's idempotency key names the failure, so a repeated hand-off (a
redelivered message, the reconciler) returns the first one. An execution started as an error
handler never starts another one when it fails: no loop, however the schemas point at each other.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from engine.policies import ExecutionPolicy, execution_policy
from engine.store import waiting_entries
from schemas_app.models import Schema, SchemaStatus

from . import metrics
from .admission import admission_release, admission_release_for
from .locks import execution_lock, lease_fence
from .models import Execution, ExecutionStatus, ExecutionStep, ExecutionTimer, StepStatus, TimerStatus, TriggerType
from .services import execution_create
from .subflows import children_cancel, parent_wake
from .timers import timer_fire, timer_schedule, timers_cancel

logger = logging.getLogger("schema.executions")
TIMEOUT_REASON = "timeout"
ERROR_HANDOFF_WINDOW = timedelta(hours=1)  # how far back the reconciler looks for a lost hand-off


def timeout_message(seconds: int) -> str:
    return f"timed out after {seconds} s"


def timeout_schedule(execution_id: str, policy: ExecutionPolicy) -> None:
    """At the start of a walk: the execution's timeout timer, unless one is scheduled already (a
    redelivered first message, a resumed wait)."""
    if policy.timeout_seconds is None:
        return
    timers = ExecutionTimer.objects.filter(execution_id=execution_id, reason=TIMEOUT_REASON)
    if timers.filter(status=TimerStatus.SCHEDULED).exists():
        return
    request_id = Execution.objects.values_list("request_id", flat=True).get(pk=execution_id)
    due_at = timezone.now() + timedelta(seconds=policy.timeout_seconds)
    with transaction.atomic():
        lease_fence(execution_id)  # a walk that lost its lease schedules no timer
        timer_schedule(
            execution=Execution(pk=execution_id, request_id=request_id), due_at=due_at, reason=TIMEOUT_REASON
        )


def timeout_drop(execution_id: str) -> None:
    """The execution finished in time: its timeout timer is not needed any more."""
    ExecutionTimer.objects.filter(
        execution_id=execution_id, reason=TIMEOUT_REASON, status=TimerStatus.SCHEDULED
    ).update(status=TimerStatus.CANCELLED)


def _interrupted_steps(execution: Execution, definition: dict[str, Any], message: str) -> None:
    """One failed step per branch that was waiting when the timeout fired (the walk is not running:
    the caller holds the execution's lock)."""
    entries = waiting_entries(execution.state.checkpoint or {})
    if not entries:
        return
    types = {n.get("id"): n.get("type", "") for n in definition.get("nodes") or [] if isinstance(n, dict)}
    last = ExecutionStep.objects.filter(execution=execution).order_by("-seq").values_list("seq", flat=True).first()
    now = timezone.now()
    error = f"Interrupted: the execution {message}."
    ExecutionStep.objects.bulk_create(
        ExecutionStep(
            execution=execution,
            seq=(last or 0) + index,
            node_id=str(entry.get("node_id")),
            node_type=str(types.get(entry.get("node_id"), "")),
            status=StepStatus.FAILED,
            error=error,
            output={"error": {"type": "interrupted", "message": error, "details": {"waiting": entry.get("kind")}}},
            attempt=int(entry.get("attempt") or 1),
            started_at=now,
            finished_at=now,
        )
        for index, entry in enumerate(entries, start=1)
    )


def execution_timeout(execution_id: str, timer: ExecutionTimer, worker_id: str) -> str:
    """A timeout timer's message: fail the execution when it has not finished (see the module)."""
    early = (timer.due_at - timezone.now()).total_seconds()
    if 0 < early < 0.05:  # the runner lets a message a few ms early through; firing needs it due
        time.sleep(early)
    if timer_fire(timer.id) is None:
        return "timer-already-handled"
    with execution_lock(execution_id, f"{worker_id}:timeout") as owned, transaction.atomic():
        execution = (
            Execution.objects.select_for_update(of=("self",))
            .select_related("state", "schema_version")
            .filter(pk=execution_id)
            .first()
        )
        if execution is None or execution.is_finished:
            return "timeout-after-finish"
        definition = execution.schema_version.definition
        seconds = execution_policy(definition).timeout_seconds or round(
            (timer.due_at - timer.created_at).total_seconds()
        )
        message = timeout_message(seconds)
        Execution.objects.filter(pk=execution_id).update(
            status=ExecutionStatus.FAILED,
            error=message,
            finished_at=timezone.now(),
            lease_owner="",
            lease_expires_at=None,
        )
        timers_cancel(execution)
        children_cancel(execution)  # sub-schemas it started stop too
        parent_wake(execution_id)  # a timed-out sub-schema: its parent's node fails (or goes on)
        if owned:  # not walking: its waiting branches end here; a walk in progress stops itself
            _interrupted_steps(execution, definition, message)
    metrics.EXECUTION_TIMEOUTS.inc()
    metrics.EXECUTIONS_FINISHED.labels(ExecutionStatus.FAILED, execution.trigger_type).inc()
    logger.warning("execution %s", message, extra={"execution_id": execution_id, "execution_status": "failed"})
    admission_release_for(execution)
    error_schema_start(execution_id)
    return "timed-out"


def _failed_node(execution: Execution) -> dict[str, Any] | None:
    step = (
        ExecutionStep.objects.filter(execution=execution, status=StepStatus.FAILED)
        .order_by("-seq")
        .values("node_id", "node_type", "error", "attempt")
        .first()
    )
    if step is None:
        return None
    return {"id": step["node_id"], "type": step["node_type"], "error": step["error"], "attempt": step["attempt"]}


def _trigger_type(definition: dict[str, Any]) -> str | None:
    types = {n.get("type") for n in definition.get("nodes") or [] if isinstance(n, dict)}
    if "manual_trigger" in types:
        return TriggerType.MANUAL
    if "webhook_trigger" in types:
        return TriggerType.WEBHOOK
    return None


def error_schema_start(execution_id: str) -> Execution | None:
    """Start the failed execution's error schema (once per failure); None when there is none to
    start (no setting, not failed, itself an error handler, the error schema gone or unfit)."""
    execution = Execution.objects.select_related("schema", "schema_version").filter(pk=execution_id).first()
    if execution is None or execution.status != ExecutionStatus.FAILED or execution.finished_at is None:
        return None
    target_id = execution_policy(execution.schema_version.definition).error_schema
    if target_id is None:
        return None
    extra = {"execution_id": execution_id, "error_schema": target_id}
    if execution.error_of_id is not None:
        logger.warning("error handler failed: no further error schema is started (loop stopped)", extra=extra)
        return None
    target = (
        Schema.objects.filter(pk=target_id, created_by_id=execution.schema.created_by_id)
        .exclude(status=SchemaStatus.ARCHIVED)
        .exclude(pk=execution.schema_id)
        .first()
    )
    trigger_type = _trigger_type(target.definition) if target is not None else None
    if target is None or trigger_type is None:
        logger.warning(
            "error schema not started: it does not exist, is archived or has no manual/webhook trigger", extra=extra
        )
        return None
    payload = {
        "execution": {
            "id": str(execution.id),
            "trigger_type": execution.trigger_type,
            "schema_version": execution.schema_version.version,
            "created_at": execution.created_at.isoformat(),
            "started_at": execution.started_at.isoformat() if execution.started_at else None,
            "finished_at": execution.finished_at.isoformat(),
        },
        "schema": {"id": str(execution.schema_id), "name": execution.schema.name},
        "failed_node": _failed_node(execution),
        "error": execution.error,
    }
    handler, created = execution_create(
        schema=target,
        trigger_type=trigger_type,
        payload=payload,
        idempotency_key=f"failure:{execution.id}:{execution.finished_at.isoformat()}",
        request_id=execution.request_id,
        error_of=execution,
    )
    if created:
        metrics.ERROR_SCHEMA_STARTS.inc()
        logger.info("error schema started", extra={**extra, "error_execution_id": str(handler.id)})
    return handler


def error_schema_reconcile(now: Any = None) -> int:
    """Periodic repair: failures of the last hour whose error schema was not started (the worker died
    between the failure and the hand-off). Returns how many were started."""
    now = now or timezone.now()
    versions = (
        Execution.objects.filter(
            status=ExecutionStatus.FAILED,
            finished_at__gte=now - ERROR_HANDOFF_WINDOW,
            error_of__isnull=True,
            schema_version__definition__settings__error_schema__isnull=False,
        )
        .values_list("schema_version_id", flat=True)
        .distinct()
    )
    started = 0
    for version_id in list(versions[:100]):
        lost = Execution.objects.filter(
            schema_version_id=version_id,
            status=ExecutionStatus.FAILED,
            finished_at__gte=now - ERROR_HANDOFF_WINDOW,
            finished_at__lt=now - timedelta(seconds=5),
            error_of__isnull=True,
            error_handlers__isnull=True,
        ).values_list("id", flat=True)[:100]
        for execution_id in lost:
            if error_schema_start(str(execution_id)) is not None:
                started += 1
    return started


def policies_after_walk(execution_id: str, schema_id: Any, policy: ExecutionPolicy, status: str) -> None:
    """What the policies do when a walk returns (the runner calls this only for a schema with
    settings): give the concurrency slot back, drop the timeout, start the error schema."""
    if status in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED):
        if policy.timeout_seconds is not None:
            timeout_drop(execution_id)
        admission_release(execution_id, schema_id, policy)
        if policy.error_schema is not None:  # "cancelled" too: a timeout stops a walk as a cancel does
            error_schema_start(execution_id)
    elif status == ExecutionStatus.PAUSED:
        admission_release(execution_id, schema_id, policy, paused=True)
