"""Execution services: creating executions from triggers and the operator actions on them.

Creation writes the execution, its initial state and pins the schema version in one transaction,
then publishes the run message on commit (DESIGN.md "Execution semantics").
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from accounts.models import User
from engine.dispatch import publish_execution
from schemas_app.models import Schema, SchemaVersion

from .models import Execution, ExecutionState, TriggerType


def _publish_on_commit(execution: Execution) -> None:
    execution_id, request_id = str(execution.id), execution.request_id
    transaction.on_commit(lambda: publish_execution(execution_id, request_id=request_id))


def execution_create(
    *,
    schema: Schema,
    trigger_type: TriggerType | str,
    payload: Any = None,
    created_by: User | None = None,
    idempotency_key: str | None = None,
    request_id: str = "",
    version: SchemaVersion | None = None,
    rerun_of: Execution | None = None,
) -> tuple[Execution, bool]:
    """Create and enqueue an execution. Returns `(execution, created)`; with an idempotency key
    already used for this schema, the first execution is returned and nothing new is created."""
    if idempotency_key:
        existing = Execution.objects.filter(schema=schema, idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing, False
    pinned = version or SchemaVersion.objects.get(schema=schema, version=schema.version)
    try:
        with transaction.atomic():
            execution = Execution.objects.create(
                schema=schema,
                schema_version=pinned,
                trigger_type=trigger_type,
                trigger_payload=payload,
                created_by=created_by,
                idempotency_key=idempotency_key or None,
                request_id=request_id,
                rerun_of=rerun_of,
            )
            ExecutionState.objects.create(
                execution=execution, context=dict(pinned.definition.get("variables") or {})
            )
            _publish_on_commit(execution)
    except IntegrityError:
        if idempotency_key:  # a concurrent delivery with the same key won the race
            return Execution.objects.get(schema=schema, idempotency_key=idempotency_key), False
        raise
    return execution, True
