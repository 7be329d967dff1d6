"""Read-side queries for executions and schemas, scoped to what a user may see."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from schemas_app.models import Schema

from .models import Execution, ExecutionStep


def schemas_visible_to(user: User) -> QuerySet[Schema]:
    qs = Schema.objects.select_related("created_by")
    return qs if user.is_staff else qs.filter(created_by=user)


def executions_visible_to(user: User) -> QuerySet[Execution]:
    qs = Execution.objects.select_related("schema", "schema_version", "state")
    return qs if user.is_staff else qs.filter(schema__created_by=user)


def execution_steps(execution: Execution) -> QuerySet[ExecutionStep]:
    return ExecutionStep.objects.filter(execution=execution).order_by("seq")
