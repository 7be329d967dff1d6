"""`make bench-timers`: 10,000 delays due over 60 s — lateness p50/p99/max, none lost or doubled.
`make bench` (the figure "timers under a start backlog"): 1,000 delays due over 20 s while 5,000 new
executions are queued (`--backlog 5000`).

    .venv/bin/python bench/timers.py [--timers 10000] [--spread 60] [--lead 20] [--backlog 0]

Own database `schema_bench_timers` and vhost `schema_bench` (both recreated), production settings,
the real Celery worker (same layout as `make bench`). The schema is webhook → delay (until
`{{ trigger.due }}`) → set. One execution is walked in-process up to its pause to get a real
checkpoint; 10,000 paused copies of it (due times spread evenly over `--spread` seconds, starting
`--lead` seconds from now) are bulk-copied in with their `execution_timers` rows, and each timer's
message is published exactly as the store does after the pause commits (`publish_execution` with
the timer id and ETA → RabbitMQ's celery_delayed_* queues). The worker fires each timer once
(conditional UPDATE, `lateness_ms` stored), resumes the walk and completes the execution.
Checks: every timer fired exactly once, every execution completed with 3 steps (seq 1..3), one
"execution completed" log line each. Writes bench/results/<name>-<time>.json, <name>-latest.*.

With `--backlog N`: N pending executions of webhook → set are bulk-copied in as well and their start
messages published (to `schema_execution_queue`, as a trigger does) after the timer messages. The
worker runs from before the publishing, but its consumer of the start queue is cancelled first
(Celery's remote control) and added back `--head-start` seconds (default 1) before the first timer
is due: however fast or slow the machine, the whole backlog is queued when the timers begin to fall
due. Reported: lateness, and how many starts were still queued when the first and the last timer
were due (the figure means something only if that backlog was there).

With `--wakeup-workers N`: N more workers that consume only `schema_execution_wakeup_queue` (the
deployment option "a worker for wake-ups": capacity kept for timers, resumes and retries that a
backlog of starts cannot take), each with the same pool and concurrency.
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import copy
import json
import os
import socket
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    RESULTS,
    VHOST,
    WORK,
    Proc,
    app_env,
    log,
    machine_info,
    queue_depths,
    rabbitmqctl,
    recreate_database,
    recreate_vhost,
    write_json,
)
from bench.loadgen import percentile

DB = "schema_bench_timers"
TARGET_P99_MS = 1000  # issue 20: lateness p99 < 1 s with 10,000 timers due over 60 s


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument(
        "--lead", type=float, default=None, help="seconds before the first due time (default: publishing time + 30 s)"
    )
    parser.add_argument("--grace", type=float, default=300.0, help="seconds after the last due time to wait")
    parser.add_argument("--name", default=None, help="results file prefix (timers, or timers-backlog)")
    parser.add_argument("--backlog", type=int, default=0, help="new executions queued before the timers fall due")
    parser.add_argument(
        "--head-start", type=float, default=1.0, help="seconds the worker takes starts before the first due time"
    )
    parser.add_argument("--wakeup-workers", type=int, default=0, help="workers consuming only the wake-up queue")
    return parser.parse_args()


args = parse_args()
LOAD_AT_START = os.getloadavg()  # machine_info() runs at the end
args.name = args.name or ("timers-backlog" if args.backlog else "timers")
WORK.mkdir(parents=True, exist_ok=True)
log(f"recreating database {DB} and vhost")
DATABASE_URL = recreate_database(DB)
recreate_vhost()
ENV = app_env(DATABASE_URL, DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1", LOG_LEVEL="INFO")
os.environ.update(ENV)

import django

django.setup()

from django.core.management import call_command
from django.db import OperationalError, connection
from kombu.transport.native_delayed_delivery import (
    bind_queue_to_native_delayed_delivery_exchange,
    declare_native_delayed_delivery_exchanges_and_queues,
)

from bench.run import WORKER_CONCURRENCY, WORKER_POOL, celery_argv, proc_env, wait_worker
from config.celery_app import app as celery_app
from config.queues import EXECUTION_QUEUE, RUN_QUEUES, WAKE_UP_QUEUE, declare_topology
from engine.store import waiting_entries
from executions_app.dispatch import publish_execution
from executions_app.models import Execution, ExecutionState, ExecutionTimer, TriggerType
from executions_app.runner import execution_run
from schemas_app.models import SchemaVersion
from schemas_app.services import schema_activate, schema_create

DEFINITION = {
    "nodes": [
        {"id": "hook", "type": "webhook_trigger", "name": "Webhook", "config": {}, "position": {"x": 0, "y": 0}},
        {"id": "wait", "type": "delay", "name": "Delay", "config": {"until": "{{ trigger.due }}"},
         "position": {"x": 200, "y": 0}},
        {"id": "done", "type": "set", "name": "Done", "config": {"assignments": [{"name": "done", "value": True}]},
         "position": {"x": 400, "y": 0}},
    ],
    "edges": [
        {"id": "e1", "source": "hook", "target": "wait", "source_port": "out"},
        {"id": "e2", "source": "wait", "target": "done", "source_port": "out"},
    ],
    "variables": {},
}  # fmt: skip
STEPS = 3
BACKLOG_DEFINITION = {
    "nodes": [
        {"id": "hook", "type": "webhook_trigger", "name": "Webhook", "config": {}, "position": {"x": 0, "y": 0}},
        {"id": "done", "type": "set", "name": "Done", "config": {"assignments": [{"name": "done", "value": True}]},
         "position": {"x": 200, "y": 0}},
    ],
    "edges": [{"id": "e1", "source": "hook", "target": "done", "source_port": "out"}],
    "variables": {},
}  # fmt: skip
BACKLOG_STEPS = 2

call_command("migrate", verbosity=0)
schema = schema_activate(schema_create(name="timers", definition=DEFINITION))
version = SchemaVersion.objects.get(schema=schema, version=schema.version)

# --- one real execution walked to its pause: the template -----------------------------------------
template_due = datetime.now(UTC) + timedelta(hours=1)
template = Execution.objects.create(
    schema=schema, schema_version=version, trigger_type=TriggerType.WEBHOOK, trigger_payload={"due": "x"}
)
ExecutionState.objects.create(execution=template, context={}, checkpoint={})
Execution.objects.filter(pk=template.pk).update(trigger_payload={"due": template_due.isoformat()})
from unittest import mock

with mock.patch("executions_app.timers.transaction.on_commit"):  # the template's own timer is not sent
    assert execution_run(str(template.pk), worker_id="bench-template") == "paused"
state = ExecutionState.objects.get(pk=template.pk)
checkpoint_template = state.checkpoint
assert [w["kind"] for w in waiting_entries(checkpoint_template)] == ["delay"], checkpoint_template
first_step = list(template.steps.values("node_id", "node_type", "input", "output", "status", "seq", "attempt"))
assert len(first_step) == 1, first_step
Execution.objects.filter(pk=template.pk).delete()

# --- 10,000 paused copies + their timers (COPY) ---------------------------------------------------
t_start = datetime.now(UTC)
if args.lead is None:  # the setup publishes ~150 messages/s here; every message must be out before it is due
    args.lead = 30 + (args.timers + args.backlog) / 120 + (30 if args.backlog else 0)  # + the worker's start
first_due = t_start + timedelta(seconds=args.lead)
rows = []
for i in range(args.timers):
    due = first_due + timedelta(seconds=args.spread * i / max(args.timers - 1, 1))
    rows.append((str(uuid.uuid4()), due))
log(f"copying {args.timers} paused executions with timers due {first_due:%H:%M:%S} .. {rows[-1][1]:%H:%M:%S}")
raw = connection.cursor().connection  # the psycopg connection under Django's wrapper
now = datetime.now(UTC)
with raw.cursor() as cur:
    with cur.copy(
        "COPY executions (id, schema_id, schema_version_id, status, trigger_type, trigger_payload, created_at,"
        " started_at, request_id, lease_owner) FROM STDIN"
    ) as cp:
        for execution_id, due in rows:
            cp.write_row((execution_id, str(schema.pk), version.pk, "paused", "webhook",
                          json.dumps({"due": due.isoformat()}), now, now, "", ""))  # fmt: skip
    with cur.copy(
        "COPY execution_state (execution_id, current_node_id, context, updated_at, checkpoint, wait_kind, resume_at)"
        " FROM STDIN"
    ) as cp:
        for execution_id, due in rows:
            checkpoint = copy.deepcopy(checkpoint_template)
            [waiting] = waiting_entries(checkpoint)  # the same dict, in either checkpoint version
            waiting["resume_at"] = due.isoformat()
            waiting["output"] = {"resume_at": due.isoformat()}
            checkpoint["outputs"]["hook"] = {"due": due.isoformat()}
            cp.write_row((execution_id, "wait", json.dumps(checkpoint.get("vars", {})), now,
                          json.dumps(checkpoint), "delay", due))  # fmt: skip
    with cur.copy(
        "COPY execution_steps (execution_id, node_id, node_type, input, output, status, seq, attempt, started_at,"
        " finished_at) FROM STDIN"
    ) as cp:
        s = first_step[0]
        for execution_id, due in rows:
            payload = json.dumps({"due": due.isoformat()})
            cp.write_row((execution_id, s["node_id"], s["node_type"], payload, payload, s["status"], 1, 1, now, now))
    with cur.copy("COPY execution_timers (execution_id, due_at, reason, node_id, status, created_at) FROM STDIN") as cp:
        for execution_id, due in rows:
            cp.write_row((execution_id, due, "delay", "wait", "scheduled", now))
    backlog_ids = [str(uuid.uuid4()) for _ in range(args.backlog)]
    if backlog_ids:
        backlog_schema = schema_activate(schema_create(name="backlog", definition=BACKLOG_DEFINITION))
        backlog_version = SchemaVersion.objects.get(schema=backlog_schema, version=backlog_schema.version)
        with cur.copy(
            "COPY executions (id, schema_id, schema_version_id, status, trigger_type, trigger_payload, created_at,"
            " request_id, lease_owner) FROM STDIN"
        ) as cp:
            for execution_id in backlog_ids:
                cp.write_row((execution_id, str(backlog_schema.pk), backlog_version.pk, "pending", "webhook",
                              json.dumps({"n": 1}), now, "", ""))  # fmt: skip
        with cur.copy(
            "COPY execution_state (execution_id, current_node_id, context, updated_at, checkpoint, wait_kind)"
            " FROM STDIN"
        ) as cp:
            for execution_id in backlog_ids:
                cp.write_row((execution_id, "", "{}", now, "{}", ""))
raw.commit()
timer_ids = dict(ExecutionTimer.objects.values_list("execution_id", "id"))
connection.close()

# --- the worker -----------------------------------------------------------------------------------
env = proc_env({**ENV, "WORKER_METRICS_PORT": "9197"}, 0, "timers")


WORKER_NAME = f"timers@{socket.gethostname()}"  # celery_argv's `-n timers@%h`


def start_worker() -> Proc:
    started = Proc("timers-worker", celery_argv("config.celery_app", EXECUTION_QUEUE, "timers"), env)
    wait_worker(started, EXECUTION_QUEUE)
    worker_ready["before_first_due_s"] = round((first_due - datetime.now(UTC)).total_seconds(), 1)
    log(f"  worker consuming {worker_ready['before_first_due_s']} s before the first due time")
    return started


def start_wakeup_workers() -> list[Proc]:
    started = []
    for n in range(args.wakeup_workers):
        name = f"timers-wakeups{n}"
        started.append(Proc(name, celery_argv("config.celery_app", WAKE_UP_QUEUE, name), {**env,
                       "WORKER_METRICS_PORT": str(9198 + n)}))  # fmt: skip
    for proc in started:
        wait_worker(proc, WAKE_UP_QUEUE)
    return started


def starts_consumed(on: bool) -> None:
    """The timers worker's consumer of the start queue, cancelled or added back (remote control)."""
    if on:
        replies = celery_app.control.add_consumer(EXECUTION_QUEUE, destination=[WORKER_NAME], reply=True, timeout=30)
    else:
        replies = celery_app.control.cancel_consumer(EXECUTION_QUEUE, destination=[WORKER_NAME], reply=True, timeout=30)
    if not replies:
        raise RuntimeError(f"the worker did not answer {'add' if on else 'cancel'}_consumer")
    log(f"  start queue {'consumed again' if on else 'not consumed'}: {replies}")


worker_ready: dict[str, float] = {}


def publish(row: tuple[str, datetime]) -> None:
    publish_execution(row[0], eta=row[1], timer_id=timer_ids[uuid.UUID(row[0])])


def publish_all() -> float:
    """Timer messages (ETA = due time), then the backlog's start messages; returns the seconds taken."""
    log(f"publishing {args.timers} timer messages (ETA = due time) and {args.backlog} start messages")
    t_pub = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(publish, rows))
        list(pool.map(publish_execution, backlog_ids))
    seconds = time.perf_counter() - t_pub
    late_for_publish = (datetime.now(UTC) - first_due).total_seconds()
    log(f"  published in {seconds:.1f}s ({'after' if late_for_publish > 0 else 'before'} the first due time)")
    return seconds


backlog_at: dict[str, int | None] = {"first_due": None, "last_due": None}
# Once timers fall due, each second: how many are due and not fired, and where their messages can be —
# in the wake-up queue (ready: no worker slot took them yet; unacknowledged: taken, running or
# reserved) or, if neither, still in the broker's delay queues. Separates a busy worker from a slow
# delay ladder. (RabbitMQ's counters lag by up to its stats interval, ~5 s.)
samples: list[dict[str, float]] = []


def sample_where_due_timers_wait(due_unfired: int) -> None:
    out = rabbitmqctl("list_queues", "-p", VHOST, "name", "messages_ready", "messages_unacknowledged")
    ready = unacked = starts = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            if parts[0] == WAKE_UP_QUEUE:
                ready, unacked = int(parts[1]), int(parts[2])
            elif parts[0] == EXECUTION_QUEUE:
                starts = int(parts[1])
    samples.append({
        "s_after_first_due": round((datetime.now(UTC) - first_due).total_seconds(), 1),
        "due_not_fired": due_unfired, "wakeups_ready": ready, "wakeups_unacked": unacked, "starts_ready": starts,
    })  # fmt: skip


worker: Proc | None = None
wakeup_workers: list[Proc] = []
try:
    if args.backlog:
        with celery_app.connection_for_write() as broker:
            declare_topology(broker)
            declare_native_delayed_delivery_exchanges_and_queues(broker, "quorum")
            for run_queue in RUN_QUEUES:
                bind_queue_to_native_delayed_delivery_exchange(broker, run_queue)
        # The worker first (it took 24 s to start under a load average of 20), not taking starts
        # until just before the first due time: at any load the backlog is whole when timers fall
        # due (started at once after the publishing instead, it drained the backlog before they
        # did on a quiet machine, and one started 5 s before measured its own start-up).
        worker = start_worker()
        wakeup_workers = start_wakeup_workers()
        starts_consumed(False)
        publish_s = publish_all()
        head_start_at = first_due - timedelta(seconds=args.head_start)
        time.sleep(max(0.0, (head_start_at - datetime.now(UTC)).total_seconds()))
        starts_consumed(True)
    else:
        worker = start_worker()
        publish_s = publish_all()
    deadline = rows[-1][1] + timedelta(seconds=args.grace)
    while datetime.now(UTC) < deadline:
        if args.backlog:
            for moment, at in (("first_due", first_due), ("last_due", rows[-1][1])):
                if backlog_at[moment] is None and datetime.now(UTC) >= at:
                    backlog_at[moment] = queue_depths().get(EXECUTION_QUEUE, 0)
                    log(f"  {backlog_at[moment]} starts queued at the {moment.replace('_', ' ')} time")
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM execution_timers WHERE status = 'scheduled'")
                left = cursor.fetchone()[0]
                cursor.execute("SELECT count(*) FROM executions WHERE status <> 'completed'")
                unfinished = cursor.fetchone()[0]
                cursor.execute("SELECT count(*) FROM execution_timers WHERE status = 'scheduled' AND due_at <= now()")
                due_unfired = cursor.fetchone()[0]
            if args.backlog and datetime.now(UTC) >= first_due:
                sample_where_due_timers_wait(due_unfired)
        except OperationalError as exc:  # the shared PostgreSQL was restarted by someone: reconnect
            log(f"  database unavailable ({exc}); retrying")
            connection.close()
            time.sleep(2)
            continue
        if left == 0 and unfinished == 0:
            break
        log(f"  {left} timers not fired, {unfinished} executions not completed")
        time.sleep(1 if args.backlog else 5)
    time.sleep(2)
finally:
    for proc in [*wakeup_workers, *([worker] if worker is not None else [])]:
        proc.stop()

# --- results --------------------------------------------------------------------------------------
connection.close()
with connection.cursor() as cursor:
    cursor.execute("SELECT status, count(*) FROM execution_timers GROUP BY status")
    timer_status = dict(cursor.fetchall())
    cursor.execute("SELECT lateness_ms FROM execution_timers WHERE status = 'fired'")
    lateness = [r[0] for r in cursor.fetchall()]
    cursor.execute(
        "SELECT count(*) FROM (SELECT e.id FROM executions e LEFT JOIN execution_steps s ON s.execution_id = e.id"
        " WHERE e.schema_id = %s"
        " GROUP BY e.id, e.status HAVING e.status <> 'completed' OR count(s.id) <> %s OR max(s.seq) <> %s"
        " OR count(DISTINCT s.seq) <> %s) bad",
        [schema.pk, STEPS, STEPS, STEPS],
    )
    bad_executions = cursor.fetchone()[0]
    cursor.execute(
        "SELECT count(*) FROM (SELECT e.id FROM executions e LEFT JOIN execution_steps s ON s.execution_id = e.id"
        " WHERE e.schema_id <> %s"
        " GROUP BY e.id, e.status HAVING e.status <> 'completed' OR count(s.id) <> %s OR max(s.seq) <> %s"
        " OR count(DISTINCT s.seq) <> %s) bad",
        [schema.pk, BACKLOG_STEPS, BACKLOG_STEPS, BACKLOG_STEPS],
    )
    bad_backlog = cursor.fetchone()[0]
    cursor.execute("SELECT count(*) FROM executions")
    total_executions = cursor.fetchone()[0]
    cursor.execute(
        "SELECT extract(epoch FROM max(fired_at) - min(due_at)) FROM execution_timers WHERE status = 'fired'"
    )
    fire_span_s = float(cursor.fetchone()[0] or 0)
    cursor.execute("SELECT count(*) FROM execution_steps WHERE node_id = 'wait'")
    delay_steps = cursor.fetchone()[0]
    # The timers that fell due while starts of the backlog were still queued or running (before the
    # last one finished): the lateness the backlog could cause.
    cursor.execute("SELECT max(finished_at) FROM executions WHERE schema_id <> %s", [schema.pk])
    backlog_done_at = cursor.fetchone()[0]
    cursor.execute("SELECT lateness_ms FROM execution_timers WHERE status = 'fired' AND due_at < %s", [backlog_done_at])
    lateness_in_backlog = [r[0] for r in cursor.fetchall()]
completed_lines: Counter[str] = Counter()
assert worker is not None
for proc in [worker, *wakeup_workers]:
    with open(proc.log_path, errors="replace") as fh:
        for line in fh:
            if '"execution completed"' in line:
                try:
                    completed_lines[json.loads(line).get("execution_id")] += 1
                except ValueError:
                    pass
ids = {r[0] for r in rows}
report: dict[str, Any] = {
    "started_at": t_start.isoformat(timespec="seconds"),
    "machine": machine_info(),
    "args": vars(args),
    "layout": f"Celery {WORKER_POOL} x {WORKER_CONCURRENCY}"
    + (f", + {args.wakeup_workers} wake-up-only worker(s) of the same size" if args.wakeup_workers else ""),
    "publish_seconds": round(publish_s, 1),
    "timers": args.timers,
    "timer_status": timer_status,
    "fired": len(lateness),
    "fired_per_s_first_due_to_last_fired": round(len(lateness) / fire_span_s, 1) if fire_span_s else None,
    "due_per_s": round(args.timers / args.spread, 1),
    "lateness_ms": {
        "p50": percentile(lateness, 50),
        "p99": percentile(lateness, 99),
        "max": percentile(lateness, 100),
        "mean": round(sum(lateness) / len(lateness), 2) if lateness else None,
    },
    "executions": total_executions,
    "executions_not_completed_with_3_steps": bad_executions,
    "delay_steps_recorded": delay_steps,
    "completed_logged_not_once": sum(1 for i in ids if completed_lines.get(i, 0) != 1),
    "queue_depths_after": queue_depths(),
    "backlog": args.backlog,
    "backlog_done_s_after_first_due": round((backlog_done_at - first_due).total_seconds(), 1)
    if backlog_done_at
    else None,
    "lateness_ms_due_during_backlog": {
        "timers": len(lateness_in_backlog),
        "p50": percentile(lateness_in_backlog, 50),
        "p99": percentile(lateness_in_backlog, 99),
        "max": percentile(lateness_in_backlog, 100),
    },
    "backlog_not_completed_with_2_steps": bad_backlog,
    "starts_queued_at_first_due": backlog_at["first_due"],
    "starts_queued_at_last_due": backlog_at["last_due"],
    "worker_ready_before_first_due_s": worker_ready.get("before_first_due_s"),
}
report["lost"] = args.timers - len(lateness)  # not fired by the end of the wait (--grace): lost, or too late
report["still_scheduled"] = timer_status.get("scheduled", 0)
report["where_due_timers_waited"] = samples
busiest = max(samples, key=lambda x: x["due_not_fired"], default=None)
report["most_due_not_fired"] = busiest
report["messages_left"] = {name: depth for name, depth in sorted(report["queue_depths_after"].items()) if depth}
if report["messages_left"]:
    # In a delay queue, a message counted but not ready has expired and waits for its dead-lettering
    # (at-least-once: kept until the next queue confirms it); a ready one has not expired yet.
    listed = rabbitmqctl("list_queues", "-p", VHOST, "name", "messages", "messages_ready", "messages_unacknowledged")
    report["messages_left_detail"] = [
        {"queue": parts[0], "messages": int(parts[1]), "ready": int(parts[2]), "unacknowledged": int(parts[3])}
        for parts in (line.split() for line in listed.splitlines())
        if len(parts) == 4 and parts[0] in report["messages_left"] and parts[1].isdigit()
    ]
report["doubled"] = max(0, delay_steps - args.timers) + sum(1 for i in ids if completed_lines.get(i, 0) > 1)
report["target_p99_ms"] = TARGET_P99_MS
report["target_met"] = lateness != [] and (percentile(lateness, 99) or 0) < TARGET_P99_MS
report["load_avg_at_start"] = LOAD_AT_START
report["load_avg_at_end"] = os.getloadavg()
report["ok"] = (
    report["lost"] == 0
    and report["doubled"] == 0
    and bad_executions == 0
    and bad_backlog == 0
    and report["completed_logged_not_once"] == 0
)
report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
lat = report["lateness_ms"]
markdown = (
    f"# Timers{' under a start backlog' if args.backlog else ''} — {report['finished_at']}\n\n"
    f"{args.timers} delays due evenly over {args.spread:.0f} s (first {args.lead:.0f} s after creation), fired by"
    f" one Celery worker ({report['layout']}) from RabbitMQ's delayed queues.\n\n"
    + (
        f"{args.backlog} new executions (webhook → set) were queued while the worker took no starts; it took"
        f" them from {args.head_start:g} s before the first due time (running from"
        f" {worker_ready.get('before_first_due_s')} s before it). Still queued when the first timer was due:"
        f" {backlog_at['first_due']}, when the last was due: {backlog_at['last_due']}."
        + (
            f" When most timers were due and not fired ({busiest['due_not_fired']}, {busiest['s_after_first_due']} s"
            f" after the first due time) the wake-up queue held {busiest['wakeups_ready']} ready and"
            f" {busiest['wakeups_unacked']} taken by the worker; the rest were"
            " still in the broker's delay queues (samples each second in the JSON)."
            if busiest
            else ""
        )
        + f" The last start finished {report['backlog_done_s_after_first_due']} s after the first due time; the"
        f" {report['lateness_ms_due_during_backlog']['timers']} timers due before that were late p50"
        f" {report['lateness_ms_due_during_backlog']['p50']} ms, p99 {report['lateness_ms_due_during_backlog']['p99']}"
        f" ms, max {report['lateness_ms_due_during_backlog']['max']} ms."
        + " Every backlog execution completed with 2 steps:"
        f" {'yes' if bad_backlog == 0 else f'NO ({bad_backlog} not)'}.\n\n"
        if args.backlog
        else ""
    )
    + "| timers | fired | not fired within the grace | doubled | lateness p50 ms | p99 ms | max ms |\n"
    "|---:|---:|---:|---:|---:|---:|---:|\n"
    f"| {args.timers} | {len(lateness)} | {report['lost']} | {report['doubled']} | {lat['p50']} | {lat['p99']} |"
    f" {lat['max']} |\n\n"
    f"Not fired {args.grace:.0f} s after the last due time: {report['lost']}, of which still scheduled:"
    f" {report['still_scheduled']} (a firing too slow to catch up, or a message held in the broker). Messages left"
    f" in the broker's queues after the run: {report['messages_left'] or 'none'}.\n"
    f"Due {report['due_per_s']}/s; fired {report['fired_per_s_first_due_to_last_fired']}/s from the first due time"
    " to the last firing (each firing resumes and completes its execution).\n"
    f"Every execution completed with 3 steps: {'yes' if bad_executions == 0 else f'NO ({bad_executions} not)'};"
    f" one completion log line each: {'yes' if report['completed_logged_not_once'] == 0 else 'NO'}."
    f" → {'OK' if report['ok'] else 'FAILED'}\n"
    f"Target lateness p99 < {TARGET_P99_MS} ms: {'met' if report['target_met'] else 'NOT met'}. Load average at"
    f" start {', '.join(f'{x:.2f}' for x in LOAD_AT_START)}, at end"
    f" {', '.join(f'{x:.2f}' for x in report['load_avg_at_end'])} (a shared machine: lateness is wall-clock).\n"
)
stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
write_json(RESULTS / f"{args.name}-{stamp}.json", report)
write_json(RESULTS / f"{args.name}-latest.json", report)
(RESULTS / f"{args.name}-latest.md").write_text(markdown)
print(markdown)
connection.close()
sys.exit(0 if report["ok"] else 1)
