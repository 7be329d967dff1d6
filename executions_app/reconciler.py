"""The reconciler: the periodic safety net that makes "nothing lost" true.

Every `SCHEMA_RECONCILE_INTERVAL_SECONDS` (beat) it re-publishes
- executions still `pending` after the grace period (the publish after commit was lost),
- executions `running` that no live worker holds (a worker died and its message is gone),
- timers past due that have not fired (their delayed message was lost),
- executions `paused` past their wake-up time with no scheduled timer left and no live worker (the
  timer fired but the walk it started died before its next checkpoint, and that message is gone).
Re-publishing is always safe: the execution lock and the conditional timer update make a duplicate
message a no-op.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from .dispatch import publish_execution
from .locks import is_locked_elsewhere
from .models import Execution, ExecutionStatus, ExecutionTimer, TimerStatus

logger = logging.getLogger("schema.reconciler")
BATCH = 500
TIMER_GRACE_SECONDS = 2


def reconcile_once(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    grace = now - timedelta(seconds=settings.SCHEMA_RECONCILE_GRACE_SECONDS)
    counts = {"pending": 0, "running": 0, "timers": 0, "paused": 0}

    stuck_pending = Execution.objects.filter(status=ExecutionStatus.PENDING, state__updated_at__lt=grace)
    for execution_id, request_id in stuck_pending.values_list("id", "request_id")[:BATCH]:
        publish_execution(str(execution_id), request_id=request_id)
        counts["pending"] += 1

    running = Execution.objects.filter(status=ExecutionStatus.RUNNING, state__updated_at__lt=grace)
    for execution_id, request_id in running.values_list("id", "request_id")[:BATCH]:
        if not is_locked_elsewhere(str(execution_id)):
            publish_execution(str(execution_id), request_id=request_id)
            counts["running"] += 1

    overdue = ExecutionTimer.objects.filter(
        status=TimerStatus.SCHEDULED, due_at__lt=now - timedelta(seconds=TIMER_GRACE_SECONDS)
    ).select_related("execution")
    for timer in overdue[:BATCH]:
        publish_execution(str(timer.execution_id), timer_id=timer.id, request_id=timer.execution.request_id)
        counts["timers"] += 1

    # Without this branch such an execution stayed paused forever: nothing else looks at it.
    stalled = Execution.objects.filter(status=ExecutionStatus.PAUSED, state__resume_at__lt=grace).exclude(
        timers__status=TimerStatus.SCHEDULED
    )
    for execution_id, request_id in stalled.values_list("id", "request_id")[:BATCH]:
        if not is_locked_elsewhere(str(execution_id)):
            publish_execution(str(execution_id), request_id=request_id)  # the walker resumes a due pause
            counts["paused"] += 1

    if any(counts.values()):
        logger.warning("reconciler re-published work", extra={"reconciled": counts})
    return counts
