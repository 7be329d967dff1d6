"""Version history: who saved each version and when, and restoring an old one as a new version."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.builders import linear_definition, node

pytestmark = pytest.mark.django_db


def _two_versions(api: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    first = linear_definition()
    created = api.post("/api/schemas/", {"name": "Greeter", "definition": first}, format="json").json()
    second = copy.deepcopy(first)
    second["nodes"][2]["config"]["message"] = "changed"
    saved = api.put(f"/api/schemas/{created['id']}/", {"name": "Greeter", "definition": second}, format="json")
    assert saved.status_code == 200
    return created["id"], first, second


def test_versions_say_who_saved_them(api: Any, user: Any) -> None:
    schema_id, _, _ = _two_versions(api)
    versions = api.get(f"/api/schemas/{schema_id}/versions/").json()
    assert [(v["version"], v["created_by"]) for v in versions] == [(2, user.email), (1, user.email)]
    assert all(v["created_at"] for v in versions)


def test_restore_makes_a_new_version_with_the_old_definition(api: Any) -> None:
    schema_id, first, second = _two_versions(api)
    restored = api.post(f"/api/schemas/{schema_id}/versions/1/restore/")
    assert restored.status_code == 200, restored.json()
    body = restored.json()
    assert body["version"] == 3 and body["definition"] == first
    versions = api.get(f"/api/schemas/{schema_id}/versions/").json()
    # History is kept: v2 is still there, v3 is a copy of v1.
    assert [v["version"] for v in versions] == [3, 2, 1]
    assert versions[1]["definition"] == second and versions[0]["definition"] == first


def test_restoring_the_current_definition_adds_no_version(api: Any) -> None:
    schema_id, _, second = _two_versions(api)
    body = api.post(f"/api/schemas/{schema_id}/versions/2/restore/").json()
    assert body["version"] == 2 and body["definition"] == second


def test_restore_refusals(api: Any, other_user: Any, client_for: Any) -> None:
    schema_id, _, _ = _two_versions(api)
    missing = api.post(f"/api/schemas/{schema_id}/versions/9/restore/")
    assert missing.status_code == 404 and "no version 9" in missing.json()["detail"]
    assert api.post(f"/api/schemas/{schema_id}/versions/x/restore/").status_code == 404
    # Someone else's schema does not exist for them.
    assert client_for(other_user).post(f"/api/schemas/{schema_id}/versions/1/restore/").status_code == 404
    assert api.post(f"/api/schemas/{schema_id}/archive/").status_code == 200
    archived = api.post(f"/api/schemas/{schema_id}/versions/1/restore/")
    assert archived.status_code == 409 and "archived" in archived.json()["detail"]


def test_an_active_schema_does_not_restore_an_unfinished_version(api: Any) -> None:
    unfinished = {"nodes": [node("start", "manual_trigger"), node("note", "log")], "edges": [], "variables": {}}
    created = api.post("/api/schemas/", {"name": "Half", "definition": unfinished}, format="json").json()
    finished = {"name": "Half", "definition": linear_definition()}
    assert api.put(f"/api/schemas/{created['id']}/", finished, format="json").status_code == 200
    assert api.post(f"/api/schemas/{created['id']}/activate/").status_code == 200
    refused = api.post(f"/api/schemas/{created['id']}/versions/1/restore/")
    assert refused.status_code == 400 and "unfinished" in refused.json()["detail"]
    assert refused.json()["errors"]
    assert api.get(f"/api/schemas/{created['id']}/").json()["version"] == 2
