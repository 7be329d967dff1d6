"""`Idempotency-Key` on the manual actions (execute, rerun, resume, retry), as on webhooks: a client
whose connection was cut sends the request again with the same key and gets the first answer — the
same execution, the same status code — and nothing runs twice (no second execution, no second wait
resumed, no second attempt). A key is the user's and the action's; reused with a different body it is
refused in plain words (409). It lives as long as the execution it started or acted on (retention),
as a webhook's key does."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from executions_app.models import Execution
from tests.builders import edge, linear_definition, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(user: Any) -> Any:
    return create_schema(user=user, definition=linear_definition())


def execute(client: APIClient, schema: Any, payload: Any, key: str | None = "order-1") -> Any:
    headers: dict[str, Any] = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
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


# --- resume and retry: actions on an existing execution ---------------------------------------------
def two_waits_definition() -> dict[str, Any]:
    return {
        "nodes": [
            node("start", "manual_trigger"),
            node("first", "wait", {"instructions": "First approval"}),
            node("second", "wait", {"instructions": "Second approval"}),
            node("done", "end", {"output": "{{ nodes.first.output.by }} then {{ nodes.second.output.by }}"}),
        ],
        "edges": [edge("start", "first"), edge("first", "second"), edge("second", "done")],
    }


def failing_definition() -> dict[str, Any]:
    return {
        "nodes": [
            node("start", "manual_trigger"),
            node("boom", "set", {"assignments": [{"name": "x", "value": "{{ trigger.missing.deeper }}"}]}),
        ],
        "edges": [edge("start", "boom")],
    }


def run(client: APIClient, url: str, body: Any = None, key: str | None = None, *, commit: Any) -> Any:
    """One request whose after-commit work (the eager run) happens before it returns, as in a worker."""
    headers: dict[str, Any] = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    with commit(execute=True):
        return client.post(url, body if body is not None else {}, format="json", **headers)


@pytest.fixture
def paused_id(api: APIClient, user: Any, django_capture_on_commit_callbacks: Any) -> str:
    waits = create_schema(user=user, definition=two_waits_definition())
    answer = run(api, f"/api/schemas/{waits.id}/execute/", {"payload": {}}, commit=django_capture_on_commit_callbacks)
    execution_id = str(answer.json()["id"])
    assert waiting_at(api, execution_id) == ["first"]
    return execution_id


def waiting_at(api: APIClient, execution_id: str) -> list[str]:
    return [w["node_id"] for w in api.get(f"/api/executions/{execution_id}/").json()["waiting"]]


def test_a_repeated_resume_with_the_same_key_resumes_one_wait_only(
    api: APIClient, paused_id: str, django_capture_on_commit_callbacks: Any
) -> None:
    url = f"/api/executions/{paused_id}/resume/"
    body = {"payload": {"by": "Ada"}}
    first = run(api, url, body, "approve-1", commit=django_capture_on_commit_callbacks)
    assert first.status_code == 202 and waiting_at(api, paused_id) == ["second"]
    again = run(api, url, body, "approve-1", commit=django_capture_on_commit_callbacks)
    assert again.status_code == 202 and again.json()["id"] == paused_id
    assert waiting_at(api, paused_id) == ["second"]  # the repeat did not resume the second wait
    # A new request (a new key) resumes the next one.
    next_one = run(api, url, {"payload": {"by": "Grace"}}, "approve-2", commit=django_capture_on_commit_callbacks)
    assert next_one.status_code == 202
    detail = api.get(f"/api/executions/{paused_id}/").json()
    assert detail["status"] == "completed" and detail["result"] == "Ada then Grace"


def test_the_same_resume_key_with_another_payload_or_execution_is_refused(
    api: APIClient, user: Any, paused_id: str, django_capture_on_commit_callbacks: Any
) -> None:
    url = f"/api/executions/{paused_id}/resume/"
    run(api, url, {"payload": {"by": "Ada"}}, "approve-1", commit=django_capture_on_commit_callbacks)
    other_payload = run(api, url, {"payload": {"by": "Eve"}}, "approve-1", commit=django_capture_on_commit_callbacks)
    assert other_payload.status_code == 409 and other_payload.json()["type"] == "conflict"
    assert "already used for a different request" in other_payload.json()["detail"]
    assert waiting_at(api, paused_id) == ["second"]
    waits = Execution.objects.get(pk=paused_id).schema
    other = run(api, f"/api/schemas/{waits.id}/execute/", {"payload": {}}, commit=django_capture_on_commit_callbacks)
    other_id = other.json()["id"]
    refused = run(
        api, f"/api/executions/{other_id}/resume/", {"payload": {"by": "Ada"}}, "approve-1",
        commit=django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert refused.status_code == 409
    assert waiting_at(api, other_id) == ["first"]


def test_a_resume_refused_by_the_state_leaves_its_key_unused(
    api: APIClient, paused_id: str, django_capture_on_commit_callbacks: Any
) -> None:
    url = f"/api/executions/{paused_id}/resume/"
    wrong = run(api, url, {"node_id": "second"}, "approve-1", commit=django_capture_on_commit_callbacks)
    assert wrong.status_code == 409, wrong.json()
    right = run(api, url, {"node_id": "first"}, "approve-1", commit=django_capture_on_commit_callbacks)
    assert right.status_code == 202 and waiting_at(api, paused_id) == ["second"]


def test_a_repeated_retry_with_the_same_key_runs_one_more_attempt_only(
    api: APIClient, user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    failing = create_schema(user=user, definition=failing_definition())
    commit = django_capture_on_commit_callbacks
    execution_id = run(api, f"/api/schemas/{failing.id}/execute/", {"payload": {}}, commit=commit).json()["id"]
    url = f"/api/executions/{execution_id}/retry/"
    first = run(api, url, key="retry-1", commit=commit)
    again = run(api, url, key="retry-1", commit=commit)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == execution_id
    steps = api.get(f"/api/executions/{execution_id}/steps/").json()
    assert [s["attempt"] for s in steps if s["node_id"] == "boom"] == [1, 2]  # not a third attempt
    assert run(api, url, key="retry-2", commit=commit).status_code == 202  # a new key: a new retry
    steps = api.get(f"/api/executions/{execution_id}/steps/").json()
    assert [s["attempt"] for s in steps if s["node_id"] == "boom"] == [1, 2, 3]
    other_id = run(api, f"/api/schemas/{failing.id}/execute/", {"payload": {}}, commit=commit).json()["id"]
    refused = run(api, f"/api/executions/{other_id}/retry/", key="retry-1", commit=commit)
    assert refused.status_code == 409 and "another execution" in refused.json()["detail"]
    steps = api.get(f"/api/executions/{other_id}/steps/").json()
    assert [s["attempt"] for s in steps if s["node_id"] == "boom"] == [1]


def test_a_resume_key_is_the_users_own_and_expires_with_the_execution(
    api: APIClient, paused_id: str, staff_user: Any, client_for: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from executions_app.models import ExecutionActionKey

    url = f"/api/executions/{paused_id}/resume/"
    body = {"payload": {"by": "Ada"}}
    run(api, url, body, "approve-1", commit=django_capture_on_commit_callbacks)
    theirs = run(client_for(staff_user), url, body, "approve-1", commit=django_capture_on_commit_callbacks)
    assert theirs.status_code == 202 and waiting_at(api, paused_id) == []  # their own request: it acted
    Execution.objects.filter(pk=paused_id).delete()  # the retention prune
    assert not ExecutionActionKey.objects.exists()


@pytest.mark.parametrize("action", ["resume", "retry"])
@pytest.mark.parametrize("key", ["x" * 256, "line\nbreak"])
def test_a_malformed_key_on_resume_or_retry_is_a_400(
    api: APIClient, paused_id: str, action: str, key: str, django_capture_on_commit_callbacks: Any
) -> None:
    answer = run(api, f"/api/executions/{paused_id}/{action}/", {}, key, commit=django_capture_on_commit_callbacks)
    assert answer.status_code == 400
    assert "Idempotency-Key" in str(answer.json()["errors"])
    assert waiting_at(api, paused_id) == ["first"]
