"""Drafts save as they are; a schema is activated and run only when it is finished, and every
message names what to fill in, in plain words (issue 14, item 10)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.builders import definition, edge, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


def unfinished() -> dict[str, Any]:
    # A condition with nothing chosen yet and a log whose required message is still empty.
    return _schema({}, "")


def finished() -> dict[str, Any]:
    return _schema({"expression": "{{ true }}"}, "hello")


def _schema(condition: dict[str, Any], message: str) -> dict[str, Any]:
    return definition(
        [
            node("start", "manual_trigger"),
            node("check", "condition", condition),
            node("say", "log", {"message": message}),
        ],
        [edge("start", "check"), edge("check", "say", "true")],
    )


def test_an_unfinished_draft_saves_and_says_what_is_left(api: Any) -> None:
    created = api.post("/api/schemas/", {"name": "Half done", "definition": unfinished()}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "draft" and body["definition"] == unfinished()
    left = {(p["node_id"], p["path"], p["message"]) for p in body["problems"]}
    assert left == {
        ("check", "nodes[1].config", "Set Expression, or Left and Operator."),
        ("say", "nodes[2].config.message", "Fill in Message."),
    }
    assert all(p["incomplete"] for p in body["problems"])
    assert api.get(f"/api/schemas/{body['id']}/").json()["problems"] == body["problems"]

    saved = api.put(f"/api/schemas/{body['id']}/", {"name": "Half done", "definition": finished()}, format="json")
    assert saved.status_code == 200 and saved.json()["problems"] == [] and saved.json()["version"] == 2


def test_an_unfinished_draft_is_neither_activated_nor_run(api: Any) -> None:
    schema_id = api.post("/api/schemas/", {"name": "Half done", "definition": unfinished()}, format="json").json()["id"]

    activated = api.post(f"/api/schemas/{schema_id}/activate/")
    assert activated.status_code == 400
    assert activated.json()["detail"].startswith("The schema cannot be activated")
    assert {e["message"] for e in activated.json()["errors"]} == {
        "Set Expression, or Left and Operator.",
        "Fill in Message.",
    }

    run = api.post(f"/api/schemas/{schema_id}/execute/", {"payload": {}}, format="json")
    assert run.status_code == 400 and run.json()["detail"] == "The schema cannot run until it is finished."
    assert {e["node_id"] for e in run.json()["errors"]} == {"check", "say"}
    assert api.get(f"/api/executions/?schema={schema_id}").json()["results"] == []


def test_a_merge_being_connected_saves_as_a_draft_and_is_not_activated(api: Any) -> None:
    """Drawing a merge, the user connects its first branch: the draft saves (autosave must not fail
    there), says what is left, and cannot be activated until the second branch is connected."""
    one_edge = definition(
        [node("start", "manual_trigger"), node("m", "merge"), node("done", "end", {})],
        [edge("start", "m"), edge("m", "done")],
    )
    created = api.post("/api/schemas/", {"name": "Joining", "definition": one_edge}, format="json")
    assert created.status_code == 201, created.json()
    [problem] = created.json()["problems"]
    assert problem["node_id"] == "m" and problem["incomplete"]
    assert "connect at least two" in problem["message"]
    activated = api.post(f"/api/schemas/{created.json()['id']}/activate/")
    assert activated.status_code == 400 and [e["node_id"] for e in activated.json()["errors"]] == ["m"]


def test_malformed_definitions_are_still_refused(api: Any) -> None:
    broken = definition([node("start", "manual_trigger"), node("start", "teleport")], [])
    response = api.post("/api/schemas/", {"name": "Broken", "definition": broken}, format="json")
    assert response.status_code == 400
    assert any(not e["incomplete"] for e in response.json()["errors"])


def test_an_active_schema_only_takes_finished_changes(api: Any, user: Any) -> None:
    schema = create_schema(user=user, name="Live", activate=True)
    refused = api.put(f"/api/schemas/{schema.id}/", {"name": "Live", "definition": unfinished()}, format="json")
    assert refused.status_code == 400
    assert "active" in refused.json()["detail"]
    assert {e["message"] for e in refused.json()["errors"]} >= {"Fill in Message."}
    assert api.get(f"/api/schemas/{schema.id}/").json()["version"] == schema.version


def test_rerun_on_the_current_version_waits_until_it_is_finished(api: Any, user: Any) -> None:
    schema = api.post("/api/schemas/", {"name": "Draft", "definition": finished()}, format="json").json()
    execution = api.post(f"/api/schemas/{schema['id']}/execute/", {"payload": {}}, format="json")
    assert execution.status_code == 202, execution.json()
    api.put(f"/api/schemas/{schema['id']}/", {"name": "Draft", "definition": unfinished()}, format="json")

    current = api.post(f"/api/executions/{execution.json()['id']}/rerun/", {"version": "current"}, format="json")
    assert current.status_code == 400 and "current version" in current.json()["detail"]
    pinned = api.post(f"/api/executions/{execution.json()['id']}/rerun/", {"version": "pinned"}, format="json")
    assert pinned.status_code == 202
