"""The outbox relay publishes a new execution whose publish was lost — its process died after the
commit, its publish failed, or it hung — and nothing that a worker has taken or that still waits in
the start queue. The backend that committed it is recorded by the insert itself (no extra statement,
no NOTIFY on the accept path)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.beat_lock import connect
from executions_app import outbox
from executions_app.models import Execution, ExecutionStatus
from executions_app.services import execution_create, execution_publish
from executions_app.sql import OUTBOX_CHANNEL
from tests.builders import linear_definition
from tests.conftest import requires_postgres
from tests.factories import create_schema

pytestmark = pytest.mark.django_db(transaction=True)
DEAD_PID = 2**31 - 7  # no backend has it


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    sent: list[str] = []
    monkeypatch.setattr(outbox, "publish_execution", lambda execution_id, **kw: sent.append(execution_id))
    return sent


@pytest.fixture
def drained(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    ready: dict[str, int] = {}
    monkeypatch.setattr(outbox, "queue_ready_counts", lambda *queues: dict(ready))
    return ready


def _new_execution(*, seconds_ago: float = 0.0) -> Execution:
    schema = create_schema(definition=linear_definition())
    execution, _ = execution_create(schema=schema, trigger_type="manual", publish=False)
    if seconds_ago:
        Execution.objects.filter(pk=execution.pk).update(created_at=timezone.now() - timedelta(seconds=seconds_ago))
    return execution


def _left_by(execution: Execution, pid: int) -> None:
    """As if `pid`'s backend had committed it."""
    Execution.objects.filter(pk=execution.pk).update(creator_pid=pid)


@requires_postgres
def test_the_insert_records_its_backend_in_the_same_statement_and_notifies_nobody() -> None:
    """No NOTIFY on the accept path: it serialized every accept's commit (the cluster-wide notify lock)."""
    schema = create_schema(definition=linear_definition())
    with connect(connection.settings_dict) as listener:
        listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
        with CaptureQueriesContext(connection) as queries:
            execution, _ = execution_create(schema=schema, trigger_type="manual", publish=False)
        assert list(listener.notifies(timeout=0.5)) == []
    assert len([q for q in queries if "INSERT" in q["sql"]]) == 1  # no statement added for the outbox
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    assert Execution.objects.get(pk=execution.pk).creator_pid == pid


@requires_postgres
def test_the_latest_execution_of_a_process_that_died_is_published(published: list[str], drained: Any) -> None:
    earlier, latest = _new_execution(), _new_execution()
    for execution in (earlier, latest):  # the earlier one was published before the latest's commit
        _left_by(execution, DEAD_PID)
    relay = outbox.OutboxRelay(deadline=60)
    assert relay.tick() == [str(latest.pk)]
    assert published == [str(latest.pk)]
    assert relay.tick(now=time.monotonic() + 1) == []  # never twice


@requires_postgres
def test_the_latest_of_a_dead_process_decides_even_when_a_worker_took_it(published: list[str], drained: Any) -> None:
    earlier, latest = _new_execution(), _new_execution()
    for execution in (earlier, latest):
        _left_by(execution, DEAD_PID)
    Execution.objects.filter(pk=latest.pk).update(lease_epoch=1, status=ExecutionStatus.RUNNING)
    assert outbox.OutboxRelay(deadline=60).tick() == []  # the earlier one waits in the queue
    assert published == []


@requires_postgres
def test_nothing_is_published_for_a_process_still_alive(published: list[str], drained: Any) -> None:
    execution = _new_execution()  # committed by this test's own backend, alive
    assert Execution.objects.get(pk=execution.pk).creator_pid is not None
    relay = outbox.OutboxRelay(deadline=60)
    assert relay.tick() == []
    assert published == []


@requires_postgres
def test_an_execution_a_worker_took_is_not_published_again(published: list[str], drained: Any) -> None:
    execution = _new_execution()
    _left_by(execution, DEAD_PID)
    Execution.objects.filter(pk=execution.pk).update(lease_epoch=1, status=ExecutionStatus.RUNNING)
    relay = outbox.OutboxRelay(deadline=60)
    assert relay.tick() == []


def test_a_failed_publish_is_handed_over_and_published(
    published: list[str], drained: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from executions_app import services

    execution = _new_execution()

    def broker_down(*args: Any, **kwargs: Any) -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(services, "publish_execution", broker_down)
    handed: list[str] = []
    relay = outbox.OutboxRelay(deadline=60)
    if connection.vendor == "postgresql":
        with connect(connection.settings_dict) as listener:
            listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
            assert execution_publish(execution) is False
            for note in listener.notifies(timeout=2, stop_after=1):
                relay.notified(note.pid, note.payload)
                handed.append(note.payload)
        assert handed == [f"lost:{execution.pk}"]
        assert relay.tick() == [str(execution.pk)]
    else:
        assert execution_publish(execution) is False


def test_one_not_taken_after_the_deadline_is_published_once_the_start_queue_is_empty(
    published: list[str], drained: dict[str, int]
) -> None:
    fresh, old = _new_execution(), _new_execution(seconds_ago=5)
    relay = outbox.OutboxRelay(deadline=3)
    drained["schema_execution_queue"] = 40  # it may be among these: wait
    assert relay.tick(now=100.0) == []
    drained["schema_execution_queue"] = 0
    assert relay.tick(now=101.0) == [str(old.pk)]
    assert relay.tick(now=102.0) == []  # once
    assert str(fresh.pk) not in published


def test_one_older_than_the_reconcilers_window_is_left_to_it(published: list[str], drained: Any) -> None:
    _new_execution(seconds_ago=3600)
    assert outbox.OutboxRelay(deadline=3).tick(now=100.0) == []


@requires_postgres
def test_the_relay_thread_publishes_what_a_dead_process_left(published: list[str], drained: Any, settings: Any) -> None:
    """The loop as beat runs it; the API process's connection committed the execution, then died."""
    import threading

    settings.SCHEMA_OUTBOX_DEADLINE_SECONDS = 60  # so that only "its process is gone" can publish it

    execution = _new_execution()
    with connect(connection.settings_dict) as dying:
        (pid,) = dying.execute("SELECT pg_backend_pid()").fetchone()  # type: ignore[misc]
        _left_by(execution, pid)
        stop = threading.Event()
        thread = threading.Thread(target=outbox.relay_forever, args=(stop,), daemon=True)
        thread.start()
        try:
            time.sleep(1.0)  # several scans while that backend lives: nothing to do
            assert published == []
        except BaseException:
            stop.set()
            raise
    try:  # the connection is closed: its backend is gone
        deadline = time.monotonic() + 5
        while not published and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert published == [str(execution.pk)]
