"""Admin for operators: executions filtered by status/trigger/schema/date with their steps inline
(read-only history), timers, and the operator actions (cancel, resume, retry, re-run)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from schemas_app.admin import SchemaAdmin, pretty_json
from schemas_app.models import Schema

from . import services
from .models import Execution, ExecutionStep, ExecutionTimer
from .pausing import schema_drain, schema_pause, schema_resume


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ExecutionStepInline(ReadOnlyMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = ExecutionStep
    extra = 0
    fields = ["seq", "node_id", "node_type", "status", "attempt", "started_at", "duration", "error_head"]
    readonly_fields = fields
    ordering = ["seq"]
    show_change_link = True

    @admin.display(description="Duration (ms)")
    def duration(self, obj: ExecutionStep) -> float | None:
        return obj.duration_ms

    @admin.display(description="Error")
    def error_head(self, obj: ExecutionStep) -> str:
        return (obj.error or "").strip().splitlines()[-1][:200] if obj.error else ""


class TimerInline(ReadOnlyMixin, admin.TabularInline):  # type: ignore[type-arg]
    model = ExecutionTimer
    extra = 0
    fields = ["reason", "node_id", "due_at", "status", "fired_at", "lateness_ms"]
    readonly_fields = fields


def _run_action(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Execution],  # type: ignore[type-arg]
    action: str,
) -> None:
    done, refused = 0, []
    for execution in queryset:
        try:
            if action == "rerun":
                services.execution_rerun(execution, use_current=False, created_by=request.user)  # type: ignore[arg-type]
            else:
                getattr(services, f"execution_{action}")(execution)
            done += 1
        except services.ExecutionStateError as exc:
            refused.append(f"{execution.id}: {exc}")
    if done:
        modeladmin.message_user(request, f"{action}: {done} execution(s).", messages.SUCCESS)
    for line in refused:
        modeladmin.message_user(request, line, messages.WARNING)


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["id", "schema", "status", "trigger_type", "created_at", "started_at", "finished_at"]
    list_filter = ["status", "trigger_type", "schema", "created_at"]
    list_select_related = ["schema"]
    search_fields = ["id", "schema__name", "idempotency_key", "request_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False  # no COUNT(*) over millions of rows
    inlines = [ExecutionStepInline, TimerInline]
    readonly_fields = [
        "id",
        "schema",
        "schema_version",
        "status",
        "trigger_type",
        "payload_pretty",
        "result_pretty",
        "state_pretty",
        "error",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "idempotency_key",
        "request_id",
        "lease_owner",
        "lease_expires_at",
        "rerun_of",
        "concurrency_key",
        "slot_held",
        "queued_reason",
        "error_of",
        "parent_execution",
        "parent_node_id",
        "children_links",
    ]
    exclude = ["trigger_payload", "result"]
    actions = ["cancel", "resume", "retry", "rerun"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="Sub-schema runs")
    def children_links(self, obj: Execution) -> str:
        """The executions this one's call_schema / for_each nodes started (the first 50)."""
        children = list(obj.children.order_by("created_at").values_list("pk", "parent_key", "status")[:50])
        if not children:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">{}</a> {}',
            (
                (reverse("admin:executions_app_execution_change", args=[pk]), key, status)
                for pk, key, status in children
            ),
        )

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.method in ("GET", "HEAD") and super().has_change_permission(request, obj)

    @admin.display(description="Trigger payload")
    def payload_pretty(self, obj: Execution) -> str:
        return pretty_json(obj.trigger_payload)

    @admin.display(description="Result")
    def result_pretty(self, obj: Execution) -> str:
        return pretty_json(obj.result)

    @admin.display(description="State (context and checkpoint)")
    def state_pretty(self, obj: Execution) -> str:
        state = getattr(obj, "state", None)
        if state is None:
            return "-"
        return pretty_json(
            {
                "current_node_id": state.current_node_id,
                "context": state.context,
                "wait_kind": state.wait_kind,
                "resume_at": str(state.resume_at or ""),
                "checkpoint": state.checkpoint,
            }
        )

    @admin.action(description="Cancel selected executions")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        _run_action(self, request, queryset, "cancel")

    @admin.action(description="Resume selected paused executions (empty payload)")
    def resume(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        _run_action(self, request, queryset, "resume")

    @admin.action(description="Retry selected failed executions from the failed step")
    def retry(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        _run_action(self, request, queryset, "retry")

    @admin.action(description="Re-run selected executions (same pinned version)")
    def rerun(self, request: HttpRequest, queryset: QuerySet[Execution]) -> None:
        _run_action(self, request, queryset, "rerun")


@admin.register(ExecutionStep)
class ExecutionStepAdmin(ReadOnlyMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["execution", "seq", "node_id", "node_type", "status", "attempt", "started_at"]
    list_filter = ["status", "node_type"]
    search_fields = ["execution__id", "node_id"]
    show_full_result_count = False
    readonly_fields = [
        "execution",
        "seq",
        "node_id",
        "node_type",
        "status",
        "attempt",
        "input_pretty",
        "output_pretty",
        "error",
        "started_at",
        "finished_at",
    ]
    exclude = ["input", "output"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return request.method in ("GET", "HEAD")

    @admin.display(description="Input")
    def input_pretty(self, obj: ExecutionStep) -> str:
        return pretty_json(obj.input)

    @admin.display(description="Output")
    def output_pretty(self, obj: ExecutionStep) -> str:
        return pretty_json(obj.output)


# --- pausing a whole schema: actions on the schema admin (here: schemas_app does not know executions)
class PausingSchemaAdmin(SchemaAdmin):
    list_display = [*SchemaAdmin.list_display, "paused_at"]
    actions = ["pause_schemas", "resume_schemas", "drain_schemas"]

    @admin.action(description="Pause the selected schemas (start nothing new)")
    def pause_schemas(self, request: HttpRequest, queryset: QuerySet[Schema]) -> None:
        for schema in queryset:
            schema_pause(schema)
        self.message_user(request, f"{queryset.count()} schema(s) paused; running executions go on.")

    @admin.action(description="Resume the selected schemas (held executions start)")
    def resume_schemas(self, request: HttpRequest, queryset: QuerySet[Schema]) -> None:
        started = sum(schema_resume(schema) for schema in queryset)
        self.message_user(request, f"{queryset.count()} schema(s) resumed; {started} held execution(s) started.")

    @admin.action(description="Drain the selected schemas (pause, report what is still running)")
    def drain_schemas(self, request: HttpRequest, queryset: QuerySet[Schema]) -> None:
        for schema in queryset:
            report = schema_drain(schema)
            state = "drained" if report["drained"] else f"{report['running']} still running"
            self.message_user(request, f"{schema.name}: paused, {state}, {report['held']} held.", messages.INFO)


admin.site.unregister(Schema)
admin.site.register(Schema, PausingSchemaAdmin)
