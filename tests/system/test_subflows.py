"""for_each on real workers. Killed with SIGKILL mid-loop, or RabbitMQ restarted while ~100 children
run: each item's child execution is started once, each child's side effect is recorded once (a call
cut off is repeated only with its own idempotency key), each child's end wakes the parent once, and
the parent completes with every result in item order. A parent cancelled while ~50 children run:
every child is cancelled, none starts a step after it, nothing is left running or scheduled."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from django.utils import timezone

from config.queues import EXECUTION_QUEUE, WAKE_UP_QUEUE
from executions_app.models import Execution, ExecutionStep, ExecutionTimer
from executions_app.reconciler import reconcile_once
from executions_app.services import execution_cancel
from tests.builders import chain, node
from tests.helpers.http_server import LocalServer
from tests.system.conftest import SystemEnv
from tests.system.helpers import (
    SYSTEM_MARKS,
    assert_nothing_twice,
    make_schema,
    queue_counts,
    reset_publisher,
    start,
    statuses,
    wait_all,
    wait_until,
)

pytestmark = SYSTEM_MARKS
ITEMS = 40


def per_item_definition(server: LocalServer) -> dict[str, Any]:
    """trigger → http_request (side effect, per item) → end (the item's index)."""
    charge = {
        "method": "POST",
        "url": server.url("/charge") + "?item={{ trigger.index }}",
        "timeout_seconds": 30,
        "idempotency_header": "Idempotency-Key",
    }
    return chain(
        node("start", "manual_trigger"),
        node("charge", "http_request", charge),
        node("done", "end", {"output": "{{ trigger.index }}"}),
    )


@pytest.mark.timeout(300)
def test_kill_9_mid_for_each_starts_and_charges_every_item_once(system: SystemEnv, slow_server: LocalServer) -> None:
    slow_server.delay = 0.3
    child_schema = make_schema(per_item_definition(slow_server), name="per item")
    loop = {"items": list(range(ITEMS)), "schema_id": str(child_schema.pk), "concurrency": 5}
    parent_schema = make_schema(
        chain(node("start", "manual_trigger"), node("loop", "for_each", loop), node("done", "end")), name="loop"
    )
    worker = system.start_worker(concurrency=2)
    [parent_id] = start(parent_schema)

    def children() -> Any:
        return Execution.objects.filter(parent_execution_id=parent_id)

    wait_until(lambda: children().filter(status="completed").count() >= 8, timeout=60, what="8 items to finish")
    worker.kill9()
    time.sleep(1.0)
    system.start_worker(concurrency=2)
    wait_all([parent_id], "completed", "failed", timeout=180, what="the for_each to finish")

    parent = Execution.objects.get(pk=parent_id)
    assert parent.status == "completed", parent.error
    assert parent.result == list(range(ITEMS))
    child_ids = [str(pk) for pk in children().values_list("pk", flat=True)]
    assert len(child_ids) == ITEMS  # no item started twice
    assert sorted(children().values_list("parent_key", flat=True)) == sorted(f"loop:1:{n}" for n in range(ITEMS))
    assert set(children().values_list("status", flat=True)) == {"completed"}
    assert_nothing_twice([parent_id, *child_ids])
    charged = ExecutionStep.objects.filter(execution_id__in=child_ids, node_id="charge", status="success")
    assert charged.count() == ITEMS  # every item's side effect recorded once
    keys = Counter(r["headers"].get("Idempotency-Key", "") for r in slow_server.requests)
    assert len(keys) == ITEMS and max(keys.values()) <= 2, keys  # a repeat only with its own key
    assert sum(1 for s in ExecutionStep.objects.filter(execution_id=parent_id, node_id="loop")) == 1
    system.assert_dlq_empty()


def _loop_schema(child_schema: Any, items: int, concurrency: int) -> Any:
    loop = {"items": "{{ range(trigger.n) | list }}", "schema_id": str(child_schema.pk), "concurrency": concurrency}
    return make_schema(
        chain(node("start", "manual_trigger"), node("loop", "for_each", loop), node("done", "end")), name="loop"
    )


@pytest.mark.timeout(300)
def test_rabbitmq_restart_while_100_children_run_completes_every_item_once(
    system: SystemEnv, slow_server: LocalServer
) -> None:
    items = 100
    slow_server.delay = 0.5
    child_schema = make_schema(per_item_definition(slow_server), name="per item")
    parent_schema = _loop_schema(child_schema, items, concurrency=100)
    system.start_worker(concurrency=4)
    [parent_id] = start(parent_schema, payload={"n": items})

    def children() -> Any:
        return Execution.objects.filter(parent_execution_id=parent_id)

    wait_until(lambda: children().count() == items, timeout=60, what="the 100 children to be started")
    wait_until(lambda: children().filter(status="completed").count() >= 5, timeout=60, what="5 items to finish")
    in_flight = statuses(str(pk) for pk in children().values_list("pk", flat=True))
    t0 = time.monotonic()
    system.services.restart_rabbitmq()
    restart_seconds = time.monotonic() - t0
    reset_publisher()  # this process (the reconciler here) lost its pooled connections too

    # The reconciler runs as beat would (every 2 s): it re-publishes what the restart lost.
    deadline = time.monotonic() + 200
    reconciled: Counter[str] = Counter()
    while Execution.objects.get(pk=parent_id).status not in ("completed", "failed", "cancelled"):
        assert time.monotonic() < deadline, (
            f"parent not finished; children {statuses(map(str, children().values_list('pk', flat=True)))}"
        )
        reconciled.update(reconcile_once())
        time.sleep(2)

    parent = Execution.objects.get(pk=parent_id)
    assert parent.status == "completed", parent.error
    assert parent.result == list(range(items))
    child_ids = [str(pk) for pk in children().values_list("pk", flat=True)]
    assert sorted(children().values_list("parent_key", flat=True)) == sorted(f"loop:1:{n}" for n in range(items))
    assert set(children().values_list("status", flat=True)) == {"completed"}
    assert_nothing_twice([parent_id, *child_ids])
    charged = ExecutionStep.objects.filter(execution_id__in=child_ids, node_id="charge", status="success")
    assert charged.count() == items  # every item's side effect recorded once
    keys = Counter(r["headers"].get("Idempotency-Key", "") for r in slow_server.requests)
    assert len(keys) == items and max(keys.values()) <= 2, keys  # a repeat only with its own key
    # Each child's end woke the parent once (one `child` timer per child, all fired).
    wakes = ExecutionTimer.objects.filter(execution_id=parent_id, reason="child")
    assert wakes.count() == items and set(wakes.values_list("status", flat=True)) == {"fired"}
    assert ExecutionStep.objects.filter(execution_id=parent_id, node_id="loop").count() == 1
    system.assert_dlq_empty()
    print(
        f"\n[for_each + rabbitmq restart] restart {restart_seconds:.1f}s with children {in_flight}; "
        f"reconciler re-published {dict(reconciled)}; parent completed {time.monotonic() - t0:.1f}s after the restart"
    )


@pytest.mark.timeout(240)
def test_cancelling_a_parent_with_50_running_children_leaves_nothing_running(
    system: SystemEnv, slow_server: LocalServer
) -> None:
    items = 50
    slow_server.delay = 1.0
    child = chain(
        node("start", "manual_trigger"),
        node("charge", "http_request", {"method": "POST", "url": slow_server.url("/charge"), "timeout_seconds": 30}),
        node("cool", "delay", {"duration_seconds": 30}),
        node("done", "end", {"output": "{{ trigger.index }}"}),
    )
    parent_schema = _loop_schema(make_schema(child, name="per item"), items, concurrency=50)
    system.start_worker(concurrency=4)
    [parent_id] = start(parent_schema, payload={"n": items})

    def children() -> Any:
        return Execution.objects.filter(parent_execution_id=parent_id)

    wait_until(lambda: children().count() == items, timeout=60, what="the 50 children to be started")
    wait_until(lambda: children().filter(status="paused").count() >= 4, timeout=60, what="children in their delay")
    before = statuses(str(pk) for pk in children().values_list("pk", flat=True))
    execution_cancel(Execution.objects.get(pk=parent_id))
    cancelled_at = time.monotonic()

    child_ids = [str(pk) for pk in children().values_list("pk", flat=True)]
    wait_until(lambda: statuses(child_ids) == {"cancelled": items}, timeout=30, what="every child to be cancelled")
    # The walks that were in a call when the cancel came finish that call and stop: wait for the
    # queues to drain and the workers to let go of every execution, then look again.
    wait_until(
        lambda: (
            queue_counts(system.vhost.url, EXECUTION_QUEUE)[0] == 0
            and queue_counts(system.vhost.url, WAKE_UP_QUEUE)[0] == 0
            and not Execution.objects.filter(
                pk__in=[parent_id, *child_ids], lease_expires_at__gte=timezone.now()
            ).exists()
        ),
        timeout=60,
        what="the queues to drain and every lease to be released",
    )
    time.sleep(2)
    reconcile_once()  # beat's pass finds nothing to re-publish
    time.sleep(2)
    assert Execution.objects.get(pk=parent_id).status == "cancelled"
    assert statuses(child_ids) == {"cancelled": items}
    assert children().count() == items  # no item started after the cancel
    assert not ExecutionTimer.objects.filter(execution_id__in=child_ids, status="scheduled").exists()
    assert not ExecutionStep.objects.filter(execution_id__in=child_ids, node_id__in=["cool", "done"]).exists()
    calls_then = len(slow_server.requests)
    time.sleep(2)
    assert len(slow_server.requests) == calls_then  # no call made after everything stopped
    assert_nothing_twice([parent_id, *child_ids])
    system.assert_dlq_empty()
    print(
        f"\n[cancel parent] children before the cancel {before}; all 50 cancelled, nothing left running, "
        f"{time.monotonic() - cancelled_at:.1f}s after the cancel (queues drained, leases released)"
    )
