"""The comparison report: every variant against the baseline, per task, with the statistics.

`build_report` turns a results DataFrame (one row per trial) into a `Report`; `write_report`
saves it in every format (`membench.render`) with the plots; `read_table` reads what `membench
report` is pointed at.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from membench import stats
from membench.attention import attention_section
from membench.registry import did_you_mean
from membench.render import CORRECTIONS, COSTS, FORMATS, render


@dataclass
class Report:
    """Everything a rendering needs; tables are DataFrames, lists are plain dicts."""

    metric: str
    baseline: str
    alpha: float
    correction: str
    tasks: list[str]
    variants: list[str]  # baseline first, then order of appearance
    cells: pd.DataFrame  # stats.describe
    comparisons: pd.DataFrame  # stats.compare
    ranks: stats.RankResult
    aggregate: pd.DataFrame  # stats.aggregate
    costs: pd.DataFrame  # per variant: mean cost and ratio to the baseline
    method: str
    failed: list[dict]
    missing: list[dict]
    attention: list[dict]  # attention.attention_section: block mass by layer per variant
    data: pd.DataFrame = field(repr=False)  # the successful trials, for plots


def build_report(
    df: pd.DataFrame,
    metric: str = "exact_match",
    baseline: str | None = None,
    alpha: float = 0.05,
    correction: str = "holm",
) -> Report:
    """Run the statistics of membench.stats on successful trials and collect what went wrong."""
    if df.empty:
        raise ValueError("no trials to report")
    if metric not in df.columns:
        known = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and c != "seed"]
        raise ValueError(
            f"unknown metric '{metric}': {did_you_mean(metric, known)}known: {', '.join(known)}"
        )
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction '{correction}': use {', '.join(CORRECTIONS)}")
    status = df["status"] if "status" in df.columns else pd.Series("ok", index=df.index)
    ok = df[status == "ok"]
    variants = list(dict.fromkeys(df["variant"]))
    if baseline is None:
        baseline = "baseline" if "baseline" in variants else variants[0]
    elif baseline not in variants:
        raise ValueError(
            f"unknown baseline '{baseline}': {did_you_mean(baseline, variants)}"
            f"known: {', '.join(variants)}"
        )
    variants = [baseline] + [v for v in variants if v != baseline]
    tasks = list(dict.fromkeys(df["task"]))
    cells = stats.describe(ok, metric)
    comparisons = stats.compare(ok, metric, baseline, alpha, correction)
    failed = [
        dict(task=r.task, variant=r.variant, seed=int(r.seed), error=_text(r.get("error")))
        for _, r in df[status != "ok"].iterrows()
    ]
    usable = ok[np.isfinite(pd.to_numeric(ok[metric], errors="coerce"))]
    missing = _missing(df, usable, tasks, variants)
    return Report(
        metric=metric,
        baseline=baseline,
        alpha=alpha,
        correction=correction,
        tasks=tasks,
        variants=variants,
        cells=cells,
        comparisons=comparisons,
        ranks=stats.rank(ok, metric),
        aggregate=stats.aggregate(ok, metric, baseline),
        costs=_costs(ok, baseline, variants),
        method=_method(metric, baseline, alpha, correction, cells, comparisons, len(failed)),
        failed=failed,
        missing=missing,
        attention=attention_section(df),
        data=ok,
    )


def _text(x) -> str | None:
    """An error message as str, or None where the column holds nothing."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def _missing(df, usable, tasks, variants) -> list[dict]:
    """Cells with fewer usable seeds than the fullest cell, naming the seeds that are absent."""
    have = usable.groupby(["task", "variant"])["seed"].agg(set)
    n_max = max(map(len, have), default=0)
    out = []
    for task in tasks:
        task_seeds = set(df.loc[df["task"] == task, "seed"])
        for v in variants:
            seeds = have.get((task, v), set())
            if len(seeds) < n_max:
                absent = sorted(task_seeds - seeds)
                out.append(dict(task=task, variant=v, n=len(seeds), expected=n_max, seeds=absent))
    return out


def _costs(ok: pd.DataFrame, baseline: str, variants: list[str]) -> pd.DataFrame:
    """Mean cost per variant and its ratio to the baseline, averaged over tasks both ran."""
    out = pd.DataFrame(index=pd.Index(variants, name="variant"))
    for col in COSTS:
        if col not in ok.columns:
            continue
        per_task = ok.groupby(["variant", "task"])[col].mean().unstack("task")
        per_task = per_task.reindex(variants)
        base = per_task.loc[baseline].replace(0, np.nan)
        out[col] = per_task.mean(axis=1)
        out[f"{col}_x"] = per_task.div(base, axis=1).mean(axis=1)
    return out


def _method(metric, baseline, alpha, correction, cells, comparisons, n_failed) -> str:
    """The statistics in plain words, with the counts that matter for reading them."""
    better = "higher" if stats.metric_direction(metric) > 0 else "lower"
    tests = comparisons["test"].value_counts()
    m, lo, hi = len(comparisons), cells["n"].min(), cells["n"].max()
    seeds = "none" if cells.empty else f"{hi}" if lo == hi else f"{lo} to {hi}"
    corrected = {
        "holm": f"Holm-corrected across all {m} comparisons (family-wise error)",
        "bh": f"Benjamini-Hochberg-corrected across all {m} comparisons (false discovery rate)",
        "none": f"not corrected for the {m} comparisons",
    }[correction]
    return (
        f"Each cell is the mean of {metric} ({better} is better) over seeds, ± the half-width of "
        f"its 95% t-interval. Every variant is compared with the baseline '{baseline}' on every "
        "task with a paired t-test on per-seed differences where both cells hold the same seeds "
        f"({tests.get('paired-t', 0)} of {m} comparisons), else Welch's t-test "
        f"({tests.get('welch-t', 0)}); the interval for the difference is the matching 95% "
        "t-interval (Welch-Satterthwaite degrees of freedom for Welch). P-values are "
        f"{corrected}; a difference is significant when the corrected p < {alpha}. Cells where "
        "every seed of both variants scores the same are ties with p = 1 "
        f"({tests.get('tie', 0)} here); a constant nonzero difference gets p = 0. Effect sizes: "
        "Hedges' g (small-sample corrected) and A12, the probability that a seed of the variant "
        "beats a seed of the baseline; both are oriented so that larger means better. Seeds per "
        f"cell: {seeds}. Comparisons with fewer than 3 seeds on a side are flagged underpowered "
        f"({int(comparisons['underpowered'].sum())} here): read them as no evidence either way. "
        f"Only successful trials are used ({n_failed} failed). Across tasks: average ranks of "
        "per-task means (1 = best), the Friedman test with the Iman-Davenport F and the Nemenyi "
        "critical difference at 0.05 (Demšar 2006), on tasks where every variant has results; "
        "aggregates are the mean over tasks, the interquartile mean (IQM) of all runs and the "
        "probability of improvement over the baseline (mean A12 over tasks), with 95% stratified "
        "bootstrap intervals (Agarwal et al. 2021)."
    )


def _write_atomic(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename, so readers never see half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read_table(path: Path) -> pd.DataFrame:
    """Trials from a results directory, or a CSV/Parquet table with task, variant, seed and
    metric columns (a published table or another tool's results)."""
    from membench.errors import MembenchError

    if not path.exists():
        raise MembenchError(f"{path}: no such file or directory")
    if path.is_dir():
        from membench.store import load_results

        return load_results(path)
    if path.suffix == ".csv":
        df = pd.read_csv(path)
    elif path.suffix in (".parquet", ".pq"):
        try:
            df = pd.read_parquet(path)
        except ImportError:
            raise MembenchError(
                f"{path}: reading Parquet needs pyarrow: pip install pyarrow"
            ) from None
    else:
        raise MembenchError(f"{path}: expected a results directory, a .csv or a .parquet file")
    missing = [c for c in ("task", "variant", "seed") if c not in df.columns]
    if missing:
        raise MembenchError(
            f"{path}: missing column(s) {', '.join(missing)}: need task, variant, seed"
        )
    return df


def write_report(
    report: Report, out_dir, formats=("md", "csv", "json"), plots: bool = True
) -> list[Path]:
    """Write report.<ext> for each format, plus the PNG plots; returns the paths written."""
    from membench.plots import write_plots  # matplotlib loads only when files are written

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        text = render(report, fmt)
        path = out / f"report.{FORMATS[fmt]}"
        _write_atomic(path, text)
        paths.append(path)
    if plots:
        paths += write_plots(report.data, report, out)
    return paths
