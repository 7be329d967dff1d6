"""Execution policies (`definition.settings`): the concurrency limit and its queue, the timeout, the
error schema — what a user sees in the executions' rows and steps after the worker's runs.

Publishing is recorded instead of run (eager mode would run the next execution inside this one), so
each test decides which message a worker takes next, as the broker would.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from executions_app import admission, services, timers
from executions_app.models import Execution, ExecutionStatus, ExecutionStep, ExecutionTimer, TimerStatus, TriggerType
from executions_app.policies import error_schema_reconcile, error_schema_start
from executions_app.runner import execution_run
from executions_app.services import execution_cancel, execution_create, execution_resume
from executions_app.store import DjangoExecutionStore
from schemas_app.services import DefinitionError, schema_activate
from tests.builders import chain, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every "run X" message, in order (from triggers, slot hand-overs and timers); published at
    once, as if each transaction had committed (the test's own transaction never does)."""
    messages: list[str] = []
    monkeypatch.setattr(transaction, "on_commit", lambda func, *args, **kwargs: func())

    def record(execution_id: str, **_: Any) -> None:
        messages.append(str(execution_id))

    for module in (services, admission, timers):
        monkeypatch.setattr(module, "publish_execution", record)
    return messages


def _schema(
    settings: dict[str, Any], *middle: dict[str, Any], user: Any = None, trigger: str = "manual_trigger"
) -> Any:
    ends = middle and middle[-1]["type"] == "fail"
    definition = chain(node("start", trigger), *middle, *([] if ends else [node("done", "end", {"output": "ok"})]))
    definition["settings"] = settings
    return create_schema(user=user, definition=definition, activate=True)


def _start(schema: Any, payload: Any = None) -> Execution:
    return execution_create(schema=schema, trigger_type=TriggerType.MANUAL, payload=payload)[0]


def _status(execution: Execution) -> tuple[str, str, bool]:
    execution.refresh_from_db()
    return execution.status, execution.queued_reason, execution.slot_held


WAIT = node("hold", "wait", {})


def test_over_the_limit_an_execution_stays_pending_with_its_reason_and_starts_in_fifo_order(sent: list[str]) -> None:
    schema = _schema({"max_concurrency": 2, "hold_slot_while_paused": True}, WAIT)
    first, second, third, fourth = (_start(schema) for _ in range(4))
    assert execution_run(str(first.id)) == "paused"
    assert execution_run(str(second.id)) == "paused"

    # The newest message is taken first: it must not overtake the older execution waiting before it.
    assert execution_run(str(fourth.id)) == "queued"
    assert execution_run(str(third.id)) == "queued"
    assert _status(third) == ("pending", "queued: 2 running, limit 2", False)
    assert _status(fourth) == ("pending", "queued: 2 running, limit 2", False)
    assert not ExecutionStep.objects.filter(execution__in=[third, fourth]).exists()

    sent.clear()
    execution_cancel(first)  # a slot frees: the oldest waiter gets it and its message
    assert sent == [str(third.id)]
    assert _status(third) == ("pending", "", True)
    assert execution_run(str(third.id)) == "paused"
    assert _status(fourth)[0:2] == ("pending", "queued: 2 running, limit 2")

    sent.clear()
    execution_resume(second, payload={})  # resumed, it keeps its slot and completes
    assert execution_run(str(second.id)) == "completed"
    assert sent[-1] == str(fourth.id)
    assert execution_run(str(fourth.id)) == "paused"
    assert Execution.objects.filter(schema=schema, slot_held=True, status__in=["running", "paused"]).count() == 2


def test_with_free_slots_an_overtaking_message_admits_the_older_executions_first(sent: list[str]) -> None:
    """Slots are free but the newest message reaches a worker first: the older executions still on
    their way get their slots with earlier start times, so the start order is the creation order."""
    schema = _schema({"max_concurrency": 3, "hold_slot_while_paused": True}, WAIT)
    first, second, third, fourth = (_start(schema) for _ in range(4))
    sent.clear()
    assert execution_run(str(second.id)) == "paused"
    assert _status(first) == ("pending", "", True)  # given its slot; its own message admits it as it is
    assert _status(third) == ("pending", "", True)  # the last free slot: the next in line
    assert _status(fourth) == ("pending", "", False)
    assert sent == [str(first.id), str(third.id)]
    starts = dict(Execution.objects.filter(schema=schema).values_list("id", "started_at"))
    assert starts[first.id] < starts[second.id] < starts[third.id]
    assert starts[fourth.id] is None
    assert execution_run(str(first.id)) == "paused"
    assert execution_run(str(fourth.id)) == "queued"
    assert execution_run(str(third.id)) == "paused"


def test_a_paused_execution_gives_its_slot_back_unless_the_schema_says_hold(sent: list[str]) -> None:
    schema = _schema({"max_concurrency": 1}, WAIT)
    first, second = _start(schema), _start(schema)
    assert execution_run(str(first.id)) == "paused"
    assert _status(first) == ("paused", "", False)
    assert execution_run(str(second.id)) == "paused"  # the slot was free

    # Resumed while the other holds... nothing: the other gave its slot back when it paused too.
    execution_resume(first, payload={})
    assert execution_run(str(first.id)) == "completed"


def test_a_woken_execution_waits_for_a_slot_and_continues_when_one_frees(sent: list[str]) -> None:
    schema = _schema({"max_concurrency": 1}, WAIT)
    first, second = _start(schema), _start(schema)
    assert execution_run(str(first.id)) == "paused"
    assert execution_run(str(second.id)) == "paused"
    execution_resume(second, payload={})
    execution_resume(first, payload={})
    assert execution_run(str(first.id)) == "completed"  # the older one first
    assert execution_run(str(second.id)) == "completed"


def test_a_limit_per_key_counts_each_key_apart(sent: list[str]) -> None:
    schema = _schema(
        {"max_concurrency": 1, "concurrency_key": "{{ trigger.customer }}", "hold_slot_while_paused": True}, WAIT
    )
    a1, a2, b1 = (
        _start(schema, {"customer": "acme"}),
        _start(schema, {"customer": "acme"}),
        _start(schema, {"customer": 7}),
    )
    assert (a1.concurrency_key, a2.concurrency_key, b1.concurrency_key) == ("acme", "acme", "7")
    assert execution_run(str(a1.id)) == "paused"
    assert execution_run(str(a2.id)) == "queued"
    assert _status(a2)[1] == "queued: 1 running, limit 1 (key 'acme')"
    assert execution_run(str(b1.id)) == "paused"


def test_a_schema_without_settings_never_touches_admission(sent: list[str]) -> None:
    schema = create_schema(definition=chain(node("start", "manual_trigger"), node("done", "end", {})), activate=True)
    execution = _start(schema)
    assert execution.concurrency_key is None
    assert execution_run(str(execution.id)) == "completed"
    assert _status(execution) == ("completed", "", False)


def test_the_reconciler_hands_a_free_slot_to_a_waiter_whose_hand_over_was_lost(sent: list[str]) -> None:
    schema = _schema({"max_concurrency": 1, "hold_slot_while_paused": True}, WAIT)
    first, second = _start(schema), _start(schema)
    assert execution_run(str(first.id)) == "paused"
    assert execution_run(str(second.id)) == "queued"
    # The worker finished `first` and died before handing its slot over.
    Execution.objects.filter(pk=first.pk).update(status=ExecutionStatus.COMPLETED, finished_at=timezone.now())
    sent.clear()
    assert admission.admission_reconcile() == 1
    assert sent == [str(second.id)]
    assert admission.admission_reconcile() == 0


# --- timeout ---------------------------------------------------------------------------------------


def test_a_timeout_fails_a_paused_execution_and_records_the_waiting_step_as_interrupted(sent: list[str]) -> None:
    schema = _schema({"timeout_seconds": 2}, node("nap", "delay", {"duration_seconds": 600}))
    execution = _start(schema)
    assert execution_run(str(execution.id)) == "paused"
    scheduled = ExecutionTimer.objects.filter(execution=execution, status=TimerStatus.SCHEDULED)
    assert sorted(scheduled.values_list("reason", flat=True)) == ["delay", "timeout"]
    timeout = scheduled.get(reason="timeout")
    assert 1.5 < (timeout.due_at - timezone.now()).total_seconds() <= 2

    ExecutionTimer.objects.filter(pk=timeout.pk).update(due_at=timezone.now() - timedelta(milliseconds=1))
    assert execution_run(str(execution.id), timer_id=timeout.id) == "timed-out"

    execution.refresh_from_db()
    assert execution.status == "failed" and execution.error == "timed out after 2 s"
    assert execution.finished_at is not None
    last = ExecutionStep.objects.filter(execution=execution).order_by("-seq").first()
    assert last is not None and last.node_id == "nap" and last.status == "failed"
    assert last.error == "Interrupted: the execution timed out after 2 s."
    assert (last.output or {})["error"]["type"] == "interrupted"
    assert not ExecutionTimer.objects.filter(execution=execution, status=TimerStatus.SCHEDULED).exists()
    # A repeated message changes nothing.
    assert execution_run(str(execution.id), timer_id=timeout.id) == "timer-already-handled"


def test_a_timeout_stops_a_walk_in_progress_before_its_next_step(sent: list[str]) -> None:
    schema = _schema({"timeout_seconds": 5})
    execution = _start(schema)
    store = DjangoExecutionStore()
    store.prefetch(str(execution.id))
    Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.FAILED, error="timed out after 5 s")
    store._cancel_checked.clear()
    assert store.is_cancelled(str(execution.id))


def test_an_execution_that_finishes_in_time_drops_its_timeout(sent: list[str]) -> None:
    schema = _schema({"timeout_seconds": 60})
    execution = _start(schema)
    assert execution_run(str(execution.id)) == "completed"
    assert ExecutionTimer.objects.get(execution=execution, reason="timeout").status == TimerStatus.CANCELLED


# --- error schema ---------------------------------------------------------------------------------


def _failing(user: Any, error_schema: Any) -> Any:
    return _schema(
        {"error_schema": str(error_schema.id)}, node("boom", "fail", {"message": "card declined"}), user=user
    )


def test_a_failure_starts_the_error_schema_once_with_the_failure_as_payload(user: Any, sent: list[str]) -> None:
    handler = _schema({}, user=user)
    failing = _failing(user, handler)
    execution = _start(failing, {"order": 42})
    assert execution_run(str(execution.id)) == "failed"

    started = Execution.objects.get(schema=handler)
    execution.refresh_from_db()
    assert started.error_of_id == execution.id
    assert started.trigger_type == "manual"
    payload: dict[str, Any] = started.trigger_payload or {}
    assert payload["execution"]["id"] == str(execution.id)
    assert payload["schema"] == {"id": str(failing.id), "name": failing.name}
    assert payload["failed_node"]["id"] == "boom" and payload["failed_node"]["type"] == "fail"
    assert payload["error"] == execution.error and "card declined" in payload["error"]
    assert str(started.id) in sent

    # The same failure handed over again (a redelivered message, the reconciler): still one.
    assert error_schema_start(str(execution.id)) == started
    assert error_schema_reconcile() == 0
    assert Execution.objects.filter(schema=handler).count() == 1


def test_an_error_schema_that_fails_starts_no_further_one(user: Any, sent: list[str]) -> None:
    first = _schema({}, node("boom", "fail", {"message": "first"}), user=user)
    second = _failing(user, first)
    first.definition["settings"] = {"error_schema": str(second.id)}
    first.definition = dict(first.definition)
    from schemas_app.services import schema_update

    schema_update(first, definition=first.definition)
    execution = _start(second)
    assert execution_run(str(execution.id)) == "failed"
    handler = Execution.objects.get(schema=first)
    assert execution_run(str(handler.id)) == "failed"  # the error schema fails too
    assert Execution.objects.filter(schema=second).count() == 1  # no loop back
    assert error_schema_reconcile() == 0


def test_the_error_schema_must_be_the_owners_and_startable_with_a_payload(user: Any, other_user: Any) -> None:
    foreign = create_schema(user=other_user, definition=chain(node("start", "manual_trigger")))
    definition = chain(node("start", "manual_trigger"), node("done", "end", {}))
    definition["settings"] = {"error_schema": str(foreign.id)}
    schema = create_schema(user=user, definition=definition)
    with pytest.raises(DefinitionError) as refused:
        schema_activate(schema)
    assert refused.value.problems[0]["path"] == "settings.error_schema"
    assert "no schema with id" in refused.value.problems[0]["message"]

    scheduled = create_schema(user=user, definition=chain(node("start", "schedule_trigger", {"cron": "0 * * * *"})))
    schema.definition = {**definition, "settings": {"error_schema": str(scheduled.id)}}
    with pytest.raises(DefinitionError) as refused:
        schema_activate(schema)
    assert "manual or webhook trigger" in refused.value.problems[0]["message"]


def test_the_reconciler_leaves_a_queued_execution_to_the_slot_hand_over(sent: list[str]) -> None:
    from executions_app.models import ExecutionState
    from executions_app.reconciler import reconcile_once

    schema = _schema({"max_concurrency": 1, "hold_slot_while_paused": True}, WAIT)
    first, second = _start(schema), _start(schema)
    assert execution_run(str(first.id)) == "paused"
    assert execution_run(str(second.id)) == "queued"
    ExecutionState.objects.update(updated_at=timezone.now() - timedelta(hours=1))
    sent.clear()
    reconcile_once(ready={})
    assert str(second.id) not in sent  # republishing it would only queue it again


def test_a_timeout_cancels_the_sub_schema_runs_the_execution_started(sent: list[str]) -> None:
    parent_schema = _schema({"timeout_seconds": 5}, WAIT)
    parent = _start(parent_schema)
    assert execution_run(str(parent.id)) == "paused"
    child = _start(_schema({}, WAIT))
    Execution.objects.filter(pk=child.pk).update(parent_execution_id=parent.pk, parent_node_id="hold")
    timeout = ExecutionTimer.objects.get(execution=parent, reason="timeout")
    ExecutionTimer.objects.filter(pk=timeout.pk).update(due_at=timezone.now() - timedelta(milliseconds=1))
    assert execution_run(str(parent.id), timer_id=timeout.id) == "timed-out"
    assert _status(child)[0] == "cancelled"
