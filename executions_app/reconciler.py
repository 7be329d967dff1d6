"""The reconciler: the periodic safety net that makes "nothing lost" true.

Every `SCHEMA_RECONCILE_INTERVAL_SECONDS` (beat) it re-publishes
- executions still `pending` after the grace period (the publish after commit was lost),
- executions `running` that no live worker holds (a worker died and its message is gone),
- timers past due that have not fired (their delayed message was lost),
- executions `paused` past their wake-up time with no scheduled timer left and no live worker (the
  timer fired but the walk it started died before its next checkpoint, and that message is gone).
Re-publishing is always safe: the execution lock and the conditional timer update make a duplicate
message a no-op. It is not free, though: under a backlog every duplicate is one more message to get
through. So it re-publishes only what is really lost: nothing while the queue the message went to
still holds ready messages (it may be among them; a lost one is repaired once the queue is
drained), and a timer not again within the grace period of its last re-publish
(`execution_timers.republished_at`: its copy may still be in a worker's prefetch).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from config.queues import EXECUTION_QUEUE, PRIORITY_QUEUE, WAKE_UP_QUEUE
from engine.policies import HIGH_PRIORITY

from .dispatch import publish_execution, queue_ready_counts
from .locks import is_locked_elsewhere
from .models import Execution, ExecutionStatus, ExecutionTimer, TimerStatus

logger = logging.getLogger("schema.reconciler")
BATCH = 500
TIMER_GRACE_SECONDS = 2


def reconcile_once(now: datetime | None = None, ready: dict[str, int] | None = None) -> dict[str, int]:
    """One pass; `ready`: messages ready per queue (read from the broker when not given; a queue
    missing from it, e.g. with the embedded broker, counts as drained)."""
    now = now or timezone.now()
    grace = now - timedelta(seconds=settings.SCHEMA_RECONCILE_GRACE_SECONDS)
    counts = {"pending": 0, "running": 0, "timers": 0, "paused": 0}
    if ready is None:
        ready = queue_ready_counts(EXECUTION_QUEUE, PRIORITY_QUEUE, WAKE_UP_QUEUE)
    wake_ups_drained = not ready.get(WAKE_UP_QUEUE)

    # A pending execution never started went to its start queue (the priority queue from
    # HIGH_PRIORITY, `start_queue`), and goes there again; one resumed or retried (it has started
    # before) to the wake-up queue.
    stuck_pending = Execution.objects.filter(status=ExecutionStatus.PENDING, state__updated_at__lt=grace)
    # Queued for a concurrency slot: no message is lost, the execution freeing a slot publishes it
    # (and `admission_reconcile` repairs a hand-over that never happened).
    stuck_pending = stuck_pending.filter(queued_reason="")
    if ready.get(EXECUTION_QUEUE):
        stuck_pending = stuck_pending.exclude(started_at__isnull=True, priority__lt=HIGH_PRIORITY)
    if ready.get(PRIORITY_QUEUE):
        stuck_pending = stuck_pending.exclude(started_at__isnull=True, priority__gte=HIGH_PRIORITY)
    if not wake_ups_drained:
        stuck_pending = stuck_pending.exclude(started_at__isnull=False)
    rows = stuck_pending.values_list("id", "request_id", "started_at", "priority")[:BATCH]
    for execution_id, request_id, started_at, priority in rows:
        publish_execution(str(execution_id), request_id=request_id, wake_up=started_at is not None, priority=priority)
        counts["pending"] += 1

    if wake_ups_drained:
        running = Execution.objects.filter(status=ExecutionStatus.RUNNING, state__updated_at__lt=grace)
        for execution_id, request_id in running.values_list("id", "request_id")[:BATCH]:
            if not is_locked_elsewhere(str(execution_id)):
                publish_execution(str(execution_id), request_id=request_id, wake_up=True)
                counts["running"] += 1

        overdue = (
            ExecutionTimer.objects.filter(
                status=TimerStatus.SCHEDULED, due_at__lt=now - timedelta(seconds=TIMER_GRACE_SECONDS)
            )
            .exclude(republished_at__gte=grace)
            .select_related("execution")
        )
        republished = []
        for timer in overdue[:BATCH]:
            publish_execution(str(timer.execution_id), timer_id=timer.id, request_id=timer.execution.request_id)
            republished.append(timer.id)
        if republished:
            ExecutionTimer.objects.filter(pk__in=republished).update(republished_at=now)
        counts["timers"] = len(republished)

        # Without this branch such an execution stayed paused forever: nothing else looks at it.
        stalled = Execution.objects.filter(status=ExecutionStatus.PAUSED, state__resume_at__lt=grace).exclude(
            timers__status=TimerStatus.SCHEDULED
        )
        for execution_id, request_id in stalled.values_list("id", "request_id")[:BATCH]:
            if not is_locked_elsewhere(str(execution_id)):
                # the walker resumes a due pause
                publish_execution(str(execution_id), request_id=request_id, wake_up=True)
                counts["paused"] += 1

    if any(counts.values()):
        logger.warning("reconciler re-published work", extra={"reconciled": counts})
    elif any(ready.get(queue) for queue in (EXECUTION_QUEUE, PRIORITY_QUEUE, WAKE_UP_QUEUE)):
        logger.info("reconciler waits for the queues to drain", extra={"queue_ready": ready})
    return counts
