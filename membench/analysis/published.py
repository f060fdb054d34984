"""Published vs measured: each published value a suite attaches to a cell (`per_task:
references`) beside membench's seed mean, its 95% interval, the range over seeds and the solve
count, with a verdict by one stated rule (`RULE`)."""

from __future__ import annotations

import math

import pandas as pd

from membench.analysis.stats import cell_stats
from membench.metrics import metric_bounds

TOLERANCE = 0.02  # of the metric's range (an accuracy: 2 points); 5% of the value if unbounded
RULE = (
    "A published value is reproduced when it lies within membench's 95% interval of the seed "
    "mean widened by 0.02 of the metric's range on each side (2 points of accuracy; 5% of the "
    "value for an unbounded metric) and that interval is at most 0.08 of the range wide "
    "(undecided when wider: too few seeds or too much spread to tell); below or above when "
    "membench's interval lies wholly under or over that band. A value marked indicative (a "
    "third party's, or read off a figure) gets the same word, marked indicative: it is shown, "
    "not claimed."
)


def tolerance(metric: str, value: float) -> float:
    low, high = metric_bounds(metric)
    if math.isfinite(low) and math.isfinite(high):
        return TOLERANCE * (high - low)
    return 0.05 * abs(value)


def verdict(value: float, low: float, high: float, tol: float) -> str:
    """below / above / reproduced / undecided for an interval [low, high] and a tolerance."""
    if high + tol < value:
        return "below"
    if low - tol > value:
        return "above"
    return "reproduced" if high - low <= 4 * tol else "undecided"


def published_section(ok: pd.DataFrame, references: list[dict] | None) -> list[dict]:
    """One entry per reference, in the suite's order; a cell with no successful trial (or a
    metric the records lack) says so instead of a verdict."""
    out = []
    for ref in references or []:
        entry = dict(ref)
        metric = ref["metric"]
        cell = ok[(ok["task"] == ref["task"]) & (ok["variant"] == ref["variant"])]
        if metric not in cell.columns or cell[metric].dropna().empty:
            out.append(entry | dict(n=0, verdict="not measured"))
            continue
        row = cell_stats(cell, metric).iloc[0].to_dict()
        low, high = (
            (row["ci_low"], row["ci_high"]) if math.isfinite(row["ci_low"]) else (row["mean"],) * 2
        )
        word = verdict(ref["value"], low, high, tolerance(metric, ref["value"]))
        solved = int(cell["solved"].fillna(False).astype(bool).sum()) if "solved" in cell else None
        out.append(
            entry
            | dict(
                n=int(row["n"]),
                mean=float(row["mean"]),
                ci_low=float(low),
                ci_high=float(high),
                min=float(row["min"]),
                max=float(row["max"]),
                solved=solved,
                verdict=word + (" (indicative)" if ref.get("indicative") else ""),
            )
        )
    return out
