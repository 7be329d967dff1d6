"""Schemas: CRUD plus validate / activate / archive / duplicate / rotate-secret / versions (restore) / execute.

Users see and change their own schemas (staff see all); someone else's schema is a 404, not a 403,
so ids do not leak. Every write goes through `schemas_app.services`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import ProtectedError, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from api.exceptions import Conflict, DefinitionInvalid, check_payload_size
from api.filters import SchemaFilter
from api.idempotency import HEADER, idempotency_key, require_same_request, scoped_key
from api.serializers import (
    DrainStatusSerializer,
    ErrorSerializer,
    ExecuteRequestSerializer,
    ExecutionSerializer,
    RotateSecretSerializer,
    SchemaListSerializer,
    SchemaSerializer,
    SchemaVersionSerializer,
    ValidateRequestSerializer,
    ValidateResponseSerializer,
)
from api.views.owned import OwnedViewSet
from executions_app.models import TriggerType
from executions_app.pausing import SchemaPaused, schema_drain, schema_drain_status, schema_pause, schema_resume
from executions_app.services import execution_create, schema_delete
from schemas_app import services
from schemas_app.models import Schema, SchemaStatus
from schemas_app.selectors import schemas_visible_to
from schemas_app.validation import credential_problems, definition_problems

_errors = {400: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer}


def _reason(problems: list[dict[str, Any]]) -> str:
    if problems and all(str(p.get("message", "")).startswith("There is no credential named") for p in problems):
        return "it names missing credentials."
    return "its definition is invalid."


class SchemaViewSet(OwnedViewSet):
    model = Schema
    filterset_class = SchemaFilter
    lookup_value_converter = "uuid"

    def visible_to(self, user: Any) -> QuerySet[Schema]:
        return schemas_visible_to(user)

    def get_serializer_class(self) -> type[BaseSerializer]:  # type: ignore[type-arg]
        return SchemaListSerializer if self.action == "list" else SchemaSerializer

    def perform_create(self, serializer: BaseSerializer) -> None:  # type: ignore[type-arg]
        try:
            serializer.instance = services.schema_create(created_by=self.request.user, **serializer.validated_data)  # type: ignore[arg-type]
        except services.DefinitionError as exc:
            raise DefinitionInvalid(exc.problems) from exc

    def perform_update(self, serializer: BaseSerializer) -> None:  # type: ignore[type-arg]
        try:
            serializer.instance = services.schema_update(
                serializer.instance,  # type: ignore[arg-type]
                user=self.request.user,  # type: ignore[arg-type]
                **serializer.validated_data,  # type: ignore[arg-type]
            )
        except services.DefinitionError as exc:
            if serializer.instance.status == SchemaStatus.ACTIVE:  # type: ignore[union-attr]
                detail = "Not saved: this schema is active, so a change must be complete (or edit a copy)."
                raise DefinitionInvalid(exc.problems, detail) from exc
            raise DefinitionInvalid(exc.problems) from exc
        except services.SchemaStateError as exc:
            raise Conflict(str(exc)) from exc

    def perform_destroy(self, instance: Schema) -> None:
        try:
            schema_delete(instance)
        except services.SchemaStateError as exc:
            raise Conflict(str(exc)) from exc
        except ProtectedError as exc:  # an execution was created while deleting
            raise Conflict("The schema gained an execution while being deleted; try again.") from exc

    # An archived schema keeps its definition: PUT, and PATCH with a definition, are a 409.
    @extend_schema(responses={200: SchemaSerializer, **_errors})
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().update(request, *args, **kwargs)

    @extend_schema(responses={200: SchemaSerializer, **_errors})
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().partial_update(request, *args, **kwargs)

    @extend_schema(responses={204: None, 404: ErrorSerializer, 409: ErrorSerializer})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().destroy(request, *args, **kwargs)

    def _state_action(self, func: Any) -> Response:
        schema = self.get_object()
        try:
            schema = func(schema)
        except services.DefinitionError as exc:
            raise DefinitionInvalid(exc.problems, "The schema cannot be activated: " + _reason(exc.problems)) from exc
        except services.SchemaStateError as exc:
            raise Conflict(str(exc)) from exc
        return Response(SchemaSerializer(schema, context=self.get_serializer_context()).data)

    @extend_schema(request=ValidateRequestSerializer, responses={200: ValidateResponseSerializer, **_errors})
    @action(detail=True, methods=["post"])
    def validate(self, request: Request, pk: Any = None) -> Response:
        schema = self.get_object()
        body = ValidateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        definition = body.validated_data["definition"] if "definition" in body.validated_data else schema.definition
        problems = definition_problems(definition) or credential_problems(definition, schema.created_by_id)
        return Response({"valid": not problems, "errors": problems})

    @extend_schema(request=None, responses={200: SchemaSerializer, **_errors})
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: Any = None) -> Response:
        return self._state_action(services.schema_activate)

    @extend_schema(request=None, responses={200: SchemaSerializer, **_errors})
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: Any = None) -> Response:
        return self._state_action(services.schema_archive)

    @extend_schema(request=RotateSecretSerializer, responses={200: SchemaSerializer, **_errors})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: Any = None) -> Response:
        body = RotateSecretSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        grace = body.validated_data["grace_seconds"]
        return self._state_action(lambda schema: services.schema_rotate_secret(schema, grace_seconds=grace))

    @extend_schema(request=None, responses={201: SchemaSerializer, **_errors})
    @action(detail=True, methods=["post"])
    def duplicate(self, request: Request, pk: Any = None) -> Response:
        copy = services.schema_duplicate(self.get_object(), user=request.user)  # type: ignore[arg-type]
        return Response(SchemaSerializer(copy, context=self.get_serializer_context()).data, status=201)

    @extend_schema(responses={200: SchemaVersionSerializer(many=True), **_errors})
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def versions(self, request: Request, pk: Any = None) -> Response:
        schema = self.get_object()
        return Response(SchemaVersionSerializer(schema.versions.select_related("created_by"), many=True).data)

    @extend_schema(request=None, responses={200: SchemaSerializer, **_errors})
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<version>[0-9]{1,9})/restore")
    def restore(self, request: Request, pk: Any = None, version: str = "") -> Response:
        """A new version whose definition is that of `version` (history is never rewritten)."""
        schema = self.get_object()
        was_active = schema.status == SchemaStatus.ACTIVE
        old = schema.versions.filter(version=int(version)).first()
        if old is None:
            raise NotFound(f"This schema has no version {version}.")
        try:
            schema = services.schema_update(schema, user=request.user, definition=old.definition)  # type: ignore[arg-type]
        except services.DefinitionError as exc:
            detail = (
                f"Version {version} is unfinished and this schema is active: restore it on a copy."
                if was_active
                else f"Version {version} cannot be restored: its definition is no longer valid."
            )
            raise DefinitionInvalid(exc.problems, detail) from exc
        except services.SchemaStateError as exc:
            raise Conflict(str(exc)) from exc
        return Response(SchemaSerializer(schema, context=self.get_serializer_context()).data)

    @extend_schema(
        request=ExecuteRequestSerializer,
        parameters=[OpenApiParameter(HEADER, str, location=OpenApiParameter.HEADER, required=False)],
        responses={202: ExecutionSerializer, **_errors},
    )
    @action(detail=True, methods=["post"])
    def execute(self, request: Request, pk: Any = None) -> Response:
        schema = self.get_object()
        if schema.status == SchemaStatus.ARCHIVED:
            raise Conflict("An archived schema cannot be run.")
        body = ExecuteRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        check_payload_size(body.validated_data.get("payload", {}))
        try:
            services.schema_check_runnable(schema)
        except services.DefinitionError as exc:
            raise DefinitionInvalid(exc.problems, "The schema cannot run until it is finished.") from exc
        try:
            services.schema_credentials_check(schema)
        except services.DefinitionError as exc:
            raise DefinitionInvalid(exc.problems, "The schema cannot be run: it names missing credentials.") from exc
        payload = body.validated_data.get("payload", {})
        try:
            execution, created = execution_create(
                schema=schema,
                trigger_type=TriggerType.MANUAL,
                payload=payload,
                created_by=request.user,  # type: ignore[arg-type]
                idempotency_key=scoped_key("execute", request.user, idempotency_key(request)),
                request_id=getattr(request._request, "request_id", ""),
                refuse_when_paused=True,
                priority=body.validated_data.get("priority"),
            )
        except SchemaPaused as exc:
            raise Conflict(str(exc)) from exc
        except ValueError as exc:  # a priority above what the schema allows a call
            raise ValidationError({"priority": [str(exc)]}) from exc
        if not created:  # the key's first request: its answer, if this is the same request
            same = execution.trigger_type == TriggerType.MANUAL and execution.trigger_payload == payload
            require_same_request(same and execution.created_by_id == request.user.pk, "payload")
        execution.refresh_from_db()
        return Response(ExecutionSerializer(execution).data, status=status.HTTP_202_ACCEPTED)

    # --- pausing the whole schema (executions_app/pausing.py) ---------------------------------------
    @extend_schema(request=None, responses={200: SchemaSerializer, **_errors})
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: Any = None) -> Response:
        """Start no new executions (cron ticks skipped; webhook and manual calls held, or refused with
        the setting `when_paused: refuse`); the running ones go on."""
        schema = schema_pause(self.get_object())
        return Response(SchemaSerializer(schema, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses={200: SchemaSerializer, **_errors})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: Any = None) -> Response:
        """Start executions again; the ones held while paused start now, oldest first."""
        schema = self.get_object()
        schema_resume(schema)
        return Response(SchemaSerializer(schema, context=self.get_serializer_context()).data)

    @extend_schema(methods=["POST"], request=None, responses={200: DrainStatusSerializer, **_errors})
    @extend_schema(methods=["GET"], responses={200: DrainStatusSerializer, **_errors})
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    def drain(self, request: Request, pk: Any = None) -> Response:
        """POST: pause, and report what is still running; GET: the report (`drained`: nothing left)."""
        schema = self.get_object()
        report = schema_drain(schema) if request.method == "POST" else schema_drain_status(schema)
        return Response(DrainStatusSerializer(report).data)
