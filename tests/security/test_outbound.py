"""SSRF and outbound safety of `http_request`, end to end: API execute → worker → step rows.

The worker's policy (engine/http/policy.py) refuses loopback, private, link-local/metadata and
other non-global addresses after DNS resolution, on every redirect hop, and connects only to the
addresses it vetted (no DNS-rebinding window). Tests use local servers: 127.0.0.1 is the
"internal" target; 127.0.0.2 is allow-listed and stands in for a public host.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from engine.errors import NodeError
from engine.http.policy import OutboundPolicy, is_forbidden
from tests.security.conftest import LocalServer, http_definition, step

pytestmark = pytest.mark.django_db(transaction=True)

ALLOW_TEST_HOST = ["127.0.0.2/32"]


def assert_blocked(execution: dict[str, Any], steps: list[dict[str, Any]], internal: LocalServer | None = None) -> str:
    call = step(steps, "call")
    assert call["status"] == "failed", call
    assert "Refusing to call" in call["error"] or "Only http and https" in call["error"], call["error"]
    assert execution["status"] == "failed"
    if internal is not None:
        assert internal.requests == [], "the internal server must never be reached"
    return str(call["error"])


# -- literal addresses and their disguises -----------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",  # a DNS name resolving to loopback
        "[::1]",  # IPv6 loopback
        "[::ffff:127.0.0.1]",  # IPv4-mapped IPv6
        "[::ffff:7f00:1]",  # the same, hex-spelled
        "2130706433",  # decimal 127.0.0.1
        "0177.0.0.1",  # octal
        "0x7f.0.0.1",  # hex
        "0x7f000001",  # one hex number
        "127.1",  # short form
        "0.0.0.0",  # "this host": reaches local listeners on Linux
        "0",
    ],
)
def test_loopback_in_any_spelling_is_blocked(run_schema: Any, internal_server: LocalServer, host: str) -> None:
    execution, steps = run_schema(http_definition({"url": internal_server.url("/ok", host=host)}))
    assert_blocked(execution, steps, internal_server)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",  # AWS/GCP/Azure metadata
        "http://[fd00:ec2::254]/latest/meta-data/",  # AWS IMDS over IPv6 (ULA)
        "http://100.100.100.200/latest/meta-data/",  # Alibaba metadata (shared address space)
        "http://168.63.129.16/machine",  # Azure WireServer (a public address, blocked explicitly)
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://[fe80::1]/",
        "http://[::]/",
        "http://224.0.0.1/",
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
        "http://[2002:a9fe:a9fe::1]/",  # 6to4 of 169.254.169.254
    ],
)
def test_private_and_metadata_addresses_are_blocked(run_schema: Any, url: str) -> None:
    execution, steps = run_schema(http_definition({"url": url, "timeout_seconds": 2}))
    error = assert_blocked(execution, steps)
    assert "SCHEMA_HTTP_ALLOWLIST" in error


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO", "ftp://example.com/x"])
def test_only_http_and_https(run_schema: Any, url: str) -> None:
    execution, steps = run_schema(http_definition({"url": url}))
    assert step(steps, "call")["status"] == "failed"
    assert "only http(s) URLs are allowed" in step(steps, "call")["error"]
    assert execution["status"] == "failed"


def test_dns_names_resolving_to_private_addresses(run_schema: Any, fake_dns: dict[str, Any]) -> None:
    fake_dns["metadata.google.internal"] = ["169.254.169.254"]
    fake_dns["intranet.example.com"] = ["10.1.2.3"]
    fake_dns["mixed.example.com"] = ["93.184.216.34", "192.168.0.10"]  # one bad answer spoils the name
    fake_dns["v6-loopback.example.com"] = ["::1"]
    for name in ("metadata.google.internal", "intranet.example.com", "mixed.example.com", "v6-loopback.example.com"):
        execution, steps = run_schema(http_definition({"url": f"http://{name}/x", "timeout_seconds": 2}))
        error = assert_blocked(execution, steps)
        assert name in error


# -- redirects -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/",
        "http://2852039166/latest/",  # decimal 169.254.169.254
        "INTERNAL",
    ],
)
def test_redirects_to_internal_addresses_are_blocked(
    run_schema: Any, settings: Any, allowed_server: LocalServer, internal_server: LocalServer, target: str
) -> None:
    settings.SCHEMA_HTTP_ALLOWLIST = ALLOW_TEST_HOST
    if target == "INTERNAL":
        target = internal_server.url("/ok")
    url = allowed_server.url("/redirect?to=" + quote(target, safe=""))
    execution, steps = run_schema(http_definition({"url": url, "timeout_seconds": 3}))
    assert_blocked(execution, steps, internal_server)
    assert [r["path"].split("?")[0] for r in allowed_server.requests] == ["/redirect"]


# -- credentials on redirects -------------------------------------------------------------------

CREDENTIALS = {"Authorization": "Bearer s3cret-a", "Cookie": "sid=s3cret-a", "X-Api-Key": "s3cret-a"}


@pytest.fixture
def two_origins(settings: Any) -> Iterator[tuple[LocalServer, LocalServer]]:
    """Two servers on 127.0.0.1 (allow-listed), on different ports: two origins, as A and B."""
    settings.SCHEMA_HTTP_ALLOWLIST = ["127.0.0.1/32"]
    first, second = LocalServer("127.0.0.1", "a"), LocalServer("127.0.0.1", "b")
    yield first, second
    first.close()
    second.close()


def lowered(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def test_a_redirect_to_another_origin_does_not_carry_credentials(
    run_schema: Any, two_origins: tuple[LocalServer, LocalServer]
) -> None:
    a, b = two_origins
    url = a.url("/redirect?to=" + quote(b.url("/echo"), safe=""))
    headers = {**CREDENTIALS, "Accept": "application/json"}
    execution, steps = run_schema(http_definition({"url": url, "headers": headers}))
    assert execution["status"] == "completed", steps
    assert lowered(a.requests[0]["headers"])["authorization"] == "Bearer s3cret-a"  # A gets them
    [received] = [lowered(r["headers"]) for r in b.requests]
    assert not {"authorization", "cookie", "x-api-key"} & set(received), received
    assert received["accept"] == "application/json"  # other headers still go
    assert "s3cret-a" not in json.dumps(b.requests)


def test_a_same_origin_redirect_keeps_credentials(
    run_schema: Any, two_origins: tuple[LocalServer, LocalServer]
) -> None:
    a, _ = two_origins
    url = a.url("/redirect?to=" + quote(a.url("/echo"), safe=""))
    execution, steps = run_schema(http_definition({"url": url, "headers": CREDENTIALS}))
    assert execution["status"] == "completed", steps
    assert [r["path"].split("?")[0] for r in a.requests] == ["/redirect", "/echo"]
    received = lowered(a.requests[1]["headers"])
    assert {k: received.get(k.lower()) for k in CREDENTIALS} == CREDENTIALS


def test_allowlist_lets_a_private_service_through(run_schema: Any, settings: Any, allowed_server: LocalServer) -> None:
    settings.SCHEMA_HTTP_ALLOWLIST = ALLOW_TEST_HOST
    execution, steps = run_schema(http_definition({"url": allowed_server.url("/ok")}))
    assert execution["status"] == "completed", steps
    assert step(steps, "call")["output"]["body"] == {"ok": True, "server": "allowed"}


def test_allowlist_by_host_name(
    run_schema: Any, settings: Any, fake_dns: dict[str, Any], allowed_server: LocalServer
) -> None:
    fake_dns["billing.internal"] = ["127.0.0.2"]
    settings.SCHEMA_HTTP_ALLOWLIST = ["billing.internal"]
    execution, steps = run_schema(http_definition({"url": f"http://billing.internal:{allowed_server.port}/ok"}))
    assert execution["status"] == "completed", steps


# -- DNS rebinding -------------------------------------------------------------------------------


def test_dns_rebinding_cannot_reach_the_internal_server(
    run_schema: Any,
    settings: Any,
    fake_dns: dict[str, Any],
    allowed_server: LocalServer,
    internal_server: LocalServer,
) -> None:
    """The name answers an allowed address to the first lookup and 127.0.0.1 to every later one.
    A check-then-connect implementation would resolve twice and connect to 127.0.0.1; ours
    resolves once per connection and connects to the address it vetted."""
    assert allowed_server.port != internal_server.port
    # Both servers must listen on the same port for the attack to be meaningful: use the internal
    # server's port on 127.0.0.2 too.
    twin = LocalServer.__new__(LocalServer)
    from http.server import ThreadingHTTPServer

    from tests.security.conftest import _Handler

    twin.server = ThreadingHTTPServer(("127.0.0.2", internal_server.port), _Handler)
    twin.server.daemon_threads = True
    twin.server.requests = []  # type: ignore[attr-defined]
    twin.server.name = "allowed-twin"  # type: ignore[attr-defined]
    twin.host, twin.port = "127.0.0.2", internal_server.port
    import threading

    twin.thread = threading.Thread(target=twin.server.serve_forever, daemon=True)
    twin.thread.start()
    try:
        answers = iter(["127.0.0.2"])
        fake_dns["rebind.example.com"] = lambda: [next(answers, "127.0.0.1")]
        settings.SCHEMA_HTTP_ALLOWLIST = ALLOW_TEST_HOST
        execution, steps = run_schema(http_definition({"url": f"http://rebind.example.com:{internal_server.port}/ok"}))
        assert execution["status"] == "completed", steps
        assert step(steps, "call")["output"]["body"]["server"] == "allowed-twin"
        assert internal_server.requests == []
        assert fake_dns["__calls__"].count("rebind.example.com") == 1
    finally:
        twin.close()


def test_policy_resolve_is_all_or_nothing_and_reports_the_address() -> None:
    policy = OutboundPolicy([])
    with pytest.raises(NodeError) as info:
        policy.resolve("127.0.0.1", 80)
    assert info.value.details == {"blocked_address": "127.0.0.1"}
    with pytest.raises(NodeError, match="Cannot resolve"):
        policy.resolve("no-such-host.invalid", 80)
    allowed = OutboundPolicy(["127.0.0.0/8"])
    assert allowed.resolve("127.0.0.1", 80) == ["127.0.0.1"]
    assert OutboundPolicy(["10.0.0.0/8"])._allowed("x", ipaddress.ip_address("::ffff:10.1.1.1"))


@pytest.mark.parametrize(
    "address,forbidden",
    [
        ("8.8.8.8", False),
        ("2606:4700:4700::1111", False),
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:8.8.8.8", False),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("198.18.0.1", True),  # benchmarking range
        ("192.0.0.1", True),
        ("255.255.255.255", True),
        ("64:ff9b::7f00:1", True),
        ("64:ff9b::808:808", False),
        ("2002:7f00:1::", True),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", True),  # Teredo
        ("fd00:ec2::254", True),
        ("ff02::1", True),
        ("168.63.129.16", True),
    ],
)
def test_address_classification(address: str, forbidden: bool) -> None:
    assert is_forbidden(ipaddress.ip_address(address)) is forbidden


# -- size and time limits ------------------------------------------------------------------------


def test_response_size_limit(run_schema: Any, settings: Any, allowed_server: LocalServer) -> None:
    settings.SCHEMA_HTTP_ALLOWLIST = ALLOW_TEST_HOST
    execution, steps = run_schema(http_definition({"url": allowed_server.url("/big")}))
    call = step(steps, "call")
    assert call["status"] == "failed" and "response body larger than" in call["error"]
    assert execution["status"] == "failed"


def test_total_time_limit_stops_a_trickling_server(run_schema: Any, settings: Any, allowed_server: LocalServer) -> None:
    """Each byte arrives well within a per-read timeout; only a whole-call deadline stops it."""
    settings.SCHEMA_HTTP_ALLOWLIST = ALLOW_TEST_HOST
    started = time.monotonic()
    execution, steps = run_schema(http_definition({"url": allowed_server.url("/trickle"), "timeout_seconds": 1}))
    elapsed = time.monotonic() - started
    call = step(steps, "call")
    assert call["status"] == "failed" and "timed out after 1" in call["error"], call["error"]
    assert execution["status"] == "failed"
    assert elapsed < 6, f"took {elapsed:.1f}s"


def test_binary_and_invalid_json_responses_are_stored(
    run_schema: Any, settings: Any, allowed_server: LocalServer
) -> None:
    """NUL bytes, NaN and lone surrogates cannot be stored in jsonb; they are replaced, not fatal."""
    settings.SCHEMA_HTTP_ALLOWLIST = ALLOW_TEST_HOST
    for path in ("/binary", "/nul-json"):
        execution, steps = run_schema(http_definition({"url": allowed_server.url(path)}))
        assert execution["status"] == "completed", (path, steps)
        body = step(steps, "call")["output"]["body"]
        assert "\x00" not in json.dumps(body, ensure_ascii=False)
    assert body == {"a": "x\ufffdy", "b": None, "\ufffdk": "\ufffd"}


# -- secrets stay out of steps and logs -----------------------------------------------------------


def test_secrets_are_redacted_in_steps_errors_and_logs(
    run_schema: Any, settings: Any, allowed_server: LocalServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings.SCHEMA_HTTP_ALLOWLIST = ALLOW_TEST_HOST
    secret = "s3cr3t-value-42"
    config = {
        "method": "POST",
        "url": f"http://127.0.0.2:{allowed_server.port}/ok?api_key={secret}&page=2",
        "headers": {
            "Authorization": f"Bearer {secret}",
            "X-Api-Key": secret,
            "X-Auth-Token": secret,
            "Cookie": f"sid={secret}",
            "Accept": "application/json",
        },
        "query": {"access_token": secret, "q": "shoes"},
        "body": {"user": "ada", "password": secret, "nested": {"client_secret": secret}},
    }
    with caplog.at_level(logging.DEBUG):
        execution, steps = run_schema(http_definition(config))
    assert execution["status"] == "completed", steps
    call = step(steps, "call")
    assert allowed_server.requests[-1]["headers"]["Authorization"] == f"Bearer {secret}"  # really sent
    recorded = call["input"]
    assert recorded["headers"]["Authorization"] == "[redacted]"
    assert recorded["query"]["access_token"] == "[redacted]" and recorded["query"]["q"] == "shoes"
    assert recorded["body"]["password"] == "[redacted]" and recorded["body"]["user"] == "ada"
    assert "api_key=[redacted]" in recorded["url"] and "page=2" in recorded["url"]
    assert call["output"]["headers"]["Set-Cookie"] == "[redacted]"
    stored = json.dumps([recorded, call["error"]])
    assert secret not in stored
    assert secret not in caplog.text

    # The same when the call fails: the error message (stored and logged) has no secret either.
    allowed_server.close()
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        url = f"http://admin:{secret}@127.0.0.2:{allowed_server.port}/ok?token={secret}"
        execution, steps = run_schema(http_definition({**config, "url": url, "timeout_seconds": 2}))
    call = step(steps, "call")
    assert call["status"] == "failed" and "failed" in call["error"]
    assert secret not in call["error"] and secret not in (execution["error"] or "")
    assert secret not in caplog.text
