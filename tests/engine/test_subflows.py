"""Sub-schemas in the walker (in-memory store): `call_schema` (wait, fire) and `for_each`
(concurrency, item order, errors), children started once across crashes, the depth limit."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from engine import walker
from engine.memory_store import MemoryStore, SimulatedCrash
from engine.store import TERMINAL_STATUSES, waiting_info
from tests.builders import chain, node
from tests.engine.helpers import Clock


def walk(store: MemoryStore, execution_id: str, **kwargs: Any) -> Any:
    return walker.walk(store, execution_id, clock=Clock(), rng=random.Random(1), **kwargs)


def settle(store: MemoryStore, *, on_round: Any = None, rounds: int = 10_000) -> None:
    """Runs what a worker would: every pending child, and each parent a finished child woke."""
    for _ in range(rounds):
        ready = [r.execution_id for r in store.executions.values() if r.status in ("pending", "running")]
        woken, store.woken = store.woken, []
        if not ready and not woken:
            return
        for execution_id in dict.fromkeys(ready + woken):
            walk(store, execution_id)
            if on_round is not None:
                on_round(store)
    raise AssertionError("did not settle")


DOUBLE = chain(node("t", "manual_trigger"), node("done", "end", {"output": "{{ trigger.x * 2 }}"}))
PER_ITEM = chain(
    node("t", "manual_trigger"),
    node("check", "condition", {"expression": "{{ trigger.item == 'bad' }}"}),
    node("out", "end", {"output": "{{ trigger.index }}:{{ trigger.item }}"}),
)


def per_item_store() -> MemoryStore:
    store = MemoryStore()
    defn = json.loads(json.dumps(PER_ITEM))
    defn["nodes"].append(node("boom", "fail", {"message": "item {{ trigger.index }} is bad"}))
    defn["edges"] = [
        {"id": "e1", "source": "t", "target": "check", "source_port": "out"},
        {"id": "e2", "source": "check", "target": "out", "source_port": "false"},
        {"id": "e3", "source": "check", "target": "boom", "source_port": "true"},
    ]
    store.add_schema("each", defn)
    return store


def call(config: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return chain(node("t", "manual_trigger"), node("call", "call_schema", config, **extra), node("done", "end"))


def test_call_schema_waits_for_the_child_and_outputs_its_result() -> None:
    store = MemoryStore()
    store.add_schema("double", DOUBLE)
    parent = store.create(call({"schema_id": "double", "input": {"x": "{{ trigger.n }}"}}), {"n": 21})
    assert walk(store, parent).status == "paused"
    [entry] = waiting_info(store.get(parent).checkpoint)
    assert entry["kind"] == "children" and entry["progress"] == {"total": 1, "started": 1, "finished": 0, "failed": 0}
    [child] = [r for r in store.executions.values() if r.parent]
    assert child.parent == (parent, "call", 1, 0) and child.trigger_payload == {"x": 21}
    settle(store)
    assert store.get(parent).status == "completed"
    assert store.get(parent).result == 42
    assert [s.node_id for s in store.get(parent).steps] == ["t", "call", "done"]


def test_call_schema_fire_outputs_the_child_id_at_once() -> None:
    store = MemoryStore()
    store.add_schema("double", DOUBLE)
    parent = store.create(call({"schema_id": "double", "input": {"x": 1}, "mode": "fire"}))
    assert walk(store, parent).status == "completed"
    [child] = [r for r in store.executions.values() if r.parent]
    assert store.get(parent).result == {"execution_id": child.execution_id}
    assert child.status == "pending"


def test_a_failed_child_fails_the_node_and_its_retry_starts_a_new_child() -> None:
    store = MemoryStore()
    store.add_schema("bad", chain(node("t", "manual_trigger"), node("f", "fail", {"message": "no stock"})))
    parent = store.create(call({"schema_id": "bad"}, retry={"max_attempts": 2, "backoff": "fixed", "base_seconds": 0}))
    walk(store, parent)
    settle(store)
    record = store.get(parent)
    assert record.status == "failed"
    assert "the sub-schema failed" in (record.error or "") and "no stock" in (record.error or "")
    assert [(s.node_id, s.status, s.attempt) for s in record.steps] == [
        ("t", "success", 1),
        ("call", "failed", 1),
        ("call", "failed", 2),
    ]
    assert len(store.children) == 2  # one child per attempt


def test_an_unknown_schema_or_a_bad_items_value_is_a_node_error() -> None:
    store = MemoryStore()
    parent = store.create(call({"schema_id": "nope"}))
    assert "does not exist" in (walk(store, parent).error or "")
    store.add_schema("each", PER_ITEM)
    each = chain(node("t", "manual_trigger"), node("loop", "for_each", {"items": "{{ 5 }}", "schema_id": "each"}))
    parent = store.create(each)
    assert "items must be a list" in (walk(store, parent).error or "")


def test_for_each_keeps_the_concurrency_and_returns_results_in_item_order() -> None:
    store = per_item_store()
    items = [f"i{n}" for n in range(10)]
    defn = chain(
        node("t", "manual_trigger"),
        node("loop", "for_each", {"items": "{{ trigger.orders }}", "schema_id": "each", "concurrency": 3}),
        node("done", "end"),
    )
    parent = store.create(defn, {"orders": items})
    most = []

    def in_flight(s: MemoryStore) -> None:
        children = [r for r in s.executions.values() if r.parent]
        most.append(sum(1 for r in children if r.status not in TERMINAL_STATUSES))
        if s.get(parent).status == "paused":  # results are fetched at the end, not copied on the way
            assert ":i" not in s.get(parent).checkpoint_json

    walk(store, parent)
    settle(store, on_round=in_flight)
    assert store.get(parent).status == "completed"
    assert store.get(parent).result == [f"{n}:i{n}" for n in range(10)]
    assert max(most) == 3 and len(store.children) == 10


@pytest.mark.parametrize(("on_item_error", "status"), [("continue", "completed"), ("fail", "failed")])
def test_for_each_item_errors(on_item_error: str, status: str) -> None:
    store = per_item_store()
    config = {"items": ["a", "bad", "c"], "schema_id": "each", "concurrency": 1, "on_item_error": on_item_error}
    parent = store.create(chain(node("t", "manual_trigger"), node("loop", "for_each", config), node("done", "end")))
    walk(store, parent)
    settle(store)
    record = store.get(parent)
    assert record.status == status
    if status == "completed":
        assert record.result[0] == "0:a" and record.result[2] == "2:c"
        assert record.result[1]["error"] == "item 1 is bad" and record.result[1]["execution_id"]
    else:
        assert "item 1 failed" in (record.error or "") and len(store.children) == 2  # item 2 never started


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_a_crash_mid_loop_starts_no_item_twice_and_loses_none(crash_at: int) -> None:
    store = per_item_store()
    config = {"items": [str(n) for n in range(6)], "schema_id": "each", "concurrency": 2}
    parent = store.create(chain(node("t", "manual_trigger"), node("loop", "for_each", config), node("done", "end")))
    walk(store, parent)
    store.crash_at, store.crash_after_commit = store.writes + crash_at, False
    with pytest.raises(SimulatedCrash):
        settle(store)
    store.crash_at = None
    store.woken.append(parent)  # the redelivered wake-up
    settle(store)
    assert store.get(parent).status == "completed"
    assert store.get(parent).result == [f"{n}:{n}" for n in range(6)]
    assert len(store.children) == 6
    assert sum(1 for s in store.get(parent).steps if s.node_id == "loop") == 1


def test_a_schema_calling_itself_stops_at_the_depth_limit() -> None:
    store = MemoryStore()
    store.max_call_depth = 4
    store.add_schema("self", call({"schema_id": "self"}))
    top = store.create(store.schemas["self"])
    walk(store, top)
    settle(store)
    assert store.get(top).status == "failed"
    assert len(store.executions) == 4  # the fourth level's call is refused, none is started
    assert all(r.status == "failed" for r in store.executions.values())
    error = store.get(top).error or ""
    assert "nested deeper than 4 levels (SCHEMA_MAX_CALL_DEPTH)" in error
    # One sentence however deep: the innermost cause and how many runs lie between, not every link.
    assert error.count("failed (execution") == 1 and "through 2 nested sub-schema runs: " in error, error


def test_a_nested_failure_reads_as_its_innermost_cause() -> None:
    assert walker.innermost_cause("node 'x' failed: HTTP 503") == ("node 'x' failed: HTTP 503", 0)
    once = "node 'c' failed: the sub-schema failed (execution e-1, failed): node 'x' failed: HTTP 503"
    assert walker.innermost_cause(once) == ("node 'x' failed: HTTP 503", 1)
    singular = "node 'c' failed: the sub-schema failed (execution e-3, failed) through 1 nested sub-schema run: x"
    assert walker.innermost_cause(singular) == ("x", 2)
    deeper = "node 'c' failed: item 3 failed (execution e-2, failed) through 4 nested sub-schema runs: boom: a: b"
    assert walker.innermost_cause(deeper) == ("boom: a: b", 5)


def _loop_checkpoint_sizes(items: int) -> tuple[list[int], Any]:
    """Runs a for_each over `items` generated items; returns the parent's checkpoint size (bytes of
    JSON) at every write while the loop ran, and the finished parent."""
    store = MemoryStore()
    store.add_schema("each", chain(node("t", "manual_trigger"), node("out", "end", {"output": "{{ trigger.index }}"})))
    config = {"items": "{{ range(trigger.n) | list }}", "schema_id": "each", "concurrency": 100}
    parent = store.create(chain(node("t", "manual_trigger"), node("loop", "for_each", config)), {"n": items})
    sizes: list[int] = []
    write = store._write

    def measured(execution_id: str, *args: Any, **kwargs: Any) -> None:
        write(execution_id, *args, **kwargs)
        record = store.get(execution_id)
        if execution_id == parent and record.status not in TERMINAL_STATUSES:
            sizes.append(len(record.checkpoint_json))

    store._write = measured  # type: ignore[method-assign]
    walk(store, parent)
    settle(store)
    return sizes, store


def test_a_for_each_checkpoint_does_not_grow_with_its_items_nor_as_they_progress() -> None:
    few, _ = _loop_checkpoint_sizes(20)
    many, store = _loop_checkpoint_sizes(10_000)
    [parent] = [r for r in store.executions.values() if r.parent is None]
    assert parent.status == "completed" and parent.result == list(range(10_000))
    assert len(store.executions) == 10_001  # one child per item, none twice
    assert store.item_reads == 10_000 - 100  # each item read once after the first batch
    assert len(many) >= 100  # the loop checkpointed as it went
    # The same size whatever the number of items (only the counters' digits differ), and no growth:
    # before the items were stored apart, 10,000 of them made every write ~300 KB.
    assert max(many) - max(few) < 100, (max(few), max(many))
    assert max(many) < 2_000


def test_a_loop_checkpointed_with_its_items_inside_still_finishes() -> None:
    """Checkpoints written before the items were stored apart carry them in the waiting entry."""
    store = MemoryStore()
    store.add_schema("each", chain(node("t", "manual_trigger"), node("out", "end", {"output": "{{ trigger.item }}"})))
    config = {"items": ["a", "b", "c"], "schema_id": "each", "concurrency": 1}
    parent = store.create(chain(node("t", "manual_trigger"), node("loop", "for_each", config)))
    assert walk(store, parent).status == "paused"
    record = store.get(parent)
    checkpoint = record.checkpoint
    checkpoint["waiting"][0]["items"] = [{"item": i, "index": n} for n, i in enumerate(["a", "b", "c"])]
    record.checkpoint_json = json.dumps(checkpoint)
    store.items.clear()
    settle(store)
    assert store.get(parent).status == "completed" and store.get(parent).result == ["a", "b", "c"]


def test_children_ending_during_the_parents_walk_are_taken_before_it_pauses() -> None:
    """Children 1 and 2 end while the walk woken by child 0 starts the next child: that walk reads
    the progress again before pausing, takes both ends and fills the loop up to its concurrency."""
    store = per_item_store()
    config = {"items": [str(n) for n in range(6)], "schema_id": "each", "concurrency": 3}
    parent = store.create(chain(node("t", "manual_trigger"), node("loop", "for_each", config), node("done", "end")))
    walk(store, parent)
    child = {store.executions[c].parent[3]: c for c in store.children.values()}  # type: ignore[index]
    walk(store, child[0])
    real_start, ended = store.start_children, []

    def start_while_others_end(*args: Any, **kwargs: Any) -> list[str]:
        ids = real_start(*args, **kwargs)
        if not ended:
            ended.extend(walk(store, child[i]).status for i in (1, 2))
        return ids

    store.start_children = start_while_others_end  # type: ignore[method-assign]
    assert walk(store, parent).status == "paused"
    assert ended == ["completed", "completed"]
    assert len(store.children) == 6  # three ended, so three more started, in that one walk
    [entry] = json.loads(store.get(parent).checkpoint_json)["waiting"]
    assert (entry["next"], entry["done"]) == (6, 3)
    store.start_children = real_start  # type: ignore[method-assign]
    settle(store)
    assert store.get(parent).result == [f"{n}:{n}" for n in range(6)]
    assert sum(1 for s in store.get(parent).steps if s.node_id == "loop") == 1


def test_a_loops_waiting_entry_does_not_copy_the_input_its_predecessor_output() -> None:
    """A for_each's input — here the trigger's payload with 500 orders — is in the checkpoint once,
    as the trigger's output (twice with `last_output`), not a third time in the loop's waiting entry
    that every write of the progress rewrites; the loop's step still records it as its input."""
    store = MemoryStore()
    store.add_schema("each", chain(node("t", "manual_trigger"), node("out", "end", {"output": "{{ trigger.index }}"})))
    orders = [f"order-{n:04d}" for n in range(500)]
    config = {"items": "{{ input.orders }}", "schema_id": "each", "concurrency": 50}
    parent = store.create(chain(node("t", "manual_trigger"), node("loop", "for_each", config)), {"orders": orders})
    assert walk(store, parent).status == "paused"
    assert store.get(parent).checkpoint_json.count("order-0499") == 2
    settle(store)
    record = store.get(parent)
    assert record.status == "completed" and record.result == list(range(500))
    [loop_step] = [s for s in record.steps if s.node_id == "loop"]
    assert loop_step.input == {"orders": orders}


def test_a_failed_loop_retried_keeps_its_input_when_the_entry_refers_to_it() -> None:
    store = per_item_store()
    config = {"items": "{{ input.orders }}", "schema_id": "each", "concurrency": 2}
    loop = node("loop", "for_each", config, retry={"max_attempts": 2, "backoff": "fixed", "base_seconds": 0})
    parent = store.create(chain(node("t", "manual_trigger"), loop), {"orders": ["a", "bad"]})
    walk(store, parent)
    settle(store)
    record = store.get(parent)
    assert record.status == "failed" and "item 1 failed" in (record.error or "")
    loop_steps = [s for s in record.steps if s.node_id == "loop"]
    assert [s.attempt for s in loop_steps] == [1, 2]  # the retry ran the loop again, on the same input
    assert all(s.input == {"orders": ["a", "bad"]} for s in loop_steps)
    assert len(store.children) == 4
