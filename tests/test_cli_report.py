"""`membench report` on a CSV from elsewhere: every format written, errors in one line."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow  # runs `membench report` in a subprocess


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "membench.cli", "report", *args], capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    rng = np.random.default_rng(0)
    rows = [
        {
            "task": task,
            "variant": variant,
            "seed": seed,
            "exact_match": 0.6 + effect + rng.normal(0, 0.02),
        }
        for task in ("copy", "sort")
        for variant, effect in (("baseline", 0.0), ("mem10", 0.2), ("bneck", -0.3))
        for seed in range(8)  # 4 comparisons: 2/2^8 < 0.05/4, a unanimous gap is significant
    ]
    path = tmp_path_factory.mktemp("csv") / "some.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_report_of_a_csv_marks_the_real_differences(table, tmp_path):
    written = tmp_path / "some_report"
    out = cli(str(table), "--out", str(written))
    assert out.returncode == 0, out.stderr
    for name in ("report.md", "report.tex", "report.csv", "report.json", "report.html"):
        assert (written / name).is_file()
    comparisons = {
        c["variant"]: c for c in json.loads((written / "report.json").read_text())["comparisons"]
    }
    assert comparisons["mem10"]["significant"] and comparisons["mem10"]["better"] is True
    assert comparisons["bneck"]["significant"] and comparisons["bneck"]["better"] is False
    assert "▲" in out.stdout and "▼" in out.stdout


def test_report_prints_and_writes_nothing_without_out(tmp_path):
    import shutil

    results = tmp_path / "smoke"
    shutil.copytree(Path(__file__).parent.parent / "results" / "smoke", results)
    before = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    for args in ([], ["--format", "html"], ["--format", "md"], ["--metric", "token_accuracy"]):
        out = cli(str(results), *args)
        assert out.returncode == 0, out.stderr
        after = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
        assert after == before, args  # no shipped report rewritten, nothing added
    html = cli(str(results), "--format", "html").stdout
    assert html.startswith("<!doctype html>") and "data:image/png;base64," in html
    assert list(tmp_path.iterdir()) == [results]


def test_format_prints_that_rendering(table, tmp_path):
    out = cli(str(table), "--format", "latex", "--out", str(tmp_path))
    assert out.returncode == 0
    assert "\\toprule" in out.stdout and "\\textbf{" in out.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["nope.csv"], "nope.csv: no such file or directory"),
        (
            ["{table}", "--baseline", "basline"],
            "unknown baseline 'basline': did you mean 'baseline'?",
        ),
        (
            ["{table}", "--metric", "exact_mach"],
            "unknown metric 'exact_mach': did you mean 'exact_match'?",
        ),
    ],
)
def test_errors_are_one_line_exit_2(table, args, message):
    out = cli(*[a.format(table=table) for a in args])
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
