"""Credential services: every write to a credential goes through these functions.

They validate the data against the credential's type (`engine.http.auth.CREDENTIAL_TYPES`),
encrypt the secret fields before they reach the database, keep secret fields write-only (an
update without them keeps the stored ones), log every change as an audit line (who, which
credential — never its data) and re-encrypt everything under the newest key on rotation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from engine.errors import NodeError
from engine.graph import NodeSpec
from engine.http.auth import CREDENTIAL_TYPES
from engine.http.policy import OutboundPolicy
from engine.nodes import NodeContext, NodeServices, get_node_type

from . import crypto
from .models import Credential
from .resolver import SingleCredentialResolver, credential_data

audit = logging.getLogger("schema.audit")

MAX_VALUE_LENGTH = 16 * 1024
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
TEST_TIMEOUT_SECONDS = 15.0


class CredentialInvalid(Exception):
    """The request has problems: `problems` is a list of {"path", "message"}."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(p["message"] for p in problems))
        self.problems = problems


def _audit(event: str, credential: Credential, user: User | None, **extra: Any) -> None:
    audit.info(
        event,
        extra={
            "event": event.replace(" ", "_"),
            "credential_id": str(credential.pk),
            "credential_name": credential.name,
            "credential_type": credential.type,
            "owner_id": credential.owner_id,
            "user_id": user.pk if user else None,
            "user": user.email if user else None,
            **extra,
        },
    )


def _hint(kind: str, data: dict[str, str]) -> str:
    first_secret = next(f.name for f in CREDENTIAL_TYPES[kind].fields if f.secret)
    value = data.get(first_secret, "")
    return "••••" + value[-4:] if len(value) >= 16 else "••••"


def _name_problems(name: Any) -> list[dict[str, Any]]:
    if not isinstance(name, str) or not name.strip():
        return [{"path": "name", "message": "A name is required."}]
    if name != name.strip() or len(name) > 255 or "\x00" in name:
        return [{"path": "name", "message": "The name must be 1 to 255 characters without leading or trailing spaces."}]
    return []


def data_problems(kind: str, data: Any, *, partial: bool = False) -> list[dict[str, Any]]:
    """Problems of `data` for the type `kind`; `partial`: missing fields are kept from before."""
    if kind not in CREDENTIAL_TYPES:
        return [{"path": "type", "message": f"Unknown type {kind!r}; one of {', '.join(CREDENTIAL_TYPES)}."}]
    if not isinstance(data, dict):
        return [{"path": "data", "message": "data must be an object of the type's fields."}]
    fields = {f.name: f for f in CREDENTIAL_TYPES[kind].fields}
    problems: list[dict[str, Any]] = []
    for key, value in data.items():
        if key not in fields:
            problems.append(
                {"path": f"data.{key}", "message": f"{kind} has no field {key!r} (fields: {', '.join(fields)})."}
            )
        elif not isinstance(value, str):
            problems.append({"path": f"data.{key}", "message": "must be a string."})
        elif len(value) > MAX_VALUE_LENGTH or "\x00" in value or "\r" in value or "\n" in value:
            problems.append(
                {"path": f"data.{key}", "message": f"must be one line of at most {MAX_VALUE_LENGTH} characters."}
            )
    for name, spec in fields.items():
        value = data.get(name)
        if spec.required and not partial and not (isinstance(value, str) and value):
            problems.append({"path": f"data.{name}", "message": f"{spec.label} is required."})
        elif partial and spec.required and name in data and value == "":
            problems.append({"path": f"data.{name}", "message": f"{spec.label} cannot be empty."})
    header = data.get("name")
    if kind == "header" and isinstance(header, str) and header and not HEADER_NAME.match(header):
        problems.append({"path": "data.name", "message": "Not a valid header name."})
    url = data.get("token_url")
    if isinstance(url, str) and url and not url.lower().startswith(("http://", "https://")):
        problems.append({"path": "data.token_url", "message": "The token URL must start with http:// or https://."})
    return problems


def _split(kind: str, data: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    public: dict[str, str] = {}
    secret: dict[str, str] = {}
    for spec in CREDENTIAL_TYPES[kind].fields:
        value = data.get(spec.name)
        if value:
            (secret if spec.secret else public)[spec.name] = value
    return public, secret


def _store_data(credential: Credential, kind: str, data: dict[str, str]) -> None:
    public, secret = _split(kind, data)
    credential.type = kind
    credential.public_data = public
    credential.secret_data = crypto.encrypt(secret)
    credential.key_id = crypto.current_key_id()
    credential.hint = _hint(kind, data)
    credential.token_data, credential.token_expires_at = "", None  # a token of the old client is void


def _save(credential: Credential) -> None:
    try:
        with transaction.atomic():
            credential.save()
    except IntegrityError:
        raise CredentialInvalid(
            [{"path": "name", "message": f"You already have a credential named {credential.name!r}."}]
        ) from None


def credential_create(
    *, owner: User, name: str, type: str, data: dict[str, Any], user: User | None = None
) -> Credential:
    problems = _name_problems(name) + data_problems(type, data)
    if problems:
        raise CredentialInvalid(problems)
    credential = Credential(owner=owner, name=name, updated_by=user or owner)
    _store_data(credential, type, data)
    _save(credential)
    _audit("credential created", credential, user or owner)
    return credential


def credential_update(
    credential: Credential,
    *,
    user: User | None,
    name: str | None = None,
    type: str | None = None,
    data: dict[str, Any] | None = None,
) -> Credential:
    """Secret fields are write-only: those not in `data` keep their stored value (same type)."""
    kind = type or credential.type
    same_type = kind == credential.type
    problems = _name_problems(name) if name is not None else []
    if data is not None or not same_type:
        problems += data_problems(kind, data if data is not None else {}, partial=same_type)
        if same_type and not problems:
            merged = {**credential_data(credential), **(data or {})}
            problems += data_problems(kind, merged)
    if problems:
        raise CredentialInvalid(problems)
    changed: list[str] = []
    if name is not None and name != credential.name:
        credential.name = name
        changed.append("name")
    if data is not None or not same_type:
        merged = {**credential_data(credential), **(data or {})} if same_type else dict(data or {})
        _store_data(credential, kind, merged)
        changed.append("data")
    credential.updated_by = user
    _save(credential)
    _audit("credential updated", credential, user, changed=changed)
    return credential


def credential_delete(credential: Credential, *, user: User | None, used_by: list[str] | None = None) -> None:
    _audit("credential deleted", credential, user, used_by=used_by or [])
    credential.delete()


@dataclass
class RotationReport:
    rotated: int = 0
    failed: int = 0
    remaining: int = 0


def credentials_rotate_keys(
    *, batch_size: int = 100, operator: str = "", progress: Callable[[RotationReport], None] | None = None
) -> RotationReport:
    """Re-encrypts every credential not yet under the newest key, one short transaction per batch
    (rows locked only while rewritten: workers keep using them). Resumable: stop it at any time and
    run it again; it continues with what is left. A row no configured key decrypts is counted as
    failed and left as it is."""
    report = RotationReport()
    current = crypto.current_key_id()
    skipped: set[Any] = set()
    while True:
        with transaction.atomic():
            rows = list(
                Credential.objects.select_for_update()
                .exclude(key_id=current)
                .exclude(pk__in=skipped)
                .order_by("id")[:batch_size]
            )
            if not rows:
                break
            for row in rows:
                try:
                    row.secret_data = crypto.reencrypt(row.secret_data)
                except crypto.CredentialKeyError:
                    report.failed += 1
                    skipped.add(row.pk)
                    continue
                try:
                    row.token_data = crypto.reencrypt(row.token_data) if row.token_data else ""
                except crypto.CredentialKeyError:
                    row.token_data, row.token_expires_at = "", None  # fetched again on next use
                row.key_id = current
                row.save(update_fields=["secret_data", "token_data", "token_expires_at", "key_id"])
                report.rotated += 1
        if progress:
            progress(report)
    report.remaining = Credential.objects.exclude(key_id=current).count()
    audit.info(
        "credential keys rotated",
        extra={
            "event": "credential_keys_rotated",
            "key_id": current,
            "rotated": report.rotated,
            "failed": report.failed,
            "remaining": report.remaining,
            "user": operator,
        },
    )
    return report


def credential_test(credential: Credential, *, url: str, method: str = "GET") -> dict[str, Any]:
    """Calls `url` with the credential, through the outbound policy (SSRF guard) like a node does.
    Returns {"ok", "status", "error"}; the response body is not returned (it may echo the secret)."""
    node = get_node_type("http_request")
    assert node is not None
    config = {
        "method": method,
        "url": url,
        "auth": {"credential": str(credential.pk)},
        "timeout_seconds": TEST_TIMEOUT_SECONDS,
        "follow_redirects": False,
        "expected_status": ["1xx", "2xx", "3xx", "4xx", "5xx"],
        "body_type": "none",
    }
    ctx = NodeContext(
        execution_id="credential-test",
        node=NodeSpec("test", "http_request", config=config),
        attempt=1,
        idempotency_key=f"credential-test:{credential.pk}",
        input=None,
        vars={},
        trigger=None,
        outputs={},
        now=timezone.now(),
        services=NodeServices(
            outbound_policy=OutboundPolicy(list(settings.SCHEMA_HTTP_ALLOWLIST)),
            credentials=SingleCredentialResolver(credential),
            logger_name="schema.credentials",
        ),
    )
    try:
        result = node.run(ctx)
    except NodeError as exc:
        return {"ok": False, "status": None, "error": str(exc)}
    status = int(result.output["status"])
    ok = 200 <= status < 300
    return {"ok": ok, "status": status, "error": None if ok else f"The server answered HTTP {status}."}
