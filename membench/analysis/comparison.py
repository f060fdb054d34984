"""The comparison table: every variant against the baseline on every task, tested (see
`stats.py`), corrected over the family, with solve counts, A12 and, for a difference worth
having that is not significant, the seeds it would need.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as st

from membench.analysis.stats import (
    POWER,
    Cell,
    a12,
    adjust_pvalues,
    cells,
    clip,
    compare_cells,
    gehan,
    median_censored,
    usable,
)
from membench.metrics import UNIT, metric_bounds, metric_direction, metric_kind


def t_seeds_needed(diff: float, sd: float, alpha: float, power: float = POWER) -> float:
    """Seeds a paired t-test needs to detect a per-seed difference of `diff` (sd `sd`) with
    the given power at level alpha; NaN above 1000 or without an effect."""
    if not (sd > 0 and diff != 0):
        return math.nan
    n = np.arange(2, 1001)
    crit = st.t.ppf(1 - alpha / 2, n - 1)
    enough = st.nct.sf(crit, n - 1, abs(diff) / sd * np.sqrt(n)) >= power
    return float(n[enough.argmax()]) if enough.any() else math.nan


def compare(
    df: pd.DataFrame,
    metric: str,
    baseline: str,
    alpha: float = 0.05,
    correction: str = "holm",
    test: str = "exact",
) -> pd.DataFrame:
    """Every variant against the baseline on every task. Comparisons that cannot reach alpha
    (p_min > alpha) are marked undecidable and left out of the correction family (Tarone 1990);
    the rest are corrected together. `test`: exact (the default: the sign-flip test on paired
    differences, a permutation test unpaired, for every continuous comparison, so the same
    evidence gets the same mark in every row) or t (paired t / Welch, exact where t is
    undefined). `solved`: seeds that solved the task, variant vs baseline ("3/5 vs 5/5")."""
    if test not in ("t", "exact"):
        raise ValueError(f"unknown test {test!r}: use t or exact")
    kind, direction = metric_kind(metric), metric_direction(metric)
    table = cells(df, metric)
    solves = solve_counts(df, metric)
    family = sum(1 for task, variant in table if variant != baseline)
    rows = []
    for (task, variant), x in table.items():
        if variant == baseline:
            continue
        y = table.get((task, baseline))
        row = dict(task=task, variant=variant, n=len(x.values))
        if y is None:
            row |= dict(n_baseline=0, test="none", p_value=math.nan, p_min=1.0, sign=0)
            row |= dict(reason="no baseline cell", mean=centre(x, kind), n_paired=0)
            rows.append(row)
            continue
        res = compare_cells(x, y, kind, test, alpha, direction, alpha / max(family, 1))
        lo, hi = res.pop("ci")
        span = np.subtract(*metric_bounds(metric)[::-1])
        lo, hi, cut = clip(lo, hi, (-span, span))
        row |= dict(n_baseline=len(y.values), mean=centre(x, kind), baseline_mean=centre(y, kind))
        row |= res | dict(ci_low=lo, ci_high=hi, ci_clipped=cut)
        row["only"] = _one_sided_seeds(x, y, variant, baseline)
        row["solve_counts"] = _solved_text(solves, task, variant, baseline)
        if kind in ("continuous", "binary"):
            row["a12"] = a12(x.values, y.values, direction)
        else:
            g = gehan(x, y)
            row["a12"] = float(np.mean(g > 0) + 0.5 * np.mean(g == 0))
        rows.append(row)
    cols = ["task", "variant", "n", "n_baseline", "n_paired", "mean", "baseline_mean", "diff"]
    cols += ["ci_low", "ci_high", "ci_clipped", "test", "df", "p_value", "p_min", "decidable"]
    cols += ["p_adjusted", "significant", "better", "solve_counts", "a12", "seeds_needed", "note"]
    out = pd.DataFrame(rows).reindex(columns=[*cols, "sign", "reason", "only"])
    out["decidable"] = (out["p_min"] <= alpha) & np.isfinite(out["p_value"])
    family = out["p_value"].where(out["decidable"])
    out["p_adjusted"] = adjust_pvalues(family, correction)
    out["significant"] = (out["p_adjusted"] < alpha).astype(bool)
    better = [
        bool(g > 0) if s else None for g, s in zip(out["sign"], out["significant"], strict=True)
    ]
    out["better"] = pd.Series(better, index=out.index, dtype=object)
    m = int(out["decidable"].sum())
    for i, r in out.iterrows():
        if r["test"] in ("paired-t", "welch-t") and not r["significant"]:
            out.at[i, "seeds_needed"] = _t_needed(table, r, baseline, alpha / max(m, 1))
        if r["significant"] or not _of_interest(r, metric):
            out.at[i, "seeds_needed"] = math.nan  # decided, or too small to be worth seeds
        elif r["test"] == "sign-flip" and r["decidable"] and not np.isfinite(r["seeds_needed"]):
            why = _uneven(table, r, baseline, metric)  # enough seeds, yet not significant
            out.at[i, "reason"] = "; ".join(filter(None, [r["reason"], why]))
    out["solve_counts"] = out["solve_counts"].astype(object).fillna("")  # no baseline cell: none
    out["note"] = [_note(r) for r in out.itertuples()]
    out = out.astype({"decidable": bool, "ci_clipped": "boolean"})
    return out[cols]


MIN_EFFECT = 0.05
"""The smallest difference worth more seeds: 0.05 on a metric bounded in [0, 1] (5 points of
accuracy), else 5% of the baseline's value. Below it no "needs ~N seeds" is shown."""


def _of_interest(row, metric: str) -> bool:
    diff = abs(row["diff"]) if np.isfinite(row["diff"]) else math.nan
    if metric_bounds(metric) == UNIT or metric_kind(metric) == "binary":
        return diff >= MIN_EFFECT
    base = row.get("baseline_mean")
    if metric_kind(metric) == "censored" or base is None or not np.isfinite(base):
        return True
    return diff >= MIN_EFFECT * abs(base)


def solve_counts(df: pd.DataFrame, metric: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(task, variant) -> (seeds that solved, seeds) over the rows the metric uses."""
    df = usable(df, metric)
    if "solved" not in df.columns:
        return {}
    solved = df["solved"].fillna(False).astype(bool)
    grouped = solved.groupby([df["task"], df["variant"]], sort=False)
    return {key: (int(v.sum()), int(len(v))) for key, v in grouped}


def _solved_text(solves, task: str, variant: str, baseline: str) -> str:
    if (task, variant) not in solves or (task, baseline) not in solves:
        return ""
    (k, n), (kb, nb) = solves[task, variant], solves[task, baseline]
    return f"{k}/{n} vs {kb}/{nb}"


def centre(c: Cell, kind: str) -> float:
    """What a cell is ranked and shown by: its mean, or the censored-aware median."""
    return median_censored(c) if kind == "censored" else float(c.values.mean())


def _uneven(table, row, baseline: str, metric: str) -> str:
    """Why a difference of interest is not significant at seeds that could make a unanimous one
    so: '3 of 11 seeds differ by less than 0.05' (the sign-flip test weighs each seed's
    difference, so small ones weigh little), 'seeds 3, 7 go the other way'."""
    x, y = table[row["task"], row["variant"]], table[row["task"], baseline]
    shared = np.intersect1d(x.seeds, y.seeds)
    d = (x.take(shared).values - y.take(shared).values) * np.sign(row["diff"])
    base = row.get("baseline_mean")
    bounded = metric_bounds(metric) == UNIT or metric_kind(metric) == "binary"
    small = MIN_EFFECT if bounded or not np.isfinite(base) else MIN_EFFECT * abs(base)
    parts = []
    k = int(np.count_nonzero(np.abs(d) < small))
    if k:
        parts.append(f"{k} of {len(d)} seeds differ by less than {small:.3g}")
    against = shared[d <= -small]
    if len(against):
        seeds = ", ".join(map(str, against))
        parts.append(f"seed {seeds} goes" if len(against) == 1 else f"seeds {seeds} go")
        parts[-1] += " the other way"
    return "; ".join(parts)


def _t_needed(table, row, baseline, alpha) -> float:
    """Seeds for 80% power at the observed effect, at the level the first Holm step uses."""
    x, y = table[row["task"], row["variant"]], table[row["task"], baseline]
    if row["test"] == "paired-t":
        shared = np.intersect1d(x.seeds, y.seeds)
        d = x.take(shared).values - y.take(shared).values
        return t_seeds_needed(d.mean(), d.std(ddof=1), alpha)
    sd = math.sqrt((x.values.var(ddof=1) + y.values.var(ddof=1)) / 2)
    return t_seeds_needed(x.values.mean() - y.values.mean(), sd * math.sqrt(2), alpha)


def _one_sided_seeds(x: Cell, y: Cell, variant: str, baseline: str) -> str:
    """'seed 4 only in baseline' for seeds a paired comparison could not use."""
    parts = []
    for c, other, name in ((x, y, variant), (y, x, baseline)):
        alone = np.setdiff1d(c.seeds, other.seeds)
        if len(alone) and len(np.intersect1d(x.seeds, y.seeds)) >= 2:
            word = "seed" if len(alone) == 1 else "seeds"
            parts.append(f"{word} {', '.join(map(str, alone))} only in {name}")
    return "; ".join(parts)


def _note(r) -> str:
    """Why a row cannot be decided, what it would need, and anything left unpaired."""
    parts = [r.reason] if isinstance(r.reason, str) and r.reason else []
    if not r.decidable and r.test != "none" and r.p_min < 1:
        parts.append(f"cannot reach p < alpha (smallest p {r.p_min:.3g})")
    if np.isfinite(r.seeds_needed):
        parts.append(f"needs ~{int(r.seeds_needed)} seeds, all of one sign")
    if isinstance(r.only, str) and r.only:
        parts.append(r.only)
    return "; ".join(parts)
