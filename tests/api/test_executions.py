"""Executions API: run a schema, read steps, and the operator actions (cancel, resume, retry,
re-run), with filters, pagination and per-user visibility. Celery runs eagerly here; the same flows
with real worker processes are in tests/system."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from engine.nodes import NODE_TYPES, describe_node_types
from executions_app.models import Execution
from tests.builders import edge, linear_definition, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db(transaction=True)


def wait_definition() -> dict[str, Any]:
    return {
        "nodes": [
            node("start", "manual_trigger"),
            node("approval", "wait", {"instructions": "Approve?"}, name="Manager approval"),
            node("route", "condition", {"expression": "{{ input.approved }}"}),
            node("yes", "end", {"output": "approved by {{ nodes.approval.output.by }}"}),
            node("no", "fail", {"message": "rejected"}),
        ],
        "edges": [
            edge("start", "approval"),
            edge("approval", "route"),
            edge("route", "yes", "true"),
            edge("route", "no", "false"),
        ],
    }


def failing_definition() -> dict[str, Any]:
    return {
        "nodes": [
            node("start", "manual_trigger"),
            node("prepare", "set", {"assignments": [{"name": "n", "value": 1}]}),
            node("boom", "set", {"assignments": [{"name": "x", "value": "{{ trigger.missing.deeper }}"}]}),
        ],
        "edges": [edge("start", "prepare"), edge("prepare", "boom")],
    }


def test_execute_runs_the_schema_and_records_every_step(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user)
    response = api.post(f"/api/schemas/{schema.id}/execute/", {"payload": {"name": "Ada"}}, format="json")
    assert response.status_code == 202
    execution_id = response.json()["id"]
    detail = api.get(f"/api/executions/{execution_id}/").json()
    assert detail["status"] == "completed" and detail["result"] == "Hello Ada"
    assert detail["trigger_type"] == "manual" and detail["schema_version"] == 1
    assert detail["context"]["greeting"] == "Hello Ada"
    steps = api.get(f"/api/executions/{execution_id}/steps/").json()
    assert [(s["seq"], s["node_id"], s["status"]) for s in steps] == [
        (1, "start", "success"),
        (2, "greet", "success"),
        (3, "note", "success"),
        (4, "done", "success"),
    ]
    assert steps[1]["output"] is not None and steps[1]["duration_ms"] >= 0


def test_failed_node_records_its_error_and_retry_runs_it_again(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user, definition=failing_definition())
    execution_id = api.post(f"/api/schemas/{schema.id}/execute/", {"payload": {}}, format="json").json()["id"]
    detail = api.get(f"/api/executions/{execution_id}/").json()
    assert detail["status"] == "failed" and "boom" in detail["error"]
    failed = api.get(f"/api/executions/{execution_id}/steps/").json()[-1]
    assert failed["node_id"] == "boom" and failed["status"] == "failed"
    assert "Traceback" in failed["error"] or "missing" in failed["error"]
    retried = api.post(f"/api/executions/{execution_id}/retry/")
    assert retried.status_code == 202
    steps = api.get(f"/api/executions/{execution_id}/steps/").json()
    assert [(s["node_id"], s["attempt"]) for s in steps if s["node_id"] == "boom"] == [("boom", 1), ("boom", 2)]
    assert api.get(f"/api/executions/{execution_id}/").json()["status"] == "failed"
    assert api.post(f"/api/executions/{execution_id}/resume/", {}, format="json").status_code == 409


def test_wait_pauses_until_resumed_with_a_payload(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user, definition=wait_definition())
    execution_id = api.post(f"/api/schemas/{schema.id}/execute/", {}, format="json").json()["id"]
    paused = api.get(f"/api/executions/{execution_id}/").json()
    assert paused["status"] == "paused"
    assert paused["waiting"] == [
        {"node_id": "approval", "node_name": "Manager approval", "kind": "wait", "resume_at": None}
    ]
    # The list says where each run waits by the node's name as well.
    listed = api.get(f"/api/executions/?schema={schema.id}").json()["results"]
    assert [w["node_name"] for w in listed[0]["waiting"]] == ["Manager approval"]
    wrong = api.post(f"/api/executions/{execution_id}/resume/", {"node_id": "nope"}, format="json")
    assert wrong.status_code == 409 and "'nope' is not a wait node" in wrong.json()["detail"]
    bad = api.post(f"/api/executions/{execution_id}/resume/", {"node_id": ["approval"]}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["path"] == "node_id"
    resumed = api.post(
        f"/api/executions/{execution_id}/resume/", {"payload": {"approved": True, "by": "Grace"}}, format="json"
    )
    assert resumed.status_code == 202
    done = api.get(f"/api/executions/{execution_id}/").json()
    assert done["status"] == "completed" and done["result"] == "approved by Grace"
    again = api.post(f"/api/executions/{execution_id}/resume/", {"payload": {}}, format="json")
    assert again.status_code == 409 and again.json()["type"] == "conflict"


def test_cancel_a_paused_execution_and_it_never_resumes(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user, definition=wait_definition())
    execution_id = api.post(f"/api/schemas/{schema.id}/execute/", {}, format="json").json()["id"]
    assert api.post(f"/api/executions/{execution_id}/cancel/").json()["status"] == "cancelled"
    assert (
        api.post(f"/api/executions/{execution_id}/resume/", {"payload": {"approved": True}}, format="json").status_code
        == 409
    )
    assert api.post(f"/api/executions/{execution_id}/cancel/").status_code == 409
    assert list(Execution.objects.get(pk=execution_id).steps.values_list("node_id", flat=True)) == ["start"]


def test_rerun_creates_a_new_execution_on_the_pinned_version(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user)
    first = api.post(f"/api/schemas/{schema.id}/execute/", {"payload": {"name": "v1"}}, format="json").json()
    changed = linear_definition()
    changed["nodes"][1]["config"]["assignments"][0]["value"] = "Hi {{ trigger.name }}"
    api.put(f"/api/schemas/{schema.id}/", {"name": schema.name, "definition": changed}, format="json")
    pinned = api.post(f"/api/executions/{first['id']}/rerun/", {"version": "pinned"}, format="json").json()
    current = api.post(f"/api/executions/{first['id']}/rerun/", {"version": "current"}, format="json").json()
    assert pinned["id"] != first["id"] and pinned["rerun_of"] == first["id"]
    assert (pinned["schema_version"], pinned["result"]) == (1, "Hello v1")
    assert (current["schema_version"], current["result"]) == (2, "Hi v1")


def test_archived_schema_cannot_run(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user)
    api.post(f"/api/schemas/{schema.id}/archive/")
    response = api.post(f"/api/schemas/{schema.id}/execute/", {}, format="json")
    assert response.status_code == 409


def test_list_filters_and_cursor_pagination(api: APIClient, user: Any) -> None:
    ok = create_schema(user=user, name="ok")
    bad = create_schema(user=user, name="bad", definition=failing_definition())
    for _ in range(3):
        api.post(f"/api/schemas/{ok.id}/execute/", {}, format="json")
    api.post(f"/api/schemas/{bad.id}/execute/", {}, format="json")
    assert len(api.get("/api/executions/").json()["results"]) == 4
    failed = api.get("/api/executions/?status=failed").json()["results"]
    assert [e["schema_name"] for e in failed] == ["bad"]
    assert len(api.get(f"/api/executions/?schema={ok.id}").json()["results"]) == 3
    assert api.get("/api/executions/?trigger_type=webhook").json()["results"] == []
    page = api.get("/api/executions/?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 2 and rest["next"] is None
    ids = {e["id"] for e in page["results"]} | {e["id"] for e in rest["results"]}
    assert len(ids) == 4
    assert api.get("/api/executions/?status=nope").status_code == 400
    assert api.get("/api/executions/?created_after=yesterday").status_code == 400


def test_other_users_executions_are_invisible(
    api: APIClient, user: Any, other_user: Any, client_for: Any, staff_user: Any
) -> None:
    schema = create_schema(user=user)
    execution_id = api.post(f"/api/schemas/{schema.id}/execute/", {}, format="json").json()["id"]
    other = client_for(other_user)
    assert other.get(f"/api/executions/{execution_id}/").status_code == 404
    assert other.get(f"/api/executions/{execution_id}/steps/").status_code == 404
    assert other.post(f"/api/executions/{execution_id}/cancel/").status_code == 404
    assert other.get("/api/executions/").json()["results"] == []
    assert client_for(staff_user).get(f"/api/executions/{execution_id}/").status_code == 200


def test_node_types_registry_serves_every_type_with_its_schema(api: APIClient) -> None:
    served = api.get("/api/node-types/").json()
    types = {t["type"]: t for t in served}
    assert served == json.loads(json.dumps(describe_node_types()))  # the registry, each type once, as JSON
    assert set(types) == set(NODE_TYPES)
    assert types["condition"]["ports"] == ["true", "false"]
    assert types["switch"]["dynamic_ports"] == {"from": "cases", "key": "port"}
    assert types["http_request"]["side_effects"] is True and types["set"]["side_effects"] is False
    assert types["webhook_trigger"]["group"] == "trigger" and types["webhook_trigger"]["is_trigger"]
    assert types["http_request"]["config_schema"]["properties"]["url"]["x-expression"] is True


def test_an_accepted_execution_has_no_start_time_until_a_worker_starts_it(api: APIClient, user: Any) -> None:
    """The editor shows "queued since <created_at>" and no duration while `started_at` is null."""
    from executions_app.runner import execution_run
    from executions_app.services import execution_create

    schema = create_schema(user=user, activate=True)
    execution, _ = execution_create(schema=schema, trigger_type="manual", payload={"name": "Ada"}, publish=False)
    detail = api.get(f"/api/executions/{execution.id}/").json()
    [listed] = api.get(f"/api/executions/?schema={schema.id}").json()["results"]
    for shown in (detail, listed):
        assert shown["status"] == "pending" and shown["created_at"]
        assert shown["started_at"] is None and shown["finished_at"] is None
    execution_run(str(execution.id))
    ran = api.get(f"/api/executions/{execution.id}/").json()
    assert ran["status"] == "completed"
    assert ran["created_at"] <= ran["started_at"] <= ran["finished_at"]
