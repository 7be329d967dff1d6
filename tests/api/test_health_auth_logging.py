"""Health checks, session sign-in, the error format, and one JSON log line per request."""

from __future__ import annotations

import json
import logging
from typing import Any
from unittest import mock

import pytest
from rest_framework.test import APIClient

from tests.conftest import requires_rabbitmq

pytestmark = pytest.mark.django_db


def test_live_needs_no_auth(anon_client: APIClient) -> None:
    response = anon_client.get("/api/health/live")
    assert response.status_code == 200 and response.json()["status"] == "ok"


@requires_rabbitmq
def test_ready_checks_database_and_broker(anon_client: APIClient) -> None:
    body = anon_client.get("/api/health/ready").json()
    assert body == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


def test_ready_is_503_naming_the_broker_when_it_is_down(anon_client: APIClient, settings: Any) -> None:
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"
    response = anon_client.get("/api/health/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"].startswith("error")


def test_ready_is_503_when_the_database_is_down(anon_client: APIClient) -> None:
    with mock.patch("api.views.health.connection.cursor", side_effect=OSError("connection refused")):
        response = anon_client.get("/api/health/ready")
    assert response.status_code == 503 and response.json()["checks"]["database"].startswith("error")


def test_session_login_me_logout(user: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    assert client.get("/api/auth/csrf/").status_code == 204
    token = client.cookies["csrftoken"].value
    bad = client.post(
        "/api/auth/login/", {"email": user.email, "password": "wrong"}, format="json", HTTP_X_CSRFTOKEN=token
    )
    assert bad.status_code in (401, 403) and bad.json()["type"] == "authentication_failed"
    ok = client.post(
        "/api/auth/login/",
        {"email": user.email.upper(), "password": "s3cret-pass"},
        format="json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert ok.status_code == 200 and ok.json()["email"] == user.email
    assert client.get("/api/auth/me/").json()["email"] == user.email
    token = client.cookies["csrftoken"].value
    no_csrf = client.post("/api/auth/logout/")
    assert no_csrf.status_code == 403
    assert client.post("/api/auth/logout/", HTTP_X_CSRFTOKEN=token).status_code == 204
    assert client.get("/api/auth/me/").status_code in (401, 403)


def test_session_state_is_200_signed_in_or_out(user: Any) -> None:
    """The editor's first load asks this: signed out is an answer, not an error (`me` stays 401)."""
    client = APIClient()
    out = client.get("/api/auth/session/")
    assert out.status_code == 200 and out.json() == {"authenticated": False, "user": None}
    assert client.get("/api/auth/me/").status_code == 401
    client.force_login(user)
    signed_in = client.get("/api/auth/session/").json()
    assert signed_in["authenticated"] is True and signed_in["user"]["email"] == user.email
    # A wrong token is refused, not taken for "signed out".
    assert APIClient().get("/api/auth/session/", HTTP_AUTHORIZATION="Token nope").status_code == 401


def test_token_authentication(user: Any) -> None:
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=user)
    client = APIClient()
    assert client.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200
    assert client.get("/api/auth/me/", HTTP_AUTHORIZATION="Token nope").json()["type"] == "authentication_failed"


def test_create_api_token_command(user: Any, capsys: Any) -> None:
    from django.core.management import call_command

    call_command("create_api_token", user.email)
    key = capsys.readouterr().out.strip()
    assert APIClient().get("/api/auth/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_openapi_and_swagger_are_served(api: APIClient) -> None:
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/schemas/{id}/execute/" in json.loads(schema.content)["paths"]
    assert api.get("/api/docs/").status_code == 200


def test_unknown_api_route_is_json_404(api: APIClient) -> None:
    response = api.get("/api/nope/")
    assert response.status_code == 404 and response.json()["type"] == "not_found"


def test_method_not_allowed_is_json(api: APIClient) -> None:
    response = api.delete("/api/node-types/")
    assert response.status_code == 405 and response.json()["type"] == "method_not_allowed"


def test_every_request_is_logged_as_json_with_request_id(api: APIClient, caplog: Any) -> None:
    from config.logging import JsonFormatter

    caplog.set_level(logging.INFO, logger="schema.api")
    response = api.get("/api/schemas/", HTTP_X_REQUEST_ID="req-123")
    assert response["X-Request-ID"] == "req-123"
    records = [r for r in caplog.records if r.name == "schema.api"]
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["method"] == "GET" and line["path"] == "/api/schemas/" and line["status"] == 200
    assert line["level"] == "INFO" and "duration_ms" in line
    generated = api.get("/api/schemas/")["X-Request-ID"]
    assert len(generated) == 32


def test_log_lines_never_contain_request_bodies(api: APIClient, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    api.post("/api/auth/login/", {"email": "a@b.c", "password": "hunter2-secret"}, format="json")
    assert "hunter2-secret" not in caplog.text
