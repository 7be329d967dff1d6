"""`switch`: routes to the port of the first case whose value equals the evaluated value, else `default`."""

from __future__ import annotations

from typing import Any

from engine.nodes.base import NodeContext, NodeResult, NodeType, expression_string

RESERVED_PORTS = ("default", "error")


def matches(value: Any, case_value: Any) -> bool:
    if value == case_value:
        return True
    # "1" matches 1: values from webhooks and templates are often strings.
    return isinstance(value, str) != isinstance(case_value, str) and str(value) == str(case_value)


class SwitchNode(NodeType):
    type = "switch"
    label = "Switch"
    group = "logic"
    description = "Evaluates a value and follows the port of the first matching case, else `default`."
    ports = ["default"]
    dynamic_ports = {"from": "cases", "key": "port"}
    config_schema = {
        "type": "object",
        "properties": {
            "value": expression_string("Value to match, e.g. {{ trigger.kind }}."),
            "cases": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "port": {"type": "string", "minLength": 1, "maxLength": 64},
                        "value": {"x-expression": True, "description": "Case value (expression or literal)."},
                    },
                    "required": ["port", "value"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["value", "cases"],
        "additionalProperties": False,
    }

    def config_problems(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        seen: set[str] = set()
        for index, case in enumerate(config.get("cases", [])):
            port = case.get("port")
            if port in RESERVED_PORTS:
                problems.append((f"cases[{index}].port", f"port name {port!r} is reserved"))
            elif port in seen:
                problems.append((f"cases[{index}].port", f"duplicate case port {port!r}"))
            seen.add(port)
        return problems

    def run(self, ctx: NodeContext) -> NodeResult:
        value = ctx.field("value")
        for index, case in enumerate(ctx.config.get("cases", [])):
            if matches(value, ctx.evaluate(case.get("value"), f"config.cases[{index}].value")):
                return NodeResult(output={"value": value, "port": case["port"]}, port=case["port"])
        return NodeResult(output={"value": value, "port": "default"}, port="default")
