"""`fail`: fails the execution on purpose with a message (never retried)."""

from __future__ import annotations

from typing import ClassVar

from engine.nodes.base import NodeContext, NodeResult, NodeType, expression_string


class FailNode(NodeType):
    type = "fail"
    label = "Fail"
    group = "flow"
    description = "Stops the execution as failed with the given message."
    ports: ClassVar[list[str]] = []
    config_schema = {
        "type": "object",
        "properties": {"message": expression_string("Error message.")},
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        message = ctx.field("message", "failed by a fail node")
        return NodeResult(output=None, port=None, fail_message=str(message))
