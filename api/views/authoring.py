"""Authoring with data, for the editor: the live preview of a `{{ … }}` expression, "Run this
node" (a test run of one node) and "Run to here" (a test run of the nodes up to one); never an
execution.

Both read a schema the user may see (someone else's is a 404) and take their data from a past
execution of that schema (`execution`), from what the caller sends (`scope`: the edited input,
pinned trigger data), or both — the caller's parts win; pinned outputs (`pinned` for the preview,
the draft's `pinned_data` for test runs) stand in for `nodes.<id>.output`. The preview is evaluated by the engine's
sandbox, the same code and limits as a worker, so what it shows is what production computes; an
expression that fails is a 200 with the error in plain words, not a bad request.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.exceptions import check_payload_size
from api.serializers import ErrorSerializer, StrictCharField
from engine.errors import ExpressionError
from engine.expressions import MAX_TEMPLATE_LENGTH, evaluate
from engine.run_to_node import pins_of
from executions_app.models import Execution
from executions_app.node_test_runs import (
    SCOPE_KEYS,
    NodeTestRefused,
    execution_scope,
    merge_scope,
    node_test_run,
    schema_test_walk,
)
from schemas_app.models import Schema
from schemas_app.selectors import schemas_visible_to
from variables_app.selectors import env_of_owner

_errors = {400: ErrorSerializer, 404: ErrorSerializer}


class _ScopeSourceSerializer(serializers.Serializer):  # type: ignore[type-arg]
    node_id = StrictCharField(required=False, allow_null=True, default=None, max_length=255)
    execution = serializers.UUIDField(
        required=False, allow_null=True, default=None, help_text="A past execution of this schema whose data to use."
    )
    scope = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Parts of the scope to use instead: any of `vars`, `input`, `trigger`, `nodes` "
        '(`nodes` maps a node id to `{"output": …}`).',
    )

    pinned = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Pinned outputs of the draft, by node id: they stand in for `nodes.<id>.output`.",
    )

    def validate_pinned(self, value: Any) -> Any:
        if value is not None and not isinstance(value, dict):
            raise ValidationError("Must be an object: node id -> pinned output.")
        check_payload_size(value, "The pinned data")
        return value

    def validate_scope(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise ValidationError("Must be an object with any of: vars, input, trigger, nodes.")
        unknown = sorted(set(value) - set(SCOPE_KEYS))
        if unknown:
            raise ValidationError(f"Unknown part {unknown[0]!r}; the scope has: vars, input, trigger, nodes.")
        for key in ("vars", "nodes"):
            if key in value and not isinstance(value[key], dict):
                raise ValidationError(f"{key!r} must be an object.")
        check_payload_size(value, "The scope")
        return value


class ExpressionPreviewRequestSerializer(_ScopeSourceSerializer):
    expression = StrictCharField(
        allow_blank=True, trim_whitespace=False, max_length=MAX_TEMPLATE_LENGTH, help_text="The field's text."
    )


class ExpressionPreviewSerializer(serializers.Serializer):  # type: ignore[type-arg]
    value = serializers.JSONField(allow_null=True, help_text="The value the expression has (null when it failed).")
    value_type = serializers.ChoiceField(
        choices=["string", "number", "boolean", "null", "object", "array"], help_text="JSON type of `value`."
    )
    error = serializers.CharField(allow_null=True, help_text="Why the expression failed, in plain words; else null.")


class NodeTestRequestSerializer(_ScopeSourceSerializer):
    node_id = StrictCharField(max_length=255)
    definition = serializers.JSONField(
        required=False, allow_null=True, default=None, help_text="The draft to take the node from; else the saved one."
    )
    confirm_side_effects = serializers.BooleanField(
        required=False, default=False, help_text="Required to run a node with side effects (HTTP request)."
    )


class NodeTestRunSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField()
    node_id = serializers.CharField()
    node_type = serializers.CharField()
    status = serializers.ChoiceField(choices=["success", "failed"])
    input = serializers.JSONField(allow_null=True)
    output = serializers.JSONField(allow_null=True)
    port = serializers.CharField(allow_null=True, help_text="The port the node would follow.")
    set_vars = serializers.JSONField(allow_null=True, help_text="Variables the node would set.")
    pause = serializers.JSONField(
        allow_null=True, help_text='`{"kind": "delay"|"wait", "resume_at"}` when it would pause.'
    )
    error = serializers.CharField(allow_null=True)
    duration_ms = serializers.FloatField()
    created_at = serializers.DateTimeField()


def _schema(request: Request, schema_id: Any) -> Schema:
    schema = schemas_visible_to(request.user).filter(pk=schema_id).first()  # type: ignore[arg-type]
    if schema is None:
        raise NotFound("No such schema.")
    return schema


def _execution_of(schema: Schema, execution_id: Any, executions: QuerySet[Execution]) -> Execution:
    """A past execution of this schema, from `executions` (400 at `execution` when there is none)."""
    execution = executions.filter(pk=execution_id, schema=schema).first()
    if execution is None:
        raise ValidationError({"execution": ["There is no execution with this id of this schema."]})
    return execution


def _draft_request(
    request: Request,
    schema_id: Any,
    serializer_class: type[serializers.Serializer],  # type: ignore[type-arg]
) -> tuple[Schema, dict[str, Any], dict[str, Any]]:
    """What a test run starts from: the schema (one the user may see), the validated body and the
    definition to run (the draft sent, else the saved one; size-checked)."""
    schema = _schema(request, schema_id)
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    data = body.validated_data
    definition = data["definition"] if data["definition"] is not None else schema.definition
    check_payload_size(definition, "The definition")
    return schema, data, definition


@contextmanager
def _refusal_as_bad_request() -> Iterator[None]:
    """A test run the service refuses (an unknown node, side effects not confirmed) is a 400 at its field."""
    try:
        yield
    except NodeTestRefused as exc:
        raise ValidationError({exc.field: [str(exc)]}) from None


def _scope(
    request: Request, schema: Schema, data: dict[str, Any], pins: dict[str, Any] | None = None
) -> dict[str, Any]:
    base: dict[str, Any] = {}
    if data["execution"] is not None:
        execution = _execution_of(schema, data["execution"], Execution.objects.select_related("state"))
        base = execution_scope(execution, data["node_id"], staff=bool(request.user.is_staff))
    return merge_scope(base, data["scope"], pins if pins is not None else data["pinned"])


_WHERE = re.compile(r"^field 'expression': ")
_NO_ATTRIBUTE = re.compile(r"^UndefinedError: '(?:dict|list) object' has no attribute '(?P<name>[^']*)'$")
_UNDEFINED = re.compile(r"^UndefinedError: '(?P<name>[^']*)' is undefined$")


def plain_error(message: str) -> str:
    """The engine's message without the field prefix, Jinja's jargon said plainly."""
    message = _WHERE.sub("", message)
    if match := _NO_ATTRIBUTE.match(message):
        return f"{match['name']!r} does not exist in the value before it, so nothing after it can be read."
    if match := _UNDEFINED.match(message):
        return f"{match['name']!r} is not defined; expressions see vars, input, trigger, nodes, execution and env."
    return message[:1].upper() + message[1:]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string"


class ExpressionPreviewView(APIView):
    """`POST /api/schemas/{id}/preview-expression/`: the value of a field's text against run data."""

    @extend_schema(request=ExpressionPreviewRequestSerializer, responses={200: ExpressionPreviewSerializer, **_errors})
    def post(self, request: Request, schema_id: Any) -> Response:
        schema = _schema(request, schema_id)
        body = ExpressionPreviewRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # `env` as a run of this schema sees it: its owner's variables over the global ones.
        scope = {**_scope(request, schema, body.validated_data), "env": env_of_owner(schema.created_by_id)}
        try:
            value = evaluate(body.validated_data["expression"], scope, field="expression")
        except ExpressionError as exc:
            return Response({"value": None, "value_type": "null", "error": plain_error(str(exc))})
        return Response({"value": value, "value_type": _json_type(value), "error": None})


class NodeTestView(APIView):
    """`POST /api/schemas/{id}/test-node/`: run one node of the draft once (a test run)."""

    @extend_schema(request=NodeTestRequestSerializer, responses={201: NodeTestRunSerializer, **_errors})
    def post(self, request: Request, schema_id: Any) -> Response:
        schema, data, definition = _draft_request(request, schema_id, NodeTestRequestSerializer)
        scope = _scope(request, schema, data, pins_of(definition))
        with _refusal_as_bad_request():
            result = node_test_run(
                schema=schema,
                user=request.user,  # type: ignore[arg-type]
                definition=definition,
                node_id=data["node_id"],
                scope=scope,
                confirm_side_effects=data["confirm_side_effects"],
            )
        run, outcome = result.run, result.outcome
        return Response(
            {
                "id": run.id,
                "node_id": run.node_id,
                "node_type": run.node_type,
                "status": run.status,
                "input": run.input,
                "output": run.output,
                "port": run.port,
                "set_vars": outcome.set_vars,
                "pause": outcome.pause,
                "error": run.error,
                "duration_ms": run.duration_ms,
                "created_at": run.created_at,
            },
            status=status.HTTP_201_CREATED,
        )


class RunToNodeRequestSerializer(serializers.Serializer):  # type: ignore[type-arg]
    node_id = StrictCharField(max_length=255, help_text="The node to run up to (it runs too).")
    definition = serializers.JSONField(
        required=False, allow_null=True, default=None, help_text="The draft to run; else the saved definition."
    )
    execution = serializers.UUIDField(
        required=False, allow_null=True, default=None, help_text="A past execution whose trigger payload to start with."
    )
    payload = serializers.JSONField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The trigger payload (over the execution's); a pinned trigger wins.",
    )
    confirm_side_effects = serializers.BooleanField(
        required=False, default=False, help_text="Required when a node on the way has side effects and no pin."
    )


class WalkStepSerializer(serializers.Serializer):  # type: ignore[type-arg]
    id = serializers.UUIDField(
        allow_null=True, help_text="The test run recorded for it (null: pinned, it did not run)."
    )
    node_id = serializers.CharField()
    node_type = serializers.CharField()
    status = serializers.ChoiceField(choices=["success", "failed", "pinned"])
    input = serializers.JSONField(allow_null=True)
    output = serializers.JSONField(allow_null=True)
    port = serializers.CharField(allow_null=True, help_text="The port it took (null: a pin goes along every edge).")
    pause = serializers.JSONField(allow_null=True, help_text="Where it would have paused (it went on at once).")
    error = serializers.CharField(allow_null=True)
    duration_ms = serializers.FloatField()


class RunToNodeSerializer(serializers.Serializer):  # type: ignore[type-arg]
    status = serializers.ChoiceField(
        choices=["success", "failed", "unreached"],
        help_text="success: the node ran (or is pinned); failed: a node on the way failed; "
        "unreached: no branch taken leads to it.",
    )
    node_id = serializers.CharField()
    error = serializers.CharField(allow_null=True)
    vars = serializers.JSONField(help_text="The variables after the last node that ran.")
    steps = WalkStepSerializer(many=True)


class RunToNodeView(APIView):
    """`POST /api/schemas/{id}/run-to-node/`: run the draft from its trigger up to one node (a test run)."""

    @extend_schema(request=RunToNodeRequestSerializer, responses={201: RunToNodeSerializer, **_errors})
    def post(self, request: Request, schema_id: Any) -> Response:
        schema, data, definition = _draft_request(request, schema_id, RunToNodeRequestSerializer)
        check_payload_size(data["payload"], "The payload")
        trigger = data["payload"]
        if trigger is None and data["execution"] is not None:
            trigger = _execution_of(
                schema, data["execution"], Execution.objects.only("trigger_payload")
            ).trigger_payload
        with _refusal_as_bad_request():
            result = schema_test_walk(
                schema=schema,
                user=request.user,  # type: ignore[arg-type]
                definition=definition,
                node_id=data["node_id"],
                trigger=trigger,
                confirm_side_effects=data["confirm_side_effects"],
            )
        walk = result.walk
        steps = [
            {
                "id": result.runs[step.node_id].id if step.node_id in result.runs else None,
                "node_id": step.node_id,
                "node_type": step.node_type,
                "status": step.status,
                "input": step.input,
                "output": step.output,
                "port": step.port,
                "pause": step.pause,
                "error": step.error,
                "duration_ms": step.duration_ms,
            }
            for step in walk.steps
        ]
        return Response(
            {"status": walk.status, "node_id": data["node_id"], "error": walk.error, "vars": walk.vars, "steps": steps},
            status=status.HTTP_201_CREATED,
        )
