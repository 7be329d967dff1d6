"""Run with the app's settings: create and activate the standard workload schema, print its ids."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django

django.setup()

from bench.workload import WORKLOADS  # noqa: E402
from schemas_app.models import SchemaVersion  # noqa: E402
from schemas_app.services import schema_activate, schema_create  # noqa: E402

schema = schema_activate(
    schema_create(
        name=os.environ.get("BENCH_SCHEMA_NAME", "bench standard"),
        definition=WORKLOADS[os.environ.get("BENCH_WORKLOAD", "standard")][0](),
    )
)
version = SchemaVersion.objects.get(schema=schema, version=schema.version)
print(json.dumps({"schema_id": str(schema.id), "secret": schema.webhook_secret, "version_id": version.id}))
