"""Definition validation for the API and services: the engine's validator, as plain dicts.

The engine (`engine.validation`) knows the node-type registry and returns every problem at once;
this adapter only shapes them for JSON (`path`, `node_id`, `edge_id`, `message`).
"""

from __future__ import annotations

from typing import Any

from engine.validation import validate_definition as _engine_validate


def definition_problems(definition: Any) -> list[dict[str, Any]]:
    return [
        {
            "path": problem.path,
            "node_id": problem.node_id,
            "edge_id": problem.edge_id,
            "message": problem.message,
        }
        for problem in _engine_validate(definition)
    ]
