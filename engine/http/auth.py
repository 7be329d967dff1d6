"""Credentials on outbound calls: the credential types, and how each one is applied to a request.

A node names a credential (`auth: {"credential": "<name or id>"}`); the host process lends a
`CredentialResolver` (`NodeServices.credentials`) that finds it for the schema's owner and decrypts
it in the worker, at the moment of the call. This module is the one place that turns a credential
into headers or query parameters, fetches and refreshes OAuth2 client-credentials tokens (through
the same guarded transport and outbound policy as the call itself), and lists every secret value
so the node can redact them by value from everything it records (`redaction.redact_secrets`).
The engine never stores a credential: the step records its id, name and type only.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, quote_plus

import requests

from engine.errors import NodeError
from engine.http.redaction import redact_secrets, redact_url
from engine.http.transport import failure_reason, guarded, guarded_session, read_limited

# A cached access token is renewed this long before it expires (a call must not start with a token
# that dies on the way).
TOKEN_EXPIRY_MARGIN = timedelta(seconds=30)
TOKEN_RESPONSE_MAX_BYTES = 64 * 1024
# Secrets shorter than this are not searched for inside recorded values: replacing every "ab"
# of a response would destroy it; such secrets are still never recorded where they are applied.
MIN_REDACTED_SECRET_LENGTH = 4


@dataclass(frozen=True)
class CredentialField:
    name: str
    label: str
    secret: bool
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class CredentialType:
    type: str
    label: str
    description: str
    fields: tuple[CredentialField, ...]

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "label": self.label,
            "description": self.description,
            "fields": [
                {
                    "name": f.name,
                    "label": f.label,
                    "secret": f.secret,
                    "required": f.required,
                    "description": f.description,
                }
                for f in self.fields
            ],
        }


CREDENTIAL_TYPES: dict[str, CredentialType] = {
    t.type: t
    for t in (
        CredentialType(
            "bearer_token",
            "Bearer token",
            "Sent as the header Authorization: Bearer <token>.",
            (CredentialField("token", "Token", secret=True),),
        ),
        CredentialType(
            "basic_auth",
            "Basic auth",
            "Sent as the header Authorization: Basic <base64 of username:password>.",
            (
                CredentialField("username", "Username", secret=False),
                CredentialField("password", "Password", secret=True),
            ),
        ),
        CredentialType(
            "header",
            "Header",
            "A header of your choice, e.g. X-Api-Key: <value>.",
            (
                CredentialField("name", "Header name", secret=False),
                CredentialField("value", "Header value", secret=True),
            ),
        ),
        CredentialType(
            "query_param",
            "Query parameter",
            "A query parameter of your choice, e.g. ?api_key=<value>.",
            (
                CredentialField("name", "Parameter name", secret=False),
                CredentialField("value", "Parameter value", secret=True),
            ),
        ),
        CredentialType(
            "oauth2_client_credentials",
            "OAuth2 client credentials",
            "An access token from the token URL (grant client_credentials, client authenticated with "
            "HTTP Basic), sent as Authorization: Bearer <token>; cached encrypted until it expires.",
            (
                CredentialField("token_url", "Token URL", secret=False),
                CredentialField("client_id", "Client id", secret=False),
                CredentialField("client_secret", "Client secret", secret=True),
                CredentialField("scope", "Scope", secret=False, required=False, description="Space-separated."),
                CredentialField("audience", "Audience", secret=False, required=False),
            ),
        ),
    )
}


@dataclass
class Credential:
    """A decrypted credential, alive only in the worker for one call."""

    id: str
    name: str
    type: str
    data: dict[str, str]  # every field of its type, secret ones included
    access_token: str | None = None  # oauth2: the cached token, if any
    token_expires_at: datetime | None = None

    def secret_values(self) -> list[str]:
        kind = CREDENTIAL_TYPES.get(self.type)
        names = {f.name for f in kind.fields if f.secret} if kind else set(self.data)
        values = [v for k, v in self.data.items() if k in names and v]
        if self.access_token:
            values.append(self.access_token)
        return values


class CredentialResolver(Protocol):
    """Lent by the host (`NodeServices.credentials`): finds credentials of the schema's owner."""

    def resolve(self, reference: str) -> Credential:
        """The credential with this id or name; raises `NodeError` in plain words when there is none."""
        ...

    def token_obtained(self, credential: Credential, token: str, expires_at: datetime | None) -> None:
        """Keeps a fetched access token (encrypted) until it expires."""
        ...


@dataclass
class AppliedCredential:
    """What one call did with a credential: what the step may record, and what it must never."""

    credential: Credential
    secrets: list[str] = field(default_factory=list)  # every form in which a secret may show up
    header_names: list[str] = field(default_factory=list)  # headers it set (dropped on a cross-origin redirect)
    token_from_cache: bool = False

    def recorded(self) -> dict[str, str]:
        return {"credential": self.credential.id, "name": self.credential.name, "type": self.credential.type}

    def redact(self, value: Any) -> Any:
        return redact_secrets(value, self.secrets)


def _secret_forms(values: list[str]) -> list[str]:
    """The secret values and the encodings in which an echoing server or a URL may show them."""
    forms: list[str] = []
    for value in values:
        for form in (value, quote(value, safe=""), quote_plus(value)):
            if len(form) >= MIN_REDACTED_SECRET_LENGTH and form not in forms:
                forms.append(form)
    return sorted(forms, key=len, reverse=True)  # longest first: a secret inside another goes with it


def apply_credential(
    resolver: CredentialResolver | None,
    reference: str,
    headers: dict[str, str],
    query: dict[str, Any],
    *,
    policy: Any,
    now: datetime,
    timeout: float,
    refresh: bool = False,
) -> AppliedCredential:
    """Adds the credential named `reference` to `headers`/`query` (in place). `refresh`: fetch a
    new OAuth2 token even if the cached one looks valid (the server refused it)."""
    if resolver is None:
        raise NodeError("Credentials are not available here (this process has no credential store).")
    credential = resolver.resolve(reference)
    data = credential.data
    applied = AppliedCredential(credential)
    extra: list[str] = []
    if credential.type == "bearer_token":
        headers["Authorization"] = f"Bearer {data['token']}"
        applied.header_names.append("Authorization")
    elif credential.type == "basic_auth":
        pair = base64.b64encode(f"{data.get('username', '')}:{data['password']}".encode()).decode()
        headers["Authorization"] = f"Basic {pair}"
        applied.header_names.append("Authorization")
        extra.append(pair)
    elif credential.type == "header":
        headers[data["name"]] = data["value"]
        applied.header_names.append(data["name"])
    elif credential.type == "query_param":
        query[data["name"]] = data["value"]
    elif credential.type == "oauth2_client_credentials":
        token, applied.token_from_cache = _access_token(
            resolver, credential, policy=policy, now=now, timeout=timeout, refresh=refresh
        )
        headers["Authorization"] = f"Bearer {token}"
        applied.header_names.append("Authorization")
        extra.append(token)
    else:
        raise NodeError(f"Credential {credential.name!r} has the unknown type {credential.type!r}.")
    applied.secrets = _secret_forms(credential.secret_values() + extra)
    return applied


def _access_token(
    resolver: CredentialResolver,
    credential: Credential,
    *,
    policy: Any,
    now: datetime,
    timeout: float,
    refresh: bool,
) -> tuple[str, bool]:
    """(token, came from the cache)."""
    expires = credential.token_expires_at
    if not refresh and credential.access_token and (expires is None or expires - TOKEN_EXPIRY_MARGIN > now):
        return credential.access_token, True
    token, lifetime = fetch_client_credentials_token(credential, policy=policy, timeout=timeout)
    expires_at = now + timedelta(seconds=lifetime) if lifetime is not None else None
    credential.access_token, credential.token_expires_at = token, expires_at
    resolver.token_obtained(credential, token, expires_at)
    return token, False


def fetch_client_credentials_token(credential: Credential, *, policy: Any, timeout: float) -> tuple[str, float | None]:
    """POSTs the client-credentials grant to the token URL (vetted like any call; no redirects).
    Returns (access token, lifetime in seconds or None)."""
    data = credential.data
    url = data["token_url"]
    secrets = _secret_forms(credential.secret_values())
    form = {"grant_type": "client_credentials"}
    for name in ("scope", "audience"):
        if data.get(name):
            form[name] = data[name]
    if not url.lower().startswith(("http://", "https://")):
        raise NodeError(f"The token URL of credential {credential.name!r} must be an http(s) URL.")
    resolve = getattr(policy, "resolve", None)
    if policy is not None:
        policy.check("POST", url)
    session = guarded_session()
    where = f"the token endpoint {redact_url(url)} (credential {credential.name!r})"
    try:
        with guarded(resolve, timeout) as guard:
            try:
                response = session.post(
                    url,
                    data=form,
                    auth=(data.get("client_id", ""), data.get("client_secret", "")),
                    headers={"Accept": "application/json"},
                    timeout=max(guard.remaining(), 0.001),
                    allow_redirects=False,
                    stream=True,
                )
            except NodeError:
                raise
            except (requests.RequestException, OSError) as exc:
                reason = "timed out" if guard.expired else f"{type(exc).__name__}: {failure_reason(exc)}"
                raise NodeError(f"Calling {where} failed: {reason}") from None
            read_limited(response, guard, timeout, TOKEN_RESPONSE_MAX_BYTES)
    except NodeError as exc:
        raise NodeError(redact_secrets(str(exc), secrets)) from None
    finally:
        session.close()
    try:
        body = response.json()
    except ValueError:
        body = None
    if not 200 <= response.status_code < 300 or not isinstance(body, dict):
        problem = ""
        if isinstance(body, dict) and body.get("error"):
            problem = f": {body.get('error')}"
            if body.get("error_description"):
                problem += f" ({body['error_description']})"
        raise NodeError(redact_secrets(f"{where} answered HTTP {response.status_code}{problem}", secrets)[:500])
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise NodeError(f"{where} answered without an access_token.")
    lifetime = body.get("expires_in")
    try:
        seconds = float(lifetime) if lifetime is not None else None
    except (TypeError, ValueError):
        seconds = None
    return token, seconds


def describe_credential_types() -> list[dict[str, Any]]:
    return [t.describe() for t in CREDENTIAL_TYPES.values()]


class CredentialValues(Mapping[str, Mapping[str, str]]):
    """`credentials` in the expressions of secret-capable fields (`http_request` header and query
    values): `{{ credentials.<name>.<field> }}` resolves the credential when used, and remembers it
    so the node redacts its secrets by value. It cannot be listed (no names leak through it)."""

    def __init__(self, resolver: CredentialResolver | None) -> None:
        self.resolver = resolver
        self.used: dict[str, AppliedCredential] = {}

    def __getitem__(self, name: str) -> Mapping[str, str]:
        if self.resolver is None:
            raise NodeError("Credentials are not available here (this process has no credential store).")
        if name not in self.used:
            credential = self.resolver.resolve(str(name))
            self.used[name] = AppliedCredential(credential, secrets=_secret_forms(credential.secret_values()))
        return dict(self.used[name].credential.data)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


# `credentials.<name>` or `credentials['<name>']` inside a template (to check names before a run).
TEMPLATE_REFERENCE = re.compile(r"""\bcredentials\s*(?:\.\s*([A-Za-z_][A-Za-z0-9_]*)|\[\s*(['"])(.+?)\2\s*\])""")
SECRET_CAPABLE_FIELDS = ("headers", "query")


def credential_references(config: dict[str, Any]) -> list[tuple[str, str]]:
    """(path inside config, reference) of every credential a node's config names: `auth.credential`
    and `{{ credentials.<name>… }}` in the values of secret-capable fields."""
    found: list[tuple[str, str]] = []
    reference = credential_reference(config)
    if reference is not None:
        found.append(("auth.credential", reference))
    for name in SECRET_CAPABLE_FIELDS:
        values = config.get(name)
        for key, value in values.items() if isinstance(values, dict) else ():
            for match in TEMPLATE_REFERENCE.finditer(value if isinstance(value, str) else ""):
                found.append((f"{name}.{key}", match.group(1) or match.group(3)))
    return found


def credential_reference(config: dict[str, Any]) -> str | None:
    """The credential a node's config names (`auth.credential`), if any."""
    auth = config.get("auth")
    if isinstance(auth, dict) and isinstance(auth.get("credential"), str) and auth["credential"].strip():
        return str(auth["credential"]).strip()
    return None
