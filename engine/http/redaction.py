"""What is never recorded of an HTTP call: authorization-like headers (and the same names in query
parameters and JSON bodies) and passwords in URLs (`user:pass@`) are replaced by `[redacted]` in the
step's input, the kept response headers and error messages (which are logged and stored). The values
of a credential the call used are also replaced wherever they appear (`redact_secrets`).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

SENSITIVE_HEADER_PARTS = (
    "authorization",
    "cookie",
    "token",
    "secret",
    "api-key",
    "apikey",
    "api_key",
    "password",
    "passwd",
    "signature",
    "credential",
    "session",
    "private",
)
REDACTED = "[redacted]"


def is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in SENSITIVE_HEADER_PARTS)


def redact_headers(headers: dict[str, Any]) -> dict[str, Any]:
    return {k: REDACTED if is_sensitive(k) else v for k, v in headers.items()}


def redact_value(value: Any, depth: int = 0) -> Any:
    """A JSON value with the values of sensitive-looking keys replaced (for the recorded body)."""
    if depth > 50:
        return value
    if isinstance(value, dict):
        return {k: REDACTED if is_sensitive(str(k)) else redact_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, depth + 1) for v in value]
    return value


def redact_url(url: str) -> str:
    """The URL without a password in its user info and with sensitive query values redacted."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(is_sensitive(k) for k, _ in pairs):
                query = urlencode([(k, REDACTED if is_sensitive(k) else v) for k, v in pairs], safe="[]")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<invalid URL>"


def redact_secrets(value: Any, secrets: list[str], depth: int = 0) -> Any:
    """`value` with every occurrence of each secret (in strings and keys, at any depth) replaced:
    redaction by value, so a server that echoes a credential back does not leak it into a step.
    `secrets` should be longest first (a secret containing another is replaced whole)."""
    if not secrets:
        return value
    if depth > 50:  # deeper than any real document: kept only if no secret is anywhere inside
        text = json.dumps(value, default=str)
        return REDACTED if any(secret in text for secret in secrets) else value
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {redact_secrets(k, secrets, depth + 1): redact_secrets(v, secrets, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_secrets(v, secrets, depth + 1) for v in value]
    return value
