"""Query filters for list endpoints (django-filter)."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import django_filters
from django.db.models import DurationField, Exists, ExpressionWrapper, F, OuterRef, Q, QuerySet
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions

from executions_app.models import FINISHED_STATUSES, Execution, ExecutionStatus, ExecutionStep, TriggerType
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


MAX_DURATION_SECONDS = 366 * 24 * 3600


def _duration_filter(help_text: str) -> django_filters.NumberFilter:
    # Typed for the OpenAPI document: a method filter is otherwise `any`, and clients (and the fuzz
    # test) then send `null`, which the NumberFilter refuses.
    schema = {"type": "number", "minimum": 0, "maximum": MAX_DURATION_SECONDS, "description": help_text}
    field = django_filters.NumberFilter(method="filter_duration", min_value=0, help_text=help_text)
    return extend_schema_field(schema)(field)


class ExecutionFilter(django_filters.FilterSet):
    schema = django_filters.UUIDFilter(field_name="schema_id")
    status = django_filters.ChoiceFilter(choices=ExecutionStatus.choices)
    trigger_type = django_filters.ChoiceFilter(choices=TriggerType.choices)
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")
    parent = django_filters.UUIDFilter(field_name="parent_execution_id", help_text="Sub-schema runs this one started.")
    top_level = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_top_level",
        help_text="true: runs no other execution started (a for_each's 1,000 children do not bury them); "
        "false: only sub-schema runs.",
    )
    # A choice, not a BooleanFilter: that one ignores a value it cannot read (?queued=maybe lists all).
    queued = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_queued",
        help_text="true: unfinished and waiting for a concurrency slot; false: the others.",
    )
    error_of = django_filters.UUIDFilter(
        field_name="error_of_id", help_text="Error-schema runs started by this failure."
    )
    # Search (issue 16): `?payload__<path>=` / `?result__<path>=` are read in `filter_queryset`.
    failed_node = django_filters.CharFilter(
        method="filter_failed_node", max_length=255, help_text="Failed executions whose node with this id failed."
    )
    error = django_filters.CharFilter(
        method="filter_error", max_length=200, help_text="Executions whose error contains this text (any case)."
    )
    min_duration = _duration_filter("Finished executions that took at least this many seconds.")
    max_duration = _duration_filter("Finished executions that took at most this many seconds.")

    class Meta:
        model = Execution
        fields = [
            "schema",
            "status",
            "trigger_type",
            "created_after",
            "created_before",
            "parent",
            "top_level",
            "queued",
            "error_of",
            "failed_node",
            "error",
            "min_duration",
            "max_duration",
        ]

    def filter_queryset(self, queryset: QuerySet[Execution]) -> QuerySet[Execution]:
        queryset = super().filter_queryset(queryset)
        for name, value in json_path_filters(self.data):
            queryset = queryset.filter(json_path_equals(name, value))
        return queryset

    def filter_failed_node(self, queryset: QuerySet[Execution], name: str, value: str) -> QuerySet[Execution]:
        steps = ExecutionStep.objects.filter(execution=OuterRef("pk"), node_id=value, status="failed")
        return queryset.filter(Exists(steps), status=ExecutionStatus.FAILED)

    def filter_error(self, queryset: QuerySet[Execution], name: str, value: str) -> QuerySet[Execution]:
        return queryset.filter(error__icontains=value) if value else queryset

    def filter_duration(self, queryset: QuerySet[Execution], name: str, value: Any) -> QuerySet[Execution]:
        if value is None:
            return queryset
        if value > MAX_DURATION_SECONDS:
            raise exceptions.ValidationError({name: [f"At most a year ({MAX_DURATION_SECONDS} seconds)."]})
        took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        queryset = queryset.filter(finished_at__isnull=False, started_at__isnull=False).alias(took=took)
        lookup = "took__gte" if name == "min_duration" else "took__lte"
        return queryset.filter(**{lookup: timedelta(seconds=float(value))})

    def filter_top_level(self, queryset: QuerySet[Execution], name: str, value: str) -> QuerySet[Execution]:
        return queryset.filter(parent_execution_id__isnull=value == "true")

    def filter_queued(self, queryset: QuerySet[Execution], name: str, value: str) -> QuerySet[Execution]:
        waiting = Q(status__in=UNFINISHED_STATUSES) & ~Q(queued_reason="")
        return queryset.filter(waiting) if value == "true" else queryset.exclude(waiting)


_PATH_PART = re.compile(r"[A-Za-z0-9_\-]{1,64}")
MAX_PATH_DEPTH = 5
MAX_JSON_FILTERS = 5


def _finite(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)  # JSON has no NaN or Infinity


def json_path_filters(data: Any) -> list[tuple[str, Any]]:
    """The `payload__…` / `result__…` parameters of a request (at most MAX_JSON_FILTERS)."""
    found = [(name, value) for name, value in data.items() if name.startswith(("payload__", "result__"))]
    if len(found) > MAX_JSON_FILTERS:
        raise exceptions.ValidationError({"payload": [f"At most {MAX_JSON_FILTERS} payload/result filters at once."]})
    return found


def json_path_equals(name: str, raw: Any) -> Q:
    """`payload__customer__id=42`: the trigger payload (or `result__…`: the result) has 42 at
    customer.id — as a number or as the text "42" (a query string cannot tell them apart). JSON
    containment (`@>`), which the GIN indexes on both columns answer. ValidationError (400) in plain
    words for a path or value it cannot take."""
    column, _, path = name.partition("__")
    parts = path.split("__")
    field = "trigger_payload" if column == "payload" else "result"
    if not path or len(parts) > MAX_PATH_DEPTH or not all(_PATH_PART.fullmatch(p) for p in parts):
        raise exceptions.ValidationError(
            {
                name: [
                    f"Filter by a field path of 1 to {MAX_PATH_DEPTH} names (letters, digits, _ or -) joined "
                    f"by __, e.g. ?{column}__customer__id=42."
                ]
            }
        )
    value = raw[-1] if isinstance(raw, list) else raw
    if not isinstance(value, str) or len(value) > 500 or "\x00" in value:
        raise exceptions.ValidationError({name: ["A value of at most 500 characters, without NUL."]})
    candidates: list[Any] = [value]
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value
    if parsed != value and (parsed is None or isinstance(parsed, bool | int) or _finite(parsed)):
        candidates.append(parsed)  # 42, 4.5, true, false, null as JSON values too
    condition = Q()
    for candidate in candidates:
        nested: Any = candidate
        for part in reversed(parts):
            nested = {part: nested}
        condition |= Q(**{f"{field}__contains": nested})
    return condition
