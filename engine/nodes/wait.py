"""`wait`: pauses until resumed through the API (`POST /api/executions/{id}/resume/`); the payload is its output."""

from __future__ import annotations

from engine.nodes.base import NodeContext, NodeResult, NodeType


class WaitNode(NodeType):
    type = "wait"
    label = "Wait for resume"
    group = "flow"
    description = "Pauses until the execution is resumed with a payload; that payload becomes the output."
    config_schema = {
        "type": "object",
        "properties": {"instructions": {"type": "string", "description": "Shown to the person resuming."}},
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(output=None, pause_kind="wait")
