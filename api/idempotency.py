"""`Idempotency-Key`: a client that did not get the answer (its connection was cut, a 503) sends the
same request again with the same key and gets the first request's answer instead of a second run.

One mechanism for webhooks and the manual actions (`execute`, `rerun`, `resume`, `retry`): the key is
stored on the execution the request creates (`executions.idempotency_key`, unique per schema; the
insert that loses the race inserts nothing) or, for `resume` and `retry`, which create none, beside
the execution they act on (`execution_action_keys`, with a digest of the request), so it lives — and
expires — with that execution (`SCHEMA_RETENTION_DAYS`). A webhook stores the sender's key as it is.
A manual action stores it scoped by action and user (hashed to fit the column), so a key never
answers another user's or another action's request, and the repeated request must be the same one:
a different body with a used key is a 409 in plain words, not the first answer.
"""

from __future__ import annotations

import hashlib
from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request

from api.exceptions import Conflict

HEADER = "Idempotency-Key"
KEY_REUSED = (
    "This Idempotency-Key was already used for a different request (another {what}). "
    "Send a new key with a new request; repeat a key only to repeat the same request."
)


def idempotency_key(request: Request) -> str | None:
    """The request's key, or None; 400 when it is not at most 255 printable characters."""
    key = request.headers.get(HEADER) or None
    if key is not None and (len(key) > 255 or not key.isprintable()):
        raise exceptions.ValidationError({HEADER: ["At most 255 printable characters."]})
    return key


def scoped_key(action: str, user: Any, key: str | None) -> str | None:
    """What a manual action stores: `<action>:<user id>:<sha256 of the key>` (≤ 255 characters)."""
    if key is None:
        return None
    return f"{action}:{user.pk}:{hashlib.sha256(key.encode()).hexdigest()}"


def require_same_request(same: bool, what: str) -> None:
    """The execution found under the key must be what this request would have started."""
    if not same:
        raise Conflict(KEY_REUSED.format(what=what))
