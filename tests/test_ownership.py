"""A results folder belongs to one suite: a changed suite run into it is refused in one line
naming the difference, a shipped folder is never rewritten, and compare refuses a reference
whose suite file no longer stands for its records."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from membench.cli import main
from membench.errors import MembenchError
from membench.store.records import check_owner, differences, plain, write_suite_file
from membench.suite.load import load_suite

ROOT = Path(__file__).parent.parent


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


def test_a_changed_copy_of_a_shipped_suite_is_refused_and_the_folder_stays_as_it_was(
    tmp_path, monkeypatch, capsys
):
    """The newcomer's case: smoke.yaml copied elsewhere with seeds: 3, run without --results
    from the repository, would have trained into the git-tracked results/smoke."""
    copy = tmp_path / "smoke.yaml"
    copy.write_text((ROOT / "suites/smoke.yaml").read_text().replace("seeds: 2", "seeds: 3"))
    assert "seeds: 3" in copy.read_text()
    monkeypatch.chdir(ROOT)
    before = digest(ROOT / "results/smoke")
    assert main(["run", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "results/smoke: holds suite 'smoke' made by suites/smoke.yaml" in err
    assert "seeds: [0, 1] -> [0, 1, 2]" in err and "--results runs/smoke" in err
    assert "--update-suite to let it stand for this file" in err  # only when asked for
    assert digest(ROOT / "results/smoke") == before
    # the same trials under other names (a renamed variant) from a copy: refused too
    copy.write_text((ROOT / "suites/smoke.yaml").read_text().replace("mem10:", "memory10:"))
    assert main(["run", str(copy)]) == 2
    assert "variants.mem10 removed" in capsys.readouterr().err
    assert digest(ROOT / "results/smoke") == before


def test_the_shipped_folders_stand_for_their_suite_files():
    for listing in sorted((ROOT / "results").glob("*/suite.json")):
        data = json.loads(listing.read_text())
        suite = load_suite(ROOT / data["path"])
        assert suite.name == data["suite"], listing
        assert differences(data["definition"], plain(suite.definition)) == [], listing
        # what a run writes: else `membench run` on a complete shipped folder, which trains
        # nothing, rewrites a tracked file (seen: design without compute_matched, records
        # labelled with the suite's old name)
        assert data["design"] == json.loads(json.dumps(suite.design)), listing
        listed = [listing.parent / "trials" / f"{t['id']}.json" for t in data["trials"]]
        labels = {json.loads(f.read_text()).get("suite") for f in listed if f.is_file()}
        assert labels <= {suite.name}, (listing, labels)


def test_its_own_file_may_change_a_copy_may_not_unless_update_suite(tmp_path, monkeypatch):
    suite_path = tmp_path / "s.yaml"
    shutil.copy(ROOT / "suites/smoke.yaml", suite_path)
    suite = load_suite(suite_path)
    results = tmp_path / "results"
    write_suite_file(results, suite, suite.trials())
    check_owner(results, suite)  # the same suite: fine
    data = yaml.safe_load(suite_path.read_text())
    data["variants"]["mem4"] = {"mem_tokens": 4}
    suite_path.write_text(yaml.safe_dump(data))
    check_owner(results, load_suite(suite_path))  # its own file grew a variant: it follows
    copy = tmp_path / "copy" / "s.yaml"
    copy.parent.mkdir()
    data["seeds"] = 3
    copy.write_text(yaml.safe_dump(data))
    with pytest.raises(
        MembenchError, match=r"made by .*s.yaml.*seeds: \[0, 1\] -> .*--update-suite"
    ):
        check_owner(results, load_suite(copy))
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(copy), "--results", str(results), "--dry-run"]) == 2
    assert main(["run", str(copy), "--results", str(results), "--dry-run",
                 "--update-suite"]) == 0  # fmt: skip
    other = tmp_path / "other.yaml"
    other.write_text(suite_path.read_text().replace("name: smoke", "name: other"))
    with pytest.raises(MembenchError, match="holds suite 'smoke'.*not 'other'"):
        check_owner(results, load_suite(other))


def test_compare_refuses_a_reference_whose_suite_file_changed(tmp_path, monkeypatch, capsys):
    suite_path = tmp_path / "smoke.yaml"
    shutil.copy(ROOT / "suites/smoke.yaml", suite_path)
    reference = tmp_path / "reference"
    shutil.copytree(ROOT / "results/smoke/trials", reference / "trials")
    suite = load_suite(suite_path)
    write_suite_file(reference, suite, suite.trials())
    text = suite_path.read_text()
    assert "lr: 0.001" in text or "train:" in text
    data = yaml.safe_load(text)
    data["description"] = "a new description changes nothing it stands for"
    suite_path.write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "mem_tokens=3", "--against", str(reference), "--dry-run"]) == 0
    data["train"] = {**data["train"], "warmup": data["train"].get("warmup", 100) + 1}
    suite_path.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["compare", "mem_tokens=3", "--against", str(reference), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "has changed since these records were made" in err
    assert "train.warmup" in err
