"""`make bench-foreach` (issue 20): a `for_each` of 1,000 items over a 3-node child schema, end to end.

    .venv/bin/python bench/foreach.py [--items 1000] [--concurrency 16]

Own database `schema_bench_foreach` and vhost `schema_bench` (both recreated), our stack as `make
bench` runs it (gunicorn + one Celery worker, production settings, INFO logs: one line per step).
The parent, webhook → for_each(`{{ trigger.numbers }}`, `--concurrency` children at a time) → end, is
started by one webhook carrying the item list; each child is a real execution of manual trigger →
set (`double = item * 2`) → end (`{{ vars.double }}`), every step row persisted, and each child's
end wakes the parent through the timer path, which starts the next one.

Figures: children/s from the parent's start to its end (the one that counts: it includes waking the
parent after every child), and over the children alone (first created to last finished).
Checks (the command exits non-zero otherwise): the parent completed with the 1,000 results in item
order; exactly one child per item (`parent_key` loop:1:<i>), each completed with 3 step rows (seq
1..3), one "execution completed" log line each; one `loop` step row in the parent; nothing else ran.
Writes bench/results/foreach-<time>.json, foreach-latest.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    RESULTS,
    WORK,
    app_env,
    log,
    machine_info,
    queue_depths,
    recreate_database,
    recreate_vhost,
    write_json,
)

DB = "schema_bench_foreach"
TARGET_CHILDREN_PER_S = 100  # issue 20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16, help="the for_each node's concurrency (1-100)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the parent")
    return parser.parse_args()


CHILD = {
    "nodes": [
        {"id": "start", "type": "manual_trigger", "name": "Start", "config": {}, "position": {"x": 0, "y": 0}},
        {"id": "double", "type": "set", "name": "double",
         "config": {"assignments": [{"name": "double", "value": "{{ trigger.item * 2 }}"}]},
         "position": {"x": 200, "y": 0}},
        {"id": "done", "type": "end", "name": "End", "config": {"output": "{{ vars.double }}"},
         "position": {"x": 400, "y": 0}},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "double", "source_port": "out"},
        {"id": "e2", "source": "double", "target": "done", "source_port": "out"},
    ],
    "variables": {"double": 0},
}  # fmt: skip
CHILD_STEPS = 3


def parent_definition(child_id: str, concurrency: int) -> dict[str, Any]:
    loop = {"items": "{{ trigger.numbers }}", "schema_id": child_id, "concurrency": concurrency}
    return {
        "nodes": [
            {"id": "hook", "type": "webhook_trigger", "name": "Webhook", "config": {}, "position": {"x": 0, "y": 0}},
            {"id": "loop", "type": "for_each", "name": "each", "config": loop, "position": {"x": 200, "y": 0}},
            {"id": "done", "type": "end", "name": "End", "config": {"output": "{{ nodes.loop.output }}"},
             "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "source": "hook", "target": "loop", "source_port": "out"},
            {"id": "e2", "source": "loop", "target": "done", "source_port": "out"},
        ],
        "variables": {},
    }  # fmt: skip


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still stop our stack (finally)
    WORK.mkdir(parents=True, exist_ok=True)
    log(f"recreating database {DB} and vhost")
    database_url = recreate_database(DB)
    recreate_vhost()
    os.environ.update(app_env(database_url, DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench.run import (
        GUNICORN_THREADS,
        GUNICORN_WORKERS,
        OURS_PORT,
        WORKER_CONCURRENCY,
        WORKER_POOL,
        port_in_use,
        start_ours,
    )
    from executions_app.models import Execution, ExecutionStep
    from schemas_app.services import schema_activate, schema_create

    call_command("migrate", verbosity=0)
    child = schema_activate(schema_create(name="foreach child", definition=CHILD))
    parent = schema_activate(
        schema_create(name="foreach parent", definition=parent_definition(str(child.pk), args.concurrency))
    )
    connection.close()
    if port_in_use(OURS_PORT):
        raise SystemExit(f"port {OURS_PORT} is in use (a stale bench process?); set BENCH_PORT")
    items = list(range(args.items))
    load_start = os.getloadavg()
    stack = start_ours(database_url, tag="foreach")
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{OURS_PORT}/api/hooks/{parent.pk}/",
            data=json.dumps({"numbers": items}).encode(),
            headers={"Content-Type": "application/json", "X-Schema-Secret": parent.webhook_secret},
            method="POST",
        )
        t0 = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202, response.status
            parent_id = json.loads(response.read())["id"]
        log(f"parent {parent_id} accepted; {args.items} items, {args.concurrency} at a time")
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            status = Execution.objects.filter(pk=parent_id).values_list("status", flat=True).first()
            done = Execution.objects.filter(parent_execution_id=parent_id, status="completed").count()
            if status in ("completed", "failed", "cancelled"):
                break
            log(f"  parent {status}; {done} children completed")
            time.sleep(5)
        wall_s = time.perf_counter() - t0
        time.sleep(2)  # the last log lines
    finally:
        stack.stop()
    load_end = os.getloadavg()

    # --- checks and figures ------------------------------------------------------------------------
    parent_row = Execution.objects.get(pk=parent_id)
    children = Execution.objects.filter(parent_execution_id=parent_id)
    child_ids = {str(pk) for pk in children.values_list("pk", flat=True)}
    keys = Counter(children.values_list("parent_key", flat=True))
    expected_keys = {f"loop:1:{i}" for i in items}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT e.id FROM executions e LEFT JOIN execution_steps s ON s.execution_id = e.id"
            " WHERE e.parent_execution_id = %s GROUP BY e.id, e.status HAVING e.status <> 'completed'"
            " OR count(s.id) <> %s OR max(s.seq) <> %s OR count(DISTINCT s.seq) <> %s) bad",
            [parent_id, CHILD_STEPS, CHILD_STEPS, CHILD_STEPS],
        )
        bad_children = cursor.fetchone()[0]
        cursor.execute(
            "SELECT min(created_at), max(finished_at) FROM executions WHERE parent_execution_id = %s", [parent_id]
        )
        first_created, last_finished = cursor.fetchone()
    child_steps = ExecutionStep.objects.filter(execution_id__in=list(child_ids)).count()
    loop_steps = ExecutionStep.objects.filter(execution_id=parent_id, node_id="loop").count()
    total_executions = Execution.objects.count()
    completed_lines: Counter[str] = Counter()
    with open(stack.worker.log_path, errors="replace") as fh:
        for line in fh:
            if '"execution completed"' in line:
                try:
                    completed_lines[str(json.loads(line).get("execution_id"))] += 1
                except ValueError:
                    pass
    logged_not_once = sum(1 for i in child_ids | {str(parent_id)} if completed_lines.get(i, 0) != 1)
    expected_result = [2 * i for i in items]
    started, finished = parent_row.started_at, parent_row.finished_at
    parent_s = (finished - started).total_seconds() if started and finished else None
    children_s = (last_finished - first_created).total_seconds() if last_finished and first_created else None
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "load_avg_at_start": load_start,
        "load_avg_at_end": load_end,
        "args": vars(args),
        "layout": {
            "gunicorn": f"{GUNICORN_WORKERS} workers x {GUNICORN_THREADS} threads (gthread)",
            "worker": f"{WORKER_POOL} x {WORKER_CONCURRENCY}",
        },
        "parent_status": parent_row.status,
        "parent_error": parent_row.error,
        "result_in_item_order": parent_row.result == expected_result,
        "children": len(child_ids),
        "children_keys_doubled": sum(1 for n in keys.values() if n > 1),
        "children_keys_missing": len(expected_keys - set(keys)),
        "children_not_completed_with_3_steps": bad_children,
        "child_steps_persisted": child_steps,
        "loop_steps_in_parent": loop_steps,
        "executions_total": total_executions,
        "completed_logged_not_once": logged_not_once,
        "parent_seconds": round(parent_s, 2) if parent_s else None,
        "children_seconds": round(children_s, 2) if children_s else None,
        "wall_seconds_accept_to_parent_end": round(wall_s, 2),
        "children_per_s": round(args.items / parent_s, 1) if parent_s else None,
        "children_per_s_children_only": round(args.items / children_s, 1) if children_s else None,
        "steps_per_s": round((child_steps + 3) / parent_s, 1) if parent_s else None,
        "queue_depths_after": queue_depths(),
        "target_children_per_s": TARGET_CHILDREN_PER_S,
    }
    report["ok"] = (
        parent_row.status == "completed"
        and report["result_in_item_order"]
        and len(child_ids) == args.items
        and report["children_keys_doubled"] == 0
        and report["children_keys_missing"] == 0
        and bad_children == 0
        and child_steps == args.items * CHILD_STEPS
        and loop_steps == 1
        and total_executions == args.items + 1
        and logged_not_once == 0
    )
    report["target_met"] = bool(report["children_per_s"] and report["children_per_s"] >= TARGET_CHILDREN_PER_S)
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    r = report
    markdown = (
        f"# for_each of {args.items} items — {r['finished_at']}\n\n"
        f"webhook → for_each (concurrency {args.concurrency}) → end; each item a child execution of manual trigger"
        f" → set → end, every step persisted. Our stack: gunicorn {r['layout']['gunicorn']}, Celery"
        f" {r['layout']['worker']}; load average at start {', '.join(f'{x:.2f}' for x in load_start)},"
        f" at end {', '.join(f'{x:.2f}' for x in load_end)} (a shared machine: wall-clock figures are noisy).\n\n"
        "| items | children/s (parent start → end) | children/s (children only) | parent s | steps/s |\n"
        "|---:|---:|---:|---:|---:|\n"
        f"| {args.items} | {r['children_per_s']} | {r['children_per_s_children_only']} | {r['parent_seconds']} |"
        f" {r['steps_per_s']} |\n\n"
        f"Target ≥ {TARGET_CHILDREN_PER_S} children/s: {'met' if r['target_met'] else 'NOT met'}.\n"
        f"Checks: parent {r['parent_status']}, results in item order: {r['result_in_item_order']};"
        f" {r['children']} children, keys doubled {r['children_keys_doubled']}, missing"
        f" {r['children_keys_missing']}; not completed with 3 steps: {bad_children}; {child_steps} child step"
        f" rows; `loop` step rows in the parent: {loop_steps}; executions in the database: {total_executions};"
        f" completion line not exactly once: {logged_not_once} → {'OK' if r['ok'] else 'FAILED'}\n"
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    write_json(RESULTS / f"foreach-{stamp}.json", report)
    write_json(RESULTS / "foreach-latest.json", report)
    (RESULTS / "foreach-latest.md").write_text(markdown)
    print(markdown)
    connection.close()
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
