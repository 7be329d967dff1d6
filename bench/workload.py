"""The workloads of `make bench`. `standard`: webhook trigger → 8 x `set counter = counter + 1` →
condition (counter >= 8) → `set result`. 11 nodes, 11 steps per execution, all pure (no side
effects). `fanout` (issue 20): webhook trigger → 4 parallel branches (`set bN = 2`) → `merge`
(all) → `set counter = b1 + b2 + b3 + b4`: 7 steps. Both end with `counter` = 8, which the bench
checks on every execution."""

from __future__ import annotations

from typing import Any

STEPS_PER_EXECUTION = 11
PAYLOAD = {"order": 42, "source": "bench"}


def definition() -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"id": "hook", "type": "webhook_trigger", "name": "Webhook", "config": {}, "position": {"x": 0, "y": 0}}
    ]
    edges: list[dict[str, Any]] = []
    previous = "hook"
    for i in range(1, 9):
        node_id = f"inc{i}"
        nodes.append(
            {
                "id": node_id,
                "type": "set",
                "name": f"counter + 1 (#{i})",
                "config": {"assignments": [{"name": "counter", "value": "{{ vars.counter + 1 }}"}]},
                "position": {"x": 200 * i, "y": 0},
            }
        )
        edges.append({"id": f"e{i}", "source": previous, "target": node_id, "source_port": "out"})
        previous = node_id
    nodes.append(
        {
            "id": "check",
            "type": "condition",
            "name": "counter >= 8",
            "config": {"expression": "{{ vars.counter >= 8 }}"},
            "position": {"x": 1800, "y": 0},
        }
    )
    edges.append({"id": "e9", "source": previous, "target": "check", "source_port": "out"})
    nodes.append(
        {
            "id": "done",
            "type": "set",
            "name": "result",
            "config": {"assignments": [{"name": "result", "value": "{{ vars.counter }}"}]},
            "position": {"x": 2000, "y": 0},
        }
    )
    edges.append({"id": "e10", "source": "check", "target": "done", "source_port": "true"})
    return {"nodes": nodes, "edges": edges, "variables": {"counter": 0}}


def fanout_definition() -> dict[str, Any]:
    """Fan-out of 4 parallel branches joined by a merge: every edge of the trigger starts a branch."""
    nodes: list[dict[str, Any]] = [
        {"id": "hook", "type": "webhook_trigger", "name": "Webhook", "config": {}, "position": {"x": 0, "y": 0}},
        {"id": "join", "type": "merge", "name": "join", "config": {"mode": "all"}, "position": {"x": 400, "y": 0}},
        {
            "id": "done",
            "type": "set",
            "name": "sum",
            "config": {"assignments": [{"name": "counter", "value": "{{ vars.b1 + vars.b2 + vars.b3 + vars.b4 }}"}]},
            "position": {"x": 600, "y": 0},
        },
    ]
    edges: list[dict[str, Any]] = [{"id": "e-join", "source": "join", "target": "done", "source_port": "out"}]
    for i in range(1, 5):
        node_id = f"b{i}"
        nodes.append(
            {
                "id": node_id,
                "type": "set",
                "name": f"branch {i}",
                "config": {"assignments": [{"name": node_id, "value": "{{ 2 }}"}]},
                "position": {"x": 200, "y": 150 * (i - 1)},
            }
        )
        edges.append({"id": f"e-in{i}", "source": "hook", "target": node_id, "source_port": "out"})
        edges.append({"id": f"e-out{i}", "source": node_id, "target": "join", "source_port": "out"})
    return {"nodes": nodes, "edges": edges, "variables": {"counter": 0, "b1": 0, "b2": 0, "b3": 0, "b4": 0}}


# name → (definition, steps per execution)
WORKLOADS = {"standard": (definition, STEPS_PER_EXECUTION), "fanout": (fanout_definition, 7)}
