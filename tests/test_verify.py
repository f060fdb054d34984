"""`membench verify`: a sample retrained here, each trial judged against its record, and the
report's verdicts recomputed with the retrained values."""

import json

import pandas as pd
import pytest
import yaml

from membench.cli import main
from membench.run.train import run_trial
from membench.run.verify import Check, classify, sample, verdict_changes
from membench.store.records import labels, write_record, write_suite_file
from membench.suite.load import load_suite
from tests.test_suite import TINY as SUITE

TINY = {**SUITE, "train": {"steps": 20, "eval_every": 10, "eval_size": 32, "attention": False}}


def table(cells: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = [
        dict(id=f"{t}-{v}-{s}", task=t, variant=v, seed=s, status="ok", exact_match=x)
        for (t, v), values in cells.items()
        for s, x in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_the_sample_spreads_over_cells_and_is_the_same_every_time():
    df = table({(t, v): [0.5] * 5 for t in ("copy", "sort") for v in ("baseline", "mem", "b2")})
    first = sample(df, 6)
    assert len(first) == 6 and first.groupby(["task", "variant"]).ngroups == 6  # every cell
    assert list(sample(df, 6)["id"]) == list(first["id"])
    assert list(sample(df, 6, seed=1)["id"]) != list(first["id"])
    assert len(sample(df, 100)) == len(df)  # at most every trial
    failed = df.assign(status=["failed"] * 3 + ["ok"] * (len(df) - 3))
    assert set(sample(failed, 100)["status"]) == {"ok"}


def test_outcomes_identical_within_tolerance_diverged_failed():
    rec = {"final_loss": 0.5, "token_accuracy": 0.9, "exact_match": 0.25, "aulc": 0.2}
    same = {"status": "ok", "metrics": dict(rec)}
    assert classify(rec, same) == ("identical", "–")
    near = {"status": "ok", "metrics": rec | {"final_loss": 0.5 + 2e-6}}
    assert classify(rec, near)[0] == "within tolerance"
    far = {"status": "ok", "metrics": rec | {"final_loss": 0.51}}
    assert classify(rec, far) == ("diverged", "final_loss 0.5 -> 0.51")
    flipped = {"status": "ok", "metrics": rec | {"exact_match": 0.28125}}  # one example of 32
    outcome, largest = classify(rec, flipped)
    assert outcome == "diverged" and largest == "exact_match 0.25 -> 0.28125"
    assert classify(rec, {"status": "failed", "error": "boom"}) == ("failed", "boom")


def test_a_verdict_that_a_retrained_seed_would_flip_is_named():
    n = 8  # unanimous: significant (2/2^8 < 0.05); with 3 seeds tied, 5 informative: not
    df = table({("copy", "baseline"): [1.0] * n, ("copy", "mem"): [0.0] * n})
    unchanged = Check("copy-mem-0", "copy", "mem", 0, "diverged", "", "", {"exact_match": 0.01})
    assert verdict_changes(df, [unchanged], "exact_match", "baseline") == []
    flips = [Check(f"copy-mem-{s}", "copy", "mem", s, "diverged", "", "", {"exact_match": 1.0})
             for s in range(3)]  # fmt: skip
    assert verdict_changes(df, flips, "exact_match", "baseline") == ["copy / mem: ▼ -> (none)"]


@pytest.fixture
def tiny_results(tmp_path):
    """A results folder of 4 tiny trials, trained here without Ray."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    suite = load_suite(path)
    results = tmp_path / "results"
    trials = suite.trials()
    for t in trials:
        write_record(results / "trials", run_trial(t.spec) | labels(suite.name, t))
    write_suite_file(results, suite, trials)
    return results


def test_verify_retrains_the_sample_and_finds_it_identical_on_the_same_machine(
    tiny_results, capsys
):
    assert main(["verify", str(tiny_results), "--sample", "2"]) == 0
    out = capsys.readouterr().out
    assert "retraining 2 of 4 trials (2 cells)" in out
    assert out.count(": identical") == 2 and "2 identical" in out
    assert "no verdict of the report changes (exact_match, against baseline)" in out
    # a record that does not match what its spec trains is found
    victim = next((tiny_results / "trials").glob("*.json"))
    record = json.loads(victim.read_text())
    record["metrics"]["final_loss"] += 0.5
    victim.write_text(json.dumps(record))
    assert main(["verify", str(tiny_results), "--sample", "4"]) == 0
    out = capsys.readouterr().out
    assert "3 identical, 1 diverged" in out and "final_loss" in out


def test_verify_errors_are_one_line(tiny_results, tmp_path, capsys):
    assert main(["verify", str(tiny_results), "--sample", "0"]) == 2
    assert "--sample: must be >= 1" in capsys.readouterr().err
    assert main(["verify", str(tmp_path / "none")]) == 2
    assert "no such results directory" in capsys.readouterr().err
