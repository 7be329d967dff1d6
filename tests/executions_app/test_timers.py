"""Timers on the worker side: a wake-up message reads its timer and fires it (one statement each on
PostgreSQL); a timer fires once, only when due, never after a cancel, with its lateness stored."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from executions_app.models import Execution, ExecutionStatus, ExecutionStep, ExecutionTimer, TimerStatus
from executions_app.runner import execution_run
from executions_app.services import execution_resume
from executions_app.timers import timer_fire, timer_get, timers_cancel
from tests.builders import definition, edge, node
from tests.executions_app.test_runner import _chain, _execution

pytestmark = pytest.mark.django_db


def _paused(seconds: float) -> tuple[Execution, ExecutionTimer]:
    done = node("done", "set", {"assignments": [{"name": "done", "value": True}]})
    execution = _execution(_chain(node("wait", "delay", {"duration_seconds": seconds}), done))
    assert execution_run(str(execution.id)) == "paused"
    return execution, ExecutionTimer.objects.get(execution=execution, status=TimerStatus.SCHEDULED)


def test_a_due_timer_fires_once_with_its_lateness() -> None:
    _, timer = _paused(600)
    ExecutionTimer.objects.filter(pk=timer.pk).update(due_at=timezone.now() - timedelta(seconds=2))
    before = timezone.now()

    fired = timer_fire(timer.pk)

    assert fired is not None and fired.pk == timer.pk and fired.status == TimerStatus.FIRED
    stored = ExecutionTimer.objects.get(pk=timer.pk)
    assert (stored.status, stored.fired_at, stored.lateness_ms) == (fired.status, fired.fired_at, fired.lateness_ms)
    assert stored.fired_at is not None and before <= stored.fired_at <= timezone.now()
    assert stored.lateness_ms == pytest.approx((stored.fired_at - stored.due_at).total_seconds() * 1000, abs=0.01)
    assert 2000 <= stored.lateness_ms < 60_000
    assert timer_fire(timer.pk) is None  # a duplicated message fires nothing
    assert ExecutionTimer.objects.get(pk=timer.pk).fired_at == stored.fired_at


def test_a_timer_not_due_or_cancelled_does_not_fire() -> None:
    execution, timer = _paused(600)
    assert timer_fire(timer.pk) is None  # not due for ten minutes
    assert ExecutionTimer.objects.get(pk=timer.pk).status == TimerStatus.SCHEDULED
    timers_cancel(execution)
    ExecutionTimer.objects.filter(pk=timer.pk).update(due_at=timezone.now() - timedelta(seconds=1))
    assert timer_fire(timer.pk) is None
    assert ExecutionTimer.objects.get(pk=timer.pk).status == TimerStatus.CANCELLED


def test_timer_get_reads_the_row_and_none_for_an_unknown_id() -> None:
    _, timer = _paused(600)
    found = timer_get(timer.pk)
    assert found is not None
    assert (found.pk, found.execution_id, found.due_at, found.reason, found.node_id, found.status) == (
        timer.pk,
        timer.execution_id,
        timer.due_at,
        "delay",
        "wait",
        TimerStatus.SCHEDULED,
    )
    assert timer_get(timer.pk + 10_000) is None
    assert timer_fire(timer.pk + 10_000) is None


def test_the_wake_up_message_resumes_the_execution_once() -> None:
    execution, timer = _paused(0.5)
    time.sleep(0.6)

    assert execution_run(str(execution.id), timer_id=timer.pk) == "completed"
    assert execution_run(str(execution.id), timer_id=timer.pk) == "timer-already-handled"

    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED
    steps = list(ExecutionStep.objects.filter(execution=execution).order_by("seq").values_list("node_id", flat=True))
    assert steps == ["start", "wait", "done"]
    fired = ExecutionTimer.objects.get(pk=timer.pk)
    assert fired.status == TimerStatus.FIRED and fired.lateness_ms is not None and fired.lateness_ms >= 0


def test_a_wake_up_message_for_another_executions_timer_fires_nothing() -> None:
    """After a database restore, timer ids are handed out again: a delayed message from after the
    backup (execution A, timer 7) may meet a new timer 7 of execution B. It must neither fire B's
    timer (B would then never wake) nor wake A."""
    first, first_timer = _paused(600)
    second, second_timer = _paused(600)
    ExecutionTimer.objects.filter(pk=second_timer.pk).update(due_at=timezone.now() - timedelta(seconds=1))

    assert execution_run(str(first.id), timer_id=second_timer.pk) == "timer-already-handled"

    assert ExecutionTimer.objects.get(pk=second_timer.pk).status == TimerStatus.SCHEDULED
    assert ExecutionTimer.objects.get(pk=first_timer.pk).status == TimerStatus.SCHEDULED
    assert Execution.objects.get(pk=first.pk).status == ExecutionStatus.PAUSED
    execution_run(str(second.id), timer_id=second_timer.pk)  # its own message fires it
    assert ExecutionTimer.objects.get(pk=second_timer.pk).status == TimerStatus.FIRED


def test_a_wake_up_without_a_timer_while_nothing_is_due_keeps_the_pause_and_its_one_timer() -> None:
    """A wake-up naming no timer (one a restore left in the broker, a reconciler's or a busy walk's)
    finds the execution paused in a delay that is not due: it stays paused on the same timer row,
    with no cancelled copy beside it (a second row, and a second message, for one delay)."""
    execution, timer = _paused(600)

    assert execution_run(str(execution.id)) == "paused"

    rows = list(ExecutionTimer.objects.filter(execution=execution).values_list("pk", "status", "node_id"))
    assert rows == [(timer.pk, TimerStatus.SCHEDULED, "wait")]


def test_a_branch_resumed_while_another_waits_on_a_delay_leaves_that_delays_timer_as_it_was() -> None:
    execution = _execution(
        definition(
            [
                node("start", "manual_trigger"),
                node("approve", "wait"),
                node("later", "delay", {"duration_seconds": 600}),
                node("m", "merge", {"mode": "all"}),
            ],
            [edge("start", "approve"), edge("start", "later"), edge("approve", "m"), edge("later", "m")],
        )
    )
    assert execution_run(str(execution.id)) == "paused"
    later = ExecutionTimer.objects.get(execution=execution, node_id="later")

    execution_resume(execution, payload={"ok": True}, node_id="approve")
    assert execution_run(str(execution.id)) == "paused"  # the approval went on; the merge waits for `later`

    assert ExecutionStep.objects.filter(execution=execution, node_id="approve", status="success").exists()
    rows = ExecutionTimer.objects.filter(execution=execution).exclude(reason="resume")
    assert list(rows.values_list("pk", "status")) == [(later.pk, TimerStatus.SCHEDULED)]
