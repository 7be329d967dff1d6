"""`condition`: routes to port `true` or `false`, from an expression or a structured comparison."""

from __future__ import annotations

from typing import Any

from engine.errors import NodeError
from engine.expressions import is_truthy
from engine.nodes.base import NodeContext, NodeResult, NodeType, expression_string

OPERATORS = [
    "eq", "ne", "gt", "gte", "lt", "lte", "contains", "not_contains",
    "starts_with", "ends_with", "is_empty", "is_not_empty",
]  # fmt: skip


def compare(left: Any, operator: str, right: Any) -> bool:
    try:
        if operator == "eq":
            return bool(left == right)
        if operator == "ne":
            return bool(left != right)
        if operator in ("gt", "gte", "lt", "lte"):
            a, b = _orderable(left, right)
            return bool({"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[operator])
        if operator == "contains":
            return bool(right in left) if left is not None else False
        if operator == "not_contains":
            return bool(right not in left) if left is not None else True
        if operator == "starts_with":
            return str(left).startswith(str(right))
        if operator == "ends_with":
            return str(left).endswith(str(right))
        if operator == "is_empty":
            return left in (None, "", [], {})
        if operator == "is_not_empty":
            return left not in (None, "", [], {})
    except TypeError as exc:
        raise NodeError(f"cannot compare {left!r} {operator} {right!r}: {exc}") from None
    raise NodeError(f"unknown operator {operator!r}")


def _orderable(left: Any, right: Any) -> tuple[Any, Any]:
    """Numbers in strings compare as numbers ("10" > 9), since webhook payloads are often strings."""

    def number(v: Any) -> Any:
        if isinstance(v, str):
            try:
                return float(v)
            except ValueError:
                return v
        return v

    return number(left), number(right)


class ConditionNode(NodeType):
    type = "condition"
    label = "Condition"
    group = "logic"
    description = "Follows `true` when the expression (or left operator right) holds, else `false`."
    ports = ["true", "false"]
    config_schema = {
        "type": "object",
        "properties": {
            "expression": expression_string("Truthy expression, e.g. {{ vars.total > 100 }}."),
            "left": {"x-expression": True, "description": "Left operand (expression or literal)."},
            "operator": {"enum": OPERATORS},
            "right": {"x-expression": True, "description": "Right operand (expression or literal)."},
        },
        "oneOf": [{"required": ["expression"]}, {"required": ["left", "operator"]}],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        if "expression" in ctx.config:
            value = ctx.field("expression")
            result = is_truthy(value)
            detail: dict[str, Any] = {"result": result, "value": value}
        else:
            left, right = ctx.field("left"), ctx.field("right")
            result = compare(left, ctx.config["operator"], right)
            detail = {"result": result, "left": left, "operator": ctx.config["operator"], "right": right}
        return NodeResult(output=detail, port="true" if result else "false")
