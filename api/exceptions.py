"""One JSON error format for every failure: `{"type", "detail", "errors": [...]}`.

DRF's exceptions, Django's 404/permission errors and anything unexpected go through here, so a
client never has to parse two shapes (and never gets an HTML 500 page).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from engine.limits import MAX_STEP_BYTES, ValueTooLarge, json_safe

logger = logging.getLogger("schema.api")


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
