"""Definition builders and a fake clock shared by the engine tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
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


def edge(source: str, target: str, port: str = "out") -> dict[str, Any]:
    return {"id": f"{source}-{port}-{target}", "source": source, "target": target, "source_port": port}


def definition(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"nodes": nodes, "edges": edges, "variables": variables or {}}


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A linear definition: nodes connected in order through `out`."""
    return definition(list(nodes), [edge(a["id"], b["id"]) for a, b in pairwise(nodes)])


class Clock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2030, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
