"""The comparison report: every variant against the baseline, per task, with the statistics.

`build_report` turns a results DataFrame (one row per trial) into a `Report` (pure: no I/O);
`render.py` renders and writes it; `read_table` reads what `membench report` is pointed at.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from membench import metrics
from membench.analysis import across, comparison, stats
from membench.analysis.attention_roles import attention_section
from membench.analysis.capacity import capacity_section
from membench.analysis.completeness import (
    complete_only,
    incomplete_cells,
    interrupted_trials,
    resumed_trials,
)
from membench.analysis.frontier import frontier_section
from membench.analysis.knockouts import knockout_section
from membench.analysis.ordering import ordering_section
from membench.analysis.positions import positions_section
from membench.analysis.published import RULE, published_section
from membench.analysis.tuning import tuning_section
from membench.metrics import metric_label
from membench.registry import did_you_mean
from membench.report.method_text import method_text

if TYPE_CHECKING:
    from membench.store.results import SuiteResults

COSTS = {c: f"{metric_label(c)} ×" for c in ("params", "train_flops")}  # header: ratio to base
CORRECTIONS = {"holm": "Holm", "bh": "Benjamini-Hochberg", "none": "uncorrected"}
TESTS = {"exact": "exact tests", "t": "t-tests, exact where t is undefined"}


@dataclass
class Report:
    """Everything a rendering needs; tables are DataFrames, lists are plain dicts."""

    metric: str
    baseline: str
    alpha: float
    correction: str
    test: str  # t | exact: the test asked for (each comparison row names the one it used)
    tasks: list[str]
    variants: list[str]  # baseline first, then order of appearance
    cells: pd.DataFrame  # stats.cell_stats
    comparisons: pd.DataFrame  # comparison.compare
    ranks: across.RankResult
    aggregate: pd.DataFrame  # across.aggregate
    costs: pd.DataFrame  # per variant: mean cost and ratio to the baseline
    method: str
    failed: list[dict]
    missing: list[dict]
    attention: list[dict]  # attention.attention_section: block mass by layer per variant
    knockouts: list[dict]  # knockout_section: exact-match drop with memory reads / writes cut
    capacity: list[dict]  # capacity.capacity_section: one entry per difficulty ladder
    notes: list[str]  # what was left out and why (e.g. records of other settings)
    data: pd.DataFrame = field(repr=False)  # the successful trials, for plots
    tuning: list[dict] = field(default_factory=list)  # tuning.tuning_section, tuned suites
    tune: dict | None = None  # suite.json's tuning block: metric, space, seeds, margin
    tuning_data: pd.DataFrame | None = field(default=None, repr=False)  # for the plot
    positions: list[dict] = field(default_factory=list)  # positions.positions_section
    published: list[dict] = field(default_factory=list)  # published.published_section
    frontier: dict | None = None  # frontier.frontier_section: climbs, per-seed frontiers, families
    design: dict | None = None  # suite.json's declared tests: primary, contrasts, trends, climb
    interrupted: list[dict] = field(default_factory=list)  # trials cut off before they finished
    # (task, variant) -> the cell in words, where a seed has no finished record: no mean shown
    incomplete: dict[tuple[str, str], str] = field(default_factory=dict)
    resumed: list[dict] = field(default_factory=list)  # finished trials that went on from a cut


NOT_METRICS = {
    "seed",
    "mem_tokens",
    "solved",
    "stale",
    "flops_count",
    "resumed_from_step",
}  # numeric columns that describe a trial


def metric_columns(df: pd.DataFrame) -> list[str]:
    """The columns a report can compare on: the registry's metrics first, then any other
    numeric column that is not a config field (`model.d_model`, `train.lr`) or a trial label."""
    numeric = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c])]
    known = [c for c in metrics.METRICS if c in numeric]
    other = [c for c in numeric if c not in known and "." not in c and c not in NOT_METRICS]
    return known + other


def build_report(
    df: pd.DataFrame,
    metric: str = "exact_match",
    baseline: str | None = None,
    alpha: float = 0.05,
    correction: str = "holm",
    test: str = "exact",
    unused: int = 0,
    tuning: pd.DataFrame | None = None,
    tune: dict | None = None,
    references: list[dict] | None = None,
    planned: dict[tuple[str, str], set[int]] | None = None,
    design: dict | None = None,
) -> Report:
    """Run the statistics of membench.analysis on successful trials and collect what went wrong.
    `unused`: records of the results folder left out as other settings (said in a note);
    `tuning`, `tune`: a tuned suite's tuning trials and choices (a section of their own; the
    comparisons never see them); `references`: published values for cells, `planned`: the cells
    the suite runs (suite.json; a suite with `per_task` runs some variants on some tasks only)."""
    if df.empty:
        raise ValueError("no trials to report")
    if metric not in df.columns:
        known = metric_columns(df)
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
    if test not in TESTS:
        raise ValueError(f"unknown test '{test}': use {', '.join(TESTS)}")
    failed = [
        dict(task=r.task, variant=r.variant, seed=int(r.seed), error=_text(r.get("error")))
        for _, r in df[(status != "ok") & (status != "interrupted")].iterrows()
    ]
    cut = interrupted_trials(df)
    usable = ok[np.isfinite(pd.to_numeric(ok[metric], errors="coerce"))]
    missing = _missing(df, usable, tasks, variants, planned)
    incomplete = incomplete_cells(usable, cut, missing, failed)
    complete = complete_only(ok, incomplete)  # no mean, mark or verdict from a partial cell
    cells = stats.cell_stats(ok, metric)
    comparisons = comparison.compare(complete, metric, baseline, alpha, correction, test)
    if incomplete and len(comparisons):  # said as it is: no baseline cell yet, not none
        waiting = comparisons["task"].map(lambda t: (t, baseline) in incomplete)
        partial = comparisons["note"].str.startswith("no baseline cell") & waiting
        comparisons.loc[partial, "note"] = comparisons.loc[partial, "note"].str.replace(
            "no baseline cell", "the baseline's cell is incomplete", n=1
        )
    notes = []
    if unused:
        notes.append(
            f"{unused} record{'s' * (unused != 1)} of other settings in this folder not used "
            "(the report covers the trials of the suite that last ran here: suite.json)"
        )
    notes += _no_attention(ok) + _stale(ok) + _flops_counts(ok)
    design = design or {}
    frontier = None
    if design.get("climb") is not None:
        notes.append(
            "a climb: each level's cell holds only the seeds that solved every level below it, "
            "so the per-level comparisons with the baseline are descriptive; the suite's tests "
            "are the frontier families (section Frontiers)"
        )
    if design.get("primary") == "frontier" or design.get("climb") is not None:
        frontier = frontier_section(
            ok,
            baseline,
            alpha,
            correction,
            design.get("contrasts"),
            design.get("trends"),
            design.get("ladders"),
            design.get("compute_matched"),
        )
        if frontier is not None:  # a publication's order, read against the tests above
            frontier["ordering"] = ordering_section(
                frontier, design.get("ordering"), design.get("trends")
            )
    rates = frontier["rates"] if frontier is not None else None
    published = published_section(ok, references, incomplete, rates)
    method = method_text(metric, baseline, alpha, correction, cells, comparisons, len(failed), test)
    return Report(
        metric=metric,
        baseline=baseline,
        alpha=alpha,
        correction=correction,
        test=test,
        tasks=tasks,
        variants=variants,
        cells=cells,
        comparisons=comparisons,
        ranks=across.rank(complete, metric, alpha),
        aggregate=across.aggregate(complete, metric, baseline),
        costs=_costs(ok, baseline, variants),
        method=method + (" " + RULE if published else ""),
        notes=notes,
        failed=failed,
        missing=missing,
        interrupted=cut,
        resumed=resumed_trials(ok),
        incomplete=incomplete,
        attention=attention_section(complete_only(df, incomplete)),
        knockouts=knockout_section(complete),
        positions=positions_section(complete),
        published=published,
        capacity=capacity_section(ok, baseline, alpha, correction),
        data=ok,
        tuning=tuning_section(tuning, tune) if tune and tuning is not None else [],
        tune=tune,
        tuning_data=tuning,
        frontier=frontier,
        design=design,
    )


def _stale(ok: pd.DataFrame) -> list[str]:
    """Trials that other model code made (`stale`, set by store.load_suite_results): reported,
    but never as if current."""
    if "stale" not in ok.columns or not ok["stale"].any():
        return []
    rows = ok[ok["stale"].astype(bool)]
    cells = [
        f"{task} / {variant} (seeds {', '.join(str(int(s)) for s in sorted(g['seed']))})"
        for (task, variant), g in rows.groupby(["task", "variant"], sort=False)
    ]
    return [
        f"stale: {len(rows)} trials were made by other model code than would run now (a changed "
        f"factory module or membench model): {'; '.join(cells)}; retrain them with "
        "`membench run SUITE --rerun-stale`"
    ]


def _flops_counts(ok: pd.DataFrame) -> list[str]:
    """Records whose FLOPs leave out attention (counted on the CPU before it was counted)."""
    if "flops_count" not in ok.columns or "train_flops" not in ok.columns:
        return []
    counted = ok[ok["train_flops"].notna()]  # records that carry a FLOP count at all
    old = int((counted["flops_count"].fillna(1) < 2).sum())
    if not old:
        return []
    return [
        f"FLOPs: {old} of {len(counted)} records were counted without attention (made before "
        "membench counted it on the CPU); count them again with `python -m "
        "membench.store.recount RESULTS`"
    ]


def _no_attention(ok: pd.DataFrame) -> list[str]:
    """Variants whose model could not be analysed (a user's model without `layout`): said, not
    silently missing from the attention section."""
    if "attention" not in ok.columns or "train.attention" not in ok.columns:
        return []
    asked = ok["train.attention"].fillna(False).astype(bool)
    skipped = sorted(set(ok.loc[asked & ok["attention"].isna(), "variant"]))
    if not skipped:
        return []
    return [
        f"attention analysis skipped for {', '.join(skipped)}: the model has no `layout` "
        "(docs/variants.md: 'Your own model' says how to opt in)"
    ]


def _text(x) -> str | None:
    """An error message as str, or None where the column holds nothing."""
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def _missing(df, usable, tasks, variants, planned=None) -> list[dict]:
    """Cells with fewer usable seeds than the fullest cell, naming the seeds that are absent;
    where the suite says which cells and seeds it runs (`planned`, from suite.json), every
    planned seed without a usable record, cells with none at all included."""
    have = usable.groupby(["task", "variant"])["seed"].agg(set)
    if planned is not None:
        out = []
        for (task, v), seeds in planned.items():
            got = have.get((task, v), set()) & seeds
            if len(got) < len(seeds):
                out.append(dict(task=task, variant=v, n=len(got), expected=len(seeds),
                                seeds=sorted(seeds - got)))  # fmt: skip
        return out
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


def read_table(path: Path) -> SuiteResults:
    """Trials from a results directory (those of the suite that last ran there), or a CSV/Parquet
    table with task, variant, seed and metric columns (a published table or another tool's)."""
    from membench.errors import MembenchError
    from membench.store.results import SuiteResults, load_suite_results

    if not path.exists():
        raise MembenchError(f"{path}: no such file or directory")
    if path.is_dir():
        return load_suite_results(path)
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
    return SuiteResults(df, None, None, 0)
