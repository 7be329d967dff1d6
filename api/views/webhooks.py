"""Webhook trigger: `POST /api/hooks/{schema_id}/` starts an execution of an active webhook schema.

Authentication is per schema, by its secret (`X-Schema-Secret`) or — recommended — an HMAC-SHA256
signature of `"<timestamp>.<raw body>"` (`X-Schema-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`):

* the timestamp must be within 5 minutes of our clock, so a captured request is useless later;
* within that window a repeated signature is a replay: it starts nothing and returns the execution
  the first delivery started (the signature is remembered in the shared cache for the window);
* comparisons are constant-time; several `v1` values may be sent (e.g. signed with the old and the
  new secret while rotating), one match is enough;
* after `rotate-secret` with `grace_seconds`, the previous secret is accepted until it expires.

A schema that does not exist, is not active, or has no `webhook_trigger` answers 404 — the same
answer, before any authentication, so ids of drafts do not leak. `Idempotency-Key` makes a repeated
delivery return the first execution. `?wait=<s>` (≤ 30) holds the request until the execution
finishes and answers 200 with it, else 202 (at most `SCHEMA_WEBHOOK_MAX_WAITING` requests per API
process wait at a time; the others get their 202 at once). The answer is the execution without
its `context` (the variables may hold credentials; the sender is a third party). Rate limits: per
schema and per client IP.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.exceptions import PayloadTooLarge, check_payload_size
from api.parsers import decode_json
from api.serializers import ErrorSerializer, WebhookExecutionSerializer
from api.throttling import Rider, SharedThrottlesMixin, WebhookIPRateThrottle, WebhookRateThrottle
from executions_app import sql as hot_sql
from executions_app.models import Execution, TriggerType
from executions_app.services import execution_create, execution_publish
from schemas_app.models import Schema, SchemaStatus
from schemas_app.services import schema_webhook_secrets

SIGNATURE_TOLERANCE_SECONDS = 300
MAX_WAIT_SECONDS = 30
POLL_INTERVAL_SECONDS = 0.05
MAX_SIGNATURE_HEADER = 1024
_REPLAY_PENDING = "pending"
# `?wait` holds a server thread; whoever has a schema's secret could hold them all. At most this many
# requests of one API process wait at a time; the others are answered 202 at once (wait is
# best-effort by contract).
_WAITING = threading.BoundedSemaphore(max(0, int(getattr(settings, "SCHEMA_WEBHOOK_MAX_WAITING", 2))))


def signature_for(secret: str, timestamp: int | str, body: bytes) -> str:
    """The `v1` value a sender must put in `X-Schema-Signature` (documented for clients)."""
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _parse_signature(header: str) -> tuple[int, list[str]]:
    bad = exceptions.AuthenticationFailed("X-Schema-Signature must look like 't=<unix>,v1=<hex>'.")
    if len(header) > MAX_SIGNATURE_HEADER:
        raise bad
    timestamps: list[str] = []
    given: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            timestamps.append(value.strip())
        elif name == "v1":
            given.append(value.strip())
    if len(timestamps) != 1 or not given or not timestamps[0].isascii() or not timestamps[0].isdigit():
        raise bad
    if len(timestamps[0]) > 12:  # far outside any window; also keeps int/float conversion sane
        raise exceptions.AuthenticationFailed("The signature timestamp is outside the 5-minute window.")
    return int(timestamps[0]), given


def check_signature(secrets: list[str], header: str, body: bytes, now: float | None = None) -> str:
    """Verifies `X-Schema-Signature` against any of `secrets`; returns the matching `v1` value."""
    timestamp, given = _parse_signature(header)
    now = time.time() if now is None else now
    if not math.isfinite(now) or abs(now - timestamp) > SIGNATURE_TOLERANCE_SECONDS:
        raise exceptions.AuthenticationFailed("The signature timestamp is outside the 5-minute window.")
    expected = [signature_for(secret, timestamp, body).encode() for secret in secrets]
    matched: str | None = None
    for value in given:
        candidate = value.encode("utf-8", "replace")
        for digest in expected:  # compare with every secret: timing does not tell which one matched
            if hmac.compare_digest(digest, candidate):
                matched = value
    if matched is None:
        raise exceptions.AuthenticationFailed("The signature does not match.")
    return matched


def authenticate_webhook(schema: Schema, request: HttpRequest, body: bytes) -> str | None:
    """Raises 401 unless the request carries a valid secret or signature. Returns the matching
    signature (for replay detection) or None for secret-header authentication."""
    secrets = schema_webhook_secrets(schema)
    signature = request.headers.get("X-Schema-Signature")
    if signature:
        return check_signature(secrets, signature, body)
    secret = request.headers.get("X-Schema-Secret")
    if secret is None:
        raise exceptions.NotAuthenticated("Send X-Schema-Secret or X-Schema-Signature.")
    given = secret.encode("utf-8", "replace")
    ok = False
    for candidate in secrets:
        ok |= hmac.compare_digest(given, candidate.encode())
    if not ok:
        raise exceptions.AuthenticationFailed("The webhook secret is wrong.")
    return None


# The columns the webhook needs (not the definition, which can be large): authentication, the
# pinned version, the answer's `schema_name`. The webhook trigger is checked by jsonb containment:
# `nodes` is an array with an object whose `type` is "webhook_trigger" — what `has_webhook_trigger`
# checks in Python.
_WEBHOOK_SCHEMA_FIELDS = (
    "id",
    "name",
    "version",
    "webhook_secret",
    "webhook_secret_previous",
    "webhook_secret_previous_expires_at",
)
_WEBHOOK_SCHEMA_SQL = """
SELECT id, name, version, webhook_secret, webhook_secret_previous, webhook_secret_previous_expires_at
FROM schemas WHERE id = %s::uuid AND status = %s AND definition @> '{"nodes": [{"type": "webhook_trigger"}]}'::jsonb
"""


def webhook_schema(schema_id: Any, rider: Rider | None = None) -> Schema | None:
    """The active schema with a webhook trigger and this id (only the fields the webhook uses), or None.
    With a `rider` the rate-limit statement fetched (`webhook_schema_rider`), no query is sent."""
    if rider is not None and rider.fetched:
        return Schema.from_db(connection.alias, _WEBHOOK_SCHEMA_FIELDS, rider.row) if rider.row else None
    if connection.vendor != "postgresql":
        schema = Schema.objects.filter(pk=schema_id, status=SchemaStatus.ACTIVE).first()
        return schema if schema is not None and has_webhook_trigger(schema) else None
    rows, _ = hot_sql.execute(_WEBHOOK_SCHEMA_SQL, [str(schema_id), SchemaStatus.ACTIVE.value], repeatable=True)
    return Schema.from_db(connection.alias, _WEBHOOK_SCHEMA_FIELDS, rows[0]) if rows else None


def webhook_schema_rider(schema_id: Any) -> Rider | None:
    """The schema read of `webhook_schema`, to ride on the webhook's rate-limit statement (both
    scopes are counted before the view runs, for unknown ids too): one round trip less."""
    if connection.vendor != "postgresql":
        return None
    return Rider(_WEBHOOK_SCHEMA_SQL, [str(schema_id), SchemaStatus.ACTIVE.value])


def has_webhook_trigger(schema: Schema) -> bool:
    nodes = schema.definition.get("nodes") if isinstance(schema.definition, dict) else None
    return isinstance(nodes, list) and any(isinstance(n, dict) and n.get("type") == "webhook_trigger" for n in nodes)


class RawBodyParser(BaseParser):
    """Keep the raw bytes (the signature covers them); JSON is decoded in the view."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> bytes:
        return stream.read() if stream is not None else b""


_DATETIME = serializers.DateTimeField()


def created_execution_data(execution: Execution) -> dict[str, Any]:
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
        "waiting": None if execution.status != "paused" or not state.wait_kind else _waiting(execution),
        "result": execution.result,
        "rerun_of": execution.rerun_of_id,
    }


def _datetime(value: Any) -> Any:
    return None if value is None else _DATETIME.to_representation(value)


def _waiting(execution: Execution) -> Any:
    return WebhookExecutionSerializer().get_waiting(execution)


class PublishAfterResponse(Response):
    """The answer to a webhook that created an execution; its run message is published once the
    answer has been sent.

    The execution is committed before the answer (202 means stored), so the sender need not wait for
    RabbitMQ's publisher confirm. For a quorum queue the confirm follows a replicated, fsynced write,
    and under load that was most of the accept latency. The WSGI server calls `close()` after the
    last byte of the body. Django's test client does the same. If the process dies in between, or
    the broker is down, the reconciler publishes the pending execution (`execution_publish`).
    """

    def __init__(self, data: Any, status: int, execution: Execution) -> None:
        super().__init__(data, status=status)
        self._unpublished: Execution | None = execution

    def close(self) -> None:
        execution, self._unpublished = self._unpublished, None
        try:
            if execution is not None:
                execution_publish(execution)
        finally:
            super().close()


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
        key = request.headers.get("Idempotency-Key") or None
        if key is not None and (len(key) > 255 or not key.isprintable()):
            raise exceptions.ValidationError({"Idempotency-Key": ["At most 255 printable characters."]})
        replay_key = f"webhook-signature:{schema.pk}:{signature}" if signature else None
        created = False
        if replay_key is not None and not cache.add(
            replay_key, _REPLAY_PENDING, timeout=2 * SIGNATURE_TOLERANCE_SECONDS
        ):
            execution = self._replayed(replay_key)
        else:
            try:
                execution, created = execution_create(
                    schema=schema,
                    trigger_type=TriggerType.WEBHOOK,
                    payload=payload,
                    idempotency_key=key,
                    request_id=getattr(request._request, "request_id", ""),
                    publish=False,  # below: now if the request waits for the result, else after the answer
                )
            except BaseException:
                if replay_key is not None:
                    cache.delete(replay_key)
                raise
            if replay_key is not None:
                cache.set(replay_key, str(execution.pk), timeout=2 * SIGNATURE_TOLERANCE_SECONDS)
        waiting = bool(wait) and _WAITING.acquire(blocking=False)  # no free slot: answer at once
        if created and not waiting:
            # just created: schema, pinned version and state are the objects written (no re-read)
            return PublishAfterResponse(created_execution_data(execution), status.HTTP_202_ACCEPTED, execution)
        if waiting:
            try:
                # a new execution is published first; one the broker did not take is not waited for
                if not created or execution_publish(execution):
                    execution = self._await(execution, wait)
            finally:
                _WAITING.release()
        code = status.HTTP_200_OK if wait and execution.is_finished else status.HTTP_202_ACCEPTED
        execution = Execution.objects.select_related("schema", "schema_version", "state").get(pk=execution.pk)
        return Response(WebhookExecutionSerializer(execution).data, status=code)

    @staticmethod
    def _replayed(replay_key: str) -> Execution:
        """A signature seen before: the execution its first delivery started (nothing new runs)."""
        deadline = time.monotonic() + 5
        while True:
            value = cache.get(replay_key)
            if value not in (None, _REPLAY_PENDING):
                execution = Execution.objects.filter(pk=value).first()
                if execution is not None:
                    return execution
            if time.monotonic() >= deadline:
                raise exceptions.AuthenticationFailed("This signed request was already received (replay).")
            time.sleep(POLL_INTERVAL_SECONDS)

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


__all__ = ["PayloadTooLarge", "WebhookView", "check_signature", "signature_for"]
