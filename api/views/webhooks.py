"""Webhook trigger: `POST /api/hooks/{schema_id}/` starts an execution of an active webhook schema.

Authentication is per schema, by its secret (`X-Schema-Secret`) or an HMAC signature
(`X-Schema-Signature`): `api/signatures.py`. A schema that does not exist, is not active, or has no
`webhook_trigger` answers 404 — the same answer, before any authentication, so ids of drafts do not
leak. `Idempotency-Key` makes a repeated delivery return the first execution. `?wait=<s>` (≤ 30)
holds the request until the execution finishes and answers 200 with it, else 202 (at most
`SCHEMA_WEBHOOK_MAX_WAITING` requests per API process wait at a time; the others get their 202 at
once). The answer is the execution without its `context` (the variables may hold credentials; the
sender is a third party). Rate limits: per schema and per client IP (`api/throttling.py`).
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.exceptions import Conflict, check_payload_size
from api.idempotency import idempotency_key
from api.parsers import RawBodyParser, decode_json
from api.responses import PublishAfterResponse
from api.serializers import ErrorSerializer, WebhookExecutionSerializer, webhook_execution_data
from api.signatures import authenticate_webhook, replay_guarded
from api.throttling import SharedThrottlesMixin, WebhookIPRateThrottle, WebhookRateThrottle
from config.prepared import Rider
from executions_app.models import Execution, TriggerType
from executions_app.pausing import PAUSED_REASON, SchemaPaused
from executions_app.selectors import execution_await
from executions_app.services import execution_create, execution_publish
from schemas_app.selectors import webhook_schema, webhook_schema_rider

MAX_WAIT_SECONDS = 30
# `?wait` holds a server thread; whoever has a schema's secret could hold them all. At most this many
# requests of one API process wait at a time; the others are answered 202 at once (wait is
# best-effort by contract).
_WAITING = threading.BoundedSemaphore(max(0, int(getattr(settings, "SCHEMA_WEBHOOK_MAX_WAITING", 2))))


class WebhookView(SharedThrottlesMixin, APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes = [WebhookIPRateThrottle, WebhookRateThrottle]
    parser_classes = [RawBodyParser]

    def throttle_rider(self, request: Request) -> Rider | None:
        self._schema_rider = webhook_schema_rider(self.kwargs["schema_id"])
        return self._schema_rider

    def get_authenticate_header(self, request: Request) -> str:
        # A 401 (not 403) with a challenge naming how to authenticate.
        return 'Schema-Webhook realm="api", headers="X-Schema-Secret X-Schema-Signature"'

    @extend_schema(
        request={"application/json": OpenApiTypes.ANY},  # the payload: any JSON value
        parameters=[
            OpenApiParameter(
                "wait",
                {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
                description="Seconds (≤ 30) to wait for the result.",
            ),
            OpenApiParameter(
                "priority",
                {"type": "integer", "minimum": 0, "maximum": 9},
                description="This call's priority (higher starts first), at most settings.max_call_priority.",
            ),
            OpenApiParameter("Idempotency-Key", str, location=OpenApiParameter.HEADER, required=False),
            OpenApiParameter("X-Schema-Secret", str, location=OpenApiParameter.HEADER, required=False),
            OpenApiParameter(
                "X-Schema-Signature",
                str,
                location=OpenApiParameter.HEADER,
                required=False,
                description="t=<unix>,v1=<hex HMAC-SHA256(secret, '<t>.<raw body>')>",
            ),
        ],
        responses={
            200: WebhookExecutionSerializer,
            202: WebhookExecutionSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
            413: ErrorSerializer,
            429: ErrorSerializer,
        },
        tags=["webhooks"],
    )
    def post(self, request: Request, schema_id: Any) -> Response:
        schema = webhook_schema(schema_id, getattr(self, "_schema_rider", None))
        if schema is None:
            raise exceptions.NotFound("No active schema with this id.")
        body = request.data if isinstance(request.data, bytes) else b""
        signature = authenticate_webhook(schema, request._request, body)
        payload = decode_json(body) if body.strip() else {}
        check_payload_size(payload)
        wait = self._wait_seconds(request)
        key = idempotency_key(request)
        created = False

        def create() -> Execution:
            nonlocal created
            execution, created = execution_create(
                schema=schema,
                trigger_type=TriggerType.WEBHOOK,
                payload=payload,
                idempotency_key=key,
                request_id=getattr(request._request, "request_id", ""),
                publish=False,  # below: now if the request waits for the result, else after the answer
                refuse_when_paused=True,
                priority=request.query_params.get("priority"),
            )
            return execution

        try:
            execution = replay_guarded(schema, signature, create)
        except SchemaPaused as exc:  # the schema's setting `when_paused: refuse`
            raise Conflict(str(exc)) from exc
        except ValueError as exc:  # ?priority= outside 0-9 or above the schema's max_call_priority
            raise exceptions.ValidationError({"priority": [str(exc)]}) from exc
        held = execution.queued_reason == PAUSED_REASON  # nothing to wait for until the schema is resumed
        waiting = bool(wait) and not held and _WAITING.acquire(blocking=False)  # no free slot: answer at once
        if created and not waiting:
            # just created: schema, pinned version and state are the objects written (no re-read)
            return PublishAfterResponse(webhook_execution_data(execution), status.HTTP_202_ACCEPTED, execution)
        if waiting:
            try:
                # a new execution is published first; one the broker did not take is not waited for
                if not created or execution_publish(execution):
                    execution = execution_await(execution, wait)
            finally:
                _WAITING.release()
        code = status.HTTP_200_OK if wait and execution.is_finished else status.HTTP_202_ACCEPTED
        execution = Execution.objects.select_related("schema", "schema_version", "state").get(pk=execution.pk)
        return Response(WebhookExecutionSerializer(execution).data, status=code)

    @staticmethod
    def _wait_seconds(request: Request) -> float:
        raw = request.query_params.get("wait")
        if raw is None:
            return 0.0
        try:
            value = float(raw)
        except ValueError as exc:
            raise exceptions.ValidationError({"wait": ["A number of seconds."]}) from exc
        if not 0 <= value <= MAX_WAIT_SECONDS:
            raise exceptions.ValidationError({"wait": [f"Between 0 and {MAX_WAIT_SECONDS} seconds."]})
        return value
