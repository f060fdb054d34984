"""`membench export`: one row per trial of a results folder, read back from CSV and Parquet."""

import json
from pathlib import Path

import pandas as pd
import pytest

from membench.cli import main
from membench.store.fingerprint import recorded

ROOT = Path(__file__).parent.parent
SMOKE = ROOT / "results" / "smoke"


@pytest.mark.parametrize("fmt,read", [("csv", pd.read_csv), ("parquet", pd.read_parquet)])
def test_export_writes_a_row_per_trial_with_options_metrics_code_and_machine(tmp_path, fmt, read):
    out = tmp_path / f"smoke.{fmt}"
    assert main(["export", str(SMOKE), "--format", fmt, "--out", str(out)]) == 0
    table = read(out)
    listed = [t["id"] for t in json.loads((SMOKE / "suite.json").read_text())["trials"]]
    assert list(table["id"]) == listed
    for column in ("seed", "variant", "model.d_model", "model.mem_tokens", "train.lr",
                   "task_params.length", "exact_match", "aulc", "code", "host", "cpu",
                   "versions.torch"):  # fmt: skip
        assert column in table.columns, column
    assert "curve" not in table.columns  # nested parts stay in the records
    for row in table.itertuples():
        record = json.loads((SMOKE / "trials" / f"{row.id}.json").read_text())
        assert row.exact_match == pytest.approx(record["metrics"]["exact_match"])
        assert row.seed == record["seed"] and json.loads(row.code) == recorded(record)


def test_export_never_replaces_a_file_unasked(tmp_path, capsys):
    out = tmp_path / "smoke.csv"
    out.write_text("mine")
    assert main(["export", str(SMOKE), "--out", str(out)]) == 2
    assert "exists: name another file, or pass --force" in capsys.readouterr().err
    assert out.read_text() == "mine"
    assert main(["export", str(SMOKE), "--out", str(out), "--force"]) == 0
    assert out.read_text().startswith("id,")
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "x.csv")]) == 2
