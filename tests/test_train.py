"""One trial end to end on tiny budgets: learning, determinism, failure records, the CLI."""

import json
import subprocess
import sys

import pytest
import torch

from membench.config.identity import make_spec
from membench.errors import MembenchError
from membench.run.train import build, improved, lr_factor, make_optimizer, run_trial, train_step

TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64}
FAST = {"steps": 60, "eval_every": 20, "eval_size": 64, "attention": False, "device": "cpu"}


def tiny_spec(**changes):
    args = dict(task="copy", task_overrides={"length": 4, "vocab": 3}, model=TINY, train=FAST)
    return make_spec(**{**args, **changes})


@pytest.mark.slow
def test_same_config_and_seed_give_identical_metrics():
    torch.set_num_threads(1)
    a, b = run_trial(tiny_spec()), run_trial(tiny_spec())
    assert a["status"] == b["status"] == "ok"
    for key in ("token_accuracy", "exact_match", "final_loss", "steps_to_solve", "params"):
        assert a["metrics"][key] == b["metrics"][key]
    assert a["curve"] == b["curve"]
    c = run_trial(tiny_spec(seed=1))
    assert c["curve"] != a["curve"]


def test_record_carries_spec_metrics_and_versions():
    record = run_trial(tiny_spec())
    assert record["id"] == tiny_spec().trial_id()
    assert record["task"] == "copy" and record["task_params"] == {"length": 4, "vocab": 3}
    assert record["model"]["d_model"] == 32 and record["model"]["mem_tokens"] == 0
    metrics = record["metrics"]
    assert metrics["chance"] == pytest.approx(1 / 3)
    assert metrics["params"] > 0 and metrics["train_flops"] > 0
    assert 1 <= metrics["steps_to_solve"] <= 60
    assert record["versions"]["torch"] == torch.__version__
    assert isinstance(record["cpu"], str) and record["cpu"]  # the machine type made it
    assert [p["step"] for p in record["curve"]][:2] == [20, 40]
    json.dumps(record)  # JSON-ready


@pytest.mark.slow
def test_learns_copy_above_chance():
    spec = tiny_spec(
        task_overrides={"length": 6, "vocab": 4},
        model={"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64},
        train={**FAST, "steps": 400, "eval_every": 50, "lr": 3e-3},
    )
    record = run_trial(spec)
    assert record["metrics"]["token_accuracy"] > 0.9
    # early stop at the threshold: the solve step is where training stopped
    if record["metrics"]["solved"]:
        assert record["metrics"]["steps_trained"] == record["metrics"]["steps_to_solve"]


def test_nan_loss_is_a_failed_record_not_a_crash():
    record = run_trial(tiny_spec(train={**FAST, "lr": 1e30, "grad_clip": 1e30}))
    assert record["status"] == "failed"
    assert "loss became nan" in record["error"] or "inf" in record["error"]


def test_grad_clip_0_means_no_clipping_and_trains():
    """Clipping to norm 0 would zero every gradient: the loss would stay at its start."""
    train = {**FAST, "grad_clip": 0, "lr": 3e-3, "weight_decay": 0.0}
    spec = tiny_spec(train=train)
    task, model = build(spec, torch.device("cpu"))
    optimizer = make_optimizer(model, spec.training)
    before = [p.detach().clone() for p in model.parameters()]
    data = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(40):
        src, tgt = task.generate(32, data, **spec.task_params)
        losses.append(train_step(model, optimizer, src, tgt, spec.train["grad_clip"]).item())
    assert losses[-1] < 0.5 * losses[0]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_a_users_model_that_raises_is_a_failed_record():
    record = run_trial(tiny_spec(factory="tests.user_models:broken"))
    assert record["status"] == "failed" and "RuntimeError: broken on purpose" in record["error"]


def test_a_users_own_model_trains():
    record = run_trial(tiny_spec(factory="tests.user_models:lookup", model={"hidden": 16}))
    assert record["status"] == "ok"


RECALL = {"pairs": 3, "queries": 2, "key_vocab": 6, "value_vocab": 4}  # queries at src 7, 8


def test_built_in_model_reads_answers_where_the_task_says():
    task, model = build(tiny_spec(task="assoc_recall", task_overrides=RECALL), torch.device("cpu"))
    assert task.answer_positions(**RECALL) == model.answer_positions == [7, 8]
    assert model.layout == {"mem": (0, 0), "src": (0, 7), "answer": (7, 9)}
    _, slots = build(tiny_spec(), torch.device("cpu"))  # copy: separate answer slots, as before
    assert slots.answer_positions is None and "sep" in slots.layout


def test_a_users_factory_that_names_answer_positions_receives_them():
    spec = tiny_spec(
        task="assoc_recall", task_overrides=RECALL, factory="tests.user_models:at_positions"
    )
    assert build(spec, torch.device("cpu"))[1].answer_positions == [7, 8]
    assert run_trial(spec)["status"] == "ok"
    copy = build(tiny_spec(factory="tests.user_models:at_positions"), torch.device("cpu"))[1]
    assert copy.answer_positions is None  # a task without them: None, the slot layout


@pytest.mark.parametrize("factory", ["lookup", "lookup_kwargs"])
def test_a_users_factory_without_the_keyword_is_called_as_before(factory):
    """Four arguments only (`**options` alone is not asking), on a task with answer positions."""
    spec = tiny_spec(
        task="assoc_recall", task_overrides=RECALL, factory=f"tests.user_models:{factory}"
    )
    assert run_trial(spec)["status"] == "ok"


def test_invalid_spec_raises_one_clear_error():
    with pytest.raises(MembenchError, match="unknown task 'cpy'"):
        tiny_spec(task="cpy")
    with pytest.raises(MembenchError, match="factory 'nosuch:thing': no module named 'nosuch'"):
        run_trial(tiny_spec(factory="nosuch:thing"))


def test_lr_schedule_warms_up_then_decays():
    assert lr_factor(0, 10, 100) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100) == pytest.approx(1.0)
    assert lr_factor(100, 10, 100) == pytest.approx(0.1)
    assert lr_factor(40, 10, 100) > lr_factor(80, 10, 100)


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "membench.cli", *args], capture_output=True, text=True
    )


@pytest.mark.slow
def test_cli_json_prints_only_the_record_on_stdout():
    out = cli(
        "train",
        "--task",
        "copy",
        "--set",
        "length=4",
        "--set",
        "vocab=3",
        "--d-model",
        "32",
        "--n-layers",
        "1",
        "--steps",
        "20",
        "--eval-every",
        "10",
        "--eval-size",
        "32",
        "--device",
        "cpu",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    assert record["status"] == "ok" and record["task_params"]["length"] == 4


@pytest.mark.parametrize(
    "args,message",
    [
        (["--task", "cpy"], "unknown task 'cpy': did you mean 'copy'?"),
        (["--set", "lenght=3"], "unknown parameter 'lenght' for task 'copy': did you mean"),
        (["--set", "length=0"], "parameter 'length' = 0 is out of range"),
        (["--mem-tokens", "-3"], "model.mem_tokens: must be >= 0"),
        (["--bottleneck"], "model.bottleneck: needs mem_tokens >= 1"),
        (["--steps", "many"], "argument --steps: invalid int value"),
    ],
)
@pytest.mark.slow
def test_cli_errors_are_one_line_and_exit_2(args, message):
    out = cli("train", *args)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert message in lines[-1] and "Traceback" not in out.stderr


@pytest.mark.slow
def test_cli_lr_0_is_one_line_naming_the_key():
    out = cli("train", "--lr", "0", "--steps", "5")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "membench train: error: train.lr: must be > 0 (a learning rate of 0 never updates the "
        "model), got 0.0"
    ]


def test_record_carries_accuracy_per_target_position_and_why_it_stopped():
    record = run_trial(tiny_spec())
    per = record["per_position"]["token_accuracy"]
    assert len(per) == 4 and all(0 <= p <= 1 for p in per)
    # the mean over positions is the token accuracy (every example has every position)
    assert sum(per) / 4 == pytest.approx(record["metrics"]["token_accuracy"], abs=1e-5)
    solved = record["metrics"]["solved"]
    assert record["stopped"] == ("solved" if solved else "budget")


@pytest.mark.slow
def test_patience_stops_a_trial_that_stopped_improving():
    # lr tiny: held-out token accuracy cannot rise by the plateau delta in 5 evaluations
    train = {**FAST, "steps": 120, "eval_every": 10, "lr": 1e-7, "patience": 5}
    record = run_trial(tiny_spec(train=train))
    assert record["stopped"] == "plateau"
    assert record["metrics"]["steps_trained"] == 60  # first evaluation best, then 5 more
    assert not record["metrics"]["solved"] and record["metrics"]["steps_to_solve"] == 120
    # without patience the same trial runs its whole budget
    record = run_trial(tiny_spec(train={**train, "patience": 0}))
    assert record["stopped"] == "budget" and record["metrics"]["steps_trained"] == 120


def test_the_plateau_rule_counts_a_rise_in_exact_match_near_the_token_ceiling():
    best = {"token_accuracy": 0.998, "exact_match": 0.80}
    rose, best = improved(best, {"token_accuracy": 0.999, "exact_match": 0.90})
    assert rose and best == {"token_accuracy": 0.999, "exact_match": 0.90}
    rose, best = improved(best, {"token_accuracy": 0.9995, "exact_match": 0.901})
    assert not rose and best == {"token_accuracy": 0.9995, "exact_match": 0.901}
    assert improved(best, {"token_accuracy": 0.95, "exact_match": 0.5})[0] is False
