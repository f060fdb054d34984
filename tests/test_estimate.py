"""Cost before a run: per trial from its cell's records, else a timing here at its budget; the
total for the slots; the live ETA from the estimate."""

import json
from pathlib import Path

import pytest

from membench.run.display import SweepProgress
from membench.run.estimate import (
    PER_TRIAL,
    RAY_START,
    Estimate,
    cell_key,
    estimate,
    recorded_seconds,
)
from membench.suite.load import load_suite

ROOT = Path(__file__).parent.parent


def test_recorded_cells_are_estimated_from_their_records_and_new_cells_are_timed(tmp_path):
    smoke = load_suite(ROOT / "suites" / "smoke.yaml")
    trials = smoke.trials()
    records = ROOT / "results" / "smoke" / "trials"
    est = estimate(trials, records, slots=2)
    assert est.measured == 0 and set(est.seconds) == {t.id for t in trials}
    for t in trials:  # the mean of the cell's two seeds
        cell = [json.loads(p.read_text()) for p in records.glob("*.json")]
        cell = [r for r in cell if cell_key(r) == cell_key(t.spec.to_dict())]
        assert len(cell) == 2
        want = sum(recorded_seconds(r) for r in cell) / len(cell)
        assert est.seconds[t.id] == pytest.approx(want)
    fresh = estimate(trials, tmp_path, slots=2)  # no records: each cell timed once, > 0
    assert fresh.measured == 8 and all(s > 0 for s in fresh.seconds.values())
    cells = {}
    for t in trials:
        cells.setdefault((t.task, t.variant), set()).add(fresh.seconds[t.id])
    assert all(len(v) == 1 for v in cells.values())  # seeds share their cell's timing


def test_the_total_spreads_work_over_slots_and_never_undercuts_the_longest():
    est = Estimate({"a": 10.0, "b": 10.0, "c": 10.0, "d": 10.0}, 4, 2)
    assert est.total == pytest.approx(RAY_START + 2 * (10 + PER_TRIAL))
    long = Estimate({"a": 100.0, "b": 1.0}, 2, 4)
    assert long.total == pytest.approx(RAY_START + 100 + PER_TRIAL)


def test_the_live_eta_starts_from_the_estimate_and_scales_by_what_finished():
    progress = SweepProgress("s", 4, None)
    progress.plan({"a": 10.0, "b": 10.0, "c": 10.0, "d": 10.0}, 2)
    assert progress.expected_left() == pytest.approx(20.0)
    progress.took["a"] = 20.0  # took twice its estimate: the rest will too
    assert progress.expected_left() == pytest.approx(2 * 30.0 / 2)
