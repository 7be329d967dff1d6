"""Definition validation for the API and services: the engine's validator, as plain dicts.

The engine (`engine.validation`) knows the node-type registry and returns every problem at once;
this adapter only shapes them for JSON (`path`, `node_id`, `edge_id`, `message`). Credentials are
the owner's, so whether the ones a definition names exist is checked apart (`credential_problems`),
when a schema is activated or run, not when a draft is saved (the credential may come later).
"""

from __future__ import annotations

from typing import Any

from credentials_app.selectors import missing_references
from engine.http.auth import credential_references as config_credential_references
from engine.policies import execution_policy, settings_problems
from engine.validation import validate_definition as _engine_validate

from .models import Schema


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
    ] + [
        {"path": path, "node_id": None, "edge_id": None, "message": message, "incomplete": False}
        for path, message in settings_problems(definition)
    ]


def credential_references(definition: Any) -> list[tuple[int, str, str, str]]:
    """(node index, node id, path inside the config, reference) of every credential the definition's
    nodes name: in `auth.credential` or as `{{ credentials.<name>… }}` in secret-capable fields."""
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    found: list[tuple[int, str, str, str]] = []
    for index, node in enumerate(nodes if isinstance(nodes, list) else []):
        config = node.get("config") if isinstance(node, dict) else None
        if isinstance(config, dict):
            for path, reference in config_credential_references(config):
                found.append((index, str(node.get("id")), path, reference))
    return found


def credential_problems(definition: Any, owner_id: Any) -> list[dict[str, Any]]:
    """Nodes naming a credential the schema's owner does not have (checked at activation and run)."""
    references = credential_references(definition)
    missing = missing_references(owner_id, {reference for _, _, _, reference in references})
    return [
        {
            "path": f"nodes[{index}].config.{path}",
            "node_id": node_id,
            "edge_id": None,
            "incomplete": True,  # a draft may name a credential that is created later
            "message": f"There is no credential named {reference!r} for this schema's owner: create it on the "
            "Credentials page or pick another one.",
        }
        for index, node_id, path, reference in references
        if reference in missing
    ]


ERROR_SCHEMA_TRIGGERS = ("manual_trigger", "webhook_trigger")


def error_schema_problems(definition: Any, owner_id: Any, schema_id: Any = None) -> list[dict[str, Any]]:
    """The `settings.error_schema` a definition names must be another schema of the same owner that
    can be started with a payload (a manual or webhook trigger); checked at activation and run, not
    when a draft is saved (the error schema may come later)."""
    target = execution_policy(definition).error_schema
    if target is None:
        return []
    found = Schema.objects.filter(pk=target).values_list("created_by_id", "definition").first()
    message = None
    if str(target) == str(schema_id):
        message = "A schema cannot be its own error schema."
    elif found is None or found[0] != owner_id:
        message = f"There is no schema with id {target} of this schema's owner to start on failure."
    elif not any(
        isinstance(node, dict) and node.get("type") in ERROR_SCHEMA_TRIGGERS for node in found[1].get("nodes") or []
    ):
        message = "The error schema needs a manual or webhook trigger (it is started with the failure as its payload)."
    if message is None:
        return []
    return [{"path": "settings.error_schema", "node_id": None, "edge_id": None, "incomplete": True, "message": message}]
