"""The durable timer store (the spec's `at`): `timer_schedule(execution, due_at, reason)`.

The row in `execution_timers` is the truth (visible, cancellable, survives every restart); a
Celery message with an ETA is published on commit as the fast path — on RabbitMQ it waits in the
broker's delay queues, never in a worker's memory. Firing is a conditional UPDATE
(`scheduled → fired`), so a timer fires once even when its message is duplicated or the reconciler
fires it too. Lateness (fired_at - due_at) is stored and exported as a metric.
"""

from __future__ import annotations

from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from engine.dispatch import publish_execution

from . import sql
from .models import Execution, ExecutionTimer, TimerStatus

# On PostgreSQL a wake-up message reads its timer and fires it with one prepared statement each
# (`executions_app.sql`: no ORM, no health-check round trip); SQLite takes the ORM.
_TIMER_FIELDS = ("id", "execution_id", "due_at", "reason", "node_id", "status", "created_at", "fired_at", "lateness_ms")
_TIMER_COLUMNS = ", ".join(_TIMER_FIELDS)
_GET_SQL = f"SELECT {_TIMER_COLUMNS} FROM execution_timers WHERE id = %s"  # noqa: S608 - constant names
# Scheduled and due → fired, with its lateness, in one statement; no row: fired before, cancelled,
# deleted or not due yet.
_FIRE_SQL = f"""
UPDATE execution_timers
SET status = %s, fired_at = %s,
    lateness_ms = GREATEST(0, EXTRACT(EPOCH FROM (%s::timestamptz - due_at)) * 1000)::double precision
WHERE id = %s AND status = %s AND due_at <= %s
RETURNING {_TIMER_COLUMNS}
"""  # noqa: S608 - constant names; every value is a parameter


def _timer(rows: list[tuple[object, ...]] | None) -> ExecutionTimer | None:
    return ExecutionTimer.from_db(connection.alias, _TIMER_FIELDS, rows[0]) if rows else None


def timer_get(timer_id: int) -> ExecutionTimer | None:
    """The timer as it is now, or None when it does not exist (its execution was deleted)."""
    if connection.vendor == "postgresql":
        return _timer(sql.execute(_GET_SQL, [timer_id], repeatable=True)[0])
    return ExecutionTimer.objects.filter(pk=timer_id).first()


def timer_schedule(*, execution: Execution, due_at: datetime, reason: str, node_id: str = "") -> ExecutionTimer:
    """Persist a timer; its message is published only if the surrounding transaction commits."""
    timer = ExecutionTimer.objects.create(execution=execution, due_at=due_at, reason=reason, node_id=node_id)
    execution_id, timer_id, request_id = str(execution.id), timer.id, execution.request_id
    transaction.on_commit(lambda: publish_execution(execution_id, eta=due_at, timer_id=timer_id, request_id=request_id))
    return timer


def timer_fire(timer_id: int) -> ExecutionTimer | None:
    """Mark the timer fired if it is still scheduled and due; None if it fired already, was
    cancelled, or is not due yet (a message that arrived early)."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        fired = TimerStatus.FIRED.value
        return _timer(sql.execute(_FIRE_SQL, [fired, now, now, timer_id, TimerStatus.SCHEDULED.value, now])[0])
    timer = ExecutionTimer.objects.filter(pk=timer_id).first()
    if timer is None or timer.status != TimerStatus.SCHEDULED or timer.due_at > now:
        return None
    lateness_ms = max(0.0, (now - timer.due_at).total_seconds() * 1000)
    updated = ExecutionTimer.objects.filter(pk=timer_id, status=TimerStatus.SCHEDULED).update(
        status=TimerStatus.FIRED, fired_at=now, lateness_ms=lateness_ms
    )
    if not updated:
        return None
    timer.status, timer.fired_at, timer.lateness_ms = TimerStatus.FIRED, now, lateness_ms
    return timer


def timers_cancel(execution: Execution) -> int:
    return ExecutionTimer.objects.filter(execution=execution, status=TimerStatus.SCHEDULED).update(
        status=TimerStatus.CANCELLED
    )
