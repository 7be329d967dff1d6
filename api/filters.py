"""Query filters for list endpoints (django-filter)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions

from executions_app.models import FINISHED_STATUSES, Execution, ExecutionStatus, TriggerType
from schemas_app.models import Schema, SchemaStatus

UNFINISHED_STATUSES = [s for s in ExecutionStatus.values if s not in FINISHED_STATUSES]
NO_NUL_PATTERN = "^[^\\u0000]*$"  # a string without the NUL character (ECMA-262 and Python regex)


class SchemaFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=SchemaStatus.choices)
    search = django_filters.CharFilter(method="filter_search", max_length=255)

    class Meta:
        model = Schema
        fields = ["status", "search"]

    # Django's form CharField refuses the NUL character (PostgreSQL cannot hold it): a 400.
    @extend_schema_field(
        {
            "type": "string",
            "maxLength": 255,
            "pattern": NO_NUL_PATTERN,
            "description": "Part of the name or description, case-insensitive.",
        }
    )
    def filter_search(self, queryset: QuerySet[Schema], name: str, value: str) -> QuerySet[Schema]:
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    """ISO 8601 date-time, compared in UTC. ISO allows offsets up to ±23:59 but PostgreSQL refuses
    anything beyond ±15:59 (a 500 before); an instant out of range once in UTC is a 400."""

    def filter(self, qs: QuerySet[Any], value: datetime | None) -> QuerySet[Any]:
        if value is not None and value.tzinfo is not None:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                raise exceptions.ValidationError({self.field_name: ["Date-time out of range."]}) from None
        return super().filter(qs, value)


class ExecutionFilter(django_filters.FilterSet):
    schema = django_filters.UUIDFilter(field_name="schema_id")
    status = django_filters.ChoiceFilter(choices=ExecutionStatus.choices)
    trigger_type = django_filters.ChoiceFilter(choices=TriggerType.choices)
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")
    parent = django_filters.UUIDFilter(field_name="parent_execution_id", help_text="Sub-schema runs this one started.")
    # A choice, not a BooleanFilter: that one ignores a value it cannot read (?queued=maybe lists all).
    queued = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_queued",
        help_text="true: unfinished and waiting for a concurrency slot; false: the others.",
    )
    error_of = django_filters.UUIDFilter(
        field_name="error_of_id", help_text="Error-schema runs started by this failure."
    )

    class Meta:
        model = Execution
        fields = ["schema", "status", "trigger_type", "created_after", "created_before", "parent", "queued", "error_of"]

    def filter_queued(self, queryset: QuerySet[Execution], name: str, value: str) -> QuerySet[Execution]:
        waiting = Q(status__in=UNFINISHED_STATUSES) & ~Q(queued_reason="")
        return queryset.filter(waiting) if value == "true" else queryset.exclude(waiting)
