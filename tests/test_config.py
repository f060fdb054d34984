import pytest

from membench.config import TrialSpec, model_config, parse_assignment, train_config
from membench.errors import MembenchError


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
