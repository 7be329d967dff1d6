"""Parallel branches, joins and `merge` in the walker (in-memory store): each branch waits on its
own, side effects of different branches run at once (bounded), dead paths count as arrived."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import walker
from engine.errors import InvalidTransition, NodeError
from engine.memory_store import MemoryStore, SimulatedCrash
from engine.nodes import NODE_TYPES, NodeContext, NodeResult, NodeType
from engine.store import current_node_id, waiting_info
from engine.validation import validate_definition
from tests.builders import definition, edge, node
from tests.engine.helpers import Clock


class Effect(NodeType):
    """A side effect that remembers its calls; `config.fail` makes it fail; `config.meet` makes it
    wait at a shared barrier (only passes when that many branches are in flight at once)."""

    type = "effect"
    label = "Effect"
    group = "action"
    description = "test"
    side_effects = True
    calls: ClassVar[list[str]] = []
    barrier: ClassVar[threading.Barrier | None] = None
    lock = threading.Lock()
    in_flight: ClassVar[int] = 0
    most_in_flight: ClassVar[int] = 0

    def run(self, ctx: NodeContext) -> NodeResult:
        with Effect.lock:
            Effect.calls.append(ctx.idempotency_key)
            Effect.in_flight += 1
            Effect.most_in_flight = max(Effect.most_in_flight, Effect.in_flight)
        try:
            if ctx.config.get("meet") and Effect.barrier is not None:
                try:
                    Effect.barrier.wait()
                except threading.BrokenBarrierError:
                    raise NodeError("the other branches did not run at the same time") from None
            if ctx.config.get("fail"):
                raise NodeError(f"{ctx.node.id} refused")
            return NodeResult(output={"done": ctx.node.id})
        finally:
            with Effect.lock:
                Effect.in_flight -= 1


TYPES: dict[str, NodeType] = {**NODE_TYPES, "effect": Effect()}


@pytest.fixture(autouse=True)
def _reset() -> None:
    Effect.calls, Effect.barrier, Effect.in_flight, Effect.most_in_flight = [], None, 0, 0


def walk(store: MemoryStore, execution_id: str, clock: Clock | None = None, **kwargs: Any) -> Any:
    return walker.walk(store, execution_id, node_types=TYPES, clock=clock or Clock(), rng=random.Random(1), **kwargs)


def start(defn: dict[str, Any], payload: Any = None) -> tuple[MemoryStore, str]:
    assert [p.as_dict() for p in validate_definition(defn) if "unknown node type 'effect'" not in p.message] == []
    store = MemoryStore()
    return store, store.create(defn, payload)


def ran(store: MemoryStore, execution_id: str, status: str = "success") -> list[str]:
    return [s.node_id for s in store.get(execution_id).steps if s.status == status]


def log(node_id: str) -> dict[str, Any]:
    return node(node_id, "log", {"message": node_id})


def setv(node_id: str, value: Any) -> dict[str, Any]:
    return node(node_id, "set", {"assignments": [{"name": node_id, "value": value}]})


def delay(node_id: str, seconds: int) -> dict[str, Any]:
    return node(node_id, "delay", {"duration_seconds": seconds})


# -- independent branches ----------------------------------------------------------------------
def test_every_target_of_the_chosen_port_starts() -> None:
    store, ex = start(
        definition(
            [node("t", "manual_trigger"), log("a"), log("b"), log("c")],
            [edge("t", "a"), edge("t", "b"), edge("t", "c")],
        )
    )
    assert walk(store, ex).status == "completed"
    assert sorted(ran(store, ex)) == ["a", "b", "c", "t"]


def test_a_delay_on_one_branch_does_not_hold_the_other() -> None:
    store, ex = start(
        definition(
            [node("t", "manual_trigger"), delay("d", 60), log("after_d"), log("x"), log("y")],
            [edge("t", "d"), edge("d", "after_d"), edge("t", "x"), edge("x", "y")],
        )
    )
    clock = Clock()
    outcome = walk(store, ex, clock)
    assert outcome.status == "paused"
    assert ran(store, ex) == ["t", "x", "y"]  # the other branch ran to its end meanwhile
    assert waiting_info(store.get(ex).checkpoint) == [
        {"node_id": "d", "kind": "delay", "resume_at": "2030-01-01T12:01:00+00:00"}
    ]
    assert store.get(ex).timer == (outcome.resume_at, "delay")
    clock.advance(60)
    assert walk(store, ex, clock).status == "completed"
    assert ran(store, ex) == ["t", "x", "y", "d", "after_d"]


def test_paused_only_when_every_live_branch_waits_each_with_its_own_reason() -> None:
    store, ex = start(
        definition(
            [node("t", "manual_trigger"), node("approve", "wait"), delay("cool", 30), log("c2"), log("a2")],
            [edge("t", "approve"), edge("t", "cool"), edge("cool", "c2"), edge("approve", "a2")],
        )
    )
    clock = Clock()
    assert walk(store, ex, clock).status == "paused"
    kinds = {w["node_id"]: w["kind"] for w in waiting_info(store.get(ex).checkpoint)}
    assert kinds == {"approve": "wait", "cool": "delay"}
    timer = store.get(ex).timer
    assert timer is not None and timer[1] == "delay"  # the wait has no timer
    clock.advance(30)
    assert walk(store, ex, clock).status == "paused"  # the delay's branch went on; the wait still waits
    assert ran(store, ex) == ["t", "cool", "c2"]
    assert waiting_info(store.get(ex).checkpoint) == [{"node_id": "approve", "kind": "wait", "resume_at": None}]
    assert store.get(ex).timer is None
    store.resume(ex, {"ok": True})
    assert walk(store, ex, clock).status == "completed"
    assert ran(store, ex)[-2:] == ["approve", "a2"]


def test_two_waiting_branches_are_resumed_one_by_one_by_node_id() -> None:
    store, ex = start(
        definition(
            [node("t", "manual_trigger"), node("w1", "wait"), node("w2", "wait"), node("j", "merge")],
            [edge("t", "w1"), edge("t", "w2"), edge("w1", "j"), edge("w2", "j")],
        )
    )
    walk(store, ex)
    with pytest.raises(InvalidTransition, match="several branches wait"):
        store.resume(ex, {})
    with pytest.raises(InvalidTransition, match="not a wait node"):
        store.resume(ex, {}, "nope")
    store.resume(ex, {"first": 1}, "w2")
    assert walk(store, ex).status == "paused"  # the merge still waits for w1
    assert [w["node_id"] for w in waiting_info(store.get(ex).checkpoint)] == ["w1"]
    store.resume(ex, {"second": 2})  # only one waits now: no node_id needed
    assert walk(store, ex).status == "completed"
    assert store.get(ex).result == {"w1": {"second": 2}, "w2": {"first": 1}}  # edge order, not arrival order


class ResumesMidWalk(NodeType):
    """A side effect during which the API resumes the `wait` of another branch (`config.wait`)."""

    type = "effect"  # validated as the test's effect node
    label = "Resumer"
    group = "action"
    description = "test"
    side_effects = True
    store: ClassVar[MemoryStore | None] = None
    refused: ClassVar[list[str]] = []

    def run(self, ctx: NodeContext) -> NodeResult:
        assert ResumesMidWalk.store is not None
        assert ResumesMidWalk.store.get(ctx.execution_id).status == "running"
        ResumesMidWalk.store.resume(ctx.execution_id, {"by": ctx.node.id}, ctx.config["wait"])
        try:  # the same wait resumed twice: refused, like a second resume of a paused execution
            ResumesMidWalk.store.resume(ctx.execution_id, {"by": "again"}, ctx.config["wait"])
        except InvalidTransition as exc:
            ResumesMidWalk.refused.append(str(exc))
        return NodeResult(output={"done": ctx.node.id})


def test_a_wait_resumed_while_another_branch_runs_goes_on_in_the_same_walk() -> None:
    store, ex = start(
        definition(
            [
                node("t", "manual_trigger"),
                node("approve", "wait"),
                node("work", "effect", {"wait": "approve"}),
                node("m", "merge", {"mode": "all"}),
            ],
            [edge("t", "approve"), edge("t", "work"), edge("approve", "m"), edge("work", "m")],
        )
    )
    ResumesMidWalk.store, ResumesMidWalk.refused = store, []
    outcome = walker.walk(store, ex, node_types={**TYPES, "effect": ResumesMidWalk()}, clock=Clock())
    assert outcome.status == "completed"  # never paused: the resume was read before pausing
    assert store.get(ex).result == {"approve": {"by": "work"}, "work": {"done": "work"}}
    assert ran(store, ex).count("approve") == 1
    assert ResumesMidWalk.refused == ["the wait node 'approve' was already resumed"]


def test_a_resume_recorded_after_the_walk_paused_is_applied_by_the_next_walk_once() -> None:
    store, ex = start(
        definition(
            [node("t", "manual_trigger"), node("w1", "wait"), node("w2", "wait"), node("m", "merge")],
            [edge("t", "w1"), edge("t", "w2"), edge("w1", "m"), edge("w2", "m")],
        )
    )
    assert walk(store, ex).status == "paused"
    store.resume(ex, {"one": 1}, "w1")
    assert [w["node_id"] for w in waiting_info(store.get(ex).checkpoint, ["w1"])] == ["w2"]
    assert walk(store, ex).status == "paused"
    assert walk(store, ex).status == "paused"  # the recorded resume is not applied twice
    assert ran(store, ex).count("w1") == 1
    store.resume(ex, {"two": 2}, "w2")
    assert walk(store, ex).status == "completed"
    assert store.get(ex).result == {"w1": {"one": 1}, "w2": {"two": 2}}


def test_an_end_on_one_branch_completes_and_drops_the_others() -> None:
    store, ex = start(
        definition(
            [node("t", "manual_trigger"), delay("d", 60), log("late"), node("stop", "end", {"output": "early"})],
            [edge("t", "d"), edge("d", "late"), edge("t", "stop")],
        )
    )
    assert walk(store, ex).status == "completed"
    assert store.get(ex).result == "early"
    assert waiting_info(store.get(ex).checkpoint) == [] and store.get(ex).timer is None
    assert "late" not in ran(store, ex)


def test_a_failed_branch_fails_the_execution_after_recording_the_side_effects_in_flight() -> None:
    store, ex = start(
        definition(
            [node("t", "manual_trigger"), node("ok", "effect"), node("bad", "effect", {"fail": True}), log("next")],
            [edge("t", "ok"), edge("t", "bad"), edge("ok", "next")],
        )
    )
    outcome = walk(store, ex)
    assert outcome.status == "failed" and "bad refused" in (outcome.error or "")
    assert ran(store, ex) == ["t", "ok"] and ran(store, ex, "failed") == ["bad"]
    assert current_node_id(store.get(ex).checkpoint) == "bad"
    # Retry from the failed step: the node runs again and the other branch goes on where it was.
    store.retry(ex)
    assert walk(store, ex).status == "failed"
    assert ran(store, ex) == ["t", "ok", "next"]


def test_side_effects_of_different_branches_run_at_the_same_time() -> None:
    Effect.barrier = threading.Barrier(3, timeout=10)
    nodes = [node("t", "manual_trigger")] + [node(f"call{i}", "effect", {"meet": True}) for i in range(3)]
    store, ex = start(definition(nodes, [edge("t", f"call{i}") for i in range(3)]))
    assert walk(store, ex, branch_concurrency=8).status == "completed"
    assert sorted(ran(store, ex)) == ["call0", "call1", "call2", "t"]
    assert [s.node_id for s in store.get(ex).steps] == ["t", "call0", "call1", "call2"]  # recorded in order


def test_branch_concurrency_bounds_the_side_effects_in_flight() -> None:
    nodes = [node("t", "manual_trigger")] + [node(f"call{i}", "effect") for i in range(6)]
    store, ex = start(definition(nodes, [edge("t", f"call{i}") for i in range(6)]))
    assert walk(store, ex, branch_concurrency=2).status == "completed"
    assert 1 <= Effect.most_in_flight <= 2
    # With a bound of 1 the branches cannot meet: the barrier breaks, the first call fails.
    Effect.barrier = threading.Barrier(2, timeout=0.2)
    nodes = [node("t", "manual_trigger")] + [node(f"m{i}", "effect", {"meet": True}) for i in range(2)]
    store, ex = start(definition(nodes, [edge("t", "m0"), edge("t", "m1")]))
    assert walk(store, ex, branch_concurrency=1).status == "failed"


@pytest.mark.parametrize("crash_at", [1, 2, 3])
@pytest.mark.parametrize("after_commit", [False, True])
def test_a_crash_around_concurrent_side_effects_never_records_one_twice(crash_at: int, after_commit: bool) -> None:
    nodes = [node("t", "manual_trigger"), node("a", "effect"), node("b", "effect"), node("c", "effect"), log("z")]
    edges = [edge("t", "a"), edge("t", "b"), edge("t", "c"), edge("a", "z")]
    store, ex = start(definition(nodes, edges))
    store.crash_at, store.crash_after_commit = crash_at, after_commit
    with pytest.raises(SimulatedCrash):
        walk(store, ex)
    store.crash_at = None
    assert walk(store, ex).status == "completed"
    assert Counter(ran(store, ex)) == Counter({"t": 1, "a": 1, "b": 1, "c": 1, "z": 1})
    assert [s.seq for s in store.get(ex).steps] == list(range(1, 6))
    assert set(Effect.calls) == {f"{ex}:a:1", f"{ex}:b:1", f"{ex}:c:1"}  # a re-run reuses its key


def test_a_retry_back_off_on_one_branch_lets_the_other_continue() -> None:
    store, ex = start(
        definition(
            [
                node("t", "manual_trigger"),
                node(
                    "flaky", "effect", {"fail": True}, retry={"max_attempts": 2, "backoff": "fixed", "base_seconds": 5}
                ),
                log("other"),
            ],
            [edge("t", "flaky"), edge("t", "other")],
        )
    )
    clock = Clock()
    assert walk(store, ex, clock).status == "paused"
    assert ran(store, ex) == ["t", "other"]
    assert [(w["node_id"], w["kind"]) for w in waiting_info(store.get(ex).checkpoint)] == [("flaky", "retry")]
    clock.advance(5)
    assert walk(store, ex, clock).status == "failed"
    assert Effect.calls == [f"{ex}:flaky:1", f"{ex}:flaky:2"]


# -- joins and merge ---------------------------------------------------------------------------
def fork_and_merge(mode: str) -> dict[str, Any]:
    return definition(
        [
            node("t", "manual_trigger"),
            setv("a", 1),
            delay("slow", 10),
            setv("b", 2),
            node("m", "merge", {"mode": mode}),
        ],
        [edge("t", "a"), edge("t", "slow"), edge("slow", "b"), edge("a", "m"), edge("b", "m")],
    )


def test_merge_all_waits_for_every_branch_and_keys_by_predecessor_in_edge_order() -> None:
    store, ex = start(fork_and_merge("all"))
    clock = Clock()
    assert walk(store, ex, clock).status == "paused"
    assert "m" not in ran(store, ex)
    clock.advance(10)
    assert walk(store, ex, clock).status == "completed"
    assert ran(store, ex).count("m") == 1
    assert store.get(ex).result == {"a": {"a": 1}, "b": {"b": 2}}


def test_merge_append_lists_the_outputs() -> None:
    store, ex = start(fork_and_merge("append"))
    clock = Clock()
    walk(store, ex, clock)
    clock.advance(10)
    walk(store, ex, clock)
    assert store.get(ex).result == [{"a": 1}, {"b": 2}]


def test_merge_first_runs_on_the_first_arrival_and_records_later_ones_as_skipped() -> None:
    defn = fork_and_merge("first")
    defn["nodes"].append(log("after"))
    defn["edges"].append(edge("m", "after"))
    store, ex = start(defn)
    clock = Clock()
    assert walk(store, ex, clock).status == "paused"  # the slow branch still waits
    assert ran(store, ex) == ["t", "a", "m", "after"]
    assert store.get(ex).steps[2].input == {"a": 1}
    clock.advance(10)
    assert walk(store, ex, clock).status == "completed"
    assert ran(store, ex, "skipped") == ["m"] and ran(store, ex).count("m") == 1
    assert ran(store, ex).count("after") == 1


def condition(node_id: str, expression: str) -> dict[str, Any]:
    return node(node_id, "condition", {"expression": expression})


@pytest.mark.parametrize("amount", [5, 50])
def test_branches_not_taken_count_as_arrived(amount: int) -> None:
    """A condition's other port is dead; the merge also waits for the parallel branch."""
    store, ex = start(
        definition(
            [
                node("t", "manual_trigger"),
                condition("big", "{{ trigger.amount > 10 }}"),
                setv("hi", "hi"),
                setv("lo", "lo"),
                setv("side", "side"),
                node("m", "merge"),
            ],
            [
                edge("t", "big"),
                edge("big", "hi", "true"),
                edge("big", "lo", "false"),
                edge("t", "side"),
                edge("hi", "m"),
                edge("lo", "m"),
                edge("side", "m"),
            ],
        ),
        {"amount": amount},
    )
    assert walk(store, ex).status == "completed"
    taken = "hi" if amount > 10 else "lo"
    assert store.get(ex).result == {taken: {taken: taken}, "side": {"side": "side"}}
    assert ran(store, ex).count("m") == 1


@pytest.mark.parametrize(("kind", "level"), [("a", "1"), ("b", "1"), ("b", "2")])
def test_dead_paths_through_nested_conditions_and_a_switch(kind: str, level: str) -> None:
    switch = node(
        "sw",
        "switch",
        {"value": "{{ trigger.kind }}", "cases": [{"port": "a", "value": "a"}, {"port": "b", "value": "b"}]},
    )
    store, ex = start(
        definition(
            [
                node("t", "manual_trigger"),
                switch,
                setv("on_a", "A"),
                condition("lvl", "{{ trigger.level == '1' }}"),
                setv("b1", "B1"),
                setv("b2", "B2"),
                setv("other", "D"),
                node("m", "merge", {"mode": "append"}),
                log("z"),
            ],
            [
                edge("t", "sw"),
                edge("sw", "on_a", "a"),
                edge("sw", "lvl", "b"),
                edge("sw", "other", "default"),
                edge("lvl", "b1", "true"),
                edge("lvl", "b2", "false"),
                edge("on_a", "m"),
                edge("b1", "m"),
                edge("b2", "m"),
                edge("other", "m"),
                edge("m", "z"),
            ],
        ),
        {"kind": kind, "level": level},
    )
    assert walk(store, ex).status == "completed"
    taken = {"a": "on_a", "b": "b1" if level == "1" else "b2"}[kind]
    merge_step = next(s for s in store.get(ex).steps if s.node_id == "m")
    assert merge_step.output == [{taken: {"on_a": "A", "b1": "B1", "b2": "B2"}[taken]}]
    assert ran(store, ex).count("z") == 1


def test_a_plain_node_joining_exclusive_branches_behaves_as_before() -> None:
    store, ex = start(
        definition(
            [node("t", "manual_trigger"), condition("c", "{{ true }}"), setv("yes", 1), setv("no", 2), log("j")],
            [edge("t", "c"), edge("c", "yes", "true"), edge("c", "no", "false"), edge("yes", "j"), edge("no", "j")],
        )
    )
    walk(store, ex)
    assert ran(store, ex) == ["t", "c", "yes", "j"]
    assert store.get(ex).steps[-1].input == {"yes": 1}  # the one arrived output, as today


def test_an_error_port_that_did_not_fire_counts_as_done() -> None:
    store, ex = start(
        definition(
            [node("t", "manual_trigger"), node("call", "effect", on_error="error"), log("handle"), node("m", "merge")],
            [edge("t", "call"), edge("call", "m"), edge("call", "handle", "error"), edge("handle", "m")],
        )
    )
    assert walk(store, ex).status == "completed"
    assert store.get(ex).result == {"call": {"done": "call"}}


def test_validation_rejects_a_merge_with_fewer_than_two_inbound_edges() -> None:
    defn = definition([node("t", "manual_trigger"), node("m", "merge")], [edge("t", "m")])
    problems = [(p.path, p.node_id, p.message, p.incomplete) for p in validate_definition(defn)]
    assert problems == [
        (
            "nodes[1]",
            "m",
            "merge 'm' has 1 inbound edge: it joins branches, so connect at least two (or remove it)",
            True,  # a draft being drawn saves like that; activation and runs refuse it
        )
    ]
    bad_mode = definition(
        [node("t", "manual_trigger"), log("a"), node("m", "merge", {"mode": "zip"})],
        [edge("t", "a"), edge("t", "m"), edge("a", "m")],
    )
    assert [p.path for p in validate_definition(bad_mode)] == ["nodes[2].config.mode"]


# -- checkpoints written before branches were independent --------------------------------------
def v1_checkpoint(**overrides: Any) -> dict[str, Any]:
    return {"v": 1, "vars": {}, "outputs": {"t": None}, "queue": [], "scheduled": ["t", "d"], "seq": 1,
            "last_output": None, "result": None, "waiting": None, "failed": None, **overrides}  # fmt: skip


def test_an_execution_paused_with_a_version_1_checkpoint_still_resumes() -> None:
    defn = definition(
        [node("t", "manual_trigger"), delay("d", 60), setv("a", 1), log("j"), log("side")],
        [edge("t", "d"), edge("d", "j"), edge("t", "side"), edge("side", "j")],
    )
    store = MemoryStore()
    ex = store.create(defn)
    waiting = {"node_id": "d", "kind": "delay", "resume_at": "2030-01-01T12:01:00+00:00",
               "started_at": "2030-01-01T12:00:00+00:00", "attempt": 1, "input": None,
               "output": {"resume_at": "2030-01-01T12:01:00+00:00"}, "resumed": False}  # fmt: skip
    record = store.get(ex)
    record.status = "paused"
    record.checkpoint_json = json.dumps(v1_checkpoint(waiting=waiting, scheduled=["t", "d", "side", "j"],
                                                      outputs={"t": None, "side": None}))  # fmt: skip
    assert waiting_info(record.checkpoint) == [{"node_id": "d", "kind": "delay", "resume_at": waiting["resume_at"]}]
    assert current_node_id(record.checkpoint) == "d"
    clock = Clock()
    clock.advance(60)
    assert walk(store, ex, clock).status == "completed"
    # The join `j` had already been reached (old rule: first arrival); it is not run again.
    assert ran(store, ex) == ["d"]


def test_a_version_1_retry_waiting_resumes_its_node() -> None:
    defn = definition(
        [node("t", "manual_trigger"), node("call", "effect"), log("z")], [edge("t", "call"), edge("call", "z")]
    )
    store = MemoryStore()
    ex = store.create(defn)
    item = {"node_id": "call", "input": None, "attempt": 2, "tries": 2}
    waiting = {"node_id": "call", "kind": "retry", "resume_at": "2030-01-01T12:00:05+00:00",
               "started_at": "2030-01-01T12:00:00+00:00", "attempt": 2}  # fmt: skip
    record = store.get(ex)
    record.status = "paused"
    record.checkpoint_json = json.dumps(v1_checkpoint(waiting=waiting, queue=[item], scheduled=["t", "call"]))
    clock = Clock()
    assert walk(store, ex, clock).status == "paused"  # early: nothing runs
    assert Effect.calls == []
    clock.advance(5)
    assert walk(store, ex, clock).status == "completed"
    assert Effect.calls == [f"{ex}:call:2"] and ran(store, ex) == ["call", "z"]


# -- random graphs -------------------------------------------------------------------------------
@st.composite
def random_dags(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, bool]]:
    """Layers of conditions, logs and merges; every edge goes to a later node (no cycles)."""
    count = draw(st.integers(3, 12))
    nodes = [node("t", "manual_trigger")]
    edges: list[dict[str, Any]] = []
    truth: dict[str, bool] = {}
    for i in range(1, count):
        kind = draw(st.sampled_from(["condition", "log", "merge"]))
        nid = f"n{i}"
        if kind == "condition":
            truth[nid] = draw(st.booleans())
            nodes.append(condition(nid, "{{ true }}" if truth[nid] else "{{ false }}"))
        elif kind == "merge":
            nodes.append(node(nid, "merge", {"mode": draw(st.sampled_from(["all", "first", "append"]))}))
        else:
            nodes.append(log(nid))
        sources = draw(st.lists(st.integers(0, i - 1), min_size=2 if kind == "merge" and i >= 2 else 1,
                                max_size=min(3, i), unique=True))  # fmt: skip
        if kind == "merge" and len(sources) < 2:
            nodes[-1] = log(nid)
        for s in sources:
            src = nodes[s]
            port = draw(st.sampled_from(["true", "false"])) if src["type"] == "condition" else "out"
            edges.append(edge(src["id"], nid, port, f"e{len(edges)}"))
    return definition(nodes, edges), truth


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_dags())
def test_every_join_in_a_random_dag_runs_once_or_is_dead_never_twice(
    case: tuple[dict[str, Any], dict[str, bool]],
) -> None:
    defn, truth = case
    store = MemoryStore()
    ex = store.create(defn)
    assert walk(store, ex).status == "completed"
    counts = Counter(ran(store, ex))
    assert all(n == 1 for n in counts.values())
    # Expected: a node runs iff one of its inbound edges is live (its source ran and took that port).
    alive = {"t"}
    for n in defn["nodes"][1:]:
        inbound = [e for e in defn["edges"] if e["target"] == n["id"]]
        if any(e["source"] in alive and e["source_port"] == _port_taken(e["source"], truth) for e in inbound):
            alive.add(n["id"])
    assert set(counts) == alive
    assert store.get(ex).checkpoint["joins"] == {}


def _port_taken(node_id: str, truth: dict[str, bool]) -> str:
    if node_id in truth:
        return "true" if truth[node_id] else "false"
    return "out"
