"""Schema selectors (`schemas_app.selectors`): which schemas a user sees, and which schema a webhook
delivery may start."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from schemas_app import services
from schemas_app.selectors import schemas_visible_to, webhook_schema
from tests.builders import linear_definition
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


def test_a_user_sees_only_their_own_schemas(user: Any, other_user: Any) -> None:
    mine = [create_schema(user=user, name="mine 1"), create_schema(user=user, name="mine 2")]
    create_schema(user=other_user, name="theirs")
    create_schema(user=None, name="nobody's")  # e.g. its creator was deleted

    assert set(schemas_visible_to(user)) == set(mine)
    assert [s.name for s in schemas_visible_to(other_user)] == ["theirs"]


def test_staff_sees_every_schema(user: Any, other_user: Any, staff_user: Any) -> None:
    every = {create_schema(user=user), create_schema(user=other_user), create_schema(user=None)}
    assert set(schemas_visible_to(staff_user)) == every


def test_visible_schemas_are_newest_first(user: Any) -> None:
    names = ["first", "second", "third"]
    for name in names:
        create_schema(user=user, name=name)
    assert [s.name for s in schemas_visible_to(user)] == names[::-1]


def test_webhook_schema_finds_an_active_schema_with_a_webhook_trigger(user: Any) -> None:
    hook = create_schema(user=user, definition=linear_definition("webhook_trigger"), activate=True)

    found = webhook_schema(hook.id)

    assert found is not None and found.pk == hook.pk
    assert found.webhook_secret == hook.webhook_secret  # what the signature check needs
    assert webhook_schema(str(hook.id)) is not None


def test_webhook_schema_refuses_drafts_archived_schemas_and_other_triggers(user: Any) -> None:
    draft = create_schema(user=user, definition=linear_definition("webhook_trigger"))
    archived = create_schema(user=user, definition=linear_definition("webhook_trigger"), activate=True)
    services.schema_archive(archived)
    manual = create_schema(user=user, definition=linear_definition("manual_trigger"), activate=True)

    assert webhook_schema(draft.id) is None
    assert webhook_schema(archived.id) is None
    assert webhook_schema(manual.id) is None
    assert webhook_schema(uuid.uuid4()) is None


def test_a_schema_stops_taking_webhooks_when_its_trigger_changes(user: Any) -> None:
    hook = create_schema(user=user, definition=linear_definition("webhook_trigger"), activate=True)
    services.schema_update(hook, definition=linear_definition("manual_trigger"))
    assert webhook_schema(hook.id) is None
    services.schema_update(hook, definition=linear_definition("webhook_trigger"))
    assert webhook_schema(hook.id) is not None
