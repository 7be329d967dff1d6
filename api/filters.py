"""Query filters for list endpoints (django-filter)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from executions_app.models import Execution, ExecutionStatus, TriggerType
from schemas_app.models import Schema, SchemaStatus


class SchemaFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=SchemaStatus.choices)
    search = django_filters.CharFilter(method="filter_search", max_length=255)

    class Meta:
        model = Schema
        fields = ["status", "search"]

    def filter_search(self, queryset: QuerySet[Schema], name: str, value: str) -> QuerySet[Schema]:
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


class ExecutionFilter(django_filters.FilterSet):
    schema = django_filters.UUIDFilter(field_name="schema_id")
    status = django_filters.ChoiceFilter(choices=ExecutionStatus.choices)
    trigger_type = django_filters.ChoiceFilter(choices=TriggerType.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Execution
        fields = ["schema", "status", "trigger_type", "created_after", "created_before"]
