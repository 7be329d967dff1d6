"""The standard workload: webhook trigger → 8 x `set counter = counter + 1` → condition
(counter >= 8) → `set result`. 11 nodes, 11 steps per execution, all pure (no side effects)."""

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
