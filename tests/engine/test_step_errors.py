"""What a failed step records: the node's message as one readable sentence in `error`, the type and
details as data in `output["error"]`, and — only for an unexpected internal error — the traceback
under the staff-only key `output["error_details"]`, never in `error` or the execution's error."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from engine import walker
from engine.errors import STAFF_ONLY_OUTPUT_KEY, NodeError, public_step_output
from engine.http.policy import OutboundPolicy
from engine.memory_store import MemoryStore
from engine.nodes import NODE_TYPES, NodeContext, NodeResult, NodeServices, NodeType


class Refused(NodeType):
    type = "refused"
    label = "Refused"
    group = "action"
    description = "test"

    def run(self, ctx: NodeContext) -> NodeResult:
        raise NodeError("Upstream answered HTTP 404 for https://api.example.com/orders/7.", details={"status": 404})


class Buggy(NodeType):
    """A node with a bug in our code: an unexpected exception whose text names a server path."""

    type = "buggy"
    label = "Buggy"
    group = "action"
    description = "test"

    def run(self, ctx: NodeContext) -> NodeResult:
        return {}["/srv/schema/engine/secret_config.py"]  # type: ignore[no-any-return]


TYPES: dict[str, NodeType] = {**NODE_TYPES, "refused": Refused(), "buggy": Buggy()}


def run(nodes: list[dict[str, Any]], services: NodeServices | None = None) -> tuple[Any, Any]:
    """Runs `manual_trigger → nodes...` and returns (the execution record, its last step)."""
    all_nodes = [{"id": "t", "type": "manual_trigger", "config": {}}, *nodes]
    edges = [
        {"id": f"e{i}", "source": a["id"], "target": b["id"]} for i, (a, b) in enumerate(itertools.pairwise(all_nodes))
    ]
    store = MemoryStore()
    execution_id = store.create({"nodes": all_nodes, "edges": edges})
    walker.walk(store, execution_id, node_types=TYPES, services=services, rng=random.Random(1))
    record = store.get(execution_id)
    return record, record.steps[-1]


def assert_readable(text: str | None) -> None:
    assert text, "an error message is expected"
    assert "Traceback" not in text and 'File "' not in text and "/engine/" not in text and "/srv/" not in text
    assert "\n" not in text.strip(), text


def test_node_error_records_its_message_first_and_type_and_details_as_data() -> None:
    record, step = run([{"id": "fetch", "type": "refused", "config": {}}])
    assert step.status == "failed"
    assert step.error == "Upstream answered HTTP 404 for https://api.example.com/orders/7."
    assert step.output == {
        "error": {
            "type": "NodeError",
            "message": "Upstream answered HTTP 404 for https://api.example.com/orders/7.",
            "details": {"status": 404},
        }
    }
    assert record.error == "node 'fetch' failed: Upstream answered HTTP 404 for https://api.example.com/orders/7."


def test_refused_address_reads_as_the_policy_sentence() -> None:
    services = NodeServices(outbound_policy=OutboundPolicy([]))
    _, step = run([{"id": "call", "type": "http_request", "config": {"url": "http://127.0.0.1:9/x"}}], services)
    assert step.error is not None and step.error.startswith("Refusing to call 127.0.0.1"), step.error
    assert "SCHEMA_HTTP_ALLOWLIST" in step.error
    assert_readable(step.error)
    assert step.output["error"]["details"] == {"blocked_address": "127.0.0.1"}


def test_expression_error_names_node_and_field_without_a_traceback() -> None:
    _, step = run([{"id": "l", "type": "log", "config": {"message": "{{ 1 / 0 }}"}}])
    assert step.error == "node 'l' field 'config.message': ZeroDivisionError: division by zero"
    assert step.output["error"]["type"] == "ExpressionError"


def test_internal_error_shows_a_sentence_and_keeps_the_traceback_for_staff_only() -> None:
    record, step = run([{"id": "oops", "type": "buggy", "config": {}}])
    assert_readable(step.error)
    assert_readable(record.error)
    assert "internal error" in (step.error or "").lower()
    assert step.output["error"] == {"type": "KeyError", "message": step.error, "details": {}, "internal": True}
    traceback = step.output[STAFF_ONLY_OUTPUT_KEY]["traceback"]
    assert traceback.startswith("Traceback") and "secret_config.py" in traceback
    assert public_step_output(step.output) == {"error": step.output["error"]}


def test_fail_node_message_is_the_error_with_type_fail() -> None:
    record, step = run([{"id": "stop", "type": "fail", "config": {"message": "order 7 rejected"}}])
    assert step.error == record.error == "order 7 rejected"
    assert step.output == {"error": {"type": "fail", "message": "order 7 rejected", "details": {}}}


@pytest.mark.parametrize("output", [None, 3, "text", [1], {"a": 1}])
def test_public_step_output_leaves_other_outputs_alone(output: Any) -> None:
    assert public_step_output(output) == output
