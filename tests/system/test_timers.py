"""Durable timers with real workers: 200 delays across a graceful worker restart (each resumes exactly
once, lateness measured), a crash right after a wake-up, and cancel during a delay."""

from __future__ import annotations

import random
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Count
from django.utils import timezone

from executions_app.models import Execution, ExecutionStep, ExecutionTimer
from executions_app.reconciler import reconcile_once
from executions_app.services import execution_cancel
from tests.builders import edge, node
from tests.system.conftest import SystemEnv
from tests.system.helpers import (
    SYSTEM_MARKS,
    assert_nothing_twice,
    delay_definition,
    lateness_report,
    make_schema,
    start,
    start_each,
    statuses,
    wait_all,
    wait_until,
)
from tests.system.worker_hooks import CRASH_EXIT_CODE, CRASH_POINT

pytestmark = SYSTEM_MARKS

DELAY_NODES = ["start", "prepare", "wait", "after0", "done"]


def fired_once(ids: list[str]) -> None:
    timers = ExecutionTimer.objects.filter(execution_id__in=ids)
    twice = list(timers.filter(status="fired").values("execution_id").annotate(n=Count("id")).filter(n__gt=1))
    assert twice == [], f"an execution was woken twice: {twice[:5]}"
    assert timers.filter(status="fired").count() == len(ids)
    assert not timers.filter(status="scheduled").exists()


def fmt(report: dict[str, Any]) -> str:
    if not report.get("n"):
        return "n=0"
    return f"n={report['n']} p50={report['p50']:.0f}ms p99={report['p99']:.0f}ms max={report['max']:.0f}ms"


@pytest.mark.timeout(300)
def test_200_delays_across_a_graceful_worker_restart_each_resume_exactly_once(system: SystemEnv) -> None:
    t0 = time.monotonic()
    rng = random.Random(20240601)
    schema = make_schema(delay_definition("{{ trigger.seconds }}"))
    worker = system.start_worker(concurrency=4)
    payloads = [{"n": n, "seconds": round(rng.uniform(1, 3), 3)} for n in range(200)]
    ids = start_each(schema, payloads)
    created = time.monotonic() - t0

    # Stop the worker gracefully while most executions are still waiting on their timers.
    wait_until(lambda: statuses(ids).get("completed", 0) >= 40, timeout=60, what="40 executions to complete")
    down_from = timezone.now()
    waiting_at_stop = statuses(ids).get("paused", 0) + statuses(ids).get("running", 0)
    # Warm shutdown finishes the running walks and exits 0. It can take up to 30 s more: a pool process
    # whose last result the main process had not read when the shutdown began waits that long for it
    # (billiard's GUARANTEE_MESSAGE_CONSUMPTION_RETRY_LIMIT x _INTERVAL), then exits; seen here about
    # once in 20 runs (py-spy: the child in `Worker._ensure_messages_consumed`). Deployments allow for
    # it (Helm terminationGracePeriodSeconds 120, compose stop_grace_period 60s).
    stopping = time.monotonic()
    assert worker.stop(timeout=60) == 0, "warm shutdown exits cleanly"
    stop_seconds = time.monotonic() - stopping
    time.sleep(1.0)
    system.start_worker(concurrency=4)
    down_until = timezone.now()
    wait_all(ids, "completed", timeout=150, what="all 200 executions to complete")
    total = time.monotonic() - t0

    assert_nothing_twice(ids, expected_nodes=DELAY_NODES)
    fired_once(ids)
    system.assert_dlq_empty()
    # Each delay lasted at least what it asked for: the timer never fires early.
    early = [
        t
        for t in ExecutionTimer.objects.filter(execution_id__in=ids).values("fired_at", "due_at")
        if t["fired_at"] < t["due_at"]
    ]
    assert early == []
    overall = lateness_report(ids)
    timers = ExecutionTimer.objects.filter(execution_id__in=ids)

    def due(**lookup: Any) -> list[str]:
        return [str(i) for i in timers.filter(**lookup).values_list("execution_id", flat=True)]

    before, during = due(due_at__lt=down_from), due(due_at__range=(down_from, down_until))
    after = due(due_at__gt=down_until)
    print(
        f"\n[200 delays] created in {created:.1f}s, total {total:.1f}s; {waiting_at_stop} waiting when the worker "
        f"stopped; warm shutdown took {stop_seconds:.1f}s; "
        f"no worker for {(down_until - down_from).total_seconds():.1f}s\n"
        f"  timer lateness, all:                    {fmt(overall)}\n"
        f"  due before the stop (worker up):        {fmt(lateness_report(before))}\n"
        f"  due while no worker ran:                {fmt(lateness_report(during))}\n"
        f"  due after the restart (backlog ahead):  {fmt(lateness_report(after))}"
    )
    assert waiting_at_stop > 0 and during, "the restart happened while timers were pending"
    # Lateness here is dominated by the burst (200 starts and 200 wake-ups share one FIFO queue on a
    # 2-core machine) and by the restart gap; the bound catches timers held back or lost and fired
    # only by a reconciler (none runs here), not the sub-second precision of a single timer.
    assert overall["max"] < ((down_until - down_from).total_seconds() + 60) * 1000, fmt(overall)


@pytest.mark.timeout(120)
def test_timers_fire_on_time_when_the_worker_keeps_up(system: SystemEnv) -> None:
    """Staggered delays on an idle worker: lateness is the broker's whole-second granularity at most."""
    rng = random.Random(7)
    schema = make_schema(delay_definition("{{ trigger.seconds }}"))
    system.start_worker(concurrency=2)
    ids = []
    for n in range(20):
        ids += start_each(schema, [{"n": n, "seconds": round(rng.uniform(1, 3), 3)}])
        time.sleep(0.15)
    wait_all(ids, "completed", timeout=60, what="20 executions to complete")
    assert_nothing_twice(ids, expected_nodes=DELAY_NODES)
    fired_once(ids)
    report = lateness_report(ids)
    print(f"\n[20 staggered delays] timer lateness: {fmt(report)}")
    # Not a timing test (this box is shared and noisy; p99 ~1 s is typical): the bound only catches
    # timers held in worker memory or left to the reconciler, which made them 17-20 s late.
    assert report["p99"] < 5000, fmt(report)


@pytest.mark.timeout(120)
def test_crash_right_after_a_timer_fired_does_not_lose_the_wake_up(system: SystemEnv, tmp_path: Any) -> None:
    """The pool process dies after the timer fired but before the next checkpoint: the redelivered
    wake-up message must continue the execution (it used to be dropped as "timer already handled",
    leaving the execution paused forever)."""
    definition = {
        "nodes": [
            node("start", "manual_trigger"),
            node("wait", "delay", {"duration_seconds": 1}),
            node("boom", "log", {"level": "info", "message": f"{CRASH_POINT} {{{{ trigger.n }}}}"}),
            node("done", "end", {"output": "ok"}),
        ],
        "edges": [edge("start", "wait"), edge("wait", "boom"), edge("boom", "done")],
        "variables": {},
    }
    marker = tmp_path / "crashed"
    worker = system.start_worker(concurrency=1, SCHEMA_SYSTEST_CRASH_MARKER=str(marker))
    [execution_id] = start(make_schema(definition))
    wait_until(marker.exists, timeout=30, what="the crash after the wake-up")
    wait_all([execution_id], "completed", timeout=30, what="the execution to complete")
    assert f"exitcode {CRASH_EXIT_CODE}" in worker.log()
    assert_nothing_twice([execution_id], expected_nodes=["start", "wait", "boom", "done"])
    fired_once([execution_id])
    system.assert_dlq_empty()


@pytest.mark.timeout(120)
def test_cancel_during_a_delay_never_resumes(system: SystemEnv) -> None:
    schema = make_schema(delay_definition(2))
    system.start_worker(concurrency=1)
    [execution_id] = start(schema)
    wait_all([execution_id], "paused", timeout=30, what="the execution to pause at the delay")
    timer = ExecutionTimer.objects.get(execution_id=execution_id)
    assert timer.status == "scheduled"
    steps_before = list(ExecutionStep.objects.filter(execution_id=execution_id).values_list("node_id", flat=True))
    assert steps_before == ["start", "prepare"]

    execution_cancel(Execution.objects.get(pk=execution_id))
    timer.refresh_from_db()
    assert timer.status == "cancelled"

    # Past the due time: the timer's message reaches the worker and is dropped; a reconciler pass.
    wait_until(lambda: "timer-already-handled" in system.workers[0].log(), timeout=15, what="the stale wake-up message")
    wait_until(lambda: timezone.now() > timer.due_at + timedelta(seconds=2.1), timeout=10, what="the timer grace")
    assert not any(reconcile_once().values())
    time.sleep(0.5)
    execution = Execution.objects.get(pk=execution_id)
    assert execution.status == "cancelled"
    assert list(ExecutionStep.objects.filter(execution_id=execution_id).values_list("node_id", flat=True)) == [
        "start",
        "prepare",
    ]
    assert ExecutionTimer.objects.get(pk=timer.pk).status == "cancelled"
    assert ExecutionTimer.objects.filter(execution_id=execution_id).count() == 1
