"""Which code made a result: the built-in models' code version is pinned to their outputs, and a
changed factory module makes its records stale (listed, reported as such, retrained on request)."""

import hashlib
import json

import pytest
import torch
import yaml

from membench.models import build_model
from membench.store.fingerprint import MODEL_CODE_VERSION, fingerprint, is_stale, recorded

# sha256 of the built-in models' logits (rounded) for fixed seeds and inputs, per code version.
# A change that alters what a built-in model computes must bump MODEL_CODE_VERSION (so records
# made before it are flagged stale) and add the new version's hash here.
PINNED = {1: "6dcae3bd9659"}
CONFIGS = [
    {},
    {"mem_tokens": 4},
    {"mem_tokens": 4, "controller": "dedicated"},
    {"mem_tokens": 4, "bottleneck": True},
    {"mem_tokens": 4, "causal": False},
    {"mem_tokens": 4, "arch": "encoder_decoder"},
    {"mem_tokens": 4, "arch": "recurrent", "segment": 3},
]


def model_outputs_digest() -> str:
    blob = hashlib.sha256()
    for i, options in enumerate(CONFIGS):
        torch.manual_seed(i)
        config = {"d_model": 16, "n_layers": 2, "n_heads": 2, "d_ff": 32, **options}
        model = build_model(config, 6, 8, 8).eval()
        src = torch.randint(0, 6, (3, 8), generator=torch.Generator().manual_seed(100 + i))
        tgt = torch.randint(0, 6, (3, 8), generator=torch.Generator().manual_seed(200 + i))
        with torch.no_grad():
            logits = model(src, tgt)
        blob.update(json.dumps(logits.round(decimals=4).tolist()).encode())
    return blob.hexdigest()[:12]


def test_built_in_models_compute_what_their_code_version_says():
    assert model_outputs_digest() == PINNED[MODEL_CODE_VERSION], (
        "the built-in models' outputs changed: bump membench.fingerprint.MODEL_CODE_VERSION and "
        "pin the new digest here, so records made by the old code are flagged stale"
    )


def test_fingerprints_of_records():
    assert fingerprint(None) == {"model_code": MODEL_CODE_VERSION}
    assert recorded({"factory": None}) == {"model_code": 1}  # made before fingerprints: v1
    assert recorded({"factory": "m:build"}) is None  # a factory's: unknown
    assert not is_stale({"code": {"model_code": MODEL_CODE_VERSION}}, fingerprint(None))
    assert is_stale({"factory": "m:build"}, {"factory": "m", "source": "abc"})


MODEL_SOURCE = """
from torch import nn


class Model(nn.Module):
    def __init__(self, vocab_size, tgt_len):
        super().__init__()
        self.tgt_len = tgt_len
        self.embed = nn.Embedding(vocab_size, 8)
        self.head = nn.Linear(8, vocab_size)

    def forward(self, src, tgt):
        return self.head(self.embed(src[:, : tgt.shape[1]]))

    def predict(self, src, tgt_len):
        return self.forward(src, src[:, :tgt_len]).argmax(-1)


def build(config, vocab_size, src_len, tgt_len):
    return Model(vocab_size, tgt_len)
"""


@pytest.mark.slow
@pytest.mark.ray
def test_an_edited_factory_makes_its_trials_stale_until_rerun(ray_local, tmp_path, capsys):
    from membench.cli import main
    from membench.report.model import build_report
    from membench.run.sweep import run_suite
    from membench.store.records import read_records
    from membench.store.results import load_suite_results
    from membench.suite.load import load_suite

    (tmp_path / "stale_models.py").write_text(MODEL_SOURCE)
    suite = {
        "name": "stale",
        "tasks": [{"copy": {"length": 4, "vocab": 3}}],
        "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32},
        "variants": {"baseline": {}, "mine": {"factory": "stale_models:build"}},
        "seeds": 2,
        "train": {"steps": 10, "eval_every": 10, "eval_size": 32, "attention": False},
    }
    path, results = tmp_path / "suite.yaml", tmp_path / "results"
    path.write_text(yaml.safe_dump(suite))
    assert run_suite(load_suite(path), results) == 0
    before = read_records(results / "trials")
    assert all(r["code"] == fingerprint(r["factory"]) for r in before.values())
    capsys.readouterr()

    (tmp_path / "stale_models.py").write_text(MODEL_SOURCE + "\n# tuned the head\n")
    assert run_suite(load_suite(path), results) == 1  # listed, not silently reused
    out = capsys.readouterr().out
    assert "2 trials were made by other model code" in out and "--rerun-stale" in out
    assert out.count("stale: copy[length=4,vocab=3] / mine seed") == 2
    assert read_records(results / "trials") == before  # nothing retrained without asking
    found = load_suite_results(results)
    assert found.table.groupby("variant")["stale"].sum().to_dict() == {"baseline": 0, "mine": 2}
    notes = build_report(found.table, "exact_match", "baseline").notes
    assert any(n.startswith("stale: 2 trials") and "mine (seeds 0, 1)" in n for n in notes)
    assert main(["run", str(path), "--dry-run", "--results", str(results)]) == 0
    assert "2 stale" in capsys.readouterr().out

    assert run_suite(load_suite(path), results, rerun_stale=True) == 0
    out = capsys.readouterr().out
    assert "2 of 4 trials to train" in out
    after = read_records(results / "trials")
    retrained = {i for i in after if after[i] != before[i]}
    assert retrained == {i for i, r in before.items() if r["factory"]}
    assert not load_suite_results(results).table["stale"].any()
