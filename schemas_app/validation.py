"""Definition validation for the API and services: the engine's validator, as plain dicts.

The engine (`engine.validation`) knows the node-type registry and returns every problem at once;
this adapter only shapes them for JSON (`path`, `node_id`, `edge_id`, `message`). Credentials are
the owner's, so whether the ones a definition names exist is checked apart (`credential_problems`),
when a schema is activated or run, not when a draft is saved (the credential may come later).
"""

from __future__ import annotations

from typing import Any

from credentials_app.selectors import missing_references
from engine.http.auth import credential_reference
from engine.validation import validate_definition as _engine_validate


def definition_problems(definition: Any) -> list[dict[str, Any]]:
    return [
        {
            "path": problem.path,
            "node_id": problem.node_id,
            "edge_id": problem.edge_id,
            "message": problem.message,
            "incomplete": problem.incomplete,
        }
        for problem in _engine_validate(definition)
    ]


def credential_references(definition: Any) -> list[tuple[int, str, str]]:
    """(node index, node id, reference) of every credential the definition's nodes name."""
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    found: list[tuple[int, str, str]] = []
    for index, node in enumerate(nodes if isinstance(nodes, list) else []):
        config = node.get("config") if isinstance(node, dict) else None
        reference = credential_reference(config) if isinstance(config, dict) else None
        if reference is not None:
            found.append((index, str(node.get("id")), reference))
    return found


def credential_problems(definition: Any, owner_id: Any) -> list[dict[str, Any]]:
    """Nodes naming a credential the schema's owner does not have (checked at activation and run)."""
    references = credential_references(definition)
    missing = missing_references(owner_id, {reference for _, _, reference in references})
    return [
        {
            "path": f"nodes[{index}].config.auth.credential",
            "node_id": node_id,
            "edge_id": None,
            "incomplete": True,  # a draft may name a credential that is created later
            "message": f"There is no credential named {reference!r} for this schema's owner: create it on the "
            "Credentials page or pick another one.",
        }
        for index, node_id, reference in references
        if reference in missing
    ]
