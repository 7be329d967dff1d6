"""`make bench-instructions`: instructions per webhook accept and per walk, counted by callgrind.

    .venv/bin/python bench/instructions.py [--calls 20 120] [--json out.json]

Timings on a shared 2-core machine drift by ±15 % within minutes; instruction counts do not depend
on load, so they are the figure to compare two versions of the hot paths with. The database and
vhost are prepared outside valgrind (`schema_instructions`, migrated, the standard schema active);
then the same child runs twice under `valgrind --tool=callgrind` with `PYTHONHASHSEED=0`, doing
`calls[0]` and then `calls[1]` accepts (and walks of them), each part in its own run. Start-up
costs the same in both runs, so (total2 - total1) / (calls2 - calls1) is the cost of one call.
`accept` is the webhook request through the whole Django stack (client → middleware → throttles →
insert; the publish goes to RabbitMQ); `walk` is `execution_run` of one accepted execution (lock,
load, 11 steps, one write). Log lines are discarded (their cost is in `make bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PY, ROOT, app_env, recreate_database, recreate_vhost

DB = os.environ.get("BENCH_INSTRUCTIONS_DB", "schema_instructions")
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def _env(url: str) -> dict[str, str]:
    return app_env(
        url,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        SCHEMA_THROTTLE_WEBHOOK="100000/s",
        SCHEMA_THROTTLE_WEBHOOK_IP="100000/s",
        PYTHONHASHSEED="0",
    )


def child(part: str, calls: int) -> None:
    """Runs under valgrind: `calls` accepts, or `calls` walks of executions accepted beforehand."""
    import django

    django.setup()
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
        response = client.post(url, PAYLOAD, content_type="application/json", **headers)
        assert response.status_code == 202, response.content
        return str(response.json()["id"])

    warm = [accept() for _ in range(5)]  # caches, prepared statements: the same in both runs
    for execution_id in warm:
        execution_run(execution_id)
    if part == "accept":
        for _ in range(calls):
            accept()
    else:
        ids = [accept() for _ in range(calls)]
        # The accepts are paid in both runs too, but not equally: count them apart (see `main`).
        for execution_id in ids:
            execution_run(execution_id)


def _run(part: str, calls: int, env: dict[str, str]) -> int:
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        PY,
        __file__,
        "--child",
        part,
        str(calls),
    ]
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    found = _COLLECTED.findall(result.stderr)
    if result.returncode != 0 or not found:
        sys.exit(f"{part} x{calls} under callgrind failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return int(found[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, nargs=2, default=[20, 120], metavar=("FEW", "MANY"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    few, many = args.calls
    url = recreate_database(DB)
    recreate_vhost()
    env = _env(url)
    setup = (
        "import django; django.setup()\n"
        "from django.core.management import call_command; call_command('migrate', verbosity=0)\n"
        "from bench.workload import definition\n"
        "from schemas_app.services import schema_activate, schema_create\n"
        "schema_activate(schema_create(name='instructions', definition=definition()))\n"
    )
    subprocess.run([PY, "-c", setup], cwd=ROOT, env=env, check=True)
    per_call = {}
    accept = (_run("accept", many, env) - _run("accept", few, env)) / (many - few)
    per_call["accept"] = accept
    # A walk run also accepts its executions first: subtract one accept per walked execution.
    walk = (_run("walk", many, env) - _run("walk", few, env)) / (many - few) - accept
    per_call["walk"] = walk
    for name, value in per_call.items():
        print(f"{name}: {value / 1e6:.2f} M instructions per call")
    if args.json:
        args.json.write_text(json.dumps({k: round(v) for k, v in per_call.items()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
