"""Admin for operators: schemas with their definition shown readably, and their versions."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from .models import Schema, SchemaVersion


def pretty_json(value: object) -> str:
    return format_html(
        '<pre style="max-height:32em;overflow:auto;white-space:pre-wrap">{}</pre>',
        json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True),
    )


class SchemaVersionInline(admin.TabularInline):  # type: ignore[type-arg]
    model = SchemaVersion
    extra = 0
    can_delete = False
    fields = ["version", "created_at", "created_by"]
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(Schema)
class SchemaAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "status", "version", "node_count", "created_by", "updated_at"]
    list_filter = ["status", "created_at", "updated_at"]
    search_fields = ["name", "description", "id"]
    readonly_fields = ["id", "version", "definition_pretty", "created_at", "updated_at", "created_by"]
    fields = [
        "id",
        "name",
        "description",
        "status",
        "version",
        "definition_pretty",
        "created_by",
        "created_at",
        "updated_at",
    ]
    inlines = [SchemaVersionInline]
    date_hierarchy = "created_at"

    @admin.display(description="Nodes")
    def node_count(self, obj: Schema) -> int:
        nodes = obj.definition.get("nodes") if isinstance(obj.definition, dict) else None
        return len(nodes) if isinstance(nodes, list) else 0

    @admin.display(description="Definition")
    def definition_pretty(self, obj: Schema) -> str:
        return pretty_json(obj.definition)


@admin.register(SchemaVersion)
class SchemaVersionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["schema", "version", "created_at"]
    search_fields = ["schema__name", "schema__id"]
    readonly_fields = ["schema", "version", "definition_pretty", "created_by", "created_at"]
    exclude = ["definition"]

    @admin.display(description="Definition")
    def definition_pretty(self, obj: SchemaVersion) -> str:
        return pretty_json(obj.definition)

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
