"""Resuming one waiting branch while another branch of the same execution is still running: the
API answers 202, the resume is recorded (a `resume` wake-up carrying the payload) and the walk that
owns the execution applies it — here before it would have paused, so the execution completes in that
same walk. Celery runs eagerly; the resume is sent from the HTTP call the other branch is making."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from executions_app.models import ExecutionStep, ExecutionTimer
from tests.builders import definition, edge, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db(transaction=True)


class _ResumeDuringCall(BaseHTTPRequestHandler):
    """The other branch's HTTP call: while it is in flight, someone resumes the `approve` wait."""

    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        api: APIClient = self.server.api
        url = f"/api/executions/{self.server.execution_id()}/"
        self.server.seen.append(api.get(url).json())
        for payload in ({"approved": True, "by": "Grace"}, {"approved": False}):
            self.server.answers.append(
                api.post(url + "resume/", {"node_id": "approve", "payload": payload}, format="json")
            )
        body = json.dumps({"charged": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server(user: Any) -> Any:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ResumeDuringCall)
    httpd.daemon_threads = True
    httpd.api = APIClient()  # type: ignore[attr-defined]
    httpd.api.force_authenticate(user)  # type: ignore[attr-defined]
    httpd.seen, httpd.answers = [], []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    with override_settings(SCHEMA_HTTP_ALLOWLIST=["127.0.0.1"]):
        yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_a_wait_resumed_while_the_other_branch_calls_out_continues_and_the_execution_completes(
    api: APIClient, user: Any, server: Any
) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/charge"
    schema = create_schema(
        user=user,
        definition=definition(
            [
                node("start", "manual_trigger"),
                node("approve", "wait"),
                node("charge", "http_request", {"method": "GET", "url": url}),
                node("m", "merge", {"mode": "all"}),
                node("done", "end", {"output": "{{ input.approve.by }} / {{ input.charge.body.charged }}"}),
            ],
            [
                edge("start", "approve"),
                edge("start", "charge"),
                edge("approve", "m"),
                edge("charge", "m"),
                edge("m", "done"),
            ],
        ),
    )
    server.execution_id = lambda: ExecutionStep.objects.get(node_id="start").execution_id
    execution_id = api.post(f"/api/schemas/{schema.id}/execute/", {}, format="json").json()["id"]

    [during] = server.seen
    assert during["status"] == "running"
    assert [w["node_id"] for w in during["waiting"]] == ["approve"]
    first, second = server.answers
    assert first.status_code == 202, first.json()
    assert first.json()["waiting"] == []  # recorded: no longer listed as waiting
    assert second.status_code == 409 and "already resumed" in second.json()["detail"]

    detail = api.get(f"/api/executions/{execution_id}/").json()
    assert detail["status"] == "completed" and detail["result"] == "Grace / True"
    steps = api.get(f"/api/executions/{execution_id}/steps/").json()
    approve = [s for s in steps if s["node_id"] == "approve"]
    assert [(s["status"], s["output"]) for s in approve] == [("success", {"approved": True, "by": "Grace"})]
    [timer] = ExecutionTimer.objects.filter(execution_id=execution_id, reason="resume")
    assert (timer.node_id, timer.payload) == ("approve", {"approved": True, "by": "Grace"})
    # Once the execution finished there is nothing left to resume.
    late = api.post(f"/api/executions/{execution_id}/resume/", {"node_id": "approve"}, format="json")
    assert late.status_code == 409 and late.json()["type"] == "conflict"
