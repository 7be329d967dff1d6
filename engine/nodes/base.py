"""What every node type shares: the class to subclass, its run context and its result.

A node type is a class with declarative attributes (shown by `GET /api/node-types/`) and a
`run(ctx)` that returns a `NodeResult` or raises (`NodeError` for business failures, its message
shown to the schema's owner; any other exception is retried the same way but is an internal
error: owners see a generic sentence, its traceback goes to staff and the logs). Nodes never
touch the store: the walker turns results into steps, checkpoints and pauses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from engine.expressions import evaluate_value
from engine.graph import NodeSpec

if TYPE_CHECKING:
    from engine.http.auth import CredentialResolver


class OutboundPolicy(Protocol):
    """Injected by the app to vet outgoing HTTP (SSRF protection, allow-lists); raises to refuse."""

    def check(self, method: str, url: str) -> None: ...


@dataclass
class NodeServices:
    """Things the host process lends to nodes. Defaults make unit tests and scripts work as is."""

    http_session: Any = None  # a `requests.Session`-like object; None → a fresh `requests` call
    outbound_policy: OutboundPolicy | None = None
    # Finds and decrypts the credentials a node names (`engine/http/auth.py`); None: none available.
    credentials: CredentialResolver | None = None
    # `env` of expressions: the schema owner's variables (global ones overlaid by the owner's own).
    env: Mapping[str, Any] = field(default_factory=dict)
    logger_name: str = "engine.nodes"


@dataclass
class NodeContext:
    execution_id: str
    node: NodeSpec
    attempt: int
    idempotency_key: str
    input: Any
    vars: dict[str, Any]
    trigger: Any
    outputs: dict[str, Any]
    now: datetime
    services: NodeServices = field(default_factory=NodeServices)

    @property
    def config(self) -> dict[str, Any]:
        return self.node.config

    def scope(self) -> dict[str, Any]:
        return {
            "vars": self.vars,
            "input": self.input,
            "trigger": self.trigger,
            "nodes": {node_id: {"output": out} for node_id, out in self.outputs.items()},
            "execution": {"id": self.execution_id},
            "env": self.services.env,
        }

    def evaluate(self, value: Any, field_path: str) -> Any:
        """Evaluates expressions in a config value; `field_path` is like `config.url` for errors."""
        return evaluate_value(value, self.scope(), node_id=self.node.id, field=field_path)

    def field(self, name: str, default: Any = None) -> Any:
        return self.evaluate(self.config.get(name, default), f"config.{name}")


@dataclass
class NodeResult:
    output: Any = None
    port: str | None = "out"  # None: no outgoing edges are followed
    set_vars: dict[str, Any] | None = None  # merged into the execution's vars
    pause_kind: str | None = None  # "delay" | "wait": the execution pauses at this node
    resume_at: datetime | None = None
    end: bool = False  # an `end` node: the execution completes with `output` as its result
    fail_message: str | None = None  # a `fail` node: the execution fails without retry
    recorded_input: Any = None  # what the step shows as input instead of the node input (redacted)
    spawn: ChildSpawn | None = None  # call_schema / for_each: child executions to start (pause_kind "children")


@dataclass
class ChildSpawn:
    """Child executions a node asks for: one per input, of schema `schema_id` at `version`
    ("current" or a number). `mode`: `wait` (the branch waits for every child; output = their
    results), `fire` (output = the child's id at once). At most `concurrency` children in flight;
    `on_item_error`: `fail` (the node fails on the first failed child) or `continue`."""

    schema_id: str
    version: str | int
    inputs: list[Any]
    mode: str = "wait"
    concurrency: int = 1
    on_item_error: str = "fail"
    each: bool = False  # for_each: the output is a list (one entry per item), else the one result


class NodeType:
    type: ClassVar[str]
    label: ClassVar[str]
    group: ClassVar[str]  # trigger | logic | action | flow
    description: ClassVar[str]
    config_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}, "additionalProperties": False}
    ports: ClassVar[list[str]] = ["out"]
    dynamic_ports: ClassVar[dict[str, str] | None] = None
    side_effects: ClassVar[bool] = False
    is_trigger: ClassVar[bool] = False
    # How the node joins when several edges come in (see `engine.walker`): `auto` for every type but
    # `merge` — the one arrived output as input, or an object keyed by predecessor when several arrived.
    accepts_many_inputs: ClassVar[bool] = False

    def join_mode(self, config: dict[str, Any]) -> str:
        """`auto` | `all` | `first` | `append`: how several inbound branches become this node's input."""
        return "auto"

    def run(self, ctx: NodeContext) -> NodeResult:
        raise NotImplementedError

    def config_problems(self, config: dict[str, Any]) -> list[tuple[str, str]]:
        """Checks beyond JSON Schema, as (path inside config, message); config already matches the schema."""
        return []

    def output_ports(self, config: dict[str, Any]) -> list[str]:
        """Ports this node can emit with this config (without `error`)."""
        ports = list(self.ports)
        if self.dynamic_ports:
            items = config.get(self.dynamic_ports["from"])
            if isinstance(items, list):
                key = self.dynamic_ports["key"]
                ports += [i[key] for i in items if isinstance(i, dict) and isinstance(i.get(key), str)]
        return ports

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "type": cls.type,
            "label": cls.label,
            "group": cls.group,
            "description": cls.description,
            "is_trigger": cls.is_trigger,
            "side_effects": cls.side_effects,
            "ports": list(cls.ports),
            "dynamic_ports": dict(cls.dynamic_ports) if cls.dynamic_ports else None,
            "accepts_many_inputs": cls.accepts_many_inputs,
            "config_schema": cls.config_schema,
        }


def expression_string(description: str, **extra: Any) -> dict[str, Any]:
    """Schema of a string field that accepts `{{ ... }}` expressions."""
    return {"type": "string", "x-expression": True, "description": description, **extra}
