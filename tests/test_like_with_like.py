"""A report compares only trials that belong together, and every record carries the derived
metrics (solve_rate, aulc) the statistics need."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from membench.errors import MembenchError
from membench.metrics import aulc
from membench.run.sweep import run_suite
from membench.store.records import SUITE_FILE, write_record
from membench.store.results import flatten, load_suite_results
from membench.suite.load import load_suite
from tests.test_suite import TINY, fake_record, write

pytestmark = pytest.mark.slow  # runs `membench report` in a subprocess


def report_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "membench.cli", "report", *args], capture_output=True, text=True
    )


def record_all(results, suite, scores):
    for i, trial in enumerate(suite.trials()):
        write_record(results / "trials", fake_record(trial, score=scores[i % len(scores)]))


def test_report_uses_the_suite_that_last_ran_and_counts_the_rest(tmp_path):
    results = tmp_path / "results"
    first = load_suite(write(tmp_path, TINY, "a.yaml"))
    record_all(results, first, [0.2, 0.5, 0.3, 0.6])
    assert run_suite(first, results) == 0
    other = {**TINY, "train": {**TINY["train"], "steps": 60}}  # same cells, other settings
    second = load_suite(write(tmp_path, other, "b.yaml"))
    record_all(results, second, [0.1, 0.9, 0.15, 0.8])
    with pytest.raises(MembenchError, match="made by .*a.yaml.*train.steps: 30 -> 60"):
        run_suite(second, results)  # another file into the folder: refused unless asked
    assert run_suite(second, results, update_suite=True) == 0
    listing = json.loads((results / SUITE_FILE).read_text())
    assert [t["id"] for t in listing["trials"]] == [t.id for t in second.ordered(second.trials())]

    found = load_suite_results(results)
    assert found.unused == 4 and found.baseline == "baseline"
    assert set(found.table["id"]) == {t.id for t in second.trials()}
    assert (found.table["train.steps"] == 60).all()

    out = report_cli(str(results), "--out", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["notes"][0] == (
        "4 records of other settings in this folder not used (the report covers the trials of "
        "the suite that last ran here: suite.json)"
    )
    assert not any("records" in note for note in report["notes"][1:])  # the rest: skipped plots
    (row,) = report["comparisons"]
    assert row["n_paired"] == 2 and row["n"] == 2 and row["n_baseline"] == 2
    assert "4 records of other settings" in out.stdout


def test_without_suite_file_two_records_of_one_seed_stop_the_report(tmp_path):
    results = tmp_path / "results"
    record_all(results, load_suite(write(tmp_path, TINY, "a.yaml")), [0.2, 0.5])
    other = {**TINY, "train": {**TINY["train"], "steps": 60}}
    record_all(results, load_suite(write(tmp_path, other, "b.yaml")), [0.1, 0.9])
    out = report_cli(str(results), "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "holds seed 0 more than once" in out.stderr and len(out.stderr.splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_a_csv_with_duplicate_seeds_is_refused(tmp_path):
    rows = [dict(task="t", variant=v, seed=s, exact_match=0.5) for v in "ab" for s in (0, 1, 1)]
    path = tmp_path / "dup.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    out = report_cli(str(path))
    assert out.returncode == 2 and "cell t / a holds seed 1 more than once" in out.stderr


def test_test_option_reaches_the_report(tmp_path):
    rows = [
        dict(task="t", variant=v, seed=s, exact_match=0.5 + (0.1 + 0.01 * s) * (v == "b"))
        for v in "ab"
        for s in range(6)
    ]
    path = tmp_path / "six.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    out = report_cli(str(path), "--baseline", "a", "--test", "exact", "--format", "json")
    assert out.returncode == 0, out.stderr
    (row,) = json.loads(out.stdout)["comparisons"]
    assert row["test"] == "sign-flip" and row["p_value"] == pytest.approx(2 / 64)


def test_aulc_is_the_normalised_area_with_the_last_value_carried():
    curve = [
        dict(step=100, exact_match=0.0),
        dict(step=200, exact_match=0.5),
        dict(step=300, exact_match=1.0),  # solved: stopped early
    ]
    # 0 * 100 + 0.5 * 100 + 1.0 * 100 + 1.0 * 700 (carried to the budget of 1000)
    assert aulc(curve, 1000) == pytest.approx(0.85)
    assert aulc(curve, 300) == pytest.approx(0.5)
    assert aulc([dict(step=1000, exact_match=0.2)], 1000) == pytest.approx(0.2)


def test_old_records_get_solve_rate_and_aulc_from_their_curve(tmp_path):
    trial = load_suite(write(tmp_path, TINY)).trials()[0]
    record = fake_record(trial, score=1.0)
    record["metrics"].update(steps_to_solve=10)  # solved at step 10 of 30, no flag, no aulc
    row = flatten(record)
    assert row["solved"] is True and row["solve_rate"] == 1.0
    assert row["aulc"] == pytest.approx(1.0)
    record["metrics"].update(steps_to_solve=30, solved=False, aulc=0.25)
    row = flatten(record)
    assert row["solve_rate"] == 0.0 and row["aulc"] == 0.25 and row["solved"] is False
