"""`membench compare`: one new variant against a results folder, which is only read."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from membench.cli import main
from membench.store.records import read_records
from tests.test_suite import TINY

ROOT = Path(__file__).resolve().parent.parent


def snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def smoke(tmp_path, monkeypatch):
    """A copy of the shipped results/smoke, read from the repository root as shipped."""
    monkeypatch.chdir(ROOT)
    copy = tmp_path / "smoke"
    shutil.copytree(ROOT / "results" / "smoke", copy, ignore=shutil.ignore_patterns("report"))
    return copy


def test_dry_run_says_what_trains_and_writes_nothing(smoke, tmp_path, capsys):
    out = tmp_path / "out"
    before = snapshot(smoke)
    assert main(["compare", "mem_tokens=4", "--against", str(smoke), "--results", str(out),
                 "--dry-run"]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "mem4: d_model=32, d_ff=64, mem_tokens=4" in text  # over smoke's base model
    assert "8 trials of 2 variants, only read), tested against 'baseline'" in text
    assert "dry run: nothing trained, nothing written" in text
    assert "4 of 4 trials of mem4 to train (2 tasks × 2 seeds)" in text
    assert not out.exists() and snapshot(smoke) == before


def test_dry_run_of_a_climb_says_its_next_round_not_the_grid(tmp_path, capsys, monkeypatch):
    """Against a climbing reference the new variant climbs too: the bottom of each ladder first."""
    from membench.suite.climb import ladders
    from membench.suite.load import load_suite

    monkeypatch.chdir(ROOT)
    core = load_suite(ROOT / "suites" / "core.yaml")
    out = tmp_path / "out"
    assert main(["compare", "mem_tokens=3", "--against", "results/core", "--results", str(out),
                 "--dry-run"]) == 0  # fmt: skip
    text = " ".join(capsys.readouterr().out.split())
    seeds = len(core.seeds)
    assert f"a climb: at most {len(core.tasks) * seeds} trials of mem3" in text
    assert f"its next round trains {len(ladders(core)) * seeds}, each later round" in text
    assert not out.exists()


def test_a_factory_by_path_is_named_by_its_module(smoke, capsys):
    args = ["compare", "examples/gru_seq2seq.py:build", "d_model=32", "--against", str(smoke)]
    assert main([*args, "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "gru_seq2seq: factory gru_seq2seq:build (d_model=32)" in text
    assert "records: runs/smoke+gru_seq2seq" in text


@pytest.mark.parametrize(
    "args,expected",
    [
        (["mem_tokens=10"], "is a model"),  # smoke's mem10 already: nothing new
        (["mem_tokens=2", "--name", "mem10"], "--name: 'mem10' names a variant"),
        (["nothing"], "neither key=value nor a factory"),
        (["missing.py:build"], "no such file 'missing.py'"),
        (["mem_tokens=two"], "expected int"),
        (["mem_tokens=2", "--baseline", "mem20"], "--baseline: 'mem20' is not a variant"),
        (["mem_tokens=2", "--metric", "exact"], "did you mean 'exact_match'?"),
    ],
)
def test_what_cannot_be_compared_is_one_line(smoke, capsys, args, expected):
    assert main(["compare", *args, "--against", str(smoke), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err


def test_a_reference_that_does_not_stand_for_its_suite_is_refused(smoke, tmp_path, capsys):
    assert main(["compare", "mem_tokens=2", "--against", str(tmp_path)]) == 2
    assert "no suite.json: compare needs a folder that `membench run` wrote" in (
        capsys.readouterr().err
    )
    assert main(["compare", "mem_tokens=2", "--against", str(smoke), "--results",
                 str(smoke)]) == 2  # fmt: skip
    assert "is the reference folder; it is only read" in capsys.readouterr().err
    # the suite file changed since (a third seed): its trials are not the records listed
    changed = yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text()) | {"seeds": 3}
    (tmp_path / "smoke.yaml").write_text(yaml.safe_dump(changed))
    listing = json.loads((smoke / "suite.json").read_text())
    (smoke / "suite.json").write_text(json.dumps(listing | {"path": str(tmp_path / "smoke.yaml")}))
    assert main(["compare", "mem_tokens=2", "--against", str(smoke)]) == 2
    assert "has changed since these records were made" in capsys.readouterr().err
    (smoke / "suite.json").write_text(json.dumps(listing))
    # a record made by other model code (stale)
    first = next((smoke / "trials").glob("*.json"))
    record = json.loads(first.read_text())
    first.write_text(json.dumps(record | {"code": {"model_code": "other"}}))
    assert main(["compare", "mem_tokens=2", "--against", str(smoke)]) == 2
    assert "1 records were made by other model code" in capsys.readouterr().err


@pytest.mark.ray
def test_compare_trains_only_the_new_variant_and_leaves_the_reference_as_it_was(
    ray_local, tmp_path, capsys
):
    from membench.run.sweep import run_suite
    from membench.suite.load import load_suite

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY, sort_keys=False))
    reference = tmp_path / "reference"
    assert run_suite(load_suite(path), reference) == 0
    before = snapshot(reference)
    out = tmp_path / "out"
    args = ["compare", "mem_tokens=2", "bottleneck=true", "--against", str(reference)]
    assert main([*args, "--results", str(out)]) == 0
    assert snapshot(reference) == before  # only read
    records = read_records(out / "trials")
    assert len(records) == 4 + 2  # the reference's 4, copied, and the new variant's 2 seeds
    new = [r for r in records.values() if r["variant"] == "mem2-bottleneck"]
    assert len(new) == 2 and all(r["model"]["bottleneck"] for r in new)
    report = (out / "report" / "report.md").read_text()
    assert "mem2-bottleneck" in report and "mem4" in report
    capsys.readouterr()
    assert main([*args, "--results", str(out), "--dry-run"]) == 0
    assert "0 of 2 trials of mem2-bottleneck to train" in capsys.readouterr().out
