"""`set`: assigns variables (`vars`) from expressions or JSON literals; dotted names nest."""

from __future__ import annotations

from typing import Any

from engine.nodes.base import NodeContext, NodeResult, NodeType


class SetNode(NodeType):
    type = "set"
    label = "Set variables"
    group = "logic"
    description = "Assigns variables; each value is an expression or a JSON literal. Output: the assigned values."
    config_schema = {
        "type": "object",
        "properties": {
            "assignments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "pattern": r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$"},
                        "value": {"x-expression": True, "description": "Expression or JSON literal."},
                    },
                    "required": ["name", "value"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["assignments"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        updates: dict[str, Any] = {}
        for index, item in enumerate(ctx.config.get("assignments", [])):
            value = ctx.evaluate(item.get("value"), f"config.assignments[{index}].value")
            _assign(updates, ctx.vars, item["name"], value)
        return NodeResult(output=updates, set_vars=updates)


def _assign(updates: dict[str, Any], current: dict[str, Any], name: str, value: Any) -> None:
    """`a.b` writes into a copy of `vars.a` so earlier values of `a` are kept."""
    head, _, rest = name.partition(".")
    if not rest:
        updates[head] = value
        return
    base = updates.get(head, current.get(head))
    nested = dict(base) if isinstance(base, dict) else {}
    _assign(nested, nested, rest, value)
    updates[head] = nested
