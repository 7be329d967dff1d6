"""The durable walker against the in-memory store: flows, pauses, retries, cancel, crashes, pinning."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, ClassVar

import pytest

from engine import walker
from engine.errors import InvalidTransition, NodeError
from engine.memory_store import MemoryStore, SimulatedCrash
from engine.nodes import NODE_TYPES, NodeContext, NodeResult, NodeType
from engine.store import current_node_id, waiting_info
from tests.builders import chain, definition, edge, node
from tests.engine.helpers import Clock


class Effect(NodeType):
    """A side-effecting test node that remembers every call and can fail the first N tries."""

    type = "effect"
    label = "Effect"
    group = "action"
    description = "test"
    side_effects = True
    calls: ClassVar[list[str]] = []
    failures_left: ClassVar[int] = 0

    def run(self, ctx: NodeContext) -> NodeResult:
        Effect.calls.append(ctx.idempotency_key)
        if Effect.failures_left > 0:
            Effect.failures_left -= 1
            raise NodeError("service unavailable", details={"code": 503})
        return NodeResult(output={"done": ctx.node.id, "input": ctx.input})


TYPES: dict[str, NodeType] = {**NODE_TYPES, "effect": Effect()}


@pytest.fixture(autouse=True)
def _reset_effect() -> None:
    Effect.calls = []
    Effect.failures_left = 0


def walk(store: MemoryStore, execution_id: str, clock: Clock | None = None, **kwargs: Any) -> Any:
    return walker.walk(store, execution_id, node_types=TYPES, clock=clock or Clock(), rng=random.Random(1), **kwargs)


def step_list(store: MemoryStore, execution_id: str) -> list[tuple[str, str, int]]:
    return [(s.node_id, s.status, s.attempt) for s in store.get(execution_id).steps]


def start(defn: dict[str, Any], payload: Any = None) -> tuple[MemoryStore, str]:
    store = MemoryStore()
    return store, store.create(defn, payload)


def test_linear_flow_completes_with_end_output() -> None:
    store, ex = start(
        chain(
            node("start", "manual_trigger"),
            node("greet", "set", {"assignments": [{"name": "greeting", "value": "Hello {{ trigger.name }}"}]}),
            node("note", "log", {"message": "{{ vars.greeting }} / {{ vars.threshold }}"}),
            node("done", "end", {"output": {"text": "{{ vars.greeting }}", "from": "{{ nodes.note.output.message }}"}}),
        )
        | {"variables": {"threshold": 10}},
        {"name": "Ann"},
    )
    outcome = walk(store, ex)
    record = store.get(ex)
    assert outcome.status == "completed" and outcome.steps == 4
    assert record.status == "completed"
    assert record.result == {"text": "Hello Ann", "from": "Hello Ann / 10"}
    assert step_list(store, ex) == [
        ("start", "success", 1),
        ("greet", "success", 1),
        ("note", "success", 1),
        ("done", "success", 1),
    ]
    assert [s.seq for s in record.steps] == [1, 2, 3, 4]
    assert record.checkpoint["vars"] == {"threshold": 10, "greeting": "Hello Ann"}
    assert store.writes == 1  # pure nodes share one checkpoint
    assert walk(store, ex).status == "completed" and len(record.steps) == 4  # duplicate message: no-op


def test_flow_without_end_returns_last_output() -> None:
    store, ex = start(
        chain(node("t", "manual_trigger"), node("s", "set", {"assignments": [{"name": "a", "value": 1}]}))
    )
    walk(store, ex)
    assert store.get(ex).result == {"a": 1}


def branch_definition() -> dict[str, Any]:
    return definition(
        [
            node("t", "webhook_trigger"),
            node("check", "condition", {"expression": "{{ trigger.total > 100 }}"}),
            node("big", "end", {"output": "big"}),
            node("small", "end", {"output": "small"}),
        ],
        [edge("t", "check"), edge("check", "big", "true"), edge("check", "small", "false")],
    )


@pytest.mark.parametrize(("total", "result", "skipped"), [(500, "big", "small"), (5, "small", "big")])
def test_condition_branches(total: int, result: str, skipped: str) -> None:
    store, ex = start(branch_definition(), {"total": total})
    walk(store, ex)
    assert store.get(ex).result == result
    assert skipped not in [s[0] for s in step_list(store, ex)]


@pytest.mark.parametrize(("kind", "result"), [("a", "A"), ("b", "B"), ("other", "D")])
def test_switch_routes(kind: str, result: str) -> None:
    d = definition(
        [
            node("t", "manual_trigger"),
            node(
                "sw",
                "switch",
                {"value": "{{ trigger.kind }}", "cases": [{"port": "pa", "value": "a"}, {"port": "pb", "value": "b"}]},
            ),
            node("ea", "end", {"output": "A"}),
            node("eb", "end", {"output": "B"}),
            node("ed", "end", {"output": "D"}),
        ],
        [edge("t", "sw"), edge("sw", "ea", "pa"), edge("sw", "eb", "pb"), edge("sw", "ed", "default")],
    )
    store, ex = start(d, {"kind": kind})
    walk(store, ex)
    assert store.get(ex).result == result


def test_join_of_parallel_branches_waits_for_both_and_runs_once() -> None:
    d = definition(
        [
            node("t", "manual_trigger"),
            node("a", "set", {"assignments": [{"name": "a", "value": 1}]}),
            node("b", "set", {"assignments": [{"name": "b", "value": 2}]}),
            node("join", "log", {"message": "j"}),
        ],
        [edge("t", "a"), edge("t", "b"), edge("a", "join"), edge("b", "join")],
    )
    store, ex = start(d)
    walk(store, ex)
    assert [s[0] for s in step_list(store, ex)] == ["t", "a", "b", "join"]
    # Several arrived: an object keyed by predecessor id, in edge order.
    assert store.get(ex).steps[-1].input == {"a": {"a": 1}, "b": {"b": 2}}


def test_side_effects_are_checkpointed_around_and_get_idempotency_keys() -> None:
    store, ex = start(
        chain(
            node("t", "manual_trigger"),
            node("s", "set", {"assignments": [{"name": "x", "value": 1}]}),
            node("e1", "effect"),
            node("e2", "effect"),
            node("done", "end"),
        )
    )
    walk(store, ex)
    assert Effect.calls == [f"{ex}:e1:1", f"{ex}:e2:1"]
    assert store.writes == 4  # before e1, after e1, after e2, completion


def test_retry_with_backoff_then_success() -> None:
    Effect.failures_left = 2
    d = chain(
        node("t", "manual_trigger"),
        node(
            "call", "effect", retry={"max_attempts": 3, "backoff": "exponential", "base_seconds": 2, "max_seconds": 60}
        ),
        node("done", "end"),
    )
    store, ex = start(d)
    clock = Clock()
    first = walk(store, ex, clock)
    assert first.status == "paused" and (first.resume_at - clock.now).total_seconds() == 2
    assert store.get(ex).timer == (first.resume_at, "retry")
    assert waiting_info(store.get(ex).checkpoint) == [
        {"node_id": "call", "kind": "retry", "resume_at": first.resume_at.isoformat()}
    ]
    clock.advance(1)
    assert walk(store, ex, clock).status == "paused"  # early wake-up: nothing runs
    assert Effect.calls == [f"{ex}:call:1"]
    clock.advance(1)
    assert store.due_timers(clock.now) == [ex]
    second = walk(store, ex, clock)
    assert (second.resume_at - clock.now).total_seconds() == 4  # exponential
    clock.advance(4)
    assert walk(store, ex, clock).status == "completed"
    assert Effect.calls == [f"{ex}:call:1", f"{ex}:call:2", f"{ex}:call:3"]
    assert step_list(store, ex) == [
        ("t", "success", 1),
        ("call", "failed", 1),
        ("call", "failed", 2),
        ("call", "success", 3),
        ("done", "success", 1),
    ]
    assert store.get(ex).steps[1].error == "service unavailable"  # the message, no type or traceback


def test_retry_exhausted_fails_with_the_message_then_retry_from_failed_step() -> None:
    Effect.failures_left = 5
    d = chain(
        node("t", "manual_trigger"),
        node("call", "effect", retry={"max_attempts": 2, "base_seconds": 0}),
        node("done", "end", {"output": "{{ nodes.call.output.done }}"}),
    )
    store, ex = start(d)
    outcome = walk(store, ex)
    record = store.get(ex)
    assert outcome.status == "failed" and record.status == "failed" and record.error_node_id == "call"
    assert "service unavailable" in (record.error or "")
    assert record.steps[-1].error == "service unavailable"
    assert current_node_id(record.checkpoint) == "call"
    with pytest.raises(InvalidTransition):
        store.resume(ex, {})
    Effect.failures_left = 0
    store.retry(ex)
    assert walk(store, ex).status == "completed"
    assert store.get(ex).result == "call"
    assert step_list(store, ex)[-2:] == [("call", "success", 3), ("done", "success", 1)]
    with pytest.raises(InvalidTransition):
        store.retry(ex)


def test_on_error_follows_the_error_port() -> None:
    Effect.failures_left = 1
    d = definition(
        [
            node("t", "manual_trigger"),
            node("call", "effect", on_error="error"),
            node("ok", "end", {"output": "ok"}),
            node("handled", "end", {"output": "{{ input }}"}),
        ],
        [edge("t", "call"), edge("call", "ok"), edge("call", "handled", "error")],
    )
    store, ex = start(d)
    assert walk(store, ex).status == "completed"
    assert store.get(ex).result == {"error": "service unavailable", "type": "NodeError", "code": 503}
    assert step_list(store, ex) == [("t", "success", 1), ("call", "failed", 1), ("handled", "success", 1)]


def test_expression_error_fails_the_step_with_node_and_field() -> None:
    store, ex = start(chain(node("t", "manual_trigger"), node("l", "log", {"message": "{{ 1 / 0 }}"})))
    walk(store, ex)
    record = store.get(ex)
    assert record.status == "failed"
    assert "node 'l' field 'config.message'" in (record.error or "")


def test_fail_node_fails_the_execution_without_retry() -> None:
    d = chain(
        node("t", "manual_trigger"),
        node("f", "fail", {"message": "order {{ trigger.id }} rejected"}, retry={"max_attempts": 5}),
    )
    store, ex = start(d, {"id": 7})
    outcome = walk(store, ex)
    assert outcome.status == "failed" and store.get(ex).error == "order 7 rejected"
    assert step_list(store, ex) == [("t", "success", 1), ("f", "failed", 1)]


def test_delay_pauses_and_resumes_on_its_timer() -> None:
    store, ex = start(
        chain(
            node("t", "manual_trigger"),
            node("d", "delay", {"duration_seconds": 60}),
            node("done", "end", {"output": "{{ nodes.d.output.resume_at }}"}),
        )
    )
    clock = Clock()
    outcome = walk(store, ex, clock)
    assert outcome.status == "paused" and store.get(ex).status == "paused"
    assert store.get(ex).timer is not None and store.get(ex).timer[1] == "delay"
    assert step_list(store, ex) == [("t", "success", 1)]
    clock.advance(30)
    assert walk(store, ex, clock).status == "paused"
    clock.advance(30)
    assert walk(store, ex, clock).status == "completed"
    assert step_list(store, ex) == [("t", "success", 1), ("d", "success", 1), ("done", "success", 1)]
    assert store.get(ex).steps[1].duration_ms == pytest.approx(60_000, abs=1)
    assert store.get(ex).result.startswith("2030-01-01T12:01:00")


def test_wait_pauses_until_resumed_with_payload() -> None:
    store, ex = start(
        chain(node("t", "manual_trigger"), node("w", "wait"), node("done", "end", {"output": "{{ input.approved }}"}))
    )
    assert walk(store, ex).status == "paused"
    assert store.get(ex).timer is None
    assert walk(store, ex).status == "paused"  # nothing happens without a resume
    store.resume(ex, {"approved": True})
    with pytest.raises(InvalidTransition):
        store.resume(ex, {"approved": False})
    assert walk(store, ex).status == "completed"
    assert store.get(ex).result is True
    assert store.get(ex).steps[1].output == {"approved": True}


def test_cancel_is_checked_between_steps() -> None:
    class CancelStore(MemoryStore):
        checks = 0

        def is_cancelled(self, execution_id: str) -> bool:
            self.checks += 1
            return self.checks >= 3

    store = CancelStore()
    ex = store.create(
        chain(
            node("t", "manual_trigger"),
            node("a", "log", {"message": "a"}),
            node("b", "log", {"message": "b"}),
            node("c", "end"),
        )
    )
    outcome = walker.walk(store, ex)
    assert outcome.status == "cancelled" and store.get(ex).status == "cancelled"
    assert step_list(store, ex) == [("t", "success", 1), ("a", "success", 1)]


def test_cancel_of_a_paused_execution() -> None:
    store, ex = start(chain(node("t", "manual_trigger"), node("d", "delay", {"duration_seconds": 5}), node("e", "end")))
    walk(store, ex)
    store.request_cancel(ex)
    assert store.get(ex).status == "cancelled" and store.get(ex).timer is None
    assert walk(store, ex).status == "cancelled"


@pytest.mark.parametrize("after_commit", [False, True])
@pytest.mark.parametrize("crash_at", [1, 2, 3, 4])
def test_crash_then_rerun_never_duplicates_success_steps(crash_at: int, after_commit: bool) -> None:
    d = chain(
        node("t", "manual_trigger"),
        node("s", "set", {"assignments": [{"name": "x", "value": 1}]}),
        node("e1", "effect"),
        node("l", "log", {"message": "m"}),
        node("e2", "effect"),
        node("done", "end"),
    )
    store, ex = start(d)
    store.crash_at, store.crash_after_commit = crash_at, after_commit
    with pytest.raises(SimulatedCrash):
        walk(store, ex)
    store.crash_at = None
    assert walk(store, ex).status == "completed"
    successes = Counter(s.node_id for s in store.get(ex).steps if s.status == "success")
    assert successes == Counter({"t": 1, "s": 1, "e1": 1, "l": 1, "e2": 1, "done": 1})
    assert [s.seq for s in store.get(ex).steps] == [1, 2, 3, 4, 5, 6]
    # A side effect re-run after a crash reuses its idempotency key.
    assert set(Effect.calls) <= {f"{ex}:e1:1", f"{ex}:e2:1"}


def test_definition_is_pinned_at_creation() -> None:
    d = chain(node("t", "manual_trigger"), node("w", "wait"), node("done", "end", {"output": "v1"}))
    store, ex = start(d)
    walk(store, ex)
    d["nodes"][2]["config"]["output"] = "v2"  # the schema is edited while the execution waits
    store.resume(ex, {})
    walk(store, ex)
    assert store.get(ex).result == "v1"


def test_invalid_definition_fails_cleanly() -> None:
    store, ex = start({"nodes": "nope"})
    assert walk(store, ex).status == "failed"
    store, ex = start(chain(node("a", "log", {"message": "x"})))
    assert "no trigger" in (walk(store, ex).error or "")


def test_step_budget_yields_running() -> None:
    store, ex = start(chain(node("t", "manual_trigger"), *[node(f"l{i}", "log", {"message": "x"}) for i in range(5)]))
    outcome = walk(store, ex, max_steps=3)
    assert outcome.status == "running" and store.get(ex).status == "running"
    assert walk(store, ex).status == "completed"
    assert len(store.get(ex).steps) == 6
