"""Execution ownership (`executions_app.locks`): the lease, its epoch (the fencing token) and what a
walk that lost its lease may still write — nothing. Both implementations: the PostgreSQL statements
and the ORM fallback (SQLite, the embedded mode)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import connection

from engine.store import StepRecord
from executions_app import locks, sql
from executions_app.models import Execution, ExecutionState, ExecutionStep, TriggerType
from executions_app.runner import execution_run
from executions_app.services import execution_create
from executions_app.store import DjangoExecutionStore
from tests.builders import chain, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db

IMPLEMENTATIONS = [pytest.param(sql.PostgresQueries(), id="postgres"), pytest.param(sql.Queries(), id="orm")]


def _execution() -> str:
    schema = create_schema(definition=chain(node("start", "manual_trigger"), node("done", "end", {"output": 1})))
    execution, _ = execution_create(schema=schema, trigger_type=TriggerType.MANUAL, payload={})
    return str(execution.id)


def _write(execution_id: str, epoch: int | None, seq: int = 1) -> sql.Write:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    step = StepRecord(seq, "start", "manual_trigger", "success", 1, {}, {"ok": 1}, None, now, now, 0.0)
    return sql.Write(
        execution_id=execution_id,
        steps=[step],
        checkpoint={"vars": {"stale": True}, "cursor": ["done"]},
        wait_kind="",
        resume_at=None,
        now=now,
        status="running",
        started_at=now,
        fields={"lease_owner": "w"},
        epoch=epoch,
    )


def _skip_unless_postgres(queries: sql.Queries) -> None:
    if isinstance(queries, sql.PostgresQueries) and connection.vendor != "postgresql":
        pytest.skip("PostgreSQL statements")


@pytest.mark.parametrize("queries", IMPLEMENTATIONS)
def test_a_held_lease_is_not_taken_and_an_expired_one_is_taken_with_a_new_epoch(queries: sql.Queries) -> None:
    _skip_unless_postgres(queries)
    execution_id = _execution()
    first = queries.lease_acquire(execution_id, "w1", 30)
    assert first == 1
    assert queries.lease_acquire(execution_id, "w2", 30) is None  # held and live
    assert queries.is_locked_elsewhere(execution_id)
    Execution.objects.filter(pk=execution_id).update(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert not queries.is_locked_elsewhere(execution_id)
    assert queries.lease_acquire(execution_id, "w2", 30) == 2  # expired: taken over, epoch moves on
    assert queries.lease_renew({execution_id: 1}, 30) == set()  # the old owner's renewal is refused
    assert queries.lease_renew({execution_id: 2}, 30) == {execution_id}
    queries.lease_release(execution_id, 1)  # the old owner's release changes nothing
    assert queries.lease_acquire(execution_id, "w3", 30) is None
    queries.lease_release(execution_id, 2)
    assert queries.lease_acquire(execution_id, "w3", 30) == 3
    assert queries.lease_acquire("00000000-0000-0000-0000-000000000000", "w", 30) == 0  # no such execution


@pytest.mark.parametrize("queries", IMPLEMENTATIONS)
def test_a_write_under_a_stale_epoch_lands_nothing(queries: sql.Queries) -> None:
    _skip_unless_postgres(queries)
    execution_id = _execution()
    old = queries.lease_acquire(execution_id, "zombie", 30)
    assert old is not None
    Execution.objects.filter(pk=execution_id).update(lease_expires_at=None)  # as if it had expired
    new = queries.lease_acquire(execution_id, "new-owner", 30)
    assert new == old + 1
    state_before = ExecutionState.objects.get(execution_id=execution_id).checkpoint

    with pytest.raises(sql.LeaseLost):
        queries.execution_write(_write(execution_id, old))
    assert not ExecutionStep.objects.filter(execution_id=execution_id).exists(), "no step row"
    assert ExecutionState.objects.get(execution_id=execution_id).checkpoint == state_before, "no checkpoint"
    assert Execution.objects.get(pk=execution_id).status == "pending", "no status change"

    assert queries.execution_write(_write(execution_id, new)) == 1  # the owner's write lands
    assert ExecutionStep.objects.filter(execution_id=execution_id).count() == 1


def test_a_walk_that_lost_its_lease_stops_and_says_so(caplog: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The walk's first write finds another owner: one WARNING line, nothing written, 'lease-lost'."""
    execution_id = _execution()
    real_load = DjangoExecutionStore.prefetch

    def taken_over_meanwhile(self: DjangoExecutionStore, eid: str) -> Any:
        snapshot = real_load(self, eid)
        Execution.objects.filter(pk=eid).update(lease_epoch=locks.held_epoch(eid) + 1)  # type: ignore[operator]
        return snapshot

    monkeypatch.setattr(DjangoExecutionStore, "prefetch", taken_over_meanwhile)
    assert execution_run(execution_id, worker_id="zombie") == "lease-lost"
    assert not ExecutionStep.objects.filter(execution_id=execution_id).exists()
    assert Execution.objects.get(pk=execution_id).status == "pending"
    assert "execution taken over by another worker" in caplog.text


@pytest.mark.parametrize("queries", IMPLEMENTATIONS)
def test_a_released_lease_is_not_extended_by_the_renewer(queries: sql.Queries) -> None:
    _skip_unless_postgres(queries)
    execution_id = _execution()
    epoch = queries.lease_acquire(execution_id, "w", 60)
    assert epoch and queries.lease_renew({execution_id: epoch}, 60) == {execution_id}
    Execution.objects.filter(pk=execution_id).update(lease_expires_at=None)  # what a finishing write does
    assert queries.lease_renew({execution_id: epoch}, 60) == set()
    assert Execution.objects.get(pk=execution_id).lease_expires_at is None


@pytest.fixture
def released(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The executions whose lease the walk released with its own statement (recorded, then sent)."""
    calls: list[str] = []
    real_release = type(sql.queries()).lease_release

    def spy(self: sql.Queries, eid: str, epoch: int) -> None:
        calls.append(eid)
        real_release(self, eid, epoch)

    monkeypatch.setattr(type(sql.queries()), "lease_release", spy)
    return calls


def test_a_finished_walk_sends_no_release_and_leaves_the_lease_free(released: list[str]) -> None:
    """The finishing write clears the lease in its own statement: the walk ends without the extra
    round trip, and the next owner takes the execution at once."""
    execution_id = _execution()
    assert execution_run(execution_id, worker_id="w") == "completed"
    assert released == []
    row = Execution.objects.get(pk=execution_id)
    assert row.status == "completed" and row.lease_expires_at is None
    assert sql.queries().lease_acquire(execution_id, "next", 60) == row.lease_epoch + 1


def test_a_walk_that_pauses_still_releases_its_lease(released: list[str]) -> None:
    nap = node("nap", "delay", {"duration_seconds": 60})
    schema = create_schema(definition=chain(node("start", "manual_trigger"), nap, node("done", "end")))
    execution, _ = execution_create(schema=schema, trigger_type=TriggerType.MANUAL, payload={})
    execution_run(str(execution.id), worker_id="w")
    row = Execution.objects.get(pk=execution.id)
    assert row.status == "paused" and released == [str(execution.id)] and row.lease_expires_at is None
