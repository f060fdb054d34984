"""PNG plots for a report: per-task means, learning curves, critical differences, memory size,
capacity and frontiers (the last two, one panel per ladder, in `ladder_plots.py`).

Drawn so that they do not mislead:

- every curve point carries a marker, so a curve of one point (a trial that solved at its first
  evaluation) is still seen;
- learning curves average every seed at every step: a seed that stopped early (solved) carries
  its last value forward, and the title says so;
- a bounded metric (exact match, token accuracy, solve rate, aulc and their `_no_read` /
  `_no_write` knockouts: all in [0, 1]) is drawn on its own range, intervals and bands clipped to
  it, and the task panels share one y-axis (`sharey=True`, the default), so noise at 0.997-1.002
  does not look like an effect;
- at up to SEED_POINTS seeds, each seed's own value is drawn (hollow) on top of the means;
- a plot that cannot say anything is skipped with a note (no curves; a critical-difference
  diagram below 3 tasks; a memory-size plot with fewer than 2 memory sizes), and the variants a
  plot leaves out are named in its title.

`build_figures` returns the figures (matplotlib `Figure`s, no pyplot state) and the notes;
`write_plots` saves them and returns the paths, a list with the notes in `.notes`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from membench.analysis.stats import clip, mean_interval
from membench.metrics import metric_direction, metric_kind
from membench.report.figures import (
    COLORS,
    SEED_POINTS,
    bounds,
    carry_forward,
    curve_frame,
    figure_legend,
    figure_title,
    left_out,
    n_words,
    panel_grid,
    per_seed,
    save_png,
    seed_points,
    set_range,
)
from membench.report.ladder_plots import capacity, frontier

matplotlib.use("Agg")  # files only: never needs a display

MIN_CD_TASKS = 3  # below this many tasks average ranks say nothing: no CD diagram


class Plots(list):
    """The paths written (a plain list of Paths, as before) with `.notes`: one line per plot
    skipped and why, for the report's notes."""

    def __init__(self, paths=(), notes=()):
        super().__init__(paths)
        self.notes = list(notes)


def write_plots(df: pd.DataFrame, report, out_dir, *, sharey: bool = True) -> Plots:
    """Write every plot the data supports into out_dir; returns the paths written (with the
    notes of the plots skipped in `.notes`)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures, notes = build_figures(df, report, sharey=sharey)
    return Plots([save_png(fig, out / name) for name, fig in figures.items()], notes)


def build_figures(
    df: pd.DataFrame, report, *, sharey: bool = True
) -> tuple[dict[str, Figure], list[str]]:
    """{file name: Figure} of every plot the data supports, and a note per plot skipped."""
    m = report.metric
    builders: dict[str, Callable[[], tuple[Figure | None, str | None]]] = {
        f"{m}_by_task.png": lambda: by_task(report, df, sharey=sharey),
        f"curves_{m}.png": lambda: curves(df, report, sharey=sharey),
        f"cd_{m}.png": lambda: cd_diagram(report),
        f"{m}_vs_mem_tokens.png": lambda: memory(df, report, sharey=sharey),
        "capacity.png": lambda: capacity(report, df),
        "frontier.png": lambda: frontier(report),
    }
    figures, notes = {}, []
    for name, build in builders.items():
        fig, note = build()
        if fig is not None:
            figures[name] = fig
        if note:
            notes.append(note)
    return figures, notes


# ---- per-task means ---------------------------------------------------------------------------


def by_task(report, df: pd.DataFrame | None = None, *, sharey: bool = True):
    """Each variant's mean and 95% interval per task, coloured by the test against the baseline,
    each seed's value on top at small n. Returns (Figure or None, note or None)."""
    metric = report.metric
    if report.cells.empty:
        return None, f"per-task plot skipped: no {metric} values"
    df = report.data if df is None else df
    cmp = report.comparisons.set_index(["task", "variant"])["better"].to_dict()
    tasks = [t for t in report.tasks if t in set(report.cells["task"])]
    lo_b, hi_b = bounds(metric)
    censored = metric_kind(metric) == "censored"
    seeds = per_seed(df, metric)
    fig, axes = panel_grid(len(tasks), width=0.5 * len(report.variants) + 2, sharey=sharey)
    with_cells = set(report.cells["variant"])
    drawn, any_seeds = set(), False
    for ax, task in zip(axes, tasks, strict=True):
        c = report.cells[report.cells["task"] == task].set_index("variant")
        c = c.reindex([v for v in report.variants if v in c.index])
        centre = c["mean"]
        if censored:  # median; '> budget' drawn at the budget
            centre = c["median"].where(np.isfinite(c["median"]), c["budget"])
        low = c["ci_low"].clip(lower=lo_b, upper=hi_b)
        high = c["ci_high"].clip(lower=lo_b, upper=hi_b)
        err = np.clip(np.nan_to_num(np.array([centre - low, high - centre], float)), 0, None)
        x = np.arange(len(c))
        for i, v in enumerate(c.index):
            color = "black" if v == report.baseline else COLORS[cmp.get((task, v))]
            marker = "^" if np.isinf(c["median"].iloc[i]) else "o"
            ax.errorbar(
                x[i], centre.iloc[i], yerr=err[:, i : i + 1], fmt=marker, color=color, capsize=3
            )
            s = seeds.get((task, v))
            if s is not None:
                marks = np.where(s["observed"], "o", "^") if censored else None
                any_seeds |= seed_points(ax, x[i], s["value"], color, 0.18, marks)
            drawn.add(v)
        ax.set_xticks(x, c.index, rotation=45, ha="right")
        absent = [v for v in report.variants if v in with_cells and v not in c.index]
        ax.set_title(task if not absent else f"{task} (no {', '.join(absent)})")
        ax.grid(axis="y", alpha=0.3)
    set_range(axes, metric)
    axes[0].set_ylabel(f"{metric} ({'median' if censored else 'mean'}, 95% CI)")
    missing = {v: f"no {metric}" for v in report.variants if v not in drawn}
    points = f"hollow: each seed (up to {SEED_POINTS} seeds)" if any_seeds else ""
    if censored and any_seeds:
        points += ", ^ not solved (at its budget)"
    figure_title(
        fig,
        "green/red: significantly better/worse than the baseline (black)",
        points,
        left_out(missing),
    )
    return fig, None


def curves(df: pd.DataFrame, report, *, sharey: bool = True):
    """Mean over all seeds against step (a seed that stopped early at its last value), with a
    band of one standard deviation clipped to the metric's range. Returns (Figure, note)."""
    found = curve_frame(df, report.metric)
    if found is None:
        return None, "learning curves skipped: the records hold no curves"
    long, key = found
    tasks = [t for t in report.tasks if t in set(long["task"])]
    if not tasks:
        return None, "learning curves skipped: no curves for the report's tasks"
    lo_b, hi_b = bounds(key)
    fig, axes = panel_grid(len(tasks), width=4.2, sharey=sharey)
    drawn, counts = set(), []
    for ax, task in zip(axes, tasks, strict=True):
        for v in report.variants:
            g = long[(long["task"] == task) & (long["variant"] == v)]
            if g.empty:
                continue
            wide = carry_forward(g)
            mean = wide.mean(axis=1)
            sd = wide.std(axis=1, ddof=1).fillna(0.0)
            (line,) = ax.plot(mean.index, mean, marker="o", markersize=3, label=v)
            lo = (mean - sd).clip(lower=lo_b, upper=hi_b)
            hi = (mean + sd).clip(lower=lo_b, upper=hi_b)
            ax.fill_between(mean.index, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
            drawn.add(v)
            counts.append(wide.shape[1])
        ax.set_title(task)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    set_range(axes, key)
    axes[0].set_ylabel(f"{key} (mean ± sd over seeds)")
    figure_legend(fig, axes)
    fallback = f" (the curves hold no {report.metric})" if key != report.metric else ""
    missing = {v: "no curve recorded" for v in report.variants if v not in drawn}
    figure_title(
        fig,
        f"held-out {key}{fallback}: mean ± sd over all seeds ({n_words(counts)}) at every step",
        "a seed that stopped early (solved) counts at its last value from then on",
        left_out(missing),
    )
    return fig, None


# ---- critical differences ---------------------------------------------------------------------


def _cliques(ranks: np.ndarray, cd: float) -> list[tuple[int, int]]:
    """Maximal runs of sorted ranks spanning less than cd: groups not significantly different."""
    groups = []
    for i in range(len(ranks)):
        j = max(k for k in range(i, len(ranks)) if ranks[k] - ranks[i] < cd)
        if j > i and not any(a <= i and j <= b for a, b in groups):
            groups.append((i, j))
    return groups


def cd_diagram(report):
    """Demšar's critical-difference diagram: average ranks, CD bar, indistinguishable groups.
    Skipped below MIN_CD_TASKS tasks. Returns (Figure or None, note or None)."""
    r = report.ranks
    skip = "critical-difference diagram skipped"
    if r.n_variants < 2:
        return None, f"{skip}: fewer than 2 variants with {report.metric} on every task"
    if r.n_tasks < MIN_CD_TASKS:
        return None, (
            f"{skip}: {r.n_tasks} task{'s' * (r.n_tasks != 1)} with every variant "
            f"(average ranks need at least {MIN_CD_TASKS})"
        )
    if not np.isfinite(r.critical_difference):
        return None, f"{skip}: no critical difference"
    ranks = r.average_ranks.sort_values()
    k, cd = len(ranks), r.critical_difference
    groups = _cliques(ranks.to_numpy(), cd)
    half = math.ceil(k / 2)
    top = 0.3 + 0.15 * len(groups)  # labels start below the group bars
    fig = Figure(figsize=(7, 1.4 + 0.3 * (half + len(groups))))
    ax = fig.subplots()
    ax.set_xlim(1, k)
    ax.set_ylim(top + 0.25 * half + 0.2, -0.7)
    ax.axis("off")
    ax.hlines(0, 1, k, color="black")
    for t in range(1, k + 1):
        ax.vlines(t, -0.08, 0, color="black")
        ax.text(t, -0.12, str(t), ha="center", va="bottom")
    ax.hlines(-0.5, 1, 1 + cd, color="black", linewidth=2)
    ax.text(1 + cd / 2, -0.55, f"CD = {cd:.2f}", ha="center", va="bottom")
    for i, (name, rank) in enumerate(ranks.items()):
        left = i < half
        row = i if left else k - 1 - i
        y = top + 0.25 * row
        edge = 1 - 0.05 * k if left else k + 0.05 * k
        ax.plot([rank, rank, edge], [0, y, y], color="black", linewidth=0.8, clip_on=False)
        label = f"{name} ({rank:.2f})" if left else f"({rank:.2f}) {name}"
        ax.text(edge, y, label, ha="right" if left else "left", va="center", clip_on=False)
    for g, (a, b) in enumerate(groups):
        y = 0.15 + 0.15 * g
        ax.hlines(y, ranks.iloc[a] - 0.03, ranks.iloc[b] + 0.03, color="tab:blue", linewidth=3)
    of = f"{r.n_tasks} of {len(report.tasks)}" if r.n_tasks < len(report.tasks) else r.n_tasks
    title = f"average rank of {report.metric} over {of} tasks (1 = best)"
    if not r.distinguishable:
        title += f"\nranks not distinguishable (Friedman p = {r.friedman_p:.2f}): noise"
    missing = {v: f"no {report.metric}" for v in report.variants if v not in ranks.index}
    if missing:
        title += "\n" + left_out(missing)
    ax.set_title(title, fontsize=10)
    fig.subplots_adjust(left=0.25, right=0.75)
    return fig, None


# ---- memory size ------------------------------------------------------------------------------


def family(variant: str) -> str:
    """A variant's family is its name without numbers: mem_10 and mem_20 are both 'mem'."""
    return re.sub(r"[-_]?\d+", "", variant) or variant


def memory(df: pd.DataFrame, report, *, sharey: bool = True):
    """Metric against memory size, one line per variant family, with 95% t-intervals clipped to
    the metric's range and each seed's value at small n. Skipped with a note when fewer than 2
    memory sizes remain; the variants without a memory size are named in the title."""
    metric = report.metric
    skip = "memory-size plot skipped"
    col = next((c for c in ("mem_tokens", "model.mem_tokens") if c in df.columns), None)
    if col is None:
        return None, f"{skip}: the results have no mem_tokens column"
    d = df[["task", "variant", "seed"]].copy()
    d["size"] = pd.to_numeric(df[col], errors="coerce")
    d["value"] = pd.to_numeric(df[metric], errors="coerce") if metric in df.columns else np.nan
    factory = df["factory"] if "factory" in df.columns else pd.Series(None, index=df.index)
    missing = {}
    for v in report.variants:
        rows = d["variant"] == v
        if not rows.any():
            continue
        if d.loc[rows, "size"].isna().all():
            is_factory = factory[rows].notna().any()
            missing[v] = "no mem_tokens: a factory model" if is_factory else "no mem_tokens"
        elif not np.isfinite(d.loc[rows, "value"]).any():
            missing[v] = f"no {metric}"
    d = d[np.isfinite(d["size"]) & np.isfinite(d["value"])]
    sizes = d["size"].nunique()
    if sizes < 2:
        left = left_out(missing)
        return None, (
            f"{skip}: {sizes} memory size{'s' * (sizes != 1)} among the variants (needs 2)"
            + (f"; {left}" if left else "")
        )
    d["family"] = d["variant"].map(family)
    members = d.groupby("family", sort=False)["variant"].agg(lambda s: list(dict.fromkeys(s)))
    colors = {fam: f"C{i}" for i, fam in enumerate(members.index)}
    tasks = [t for t in report.tasks if t in set(d["task"])]
    lo_b, hi_b = bounds(metric)
    fig, axes = panel_grid(len(tasks), width=4.2, sharey=sharey)
    any_seeds = False
    for ax, task in zip(axes, tasks, strict=True):
        for fam, g in d[d["task"] == task].groupby("family", sort=False):
            by_size = g.groupby("size")["value"]
            mean = by_size.mean()
            ci = [clip(*mean_interval(x), (lo_b, hi_b))[:2] for _, x in by_size]
            err = np.nan_to_num(np.abs(np.array(ci, float).T - mean.to_numpy()))
            names = members[fam]
            label = f"{fam} ({', '.join(names)})" if len(names) > 1 else names[0]
            color = colors[fam]
            ax.errorbar(mean.index, mean, yerr=err, marker="o", capsize=3, color=color, label=label)
            for size, x in g.sort_values("seed").groupby("size"):
                any_seeds |= seed_points(ax, size, x["value"], color, 0.25)
        ax.set_title(task)
        ax.set_xlabel("memory tokens")
        ax.grid(alpha=0.3)
    set_range(axes, metric)
    better = "higher" if metric_direction(metric) > 0 else "lower"
    axes[0].set_ylabel(f"{metric} ({better} is better)")
    figure_legend(fig, axes)
    points = f"; hollow: each seed (up to {SEED_POINTS} seeds)" if any_seeds else ""
    figure_title(
        fig,
        f"{metric} against memory tokens: mean and 95% CI per variant family{points}",
        left_out(missing),
    )
    return fig, None
