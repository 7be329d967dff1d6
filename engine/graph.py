"""The definition model: nodes, edges and variables of a schema, parsed from its JSON.

`Graph.from_dict` turns a (validated) definition into immutable specs with indexes for the
walker: successors by output port, the trigger node and reachability. It checks only what it needs
to build the indexes; `engine.validation` is the place that reports every problem to a user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.errors import DefinitionError

DEFAULT_PORT = "out"
ERROR_PORT = "error"


@dataclass(frozen=True)
class NodeSpec:
    id: str
    type: str
    name: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    retry: dict[str, Any] | None = None
    on_error: str = "fail"
    position: dict[str, Any] | None = None


@dataclass(frozen=True)
class EdgeSpec:
    id: str
    source: str
    target: str
    source_port: str = DEFAULT_PORT


@dataclass(frozen=True)
class Graph:
    nodes: dict[str, NodeSpec]
    edges: tuple[EdgeSpec, ...]
    variables: dict[str, Any]
    # (source, port) -> targets in edge order; built once so the walker's hot loop is a dict lookup.
    _successors: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict, repr=False)
    # node -> its outgoing / incoming edges in definition order (the editor's port order).
    _outgoing: dict[str, tuple[EdgeSpec, ...]] = field(default_factory=dict, repr=False)
    _incoming: dict[str, tuple[EdgeSpec, ...]] = field(default_factory=dict, repr=False)
    # nodes with several inbound edges: they join (wait for every branch that can still arrive)
    joins: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, data: Any) -> Graph:
        if not isinstance(data, dict):
            raise DefinitionError("definition must be an object")
        raw_nodes = data.get("nodes")
        raw_edges = data.get("edges", [])
        variables = data.get("variables", {})
        if not isinstance(raw_nodes, list) or not isinstance(raw_edges, list):
            raise DefinitionError("nodes and edges must be lists")
        if variables is None:
            variables = {}
        if not isinstance(variables, dict):
            raise DefinitionError("variables must be an object")
        nodes: dict[str, NodeSpec] = {}
        for raw in raw_nodes:
            spec = _node_from_dict(raw)
            if spec.id in nodes:
                raise DefinitionError(f"duplicate node id {spec.id!r}")
            nodes[spec.id] = spec
        edges = tuple(_edge_from_dict(raw, nodes) for raw in raw_edges)
        successors: dict[tuple[str, str], list[str]] = {}
        outgoing: dict[str, list[EdgeSpec]] = {}
        incoming: dict[str, list[EdgeSpec]] = {}
        for edge in edges:
            successors.setdefault((edge.source, edge.source_port), []).append(edge.target)
            outgoing.setdefault(edge.source, []).append(edge)
            incoming.setdefault(edge.target, []).append(edge)
        return cls(
            nodes,
            edges,
            dict(variables),
            {k: tuple(v) for k, v in successors.items()},
            {k: tuple(v) for k, v in outgoing.items()},
            {k: tuple(v) for k, v in incoming.items()},
            frozenset(k for k, v in incoming.items() if len(v) > 1),
        )

    def node(self, node_id: str) -> NodeSpec:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise DefinitionError(f"unknown node {node_id!r}") from None

    def successors(self, node_id: str, port: str = DEFAULT_PORT) -> tuple[str, ...]:
        return self._successors.get((node_id, port), ())

    def outgoing(self, node_id: str) -> list[EdgeSpec]:
        return list(self._outgoing.get(node_id, ()))

    def incoming(self, node_id: str) -> list[EdgeSpec]:
        return list(self._incoming.get(node_id, ()))

    def out_edges(self, node_id: str) -> tuple[EdgeSpec, ...]:
        """Outgoing edges in definition order (no copy: the walker's hot path)."""
        return self._outgoing.get(node_id, ())

    def in_edges(self, node_id: str) -> tuple[EdgeSpec, ...]:
        """Incoming edges in definition order (the editor's port order)."""
        return self._incoming.get(node_id, ())

    def trigger_ids(self, is_trigger: Callable[[str], bool]) -> list[str]:
        """Ids of nodes whose type is a trigger, in definition order."""
        return [n.id for n in self.nodes.values() if is_trigger(n.type)]

    def reachable_from(self, start_ids: Iterable[str]) -> set[str]:
        """Every node reachable from `start_ids` through any port (the starts included)."""
        seen: set[str] = set()
        stack = [s for s in start_ids if s in self.nodes]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(e.target for e in self.edges if e.source == current and e.target not in seen)
        return seen


def node_name(definition: Any, node_id: str | None) -> str | None:
    """The name a (stored, possibly unfinished) definition gives node `node_id`; None when it has none."""
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    for raw in nodes if isinstance(nodes, list) else []:
        if isinstance(raw, dict) and raw.get("id") == node_id:
            name = raw.get("name")
            return name if isinstance(name, str) and name else None
    return None


def _node_from_dict(raw: Any) -> NodeSpec:
    if not isinstance(raw, dict):
        raise DefinitionError("node must be an object")
    node_id, node_type = raw.get("id"), raw.get("type")
    if not isinstance(node_id, str) or not node_id or not isinstance(node_type, str):
        raise DefinitionError("node needs a string id and type")
    config = raw.get("config") or {}
    retry = raw.get("retry")
    on_error = raw.get("on_error") or "fail"
    if not isinstance(config, dict) or (retry is not None and not isinstance(retry, dict)):
        raise DefinitionError(f"node {node_id!r}: config and retry must be objects")
    if on_error not in ("fail", "error"):
        raise DefinitionError(f"node {node_id!r}: on_error must be 'fail' or 'error'")
    name = raw.get("name")
    position = raw.get("position")
    return NodeSpec(
        id=node_id,
        type=node_type,
        name=name if isinstance(name, str) else "",
        config=config,
        retry=retry,
        on_error=on_error,
        position=position if isinstance(position, dict) else None,
    )


def _edge_from_dict(raw: Any, nodes: dict[str, NodeSpec]) -> EdgeSpec:
    if not isinstance(raw, dict):
        raise DefinitionError("edge must be an object")
    edge_id, source, target = raw.get("id"), raw.get("source"), raw.get("target")
    port = raw.get("source_port") or DEFAULT_PORT
    if not all(isinstance(v, str) for v in (edge_id, source, target, port)):
        raise DefinitionError("edge needs string id, source, target and source_port")
    if source not in nodes or target not in nodes:
        raise DefinitionError(f"edge {edge_id!r} points at an unknown node")
    return EdgeSpec(id=str(edge_id), source=str(source), target=str(target), source_port=str(port))
