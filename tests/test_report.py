import json
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt
from rich.console import Console

from membench.report.model import build_report
from membench.report.render import render, write_report
from membench.report.terminal import print_report

TASKS = {"copy": 1.0, "sort": 0.8, "assoc_recall": 0.3}
VARIANTS = {
    "baseline": (0, 0.0),
    "mem_10": (10, 0.08),
    "mem_20": (20, 0.02),
    "bottleneck_8": (8, -0.3),
}


def results(seeds: int = 5, curves: bool = True, seed: int = 0) -> pd.DataFrame:
    """Rows shaped like membench.load_results: copy saturates, the bottleneck is clearly worse."""
    rng = np.random.default_rng(seed)
    rows = []
    for task, level in TASKS.items():
        for variant, (mem, effect) in VARIANTS.items():
            for s in range(seeds):
                em = 1.0 if level == 1.0 and effect >= 0 else level + effect + rng.normal(0, 0.02)
                row = dict(task=task, variant=variant, seed=s, status="ok", error=None)
                row.update(exact_match=em, token_accuracy=min(1.0, em + 0.05), final_loss=1 - em)
                row.update(steps_to_solve=2000 - 1000 * em, params=1000 + 10 * mem)
                row.update(train_flops=1e9 * (1 + mem / 10), mem_tokens=mem)
                if curves:
                    row["curve"] = [
                        dict(
                            step=100 * k,
                            loss=2 / (k + 1),
                            token_accuracy=em,
                            exact_match=em * k / 4,
                        )
                        for k in range(5)
                    ]
                rows.append(row)
    return pd.DataFrame(rows)


def with_failure(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    i = df.index[(df["task"] == "sort") & (df["variant"] == "mem_20") & (df["seed"] == 4)][0]
    df.loc[i, ["status", "error"]] = ["failed", "Traceback ...\nRuntimeError: out of memory"]
    df.loc[i, "exact_match"] = np.nan
    return df


def cell(report, task, variant):
    c = report.comparisons
    return c[(c["task"] == task) & (c["variant"] == variant)].iloc[0]


def test_build_report_contents():
    report = build_report(with_failure(results()), test="t")
    assert report.baseline == "baseline" and report.variants[0] == "baseline"
    assert report.tasks == list(TASKS)
    assert len(report.comparisons) == 3 * 3
    assert cell(report, "copy", "mem_10")["test"] == "identical"
    assert cell(report, "sort", "bottleneck_8")["better"] is False
    broken = cell(report, "sort", "mem_20")  # a failed seed: the other 4 stay paired
    assert broken["test"] == "paired-t" and broken["n_paired"] == 4
    assert "seed 4 only in baseline" in broken["note"]
    assert report.failed == [
        dict(
            task="sort",
            variant="mem_20",
            seed=4,
            error="Traceback ...\nRuntimeError: out of memory",
        )
    ]
    assert report.missing == [dict(task="sort", variant="mem_20", n=4, expected=5, seeds=[4])]
    assert report.costs.loc["mem_10", "params_x"] == pytest.approx(1.1)
    assert report.costs.loc["baseline", "train_flops_x"] == 1.0
    assert "Welch" in report.method and "Holm" in report.method and "Tarone" in report.method
    assert "paired t-test on per-seed differences (scipy ttest_rel; 7 of 9)" in report.method
    assert (report.data["status"] == "ok").all()


def test_baseline_choice_and_errors():
    df = results(curves=False)
    first = df[df["variant"] != "baseline"]
    assert build_report(first).baseline == "mem_10"  # no 'baseline': the first variant
    assert build_report(df, baseline="mem_20").variants[0] == "mem_20"
    msg = "unknown baseline 'mem20': did you mean 'mem_20'\\? known: baseline, mem_10, mem_20, bo"
    with pytest.raises(ValueError, match=msg):
        build_report(df, baseline="mem20")
    with pytest.raises(ValueError, match="did you mean 'exact_match'"):
        build_report(df, metric="exact_mach")
    with pytest.raises(ValueError, match="unknown correction"):
        build_report(df, correction="bonferroni")


def test_minimal_columns_and_missing_cells():
    df = results(curves=False)[["task", "variant", "seed", "exact_match"]]
    df = df[~((df["task"] == "sort") & (df["variant"] == "mem_10"))]  # a cell with no runs at all
    report = build_report(df)
    assert report.failed == [] and report.costs.columns.empty
    assert report.missing == [
        dict(task="sort", variant="mem_10", n=0, expected=5, seeds=[0, 1, 2, 3, 4])
    ]
    assert report.ranks.n_tasks == 2  # rank tests need every variant on a task
    md = render(report, "md")
    row = next(line for line in md.splitlines() if line.startswith("| mem_10 |"))
    assert row.split(" | ")[2] == "–" and "params ×" not in md


def test_markers_follow_direction():
    df = results(curves=False)
    up = render(build_report(df, metric="exact_match", test="t"), "md")
    assert "▼" in up.split("\n| bottleneck_8")[1].split("\n")[0]
    loss = build_report(df, metric="final_loss", test="t")
    row = render(loss, "md").split("\n| bottleneck_8")[1].split("\n")[0]
    assert "▼" in row and "▲" not in row  # higher loss is worse
    assert cell(loss, "sort", "bottleneck_8")["better"] is False


def test_every_format_renders():
    report = build_report(with_failure(results()), test="t")
    for fmt in ["md", "latex", "csv", "json", "html"]:
        assert render(report, fmt)
    with pytest.raises(ValueError):
        render(report, "docx")
    html = render(report, "html")
    assert html.startswith("<!doctype html>") and "▼" in html and "</html>" in html
    csv = pd.read_csv(pd.io.common.StringIO(render(report, "csv")))
    assert len(csv) == len(TASKS) * len(VARIANTS)
    assert {"p_adjusted", "diff_ci_low", "is_baseline", "solve_counts"} <= set(csv.columns)


def test_markdown_table():
    md = render(build_report(results(curves=False)), "md")
    lines = md.splitlines()
    header = next(line for line in lines if line.startswith("| variant | copy"))
    assert header.count("|") == len(TASKS) + 5  # variant, tasks, rank, params, FLOPs
    assert "**1.000** [0.478, 1.000]" in md and "1.10x" in md  # 5 seeds at 1: exact bound
    assert "Friedman chi2" in md and "## Method" in md


def test_json_is_strict_and_complete():
    report = build_report(with_failure(results()))
    text = render(report, "json")

    def no_constants(name):
        raise AssertionError(f"{name} in JSON")

    obj = json.loads(text, parse_constant=no_constants)
    assert {"cells", "comparisons", "ranks", "aggregate", "method", "failed", "missing"} <= set(obj)
    assert obj["ranks"]["average_ranks"]["bottleneck_8"] == 4.0
    assert obj["failed"][0]["seed"] == 4 and obj["missing"][0]["seeds"] == [4]
    base = next(a for a in obj["aggregate"] if a["variant"] == "baseline")
    assert base["prob_improvement"] is None  # NaN became null
    assert {c["better"] for c in obj["comparisons"]} <= {True, False, None}


def test_latex_structure():
    report = build_report(results(curves=False), test="t")
    tex = render(report, "latex")
    assert tex.count("\\toprule") == tex.count("\\midrule") == tex.count("\\bottomrule") == 2
    assert "assoc\\_recall" in tex and "mem\\_10" in tex and "95\\%" in tex
    assert "\\textbf{1.000}" in tex and "$^{\\downarrow}$" in tex
    sort = report.cells[report.cells["task"] == "sort"].set_index("variant")["mean"]
    assert sort.idxmax() == "mem_10"
    body = next(line for line in tex.splitlines() if line.startswith("mem\\_10 &"))
    assert f"\\textbf{{{sort.max():.3f}}}" in body
    assert tex.count("{") == tex.count("}")
    assert "_" not in tex.replace("\\_", "")
    main, comparisons = tex.split("\\end{table}")[:2]
    for line in main.splitlines():
        if line.endswith("\\\\"):
            assert line.count("&") == len(TASKS) + 3
    rows = [line for line in comparisons.splitlines() if line.endswith("\\\\")]
    assert len(rows) == 1 + len(report.comparisons) and all(r.count("&") == 9 for r in rows)
    assert "$<$0.001$^{\\downarrow}$" in comparisons


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles(tmp_path):
    tex = render(build_report(with_failure(results()), test="t"), "latex")
    doc = "\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n%s\\end{document}\n"
    (tmp_path / "t.tex").write_text(doc % tex)
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout[-2000:]


def test_terminal_output():
    console = Console(record=True, width=140)
    print_report(build_report(with_failure(results())), console)
    text = console.export_text()
    for expected in [
        "exact_match vs baseline",
        "▼",
        "Friedman",
        "Aggregates",
        "failed:",
    ]:
        assert expected in text
    # the verdicts come last, then the problems, then where the method is: not in the terminal
    assert "Method." not in text and text.index("Verdicts") > text.index("Aggregates")
    assert text.rstrip().endswith("method and every table: membench report RESULTS --out DIR")
    assert "missing: sort / mem_20: 4 of 5 (seed 4 without a record)" in text


def test_task_names_with_markup_survive():
    df = results(curves=False)
    df["task"] = df["task"].replace({"sort": "sort[length=32]"})
    console = Console(record=True, width=160)
    report = build_report(df)
    print_report(report, console)
    assert "sort[length=32]" in console.export_text()
    assert "sort[length=32]" in render(report, "latex")
    df["variant"] = df["variant"].replace({"mem_10": "[mem]_10"})
    assert "\n{}[mem]\\_10 &" in render(build_report(df), "latex")


def test_degenerate_suites_do_not_crash(tmp_path):
    one_task = results(curves=False)
    one_task = one_task[one_task["task"] == "sort"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        report = build_report(one_task)
    assert "at least 2 tasks" in render(report, "md")
    names = [p.name for p in write_report(report, tmp_path, formats=("md",))]
    assert "cd_exact_match.png" not in names  # no critical differences from one task
    single = results(curves=False, seeds=1)
    report = build_report(single)
    assert (report.comparisons["test"] == "none").all()
    assert not report.comparisons["decidable"].any()
    json.loads(render(report, "json"))


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_write_report_files_and_plots(tmp_path):
    report = build_report(with_failure(results()))
    paths = write_report(report, tmp_path / "out", formats=("md", "latex", "csv", "json", "html"))
    names = {p.name for p in paths}
    assert {"report.md", "report.tex", "report.csv", "report.json", "report.html"} <= names
    pngs = {"exact_match_by_task.png", "curves_exact_match.png", "cd_exact_match.png"}
    assert pngs | {"exact_match_vs_mem_tokens.png"} <= names
    for p in paths:
        assert p.exists() and p.stat().st_size > 0
        if p.suffix == ".png":
            assert p.read_bytes()[:8] == PNG_MAGIC
    leftovers = [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    assert plt.get_fignums() == []  # every figure closed
    json.loads((tmp_path / "out" / "report.json").read_text())


def test_plots_skip_what_the_data_lacks(tmp_path):
    df = results(curves=False).drop(columns=["mem_tokens"])
    paths = write_report(build_report(df), tmp_path, formats=())
    assert {p.name for p in paths} == {"exact_match_by_task.png", "cd_exact_match.png"}


def test_censored_steps_show_solved_counts_and_never_a_mean():
    rows = []
    for s in range(3):
        rows.append(dict(task="t", variant="baseline", seed=s, steps_to_solve=2000, solved=False))
        rows.append(
            dict(task="t", variant="fast", seed=s, steps_to_solve=300 + 100 * s, solved=True)
        )
    report = build_report(pd.DataFrame(rows).assign(status="ok"), metric="steps_to_solve")
    md = render(report, "md")
    assert "| baseline | > 2000 (0/3) |" in md and "**400** (3/3) †" in md
    row = report.comparisons.iloc[0]
    assert row["test"] == "sign (censored)" and row["p_value"] == pytest.approx(0.25)
    assert "needs ~6 seeds" in row["note"] and "censoring-aware sign test" in report.method
    assert report.aggregate.empty and "Aggregates" not in md


def test_noise_ranks_are_said_in_words_and_no_effect_size_explodes():
    rows = [
        dict(task=t, variant=v, seed=s, exact_match=level + 0.1 * (v == "b"))
        for t, level in (("x", 0.5), ("y", 0.3))
        for v in ("a", "b")
        for s in range(3)
    ]
    report = build_report(pd.DataFrame(rows), baseline="a")
    md = render(report, "md")
    assert "avg rank (noise)" in md and "ranks not distinguishable (Friedman p = 0.157" in md
    assert "inf" not in md.replace("informative", "") and "| A12 |" in md
    console = Console(record=True, width=120)
    print_report(report, console)
    text = console.export_text()
    assert "Verdicts" in text and "2 of 2 cannot be significant at these seeds" in text


@pytest.mark.parametrize("alpha", ["2", "0", "-0.5", "1"])
def test_alpha_outside_zero_one_is_a_one_line_error(alpha, capsys):
    from membench.cli import main

    assert (
        main(["report", str(Path(__file__).parent.parent / "results" / "smoke"), "--alpha", alpha])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err == f"membench report: error: --alpha: must be in (0, 1), got {float(alpha):g}"


def test_an_unknown_metric_lists_metrics_not_config_fields(capsys):
    from membench.cli import main

    smoke = Path(__file__).parent.parent / "results" / "smoke"
    assert main(["report", str(smoke), "--metric", "exact_mach"]) == 2
    err = capsys.readouterr().err
    known = err.split("known: ", 1)[1].strip().split(", ")
    assert known[:2] == ["token_accuracy", "exact_match"] and "aulc" in known
    assert not [k for k in known if "." in k or k in ("seed", "solved", "stale", "mem_tokens")]
