"""What a schema owner sees of a failed step: the node's message as a readable sentence and its type
and details as data — never a traceback or a server path, in the steps list, the execution's
`error` or a webhook's `?wait` answer. Staff also get the traceback of an internal error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from rest_framework.test import APIClient

from engine.nodes import NODE_TYPES, NodeContext, NodeResult
from executions_app.models import Execution, ExecutionStep
from tests.factories import create_schema

pytestmark = pytest.mark.django_db(transaction=True)

SERVER_PATH = "/srv/schema/engine/walker.py"


def _definition(trigger: str, message: str = "hello") -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "type": trigger, "config": {}, "position": {"x": 0, "y": 0}},
            {"id": "note", "type": "log", "config": {"message": message}, "position": {"x": 0, "y": 100}},
        ],
        "edges": [{"id": "e1", "source": "start", "target": "note"}],
    }


@pytest.fixture
def buggy_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """The `log` node with a bug of ours: an unexpected exception whose text names a server path."""

    def broken(ctx: NodeContext) -> NodeResult:
        raise FileNotFoundError(2, "No such file or directory", SERVER_PATH)

    monkeypatch.setattr(NODE_TYPES["log"], "run", broken)


def assert_no_internals(data: Any) -> None:
    text = json.dumps(data)
    assert "Traceback" not in text and 'File \\"' not in text and SERVER_PATH not in text, text
    assert "error_details" not in text, text


def test_owner_sees_the_sentence_and_staff_the_traceback(
    buggy_node: None, user: Any, staff_user: Any, client_for: Any
) -> None:
    owner = client_for(user)
    schema = create_schema(user=user, definition=_definition("manual_trigger"))
    execution_id = owner.post(f"/api/schemas/{schema.id}/execute/", {"payload": {}}, format="json").json()["id"]

    detail = owner.get(f"/api/executions/{execution_id}/").json()
    assert detail["status"] == "failed"
    assert_no_internals(detail)
    steps = owner.get(f"/api/executions/{execution_id}/steps/").json()
    assert_no_internals(steps)
    failed = steps[-1]
    assert failed["status"] == "failed" and "internal error" in failed["error"].lower()
    assert failed["output"]["error"]["type"] == "FileNotFoundError"
    assert detail["error"] == f"node 'note' failed: {failed['error']}"

    staff_steps = client_for(staff_user).get(f"/api/executions/{execution_id}/steps/").json()
    traceback = staff_steps[-1]["output"]["error_details"]["traceback"]
    assert traceback.startswith("Traceback") and SERVER_PATH in traceback
    assert staff_steps[-1]["error"] == failed["error"]


def test_business_failure_shows_the_node_message(api: APIClient, user: Any) -> None:
    schema = create_schema(user=user, definition=_definition("manual_trigger", "{{ trigger.order.id }}"))
    execution_id = api.post(f"/api/schemas/{schema.id}/execute/", {"payload": {}}, format="json").json()["id"]
    failed = api.get(f"/api/executions/{execution_id}/steps/").json()[-1]
    assert failed["error"].startswith("node 'note' field 'config.message': "), failed["error"]
    assert failed["output"]["error"]["type"] == "ExpressionError"
    assert_no_internals(failed)


def test_webhook_wait_answer_carries_no_traceback(buggy_node: None, user: Any) -> None:
    schema = create_schema(user=user, definition=_definition("webhook_trigger"), activate=True)
    answer = APIClient().post(
        f"/api/hooks/{schema.id}/?wait=5", {"x": 1}, format="json", HTTP_X_SCHEMA_SECRET=schema.webhook_secret
    )
    assert answer.status_code == 200 and answer.json()["status"] == "failed"
    assert_no_internals(answer.json())
    assert "internal error" in answer.json()["error"].lower()


def test_a_traceback_stored_before_this_rule_is_shown_as_its_last_line_to_owners(
    api: APIClient, user: Any, staff_user: Any, client_for: Any
) -> None:
    schema = create_schema(user=user, definition=_definition("manual_trigger"), activate=True)
    execution = Execution.objects.create(
        schema=schema, schema_version=schema.versions.latest("version"), trigger_type="manual", status="failed"
    )
    old = (
        "Traceback (most recent call last):\n"
        f'  File "{SERVER_PATH}", line 205, in _loop\n'
        "    result = self._bounded(node, node_type.run(self._context(node, item, started)))\n"
        "engine.errors.NodeError: HTTP 503 from https://api.example.com/ (expected 2xx)\n"
    )
    now = datetime.now(UTC)
    ExecutionStep.objects.create(
        execution=execution,
        seq=1,
        node_id="note",
        node_type="log",
        status="failed",
        attempt=1,
        error=old,
        started_at=now,
        finished_at=now,
    )
    shown = api.get(f"/api/executions/{execution.id}/steps/").json()[0]
    assert shown["error"] == "HTTP 503 from https://api.example.com/ (expected 2xx)"
    assert client_for(staff_user).get(f"/api/executions/{execution.id}/steps/").json()[0]["error"] == old
