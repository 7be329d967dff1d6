"""Log levels of failed steps: a business failure (an HTTP error answer, a `fail` node, a bad
expression) is one WARNING line with the execution and node ids and the message, so no user can
flood the error logs and alerts; only a fault of ours (a bug in a node) is an ERROR with its
traceback. The lines are checked as the JSON the worker writes."""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import override_settings

from config.logging import ContextFilter, JsonFormatter
from engine.nodes import NODE_TYPES, NodeContext, NodeResult
from executions_app.models import Execution, TriggerType
from executions_app.services import execution_create
from executions_app.tasks import execution_run_task
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


class _NotFound(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 500 if self.path.startswith("/broken") else 404
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"detail": "no such order"}')

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def answering_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with override_settings(SCHEMA_HTTP_ALLOWLIST=["127.0.0.1"]):
        yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _run(*nodes: dict[str, Any]) -> Execution:
    all_nodes = [{"id": "start", "type": "manual_trigger", "config": {}, "position": {"x": 0, "y": 0}}]
    all_nodes += [{"position": {"x": 0, "y": 0}, **n} for n in nodes]
    edges = [
        {"id": f"e{i}", "source": a["id"], "target": b["id"]} for i, (a, b) in enumerate(itertools.pairwise(all_nodes))
    ]
    schema = create_schema(definition={"nodes": all_nodes, "edges": edges}, activate=True)
    execution, _ = execution_create(schema=schema, trigger_type=TriggerType.MANUAL, payload={})
    execution_run_task.apply(args=[str(execution.id)])
    execution.refresh_from_db()
    return execution


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    lines = []
    for record in caplog.records:
        ContextFilter().filter(record)
        lines.append(json.loads(JsonFormatter().format(record)))
    return lines


def _assert_one_warning(lines: list[dict[str, Any]], execution: Execution, node_id: str, message: str) -> None:
    assert [line for line in lines if line["level"] in ("ERROR", "CRITICAL")] == []
    assert not any("exc_info" in line or "Traceback" in json.dumps(line) for line in lines)
    warnings = [line for line in lines if line["level"] == "WARNING"]
    assert len(warnings) == 1, warnings
    line = warnings[0]
    assert line["execution_id"] == str(execution.id) and line["node_id"] == node_id
    assert message in line["message"] and message in line["error"]


@pytest.mark.parametrize("path", ["/orders/7", "/broken"])
def test_an_http_error_answer_is_one_warning_line(
    answering_server: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    execution = _run({"id": "fetch", "type": "http_request", "config": {"url": answering_server + path}})
    assert execution.status == "failed"
    status = 500 if path == "/broken" else 404
    _assert_one_warning(_lines(caplog), execution, "fetch", f"HTTP {status} from")


def test_a_fail_node_is_one_warning_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    execution = _run({"id": "reject", "type": "fail", "config": {"message": "order 7 rejected"}})
    assert execution.status == "failed"
    _assert_one_warning(_lines(caplog), execution, "reject", "order 7 rejected")


def test_a_bad_expression_is_one_warning_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    execution = _run({"id": "note", "type": "log", "config": {"message": "{{ 1 / 0 }}"}})
    assert execution.status == "failed"
    _assert_one_warning(_lines(caplog), execution, "note", "division by zero")


def test_a_bug_in_a_node_is_an_error_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(ctx: NodeContext) -> NodeResult:
        raise RuntimeError("unexpected state in our code")

    monkeypatch.setattr(NODE_TYPES["log"], "run", broken)
    caplog.set_level(logging.DEBUG)
    execution = _run({"id": "note", "type": "log", "config": {"message": "hello"}})
    assert execution.status == "failed"
    errors = [line for line in _lines(caplog) if line["level"] == "ERROR"]
    assert len(errors) == 1, errors
    line = errors[0]
    assert line["execution_id"] == str(execution.id) and line["node_id"] == "note"
    assert line["exc_info"].startswith("Traceback") and "RuntimeError: unexpected state in our code" in line["exc_info"]
