"""The editor's "Run to here": a test walk of a (draft) definition from its trigger up to one node.

Only the nodes the target depends on run — its ancestors and itself, in topological order — so no
node after the target, nor on a branch that does not lead to it, ever runs (none of their side
effects happen). A node with pinned data (`pinned_data` on the node in the draft) does not run:
its pin is its output, passed along every edge out of it (a pin does not say which port it took).
Branches and joins follow the walker's rules (`engine.walker`): an edge is live when its source
ran and took that port; a node runs when one of its inbound edges is live; a join's input is the
one arrived output, or an object keyed by predecessor (`merge` `append`: a list; `first`: the
first arrival in edge order). Variables set by `set` nodes are seen downstream. A node that would
pause (`delay`, `wait`, sub-schema runs) does not wait: its output goes on at once (pin a `wait`
to give the payload a resume would bring). A failed node stops the walk unless it follows its
`error` port. Pure: the host gives the node services and records what ran.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.errors import DefinitionError
from engine.graph import ERROR_PORT, Graph
from engine.limits import MAX_STEP_BYTES, ValueTooLarge, json_safe
from engine.nodes import get_node_type
from engine.nodes.base import NodeContext, NodeServices
from engine.single_node import SingleNodeOutcome, run_single_node

PIN_KEY = "pinned_data"


@dataclass(frozen=True)
class WalkStep:
    node_id: str
    node_type: str
    status: str  # success | failed | pinned
    input: Any
    output: Any
    port: str | None
    error: str | None
    duration_ms: float
    pause: dict[str, Any] | None = None
    outcome: SingleNodeOutcome | None = None  # None for a pinned node (it did not run)


@dataclass
class WalkResult:
    status: str  # success: the target ran (or is pinned); failed: a node failed; unreached: no live path
    steps: list[WalkStep] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def pins_of(definition: Any) -> dict[str, Any]:
    """The pinned outputs of a definition's nodes, by node id (a trigger's pin is its payload)."""
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    listed = nodes if isinstance(nodes, list) else []
    return {
        raw["id"]: raw[PIN_KEY]
        for raw in listed
        if isinstance(raw, dict) and isinstance(raw.get("id"), str) and PIN_KEY in raw
    }


def path_to(graph: Graph, target: str) -> list[str]:
    """The nodes `target` depends on (its ancestors) and itself, in topological order (ties in
    definition order). `DefinitionError` for an unknown target or a cycle among them."""
    graph.node(target)
    needed = {target}
    stack = [target]
    while stack:
        for edge in graph.in_edges(stack.pop()):
            if edge.source not in needed:
                needed.add(edge.source)
                stack.append(edge.source)
    order = [n for n in graph.nodes if n in needed]
    indegree = {n: sum(1 for e in graph.in_edges(n) if e.source in needed) for n in order}
    ready = [n for n in order if indegree[n] == 0]
    done: list[str] = []
    while ready:
        current = ready.pop(0)
        done.append(current)
        for edge in graph.out_edges(current):
            if edge.target in indegree:
                indegree[edge.target] -= 1
                if indegree[edge.target] == 0:
                    ready.append(edge.target)
                    ready.sort(key=order.index)
    if len(done) != len(order):
        raise DefinitionError("the nodes before this one form a loop; remove it to run up to here")
    return done


def side_effect_nodes(definition: Any, target: str) -> list[str]:
    """Nodes of the walk to `target` that would act on the outside world (those not pinned)."""
    graph = Graph.from_dict(definition)
    pins = pins_of(definition)
    found = []
    for node_id in path_to(graph, target):
        node_type = get_node_type(graph.node(node_id).type)
        if node_type is not None and node_type.side_effects and node_id not in pins:
            found.append(node_id)
    return found


def run_to_node(
    definition: Any,
    target: str,
    *,
    trigger: Any,
    services: NodeServices,
    now: datetime,
    run_id: str | None = None,
) -> WalkResult:
    """Walks `definition` from its trigger (its pin, else `trigger` as the payload) to `target`."""
    graph = Graph.from_dict(definition)
    pins = pins_of(definition)
    order = path_to(graph, target)
    run_id = run_id or str(uuid.uuid4())
    result = WalkResult(status="unreached", vars=dict(graph.variables))
    outputs: dict[str, Any] = {}
    took: dict[str, str | None] = {}  # node -> the port it took (None: every port, a pin)
    payload = trigger
    for node_id in order:
        node = graph.node(node_id)
        node_type = get_node_type(node.type)
        inbound = graph.in_edges(node_id)
        if node_type is not None and node_type.is_trigger:
            if node_id in pins:
                payload = pins[node_id]
            node_input: Any = payload
        elif not inbound:
            continue  # not connected to the trigger: nothing reaches it
        else:
            live = [e for e in inbound if e.source in took and took[e.source] in (None, e.source_port)]
            if not live:
                continue  # every branch into it was not taken
            node_input = _join_input(node_type.join_mode(node.config) if node_type else "auto", live, inbound, outputs)
        if node_id in pins:
            pin = pins[node_id]
            result.steps.append(WalkStep(node_id, node.type, "pinned", node_input, pin, None, None, 0.0))
            outputs[node_id], took[node_id] = pin, None
            continue
        if node_type is None:
            result.steps.append(
                WalkStep(node_id, node.type, "failed", node_input, None, None, f"unknown node type {node.type!r}", 0.0)
            )
            result.status, result.error = "failed", f"node {node_id!r} has the unknown type {node.type!r}"
            return result
        ctx = NodeContext(
            execution_id=f"test-{run_id}",
            node=node,
            attempt=1,
            idempotency_key=f"test-{run_id}:{node_id}:1",
            input=node_input,
            vars=dict(result.vars),
            trigger=payload,
            outputs=dict(outputs),
            now=now,
            services=services,
        )
        outcome = run_single_node(node_type, ctx)
        port = outcome.port
        if outcome.status == "failed" and node.on_error == "error" and outcome.pause is None:
            port = ERROR_PORT
        step = WalkStep(
            node_id,
            node.type,
            outcome.status,
            node_input,
            outcome.output,
            port,
            outcome.error,
            outcome.duration_ms,
            outcome.pause,
            outcome,
        )
        result.steps.append(step)
        if outcome.status == "failed" and port != ERROR_PORT:
            result.status, result.error = "failed", f"node {node_id!r} failed: {outcome.error}"
            return result
        outputs[node_id], took[node_id] = outcome.output, port
        if outcome.set_vars:
            merged = {**result.vars, **outcome.set_vars}
            try:
                result.vars, _ = json_safe(merged, limit=MAX_STEP_BYTES, what="the execution variables")
            except ValueTooLarge as exc:
                result.status, result.error = "failed", f"node {node_id!r} failed: {exc}"
                return result
    if target in outputs:
        result.status = "success"
    return result


def _join_input(mode: str, live: list[Any], inbound: tuple[Any, ...], outputs: Mapping[str, Any]) -> Any:
    if len(inbound) == 1:
        return outputs.get(live[0].source)
    sources = list(dict.fromkeys(e.source for e in live))
    if mode == "first":
        return outputs.get(sources[0])
    if mode == "append":
        return [outputs.get(s) for s in sources]
    if mode == "auto" and len(sources) == 1:
        return outputs.get(sources[0])
    return {s: outputs.get(s) for s in sources}
