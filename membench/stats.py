"""Statistics for small-seed ablations: per-cell intervals, tests against a baseline, ranks.

Pure functions on a long DataFrame (one row per trial: task, variant, seed, metrics). With 3-5
seeds per cell we use t-based tests and intervals (a percentile bootstrap at n=3 is badly
anti-conservative), correct across every comparison of a table, and flag what is underpowered.
Cross-task summaries follow Demšar (2006) and rliable (Agarwal et al. 2021).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as st

# +1: higher is better, -1: lower is better. Unknown names fall back to the word rule below.
DIRECTIONS = {
    "token_accuracy": 1,
    "exact_match": 1,
    "final_loss": -1,
    "steps_to_solve": -1,
    "params": -1,
    "train_flops": -1,
    "train_seconds": -1,
    "tokens_per_second": 1,
}
LOWER_IS_BETTER_WORDS = ("loss", "steps", "seconds", "error", "flops")


def metric_direction(metric: str) -> int:
    """+1 if higher is better, -1 if lower is better."""
    if metric in DIRECTIONS:
        return DIRECTIONS[metric]
    return -1 if any(w in metric.lower() for w in LOWER_IS_BETTER_WORDS) else 1


def _ok(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows usable for statistics: succeeded (if a status exists) with a finite metric value."""
    if "status" in df.columns:
        df = df[df["status"] == "ok"]
    values = pd.to_numeric(df[metric], errors="coerce")
    return df.assign(**{metric: values})[np.isfinite(values)]


def _cells(df: pd.DataFrame, metric: str) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(task, variant) -> (seeds, values) sorted by seed, cells in order of appearance."""
    df = _ok(df, metric)
    seeds, values = df["seed"].to_numpy(), df[metric].to_numpy(float)
    cells = {}
    for key, idx in df.groupby(["task", "variant"], sort=False).indices.items():
        idx = idx[np.argsort(seeds[idx], kind="stable")]
        cells[key] = seeds[idx], values[idx]
    return cells


def _t_interval(mean: float, se: float, dof: float, level: float = 0.95) -> tuple[float, float]:
    """Two-sided t-interval; zero-width when se is 0, NaN when dof is undefined."""
    if not dof >= 1:
        return math.nan, math.nan
    half = st.t.ppf(0.5 + level / 2, dof) * se if se > 0 else 0.0
    return mean - half, mean + half


def describe(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (task, variant): n, mean, std, 95% t-interval of the mean, median, min, max."""
    rows = []
    for (task, variant), (_, x) in _cells(df, metric).items():
        n, mean = len(x), float(np.mean(x))
        std = float(np.std(x, ddof=1)) if n > 1 else math.nan
        lo, hi = _t_interval(mean, std / math.sqrt(n), n - 1)
        stats = [n, mean, std, lo, hi, float(np.median(x)), float(x.min()), float(x.max())]
        rows.append([task, variant, *stats])
    cols = ["task", "variant", "n", "mean", "std", "ci_low", "ci_high", "median", "min", "max"]
    return pd.DataFrame(rows, columns=cols)


def adjust_pvalues(p, method: str = "holm") -> np.ndarray:
    """Holm (family-wise error) or Benjamini-Hochberg (false discovery rate); NaNs are skipped."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    if method not in ("holm", "bh", "none"):
        raise ValueError(f"unknown correction {method!r}: use holm, bh or none")
    if method == "none" or m == 0:
        out[idx] = p[idx]
        return out
    order = idx[np.argsort(p[idx], kind="stable")]
    ranked = p[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        adj = np.minimum.accumulate((m / np.arange(1, m + 1) * ranked)[::-1])[::-1]
    out[order] = np.minimum(adj, 1.0)
    return out


def a12(x, y, direction: int = 1) -> float:
    """Vargha-Delaney A: P(x beats y) + 0.5 P(tie) over all pairs; > 0.5 means x is better."""
    d = direction * (np.asarray(x, float)[:, None] - np.asarray(y, float)[None, :])
    return float(np.mean(d > 0) + 0.5 * np.mean(d == 0)) if d.size else math.nan


def hedges_g(x, y, direction: int = 1) -> float:
    """Standardised mean difference with small-sample correction; positive means x is better."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n1, n2 = len(x), len(y)
    if min(n1, n2) < 1 or n1 + n2 < 3:
        return math.nan
    diff = direction * (x.mean() - y.mean())
    sp = math.sqrt((np.sum((x - x.mean()) ** 2) + np.sum((y - y.mean()) ** 2)) / (n1 + n2 - 2))
    if sp == 0:
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)
    return float(diff / sp * (1 - 3 / (4 * (n1 + n2) - 9)))


_UNTESTED = dict(df=math.nan, p_value=math.nan, ci_low=math.nan, ci_high=math.nan)


def _ttest(xs, x, ys, y) -> dict:
    """Paired t on per-seed differences when both cells hold the same seeds, else Welch."""
    same_seeds = np.array_equal(xs, ys) and len(np.unique(xs)) == len(xs)
    if same_seeds and len(x) >= 2:  # both sorted by seed, so aligned
        d = x - y
        test, diff, se, dof = "paired-t", d.mean(), d.std(ddof=1) / math.sqrt(len(d)), len(d) - 1
    else:
        n1, n2, test, diff = len(x), len(y), "welch-t", x.mean() - y.mean()
        if min(n1, n2) < 2:
            return dict(test=test, diff=diff, **_UNTESTED, note="fewer than 2 seeds")
        v1, v2 = x.var(ddof=1) / n1, y.var(ddof=1) / n2
        se = math.sqrt(v1 + v2)
        dof = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1)) if se > 0 else math.nan
    res = dict(test=test, diff=float(diff), df=dof, note="")
    if se == 0 and diff == 0:  # identical seed by seed
        res.update(p_value=1.0, ci_low=0.0, ci_high=0.0, note="identical per seed")
    elif se == 0:  # a constant nonzero difference: no noise to test against
        res.update(p_value=0.0, ci_low=diff, ci_high=diff, note="zero variance: p set to 0")
    else:
        res["p_value"] = float(2 * st.t.sf(abs(diff / se), dof))
        res["ci_low"], res["ci_high"] = _t_interval(diff, se, dof)
    return res


def compare(
    df: pd.DataFrame, metric: str, baseline: str, alpha: float = 0.05, correction: str = "holm"
) -> pd.DataFrame:
    """Every variant against the baseline on every task, corrected across the whole table."""
    direction = metric_direction(metric)
    cells = _cells(df, metric)
    empty = np.array([]), np.array([])
    rows = []
    for (task, variant), (xs, x) in cells.items():
        if variant == baseline:
            continue
        ys, y = cells.get((task, baseline), empty)
        row = dict(task=task, variant=variant, n=len(x), n_baseline=len(y), mean=x.mean())
        row["baseline_mean"] = y.mean() if len(y) else math.nan
        if not len(y):
            row.update(test="none", diff=math.nan, **_UNTESTED, note="no baseline cell")
        elif np.ptp(np.concatenate([x, y])) == 0:  # e.g. all 1.0 vs all 1.0: a tie
            row.update(test="tie", diff=0.0, df=math.nan, p_value=1.0, ci_low=0.0, ci_high=0.0)
            row["note"] = "all values equal"
        else:
            row.update(_ttest(xs, x, ys, y))
        row.update(hedges_g=hedges_g(x, y, direction), a12=a12(x, y, direction))
        row["underpowered"] = min(len(x), len(y)) < 3 or row["df"] < 1
        rows.append(row)
    cols = ["task", "variant", "n", "n_baseline", "mean", "baseline_mean", "diff", "ci_low"]
    cols += ["ci_high", "test", "df", "p_value", "p_adjusted", "significant", "better"]
    cols += ["hedges_g", "a12", "underpowered", "note"]
    out = pd.DataFrame(rows, columns=cols)
    out["p_adjusted"] = adjust_pvalues(out["p_value"], correction)
    out["significant"] = (out["p_adjusted"] < alpha).astype(bool)
    pairs = zip(out["diff"], out["significant"], strict=True)
    better = [bool(direction * d > 0) if s else None for d, s in pairs]
    out["better"] = pd.Series(better, index=out.index, dtype=object)
    return out.astype({"underpowered": bool})


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


def rank(df: pd.DataFrame, metric: str, alpha: float = 0.05) -> RankResult:
    """Rank variants within each task by mean (ties averaged); Friedman, Iman-Davenport, Nemenyi.

    Uses only tasks where every variant has results (the tests need complete blocks). The
    Friedman statistic carries the usual tie correction, which is Demšar's formula without ties.
    """
    d = _ok(df, metric)
    means = d.groupby(["task", "variant"], sort=False)[metric].mean().unstack("variant")
    means = means[list(dict.fromkeys(d["variant"]))].dropna()
    n, k = means.shape
    ranks = np.array([st.rankdata(-metric_direction(metric) * r) for r in means.to_numpy()])
    avg = pd.Series(ranks.mean(axis=0) if n else np.nan, index=means.columns, name="rank")
    nan = math.nan
    if n < 2 or k < 2:
        return RankResult(avg, nan, nan, nan, nan, nan, n, k)
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(avg.to_numpy() ** 2) - k * (k + 1) ** 2 / 4)
    ties = sum(np.sum(c**3 - c) for r in ranks for c in [np.unique(r, return_counts=True)[1]])
    c = 1 - ties / (n * k * (k * k - 1))
    chi2 = chi2 / c if c > 0 else 0.0  # every task fully tied: no evidence at all
    p_chi2 = float(st.chi2.sf(chi2, k - 1))
    denom = n * (k - 1) - chi2
    f = (n - 1) * chi2 / denom if denom > 0 else math.inf
    p_f = float(st.f.sf(f, k - 1, (k - 1) * (n - 1))) if denom > 0 else 0.0
    q = st.studentized_range.ppf(1 - alpha, k, math.inf) / math.sqrt(2)
    cd = float(q * math.sqrt(k * (k + 1) / (6 * n)))
    return RankResult(avg, float(chi2), p_chi2, float(f), p_f, cd, n, k)


def _iqm(x: np.ndarray) -> np.ndarray:
    """Interquartile mean along the last axis (mean of the middle 50%), as rliable."""
    return st.trim_mean(x, 0.25, axis=-1)


def aggregate(
    df: pd.DataFrame, metric: str, baseline: str, n_boot: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """Per variant: mean over tasks, IQM over all runs, P(improvement over baseline).

    Intervals are 95% stratified percentile bootstraps: seeds are resampled within each task, so
    the task mix stays fixed. Across tasks n is large enough for the bootstrap to be sane.
    """
    direction = metric_direction(metric)
    cells = {k: x for k, (_, x) in _cells(df, metric).items()}
    variants = list(dict.fromkeys(v for _, v in cells))
    rng = np.random.default_rng(seed)

    def boot(x):  # (n_boot, n) resamples of one cell
        return x[rng.integers(0, len(x), size=(n_boot, len(x)))]

    rows = []
    for v in variants:
        tasks = [t for t, vv in cells if vv == v]
        runs = np.concatenate([cells[t, v] for t in tasks])
        samples = {t: boot(cells[t, v]) for t in tasks}
        means = np.mean([s.mean(axis=1) for s in samples.values()], axis=0)
        iqms = _iqm(np.concatenate(list(samples.values()), axis=1))
        mean = np.mean([cells[t, v].mean() for t in tasks])
        row = [v, len(tasks), mean, *np.percentile(means, [2.5, 97.5])]
        row += [_iqm(runs), *np.percentile(iqms, [2.5, 97.5])]
        shared = [t for t in tasks if (t, baseline) in cells]
        if v == baseline or not shared:
            row += [math.nan] * 3
        else:
            pi = np.mean([a12(cells[t, v], cells[t, baseline], direction) for t in shared])
            boots = [_a12_boot(samples[t], boot(cells[t, baseline]), direction) for t in shared]
            row += [pi, *np.percentile(np.mean(boots, axis=0), [2.5, 97.5])]
        rows.append([float(r) if i > 1 else r for i, r in enumerate(row)])
    cols = ["variant", "n_tasks", "mean", "mean_ci_low", "mean_ci_high", "iqm", "iqm_ci_low"]
    cols += ["iqm_ci_high", "prob_improvement", "pi_ci_low", "pi_ci_high"]
    return pd.DataFrame(rows, columns=cols)


def _a12_boot(x: np.ndarray, y: np.ndarray, direction: int) -> np.ndarray:
    """A12 for each bootstrap replicate: x (B, n), y (B, m) -> (B,)."""
    d = direction * (x[:, :, None] - y[:, None, :])
    return (d > 0).mean(axis=(1, 2)) + 0.5 * (d == 0).mean(axis=(1, 2))
