"""The backup/restore drill on real PostgreSQL and RabbitMQ, with the operators' own scripts.

Executions are running (inside a slow HTTP call), paused in waits and in delays, and waiting on
timers; `compose/production/postgres/backup` takes a dump (the script the Helm CronJob runs). Then
life goes on: some finish, new ones start. The workers stop, the database is dropped and brought
back with `compose/production/postgres/restore`; `manage.py restore_check` reports what the broker
holds that the database does not know; workers and beat start. Expected: every execution of the
backup is in the state it had, resumes and completes once (each side effect again after the restore
with the idempotency key it had before, so a receiver can tell a replay — also when a worker is
killed in the middle of the recovery); timers fire once although
the broker still holds delayed messages from after the backup — also for an execution of the backup
that moved on to a second delay after it (that delay's stale timer message, and a wake-up without a
timer arriving while the restored execution waits there: one timer row per delay, no cancelled
copy); executions created after the backup are reported, not silently lost.

The drill runs on its own database (`<test database>_drill`), never on the test database itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count

from executions_app.dispatch import publish_execution
from executions_app.models import Execution, ExecutionStep, ExecutionTimer, TimerStatus
from executions_app.services import execution_resume
from tests.builders import chain, node
from tests.helpers.http_server import LocalServer
from tests.helpers.live_api import database_url
from tests.system.conftest import SystemEnv
from tests.system.helpers import (
    BASE_DIR,
    SYSTEM_MARKS,
    assert_nothing_twice,
    make_schema,
    start_each,
    wait_all,
    wait_until,
)

pytestmark = [*SYSTEM_MARKS, pytest.mark.timeout(420)]

SCRIPTS = BASE_DIR / "compose" / "production" / "postgres"
TWICE_LATER_SECONDS = 20
CHARGED = ["start", "prepare", "pause", "charge", "done"]


def paused_then_charged(url: str, *pauses: dict[str, Any]) -> dict[str, Any]:
    """trigger → set → `pauses` (delays or a wait) → POST url (a side effect) → end."""
    return chain(
        node("start", "manual_trigger"),
        node("prepare", "set", {"assignments": [{"name": "order", "value": "{{ trigger.n }}"}]}),
        *pauses,
        node(
            "charge",
            "http_request",
            {
                "method": "POST",
                "url": url,
                "body": {"order": "{{ vars.order }}"},
                "timeout_seconds": 30,
                "idempotency_header": "Idempotency-Key",
            },
        ),
        node("done", "end", {"output": "{{ vars.order }}"}),
    )


def charged_now(url: str) -> dict[str, Any]:
    """trigger → set → POST url → end: running while the call lasts."""
    return chain(
        node("start", "manual_trigger"),
        node("prepare", "set", {"assignments": [{"name": "order", "value": "{{ trigger.n }}"}]}),
        node(
            "charge",
            "http_request",
            {"method": "POST", "url": url, "timeout_seconds": 30, "idempotency_header": "Idempotency-Key"},
        ),
        node("done", "end", {"output": "{{ vars.order }}"}),
    )


def keys(server: LocalServer, since: int = 0) -> list[str]:
    """The idempotency keys of the side effects received (the HTTP node always sends one)."""
    return [r["headers"].get("Idempotency-Key", "") for r in server.requests[since:]]


def state_of(ids: list[str]) -> dict[str, tuple[str, int, str]]:
    """(status, steps recorded, node waited at) of each execution."""
    rows = Execution.objects.filter(pk__in=ids).annotate(recorded=Count("steps"))
    return {str(e.pk): (e.status, e.recorded, e.state.wait_kind) for e in rows.select_related("state")}


def run(cmd: list[str], env: dict[str, str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture
def drill_database(system: SystemEnv) -> Iterator[str]:
    """A database of its own for the drill, migrated, and this process's ORM pointed at it."""
    test_name = connection.settings_dict["NAME"]
    name = f"{test_name}_drill"
    url = database_url().rsplit("/", 1)[0] + f"/{name}"
    admin = database_url().rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["dropdb", "--if-exists", "--force", f"--maintenance-db={admin}", name], check=True, timeout=60)
    subprocess.run(["createdb", f"--maintenance-db={admin}", name], check=True, timeout=60)
    env = system.worker_env(DATABASE_URL=url)
    run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env, timeout=300)
    connection.close()
    connection.settings_dict["NAME"] = name
    try:
        yield url
    finally:
        connection.close()
        connection.settings_dict["NAME"] = test_name
        subprocess.run(["dropdb", "--if-exists", "--force", f"--maintenance-db={admin}", name], timeout=60, check=False)


BEAT_COMMAND = [
    sys.executable, "-m", "celery", "-A", "config.celery_app", "beat", "-l", "INFO",
    "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler",
]  # fmt: skip


def start_beat(system: SystemEnv, url: str) -> subprocess.Popen[bytes]:
    """`celery beat` as production starts it (compose/production/django/celery/beat/start)."""
    schedule = Path(tempfile.mkdtemp(prefix="schema-drill-beat-")) / "schedule"
    env = system.worker_env(DATABASE_URL=url, SCHEMA_RECONCILE_INTERVAL_SECONDS="2")
    with open(system.log_dir / "beat.log", "ab") as log:
        return subprocess.Popen(
            [*BEAT_COMMAND, "-s", str(schedule)],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def restore_check(system: SystemEnv, url: str) -> tuple[int, dict[str, Any]]:
    env = system.worker_env(DATABASE_URL=url)
    result = subprocess.run(
        [sys.executable, "manage.py", "restore_check", "--json"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1) and result.stdout.strip(), result.stderr
    return result.returncode, json.loads(result.stdout)


def test_backup_drop_restore_resumes_every_execution_once_and_reports_the_newer_ones(
    system: SystemEnv, drill_database: str, tmp_path: Path
) -> None:
    url = drill_database
    charges, slow = LocalServer("127.0.0.1", "charges"), LocalServer("127.0.0.1", "slow")
    slow.delay = 8.0
    beat: subprocess.Popen[bytes] | None = None
    try:
        charge_url, slow_url = charges.url("/charge"), slow.url("/charge")
        worker = system.start_worker(concurrency=3, DATABASE_URL=url)
        waits = make_schema(paused_then_charged(charge_url, node("pause", "wait", {})), "waits")
        soon = make_schema(paused_then_charged(charge_url, node("pause", "delay", {"duration_seconds": 6})), "soon")
        late = make_schema(paused_then_charged(charge_url, node("pause", "delay", {"duration_seconds": 40})), "late")
        # Two delays in a row: the first ends after the backup and the second's timer row and delayed
        # message exist only in the lost timeline; that message arrives after the restore.
        twice = make_schema(
            paused_then_charged(
                charge_url,
                node("pause", "delay", {"duration_seconds": 6}),
                node("later", "delay", {"duration_seconds": TWICE_LATER_SECONDS}),
            ),
            "twice",
        )
        busy = make_schema(charged_now(slow_url), "busy")

        # --- before the backup: paused in waits, waiting on timers, running inside a call ---------
        wait_ids = start_each(waits, [{"n": 1}, {"n": 2}])
        soon_ids = start_each(soon, [{"n": 3}, {"n": 4}])  # their timers fire after the backup
        late_ids = start_each(late, [{"n": 5}, {"n": 6}])  # theirs only after the restore
        twice_ids = start_each(twice, [{"n": 10}])  # its first fires after the backup, its second after the restore
        wait_all(wait_ids + soon_ids + late_ids + twice_ids, "paused", timeout=60)
        running_ids = start_each(busy, [{"n": 7}])
        wait_until(lambda: len(slow.requests) == 1, timeout=30, what="the slow call to start")
        backup_ids = wait_ids + soon_ids + late_ids + twice_ids + running_ids
        delayed_ids = soon_ids + late_ids + twice_ids
        at_backup = state_of(backup_ids)
        assert {s for s, _, _ in at_backup.values()} == {"paused", "running"}

        dump = run(
            ["bash", str(SCRIPTS / "backup")], {**os.environ, "DATABASE_URL": url, "BACKUP_DIR": str(tmp_path)}
        ).stdout.strip()
        assert Path(dump).name.startswith("schema-") and Path(dump).stat().st_size > 0

        # --- after the backup: some finish, new ones start ----------------------------------------
        execution_resume(Execution.objects.get(pk=wait_ids[0]), payload={"ok": True})
        newer_late = start_each(late, [{"n": 8}])  # a delayed message the restored database never saw
        newer_wait = start_each(waits, [{"n": 9}])  # leaves no trace in the broker at all
        finished_after_backup = [wait_ids[0], *soon_ids, *running_ids]
        wait_all(finished_after_backup, "completed", timeout=60)
        wait_all(newer_late + newer_wait, "paused", timeout=30)
        wait_until(
            lambda: ExecutionTimer.objects.filter(execution_id__in=twice_ids, node_id="later").exists(),
            timeout=30,
            what="the second delay's timer (its message waits in the broker)",
        )
        wait_all(twice_ids, "paused", timeout=30)
        stale_timer = ExecutionTimer.objects.get(execution_id__in=twice_ids, node_id="later").pk
        keys_before_restore = {k.split(":")[0]: k for k in keys(charges) + keys(slow)}
        assert set(keys_before_restore) == set(finished_after_backup)

        # --- disaster: stop the workers, drop the database, restore it ---------------------------
        worker.kill9()  # the disaster takes the workers with it
        connection.close()
        admin = url.rsplit("/", 1)[0] + "/postgres"
        name = url.rsplit("/", 1)[1]
        subprocess.run(["dropdb", "--force", f"--maintenance-db={admin}", name], check=True, timeout=60)
        run(["bash", str(SCRIPTS / "restore"), dump], {**os.environ, "DATABASE_URL": url})

        assert state_of(backup_ids) == at_backup, "the restore brings back every execution as it was"
        assert not Execution.objects.filter(pk__in=newer_late + newer_wait).exists()

        code, report = restore_check(system, url)
        assert code == 1 and report["broker_checked"]
        unknown = {m["execution_id"] for m in report["unknown_executions"]}
        assert unknown == set(newer_late), "the execution created after the backup and still in the broker"
        overdue = {t["execution_id"] for t in report["overdue_timers"]}
        assert set(soon_ids + twice_ids) <= overdue <= set(delayed_ids), "fired after the backup: overdue now"
        foreign = {(m["execution_id"], m["timer_id"]) for m in report["foreign_timers"]}
        assert foreign == {(twice_ids[0], stale_timer)}, "the second delay's wake-up names a timer the dump lacks"
        stuck = {e["execution_id"]: e["status"] for e in report["stuck_executions"]}
        assert stuck == dict.fromkeys(running_ids, "running")

        # --- back to work: workers and beat; the operator resumes the waits again ----------------
        since_charges, since_slow = len(charges.requests), len(slow.requests)
        slow.delay = 3.0
        restarted = system.start_worker(concurrency=3, DATABASE_URL=url)
        beat = start_beat(system, url)
        for execution_id in wait_ids:
            execution_resume(Execution.objects.get(pk=execution_id), payload={"ok": True})
        # A kill in the middle of the recovery: the running execution is inside its call again.
        wait_until(lambda: len(slow.requests) > since_slow, timeout=60, what="the running execution's call again")
        restarted.kill9()
        slow.delay = 0.0
        system.start_worker(concurrency=3, DATABASE_URL=url)
        # The restored execution waits at its second delay again, on a timer row of the new timeline.
        # Besides that delay's stale timer message, the lost timeline may have left a wake-up without
        # a timer for it (the reconciler's or a busy walk's): it arrives now, while nothing is due.
        wait_until(
            lambda: ExecutionTimer.objects.filter(
                execution_id__in=twice_ids, node_id="later", status=TimerStatus.SCHEDULED
            ).exists(),
            timeout=60,
            what="the restored execution at its second delay",
        )
        publish_execution(twice_ids[0], wake_up=True)
        wait_all(backup_ids, "completed", timeout=120, what="every execution of the backup")

        assert_nothing_twice(backup_ids)
        for execution_id in backup_ids:
            nodes = list(
                ExecutionStep.objects.filter(execution_id=execution_id, status="success")
                .order_by("seq")
                .values_list("node_id", flat=True)
            )
            expected = ["start", "prepare", "charge", "done"] if execution_id in running_ids else CHARGED
            if execution_id in twice_ids:
                expected = ["start", "prepare", "pause", "later", "charge", "done"]
            assert nodes == expected, f"{execution_id}: {nodes}"
        timers = ExecutionTimer.objects.filter(execution_id__in=delayed_ids)
        rows = sorted(timers.values_list("execution_id", "node_id", "status"))
        expected_rows = sorted(
            [(e, "pause", TimerStatus.FIRED) for e in map(uuid.UUID, delayed_ids)]
            + [(e, "later", TimerStatus.FIRED) for e in map(uuid.UUID, twice_ids)]
        )
        assert rows == expected_rows, "one timer row per delay, each fired once"

        # After the restore every side effect happened again under the key it had before (a replay a
        # receiver can recognise): once, or twice for the call the kill interrupted, never a new key.
        after = keys(charges, since_charges) + keys(slow, since_slow)
        assert {k.split(":")[0] for k in after} == set(backup_ids)
        assert sorted(k.split(":")[0] for k in keys(charges, since_charges)) == sorted(wait_ids + delayed_ids)
        assert 1 <= len(keys(slow, since_slow)) <= 2
        for key in after:
            execution_id = key.split(":")[0]
            assert key == keys_before_restore.get(execution_id, f"{execution_id}:charge:1")

        # The newer execution's delayed message arrives and is dropped; then nothing is left to report.
        def clean() -> bool:
            return restore_check(system, url)[0] == 0

        wait_until(clean, timeout=90, interval=3, what="restore_check to find nothing (the stale message consumed)")
        assert not Execution.objects.filter(pk__in=newer_late).exists()
        system.assert_dlq_empty()
    finally:
        if beat is not None and beat.poll() is None:
            os.killpg(beat.pid, 9)
            beat.wait(timeout=30)
        charges.close()
        slow.close()


def test_restore_check_reads_the_run_queue_without_consuming_or_counting_deliveries(system: SystemEnv) -> None:
    """Each check takes every message of the run queue once, puts an identical fresh copy back and
    acknowledges the one it took: the queue keeps them all, and no check counts towards the
    quorum queue's delivery limit (three returns would have dead-lettered them)."""
    from config.queues import EXECUTION_QUEUE
    from executions_app.dispatch import publish_execution
    from executions_app.restore_check import broker_messages
    from tests.system.helpers import queue_counts

    ids = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(3)]
    for execution_id in ids:
        publish_execution(execution_id)
    wait_until(lambda: queue_counts(system.vhost.url, EXECUTION_QUEUE)[0] == 3, timeout=10, what="3 messages")
    for _ in range(4):  # more checks than the delivery limit
        found = broker_messages(system.vhost.url)
        assert sorted(m.execution_id for m in found) == ids
        assert {m.queue for m in found} == {EXECUTION_QUEUE}
    assert queue_counts(system.vhost.url, EXECUTION_QUEUE)[0] == 3
    system.assert_dlq_empty()
