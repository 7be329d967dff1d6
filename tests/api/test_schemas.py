"""Schemas API: CRUD, validation with located errors, lifecycle actions, versions, visibility."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.builders import edge, linear_definition, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


def test_create_list_retrieve_update_delete(api: Any, definition: dict[str, Any]) -> None:
    created = api.post("/api/schemas/", {"name": "Greeter", "definition": definition}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "draft" and body["version"] == 1
    assert body["webhook_url"].endswith(f"/api/hooks/{body['id']}/")

    listing = api.get("/api/schemas/").json()
    assert [item["id"] for item in listing["results"]] == [body["id"]]
    assert "next" in listing and "definition" not in listing["results"][0]

    changed = copy.deepcopy(definition)
    changed["variables"]["threshold"] = 11
    updated = api.put(f"/api/schemas/{body['id']}/", {"name": "Greeter 2", "definition": changed}, format="json")
    assert updated.status_code == 200
    assert updated.json()["version"] == 2 and updated.json()["name"] == "Greeter 2"
    versions = api.get(f"/api/schemas/{body['id']}/versions/").json()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["definition"]["variables"]["threshold"] == 10

    renamed = api.patch(f"/api/schemas/{body['id']}/", {"name": "Only the name"}, format="json")
    assert renamed.json()["version"] == 2

    assert api.delete(f"/api/schemas/{body['id']}/").status_code == 204
    assert api.get(f"/api/schemas/{body['id']}/").status_code == 404


def test_search_and_status_filter(api: Any, user: Any) -> None:
    create_schema(user=user, name="Order intake", activate=True)
    create_schema(user=user, name="Nightly report")
    names = [s["name"] for s in api.get("/api/schemas/?search=order").json()["results"]]
    assert names == ["Order intake"]
    names = [s["name"] for s in api.get("/api/schemas/?status=draft").json()["results"]]
    assert names == ["Nightly report"]
    bad = api.get("/api/schemas/?status=bogus")
    assert bad.status_code == 400 and bad.json()["type"] == "validation_error"


def test_invalid_definition_lists_every_problem_located(api: Any) -> None:
    definition = {
        "nodes": [
            node("start", "manual_trigger"),
            node("start", "set", {"assignments": []}),
            node("ghost", "no_such_type"),
            node("fetch", "http_request", {"method": "TELEPORT"}),
        ],
        "edges": [edge("start", "nowhere", edge_id="e_dangling")],
    }
    response = api.post("/api/schemas/", {"name": "Broken", "definition": definition}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    errors = body["errors"]
    assert len(errors) >= 4
    assert any(e["node_id"] == "ghost" and "no_such_type" in e["message"] for e in errors)
    assert any(e["edge_id"] == "e_dangling" for e in errors)
    assert any(e["node_id"] == "fetch" and e["path"].startswith("nodes[3].config") for e in errors)
    assert any("start" in e["message"] and "uplicate" in e["message"] for e in errors)
    for item in errors:
        assert {"path", "node_id", "edge_id", "message"} <= set(item)


@pytest.mark.parametrize(
    "definition",
    [None, "text", 42, [], {"nodes": "x"}, {"nodes": [{"id": 1}], "edges": [1]}],
)
def test_malformed_definitions_are_400_never_500(api: Any, definition: Any) -> None:
    response = api.post("/api/schemas/", {"name": "Odd", "definition": definition}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["errors"]


def test_malformed_json_body_is_a_parse_error(api: Any) -> None:
    response = api.post("/api/schemas/", data='{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["type"] == "parse_error"


def test_missing_name_is_located(api: Any, definition: dict[str, Any]) -> None:
    response = api.post("/api/schemas/", {"definition": definition}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "name"


def test_validate_endpoint_checks_stored_or_given_definition(api: Any, user: Any) -> None:
    schema = create_schema(user=user)
    ok = api.post(f"/api/schemas/{schema.id}/validate/", {}, format="json").json()
    assert ok == {"valid": True, "errors": []}
    bad = linear_definition()
    bad["edges"].append(edge("done", "missing", edge_id="e_bad"))
    result = api.post(f"/api/schemas/{schema.id}/validate/", {"definition": bad}, format="json").json()
    assert result["valid"] is False and result["errors"][0]["edge_id"] == "e_bad"


def test_activate_archive_duplicate_rotate(api: Any, user: Any) -> None:
    schema = create_schema(user=user)
    assert api.post(f"/api/schemas/{schema.id}/activate/").json()["status"] == "active"
    dup = api.post(f"/api/schemas/{schema.id}/duplicate/")
    assert dup.status_code == 201 and dup.json()["status"] == "draft" and dup.json()["name"].endswith("(copy)")
    old_secret = api.get(f"/api/schemas/{schema.id}/").json()["webhook_secret"]
    assert api.post(f"/api/schemas/{schema.id}/rotate-secret/").json()["webhook_secret"] != old_secret
    assert api.post(f"/api/schemas/{schema.id}/archive/").json()["status"] == "archived"
    refused = api.post(f"/api/schemas/{schema.id}/activate/")
    assert refused.status_code == 409 and refused.json()["type"] == "conflict"
    edit = api.put(
        f"/api/schemas/{schema.id}/", {"name": "x", "definition": linear_definition("webhook_trigger")}, format="json"
    )
    assert edit.status_code == 409


def test_other_users_schemas_are_invisible_but_staff_sees_all(
    client_for: Any, user: Any, other_user: Any, staff_user: Any
) -> None:
    schema = create_schema(user=user)
    other = client_for(other_user)
    assert other.get(f"/api/schemas/{schema.id}/").status_code == 404
    assert (
        other.put(
            f"/api/schemas/{schema.id}/", {"name": "x", "definition": linear_definition()}, format="json"
        ).status_code
        == 404
    )
    assert other.delete(f"/api/schemas/{schema.id}/").status_code == 404
    assert other.get("/api/schemas/").json()["results"] == []
    assert client_for(staff_user).get(f"/api/schemas/{schema.id}/").status_code == 200


def test_anonymous_gets_401_json(anon_client: Any) -> None:
    response = anon_client.get("/api/schemas/")
    assert response.status_code == 401
    assert response.json()["type"] == "not_authenticated"


def test_unknown_ids_are_404(api: Any) -> None:
    assert api.get("/api/schemas/00000000-0000-0000-0000-000000000000/").status_code == 404
    response = api.get("/api/schemas/not-a-uuid/")
    assert response.status_code == 404 and response.json()["type"] == "not_found"
