"""CPU milliseconds (process_time, every thread of the process) per webhook accept and per walk with
tracing off and on: children alternating off/on, 100 accepts then their 100 walks each, on the
database set up as bench/instructions.py sets it up; with tracing on every span is exported over
OTLP/HTTP to a receiver on 127.0.0.1 (bench/tracing_cost.py), the exporter's thread counted.

    .venv/bin/python bench/tracing_cpu.py

Rougher than instructions (CPU time moves with caches and a loaded machine's contention), but a
run takes minutes where bench/tracing_cost.py under callgrind takes an hour on a busy machine.
Results: docs/performance.md ("Tracing").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import instructions, tracing_cost


def child(n: int) -> None:
    import django

    django.setup()
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from config.tracing import setup_tracing

        assert setup_tracing("schema-bench")
    import logging

    from django.test import Client

    from bench.workload import PAYLOAD
    from executions_app.runner import execution_run
    from schemas_app.models import Schema

    logging.getLogger().handlers[:] = [logging.NullHandler()]
    logging.disable(logging.CRITICAL)
    schema = Schema.objects.get(name="instructions")
    client = Client(REMOTE_ADDR="127.0.0.1")
    url = f"/api/hooks/{schema.id}/"
    headers: dict[str, Any] = {"HTTP_X_SCHEMA_SECRET": schema.webhook_secret}

    def accept() -> str:
        r = client.post(url, PAYLOAD, content_type="application/json", **headers)
        assert r.status_code == 202
        return str(r.json()["id"])

    for _ in range(5):
        execution_run(accept())
    t0 = time.process_time()
    ids = [accept() for _ in range(n)]
    t1 = time.process_time()
    for i in ids:
        execution_run(i)
    t2 = time.process_time()
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        from opentelemetry import trace

        provider: Any = trace.get_tracer_provider()  # the SDK's provider: it has force_flush
        provider.force_flush()
    print(json.dumps({"accept_ms": (t1 - t0) / n * 1000, "walk_ms": (t2 - t1) / n * 1000}))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        child(int(sys.argv[2]))
        return
    rounds, n = 3, 100
    url = instructions.recreate_database(instructions.DB)
    instructions.recreate_vhost()
    env = instructions._env(url)
    setup = (
        "import django; django.setup()\n"
        "from django.core.management import call_command; call_command('migrate', verbosity=0)\n"
        "from bench.workload import definition\nfrom schemas_app.services import schema_activate, schema_create\n"
        "schema_activate(schema_create(name='instructions', definition=definition()))\n"
    )
    receiver = tracing_cost.Receiver()
    results: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    try:
        subprocess.run([instructions.PY, "-c", setup], cwd=instructions.ROOT, env=env, check=True)
        for _ in range(rounds):
            for phase in ("off", "on"):
                e = dict(env)
                e.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
                if phase == "on":
                    e["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
                out = subprocess.run(
                    [instructions.PY, __file__, "--child", str(n)],
                    cwd=instructions.ROOT,
                    env=e,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                results[phase].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(phase, results[phase][-1], flush=True)
    finally:
        instructions.drop_database(instructions.DB)
        instructions.drop_vhost()
    print(json.dumps({"results": results, "otlp_posts": receiver.posts, "otlp_bytes": receiver.bytes}))


if __name__ == "__main__":
    main()
