"""The outbox relay publishes a new execution whose publish was lost — its process died after the
commit, its publish failed, or it hung — and nothing that a worker has taken or that still waits in
the start queue. The notification it listens for rides the insert itself (no extra statement)."""

from __future__ import annotations

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


@requires_postgres
def test_the_insert_notifies_the_relay_at_commit_in_the_same_statement() -> None:
    schema = create_schema(definition=linear_definition())
    with connect(connection.settings_dict) as listener:
        listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
        with CaptureQueriesContext(connection) as queries:
            execution, _ = execution_create(schema=schema, trigger_type="manual", publish=False)
        notes = list(listener.notifies(timeout=2, stop_after=1))
    assert [n.payload for n in notes] == [str(execution.pk)]
    assert len([q for q in queries if "INSERT" in q["sql"]]) == 1  # no statement added for the outbox


@requires_postgres
def test_a_rolled_back_execution_notifies_nothing() -> None:
    from django.db import transaction

    schema = create_schema(definition=linear_definition())
    with connect(connection.settings_dict) as listener:
        listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
        with pytest.raises(RuntimeError), transaction.atomic():
            execution_create(schema=schema, trigger_type="manual", publish=False)
            raise RuntimeError("rolled back")
        assert list(listener.notifies(timeout=0.5)) == []


@requires_postgres
def test_the_latest_execution_of_a_process_that_died_is_published(published: list[str], drained: Any) -> None:
    earlier, latest = _new_execution(), _new_execution()
    relay = outbox.OutboxRelay(deadline=60)
    relay.notified(DEAD_PID, str(earlier.pk))
    relay.notified(DEAD_PID, str(latest.pk))  # the earlier one was published before this commit
    assert relay.tick() == [str(latest.pk)]
    assert published == [str(latest.pk)]
    assert relay.tick() == []  # never twice


@requires_postgres
def test_nothing_is_published_for_a_process_still_alive(published: list[str], drained: Any) -> None:
    execution = _new_execution()
    relay = outbox.OutboxRelay(deadline=60)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (alive,) = cursor.fetchone()
    relay.notified(alive, str(execution.pk))
    assert relay.tick() == []
    assert published == []


@requires_postgres
def test_an_execution_a_worker_took_is_not_published_again(published: list[str], drained: Any) -> None:
    execution = _new_execution()
    Execution.objects.filter(pk=execution.pk).update(lease_epoch=1, status=ExecutionStatus.RUNNING)
    relay = outbox.OutboxRelay(deadline=60)
    relay.notified(DEAD_PID, str(execution.pk))
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
def test_the_relay_thread_listens_and_publishes_what_a_dead_process_left(published: list[str], drained: Any) -> None:
    """The loop as beat runs it, fed by a real notification from a connection that then dies."""
    import threading
    import time

    stop = threading.Event()
    thread = threading.Thread(target=outbox.relay_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        time.sleep(0.5)  # listening
        execution = _new_execution()
        # the API process: its connection committed the execution (and notified), then it died
        with connect(connection.settings_dict) as dying:
            dying.execute("SELECT pg_notify(%s, %s)", [OUTBOX_CHANNEL, str(execution.pk)])
        deadline = time.monotonic() + 5
        while not published and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert published == [str(execution.pk)]
