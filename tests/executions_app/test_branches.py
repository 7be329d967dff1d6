"""Parallel branches on PostgreSQL: each branch's pause in the checkpoint and the API, one timer
for the earliest, resume by node, and executions paused before branches existed (version-1
checkpoints) still finishing."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.utils import timezone

from api.serializers import ExecutionSerializer
from executions_app.models import Execution, ExecutionState, ExecutionStatus, ExecutionStep, ExecutionTimer, TimerStatus
from executions_app.runner import execution_run
from executions_app.services import ExecutionStateError, execution_create, execution_resume
from tests.builders import definition, edge, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


def _execution(defn: dict[str, Any]) -> Execution:
    schema = create_schema(definition=defn, activate=True)
    execution, _ = execution_create(schema=schema, trigger_type="manual", payload={"n": 1})
    return execution


def _steps(execution: Execution) -> list[tuple[str, str]]:
    return list(ExecutionStep.objects.filter(execution=execution).order_by("seq").values_list("node_id", "status"))


def _scheduled_timers(execution: Execution) -> list[tuple[str, str]]:
    rows = ExecutionTimer.objects.filter(execution=execution, status=TimerStatus.SCHEDULED)
    return list(rows.values_list("node_id", "reason"))


def _log(node_id: str) -> dict[str, Any]:
    return node(node_id, "log", {"message": node_id})


def test_each_waiting_branch_is_in_the_api_and_the_earliest_timer_wakes_the_execution() -> None:
    execution = _execution(
        definition(
            [
                node("start", "manual_trigger"),
                node("approve", "wait"),
                node("cool", "delay", {"duration_seconds": 0.3}),
                node("later", "delay", {"duration_seconds": 600}),
                _log("cooled"),
                node("m", "merge", {"mode": "all"}),
            ],
            [
                edge("start", "approve"),
                edge("start", "cool"),
                edge("start", "later"),
                edge("cool", "cooled"),
                edge("approve", "m"),
                edge("cooled", "m"),
                edge("later", "m"),
            ],
        )
    )
    assert execution_run(str(execution.id)) == "paused"
    execution = Execution.objects.select_related("state").get(pk=execution.pk)
    waiting = ExecutionSerializer(execution).data["waiting"]
    assert [(w["node_id"], w["kind"]) for w in waiting] == [("approve", "wait"), ("cool", "delay"), ("later", "delay")]
    assert waiting[0]["resume_at"] is None and waiting[1]["resume_at"].endswith("Z")
    assert _scheduled_timers(execution) == [("cool", "delay")]  # one timer: the earliest

    timer = ExecutionTimer.objects.get(execution=execution, status=TimerStatus.SCHEDULED)
    time.sleep(0.4)
    assert execution_run(str(execution.id), timer_id=timer.pk) == "paused"
    assert _steps(execution) == [("start", "success"), ("cool", "success"), ("cooled", "success")]
    assert _scheduled_timers(execution) == [("later", "delay")]  # re-armed for the next branch
    execution = Execution.objects.select_related("state").get(pk=execution.pk)
    assert [w["node_id"] for w in ExecutionSerializer(execution).data["waiting"]] == ["approve", "later"]

    # The wait is resumed while the other branch still waits: the execution pauses again at once.
    execution_resume(execution, payload={"ok": True}, node_id="approve")
    assert execution_run(str(execution.id)) == "paused"
    assert ExecutionState.objects.get(execution=execution).current_node_id == "later"
    with pytest.raises(ExecutionStateError, match="paused at a wait node"):
        execution_resume(execution, payload={}, node_id="later")


def test_several_waits_need_a_node_id_and_each_resumes_its_own_branch() -> None:
    execution = _execution(
        definition(
            [node("start", "manual_trigger"), node("w1", "wait"), node("w2", "wait"), node("m", "merge")],
            [edge("start", "w1"), edge("start", "w2"), edge("w1", "m"), edge("w2", "m")],
        )
    )
    execution_run(str(execution.id))
    with pytest.raises(ExecutionStateError, match="several branches wait"):
        execution_resume(execution, payload={})
    execution_resume(execution, payload={"b": 2}, node_id="w2")
    assert execution_run(str(execution.id)) == "paused"
    execution_resume(execution, payload={"a": 1})
    assert execution_run(str(execution.id)) == "completed"
    execution.refresh_from_db()
    assert execution.result == {"w1": {"a": 1}, "w2": {"b": 2}}
    assert ExecutionSerializer(Execution.objects.select_related("state").get(pk=execution.pk)).data["waiting"] == []


def test_an_execution_paused_before_branches_existed_still_resumes_on_its_timer() -> None:
    """A version-1 checkpoint (one `waiting` object, joins on first arrival) left in the database."""
    execution = _execution(
        definition(
            [node("start", "manual_trigger"), node("d", "delay", {"duration_seconds": 0.2}), _log("after")],
            [edge("start", "d"), edge("d", "after")],
        )
    )
    assert execution_run(str(execution.id)) == "paused"
    state = ExecutionState.objects.get(execution=execution)
    v2 = state.checkpoint
    v1 = {key: v2[key] for key in ("vars", "outputs", "queue", "scheduled", "seq", "last_output", "result", "failed")}
    v1.update(v=1, waiting=v2["waiting"][0])
    ExecutionState.objects.filter(execution=execution).update(checkpoint=v1)
    execution = Execution.objects.select_related("state").get(pk=execution.pk)
    assert [w["node_id"] for w in ExecutionSerializer(execution).data["waiting"]] == ["d"]

    timer = ExecutionTimer.objects.get(execution=execution, status=TimerStatus.SCHEDULED)
    time.sleep(0.3)
    assert execution_run(str(execution.id), timer_id=timer.pk) == "completed"
    assert _steps(execution) == [("start", "success"), ("d", "success"), ("after", "success")]
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED
    assert execution.finished_at is not None and execution.finished_at <= timezone.now()


def test_a_resume_recorded_while_a_walk_runs_survives_its_pause_and_its_wake_up_applies_it(monkeypatch: Any) -> None:
    """The resume commits after the running walk last looked (just before it paused): the walk's
    pause keeps the `resume` wake-up scheduled, and that wake-up's message continues the branch once."""
    from executions_app.store import DjangoExecutionStore

    execution = _execution(
        definition(
            [node("start", "manual_trigger"), node("w1", "wait"), node("w2", "wait"), node("m", "merge")],
            [edge("start", "w1"), edge("start", "w2"), edge("w1", "m"), edge("w2", "m")],
        )
    )
    assert execution_run(str(execution.id)) == "paused"
    Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.RUNNING)  # a walk owns it again
    execution_resume(execution, payload={"one": 1}, node_id="w1")
    assert Execution.objects.get(pk=execution.pk).status == ExecutionStatus.RUNNING
    with pytest.raises(ExecutionStateError, match="already resumed"):
        execution_resume(execution, payload={}, node_id="w1")

    monkeypatch.setattr(DjangoExecutionStore, "resumes", lambda self, eid, nodes: [])  # looked too early
    assert execution_run(str(execution.id)) == "paused"
    monkeypatch.undo()
    [timer] = ExecutionTimer.objects.filter(execution=execution, reason="resume")
    assert (timer.status, timer.node_id, timer.payload) == (TimerStatus.SCHEDULED, "w1", {"one": 1})

    assert execution_run(str(execution.id), timer_id=timer.pk) == "paused"  # w1 went on; w2 waits
    assert execution_run(str(execution.id), timer_id=timer.pk) == "paused"  # a repeated message: nothing more
    assert _steps(execution) == [("start", "success"), ("w1", "success")]
    execution = Execution.objects.select_related("state").get(pk=execution.pk)
    assert [w["node_id"] for w in ExecutionSerializer(execution).data["waiting"]] == ["w2"]
    execution_resume(execution, payload={"two": 2}, node_id="w2")
    assert execution_run(str(execution.id)) == "completed"
    execution.refresh_from_db()
    assert execution.result == {"w1": {"one": 1}, "w2": {"two": 2}}
