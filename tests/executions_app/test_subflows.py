"""Sub-schemas on PostgreSQL: children are real executions linked to their parent, started once,
waking the parent through a `child` timer when they end; for_each keeps its concurrency and item
order; cancelling a parent cancels its children; another owner's schema is refused."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from executions_app.models import Execution, ExecutionState, ExecutionStatus, ExecutionTimer, TimerStatus
from executions_app.runner import execution_run
from executions_app.services import execution_cancel, execution_create
from tests.builders import chain, node
from tests.factories import UserFactory, create_schema

pytestmark = pytest.mark.django_db

DOUBLE = chain(node("t", "manual_trigger"), node("done", "end", {"output": "{{ trigger.x * 2 }}"}))
PER_ITEM = chain(node("t", "manual_trigger"), node("done", "end", {"output": "{{ trigger.index }}:{{ trigger.item }}"}))


def _start(defn: dict[str, Any], user: Any, payload: Any = None) -> Execution:
    schema = create_schema(definition=defn, activate=True, user=user)
    execution, _ = execution_create(schema=schema, trigger_type="manual", payload=payload, created_by=user)
    return execution


def _children(parent: Execution) -> Any:
    return Execution.objects.filter(parent_execution=parent).order_by("parent_key")


def _drive(parent: Execution, *, check: Any = None, rounds: int = 200) -> Execution:
    """What the workers do: run every pending child, then the parent on each child's wake-up timer."""
    for _ in range(rounds):
        parent.refresh_from_db()
        if parent.is_finished:
            return parent
        for child in _children(parent).filter(status=ExecutionStatus.PENDING):
            execution_run(str(child.pk))
            if check is not None:
                check()
        for timer in ExecutionTimer.objects.filter(execution=parent, reason="child", status=TimerStatus.SCHEDULED):
            execution_run(str(parent.pk), timer_id=timer.pk)
    raise AssertionError("the parent never finished")


def test_call_schema_runs_a_linked_child_and_its_end_wakes_the_parent_once() -> None:
    user = UserFactory()
    child_schema = create_schema(definition=DOUBLE, activate=True, user=user)
    parent = _start(
        chain(
            node("t", "manual_trigger"),
            node("call", "call_schema", {"schema_id": str(child_schema.pk), "input": {"x": "{{ trigger.n }}"}}),
            node("done", "end"),
        ),
        user,
        {"n": 21},
    )
    assert execution_run(str(parent.pk)) == "paused"
    [child] = _children(parent)
    assert (child.trigger_type, child.parent_node_id, child.parent_key) == ("subflow", "call", "call:1:0")
    assert child.schema_id == child_schema.pk and child.trigger_payload == {"x": 21}

    assert execution_run(str(child.pk)) == "completed"
    [timer] = ExecutionTimer.objects.filter(execution=parent, reason="child")
    assert timer.status == TimerStatus.SCHEDULED and timer.node_id == "call"
    assert execution_run(str(parent.pk), timer_id=timer.pk) == "completed"
    # A repeated message finds its wake-up taken (fired by the walk) and changes nothing.
    assert execution_run(str(parent.pk), timer_id=timer.pk) == "timer-already-handled"
    parent.refresh_from_db()
    assert parent.result == 42
    assert _children(parent).count() == 1


def test_for_each_keeps_its_concurrency_and_the_item_order() -> None:
    user = UserFactory()
    per_item = create_schema(definition=PER_ITEM, activate=True, user=user)
    items = [f"order{n}" for n in range(7)]
    config = {"items": "{{ trigger.orders }}", "schema_id": str(per_item.pk), "concurrency": 3}
    parent = _start(chain(node("t", "manual_trigger"), node("loop", "for_each", config), node("done", "end")), user)
    Execution.objects.filter(pk=parent.pk).update(trigger_payload={"orders": items})
    in_flight: list[int] = []
    execution_run(str(parent.pk))

    def check() -> None:
        in_flight.append(_children(parent).exclude(status__in=["completed", "failed", "cancelled"]).count())

    parent = _drive(parent, check=check)
    assert parent.status == ExecutionStatus.COMPLETED
    assert parent.result == [f"{n}:order{n}" for n in range(7)]
    assert _children(parent).count() == 7 and max(in_flight) <= 3


def test_cancelling_a_parent_cancels_its_children() -> None:
    user = UserFactory()
    waiting_child = create_schema(
        definition=chain(node("t", "manual_trigger"), node("w", "wait")), activate=True, user=user
    )
    config = {"items": [1, 2], "schema_id": str(waiting_child.pk), "concurrency": 2}
    parent = _start(chain(node("t", "manual_trigger"), node("loop", "for_each", config)), user)
    execution_run(str(parent.pk))
    for child in _children(parent):
        assert execution_run(str(child.pk)) == "paused"
    execution_cancel(parent)
    assert set(_children(parent).values_list("status", flat=True)) == {"cancelled"}


def test_another_owners_schema_is_refused_in_plain_words() -> None:
    owner, other = UserFactory(), UserFactory()
    foreign = create_schema(definition=DOUBLE, activate=True, user=other)
    parent = _start(
        chain(node("t", "manual_trigger"), node("call", "call_schema", {"schema_id": str(foreign.pk)})), owner
    )
    assert execution_run(str(parent.pk)) == "failed"
    parent.refresh_from_db()
    assert "may not be run by this schema's owner" in (parent.error or "")
    assert _children(parent).count() == 0


def test_the_api_links_a_parent_and_its_children_both_ways() -> None:
    from rest_framework.test import APIClient

    user = UserFactory()
    child_schema = create_schema(definition=DOUBLE, activate=True, user=user)
    call = node(
        "call", "call_schema", {"schema_id": str(child_schema.pk), "input": {"x": 1}, "mode": "fire"}, name="Bill it"
    )
    parent = _start(chain(node("t", "manual_trigger"), call), user)
    execution_run(str(parent.pk))
    api = APIClient()
    api.force_authenticate(user)
    children = api.get(f"/api/executions/?parent={parent.pk}").json()["results"]
    assert [(c["trigger_type"], c["parent_execution"], c["parent_node_id"]) for c in children] == [
        ("subflow", str(parent.pk), "call")
    ]
    assert api.get(f"/api/executions/{parent.pk}/").json()["result"] == {"execution_id": children[0]["id"]}
    # The child's page says which node started it by the name its author gave it.
    child = api.get(f"/api/executions/{children[0]['id']}/").json()
    assert (child["parent_node_id"], child["parent_node_name"]) == ("call", "Bill it")
    assert api.get(f"/api/executions/{parent.pk}/").json()["parent_node_name"] is None
    assert api.get("/api/executions/?parent=not-a-uuid").status_code == 400


def test_the_admin_links_a_parent_to_its_children() -> None:
    from django.test import Client

    staff = UserFactory(is_staff=True, is_superuser=True)
    child_schema = create_schema(definition=DOUBLE, activate=True, user=staff)
    call = node("call", "call_schema", {"schema_id": str(child_schema.pk), "input": {"x": 1}, "mode": "fire"})
    parent = _start(chain(node("t", "manual_trigger"), call), staff)
    execution_run(str(parent.pk))
    [child] = _children(parent)
    client = Client()
    client.force_login(staff)
    page = client.get(f"/admin/executions_app/execution/{parent.pk}/change/").content.decode()
    assert f"/admin/executions_app/execution/{child.pk}/change/" in page and "call:1:0" in page
    child_page = client.get(f"/admin/executions_app/execution/{child.pk}/change/").content.decode()
    assert f"/admin/executions_app/execution/{parent.pk}/change/" in child_page


def _parent_calling(child_schema: Any, user: Any) -> tuple[Execution, Execution]:
    """A parent whose `call_schema` (mode wait) started one child; returns (parent, child)."""
    parent = _start(
        chain(node("t", "manual_trigger"), node("call", "call_schema", {"schema_id": str(child_schema.pk)})), user
    )
    assert execution_run(str(parent.pk)) == "paused"
    [child] = _children(parent)
    return parent, child


def _wake_ups(parent: Execution) -> list[ExecutionTimer]:
    return list(ExecutionTimer.objects.filter(execution=parent, reason="child"))


TIMED_WAIT = {
    "nodes": [node("t", "manual_trigger"), node("w", "wait")],
    "edges": [{"id": "e1", "source": "t", "target": "w", "source_port": "out"}],
    "settings": {"timeout_seconds": 5},
}


def _timeout_now(child: Execution) -> None:
    from executions_app.policies import execution_timeout

    timer = ExecutionTimer.objects.get(execution=child, reason="timeout")
    ExecutionTimer.objects.filter(pk=timer.pk).update(due_at=timezone.now() - timedelta(milliseconds=1))
    timer.refresh_from_db()
    assert execution_timeout(str(child.pk), timer, "test") == "timed-out"


def test_a_paused_child_that_times_out_wakes_its_parent_once_and_fails_its_node() -> None:
    user = UserFactory()
    parent, child = _parent_calling(create_schema(definition=TIMED_WAIT, activate=True, user=user), user)
    assert execution_run(str(child.pk)) == "paused"
    _timeout_now(child)
    [wake] = _wake_ups(parent)
    assert execution_run(str(parent.pk), timer_id=wake.pk) == "failed"
    parent.refresh_from_db()
    assert "the sub-schema failed" in (parent.error or "") and "timed out after 5 s" in (parent.error or "")
    assert len(_wake_ups(parent)) == 1


@pytest.mark.parametrize("ending", ["timeout", "cancel"])
def test_a_child_stopped_while_its_walk_runs_wakes_its_parent_exactly_once(ending: str, monkeypatch: Any) -> None:
    """The timeout (or a cancel) ends the child from outside while a worker walks it; that walk then
    stops at its next step and writes the child's end too — without a second wake-up."""
    from engine.nodes import NODE_TYPES, NodeContext, NodeResult
    from engine.policies import execution_policy
    from engine.walker import walk
    from executions_app import store as store_module
    from executions_app.policies import timeout_schedule

    user = UserFactory()
    steps = chain(node("t", "manual_trigger"), node("a", "log", {"message": "a"}), node("b", "log", {"message": "b"}))
    steps["settings"] = {"timeout_seconds": 5}
    parent, child = _parent_calling(create_schema(definition=steps, activate=True, user=user), user)
    timeout_schedule(str(child.pk), execution_policy(steps))

    class StoppedDuringStep(type(NODE_TYPES["log"])):  # type: ignore[misc]
        def run(self, ctx: NodeContext) -> NodeResult:
            if ctx.node.id == "a":
                _timeout_now(child) if ending == "timeout" else execution_cancel(child)
            return super().run(ctx)

    monkeypatch.setattr(store_module, "CANCEL_CHECK_INTERVAL", 0)  # notice the stop at the next step
    outcome = walk(
        store_module.DjangoExecutionStore(), str(child.pk), node_types={**NODE_TYPES, "log": StoppedDuringStep()}
    )
    assert outcome.status == "cancelled"
    child.refresh_from_db()
    assert child.status == ("failed" if ending == "timeout" else "cancelled")
    assert list(child.steps.values_list("node_id", flat=True)) == ["t", "a"]  # b never ran
    [wake] = _wake_ups(parent)  # one ending, one wake-up
    assert execution_run(str(parent.pk), timer_id=wake.pk) == "failed"
    parent.refresh_from_db()
    assert (child.error or "cancelled") in (parent.error or "")


def test_for_each_items_are_stored_once_and_the_checkpoint_keeps_only_progress() -> None:
    from executions_app.models import ExecutionItem, ExecutionState

    user = UserFactory()
    per_item = create_schema(definition=PER_ITEM, activate=True, user=user)
    config = {"items": "{{ range(trigger.n) | list }}", "schema_id": str(per_item.pk), "concurrency": 20}
    parent = _start(chain(node("t", "manual_trigger"), node("loop", "for_each", config)), user, {"n": 200})
    sizes: list[int] = []

    def check() -> None:
        sizes.append(len(json.dumps(ExecutionState.objects.get(execution=parent).checkpoint)))

    execution_run(str(parent.pk))
    parent = _drive(parent, check=check)
    assert parent.status == ExecutionStatus.COMPLETED
    assert parent.result == [f"{n}:{n}" for n in range(200)]
    assert _children(parent).count() == 200
    assert list(ExecutionItem.objects.filter(execution=parent).order_by("index").values_list("payload", flat=True)) == [
        {"item": n, "index": n} for n in range(200)
    ]
    # While the loop ran, its checkpoint held its progress only (the 200 items were ~5 KB of it before).
    assert len(sizes) == 200 and max(sizes) < 1_500, max(sizes)


def _loop_parent(user: Any, items: int, concurrency: int) -> Execution:
    per_item = create_schema(definition=PER_ITEM, activate=True, user=user)
    config = {"items": "{{ range(trigger.n) | list }}", "schema_id": str(per_item.pk), "concurrency": concurrency}
    parent = _start(chain(node("t", "manual_trigger"), node("loop", "for_each", config)), user, {"n": items})
    assert execution_run(str(parent.pk)) == "paused"
    return parent


def _finish_child_and_deliver(parent: Execution, index: int) -> str:
    """Child `index` ends; its wake-up message reaches a worker (returns what that worker did)."""
    child = _children(parent).get(parent_key=f"loop:1:{index}")
    assert execution_run(str(child.pk)) == "completed"
    timer = ExecutionTimer.objects.filter(execution=parent, reason="child").latest("id")  # its wake-up
    return execution_run(str(parent.pk), timer_id=timer.pk)


def _count_walks(monkeypatch: Any, parent: Execution) -> list[str]:
    from executions_app import runner

    walks: list[str] = []
    real_walk = runner.walk

    def counting_walk(store: Any, execution_id: str, **kwargs: Any) -> Any:
        if execution_id == str(parent.pk):
            walks.append(execution_id)
        return real_walk(store, execution_id, **kwargs)

    monkeypatch.setattr(runner, "walk", counting_walk)
    return walks


def test_children_ending_while_their_parent_is_walked_are_all_taken_by_that_walk(monkeypatch: Any) -> None:
    """Child 0's wake-up walks the parent; children 1 and 2 end during that walk and their wake-ups
    find the parent busy. That one walk takes both before it pauses and starts the next children:
    no retry, nothing left for the reconciler, nothing applied twice."""
    from executions_app import store as store_module

    user = UserFactory()
    parent = _loop_parent(user, items=6, concurrency=3)
    assert _children(parent).count() == 3
    walks = _count_walks(monkeypatch, parent)
    busy: list[str] = []
    real_start = store_module.children_start

    def start_then_others_end(*args: Any, **kwargs: Any) -> list[str]:
        ids = real_start(*args, **kwargs)
        if not busy:  # while the parent's walk holds its lock
            busy.extend(_finish_child_and_deliver(parent, index) for index in (1, 2))
        return ids

    monkeypatch.setattr(store_module, "children_start", start_then_others_end)
    assert _finish_child_and_deliver(parent, 0) == "paused"
    assert busy == ["busy", "busy"]
    assert len(walks) == 1  # one walk of the parent for the three ends
    # All three ends taken: three children finished, so the other three items started.
    assert _children(parent).count() == 6
    assert not ExecutionTimer.objects.filter(execution=parent, reason="child", status=TimerStatus.SCHEDULED).exists()
    assert ExecutionTimer.objects.filter(execution=parent, reason="child", status=TimerStatus.FIRED).count() == 3
    progress = ExecutionState.objects.get(execution=parent).checkpoint["waiting"][0]
    assert (progress["next"], progress["done"]) == (6, 3)

    monkeypatch.setattr(store_module, "children_start", real_start)
    parent = _drive(parent)
    assert parent.status == ExecutionStatus.COMPLETED
    assert parent.result == [f"{n}:{n}" for n in range(6)]
    assert sorted(_children(parent).values_list("parent_key", flat=True)) == [f"loop:1:{n}" for n in range(6)]
    assert parent.steps.filter(node_id="loop").count() == 1


def test_a_child_ending_after_the_walks_last_look_is_walked_for_once_the_lock_is_free(monkeypatch: Any) -> None:
    """A child ends after the parent's walk read the progress for the last time (it is writing its
    pause): the wake-up finds the parent busy and is not retried; the worker that walked the parent
    finds it left once it let go of the lock, and walks again."""
    from executions_app import store as store_module

    user = UserFactory()
    parent = _loop_parent(user, items=3, concurrency=2)
    walks = _count_walks(monkeypatch, parent)
    busy: list[str] = []
    real_pause = store_module.DjangoExecutionStore.pause

    def pause_then_one_ends(self: Any, execution_id: str, *args: Any, **kwargs: Any) -> None:
        real_pause(self, execution_id, *args, **kwargs)
        if execution_id == str(parent.pk) and not busy:
            busy.append(_finish_child_and_deliver(parent, 1))

    monkeypatch.setattr(store_module.DjangoExecutionStore, "pause", pause_then_one_ends)
    assert _finish_child_and_deliver(parent, 0) == "paused"
    assert busy == ["busy"]
    assert len(walks) == 2  # the second, for child 1, right after the first let go
    assert not ExecutionTimer.objects.filter(execution=parent, reason="child", status=TimerStatus.SCHEDULED).exists()
    progress = ExecutionState.objects.get(execution=parent).checkpoint["waiting"][0]
    assert (progress["next"], progress["done"]) == (3, 2)
    parent = _drive(parent)
    assert parent.result == ["0:0", "1:1", "2:2"]


def test_a_child_ending_while_a_walk_holds_its_parent_sends_no_wake_up_message(
    monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The walk holding the parent takes the wake-up row itself (before it pauses, or its worker
    right after letting go): no message, no busy delivery. With the parent free, the message goes."""
    from executions_app import subflows, timers
    from executions_app.locks import execution_lock

    user = UserFactory()
    parent = _loop_parent(user, items=2, concurrency=2)
    sent: list[tuple[str, Any]] = []

    def record(execution_id: str, **kwargs: Any) -> None:
        sent.append((execution_id, kwargs.get("timer_id")))

    monkeypatch.setattr(subflows, "publish_execution", record, raising=False)
    monkeypatch.setattr(timers, "publish_execution", record)
    first, second = _children(parent)
    with execution_lock(str(parent.pk), "another-worker") as owned:
        assert owned
        with django_capture_on_commit_callbacks(execute=True):
            assert execution_run(str(first.pk)) == "completed"
    assert sent == []
    with django_capture_on_commit_callbacks(execute=True):
        assert execution_run(str(second.pk)) == "completed"
    wake_ups = ExecutionTimer.objects.filter(execution=parent, reason="child").order_by("id")
    assert sent == [(str(parent.pk), wake_ups[1].pk)]
    assert execution_run(str(parent.pk), timer_id=wake_ups[1].pk) == "completed"  # takes both ends
    parent.refresh_from_db()
    assert parent.result == ["0:0", "1:1"]
    assert not wake_ups.filter(status=TimerStatus.SCHEDULED).exists()


def test_a_child_ending_between_the_parents_last_reads_leaves_no_wake_up_behind(monkeypatch: Any) -> None:
    """Child 1 ends after the parent's walk read the pending wake-ups but before it counted the
    finished children: the count sees it, the loop finishes and the parent completes — and that
    child's wake-up is fired with the others, not left for the reconciler to deliver to a
    finished execution."""
    from executions_app import store as store_module

    user = UserFactory()
    parent = _loop_parent(user, items=2, concurrency=2)
    first, second = _children(parent)
    assert execution_run(str(first.pk)) == "completed"
    real_pending = store_module.child_wakeups_pending
    ended: list[str] = []

    def pending_then_one_ends(execution_id: str) -> list[int]:
        ids = real_pending(execution_id)
        if execution_id == str(parent.pk) and not ended:
            ended.append(execution_run(str(second.pk)))
        return ids

    monkeypatch.setattr(store_module, "child_wakeups_pending", pending_then_one_ends)
    [wake] = ExecutionTimer.objects.filter(execution=parent, reason="child")
    assert execution_run(str(parent.pk), timer_id=wake.pk) == "completed"
    assert ended == ["completed"]
    parent.refresh_from_db()
    assert parent.result == ["0:0", "1:1"]
    wake_ups = ExecutionTimer.objects.filter(execution=parent, reason="child")
    assert list(wake_ups.values_list("status", flat=True)) == ["fired", "fired"]


def test_a_repeated_wake_up_walks_for_the_wake_ups_its_walk_left_behind() -> None:
    """The worker that walked the parent died after its last write, before it looked for wake-ups
    left; child 1 ended during that walk and sent no message (the parent was held). The redelivered
    message finds its own wake-up taken, and still walks for child 1's: no wait for the reconciler."""
    user = UserFactory()
    parent = _loop_parent(user, items=3, concurrency=2)
    assert _finish_child_and_deliver(parent, 0) == "paused"
    [taken] = ExecutionTimer.objects.filter(execution=parent, reason="child")
    child = _children(parent).get(parent_key="loop:1:1")
    assert execution_run(str(child.pk)) == "completed"  # its row, no message (in this test: none sent)
    assert execution_run(str(parent.pk), timer_id=taken.pk) == "paused"  # the redelivered message
    assert not ExecutionTimer.objects.filter(execution=parent, reason="child", status=TimerStatus.SCHEDULED).exists()
    progress = ExecutionState.objects.get(execution=parent).checkpoint["waiting"][0]
    assert (progress["next"], progress["done"]) == (3, 2)
    assert execution_run(str(parent.pk), timer_id=taken.pk) == "timer-already-handled"  # nothing left: dropped
