"""Middleware: request logging (one JSON line per request, `X-Request-ID`), the request body limit,
the /metrics gate, and Django's browser middlewares skipped on the paths machines call.

The request id comes from the caller's `X-Request-ID` (if it looks sane) or is generated; it is put
in the logging context so every line logged while serving the request — and every line of an
execution the request starts — carries it. Bodies are never logged, only their sizes.
"""

from __future__ import annotations

import hmac
import io
import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as _MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as _SessionMiddleware
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django_prometheus.middleware import PrometheusAfterMiddleware as _PrometheusAfterMiddleware
from django_prometheus.utils import Time, TimeSince

from config.logging import log_context

logger = logging.getLogger("schema.api")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


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
                        "request_bytes": _content_length(request),
                        "response_bytes": len(response.content) if not response.streaming else None,
                        "user_id": str(user.pk) if user is not None and user.is_authenticated else None,
                        "remote_addr": request.META.get("REMOTE_ADDR"),
                    },
                )
        return response


def json_error(status: int, error_type: str, detail: str, **headers: str) -> HttpResponse:
    """The API's error body (`api.exceptions`) for answers given before DRF runs."""
    response = JsonResponse({"type": error_type, "detail": detail, "errors": []}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


class BodySizeLimitMiddleware:
    """413 (JSON) for a request body above `SCHEMA_MAX_REQUEST_BYTES`, before anything reads it.

    Django enforces `DATA_UPLOAD_MAX_MEMORY_SIZE` only inside `request.body` (DRF then turns the
    exception into a 500) and only from `Content-Length`. Here: a declared length above the limit is
    refused without reading; a body without `Content-Length` (chunked transfer encoding, which
    Django would otherwise read as empty) is read up to the limit and then handed on as a normal
    body with its length, so webhooks sent chunked keep their payload.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = int(settings.SCHEMA_MAX_REQUEST_BYTES)
        declared = request.META.get("CONTENT_LENGTH")
        too_large = f"The request body is larger than {limit} bytes."
        if declared:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                return json_error(400, "parse_error", "Content-Length is not a valid length.")
            if length > limit:
                request.META["CONTENT_LENGTH"] = "0"  # nothing downstream may try to read it
                return json_error(413, "payload_too_large", too_large)
        elif self._has_unsized_body(request):
            stream = request.META["wsgi.input"]
            chunks: list[bytes] = []
            size = 0
            while size <= limit:
                chunk = stream.read(min(64 * 1024, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > limit:
                return json_error(413, "payload_too_large", too_large)
            body = b"".join(chunks)
            request.META["CONTENT_LENGTH"] = str(len(body))
            request._stream = LimitedStream(io.BytesIO(body), len(body))  # type: ignore[attr-defined,assignment]
        return self.get_response(request)

    @staticmethod
    def _has_unsized_body(request: HttpRequest) -> bool:
        encoding = request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        return "chunked" in encoding and "wsgi.input" in request.META


_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


class MetricsGateMiddleware:
    """Serves `/metrics` to Prometheus, and only to Prometheus.

    Prometheus scrapes the pod IP (`Host: 10.1.2.3:8000`), which `ALLOWED_HOSTS` rightly rejects,
    so this answers before host validation (and before the HTTPS redirect) — but only when the
    caller's socket address is in `SCHEMA_METRICS_ALLOWED_NETWORKS` (default: loopback and private
    ranges), the request did not come through a proxy (an ingress adds X-Forwarded-For, and its own
    address is private too), and, if `SCHEMA_METRICS_TOKEN` is set, it carries
    `Authorization: Bearer <token>`. Anything else gets the same 404 as an unknown path.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.networks = [
            ipaddress.ip_network(n.strip(), strict=False) for n in settings.SCHEMA_METRICS_ALLOWED_NETWORKS
        ]
        self.token = str(settings.SCHEMA_METRICS_TOKEN or "")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.rstrip("/") != "/metrics":
            return self.get_response(request)
        if not self.allowed(request):
            return json_error(404, "not_found", "Not found.")
        from django_prometheus import exports

        return exports.ExportToDjangoView(request)

    def allowed(self, request: HttpRequest) -> bool:
        if any(request.META.get(header) for header in _PROXY_HEADERS):
            return False
        try:
            address = ipaddress.ip_address(str(request.META.get("REMOTE_ADDR", "")).split("%")[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not any(address in network for network in self.networks):
            return False
        if self.token:
            given = request.META.get("HTTP_AUTHORIZATION", "")
            return hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode())
        return True


# Paths machines call, never a browser: the webhook (authenticated by its own secret or signature)
# and the health probes. They skip the middlewares below, which serve signed-in browsers.
MACHINE_PATHS = ("/api/hooks/", "/api/health/")


class _BrowserOnly(MiddlewareMixin):
    """Django's browser middlewares (sessions, authentication, messages), skipped for
    `MACHINE_PATHS`: those views read no session and no `request.user`; skipping the three saves
    2.4 % of a webhook accept's instructions (docs/performance.md). Everything else goes through them
    unchanged; Django's admin checks still find them (subclasses). CSRF stays Django's own: its
    deploy check names the class, and it costs little on a CSRF-exempt view without cookies."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self.async_mode and request.path_info.startswith(MACHINE_PATHS):
            return self.get_response(request)  # type: ignore[return-value]
        return super().__call__(request)  # type: ignore[return-value]


class SessionMiddleware(_BrowserOnly, _SessionMiddleware):
    pass


class AuthenticationMiddleware(_BrowserOnly, _AuthenticationMiddleware):
    pass


class MessageMiddleware(_BrowserOnly, _MessageMiddleware):
    pass


class PrometheusAfterMiddleware(_PrometheusAfterMiddleware):
    """django-prometheus' per-view HTTP metrics, without the ones nothing here reads.

    Kept (the Grafana dashboard and the alerts use them): requests by view/transport/method,
    responses by status, responses by status/view/method, latency by view/method, exceptions.
    Dropped: requests by method, by transport, AJAX, request and response body-size histograms,
    responses by charset, streaming and template name. In multiprocess mode each of those was a
    locked write to a shared file on every request — about 100 µs of the ~500 µs the middleware
    stack costs a request, on the webhook path too. The "before" middleware (totals and the
    latency of the whole stack) is unchanged.
    """

    def process_request(self, request: HttpRequest) -> None:
        request.prometheus_after_middleware_event = Time()  # type: ignore[attr-defined]

    def process_template_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return response

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        method = self._method(request)
        name = self._get_view_name(request)
        status = str(response.status_code)
        self.metrics.responses_by_status.labels(status=status).inc()
        self.metrics.responses_by_status_view_method.labels(status=status, view=name, method=method).inc()
        started = getattr(request, "prometheus_after_middleware_event", None)
        if started is not None:
            self.metrics.requests_latency_by_view_method.labels(view=name, method=request.method).observe(
                TimeSince(started)
            )
        else:
            self.metrics.requests_unknown_latency.inc()
        return response
