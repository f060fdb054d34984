"""Mid-trial checkpoints: a trial cut off goes on from its checkpoint and ends exactly as one never
cut off; a checkpoint of another trial, or an unreadable one, is not used and the record says so."""

from __future__ import annotations

import pytest
import torch

from membench.config.identity import make_spec
from membench.errors import MembenchError
from membench.run.checkpoint import Checkpoints, interval_s
from membench.run.train import TrialInterrupted, run_trial

# dropout and a finite training pool: the random state of both must come back on a resume
SPEC = make_spec(
    task="copy",
    task_overrides={"length": 6, "vocab": 6},
    model={"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32, "dropout": 0.1, "mem_tokens": 2},
    train={
        "steps": 60,
        "batch_size": 8,
        "eval_every": 10,
        "eval_size": 32,
        "train_examples": 100,
        "solve_threshold": 1.0,
        "attention": False,
        "device": "cpu",
    },
    seed=3,
)


def stop_at(step: int):
    """A progress callback that stops the trial (as Ctrl-C does) at the evaluation of `step`."""

    def progress(point):
        if point["step"] == step:
            raise KeyboardInterrupt

    return progress


def cut_off(checkpoints: Checkpoints, step: int) -> dict:
    with pytest.raises(TrialInterrupted) as cut:
        run_trial(SPEC, stop_at(step), checkpoints)
    return cut.value.record


@pytest.fixture(scope="module")
def straight() -> dict:
    torch.set_num_threads(1)
    return run_trial(SPEC)


def test_a_resumed_trial_ends_exactly_as_one_never_cut_off(straight, tmp_path):
    checkpoints = Checkpoints(tmp_path, every_s=0)  # a checkpoint at every evaluation
    record = cut_off(checkpoints, 40)
    assert record["status"] == "interrupted" and record["checkpoint_step"] == 30
    assert checkpoints.step_of(record["id"]) == 30

    seen = []  # what a caller's progress sees: the evaluations before the cut again, then on
    resumed = run_trial(SPEC, seen.append, checkpoints)
    assert [p["step"] for p in seen] == list(range(10, 61, 10))
    assert resumed["status"] == "ok" and resumed["resumed_from_step"] == 30
    assert resumed["curve"] == straight["curve"]  # the same batches, dropout and updates
    for key in ("token_accuracy", "exact_match", "final_loss", "aulc", "train_flops"):
        assert resumed["metrics"][key] == straight["metrics"][key], key
    assert resumed["id"] == straight["id"]
    assert checkpoints.path(record["id"]).exists()  # until the caller has written the record
    checkpoints.done(resumed)
    assert not checkpoints.path(record["id"]).exists()


def test_a_resumed_trial_cut_off_again_says_where_it_went_on_from(tmp_path):
    checkpoints = Checkpoints(tmp_path, every_s=0)
    first = cut_off(checkpoints, 30)
    assert first["checkpoint_step"] == 20 and "resumed_from_step" not in first
    again = cut_off(checkpoints, 50)
    assert again["status"] == "interrupted" and again["resumed_from_step"] == 20
    assert again["checkpoint_step"] == 40 and again["metrics"]["steps_trained"] == 49
    assert [p["step"] for p in again["curve"]] == [10, 20, 30, 40]  # the cut came at 50's


def test_without_a_checkpoint_due_a_cut_trial_starts_again(tmp_path):
    checkpoints = Checkpoints(tmp_path, every_s=3600)  # none written in a 60-step trial
    record = cut_off(checkpoints, 40)
    assert "checkpoint_step" not in record and checkpoints.step_of(record["id"]) is None
    resumed = run_trial(SPEC, checkpoints=checkpoints)
    assert "resumed_from_step" not in resumed and resumed["metrics"]["steps_trained"] == 60


def test_another_trials_checkpoint_is_not_used(straight, tmp_path):
    other = make_spec(**{**_kwargs(), "seed": 4})
    checkpoints = Checkpoints(tmp_path, every_s=0)
    with pytest.raises(TrialInterrupted):
        run_trial(other, stop_at(40), checkpoints)
    checkpoints.path(other.trial_id()).rename(checkpoints.path(SPEC.trial_id()))
    record = run_trial(SPEC, checkpoints=checkpoints)
    assert "resumed_from_step" not in record
    assert "another trial" in record["checkpoint_unused"]
    assert record["curve"] == straight["curve"]  # trained from step 0


def test_an_unreadable_checkpoint_is_not_used(straight, tmp_path):
    checkpoints = Checkpoints(tmp_path, every_s=0)
    tmp_path.mkdir(exist_ok=True)
    checkpoints.path(SPEC.trial_id()).write_bytes(b"cut off mid-write")
    record = run_trial(SPEC, checkpoints=checkpoints)
    assert "unreadable" in record["checkpoint_unused"]
    assert record["curve"] == straight["curve"]


def test_the_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("MEMBENCH_CHECKPOINT_MINUTES", "2.5")
    assert interval_s() == 150.0
    monkeypatch.setenv("MEMBENCH_CHECKPOINT_MINUTES", "soon")
    with pytest.raises(MembenchError, match="MEMBENCH_CHECKPOINT_MINUTES='soon'"):
        interval_s()
    monkeypatch.delenv("MEMBENCH_CHECKPOINT_MINUTES")
    assert interval_s() == 600.0


def _kwargs() -> dict:
    return {
        "task": SPEC.task,
        "task_overrides": SPEC.task_params,
        "model": SPEC.model,
        "train": SPEC.train,
        "seed": SPEC.seed,
    }


def test_one_saved_on_another_machine_or_unfit_is_not_used(straight, tmp_path):
    checkpoints = Checkpoints(tmp_path, every_s=0)
    cut_off(checkpoints, 40)
    path = checkpoints.path(SPEC.trial_id())
    state = torch.load(path, weights_only=True)
    torch.save({**state, "key": {**state["key"], "machine": "cpu: another, 4 threads"}}, path)
    record = run_trial(SPEC, checkpoints=checkpoints)
    assert "another machine" in record["checkpoint_unused"]
    assert record["curve"] == straight["curve"]

    model = {k: v[..., :1] for k, v in state["model"].items()}  # the right key, the wrong shapes
    torch.save({**state, "model": model}, path)
    record = run_trial(SPEC, checkpoints=checkpoints)
    assert "checkpoint unusable (RuntimeError" in record["checkpoint_unused"]
    assert "resumed_from_step" not in record and record["curve"] == straight["curve"]


def test_a_checkpoint_that_cannot_be_written_leaves_the_trial_training(
    straight, monkeypatch, tmp_path
):
    def full_disk(obj, path):
        raise RuntimeError("PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", full_disk)
    checkpoints = Checkpoints(tmp_path, every_s=0)
    with pytest.warns(UserWarning, match="no checkpoint for trial"):
        record = run_trial(SPEC, checkpoints=checkpoints)
    assert record["status"] == "ok" and record["curve"] == straight["curve"]
    assert not list(tmp_path.iterdir())  # no partial file left


def test_a_failed_trial_keeps_its_checkpoint_for_a_retry(tmp_path):
    checkpoints = Checkpoints(tmp_path, every_s=0)
    cut_off(checkpoints, 40)
    checkpoints.done({"id": SPEC.trial_id(), "status": "failed"})
    assert checkpoints.path(SPEC.trial_id()).exists()


def test_the_plateau_rule_goes_on_where_it_was(tmp_path):
    patient = make_spec(**{**_kwargs(), "train": {**SPEC.train, "patience": 2, "steps": 400}})
    whole = run_trial(patient)
    checkpoints = Checkpoints(tmp_path, every_s=0)
    stop = whole["curve"][-2]["step"]  # cut at the evaluation before the one that stops it
    with pytest.raises(TrialInterrupted):
        run_trial(patient, stop_at(stop), checkpoints)
    resumed = run_trial(patient, checkpoints=checkpoints)
    assert whole["stopped"] == "plateau"  # the rule, not the budget, ends it
    assert resumed["curve"] == whole["curve"] and resumed["stopped"] == "plateau"
