"""Execution policies through the API and the admin: `definition.settings` validated with every
problem located, versioned with the definition, and what an execution shows about them (`queued`,
`error_of`). The enforcement itself: tests/executions_app/test_policies.py and test_admission_race.py."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from executions_app.models import Execution
from executions_app.services import execution_create
from tests.builders import chain, linear_definition, node
from tests.factories import UserFactory, create_schema

pytestmark = pytest.mark.django_db


def _with(settings: Any) -> dict[str, Any]:
    return {**linear_definition(), "settings": settings}


def test_bad_settings_are_refused_with_each_problem_located(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user)
    bad = {"max_concurrency": 0, "timeout_seconds": "soon", "concurrency_key": "{{ trigger.", "colour": "red"}
    response = api.patch(f"/api/schemas/{schema.id}/", {"definition": _with(bad)}, format="json")
    assert response.status_code == 400, response.content
    paths = {e["path"] for e in response.json()["errors"]}
    assert paths == {
        "settings.max_concurrency",
        "settings.timeout_seconds",
        "settings.concurrency_key",
        "settings.colour",
    }
    assert api.patch(f"/api/schemas/{schema.id}/", {"definition": _with([1])}, format="json").status_code == 400


def test_settings_are_saved_and_pinned_with_the_version(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user)
    settings = {"max_concurrency": 3, "concurrency_key": "{{ trigger.customer }}", "timeout_seconds": 600}
    response = api.patch(f"/api/schemas/{schema.id}/", {"definition": _with(settings)}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["definition"]["settings"] == settings
    assert response.json()["version"] == 2
    versions = api.get(f"/api/schemas/{schema.id}/versions/").json()
    assert versions[0]["definition"]["settings"] == settings and "settings" not in versions[1]["definition"]


def test_activation_refuses_an_error_schema_of_another_owner(api: APIClient, user: Any, other_user: Any) -> None:
    foreign = create_schema(user=other_user)
    schema = create_schema(user=user, definition=_with({"error_schema": str(foreign.id)}))
    response = api.post(f"/api/schemas/{schema.id}/activate/")
    assert response.status_code == 400
    assert response.json()["errors"][0]["path"] == "settings.error_schema"


def test_an_execution_shows_why_it_is_queued_and_which_failure_it_handles(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user, definition=_with({"max_concurrency": 1}), activate=True)
    execution, _ = execution_create(schema=schema, trigger_type="manual")
    Execution.objects.filter(pk=execution.pk).update(queued_reason="queued: 1 running, limit 1")
    handler, _ = execution_create(schema=schema, trigger_type="manual", error_of=execution)
    body = api.get(f"/api/executions/{execution.id}/").json()
    assert body["queued"] == "queued: 1 running, limit 1" and body["error_of"] is None
    assert api.get(f"/api/executions/{handler.id}/").json()["error_of"] == str(execution.id)
    listed = api.get(f"/api/executions/?schema={schema.id}").json()["results"]
    assert {e["queued"] for e in listed} == {"queued: 1 running, limit 1", None}
    Execution.objects.filter(pk=execution.pk).update(status="cancelled")
    assert api.get(f"/api/executions/{execution.id}/").json()["queued"] is None


def test_the_admin_edits_the_settings_as_a_new_version(user: Any) -> None:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))  # type: ignore[arg-type]
    schema = create_schema(user=user, definition=chain(node("start", "manual_trigger"), node("done", "end", {})))
    url = f"/admin/schemas_app/schema/{schema.id}/change/"
    assert "max_concurrency" in client.get(url).content.decode()
    form = {
        "name": schema.name,
        "description": "",
        "status": "draft",
        "max_concurrency": "2",
        "concurrency_key": "",
        "timeout_seconds": "30",
        "error_schema": "",
        "versions-TOTAL_FORMS": "1",
        "versions-INITIAL_FORMS": "1",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
        "versions-0-id": str(schema.versions.get().id),
        "versions-0-schema": str(schema.id),
    }
    response = client.post(url, {**form, "max_concurrency": "0"})
    assert response.status_code == 200 and "max_concurrency" in response.content.decode()  # shown again, not saved
    schema.refresh_from_db()
    assert "settings" not in schema.definition
    response = client.post(url, form)
    assert response.status_code == 302, [line for line in response.content.decode().splitlines() if "error" in line]
    schema.refresh_from_db()
    assert schema.definition["settings"] == {"max_concurrency": 2, "timeout_seconds": 30}
    assert schema.version == 2


def test_executions_filter_by_queued_and_by_the_failure_they_handle(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user, definition=_with({"max_concurrency": 1}), activate=True)
    waiting, _ = execution_create(schema=schema, trigger_type="manual")
    other, _ = execution_create(schema=schema, trigger_type="manual")
    Execution.objects.filter(pk=waiting.pk).update(queued_reason="queued: 1 running, limit 1")
    handler, _ = execution_create(schema=schema, trigger_type="manual", error_of=other)

    def ids(query: str) -> set[str]:
        response = api.get(f"/api/executions/?schema={schema.id}&{query}")
        assert response.status_code == 200, response.content
        return {e["id"] for e in response.json()["results"]}

    assert ids("queued=true") == {str(waiting.id)}
    assert ids("queued=false") == {str(other.id), str(handler.id)}
    assert ids(f"error_of={other.id}") == {str(handler.id)}
    assert api.get("/api/executions/?error_of=nope").status_code == 400
