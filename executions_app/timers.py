"""The durable timer store (the spec's `at`): `timer_schedule(execution, due_at, reason)`.

The row in `execution_timers` is the truth (visible, cancellable, survives every restart); a
Celery message with an ETA is published on commit as the fast path — on RabbitMQ it waits in the
broker's delay queues, never in a worker's memory. Firing is a conditional UPDATE
(`scheduled → fired`), so a timer fires once even when its message is duplicated or the reconciler
fires it too. Lateness (fired_at - due_at) is stored and exported as a metric.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from .dispatch import publish_execution
from .models import Execution, ExecutionTimer, TimerStatus
from .sql import queries


def timer_get(timer_id: int) -> ExecutionTimer | None:
    """The timer as it is now, or None when it does not exist (its execution was deleted)."""
    return queries().timer_get(timer_id)


RESUME_TIMER_REASON = "resume"  # a `wait` resumed through the API: its payload rides on the row


def timer_schedule(
    *, execution: Execution, due_at: datetime, reason: str, node_id: str = "", payload: Any = None
) -> ExecutionTimer:
    """Persist a timer; its message is published only if the surrounding transaction commits."""
    timer = ExecutionTimer.objects.create(
        execution=execution, due_at=due_at, reason=reason, node_id=node_id, payload=payload
    )
    execution_id, timer_id, request_id = str(execution.id), timer.id, execution.request_id
    transaction.on_commit(lambda: publish_execution(execution_id, eta=due_at, timer_id=timer_id, request_id=request_id))
    return timer


def timer_fire(timer_id: int) -> ExecutionTimer | None:
    """Mark the timer fired if it is still scheduled and due; None if it fired already, was
    cancelled, or is not due yet (a message that arrived early)."""
    return queries().timer_fire(timer_id, timezone.now())


def timers_cancel(execution: Execution) -> int:
    return ExecutionTimer.objects.filter(execution=execution, status=TimerStatus.SCHEDULED).update(
        status=TimerStatus.CANCELLED
    )


def _resume_rows(execution_id: Any) -> Any:
    return ExecutionTimer.objects.filter(execution_id=execution_id, reason=RESUME_TIMER_REASON).exclude(
        status=TimerStatus.CANCELLED
    )


def resumes_recorded(execution_id: Any) -> list[str]:
    """The `wait` nodes of this execution that were resumed through the API (applied or not yet)."""
    return list(_resume_rows(execution_id).values_list("node_id", flat=True))


def resumes_for(execution_id: Any, node_ids: Any) -> list[tuple[str, Any]]:
    """`ExecutionStore.resumes`: (node id, payload) of the recorded resumes of these waits, oldest first."""
    rows = _resume_rows(execution_id).filter(node_id__in=list(node_ids)).order_by("id")
    return [(node_id, payload) for node_id, payload in rows.values_list("node_id", "payload")]
