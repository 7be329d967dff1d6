"""Publishing the run message of an execution that is already committed.

A webhook's 202 means "stored": the message is published after the answer is sent, so the sender
does not wait for the broker's confirm. A broker that is down never turns a stored execution into an
error (a sender retrying a 500 would start it twice): the request succeeds, the failure is logged and
the reconciler publishes the pending execution later.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown
from rest_framework.test import APIClient, APIRequestFactory

from api.views import webhooks
from executions_app import reconciler, services
from executions_app.models import Execution
from tests.builders import linear_definition
from tests.factories import create_schema

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker_down(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every publish fails as kombu fails when RabbitMQ refuses the connection."""
    attempts: list[str] = []

    def refuse(execution_id: str, **_: Any) -> None:
        attempts.append(execution_id)
        raise BrokerDown("[Errno 111] Connection refused")

    monkeypatch.setattr(services, "publish_execution", refuse)
    return attempts


def _hook(schema: Any, query: str = "") -> tuple[str, dict[str, str]]:
    return f"/api/hooks/{schema.id}/{query}", {"HTTP_X_SCHEMA_SECRET": schema.webhook_secret}


def test_webhook_answers_202_before_it_publishes(hook_schema: Any, published: list[str]) -> None:
    path, headers = _hook(hook_schema)
    request = APIRequestFactory().post(path, {"n": 1}, format="json", **headers)
    response = webhooks.WebhookView.as_view()(request, schema_id=hook_schema.id)
    assert response.status_code == 202
    execution_id = response.data["id"]
    # The answer is complete and the execution stored, but nothing is published yet …
    assert Execution.objects.get(pk=execution_id).status == "pending"
    assert published == []
    # … until the server has sent the answer and closes the response (gunicorn and the test client do).
    response.close()
    assert published == [execution_id]
    response.close()
    assert published == [execution_id], "published once"


def test_webhook_through_the_client_publishes_each_new_execution_once(
    anon_client: APIClient, hook_schema: Any, published: list[str]
) -> None:
    path, headers = _hook(hook_schema)
    first = anon_client.post(path, {"n": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k", **headers)
    again = anon_client.post(path, {"n": 1}, format="json", HTTP_IDEMPOTENCY_KEY="k", **headers)
    other = anon_client.post(path, {"n": 2}, format="json", **headers)
    assert [r.status_code for r in (first, again, other)] == [202, 202, 202]
    assert again.json()["id"] == first.json()["id"]
    assert published == [first.json()["id"], other.json()["id"]]


def test_webhook_with_the_broker_down_is_still_202_and_the_reconciler_publishes_it(
    anon_client: APIClient,
    hook_schema: Any,
    broker_down: list[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path, headers = _hook(hook_schema)
    with caplog.at_level(logging.WARNING, logger="schema.executions"):
        response = anon_client.post(path, {"n": 1}, format="json", **headers)
    assert response.status_code == 202, response.content
    execution_id = response.json()["id"]
    assert broker_down == [execution_id]
    assert Execution.objects.get(pk=execution_id).status == "pending"  # stored, nothing lost
    [record] = [r for r in caplog.records if r.name == "schema.executions"]
    assert "could not publish" in record.getMessage() and "reconciler" in record.getMessage()
    assert record.execution_id == execution_id  # type: ignore[attr-defined]

    # Once the grace period has passed, the reconciler publishes it (the broker is back).
    republished: list[str] = []
    monkeypatch.setattr(reconciler, "publish_execution", lambda execution_id, **_: republished.append(execution_id))
    assert reconciler.reconcile_once(now=timezone.now())["pending"] == 0, "not before the grace period"
    later = timezone.now() + timedelta(seconds=settings.SCHEMA_RECONCILE_GRACE_SECONDS + 1)
    assert reconciler.reconcile_once(now=later)["pending"] == 1
    assert republished == [execution_id]


def test_webhook_wait_publishes_before_it_waits(
    anon_client: APIClient, hook_schema: Any, published: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_at_wait: list[list[str]] = []

    def await_(execution: Execution, seconds: float) -> Execution:
        seen_at_wait.append(list(published))
        return execution

    monkeypatch.setattr(webhooks, "execution_await", await_)
    path, headers = _hook(hook_schema, "?wait=5")
    response = anon_client.post(path, {"n": 1}, format="json", **headers)
    assert response.status_code == 202
    assert seen_at_wait == [[response.json()["id"]]]
    assert published == [response.json()["id"]]


def test_webhook_wait_with_the_broker_down_answers_at_once(
    anon_client: APIClient, hook_schema: Any, broker_down: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def await_(execution: Execution, seconds: float) -> Execution:
        raise AssertionError("waited for an execution nothing will run before the reconciler")

    monkeypatch.setattr(webhooks, "execution_await", await_)
    path, headers = _hook(hook_schema, "?wait=5")
    response = anon_client.post(path, {"n": 1}, format="json", **headers)
    assert response.status_code == 202
    assert response.json()["status"] == "pending" and broker_down == [response.json()["id"]]


def test_manual_execute_with_the_broker_down_is_202_not_500(api: APIClient, user: Any, broker_down: list[str]) -> None:
    schema = create_schema(user=user, definition=linear_definition("manual_trigger"), activate=True)
    response = api.post(f"/api/schemas/{schema.id}/execute/", {"payload": {}}, format="json")
    assert response.status_code == 202, response.content
    assert broker_down == [response.json()["id"]]
    assert Execution.objects.get(pk=response.json()["id"]).status == "pending"
