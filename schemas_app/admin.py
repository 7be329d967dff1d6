"""Admin for operators: schemas with their definition shown readably, and their versions."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from engine.policies import MAX_CONCURRENCY_LIMIT, MAX_TIMEOUT_SECONDS, SETTINGS_KEY

from .models import Schema, SchemaStatus, SchemaVersion
from .services import DefinitionError, definition_validate, schema_update


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


class SchemaSettingsForm(forms.ModelForm):  # type: ignore[type-arg]
    """The schema with its execution policies (`definition.settings`) as form fields: saving a
    change stores a new version, as an edit in the editor does."""

    max_concurrency = forms.IntegerField(required=False, min_value=1, max_value=MAX_CONCURRENCY_LIMIT)
    concurrency_key = forms.CharField(required=False, max_length=500, help_text="e.g. {{ trigger.customer_id }}")
    hold_slot_while_paused = forms.BooleanField(required=False)
    timeout_seconds = forms.IntegerField(required=False, min_value=1, max_value=MAX_TIMEOUT_SECONDS)
    error_schema = forms.UUIDField(required=False, help_text="Id of a schema of the same owner to start on failure.")
    priority = forms.IntegerField(required=False, min_value=0, max_value=9, help_text="0-9, higher first (5).")
    max_call_priority = forms.IntegerField(
        required=False, min_value=0, max_value=9, help_text="The highest priority one trigger call may ask for."
    )
    when_paused = forms.ChoiceField(
        required=False,
        choices=[("", "queue (default)"), ("queue", "queue"), ("refuse", "refuse")],
        help_text="While the schema is paused: hold webhook and manual calls until it is resumed, or refuse them.",
    )

    class Meta:
        model = Schema
        fields = ["name", "description", "status"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = (self.instance.definition or {}).get(SETTINGS_KEY) if self.instance.pk else None
        for name, value in (current or {}).items():
            if name in self.fields:
                self.initial[name] = value

    def new_settings(self) -> dict[str, Any]:
        data = self.cleaned_data
        settings = {
            name: str(data[name]) if name == "error_schema" else data[name]
            for name in (
                "max_concurrency",
                "concurrency_key",
                "timeout_seconds",
                "error_schema",
                "when_paused",
                "priority",
                "max_call_priority",
            )
            if data.get(name) not in (None, "")
        }
        if data.get("hold_slot_while_paused"):
            settings["hold_slot_while_paused"] = True
        return settings

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        if self.instance.pk and not self.errors:
            definition = {**self.instance.definition, SETTINGS_KEY: self.new_settings()}
            changed = (self.instance.definition.get(SETTINGS_KEY) or {}) != definition[SETTINGS_KEY]
            if changed and self.instance.status == SchemaStatus.ARCHIVED:
                self.add_error(None, "An archived schema cannot be edited; duplicate it instead.")
            try:
                definition_validate(definition, complete=False)
            except DefinitionError as exc:
                for problem in exc.problems:
                    field = problem["path"].removeprefix(f"{SETTINGS_KEY}.")
                    self.add_error(field if field in self.fields else None, problem["message"])
        return cleaned


@admin.register(Schema)
class SchemaAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = SchemaSettingsForm
    list_display = ["name", "status", "version", "node_count", "created_by", "updated_at"]
    list_filter = ["status", "created_at", "updated_at"]
    search_fields = ["name", "description", "id"]
    readonly_fields = ["id", "version", "definition_pretty", "created_at", "updated_at", "created_by", "paused_at"]
    fields = [
        "id",
        "name",
        "description",
        "status",
        "version",
        "definition_pretty",
        "max_concurrency",
        "concurrency_key",
        "hold_slot_while_paused",
        "timeout_seconds",
        "error_schema",
        "when_paused",
        "priority",
        "max_call_priority",
        "paused_at",
        "created_by",
        "created_at",
        "updated_at",
    ]
    inlines = [SchemaVersionInline]
    date_hierarchy = "created_at"

    def save_model(self, request: HttpRequest, obj: Schema, form: Any, change: bool) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        definition = {**obj.definition, SETTINGS_KEY: form.new_settings()}
        if not definition[SETTINGS_KEY]:
            definition.pop(SETTINGS_KEY)
        fields = {name: getattr(obj, name) for name in ("name", "description", "status")}
        schema_update(obj, user=request.user, definition=definition, **fields)  # type: ignore[arg-type]

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
