"""Parallel branches on real workers: two side-effecting branches in flight at once in one worker
process, the worker killed with SIGKILL while both calls are held by the server, and a delay on a
third branch — another worker finishes from the checkpoint: every step recorded once, each call
repeated at most with its own idempotency key, the merge run once with every branch's output."""

from __future__ import annotations

import time
from typing import Any

import pytest

from executions_app.models import Execution, ExecutionStep
from tests.builders import edge, node
from tests.helpers.http_server import LocalServer
from tests.system.conftest import SystemEnv
from tests.system.helpers import SYSTEM_MARKS, assert_nothing_twice, make_schema, start, wait_all, wait_until

pytestmark = SYSTEM_MARKS


def _charge(node_id: str, url: str) -> dict[str, Any]:
    config = {"method": "POST", "url": url, "timeout_seconds": 30, "idempotency_header": "Idempotency-Key"}
    return node(node_id, "http_request", config)


def branches_definition(server: LocalServer) -> dict[str, Any]:
    """start → prepare ─┬─ charge_a (slow HTTP) ─┐
    ├─ charge_b (slow HTTP) ─┼─ merge (all) → done
    └─ cool (delay 1 s) → note ┘"""
    return {
        "nodes": [
            node("start", "manual_trigger"),
            node("prepare", "set", {"assignments": [{"name": "order", "value": "{{ trigger.n }}"}]}),
            _charge("charge_a", server.url("/charge?branch=a")),
            _charge("charge_b", server.url("/charge?branch=b")),
            node("cool", "delay", {"duration_seconds": 1}),
            node("note", "log", {"level": "info", "message": "cooled {{ vars.order }}"}),
            node("joined", "merge", {"mode": "all"}),
            node("done", "end", {"output": "{{ input.charge_a.status }}/{{ input.charge_b.status }}"}),
        ],
        "edges": [
            edge("start", "prepare"),
            edge("prepare", "charge_a"),
            edge("prepare", "charge_b"),
            edge("prepare", "cool"),
            edge("cool", "note"),
            edge("charge_a", "joined"),
            edge("charge_b", "joined"),
            edge("note", "joined"),
            edge("joined", "done"),
        ],
        "variables": {},
    }


@pytest.mark.timeout(180)
def test_kill_9_while_two_branches_call_out_at_once(system: SystemEnv, slow_server: LocalServer) -> None:
    slow_server.delay = 6.0
    worker = system.start_worker(concurrency=1)  # one pool process: both calls in flight = threads of one walk
    [execution_id] = start(make_schema(branches_definition(slow_server)))

    # Both side effects are held by the server at the same time: they run concurrently.
    wait_until(lambda: len(slow_server.requests) >= 2, timeout=30, what="both branches to call the server")
    assert sorted(r["path"] for r in slow_server.requests) == ["/charge?branch=a", "/charge?branch=b"]
    recorded = set(ExecutionStep.objects.filter(execution_id=execution_id).values_list("node_id", flat=True))
    assert {"start", "prepare"} <= recorded and not recorded & {"charge_a", "charge_b", "joined"}
    worker.kill9()

    time.sleep(1.5)  # the delay's branch is due by now: nothing may move while no worker runs
    assert Execution.objects.get(pk=execution_id).status == "running"
    slow_server.delay = 0.2
    system.start_worker(concurrency=1)
    wait_all([execution_id], "completed", "failed", timeout=90, what="the execution to finish")

    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "completed", execution.error
    assert execution.result == "200/200"
    assert_nothing_twice([execution_id])
    success = list(
        ExecutionStep.objects.filter(execution_id=execution_id, status="success").values_list("node_id", flat=True)
    )
    assert sorted(success) == sorted(["start", "prepare", "charge_a", "charge_b", "cool", "note", "joined", "done"])
    merged = ExecutionStep.objects.get(execution_id=execution_id, node_id="joined").output
    assert sorted(merged) == ["charge_a", "charge_b", "note"]  # (jsonb keeps no key order)
    assert merged["charge_a"]["status"] == merged["charge_b"]["status"] == 200
    # Each interrupted call ran again with its own unchanged key; none ran a third time.
    keys: dict[str, list[str]] = {}
    for request in slow_server.requests:
        keys.setdefault(request["path"], []).append(request["headers"].get("Idempotency-Key", ""))
    assert keys == {
        "/charge?branch=a": [f"{execution_id}:charge_a:1"] * 2,
        "/charge?branch=b": [f"{execution_id}:charge_b:1"] * 2,
    }
    system.assert_dlq_empty()
