"""`/api/variables/` and `{{ env.NAME }}`: own and global variables, staff-only globals, versions,
and an execution reading its owner's variables (the owner's own winning over a global one)."""

from __future__ import annotations

from typing import Any

import pytest

from executions_app.models import TriggerType
from executions_app.runner import execution_run
from executions_app.services import execution_create
from tests.builders import chain, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db
URL = "/api/variables/"


def test_own_and_global_variables_and_who_may_change_them(
    api: Any, client_for: Any, other_user: Any, staff_user: Any
) -> None:
    mine = api.post(URL, {"name": "BASE_URL", "value": "https://api.example.com"}, format="json")
    assert mine.status_code == 201 and mine.json()["version"] == 1 and mine.json()["is_global"] is False
    refused = api.post(URL, {"name": "REGION", "value": "eu", "is_global": True}, format="json")
    assert refused.status_code == 403
    staff = client_for(staff_user)
    shared = staff.post(URL, {"name": "REGION", "value": "eu", "is_global": True}, format="json")
    assert shared.status_code == 201 and shared.json()["is_global"] is True and shared.json()["owner"] is None

    assert sorted(v["name"] for v in api.get(URL).json()["results"]) == ["BASE_URL", "REGION"]
    other = client_for(other_user)
    assert [v["name"] for v in other.get(URL).json()["results"]] == ["REGION"]
    assert other.get(f"{URL}{mine.json()['id']}/").status_code == 404
    assert other.patch(f"{URL}{mine.json()['id']}/", {"value": "x"}, format="json").status_code == 404
    assert api.patch(f"{URL}{shared.json()['id']}/", {"value": "us"}, format="json").status_code == 403
    assert api.delete(f"{URL}{shared.json()['id']}/").status_code == 403

    changed = api.patch(f"{URL}{mine.json()['id']}/", {"value": "https://v2.example.com"}, format="json").json()
    assert changed["version"] == 2 and changed["updated_by"] == mine.json()["owner"]
    assert api.delete(f"{URL}{mine.json()['id']}/").status_code == 204


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": "1BAD", "value": "x"}, "name"),
        ({"name": "has space", "value": "x"}, "name"),
        ({"name": "OK", "value": 5}, "value"),
        ({"value": "x"}, "name"),
    ],
)
def test_bad_variables_are_located_400s(api: Any, body: dict[str, Any], path: str) -> None:
    response = api.post(URL, body, format="json")
    assert response.status_code == 400 and path in [e["path"] for e in response.json()["errors"]]


def test_names_are_unique_per_owner(api: Any) -> None:
    assert api.post(URL, {"name": "A", "value": "1"}, format="json").status_code == 201
    again = api.post(URL, {"name": "A", "value": "2"}, format="json")
    assert again.status_code == 400 and "already a variable named 'A'" in again.json()["errors"][0]["message"]


def test_an_execution_reads_env_with_the_owners_value_winning(
    api: Any, user: Any, client_for: Any, staff_user: Any
) -> None:
    staff = client_for(staff_user)
    staff.post(URL, {"name": "BASE_URL", "value": "https://global.example", "is_global": True}, format="json")
    staff.post(URL, {"name": "REGION", "value": "eu", "is_global": True}, format="json")
    api.post(URL, {"name": "BASE_URL", "value": "https://mine.example"}, format="json")
    definition = chain(
        node("start", "manual_trigger"), node("done", "end", {"output": "{{ env.BASE_URL }}/{{ env.REGION }}"})
    )
    schema = create_schema(user=user, definition=definition, activate=True)
    execution, _ = execution_create(schema=schema, trigger_type=TriggerType.MANUAL)
    assert execution_run(str(execution.id), worker_id="w1") == "completed"
    execution.refresh_from_db()
    assert execution.result == "https://mine.example/eu"


def test_the_editors_preview_reads_env_as_a_run_of_the_schema_would(
    api: Any, user: Any, client_for: Any, staff_user: Any
) -> None:
    client_for(staff_user).post(URL, {"name": "REGION", "value": "eu", "is_global": True}, format="json")
    api.post(URL, {"name": "BASE_URL", "value": "https://mine.example"}, format="json")
    schema = create_schema(user=user)
    preview = f"/api/schemas/{schema.id}/preview-expression/"
    body = {"expression": "{{ env.BASE_URL }}/{{ env.REGION }}"}
    assert api.post(preview, body, format="json").json() == {
        "value": "https://mine.example/eu",
        "value_type": "string",
        "error": None,
    }
    missing = api.post(preview, {"expression": "{{ env.NOPE.x }}"}, format="json").json()
    assert missing["value"] is None and "NOPE" in missing["error"]
