"""The "Run to here" walk in the engine: only the target and the nodes it depends on run, pinned nodes give
their pins without running, branches and joins follow the walker's rules, a failure stops the walk."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from engine.errors import DefinitionError
from engine.graph import Graph
from engine.nodes import NODE_TYPES, NodeContext, NodeResult, NodeServices, NodeType
from engine.run_to_node import path_to, pins_of, run_to_node, side_effect_nodes
from tests.builders import edge, node

NOW = datetime(2030, 1, 1, tzinfo=UTC)
CALLS: list[str] = []


class Recorded(NodeType):
    """A side-effecting node that records that it ran (stands in for an HTTP call)."""

    type = "recorded_call"
    label = "Recorded call"
    group = "action"
    description = "test"
    side_effects = True

    def run(self, ctx: NodeContext) -> NodeResult:
        CALLS.append(ctx.node.id)
        return NodeResult(output={"called": ctx.node.id, "got": ctx.input})


@pytest.fixture(autouse=True)
def recorded_type() -> Any:
    CALLS.clear()
    NODE_TYPES[Recorded.type] = Recorded()
    yield
    del NODE_TYPES[Recorded.type]


def orders() -> dict[str, Any]:
    """trigger → count (set) → big? (condition) → [true] call_big (side effect) → after (side effect)
    and [false] few (log); a side branch trigger → audit (side effect) that does not lead anywhere."""
    return {
        "nodes": [
            node("start", "manual_trigger"),
            node("count", "set", {"assignments": [{"name": "n", "value": "{{ trigger.orders | length }}"}]}),
            node("big", "condition", {"expression": "{{ vars.n > 2 }}"}),
            node("call_big", "recorded_call"),
            node("after", "recorded_call"),
            node("few", "log", {"message": "only {{ vars.n }}"}),
            node("audit", "recorded_call"),
        ],
        "edges": [
            edge("start", "count"),
            edge("count", "big"),
            edge("big", "call_big", "true"),
            edge("big", "few", "false"),
            edge("call_big", "after"),
            edge("start", "audit"),
        ],
        "variables": {"limit": 5},
    }


def walk(definition: dict[str, Any], target: str, trigger: Any = None) -> Any:
    return run_to_node(definition, target, trigger=trigger, services=NodeServices(), now=NOW)


def test_only_the_nodes_before_the_target_run_and_nothing_after_it() -> None:
    result = walk(orders(), "call_big", {"orders": [1, 2, 3]})
    assert result.status == "success"
    assert [(s.node_id, s.status) for s in result.steps] == [
        ("start", "success"),
        ("count", "success"),
        ("big", "success"),
        ("call_big", "success"),
    ]
    # The node after the target and the side branch never ran: their side effects did not happen.
    assert CALLS == ["call_big"]
    assert result.steps[-1].output == {"called": "call_big", "got": {"result": True, "value": True}}
    assert result.vars == {"limit": 5, "n": 3}


def test_a_branch_not_taken_leaves_the_target_unreached() -> None:
    result = walk(orders(), "call_big", {"orders": [1]})
    assert result.status == "unreached"
    assert [s.node_id for s in result.steps] == ["start", "count", "big"]
    assert result.steps[-1].port == "false" and CALLS == []


def test_pinned_nodes_give_their_pin_without_running() -> None:
    definition = orders()
    nodes = {n["id"]: n for n in definition["nodes"]}
    nodes["start"]["pinned_data"] = {"orders": [1, 2, 3, 4]}
    nodes["call_big"]["pinned_data"] = {"status": 201}
    assert pins_of(definition) == {"start": {"orders": [1, 2, 3, 4]}, "call_big": {"status": 201}}
    # The pinned side effect is not counted as one to confirm; the one after it is.
    assert side_effect_nodes(definition, "after") == ["after"]
    result = walk(definition, "after", {"orders": []})  # the trigger's pin wins over the payload
    assert [(s.node_id, s.status) for s in result.steps] == [
        ("start", "pinned"),
        ("count", "success"),
        ("big", "success"),
        ("call_big", "pinned"),
        ("after", "success"),
    ]
    assert result.steps[0].output == {"orders": [1, 2, 3, 4]}
    assert CALLS == ["after"] and result.steps[-1].output == {"called": "after", "got": {"status": 201}}


def test_a_pinned_condition_passes_its_pin_along_every_port() -> None:
    definition = orders()
    next(n for n in definition["nodes"] if n["id"] == "big")["pinned_data"] = {"ok": 1}
    assert walk(definition, "few", {"orders": [1, 2, 3]}).steps[-1].input == {"ok": 1}


def test_a_failed_node_stops_the_walk_unless_it_follows_its_error_port() -> None:
    definition = {
        "nodes": [
            node("start", "manual_trigger"),
            node("boom", "fail", {"message": "no {{ trigger.x }}"}),
            node("next", "log", {"message": "x"}),
        ],
        "edges": [edge("start", "boom"), edge("boom", "next")],
    }
    result = walk(definition, "next", {"x": 7})
    assert result.status == "failed" and result.error == "node 'boom' failed: no 7"
    assert [s.node_id for s in result.steps] == ["start", "boom"]


def test_a_join_gets_each_arrived_output_keyed_by_predecessor() -> None:
    definition = {
        "nodes": [
            node("start", "manual_trigger"),
            node("a", "set", {"assignments": [{"name": "a", "value": 1}]}),
            node("b", "set", {"assignments": [{"name": "b", "value": 2}]}),
            node("join", "merge", {"mode": "append"}),
        ],
        "edges": [edge("start", "a"), edge("start", "b"), edge("a", "join"), edge("b", "join")],
    }
    result = walk(definition, "join", {})
    assert result.status == "success" and len(result.steps[-1].input) == 2
    assert result.vars == {"a": 1, "b": 2}


def test_path_order_and_refusals() -> None:
    graph = Graph.from_dict(orders())
    assert path_to(graph, "after") == ["start", "count", "big", "call_big", "after"]
    with pytest.raises(DefinitionError):
        path_to(graph, "nope")
    looped = orders()
    looped["edges"].append(edge("big", "count", "false"))
    with pytest.raises(DefinitionError, match="loop"):
        path_to(Graph.from_dict(looped), "big")
