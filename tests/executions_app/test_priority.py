"""Priorities (issue 16 item 2): the schema's `priority` and a trigger call's own within
`max_call_priority`; a high-priority start goes to the priority queue (taken ahead of a backlog of
starts, tests/system/test_policies.py shows it with real workers); a free concurrency slot goes to
the highest priority first, then FIFO."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from config.queues import EXECUTION_QUEUE, PRIORITY_QUEUE, WAKE_UP_QUEUE
from engine.policies import call_priority, execution_policy, settings_problems
from executions_app import admission, dispatch, metrics, services
from executions_app.models import Execution, TriggerType
from executions_app.runner import execution_run
from executions_app.services import execution_create
from tests.builders import chain, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


def _policy(**settings: Any) -> Any:
    return execution_policy({"nodes": [], "edges": [], "settings": settings})


def test_a_call_may_lower_its_priority_and_raise_it_only_to_max_call_priority() -> None:
    assert call_priority(_policy()) == 5
    assert call_priority(_policy(priority=8)) == 8
    assert call_priority(_policy(), "2") == 2
    with pytest.raises(ValueError, match=r"priority 7 is above what this schema allows a call \(5"):
        call_priority(_policy(), 7)
    assert call_priority(_policy(max_call_priority=9), "9") == 9
    for bad in ("high", 10, -1, 2.5, "1e3"):
        with pytest.raises(ValueError, match="whole number from 0 to 9"):
            call_priority(_policy(max_call_priority=9), bad)
    problems = settings_problems({"settings": {"priority": 12, "max_call_priority": "top"}})
    assert [path for path, _ in problems] == ["settings.priority", "settings.max_call_priority"]


@pytest.fixture
def queues(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The queue of every run message published (the test settings would otherwise run them eagerly)."""
    from config.celery_app import app

    calls: list[str] = []
    monkeypatch.setattr(dispatch, "send_now", lambda task, args, kwargs, options, queue=None: calls.append(queue))
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield calls
    finally:
        app.conf.task_always_eager = eager


def test_high_priority_starts_go_to_the_priority_queue_and_wake_ups_stay_in_theirs(queues: list[str]) -> None:
    dispatch.publish_execution(str(uuid.uuid4()))
    dispatch.publish_execution(str(uuid.uuid4()), priority=6)
    dispatch.publish_execution(str(uuid.uuid4()), priority=7)
    dispatch.publish_execution(str(uuid.uuid4()), priority=9, wake_up=True)
    assert queues == [EXECUTION_QUEUE, EXECUTION_QUEUE, PRIORITY_QUEUE, WAKE_UP_QUEUE]


def _hook(api: APIClient, schema: Any, query: str = "") -> Any:
    return api.post(f"/api/hooks/{schema.id}/{query}", {}, format="json", HTTP_X_SCHEMA_SECRET=schema.webhook_secret)


def test_a_webhook_call_sets_its_priority_within_the_schemas_limit(api: APIClient, user: Any) -> None:
    definition = chain(node("start", "webhook_trigger"), node("done", "end", {"output": "ok"}))
    definition["settings"] = {"priority": 3, "max_call_priority": 8}
    schema = create_schema(user=user, definition=definition, activate=True)
    assert _hook(api, schema).json()["priority"] == 3
    assert _hook(api, schema, "?priority=8").json()["priority"] == 8
    refused = _hook(api, schema, "?priority=9")
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["message"].startswith("priority 9 is above what this schema allows a call")
    assert _hook(api, schema, "?priority=urgent").status_code == 400
    assert Execution.objects.filter(schema=schema).count() == 2


def test_a_manual_run_takes_a_priority_too(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user, definition=chain(node("start", "manual_trigger")), activate=True)
    low = api.post(f"/api/schemas/{schema.id}/execute/", {"payload": {}, "priority": 1}, format="json")
    assert low.status_code == 202 and low.json()["priority"] == 1
    high = api.post(f"/api/schemas/{schema.id}/execute/", {"payload": {}, "priority": 6}, format="json")
    assert high.status_code == 400 and "above what this schema allows" in str(high.json())


def test_a_free_slot_goes_to_the_highest_priority_then_fifo(monkeypatch: pytest.MonkeyPatch, user: Any) -> None:
    sent: list[str] = []
    monkeypatch.setattr(transaction, "on_commit", lambda func, *args, **kwargs: func())
    for module in (services, admission):
        monkeypatch.setattr(module, "publish_execution", lambda execution_id, **_: sent.append(str(execution_id)))
    definition = chain(node("start", "manual_trigger"), node("hold", "wait", {}), node("done", "end", {"output": 1}))
    definition["settings"] = {"max_concurrency": 1, "hold_slot_while_paused": True, "max_call_priority": 9}
    schema = create_schema(user=user, definition=definition, activate=True)

    def start(priority: int) -> str:
        return str(execution_create(schema=schema, trigger_type=TriggerType.MANUAL, priority=priority)[0].id)

    holder = start(5)
    assert execution_run(holder) == "paused"  # holds the only slot while it waits
    low_old, normal, high, low_new = start(1), start(5), start(9), start(1)
    for queued in (low_old, normal, high, low_new):
        assert execution_run(queued) == "queued"
    high_row = Execution.objects.get(pk=high)
    assert high_row.queued_reason == "queued: 1 running, limit 1"
    waiting = metrics.EXECUTIONS_WAITING.labels(str(schema.pk))
    assert waiting._value.get() == 4  # the gauge on the dashboard
    sent.clear()
    order = []
    running = holder
    for _ in range(4):
        services.execution_resume(Execution.objects.get(pk=running), payload={})
        assert execution_run(running) == "completed"
        running = sent[-1]  # the one the freed slot went to
        order.append(running)
        assert execution_run(running) == "paused"
    assert order == [high, normal, low_old, low_new]
    assert waiting._value.get() == 0


# --- every path that publishes a start again keeps a high-priority one in the priority queue -------
# A start whose first publish was lost, or that waited (for a concurrency slot, for its paused schema),
# is published again by someone else: the reconciler, the outbox relay, the execution freeing a slot,
# the resume. Each of them used to send it to the start queue, behind the whole backlog of normal starts.


def _high_priority_schema(user: Any, **settings: Any) -> Any:
    definition = chain(node("start", "manual_trigger"), node("hold", "wait", {}), node("done", "end", {"output": 1}))
    definition["settings"] = {"priority": 9, **settings}
    return create_schema(user=user, definition=definition, activate=True)


@pytest.fixture
def commit_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transaction, "on_commit", lambda func, *args, **kwargs: func())


def test_the_reconciler_republishes_a_lost_high_priority_start_to_the_priority_queue(
    queues: list[str], user: Any
) -> None:
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone

    from executions_app.reconciler import reconcile_once

    schema = _high_priority_schema(user)
    lost = execution_create(schema=schema, trigger_type=TriggerType.MANUAL, publish=False)[0]
    normal = execution_create(schema=schema, trigger_type=TriggerType.MANUAL, publish=False, priority=2)[0]
    later = timezone.now() + timedelta(seconds=settings.SCHEMA_RECONCILE_GRACE_SECONDS + 1)

    # A backlog of normal starts does not hide a lost high-priority one (its message is not in there).
    counts = reconcile_once(now=later, ready={EXECUTION_QUEUE: 5000, PRIORITY_QUEUE: 0, WAKE_UP_QUEUE: 0})
    assert counts["pending"] == 1 and queues == [PRIORITY_QUEUE]
    # Ready messages in the priority queue: it may be among them, nothing is sent; the normal one is.
    queues.clear()
    reconcile_once(now=later, ready={EXECUTION_QUEUE: 0, PRIORITY_QUEUE: 4, WAKE_UP_QUEUE: 0})
    assert queues == [EXECUTION_QUEUE]
    queues.clear()
    reconcile_once(now=later, ready={})
    assert sorted(queues) == sorted([PRIORITY_QUEUE, EXECUTION_QUEUE])
    assert {lost.priority, normal.priority} == {9, 2}


def test_the_outbox_relay_publishes_a_lost_high_priority_start_to_the_priority_queue(
    queues: list[str], user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from executions_app import outbox
    from executions_app.sql import OUTBOX_LOST

    schema = _high_priority_schema(user)
    failed = execution_create(schema=schema, trigger_type=TriggerType.MANUAL, publish=False)[0]
    relay = outbox.OutboxRelay(deadline=60)
    relay.notified(0, f"{OUTBOX_LOST}{failed.pk}")  # its publisher's broker call failed
    assert relay.tick() == [str(failed.pk)] and queues == [PRIORITY_QUEUE]

    # Found by the scan: a full start queue says nothing about the priority queue, which is empty.
    hung = execution_create(schema=schema, trigger_type=TriggerType.MANUAL, publish=False)[0]
    Execution.objects.filter(pk=hung.pk).update(created_at=timezone.now() - timedelta(seconds=5))
    monkeypatch.setattr(outbox, "queue_ready_counts", lambda *names: {EXECUTION_QUEUE: 5000, PRIORITY_QUEUE: 0})
    queues.clear()
    assert outbox.OutboxRelay(deadline=1).tick() == [str(hung.pk)] and queues == [PRIORITY_QUEUE]
    monkeypatch.setattr(outbox, "queue_ready_counts", lambda *names: {EXECUTION_QUEUE: 0, PRIORITY_QUEUE: 3})
    assert outbox.OutboxRelay(deadline=1).tick() == [], "it may be among the ready ones of its own queue"


def test_resuming_a_paused_schema_publishes_its_held_high_priority_starts_to_the_priority_queue(
    queues: list[str], user: Any, commit_now: None
) -> None:
    from executions_app.pausing import PAUSED_REASON, schema_pause, schema_resume

    schema = schema_pause(_high_priority_schema(user))
    held = [execution_create(schema=schema, trigger_type=TriggerType.MANUAL)[0] for _ in range(2)]
    assert {e.queued_reason for e in held} == {PAUSED_REASON} and queues == []
    assert schema_resume(schema) == 2
    assert queues == [PRIORITY_QUEUE, PRIORITY_QUEUE]


def test_a_freed_slot_publishes_the_high_priority_waiter_to_the_priority_queue(
    queues: list[str], user: Any, commit_now: None
) -> None:
    schema = _high_priority_schema(user, max_concurrency=1, hold_slot_while_paused=True)
    holder, waiter = (execution_create(schema=schema, trigger_type=TriggerType.MANUAL)[0] for _ in range(2))
    assert queues == [PRIORITY_QUEUE, PRIORITY_QUEUE]
    assert execution_run(str(holder.id)) == "paused"
    assert execution_run(str(waiter.id)) == "queued"
    queues.clear()
    services.execution_resume(Execution.objects.get(pk=holder.pk), payload={})
    assert execution_run(str(holder.id)) == "completed"
    assert queues == [WAKE_UP_QUEUE, PRIORITY_QUEUE], "the resume's wake-up, then the waiter's start"
