"""Input limits: request bodies, JSON that PostgreSQL cannot store, definition size, payload and step
output size. Each one is a 400/413 with the API's JSON error (never a 500), and nothing is written."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from rest_framework.test import APIClient

from engine import walker
from engine.limits import MAX_STEP_BYTES
from engine.validation import MAX_DEPTH, MAX_EDGES, MAX_ID_LENGTH, MAX_NODES
from executions_app.models import Execution, ExecutionStep
from schemas_app.models import Schema, SchemaVersion
from tests.builders import edge, linear_definition, node
from tests.factories import create_schema
from tests.security.conftest import step

pytestmark = pytest.mark.django_db(transaction=True)


def counts() -> tuple[int, int, int, int]:
    return (
        Schema.objects.count(),
        SchemaVersion.objects.count(),
        Execution.objects.count(),
        ExecutionStep.objects.count(),
    )


def assert_error(response: Any, status: int, error_type: str, fragment: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.content[:300]
    body = json.loads(response.content)
    assert set(body) == {"type", "detail", "errors"} and body["type"] == error_type, body
    assert fragment in body["detail"], body
    return body


@pytest.fixture
def hook(user: Any) -> Schema:
    return create_schema(user=user, definition=linear_definition("webhook_trigger"), activate=True)


# -- request body size ---------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["create", "execute", "webhook", "validate"])
def test_oversized_body_is_413_before_it_is_read(
    api: APIClient, anon_client: APIClient, hook: Schema, target: str
) -> None:
    before = counts()
    big = json.dumps({"name": "x", "definition": linear_definition(), "payload": "x" * 1_100_000})
    urls = {
        "create": "/api/schemas/",
        "execute": f"/api/schemas/{hook.id}/execute/",
        "webhook": f"/api/hooks/{hook.id}/",
        "validate": f"/api/schemas/{hook.id}/validate/",
    }
    client = anon_client if target == "webhook" else api
    headers = {"HTTP_X_SCHEMA_SECRET": hook.webhook_secret} if target == "webhook" else {}
    response = client.post(urls[target], data=big, content_type="application/json", **headers)
    assert_error(response, 413, "payload_too_large", "larger than 1048576 bytes")
    assert counts() == before


def test_limit_follows_the_setting(api: APIClient, settings: Any) -> None:
    settings.SCHEMA_MAX_REQUEST_BYTES = 2000
    response = api.post("/api/schemas/", {"name": "x" * 3000, "definition": linear_definition()}, format="json")
    assert_error(response, 413, "payload_too_large", "larger than 2000 bytes")


def _wsgi(method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """A request as gunicorn hands it over for `Transfer-Encoding: chunked`: no CONTENT_LENGTH,
    the de-chunked body readable from wsgi.input."""
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        **headers,
    }
    result: dict[str, Any] = {}

    def start_response(status: str, response_headers: Any, exc_info: Any = None) -> None:
        result["status"] = int(status.split(maxsplit=1)[0])

    chunks = WSGIHandler()(environ, start_response)
    data = b"".join(chunks)
    return result["status"], json.loads(data)


def test_chunked_body_is_bounded_and_kept(hook: Schema) -> None:
    secret = {"HTTP_X_SCHEMA_SECRET": hook.webhook_secret}
    status, body = _wsgi("POST", f"/api/hooks/{hook.id}/", json.dumps({"name": "Chunked"}).encode(), secret)
    assert status == 202, body
    # Without the middleware Django reads a body without Content-Length as empty: payload {} .
    assert body["trigger_payload"] == {"name": "Chunked"}
    before = counts()
    status, body = _wsgi("POST", f"/api/hooks/{hook.id}/", b'{"a": "' + b"x" * 2_000_000 + b'"}', secret)
    assert status == 413 and body["type"] == "payload_too_large"
    assert counts() == before


@pytest.mark.parametrize("value", ["abc", "-1"])
def test_bad_content_length_is_400(api: APIClient, value: str) -> None:
    response = api.generic("POST", "/api/schemas/", "{}", content_type="application/json", CONTENT_LENGTH=value)
    assert_error(response, 400, "parse_error", "Content-Length")


# -- JSON that would break PostgreSQL ------------------------------------------------------------

BAD_JSON = {
    "nan": b'{"payload": {"a": NaN}}',
    "infinity": b'{"payload": {"a": -Infinity}}',
    "overflowing-float": b'{"payload": {"a": 1e400}}',
    "nul-in-string": b'{"payload": {"a": "x\\u0000y"}}',
    "nul-in-key": b'{"payload": {"\\u0000": 1}}',
    "lone-surrogate": b'{"payload": {"a": "\\ud800"}}',
    "deep-nesting": b'{"payload": ' + b"[" * 100 + b"]" * 100 + b"}",
    "very-deep-nesting": b'{"payload": ' + b"[" * 100_000 + b"}",
    "huge-integer": b'{"payload": ' + b"9" * 5000 + b"}",
    "not-utf8": b'{"payload": "\xff\xfe"}',
    "truncated": b'{"payload": ',
}


@pytest.mark.parametrize("name", list(BAD_JSON))
@pytest.mark.parametrize("target", ["execute", "create", "resume", "webhook"])
def test_json_that_jsonb_cannot_store_is_a_400(
    api: APIClient, anon_client: APIClient, hook: Schema, name: str, target: str
) -> None:
    before = counts()
    raw = BAD_JSON[name]
    if target == "execute":
        response = api.post(f"/api/schemas/{hook.id}/execute/", data=raw, content_type="application/json")
    elif target == "create":
        raw = raw.replace(b'{"payload": ', b'{"name": "n", "definition": ', 1)
        response = api.post("/api/schemas/", data=raw, content_type="application/json")
    elif target == "resume":
        response = api.post(
            "/api/executions/00000000-0000-0000-0000-000000000000/resume/", data=raw, content_type="application/json"
        )
    else:
        raw = raw.replace(b'{"payload": ', b'{"p": ', 1)
        response = anon_client.post(
            f"/api/hooks/{hook.id}/",
            data=raw,
            content_type="application/json",
            HTTP_X_SCHEMA_SECRET=hook.webhook_secret,
        )
    assert_error(response, 400, "parse_error")
    assert counts() == before


# -- definition size -----------------------------------------------------------------------------


def _chain(length: int) -> dict[str, Any]:
    nodes = [node("start", "manual_trigger")] + [node(f"n{i}", "log", {"message": "x"}) for i in range(length)]
    edges = [edge("start", "n0")] + [edge(f"n{i}", f"n{i + 1}") for i in range(length - 1)]
    return {"nodes": nodes, "edges": edges}


def test_definition_size_limits(api: APIClient) -> None:
    before = counts()
    ok = api.post("/api/schemas/", {"name": "max", "definition": _chain(MAX_NODES - 1)}, format="json")
    assert ok.status_code == 201, ok.content[:300]
    too_many = api.post("/api/schemas/", {"name": "big", "definition": _chain(MAX_NODES)}, format="json")
    body = assert_error(too_many, 400, "validation_error")
    assert body["errors"] == [
        {
            "path": "nodes",
            "node_id": None,
            "edge_id": None,
            "message": f"at most {MAX_NODES} nodes are allowed (501 given)",
            "incomplete": False,
        }
    ]
    edges = linear_definition()
    edges["edges"] = [edge("start", "greet", edge_id=f"e{i}") for i in range(MAX_EDGES + 1)]
    assert (
        "at most 2000 edges"
        in assert_error(
            api.post("/api/schemas/", {"name": "e", "definition": edges}, format="json"), 400, "validation_error"
        )["errors"][0]["message"]
    )
    deep: Any = "leaf"
    for _ in range(MAX_DEPTH + 1):
        deep = {"k": deep}
    nested = linear_definition()
    nested["variables"] = {"deep": deep}
    assert (
        "nested deeper than"
        in assert_error(
            api.post("/api/schemas/", {"name": "d", "definition": nested}, format="json"), 400, "validation_error"
        )["errors"][0]["message"]
    )
    assert counts()[0] == before[0] + 1


def test_long_node_ids_are_refused_before_they_reach_varchar_columns(api: APIClient) -> None:
    definition = linear_definition()
    long_id = "n" * (MAX_ID_LENGTH + 1)
    definition["nodes"][1]["id"] = long_id
    for e in definition["edges"]:
        e["source"] = long_id if e["source"] == "greet" else e["source"]
        e["target"] = long_id if e["target"] == "greet" else e["target"]
    response = api.post("/api/schemas/", {"name": "ids", "definition": definition}, format="json")
    body = assert_error(response, 400, "validation_error")
    assert any("longer than 128" in e["message"] and e["path"] == "nodes[1].id" for e in body["errors"])


def test_validate_endpoint_reports_limits_without_storing(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user)
    response = api.post(f"/api/schemas/{schema.id}/validate/", {"definition": _chain(MAX_NODES)}, format="json")
    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert "at most" in response.json()["errors"][0]["message"]


# -- payloads and step outputs -------------------------------------------------------------------


def test_trigger_payload_above_the_step_limit_is_413(api: APIClient, user: Any, settings: Any) -> None:
    settings.SCHEMA_MAX_REQUEST_BYTES = 10 * 1024 * 1024  # an operator raised the body limit
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = settings.SCHEMA_MAX_REQUEST_BYTES  # base.py ties them
    schema = create_schema(user=user)
    before = counts()
    response = api.post(
        f"/api/schemas/{schema.id}/execute/", {"payload": {"blob": "x" * (MAX_STEP_BYTES + 10)}}, format="json"
    )
    assert_error(response, 413, "payload_too_large", "The payload is")
    assert counts() == before


def test_oversized_step_output_fails_the_step_with_a_clear_error(api: APIClient, user: Any) -> None:
    big = "{{ 'x' * 900000 }}"
    definition = {
        "nodes": [
            node("start", "manual_trigger"),
            node("fat", "set", {"assignments": [{"name": f"v{i}", "value": big} for i in range(3)]}),
            node("done", "end", {"output": "never"}),
        ],
        "edges": [edge("start", "fat"), edge("fat", "done")],
    }
    schema = create_schema(user=user, definition=definition)
    execution_id = api.post(f"/api/schemas/{schema.id}/execute/", {}, format="json").json()["id"]
    execution = api.get(f"/api/executions/{execution_id}/").json()
    steps = api.get(f"/api/executions/{execution_id}/steps/").json()
    assert execution["status"] == "failed"
    fat = step(steps, "fat")
    assert fat["status"] == "failed" and fat["output"]["error"]["type"] == "NodeError"
    assert f"more than the limit of {MAX_STEP_BYTES} bytes" in fat["error"]
    assert "xxxx" not in json.dumps(execution["context"])  # nothing of it was kept
    assert [s["seq"] for s in steps] == [1, 2]


def test_execution_total_output_limit(api: APIClient, user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(walker, "MAX_EXECUTION_BYTES", 3 * 1024 * 1024)
    nodes = [node("start", "manual_trigger")]
    edges = []
    for i in range(5):
        nodes.append(node(f"s{i}", "set", {"assignments": [{"name": "v", "value": "{{ 'y' * 900000 }}"}]}))
        edges.append(edge("start" if i == 0 else f"s{i - 1}", f"s{i}"))
    schema = create_schema(user=user, definition={"nodes": nodes, "edges": edges})
    execution_id = api.post(f"/api/schemas/{schema.id}/execute/", {}, format="json").json()["id"]
    execution = api.get(f"/api/executions/{execution_id}/").json()
    steps = api.get(f"/api/executions/{execution_id}/steps/").json()
    assert execution["status"] == "failed"
    assert [s["status"] for s in steps] == ["success", "success", "success", "success", "failed"]
    assert "the outputs kept by this execution" in steps[-1]["error"]


def test_values_jsonb_cannot_store_are_replaced_not_fatal(api: APIClient, user: Any) -> None:
    """An expression can produce NUL characters; the step is stored (U+FFFD) instead of the
    checkpoint write failing and the execution being retried into the dead-letter queue."""
    definition = {
        "nodes": [
            node("start", "manual_trigger"),
            node("nul", "set", {"assignments": [{"name": "v", "value": "{{ 'a\\x00b' }}"}]}),
            node("stop", "fail", {"message": "bad {{ vars.v }}"}),
        ],
        "edges": [edge("start", "nul"), edge("nul", "stop")],
    }
    schema = create_schema(user=user, definition=definition)
    execution_id = api.post(f"/api/schemas/{schema.id}/execute/", {}, format="json").json()["id"]
    execution = api.get(f"/api/executions/{execution_id}/").json()
    steps = api.get(f"/api/executions/{execution_id}/steps/").json()
    assert step(steps, "nul")["output"] == {"v": "a\ufffdb"}
    assert execution["status"] == "failed" and "\x00" not in execution["error"]
    assert execution["context"]["v"] == "a\ufffdb"
