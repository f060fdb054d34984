"""The ladder plots of a report: exact match against each ladder's level (capacity) and the
share of seeds that solved each level (frontier), one panel per ladder, one line per variant,
drawn by the rules in `plots.py`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from membench.report.figures import (
    SEED_POINTS,
    SEED_STYLE,
    figure_title,
    panel_grid,
    set_range,
    spread,
)


def capacity(report, df: pd.DataFrame | None = None):
    """Exact match against each ladder's difficulty level, one line per variant, 95% intervals,
    each seed's value on top at small n. Returns (Figure or None, None)."""
    if not report.capacity:
        return None, None
    from membench.analysis.capacity import ladders

    df = report.data if df is None else df
    rows = {name: ladder for name, _, ladder in ladders(df)} if df is not None else {}
    fig, axes = panel_grid(len(report.capacity), width=4.5, sharey=True)
    any_seeds = False
    for ax, entry in zip(axes, report.capacity, strict=True):
        cells = entry["cells"]
        ladder = rows.get(entry["ladder"])
        for v in entry["variants"]:
            c = cells[cells["variant"] == v["variant"]].sort_values("level")
            low, high = c["ci_low"].clip(0, 1), c["ci_high"].clip(0, 1)
            err = np.clip(np.nan_to_num(np.array([c["mean"] - low, high - c["mean"]])), 0, None)
            bars = ax.errorbar(
                c["level"], c["mean"], yerr=err, marker="o", capsize=3, label=v["variant"]
            )
            if ladder is None:
                continue
            mine = ladder[ladder["variant"] == v["variant"]]
            for level, g in mine.groupby("level"):
                values = pd.to_numeric(g.sort_values("seed")["exact_match"], errors="coerce")
                values = values[np.isfinite(values)]
                # log x: spread the seeds by a factor, not a distance
                xs = level * 2.0 ** spread(len(values), 0.06)
                if 0 < len(values) <= SEED_POINTS:
                    color = bars.lines[0].get_color()
                    ax.scatter(xs, values, edgecolors=color, **SEED_STYLE)
                    any_seeds = True
        ax.set_xscale("log", base=2)
        ax.set_xticks(entry["levels"], [str(lv) for lv in entry["levels"]])
        ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title(entry["ladder"])
        ax.set_xlabel(entry["parameter"])
        ax.grid(alpha=0.3)
    set_range(axes, "exact_match")
    axes[0].set_ylabel("exact match (mean, 95% CI)")
    axes[0].legend(fontsize="small")
    if any_seeds:
        figure_title(fig, f"hollow: each seed (up to {SEED_POINTS} seeds)")
    return fig, None


def frontier(report):
    """Share of seeds that solved each level of a ladder, one line per variant, with exact
    (Clopper-Pearson) 95% intervals. Returns (Figure or None, None)."""
    if not report.frontier:
        return None, None
    rates = report.frontier["rates"]
    names = list(dict.fromkeys(rates["ladder"]))
    fig, axes = panel_grid(len(names), width=4.5, sharey=True)
    for ax, name in zip(axes, names, strict=True):
        mine = rates[rates["ladder"] == name]
        for i, (variant, c) in enumerate(mine.groupby("variant", sort=False)):
            c = c.sort_values("level")
            err = np.clip(np.array([c["rate"] - c["low"], c["high"] - c["rate"]]), 0, None)
            xs = c["level"] * 2.0 ** ((i - len(mine["variant"].unique()) / 2) * 0.02)
            ax.errorbar(xs, c["rate"], yerr=err, marker="o", capsize=2, label=variant)
        levels = sorted(mine["level"].unique())
        ax.set_xscale("log", base=2)
        ax.set_xticks(levels, [f"{lv:g}" for lv in levels])
        ax.set_title(name)
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("seeds that solved (share, exact 95% CI)")
    axes[0].legend(fontsize="small")
    return fig, None
