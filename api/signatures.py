"""Webhook authentication: the schema's secret, or an HMAC-SHA256 signature, and replay detection.

A signature covers `"<timestamp>.<raw body>"` (`X-Schema-Signature: t=<unix>,v1=<hex>[,v1=<hex>…]`):

* the timestamp must be within 5 minutes of our clock, so a captured request is useless later;
* within that window a repeated signature is a replay: it starts nothing and returns the execution
  the first delivery started (the signature is remembered in the shared cache for the window);
* comparisons are constant-time; several `v1` values may be sent (e.g. signed with the old and the
  new secret while rotating), one match is enough;
* after `rotate-secret` with `grace_seconds`, the previous secret is accepted until it expires.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable

from django.core.cache import cache
from django.http import HttpRequest
from rest_framework import exceptions

from executions_app.models import Execution
from schemas_app.models import Schema
from schemas_app.services import schema_webhook_secrets

SIGNATURE_TOLERANCE_SECONDS = 300
MAX_SIGNATURE_HEADER = 1024
POLL_INTERVAL_SECONDS = 0.05
_REPLAY_PENDING = "pending"


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


def replay_guarded(schema: Schema, signature: str | None, create: Callable[[], Execution]) -> Execution:
    """`create()` unless this signature was seen within the tolerance window: then the execution
    its first delivery started (nothing new runs). A concurrent first delivery is waited for."""
    if signature is None:
        return create()
    key = f"webhook-signature:{schema.pk}:{signature}"
    if not cache.add(key, _REPLAY_PENDING, timeout=2 * SIGNATURE_TOLERANCE_SECONDS):
        return _replayed(key)
    try:
        execution = create()
    except BaseException:
        cache.delete(key)
        raise
    cache.set(key, str(execution.pk), timeout=2 * SIGNATURE_TOLERANCE_SECONDS)
    return execution


def _replayed(key: str) -> Execution:
    deadline = time.monotonic() + 5
    while True:
        value = cache.get(key)
        if value not in (None, _REPLAY_PENDING):
            execution = Execution.objects.filter(pk=value).first()
            if execution is not None:
                return execution
        if time.monotonic() >= deadline:
            raise exceptions.AuthenticationFailed("This signed request was already received (replay).")
        time.sleep(POLL_INTERVAL_SECONDS)
