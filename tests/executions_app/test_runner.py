"""The worker side (`executions_app.runner`): what one `execution_run` leaves in the database.

The PostgreSQL store writes each checkpoint as one hand-written statement and folds pending →
running into the first write; these tests pin what a user sees through the API and the admin:
statuses, timestamps, the lease owner, every step with its input and output, and that the ORM path
(SQLite, the embedded mode) writes the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.store import StepRecord
from executions_app import sql
from executions_app.models import Execution, ExecutionState, ExecutionStatus, ExecutionStep, TriggerType
from executions_app.runner import execution_run
from executions_app.services import execution_cancel, execution_create, execution_resume
from executions_app.store import DjangoExecutionStore
from tests.builders import chain, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


def _execution(definition: dict[str, Any], payload: Any = None) -> Execution:
    schema = create_schema(definition=definition, activate=True)
    execution, _ = execution_create(schema=schema, trigger_type=TriggerType.MANUAL, payload=payload)
    return execution


def _chain(*middle: dict[str, Any]) -> dict[str, Any]:
    return chain(node("start", "manual_trigger"), *middle, variables={"counter": 0})


def test_a_pure_walk_completes_in_one_write_with_every_step() -> None:
    increments = [
        node(f"inc{i}", "set", {"assignments": [{"name": "counter", "value": "{{ vars.counter + 1 }}"}]})
        for i in range(1, 4)
    ]
    execution = _execution(_chain(*increments, node("done", "end", {"output": "{{ vars.counter }}"})), {"a": 1})
    assert execution.status == ExecutionStatus.PENDING

    assert execution_run(str(execution.id), worker_id="w1") == "completed"

    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED
    assert execution.result == 3
    assert execution.started_at is not None and execution.finished_at is not None
    assert execution.started_at <= execution.finished_at
    assert execution.lease_owner == ""
    steps = list(ExecutionStep.objects.filter(execution=execution).order_by("seq"))
    assert [s.seq for s in steps] == [1, 2, 3, 4, 5]
    assert [s.node_id for s in steps] == ["start", "inc1", "inc2", "inc3", "done"]
    assert all(s.status == "success" and s.attempt == 1 for s in steps)
    assert steps[0].input == {"a": 1} and steps[0].output == {"a": 1}
    assert steps[-1].output == 3
    assert all(s.started_at and s.finished_at and s.started_at <= s.finished_at for s in steps)
    state = ExecutionState.objects.get(execution=execution)
    assert state.context == {"counter": 3}
    assert state.checkpoint["seq"] == 5


def test_a_missing_payload_is_stored_as_null_like_the_orm_does() -> None:
    execution = _execution(_chain(node("done", "end", {"output": "ok"})), None)
    execution_run(str(execution.id))
    first = ExecutionStep.objects.get(execution=execution, seq=1)
    # None is SQL NULL (what the ORM writes for a JSONField), not the JSON value null.
    assert ExecutionStep.objects.filter(pk=first.pk, input__isnull=True).exists()


def test_a_pause_keeps_started_at_and_the_resume_finishes_the_walk() -> None:
    execution = _execution(_chain(node("approve", "wait", {}), node("done", "end", {"output": "{{ input }}"})))

    assert execution_run(str(execution.id)) == "paused"
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.PAUSED
    first_started = execution.started_at
    assert first_started is not None and execution.finished_at is None
    assert ExecutionState.objects.get(execution=execution).wait_kind == "wait"

    execution_resume(execution, payload={"ok": True})
    assert execution_run(str(execution.id)) == "completed"
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.COMPLETED
    assert execution.started_at == first_started  # the first write set it; later ones keep it
    assert execution.result == {"ok": True}
    assert list(ExecutionStep.objects.filter(execution=execution).values_list("seq", flat=True).order_by("seq")) == [
        1,
        2,
        3,
    ]


def test_a_cancelled_execution_stays_cancelled_and_runs_nothing() -> None:
    execution = _execution(_chain(node("done", "end", {"output": "ok"})))
    execution_cancel(execution)
    assert execution_run(str(execution.id)) == ExecutionStatus.CANCELLED
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED
    assert not ExecutionStep.objects.filter(execution=execution).exists()


def test_a_message_for_a_deleted_execution_is_dropped() -> None:
    execution = _execution(_chain(node("done", "end", {"output": "ok"})))
    execution_id = str(execution.id)
    execution.delete()
    assert execution_run(execution_id) == "missing"


def test_a_checkpoint_marks_the_execution_running_with_its_lease_owner() -> None:
    execution = _execution(_chain(node("done", "end", {"output": "ok"})))
    store = DjangoExecutionStore("worker-7")
    store.prefetch(str(execution.id))
    store.save_checkpoint(str(execution.id), [_step(1)], {"vars": {"x": 1}, "queue": [{"node_id": "done"}]})
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.RUNNING
    assert execution.lease_owner == "worker-7"
    assert execution.started_at is not None
    state = ExecutionState.objects.get(execution=execution)
    assert state.current_node_id == "done" and state.context == {"x": 1}


def test_a_finished_execution_is_not_moved_back_by_a_late_write() -> None:
    execution = _execution(_chain(node("done", "end", {"output": "ok"})))
    Execution.objects.filter(pk=execution.pk).update(status=ExecutionStatus.CANCELLED)
    store = DjangoExecutionStore()
    store.complete(str(execution.id), [_step(1)], {"vars": {}}, "late")
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED
    assert execution.result is None
    assert ExecutionStep.objects.filter(execution=execution).count() == 1  # the step is history


STEP_FIELDS = [
    *("seq", "node_id", "node_type", "input", "output", "status", "error", "attempt"),
    *("started_at", "finished_at"),
]


def _step(seq: int, **overrides: Any) -> StepRecord:
    started = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    values: dict[str, Any] = {
        "seq": seq,
        "node_id": f"n{seq}",
        "node_type": "set",
        "status": "success",
        "attempt": 1,
        "input": {"nested": [1, "two", None], "text": "ünïcode \u2028"},
        "output": None,
        "error": None,
        "started_at": started,
        "finished_at": started + timedelta(milliseconds=1.5),
        "duration_ms": 1.5,
    }
    values.update(overrides)
    return StepRecord(**values)


@pytest.mark.parametrize("status", [ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.PAUSED])
def test_the_postgres_statement_and_the_orm_path_write_the_same_rows(status: str) -> None:
    """The one-statement write (PostgreSQL) and the ORM write (SQLite, embedded mode) agree."""
    steps = [_step(1), _step(2, status="failed", error="Traceback ...\nValueError: x", output={"o": 1}, attempt=3)]
    checkpoint: dict[str, Any] = {"vars": {"counter": 2}, "queue": [], "waiting": None}
    now = datetime(2026, 1, 2, 3, 4, 6, tzinfo=UTC)
    fields: dict[str, Any] = {}
    if status == ExecutionStatus.COMPLETED:
        fields = {"result": {"r": [1, 2]}, "finished_at": now, "lease_owner": "", "lease_expires_at": None}
    elif status == ExecutionStatus.FAILED:
        fields = {"error": "node 'n2' failed", "finished_at": now, "lease_owner": "", "lease_expires_at": None}
    rows: list[dict[str, Any]] = []
    for write in (sql.PostgresQueries().execution_write, sql.Queries().execution_write):
        execution = _execution(_chain(node("done", "end", {"output": "ok"})))
        resume_at = now + timedelta(seconds=5) if status == ExecutionStatus.PAUSED else None
        updated = write(
            sql.Write(
                execution_id=str(execution.id),
                steps=steps,
                checkpoint=checkpoint,
                wait_kind="delay" if resume_at else "",
                resume_at=resume_at,
                now=now,
                status=status,
                started_at=now - timedelta(seconds=1),
                fields=dict(fields),
            )
        )
        assert updated == 1
        execution.refresh_from_db()
        state = ExecutionState.objects.get(execution=execution)
        rows.append(
            {
                "execution": {
                    k: getattr(execution, k) for k in ("status", "result", "error", "started_at", "finished_at")
                },
                "state": {
                    k: getattr(state, k)
                    for k in ("checkpoint", "context", "current_node_id", "wait_kind", "resume_at", "updated_at")
                },
                "steps": list(ExecutionStep.objects.filter(execution=execution).order_by("seq").values(*STEP_FIELDS)),
            }
        )
    assert rows[0] == rows[1]
    assert rows[0]["execution"]["status"] == status
    assert rows[0]["steps"][0]["started_at"] == steps[0].started_at  # microseconds survive the JSON trip


def test_the_start_every_step_and_the_end_are_log_lines_with_the_execution_context(caplog: Any) -> None:
    import json
    import logging

    from config.logging import ContextFilter, JsonFormatter
    from executions_app.tasks import execution_run_task

    execution = _execution(_chain(node("inc", "set", {"assignments": [{"name": "x", "value": "1"}]})))
    caplog.set_level(logging.INFO, logger="schema.engine")
    execution_run_task.apply(args=[str(execution.id)])
    lines = []
    for record in caplog.records:
        if record.name == "schema.engine":
            ContextFilter().filter(record)
            lines.append(json.loads(JsonFormatter().format(record)))
    assert lines[0]["message"] == "execution started"
    steps = [line for line in lines if line["message"].startswith("step ")]
    assert [(s["node_id"], s["seq"], s["step_status"]) for s in steps] == [
        ("start", 1, "success"),
        ("inc", 2, "success"),
    ]
    assert lines[-1]["message"] == "execution completed"
    assert lines[-1]["walk_ms"] >= 0  # what Celery's "succeeded in" line said (off by default)
    for line in lines:
        assert line["execution_id"] == str(execution.id)
        assert line["schema_id"] == str(execution.schema_id)
        assert line["level"] == "INFO"
