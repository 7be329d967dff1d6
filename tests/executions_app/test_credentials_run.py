"""A schema that uses credentials, run by the worker against a local server: the credential arrives,
and its secret is nowhere else — not in any table (a dump of the whole database), not in a step row,
a log line or an API response — also when the server echoes it back or the call fails."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.db import connection

from credentials_app import services
from credentials_app.models import Credential
from executions_app.models import Execution, ExecutionStep, TriggerType
from executions_app.runner import execution_run
from executions_app.services import execution_create
from tests.builders import chain, node
from tests.factories import create_schema
from tests.helpers.http_server import LocalServer

pytestmark = pytest.mark.django_db

TOKEN = "tok_" + "Vb7Qp" * 6
PASSWORD = "pw-" + "Lk2#x" * 5


@pytest.fixture
def server(settings: Any) -> Any:
    settings.SCHEMA_HTTP_ALLOWLIST = ["127.0.0.1/32"]
    local = LocalServer("127.0.0.1")
    yield local
    local.close()


def database_text() -> str:
    """Every row of every table as text: what a dump of the database would show."""
    parts = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT t::text FROM "{table}" t')  # table names from the catalog
            parts.extend(str(row[0]) for row in cursor.fetchall())
    return "\n".join(parts)


def log_text(caplog: Any) -> str:
    return "\n".join(json.dumps({k: str(v) for k, v in r.__dict__.items()}) for r in caplog.records)


def run(user: Any, *calls: dict[str, Any]) -> Execution:
    nodes = [node(f"call{i}", "http_request", config) for i, config in enumerate(calls)]
    schema = create_schema(
        user=user, definition=chain(node("start", "manual_trigger"), *nodes, node("done", "end")), activate=True
    )
    execution, _ = execution_create(schema=schema, trigger_type=TriggerType.MANUAL, payload={"a": 1})
    execution_run(str(execution.id), worker_id="w1")
    execution.refresh_from_db()
    return execution


def test_credentials_reach_the_server_and_their_secrets_are_stored_nowhere(
    server: LocalServer, user: Any, api: Any, caplog: Any
) -> None:
    caplog.set_level(logging.DEBUG)
    bearer = services.credential_create(owner=user, name="api", type="bearer_token", data={"token": TOKEN})
    services.credential_create(
        owner=user, name="basic", type="basic_auth", data={"username": "ann", "password": PASSWORD}
    )
    services.credential_create(owner=user, name="key", type="query_param", data={"name": "key", "value": TOKEN})
    execution = run(
        user,
        {"url": server.url("/echo"), "auth": {"credential": "api"}},  # echoes the Authorization header
        {"url": server.url("/echo"), "auth": {"credential": "basic"}},
        {"url": server.url("/json"), "auth": {"credential": "key"}},  # echoes the path with ?key=
    )
    assert execution.status == "completed", execution.error
    sent = [r["headers"].get("Authorization") for r in server.requests]
    assert sent[0] == f"Bearer {TOKEN}" and sent[1].startswith("Basic ")
    assert f"key={TOKEN}" in server.requests[2]["path"]

    step = ExecutionStep.objects.get(execution=execution, node_id="call0")
    assert step.input["auth"] == {"credential": str(bearer.pk), "name": "api", "type": "bearer_token"}
    assert step.output["body"]["headers"]["Authorization"] == "Bearer [redacted]"

    responses = [
        api.get(f"/api/executions/{execution.id}/").content.decode(),
        api.get(f"/api/executions/{execution.id}/steps/").content.decode(),
        api.get("/api/credentials/").content.decode(),
    ]
    for secret in (TOKEN, PASSWORD):
        assert secret not in database_text()
        assert secret not in log_text(caplog)
        assert all(secret not in body for body in responses)
    assert Credential.objects.get(pk=bearer.pk).last_used_at is not None


def test_a_failed_call_records_no_secret(server: LocalServer, user: Any, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    key = services.credential_create(owner=user, name="key", type="query_param", data={"name": "k", "value": TOKEN})
    execution = run(user, {"url": server.url("/status/503"), "auth": {"credential": "key"}})
    assert execution.status == "failed" and "HTTP 503" in (execution.error or "")
    step = ExecutionStep.objects.get(execution=execution, node_id="call0")  # the use is on the step
    assert step.output["error"]["details"]["credentials"] == [
        {"credential": str(key.pk), "name": "key", "type": "query_param"}
    ]
    assert TOKEN not in database_text()
    assert TOKEN not in log_text(caplog)


def test_a_credential_deleted_after_activation_fails_the_step_in_plain_words(server: LocalServer, user: Any) -> None:
    credential = services.credential_create(owner=user, name="api", type="bearer_token", data={"token": TOKEN})
    nodes = [node("call", "http_request", {"url": server.url("/ok"), "auth": {"credential": "api"}})]
    schema = create_schema(user=user, definition=chain(node("start", "manual_trigger"), *nodes), activate=True)
    services.credential_delete(credential, user=user)
    execution, _ = execution_create(schema=schema, trigger_type=TriggerType.MANUAL)
    execution_run(str(execution.id), worker_id="w1")
    execution.refresh_from_db()
    assert execution.status == "failed"
    assert "There is no credential named 'api' for this schema's owner" in (execution.error or "")
    assert server.requests == []


def test_oauth2_token_is_cached_encrypted_and_reused_across_executions(server: LocalServer, user: Any) -> None:
    credential = services.credential_create(
        owner=user,
        name="oauth",
        type="oauth2_client_credentials",
        data={"token_url": server.url("/oauth/token"), "client_id": "app", "client_secret": server.client_secret},
    )
    config = {"url": server.url("/protected"), "auth": {"credential": "oauth"}}
    assert run(user, config).status == "completed"
    assert run(user, config).status == "completed"
    assert len(server.tokens) == 1  # the second execution used the cached token
    row = Credential.objects.get(pk=credential.pk)
    assert row.token_data and row.token_expires_at is not None
    dump = database_text()
    assert server.tokens[0] not in dump and server.client_secret not in dump
