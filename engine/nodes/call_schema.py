"""`call_schema`: runs another schema as a child execution (a sub-schema), waiting for its result
or firing and forgetting. The walker and the store start and watch the child (`engine.walker`)."""

from __future__ import annotations

from typing import Any

from engine.nodes.base import ChildSpawn, NodeContext, NodeResult, NodeType

VERSION_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "string", "enum": ["current"]}, {"type": "integer", "minimum": 1}],
    "default": "current",
    "description": "current: the schema's current version when the child starts; a number: that pinned version.",
}
SCHEMA_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "x-schema-ref": True,
    "description": "The schema to run (its id); the owner of this schema must be allowed to run it.",
}


def spawn_target(ctx: NodeContext) -> tuple[str, str | int]:
    return str(ctx.config["schema_id"]), ctx.config.get("version", "current")


class CallSchemaNode(NodeType):
    type = "call_schema"
    label = "Call schema"
    group = "flow"
    description = (
        "Runs another schema as a child execution with an input. wait: the branch waits and the output is the "
        "child's result (a failed child fails this node); fire: the output is the child's execution id at once."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "schema_id": SCHEMA_ID_SCHEMA,
            "version": VERSION_SCHEMA,
            "input": {"x-expression": True, "description": "The child's trigger payload (default: this node's input)."},
            "mode": {"type": "string", "enum": ["wait", "fire"], "default": "wait"},
        },
        "required": ["schema_id"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        schema_id, version = spawn_target(ctx)
        payload = ctx.field("input") if "input" in ctx.config else ctx.input
        spawn = ChildSpawn(schema_id, version, [payload], mode=ctx.config.get("mode", "wait"))
        return NodeResult(pause_kind="children", spawn=spawn)
