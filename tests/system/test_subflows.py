"""A for_each on real workers, killed with SIGKILL mid-loop: each item's child execution is started
once, each child's side effect is recorded once (a call cut off by the kill is repeated only with
its own idempotency key), and the parent completes with every result in item order."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest

from executions_app.models import Execution, ExecutionStep
from tests.builders import chain, node
from tests.helpers.http_server import LocalServer
from tests.system.conftest import SystemEnv
from tests.system.helpers import SYSTEM_MARKS, assert_nothing_twice, make_schema, start, wait_all, wait_until

pytestmark = SYSTEM_MARKS
ITEMS = 40


def per_item_definition(server: LocalServer) -> dict[str, Any]:
    """trigger → http_request (side effect, per item) → end (the item's index)."""
    charge = {
        "method": "POST",
        "url": server.url("/charge") + "?item={{ trigger.index }}",
        "timeout_seconds": 30,
        "idempotency_header": "Idempotency-Key",
    }
    return chain(
        node("start", "manual_trigger"),
        node("charge", "http_request", charge),
        node("done", "end", {"output": "{{ trigger.index }}"}),
    )


@pytest.mark.timeout(300)
def test_kill_9_mid_for_each_starts_and_charges_every_item_once(system: SystemEnv, slow_server: LocalServer) -> None:
    slow_server.delay = 0.3
    child_schema = make_schema(per_item_definition(slow_server), name="per item")
    loop = {"items": list(range(ITEMS)), "schema_id": str(child_schema.pk), "concurrency": 5}
    parent_schema = make_schema(
        chain(node("start", "manual_trigger"), node("loop", "for_each", loop), node("done", "end")), name="loop"
    )
    worker = system.start_worker(concurrency=2)
    [parent_id] = start(parent_schema)

    def children() -> Any:
        return Execution.objects.filter(parent_execution_id=parent_id)

    wait_until(lambda: children().filter(status="completed").count() >= 8, timeout=60, what="8 items to finish")
    worker.kill9()
    time.sleep(1.0)
    system.start_worker(concurrency=2)
    wait_all([parent_id], "completed", "failed", timeout=180, what="the for_each to finish")

    parent = Execution.objects.get(pk=parent_id)
    assert parent.status == "completed", parent.error
    assert parent.result == list(range(ITEMS))
    child_ids = [str(pk) for pk in children().values_list("pk", flat=True)]
    assert len(child_ids) == ITEMS  # no item started twice
    assert sorted(children().values_list("parent_key", flat=True)) == sorted(f"loop:1:{n}" for n in range(ITEMS))
    assert set(children().values_list("status", flat=True)) == {"completed"}
    assert_nothing_twice([parent_id, *child_ids])
    charged = ExecutionStep.objects.filter(execution_id__in=child_ids, node_id="charge", status="success")
    assert charged.count() == ITEMS  # every item's side effect recorded once
    keys = Counter(r["headers"].get("Idempotency-Key", "") for r in slow_server.requests)
    assert len(keys) == ITEMS and max(keys.values()) <= 2, keys  # a repeat only with its own key
    assert sum(1 for s in ExecutionStep.objects.filter(execution_id=parent_id, node_id="loop")) == 1
    system.assert_dlq_empty()
