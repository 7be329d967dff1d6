"""Fencing of a walk's writes beyond its checkpoints (issue 18): a worker that lost its lease — another
worker took the execution over while it was frozen or cut off (simulated here by bumping the
execution's `lease_epoch` under the walk, as a takeover does) — starts no child execution, takes or
gives back no concurrency slot, schedules no timer and dead-letters nothing; its walk ends
'lease-lost'. On PostgreSQL (the fence is a row lock of the execution, FOR SHARE until commit).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from executions_app import admission, locks, policies, runner, services, tasks, timers
from executions_app.admission import admission_reconcile
from executions_app.models import Execution, ExecutionStatus, ExecutionStep, ExecutionTimer, TriggerType
from executions_app.runner import execution_run
from executions_app.services import execution_create
from executions_app.store import DjangoExecutionStore
from tests.builders import chain, node
from tests.factories import UserFactory, create_schema

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the fence is a PostgreSQL row lock")


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """ "Run X" messages recorded, not run (eager mode would run them inside this walk)."""
    messages: list[str] = []
    monkeypatch.setattr(transaction, "on_commit", lambda func, *args, **kwargs: func())
    for module in (services, admission, timers, runner):
        monkeypatch.setattr(module, "publish_execution", lambda execution_id, **_: messages.append(str(execution_id)))
    return messages


def _take_over(execution_id: str) -> None:
    """What another worker's takeover does to the row: a new epoch (and its own live lease)."""
    epoch = locks.held_epoch(execution_id)
    assert epoch is not None, "the walk holds the lease here"
    Execution.objects.filter(pk=execution_id).update(lease_epoch=epoch + 1, lease_owner="other-worker")


def _taken_over_before(target: Any, name: str, monkeypatch: pytest.MonkeyPatch, seen: dict[str, Any]) -> None:
    """Wraps `target.name` so that the execution is taken over just before the walk calls it."""
    real: Callable[..., Any] = getattr(target, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        execution_id = next(
            (str(a) for a in (*args, *kwargs.values()) if isinstance(a, str) and locks.held_epoch(a)), None
        )
        assert execution_id is not None, f"{name} was not called inside a walk"
        seen["steps"] = ExecutionStep.objects.filter(execution_id=execution_id).count()
        _take_over(execution_id)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, wrapper)


def _settings_schema(settings: dict[str, Any], *middle: dict[str, Any]) -> Any:
    definition = chain(node("start", "manual_trigger"), *middle, node("done", "end", {"output": "ok"}))
    definition["settings"] = settings
    return create_schema(definition=definition, activate=True)


def _start(schema: Any) -> Execution:
    return execution_create(schema=schema, trigger_type=TriggerType.MANUAL, payload={})[0]


@pytest.mark.parametrize("mode", ["wait", "fire"])
def test_a_walk_that_lost_its_lease_starts_no_child(
    mode: str, sent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    user: Any = UserFactory()
    child_schema = create_schema(
        definition=chain(node("t", "manual_trigger"), node("done", "end", {"output": 1})), activate=True, user=user
    )
    parent_schema = create_schema(
        definition=chain(
            node("t", "manual_trigger"),
            node("call", "call_schema", {"schema_id": str(child_schema.pk), "mode": mode}),
            node("done", "end"),
        ),
        activate=True,
        user=user,
    )
    parent, _ = execution_create(schema=parent_schema, trigger_type="manual", payload={}, created_by=user)
    seen: dict[str, Any] = {}
    _taken_over_before(DjangoExecutionStore, "start_children", monkeypatch, seen)
    sent.clear()  # the parent's own start

    assert execution_run(str(parent.pk), worker_id="zombie") == "lease-lost"
    assert not Execution.objects.filter(parent_execution=parent).exists(), "a child was started"
    assert ExecutionStep.objects.filter(execution=parent).count() == seen["steps"], "a step landed after the takeover"
    assert sent == [], "a child was published"


def test_a_walk_that_lost_its_lease_takes_no_concurrency_slot(sent: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    execution = _start(_settings_schema({"max_concurrency": 1}))
    _taken_over_before(runner, "admission_admit", monkeypatch, {})
    sent.clear()

    assert execution_run(str(execution.pk), worker_id="zombie") == "lease-lost"
    execution.refresh_from_db()
    assert (execution.status, execution.slot_held, execution.queued_reason) == ("pending", False, "")
    assert not ExecutionStep.objects.filter(execution=execution).exists()


def test_a_walk_that_lost_its_lease_gives_back_no_slot_and_the_reconciler_repairs_it(
    sent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = _settings_schema({"max_concurrency": 1}, node("hold", "wait", {}))
    first, second = _start(schema), _start(schema)
    assert execution_run(str(second.pk)) == "queued"  # waits behind the older one
    _taken_over_before(policies, "admission_release", monkeypatch, {})
    sent.clear()

    assert execution_run(str(first.pk), worker_id="zombie") == "lease-lost"  # paused, then lost the lease
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.slot_held) == ("paused", True), "the zombie gave the slot back"
    assert (second.slot_held, sent) == (False, []), "the zombie handed the slot over"

    monkeypatch.undo()  # the periodic repair (beat's reconciler) takes the paused one's slot back
    monkeypatch.setattr(transaction, "on_commit", lambda func, *args, **kwargs: func())
    monkeypatch.setattr(admission, "publish_execution", lambda execution_id, **_: sent.append(str(execution_id)))
    assert admission_reconcile() == 1
    second.refresh_from_db()
    assert second.slot_held and sent == [str(second.pk)]


def test_a_walk_that_lost_its_lease_schedules_no_timeout_timer(
    sent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    execution = _start(_settings_schema({"timeout_seconds": 60}))
    _taken_over_before(runner, "timeout_schedule", monkeypatch, {})
    sent.clear()

    assert execution_run(str(execution.pk), worker_id="zombie") == "lease-lost"
    assert not ExecutionTimer.objects.filter(execution=execution).exists(), "a timer was scheduled"
    assert Execution.objects.get(pk=execution.pk).status == "pending"
    assert sent == []


def test_a_walk_that_lost_its_lease_schedules_no_delay_timer(sent: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    schema = create_schema(
        definition=chain(
            node("start", "manual_trigger"), node("pause", "delay", {"duration_seconds": 30}), node("done", "end")
        ),
        activate=True,
    )
    execution = _start(schema)
    seen: dict[str, Any] = {}
    _taken_over_before(DjangoExecutionStore, "pause", monkeypatch, seen)
    sent.clear()

    assert execution_run(str(execution.pk), worker_id="zombie") == "lease-lost"
    assert not ExecutionTimer.objects.filter(execution=execution).exists(), "a timer was scheduled"
    assert Execution.objects.get(pk=execution.pk).status != "paused"
    assert ExecutionStep.objects.filter(execution=execution).count() == seen["steps"]
    assert sent == []


@pytest.mark.parametrize("owned_elsewhere", [True, False])
def test_a_message_whose_execution_another_worker_owns_is_not_dead_lettered(
    owned_elsewhere: bool, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """Infrastructure retries exhausted (the worker was cut off from PostgreSQL): if meanwhile another
    live worker took the execution over, a dead letter would only invite an operator to requeue a
    running execution — it is dropped with one line. Otherwise it is dead-lettered as before."""
    execution = _start(create_schema(definition=chain(node("start", "manual_trigger"), node("done", "end"))))
    if owned_elsewhere:
        with connection.cursor() as cursor:  # a live backend: this test's own connection
            cursor.execute(
                "UPDATE executions SET lease_epoch = lease_epoch + 1, lease_owner = 'other-worker',"
                " lease_pid = pg_backend_pid(), lease_expires_at = now() + interval '30 seconds' WHERE id = %s",
                [str(execution.pk)],
            )
    letters: list[Any] = []
    monkeypatch.setattr(tasks, "publish_dead_letter", lambda **kwargs: letters.append(kwargs))

    def cut_off(*args: Any, **kwargs: Any) -> str:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(tasks, "execution_run", cut_off)
    result = tasks.execution_run_task.apply(args=[str(execution.pk)], retries=tasks._max_infra_retries()).get()

    if owned_elsewhere:
        assert (result, letters) == ("lease-lost", [])
        assert "not dead-lettered: another worker owns the execution" in caplog.text
    else:
        assert result == "dead-lettered" and len(letters) == 1


def test_a_finished_execution_is_not_dead_lettered(monkeypatch: pytest.MonkeyPatch) -> None:
    execution = _start(create_schema(definition=chain(node("start", "manual_trigger"), node("done", "end"))))
    Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.COMPLETED, finished_at=timezone.now())
    letters: list[Any] = []
    monkeypatch.setattr(tasks, "publish_dead_letter", lambda **kwargs: letters.append(kwargs))
    monkeypatch.setattr(tasks, "execution_run", lambda *a, **k: (_ for _ in ()).throw(OperationalError("cut")))
    assert tasks.execution_run_task.apply(args=[str(execution.pk)], retries=8).get() == "lease-lost"
    assert letters == []
