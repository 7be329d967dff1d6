"""Pausing, resuming and draining a whole schema (issue 16): what the API answers and what runs.

Publishing is recorded instead of run, as in test_policies.py: the test plays the worker.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from executions_app import admission, pausing, services
from executions_app.models import Execution, TriggerType
from executions_app.pausing import PAUSED_REASON, pause_reconcile, schema_pause
from executions_app.runner import execution_run
from executions_app.services import execution_create, execution_from_schedule
from tests.builders import chain, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    messages: list[str] = []
    monkeypatch.setattr(transaction, "on_commit", lambda func, *args, **kwargs: func())

    def record(execution_id: str, **_: Any) -> None:
        messages.append(str(execution_id))

    for module in (services, admission, pausing):
        monkeypatch.setattr(module, "publish_execution", record)
    return messages


def _schema(
    user: Any, settings: dict[str, Any] | None = None, *middle: dict[str, Any], trigger: str = "webhook_trigger"
) -> Any:
    config = {"cron": "0 * * * *"} if trigger == "schedule_trigger" else {}
    definition = chain(node("start", trigger, config), *middle, node("done", "end", {"output": "ok"}))
    if settings:
        definition["settings"] = settings
    return create_schema(user=user, definition=definition, activate=True)


def _hook(api: APIClient, schema: Any, payload: Any = None) -> Any:
    return api.post(
        f"/api/hooks/{schema.id}/",
        payload or {},
        format="json",
        HTTP_X_SCHEMA_SECRET=schema.webhook_secret,
    )


def test_a_paused_schema_holds_webhook_calls_and_starts_them_in_order_when_resumed(
    api: APIClient, user: Any, sent: list[str]
) -> None:
    schema = _schema(user)
    paused = api.post(f"/api/schemas/{schema.id}/pause/")
    assert paused.status_code == 200 and paused.json()["paused_at"] is not None
    answers = [_hook(api, schema, {"n": n}) for n in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert {a.json()["queued"] for a in answers} == {PAUSED_REASON}
    ids = [a.json()["id"] for a in answers]
    assert sent == [], "nothing is published while the schema is paused"
    listed = api.get(f"/api/executions/?schema={schema.id}").json()["results"]
    assert {(e["status"], e["queued"]) for e in listed} == {("pending", PAUSED_REASON)}

    resumed = api.post(f"/api/schemas/{schema.id}/resume/")
    assert resumed.status_code == 200 and resumed.json()["paused_at"] is None
    assert sent == ids, "the held executions start, oldest first"
    for execution_id in ids:
        assert execution_run(execution_id) == "completed"
    assert _hook(api, schema).status_code == 202 and len(sent) == 4, "a resumed schema starts at once"


def test_with_when_paused_refuse_a_webhook_call_is_a_409_in_plain_words(
    api: APIClient, user: Any, sent: list[str]
) -> None:
    schema = _schema(user, {"when_paused": "refuse"})
    api.post(f"/api/schemas/{schema.id}/pause/")
    refused = _hook(api, schema)
    assert refused.status_code == 409
    assert "paused" in refused.json()["detail"]
    assert not Execution.objects.filter(schema=schema).exists()
    manual = _schema(user, {"when_paused": "refuse"}, trigger="manual_trigger")
    api.post(f"/api/schemas/{manual.id}/pause/")
    assert api.post(f"/api/schemas/{manual.id}/execute/", {"payload": {}}, format="json").status_code == 409
    api.post(f"/api/schemas/{schema.id}/resume/")
    assert _hook(api, schema).status_code == 202 and len(sent) == 1


def test_running_executions_go_on_and_drain_reports_when_nothing_is_left(
    api: APIClient, user: Any, sent: list[str]
) -> None:
    schema = _schema(user, None, node("hold", "wait", {}))
    before = _hook(api, schema).json()
    execution_id = before["id"]
    assert execution_run(execution_id) == "paused"  # waits at its `wait` node
    drain = api.post(f"/api/schemas/{schema.id}/drain/")
    assert drain.status_code == 200
    assert drain.json() == {**drain.json(), "paused": True, "running": 1, "held": 0, "drained": False}
    _hook(api, schema)
    assert api.get(f"/api/schemas/{schema.id}/drain/").json()["held"] == 1
    resumed = api.post(f"/api/executions/{execution_id}/resume/", {"payload": {"ok": True}}, format="json")
    assert resumed.status_code == 202, resumed.content
    assert execution_run(execution_id) == "completed", "an execution accepted before the pause finishes"
    report = api.get(f"/api/schemas/{schema.id}/drain/").json()
    assert report["drained"] is True and report["running"] == 0 and report["held"] == 1


def test_a_schedule_tick_of_a_paused_schema_starts_nothing(user: Any, sent: list[str]) -> None:
    schema = _schema(user, None, trigger="schedule_trigger")
    schema_pause(schema)
    assert execution_from_schedule(str(schema.id)) is None
    assert not Execution.objects.filter(schema=schema).exists()


def test_held_executions_of_a_limited_schema_take_no_slot_and_queue_after_the_resume(
    api: APIClient, user: Any, sent: list[str]
) -> None:
    schema = _schema(user, {"max_concurrency": 1}, node("hold", "wait", {}))
    first = execution_create(schema=schema, trigger_type=TriggerType.WEBHOOK, payload={})[0]
    assert execution_run(str(first.id)) == "paused"  # gives its slot back while waiting
    schema_pause(schema)
    held = execution_create(schema=schema, trigger_type=TriggerType.WEBHOOK, payload={})[0]
    assert admission.admission_reconcile() == 0, "a held execution is not handed a free slot"
    held.refresh_from_db()
    assert (held.status, held.slot_held, held.queued_reason) == ("pending", False, PAUSED_REASON)
    api.post(f"/api/schemas/{schema.id}/resume/")
    assert execution_run(str(held.id)) == "paused"


def test_an_execution_held_by_a_trigger_that_raced_the_resume_is_started_by_the_reconciler(
    user: Any, sent: list[str]
) -> None:
    schema = _schema(user)
    schema_pause(schema)
    held = execution_create(schema=schema, trigger_type=TriggerType.WEBHOOK, payload={})[0]
    Execution.objects.filter(pk=held.pk).update(created_at=timezone.now() - timedelta(minutes=1))
    type(schema).objects.filter(pk=schema.pk).update(paused_at=None)  # resumed without releasing it
    assert pause_reconcile() == 1 and sent == [str(held.id)]
    assert pause_reconcile() == 0
    held.refresh_from_db()
    assert held.queued_reason == ""


def test_when_paused_is_validated(api: APIClient, user: Any) -> None:
    schema = _schema(user)
    definition = {**schema.definition, "settings": {"when_paused": "drop"}}
    response = api.patch(f"/api/schemas/{schema.id}/", {"definition": definition}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "settings.when_paused"
    assert "queue" in response.json()["errors"][0]["message"]


def test_someone_elses_schema_cannot_be_paused(api: APIClient, other_user: Any) -> None:
    schema = _schema(other_user)
    assert api.post(f"/api/schemas/{schema.id}/pause/").status_code == 404
    assert api.get(f"/api/schemas/{schema.id}/drain/").status_code == 404
