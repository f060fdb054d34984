"""Across tasks: average ranks with the Friedman / Iman-Davenport / Nemenyi statistics (Demšar
2006), said to be noise when Friedman does not reject, and the mean over tasks with an interval
whose coverage is checked by simulation (tests/test_calibration.py). Pure, like
membench.analysis.stats."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as st

from membench.analysis.comparison import centre
from membench.analysis.stats import a12, cells, clip, exact_at_bound, t_interval, usable
from membench.metrics import metric_bounds, metric_direction, metric_kind


@dataclass
class RankResult:
    """Average ranks across tasks (1 = best) and the Friedman / Nemenyi statistics on them."""

    average_ranks: pd.Series
    friedman_stat: float
    friedman_p: float
    iman_davenport_f: float
    iman_davenport_p: float
    critical_difference: float
    n_tasks: int
    n_variants: int
    alpha: float = 0.05

    @property
    def distinguishable(self) -> bool:
        """Whether Friedman rejects equal ranks: otherwise the ranks are noise."""
        return bool(self.friedman_p < self.alpha)


def rank(df: pd.DataFrame, metric: str, alpha: float = 0.05) -> RankResult:
    """Rank variants within each task by their cell centre (mean; the censored-aware median for a
    censored metric), ties averaged; Friedman, Iman-Davenport, Nemenyi.

    Uses only tasks where every variant has results (the tests need complete blocks). The
    Friedman statistic carries the usual tie correction, which is Demšar's formula without ties.
    """
    kind = metric_kind(metric)
    centres = {k: centre(c, kind) for k, c in cells(df, metric).items()}
    means = pd.Series(centres, dtype=float)
    variants = list(dict.fromkeys(usable(df, metric)["variant"]))
    means = means.unstack(1)[variants].dropna() if len(means) else pd.DataFrame(columns=variants)
    n, k = means.shape
    ranks = np.array([st.rankdata(-metric_direction(metric) * r) for r in means.to_numpy()])
    avg = pd.Series(ranks.mean(axis=0) if n else np.nan, index=means.columns, name="rank")
    nan = math.nan
    if n < 2 or k < 2:
        return RankResult(avg, nan, nan, nan, nan, nan, n, k, alpha)
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(avg.to_numpy() ** 2) - k * (k + 1) ** 2 / 4)
    ties = sum(np.sum(c**3 - c) for r in ranks for c in [np.unique(r, return_counts=True)[1]])
    c = 1 - ties / (n * k * (k * k - 1))
    chi2 = chi2 / c if c > 0 else 0.0  # every task fully tied: no evidence at all
    p_chi2 = float(st.chi2.sf(chi2, k - 1))
    denom = n * (k - 1) - chi2
    # every task ranks the variants the same: F is infinite and its p says nothing Friedman's
    # does not (with 2 tasks it would read p = 0), so both are left undefined
    f = (n - 1) * chi2 / denom if denom > 0 else math.nan
    p_f = float(st.f.sf(f, k - 1, (k - 1) * (n - 1))) if denom > 0 else math.nan
    q = st.studentized_range.ppf(1 - alpha, k, math.inf) / math.sqrt(2)
    cd = float(q * math.sqrt(k * (k + 1) / (6 * n)))
    return RankResult(avg, float(chi2), p_chi2, float(f), p_f, cd, n, k, alpha)


def stratified_mean(groups: list[np.ndarray], floors=None, level: float = 0.95):
    """Mean over tasks of each task's mean over seeds, with a t-interval: the variance of each
    task's mean is its seeds' variance (at least `floors[t]`, the variance pooled over the
    task's variants, so a cell whose 3 seeds happen to agree does not claim certainty), / n, /
    T^2; degrees of freedom by Welch-Satterthwaite with n - 1 per task (seeds are shared by the
    variants, so pooling adds no independent seeds). Returns (mean, low, high); its coverage is
    checked by simulation in tests/test_calibration.py."""
    t = len(groups)
    floors = [0.0] * t if floors is None else floors
    mean = float(np.mean([g.mean() for g in groups]))
    if min(map(len, groups)) < 2:
        return mean, math.nan, math.nan
    v = np.array([max(g.var(ddof=1), f) / len(g) for g, f in zip(groups, floors, strict=True)])
    v /= t**2
    var = float(np.sum(v))
    if var == 0:
        return mean, mean, mean
    dof = var**2 / float(np.sum([vi**2 / (len(g) - 1) for vi, g in zip(v, groups, strict=True)]))
    return (mean, *t_interval(mean, math.sqrt(var), dof, level))


def _agresti_coull_variance(x: np.ndarray) -> float:
    """p(1 - p) at the Agresti-Coull centre (k + 2) / (n + 4): a 0/1 cell's variance floor."""
    p = (x.sum() + 2) / (len(x) + 4)
    return float(p * (1 - p))


def pooled_variance(values: list[np.ndarray]) -> float:
    """Within-cell variance pooled over cells (0 when no cell has 2 values)."""
    dof = sum(len(x) - 1 for x in values if len(x) > 1)
    ss = sum(float(np.sum((x - x.mean()) ** 2)) for x in values if len(x) > 1)
    return ss / dof if dof else 0.0


def aggregate(df: pd.DataFrame, metric: str, baseline: str) -> pd.DataFrame:
    """Per variant: the mean over tasks with its t-interval (cut at the metric's range), and the
    probability of improvement over the baseline (mean A12 over shared tasks, a point estimate).
    Empty for a censored metric: a mean over budgets is no estimate."""
    cols = ["variant", "n_tasks", "mean", "mean_ci_low", "mean_ci_high", "ci_clipped"]
    cols += ["prob_improvement"]
    if metric_kind(metric) == "censored":
        return pd.DataFrame(columns=cols)
    direction = metric_direction(metric)
    table = {k: c.values for k, c in cells(df, metric).items()}
    rows = []
    for v in dict.fromkeys(v for _, v in table):
        tasks = [t for t, vv in table if vv == v]
        floors = [pooled_variance([x for (tt, _), x in table.items() if tt == t]) for t in tasks]
        if metric_kind(metric) == "binary":  # k/n of 0 or n has no spread, yet is no certainty
            floors = [
                max(f, _agresti_coull_variance(table[t, v]))
                for f, t in zip(floors, tasks, strict=True)
            ]
        mean, lo, hi = stratified_mean([table[t, v] for t in tasks], floors)
        lo, hi, cut = clip(lo, hi, metric_bounds(metric))
        at_bound = exact_at_bound(
            np.concatenate([table[t, v] for t in tasks]), metric_bounds(metric)
        )
        if at_bound is not None:  # no spread: the exact bound, not the pooled t-interval
            (lo, hi), cut = at_bound, False
        shared = [t for t in tasks if (t, baseline) in table and v != baseline]
        pi = [a12(table[t, v], table[t, baseline], direction) for t in shared]
        rows.append([v, len(tasks), mean, lo, hi, cut, float(np.mean(pi)) if pi else math.nan])
    return pd.DataFrame(rows, columns=cols)
