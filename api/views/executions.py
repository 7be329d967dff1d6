"""Executions: list and detail, the recorded steps, and the operator actions
(cancel, resume with a payload, retry from the failed step, re-run)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from api.exceptions import Conflict, DefinitionInvalid, check_payload_size
from api.filters import ExecutionFilter
from api.idempotency import HEADER, KEY_REUSED, idempotency_key, require_same_request, scoped_key
from api.serializers import (
    ErrorSerializer,
    ExecutionListSerializer,
    ExecutionSerializer,
    ExecutionStepSerializer,
    RerunSerializer,
    ResumeSerializer,
)
from executions_app import services
from executions_app.models import Execution
from executions_app.selectors import execution_steps, executions_visible_to
from schemas_app.services import DefinitionError, schema_check_runnable

_errors = {404: ErrorSerializer, 409: ErrorSerializer}
_key_header = OpenApiParameter(HEADER, str, location=OpenApiParameter.HEADER, required=False)


class ExecutionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):  # type: ignore[type-arg]
    filterset_class = ExecutionFilter

    def get_queryset(self) -> QuerySet[Execution]:
        if getattr(self, "swagger_fake_view", False):  # OpenAPI generation has no user
            return Execution.objects.none()
        return executions_visible_to(self.request.user)  # type: ignore[arg-type]

    def get_serializer_class(self) -> type[BaseSerializer]:  # type: ignore[type-arg]
        return ExecutionListSerializer if self.action == "list" else ExecutionSerializer

    def _respond(self, execution: Execution, code: int = status.HTTP_202_ACCEPTED) -> Response:
        execution = self.get_queryset().get(pk=execution.pk)
        return Response(ExecutionSerializer(execution).data, status=code)

    @extend_schema(responses={200: ExecutionStepSerializer(many=True), **_errors})
    @action(detail=True, methods=["get"], pagination_class=None, filterset_class=None)
    def steps(self, request: Request, pk: Any = None) -> Response:
        steps = execution_steps(self.get_object())
        return Response(ExecutionStepSerializer(steps, many=True, context={"request": request}).data)

    @extend_schema(request=None, responses={202: ExecutionSerializer, **_errors})
    @action(detail=True, methods=["post"], filterset_class=None)
    def cancel(self, request: Request, pk: Any = None) -> Response:
        try:
            return self._respond(services.execution_cancel(self.get_object()))
        except services.ExecutionStateError as exc:
            raise Conflict(str(exc)) from exc

    @extend_schema(request=ResumeSerializer, parameters=[_key_header], responses={202: ExecutionSerializer, **_errors})
    @action(detail=True, methods=["post"], filterset_class=None)
    def resume(self, request: Request, pk: Any = None) -> Response:
        body = ResumeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        check_payload_size(body.validated_data["payload"])
        key = scoped_key("resume", request.user, idempotency_key(request))
        try:
            return self._respond(
                services.execution_resume(
                    self.get_object(),
                    payload=body.validated_data["payload"],
                    node_id=body.validated_data["node_id"],
                    idempotency_key=key,
                )
            )
        except services.ExecutionStateError as exc:
            raise Conflict(str(exc)) from exc
        except services.IdempotencyKeyReused as exc:
            raise Conflict(KEY_REUSED.format(what="execution, payload or node")) from exc

    @extend_schema(request=None, parameters=[_key_header], responses={202: ExecutionSerializer, **_errors})
    @action(detail=True, methods=["post"], filterset_class=None)
    def retry(self, request: Request, pk: Any = None) -> Response:
        key = scoped_key("retry", request.user, idempotency_key(request))
        try:
            return self._respond(services.execution_retry(self.get_object(), idempotency_key=key))
        except services.ExecutionStateError as exc:
            raise Conflict(str(exc)) from exc
        except services.IdempotencyKeyReused as exc:
            raise Conflict(KEY_REUSED.format(what="execution")) from exc

    @extend_schema(
        request=RerunSerializer,
        parameters=[_key_header],
        responses={202: ExecutionSerializer, **_errors},
    )
    @action(detail=True, methods=["post"], filterset_class=None)
    def rerun(self, request: Request, pk: Any = None) -> Response:
        body = RerunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        original = self.get_object()
        use_current = body.validated_data["version"] == "current"
        if use_current:  # the pinned version ran before; the current one may be an unfinished draft
            try:
                schema_check_runnable(original.schema)
            except DefinitionError as exc:
                raise DefinitionInvalid(exc.problems, "The current version cannot run until it is finished.") from exc
        execution = services.execution_rerun(
            original,
            use_current=use_current,
            created_by=request.user,  # type: ignore[arg-type]
            request_id=getattr(request._request, "request_id", ""),
            idempotency_key=scoped_key("rerun", request.user, idempotency_key(request)),
        )
        # With a used key, the rerun it started: the same request re-runs the same execution
        # (on the same version, when the pinned one is asked for).
        same = execution.rerun_of_id == original.pk and execution.created_by_id == request.user.pk
        if same and not use_current:
            same = execution.schema_version_id == original.schema_version_id
        require_same_request(same, "execution or version")
        return self._respond(execution)
