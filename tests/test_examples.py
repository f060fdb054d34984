"""The shipped examples (examples/): each suite loads and imports its factory, and each user
model trains through membench's own trial loop, meets the model contract and learns."""

import sys
from pathlib import Path

import pytest
import torch

from membench.config.identity import make_spec
from membench.run.record import NO_LAYOUT
from membench.run.train import build, run_trial
from membench.suite.load import load_suite

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TINY = {"d_model": 32, "n_layers": 1, "n_heads": 2, "d_ff": 64}
COPY = {"length": 4, "vocab": 3}  # chance: 1/3
GRU, XT = "gru_seq2seq:build", "xtransformers_memory:build"


@pytest.fixture(autouse=True)
def examples_importable(monkeypatch):
    """The factories' folder on sys.path, as `membench run` puts a suite's folder; undone after
    (load_suite's own insertion too: monkeypatch restores the whole list)."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models run fastest on one thread
    yield
    torch.set_num_threads(threads)


def needs(factory):
    """x-transformers is optional (the bench and test extras install it)."""
    if factory == XT:
        pytest.importorskip("x_transformers")


def spec(factory, steps, seed=0, **model):
    train = {"steps": steps, "eval_every": 50, "eval_size": 128, "warmup": 10, "device": "cpu"}
    return make_spec("copy", COPY, {**TINY, **model}, train, seed, factory)


@pytest.mark.parametrize(
    "suite, factory, variants",
    [
        ("gru", GRU, ["baseline", "mem10", "gru"]),
        ("xtransformers", XT, ["baseline", "mem10", "xt", "xt_mem10"]),
    ],
)
def test_suite_loads_with_its_factory(suite, factory, variants):
    loaded = load_suite(EXAMPLES / f"{suite}.yaml")  # imports the factory's module
    assert [v.name for v in loaded.variants] == variants
    assert [t.label for t in loaded.tasks] == ["copy[length=8]", "sort[length=8]"]
    assert loaded.baseline == "baseline" and loaded.seeds == [0, 1, 2]
    mine = [v for v in loaded.variants if v.factory]
    assert mine and all(v.factory == factory for v in mine)
    assert all(v.model["d_model"] == 64 for v in mine)  # the base model: keys reach the factory


@pytest.mark.parametrize("factory", [GRU, XT])
def test_model_meets_the_contract(factory):
    needs(factory)
    task, model = build(spec(factory, 1, mem_tokens=4), torch.device("cpu"))
    src, tgt = task.generate(8, torch.Generator().manual_seed(0), **COPY)
    assert model(src, tgt).shape == (8, 4, 3)  # [batch, target length, vocab]
    with torch.no_grad():
        tokens = model.predict(src, 4)
        assert tokens.shape == (8, 4) and tokens.dtype == torch.long
        assert 0 <= tokens.min() and tokens.max() < 3
        if factory == GRU:  # greedy decoding is teacher forcing on its own predictions
            assert torch.equal(model(src, tokens).argmax(-1), tokens)
        else:  # answers at the slots: the target tokens are never read
            assert torch.equal(model(src, tgt), model(src, torch.zeros_like(tgt)))
            assert model.net.memory_tokens.shape == (4, 32)


@pytest.mark.slow
@pytest.mark.parametrize("factory, steps", [(GRU, 300), (XT, 100)])
def test_model_learns_copy_in_a_membench_trial(factory, steps):
    needs(factory)
    record = run_trial(spec(factory, steps, mem_tokens=4))
    assert record["status"] == "ok", record["error"]
    assert record["metrics"]["chance"] == pytest.approx(1 / 3)
    assert record["metrics"]["token_accuracy"] > 2 / 3  # well above chance
    assert record["notes"] == [NO_LAYOUT]  # no attention maps: skipped, and said so


def test_xtransformers_missing_fails_the_trial_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "x_transformers", None)  # import now fails, installed or not
    record = run_trial(spec(XT, 1))
    assert record["status"] == "failed"
    assert record["error"] == (
        "factory xtransformers_memory:build: ImportError: examples/xtransformers_memory.py "
        "needs x-transformers: pip install x-transformers"
    )
