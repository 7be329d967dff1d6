"""`merge`: joins parallel branches (fan-in) and runs once; its output is what arrived.

The walker does the joining (`engine.walker`, dead-path elimination): a merge waits until every
inbound branch that can still arrive has arrived — branches not taken count as done — then runs
once with the joined value as input, which it passes on as its output. Modes: `all` (an object
keyed by predecessor node id, in edge order), `first` (the first arrival; later ones are recorded
as `skipped` steps), `append` (a list of the arrived outputs, in edge order).
"""

from __future__ import annotations

from typing import Any, ClassVar

from engine.nodes.base import NodeContext, NodeResult, NodeType

MERGE_MODES = ("all", "first", "append")


class MergeNode(NodeType):
    type = "merge"
    label = "Merge"
    group = "flow"
    description = (
        "Waits for every inbound branch that can still arrive (branches not taken count as done), then runs "
        "once. all: an object keyed by predecessor id; first: the first arrival; append: a list of the outputs."
    )
    accepts_many_inputs: ClassVar[bool] = True
    config_schema = {
        "type": "object",
        "properties": {
            "mode": {
                "type": "string",
                "enum": list(MERGE_MODES),
                "default": "all",
                "description": "all: {predecessor id: output}; first: the first arrival; append: [outputs].",
            }
        },
        "additionalProperties": False,
    }

    def join_mode(self, config: dict[str, Any]) -> str:
        mode = config.get("mode", "all")
        return mode if mode in MERGE_MODES else "all"

    def run(self, ctx: NodeContext) -> NodeResult:
        return NodeResult(output=ctx.input)
