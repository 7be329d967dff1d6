"""The node-type registry: one module per type, looked up by `type`, described for the editor.

`describe_node_types()` is exactly what `GET /api/node-types/` serves (docs/contracts.md), so the
editor's palette and config forms come from the same classes the walker runs.
"""

from __future__ import annotations

from typing import Any

from engine.nodes.base import ChildSpawn, NodeContext, NodeResult, NodeServices, NodeType, OutboundPolicy
from engine.nodes.call_schema import CallSchemaNode
from engine.nodes.condition import ConditionNode
from engine.nodes.delay import DelayNode
from engine.nodes.end import EndNode
from engine.nodes.fail import FailNode
from engine.nodes.for_each import ForEachNode
from engine.nodes.http_request import HttpRequestNode
from engine.nodes.log import LogNode
from engine.nodes.manual_trigger import ManualTrigger
from engine.nodes.merge import MergeNode
from engine.nodes.schedule_trigger import ScheduleTrigger, next_fire_time
from engine.nodes.set import SetNode
from engine.nodes.switch import SwitchNode
from engine.nodes.wait import WaitNode
from engine.nodes.webhook_trigger import WebhookTrigger

NODE_TYPES: dict[str, NodeType] = {
    cls.type: cls()
    for cls in (
        ManualTrigger, WebhookTrigger, ScheduleTrigger, SetNode, ConditionNode, SwitchNode,
        HttpRequestNode, DelayNode, WaitNode, LogNode, FailNode, EndNode, MergeNode, CallSchemaNode, ForEachNode,
    )
}  # fmt: skip


def get_node_type(type_name: str) -> NodeType | None:
    return NODE_TYPES.get(type_name)


def is_trigger_type(type_name: str) -> bool:
    node_type = NODE_TYPES.get(type_name)
    return bool(node_type and node_type.is_trigger)


def describe() -> list[dict[str, Any]]:
    return [node_type.describe() for node_type in NODE_TYPES.values()]


describe_node_types = describe  # the name the API view imports

__all__ = [
    "NODE_TYPES", "ChildSpawn", "NodeContext", "NodeResult", "NodeServices", "NodeType", "OutboundPolicy",
    "describe", "describe_node_types", "get_node_type", "is_trigger_type", "next_fire_time",
]  # fmt: skip
