"""`make sizing` (bench/sizing.py): the bench's CPU per execution turned into pods and the chart's
values, which the chart accepts and renders into autoscalers of that size."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import sizing
from tests.deploy.helpers import by_kind_name, ci_values, render_chart

# ms of CPU per execution, as bench/run.py writes them (the quiet run of 2026-12-01 20:37 at 8 in flight)
RESULTS = {
    "finished_at": "2026-12-01T20:37:04+00:00",
    "runs": [
        {"system": "ceiling", "concurrency": 8, "cpu_ms_per_execution": {"api": 1.79, "worker": 2.39}},
        {
            "system": "ours",
            "concurrency": 8,
            "cpu_ms_per_execution": {"api": 2.96, "worker": 2.64, "postgres": 3.37, "rabbitmq": 1.03, "loadgen": 0.8},
        },
    ],
}


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        merged[key] = deep_merge(merged.get(key, {}), value) if isinstance(value, dict) else value
    return merged


def test_pods_follow_the_measured_cpu_and_the_target_rate() -> None:
    p = sizing.plan(sizing.measured(RESULTS, 8), 500)
    # 500/s x 2.96 ms = 1.48 cores of API at 100 %, 2.11 at 70 % -> 3 pods of one core
    assert p["components"]["api"]["cores"] == pytest.approx(2.11, abs=0.01)
    assert p["components"]["api"]["pods"] == 3
    assert p["components"]["worker"]["pods"] == 2  # 1.89 cores
    assert p["components"]["postgres"]["cores"] == pytest.approx(2.41, abs=0.01)
    assert sizing.plan(sizing.measured(RESULTS, 8), 10)["components"]["api"]["pods"] == 2  # never below 2
    # a 33-step schema costs the worker three times as much; half-core pods need twice as many
    assert sizing.plan(sizing.measured(RESULTS, 8), 500, steps=33)["components"]["worker"]["pods"] == 6
    assert sizing.plan(sizing.measured(RESULTS, 8), 500, pod_millicores=500)["components"]["api"]["pods"] == 5


def test_postgres_commits_are_checked_against_the_disk() -> None:
    cpu = sizing.measured(RESULTS, 8)
    assert sizing.plan(cpu, 500, fsync_per_s=2800)["postgres_commit_limit_exceeded"] is False
    assert sizing.plan(cpu, 1000, fsync_per_s=2800)["postgres_commit_limit_exceeded"] is True  # 3,000/s


@pytest.mark.parametrize("value_set", ["default", "ha"])
def test_the_chart_accepts_the_values_and_renders_autoscalers_of_that_size(value_set: str) -> None:
    p = sizing.plan(sizing.measured(RESULTS, 8), 800)
    values = yaml.safe_load(sizing.to_yaml(sizing.helm_values(p)))
    objs = by_kind_name(render_chart(deep_merge(ci_values(value_set), values)))
    api_pods, worker_pods = p["components"]["api"]["pods"], p["components"]["worker"]["pods"]
    assert (api_pods, worker_pods) == (4, 4)  # 3.38 and 3.02 cores
    assert objs[("HorizontalPodAutoscaler", "schema-api")]["spec"]["minReplicas"] == api_pods
    api = objs[("Deployment", "schema-api")]["spec"]["template"]["spec"]["containers"][0]
    assert api["resources"]["requests"]["cpu"] == "1000m"
    if value_set == "ha":  # KEDA: the queue length per pod is about a second of one pod's work
        scaled = objs[("ScaledObject", "schema-worker")]["spec"]
        assert scaled["minReplicaCount"] == worker_pods
        trigger = next(t for t in scaled["triggers"] if t["type"] == "rabbitmq")
        assert trigger["metadata"]["value"] == str(round(1000 / 2.64 * 0.7))
    else:
        assert objs[("HorizontalPodAutoscaler", "schema-worker")]["spec"]["minReplicas"] == worker_pods


def test_results_without_that_run_are_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latest.json"
    path.write_text(json.dumps(RESULTS))
    assert sizing.main(["--rate", "100", "--results", str(path), "--concurrency", "32"]) == 2
    assert "no run of ours at 32 in flight (they have [8])" in capsys.readouterr().err
    assert sizing.main(["--rate", "100", "--results", str(tmp_path / "missing.json")]) == 2
    out = tmp_path / "values.yaml"
    assert sizing.main(["--rate", "100", "--results", str(path), "--values", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["api"]["autoscaling"]["minReplicas"] == 2
