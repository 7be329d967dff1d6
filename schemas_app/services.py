"""Schema services: every write to a schema goes through these functions.

They keep the invariants the rest of the system relies on: a stored definition is well-formed (a
draft may be unfinished; an active schema's is complete, as activation checks); each
definition change bumps `version` and stores an immutable `SchemaVersion`; activating registers the
schema's cron schedule and archiving removes it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User

from . import schedules
from .models import Schema, SchemaCredentialReference, SchemaStatus, SchemaVersion, new_webhook_secret
from .validation import credential_problems, credential_references, definition_problems, error_schema_problems


class DefinitionError(Exception):
    """The definition has problems; `problems` locates each one."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the definition")
        self.problems = problems


class SchemaStateError(Exception):
    """The action is not allowed in the schema's current status."""


def definition_validate(definition: Any, *, complete: bool = True) -> None:
    """DefinitionError when the definition is malformed, or, with `complete`, only unfinished (a
    field left empty, a node not connected): drafts are saved unfinished, activation and runs are not."""
    problems = definition_problems(definition)
    if problems and (complete or any(not p["incomplete"] for p in problems)):
        raise DefinitionError(problems)


def schema_check_runnable(schema: Schema) -> None:
    """The schema's definition is complete (DefinitionError listing what to finish otherwise)."""
    definition_validate(schema.definition)


def schema_credentials_check(schema: Schema) -> None:
    """Every credential the schema's nodes name exists for its owner, and so does the error schema its
    settings name (before it is activated or run)."""
    problems = credential_problems(schema.definition, schema.created_by_id)
    problems += error_schema_problems(schema.definition, schema.created_by_id, schema.pk)
    if problems:
        raise DefinitionError(problems)


def _store_version(schema: Schema, user: User | None) -> SchemaVersion:
    schema_credential_references_sync(schema)
    return SchemaVersion.objects.create(
        schema=schema, version=schema.version, definition=schema.definition, created_by=user
    )


def schema_credential_references_sync(schema: Schema) -> None:
    """Records which credentials the current definition names (read by "where used")."""
    wanted = {ref for *_, ref in credential_references(schema.definition) if len(ref) <= 255}
    SchemaCredentialReference.objects.filter(schema=schema).exclude(reference__in=wanted).delete()
    if wanted and schema.created_by_id is not None:
        SchemaCredentialReference.objects.bulk_create(
            [
                SchemaCredentialReference(schema=schema, owner_id=schema.created_by_id, reference=r)
                for r in sorted(wanted)
            ],
            ignore_conflicts=True,
        )


@transaction.atomic
def schema_create(
    *, name: str, definition: dict[str, Any], description: str = "", created_by: User | None = None
) -> Schema:
    definition_validate(definition, complete=False)
    schema = Schema.objects.create(name=name, description=description, definition=definition, created_by=created_by)
    _store_version(schema, created_by)
    return schema


@transaction.atomic
def schema_update(schema: Schema, *, user: User | None = None, **fields: Any) -> Schema:
    if schema.status == SchemaStatus.ARCHIVED and set(fields) - {"name", "description"}:
        raise SchemaStateError("An archived schema cannot be edited; duplicate it instead.")
    definition_changed = "definition" in fields and fields["definition"] != schema.definition
    if definition_changed:
        # An active schema runs on its triggers, so what it runs must stay complete.
        definition_validate(fields["definition"], complete=schema.status == SchemaStatus.ACTIVE)
    for key, value in fields.items():
        setattr(schema, key, value)
    if definition_changed:
        schema.version += 1
    schema.save()
    if definition_changed:
        _store_version(schema, user)
        if schema.status == SchemaStatus.ACTIVE:
            schedules.schedule_sync(schema)
    return schema


def schema_current_version(schema: Schema) -> SchemaVersion:
    return SchemaVersion.objects.get(schema=schema, version=schema.version)


@transaction.atomic
def schema_activate(schema: Schema) -> Schema:
    if schema.status == SchemaStatus.ARCHIVED:
        raise SchemaStateError("An archived schema cannot be activated; duplicate it instead.")
    definition_validate(schema.definition)
    schema_credentials_check(schema)
    schema.status = SchemaStatus.ACTIVE
    schema.save(update_fields=["status", "updated_at"])
    schedules.schedule_sync(schema)
    return schema


@transaction.atomic
def schema_archive(schema: Schema) -> Schema:
    schema.status = SchemaStatus.ARCHIVED
    schema.save(update_fields=["status", "updated_at"])
    schedules.schedule_sync(schema)
    return schema


@transaction.atomic
def schema_duplicate(schema: Schema, *, user: User | None) -> Schema:
    return schema_create(
        name=f"{schema.name} (copy)"[:255],
        description=schema.description,
        definition=schema.definition,
        created_by=user,
    )


MAX_SECRET_GRACE_SECONDS = 7 * 24 * 3600


def schema_rotate_secret(schema: Schema, *, grace_seconds: int = 0) -> Schema:
    """A new webhook secret. With `grace_seconds` the old one stays valid that long (senders can
    switch over); without, it stops working at once (use that when it leaked)."""
    if not 0 <= grace_seconds <= MAX_SECRET_GRACE_SECONDS:
        raise ValueError(f"grace_seconds must be between 0 and {MAX_SECRET_GRACE_SECONDS}")
    if grace_seconds:
        schema.webhook_secret_previous = schema.webhook_secret
        schema.webhook_secret_previous_expires_at = timezone.now() + timedelta(seconds=grace_seconds)
    else:
        schema.webhook_secret_previous = ""
        schema.webhook_secret_previous_expires_at = None
    schema.webhook_secret = new_webhook_secret()
    schema.save(
        update_fields=["webhook_secret", "webhook_secret_previous", "webhook_secret_previous_expires_at", "updated_at"]
    )
    return schema


def schema_webhook_secrets(schema: Schema) -> list[str]:
    """The secrets a webhook delivery may use now: the current one, and the previous one during
    its grace period."""
    secrets = [schema.webhook_secret]
    expires = schema.webhook_secret_previous_expires_at
    if schema.webhook_secret_previous and expires is not None and expires > timezone.now():
        secrets.append(schema.webhook_secret_previous)
    return secrets
