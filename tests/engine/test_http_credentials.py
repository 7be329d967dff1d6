"""`http_request` with `auth: {credential: ...}`: each credential type reaches the server, and no
secret appears in what the step records (input, output, errors), also when the server echoes it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.errors import NodeError
from engine.graph import NodeSpec
from engine.http.auth import Credential
from engine.nodes import NodeContext, NodeResult, NodeServices, get_node_type
from tests.helpers.http_server import LocalServer

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
TOKEN = "tok-0123456789abcdef-secret"
PASSWORD = "pa55-w0rd-very+secret/=="


class FakeResolver:
    def __init__(self, *credentials: Credential) -> None:
        self.by_name = {c.name: c for c in credentials}
        self.saved: list[tuple[str, datetime | None]] = []

    def resolve(self, reference: str) -> Credential:
        if reference not in self.by_name:
            raise NodeError(f"There is no credential named {reference!r}.")
        return self.by_name[reference]

    def token_obtained(self, credential: Credential, token: str, expires_at: datetime | None) -> None:
        self.saved.append((token, expires_at))


def call(config: dict[str, Any], resolver: FakeResolver, now: datetime = NOW) -> NodeResult:
    ctx = NodeContext(
        execution_id="e1",
        node=NodeSpec("n1", "http_request", config=config),
        attempt=1,
        idempotency_key="e1:n1:1",
        input=None,
        vars={},
        trigger=None,
        outputs={},
        now=now,
        services=NodeServices(credentials=resolver),
    )
    node = get_node_type("http_request")
    assert node is not None
    return node.run(ctx)


def assert_no_secret(secret: str, *values: Any) -> None:
    text = json.dumps(values)
    assert secret not in text
    assert base64.b64encode(secret.encode()).decode() not in text


@pytest.mark.parametrize(
    ("kind", "data", "expect_header", "expect_value"),
    [
        ("bearer_token", {"token": TOKEN}, "Authorization", f"Bearer {TOKEN}"),
        ("header", {"name": "X-Custom-Key", "value": TOKEN}, "X-Custom-Key", TOKEN),
    ],
)
def test_header_credentials_arrive_and_are_not_recorded_even_when_echoed(
    http_server: LocalServer, kind: str, data: dict[str, str], expect_header: str, expect_value: str
) -> None:
    resolver = FakeResolver(Credential(id="c1", name="api", type=kind, data=data))
    result = call({"url": http_server.base_url + "/echo", "auth": {"credential": "api"}}, resolver)
    assert http_server.requests[-1]["headers"][expect_header] == expect_value
    assert result.output["body"]["headers"][expect_header].endswith("[redacted]")  # the echo, redacted by value
    assert result.recorded_input["auth"] == {"credential": "c1", "name": "api", "type": kind}
    assert_no_secret(TOKEN, result.output, result.recorded_input)


def test_basic_auth_and_its_base64_form_are_redacted(http_server: LocalServer) -> None:
    resolver = FakeResolver(
        Credential(id="c2", name="basic", type="basic_auth", data={"username": "ann", "password": PASSWORD})
    )
    result = call({"url": http_server.base_url + "/echo", "auth": {"credential": "basic"}}, resolver)
    sent = http_server.requests[-1]["headers"]["Authorization"]
    assert base64.b64decode(sent.removeprefix("Basic ")).decode() == f"ann:{PASSWORD}"
    assert_no_secret(PASSWORD, result.output, result.recorded_input)
    assert base64.b64encode(f"ann:{PASSWORD}".encode()).decode() not in json.dumps(result.output)


def test_query_param_credential_in_the_url_is_redacted_even_under_a_harmless_name(http_server: LocalServer) -> None:
    resolver = FakeResolver(Credential(id="c3", name="q", type="query_param", data={"name": "k", "value": PASSWORD}))
    result = call(
        {"url": http_server.base_url + "/echo", "query": {"page": "2"}, "auth": {"credential": "q"}}, resolver
    )
    assert "k=pa55-w0rd-very%2Bsecret%2F%3D%3D" in http_server.requests[-1]["path"]
    assert_no_secret(PASSWORD, result.output, result.recorded_input)
    assert "pa55-w0rd-very%2Bsecret%2F%3D%3D" not in json.dumps(result.output)
    assert result.recorded_input["query"] == {"page": "2", "k": "[redacted]"}


def test_errors_carry_no_secret(http_server: LocalServer) -> None:
    resolver = FakeResolver(Credential(id="c1", name="api", type="bearer_token", data={"token": TOKEN}))
    with pytest.raises(NodeError) as info:
        call({"url": http_server.base_url + f"/status/503?echo={TOKEN}", "auth": {"credential": "api"}}, resolver)
    assert_no_secret(TOKEN, str(info.value), info.value.details)


def test_unknown_credential_fails_in_plain_words(http_server: LocalServer) -> None:
    with pytest.raises(NodeError, match="no credential named 'nope'"):
        call({"url": http_server.base_url + "/ok", "auth": {"credential": "nope"}}, FakeResolver())
    assert http_server.requests == []


def test_without_a_credential_store_the_node_says_so(http_server: LocalServer) -> None:
    node = get_node_type("http_request")
    assert node is not None
    config = {"url": http_server.base_url + "/ok", "auth": {"credential": "x"}}
    ctx = NodeContext("e1", NodeSpec("n1", "http_request", config=config), 1, "k", None, {}, None, {}, NOW)
    with pytest.raises(NodeError, match="Credentials are not available"):
        node.run(ctx)


def test_credential_header_stays_with_its_origin_on_redirect(http_server: LocalServer) -> None:
    other = LocalServer("127.0.0.1", name="other")
    try:
        resolver = FakeResolver(
            Credential(id="c1", name="h", type="header", data={"name": "X-Harmless", "value": TOKEN})
        )
        target = other.url("/echo")
        call({"url": http_server.base_url + f"/redirect?to={target}", "auth": {"credential": "h"}}, resolver)
        assert http_server.requests[-1]["headers"]["X-Harmless"] == TOKEN
        assert "X-Harmless" not in other.requests[-1]["headers"]
    finally:
        other.close()


def oauth(server: LocalServer, secret: str | None = None) -> Credential:
    data = {
        "token_url": server.url("/oauth/token"),
        "client_id": "app",
        "client_secret": secret or server.client_secret,
    }
    return Credential(id="c9", name="oauth", type="oauth2_client_credentials", data={**data, "scope": "read"})


def test_oauth2_token_is_fetched_cached_and_refreshed_after_expiry(http_server: LocalServer) -> None:
    credential = oauth(http_server)
    resolver = FakeResolver(credential)
    config = {"url": http_server.base_url + "/protected", "auth": {"credential": "oauth"}}
    first = call(config, resolver)
    assert first.output["status"] == 200 and len(http_server.tokens) == 1
    token = http_server.tokens[0]
    assert resolver.saved == [(token, NOW + timedelta(seconds=3600))]
    assert "scope=read" in http_server.requests[0]["body"]
    assert_no_secret(token, first.output, first.recorded_input)
    assert_no_secret(http_server.client_secret, first.output, first.recorded_input)

    call(config, resolver, now=NOW + timedelta(minutes=30))  # still valid: cached
    assert len(http_server.tokens) == 1
    call(config, resolver, now=NOW + timedelta(minutes=59, seconds=45))  # inside the margin: renewed
    assert len(http_server.tokens) == 2 and resolver.saved[-1][0] == http_server.tokens[1]


def test_oauth2_revoked_cached_token_is_replaced_once(http_server: LocalServer) -> None:
    credential = oauth(http_server)
    credential.access_token, credential.token_expires_at = "revoked-token-xyz", NOW + timedelta(hours=1)
    http_server.tokens.append("tok-issued-elsewhere")  # the cached one is no longer the valid one
    result = call(
        {"url": http_server.base_url + "/protected", "auth": {"credential": "oauth"}}, FakeResolver(credential)
    )
    assert result.output["status"] == 200
    assert_no_secret("revoked-token-xyz", result.output)


def test_oauth2_wrong_client_secret_is_a_plain_error_without_the_secret(http_server: LocalServer) -> None:
    resolver = FakeResolver(oauth(http_server, secret="wrong-secret-value"))
    with pytest.raises(NodeError, match=r"token endpoint .* answered HTTP 401: invalid_client") as info:
        call({"url": http_server.base_url + "/protected", "auth": {"credential": "oauth"}}, resolver)
    assert "wrong-secret-value" not in str(info.value)


def test_credentials_in_header_and_query_expressions_arrive_redacted_and_recorded(http_server: LocalServer) -> None:
    resolver = FakeResolver(
        Credential(id="c1", name="api", type="bearer_token", data={"token": TOKEN}),
        Credential(id="c5", name="q", type="query_param", data={"name": "k", "value": PASSWORD}),
    )
    config = {
        "url": http_server.base_url + "/echo",
        "headers": {"X-Custom": "Token {{ credentials.api.token }}"},
        "query": {"sig": "{{ credentials['q'].value }}"},
    }
    result = call(config, resolver)
    sent = http_server.requests[-1]
    assert sent["headers"]["X-Custom"] == f"Token {TOKEN}" and "sig=pa55-w0rd" in sent["path"]
    assert result.recorded_input["credentials"] == [
        {"credential": "c1", "name": "api", "type": "bearer_token"},
        {"credential": "c5", "name": "q", "type": "query_param"},
    ]
    assert result.recorded_input["headers"]["X-Custom"] == "Token [redacted]"
    assert_no_secret(TOKEN, result.output, result.recorded_input)
    assert_no_secret(PASSWORD, result.output, result.recorded_input)


def test_credentials_are_not_in_the_scope_of_other_fields(http_server: LocalServer) -> None:
    resolver = FakeResolver(Credential(id="c1", name="api", type="bearer_token", data={"token": TOKEN}))
    with pytest.raises(Exception, match="credentials"):
        call({"url": http_server.base_url + "/echo?t={{ credentials.api.token }}"}, resolver)
    assert http_server.requests == []


def test_a_header_carrying_a_credential_stays_with_its_origin(http_server: LocalServer) -> None:
    other = LocalServer("127.0.0.1", name="other")
    try:
        resolver = FakeResolver(Credential(id="c1", name="api", type="bearer_token", data={"token": TOKEN}))
        config = {
            "url": http_server.base_url + f"/redirect?to={other.url('/echo')}",
            "headers": {"X-Plain": "{{ credentials.api.token }}", "Accept": "application/json"},
        }
        call(config, resolver)
        assert http_server.requests[-1]["headers"]["X-Plain"] == TOKEN
        assert "X-Plain" not in other.requests[-1]["headers"] and other.requests[-1]["headers"]["Accept"]
    finally:
        other.close()
