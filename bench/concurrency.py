"""`make bench-concurrency` (issue 20): a schema limited to 3 concurrent executions under a flood.

    .venv/bin/python bench/concurrency.py [--executions 300] [--limit 3] [--hold 0.1] [--posters 16]

Own database `schema_bench_concurrency` and vhost `schema_bench` (both recreated), our stack as
`make bench` runs it (gunicorn + one Celery worker of 8 threads, production settings). The schema,
webhook → http_request (GET to a local server that answers after `--hold` s: a step that keeps its
slot busy without pausing) → set, has `settings.max_concurrency` = `--limit`. `--executions`
webhooks are posted by `--posters` concurrent clients as fast as the API takes them.

Figures: queued time (the walk's start minus creation) p50/p99/max; the running count sampled every
20 ms from the database (max, never more than the limit); the calls in flight at the local server
(max, counted exactly there: the side effect itself); executions/s through the limit against
limit / hold. Checks (exit non-zero otherwise): every accepted execution completed once with 3 step
rows, the server got exactly one call per execution, never more than `--limit` at once (sampled,
at the server and from the step rows' intervals), and slots were handed out in order of creation.
Writes bench/results/concurrency-<time>.json, concurrency-latest.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    RESULTS,
    WORK,
    app_env,
    log,
    machine_info,
    pg_connect,
    recreate_database,
    recreate_vhost,
    write_json,
)
from bench.loadgen import percentile

DB = "schema_bench_concurrency"
STEPS = 3


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=300)
    parser.add_argument("--limit", type=int, default=3)
    parser.add_argument("--hold", type=float, default=0.1, help="seconds the local server takes to answer")
    parser.add_argument("--posters", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=600.0)
    return parser.parse_args()


class SlowServer:
    """Answers every GET after `hold` seconds; counts calls per execution and the most in flight."""

    def __init__(self, hold: float) -> None:
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.calls: Counter[str] = Counter()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with outer.lock:
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                    outer.calls[self.path.rsplit("=", 1)[-1]] += 1
                try:
                    time.sleep(hold)
                    body = b'{"ok": true}'
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with outer.lock:
                        outer.in_flight -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def definition(port: int, limit: int) -> dict[str, Any]:
    call = {"method": "GET", "url": f"http://127.0.0.1:{port}/slot?execution={{{{ execution.id }}}}",
            "timeout_seconds": 30}  # fmt: skip
    return {
        "nodes": [
            {"id": "hook", "type": "webhook_trigger", "name": "Webhook", "config": {}, "position": {"x": 0, "y": 0}},
            {"id": "call", "type": "http_request", "name": "slow call", "config": call, "position": {"x": 200, "y": 0}},
            {"id": "done", "type": "set", "name": "done", "config": {"assignments": [{"name": "ok", "value": True}]},
             "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "source": "hook", "target": "call", "source_port": "out"},
            {"id": "e2", "source": "call", "target": "done", "source_port": "out"},
        ],
        "variables": {},
        "settings": {"max_concurrency": limit},
    }  # fmt: skip


def max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still stop our stack (finally)
    WORK.mkdir(parents=True, exist_ok=True)
    log(f"recreating database {DB} and vhost")
    database_url = recreate_database(DB)
    recreate_vhost()
    os.environ.update(app_env(database_url, DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1"))
    os.environ["SCHEMA_HTTP_ALLOWLIST"] = "127.0.0.1"  # the worker may call the local server
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
    from schemas_app.services import schema_activate, schema_create

    server = SlowServer(args.hold)
    call_command("migrate", verbosity=0)
    schema = schema_activate(schema_create(name="limited", definition=definition(server.port, args.limit)))
    connection.close()
    if port_in_use(OURS_PORT):
        raise SystemExit(f"port {OURS_PORT} is in use (a stale bench process?); set BENCH_PORT")
    load_start = os.getloadavg()
    stack = start_ours(database_url, tag="concurrency")
    samples: list[int] = []
    stop = threading.Event()

    def sample_running() -> None:
        with pg_connect(database_url, autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM executions WHERE schema_id = %s AND status = 'running'", [schema.pk]
                ).fetchone()
                samples.append(int(row[0]))  # type: ignore[index]
                time.sleep(0.02)

    def post(n: int) -> str:
        request = urllib.request.Request(
            f"http://127.0.0.1:{OURS_PORT}/api/hooks/{schema.pk}/",
            data=json.dumps({"n": n}).encode(),
            headers={"Content-Type": "application/json", "X-Schema-Secret": schema.webhook_secret},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.status == 202, response.status
            return str(json.loads(response.read())["id"])

    sampler = threading.Thread(target=sample_running, daemon=True)
    try:
        sampler.start()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.posters) as pool:
            accepted = list(pool.map(post, range(args.executions)))
        flood_s = time.perf_counter() - t0
        log(f"{len(accepted)} webhooks accepted in {flood_s:.1f}s ({len(accepted) / flood_s:.0f}/s)")
        deadline = time.monotonic() + args.timeout
        with pg_connect(database_url, autocommit=True) as conn:
            while time.monotonic() < deadline:
                left = conn.execute(
                    "SELECT count(*) FROM executions WHERE schema_id = %s AND status <> 'completed'", [schema.pk]
                ).fetchone()[0]  # type: ignore[index]
                if left == 0:
                    break
                log(f"  {left} not completed")
                time.sleep(2)
        drained_s = time.perf_counter() - t0
        time.sleep(1)
    finally:
        stop.set()
        sampler.join(5)
        stack.stop()
    load_end = os.getloadavg()

    with pg_connect(database_url) as conn:
        rows = conn.execute(
            "SELECT e.id::text, e.status, e.created_at, e.started_at, e.finished_at, count(s.id), max(s.seq),"
            " count(DISTINCT s.seq) FROM executions e LEFT JOIN execution_steps s ON s.execution_id = e.id"
            " WHERE e.schema_id = %s GROUP BY e.id",
            [schema.pk],
        ).fetchall()
        calls = conn.execute(
            "SELECT s.started_at, s.finished_at FROM execution_steps s JOIN executions e ON e.id = s.execution_id"
            " WHERE e.schema_id = %s AND s.node_id = 'call'",
            [schema.pk],
        ).fetchall()
        total = conn.execute("SELECT count(*) FROM executions").fetchone()[0]  # type: ignore[index]
    by_id = {r[0]: r for r in rows}
    bad = [r for r in rows if r[1] != "completed" or r[5] != STEPS or r[6] != STEPS or r[7] != STEPS]
    queued_ms = [(r[3] - r[2]).total_seconds() * 1000 for r in rows if r[3]]
    by_creation = [r[0] for r in sorted(rows, key=lambda r: r[2])]
    by_start = [r[0] for r in sorted((r for r in rows if r[3]), key=lambda r: r[3])]
    # FIFO: how far each execution started from its place in creation order (0 = in order)
    place = {eid: i for i, eid in enumerate(by_creation)}
    out_of_order = max((abs(place[eid] - i) for i, eid in enumerate(by_start)), default=0)
    makespan_s = (max(r[4] for r in rows) - min(r[2] for r in rows)).total_seconds() if rows else 0.0
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
        "accepted": len(accepted),
        "accepted_distinct": len(set(accepted)),
        "flood_seconds": round(flood_s, 2),
        "accepted_per_s": round(len(accepted) / flood_s, 1),
        "drained_seconds": round(drained_s, 2),
        "in_db": len(rows),
        "executions_total": total,
        "not_completed_with_3_steps": len(bad),
        "queued_ms": {
            "p50": percentile(queued_ms, 50),
            "p99": percentile(queued_ms, 99),
            "max": percentile(queued_ms, 100),
        },
        "running_sampled": {
            "samples": len(samples),
            "mean_interval_ms": round(drained_s * 1000 / max(len(samples), 1), 1),
            "max": max(samples, default=0),
            "distribution": dict(sorted(Counter(samples).items())),
        },
        "server_max_in_flight": server.max_in_flight,
        "server_calls": sum(server.calls.values()),
        "server_calls_not_once": sum(1 for eid in accepted if server.calls.get(eid, 0) != 1),
        "call_steps_max_overlap": max_overlap([(a, b) for a, b in calls if a and b]),
        "fifo_max_displacement": out_of_order,
        "executions_per_s": round(len(rows) / makespan_s, 1) if makespan_s else None,
        "executions_per_s_bound": round(args.limit / args.hold, 1),
    }
    r = report
    report["ok"] = (
        set(accepted) == set(by_id)
        and len(accepted) == len(set(accepted))
        and total == len(accepted)
        and not bad
        and r["running_sampled"]["max"] <= args.limit
        and server.max_in_flight <= args.limit
        and r["call_steps_max_overlap"] <= args.limit
        and r["server_calls_not_once"] == 0
    )
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    q = r["queued_ms"]
    markdown = (
        f"# {args.executions} executions of a schema limited to {args.limit} — {r['finished_at']}\n\n"
        f"webhook → http_request (a local server answering after {args.hold} s) → set, `max_concurrency`"
        f" {args.limit}; {args.executions} webhooks posted by {args.posters} clients at once"
        f" ({r['accepted_per_s']}/s accepted). Our stack: gunicorn {r['layout']['gunicorn']}, Celery"
        f" {r['layout']['worker']}; load average at start {', '.join(f'{x:.2f}' for x in load_start)},"
        f" at end {', '.join(f'{x:.2f}' for x in load_end)} (a shared machine: wall-clock figures are noisy).\n\n"
        "| executions | queued p50 ms | p99 ms | max ms | running, max sampled | in flight at the server, max |"
        " exec/s (bound limit/hold) |\n|---:|---:|---:|---:|---:|---:|---:|\n"
        f"| {r['in_db']} | {q['p50']} | {q['p99']} | {q['max']} | {r['running_sampled']['max']}"
        f" ({r['running_sampled']['samples']} samples) | {server.max_in_flight} | {r['executions_per_s']}"
        f" ({r['executions_per_s_bound']}) |\n\n"
        f"Running count sampled every 20 ms (on average every {r['running_sampled']['mean_interval_ms']} ms"
        f" on this machine): {r['running_sampled']['distribution']}; most overlapping call steps"
        f" (from their rows): {r['call_steps_max_overlap']}; FIFO: the furthest an execution started from its"
        f" place in creation order: {out_of_order}.\n"
        f"Checks: {len(accepted)} accepted, {len(rows)} in the database, {len(bad)} not completed with 3 steps;"
        f" calls at the server {r['server_calls']}, not exactly one per execution: {r['server_calls_not_once']};"
        f" never more than {args.limit} running → {'OK' if r['ok'] else 'FAILED'}\n"
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    write_json(RESULTS / f"concurrency-{stamp}.json", report)
    write_json(RESULTS / "concurrency-latest.json", report)
    (RESULTS / "concurrency-latest.md").write_text(markdown)
    print(markdown)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
