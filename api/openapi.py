"""OpenAPI post-processing: the error answers every operation can give, documented once.

drf-spectacular documents what each view declares; the answers that come from the framework
around the views — 400 parse errors, 401/403 authentication, 404 unknown ids, 413 body too large,
415 wrong media type, 429 rate limited — are added here to every operation they apply to, all
with the one error body (`Error`: `{"type", "detail", "errors"}`), and every error answer gets its
description (a view's own 400/404/409 come without one). The fuzz test
(tests/security/test_fuzz_api.py) checks every answer against this document.
"""

from __future__ import annotations

from typing import Any

PUBLIC_PATHS = ("/api/health/", "/api/hooks/", "/api/auth/csrf/", "/api/auth/login/")
UNTHROTTLED_PATHS = ("/api/health/",)
BODY_METHODS = ("post", "put", "patch")
_DESCRIPTIONS = {
    "400": "Invalid input (validation_error, parse_error).",
    "401": "Not authenticated or bad credentials.",
    "403": "Permission denied (e.g. a session request without its CSRF token).",
    "404": "No such object, or not one you may see.",
    "406": "The Accept header asks for a format the API does not produce.",
    "413": "The request body (or payload) is too large.",
    "409": "Conflict: the object's state does not allow this (the detail says why).",
    "415": "The request body is not JSON.",
    "429": "Rate limited; see the Retry-After header.",
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    retry_after = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            codes = ["400", "406"]
            if not path.startswith(PUBLIC_PATHS):
                codes += ["401", "403"]
            if "{" in path:
                codes.append("404")
            if method in BODY_METHODS:
                codes += ["413", "415"]
            if not path.startswith(UNTHROTTLED_PATHS):
                codes.append("429")
            for parameter in operation.get("parameters", []):
                # Filters (django-filter) treat `?status=` like no filter at all.
                if parameter.get("in") == "query" and parameter.get("name") not in ("cursor", "page_size", "wait"):
                    parameter.setdefault("allowEmptyValue", True)
            responses = operation.setdefault("responses", {})
            for code in codes:
                if code not in responses:
                    responses[code] = {"description": _DESCRIPTIONS[code], "content": error}
                if code == "429":
                    responses[code].setdefault("headers", retry_after)
            for code, response in responses.items():  # error answers a view declares itself
                if not response.get("description") and code in _DESCRIPTIONS:
                    response["description"] = _DESCRIPTIONS[code]
    return result
