"""One node run on its own, outside any execution: the editor's "Run this node" (a test run).

The node runs with the input and the scope the caller gives (the data of a past run, or JSON the
user edited); nothing is checkpointed, no other node runs and no edge is followed. The outcome
says what the walker would have recorded: the output, the port it would follow, the variables it
would set, the pause it would start, or the error in the words a failed step shows. The same
size limit as a step applies to the output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from engine.errors import DefinitionError, NodeError, step_failure
from engine.graph import NodeSpec, _node_from_dict
from engine.limits import MAX_STEP_BYTES, ValueTooLarge, json_safe, safe_text
from engine.nodes.base import NodeContext, NodeType


@dataclass(frozen=True)
class SingleNodeOutcome:
    status: str  # success | failed
    output: Any
    port: str | None  # the port the walker would follow; None when it would follow none
    set_vars: dict[str, Any] | None
    pause: dict[str, Any] | None  # {"kind": "delay"|"wait", "resume_at": iso|None}: it would pause here
    error: str | None  # a failed step's sentence
    internal: bool  # the failure is a fault of ours (the details went to the logs), not of the schema
    duration_ms: float
    exception: BaseException | None = None  # for the host's log when `internal`


def run_single_node(node_type: NodeType, ctx: NodeContext) -> SingleNodeOutcome:
    """Runs `node_type` once with `ctx`; never raises for what the node does."""
    t0 = time.perf_counter()
    try:
        result = node_type.run(ctx)
        output, _ = json_safe(result.output, limit=MAX_STEP_BYTES, what="the node's output")
    except ValueTooLarge as exc:
        return _failed(NodeError(str(exc)), t0)
    except Exception as exc:  # noqa: BLE001 - any node failure is the test run's result
        return _failed(exc, t0)
    ms = (time.perf_counter() - t0) * 1000
    if result.fail_message is not None:  # a `fail` node: the execution would fail here
        message = safe_text(result.fail_message) or "failed"
        return SingleNodeOutcome("failed", output, None, None, None, message, False, ms)
    pause = None
    if result.pause_kind:
        pause = {"kind": result.pause_kind, "resume_at": result.resume_at.isoformat() if result.resume_at else None}
    return SingleNodeOutcome("success", output, result.port, result.set_vars, pause, None, False, ms)


def _failed(exc: BaseException, t0: float) -> SingleNodeOutcome:
    failure = step_failure(exc, clean=safe_text)
    internal = bool(failure.output["error"].get("internal"))
    output = {"error": failure.output["error"]}  # never the traceback: it stays in the logs
    ms = (time.perf_counter() - t0) * 1000
    return SingleNodeOutcome("failed", output, None, None, None, failure.message, internal, ms, exc)


def node_in_definition(definition: Any, node_id: str) -> NodeSpec:
    """The node `node_id` of a (possibly unsaved, possibly invalid) definition; `DefinitionError`
    when there is no such node or it cannot be read. Only this node must be well-formed."""
    nodes = definition.get("nodes") if isinstance(definition, dict) else None
    for raw in nodes if isinstance(nodes, list) else []:
        if isinstance(raw, dict) and raw.get("id") == node_id:
            return _node_from_dict(raw)  # the parser `Graph` uses, for one node
    raise DefinitionError(f"there is no node {node_id!r} in the definition")
