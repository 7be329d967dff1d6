"""Shared fixtures: users, API clients, schema definitions built from factories."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.builders import linear_definition
from tests.factories import UserFactory, create_schema

requires_postgres = pytest.mark.skipif(not getattr(settings, "USING_POSTGRES", False), reason="needs PostgreSQL")
requires_rabbitmq = pytest.mark.skipif(not getattr(settings, "USING_RABBITMQ", False), reason="needs RabbitMQ")


@pytest.fixture
def user(db: Any) -> Any:
    return UserFactory()


@pytest.fixture
def other_user(db: Any) -> Any:
    return UserFactory()


@pytest.fixture
def staff_user(db: Any) -> Any:
    return UserFactory(is_staff=True)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Any:
    def make(u: Any) -> APIClient:
        client = APIClient()
        client.force_authenticate(u)
        return client

    return make


@pytest.fixture
def api(user: Any, client_for: Any) -> APIClient:
    return client_for(user)


@pytest.fixture
def definition() -> dict[str, Any]:
    return linear_definition()


@pytest.fixture
def hook_schema(user: Any) -> Any:
    """An active schema with a webhook trigger."""
    return create_schema(user=user, definition=linear_definition("webhook_trigger"), activate=True)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Publishing recorded instead of run (eager mode would run the execution inline)."""
    from executions_app import services

    sent: list[str] = []
    monkeypatch.setattr(services, "publish_execution", lambda execution_id, **_: sent.append(execution_id))
    yield sent
