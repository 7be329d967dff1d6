"""The reconciler re-publishes only what is really lost: nothing while the queue its message went to
still holds ready messages (the message may be among them), and a timer not twice within the grace
period (its copy may still be on its way). It used to re-publish every timer more than 2 s overdue
on every pass: 188-239 duplicates per burst, each one more message in a queue already full."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from config.queues import EXECUTION_QUEUE, WAKE_UP_QUEUE
from executions_app import reconciler
from executions_app.models import Execution, ExecutionState, ExecutionStatus, ExecutionTimer
from tests.executions_app.test_timers import _paused

pytestmark = pytest.mark.django_db

DRAINED = {EXECUTION_QUEUE: 0, WAKE_UP_QUEUE: 0}


@pytest.fixture
def republished(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(reconciler, "publish_execution", lambda execution_id, **kw: sent.append((execution_id, kw)))
    return sent


def _overdue_timer() -> ExecutionTimer:
    _, timer = _paused(600)
    ExecutionTimer.objects.filter(pk=timer.pk).update(due_at=timezone.now() - timedelta(seconds=10))
    return ExecutionTimer.objects.get(pk=timer.pk)


def test_an_overdue_timer_is_republished_once_per_grace_period(republished: list[Any]) -> None:
    timer = _overdue_timer()
    now = timezone.now()

    assert reconciler.reconcile_once(now=now, ready=DRAINED)["timers"] == 1
    assert republished == [(str(timer.execution_id), {"timer_id": timer.pk, "request_id": ""})]
    assert ExecutionTimer.objects.get(pk=timer.pk).republished_at == now

    # The next passes within the grace period: its copy may be in a worker's prefetch; no second one.
    for seconds in (15, settings.SCHEMA_RECONCILE_GRACE_SECONDS - 1):
        assert reconciler.reconcile_once(now=now + timedelta(seconds=seconds), ready=DRAINED)["timers"] == 0
    assert len(republished) == 1
    # Still not fired a grace period later: that copy was lost too, send another.
    later = now + timedelta(seconds=settings.SCHEMA_RECONCILE_GRACE_SECONDS + 1)
    assert reconciler.reconcile_once(now=later, ready=DRAINED)["timers"] == 1
    assert len(republished) == 2


def test_nothing_is_republished_to_a_queue_that_still_holds_messages(republished: list[Any]) -> None:
    timer = _overdue_timer()
    paused_execution = Execution.objects.get(pk=timer.execution_id)
    later = timezone.now() + timedelta(seconds=settings.SCHEMA_RECONCILE_GRACE_SECONDS + 1)
    never_started = _pending(started=False)
    resumed = _pending(started=True)

    counts = reconciler.reconcile_once(now=later, ready={EXECUTION_QUEUE: 5000, WAKE_UP_QUEUE: 3})
    assert counts == {"pending": 0, "running": 0, "timers": 0, "paused": 0}
    assert republished == []

    # The starts are drained, the wake-ups are not: only the start whose message was lost goes again.
    counts = reconciler.reconcile_once(now=later, ready={EXECUTION_QUEUE: 0, WAKE_UP_QUEUE: 3})
    assert counts["pending"] == 1 and counts["timers"] == 0
    assert republished == [(str(never_started.id), {"request_id": "", "wake_up": False, "priority": 5})]

    # Both drained: the resumed one goes to the wake-up queue, the timer too.
    republished.clear()
    reconciler.reconcile_once(now=later, ready={EXECUTION_QUEUE: 5000, WAKE_UP_QUEUE: 0})
    assert sorted(str(r[0]) for r in republished) == sorted([str(resumed.id), str(paused_execution.id)])
    assert (str(resumed.id), {"request_id": "", "wake_up": True, "priority": 5}) in republished


def test_without_queue_counts_it_republishes_as_before(republished: list[Any]) -> None:
    """The embedded broker (or an unreachable one) gives no counts: lost work still gets repaired."""
    _overdue_timer()
    assert reconciler.reconcile_once(now=timezone.now(), ready={})["timers"] == 1


def _pending(*, started: bool) -> Execution:
    execution, _ = _paused(600)
    ExecutionTimer.objects.filter(execution=execution).delete()
    Execution.objects.filter(pk=execution.pk).update(
        status=ExecutionStatus.PENDING, started_at=timezone.now() if started else None
    )
    ExecutionState.objects.filter(execution=execution).update(resume_at=None)
    return Execution.objects.get(pk=execution.pk)
