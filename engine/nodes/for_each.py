"""`for_each`: runs a schema once per item of a list (child executions, `concurrency` at a time);
the output is the children's results in item order. Progress is checkpointed (`engine.walker`)."""

from __future__ import annotations

from engine.errors import NodeError
from engine.nodes.base import ChildSpawn, NodeContext, NodeResult, NodeType, expression_string
from engine.nodes.call_schema import SCHEMA_ID_SCHEMA, VERSION_SCHEMA, spawn_target

MAX_CONCURRENCY = 100


class ForEachNode(NodeType):
    type = "for_each"
    label = "For each"
    group = "flow"
    description = (
        "Runs a schema once per item (its trigger payload: {item, index}), `concurrency` at a time; the output is "
        "the children's results in item order. on_item_error: fail (stop at the first failed item) or continue "
        "(the failed item's entry is {error, execution_id})."
    )
    config_schema = {
        "type": "object",
        "properties": {
            "items": {
                "anyOf": [
                    expression_string("A list, e.g. {{ nodes.fetch.output.body.orders }}."),
                    {"type": "array", "description": "The items themselves."},
                ]
            },
            "schema_id": SCHEMA_ID_SCHEMA,
            "version": VERSION_SCHEMA,
            "concurrency": {"type": "integer", "minimum": 1, "maximum": MAX_CONCURRENCY, "default": 4},
            "on_item_error": {"type": "string", "enum": ["fail", "continue"], "default": "fail"},
        },
        "required": ["items", "schema_id"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        items = ctx.field("items")
        if not isinstance(items, list):
            raise NodeError(f"items must be a list; the expression gave {type(items).__name__}")
        schema_id, version = spawn_target(ctx)
        spawn = ChildSpawn(
            schema_id,
            version,
            [{"item": item, "index": index} for index, item in enumerate(items)],
            concurrency=int(ctx.config.get("concurrency", 4)),
            on_item_error=ctx.config.get("on_item_error", "fail"),
            each=True,
        )
        return NodeResult(output={"total": len(items)}, pause_kind="children", spawn=spawn)
