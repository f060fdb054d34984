"""A trial cut off before it finishes leaves a record that says so (status interrupted, its
curve so far), reports count it as started and not finished, a cell with a seed not finished
gets no mean or verdict, and a resume trains it again."""

import json
import os
from types import SimpleNamespace

import pandas as pd
import pytest

from membench.analysis.completeness import complete_only, incomplete_cells
from membench.analysis.published import published_section, verdict
from membench.cli import main
from membench.config.identity import make_spec
from membench.report.model import build_report
from membench.report.tables import main_table, problems
from membench.run.climbing import climb_outcomes
from membench.run.display import SweepProgress
from membench.run.record import INTERRUPTED
from membench.run.recorder import Recorder
from membench.run.train import TrialInterrupted, run_trial
from membench.store.records import read_records, select, trial_states, write_record
from membench.suite.schema import check_record

TINY = {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32}
TRAIN = {"steps": 400, "eval_every": 10, "eval_size": 32, "attention": False, "device": "cpu"}


def spec(seed=0):
    return make_spec(
        task="long_range_sum", task_overrides={"length": 8}, model=TINY, train=TRAIN, seed=seed
    )


def interrupt_at(step):
    def progress(point):
        if point["step"] >= step:
            raise KeyboardInterrupt

    return progress


def test_a_trial_interrupted_mid_training_carries_its_record():
    with pytest.raises(TrialInterrupted) as caught:
        run_trial(spec(), progress=interrupt_at(30))
    record = caught.value.record
    check_record(record, "interrupted record")  # a valid record on disk
    assert record["status"] == "interrupted" and record["stopped"] == "interrupted"
    assert record["id"] == spec().trial_id() and record["error"] == INTERRUPTED
    assert [p["step"] for p in record["curve"]] == [10, 20]  # step 30's point was cut short
    assert record["metrics"]["steps_trained"] == 29 and record["metrics"]["solved"] is False
    assert record["metrics"]["exact_match"] == record["curve"][-1]["exact_match"]
    assert isinstance(caught.value, KeyboardInterrupt)  # an unaware caller stops as on Ctrl-C


def test_membench_train_prints_the_cut_off_record_and_exits_130(monkeypatch, capsys):
    monkeypatch.setattr("membench.run.display.TrialBar.update", lambda self, p: interrupt_at(20)(p))
    args = ["train", "--task", "copy", "--set", "length=4", "--steps", "200", "--eval-every"]
    code = main([*args, "10", "--d-model", "16", "--n-layers", "1", "--device", "cpu", "--json"])
    assert code == 130
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "interrupted" and record["metrics"]["steps_trained"] == 19


class Job:  # the parts of a Tune trial the recorder reads
    def __init__(self, trial_id, members):
        self.trial_id, self.config = trial_id, {"trial": {"members": members}}


def test_the_driver_records_running_trials_as_cut_off_with_their_curves(tmp_path):
    specs = [spec(0), spec(1), spec(2)]
    jobs = [
        {"id": s.trial_id(), "spec": s.to_dict(), "labels": {"suite": "t", "variant": "base",
                                                             "task_label": "lrs"}}
        for s in specs
    ]  # fmt: skip
    progress = SweepProgress("t", 3, None)
    for job, s in zip(jobs, specs, strict=True):
        job |= {"task": "lrs", "variant": "base", "seed": s.seed}
    recorder = Recorder(jobs, tmp_path, "t", progress)
    a, b = Job("a", [0]), Job("b", [1, 2])  # a lone trial and a pack of two
    for trial in (a, b):
        recorder.on_trial_start(0, [], trial)
    point = {"loss": 1.0, "token_accuracy": 0.5, "exact_match": 0.25, "member": 0, "steps": 400}
    recorder.on_trial_result(0, [], a, {**point, "step": 10})
    recorder.on_trial_result(0, [], a, {**point, "step": 20, "time_this_iter_s": 0.1})
    recorder.on_trial_result(0, [], b, {**point, "step": 10, "member": 1})
    finished = run_trial(spec(2), progress=None)  # member 1 of b finishes: its own record
    recorder.on_trial_result(0, [], b, {"member": 1, "record": json.dumps(finished)})
    assert set(progress.running) == {"a/0", "b/0"}  # the display counts the finished one done
    recorder.cut_off(INTERRUPTED)
    records = read_records(tmp_path, strict=True)
    assert records[specs[2].trial_id()]["status"] == "ok"  # never replaced by a cut-off one
    cut = records[specs[0].trial_id()]
    assert cut["status"] == "interrupted" and cut["variant"] == "base"
    assert cut["curve"] == [
        {"step": 10, "loss": 1.0, "token_accuracy": 0.5, "exact_match": 0.25},
        {"step": 20, "loss": 1.0, "token_accuracy": 0.5, "exact_match": 0.25},
    ]
    assert cut["metrics"]["steps_trained"] == 20 and cut["code"] == finished["code"]
    pack_member = records[specs[1].trial_id()]
    assert pack_member["status"] == "interrupted" and pack_member["curve"] == []
    assert pack_member["metrics"]["steps_trained"] == 0

    # a worker lost after a recovery: the recovered trial's curve starts again
    c = Job("c", [0])
    recorder.on_trial_start(0, [], c)
    recorder.on_trial_result(0, [], c, {**point, "step": 10})
    recorder.on_trial_recover(0, [], c)
    recorder.on_trial_error(0, [], c)
    lost = read_records(tmp_path)[specs[0].trial_id()]
    assert lost["curve"] == [] and "lost" in lost["error"]


def test_cut_off_trials_are_trained_again_and_answer_no_climb(tmp_path):
    trials = [SimpleNamespace(id=s.trial_id(), spec=s) for s in (spec(0), spec(1))]
    with pytest.raises(TrialInterrupted) as caught:
        run_trial(spec(0), progress=interrupt_at(20))
    write_record(tmp_path, caught.value.record)
    states = trial_states(trials, tmp_path)
    assert states == {trials[0].id: "cut", trials[1].id: "todo"}
    assert select(trials, states, rerun_failed=False, force=False) == trials
    assert climb_outcomes(trials, tmp_path) == {}  # neither solved nor failed: pending


def rows(task, variant, values, status="ok", steps=None):
    out = []
    for seed, v in enumerate(values):
        row = dict(task=task, variant=variant, seed=seed, status=status, exact_match=v)
        row |= dict(token_accuracy=v, solved=v >= 0.99, solve_rate=float(v >= 0.99))
        if status == "interrupted":
            row |= dict(exact_match=float("nan"), solved=None, steps_trained=steps)
        out.append(row)
    return out


def mqar_table(seed_statuses):
    """mqar: seed 1 of the baseline solved and stopped early; the others are as given."""
    out = rows("mqar", "baseline", [0.2, 1.0, 0.2])
    for seed, status in seed_statuses.items():
        out[seed] |= dict(status=status, exact_match=float("nan"), solved=None,
                          steps_trained=4000, token_accuracy=float("nan"))  # fmt: skip
    out += rows("mqar", "mem8", [0.1, 0.2, 0.1]) + rows("copy", "baseline", [1.0, 1.0, 1.0])
    out += rows("copy", "mem8", [1.0, 0.5, 1.0])
    return pd.DataFrame(out)


def test_a_cell_with_seeds_cut_off_shows_counts_not_a_mean():
    df = mqar_table({0: "interrupted", 2: "interrupted"})
    report = build_report(df, "exact_match", "baseline")
    assert report.incomplete == {("mqar", "baseline"): "1 solved, 2 cut off at ~4,000 steps"}
    headers, table = main_table(report)
    base = table[0][headers.index("mqar")]
    assert base == "incomplete: 1 solved, 2 cut off at ~4,000 steps"  # not "1.000"
    compared = report.comparisons.set_index(["task", "variant"])
    assert compared.loc[("mqar", "mem8"), "note"] == "the baseline's cell is incomplete"
    assert compared.loc[("copy", "mem8"), "test"] != "none"  # complete cells are compared
    lines = problems(report)
    assert "cut off: mqar / baseline seed 0 at ~4,000 steps" in lines[0]
    assert not report.failed  # cut off is not failed
    planned = {(t, v): {0, 1, 2, 3} for t in ("mqar", "copy") for v in ("baseline", "mem8")}
    report = build_report(df, "exact_match", "baseline", planned=planned)
    (line,) = [x for x in problems(report) if x.startswith("missing: mqar / baseline")]
    assert line == "missing: mqar / baseline: 1 of 4 (seed 3 without a record; seeds 0, 2 cut off)"


def test_a_cell_with_a_missing_record_is_incomplete_as_well():
    df = mqar_table({}).query("not (task == 'mqar' and variant == 'baseline' and seed != 1)")
    planned = {(t, v): {0, 1, 2} for t in ("mqar", "copy") for v in ("baseline", "mem8")}
    report = build_report(df, "exact_match", "baseline", planned=planned)
    assert report.incomplete == {("mqar", "baseline"): "1 solved, 2 without a record"}
    text = incomplete_cells(df[df["status"] == "ok"], [], report.missing, [{"task": "copy",
                            "variant": "mem8", "seed": 3}])  # fmt: skip
    assert text[("mqar", "baseline")] == "1 solved, 2 without a record"
    assert len(complete_only(df, report.incomplete)) == len(df) - 1


def test_a_published_row_waits_for_its_seeds():
    df = mqar_table({0: "interrupted", 2: "interrupted"})
    ok = df[df["status"] == "ok"]
    ref = dict(task="mqar", variant="baseline", metric="exact_match", value=0.99, source="zoology")
    incomplete = {("mqar", "baseline"): "1 solved, 2 cut off at ~4,000 steps"}
    (entry,) = published_section(ok, [ref], incomplete)
    assert (
        entry["verdict"] == "none yet: incomplete"
        and entry["incomplete"] == incomplete[("mqar", "baseline")]
    )
    (whole,) = published_section(ok, [ref])  # what the row said before: one solved seed
    assert whole["n"] == 1 and whole["mean"] == 1.0


def test_a_value_at_the_ceiling_is_reached_not_reproduced():
    assert verdict(1.0, 0.99, 1.0, 0.02, 3, ceiling=True).startswith("reached")
    assert verdict(1.0, 0.5, 0.7, 0.02, 3, ceiling=True) == "below"
    ref = dict(task="copy", variant="baseline", metric="exact_match", value=1.0, source="RMT")
    df = mqar_table({})
    (entry,) = published_section(df[df["status"] == "ok"], [ref])
    assert entry["verdict"] == "reached (a ceiling: it separates no variants)"
    ref["value"] = 0.99  # not the ceiling: the rule as before
    (entry,) = published_section(df[df["status"] == "ok"], [ref])
    assert entry["verdict"] == "reproduced"


@pytest.mark.slow
def test_local_run_records_its_trial_in_flight_as_cut_off_on_sigterm(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import yaml

    suite = {
        "name": "tiny",
        "tasks": [{"long_range_sum": {"length": 8}}],
        "model": TINY,
        "variants": {"baseline": {}},
        "seeds": 1,
        "train": {"steps": 100000, "eval_every": 100, "eval_size": 32, "attention": False},
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(suite))
    script = Path(__file__).parent.parent / "bench" / "local_run.py"
    args = [sys.executable, script, "tiny.yaml", "--results", "res", "--workers", "1"]
    bad = subprocess.run([*args, "--threads", "0"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr == "error: --threads 0: give 1 or more\n"
    args += ["--threads", "2"]  # torch threads per worker
    env = {**os.environ, "MEMBENCH_CHECKPOINT_MINUTES": "0"}  # a checkpoint at every evaluation
    driver = subprocess.Popen([*args, "--device", "cpu"], cwd=tmp_path, text=True, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 120
    saved = tmp_path / "res" / "checkpoints"
    while time.monotonic() < deadline:  # until the worker has evaluated (and saved) at least once
        if any(saved.glob("*.pt")):
            break
        time.sleep(0.5)
    driver.send_signal(signal.SIGTERM)  # a time limit's signal
    output, _ = driver.communicate(timeout=60)
    assert driver.returncode == 130, output
    (record,) = read_records(tmp_path / "res" / "trials", strict=True).values()
    assert record["status"] == "interrupted" and record["variant"] == "baseline"
    assert record["threads"] == 2 and "1 workers, 2 thread(s) each" in output
    assert f"{record['id']} " in output and "/ seed 0: step 100/100000, exact" in output  # progress
    steps = [p["step"] for p in record["curve"]]
    assert steps and steps[-1] <= record["metrics"]["steps_trained"] < 100000
    assert (
        record["checkpoint_step"] in steps[-2:]
    )  # saved at its last evaluation (or the one before)
    assert (tmp_path / "res" / "checkpoints" / f"{record['id']}.pt").exists()  # a rerun goes on


def test_incomplete_cells_keep_the_order_given_whatever_the_hash_seed():
    """The report's list of incomplete cells, in JSON too, is the same on every run (it came
    from a set, whose order moved with PYTHONHASHSEED)."""
    import subprocess
    import sys

    code = (
        "import pandas as pd\n"
        "from membench.analysis.completeness import incomplete_cells\n"
        "missing = [dict(task=f't{i}', variant=f'v{i % 3}', seeds=[1]) for i in range(12)]\n"
        "cut = [dict(task='t0', variant='v9', seed=0, steps=10)]\n"
        "done = pd.DataFrame([dict(task=m['task'], variant=m['variant'], seed=0, solved=True)\n"
        "                     for m in missing])\n"
        "print(list(incomplete_cells(done, cut, missing)))\n"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout  # fmt: skip
        for seed in ("1", "2", "3", "4")
    }
    expected = [(f"t{i}", f"v{i % 3}") for i in range(12)] + [("t0", "v9")]
    assert outs == {f"{expected}\n"}


def test_local_run_trains_the_variants_named_first_before_the_others():
    """`--first baseline layer1` puts those cells ahead (a run over several sessions finishes
    what a claim needs first); within each group the longest budgets still start first."""
    import importlib.util
    from pathlib import Path

    from membench.suite.load import load_suite

    root = Path(__file__).parent.parent
    spec = importlib.util.spec_from_file_location("local_run", root / "bench" / "local_run.py")
    local_run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(local_run)
    trials = load_suite(root / "suites" / "published.yaml").trials()
    mqar = [t for t in trials if t.task == "mqar_64_4"]
    ordered = local_run.order(mqar, ["baseline", "layer1"])
    assert [t.variant for t in ordered[:6]].count("mem8") == 0
    assert {t.variant for t in ordered[6:]} == {"mem8"} and len(ordered) == len(mqar) == 9
    budget = [-t.spec.training.steps * t.spec.training.batch_size for t in local_run.order(trials)]
    assert budget == sorted(budget)  # no variant named: the longest first, as before


def test_a_finished_trial_that_went_on_from_a_checkpoint_is_named_in_the_report():
    from membench.report.model import metric_columns

    rows = [
        dict(task="copy", variant=v, seed=s, status="ok", exact_match=1.0, resumed_from_step=r)
        for v in ("baseline", "mem8")
        for s, r in ((0, None), (1, 4500 if v == "mem8" else None))
    ]
    report = build_report(pd.DataFrame(rows))
    assert report.resumed == [dict(task="copy", variant="mem8", seed=1, step=4500)]
    lines = [line for line in problems(report) if line.startswith("resumed:")]
    assert lines == [
        "resumed: copy / mem8 seed 1 went on from its checkpoint at step 4,500 after a cut "
        "(finished)"
    ]
    assert "resumed_from_step" not in metric_columns(pd.DataFrame(rows))  # not a metric
