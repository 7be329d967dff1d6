"""Authoring with data: the expression preview, "Run this node" and "Run to here" (issue 21).

The preview evaluates with the engine's sandbox against a past execution's data or data the
editor sends; "Run this node" runs one node of the draft without creating an execution. Both are
the schema owner's (or staff's); someone else's schema is a 404, bad input a located 400."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from executions_app.models import Execution, NodeTestRun
from tests.builders import chain, node
from tests.factories import create_schema
from tests.helpers.http_server import LocalServer

pytestmark = pytest.mark.django_db(transaction=True)


def orders_definition() -> dict[str, Any]:
    return chain(
        node("start", "manual_trigger"),
        node("count", "set", {"assignments": [{"name": "count", "value": "{{ trigger.orders | length }}"}]}),
        node("note", "log", {"level": "info", "message": "{{ vars.count }} orders"}),
        variables={"threshold": 2},
    )


@pytest.fixture
def ran(api: APIClient, user: Any) -> tuple[Any, str]:
    """A schema of the user's and one finished execution of it."""
    schema = create_schema(user=user, definition=orders_definition())
    payload = {"orders": [{"id": 1, "total": 5}, {"id": 2, "total": 7}, {"id": 3, "total": 9}]}
    execution_id = api.post(f"/api/schemas/{schema.id}/execute/", {"payload": payload}, format="json").json()["id"]
    assert Execution.objects.get(pk=execution_id).status == "completed"
    return schema, execution_id


def preview(client: APIClient, schema: Any, **body: Any) -> Any:
    return client.post(f"/api/schemas/{schema.id}/preview-expression/", body, format="json")


# ---- preview -------------------------------------------------------------------------------


def test_preview_sees_the_data_of_a_past_run_at_that_node(api: APIClient, ran: tuple[Any, str]) -> None:
    schema, execution_id = ran
    cases = {
        "{{ trigger.orders | map(attribute='total') | sum }}": (21, "number"),
        "{{ nodes.count.output.count }}": (3, "number"),
        "{{ vars.count > vars.threshold }}": (True, "boolean"),  # threshold 2 is a schema variable, count a run one
        "{{ input.count }} orders": ("3 orders", "string"),  # `note`'s input is `count`'s output
        "{{ trigger.orders[0] }}": ({"id": 1, "total": 5}, "object"),
        "plain text": ("plain text", "string"),
    }
    for expression, (value, kind) in cases.items():
        response = preview(api, schema, expression=expression, execution=execution_id, node_id="note")
        assert response.status_code == 200, response.json()
        assert response.json() == {"value": value, "value_type": kind, "error": None}, expression


def test_preview_with_data_the_editor_sends_wins_over_the_run(api: APIClient, ran: tuple[Any, str]) -> None:
    schema, execution_id = ran
    body = {"expression": "{{ trigger.orders | length }} / {{ input }}", "execution": execution_id}
    body["scope"] = {"trigger": {"orders": [1]}, "input": "edited"}
    assert preview(api, schema, **body).json()["value"] == "1 / edited"
    # Without any run: only what was sent.
    response = preview(api, schema, expression="{{ vars.a * 2 }}", scope={"vars": {"a": 21}})
    assert response.json() == {"value": 42, "value_type": "number", "error": None}


def test_preview_errors_are_plain_words_in_a_200(api: APIClient, ran: tuple[Any, str]) -> None:
    schema, execution_id = ran
    cases = {
        "{{ trigger.nothing.deeper }}": "'nothing' does not exist in the value before it",
        "{{ customer.name }}": "'customer' is not defined; expressions see vars, input, trigger, nodes",
        "{{ 1 + }}": "Expression syntax error",
        "{{ ().__class__.__mro__ }}": "Blocked by the sandbox",
        "{{ range(100000000) | list }}": "Blocked by the sandbox: numeric argument",
    }
    for expression, start in cases.items():
        response = preview(api, schema, expression=expression, execution=execution_id, node_id="note")
        assert response.status_code == 200
        body = response.json()
        assert body["value"] is None and body["error"].startswith(start), (expression, body)
        assert "field 'expression'" not in body["error"]


def test_preview_bad_input_is_a_located_400(api: APIClient, ran: tuple[Any, str]) -> None:
    schema, _ = ran
    cases = [
        ({}, "expression"),
        ({"expression": 5}, "expression"),
        ({"expression": "x" * 20_001}, "expression"),
        ({"expression": "{{ 1 }}", "execution": "not-a-uuid"}, "execution"),
        ({"expression": "{{ 1 }}", "execution": str(uuid.uuid4())}, "execution"),
        ({"expression": "{{ 1 }}", "scope": [1]}, "scope"),
        ({"expression": "{{ 1 }}", "scope": {"secrets": 1}}, "scope"),
        ({"expression": "{{ 1 }}", "scope": {"vars": "x"}}, "scope"),
    ]
    for body, path in cases:
        response = api.post(f"/api/schemas/{schema.id}/preview-expression/", body, format="json")
        assert response.status_code == 400, (body, response.status_code)
        data = response.json()
        assert data["type"] == "validation_error" and [e["path"] for e in data["errors"]] == [path], (body, data)
        assert data["errors"][0]["message"]


def test_preview_of_another_schemas_execution_is_refused(api: APIClient, user: Any, ran: tuple[Any, str]) -> None:
    _, execution_id = ran
    other = create_schema(user=user, definition=orders_definition(), name="Other")
    response = preview(api, other, expression="{{ trigger }}", execution=execution_id)
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "execution"


def test_only_the_owner_or_staff_preview(
    ran: tuple[Any, str], other_user: Any, staff_user: Any, client_for: Any, anon_client: APIClient
) -> None:
    schema, execution_id = ran
    body = {"expression": "{{ nodes.count.output.count }}", "execution": execution_id}
    assert preview(client_for(other_user), schema, **body).status_code == 404
    assert preview(anon_client, schema, **body).status_code in (401, 403)
    assert preview(client_for(staff_user), schema, **body).json()["value"] == 3
    unknown = client_for(staff_user).post(f"/api/schemas/{uuid.uuid4()}/preview-expression/", body, format="json")
    assert unknown.status_code == 404 and unknown.json()["type"] == "not_found"


# ---- run this node -------------------------------------------------------------------------


def test_run_this_node_with_the_input_of_the_last_run_creates_no_execution(
    api: APIClient, ran: tuple[Any, str]
) -> None:
    schema, execution_id = ran
    executions = Execution.objects.count()
    draft = orders_definition()
    draft["nodes"][1]["config"]["assignments"].append({"name": "big", "value": "{{ trigger.orders | length > 2 }}"})
    response = api.post(
        f"/api/schemas/{schema.id}/test-node/",
        {"node_id": "count", "execution": execution_id, "definition": draft},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "success" and body["output"] == {"count": 3, "big": True}  # the unsaved draft ran
    assert body["set_vars"] == {"count": 3, "big": True} and body["port"] == "out" and body["error"] is None
    assert Execution.objects.count() == executions
    assert NodeTestRun.objects.filter(schema=schema, node_id="count").count() == 1


def test_run_this_node_with_edited_input(api: APIClient, ran: tuple[Any, str]) -> None:
    schema, _ = ran
    response = api.post(
        f"/api/schemas/{schema.id}/test-node/",
        {"node_id": "note", "scope": {"vars": {"count": 99}, "input": {"count": 1}}},
        format="json",
    )
    body = response.json()
    assert response.status_code == 201 and body["status"] == "success"
    assert body["input"] == {"count": 1}
    assert "99 orders" in str(body["output"])


def test_a_failing_node_is_a_failed_test_run_in_plain_words(api: APIClient, user: Any) -> None:
    schema = create_schema(
        user=user,
        definition=chain(node("start", "manual_trigger"), node("boom", "fail", {"message": "no {{ trigger.x }}"})),
    )
    body = api.post(
        f"/api/schemas/{schema.id}/test-node/", {"node_id": "boom", "scope": {"trigger": {"x": "luck"}}}, format="json"
    ).json()
    assert body["status"] == "failed" and body["error"] == "no luck"
    bad = chain(
        node("start", "manual_trigger"), node("calc", "set", {"assignments": [{"name": "x", "value": "{{ 1 / 0 }}"}]})
    )
    body = api.post(
        f"/api/schemas/{schema.id}/test-node/", {"node_id": "calc", "definition": bad}, format="json"
    ).json()
    assert body["status"] == "failed" and "ZeroDivisionError" in body["error"] and "Traceback" not in str(body)


@pytest.fixture
def local_api() -> Iterator[LocalServer]:
    server = LocalServer()
    with override_settings(SCHEMA_HTTP_ALLOWLIST=["127.0.0.1"]):
        yield server
    server.server.shutdown()
    server.server.server_close()


def test_side_effecting_nodes_run_only_when_confirmed(api: APIClient, user: Any, local_api: LocalServer) -> None:
    url = f"http://127.0.0.1:{local_api.port}/json"
    definition = chain(
        node("start", "manual_trigger"),
        node("post", "http_request", {"method": "POST", "url": url, "body": "{{ input }}"}),
    )
    schema = create_schema(user=user, definition=definition)
    refused = api.post(
        f"/api/schemas/{schema.id}/test-node/", {"node_id": "post", "scope": {"input": {"a": 1}}}, format="json"
    )
    assert refused.status_code == 400
    error = refused.json()["errors"][0]
    assert error["path"] == "confirm_side_effects" and "side effects" in error["message"]
    assert local_api.requests == []  # nothing was called
    confirmed = api.post(
        f"/api/schemas/{schema.id}/test-node/",
        {"node_id": "post", "scope": {"input": {"a": 1}}, "confirm_side_effects": True},
        format="json",
    )
    assert confirmed.status_code == 201 and confirmed.json()["status"] == "success", confirmed.json()
    assert len(local_api.requests) == 1 and local_api.requests[0]["method"] == "POST"


def test_test_runs_are_pruned_to_the_latest_few(api: APIClient, ran: tuple[Any, str]) -> None:
    schema, _ = ran
    for i in range(NodeTestRun.KEEP_PER_SCHEMA + 3):
        api.post(
            f"/api/schemas/{schema.id}/test-node/", {"node_id": "note", "scope": {"vars": {"count": i}}}, format="json"
        )
    runs = NodeTestRun.objects.filter(schema=schema)
    assert runs.count() == NodeTestRun.KEEP_PER_SCHEMA
    assert "22 orders" in str(runs.first().output)  # the newest is kept


def test_run_this_node_bad_input_and_permissions(
    api: APIClient, ran: tuple[Any, str], other_user: Any, client_for: Any
) -> None:
    schema, _ = ran
    url = f"/api/schemas/{schema.id}/test-node/"
    cases = [
        ({}, "node_id"),
        ({"node_id": "ghost"}, "node_id"),
        ({"node_id": "x", "definition": {"nodes": [{"id": "x", "type": "teleport"}]}}, "node_id"),
        ({"node_id": "x", "definition": {"nodes": [{"id": "x", "type": "set", "config": "x"}]}}, "node_id"),
        ({"node_id": "note", "confirm_side_effects": "maybe"}, "confirm_side_effects"),
        ({"node_id": "note", "scope": {"nodes": []}}, "scope"),
    ]
    for body, path in cases:
        response = api.post(url, body, format="json")
        assert response.status_code == 400, (body, response.status_code, response.content[:300])
        assert [e["path"] for e in response.json()["errors"]] == [path], (body, response.json())
    assert client_for(other_user).post(url, {"node_id": "note"}, format="json").status_code == 404
    assert NodeTestRun.objects.count() == 0


def test_text_postgresql_cannot_store_is_a_plain_400(api: APIClient, ran: tuple[Any, str]) -> None:
    schema, _ = ran
    for url in ("test-node", "preview-expression"):
        response = api.post(
            f"/api/schemas/{schema.id}/{url}/",
            {"node_id": "note", "expression": "{{ input }}", "scope": {"input": {"text": "a\u0000b"}}},
            format="json",
        )
        assert response.status_code == 400 and "NUL" in response.json()["detail"]
    assert NodeTestRun.objects.count() == 0


def test_pinned_data_is_saved_with_the_draft_and_never_used_by_production_runs(api: APIClient, user: Any) -> None:
    definition = orders_definition()
    definition["nodes"][0]["pinned_data"] = {"orders": [{"id": "pinned"}]}
    schema = create_schema(user=user, definition=definition)
    saved = api.get(f"/api/schemas/{schema.id}/").json()["definition"]["nodes"][0]
    assert saved["pinned_data"] == {"orders": [{"id": "pinned"}]}
    execution_id = api.post(
        f"/api/schemas/{schema.id}/execute/", {"payload": {"orders": [1, 2]}}, format="json"
    ).json()["id"]
    steps = api.get(f"/api/executions/{execution_id}/steps/").json()
    assert steps[0]["output"] == {"orders": [1, 2]}  # the real payload, not the pins
    assert steps[1]["output"] == {"count": 2}


def test_pins_on_any_node_never_reach_production_runs(api: APIClient, user: Any) -> None:
    definition = orders_definition()
    nodes = {n["id"]: n for n in definition["nodes"]}
    nodes["start"]["pinned_data"] = {"orders": [{"id": "pinned"}]}
    nodes["count"]["pinned_data"] = {"count": 99}
    nodes["note"]["pinned_data"] = "pinned note"
    schema = create_schema(user=user, definition=definition)
    execution_id = api.post(
        f"/api/schemas/{schema.id}/execute/", {"payload": {"orders": [1, 2, 3]}}, format="json"
    ).json()["id"]
    steps = api.get(f"/api/executions/{execution_id}/steps/").json()
    # Every node ran for real, on the real payload: no pin stood in for an output.
    assert [(s["node_id"], s["output"]) for s in steps[:2]] == [
        ("start", {"orders": [1, 2, 3]}),
        ("count", {"count": 3}),
    ]
    assert steps[2]["node_id"] == "note" and steps[2]["output"]["message"] == "3 orders"
    assert api.get(f"/api/executions/{execution_id}/").json()["context"]["count"] == 3


def test_run_this_node_sees_pinned_outputs_of_the_draft(api: APIClient, ran: tuple[Any, str]) -> None:
    schema, execution_id = ran
    definition = orders_definition()
    definition["nodes"][1]["pinned_data"] = {"count": 42}
    definition["nodes"][2]["config"]["message"] = "{{ nodes.count.output.count }} pinned"
    response = api.post(
        f"/api/schemas/{schema.id}/test-node/",
        {"node_id": "note", "definition": definition, "execution": execution_id},
        format="json",
    )
    assert response.status_code == 201 and response.json()["output"]["message"] == "42 pinned", response.json()


def run_to(client: APIClient, schema: Any, **body: Any) -> Any:
    return client.post(f"/api/schemas/{schema.id}/run-to-node/", body, format="json")


def test_run_to_here_runs_the_nodes_up_to_one_and_records_them_as_test_runs(
    api: APIClient, ran: tuple[Any, str]
) -> None:
    schema, execution_id = ran
    executions = Execution.objects.count()
    response = run_to(api, schema, node_id="count", execution=execution_id)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "success" and body["error"] is None
    assert [(s["node_id"], s["status"]) for s in body["steps"]] == [("start", "success"), ("count", "success")]
    assert body["steps"][1]["output"] == {"count": 3}  # the past run's payload: 3 orders
    assert body["vars"] == {"threshold": 2, "count": 3}
    # Recorded as test runs, never as an execution; `note` (after `count`) did not run.
    assert Execution.objects.count() == executions
    assert sorted(NodeTestRun.objects.filter(schema=schema).values_list("node_id", flat=True)) == ["count", "start"]
    assert {s["id"] for s in body["steps"]} == {str(i) for i in NodeTestRun.objects.values_list("id", flat=True)}


def test_run_to_here_uses_pins_and_the_payload_given(api: APIClient, ran: tuple[Any, str]) -> None:
    schema, _ = ran
    definition = orders_definition()
    definition["nodes"][1]["pinned_data"] = {"count": 7}
    body = run_to(api, schema, node_id="note", definition=definition, payload={"orders": [1]}).json()
    assert [(s["node_id"], s["status"]) for s in body["steps"]] == [
        ("start", "success"),
        ("count", "pinned"),
        ("note", "success"),
    ]
    assert body["steps"][0]["output"] == {"orders": [1]}
    assert body["steps"][2]["input"] == {"count": 7} and body["steps"][2]["id"] is not None
    assert body["steps"][1]["id"] is None  # a pinned node did not run: no test run for it
    # The pinned `set` did not run: it set no variable.
    assert body["status"] == "success" and body["vars"] == {"threshold": 2}


def test_run_to_here_never_runs_side_effects_after_the_node_nor_unconfirmed_ones(
    api: APIClient, user: Any, local_api: LocalServer
) -> None:
    url = f"http://127.0.0.1:{local_api.port}/json"
    definition = chain(
        node("start", "manual_trigger"),
        node("shape", "set", {"assignments": [{"name": "a", "value": "{{ trigger.a }}"}]}),
        node("post", "http_request", {"method": "POST", "url": url, "body": "{{ input }}"}, name="Post the order"),
        node("again", "http_request", {"method": "POST", "url": url, "body": "{{ input }}"}),
    )
    schema = create_schema(user=user, definition=definition)
    # Up to the node before the calls: nothing asked, nothing called.
    before = run_to(api, schema, node_id="shape", payload={"a": 1})
    assert before.status_code == 201 and before.json()["status"] == "success"
    assert local_api.requests == []
    # Up to the first call: refused until confirmed, in plain words naming the node.
    refused = run_to(api, schema, node_id="post", payload={"a": 1})
    assert refused.status_code == 400
    error = refused.json()["errors"][0]
    assert error["path"] == "confirm_side_effects" and "“Post the order” has side effects" in error["message"]
    assert "'post'" not in error["message"]  # the name the user gave, not the id
    assert local_api.requests == []
    confirmed = run_to(api, schema, node_id="post", payload={"a": 1}, confirm_side_effects=True)
    assert confirmed.status_code == 201 and confirmed.json()["status"] == "success", confirmed.json()
    assert len(local_api.requests) == 1  # `again`, after the node, never ran
    # A pinned call does not run either: pins are how tests repeat without the outside world.
    definition["nodes"][2]["pinned_data"] = {"status": 200}
    pinned = run_to(api, schema, node_id="post", definition=definition, payload={"a": 1})
    assert pinned.status_code == 201 and pinned.json()["steps"][-1]["status"] == "pinned"
    assert len(local_api.requests) == 1


def test_run_to_here_reports_a_failure_and_a_branch_not_taken(api: APIClient, user: Any) -> None:
    definition = chain(
        node("start", "manual_trigger"),
        node("boom", "fail", {"message": "no {{ trigger.x }}"}),
        node("after", "log", {"message": "x"}),
    )
    schema = create_schema(user=user, definition=definition)
    body = run_to(api, schema, node_id="after", payload={"x": 5}).json()
    assert body["status"] == "failed" and body["error"] == "node 'boom' failed: no 5"
    assert [s["node_id"] for s in body["steps"]] == ["start", "boom"]


def test_run_to_here_bad_input_and_permissions(
    api: APIClient, ran: tuple[Any, str], other_user: Any, client_for: Any
) -> None:
    schema, _ = ran
    looped = orders_definition()
    looped["edges"].append({"id": "back", "source": "note", "target": "count", "source_port": "out"})
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "node_id"),
        ({"node_id": "ghost"}, "node_id"),
        ({"node_id": "count", "definition": looped}, "node_id"),
        ({"node_id": "count", "execution": str(uuid.uuid4())}, "execution"),
        ({"node_id": "count", "confirm_side_effects": "maybe"}, "confirm_side_effects"),
    ]
    for body, path in cases:
        response = run_to(api, schema, **body)
        assert response.status_code == 400, (body, response.status_code, response.content[:300])
        assert [e["path"] for e in response.json()["errors"]] == [path], (body, response.json())
    assert run_to(client_for(other_user), schema, node_id="count").status_code == 404
    assert NodeTestRun.objects.count() == 0


def test_sticky_notes_are_saved_with_the_draft_and_never_run(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user, definition=orders_definition())
    definition = orders_definition()
    definition["notes"] = [{"id": "note_1", "text": "Counts orders", "position": {"x": 0, "y": -120}, "width": 240}]
    saved = api.put(f"/api/schemas/{schema.id}/", {"name": schema.name, "definition": definition}, format="json")
    assert saved.status_code == 200 and saved.json()["problems"] == [], saved.json()
    assert api.get(f"/api/schemas/{schema.id}/").json()["definition"]["notes"] == definition["notes"]
    execution_id = api.post(f"/api/schemas/{schema.id}/execute/", {"payload": {"orders": []}}, format="json").json()[
        "id"
    ]
    steps = api.get(f"/api/executions/{execution_id}/steps/").json()
    assert [s["node_id"] for s in steps] == [
        "start",
        "count",
        "note",
    ]  # `note` is a log node; the sticky note never ran
    definition["notes"][0]["id"] = "count"
    clash = api.put(f"/api/schemas/{schema.id}/", {"name": schema.name, "definition": definition}, format="json")
    assert clash.status_code == 400 and clash.json()["errors"][0]["path"] == "notes[0].id"
