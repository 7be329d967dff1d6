"""`make bench-scale`: do the hot paths stay flat with 1,000,000 steps and 100,000 executions?

    .venv/bin/python bench/scale.py [--executions 100000] [--steps-per-execution 10] [--repeat 40]

Own database `schema_bench_scale` (`--database`; dropped and recreated), production settings, in-process (Django
test client against the real URL conf, middleware and DRF stack; no HTTP server or broker needed).
1. An almost empty database (`schema_bench_scale_empty`: the schema, a user, an execution with 100
   steps, a live execution, 1,100 more executions so a page 21 exists) is copied (CREATE DATABASE
   … TEMPLATE) to `schema_bench_scale`, which gets 100,000 executions (created over the last 60
   days) with their state rows and 1,000,000 step rows (INSERT … SELECT generate_series).
2. Timed on both, alternating in rounds so both see the same machine noise: the executions list
   (first page, page 21 through the keyset cursor, filtered by schema + status; the searches by
   payload field, failed node, error text — found in 0.2 %, in none, and with a schema — and
   duration; each finds a page as full on both databases), opening the
   execution with 100 steps (detail + steps), and inserting a step (the worker store's checkpoint
   write: step row + state update, one transaction).
3. EXPLAIN (ANALYZE, BUFFERS) of the list, steps and prune-batch queries; the statements of the
   list call are checked for COUNT(*).
4. Retention: `prune_executions` of everything older than 30 days in batches of 500, timing each
   batch, while a thread keeps inserting steps for a live execution (their latency shows whether
   pruning blocks writers).
Writes bench/results/scale-<time>.json, scale-latest.json and scale-latest.md.
"""

# ruff: noqa: E402
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import RESULTS, app_env, drop_database, log, machine_info, recreate_database, write_json


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="schema_bench_scale", help="its name (and <name>_empty)")
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--steps-per-execution", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=8, help="timed calls per operation per round")
    parser.add_argument("--rounds", type=int, default=6)
    return parser.parse_args()


args = parse_args()
DB = args.database
EMPTY_DB = f"{DB}_empty"
log(f"recreating databases {EMPTY_DB} and {DB}")
drop_database(DB)
DATABASE_URL = recreate_database(EMPTY_DB)
os.environ.update(
    app_env(
        DATABASE_URL,
        DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1",
        LOG_LEVEL="WARNING",
        SCHEMA_THROTTLE_USER="1000000/min",
        SCHEMA_THROTTLE_ANON="1000000/min",
    )
)

import django

django.setup()

from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from accounts.models import User
from bench.workload import definition
from engine.store import StepRecord
from executions_app.models import Execution, ExecutionState, ExecutionStatus, TriggerType
from executions_app.retention import prune_executions
from executions_app.store import DjangoExecutionStore
from schemas_app.models import SchemaVersion
from schemas_app.services import schema_activate, schema_create

call_command("migrate", verbosity=0)
user = User.objects.create_user("bench@schema.local", "bench-password", is_staff=True)
token = Token.objects.create(user=user)
schema = schema_activate(schema_create(name="scale", definition=definition(), created_by=user))
version = SchemaVersion.objects.get(schema=schema, version=schema.version)
other = schema_activate(schema_create(name="scale other", definition=definition(), created_by=user))
other_version = SchemaVersion.objects.get(schema=other, version=other.version)
client = Client(headers={"Authorization": f"Token {token.key}"})


def sql(statement: str, params: list[Any] | None = None) -> Any:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)  # no params: % stays literal
        return cursor.fetchall() if cursor.description else None


# --- the probe execution (100 steps) and the live one (steps are appended to it) ------------------
def make_execution(status: str = ExecutionStatus.COMPLETED, *, on: Any = None) -> Execution:
    execution = Execution.objects.create(
        schema=on or schema,
        schema_version=version if on is None else other_version,
        trigger_type=TriggerType.WEBHOOK,
        trigger_payload={"order": 1},
        status=status,
        started_at=datetime.now(UTC),
    )
    ExecutionState.objects.create(execution=execution, context={"counter": 0}, checkpoint={})
    return execution


STEP_COLUMNS = "execution_id, seq, node_id, node_type, input, output, status, attempt, started_at, finished_at"


def insert_steps_sql(where: str, per_execution: int) -> str:
    return f"""
        INSERT INTO execution_steps ({STEP_COLUMNS})
        SELECT e.id, s, 'inc' || s, 'set', jsonb_build_object('counter', s - 1), jsonb_build_object('counter', s),
               'success', 1, e.created_at + s * interval '1 ms', e.created_at + s * interval '1 ms' + interval '50 us'
        FROM executions e CROSS JOIN generate_series(1, {per_execution}) AS s
        WHERE {where}
    """


probe = make_execution()
sql(insert_steps_sql("e.id = %s", 100), [probe.pk])
live = make_execution(ExecutionStatus.RUNNING)
store = DjangoExecutionStore()
store.load(str(live.pk))
_live_seq: dict[str, int] = {}
_live_lock = threading.Lock()


def insert_step() -> None:
    with _live_lock:
        name = connection.settings_dict["NAME"]
        _live_seq[name] = seq = _live_seq.get(name, 0) + 1
    now = datetime.now(UTC)
    record = StepRecord(
        seq, f"n{seq}", "set", "success", 1, {"counter": seq - 1}, {"counter": seq}, None, now, now, 0.05
    )
    store.save_checkpoint(str(live.pk), [record], {"v": 1, "vars": {"counter": seq}, "seq": seq, "queue": []})


# 1,100 more so the "empty" database has 22 full pages of 50, like the deep page compared; 1 in 10
# failed (half timed out at node `wait`, half at `charge` with an HTTP 503), each with its failed step,
# so each search finds a full page of 50 here too: the comparison is of the same page, not of an
# empty answer against a full one.
sql(
    f"""
    INSERT INTO executions (id, schema_id, schema_version_id, status, trigger_type, trigger_payload, created_at,
                            started_at, finished_at, request_id, lease_owner, error)
    SELECT gen_random_uuid(), '{schema.pk}', {version.pk},
           CASE WHEN g % 10 = 0 THEN 'failed' ELSE 'completed' END, 'webhook', '{{}}'::jsonb,
           now() - g * interval '1 second', now() - g * interval '1 second', now(), 'seed', '',
           CASE WHEN g % 20 = 0 THEN 'timed out after 600 s'
                WHEN g % 10 = 0 THEN 'node ''charge'' failed: HTTP 503 from https://pay.example/charge' END
    FROM generate_series(1, 1100) AS g
    """
)
sql(
    """
    INSERT INTO execution_state (execution_id, context, checkpoint, updated_at, wait_kind)
    SELECT e.id, '{}'::jsonb, '{}'::jsonb, now(), '' FROM executions e WHERE e.request_id = 'seed'
    """
)
sql(
    f"""
    INSERT INTO execution_steps ({STEP_COLUMNS}, error)
    SELECT e.id, 1, CASE WHEN e.error LIKE 'timed out%' THEN 'wait' ELSE 'charge' END, 'http_request', NULL, NULL,
           'failed', 1, e.started_at, e.finished_at, e.error
    FROM executions e WHERE e.request_id = 'seed' AND e.status = 'failed'
    """
)


# --- timing ---------------------------------------------------------------------------------------
def get(path: str) -> Any:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.content[:300])
    return response.json()


def deep_cursor(pages: int) -> str:
    """The `next` URL after following `pages` pages of 50 (a keyset cursor deep in the history)."""
    url = "/api/executions/?page_size=50"
    for _ in range(pages):
        following = get(url)["next"]
        if following is None:  # the empty database has only a few pages: its last one
            break
        url = following[following.index("/api/") :]
    return url


def use(name: str) -> None:
    """Point the default connection at another database (same fixtures, same ids)."""
    connection.close()
    connection.settings_dict["NAME"] = name


def operations() -> dict[str, Any]:
    deep = deep_cursor(20)
    return {
        "list_first_page": lambda: get("/api/executions/?page_size=50"),
        "list_page_21_keyset": lambda: get(deep),
        "list_filtered_schema_status": lambda: get(
            f"/api/executions/?schema={schema.pk}&status=completed&page_size=50"
        ),
        # Search (issue 16): JSON path on the payload (GIN), the failed node, error text, duration. On
        # the loaded database 2 % failed: 1 in 10 of them timed out (node `wait`), the others at `charge`.
        "search_payload_field": lambda: get("/api/executions/?payload__order=1&page_size=50"),
        "search_failed_node": lambda: get("/api/executions/?failed_node=wait&page_size=50"),
        "search_error_text": lambda: get("/api/executions/?error=timed%20out&page_size=50"),
        "search_error_text_none": lambda: get("/api/executions/?error=no%20such%20error&page_size=50"),
        "search_error_text_schema": lambda: get(f"/api/executions/?schema={schema.pk}&error=HTTP%20503&page_size=50"),
        "search_duration": lambda: get(f"/api/executions/?schema={schema.pk}&min_duration=5&page_size=50"),
        "open_execution": lambda: get(f"/api/executions/{probe.pk}/"),
        "open_execution_steps_100": lambda: get(f"/api/executions/{probe.pk}/steps/"),
        "insert_step": insert_step,
    }


def measure_interleaved(databases: dict[str, str], rounds: int, per_round: int) -> dict[str, Any]:
    """Alternate between the databases in rounds, so both see the same machine noise (this box is
    shared); within a round each operation is warmed up twice, then timed `per_round` times."""
    samples: dict[str, dict[str, list[float]]] = {label: {} for label in databases}
    for _ in range(rounds):
        for label, name in databases.items():
            use(name)
            for op, fn in operations().items():
                fn()
                fn()
                for _ in range(per_round):
                    t0 = time.perf_counter()
                    fn()
                    samples[label].setdefault(op, []).append((time.perf_counter() - t0) * 1000)
    result: dict[str, Any] = {}
    for label, ops in samples.items():
        result[label] = {}
        for op, values in ops.items():
            values.sort()
            result[label][op] = {
                "median_ms": round(statistics.median(values), 2),
                "p25_ms": round(values[len(values) // 4], 2),
                "p95_ms": round(values[int(0.95 * (len(values) - 1))], 2),
                "n": len(values),
            }
        use(databases[label])
        with CaptureQueriesContext(connection) as queries:
            get("/api/executions/?page_size=50")
        result[label]["list_statements"] = [q["sql"][:300] for q in queries.captured_queries]
        result[label]["list_has_count"] = any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    return result


def explain(statement: str, params: list[Any]) -> dict[str, Any]:
    rows = sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, params)
    plan = rows[0][0][0] if isinstance(rows[0][0], list) else json.loads(rows[0][0])[0]

    def nodes(node: dict[str, Any]) -> list[str]:
        here = f"{node['Node Type']}" + (f" using {node['Index Name']}" if "Index Name" in node else "")
        return [here] + [n for child in node.get("Plans", []) for n in nodes(child)]

    return {"execution_ms": plan["Execution Time"], "nodes": nodes(plan["Plan"])}


report: dict[str, Any] = {
    "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    "machine": machine_info(),
    "args": vars(args),
}
connection.close()
log(f"copying {EMPTY_DB} to {DB} (same fixtures and ids)")
recreate_database(DB, template=EMPTY_DB)
use(DB)

# --- bulk load ------------------------------------------------------------------------------------
log(f"bulk-loading {args.executions} executions and {args.executions * args.steps_per_execution} steps")
t0 = time.perf_counter()
n_other = args.executions // 10
sql(
    """
    INSERT INTO executions (id, schema_id, schema_version_id, status, trigger_type, trigger_payload, created_at,
                            started_at, finished_at, request_id, lease_owner, result, error)
    SELECT gen_random_uuid(),
           CASE WHEN g <= %(n_other)s THEN %(other)s::uuid ELSE %(schema)s::uuid END,
           CASE WHEN g <= %(n_other)s THEN %(other_version)s ELSE %(version)s END,
           CASE WHEN g %% 50 = 0 THEN 'failed' ELSE 'completed' END, 'webhook', '{"order": 42}'::jsonb,
           now() - interval '60 days' * (g::float / %(n)s), now() - interval '60 days' * (g::float / %(n)s),
           now() - interval '60 days' * (g::float / %(n)s) + interval '20 ms', '', '', '{"result": 8}'::jsonb,
           CASE WHEN g %% 500 = 0 THEN 'timed out after 600 s'
                WHEN g %% 50 = 0 THEN 'node ''charge'' failed: HTTP 503 from https://pay.example/charge' END
    FROM generate_series(1, %(n)s) AS g
    """.replace("%(n_other)s", str(n_other))
    .replace("%(n)s", str(args.executions))
    .replace("%(other)s", f"'{other.pk}'")
    .replace("%(schema)s", f"'{schema.pk}'")
    .replace("%(other_version)s", str(other_version.pk))
    .replace("%(version)s", str(version.pk))
    .replace("%%", "%")
)
sql(
    """
    INSERT INTO execution_state (execution_id, context, checkpoint, updated_at, wait_kind)
    SELECT e.id, '{"counter": 8, "result": 8}'::jsonb, '{"v": 1, "seq": 10}'::jsonb, e.finished_at, ''
    FROM executions e LEFT JOIN execution_state s ON s.execution_id = e.id WHERE s.execution_id IS NULL
    """
)
sql(insert_steps_sql("e.result IS NOT NULL AND e.request_id = ''", args.steps_per_execution))
# Each failure's last step failed: at node `charge` (the HTTP 503s) or `wait` (the timeouts, 1 in 10).
sql(
    f"""
    UPDATE execution_steps s
    SET status = 'failed', error = e.error,
        node_id = CASE WHEN e.error LIKE 'timed out%%' THEN 'wait' ELSE 'charge' END
    FROM executions e
    WHERE s.execution_id = e.id AND e.status = 'failed' AND e.request_id = '' AND s.seq = {args.steps_per_execution}
    """.replace("%%", "%")
)
sql("ANALYZE")
load_s = time.perf_counter() - t0
counts = sql("SELECT (SELECT count(*) FROM executions), (SELECT count(*) FROM execution_steps)")[0]
report["load"] = {"seconds": round(load_s, 1), "executions": counts[0], "steps": counts[1]}
log(f"  loaded in {load_s:.1f}s: {counts[0]} executions, {counts[1]} steps")
use(EMPTY_DB)
sql("ANALYZE")
log(f"measuring, alternating empty and loaded databases ({args.rounds} rounds)")
measured = measure_interleaved({"empty": EMPTY_DB, "loaded": DB}, args.rounds, args.repeat)
report["empty"], report["loaded"] = measured["empty"], measured["loaded"]
use(DB)

# --- plans ----------------------------------------------------------------------------------------
report["explain"] = {
    "list_first_page": explain("SELECT id FROM executions ORDER BY created_at DESC, id DESC LIMIT 51", []),
    "list_keyset_page": explain(
        "SELECT id FROM executions WHERE created_at < now() - interval '30 days' ORDER BY created_at DESC, id DESC"
        " LIMIT 51",
        [],
    ),
    "list_schema_status": explain(
        "SELECT id FROM executions WHERE schema_id = %s AND status = 'completed' ORDER BY created_at DESC, id DESC"
        " LIMIT 51",
        [str(schema.pk)],
    ),
    "steps_of_execution": explain(
        "SELECT * FROM execution_steps WHERE execution_id = %s ORDER BY seq", [str(probe.pk)]
    ),
    "search_error_text": explain(
        "SELECT id FROM executions WHERE UPPER(error::text) LIKE UPPER(%s) ORDER BY created_at DESC, id DESC LIMIT 51",
        ["%timed out%"],
    ),
    "search_failed_node": explain(
        "SELECT id FROM executions e WHERE e.status = 'failed' AND EXISTS (SELECT 1 FROM execution_steps s"
        " WHERE s.execution_id = e.id AND s.node_id = %s AND s.status = 'failed')"
        " ORDER BY created_at DESC, id DESC LIMIT 51",
        ["wait"],
    ),
    "prune_batch_select": explain(
        "SELECT id FROM executions WHERE created_at < now() - interval '30 days' AND status IN"
        " ('completed','failed','cancelled') ORDER BY created_at LIMIT 500",
        [],
    ),
}

# --- retention ------------------------------------------------------------------------------------
log("pruning executions older than 30 days (batches of 500) while inserting steps")
stop = threading.Event()
insert_latencies: list[float] = []


def writer() -> None:
    from django.db import connection as thread_connection

    try:
        while not stop.is_set():
            t = time.perf_counter()
            insert_step()
            insert_latencies.append((time.perf_counter() - t) * 1000)
            time.sleep(0.01)
    finally:
        thread_connection.close()


thread = threading.Thread(target=writer, daemon=True)
thread.start()
cutoff = datetime.now(UTC) - timedelta(days=30)
batch_ms: list[float] = []
deleted = 0
t0 = time.perf_counter()
while True:
    tb = time.perf_counter()
    n = prune_executions(older_than=cutoff, batch_size=500, max_batches=1)
    if not n:
        break
    batch_ms.append((time.perf_counter() - tb) * 1000)
    deleted += n
prune_s = time.perf_counter() - t0
stop.set()
thread.join()
steps_left = sql("SELECT count(*) FROM execution_steps")[0][0]
insert_latencies.sort()
batch_ms.sort()
report["prune"] = {
    "deleted_executions": deleted,
    "steps_left": steps_left,
    "seconds": round(prune_s, 1),
    "executions_per_s": round(deleted / prune_s, 1) if prune_s else None,
    "batches": len(batch_ms),
    "batch_ms_median": round(statistics.median(batch_ms), 1) if batch_ms else None,
    "batch_ms_max": round(batch_ms[-1], 1) if batch_ms else None,
    "concurrent_insert_ms_median": round(statistics.median(insert_latencies), 2) if insert_latencies else None,
    "concurrent_insert_ms_max": round(insert_latencies[-1], 2) if insert_latencies else None,
    "concurrent_inserts": len(insert_latencies),
}
log(f"  pruned {deleted} executions in {prune_s:.1f}s; batch max {report['prune']['batch_ms_max']} ms")

# --- summary --------------------------------------------------------------------------------------
ops = [k for k, v in report["empty"].items() if isinstance(v, dict)]
report["ratios"] = {
    op: round(report["loaded"][op]["median_ms"] / max(report["empty"][op]["median_ms"], 0.001), 2) for op in ops
}
report["within_2x"] = all(r <= 2 for r in report["ratios"].values())
report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")

lines = [
    f"# Scale — {report['finished_at']}",
    "",
    f"{report['load']['executions']} executions, {report['load']['steps']} step rows (bulk-loaded in"
    f" {report['load']['seconds']} s); medians of {args.rounds}x{args.repeat} in-process calls through the full"
    " Django/DRF stack,"
    " alternating between an empty and the loaded database with the same fixtures (this box is shared).",
    "",
    "| operation | empty DB ms (median / p95) | loaded DB ms (median / p95) | ratio |",
    "|---|---:|---:|---:|",
]
for op in ops:
    e, loaded = report["empty"][op], report["loaded"][op]
    lines.append(
        f"| {op} | {e['median_ms']} / {e['p95_ms']} | {loaded['median_ms']} / {loaded['p95_ms']} |"
        f" {report['ratios'][op]} |"
    )
p = report["prune"]
lines += [
    "",
    f"All within 2x: {'yes' if report['within_2x'] else 'NO'}. COUNT(*) in the list call:"
    f" {'yes' if report['loaded']['list_has_count'] else 'no'}.",
    f"Plans: list {report['explain']['list_first_page']['nodes'][:3]}, steps"
    f" {report['explain']['steps_of_execution']['nodes'][:3]}.",
    f"Plans of the searches: error text {report['explain']['search_error_text']['nodes'][:4]}, failed node"
    f" {report['explain']['search_failed_node']['nodes'][:4]}.",
    f"Prune (older than 30 days, batches of 500): {p['deleted_executions']} executions with their steps in"
    f" {p['seconds']} s ({p['executions_per_s']}/s), batch median {p['batch_ms_median']} ms, max"
    f" {p['batch_ms_max']} ms; a concurrent step insert every 10 ms took median {p['concurrent_insert_ms_median']}"
    f" ms, max {p['concurrent_insert_ms_max']} ms.",
]
markdown = "\n".join(lines) + "\n"
stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
write_json(RESULTS / f"scale-{stamp}.json", report)
write_json(RESULTS / "scale-latest.json", report)
(RESULTS / "scale-latest.md").write_text(markdown)
print(markdown)
connection.close()
sys.exit(0 if report["within_2x"] else 1)
