"""A database or broker that cannot be reached is a `503 service_unavailable` with `Retry-After` and
one WARNING line (clients and load balancers retry), not a `500 server_error` with an "Unhandled
error" traceback: during a PostgreSQL restart 20 of 504 webhooks got a 500."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client
from kombu.exceptions import OperationalError as BrokerDown
from rest_framework.test import APIClient

from api.exceptions import server_error
from api.views import webhooks

pytestmark = pytest.mark.django_db


def _post_hook(client: APIClient, schema: Any) -> Any:
    return client.post(f"/api/hooks/{schema.id}/", {"n": 1}, format="json", HTTP_X_SCHEMA_SECRET=schema.webhook_secret)


@pytest.mark.parametrize(
    ("error", "service"),
    [
        (OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused'), "database"),
        (InterfaceError("connection already closed"), "database"),
        (BrokerDown("[Errno 111] Connection refused"), "message broker"),
    ],
)
def test_an_unreachable_service_is_a_503_with_retry_after_and_one_warning(
    anon_client: APIClient,
    hook_schema: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    service: str,
) -> None:
    def unavailable(**_: Any) -> Any:
        raise error

    monkeypatch.setattr(webhooks, "execution_create", unavailable)
    with caplog.at_level(logging.INFO):
        response = _post_hook(anon_client, hook_schema)

    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["type"] == "service_unavailable" and body["errors"] == []
    assert service in body["detail"] and "retry" in body["detail"]
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == "schema.api"]
    assert len(problems) == 1 and problems[0].levelno == logging.WARNING
    assert problems[0].exc_info is None and f"{service} unavailable" in problems[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_bug_is_still_a_500_with_its_traceback_logged(
    anon_client: APIClient, hook_schema: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def bug(**_: Any) -> Any:
        raise KeyError("oops")

    monkeypatch.setattr(webhooks, "execution_create", bug)
    with caplog.at_level(logging.WARNING):
        response = _post_hook(anon_client, hook_schema)
    assert response.status_code == 500 and response.json()["type"] == "server_error"
    assert [r.exc_info is not None for r in caplog.records if r.name == "schema.api"] == [True]


def test_outside_the_api_views_the_handler_answers_503_too(rf: Any) -> None:
    """Django's handler500 runs inside the `except` of the failed request (a middleware, the admin)."""
    request = rf.get("/admin/")
    try:
        raise OperationalError("the database system is shutting down")
    except OperationalError:
        response = server_error(request)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    try:
        raise ValueError("a bug")
    except ValueError:
        response = server_error(request)
    assert response.status_code == 500


def test_the_handler_is_wired(monkeypatch: pytest.MonkeyPatch) -> None:
    """A view outside DRF (the admin) failing on the database: Django's handler500 answers."""
    from django.contrib import auth

    def database_down(request: Any) -> Any:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(auth, "get_user", database_down)
    response = Client(raise_request_exception=False).get("/admin/")
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5" and response.json()["type"] == "service_unavailable"
