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
