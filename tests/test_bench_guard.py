"""The instruction-count guard (`make bench-guard`, run by CI): what it says when a hot path grew,
and that the committed baseline is one it can compare with. The measurement itself (callgrind,
minutes) runs in CI, not here. Plain Python: no database, no broker."""

from __future__ import annotations

import json

from bench.instructions import BASELINE, PATHS, TOLERANCE, check

BASE = {"per_call": {"accept": 3_000_000, "walk": 8_000_000}, "tolerance": 0.10}


def test_a_path_that_grew_beyond_the_tolerance_fails_naming_it_and_by_how_much(capsys):
    failures = check({"accept": 3_030_000, "walk": 8_960_000}, BASE)

    assert len(failures) == 1
    assert PATHS["walk"] in failures[0]
    assert "+12.0%" in failures[0]
    assert "8.960 M" in failures[0] and "8.000 M" in failures[0]
    assert "GREW" in capsys.readouterr().out


def test_growth_within_the_tolerance_passes_and_a_large_gain_asks_to_move_the_baseline(capsys):
    assert check({"accept": 3_290_000, "walk": 7_000_000}, BASE) == []

    out = capsys.readouterr().out
    assert "ok    " + PATHS["accept"] in out
    assert "FELL" in out and "make bench-instructions-baseline" in out


def test_the_committed_baseline_holds_both_paths_with_the_issues_tolerance():
    baseline = json.loads(BASELINE.read_text())

    assert set(baseline["per_call"]) == set(PATHS)
    assert all(value > 0 for value in baseline["per_call"].values())
    assert baseline["tolerance"] == TOLERANCE == 0.10
    few, many = baseline["calls"]
    assert 0 < few < many
