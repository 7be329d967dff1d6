"""Dead letters: the DLX wiring of the queues, a poison message that kills the worker process ending in
`schema_execution_dlq` after the delivery limit, `manage.py dlq list|show|requeue`, and the
infrastructure-error path (database unreachable → retries with back-off → DLQ with the error)."""

from __future__ import annotations

import io
import json
import re
import time

import pytest
from django.core.management import call_command

from config.queues import (
    DELIVERY_LIMIT,
    DLQ,
    DLX,
    EXECUTION_QUEUE,
    PRIORITY_QUEUE,
    TASK_RUN_EXECUTION,
    WAKE_UP_QUEUE,
)
from executions_app.models import Execution, ExecutionStep
from tests.helpers.live_api import free_port
from tests.system.conftest import SystemEnv
from tests.system.helpers import (
    SYSTEM_MARKS,
    assert_nothing_twice,
    make_schema,
    queue_counts,
    quick_definition,
    start,
    wait_all,
    wait_until,
)
from tests.system.worker_hooks import POISON_EXIT_CODE

pytestmark = SYSTEM_MARKS


def dlq_command(*args: str) -> str:
    """`manage.py dlq ...` in this process (its broker URL points at the test vhost)."""
    out = io.StringIO()
    call_command("dlq", *args, stdout=out)
    return out.getvalue()


def dlq_depth(system: SystemEnv) -> int:
    return queue_counts(system.vhost.url, DLQ)[0]


def test_rabbitmqctl_shows_the_dead_letter_wiring(system: SystemEnv) -> None:
    out = system.services.rabbitmqctl("list_queues", "-p", system.vhost.name, "name", "arguments", "--no-table-headers")
    rows = {line.split(None, 1)[0]: line for line in out.splitlines() if line.strip()}
    assert EXECUTION_QUEUE in rows and DLQ in rows, out
    queue = rows[EXECUTION_QUEUE]
    for expected in (
        f'{{"x-dead-letter-exchange","{DLX}"}}',
        f'{{"x-dead-letter-routing-key","{DLQ}"}}',
        f'{{"x-delivery-limit",{DELIVERY_LIMIT}}}',
        '{"x-dead-letter-strategy","at-least-once"}',
        '{"x-overflow","reject-publish"}',
        '{"x-queue-type","quorum"}',
    ):
        assert expected in queue.replace(" ", ""), f"{expected} missing in: {queue}"
    assert '{"x-queue-type","quorum"}' in rows[DLQ].replace(" ", "")
    bindings = system.services.rabbitmqctl(
        "list_bindings", "-p", system.vhost.name, "source_name", "destination_name", "routing_key"
    )
    assert re.search(rf"^{DLX}\s+{DLQ}\s+{DLQ}$", bindings, re.M), bindings


@pytest.mark.timeout(150)
def test_poison_message_reaches_the_dlq_and_requeue_brings_it_back(system: SystemEnv) -> None:
    t0 = time.monotonic()
    schema = make_schema(quick_definition())
    worker = system.start_worker(concurrency=1)
    [poison] = start(schema, payload={"poison": True})
    [healthy] = start(schema)

    # Every delivery kills the pool process; RabbitMQ gives up after the delivery limit.
    wait_until(lambda: dlq_depth(system) == 1, timeout=90, what="the poison message in the DLQ")
    wait_all([healthy], "completed", timeout=30, what="the healthy execution")
    deaths = len(re.findall(rf"Process '\S+' pid:\d+ exited with 'exitcode {POISON_EXIT_CODE}'", worker.log()))
    assert worker.alive, "only the pool processes die; the worker itself keeps consuming"
    assert deaths == DELIVERY_LIMIT + 1, f"pool process killed {deaths} times"
    assert Execution.objects.get(pk=poison).status == "pending"
    assert not ExecutionStep.objects.filter(execution_id=poison).exists()

    listing = system.manage("dlq", "list")
    assert listing.returncode == 0, listing.stderr
    lines = [line for line in listing.stdout.splitlines() if poison in line]
    assert len(lines) == 1 and "engine.tasks.run_execution" in lines[0], listing.stdout
    assert "delivery_limit" in lines[0], lines[0]
    assert json.loads(dlq_command("show", "0"))["args"] == [poison]

    # The operator fixes the cause (here: the payload) and requeues: the execution completes.
    Execution.objects.filter(pk=poison).update(trigger_payload={"n": 7})
    requeued = system.manage("dlq", "requeue", "0")
    assert requeued.returncode == 0 and "Requeued 1 message" in requeued.stdout, requeued.stdout + requeued.stderr
    assert dlq_depth(system) == 0
    wait_all([poison], "completed", timeout=30, what="the requeued execution to complete")
    assert dlq_command("list").strip() == "The dead-letter queue is empty."
    assert_nothing_twice([poison, healthy], expected_nodes=["start", "prepare", "note", "done"])
    print(f"\n[poison] {deaths} deliveries killed the pool process, DLQ'd and requeued in {time.monotonic() - t0:.1f}s")


@pytest.mark.timeout(150)
def test_database_unreachable_retries_with_backoff_then_dead_letters_with_the_error(system: SystemEnv) -> None:
    t0 = time.monotonic()
    schema = make_schema(quick_definition())
    # This worker's database is a port where nothing listens: every attempt is an OperationalError.
    broken = system.start_worker(
        concurrency=1,
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{free_port()}/nowhere",
        SCHEMA_INFRA_MAX_RETRIES="2",
        SCHEMA_SYSTEM_TEST_HOOKS="0",
    )
    [execution_id] = start(schema)

    wait_until(lambda: dlq_depth(system) >= 1, timeout=60, what="the message in the DLQ after the retries")
    time.sleep(1.5)  # a second copy (e.g. the rejected original dead-lettered too) would arrive by now
    assert dlq_depth(system) == 1, "exactly one dead letter per exhausted message"
    log = broken.log()
    assert "retry 1 in 1s" in log and "retry 2 in 2s" in log, log[-3000:]
    assert "retries exhausted" in log
    letter = json.loads(dlq_command("show", "0"))
    assert letter["args"] == [execution_id]
    assert "OperationalError" in letter["headers"]["x-schema-error"], letter["headers"]
    assert "OperationalError" in letter["reason"]
    assert Execution.objects.get(pk=execution_id).status == "pending"  # nothing ran, nothing lost

    # The database is back (a healthy worker), the operator requeues: the execution completes once.
    broken.stop()
    system.start_worker(concurrency=1)
    assert "Requeued 1 message" in dlq_command("requeue", "--all")
    wait_all([execution_id], "completed", timeout=30, what="the requeued execution")
    assert_nothing_twice([execution_id], expected_nodes=["start", "prepare", "note", "done"])
    print(f"\n[db unreachable] 2 retries (1s, 2s back-off) → DLQ → requeue → completed in {time.monotonic() - t0:.1f}s")


def _dead_letter_one_from(url: str, queue_name: str) -> None:
    """What RabbitMQ does to a message a worker rejects: dead-letters it, with `x-death` naming the queue."""
    from kombu import Connection, Queue

    with Connection(url, connect_timeout=5) as connection:
        message = Queue(queue_name, no_declare=True).bind(connection.default_channel).get(no_ack=False)
        assert message is not None, f"a message in {queue_name}"
        message.reject(requeue=False)


def _execution_ids_in(url: str, queue_name: str) -> set[str]:
    from kombu import Connection, Queue

    ids = set()
    with Connection(url, connect_timeout=5) as connection:
        queue = Queue(queue_name, no_declare=True).bind(connection.default_channel)
        while (message := queue.get(no_ack=True)) is not None:
            ids.add(message.decode()[0][0])
    return ids


@pytest.mark.timeout(60)
def test_requeue_sends_each_message_back_to_the_queue_it_died_in(system: SystemEnv) -> None:
    """A high-priority start must not go back behind the start backlog, nor a wake-up into the start
    queue: requeue follows `x-death`, or (an exhausted retry has none) what the execution is now."""
    from config.celery_app import app
    from executions_app.dispatch import publish_execution
    from executions_app.dlq import publish_dead_letter
    from executions_app.services import execution_create

    url = system.vhost.url
    urgent = {**quick_definition(), "settings": {"priority": 9}}
    high = start(make_schema(urgent, name="urgent"))[0]  # → the priority queue
    normal = start(make_schema(quick_definition()))[0]  # → the start queue
    started = execution_create(schema=make_schema(quick_definition()), trigger_type="manual", publish=False)[0]
    Execution.objects.filter(pk=started.pk).update(started_at=started.created_at)
    publish_execution(str(started.pk), wake_up=True)  # → the wake-up queue
    wait_until(
        lambda: [queue_counts(url, q)[0] for q in (PRIORITY_QUEUE, EXECUTION_QUEUE, WAKE_UP_QUEUE)] == [1, 1, 1],
        timeout=10,
        what="one message in each run queue",
    )
    for queue_name in (PRIORITY_QUEUE, EXECUTION_QUEUE, WAKE_UP_QUEUE):
        _dead_letter_one_from(url, queue_name)
    # Exhausted retries (no x-death): a high-priority start never published, and a timer's message.
    held = execution_create(schema=make_schema(urgent, name="urgent held"), trigger_type="manual", publish=False)[0]
    publish_dead_letter(app=app, task_name=TASK_RUN_EXECUTION, args=[str(held.pk)], kwargs={}, error="E1")
    publish_dead_letter(
        app=app, task_name=TASK_RUN_EXECUTION, args=[str(started.pk)], kwargs={"timer_id": 1}, error="E2"
    )
    wait_until(lambda: dlq_depth(system) == 5, timeout=10, what="five dead letters")

    out = dlq_command("requeue", "--all")
    assert f"2 to {PRIORITY_QUEUE}" in out and f"2 to {WAKE_UP_QUEUE}" in out and f"1 to {EXECUTION_QUEUE}" in out, out
    assert dlq_depth(system) == 0
    assert _execution_ids_in(url, PRIORITY_QUEUE) == {high, str(held.pk)}
    assert _execution_ids_in(url, EXECUTION_QUEUE) == {normal}
    assert _execution_ids_in(url, WAKE_UP_QUEUE) == {str(started.pk)}  # its wake-up and its timer's message
