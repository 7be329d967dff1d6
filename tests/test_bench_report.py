"""`make bench` holds ours against n8n (issue 20: at least 3x at 8 and 32 in flight) only when
`make bench-peers` measured n8n on the same machine within the hour."""

from __future__ import annotations

import json
from pathlib import Path

from bench import run

OURS = {c: {"executions_per_s": rate} for c, rate in ((1, 56.4), (8, 103.0), (32, 150.0))}


def peers_file(tmp_path: Path, finished_at: str, n8n: dict[int, float]) -> Path:
    path = tmp_path / "peers-latest.json"
    runs = [{"system": "n8n", "concurrency": c, "executions_per_s": r} for c, r in n8n.items()]
    runs.append({"system": "dbos", "concurrency": 8, "executions_per_s": 28.0})
    path.write_text(json.dumps({"finished_at": finished_at, "peers": {"n8n": "2.8.4"}, "runs": runs}))
    return path


def test_ours_over_n8n_counts_when_measured_in_the_same_hour(tmp_path: Path) -> None:
    path = peers_file(tmp_path, "2026-12-01T22:40:00+00:00", {1: 25.0, 8: 42.8, 32: 46.2})
    found = run.versus_n8n(OURS, "2026-12-01T23:10:00+00:00", path)
    assert found["same_hour"] is True and found["minutes_apart"] == 30.0
    assert found["times"] == {1: 2.26, 8: 2.41, 32: 3.25}
    assert "same hour" in run._n8n_line(found) and "ours / n8n {1: 2.26, 8: 2.41, 32: 3.25}" in run._n8n_line(found)


def test_a_peer_run_from_another_hour_or_none_does_not_count(tmp_path: Path) -> None:
    path = peers_file(tmp_path, "2026-12-01T20:00:00+00:00", {8: 30.0, 32: 30.0})
    old = run.versus_n8n(OURS, "2026-12-01T23:10:00+00:00", path)
    assert old["same_hour"] is False and old["times"] == {8: 3.43, 32: 5.0}
    assert "does not count" in run._n8n_line(old)
    missing = run.versus_n8n(OURS, "2026-12-01T23:10:00+00:00", tmp_path / "absent.json")
    assert missing["measured"] is False
    assert "run `make bench-peers` in the same hour" in run._n8n_line(missing)
