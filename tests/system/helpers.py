"""Definitions, execution helpers and the "nothing lost, nothing run twice" assertions."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from typing import Any

import pytest
from django.db.models import Count

from executions_app.models import Execution, ExecutionStep, ExecutionTimer
from executions_app.services import execution_create
from schemas_app.models import Schema
from tests.conftest import requires_postgres, requires_rabbitmq
from tests.factories import create_schema, edge, node

SYSTEM_MARKS = [
    pytest.mark.system,
    requires_postgres,
    requires_rabbitmq,
    pytest.mark.django_db(transaction=True),
]


def delay_definition(seconds: float | str = 2, *, then: int = 1) -> dict[str, Any]:
    """trigger → set → delay(seconds) → `then` log nodes → end."""
    nodes = [
        node("start", "manual_trigger"),
        node("prepare", "set", {"assignments": [{"name": "order", "value": "{{ trigger.n }}"}]}),
        node("wait", "delay", {"duration_seconds": seconds}),
    ]
    edges = [edge("start", "prepare"), edge("prepare", "wait")]
    previous = "wait"
    for index in range(then):
        nodes.append(node(f"after{index}", "log", {"level": "info", "message": "order {{ vars.order }}"}))
        edges.append(edge(previous, f"after{index}"))
        previous = f"after{index}"
    nodes.append(node("done", "end", {"output": "{{ vars.order }}"}))
    edges.append(edge(previous, "done"))
    return {"nodes": nodes, "edges": edges, "variables": {}}


def quick_definition() -> dict[str, Any]:
    """trigger → set → log → end (no pause)."""
    return {
        "nodes": [
            node("start", "manual_trigger"),
            node("prepare", "set", {"assignments": [{"name": "order", "value": "{{ trigger.n }}"}]}),
            node("note", "log", {"level": "info", "message": "order {{ vars.order }}"}),
            node("done", "end", {"output": "{{ vars.order }}"}),
        ],
        "edges": [edge("start", "prepare"), edge("prepare", "note"), edge("note", "done")],
        "variables": {},
    }


def http_definition(url: str) -> dict[str, Any]:
    """trigger → set → http_request(url, slow, side effect) → log → end."""
    return {
        "nodes": [
            node("start", "manual_trigger"),
            node("prepare", "set", {"assignments": [{"name": "order", "value": "{{ trigger.n }}"}]}),
            node(
                "charge",
                "http_request",
                {
                    "method": "POST",
                    "url": url,
                    "body": {"order": "{{ vars.order }}"},
                    "timeout_seconds": 30,
                    "idempotency_header": "Idempotency-Key",
                },
            ),
            node("note", "log", {"level": "info", "message": "charged {{ nodes.charge.output.body.ok }}"}),
            node("done", "end", {"output": "{{ vars.order }}"}),
        ],
        "edges": [edge("start", "prepare"), edge("prepare", "charge"), edge("charge", "note"), edge("note", "done")],
        "variables": {},
    }


def make_schema(definition: dict[str, Any], name: str = "system") -> Schema:
    return create_schema(definition=definition, name=name)


def start(schema: Schema, count: int = 1, payload: dict[str, Any] | None = None) -> list[str]:
    """Create `count` executions (each published after its commit, as the API does)."""
    ids = []
    for n in range(count):
        execution, _ = execution_create(schema=schema, trigger_type="manual", payload={"n": n, **(payload or {})})
        ids.append(str(execution.id))
    return ids


def start_each(schema: Schema, payloads: list[dict[str, Any]]) -> list[str]:
    """One execution per payload (each published after its commit)."""
    ids = []
    for payload in payloads:
        execution, _ = execution_create(schema=schema, trigger_type="manual", payload=payload)
        ids.append(str(execution.id))
    return ids


def statuses(ids: Iterable[str]) -> dict[str, int]:
    rows = Execution.objects.filter(pk__in=list(ids)).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def all_in(ids: list[str], *wanted: str) -> bool:
    return Execution.objects.filter(pk__in=ids, status__in=wanted).count() == len(ids)


def wait_all(ids: list[str], *wanted: str, timeout: float, what: str = "the executions") -> None:
    """Wait until every execution has one of the `wanted` statuses; on timeout, say where they are."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all_in(ids, *wanted):
            return
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} to be {'/'.join(wanted)}: {statuses(ids)}")


def assert_nothing_twice(ids: list[str], *, expected_nodes: list[str] | None = None) -> None:
    """No step recorded twice: `(execution_id, seq)` unique and gap-free, and no node with two success
    steps (for the same attempt, or at all: each node runs at most once per execution)."""
    steps = ExecutionStep.objects.filter(execution_id__in=ids)
    dup_seq = list(steps.values("execution_id", "seq").annotate(n=Count("id")).filter(n__gt=1))
    assert dup_seq == [], f"(execution_id, seq) recorded twice: {dup_seq[:5]}"
    success = steps.filter(status="success")
    dup_attempt = list(success.values("execution_id", "node_id", "attempt").annotate(n=Count("id")).filter(n__gt=1))
    assert dup_attempt == [], f"a node has two success steps for the same attempt: {dup_attempt[:5]}"
    dup_node = list(success.values("execution_id", "node_id").annotate(n=Count("id")).filter(n__gt=1))
    assert dup_node == [], f"a node succeeded twice in one execution: {dup_node[:5]}"
    for execution_id in ids:
        seqs = list(steps.filter(execution_id=execution_id).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, len(seqs) + 1)), f"steps of {execution_id} have gaps: {seqs}"
        if expected_nodes is not None:
            nodes = list(success.filter(execution_id=execution_id).order_by("seq").values_list("node_id", flat=True))
            assert nodes == expected_nodes, f"{execution_id}: success steps {nodes} != {expected_nodes}"


def lateness_report(ids: list[str]) -> dict[str, float]:
    values = sorted(
        ExecutionTimer.objects.filter(execution_id__in=ids, lateness_ms__isnull=False).values_list(
            "lateness_ms", flat=True
        )
    )
    if not values:
        return {"n": 0}

    def pct(p: float) -> float:
        return values[min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))]

    return {
        "n": len(values),
        "p50": pct(50),
        "p99": pct(99),
        "max": values[-1],
        "mean": statistics.fmean(values),
    }
