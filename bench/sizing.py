"""`make sizing RATE=500`: the Helm chart's settings for a target rate of executions/s, from the CPU
per execution that `make bench` measured on this kind of machine (issue 20's sizing model).

    .venv/bin/python bench/sizing.py --rate 500 [--results bench/results/latest.json]
        [--concurrency 8] [--utilization 0.7] [--pod-cpu 1000] [--steps 11] [--fsync-per-s N]
        [--values out.yaml]

The model (docs/performance.md, "Sizing"): each component's CPU ms per execution (ours, at
`--concurrency` in flight, from the results file) gives executions/s per core at the autoscalers'
target utilization; the target rate divided by that is the cores, and cores / `--pod-cpu` the pods
(at least 2 API and 2 worker pods, for availability). The worker's figure is for the standard
11-step workload; `--steps` scales it linearly (a first guess: measure your own schema with
`make bench-profile`). PostgreSQL and RabbitMQ are sized in cores, not pods, and PostgreSQL's
WAL-flushing commits (three per execution: the accept's insert, the walk's lease, its one write)
are compared with the disk's `fdatasync` rate when `--fsync-per-s` is given (`pg_test_fsync`):
more workers cannot lift that limit. `--values` writes the chart's values for the API and workers
(`helm upgrade -f out.yaml`); the chart's values.schema.json accepts them (tests/test_sizing.py).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = ("api", "worker", "postgres", "rabbitmq")
COMMITS_PER_EXECUTION = 3
STANDARD_STEPS = 11
MIN_PODS = 2  # the chart's default minimum: one pod may be rescheduled at any time


def measured(results: dict[str, Any], concurrency: int) -> dict[str, float]:
    """CPU ms per execution by component, ours at `concurrency` in flight."""
    for run in results.get("runs", []):
        if run.get("system") == "ours" and run.get("concurrency") == concurrency:
            cpu = run.get("cpu_ms_per_execution") or {}
            missing = [c for c in COMPONENTS if not cpu.get(c)]
            if missing:
                raise ValueError(f"the results have no CPU per execution for {', '.join(missing)}")
            return {c: float(cpu[c]) for c in COMPONENTS}
    found = sorted({r.get("concurrency") for r in results.get("runs", []) if r.get("system") == "ours"})
    raise ValueError(f"the results have no run of ours at {concurrency} in flight (they have {found})")


def plan(
    cpu_ms: dict[str, float],
    rate: float,
    *,
    utilization: float = 0.7,
    pod_millicores: int = 1000,
    steps: int = STANDARD_STEPS,
    fsync_per_s: float | None = None,
) -> dict[str, Any]:
    if rate <= 0 or not 0 < utilization <= 1 or pod_millicores <= 0 or steps <= 0:
        raise ValueError("rate, pod CPU and steps must be positive, utilization in (0, 1]")
    cost = {**cpu_ms, "worker": cpu_ms["worker"] * steps / STANDARD_STEPS}
    parts: dict[str, Any] = {}
    for component in COMPONENTS:
        per_core = 1000 / cost[component] * utilization
        parts[component] = {
            "cpu_ms_per_execution": round(cost[component], 2),
            "executions_per_s_per_core": round(per_core, 1),
            "cores": round(rate / per_core, 2),
        }
    for component in ("api", "worker"):
        pods = max(MIN_PODS, math.ceil(parts[component]["cores"] * 1000 / pod_millicores))
        parts[component]["pods"] = pods
    commits = rate * COMMITS_PER_EXECUTION
    worker_pod_rate = parts["worker"]["executions_per_s_per_core"] * pod_millicores / 1000
    return {
        "rate": rate,
        "utilization": utilization,
        "pod_millicores": pod_millicores,
        "steps": steps,
        "components": parts,
        "postgres_commits_per_s": commits,
        "postgres_commit_limit_exceeded": fsync_per_s is not None and commits > fsync_per_s,
        "fsync_per_s": fsync_per_s,
        # KEDA adds a worker when the ready messages per pod pass this: about a second of one pod's work.
        "keda_queue_length": max(1, round(worker_pod_rate)),
    }


def helm_values(p: dict[str, Any]) -> dict[str, Any]:
    cpu = f"{p['pod_millicores']}m"
    api, worker = p["components"]["api"]["pods"], p["components"]["worker"]["pods"]
    percent = round(p["utilization"] * 100)
    return {
        "api": {
            "replicaCount": api,
            "resources": {"requests": {"cpu": cpu}},
            "autoscaling": {
                "enabled": True,
                "minReplicas": api,
                "maxReplicas": max(api * 2, api + 2),
                "targetCPUUtilizationPercentage": percent,
            },
        },
        "worker": {
            "replicaCount": worker,
            "resources": {"requests": {"cpu": cpu}},
            "autoscaling": {
                "minReplicas": worker,
                "maxReplicas": max(worker * 2, worker + 2),
                "targetCPUUtilizationPercentage": percent,
            },
            "keda": {
                "minReplicaCount": worker,
                "maxReplicaCount": max(worker * 3, worker + 2),
                "queueLength": p["keda_queue_length"],
                "cpuUtilization": percent,
            },
        },
    }


def to_yaml(value: Any, indent: int = 0) -> str:
    """The values above as YAML (maps, strings, numbers, booleans only: no dependency for this)."""
    lines: list[str] = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{' ' * indent}{key}:")
            lines.append(to_yaml(item, indent + 2))
        else:
            lines.append(f"{' ' * indent}{key}: {json.dumps(item)}")
    return "\n".join(lines)


def report(p: dict[str, Any], source: str) -> str:
    out = [
        f"Sizing for {p['rate']:g} standard executions/s ({p['steps']} steps), CPU at {p['utilization']:.0%}"
        f" of requests, pods of {p['pod_millicores']}m; CPU per execution from {source}.",
        "",
        "| component | CPU ms per execution | executions/s per core | cores | pods |",
        "|---|---:|---:|---:|---:|",
    ]
    for component in COMPONENTS:
        c = p["components"][component]
        out.append(
            f"| {component} | {c['cpu_ms_per_execution']} | {c['executions_per_s_per_core']} | {c['cores']}"
            f" | {c.get('pods', '-')} |"
        )
    out.append("")
    commits = (
        f"PostgreSQL: {p['postgres_commits_per_s']:g} WAL-flushing commits/s ({COMMITS_PER_EXECUTION} per execution)"
    )
    if p["fsync_per_s"] is not None:
        verdict = (
            "ABOVE the disk's fdatasync rate: it relies on group commit; a faster disk or commit_delay,"
            " not more workers"
            if p["postgres_commit_limit_exceeded"]
            else "within it"
        )
        commits += f" against {p['fsync_per_s']:g} fdatasync/s: {verdict}."
    else:
        commits += "; compare with `pg_test_fsync` on its disk (--fsync-per-s)."
    out.append(commits)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, required=True, help="target executions/s")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument("--concurrency", type=int, default=8, help="which run of the results (in flight)")
    parser.add_argument("--utilization", type=float, default=0.7)
    parser.add_argument("--pod-cpu", type=int, default=1000, help="millicores requested per API/worker pod")
    parser.add_argument("--steps", type=int, default=STANDARD_STEPS)
    parser.add_argument("--fsync-per-s", type=float, default=None)
    parser.add_argument("--values", type=Path, default=None, help="write the Helm values here")
    args = parser.parse_args(argv)
    try:
        results = json.loads(args.results.read_text())
        p = plan(
            measured(results, args.concurrency),
            args.rate,
            utilization=args.utilization,
            pod_millicores=args.pod_cpu,
            steps=args.steps,
            fsync_per_s=args.fsync_per_s,
        )
    except (OSError, ValueError) as exc:
        print(f"sizing: {exc}", file=sys.stderr)
        return 2
    source = f"{args.results.name} (finished {results.get('finished_at', '?')}, {args.concurrency} in flight)"
    print(report(p, source))
    values = to_yaml(helm_values(p)) + "\n"
    print("\nHelm values (helm upgrade ... -f <file>):\n")
    print(values)
    if args.values:
        args.values.write_text(values)
    return 0


if __name__ == "__main__":
    sys.exit(main())
