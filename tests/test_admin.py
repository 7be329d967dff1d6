"""The Django admin for operators: staff-only, every page renders, actions work."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from executions_app.models import Execution
from tests.factories import UserFactory, create_schema

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_is_staff_only(user: Any) -> None:
    client = Client()
    client.force_login(user)
    response = client.get("/admin/executions_app/execution/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_every_admin_page_renders(staff_client: Client, user: Any) -> None:
    schema = create_schema(user=user)
    from executions_app.services import execution_create

    execution, _ = execution_create(schema=schema, trigger_type="manual", payload={"name": "Ada"})
    step = execution.steps.first()
    assert step is not None
    pages = [
        "/admin/",
        "/admin/schemas_app/schema/",
        f"/admin/schemas_app/schema/{schema.id}/change/",
        "/admin/schemas_app/schema/?status__exact=draft&q=Greet",
        "/admin/executions_app/execution/",
        f"/admin/executions_app/execution/{execution.id}/change/",
        "/admin/executions_app/execution/?status__exact=completed&trigger_type__exact=manual",
        f"/admin/executions_app/execution/?schema__id__exact={schema.id}",
        "/admin/executions_app/executionstep/",
        f"/admin/executions_app/executionstep/{step.id}/change/",
        "/admin/accounts/user/",
        "/admin/accounts/user/add/",
    ]
    for page in pages:
        response = staff_client.get(page)
        assert response.status_code == 200, page
    detail = staff_client.get(f"/admin/executions_app/execution/{execution.id}/change/").content.decode()
    assert "greet" in detail and "Hello Ada" in detail


def test_admin_actions_cancel_and_rerun(staff_client: Client, user: Any) -> None:
    from tests.api.test_executions import wait_definition

    schema = create_schema(user=user, definition=wait_definition())
    from executions_app.services import execution_create

    execution, _ = execution_create(schema=schema, trigger_type="manual")
    response = staff_client.post(
        "/admin/executions_app/execution/", {"action": "cancel", "_selected_action": [str(execution.id)]}, follow=True
    )
    assert response.status_code == 200
    execution.refresh_from_db()
    assert execution.status == "cancelled"
    staff_client.post(
        "/admin/executions_app/execution/", {"action": "rerun", "_selected_action": [str(execution.id)]}, follow=True
    )
    assert Execution.objects.filter(rerun_of=execution).count() == 1
