"""PNG plots for a report: per-task means, learning curves, critical differences, memory size.

Each plot is skipped when the data cannot support it (no curves, one task, no memory column).
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from membench.stats import clip, mean_interval, metric_bounds, metric_direction, metric_kind

matplotlib.use("Agg")  # files only: never needs a display
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {True: "tab:green", False: "tab:red", None: "tab:gray"}


def write_plots(df: pd.DataFrame, report, out_dir) -> list[Path]:
    """Write every plot the data supports into out_dir; returns the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    m = report.metric
    figures = {
        f"{m}_by_task.png": _by_task(report),
        f"curves_{m}.png": _curves(df, report),
        f"cd_{m}.png": _cd_diagram(report),
        f"{m}_vs_mem_tokens.png": _memory(df, report),
        "capacity.png": _capacity(report),
    }
    paths = []
    for name, fig in figures.items():
        if fig is not None:
            paths.append(_save(fig, out / name))
    return paths


def _save(fig, path: Path) -> Path:
    """Save through a temporary file and rename, so a reader never sees half a PNG."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=120, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _grid(n: int, width: float = 3.6, height: float = 3.0):
    """A grid of n subplots, at most 4 wide; the unused ones are hidden."""
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _by_task(report):
    """Each variant's mean and 95% interval per task, coloured by the test against the baseline."""
    if report.cells.empty:
        return None
    cmp = report.comparisons.set_index(["task", "variant"])["better"].to_dict()
    tasks = [t for t in report.tasks if t in set(report.cells["task"])]
    fig, axes = _grid(len(tasks), width=0.5 * len(report.variants) + 2)
    for ax, task in zip(axes, tasks, strict=True):
        c = report.cells[report.cells["task"] == task].set_index("variant")
        c = c.reindex([v for v in report.variants if v in c.index])
        centre = c["mean"]
        if metric_kind(report.metric) == "censored":  # median; '> budget' drawn at the budget
            centre = c["median"].where(np.isfinite(c["median"]), c["budget"])
        err = np.nan_to_num(np.array([centre - c["ci_low"], c["ci_high"] - centre]))
        x = np.arange(len(c))
        for i, v in enumerate(c.index):
            color = "black" if v == report.baseline else COLORS[cmp.get((task, v))]
            marker = "^" if np.isinf(c["median"].iloc[i]) else "o"
            y = centre.iloc[i]
            ax.errorbar(x[i], y, yerr=err[:, i : i + 1], fmt=marker, color=color, capsize=3)
        ax.set_xticks(x, c.index, rotation=45, ha="right")
        ax.set_title(task)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(f"{report.metric} (mean, 95% CI)")
    fig.suptitle("green/red: significantly better/worse than the baseline (black)")
    fig.tight_layout()
    return fig


def _curve_frame(df: pd.DataFrame, key_hint: str) -> tuple[pd.DataFrame, str] | None:
    """Learning curves as long rows (task, variant, seed, step, value) for the best-fitting key."""
    if "curve" not in df.columns:
        return None
    points = [
        (r.task, r.variant, r.seed, p)
        for r in df[["task", "variant", "seed", "curve"]].itertuples()
        if isinstance(r.curve, list | tuple | np.ndarray)
        for p in r.curve
        if isinstance(p, dict)
    ]
    keys = {k for *_, p in points for k in p} - {"step"}
    key = key_hint if key_hint in keys else "loss" if "loss" in keys else None
    if key is None:
        return None
    rows = [(t, v, s, p.get("step"), p.get(key)) for t, v, s, p in points]
    long = pd.DataFrame(rows, columns=["task", "variant", "seed", "step", "value"]).dropna()
    return (long, key) if len(long) else None


def _curves(df: pd.DataFrame, report):
    """Mean over seeds against step, with a band of one standard deviation."""
    found = _curve_frame(df, report.metric)
    if found is None:
        return None
    long, key = found
    tasks = [t for t in report.tasks if t in set(long["task"])]
    fig, axes = _grid(len(tasks), width=4.2)
    for ax, task in zip(axes, tasks, strict=True):
        for v in report.variants:
            g = long[(long["task"] == task) & (long["variant"] == v)]
            if g.empty:
                continue
            s = g.groupby("step")["value"].agg(["mean", "std"]).fillna(0.0)
            (line,) = ax.plot(s.index, s["mean"], label=v)
            lo, hi = s["mean"] - s["std"], s["mean"] + s["std"]
            ax.fill_between(s.index, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_title(task)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{key} (mean ± sd over seeds)")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def _cliques(ranks: np.ndarray, cd: float) -> list[tuple[int, int]]:
    """Maximal runs of sorted ranks spanning less than cd: groups not significantly different."""
    groups = []
    for i in range(len(ranks)):
        j = max(k for k in range(i, len(ranks)) if ranks[k] - ranks[i] < cd)
        if j > i and not any(a <= i and j <= b for a, b in groups):
            groups.append((i, j))
    return groups


def _cd_diagram(report):
    """Demšar's critical-difference diagram: average ranks, CD bar, indistinguishable groups."""
    r = report.ranks
    if r.n_tasks < 2 or r.n_variants < 2 or not np.isfinite(r.critical_difference):
        return None
    ranks = r.average_ranks.sort_values()
    k, cd = len(ranks), r.critical_difference
    groups = _cliques(ranks.to_numpy(), cd)
    half = math.ceil(k / 2)
    top = 0.3 + 0.15 * len(groups)  # labels start below the group bars
    fig, ax = plt.subplots(figsize=(7, 1.4 + 0.3 * (half + len(groups))))
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
    title = f"average rank of {report.metric} over {r.n_tasks} tasks (1 = best)"
    if not r.distinguishable:
        title += f"\nranks not distinguishable (Friedman p = {r.friedman_p:.2f}): noise"
    ax.set_title(title, fontsize=10)
    fig.subplots_adjust(left=0.25, right=0.75)
    return fig


def _capacity(report):
    """Exact match against each ladder's difficulty level, one line per variant, 95% intervals."""
    if not report.capacity:
        return None
    fig, axes = _grid(len(report.capacity), width=4.5)
    for ax, entry in zip(axes, report.capacity, strict=True):
        cells = entry["cells"]
        for v in entry["variants"]:
            c = cells[cells["variant"] == v["variant"]].sort_values("level")
            err = np.nan_to_num(np.array([c["mean"] - c["ci_low"], c["ci_high"] - c["mean"]]))
            ax.errorbar(c["level"], c["mean"], yerr=err, marker="o", capsize=3, label=v["variant"])
        ax.set_xscale("log", base=2)
        ax.set_xticks(entry["levels"], [str(lv) for lv in entry["levels"]])
        ax.set_ylim(-0.02, 1.02)
        ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title(entry["ladder"])
        ax.set_xlabel(entry["parameter"])
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("exact match (mean, 95% CI)")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def family(variant: str) -> str:
    """A variant's family is its name without numbers: mem_10 and mem_20 are both 'mem'."""
    return re.sub(r"[-_]?\d+", "", variant) or variant


def _memory(df: pd.DataFrame, report):
    """Metric against memory size, one line per variant family, with 95% t-intervals."""
    col = next((c for c in ("mem_tokens", "model.mem_tokens") if c in df.columns), None)
    if col is None:
        return None
    d = df[["task", "variant", col, report.metric]].copy()
    d[col] = pd.to_numeric(d[col], errors="coerce")
    d[report.metric] = pd.to_numeric(d[report.metric], errors="coerce")
    d = d.dropna()
    if d[col].nunique() < 2:
        return None
    d["family"] = d["variant"].map(family)
    tasks = [t for t in report.tasks if t in set(d["task"])]
    fig, axes = _grid(len(tasks), width=4.2)
    for ax, task in zip(axes, tasks, strict=True):
        for fam, g in d[d["task"] == task].groupby("family", sort=False):
            by_size = g.groupby(col)[report.metric]
            mean = by_size.mean()
            bounds = [clip(*mean_interval(x), metric_bounds(report.metric))[:2] for _, x in by_size]
            err = np.nan_to_num(np.abs(np.array(bounds).T - mean.to_numpy()))
            ax.errorbar(mean.index, mean, yerr=err, marker="o", capsize=3, label=fam)
        ax.set_title(task)
        ax.set_xlabel("memory tokens")
        ax.grid(alpha=0.3)
    better = "higher" if metric_direction(report.metric) > 0 else "lower"
    axes[0].set_ylabel(f"{report.metric} ({better} is better)")
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig
