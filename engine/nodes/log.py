"""`log`: writes a message to the worker log (JSON lines) with the execution and node ids."""

from __future__ import annotations

import logging

from engine.nodes.base import NodeContext, NodeResult, NodeType, expression_string

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class LogNode(NodeType):
    type = "log"
    label = "Log"
    group = "action"
    description = "Writes a message to the log; output {level, message}, input passes through as `input`."
    config_schema = {
        "type": "object",
        "properties": {
            "level": {"enum": list(LEVELS), "default": "info"},
            "message": expression_string("Message, e.g. Order {{ trigger.id }} received."),
        },
        "required": ["message"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        level = str(ctx.config.get("level", "info"))
        message = ctx.field("message")
        text = message if isinstance(message, str) else str(message)
        logging.getLogger(f"{ctx.services.logger_name}.log").log(
            LEVELS.get(level, logging.INFO), text, extra={"execution_id": ctx.execution_id, "node_id": ctx.node.id}
        )
        return NodeResult(output={"level": level, "message": text, "input": ctx.input})
