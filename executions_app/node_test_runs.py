"""The editor's authoring data: the scope expressions see at a node of a past execution (for the
expression preview and "Run this node"), and test runs — of one node, or of the nodes up to one
("Run to here", `engine.run_to_node`) — recorded apart from executions. Pinned data of the draft's
nodes stands in for their outputs in both; production runs never read it (the walker's graph has
no such field).

A test run never creates an execution: no worker, no broker message, no metrics, nothing in the
executions list. It runs in the API process with the same node services as a worker (outbound
policy, the owner's credentials), and only the latest `NodeTestRun.KEEP_PER_SCHEMA` of a schema are
kept. Nodes with side effects run only when the caller confirms it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from engine.errors import DefinitionError, public_step_output
from engine.limits import json_safe
from engine.nodes import get_node_type
from engine.nodes.base import NodeContext
from engine.run_to_node import WalkResult, run_to_node, side_effect_nodes
from engine.single_node import SingleNodeOutcome, node_in_definition, run_single_node
from schemas_app.models import Schema

from .models import Execution, ExecutionStep, NodeTestRun, StepStatus
from .runner import node_services

logger = logging.getLogger("schema.engine")

SCOPE_KEYS = ("vars", "input", "trigger", "nodes")


class NodeTestRefused(Exception):
    """The test run cannot start; `field` names the request field at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def execution_scope(execution: Execution, node_id: str | None, *, staff: bool) -> dict[str, Any]:
    """What expressions of `node_id` saw (or would see) in `execution`: its trigger payload, its
    variables, the outputs of the nodes that succeeded, and the node's input when it ran.
    Non-staff users get step outputs without the staff-only details, as the steps endpoint does."""
    outputs: dict[str, Any] = {}
    node_input: Any = None
    steps = (
        ExecutionStep.objects.filter(execution=execution).order_by("seq").only("node_id", "status", "input", "output")
    )
    for step in steps:
        if step.status == StepStatus.SUCCESS:
            outputs[step.node_id] = step.output if staff else public_step_output(step.output)
        if node_id is not None and step.node_id == node_id:
            node_input = step.input
    state = getattr(execution, "state", None)
    return {
        "vars": dict(state.context) if state is not None and isinstance(state.context, dict) else {},
        "input": node_input,
        "trigger": execution.trigger_payload,
        "nodes": {nid: {"output": out} for nid, out in outputs.items()},
        "execution": {"id": str(execution.id)},
    }


def merge_scope(
    base: dict[str, Any], given: dict[str, Any] | None, pins: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`base` with pinned outputs over its `nodes` (`pins`: node id -> pinned data, from the draft),
    then the parts the caller gave instead (edited input, pinned trigger data)."""
    scope = {"vars": {}, "input": None, "trigger": None, "nodes": {}, "execution": {"id": "preview"}, **base}
    if pins:
        scope["nodes"] = {**scope["nodes"], **{nid: {"output": pin} for nid, pin in pins.items()}}
    for key in SCOPE_KEYS:
        if given is not None and key in given:
            scope[key] = given[key]
    return scope


@dataclass(frozen=True)
class NodeTestResult:
    run: NodeTestRun
    outcome: SingleNodeOutcome


def node_test_run(
    *,
    schema: Schema,
    user: User,
    definition: dict[str, Any],
    node_id: str,
    scope: dict[str, Any],
    confirm_side_effects: bool,
) -> NodeTestResult:
    """Runs `node_id` of `definition` once with `scope` (its `input` is the node's input) and records it."""
    try:
        node = node_in_definition(definition, node_id)
    except DefinitionError as exc:
        raise NodeTestRefused(f"{str(exc)[:1].upper()}{str(exc)[1:]}.", "node_id") from None
    node_type = get_node_type(node.type)
    if node_type is None:
        raise NodeTestRefused(f"Node {node_id!r} has the unknown type {node.type!r}.", "node_id")
    if node_type.side_effects and not confirm_side_effects:
        raise NodeTestRefused(
            f"{node.name or node_id} has side effects ({node_type.label}): it acts on the outside world. "
            "Confirm to run it for real.",
            "confirm_side_effects",
        )
    run_id = uuid.uuid4()
    nodes = scope.get("nodes")
    nodes = nodes if isinstance(nodes, dict) else {}
    outputs = {nid: v.get("output") for nid, v in nodes.items() if isinstance(v, dict)}
    ctx = NodeContext(
        execution_id=f"test-{run_id}",
        node=node,
        attempt=1,
        idempotency_key=f"test-{run_id}:{node_id}:1",
        input=scope.get("input"),
        vars=dict(scope["vars"]) if isinstance(scope.get("vars"), dict) else {},
        trigger=scope.get("trigger"),
        outputs=outputs,
        now=timezone.now(),
        services=node_services(schema.id),
    )
    outcome = run_single_node(node_type, ctx)
    if outcome.internal:
        logger.error(
            "test run of node %s failed internally",
            node_id,
            exc_info=outcome.exception,
            extra={"schema_id": str(schema.id), "node_id": node_id},
        )
    with transaction.atomic():
        run = NodeTestRun.objects.create(
            id=run_id,
            schema=schema,
            node_id=node_id,
            node_type=node.type,
            status=outcome.status,
            input=json_safe(scope.get("input"))[0],  # as a step records it (no NUL or lone surrogates)
            output=outcome.output,
            port=outcome.port,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
            created_by=user,
        )
        keep = NodeTestRun.objects.filter(schema=schema).values_list("id", flat=True)[: NodeTestRun.KEEP_PER_SCHEMA]
        NodeTestRun.objects.filter(schema=schema).exclude(id__in=list(keep)).delete()
    return NodeTestResult(run, outcome)


@dataclass(frozen=True)
class WalkTestResult:
    walk: WalkResult
    runs: dict[str, NodeTestRun]  # node id -> the test run recorded for it (pinned nodes have none)


def schema_test_walk(
    *,
    schema: Schema,
    user: User,
    definition: dict[str, Any],
    node_id: str,
    trigger: Any,
    confirm_side_effects: bool,
) -> WalkTestResult:
    """The "Run to here" test run: runs the nodes `node_id` depends on and itself (pinned ones give their pins)
    and records each node that ran as a test run. Nothing after `node_id` runs."""
    try:
        acting = side_effect_nodes(definition, node_id)
    except DefinitionError as exc:
        raise NodeTestRefused(f"{str(exc)[:1].upper()}{str(exc)[1:]}.", "node_id") from None
    if acting and not confirm_side_effects:
        # Said to a user: nodes by the names they gave (ids only in expressions).
        named = {raw.get("id"): raw.get("name") for raw in definition.get("nodes", []) if isinstance(raw, dict)}
        names = ", ".join(f"“{named.get(n) or n}”" for n in acting)
        raise NodeTestRefused(
            f"Running up to here acts on the outside world: {names} "
            f"{'have' if len(acting) > 1 else 'has'} side effects and no pinned data. "
            "Confirm to run them for real, or pin their output.",
            "confirm_side_effects",
        )
    run_id = uuid.uuid4()
    walk = run_to_node(
        definition, node_id, trigger=trigger, services=node_services(schema.id), now=timezone.now(), run_id=str(run_id)
    )
    for step in walk.steps:
        if step.outcome is not None and step.outcome.internal:
            logger.error(
                "test run of node %s failed internally",
                step.node_id,
                exc_info=step.outcome.exception,
                extra={"schema_id": str(schema.id), "node_id": step.node_id},
            )
    ran = [step for step in walk.steps if step.outcome is not None]
    with transaction.atomic():
        runs = NodeTestRun.objects.bulk_create(
            NodeTestRun(
                schema=schema,
                node_id=step.node_id,
                node_type=step.node_type,
                status=step.status,
                input=json_safe(step.input)[0],
                output=step.output,
                port=step.port,
                error=step.error,
                duration_ms=step.duration_ms,
                created_by=user,
            )
            for step in ran
        )
        keep_n = max(NodeTestRun.KEEP_PER_SCHEMA, len(runs))
        keep = NodeTestRun.objects.filter(schema=schema).values_list("id", flat=True)[:keep_n]
        NodeTestRun.objects.filter(schema=schema).exclude(id__in=list(keep)).delete()
    return WalkTestResult(walk, {run.node_id: run for run in runs})
