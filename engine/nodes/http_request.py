"""`http_request`: one HTTP call with `requests`; output `{status, headers, body}`.

Safety (the host injects the policy as `ctx.services.outbound_policy`, `engine/http/policy.py`):
addresses are vetted at connect time and each redirect hop (followed here, not by `requests`) is
vetted the same way (`engine/http/transport.py`); a hop to another origin carries no credentials
and https is never followed to http (`engine/http/redirects.py`); `timeout_seconds` bounds the
whole call and the body is read up to `MAX_BODY_BYTES`; secrets are redacted in everything
recorded (`engine/http/redaction.py`). `auth: {"credential": ...}` applies a stored credential
(`engine/http/auth.py`, resolved through `ctx.services.credentials` at the moment of the call): its
values are redacted by value from the recorded input, the output and errors, and the step records
only the credential's id, name and type.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

import requests

from engine.errors import NodeError
from engine.expressions import evaluate_value
from engine.http.auth import AppliedCredential, CredentialValues, apply_credential, credential_reference
from engine.http.redaction import redact_headers, redact_url, redact_value
from engine.http.redirects import origin, refuse_downgrade, without_credentials
from engine.http.transport import Guard, failure_reason, guarded, guarded_session, read_limited
from engine.limits import MAX_STEP_BYTES
from engine.nodes.base import NodeContext, NodeResult, NodeType, expression_string

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
MAX_BODY_BYTES = MAX_STEP_BYTES
MAX_REDIRECTS = 5
STATUS_PATTERN = r"^([1-5]xx|[1-5]\d\d(-[1-5]\d\d)?)$"


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
            "headers": {
                "type": "object",
                "additionalProperties": expression_string(
                    "Header value; may use {{ credentials.<name>.<field> }}.", **{"x-secret-capable": True}
                ),
            },
            "query": {
                "type": "object",
                "additionalProperties": expression_string(
                    "Query parameter value; may use {{ credentials.<name>.<field> }}.", **{"x-secret-capable": True}
                ),
            },
            "body_type": {"enum": ["none", "json", "text"], "default": "json"},
            "body": {"x-expression": True, "description": "JSON value (strings may be expressions) or text."},
            "timeout_seconds": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 300,
                "default": 30,
                "description": "Limit of the whole call, redirects included.",
            },
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
            "auth": {
                "type": "object",
                "description": "A stored credential applied to the call; the definition holds only its name.",
                "properties": {
                    "credential": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 255,
                        "x-credential": True,
                        "description": "Name (or id) of one of the schema owner's credentials.",
                    }
                },
                "required": ["credential"],
                "additionalProperties": False,
            },
            "idempotency_header": {
                "type": "string",
                "description": "If set, this header carries the step's idempotency key (e.g. Idempotency-Key).",
            },
        },
        "required": ["url"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        applied: list[AppliedCredential] = []
        try:
            return self._call(ctx, applied)
        except NodeError as exc:
            if not applied:
                raise
            # A failed call used its credentials too: the step names them (id, name, type; never data).
            used = list({c.credential.id: c.recorded() for c in applied}.values())
            details = {**_redact(applied, exc.details), "credentials": used}
            raise NodeError(_redact(applied, str(exc)), details=details) from None
        except Exception as exc:
            if applied and _redact(applied, str(exc)) != str(exc):
                raise RuntimeError(_redact(applied, f"{type(exc).__name__}: {exc}")) from None
            raise

    def _call(self, ctx: NodeContext, applied: list[AppliedCredential]) -> NodeResult:
        config = ctx.config
        method = str(config.get("method", "GET")).upper()
        url = str(ctx.field("url"))
        # Header and query values are secret-capable: their expressions may read `credentials`.
        in_values = CredentialValues(ctx.services.credentials)
        secret_scope = {**ctx.scope(), "credentials": in_values}

        def secret_capable(name: str) -> dict[str, Any]:
            try:
                raw = config.get(name) or {}
                value = evaluate_value(raw, secret_scope, node_id=ctx.node.id, field=f"config.{name}")
            finally:  # also when it fails: its error is redacted with what it had resolved
                applied.extend(c for c in in_values.used.values() if all(c is not a for a in applied))
            return value if isinstance(value, dict) else {}

        headers = {str(k): str(v) for k, v in secret_capable("headers").items()}
        query = {str(k): v for k, v in secret_capable("query").items()}
        reference = credential_reference(config)
        timeout = float(config.get("timeout_seconds", 30))

        def authorize(refresh: bool = False) -> AppliedCredential:
            assert reference is not None
            credential = apply_credential(
                ctx.services.credentials,
                reference,
                headers,
                query,
                policy=ctx.services.outbound_policy,
                now=ctx.now,
                timeout=timeout,
                refresh=refresh,
            )
            applied.append(credential)
            return credential

        if reference is not None:
            authorize()
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
        recorded: dict[str, Any] = {
            "method": method,
            "url": redact_url(url),
            "headers": redact_headers(headers),
            "query": redact_value(query),
            "body": redact_value(body),
        }
        private = [name for credential in applied for name in credential.header_names]
        private += [name for name, value in headers.items() if _redact(applied, value) != value]
        response = self._send(ctx, method=method, url=url, headers=headers, query=query, data=data, private=private)
        if response.status_code == 401 and applied and applied[-1].token_from_cache:
            # The server refused a cached OAuth2 token (revoked before its expiry): fetch a new one, once.
            response.close()
            authorize(refresh=True)
            response = self._send(ctx, method=method, url=url, headers=headers, query=query, data=data, private=private)
        output = {
            "status": response.status_code,
            "headers": redact_headers(dict(response.headers)),
            "body": _parse_body(response),
        }
        if applied:
            if reference is not None:
                recorded["auth"] = applied[-1].recorded()
            if in_values.used:
                recorded["credentials"] = [c.recorded() for c in in_values.used.values()]
            recorded, output = _redact(applied, recorded), _redact(applied, output)
        expected = config.get("expected_status") or ["2xx"]
        if not status_expected(response.status_code, expected):
            raise NodeError(
                f"HTTP {response.status_code} from {redact_url(url)} (expected {', '.join(map(str, expected))})",
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
        private: list[str],
    ) -> requests.Response:
        """`private`: headers a credential set; like sensitive-looking ones they stay with their origin."""
        timeout = float(ctx.config.get("timeout_seconds", 30))
        follow = bool(ctx.config.get("follow_redirects", True))
        policy = ctx.services.outbound_policy
        resolve = getattr(policy, "resolve", None)
        own_session = ctx.services.http_session is None
        session = guarded_session() if own_session else ctx.services.http_session
        try:
            with guarded(resolve, timeout) as guard:
                for _hop in range(MAX_REDIRECTS + 1):
                    if not url.lower().startswith(("http://", "https://")):
                        raise NodeError(f"only http(s) URLs are allowed, got {redact_url(url)!r}")
                    if policy is not None and (resolve is None or not own_session):
                        policy.check(method, url)  # vetted again at connect time when resolve exists
                    response = self._request(
                        session, guard, method=method, url=url, headers=headers, query=query, data=data, timeout=timeout
                    )
                    if not (follow and response.is_redirect and "location" in response.headers):
                        read_limited(response, guard, timeout, MAX_BODY_BYTES)
                        return response
                    target = urljoin(url, response.headers["location"])
                    response.close()
                    refuse_downgrade(url, target)
                    if origin(target) != origin(url):
                        headers = without_credentials(headers, private)
                        if own_session:
                            session.cookies.clear()  # what the earlier origin set stays with it
                    url, query = target, {}
                    if response.status_code in (301, 302, 303) and method != "HEAD":
                        method, data = "GET", None
                raise NodeError(f"more than {MAX_REDIRECTS} redirects")
        finally:
            if own_session:
                session.close()

    @staticmethod
    def _request(
        session: Any,
        guard: Guard,
        *,
        method: str,
        url: str,
        headers: dict[str, str],
        query: dict[str, Any],
        data: bytes | None,
        timeout: float,
    ) -> requests.Response:
        remaining = guard.remaining()
        if remaining <= 0 or guard.expired:
            raise NodeError(f"timed out after {timeout}s calling {redact_url(url)}")
        try:
            response: requests.Response = session.request(
                method,
                url,
                headers=headers,
                params=query,
                data=data,
                timeout=remaining,
                allow_redirects=False,
                stream=True,
            )
        except NodeError:
            raise  # refused by the outbound policy at connect time
        except requests.Timeout:
            raise NodeError(f"timed out after {timeout}s calling {redact_url(url)}") from None
        except (requests.RequestException, OSError) as exc:
            if guard.expired:
                raise NodeError(f"timed out after {timeout}s calling {redact_url(url)}") from None
            raise NodeError(
                f"request to {redact_url(url)} failed: {type(exc).__name__}: {failure_reason(exc)}"
            ) from None
        return response


def _redact(applied: list[AppliedCredential], value: Any) -> Any:
    for credential in applied:
        value = credential.redact(value)
    return value


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
