"""One JSON error format for every failure: `{"type", "detail", "errors": [...]}`.

DRF's exceptions, Django's 404/permission errors and anything unexpected go through here, so a
client never has to parse two shapes (and never gets an HTML 500 page). A database or broker that
cannot be reached is not a bug: `503 service_unavailable` with `Retry-After` and one WARNING line, so
clients and load balancers retry; 500 (with its traceback in the log) stays for bugs.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from kombu.exceptions import OperationalError as BrokerOperationalError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from engine.limits import MAX_STEP_BYTES, ValueTooLarge, json_safe

logger = logging.getLogger("schema.api")

# Unreachable, restarting or refusing: the same request may succeed a moment later. (Django raises
# OperationalError/InterfaceError for a connection that failed or was lost, also for the statements
# of config/prepared.py; constraint violations and bad SQL are other classes and stay 500s.)
DATABASE_UNAVAILABLE = (DatabaseOperationalError, DatabaseInterfaceError)
BROKER_UNAVAILABLE = (BrokerOperationalError,)
RETRY_AFTER_SECONDS = 5


class DefinitionInvalid(exceptions.APIException):
    """A schema definition with problems; each problem is located (node/edge id, field path)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "validation_error"

    def __init__(self, problems: list[dict[str, Any]], detail: str = "The schema definition is invalid.") -> None:
        super().__init__(detail)
        self.problems = problems


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The resource is not in a state that allows this action."


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "The request body is too large."


def check_payload_size(payload: Any, what: str = "The payload") -> None:
    """A trigger/resume payload becomes a step's output: it must fit the per-step limit (413)."""
    try:
        json_safe(payload, limit=MAX_STEP_BYTES)
    except ValueTooLarge as exc:
        raise PayloadTooLarge(f"{what} is {exc.size} bytes as JSON; the limit is {exc.limit} bytes.") from None


_TYPES = {
    exceptions.ValidationError: "validation_error",
    exceptions.ParseError: "parse_error",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    PayloadTooLarge: "payload_too_large",
}


def unavailable_body(exc: BaseException) -> dict[str, Any] | None:
    """The 503 body for an error of an unreachable database or broker (None for any other error),
    after logging it as one WARNING line."""
    if isinstance(exc, DATABASE_UNAVAILABLE):
        service = "database"
    elif isinstance(exc, BROKER_UNAVAILABLE):
        service = "message broker"
    else:
        return None
    reason = (str(exc).strip().splitlines() or [""])[0][:300]
    logger.warning(
        "%s unavailable (%s: %s): answered 503", service, type(exc).__name__, reason, extra={"status_code": 503}
    )
    return {
        "type": "service_unavailable",
        "detail": f"The {service} is unavailable; retry in a few seconds.",
        "errors": [],
    }


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler500 (config/urls.py), for errors outside the API's views (a middleware, the
    admin): an unreachable database or broker is a 503 with Retry-After there too."""
    unavailable = unavailable_body(sys.exc_info()[1] or Exception())
    if unavailable is not None:
        response = JsonResponse(unavailable, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response._has_been_logged = True  # type: ignore[attr-defined]  # the WARNING, not django.request's ERROR
        return response
    return JsonResponse({"type": "server_error", "detail": "An internal error occurred.", "errors": []}, status=500)


def _flatten(data: Any, path: str = "") -> list[dict[str, Any]]:
    """Turn DRF's nested error dict/list into located entries."""
    if isinstance(data, dict):
        out: list[dict[str, Any]] = []
        for key, value in data.items():
            sub = path if key == "non_field_errors" else (f"{path}.{key}" if path else str(key))
            out.extend(_flatten(value, sub))
        return out
    if isinstance(data, list):
        if all(not isinstance(item, dict | list) for item in data):
            return [{"path": path or None, "message": str(item)} for item in data]
        out = []
        for index, item in enumerate(data):
            out.extend(_flatten(item, f"{path}[{index}]"))
        return out
    return [{"path": path or None, "message": str(data)}]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):  # normally caught earlier by BodySizeLimitMiddleware
        exc = PayloadTooLarge()
    response = drf_exception_handler(exc, context)
    if response is None:
        unavailable = unavailable_body(exc)
        if unavailable is not None:
            response = Response(
                unavailable,
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
            response._has_been_logged = True  # type: ignore[attr-defined]  # the WARNING, not django.request's ERROR
            return response
        logger.exception("Unhandled error in API view", exc_info=exc)
        return Response(
            {"type": "server_error", "detail": "An internal error occurred; it has been logged.", "errors": []},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
    if isinstance(exc, DefinitionInvalid):
        body: dict[str, Any] = {"type": "validation_error", "detail": str(exc.detail), "errors": exc.problems}
    elif isinstance(exc, exceptions.ValidationError):
        body = {"type": "validation_error", "detail": "The request is invalid.", "errors": _flatten(exc.detail)}
    else:
        error_type = next((name for cls, name in _TYPES.items() if isinstance(exc, cls)), None)
        if error_type is None:
            error_type = getattr(exc, "default_code", "error")
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        body = {"type": error_type, "detail": str(detail), "errors": []}
    response.data = body
    return response
