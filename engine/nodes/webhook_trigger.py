"""`webhook_trigger`: an execution started by `POST /api/hooks/{schema_id}/` (auth is per schema)."""

from __future__ import annotations

from engine.nodes.base import NodeContext, NodeResult, NodeType


class WebhookTrigger(NodeType):
    type = "webhook_trigger"
    label = "Webhook"
    group = "trigger"
    description = "Starts the schema when its webhook URL receives a signed POST; output is the JSON body."
    is_trigger = True

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(output=ctx.trigger)
