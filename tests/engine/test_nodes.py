"""Each node type on its own: outputs, ports, pauses, HTTP behaviour and the registry description."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote

import pytest
import requests

from engine.errors import NodeError
from engine.graph import NodeSpec
from engine.nodes import NODE_TYPES, NodeContext, NodeResult, NodeServices, describe_node_types, next_fire_time

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def run(
    node_type: str,
    config: dict[str, Any],
    *,
    input_: Any = None,
    vars_: dict[str, Any] | None = None,
    trigger: Any = None,
    services: NodeServices | None = None,
    on_error: str = "fail",
) -> NodeResult:
    ctx = NodeContext(
        execution_id="e1",
        node=NodeSpec("n1", node_type, config=config, on_error=on_error),
        attempt=2,
        idempotency_key="e1:n1:2",
        input=input_,
        vars=vars_ or {},
        trigger=trigger,
        outputs={"prev": {"x": 1}},
        now=NOW,
        services=services or NodeServices(),
    )
    return NODE_TYPES[node_type].run(ctx)


TRIGGER_TYPES = [name for name, node_type in NODE_TYPES.items() if node_type.is_trigger]


def test_describe_matches_the_contract() -> None:
    described = {d["type"]: d for d in describe_node_types()}
    assert [d["type"] for d in describe_node_types()] == list(NODE_TYPES)  # every registered type, once
    assert set(TRIGGER_TYPES) == {"manual_trigger", "webhook_trigger", "schedule_trigger"}
    assert set(described) >= {
        "manual_trigger",
        "webhook_trigger",
        "schedule_trigger",
        "set",
        "condition",
        "switch",
        "http_request",
        "delay",
        "wait",
        "log",
        "fail",
        "end",
        "merge",
    }
    for item in described.values():
        assert set(item) == {
            "type",
            "label",
            "group",
            "description",
            "is_trigger",
            "side_effects",
            "ports",
            "dynamic_ports",
            "accepts_many_inputs",
            "config_schema",
        }
        assert item["group"] in ("trigger", "logic", "action", "flow")
        json.dumps(item)
    assert described["switch"]["dynamic_ports"] == {"from": "cases", "key": "port"}
    assert described["switch"]["ports"] == ["default"]
    assert described["condition"]["ports"] == ["true", "false"]
    assert described["end"]["ports"] == [] and described["fail"]["ports"] == []
    assert described["http_request"]["side_effects"] is True
    assert described["http_request"]["config_schema"]["properties"]["url"]["x-expression"] is True


@pytest.mark.parametrize("trigger_type", TRIGGER_TYPES)
def test_triggers_output_the_payload(trigger_type: str) -> None:
    assert run(trigger_type, {"cron": "* * * * *"}, trigger={"a": 1}).output == {"a": 1}


def test_schedule_next_fire_time_uses_the_time_zone() -> None:
    config = {"cron": "0 9 * * *", "timezone": "Europe/Berlin"}
    after = datetime(2030, 7, 1, 8, 0, tzinfo=UTC)  # 10:00 in Berlin (summer time)
    assert next_fire_time(config, after) == datetime(2030, 7, 2, 7, 0, tzinfo=UTC)
    assert next_fire_time({"cron": "*/5 * * * *"}, datetime(2030, 1, 1, 0, 1)) == datetime(2030, 1, 1, 0, 5, tzinfo=UTC)


def test_schedule_config_problems() -> None:
    problems = NODE_TYPES["schedule_trigger"].config_problems({"cron": "61 * * * *", "timezone": "Nowhere/City"})
    assert [p[0] for p in problems] == ["cron", "timezone"]
    assert NODE_TYPES["schedule_trigger"].config_problems({"cron": "0 9 * * 1-5", "timezone": "UTC"}) == []


def test_set_assigns_expressions_literals_and_dotted_names() -> None:
    result = run(
        "set",
        {
            "assignments": [
                {"name": "total", "value": "{{ trigger.a * 2 }}"},
                {"name": "label", "value": "n={{ trigger.a }}"},
                {"name": "items", "value": [1, {"k": "{{ trigger.a }}"}]},
                {"name": "cfg.mode", "value": "fast"},
            ]
        },
        trigger={"a": 3},
        vars_={"cfg": {"keep": True}},
    )
    assert result.set_vars == {
        "total": 6,
        "label": "n=3",
        "items": [1, {"k": 3}],
        "cfg": {"keep": True, "mode": "fast"},
    }
    assert result.output == result.set_vars and result.port == "out"


@pytest.mark.parametrize(
    ("config", "port"),
    [
        ({"expression": "{{ trigger.total > 10 }}"}, "true"),
        ({"expression": "{{ trigger.total > 100 }}"}, "false"),
        ({"expression": "{{ trigger.total }} items"}, "true"),
        ({"expression": "false"}, "false"),
        ({"left": "{{ trigger.total }}", "operator": "gte", "right": 42}, "true"),
        ({"left": "{{ trigger.name }}", "operator": "starts_with", "right": "An"}, "true"),
        ({"left": "{{ trigger.tags }}", "operator": "contains", "right": "vip"}, "true"),
        ({"left": "{{ trigger.missing }}", "operator": "is_empty"}, "true"),
        ({"left": "10", "operator": "gt", "right": 9}, "true"),
    ],
)
def test_condition_ports(config: dict[str, Any], port: str) -> None:
    assert run("condition", config, trigger={"total": 42, "name": "Ann", "tags": ["vip"]}).port == port


def test_condition_incomparable_values_raise_node_error() -> None:
    with pytest.raises(NodeError, match="cannot compare"):
        run("condition", {"left": "{{ [1] }}", "operator": "gt", "right": 1})


@pytest.mark.parametrize(("kind", "port"), [("a", "pa"), ("2", "two"), ("zzz", "default")])
def test_switch_ports(kind: str, port: str) -> None:
    config = {"value": "{{ trigger.kind }}", "cases": [{"port": "pa", "value": "a"}, {"port": "two", "value": 2}]}
    assert run("switch", config, trigger={"kind": kind}).port == port


def test_switch_rejects_duplicate_and_reserved_ports() -> None:
    problems = NODE_TYPES["switch"].config_problems(
        {"value": "x", "cases": [{"port": "a", "value": 1}, {"port": "a", "value": 2}, {"port": "default", "value": 3}]}
    )
    assert [p[0] for p in problems] == ["cases[1].port", "cases[2].port"]


def test_delay_duration_until_and_past() -> None:
    result = run("delay", {"duration_seconds": 30})
    assert result.pause_kind == "delay" and result.resume_at == NOW + timedelta(seconds=30)
    result = run("delay", {"until": "2030-01-02T00:00:00Z"})
    assert result.resume_at == datetime(2030, 1, 2, tzinfo=UTC)
    assert run("delay", {"until": "2029-01-01T00:00:00+00:00"}).pause_kind is None
    assert run("delay", {"duration_seconds": "{{ 0 }}"}).pause_kind is None
    with pytest.raises(NodeError):
        run("delay", {"until": "tomorrow"})


def test_wait_log_fail_end() -> None:
    assert run("wait", {}).pause_kind == "wait"
    logged = run("log", {"level": "warning", "message": "total={{ input.t }}"}, input_={"t": 5})
    assert logged.output == {"level": "warning", "message": "total=5", "input": {"t": 5}}
    failed = run("fail", {"message": "bad order {{ trigger.id }}"}, trigger={"id": 9})
    assert failed.fail_message == "bad order 9" and failed.port is None
    ended = run("end", {"output": "{{ nodes.prev.output }}"})
    assert ended.end and ended.output == {"x": 1}
    assert run("end", {}, input_=[1]).output == [1]


# -- http_request ---------------------------------------------------------------------------------


def test_http_get_json_with_query_and_redacted_headers(http_server: Any) -> None:
    result = run(
        "http_request",
        {
            "method": "GET",
            "url": http_server.base_url + "/json",
            "query": {"q": "{{ trigger.q }}"},
            "headers": {"Authorization": "Bearer s3cret", "X-Api-Key": "k", "Accept": "application/json"},
            "idempotency_header": "Idempotency-Key",
        },
        trigger={"q": "shoes"},
    )
    assert result.output["status"] == 200
    assert result.output["body"]["path"] == "/json?q=shoes"
    assert result.output["headers"]["Set-Cookie"] == "[redacted]"
    sent = http_server.requests[-1]["headers"]
    assert sent["Authorization"] == "Bearer s3cret" and sent["Idempotency-Key"] == "e1:n1:2"
    recorded = result.recorded_input
    assert recorded["headers"]["Authorization"] == "[redacted]" and recorded["headers"]["X-Api-Key"] == "[redacted]"
    assert "s3cret" not in json.dumps([recorded, result.output])


def test_http_post_json_and_text_bodies(http_server: Any) -> None:
    result = run(
        "http_request",
        {"method": "POST", "url": http_server.base_url + "/json", "body": {"total": "{{ trigger.t }}"}},
        trigger={"t": 5},
    )
    assert json.loads(result.output["body"]["body"]) == {"total": 5}
    assert http_server.requests[-1]["headers"]["Content-Type"] == "application/json"
    result = run(
        "http_request",
        {"method": "PUT", "url": http_server.base_url + "/text", "body_type": "text", "body": "hi {{ trigger.t }}"},
        trigger={"t": 5},
    )
    assert result.output["body"] == "plain words"
    assert http_server.requests[-1]["body"] == "hi 5"


def test_http_unexpected_status_raises_with_response(http_server: Any) -> None:
    with pytest.raises(NodeError, match=r"HTTP 503 .*expected 2xx") as info:
        run("http_request", {"url": http_server.base_url + "/status/503"})
    assert info.value.details["response"]["body"] == {"status": "bad"}
    ok = run("http_request", {"url": http_server.base_url + "/status/404", "expected_status": [404, "500-599"]})
    assert ok.output["status"] == 404
    assert (
        run("http_request", {"url": http_server.base_url + "/status/502", "expected_status": ["500-599"]}).output[
            "status"
        ]
        == 502
    )


def test_http_follows_redirects_through_the_policy(http_server: Any) -> None:
    checked: list[str] = []

    class Policy:
        def check(self, method: str, url: str) -> None:
            checked.append(url)

    result = run(
        "http_request", {"url": http_server.base_url + "/redirect"}, services=NodeServices(outbound_policy=Policy())
    )
    assert result.output["body"]["ok"] is True
    assert checked == [http_server.base_url + "/redirect", http_server.base_url + "/json"]


def test_http_policy_can_refuse() -> None:
    class Deny:
        def check(self, method: str, url: str) -> None:
            raise NodeError(f"blocked {url}")

    with pytest.raises(NodeError, match="blocked"):
        run("http_request", {"url": "http://169.254.169.254/latest"}, services=NodeServices(outbound_policy=Deny()))


def test_http_timeout_and_bad_scheme(http_server: Any) -> None:
    with pytest.raises(NodeError, match="timed out"):
        run("http_request", {"url": http_server.base_url + "/slow", "timeout_seconds": 0.2})
    with pytest.raises(NodeError, match="only http"):
        run("http_request", {"url": "file:///etc/passwd"})
    with pytest.raises(NodeError, match="failed"):
        run("http_request", {"url": "http://127.0.0.1:1/nothing"})


# -- http_request: credentials on redirects -------------------------------------------------------


class _OriginHandler(BaseHTTPRequestHandler):
    """`/redirect?to=URL` answers 302 to URL and sets a cookie; anything else answers 200 `{}`."""

    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.server.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
        path, _, query = self.path.partition("?")
        self.send_response(302 if path == "/redirect" else 200)
        if path == "/redirect":
            self.send_header("Location", unquote(query.removeprefix("to=")))
            self.send_header("Set-Cookie", "sid=set-by-a; Path=/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture
def origins() -> Iterator[tuple[Any, Any]]:
    """Two servers on 127.0.0.1, on different ports: two origins."""
    servers = [ThreadingHTTPServer(("127.0.0.1", 0), _OriginHandler) for _ in range(2)]
    for server in servers:
        server.requests = []  # type: ignore[attr-defined]
        server.base_url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield servers[0], servers[1]
    for server in servers:
        server.shutdown()
        server.server_close()


CREDENTIALS = {"Authorization": "Bearer s3cret", "Cookie": "sid=s3cret", "X-Api-Key": "k", "Proxy-Authorization": "p"}


def redirect_url(server: Any, to: str) -> str:
    return f"{server.base_url}/redirect?to={quote(to, safe='')}"


def test_http_redirect_to_another_port_drops_credentials_and_cookies(origins: tuple[Any, Any]) -> None:
    a, b = origins
    run("http_request", {"url": redirect_url(a, b.base_url + "/x"), "headers": {**CREDENTIALS, "Accept": "a/b"}})
    assert a.requests[0]["headers"]["authorization"] == "Bearer s3cret"
    [received] = [r["headers"] for r in b.requests]
    assert not {"authorization", "cookie", "x-api-key", "proxy-authorization"} & set(received), received
    assert received["accept"] == "a/b"


def test_http_credentials_stay_dropped_when_redirected_back(origins: tuple[Any, Any]) -> None:
    """A → B → A: B chose the last URL, so A's credentials are not sent on B's behalf."""
    a, b = origins
    run("http_request", {"url": redirect_url(a, redirect_url(b, a.base_url + "/x")), "headers": CREDENTIALS})
    assert [r["path"] for r in a.requests][1] == "/x"
    assert "authorization" not in a.requests[1]["headers"] and "cookie" not in a.requests[1]["headers"]


def test_http_same_origin_redirect_keeps_credentials_and_cookies(origins: tuple[Any, Any]) -> None:
    a, _ = origins
    run("http_request", {"url": redirect_url(a, "/x"), "headers": {"Authorization": "Bearer s3cret", "X-Api-Key": "k"}})
    received = a.requests[1]["headers"]
    assert received["authorization"] == "Bearer s3cret" and received["x-api-key"] == "k"
    assert received["cookie"] == "sid=set-by-a"  # the cookie A set on its redirect


class _RedirectingSession:
    """Answers every request with a 302 to `location` and records the URLs asked for."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.urls: list[str] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.urls.append(url)
        response = requests.Response()
        response.status_code = 302
        response.headers["Location"] = self.location
        response.url = url
        response.raw = io.BytesIO(b"")
        return response


@pytest.mark.parametrize("location", ["http://api.example.com/next", "http://elsewhere.example.com/"])
def test_http_redirect_from_https_to_http_is_refused(location: str) -> None:
    session = _RedirectingSession(location)
    with pytest.raises(NodeError, match=r"from https to http") as info:
        run(
            "http_request",
            {"url": "https://api.example.com/start?token=t0p", "headers": {"Authorization": "Bearer s3cret"}},
            services=NodeServices(http_session=session),
        )
    assert session.urls == ["https://api.example.com/start?token=t0p"]  # the http URL is never asked for
    assert "t0p" not in str(info.value)
