"""`make bench-profile`: where the CPU of one standard execution goes, in-process, under cProfile.

    .venv/bin/python bench/hotpaths.py [-n 500] [--top 25] [--part accept|walk|both]

Uses its own database `schema_profile` (recreated, migrated; `BENCH_PROFILE_DB`) and RabbitMQ
vhost `schema_bench` (`BENCH_VHOST`), the production settings and the standard schema. `accept` is
the webhook request through the whole Django stack (middleware, throttles, insert, publish); `walk`
is what the worker task runs for it (`execution_run`: lock, load, 11 steps, one write). Prints the
SQL statements per call, CPU and wall ms per call (half of the calls, without the profiler), then
the top functions by cumulative and by own time under cProfile. Not a benchmark: cProfile inflates
Python-heavy code; use it to see what dominates, then measure with `make bench`.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import app_env, recreate_database, recreate_vhost

DB = os.environ.get("BENCH_PROFILE_DB", "schema_profile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--part", choices=["accept", "walk", "both"], default="both")
    args = parser.parse_args()

    url = recreate_database(DB)
    recreate_vhost()
    os.environ.update(
        app_env(
            url,
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost,testserver",  # + the test client's host
            SCHEMA_THROTTLE_WEBHOOK="100000/s",
            SCHEMA_THROTTLE_WEBHOOK_IP="100000/s",
        )
    )
    import django

    django.setup()
    import logging

    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from bench.workload import PAYLOAD, definition
    from executions_app.models import Execution
    from executions_app.runner import execution_run
    from schemas_app.services import schema_activate, schema_create

    logging.getLogger().handlers[:] = [logging.NullHandler()]  # log formatting is measured by make bench
    call_command("migrate", verbosity=0)
    schema = schema_activate(schema_create(name="profile", definition=definition()))
    client = Client(REMOTE_ADDR="127.0.0.1")
    url = f"/api/hooks/{schema.id}/"
    headers = {"HTTP_X_SCHEMA_SECRET": schema.webhook_secret}

    def accept() -> str:
        response = client.post(url, PAYLOAD, content_type="application/json", **headers)
        assert response.status_code == 202, response.content
        return str(response.json()["id"])

    ids = [accept() for _ in range(20)]  # warm caches
    for execution_id in ids:
        execution_run(execution_id)

    def measure(name: str, fn: object, inputs: list[object]) -> None:
        with CaptureQueriesContext(connection) as queries:
            fn(inputs[0])  # type: ignore[operator]
        print(f"\n=== {name}: {len(queries.captured_queries)} SQL statements per call")
        for q in queries.captured_queries:
            print("   ", q["sql"][:160].replace("\n", " "))
        half = len(inputs) // 2
        cpu, started = time.process_time(), time.perf_counter()
        for item in inputs[1:half]:
            fn(item)  # type: ignore[operator]
        calls = max(1, half - 1)
        cpu_ms = (time.process_time() - cpu) / calls * 1000
        wall_ms = (time.perf_counter() - started) / calls * 1000
        print(f"=== {name}: {cpu_ms:.3f} ms CPU of this process, {wall_ms:.3f} ms wall per call (no profiler)")
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for item in inputs[half:]:
            fn(item)  # type: ignore[operator]
        profiler.disable()
        elapsed = time.perf_counter() - started
        print(f"=== {name}: {elapsed / (len(inputs) - half) * 1000:.3f} ms per call under cProfile")
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)

    ids = []
    if args.part in ("accept", "both"):
        measure("accept", lambda _: ids.append(accept()), list(range(args.n + 1)))
    if args.part in ("walk", "both"):
        if not ids:
            ids = [accept() for _ in range(args.n + 1)]
        measure("walk", execution_run, ids)
        done = Execution.objects.filter(pk__in=ids, status="completed").count()
        print(f"walked: {done} of {len(ids)} completed")


if __name__ == "__main__":
    main()
