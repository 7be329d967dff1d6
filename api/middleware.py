"""Request logging middleware: one JSON log line per request, and an `X-Request-ID` header.

The request id comes from the caller's `X-Request-ID` (if it looks sane) or is generated; it is put
in the logging context so every line logged while serving the request — and every line of an
execution the request starts — carries it. Bodies are never logged, only their sizes.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from config.logging import log_context

logger = logging.getLogger("schema.api")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestLogMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        started = time.perf_counter()
        with log_context(request_id=request_id):
            response = self.get_response(request)
            duration_ms = round((time.perf_counter() - started) * 1000, 2)
            response["X-Request-ID"] = request_id
            if not request.path.startswith(("/static/", "/assets/")) and request.path != "/metrics":
                user = getattr(request, "user", None)
                logger.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": duration_ms,
                        "request_bytes": int(request.META.get("CONTENT_LENGTH") or 0),
                        "response_bytes": len(response.content) if not response.streaming else None,
                        "user_id": str(user.pk) if user is not None and user.is_authenticated else None,
                        "remote_addr": request.META.get("REMOTE_ADDR"),
                    },
                )
        return response
