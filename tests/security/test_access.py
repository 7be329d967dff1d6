"""Access control: every endpoint as anonymous, another user, the owner and staff.

Rules: everything under /api/ except health, the webhook and the sign-in endpoints needs
authentication (session with CSRF, or `Authorization: Token`); a user sees and changes only their own
schemas and executions (someone else's is a 404, so ids do not leak) unless staff; the admin is
staff-only; /metrics is not public.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from executions_app.models import Execution
from executions_app.services import execution_create
from schemas_app.models import Schema
from tests.builders import edge, linear_definition, node
from tests.factories import UserFactory, create_schema

pytestmark = pytest.mark.django_db(transaction=True)


def wait_definition() -> dict[str, Any]:
    return {
        "nodes": [node("start", "manual_trigger"), node("hold", "wait", {}), node("done", "end", {})],
        "edges": [edge("start", "hold"), edge("hold", "done")],
    }


class World:
    """An owner with a schema and a paused execution of it; a second user; a staff user."""

    def __init__(self) -> None:
        self.owner = UserFactory()
        self.other = UserFactory()
        self.staff = UserFactory(is_staff=True)
        self.schema = create_schema(user=self.owner, definition=wait_definition(), name="Owner's")
        self.execution, _ = execution_create(
            schema=self.schema, trigger_type="manual", payload={}, created_by=self.owner
        )
        self.execution.refresh_from_db()

    def fresh(self) -> tuple[Schema, Execution]:
        schema = create_schema(user=self.owner, definition=wait_definition())
        execution, _ = execution_create(schema=schema, trigger_type="manual", payload={}, created_by=self.owner)
        return schema, execution


@pytest.fixture
def world() -> World:
    return World()


# (method, url template, body, expected status for owner/staff). `{s}` schema id, `{e}` execution id.
# A fresh schema/execution is used for each call so that state changes do not leak between roles.
OBJECT_ENDPOINTS: list[tuple[str, str, Any, int]] = [
    ("get", "/api/schemas/{s}/", None, 200),
    ("put", "/api/schemas/{s}/", {"name": "renamed", "definition": linear_definition()}, 200),
    ("patch", "/api/schemas/{s}/", {"description": "changed"}, 200),
    ("delete", "/api/schemas/{s}/", None, 409),  # its execution is paused: cancel it first
    ("post", "/api/schemas/{s}/validate/", {}, 200),
    ("post", "/api/schemas/{s}/activate/", None, 200),
    ("post", "/api/schemas/{s}/archive/", None, 200),
    ("post", "/api/schemas/{s}/rotate-secret/", {}, 200),
    ("post", "/api/schemas/{s}/duplicate/", None, 201),
    ("get", "/api/schemas/{s}/versions/", None, 200),
    ("post", "/api/schemas/{s}/execute/", {"payload": {}}, 202),
    ("post", "/api/schemas/{s}/preview-expression/", {"expression": "{{ vars }}"}, 200),
    ("post", "/api/schemas/{s}/test-node/", {"node_id": "start", "scope": {"trigger": {"a": 1}}}, 201),
    ("post", "/api/schemas/{s}/run-to-node/", {"node_id": "start", "payload": {"a": 1}}, 201),
    ("get", "/api/executions/{e}/", None, 200),
    ("get", "/api/executions/{e}/steps/", None, 200),
    ("post", "/api/executions/{e}/cancel/", None, 202),
    ("post", "/api/executions/{e}/resume/", {"payload": {"ok": True}}, 202),
    ("post", "/api/executions/{e}/retry/", None, 409),  # allowed, but the state does not permit it
    ("post", "/api/executions/{e}/rerun/", {"version": "pinned"}, 202),
]
COLLECTION_ENDPOINTS: list[tuple[str, str, Any]] = [
    ("get", "/api/schemas/", None),
    ("post", "/api/schemas/", {"name": "new", "definition": linear_definition()}),
    ("get", "/api/executions/", None),
    ("get", "/api/node-types/", None),
    ("get", "/api/auth/me/", None),
    ("post", "/api/auth/logout/", None),
    ("get", "/api/schema/", None),
    ("get", "/api/docs/", None),
]


def call(client: APIClient, method: str, url: str, body: Any) -> Any:
    return getattr(client, method)(url, body, format="json") if body is not None else getattr(client, method)(url)


def _ids(endpoint: tuple[Any, ...]) -> str:
    return f"{endpoint[0].upper()} {endpoint[1]}"


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS + [(*c, 0) for c in COLLECTION_ENDPOINTS], ids=_ids)
def test_anonymous_gets_401_everywhere(world: World, anon_client: APIClient, endpoint: tuple[Any, ...]) -> None:
    method, template, body, _ = endpoint
    before = (Schema.objects.count(), Execution.objects.count())
    response = call(anon_client, method, template.format(s=world.schema.id, e=world.execution.id), body)
    assert response.status_code == 401, response.content[:200]
    if response.get("Content-Type", "").startswith("application/json"):
        assert response.json()["type"] == "not_authenticated"
    assert response["WWW-Authenticate"] == 'Token realm="api"' or "Token" in response["WWW-Authenticate"]
    assert (Schema.objects.count(), Execution.objects.count()) == before


@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=_ids)
def test_other_user_gets_404_and_changes_nothing(
    world: World, client_for: Callable[[Any], APIClient], endpoint: tuple[Any, ...]
) -> None:
    method, template, body, _ = endpoint
    schema, execution = world.fresh()
    snapshot = (Schema.objects.count(), Execution.objects.count(), schema.webhook_secret, schema.status, schema.name)
    response = call(client_for(world.other), method, template.format(s=schema.id, e=execution.id), body)
    assert response.status_code == 404, response.content[:200]
    assert response.json() == {"type": "not_found", "detail": "No Schema matches the given query.", "errors": []} or (
        response.json()["type"] == "not_found"
    )
    schema.refresh_from_db()
    execution.refresh_from_db()
    assert (Schema.objects.count(), Execution.objects.count(), schema.webhook_secret, schema.status, schema.name) == (
        snapshot
    )
    assert execution.status == "paused"


@pytest.mark.parametrize("role", ["owner", "staff"])
@pytest.mark.parametrize("endpoint", OBJECT_ENDPOINTS, ids=_ids)
def test_owner_and_staff_may_act(
    world: World, client_for: Callable[[Any], APIClient], endpoint: tuple[Any, ...], role: str
) -> None:
    method, template, body, expected = endpoint
    schema, execution = world.fresh()
    client = client_for(world.owner if role == "owner" else world.staff)
    response = call(client, method, template.format(s=schema.id, e=execution.id), body)
    assert response.status_code == expected, response.content[:300]


def test_delete_takes_finished_executions_along(world: World, client_for: Callable[[Any], APIClient]) -> None:
    schema, execution = world.fresh()
    client = client_for(world.owner)
    refused = client.delete(f"/api/schemas/{schema.id}/")
    assert refused.status_code == 409 and refused.json()["type"] == "conflict"
    assert client.post(f"/api/executions/{execution.id}/cancel/").status_code == 202
    assert client.delete(f"/api/schemas/{schema.id}/").status_code == 204
    assert not Schema.objects.filter(pk=schema.pk).exists()
    assert not Execution.objects.filter(pk=execution.pk).exists()


def test_lists_show_only_own_objects_unless_staff(world: World, client_for: Callable[[Any], APIClient]) -> None:
    foreign = create_schema(user=world.other, name="Other's")
    execution_create(schema=foreign, trigger_type="manual", payload={}, created_by=world.other)

    def listed(user: Any, url: str) -> set[str]:
        return {item["id"] for item in client_for(user).get(url).json()["results"]}

    assert listed(world.owner, "/api/schemas/") == {str(world.schema.id)}
    assert listed(world.other, "/api/schemas/") == {str(foreign.id)}
    assert listed(world.staff, "/api/schemas/") >= {str(world.schema.id), str(foreign.id)}
    assert listed(world.owner, "/api/executions/") == {str(world.execution.id)}
    # Filtering by someone else's schema id reveals nothing.
    assert listed(world.owner, f"/api/executions/?schema={foreign.id}") == set()
    assert len(listed(world.staff, "/api/executions/")) == 2


def test_read_only_fields_cannot_be_forged(api: APIClient, user: Any, other_user: Any) -> None:
    response = api.post(
        "/api/schemas/",
        {
            "name": "forged",
            "definition": linear_definition(),
            "status": "active",
            "created_by": other_user.email,
            "webhook_secret": "attacker-chosen",
            "version": 99,
            "id": "00000000-0000-0000-0000-000000000001",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "draft" and body["created_by"] == user.email and body["version"] == 1
    assert body["webhook_secret"] != "attacker-chosen" and body["id"] != "00000000-0000-0000-0000-000000000001"
    patched = api.patch(f"/api/schemas/{body['id']}/", {"webhook_secret": "x", "status": "active"}, format="json")
    assert patched.json()["webhook_secret"] == body["webhook_secret"] and patched.json()["status"] == "draft"


def test_list_does_not_expose_webhook_secrets(world: World, client_for: Callable[[Any], APIClient]) -> None:
    items = client_for(world.owner).get("/api/schemas/").json()["results"]
    assert items and all("webhook_secret" not in item for item in items)


# -- authentication mechanisms -------------------------------------------------------------------


def test_session_needs_csrf_for_unsafe_methods(user: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.get("/api/auth/csrf/")
    token = client.cookies["csrftoken"].value
    assert (
        client.post(
            "/api/auth/login/", {"email": user.email, "password": "s3cret-pass"}, format="json", HTTP_X_CSRFTOKEN=token
        ).status_code
        == 200
    )
    assert client.get("/api/schemas/").status_code == 200  # safe method: no token needed
    body = {"name": "csrf", "definition": linear_definition()}
    refused = client.post("/api/schemas/", body, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert Schema.objects.count() == 0
    token = client.cookies["csrftoken"].value
    assert client.post("/api/schemas/", body, format="json", HTTP_X_CSRFTOKEN=token).status_code == 201


def test_token_auth_needs_no_csrf_and_rotation_revokes(user: Any, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("create_api_token", user.email)
    key = capsys.readouterr().out.strip()
    client = APIClient(enforce_csrf_checks=True)
    headers = {"HTTP_AUTHORIZATION": f"Token {key}"}
    created = client.post("/api/schemas/", {"name": "t", "definition": linear_definition()}, format="json", **headers)
    assert created.status_code == 201
    call_command("create_api_token", user.email, "--rotate")
    new_key = capsys.readouterr().out.strip()
    assert new_key != key
    stale = client.get("/api/schemas/", **headers)
    assert stale.status_code == 401 and stale.json()["type"] == "authentication_failed"
    assert client.get("/api/schemas/", HTTP_AUTHORIZATION=f"Token {new_key}").status_code == 200


def test_inactive_users_token_is_refused(user: Any) -> None:
    token = Token.objects.create(user=user)
    user.is_active = False
    user.save()
    response = APIClient().get("/api/schemas/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 401


def test_login_does_not_tell_unknown_email_from_wrong_password(user: Any) -> None:
    client = APIClient()
    unknown = client.post("/api/auth/login/", {"email": "nobody@example.com", "password": "x"}, format="json")
    wrong = client.post("/api/auth/login/", {"email": user.email, "password": "wrong"}, format="json")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_public_endpoints_stay_public(anon_client: APIClient) -> None:
    assert anon_client.get("/api/health/live").status_code == 200
    assert anon_client.get("/api/auth/csrf/").status_code == 204
    # Whether the caller is signed in (only its own state): the editor's first load asks it.
    assert anon_client.get("/api/auth/session/").json() == {"authenticated": False, "user": None}
    # The webhook authenticates by the schema's secret, not by a user: unknown ids are 404, not 401.
    assert anon_client.post("/api/hooks/00000000-0000-0000-0000-000000000000/", {}, format="json").status_code == 404


# -- admin ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/", "/admin/executions_app/execution/", "/admin/schemas_app/schema/"])
def test_admin_is_staff_only(world: World, path: str) -> None:
    from django.test import Client

    anonymous = Client().get(path)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
    regular = Client()
    regular.force_login(world.owner)
    assert regular.get(path).status_code == 302  # not staff: back to the login page
    staff = Client()
    staff.force_login(world.staff)
    # Staff reach the admin; model pages also need the model permissions (Django's rule).
    assert staff.get(path).status_code == (200 if path == "/admin/" else 403)
    superuser = Client()
    superuser.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert superuser.get(path).status_code == 200


def test_admin_login_refuses_non_staff(world: World) -> None:
    from django.test import Client

    client = Client()
    response = client.post("/admin/login/", {"username": world.owner.email, "password": "s3cret-pass"})
    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session
