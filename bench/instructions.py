"""`make bench-instructions`: instructions per webhook accept and per walk, counted by callgrind;
`make bench-guard`: the same figures against the committed baseline (CI fails on a regression).

    .venv/bin/python bench/instructions.py [--calls 20 120] [--json out.json]
    .venv/bin/python bench/instructions.py --check              # exit 1 when a path grew > tolerance
    .venv/bin/python bench/instructions.py --update-baseline    # rewrite bench/instructions-baseline.json

Timings on a shared 2-core machine drift by ±15 % within minutes; instruction counts do not depend
on load, so they are the figure to compare two versions of the hot paths with. The database and
vhost are prepared outside valgrind (their own, `schema_instructions_<pid>`; migrated, the standard schema active);
then the same child runs twice under `valgrind --tool=callgrind` with `PYTHONHASHSEED=0`, doing
`calls[0]` and then `calls[1]` accepts (and walks of them), each part in its own run. Start-up
costs the same in both runs, so (total2 - total1) / (calls2 - calls1) is the cost of one call.
`accept` is the webhook request through the whole Django stack (client → middleware → throttles →
insert; the publish goes to RabbitMQ); `walk` is `execution_run` of one accepted execution (lock,
load, 11 steps, one write). Log lines are discarded (their cost is in `make bench`).

The guard (`--check`) compares the figures with `bench/instructions-baseline.json` and fails, naming
the path and by how much it grew, when one is more than its tolerance (10 %, the target of issue 20)
above the baseline; a path that became more than that cheaper is reported too (move the baseline
down, so that the gain is kept). The baseline moves only on purpose: `make bench-instructions-baseline`
rewrites it, and the commit that carries it says why. Its counts hold for the interpreter and the
pinned dependencies it records: after upgrading Python or a requirement, refresh it in the same
commit. Method and spread: docs/performance.md ("Regression guard").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# Its own database and vhost per run (dropped at the end): several people measuring at once on one
# machine (or the guard beside a bench) must not drop each other's. The children inherit the names.
os.environ.setdefault("BENCH_VHOST", f"schema_instructions_{os.getpid()}")
os.environ.setdefault("BENCH_INSTRUCTIONS_DB", f"schema_instructions_{os.getpid()}")

from bench.common import (
    PY,
    ROOT,
    app_env,
    drop_database,
    drop_vhost,
    queue_depths,
    recreate_database,
    recreate_vhost,
)

DB = os.environ["BENCH_INSTRUCTIONS_DB"]
BASELINE = ROOT / "bench" / "instructions-baseline.json"
WARM = 5  # accepts and walks before the counted ones, in every run
TOLERANCE = 0.10
# What each figure is, in the words of the failure message.
PATHS = {
    "accept": "webhook accept (POST /api/hooks/<id>/: middleware, rate limits, insert, publish)",
    "walk": "11-step walk of the standard workload (execution_run: lock, load, 11 steps, one write)",
}
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


def _env(url: str) -> dict[str, str]:
    return app_env(
        url,
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        SCHEMA_THROTTLE_WEBHOOK="100000/s",
        SCHEMA_THROTTLE_WEBHOOK_IP="100000/s",
        PYTHONHASHSEED="0",
        # The lease renewer wakes every third of the lease; callgrind counts every thread, and under
        # valgrind on a loaded box a run lasts half an hour: what it does grows with wall time, not
        # calls (the likely cause of a walk counted 15.9 M at load 20, 5.1 M quiet). A day: it sleeps.
        SCHEMA_LEASE_SECONDS="86400",
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
    try:  # as gunicorn (post_worker_init) and the Celery worker (worker_init) do once loaded
        from config.gc_freeze import freeze_after_startup
    except ImportError:  # a checkout from before config/gc_freeze.py: measured without, as it ran
        pass
    else:
        freeze_after_startup(urls=True)
    schema = Schema.objects.get(name="instructions")
    client = Client(REMOTE_ADDR="127.0.0.1")
    url = f"/api/hooks/{schema.id}/"
    headers: dict[str, Any] = {"HTTP_X_SCHEMA_SECRET": schema.webhook_secret}

    def accept() -> str:
        response = client.post(url, PAYLOAD, content_type="application/json", **headers)
        assert response.status_code == 202, response.content
        return str(response.json()["id"])

    warm = [accept() for _ in range(WARM)]  # caches, prepared statements: the same in both runs
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


def measure(few: int, many: int, jobs: int) -> dict[str, float]:
    """Instructions per accept and per walk: four runs under callgrind (`jobs` at a time; the counts
    do not depend on how many run at once)."""
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
    runs = [("accept", many), ("accept", few), ("walk", many), ("walk", few)]
    try:
        subprocess.run([PY, "-c", setup], cwd=ROOT, env=env, check=True)
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            totals = dict(zip(runs, pool.map(lambda run: _run(run[0], run[1], env), runs), strict=True))
        finally:  # stopped or failed: start no further run
            pool.shutdown(wait=False, cancel_futures=True)
        # Every accept published its message (nothing consumes them here). A publish that failed
        # (the broker restarted meanwhile) takes another, cheaper path: such counts are not comparable.
        published = queue_depths().get("schema_execution_queue", 0)
        expected = sum(WARM + calls for _, calls in runs)
        if published < expected:
            sys.exit(f"only {published} of {expected} run messages reached RabbitMQ (was it restarted?): measure again")
    finally:
        drop_database(DB)
        drop_vhost()
    accept = (totals["accept", many] - totals["accept", few]) / (many - few)
    # A walk run also accepts its executions first: subtract one accept per walked execution.
    walk = (totals["walk", many] - totals["walk", few]) / (many - few) - accept
    return {"accept": accept, "walk": walk}


def environment() -> dict[str, str]:
    """What the counts depend on besides our code: the interpreter, valgrind, the pinned requirements."""
    valgrind = subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    requirements = b"".join(sorted(p.read_bytes() for p in (ROOT / "requirements").glob("*.txt")))
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "valgrind": valgrind,
        "requirements_sha256": hashlib.sha256(requirements).hexdigest()[:16],
    }


def check(measured: dict[str, float], baseline: dict[str, Any]) -> list[str]:
    """The failure lines: each path that grew more than its tolerance over the baseline."""
    tolerance = float(baseline.get("tolerance", TOLERANCE))
    failures = []
    for name, value in measured.items():
        base = baseline["per_call"].get(name)
        if not base:
            continue
        change = value / base - 1
        line = (
            f"{PATHS.get(name, name)}: {value / 1e6:.3f} M instructions per call, baseline {base / 1e6:.3f} M"
            f" ({change:+.1%}; allowed +{tolerance:.0%})"
        )
        if change > tolerance:
            failures.append(line)
            print(f"GREW  {line}")
        elif change < -tolerance:
            print(f"FELL  {line} - keep the gain: make bench-instructions-baseline")
        else:
            print(f"ok    {line}")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, nargs=2, metavar=("FEW", "MANY"),
                        help="calls in the two runs (default 20 120, or the baseline's)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1), help="runs under valgrind at once")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help=f"compare with {BASELINE.name}; exit 1 on a regression")
    mode.add_argument("--update-baseline", action="store_true", help=f"rewrite {BASELINE.name}")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still drop the database and vhost
    baseline = json.loads(BASELINE.read_text()) if args.check else None
    if args.check and args.calls is None:
        args.calls = baseline["calls"]  # type: ignore[index]
    few, many = args.calls or [20, 120]
    per_call = measure(few, many, args.jobs)
    for name, value in per_call.items():
        print(f"{name}: {value / 1e6:.3f} M instructions per call")
    if args.json:
        args.json.write_text(json.dumps({k: round(v) for k, v in per_call.items()}, indent=2) + "\n")
    if args.update_baseline:
        document = {
            "about": "Instructions per call of the two hot paths under callgrind (bench/instructions.py);"
            " `make bench-guard` fails when one grows more than `tolerance` over these. Refresh with"
            " `make bench-instructions-baseline` and say why in the commit message.",
            "per_call": {k: round(v) for k, v in per_call.items()},
            "tolerance": TOLERANCE,
            "calls": [few, many],
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "environment": environment(),
        }
        BASELINE.write_text(json.dumps(document, indent=2) + "\n")
        print(f"wrote {BASELINE.relative_to(ROOT)}: commit it with the reason the hot paths changed")
    if baseline is not None:
        recorded, here = baseline.get("environment", {}), environment()
        differs = {k: (recorded.get(k), v) for k, v in here.items() if recorded.get(k) != v}
        if differs:
            print(f"note: measured in another environment than the baseline (baseline, here): {differs}")
        failures = check(per_call, baseline)
        if failures:
            sys.exit(
                "\nInstruction-count guard FAILED - a hot path of the standard workload got slower:\n  "
                + "\n  ".join(failures)
                + "\nFind what grew: `make bench-profile` (cProfile + SQL per call) or callgrind_annotate."
                "\nIf the cost is intended and worth it, `make bench-instructions-baseline` and commit"
                " bench/instructions-baseline.json saying why."
            )
        print("instruction-count guard: ok")


if __name__ == "__main__":
    main()
