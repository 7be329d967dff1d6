"""Workers dying and messages repeating: a worker killed with SIGKILL in the middle of a side-effecting
step (another worker finishes the execution from the last checkpoint), the same message delivered
five times to two workers (one walk), and node retries whose back-off rides broker timers."""

from __future__ import annotations

import time

import pytest

from executions_app.dispatch import publish_execution
from executions_app.models import Execution, ExecutionStep, ExecutionTimer
from tests.helpers.http_server import LocalServer
from tests.system.conftest import SystemEnv
from tests.system.helpers import (
    SYSTEM_MARKS,
    assert_nothing_twice,
    http_definition,
    idempotency_keys,
    make_schema,
    start,
    wait_all,
)

pytestmark = SYSTEM_MARKS


@pytest.mark.timeout(150)
def test_kill_9_mid_execution_then_a_new_worker_completes_it(system: SystemEnv, slow_server: LocalServer) -> None:
    t0 = time.monotonic()
    slow_server.delay = 4.0
    schema = make_schema(http_definition(slow_server.url("/charge")))
    worker = system.start_worker(concurrency=1)
    [execution_id] = start(schema)

    # The worker is inside the HTTP call (the slow server holds the request) when it is killed.
    assert slow_server.wait_for_request(timeout=30), "the http_request step never reached the server"
    assert Execution.objects.get(pk=execution_id).status == "running"
    recorded_before = list(ExecutionStep.objects.filter(execution_id=execution_id).values_list("node_id", flat=True))
    assert recorded_before == ["start", "prepare"]  # checkpointed before the side effect
    worker.kill9()
    killed_at = time.monotonic()

    time.sleep(0.5)
    assert Execution.objects.get(pk=execution_id).status == "running"  # nothing finished it meanwhile
    slow_server.delay = 0.2
    system.start_worker(concurrency=1)
    wait_all([execution_id], "completed", timeout=60, what="the execution to complete")

    execution = Execution.objects.get(pk=execution_id)
    assert execution.result == 0
    assert_nothing_twice([execution_id], expected_nodes=["start", "prepare", "charge", "note", "done"])
    # The interrupted side effect ran again (at-least-once) with the same idempotency key, so the
    # receiving service can de-duplicate it; the step itself is recorded once.
    keys = idempotency_keys(slow_server)
    assert len(keys) == 2 and keys[0] == keys[1] == f"{execution_id}:charge:1", keys
    system.assert_dlq_empty()
    print(
        f"\n[kill -9] recovered in {time.monotonic() - killed_at:.1f}s after the kill; "
        f"scenario {time.monotonic() - t0:.1f}s; http calls={len(keys)} (same idempotency key)"
    )


@pytest.mark.timeout(120)
def test_duplicated_messages_on_two_workers_run_the_execution_once(system: SystemEnv, slow_server: LocalServer) -> None:
    slow_server.delay = 2.0
    schema = make_schema(http_definition(slow_server.url("/charge")))
    workers = [system.start_worker(concurrency=2, ready=False) for _ in range(2)]
    for worker in workers:
        worker.wait_ready()
    [execution_id] = start(schema)
    for _ in range(4):  # a publisher retrying, a reconciler racing, a redelivery...
        publish_execution(execution_id)
    wait_all([execution_id], "completed", timeout=60, what="the execution to complete")
    time.sleep(1.0)  # let the duplicates that waited ("busy") arrive and find it finished
    assert_nothing_twice([execution_id], expected_nodes=["start", "prepare", "charge", "note", "done"])
    assert len(slow_server.requests) == 1, "the side effect ran once"
    logs = "".join(w.log() for w in system.workers)
    assert "execution busy: another walk holds its lock" in logs, "a duplicate met the execution's lock"
    # Celery's own line per task is off by default (CELERY_TASK_LOG_LEVEL): the engine's lines say it.
    assert "succeeded in" not in logs and '"walk_ms"' in logs


@pytest.mark.timeout(120)
def test_node_retries_back_off_on_broker_timers(system: SystemEnv, slow_server: LocalServer) -> None:
    """Two failures, then success: the sub-second back-off is a timer (once failed with
    "countdown must be a positive number" when published)."""
    slow_server.delay, slow_server.fail_first = 0.0, 2
    definition = http_definition(slow_server.url("/charge"))
    charge = next(n for n in definition["nodes"] if n["id"] == "charge")
    charge["retry"] = {"max_attempts": 3, "backoff": "fixed", "base_seconds": 0.5, "jitter": False}
    system.start_worker(concurrency=1)
    [execution_id] = start(make_schema(definition))
    wait_all([execution_id], "completed", "failed", timeout=60, what="the execution to finish")
    assert Execution.objects.get(pk=execution_id).status == "completed"
    assert_nothing_twice([execution_id], expected_nodes=["start", "prepare", "charge", "note", "done"])
    charge_steps = list(
        ExecutionStep.objects.filter(execution_id=execution_id, node_id="charge")
        .order_by("seq")
        .values_list("status", "attempt")
    )
    assert charge_steps == [("failed", 1), ("failed", 2), ("success", 3)]
    assert idempotency_keys(slow_server) == [f"{execution_id}:charge:{n}" for n in (1, 2, 3)]
    timers = ExecutionTimer.objects.filter(execution_id=execution_id)
    assert sorted(timers.values_list("reason", "status")) == [("retry", "fired"), ("retry", "fired")]
    system.assert_dlq_empty()
