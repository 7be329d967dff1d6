"""The engine's `ExecutionStore` on PostgreSQL (the Django models): what a walk reads and writes.

Every write of the store is one transaction: the new `execution_steps` rows, the `execution_state`
checkpoint and the execution's status — so a crash at any point leaves either the old or the new
checkpoint, and `(execution_id, seq)` uniqueness makes a double-recorded step impossible. Each
write also logs its steps and counts them in the metrics.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from engine.errors import STAFF_ONLY_OUTPUT_KEY
from engine.store import Checkpoint, ChildResult, ExecutionSnapshot, StepRecord, Waiting
from schemas_app.models import SchemaVersion

from . import metrics
from .immutable_cache import ImmutableRowCache
from .items import items_load, items_save
from .locks import held_epoch, lease_released
from .models import FINISHED_STATUSES, Execution, ExecutionStatus, ExecutionTimer, TimerStatus, TriggerType
from .services import execution_create
from .sql import Write, queries
from .subflows import (
    CHILD_TIMER_REASON,
    ChildTarget,
    child_wakeups_pending,
    child_wakeups_taken,
    children_progress,
    children_results,
    children_start,
    children_target,
    parent_wake,
)
from .timers import RESUME_TIMER_REASON, resumes_for, timer_schedule, timers_cancel

logger = logging.getLogger("schema.engine")
_STOPPED = (ExecutionStatus.CANCELLED, ExecutionStatus.FAILED)
CANCEL_CHECK_INTERVAL = 0.2  # seconds; a cancel is noticed within this long of a running walk

# The pinned definitions (schema versions are immutable rows), as JSON text: each walk parses its
# own copy, so nothing a walk does can leak into the next one.
_DEFINITIONS: ImmutableRowCache[int, str] = ImmutableRowCache(32 * 1024 * 1024, len)


def _definition_text(version_id: int) -> str:
    return _DEFINITIONS.get(
        version_id,
        lambda: json.dumps(SchemaVersion.objects.values_list("definition", flat=True).get(pk=version_id)),
    )


def _log_with_traceback(msg: str, args: tuple[Any, ...], extra: dict[str, Any], output: dict[str, Any]) -> None:
    """An ERROR line carrying the traceback the walker kept (the exception object is gone by now):
    it comes out as `exc_info`, like any other ERROR with a traceback."""
    if not logger.isEnabledFor(logging.ERROR):
        return
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, msg, args, None, extra=extra)
    record.exc_text = str((output.get(STAFF_ONLY_OUTPUT_KEY) or {}).get("traceback") or "") or None
    logger.handle(record)


class DjangoExecutionStore:
    """`engine.store.ExecutionStore` on the Django models (PostgreSQL in production).

    `prefetch` reads the execution and its checkpoint in one query (the pinned definition comes
    from a per-process cache of the immutable schema versions); each write — the new steps, the
    checkpoint and the status change — is one transaction (on PostgreSQL one statement, `sql.py`).
    The status pending → running (with `started_at` and the lease owner) rides on the first write.
    """

    def __init__(self, worker_id: str = "worker") -> None:
        self.worker_id = worker_id
        self._cancel_checked: dict[str, float] = {}
        self._meta: dict[str, tuple[str, str]] = {}  # execution id → (schema id, trigger type)
        self._snapshots: dict[str, ExecutionSnapshot] = {}
        self._starting: dict[str, datetime] = {}  # read as pending: started_at for the first write
        self._began: dict[str, float] = {}  # when this walk read the execution (its log lines' walk_ms)
        self._child_targets: dict[tuple[str, str, str, int], ChildTarget] = {}  # children_target's, per node
        self._wakeups: dict[str, set[int]] = {}  # `child` wake-ups taken by a progress read, fired at the next write
        self._queries = queries()

    # --- reads -----------------------------------------------------------------------------------
    def prefetch(self, execution_id: str) -> ExecutionSnapshot | None:
        """Reads the execution (None when it does not exist); the walker's `load` then returns it."""
        row = self._queries.execution_load(execution_id)
        if row is None:
            return None
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
        # Failed while walking: the schema's timeout fired (executions_app/policies.py).
        return Execution.objects.filter(pk=execution_id, status__in=_STOPPED).exists()

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
        write = Write(
            execution_id=execution_id,
            steps=steps,
            checkpoint=checkpoint,
            wait_kind=wait_kind,
            resume_at=resume_at,
            now=now,
            status=status,
            started_at=self._starting.pop(execution_id, now),  # kept when it was set before
            fields=fields,
            epoch=held_epoch(execution_id),  # fenced: refused once another worker took over
        )
        updated = self._queries.execution_write(write)
        if updated and write.epoch is not None and "lease_expires_at" in fields:  # finished: released with it
            lease_released(execution_id)
        taken = self._wakeups.pop(execution_id, None)  # set by a read of the children's progress
        if taken is not None:
            if status in FINISHED_STATUSES:  # nothing left to wake it for (a child that ended since the read)
                taken.update(child_wakeups_pending(execution_id))
            if taken:  # the progress they woke us for is saved: they are done
                for seconds in child_wakeups_taken(taken):
                    metrics.TIMER_LATENESS.labels(CHILD_TIMER_REASON).observe(seconds)
        self._observe(execution_id, steps)
        return updated

    def _observe(self, execution_id: str, steps: Sequence[StepRecord]) -> None:
        """One line per step. A failed step is a WARNING with its message — a business result any
        user can cause (an HTTP error answer, a `fail` node, a bad expression) must not flood the
        error logs and alerts; only an internal error (a bug of ours) is an ERROR with its traceback."""
        schema_id = self._meta.get(execution_id, ("", ""))[0]
        for step in steps:
            metrics.STEP_DURATION.labels(step.node_type, step.status).observe(step.duration_ms / 1000)
            extra = {
                "seq": step.seq,
                "node_type": step.node_type,
                "step_status": step.status,
                "attempt": step.attempt,
                "duration_ms": step.duration_ms,
                # The record's own context (cheaper than entering log_context per step).
                "execution_id": execution_id,
                "schema_id": schema_id,
                "node_id": step.node_id,
            }
            args = (step.node_id, step.status, step.node_type, step.attempt, step.duration_ms)
            if step.status != "failed":
                logger.info("step %s %s (%s, attempt %d, %.1f ms)", *args, extra=extra)
                continue
            error = step.output.get("error") if isinstance(step.output, dict) else None
            extra.update(error=step.error or "", error_type=error.get("type") if isinstance(error, dict) else None)
            if isinstance(error, dict) and error.get("internal"):
                _log_with_traceback("step %s %s (%s, attempt %d, %.1f ms): %s", (*args, step.error), extra, step.output)
            else:
                logger.warning("step %s %s (%s, attempt %d, %.1f ms): %s", *args, step.error, extra=extra)

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
        replaced = ExecutionTimer.objects.filter(execution_id=execution_id, status=TimerStatus.SCHEDULED).exclude(
            # the execution's timeout runs on through its pauses; a finished child's wake-up and a
            # resume recorded while this walk ran stay due (their message walks it again)
            reason__in=("timeout", CHILD_TIMER_REASON, RESUME_TIMER_REASON)
        )
        armed = False
        if waiting.resume_at is not None:
            # The pause this walk found, unchanged (a wake-up without a timer while nothing was due —
            # one left in the broker by a timeline a restore undid —, a resumed branch while another
            # waits on the same delay): its row and message stay. Cancelling them for a copy made a
            # second timer row for one delay.
            same = {"due_at": waiting.resume_at, "reason": waiting.kind, "node_id": waiting.node_id}
            replaced = replaced.exclude(**same)
            if updated:
                armed = ExecutionTimer.objects.filter(
                    execution_id=execution_id, status=TimerStatus.SCHEDULED, **same
                ).exists()
        replaced.update(status=TimerStatus.CANCELLED)
        if updated and waiting.resume_at is not None and not armed:
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

    @contextmanager
    def _ending(self, execution_id: str) -> Iterator[list[int]]:
        """Around an execution's last write: when that write finished a sub-schema (its status
        changed: the caller appends `_append`'s count), its parent is woken in the same transaction
        (`subflows.parent_wake`). A write that finds the child finished already — cancelled or timed
        out meanwhile, an ending that woke the parent itself — wakes nobody: one wake per ending."""
        changed: list[int] = []
        if self._meta.get(execution_id, ("", ""))[1] != TriggerType.SUBFLOW:
            yield changed
            return
        with transaction.atomic():
            yield changed
            if any(changed):
                parent_wake(execution_id)

    def complete(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint, result: Any) -> None:
        with self._ending(execution_id) as changed:
            updated = self._append(execution_id, steps, checkpoint, status=ExecutionStatus.COMPLETED, result=result)
            changed.append(updated)
        self._finished(execution_id, ExecutionStatus.COMPLETED, updated, result=result)

    def fail(
        self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint, error: str, node_id: str | None
    ) -> None:
        with self._ending(execution_id) as changed:
            updated = self._append(execution_id, steps, checkpoint, status=ExecutionStatus.FAILED, error=error)
            changed.append(updated)
        self._finished(execution_id, ExecutionStatus.FAILED, updated, error=error)

    @transaction.atomic
    def cancel(self, execution_id: str, steps: Sequence[StepRecord], checkpoint: Checkpoint) -> None:
        with self._ending(execution_id) as changed:
            changed.append(self._append(execution_id, steps, checkpoint, status=ExecutionStatus.CANCELLED))
            timers_cancel(Execution(pk=execution_id))

    def resumes(self, execution_id: str, node_ids: Sequence[str]) -> list[tuple[str, Any]]:
        return resumes_for(execution_id, node_ids)

    # --- child executions (call_schema, for_each): executions_app/subflows.py -------------------
    def start_children(
        self, execution_id: str, *, node_id: str, attempt: int, spawn: dict[str, Any], start: int, inputs: list[Any]
    ) -> list[str]:
        key = (execution_id, str(spawn["schema_id"]), str(spawn.get("version")), int(spawn.get("total", 1)))
        target = self._child_targets.get(key)
        if target is None:  # checked once per walk, not per batch
            target = self._child_targets[key] = children_target(execution_id, spawn)
        return children_start(
            execution_id,
            node_id=node_id,
            attempt=attempt,
            start=start,
            inputs=inputs,
            target=target,
            create=execution_create,
        )

    def save_items(self, execution_id: str, *, node_id: str, attempt: int, inputs: list[Any]) -> None:
        items_save(execution_id, node_id=node_id, attempt=attempt, inputs=inputs)

    def load_items(self, execution_id: str, *, node_id: str, attempt: int, start: int, count: int) -> list[Any]:
        return items_load(execution_id, node_id=node_id, attempt=attempt, start=start, count=count)

    def children_progress(self, execution_id: str, node_id: str, attempt: int) -> tuple[int, int]:
        # The wake-ups first: each stands for a child whose end the progress read below sees.
        self._wakeups.setdefault(execution_id, set()).update(child_wakeups_pending(execution_id))
        return children_progress(execution_id, node_id, attempt)

    def children_results(self, execution_id: str, node_id: str, attempt: int) -> list[ChildResult]:
        return children_results(execution_id, node_id, attempt)
