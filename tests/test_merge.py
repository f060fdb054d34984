"""Several variants in one compare, and comparisons merged into one report (`membench report
A B`), like with like: one reference, one baseline, no variant name meaning two models."""

import json
import shutil
from pathlib import Path

import pytest

from membench.cli import main
from membench.errors import MembenchError
from membench.store.results import load_suite_results, merge_results

ROOT = Path(__file__).parent.parent
SMOKE = ROOT / "results" / "smoke"


def comparison(tmp_path: Path, name: str, variant: str, salt: str) -> Path:
    """A folder as `membench compare` leaves it: smoke's records plus a new variant's (here
    smoke's mem10 records under another name and new ids, `salt` making the ids differ)."""
    folder = tmp_path / name
    shutil.copytree(SMOKE / "trials", folder / "trials")
    listing = json.loads((SMOKE / "suite.json").read_text())
    listing["suite"] = name
    for t in [t for t in listing["trials"] if t["variant"] == "mem10"]:
        record = json.loads((SMOKE / "trials" / f"{t['id']}.json").read_text())
        record.update(id=f"{salt}{t['id'][len(salt) :]}", variant=variant, suite=name)
        (folder / "trials" / f"{record['id']}.json").write_text(json.dumps(record))
        listing["trials"].append({**t, "id": record["id"], "variant": variant})
    (folder / "suite.json").write_text(json.dumps(listing))
    return folder


def test_comparisons_against_one_reference_merge_into_one_report(tmp_path, capsys):
    a = comparison(tmp_path, "smoke+memA", "memA", "aa")
    b = comparison(tmp_path, "smoke+memB", "memB", "bb")
    merged = merge_results([a, b], [load_suite_results(a), load_suite_results(b)])
    assert sorted(set(merged.table["variant"])) == ["baseline", "mem10", "memA", "memB"]
    assert len(merged.table) == 16  # the reference's 8 once, and 4 of each new variant
    assert main(["report", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "memA" in out and "memB" in out


def test_merging_refuses_unlike_folders(tmp_path):
    a = comparison(tmp_path, "smoke+memA", "memA", "aa")
    clash = comparison(tmp_path, "smoke+memA2", "memA", "cc")  # memA again, another model
    with pytest.raises(MembenchError, match="variant 'memA' means different models"):
        merge_results([a, clash], [load_suite_results(a), load_suite_results(clash)])
    other = comparison(tmp_path, "core+memA", "memA", "dd")
    with pytest.raises(MembenchError, match="do not share a reference"):
        merge_results([a, other], [load_suite_results(a), load_suite_results(other)])
    # one name, another reference: smoke with other seeds
    moved = comparison(tmp_path, "smoke+memC", "memC", "ee")
    listing = json.loads((moved / "suite.json").read_text())
    listing["definition"]["seeds"] = [0, 1, 2]
    (moved / "suite.json").write_text(json.dumps(listing))
    with pytest.raises(MembenchError, match=r"different references \(seeds: \[0, 1\] -> "):
        merge_results([a, moved], [load_suite_results(a), load_suite_results(moved)])


def test_compare_takes_several_variants_separated_by_plus(capsys):
    argv = ["compare", "mem_tokens=4", "+", "mem_tokens=6", "--against", str(SMOKE), "--dry-run"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mem4: " in out and "mem6: " in out
    assert "8 of 8 trials of mem4, mem6 to train" in out and "runs/smoke+mem4+mem6" in out
    assert main(["compare", "mem_tokens=4", "+", "mem_tokens=4", "--against", str(SMOKE),
                 "--dry-run"]) == 2  # fmt: skip
    assert main(["compare", "mem_tokens=4", "+", "--against", str(SMOKE), "--dry-run"]) == 2
