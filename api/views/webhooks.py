"""Webhook trigger: `POST /api/hooks/{schema_id}/` starts an execution of an active schema.

Authentication is per schema, by its secret (`X-Schema-Secret`) or an HMAC-SHA256 signature of
`"<timestamp>.<raw body>"` (`X-Schema-Signature: t=<unix>,v1=<hex>`, accepted within a 5-minute
window so a captured request cannot be replayed later). Comparisons are constant-time. A schema
that does not exist or is not active answers 404 either way, so ids of drafts do not leak.
`Idempotency-Key` makes a repeated delivery return the first execution. `?wait=<s>` (≤ 30) holds
the request until the execution finishes and answers 200 with it, else 202.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from django.http import HttpRequest
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.exceptions import PayloadTooLarge
from api.serializers import ErrorSerializer, ExecutionSerializer
from api.throttling import WebhookRateThrottle
from executions_app.models import Execution, TriggerType
from executions_app.services import execution_create
from schemas_app.models import Schema, SchemaStatus

SIGNATURE_TOLERANCE_SECONDS = 300
MAX_WAIT_SECONDS = 30
POLL_INTERVAL_SECONDS = 0.05


def signature_for(secret: str, timestamp: int | str, body: bytes) -> str:
    """The `v1` value a sender must put in `X-Schema-Signature` (documented for clients)."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _check_signature(secret: str, header: str, body: bytes) -> None:
    parts = dict(item.strip().split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise exceptions.AuthenticationFailed("X-Schema-Signature must look like 't=<unix>,v1=<hex>'.") from exc
    if abs(time.time() - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise exceptions.AuthenticationFailed("The signature timestamp is outside the 5-minute window.")
    if not hmac.compare_digest(signature_for(secret, timestamp, body), given):
        raise exceptions.AuthenticationFailed("The signature does not match.")


def authenticate_webhook(schema: Schema, request: HttpRequest, body: bytes) -> None:
    signature = request.headers.get("X-Schema-Signature")
    if signature:
        _check_signature(schema.webhook_secret, signature, body)
        return
    secret = request.headers.get("X-Schema-Secret")
    if secret is None:
        raise exceptions.NotAuthenticated("Send X-Schema-Secret or X-Schema-Signature.")
    if not hmac.compare_digest(secret.encode(), schema.webhook_secret.encode()):
        raise exceptions.AuthenticationFailed("The webhook secret is wrong.")


class RawBodyParser(BaseParser):
    """Keep the raw bytes (the signature covers them); JSON is decoded in the view."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> bytes:
        return stream.read() if stream is not None else b""


class WebhookView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes = [WebhookRateThrottle]
    parser_classes = [RawBodyParser]

    def get_authenticate_header(self, request: Request) -> str:
        # A 401 (not 403) with a challenge naming how to authenticate.
        return 'Schema-Webhook realm="api", headers="X-Schema-Secret X-Schema-Signature"'

    @extend_schema(
        request={"application/json": {"type": "object"}},
        parameters=[
            OpenApiParameter("wait", int, description="Seconds (≤ 30) to wait for the result."),
            OpenApiParameter("Idempotency-Key", str, location=OpenApiParameter.HEADER, required=False),
            OpenApiParameter("X-Schema-Secret", str, location=OpenApiParameter.HEADER, required=False),
            OpenApiParameter("X-Schema-Signature", str, location=OpenApiParameter.HEADER, required=False),
        ],
        responses={
            200: ExecutionSerializer,
            202: ExecutionSerializer,
            400: ErrorSerializer,
            401: ErrorSerializer,
            404: ErrorSerializer,
        },
        tags=["webhooks"],
    )
    def post(self, request: Request, schema_id: Any) -> Response:
        schema = Schema.objects.filter(pk=schema_id, status=SchemaStatus.ACTIVE).first()
        if schema is None:
            raise exceptions.NotFound("No active schema with this id.")
        body = request.data if isinstance(request.data, bytes) else b""
        authenticate_webhook(schema, request._request, body)
        payload = self._decode(body)
        wait = self._wait_seconds(request)
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and len(key) > 255:
            raise exceptions.ValidationError({"Idempotency-Key": ["At most 255 characters."]})
        execution, _ = execution_create(
            schema=schema,
            trigger_type=TriggerType.WEBHOOK,
            payload=payload,
            idempotency_key=key,
            request_id=getattr(request._request, "request_id", ""),
        )
        execution = self._await(execution, wait) if wait else execution
        code = status.HTTP_200_OK if wait and execution.is_finished else status.HTTP_202_ACCEPTED
        execution = Execution.objects.select_related("schema", "schema_version", "state").get(pk=execution.pk)
        return Response(ExecutionSerializer(execution).data, status=code)

    @staticmethod
    def _decode(body: bytes) -> Any:
        if not body.strip():
            return {}
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise exceptions.ParseError(f"The body is not valid JSON: {exc}") from exc

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

    @staticmethod
    def _await(execution: Execution, seconds: float) -> Execution:
        deadline = time.monotonic() + seconds
        while True:
            current = Execution.objects.only("id", "status").get(pk=execution.pk)
            if current.is_finished or time.monotonic() >= deadline:
                return current
            time.sleep(POLL_INTERVAL_SECONDS)


__all__ = ["PayloadTooLarge", "WebhookView", "signature_for"]
