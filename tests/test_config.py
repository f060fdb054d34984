import dataclasses
from pathlib import Path

import pytest

from membench.config.identity import (
    IDENTITY_V1,
    IDENTITY_VERSION,
    TrialSpec,
    only_set_later_fields,
    parse_assignment,
)
from membench.config.spec import ModelConfig, TrainConfig, model_config, train_config
from membench.errors import MembenchError

ROOT = Path(__file__).resolve().parent.parent


def test_defaults():
    assert model_config(None).d_model == 64
    assert train_config({}).steps == 2000


@pytest.mark.parametrize(
    "values,message",
    [
        ({"d_modle": 32}, "model: unknown key 'd_modle': did you mean 'd_model'?"),
        ({"d_model": "big"}, "model.d_model: expected int, got 'big'"),
        ({"d_model": True}, "model.d_model: expected int, got True"),
        ({"controller": "dedicate"}, "model.controller: 'dedicate' is not one of"),
        ({"bottleneck": True}, "model.bottleneck: needs mem_tokens >= 1"),
        ({"controller": "dedicated"}, "model.controller: 'dedicated' needs mem_tokens >= 1"),
        ({"d_model": 30, "n_heads": 4}, "d_model \\(30\\) must be divisible by n_heads \\(4\\)"),
        ({"mem_tokens": -1}, "model.mem_tokens: must be >= 0"),
        ({"n_layers": 0}, "model.n_layers: must be >= 1"),
        ({"dropout": 1.5}, "model.dropout: must be in"),
    ],
)
def test_model_config_errors_name_the_key(values, message):
    with pytest.raises(MembenchError, match=message):
        model_config(values)


def test_train_config_accepts_int_for_float_and_rejects_bad_values():
    assert train_config({"lr": 1}).lr == 1.0
    with pytest.raises(MembenchError, match="train.steps: must be >= 1"):
        train_config({"steps": 0})
    with pytest.raises(MembenchError, match="train.device: 'gpu' is not one of auto, cpu, cuda"):
        train_config({"device": "gpu"})


def spec(**changes):
    base = dict(
        task="copy",
        task_params={"length": 16, "vocab": 8},
        model={"d_model": 64},
        train={"steps": 100, "device": "cpu"},
        seed=0,
    )
    return TrialSpec(**{**base, **changes})


def test_trial_id_is_a_content_hash():
    assert spec().trial_id() == spec().trial_id()
    assert spec(seed=1).trial_id() != spec().trial_id()
    assert spec(model={"d_model": 32}).trial_id() != spec().trial_id()
    # where it runs does not change what it is
    assert spec(train={"steps": 100, "device": "cuda"}).trial_id() == spec().trial_id()


def test_parse_assignment_reads_yaml_values():
    assert parse_assignment("length=32") == ("length", 32)
    assert parse_assignment("x=true") == ("x", True)
    with pytest.raises(MembenchError, match="expected key=value"):
        parse_assignment("length")


def test_lr_must_be_positive():
    with pytest.raises(MembenchError, match=r"train.lr: must be > 0 \(a learning rate of 0"):
        train_config({"lr": 0})
    with pytest.raises(MembenchError, match="train.lr: must be > 0"):
        train_config({"lr": -1e-3})
    assert train_config({"grad_clip": 0}).grad_clip == 0.0  # 0: no clipping


CORE_MODEL = {"arch": "encoder", "d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 256}
CORE_TRAIN = dict(steps=2000, batch_size=32, lr=0.001, warmup=100, eval_every=100, eval_size=512)
SMOKE_MODEL = {"d_model": 32, "n_layers": 2, "n_heads": 4, "d_ff": 64}
SMOKE_TRAIN = {"steps": 300, "eval_every": 50, "eval_size": 256, "warmup": 30, "attention": True}
MEM5 = {**CORE_MODEL, "mem_tokens": 5}
BOTTLENECK4 = {**CORE_MODEL, "mem_tokens": 4, "bottleneck": True}


@pytest.mark.parametrize(
    "args,trial_id",
    [
        # shipped ids (results/<suite>/suite.json); args: task, overrides, model, train, seed
        (("copy", None, CORE_MODEL, CORE_TRAIN, 0), "3947c1ad0cb3"),  # core: baseline
        (("long_range_sum", None, MEM5, CORE_TRAIN, 1), "218996a4fab7"),  # core: mem5
        (("copy", {"length": 32}, BOTTLENECK4, CORE_TRAIN, 1), "d60a8a97b992"),  # capacity
        (("copy", None, SMOKE_MODEL, SMOKE_TRAIN, 0), "355961220005"),  # smoke: baseline
        # ids computed before identity versions existed: a named instance, a user's factory
        (("copy_long", None, None, None, 0), "8bb48a75d2f4"),
        (
            ("copy", None, {"width": 16}, {"steps": 50}, 3, "tests.user_models:lookup"),
            "e237d5629e0f",
        ),
    ],
)
def test_trial_ids_are_pinned(args, trial_id):
    """Changing any of these orphans stored results: read IDENTITY_VERSION before touching it."""
    from membench.config.identity import make_spec

    assert make_spec(*args).trial_id() == trial_id


def test_every_trial_of_the_shipped_suites_has_its_shipped_record():
    """The shipped results stay recorded: what `membench run SUITE --dry-run` checks."""
    from membench.suite.load import load_suite

    for name in ("core-v1", "capacity", "smoke"):
        ids = {t.id for t in load_suite(ROOT / "suites" / f"{name}.yaml").trials()}
        assert ids == {p.stem for p in (ROOT / "results" / name / "trials").glob("*.json")}


def test_identity_version_1_fields_are_the_fields_ids_were_first_hashed_with():
    assert IDENTITY_VERSION == 1
    assert set(IDENTITY_V1["spec"]) <= {f.name for f in dataclasses.fields(TrialSpec)}
    assert set(IDENTITY_V1["model"]) <= set(ModelConfig.model_fields)
    assert set(IDENTITY_V1["train"]) <= set(TrainConfig.model_fields)
    assert "device" not in IDENTITY_V1["train"]


def test_a_later_field_is_hashed_only_when_it_differs_from_its_default():
    v1, defaults = ("a", "b"), {"a": 1, "b": 2, "new": 0.5}
    assert only_set_later_fields({"a": 1, "b": 2, "new": 0.5}, v1, defaults) == {"a": 1, "b": 2}
    assert only_set_later_fields({"a": 1, "b": 2, "new": 0.7}, v1, defaults)["new"] == 0.7
    # a version-1 field and a field without a known default are always kept
    assert only_set_later_fields({"a": 9, "opt": 0}, v1, defaults) == {"a": 9, "opt": 0}


class TrainConfigPlus(TrainConfig):
    label_smoothing: float = 0.0  # a hypothetical option added after identity version 1


def test_adding_an_option_with_a_default_keeps_every_id(monkeypatch):
    from membench.config import identity
    from membench.config.identity import make_spec

    old = make_spec("copy", None, CORE_MODEL, CORE_TRAIN, 0)
    monkeypatch.setattr(identity, "TrainConfig", TrainConfigPlus)
    same = TrialSpec(**{**old.to_dict(), "train": {**old.train, "label_smoothing": 0.0}})
    other = TrialSpec(**{**old.to_dict(), "train": {**old.train, "label_smoothing": 0.1}})
    assert same.trial_id() == old.trial_id() == "3947c1ad0cb3"
    assert other.trial_id() != old.trial_id()


def test_a_new_task_parameter_at_its_default_keeps_the_id(monkeypatch):
    from membench import tasks
    from membench.tasks.base import Param

    copy = tasks.get("copy")
    old = spec().trial_id()
    params = {**copy.params, "noise": Param(0, 0, "a hypothetical later parameter")}
    monkeypatch.setattr(copy, "params", params)
    assert spec(task_params={"length": 16, "vocab": 8, "noise": 0}).trial_id() == old
    assert spec(task_params={"length": 16, "vocab": 8, "noise": 1}).trial_id() != old
