"""Serializers: the JSON shapes of docs/contracts.md. Thin — writes go through services."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from engine.control import open_waits
from engine.errors import public_step_error, public_step_output
from engine.graph import node_name
from engine.store import waiting_info
from executions_app.models import FINISHED_STATUSES, Execution, ExecutionStep, TriggerType
from executions_app.selectors import parent_definition, resumed_waits
from schemas_app.models import Schema, SchemaStatus, SchemaVersion
from schemas_app.services import MAX_SECRET_GRACE_SECONDS
from schemas_app.validation import definition_problems


class StrictCharField(serializers.CharField):
    """A string field that takes only JSON strings: DRF's CharField turns `310877` into
    "310877", while the OpenAPI document (and the editor's types) say string."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class ErrorItemSerializer(serializers.Serializer):  # type: ignore[type-arg]
    path = serializers.CharField(allow_null=True)
    node_id = serializers.CharField(allow_null=True, required=False)
    edge_id = serializers.CharField(allow_null=True, required=False)
    message = serializers.CharField()
    incomplete = serializers.BooleanField(
        required=False,
        help_text="True when the problem only marks the draft unfinished (it may be saved so, but not activated "
        "or run); false when the definition is malformed.",
    )


class ErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    type = serializers.CharField()
    detail = serializers.CharField()
    errors = ErrorItemSerializer(many=True)


class UserSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField(read_only=True)
    email = serializers.EmailField(read_only=True)
    is_staff = serializers.BooleanField(read_only=True)


class SessionSerializer(serializers.Serializer):  # type: ignore[type-arg]
    authenticated = serializers.BooleanField(read_only=True, help_text="Whether the request is signed in.")
    user = UserSerializer(read_only=True, allow_null=True, help_text="The signed-in user (null: nobody).")


class LoginSerializer(serializers.Serializer):  # type: ignore[type-arg]
    email = serializers.EmailField()
    password = StrictCharField(max_length=256, style={"input_type": "password"})


class SchemaSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
    }
    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True)
    definition = serializers.JSONField()
    webhook_url = serializers.SerializerMethodField()
    problems = serializers.SerializerMethodField(
        help_text="What is left to finish before the schema can be activated or run; [] when it is complete. "
        "A draft is saved with these, an active schema never has any."
    )

    class Meta:
        model = Schema
        fields = [
            "id",
            "name",
            "description",
            "definition",
            "status",
            "version",
            "created_by",
            "created_at",
            "updated_at",
            "webhook_url",
            "webhook_secret",
            "webhook_secret_previous_expires_at",
            "problems",
            "paused_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "version",
            "created_by",
            "created_at",
            "updated_at",
            "webhook_secret",
            "webhook_secret_previous_expires_at",
            "paused_at",
        ]
        extra_kwargs = {
            "description": {"required": False, "allow_blank": True},
            "paused_at": {"help_text": "Set while the schema is paused (it starts no new executions); null otherwise."},
        }

    @extend_schema_field(serializers.URLField())
    def get_webhook_url(self, obj: Schema) -> str:
        path = reverse("webhook", kwargs={"schema_id": obj.id})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    @extend_schema_field(ErrorItemSerializer(many=True))
    def get_problems(self, obj: Schema) -> list[dict[str, Any]]:
        return definition_problems(obj.definition)

    def validate_definition(self, value: Any) -> Any:
        # Structural problems are reported by the engine's validator with exact locations (400).
        return value


class SchemaListSerializer(SchemaSerializer):
    class Meta(SchemaSerializer.Meta):
        fields = [
            f
            for f in SchemaSerializer.Meta.fields
            if f not in ("definition", "webhook_secret", "webhook_secret_previous_expires_at", "problems")
        ]


class DrainStatusSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """A paused schema's progress towards drained (executions_app/pausing.py)."""

    paused = serializers.BooleanField()
    paused_at = serializers.DateTimeField(allow_null=True)
    running = serializers.IntegerField(help_text="Unfinished executions that will still run (accepted before).")
    held = serializers.IntegerField(help_text="Executions accepted while paused, started when the schema is resumed.")
    drained = serializers.BooleanField(help_text="Paused and nothing running.")


class SchemaVersionSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    created_by = serializers.SlugRelatedField(slug_field="email", read_only=True, allow_null=True)

    class Meta:
        model = SchemaVersion
        fields = ["version", "definition", "created_at", "created_by"]


class ValidateRequestSerializer(serializers.Serializer):  # type: ignore[type-arg]
    definition = serializers.JSONField(required=False, allow_null=True)  # null: reported as invalid


class ValidateResponseSerializer(serializers.Serializer):  # type: ignore[type-arg]
    valid = serializers.BooleanField()
    errors = ErrorItemSerializer(many=True)


class PayloadSerializer(serializers.Serializer):  # type: ignore[type-arg]
    payload = serializers.JSONField(required=False, default=dict, allow_null=True)

    def validate_payload(self, value: Any) -> Any:
        return {} if value is None else value


class ResumeSerializer(PayloadSerializer):
    node_id = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        max_length=255,
        help_text="The wait node to resume when several branches wait (optional when only one does).",
    )


class RotateSecretSerializer(serializers.Serializer):  # type: ignore[type-arg]
    grace_seconds = serializers.IntegerField(
        min_value=0,
        max_value=MAX_SECRET_GRACE_SECONDS,
        default=0,
        help_text="Keep accepting the previous secret this long (0: it stops working at once).",
    )


class RerunSerializer(serializers.Serializer):  # type: ignore[type-arg]
    version = serializers.ChoiceField(choices=["pinned", "current"], default="pinned")


class ChildProgressSerializer(serializers.Serializer):  # type: ignore[type-arg]
    total = serializers.IntegerField()
    started = serializers.IntegerField()
    finished = serializers.IntegerField()
    failed = serializers.IntegerField()


class WaitingSerializer(serializers.Serializer):  # type: ignore[type-arg]
    node_id = serializers.CharField(allow_null=True)
    node_name = serializers.CharField(
        allow_null=True, help_text="The node's name in the execution's pinned definition (null: it has none)."
    )
    kind = serializers.CharField(help_text="delay | wait | retry | children (a call_schema or for_each node)")
    resume_at = serializers.DateTimeField(allow_null=True)
    progress = ChildProgressSerializer(required=False, help_text="kind children: how far its child executions are.")


class ExecutionSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    schema_name = serializers.CharField(source="schema.name", read_only=True)
    schema_version = serializers.IntegerField(source="schema_version.version", read_only=True)
    current_node_id = serializers.SerializerMethodField()
    context = serializers.SerializerMethodField()
    waiting = serializers.SerializerMethodField()
    queued = serializers.SerializerMethodField()
    parent_node_name = serializers.SerializerMethodField()

    class Meta:
        model = Execution
        fields = [
            "id",
            "schema",
            "schema_name",
            "schema_version",
            "status",
            "trigger_type",
            "trigger_payload",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "current_node_id",
            "context",
            "waiting",
            "result",
            "rerun_of",
            "queued",
            "error_of",
            "parent_execution",
            "parent_node_id",
            "parent_node_name",
            "priority",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_parent_node_name(self, obj: Execution) -> str | None:
        """The name of the node that started this child execution, in the parent's pinned definition."""
        if not obj.parent_execution_id:
            return None
        return node_name(parent_definition(obj), obj.parent_node_id)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_queued(self, obj: Execution) -> str | None:
        """Why an unfinished execution waits for a concurrency slot ("queued: 5 running, limit 5")."""
        return obj.queued_reason or None if obj.status not in FINISHED_STATUSES else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_current_node_id(self, obj: Execution) -> str | None:
        state = getattr(obj, "state", None)
        return state.current_node_id if state else None

    @extend_schema_field(serializers.JSONField())
    def get_context(self, obj: Execution) -> Any:
        state = getattr(obj, "state", None)
        return state.context if state else {}

    @extend_schema_field(WaitingSerializer(many=True))
    def get_waiting(self, obj: Execution) -> list[dict[str, Any]]:
        """Each paused branch (node, kind, timer) while the execution is unfinished; [] otherwise."""
        state = getattr(obj, "state", None)
        if state is None or obj.status in FINISHED_STATUSES:
            return []
        checkpoint = state.checkpoint or {}
        entries = waiting_info(checkpoint, resumed_waits(obj) if open_waits(checkpoint) else ())
        definition = obj.schema_version.definition if entries else None
        return [
            {
                **entry,
                "node_name": node_name(definition, entry["node_id"]),
                "resume_at": _datetime(datetime.fromisoformat(entry["resume_at"])) if entry["resume_at"] else None,
            }
            for entry in entries
        ]


class WebhookExecutionSerializer(ExecutionSerializer):
    """What a webhook sender (a third party holding the schema's secret) gets back: the execution
    without `context` — the schema's variables may hold credentials."""

    class Meta(ExecutionSerializer.Meta):
        fields = [f for f in ExecutionSerializer.Meta.fields if f not in ("context", "parent_node_name")]
        read_only_fields = fields


class ExecutionListSerializer(ExecutionSerializer):
    class Meta(ExecutionSerializer.Meta):
        # No parent node name: it would read each child's parent definition (the detail has it).
        fields = [
            f
            for f in ExecutionSerializer.Meta.fields
            if f not in ("context", "trigger_payload", "result", "parent_node_name")
        ]
        read_only_fields = fields


class ExecutionStepSerializer(serializers.ModelSerializer):  # type: ignore[type-arg]
    duration_ms = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = ExecutionStep
        fields = [
            "id",
            "seq",
            "node_id",
            "node_type",
            "status",
            "attempt",
            "input",
            "output",
            "error",
            "started_at",
            "finished_at",
            "duration_ms",
        ]
        read_only_fields = fields

    def to_representation(self, instance: ExecutionStep) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not request.user.is_staff:
            # Tracebacks are for staff only (docs/contracts.md): others get the message and its data.
            data["output"] = public_step_output(data["output"])
            data["error"] = public_step_error(data["error"])
        return data


class ExecuteRequestSerializer(PayloadSerializer):
    priority = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="0-9, higher starts first; at most the schema's settings.max_call_priority (default: its priority).",
    )


__all__ = [
    "ExecutionListSerializer",
    "ExecutionSerializer",
    "ExecutionStepSerializer",
    "SchemaListSerializer",
    "SchemaSerializer",
    "SchemaStatus",
    "SchemaVersionSerializer",
    "TriggerType",
]


_DATETIME = serializers.DateTimeField()


def webhook_execution_data(execution: Execution) -> dict[str, Any]:
    """`WebhookExecutionSerializer(execution).data` for an execution `execution_create` has just
    created (its schema, pinned version and state are the objects written), without building a
    ModelSerializer per request: same keys, same order, same value formats (tests compare both)."""
    state = execution.state
    return {
        "id": str(execution.id),
        "schema": execution.schema_id,
        "schema_name": str(execution.schema.name),
        "schema_version": int(execution.schema_version.version),
        "status": str(execution.status),
        "trigger_type": str(execution.trigger_type),
        "trigger_payload": execution.trigger_payload,
        "created_at": _datetime(execution.created_at),
        "started_at": _datetime(execution.started_at),
        "finished_at": _datetime(execution.finished_at),
        "error": None if execution.error is None else str(execution.error),
        "current_node_id": state.current_node_id,
        "waiting": _waiting(execution),
        "result": execution.result,
        "rerun_of": execution.rerun_of_id,
        "queued": execution.queued_reason or None,  # held for a paused schema; else decided by the worker
        "error_of": execution.error_of_id,
        "parent_execution": execution.parent_execution_id,
        "parent_node_id": execution.parent_node_id,
        "priority": execution.priority,
    }


def _datetime(value: Any) -> Any:
    return None if value is None else _DATETIME.to_representation(value)


def _waiting(execution: Execution) -> Any:
    return WebhookExecutionSerializer().get_waiting(execution)
