"""Webhook trigger: secret and signature auth, replay window, idempotency, wait mode, 404s."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from rest_framework.test import APIClient

from api.signatures import signature_for
from executions_app.models import Execution
from tests.builders import linear_definition
from tests.factories import create_schema

pytestmark = pytest.mark.django_db(transaction=True)


def post(client: APIClient, schema: Any, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(f"/api/hooks/{schema.id}/", data=raw, content_type="application/json", **headers)


def test_secret_header_starts_an_execution(anon_client: APIClient, hook_schema: Any) -> None:
    response = post(anon_client, hook_schema, {"name": "Ada"}, HTTP_X_SCHEMA_SECRET=hook_schema.webhook_secret)
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["trigger_type"] == "webhook" and body["trigger_payload"] == {"name": "Ada"}
    assert Execution.objects.filter(pk=body["id"], schema=hook_schema).exists()


def test_wait_mode_returns_the_result(anon_client: APIClient, hook_schema: Any) -> None:
    response = anon_client.post(
        f"/api/hooks/{hook_schema.id}/?wait=5",
        data=json.dumps({"name": "Ada"}),
        content_type="application/json",
        HTTP_X_SCHEMA_SECRET=hook_schema.webhook_secret,
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "completed"
    assert response.json()["result"] == "Hello Ada"


def test_wrong_or_missing_secret_is_401(anon_client: APIClient, hook_schema: Any) -> None:
    assert post(anon_client, hook_schema, {}, HTTP_X_SCHEMA_SECRET="nope").status_code == 401
    missing = post(anon_client, hook_schema, {})
    assert missing.status_code == 401 and missing.json()["type"] == "not_authenticated"
    assert Execution.objects.count() == 0


def test_hmac_signature_with_timestamp(anon_client: APIClient, hook_schema: Any) -> None:
    raw = json.dumps({"name": "Sig"}).encode()
    now = int(time.time())
    good = f"t={now},v1={signature_for(hook_schema.webhook_secret, now, raw)}"
    assert post(anon_client, hook_schema, raw, HTTP_X_SCHEMA_SIGNATURE=good).status_code == 202
    tampered = post(anon_client, hook_schema, raw + b" ", HTTP_X_SCHEMA_SIGNATURE=good)
    assert tampered.status_code == 401
    old = now - 3600
    replay = f"t={old},v1={signature_for(hook_schema.webhook_secret, old, raw)}"
    response = post(anon_client, hook_schema, raw, HTTP_X_SCHEMA_SIGNATURE=replay)
    assert response.status_code == 401 and "window" in response.json()["detail"]
    assert post(anon_client, hook_schema, raw, HTTP_X_SCHEMA_SIGNATURE="garbage").status_code == 401


def test_rotated_secret_invalidates_the_old_one(api: APIClient, anon_client: APIClient, hook_schema: Any) -> None:
    old = hook_schema.webhook_secret
    new = api.post(f"/api/schemas/{hook_schema.id}/rotate-secret/").json()["webhook_secret"]
    assert post(anon_client, hook_schema, {}, HTTP_X_SCHEMA_SECRET=old).status_code == 401
    assert post(anon_client, hook_schema, {}, HTTP_X_SCHEMA_SECRET=new).status_code == 202


def test_idempotency_key_returns_the_first_execution(anon_client: APIClient, hook_schema: Any) -> None:
    headers = {"HTTP_X_SCHEMA_SECRET": hook_schema.webhook_secret, "HTTP_IDEMPOTENCY_KEY": "order-42"}
    first = post(anon_client, hook_schema, {"n": 1}, **headers).json()
    second = post(anon_client, hook_schema, {"n": 2}, **headers).json()
    assert first["id"] == second["id"]
    assert Execution.objects.filter(schema=hook_schema).count() == 1


@pytest.mark.parametrize("status", ["draft", "archived", "missing"])
def test_inactive_or_unknown_schema_is_404_without_leaking(anon_client: APIClient, user: Any, status: str) -> None:
    schema = create_schema(user=user, definition=linear_definition("webhook_trigger"))
    if status == "archived":
        from schemas_app.services import schema_archive

        schema_archive(schema)
    url = f"/api/hooks/{'00000000-0000-0000-0000-000000000001' if status == 'missing' else schema.id}/"
    response = anon_client.post(
        url, data="{}", content_type="application/json", HTTP_X_SCHEMA_SECRET=schema.webhook_secret
    )
    assert response.status_code == 404
    assert response.json() == {"type": "not_found", "detail": "No active schema with this id.", "errors": []}


def test_malformed_body_and_bad_wait_are_400(anon_client: APIClient, hook_schema: Any) -> None:
    secret = {"HTTP_X_SCHEMA_SECRET": hook_schema.webhook_secret}
    assert post(anon_client, hook_schema, b"{not json", **secret).json()["type"] == "parse_error"
    response = anon_client.post(
        f"/api/hooks/{hook_schema.id}/?wait=abc", data="{}", content_type="application/json", **secret
    )
    assert response.status_code == 400
    assert Execution.objects.count() == 0
