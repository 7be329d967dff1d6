"""Schema services (`schemas_app.services`): what creating, editing, activating, archiving,
duplicating and rotating the webhook secret leave behind, and how invalid definitions are refused.
Cron registration on activate/archive is in test_schedules.py; deleting (which removes executions)
in tests/executions_app/test_schema_delete.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from schemas_app import services
from schemas_app.models import Schema, SchemaStatus, SchemaVersion
from schemas_app.services import DefinitionError, SchemaStateError
from tests.builders import chain, edge, linear_definition, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


def versions(schema: Schema) -> list[tuple[int, dict[str, Any]]]:
    return list(SchemaVersion.objects.filter(schema=schema).order_by("version").values_list("version", "definition"))


def renamed_greeting(definition: dict[str, Any]) -> dict[str, Any]:
    """The same graph with the end node's output changed: a definition change."""
    changed = {**definition, "nodes": [dict(n) for n in definition["nodes"]]}
    changed["nodes"][-1]["config"] = {"output": "Bye {{ trigger.name }}"}
    return changed


# -- create -------------------------------------------------------------------------------------------


def test_create_stores_a_draft_at_version_1_with_its_immutable_copy(user: Any) -> None:
    definition = linear_definition()
    schema = services.schema_create(name="Greeter", description="says hello", definition=definition, created_by=user)

    schema.refresh_from_db()
    assert (schema.name, schema.description, schema.status, schema.version) == (
        "Greeter",
        "says hello",
        SchemaStatus.DRAFT,
        1,
    )
    assert schema.created_by == user and schema.definition == definition
    assert versions(schema) == [(1, definition)]
    assert services.schema_current_version(schema).definition == definition
    assert schema.webhook_secret  # a secret from the start, so a webhook trigger can be added later


def test_create_refuses_an_invalid_definition_and_stores_nothing(user: Any) -> None:
    with pytest.raises(DefinitionError):
        services.schema_create(name="Broken", definition=chain(node("x", "no_such_type")), created_by=user)
    assert not Schema.objects.exists() and not SchemaVersion.objects.exists()


# -- update -------------------------------------------------------------------------------------------


def test_a_definition_change_bumps_the_version_and_keeps_the_old_one() -> None:
    schema = create_schema()
    first = schema.definition
    second = renamed_greeting(first)

    services.schema_update(schema, definition=second)

    schema.refresh_from_db()
    assert schema.version == 2 and schema.definition == second
    assert versions(schema) == [(1, first), (2, second)]
    assert services.schema_current_version(schema).definition == second


def test_renaming_or_saving_the_same_definition_keeps_the_version() -> None:
    schema = create_schema()
    definition = schema.definition

    services.schema_update(schema, name="Renamed", description="new words")
    services.schema_update(schema, definition=linear_definition())  # equal to the stored one

    schema.refresh_from_db()
    assert (schema.name, schema.description) == ("Renamed", "new words")
    assert schema.version == 1
    assert versions(schema) == [(1, definition)]


def test_an_invalid_definition_is_refused_and_the_schema_is_unchanged() -> None:
    schema = create_schema()
    definition = schema.definition

    with pytest.raises(DefinitionError):
        services.schema_update(schema, definition=chain(node("start", "manual_trigger"), node("x", "no_such_type")))

    schema = Schema.objects.get(pk=schema.pk)
    assert schema.version == 1 and schema.definition == definition
    assert versions(schema) == [(1, definition)]


def test_an_archived_schema_refuses_edits_but_may_be_renamed() -> None:
    schema = create_schema()
    definition = schema.definition
    services.schema_archive(schema)

    with pytest.raises(SchemaStateError, match="archived"):
        services.schema_update(schema, definition=renamed_greeting(definition))
    with pytest.raises(SchemaStateError):
        services.schema_update(schema, name="x", status=SchemaStatus.ACTIVE)
    services.schema_update(schema, name="Old greeter", description="kept for the record")

    schema = Schema.objects.get(pk=schema.pk)
    assert (schema.name, schema.description, schema.status) == ("Old greeter", "kept for the record", "archived")
    assert schema.version == 1 and schema.definition == definition


# -- activate, archive, duplicate ---------------------------------------------------------------------


def test_activate_then_archive() -> None:
    schema = create_schema()
    services.schema_activate(schema)
    assert Schema.objects.get(pk=schema.pk).status == SchemaStatus.ACTIVE

    services.schema_archive(schema)
    assert Schema.objects.get(pk=schema.pk).status == SchemaStatus.ARCHIVED
    with pytest.raises(SchemaStateError, match="duplicate"):
        services.schema_activate(schema)
    assert Schema.objects.get(pk=schema.pk).status == SchemaStatus.ARCHIVED


def test_a_stored_definition_that_became_invalid_cannot_be_activated() -> None:
    """Rows written around the services (an import, an older release) are checked again."""
    schema = create_schema()
    Schema.objects.filter(pk=schema.pk).update(definition=chain(node("x", "no_such_type")))
    schema.refresh_from_db()

    with pytest.raises(DefinitionError):
        services.schema_activate(schema)
    assert Schema.objects.get(pk=schema.pk).status == SchemaStatus.DRAFT


def test_duplicate_is_a_new_draft_with_the_same_graph_and_its_own_secret(user: Any, other_user: Any) -> None:
    original = create_schema(user=user, name="Greeter")
    services.schema_update(original, description="original", definition=renamed_greeting(original.definition))
    services.schema_archive(original)

    copy = services.schema_duplicate(original, user=other_user)

    copy.refresh_from_db()
    assert copy.pk != original.pk
    assert (copy.name, copy.description, copy.status, copy.version) == ("Greeter (copy)", "original", "draft", 1)
    assert copy.definition == original.definition and copy.created_by == other_user
    assert versions(copy) == [(1, original.definition)]
    assert copy.webhook_secret != original.webhook_secret
    services.schema_activate(copy)  # the way out of an archived schema
    assert Schema.objects.get(pk=original.pk).status == SchemaStatus.ARCHIVED


def test_a_duplicate_of_a_long_name_still_fits() -> None:
    copy = services.schema_duplicate(create_schema(name="n" * 255), user=None)
    assert len(copy.name) == 255 and Schema.objects.get(pk=copy.pk).name == copy.name


# -- the webhook secret -------------------------------------------------------------------------------


def test_rotation_without_grace_ends_the_old_secret_at_once() -> None:
    schema = create_schema()
    old = schema.webhook_secret

    services.schema_rotate_secret(schema)

    schema = Schema.objects.get(pk=schema.pk)
    assert schema.webhook_secret != old
    assert services.schema_webhook_secrets(schema) == [schema.webhook_secret]


def test_rotation_with_grace_keeps_the_old_secret_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    schema = create_schema()
    old = schema.webhook_secret
    rotated_at = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: rotated_at)

    services.schema_rotate_secret(schema, grace_seconds=3600)
    schema = Schema.objects.get(pk=schema.pk)
    new = schema.webhook_secret
    assert new != old
    assert services.schema_webhook_secrets(schema) == [new, old]

    monkeypatch.setattr(timezone, "now", lambda: rotated_at + timedelta(seconds=3599))
    assert services.schema_webhook_secrets(schema) == [new, old]
    monkeypatch.setattr(timezone, "now", lambda: rotated_at + timedelta(seconds=3600))
    assert services.schema_webhook_secrets(schema) == [new]


def test_a_second_rotation_without_grace_also_ends_the_secret_in_its_grace_period() -> None:
    schema = create_schema()
    first = schema.webhook_secret
    services.schema_rotate_secret(schema, grace_seconds=3600)
    second = schema.webhook_secret

    services.schema_rotate_secret(schema)  # the secret leaked: stop both

    schema = Schema.objects.get(pk=schema.pk)
    assert services.schema_webhook_secrets(schema) == [schema.webhook_secret]
    assert not {first, second} & set(services.schema_webhook_secrets(schema))


@pytest.mark.parametrize("grace", [-1, services.MAX_SECRET_GRACE_SECONDS + 1])
def test_rotation_refuses_a_grace_outside_a_week(grace: int) -> None:
    schema = create_schema()
    old = schema.webhook_secret
    with pytest.raises(ValueError, match="grace_seconds"):
        services.schema_rotate_secret(schema, grace_seconds=grace)
    assert Schema.objects.get(pk=schema.pk).webhook_secret == old


def test_a_week_of_grace_is_allowed() -> None:
    schema = create_schema()
    old = schema.webhook_secret
    services.schema_rotate_secret(schema, grace_seconds=services.MAX_SECRET_GRACE_SECONDS)
    assert old in services.schema_webhook_secrets(Schema.objects.get(pk=schema.pk))


# -- validation ---------------------------------------------------------------------------------------


def test_definition_validate_locates_every_problem() -> None:
    broken = chain(
        node("start", "manual_trigger"),
        node("x", "no_such_type"),
        node("call", "http_request", {"url": "{{"}),
    )
    broken["edges"].append(edge("call", "ghost", edge_id="dangling"))

    with pytest.raises(DefinitionError) as info:
        services.definition_validate(broken)

    problems = info.value.problems
    assert str(info.value) == f"{len(problems)} problem(s) in the definition"
    assert all(set(p) == {"path", "node_id", "edge_id", "message", "incomplete"} for p in problems)
    assert all(isinstance(p["message"], str) and p["message"] for p in problems)
    assert "x" in {p["node_id"] for p in problems}
    assert "call" in {p["node_id"] for p in problems}
    assert "dangling" in {p["edge_id"] for p in problems}


@pytest.mark.parametrize("definition", [None, [], "graph", {"nodes": "no"}, {"nodes": [], "edges": []}])
def test_definition_validate_refuses_what_is_not_a_definition(definition: Any) -> None:
    with pytest.raises(DefinitionError) as info:
        services.definition_validate(definition)
    assert info.value.problems


def test_definition_validate_accepts_a_valid_definition() -> None:
    assert services.definition_validate(linear_definition("webhook_trigger")) is None
