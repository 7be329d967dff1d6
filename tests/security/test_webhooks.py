"""Webhook authentication beyond the basics of tests/api/test_webhooks.py: hostile signature
headers (were 500s), replays inside the window, secret rotation with a grace period, constant-time
comparison, 404 before authentication, concurrent deliveries with one idempotency key."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from api import signatures
from api.signatures import check_signature, signature_for
from api.views import webhooks
from executions_app.models import Execution
from schemas_app.models import Schema
from schemas_app.services import schema_archive
from tests.builders import linear_definition
from tests.factories import create_schema

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hook(user: Any) -> Schema:
    return create_schema(user=user, definition=linear_definition("webhook_trigger"), activate=True)


def post(client: APIClient, schema: Schema, raw: bytes, **headers: str) -> Any:
    return client.post(f"/api/hooks/{schema.id}/", data=raw, content_type="application/json", **headers)


def signed(secret: str, raw: bytes, at: int | None = None) -> str:
    at = int(time.time()) if at is None else at
    return f"t={at},v1={signature_for(secret, at, raw)}"


@pytest.mark.parametrize(
    "header",
    [
        "t=1700000000,v1=\u00e9\u00e9",  # non-ASCII (hmac.compare_digest raised TypeError on str)
        "t=" + "9" * 400 + ",v1=ab",  # an int too large for a float (OverflowError)
        "t=-5,v1=ab",
        "t=1e9,v1=ab",
        "t=,v1=",
        "t=1,t=2,v1=ab",
        "v1=ab",
        "t=" + str(int(time.time())),
        "," * 5000,
        "t=\u0661\u0662\u0663,v1=ab",  # Unicode digits: isdigit() but not ASCII
    ],
)
def test_hostile_signature_headers_are_401_never_500(anon_client: APIClient, hook: Schema, header: str) -> None:
    response = post(anon_client, hook, b"{}", HTTP_X_SCHEMA_SIGNATURE=header)
    assert response.status_code == 401, response.content
    assert response.json()["type"] == "authentication_failed"
    assert Execution.objects.count() == 0


def test_non_ascii_secret_header_is_401(anon_client: APIClient, hook: Schema) -> None:
    assert post(anon_client, hook, b"{}", HTTP_X_SCHEMA_SECRET="\u00e9t\u00e9").status_code == 401


def test_future_timestamps_are_outside_the_window(anon_client: APIClient, hook: Schema) -> None:
    raw = b'{"a": 1}'
    later = int(time.time()) + 600
    response = post(anon_client, hook, raw, HTTP_X_SCHEMA_SIGNATURE=signed(hook.webhook_secret, raw, later))
    assert response.status_code == 401 and "window" in response.json()["detail"]


def test_replayed_signature_starts_nothing_new(anon_client: APIClient, hook: Schema) -> None:
    raw = json.dumps({"order": 1}).encode()
    header = signed(hook.webhook_secret, raw)
    first = post(anon_client, hook, raw, HTTP_X_SCHEMA_SIGNATURE=header)
    assert first.status_code == 202
    # The captured request replayed as is, and with a different Idempotency-Key (not signed).
    again = post(anon_client, hook, raw, HTTP_X_SCHEMA_SIGNATURE=header)
    other_key = post(anon_client, hook, raw, HTTP_X_SCHEMA_SIGNATURE=header, HTTP_IDEMPOTENCY_KEY="new-key")
    assert again.json()["id"] == other_key.json()["id"] == first.json()["id"]
    assert Execution.objects.filter(schema=hook).count() == 1
    # A new delivery (new timestamp → new signature) is a new execution.
    time.sleep(1.01)
    fresh = post(anon_client, hook, raw, HTTP_X_SCHEMA_SIGNATURE=signed(hook.webhook_secret, raw))
    assert fresh.json()["id"] != first.json()["id"]


def test_a_failed_delivery_does_not_burn_its_signature(anon_client: APIClient, hook: Schema) -> None:
    raw = b'{"n": 1}'
    header = signed(hook.webhook_secret, raw)
    with mock.patch.object(webhooks, "execution_create", side_effect=RuntimeError("db blip")):
        assert post(anon_client, hook, raw, HTTP_X_SCHEMA_SIGNATURE=header).status_code == 500
    # The sender retries the very same request: it must not be taken for a replay.
    assert post(anon_client, hook, raw, HTTP_X_SCHEMA_SIGNATURE=header).status_code == 202


def test_several_signatures_one_match_is_enough(anon_client: APIClient, hook: Schema) -> None:
    raw = b"{}"
    now = int(time.time())
    header = f"t={now},v1={'0' * 64},v1={signature_for(hook.webhook_secret, now, raw)}"
    assert post(anon_client, hook, raw, HTTP_X_SCHEMA_SIGNATURE=header).status_code == 202


def test_rotation_with_a_grace_period(api: APIClient, anon_client: APIClient, hook: Schema) -> None:
    old = hook.webhook_secret
    response = api.post(f"/api/schemas/{hook.id}/rotate-secret/", {"grace_seconds": 3600}, format="json")
    assert response.status_code == 200
    body = response.json()
    new = body["webhook_secret"]
    assert new != old and body["webhook_secret_previous_expires_at"] is not None
    raw = b'{"x": 1}'
    assert post(anon_client, hook, raw, HTTP_X_SCHEMA_SECRET=old).status_code == 202
    assert post(anon_client, hook, raw, HTTP_X_SCHEMA_SECRET=new).status_code == 202
    assert post(anon_client, hook, raw, HTTP_X_SCHEMA_SIGNATURE=signed(old, raw)).status_code == 202
    # Once the grace period is over the old secret is dead.
    Schema.objects.filter(pk=hook.pk).update(webhook_secret_previous_expires_at=timezone.now() - timedelta(seconds=1))
    assert post(anon_client, hook, raw, HTTP_X_SCHEMA_SECRET=old).status_code == 401
    assert post(anon_client, hook, raw + b" ", HTTP_X_SCHEMA_SIGNATURE=signed(old, raw + b" ")).status_code == 401
    assert post(anon_client, hook, raw, HTTP_X_SCHEMA_SECRET=new).status_code == 202
    # Rotating again without grace (the secret leaked) kills both at once.
    newest = api.post(f"/api/schemas/{hook.id}/rotate-secret/").json()["webhook_secret"]
    assert post(anon_client, hook, raw, HTTP_X_SCHEMA_SECRET=new).status_code == 401
    assert post(anon_client, hook, raw, HTTP_X_SCHEMA_SECRET=newest).status_code == 202


@pytest.mark.parametrize("grace", [-1, 7 * 24 * 3600 + 1, "soon"])
def test_rotation_grace_is_validated(api: APIClient, hook: Schema, grace: Any) -> None:
    response = api.post(f"/api/schemas/{hook.id}/rotate-secret/", {"grace_seconds": grace}, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "grace_seconds"


def test_comparisons_are_constant_time(anon_client: APIClient, hook: Schema) -> None:
    with mock.patch.object(signatures.hmac, "compare_digest", wraps=signatures.hmac.compare_digest) as spy:
        post(anon_client, hook, b"{}", HTTP_X_SCHEMA_SECRET="wrong")
        post(anon_client, hook, b"{}", HTTP_X_SCHEMA_SIGNATURE=signed("wrong", b"{}"))
    assert spy.call_count >= 2
    assert all(isinstance(arg, bytes) for c in spy.call_args_list for arg in c.args)


def test_check_signature_unit() -> None:
    raw = b'{"a":1}'
    header = f"t=1000,v1={signature_for('k2', 1000, raw)}"
    assert check_signature(["k1", "k2"], header, raw, now=1100) == signature_for("k2", 1000, raw)
    with pytest.raises(Exception, match="window"):
        check_signature(["k2"], header, raw, now=1000 + 301)


@pytest.mark.parametrize("case", ["missing", "draft", "archived", "not-a-webhook-schema"])
def test_404_is_the_same_and_comes_before_authentication(anon_client: APIClient, user: Any, case: str) -> None:
    if case == "not-a-webhook-schema":  # active, but started by hand or by cron only
        schema = create_schema(user=user, definition=linear_definition("manual_trigger"), activate=True)
    else:
        schema = create_schema(user=user, definition=linear_definition("webhook_trigger"))
        if case == "archived":
            schema_archive(schema)
    url = f"/api/hooks/{'5f0c6a3e-0000-4000-8000-000000000000' if case == 'missing' else schema.id}/"
    expected = {"type": "not_found", "detail": "No active schema with this id.", "errors": []}
    for headers in ({}, {"HTTP_X_SCHEMA_SECRET": schema.webhook_secret}, {"HTTP_X_SCHEMA_SECRET": "wrong"}):
        response = anon_client.post(url, data=b"{}", content_type="application/json", **headers)
        assert response.status_code == 404 and response.json() == expected
    assert Execution.objects.count() == 0


def test_secret_in_the_query_string_is_not_accepted(anon_client: APIClient, hook: Schema) -> None:
    response = anon_client.post(
        f"/api/hooks/{hook.id}/?secret={hook.webhook_secret}&X-Schema-Secret={hook.webhook_secret}",
        data=b"{}",
        content_type="application/json",
    )
    assert response.status_code == 401


def test_concurrent_deliveries_with_one_idempotency_key(hook: Schema) -> None:
    results: list[Any] = []
    barrier = threading.Barrier(6)

    def deliver() -> None:
        client = APIClient()
        barrier.wait()
        try:
            results.append(
                post(
                    client,
                    hook,
                    b'{"n": 1}',
                    HTTP_X_SCHEMA_SECRET=hook.webhook_secret,
                    HTTP_IDEMPOTENCY_KEY="order-7",
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [202] * 6
    assert len({r.json()["id"] for r in results}) == 1
    assert Execution.objects.filter(schema=hook).count() == 1


def test_waiting_requests_cannot_hold_every_server_thread(
    anon_client: APIClient, hook: Schema, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sender with the secret asking `?wait=30` again and again would hold every thread of the
    API; past `SCHEMA_WEBHOOK_MAX_WAITING` per process the answer is the usual 202, at once."""
    monkeypatch.setattr(webhooks, "_WAITING", threading.BoundedSemaphore(0))  # every slot taken
    with mock.patch.object(webhooks, "execution_await", side_effect=AssertionError("must not wait")):
        started = time.monotonic()
        response = anon_client.post(
            f"/api/hooks/{hook.id}/?wait=30",
            data=b"{}",
            content_type="application/json",
            HTTP_X_SCHEMA_SECRET=hook.webhook_secret,
        )
    assert response.status_code in (200, 202) and time.monotonic() - started < 5


def test_the_sender_does_not_see_the_variables(anon_client: APIClient, user: Any) -> None:
    definition = linear_definition("webhook_trigger")
    definition["variables"] = {"api_token": "sk-live-do-not-leak"}
    schema = create_schema(user=user, definition=definition, activate=True)
    response = anon_client.post(
        f"/api/hooks/{schema.id}/?wait=5",
        data=b'{"name": "x"}',
        content_type="application/json",
        HTTP_X_SCHEMA_SECRET=schema.webhook_secret,
    )
    assert response.status_code == 200
    assert "context" not in response.json() and "sk-live-do-not-leak" not in response.content.decode()
    assert response.json()["result"] == "Hello x"


@pytest.mark.parametrize("key", ["k" * 256, "bad\x00key", "tab\tkey"])
def test_bad_idempotency_keys_are_400(anon_client: APIClient, hook: Schema, key: str) -> None:
    response = post(anon_client, hook, b"{}", HTTP_X_SCHEMA_SECRET=hook.webhook_secret, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "Idempotency-Key"
    assert Execution.objects.count() == 0
