"""Definition builders: nodes, edges and whole definitions as the editor saves them.

Free of Django on purpose: the engine tests (which run without a database) and the Django tests
build their definitions with the same functions.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any


def node(node_id: str, node_type: str, config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": node_type,
        "name": node_id,
        "config": config or {},
        "position": {"x": 0, "y": 0},
        **extra,
    }


def edge(source: str, target: str, port: str = "out", edge_id: str | None = None) -> dict[str, Any]:
    return {"id": edge_id or f"{source}-{port}-{target}", "source": source, "target": target, "source_port": port}


def definition(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"nodes": nodes, "edges": edges, "variables": variables or {}}


def chain(*nodes: dict[str, Any], variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """A linear definition: nodes connected in order through `out`."""
    return definition(list(nodes), [edge(a["id"], b["id"]) for a, b in pairwise(nodes)], variables)


def linear_definition(trigger: str = "manual_trigger") -> dict[str, Any]:
    """trigger -> set(greeting) -> log -> end: a small valid schema."""
    return chain(
        node("start", trigger),
        node("greet", "set", {"assignments": [{"name": "greeting", "value": "Hello {{ trigger.name }}"}]}),
        node("note", "log", {"level": "info", "message": "{{ vars.greeting }}"}),
        node("done", "end", {"output": "{{ vars.greeting }}"}),
        variables={"threshold": 10},
    )


def cron_definition(cron: str = "*/5 9-17 * * 1-5", timezone: str = "Europe/Berlin") -> dict[str, Any]:
    """schedule_trigger(cron, timezone) -> log -> end."""
    return chain(
        node("tick", "schedule_trigger", {"cron": cron, "timezone": timezone}),
        node("note", "log", {"level": "info", "message": "tick at {{ trigger.scheduled_at }}"}),
        node("done", "end", {"output": "ticked"}),
    )
