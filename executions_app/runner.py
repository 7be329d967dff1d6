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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from config.logging import log_context
from engine import metrics
from engine.dispatch import publish_execution
from engine.nodes import NodeServices
from engine.store import Checkpoint, ExecutionSnapshot, StepRecord, Waiting, current_node_id
from engine.walker import run_execution as walk
from schemas_app.models import SchemaVersion

from . import sql
from .immutable_cache import ImmutableRowCache
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
from .timers import timer_fire, timer_get, timer_schedule, timers_cancel

logger = logging.getLogger("schema.engine")
BUSY_REPUBLISH_LIMIT = 5
CANCEL_CHECK_INTERVAL = 0.2  # seconds; a cancel is noticed within this long of a running walk
_OPEN = ~Q(status__in=FINISHED_STATUSES)
_FINISHED_SQL = "(" + ", ".join(f"'{status}'" for status in sorted(FINISHED_STATUSES)) + ")"
_LOAD_SQL = """
SELECT e.status, e.schema_id, e.trigger_type, e.trigger_payload, e.schema_version_id, s.checkpoint
FROM executions e LEFT JOIN execution_state s ON s.execution_id = e.id WHERE e.id = %s::uuid
"""
_EXECUTION_COLUMNS = frozenset({"result", "error", "finished_at", "lease_owner", "lease_expires_at"})
# The steps travel as ONE jsonb array parameter: a constant statement text (psycopg caches its
# parsing only below 50 parameters) and one json.dumps instead of two per step. Python None is SQL
# NULL in a JSONField, as Django stores it.
_STEPS_INSERT = """steps AS (INSERT INTO execution_steps
    (execution_id, seq, node_id, node_type, input, output, status, error, attempt, started_at, finished_at)
    SELECT %s::uuid, x.seq, x.node_id, x.node_type, NULLIF(x.input, 'null'::jsonb), NULLIF(x.output, 'null'::jsonb),
           x.status, x.error, x.attempt, x.started_at, x.finished_at
    FROM jsonb_to_recordset(%s::jsonb) AS x(seq integer, node_id text, node_type text, input jsonb, output jsonb,
         status text, error text, attempt integer, started_at timestamptz, finished_at timestamptz)), """
_STATE_UPDATE = """state AS (UPDATE execution_state SET checkpoint = %s::jsonb, context = %s::jsonb,
    current_node_id = %s, wait_kind = %s, resume_at = %s, updated_at = %s WHERE execution_id = %s)"""

# The pinned definitions (schema versions are immutable rows), as JSON text: each walk parses its
# own copy, so nothing a walk does can leak into the next one.
_DEFINITIONS: ImmutableRowCache[int, str] = ImmutableRowCache(32 * 1024 * 1024, len)


def _definition_text(version_id: int) -> str:
    return _DEFINITIONS.get(
        version_id,
        lambda: json.dumps(SchemaVersion.objects.values_list("definition", flat=True).get(pk=version_id)),
    )


def _from_jsonb(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _jsonb(value: Any) -> str | None:
    """A JSONField value as Django stores it: Python None is SQL NULL, anything else JSON text."""
    return None if value is None else json.dumps(value)


class DjangoExecutionStore:
    """`engine.store.ExecutionStore` on the Django models (PostgreSQL in production).

    On PostgreSQL the hot path is a few hand-written statements (measured with `make bench-profile`:
    the ORM spent more CPU building SQL than PostgreSQL spent running it): `prefetch` reads the
    execution and its checkpoint in one query (the pinned definition comes from a per-process cache
    of the immutable schema versions), and each write — the new steps, the checkpoint and the status
    change — is ONE statement (data-modifying CTEs) in autocommit: atomic without BEGIN/COMMIT round
    trips. The status pending → running (with `started_at` and the lease owner) rides on the first
    write. SQLite (embedded mode) takes the ORM path with the same semantics.
    """

    def __init__(self, worker_id: str = "worker") -> None:
        self.worker_id = worker_id
        self._cancel_checked: dict[str, float] = {}
        self._meta: dict[str, tuple[str, str]] = {}  # execution id → (schema id, trigger type)
        self._snapshots: dict[str, ExecutionSnapshot] = {}
        self._starting: dict[str, datetime] = {}  # read as pending: started_at for the first write
        self._began: dict[str, float] = {}  # when this walk read the execution (its log lines' walk_ms)
        self._postgres = connection.vendor == "postgresql"

    # --- reads -----------------------------------------------------------------------------------
    def prefetch(self, execution_id: str) -> ExecutionSnapshot | None:
        """Reads the execution (None when it does not exist); the walker's `load` then returns it."""
        if not self._postgres:
            execution = Execution.objects.select_related("state").filter(pk=execution_id).first()
            if execution is None:
                return None
            state = getattr(execution, "state", None)
            row = (
                execution.status,
                str(execution.schema_id),
                execution.trigger_type,
                execution.trigger_payload,
                execution.schema_version_id,
                dict(state.checkpoint) if state else {},
            )
        else:
            rows, _ = sql.execute(_LOAD_SQL, [execution_id], repeatable=True)
            if not rows:
                return None
            # Django has psycopg hand jsonb over as text (JSONField decodes it): decode it here.
            found = rows[0]
            row = (*found[:3], _from_jsonb(found[3]), found[4], _from_jsonb(found[5]))
        status, schema_id, trigger_type, payload, version_id, checkpoint = row
        self._meta[execution_id] = (str(schema_id), trigger_type)
        # The status was just read: the first cancel check is due one interval from now (saves a
        # query per execution; a cancel is still noticed within CANCEL_CHECK_INTERVAL).
        self._cancel_checked[execution_id] = self._began[execution_id] = time.monotonic()
        if status == ExecutionStatus.PENDING:
            self._starting[execution_id] = timezone.now()
        snapshot = ExecutionSnapshot(
            execution_id=str(execution_id),
            status=status,
            definition=json.loads(_definition_text(version_id)),  # a fresh object per walk
            trigger_payload=payload,
            checkpoint=dict(checkpoint or {}),
        )
        self._snapshots[execution_id] = snapshot
        return snapshot

    def load(self, execution_id: str) -> ExecutionSnapshot:
        snapshot = self._snapshots.pop(execution_id, None) or self.prefetch(execution_id)
        if snapshot is None:
            raise Execution.DoesNotExist(f"execution {execution_id} does not exist")
        return snapshot

    def meta(self, execution_id: str) -> tuple[str, str]:
        """(schema id, trigger type) of a prefetched execution."""
        return self._meta[execution_id]

    def started(self, execution_id: str) -> bool:
        """True when this walk takes the execution from pending (it was read as pending)."""
        return execution_id in self._starting

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
        *,
        wait_kind: str = "",
        resume_at: datetime | None = None,
        status: str = ExecutionStatus.RUNNING,
        **fields: Any,
    ) -> int:
        """Appends the steps, saves the checkpoint and moves the (unfinished) execution to `status`
        with `fields`; returns 1 when the status changed (0: it had finished, e.g. was cancelled)."""
        now = timezone.now()
        if status == ExecutionStatus.RUNNING:
            fields["lease_owner"] = self.worker_id
        elif status in FINISHED_STATUSES:
            fields.update(finished_at=now, lease_owner="", lease_expires_at=None)
        write = _Write(
            execution_id=execution_id,
            steps=steps,
            checkpoint=checkpoint,
            wait_kind=wait_kind,
            resume_at=resume_at,
            now=now,
            status=status,
            started_at=self._starting.pop(execution_id, now),  # kept when it was set before
            fields=fields,
        )
        updated = _write_postgres(write) if self._postgres else _write_orm(write)
        self._observe(execution_id, steps)
        return updated

    def _observe(self, execution_id: str, steps: Sequence[StepRecord]) -> None:
        schema_id = self._meta.get(execution_id, ("", ""))[0]
        for step in steps:
            metrics.STEP_DURATION.labels(step.node_type, step.status).observe(step.duration_ms / 1000)
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
                    # The record's own context (cheaper than entering log_context per step).
                    "schema_id": schema_id,
                    "node_id": step.node_id,
                },
            )

    def _finished(self, execution_id: str, status: str, updated: int, **fields: Any) -> None:
        if updated:
            trigger = self._meta.get(execution_id, ("", "unknown"))[1]
            metrics.EXECUTIONS_FINISHED.labels(status, trigger).inc()
            # The result may carry users' data (it is in the database for those allowed to see it):
            # the log line says only how big it is.
            summary = {k: v for k, v in fields.items() if k != "result"}
            if "result" in fields:
                summary["result_bytes"] = len(json.dumps(fields["result"], default=str))
            logger.info(
                "execution %s", status, extra={"execution_status": status, **summary, **self._walk_ms(execution_id)}
            )

    def _walk_ms(self, execution_id: str) -> dict[str, float]:
        """How long this walk (this message) took so far, for its last log line."""
        began = self._began.get(execution_id)
        return {} if began is None else {"walk_ms": round((time.monotonic() - began) * 1000, 1)}

    def save_checkpoint(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint) -> None:
        self._append(execution_id, steps, checkpoint)

    @transaction.atomic
    def pause(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint, waiting: Waiting) -> None:
        updated = self._append(
            execution_id,
            steps,
            checkpoint,
            wait_kind=waiting.kind,
            resume_at=waiting.resume_at,
            status=ExecutionStatus.PAUSED,
        )
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
                **self._walk_ms(execution_id),
            },
        )

    def complete(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint, result: Any) -> None:
        updated = self._append(execution_id, steps, checkpoint, status=ExecutionStatus.COMPLETED, result=result)
        self._finished(execution_id, ExecutionStatus.COMPLETED, updated, result=result)

    def fail(
        self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint, error: str, node_id: str | None
    ) -> None:
        updated = self._append(execution_id, steps, checkpoint, status=ExecutionStatus.FAILED, error=error)
        self._finished(execution_id, ExecutionStatus.FAILED, updated, error=error)

    @transaction.atomic
    def cancel(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint) -> None:
        self._append(execution_id, steps, checkpoint, status=ExecutionStatus.CANCELLED)
        timers_cancel(Execution(pk=execution_id))


@dataclass(frozen=True)
class _Write:
    """One write of the store: steps appended, checkpoint saved, status changed (if unfinished)."""

    execution_id: str
    steps: Sequence[StepRecord]
    checkpoint: Checkpoint
    wait_kind: str
    resume_at: datetime | None
    now: datetime
    status: str
    started_at: datetime  # COALESCEd: set by the first write only
    fields: dict[str, Any]  # more columns of `executions` to set with the status


def _write_postgres(w: _Write) -> int:
    """The whole write as one statement (atomic in autocommit; no BEGIN/COMMIT round trips)."""
    params: list[Any] = []
    statement = ["WITH "]
    if w.steps:
        statement.append(_STEPS_INSERT)
        rows = [
            {
                "seq": s.seq, "node_id": s.node_id, "node_type": s.node_type, "input": s.input, "output": s.output,
                "status": s.status, "error": s.error, "attempt": s.attempt,
                "started_at": s.started_at.isoformat(), "finished_at": s.finished_at.isoformat(),
            }
            for s in w.steps
        ]  # fmt: skip
        params += [w.execution_id, json.dumps(rows)]
    statement.append(_STATE_UPDATE)
    params += [
        json.dumps(w.checkpoint), json.dumps(w.checkpoint.get("vars", {})), current_node_id(w.checkpoint),
        w.wait_kind, w.resume_at, w.now, w.execution_id,
    ]  # fmt: skip
    assignments = ["status = %s", "started_at = COALESCE(started_at, %s)"]
    params += [w.status, w.started_at]
    for name, value in w.fields.items():
        if name not in _EXECUTION_COLUMNS:
            raise ValueError(f"not a writable column of executions: {name!r}")
        if name == "result":
            assignments.append("result = %s::jsonb")
            params.append(_jsonb(value))
        else:
            assignments.append(f"{name} = %s")
            params.append(value)
    statement.append(f" UPDATE executions SET {', '.join(assignments)} WHERE id = %s AND status NOT IN {_FINISHED_SQL}")  # noqa: S608 - names from _EXECUTION_COLUMNS
    params.append(w.execution_id)
    if w.status == ExecutionStatus.RUNNING:  # a running walk's checkpoints: no new row version per batch
        statement.append(" AND status <> 'running'")
    return sql.execute("".join(statement), params)[1]


def _write_orm(w: _Write) -> int:
    """The same write through the ORM in a transaction (SQLite, the embedded mode)."""
    with transaction.atomic():
        if w.steps:
            ExecutionStep.objects.bulk_create(
                ExecutionStep(
                    execution_id=w.execution_id,
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
                for s in w.steps
            )
        ExecutionState.objects.filter(execution_id=w.execution_id).update(
            checkpoint=w.checkpoint,
            context=w.checkpoint.get("vars", {}),
            current_node_id=current_node_id(w.checkpoint),
            wait_kind=w.wait_kind,
            resume_at=w.resume_at,
            updated_at=w.now,
        )
        execution = Execution.objects.filter(_OPEN, pk=w.execution_id)
        if w.status == ExecutionStatus.RUNNING:
            execution = execution.exclude(status=ExecutionStatus.RUNNING)
        return execution.update(status=w.status, started_at=Coalesce("started_at", Value(w.started_at)), **w.fields)


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


def _timer_already_handled(timer_id: int, status: str) -> str:
    """A wake-up message whose timer needs nothing more (a repeat, or the pause was cancelled)."""
    logger.info("wake-up message dropped: timer-already-handled (%s)", status, extra={"timer_id": timer_id})
    return "timer-already-handled"


def execution_run(
    execution_id: str, *, timer_id: int | None = None, worker_id: str = "worker", busy_retries: int = 0
) -> str:
    """Continue one execution; returns what happened (for logs and tests)."""
    if timer_id is not None:
        timer = timer_get(timer_id)
        if timer is None or timer.status == TimerStatus.CANCELLED:
            return _timer_already_handled(timer_id, "cancelled" if timer else "deleted")
        if timer.status == TimerStatus.FIRED and not _wake_up_unfinished(execution_id, timer):
            return _timer_already_handled(timer_id, "fired")
        if timer.status == TimerStatus.SCHEDULED and timer.due_at > timezone.now() + timedelta(milliseconds=5):
            if not _eager():  # arrived early: wait in the broker again (eagerly it would recurse)
                publish_execution(execution_id, eta=timer.due_at, timer_id=timer_id)
                logger.info(
                    "wake-up message early: back to the broker until %s",
                    timer.due_at.isoformat(),
                    extra={"timer_id": timer_id},
                )
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
                logger.info(
                    "execution busy: another walk holds its lock; this message comes back in %d s",
                    1 + busy_retries,
                    extra={"busy_retries": busy_retries + 1},
                )
            else:
                logger.info("execution busy: another walk holds its lock; this message is dropped")
            return "busy"
        if timer_id is not None:
            fired = timer_fire(timer_id)
            if fired is not None:
                metrics.TIMER_LATENESS.labels(fired.reason).observe((fired.lateness_ms or 0) / 1000)
            elif timer is None or not _wake_up_unfinished(execution_id, timer):
                return _timer_already_handled(timer_id, "fired")
            # else: the timer fired, but the walk it started died before its next checkpoint (the
            # worker was killed, the database went away): this redelivered or retried message
            # finishes the wake-up. Dropping it left the execution paused forever.
        store = DjangoExecutionStore(worker_id)
        snapshot = store.prefetch(execution_id)
        if snapshot is None:
            logger.warning("execution %s does not exist (deleted?); message dropped", execution_id)
            return "missing"
        schema_id, trigger_type = store.meta(execution_id)
        with log_context(schema_id=schema_id):
            if store.started(execution_id):
                metrics.EXECUTIONS_STARTED.labels(trigger_type).inc()
                logger.info("execution started", extra={"trigger_type": trigger_type})
            outcome = walk(store, execution_id, services=node_services())
        if outcome.status == "running":  # step budget used up: continue in a fresh message
            publish_execution(execution_id)
        return outcome.status
