"""`manual_trigger`: an execution started from the editor or `POST /api/schemas/{id}/execute/`."""

from __future__ import annotations

from engine.nodes.base import NodeContext, NodeResult, NodeType


class ManualTrigger(NodeType):
    type = "manual_trigger"
    label = "Manual trigger"
    group = "trigger"
    description = "Starts the schema on demand; its output is the payload given when starting it."
    is_trigger = True

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(output=ctx.trigger)
