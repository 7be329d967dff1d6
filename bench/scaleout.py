"""`make bench-scaleout` (issue 20 item 4): the standard workload with 2 API + 2 worker processes
against 1 + 1, in the same run, interleaved.

    .venv/bin/python bench/scaleout.py [--duration 20] [--rounds 2] [--concurrency 8,32]

Each layout is a replica set of the same processes: `1+1` is one gunicorn worker (8 threads) and one
Celery worker process (threads x 8), as `make bench` runs ours; `2+2` is two gunicorn workers (8
threads each) and two Celery worker processes (threads x 8 each, their own names and metrics ports):
what adding a replica of each does. They run side by side on copies of the same database and their
own vhosts (`schema_bench` and `schema_bench_scale2`), so an idle layout takes nothing from the
measured one; for each concurrency the windows alternate 1+1, 2+2, 1+1, 2+2 (`--rounds`), so both
see the same neighbours. Measured as `make bench` measures (bench/run.py `measure`): executions/s
from the database, accept and end-to-end latency, CPU per execution by component.
Checks: every accepted execution completed once with its 11 steps (bench/run.py), in both layouts.
Writes bench/results/scaleout-<time>.json, scaleout-latest.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PY,
    RESULTS,
    ROOT,
    WORK,
    Proc,
    app_env,
    descendants,
    drop_database,
    log,
    machine_info,
    memory_kib,
    rabbitmqctl,
    recreate_database,
    recreate_vhost,
    wait_http,
    write_json,
)
from bench.run import (
    GUNICORN_THREADS,
    WORKER_CONCURRENCY,
    WORKER_POOL,
    Stack,
    celery_argv,
    check_exactly_once,
    combine,
    gunicorn_argv,
    measure,
    port_in_use,
    proc_env,
    wait_drained,
)
from bench.workload import STEPS_PER_EXECUTION

DB = "schema_bench_scaleout"
PORT = int(os.environ.get("BENCH_PORT", "8123"))


class Layout(Stack):
    """A Stack with any number of API and worker processes (pids and memory summed over all)."""

    def __init__(self, name: str, apis: list[Proc], workers: list[Proc], port: int) -> None:
        super().__init__(name, apis[0], workers[0], port)
        self.apis, self.workers = apis, workers

    def pids(self) -> dict[str, list[int]]:
        return {
            "api": [p for a in self.apis for p in descendants(a.pid)],
            "worker": [p for w in self.workers for p in descendants(w.pid)],
        }

    def memory(self) -> dict[str, int]:
        pids = self.pids()
        api_rss, api_pss = memory_kib(pids["api"])
        worker_rss, worker_pss = memory_kib(pids["worker"])
        return {"api_rss_kib": api_rss, "api_pss_kib": api_pss, "worker_rss_kib": worker_rss,
                "worker_pss_kib": worker_pss, "api_processes": len(pids["api"]),
                "worker_processes": len(pids["worker"])}  # fmt: skip

    def stop(self) -> None:
        for proc in self.apis + self.workers:
            proc.stop()


def start_layout(name: str, replicas: int, database_url: str, vhost: str, port: int) -> Layout:
    amqp = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    rate = os.environ.get("BENCH_THROTTLE_WEBHOOK", "100000/s")
    base = app_env(database_url, RABBITMQ_URL=amqp, SCHEMA_THROTTLE_WEBHOOK=rate, SCHEMA_THROTTLE_WEBHOOK_IP=rate)
    env = proc_env(base, port, name)
    env["GUNICORN_WORKERS"] = str(replicas)  # gunicorn's worker processes behind one port
    api = Proc(f"{name}-api", gunicorn_argv("config.wsgi:application"), env)
    workers = []
    for n in range(replicas):
        worker_env = dict(
            env, WORKER_METRICS_PORT=str(port + 60 + n), PROMETHEUS_MULTIPROC_DIR=str(WORK / f"prom-{name}-{n}")
        )
        workers.append(
            Proc(
                f"{name}-worker{n}",
                celery_argv("config.celery_app", "schema_execution_queue", f"{name}{n}"),
                worker_env,
            )
        )
    layout = Layout(name, [api], workers, port)
    try:
        wait_http(f"http://127.0.0.1:{port}/api/health/live")
        for n, worker in enumerate(workers):
            wait_worker_on(worker, vhost, n + 1)
    except BaseException:
        layout.stop()
        raise
    return layout


def wait_worker_on(worker: Proc, vhost: str, consumers: int, timeout: float = 90) -> None:
    """Ready when the run queue of `vhost` has `consumers` consumers (the workers start in order)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"{worker.name} died:\n{worker.tail()}")
        for line in rabbitmqctl("list_queues", "-p", vhost, "name", "consumers").splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "schema_execution_queue" and int(parts[1]) >= consumers:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{worker.name} not ready:\n{worker.tail()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--concurrency", default="8,32")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    levels = [int(x) for x in args.concurrency.split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    for port in (PORT, PORT + 1):
        if port_in_use(port):
            raise SystemExit(f"port {port} is in use (a stale bench process?); set BENCH_PORT")
    log(f"recreating databases {DB}, {DB}_2 and vhosts")
    url1 = recreate_database(DB)
    recreate_vhost()
    vhost1 = os.environ.get("BENCH_VHOST", "schema_bench")
    vhost2 = "schema_bench_scale2"
    rabbitmqctl("delete_vhost", vhost2)
    rabbitmqctl("add_vhost", vhost2)
    rabbitmqctl("set_permissions", "-p", vhost2, "guest", ".*", ".*", ".*")
    base_env = app_env(url1)
    subprocess.run([PY, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=base_env, check=True)
    out = subprocess.run([PY, "bench/seed.py"], cwd=ROOT, env=base_env, check=True, capture_output=True, text=True)
    seed = json.loads(out.stdout.strip().splitlines()[-1])
    url2 = recreate_database(f"{DB}_2", template=DB)
    load_start = os.getloadavg()
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "args": vars(args) | {"concurrency": levels},
        "layouts": {
            "1+1": f"gunicorn 1 x {GUNICORN_THREADS} threads; Celery 1 process, {WORKER_POOL} x {WORKER_CONCURRENCY}",
            "2+2": f"gunicorn 2 x {GUNICORN_THREADS} threads; Celery 2 processes, {WORKER_POOL} x {WORKER_CONCURRENCY}"
            " each",
        },
        "runs": [],
    }
    one = two = None
    accepted: dict[str, list[str]] = {"1+1": [], "2+2": []}
    try:
        one = start_layout("scale1", 1, url1, vhost1, PORT)
        two = start_layout("scale2", 2, url2, vhost2, PORT + 1)
        layouts = [("1+1", one, url1), ("2+2", two, url2)]
        for level in levels:
            rounds: dict[str, list[dict[str, Any]]] = {"1+1": [], "2+2": []}
            for number in range(args.rounds):
                warmup = args.warmup if number == 0 else min(args.warmup, 2.0)
                for label, layout, url in layouts:
                    log(f"{label}: concurrency {level}, round {number + 1}/{args.rounds}")
                    run = asyncio.run(measure(layout, url, seed, level, args.duration / args.rounds, warmup))
                    accepted[label] += run.pop("accepted_ids")
                    rounds[label].append(run)
                    log(f"  {run['executions_per_s']} exec/s, accept p99 {run['accept_ms']['p99']} ms")
            for label, _, _ in layouts:
                combined = combine(rounds[label])
                combined["system"] = label
                report["runs"].append(combined)
        report["open_after_drain"] = {"1+1": wait_drained(url1), "2+2": wait_drained(url2)}
        report["correctness"] = {
            "1+1": check_exactly_once(url1, accepted["1+1"], [w.log_path for w in one.workers], accepted["1+1"],
                                      STEPS_PER_EXECUTION),
            "2+2": check_exactly_once(url2, accepted["2+2"], [w.log_path for w in two.workers], accepted["2+2"],
                                      STEPS_PER_EXECUTION),
        }  # fmt: skip
    finally:
        for layout in (one, two):
            if layout:
                layout.stop()
    report["load_avg_at_start"] = load_start
    report["load_avg_at_end"] = os.getloadavg()
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    ok = all(c["ok"] for c in report["correctness"].values())
    by = {(r["system"], r["concurrency"]): r for r in report["runs"]}
    lines = [
        f"# Scale-out: 2 API + 2 worker processes against 1 + 1 — {report['finished_at']}",
        "",
        f"Standard workload, one 2-core box (everything on it: API, workers, PostgreSQL, RabbitMQ, load"
        f" generator); load average at start {', '.join(f'{x:.2f}' for x in load_start)}, at end"
        f" {', '.join(f'{x:.2f}' for x in report['load_avg_at_end'])} (a shared machine: compare the two"
        f" layouts with each other, not with other runs). Windows of {args.duration / args.rounds} s, alternating"
        f" 1+1 and 2+2, {args.rounds} each per concurrency.",
        "",
        "| layout | conc. | exec/s (by round) | 2+2 / 1+1 | accept p50 / p99 ms | e2e p50 / p99 ms | RSS MiB |"
        " CPU ms/exec API / worker / PostgreSQL / RabbitMQ |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for level in levels:
        base = by[("1+1", level)]["executions_per_s"]
        for label in ("1+1", "2+2"):
            r = by[(label, level)]
            cpu = r["cpu_ms_per_execution"]
            ratio = f"{r['executions_per_s'] / base:.2f}" if base and label == "2+2" else ""
            lines.append(
                f"| {label} | {level} | {r['executions_per_s']} ({', '.join(map(str, r['executions_per_s_by_round']))})"
                f" | {ratio} | {r['accept_ms']['p50']} / {r['accept_ms']['p99']} | {r['e2e_ms']['p50']} /"
                f" {r['e2e_ms']['p99']} | {r['memory']['rss_mib']} | {cpu.get('api', 0):.2f} /"
                f" {cpu.get('worker', 0):.2f}"
                f" / {cpu.get('postgres', 0):.2f} / {cpu.get('rabbitmq', 0):.2f} |"
            )
    c1, c2 = report["correctness"]["1+1"], report["correctness"]["2+2"]
    lines += [
        "",
        f"Correctness: 1+1 {c1['accepted']} accepted, {c1['in_db']} in the database,"
        f" {c1['not_completed_or_wrong_steps']} wrong; 2+2 {c2['accepted']} accepted, {c2['in_db']} in the database,"
        f" {c2['not_completed_or_wrong_steps']} wrong; completion line not exactly once:"
        f" {c1['completed_logged_not_once']} / {c2['completed_logged_not_once']}"
        f" → {'OK' if ok else 'FAILED'}.",
    ]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for run in report["runs"]:
        run.pop("accept_samples", None)
        run.pop("e2e_samples", None)
    write_json(RESULTS / f"scaleout-{stamp}.json", report)
    write_json(RESULTS / "scaleout-latest.json", report)
    (RESULTS / "scaleout-latest.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    drop_database(f"{DB}_2")
    rabbitmqctl("delete_vhost", vhost2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
