"""`end`: completes the execution; its output (expression, or the input) is the execution result."""

from __future__ import annotations

from typing import ClassVar

from engine.nodes.base import NodeContext, NodeResult, NodeType


class EndNode(NodeType):
    type = "end"
    label = "End"
    group = "flow"
    description = "Completes the execution. Output (optional expression) becomes the execution result."
    ports: ClassVar[list[str]] = []
    config_schema = {
        "type": "object",
        "properties": {"output": {"x-expression": True, "description": "Result (expression or literal)."}},
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        output = ctx.field("output") if "output" in ctx.config else ctx.input
        return NodeResult(output=output, port=None, end=True)
