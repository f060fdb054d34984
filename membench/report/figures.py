"""What every report plot shares: colours, the range of a bounded metric, panel grids, each
seed's own value drawn over the mean, titles that name what a plot leaves out, atomic saving.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from membench.metrics import metric_bounds
from membench.store.records import write_atomic

matplotlib.use("Agg")  # files only: never needs a display

COLORS = {True: "tab:green", False: "tab:red", None: "tab:gray"}
SEED_POINTS = 12  # at most this many seeds in a cell (core has 11): each is drawn on the mean
MARGIN = 0.04  # of a bounded range, above and below it, so markers at 0 and 1 are whole
KNOCKOUT = re.compile(r"^(?P<base>.+)_no_(read|write)$")
ALIASES = {"loss": "final_loss"}  # a curve's key -> the record metric it is the curve of


def save_png(fig: Figure, path: Path) -> Path:
    """Save atomically (a reader never sees half a PNG), with the mode of any other file."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return write_atomic(path, buffer.getvalue())


# ---- shared helpers ---------------------------------------------------------------------------


def bounds(metric: str) -> tuple[float, float]:
    """The metric's range; a knockout (`exact_match_no_read`) has its base metric's, a curve's
    `loss` that of `final_loss`."""
    lo, hi = metric_bounds(ALIASES.get(metric, metric))
    found = KNOCKOUT.match(metric)
    if found and not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = metric_bounds(found["base"])
    return lo, hi


def bounded(metric: str) -> bool:
    """Whether the metric lives in a finite range (drawn on that range)."""
    lo, hi = bounds(metric)
    return math.isfinite(lo) and math.isfinite(hi)


def set_range(axes, metric: str) -> None:
    """A bounded metric on its own range, with a small margin for the markers at its ends."""
    if not bounded(metric):
        return
    lo, hi = bounds(metric)
    pad = MARGIN * (hi - lo)
    for ax in axes:
        ax.set_ylim(lo - pad, hi + pad)


def panel_grid(n: int, width: float = 3.6, height: float = 3.0, sharey: bool = True):
    """A figure with n subplots, at most 4 wide (unused ones hidden), sharing y if asked."""
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharey=sharey)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def spread(k: int, width: float) -> np.ndarray:
    """x offsets for k per-seed points around their mean, so equal values stay countable."""
    return np.linspace(-width, width, k) if k > 1 else np.zeros(k)


SEED_STYLE = dict(s=16, facecolors="none", linewidths=0.8, alpha=0.85, zorder=4, label="_seed")


def seed_points(ax, x: float, values, color, width: float, markers=None) -> bool:
    """Each seed's value, hollow, on top of the mean at x (only at up to SEED_POINTS seeds)."""
    values = np.asarray(values, float)
    if not 0 < len(values) <= SEED_POINTS:
        return False
    xs = x + spread(len(values), width)
    markers = np.full(len(values), "o") if markers is None else np.asarray(markers)
    for m in dict.fromkeys(markers):
        sel = markers == m
        ax.scatter(xs[sel], values[sel], marker=m, edgecolors=color, **SEED_STYLE)
    return True


def left_out(reasons: dict[str, str]) -> str:
    """'not shown: a, b (why); c (why)' for the variants a plot leaves out, or ''."""
    if not reasons:
        return ""
    by_reason: dict[str, list[str]] = {}
    for variant, why in reasons.items():
        by_reason.setdefault(why, []).append(variant)
    parts = [f"{', '.join(vs)} ({why})" for why, vs in by_reason.items()]
    return "not shown: " + "; ".join(parts)


def figure_title(fig: Figure, *lines: str) -> None:
    fig.suptitle("\n".join(line for line in lines if line), fontsize=10)


def figure_legend(fig: Figure, axes) -> None:
    """One legend for all panels (a variant absent from the first panel is still named)."""
    handles = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="outside right upper", fontsize="small")


def n_words(counts) -> str:
    counts = sorted({int(c) for c in counts})
    if not counts:
        return "n = 0"
    return f"n = {counts[0]}" if len(counts) == 1 else f"n = {counts[0]}-{counts[-1]}"


def per_seed(df: pd.DataFrame, metric: str) -> dict[tuple[str, str], pd.DataFrame]:
    """{(task, variant): rows of seed, value, observed} of the finite values, seeds in order."""
    if df is None or df.empty or metric not in df.columns:
        return {}
    d = df[["task", "variant", "seed"]].copy()
    d["value"] = pd.to_numeric(df[metric], errors="coerce")
    d["observed"] = df["solved"].astype(bool) if "solved" in df.columns else True
    d = d[np.isfinite(d["value"])]
    return {key: g.sort_values("seed") for key, g in d.groupby(["task", "variant"], sort=False)}


# ---- learning curves --------------------------------------------------------------------------


def curve_frame(df: pd.DataFrame, key_hint: str) -> tuple[pd.DataFrame, str] | None:
    """Learning curves as long rows (task, variant, seed, step, value) for the best-fitting key."""
    if df is None or "curve" not in df.columns:
        return None
    points = [
        (r.task, r.variant, r.seed, p)
        for r in df[["task", "variant", "seed", "curve"]].itertuples()
        if isinstance(r.curve, list | tuple | np.ndarray)
        for p in r.curve
        if isinstance(p, dict)
    ]
    keys = {k for *_, p in points for k in p} - {"step"}
    knockout = KNOCKOUT.match(key_hint)
    base = knockout["base"] if knockout else None  # no knockout curves: its base metric's
    key = next((k for k in (key_hint, base, "loss") if k in keys), None)
    if key is None:
        return None
    rows = [(t, v, s, p.get("step"), p.get(key)) for t, v, s, p in points]
    long = pd.DataFrame(rows, columns=["task", "variant", "seed", "step", "value"]).dropna()
    return (long, key) if len(long) else None


def carry_forward(g: pd.DataFrame) -> pd.DataFrame:
    """Steps × seeds of one cell's curves, each seed's last value carried forward after it
    stopped (training stops when a trial solves), so every step averages every seed."""
    wide = g.pivot_table(index="step", columns="seed", values="value", aggfunc="last")
    return wide.sort_index().ffill()
