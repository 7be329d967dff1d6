"""`http_request`: one HTTP call with `requests`; output `{status, headers, body}`.

The host injects an outbound policy (`ctx.services.outbound_policy`) that vets every URL,
redirect hops included (redirects are followed here, not by `requests`, for that reason), and may
lend a session/transport. Secrets stay out of what is recorded: Authorization-like headers are
redacted in the step's input and in the response headers kept in the output.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

import requests

from engine.errors import NodeError
from engine.nodes.base import NodeContext, NodeResult, NodeType, expression_string

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
SENSITIVE_HEADER_PARTS = ("authorization", "cookie", "token", "secret", "api-key", "apikey", "password", "signature")
REDACTED = "[redacted]"
STATUS_PATTERN = r"^([1-5]xx|[1-5]\d\d(-[1-5]\d\d)?)$"


def redact_headers(headers: dict[str, Any]) -> dict[str, Any]:
    return {k: REDACTED if any(p in k.lower() for p in SENSITIVE_HEADER_PARTS) else v for k, v in headers.items()}


def status_expected(status: int, expected: list[Any]) -> bool:
    for item in expected:
        if isinstance(item, int) and status == item:
            return True
        if isinstance(item, str):
            if item.endswith("xx") and str(status)[0] == item[0]:
                return True
            low, _, high = item.partition("-")
            if low.isdigit() and int(low) <= status <= int(high or low):
                return True
    return False


class HttpRequestNode(NodeType):
    type = "http_request"
    label = "HTTP request"
    group = "action"
    description = "Calls an HTTP endpoint. Output: {status, headers, body}; JSON responses are parsed."
    side_effects = True
    config_schema = {
        "type": "object",
        "properties": {
            "method": {"enum": METHODS, "default": "GET"},
            "url": expression_string("Absolute http(s) URL.", minLength=1),
            "headers": {"type": "object", "additionalProperties": expression_string("Header value.")},
            "query": {"type": "object", "additionalProperties": expression_string("Query parameter value.")},
            "body_type": {"enum": ["none", "json", "text"], "default": "json"},
            "body": {"x-expression": True, "description": "JSON value (strings may be expressions) or text."},
            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 300, "default": 30},
            "expected_status": {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"type": "integer", "minimum": 100, "maximum": 599},
                        {"type": "string", "pattern": STATUS_PATTERN},
                    ]
                },
                "default": ["2xx"],
                "description": 'Accepted statuses: 200, "2xx" or "200-299".',
            },
            "follow_redirects": {"type": "boolean", "default": True},
            "idempotency_header": {
                "type": "string",
                "description": "If set, this header carries the step's idempotency key (e.g. Idempotency-Key).",
            },
        },
        "required": ["url"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        method = str(config.get("method", "GET")).upper()
        url = str(ctx.field("url"))
        headers = {str(k): str(v) for k, v in (ctx.field("headers") or {}).items()}
        query = {str(k): v for k, v in (ctx.field("query") or {}).items()}
        if config.get("idempotency_header"):
            headers[str(config["idempotency_header"])] = ctx.idempotency_key
        body_type = config.get("body_type", "json")
        body = ctx.field("body") if body_type != "none" else None
        data: bytes | None = None
        if body is not None and body_type == "json":
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif body is not None and body_type == "text":
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        recorded = {"method": method, "url": url, "headers": redact_headers(headers), "query": query, "body": body}
        response = self._send(ctx, method=method, url=url, headers=headers, query=query, data=data)
        output = {
            "status": response.status_code,
            "headers": redact_headers(dict(response.headers)),
            "body": _parse_body(response),
        }
        expected = config.get("expected_status") or ["2xx"]
        if not status_expected(response.status_code, expected):
            raise NodeError(
                f"HTTP {response.status_code} from {url} (expected {', '.join(map(str, expected))})",
                details={"response": output},
            )
        return NodeResult(output=output, recorded_input=recorded)

    def _send(
        self,
        ctx: NodeContext,
        *,
        method: str,
        url: str,
        headers: dict[str, str],
        query: dict[str, Any],
        data: bytes | None,
    ) -> requests.Response:
        session = ctx.services.http_session or requests
        timeout = float(ctx.config.get("timeout_seconds", 30))
        follow = bool(ctx.config.get("follow_redirects", True))
        for _hop in range(MAX_REDIRECTS + 1):
            if not url.lower().startswith(("http://", "https://")):
                raise NodeError(f"only http(s) URLs are allowed, got {url!r}")
            if ctx.services.outbound_policy is not None:
                ctx.services.outbound_policy.check(method, url)
            try:
                response: requests.Response = session.request(
                    method,
                    url,
                    headers=headers,
                    params=query,
                    data=data,
                    timeout=timeout,
                    allow_redirects=False,
                    stream=True,
                )
            except requests.Timeout:
                raise NodeError(f"timed out after {timeout}s calling {url}") from None
            except requests.RequestException as exc:
                raise NodeError(f"request to {url} failed: {type(exc).__name__}: {exc}") from None
            if not (follow and response.is_redirect and "location" in response.headers):
                _read_limited(response)
                return response
            url = urljoin(url, response.headers["location"])
            query = {}
            if response.status_code in (301, 302, 303) and method != "HEAD":
                method, data = "GET", None
            response.close()
        raise NodeError(f"more than {MAX_REDIRECTS} redirects")


def _read_limited(response: requests.Response) -> None:
    """Reads the body with a cap, so a huge download cannot fill the worker's memory or a checkpoint."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            response.close()
            raise NodeError(f"response body larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    response._content = b"".join(chunks)


def _parse_body(response: requests.Response) -> Any:
    content_type = response.headers.get("content-type", "").lower()
    if not response.content:
        return None
    if "json" in content_type:
        try:
            return response.json()
        except ValueError:
            return response.text
    return response.text
