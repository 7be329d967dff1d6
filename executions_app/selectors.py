"""Read-side queries for executions, scoped to what a user may see."""

from __future__ import annotations

import time
from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from schemas_app.models import SchemaVersion

from .models import Execution, ExecutionStep
from .timers import resumes_recorded


def executions_visible_to(user: User) -> QuerySet[Execution]:
    qs = Execution.objects.select_related("schema", "schema_version", "state")
    return qs if user.is_staff else qs.filter(schema__created_by=user)


def parent_definition(execution: Execution) -> Any:
    """The pinned definition of the execution that started `execution` (None for a top-level one)."""
    if not execution.parent_execution_id:
        return None
    versions = SchemaVersion.objects.filter(executions=execution.parent_execution_id)
    return versions.values_list("definition", flat=True).first()


def execution_steps(execution: Execution) -> QuerySet[ExecutionStep]:
    return ExecutionStep.objects.filter(execution=execution).order_by("seq")


def resumed_waits(execution: Execution) -> list[str]:
    """The `wait` nodes resumed through the API whose resume a walk may not have applied yet."""
    return resumes_recorded(execution.pk)


def execution_await(execution: Execution, seconds: float, *, poll_interval: float = 0.05) -> Execution:
    """The execution once it has finished, or as it is after `seconds` (only `id` and `status` loaded)."""
    deadline = time.monotonic() + seconds
    while True:
        current = Execution.objects.only("id", "status").get(pk=execution.pk)
        if current.is_finished or time.monotonic() >= deadline:
            return current
        time.sleep(poll_interval)
