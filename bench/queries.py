"""Count the SQL statements of one webhook request and of one execution run (in-process).

Run with the app's settings pointed at a bench database that has the standard schema, e.g. after
`bench/run.py --keep`:  BENCH_SEED="$(python bench/seed.py)" python bench/queries.py
"""

# ruff: noqa: E402

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import django

django.setup()

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bench.workload import PAYLOAD
from executions_app.runner import execution_run

seed = json.loads(os.environ["BENCH_SEED"])
client = Client()
path = f"/api/hooks/{seed['schema_id']}/"
for _ in range(3):  # warm caches
    client.post(path, PAYLOAD, content_type="application/json", headers={"X-Schema-Secret": seed["secret"]})
with CaptureQueriesContext(connection) as api:
    response = client.post(path, PAYLOAD, content_type="application/json", headers={"X-Schema-Secret": seed["secret"]})
execution_id = response.json()["id"]
with CaptureQueriesContext(connection) as worker:
    outcome = execution_run(execution_id, worker_id="bench")
print(f"webhook request: {len(api.captured_queries)} statements")
for q in api.captured_queries:
    print("   ", q["sql"][:160])
print(f"execution run ({outcome}): {len(worker.captured_queries)} statements")
for q in worker.captured_queries:
    print("   ", q["sql"][:160])
