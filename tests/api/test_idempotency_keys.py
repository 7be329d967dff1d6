"""`Idempotency-Key` on the manual actions that start an execution (execute, rerun), as on webhooks:
a client whose connection was cut sends the request again with the same key and gets the first
answer — the same execution, the same status code — and nothing runs twice. A key is the user's and
the action's; reused with a different body it is refused in plain words (409). It lives as long as
the execution it started (retention), as a webhook's key does."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from executions_app.models import Execution
from tests.builders import linear_definition
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(user: Any) -> Any:
    return create_schema(user=user, definition=linear_definition())


def execute(client: APIClient, schema: Any, payload: Any, key: str | None = "order-1") -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(f"/api/schemas/{schema.id}/execute/", {"payload": payload}, format="json", **headers)


def test_a_repeated_execute_with_the_same_key_answers_the_first_execution(
    api: APIClient, schema: Any, published: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first = execute(api, schema, {"name": "Ada"})
    with django_capture_on_commit_callbacks(execute=True):
        again = execute(api, schema, {"name": "Ada"})
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert Execution.objects.filter(schema=schema).count() == 1
    assert published == [first.json()["id"]]  # published once: the repeat starts nothing


def test_the_same_key_with_another_payload_is_refused_in_plain_words(api: APIClient, schema: Any) -> None:
    execute(api, schema, {"name": "Ada"})
    other = execute(api, schema, {"name": "Grace"})
    assert other.status_code == 409
    assert other.json()["type"] == "conflict"
    assert "already used for a different request (another payload)" in other.json()["detail"]
    assert Execution.objects.filter(schema=schema).count() == 1


def test_without_a_key_every_request_starts_an_execution(api: APIClient, schema: Any) -> None:
    ids = {execute(api, schema, {"name": "Ada"}, key=None).json()["id"] for _ in range(2)}
    assert len(ids) == 2


def test_a_key_is_the_users_own(api: APIClient, schema: Any, staff_user: Any, client_for: Any) -> None:
    mine = execute(api, schema, {"name": "Ada"}).json()["id"]
    theirs = execute(client_for(staff_user), schema, {"name": "Ada"})
    assert theirs.status_code == 202
    assert theirs.json()["id"] != mine


def test_a_key_used_by_a_webhook_sender_does_not_answer_a_manual_run(api: APIClient, user: Any) -> None:
    from executions_app.services import execution_create

    hook_schema = create_schema(user=user, definition=linear_definition("webhook_trigger"), activate=True)
    hooked, _ = execution_create(schema=hook_schema, trigger_type="webhook", payload={}, idempotency_key="order-1")
    manual = execute(api, hook_schema, {})
    assert manual.status_code == 202
    assert manual.json()["id"] != str(hooked.pk)


def test_a_key_expires_with_its_execution(api: APIClient, schema: Any) -> None:
    first = execute(api, schema, {"name": "Ada"}).json()["id"]
    Execution.objects.filter(pk=first).delete()  # what the retention prune does after SCHEMA_RETENTION_DAYS
    again = execute(api, schema, {"name": "Ada"})
    assert again.status_code == 202
    assert again.json()["id"] != first


@pytest.mark.parametrize("key", ["x" * 256, "line\nbreak"])
def test_a_malformed_key_is_a_400(api: APIClient, schema: Any, key: str) -> None:
    answer = execute(api, schema, {}, key=key)
    assert answer.status_code == 400
    assert "Idempotency-Key" in str(answer.json()["errors"])
    assert not Execution.objects.filter(schema=schema).exists()


def test_a_repeated_rerun_with_the_same_key_answers_the_first_rerun(api: APIClient, schema: Any) -> None:
    original = execute(api, schema, {"name": "Ada"}, key=None).json()["id"]
    url = f"/api/executions/{original}/rerun/"
    first = api.post(url, {"version": "pinned"}, format="json", HTTP_IDEMPOTENCY_KEY="again-1")
    again = api.post(url, {"version": "pinned"}, format="json", HTTP_IDEMPOTENCY_KEY="again-1")
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] != original
    assert Execution.objects.filter(rerun_of_id=original).count() == 1


def test_the_same_rerun_key_for_another_execution_is_refused(api: APIClient, schema: Any) -> None:
    one, two = (execute(api, schema, {"n": n}, key=None).json()["id"] for n in (1, 2))
    assert api.post(f"/api/executions/{one}/rerun/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 202
    refused = api.post(f"/api/executions/{two}/rerun/", {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert refused.status_code == 409
    assert "another execution or version" in refused.json()["detail"]
    assert not Execution.objects.filter(rerun_of_id=two).exists()
