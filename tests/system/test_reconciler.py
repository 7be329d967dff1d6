"""The reconciler with real workers: a publish lost after commit, timer messages lost in the broker,
and a running execution whose worker and message are both gone — each is found and finished once."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from config.queues import EXECUTION_QUEUE, WAKE_UP_QUEUE
from executions_app.models import Execution, ExecutionState, ExecutionTimer
from executions_app.reconciler import TIMER_GRACE_SECONDS, reconcile_once
from tests.helpers.http_server import LocalServer
from tests.system.conftest import SystemEnv
from tests.system.helpers import (
    SYSTEM_MARKS,
    assert_nothing_twice,
    delay_definition,
    http_definition,
    idempotency_keys,
    make_schema,
    purge_queue,
    queue_counts,
    quick_definition,
    start,
    statuses,
    wait_all,
    wait_until,
)

pytestmark = SYSTEM_MARKS
QUEUE = EXECUTION_QUEUE


@pytest.mark.timeout(120)
def test_publish_lost_after_commit_is_republished_by_the_reconciler(
    system: SystemEnv, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = make_schema(quick_definition())
    system.start_worker(concurrency=2)
    with monkeypatch.context() as patch:  # the process "crashes" between commit and publish
        patch.setattr("executions_app.services.publish_execution", lambda *args, **kwargs: None)
        ids = start(schema, 10)
    time.sleep(1.5)
    assert statuses(ids) == {"pending": 10}, "nothing was published, nothing ran"
    assert queue_counts(system.vhost.url, QUEUE)[0] == 0

    settings.SCHEMA_RECONCILE_GRACE_SECONDS = 1
    assert reconcile_once() == {"pending": 10, "running": 0, "timers": 0, "paused": 0}
    wait_all(ids, "completed", timeout=30, what="the re-published executions")
    assert_nothing_twice(ids, expected_nodes=["start", "prepare", "note", "done"])
    assert not any(reconcile_once().values()), "a second pass finds nothing to do"
    system.assert_dlq_empty()


@pytest.mark.timeout(120)
def test_lost_timer_messages_are_fired_by_the_reconciler(system: SystemEnv, settings: Any) -> None:
    """Timer messages dropped by the broker (queue purged while no worker ran): two timers still
    scheduled, and two that a dead worker had already fired (its walk never checkpointed)."""
    schema = make_schema(delay_definition(1))
    worker = system.start_worker(concurrency=2)
    ids = start(schema, 4)
    wait_all(ids, "paused", timeout=30, what="the executions to pause")
    worker.stop()
    wait_until(lambda: queue_counts(system.vhost.url, WAKE_UP_QUEUE)[0] == 4, timeout=20, what="4 due timer messages")
    purge_queue(system.vhost.url, WAKE_UP_QUEUE)  # the wake-ups are lost
    fired_by_the_dead = ids[2:]
    ExecutionTimer.objects.filter(execution_id__in=fired_by_the_dead).update(
        status="fired", fired_at=timezone.now(), lateness_ms=0
    )

    system.start_worker(concurrency=2)
    time.sleep(1.0)
    assert statuses(ids) == {"paused": 4}, "nothing wakes them without the reconciler"
    settings.SCHEMA_RECONCILE_GRACE_SECONDS = 1
    due = max(ExecutionState.objects.filter(execution_id__in=ids).values_list("resume_at", flat=True))
    wait_until(
        lambda: timezone.now() - due > timedelta(seconds=TIMER_GRACE_SECONDS + 0.2),
        timeout=10,
        what="the timers to be overdue",
    )
    assert reconcile_once() == {"pending": 0, "running": 0, "timers": 2, "paused": 2}
    wait_all(ids, "completed", timeout=30, what="the woken executions")
    assert_nothing_twice(ids, expected_nodes=["start", "prepare", "wait", "after0", "done"])
    assert ExecutionTimer.objects.filter(execution_id__in=ids, status="fired").count() == 4
    assert not any(reconcile_once().values())
    system.assert_dlq_empty()


@pytest.mark.timeout(120)
def test_running_execution_without_worker_or_message_is_republished(
    system: SystemEnv, slow_server: LocalServer, settings: Any
) -> None:
    slow_server.delay = 4.0
    schema = make_schema(http_definition(slow_server.url("/charge")))
    worker = system.start_worker(concurrency=1)
    [execution_id] = start(schema)
    assert slow_server.wait_for_request(timeout=30)
    worker.kill9()
    # RabbitMQ requeues the unacked message when the connection drops; lose it as well.
    wait_until(lambda: queue_counts(system.vhost.url, QUEUE)[0] == 1, timeout=10, what="the requeued message")
    purge_queue(system.vhost.url, QUEUE)
    slow_server.delay = 0.1

    system.start_worker(concurrency=1)
    time.sleep(1.0)
    assert Execution.objects.get(pk=execution_id).status == "running"
    settings.SCHEMA_RECONCILE_GRACE_SECONDS = 1
    assert reconcile_once() == {"pending": 0, "running": 1, "timers": 0, "paused": 0}
    wait_all([execution_id], "completed", timeout=30, what="the re-published execution")
    assert_nothing_twice([execution_id], expected_nodes=["start", "prepare", "charge", "note", "done"])
    assert idempotency_keys(slow_server) == [f"{execution_id}:charge:1"] * 2
    system.assert_dlq_empty()
