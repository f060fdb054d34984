"""Statistics for small-seed ablations on the metrics membench emits: discrete, bounded,
censored. Pure functions on a long DataFrame (one row per trial: task, variant, seed, metrics).

A comparison pairs the seeds both cells share. By default it is exact: the sign-flip test on
per-seed differences (every sign pattern up to 2^16, a fixed-seed sample beyond), a permutation
test where no seeds are shared; `test="t"` gives paired t / Welch tests, exact where t is
undefined. Binary metrics (`solve_rate`) get exact (Clopper-Pearson) intervals and exact
McNemar (Fisher unpaired); censored ones (`steps_to_solve`) a sign test on per-seed outcomes
(Gehan unpaired).

A test that cannot reach alpha whatever the data (all values equal; too few seeds) is said so
and left out of the correction family (Tarone 1990). The per-comparison table is built in
`comparison.py`; summaries across tasks (ranks, the aggregate mean) in `across.py`; the sign-flip
test itself in `signflip.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as st

from membench.analysis.signflip import sign_flip_interval, sign_flip_p, sign_patterns
from membench.metrics import metric_bounds, metric_kind

EXACT_PAIRS = 6  # a two-sided sign or sign-flip test needs 6 informative pairs for p < 0.05
POWER = 0.8  # the power behind "needs ~N seeds"
DECIMALS = 12  # values and differences are rounded here: float noise is not variance


# ---- cells ------------------------------------------------------------------------------------


@dataclass
class Cell:
    """One (task, variant): seeds in increasing order, values, and whether each was observed
    (False: censored, the true value exceeds the recorded budget)."""

    seeds: np.ndarray
    values: np.ndarray
    observed: np.ndarray

    def take(self, seeds) -> Cell:
        idx = np.searchsorted(self.seeds, seeds)
        return Cell(self.seeds[idx], self.values[idx], self.observed[idx])


def observed_mask(df: pd.DataFrame, metric: str) -> np.ndarray:
    """Which values of a censored metric are observed: the records' `solved`, else below budget."""
    if metric_kind(metric) != "censored":
        return np.ones(len(df), bool)
    if "solved" in df.columns:
        return df["solved"].fillna(False).astype(bool).to_numpy()
    if "train.steps" in df.columns:
        return (pd.to_numeric(df[metric]) < pd.to_numeric(df["train.steps"])).to_numpy()
    raise ValueError(
        f"{metric} is censored at the training budget: the table needs a 'solved' column "
        "(or 'train.steps') to tell a solved trial from one that ran out of steps"
    )


def usable(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows usable for statistics: succeeded (if a status exists) with a finite metric value."""
    if "status" in df.columns:
        df = df[df["status"] == "ok"]
    values = pd.to_numeric(df[metric], errors="coerce")
    return df.assign(**{metric: values})[np.isfinite(values)]


def cells(df: pd.DataFrame, metric: str) -> dict[tuple[str, str], Cell]:
    """(task, variant) -> Cell, cells in order of appearance. Two rows of one seed in a cell
    are an error: they are different settings, and a test would count the seed twice."""
    df = usable(df, metric)
    seeds, values = df["seed"].to_numpy(), np.round(df[metric].to_numpy(float), DECIMALS)
    observed = observed_mask(df, metric)
    out = {}
    for key, idx in df.groupby(["task", "variant"], sort=False).indices.items():
        idx = idx[np.argsort(seeds[idx], kind="stable")]
        if len(np.unique(seeds[idx])) < len(idx):
            dup = pd.Series(seeds[idx]).duplicated()
            raise ValueError(
                f"cell {key[0]} / {key[1]} holds seed {seeds[idx][dup.to_numpy()][0]} more than "
                "once (records of different settings): report one suite's results"
            )
        out[key] = Cell(seeds[idx], values[idx], observed[idx])
    return out


# ---- intervals --------------------------------------------------------------------------------


def t_interval(mean: float, se: float, dof: float, level: float = 0.95) -> tuple[float, float]:
    """Two-sided t-interval; zero-width when se is 0, NaN when dof is undefined (the package's
    one t-interval: cells, differences, aggregates, attention shares and plots use it)."""
    if not dof >= 1:
        return math.nan, math.nan
    half = st.t.ppf(0.5 + level / 2, dof) * se if se > 0 else 0.0
    return mean - half, mean + half


def mean_interval(x, level: float = 0.95) -> tuple[float, float]:
    """t-interval of the mean of the values x."""
    x = np.asarray(x, float)
    if len(x) < 2:
        return math.nan, math.nan
    return t_interval(float(x.mean()), float(x.std(ddof=1)) / math.sqrt(len(x)), len(x) - 1, level)


def clip(lo: float, hi: float, bounds: tuple[float, float]) -> tuple[float, float, bool]:
    """An interval cut at the metric's range, and whether it was cut."""
    a, b = max(lo, bounds[0]), min(hi, bounds[1])
    return a, b, bool(a != lo or b != hi) and not (math.isnan(lo) or math.isnan(hi))


def exact_binomial(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a proportion k/n: it covers at least `level`
    for every true rate, at k = 0 or n too (the Wilson interval can fall short of it)."""
    if n == 0:
        return math.nan, math.nan
    ci = st.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def median_censored(cell: Cell) -> float:
    """Median with censored values above every observed one: inf means 'more than the budget'."""
    return float(np.median(np.where(cell.observed, cell.values, np.inf)))


def exact_at_bound(values: np.ndarray, bounds: tuple[float, float]) -> tuple[float, float] | None:
    """For a metric in [0, 1] whose every value sits at 0 (or at 1): the exact 95% interval of
    the mean. A mean is at most the share of trials above 0, so the exact (Clopper-Pearson)
    bound on that share at 0 of n bounds the mean: [0, 1 - 0.025^(1/n)] (mirrored at 1). Where
    a t-interval would be [0, 0] (no spread) or the whole range (a pooled floor), this is what n
    trials at the bound can say."""
    if tuple(bounds) != (0.0, 1.0) or len(values) == 0:
        return None
    if np.all(values == 0.0):
        return 0.0, exact_binomial(0, len(values))[1]
    if np.all(values == 1.0):
        return exact_binomial(len(values), len(values))[0], 1.0
    return None


def cell_stats(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (task, variant): n, mean, std, 95% interval of the mean (t; exact binomial for a binary
    metric; none for a censored one), whether it was cut at the metric's range, median
    (censored-aware), min, max, and for binary and censored metrics the seeds that solved and
    the budget."""
    kind, bounds = metric_kind(metric), metric_bounds(metric)
    rows = []
    for (task, variant), c in cells(df, metric).items():
        x, n = c.values, len(c.values)
        mean, std = float(np.mean(x)), float(np.std(x, ddof=1)) if n > 1 else math.nan
        solved, budget, at_bound = math.nan, math.nan, None
        if kind == "binary":
            solved = int(x.sum())
            lo, hi = exact_binomial(solved, n)
        elif kind == "censored":
            solved, budget = int(c.observed.sum()), float(x[~c.observed].max(initial=x.max()))
            mean = std = lo = hi = math.nan  # a mean of censored values is no estimate
        else:
            at_bound = exact_at_bound(x, bounds)
            lo, hi = at_bound or mean_interval(x)
        lo, hi, cut = clip(lo, hi, bounds)
        if kind == "continuous" and at_bound is not None:
            cut = True  # shown as [low, high]: the exact interval is one-sided
        med = median_censored(c) if kind == "censored" else float(np.median(x))
        rows.append(
            [task, variant, n, mean, std, lo, hi, cut, med, x.min(), x.max(), solved, budget]
        )
    cols = ["task", "variant", "n", "mean", "std", "ci_low", "ci_high", "ci_clipped", "median"]
    cols += ["min", "max", "solved", "budget"]
    return pd.DataFrame(rows, columns=cols).astype({"ci_clipped": bool})


# ---- corrections and effect sizes -------------------------------------------------------------


def adjust_pvalues(p, method: str = "holm") -> np.ndarray:
    """Holm (family-wise error) or Benjamini-Hochberg (false discovery rate); NaNs are skipped.

    BH is scipy's `false_discovery_control`; Holm is by hand (scipy has none)."""
    p = np.asarray(p, dtype=float)
    out = np.full_like(p, np.nan)
    idx = np.flatnonzero(np.isfinite(p))
    m = len(idx)
    if method not in ("holm", "bh", "none"):
        raise ValueError(f"unknown correction {method!r}: use holm, bh or none")
    if method == "none" or m == 0:
        out[idx] = p[idx]
    elif method == "bh":
        out[idx] = st.false_discovery_control(p[idx], method="bh")
    else:
        order = idx[np.argsort(p[idx], kind="stable")]
        out[order] = np.minimum(np.maximum.accumulate((m - np.arange(m)) * p[order]), 1.0)
    return out


def correct_family(out: pd.DataFrame, alpha: float, correction: str) -> pd.DataFrame:
    """A family's tests (`p_value`, `p_min` columns) corrected together: one that cannot reach
    alpha at its seeds stays out of the correction (Tarone) and is marked not `decidable`."""
    if out.empty:
        return out
    out["decidable"] = out["p_min"] <= alpha
    out["p_adjusted"] = adjust_pvalues(out["p_value"].where(out["decidable"]), correction)
    out["significant"] = (out["p_adjusted"] < alpha).astype(bool)
    return out


def a12(x, y, direction: int = 1) -> float:
    """Vargha-Delaney A: P(x beats y) + 0.5 P(tie) over all pairs; > 0.5 means x is better."""
    d = direction * (np.asarray(x, float)[:, None] - np.asarray(y, float)[None, :])
    return float(np.mean(d > 0) + 0.5 * np.mean(d == 0)) if d.size else math.nan


def gehan(x: Cell, y: Cell) -> np.ndarray:
    """Pairwise outcomes for a lower-is-better censored metric: +1 where x's trial solved in fewer
    steps than y's is known to need, -1 the reverse, 0 a tie or unknown (Gehan 1965)."""
    xv, xo = x.values[:, None], x.observed[:, None]
    yv, yo = y.values[None, :], y.observed[None, :]
    x_wins = xo & ((yo & (xv < yv)) | (~yo & (xv <= yv)))
    y_wins = yo & ((xo & (yv < xv)) | (~xo & (yv <= xv)))
    return x_wins.astype(int) - y_wins.astype(int)


# ---- tests ------------------------------------------------------------------------------------


def _min_p(null: np.ndarray) -> float:
    """The smallest two-sided p-value a permutation test with this null distribution can give."""
    tol = 1e-9 * max(1.0, float(np.abs(null).max()))
    upper = np.mean(null >= null.max() - tol)
    lower = np.mean(null <= null.min() + tol)
    return float(min(1.0, 2 * min(upper, lower)))


def _exact_needed(informative: int, n: int, alpha: float) -> float:
    """Seeds an exact sign or sign-flip test needs for a unanimous result below `alpha` (alpha
    over the family, for a family), at this row's share of informative (untied) pairs."""
    k = seeds_for_unanimity(alpha)
    return math.ceil(k * n / informative) if informative else math.nan


def _permutation(data, statistic, samples: str) -> tuple[float, float]:
    """scipy's permutation test, exact up to 2**16 permutations; (p, smallest attainable p)."""
    res = st.permutation_test(
        data, statistic, permutation_type=samples, n_resamples=2**16, vectorized=False,
        random_state=np.random.default_rng(0),
    )  # fmt: skip
    return float(res.pvalue), _min_p(res.null_distribution)


def _sign_test(wins: int, losses: int, n: int, alpha: float) -> dict:
    """Exact two-sided sign test on untied pairs (McNemar for binary outcomes)."""
    m = wins + losses
    p = float(st.binomtest(wins, m).pvalue) if m else 1.0
    return dict(p_value=p, p_min=min(1.0, 2 * 0.5**m), seeds_needed=_exact_needed(m, n, alpha))


def _paired_continuous(x, y, test: str, alpha: float) -> dict:
    d = np.round(x - y, DECIMALS)  # 0.998 - 0.996 and 1.0 - 0.998 are the same difference
    n = len(d)
    if not np.any(d):
        return dict(test="identical", p_value=1.0, p_min=1.0, reason="identical on every seed")
    if test == "exact" or np.all(d == d[0]):  # a constant difference has no t statistic
        signs = sign_patterns(n)
        p = sign_flip_p(d, signs)
        p_min = sign_flip_p(np.abs(d), signs)  # every difference on one side
        needed = _exact_needed(int(np.count_nonzero(d)), n, alpha)
        reason = "" if test == "exact" else "constant difference: t undefined"
        out = dict(test="sign-flip", p_value=p, p_min=p_min, seeds_needed=needed, reason=reason)
        return out | dict(ci=sign_flip_interval(d, 0.05))
    res = st.ttest_1samp(d, 0.0)  # = ttest_rel(x, y) on the rounded differences
    lo, hi = res.confidence_interval()
    return dict(test="paired-t", df=n - 1, p_value=float(res.pvalue), p_min=0.0, ci=(lo, hi))


def _unpaired_continuous(x, y, test: str, alpha: float) -> dict:
    if test == "exact" or (np.ptp(x) == 0 and np.ptp(y) == 0):  # Welch needs some variance
        p, p_min = _permutation((x, y), lambda a, b: np.mean(a) - np.mean(b), "independent")
        reason = "" if test == "exact" else "no variance in either cell: t undefined"
        return dict(test="permutation", p_value=p, p_min=p_min, reason=reason)
    res = st.ttest_ind(x, y, equal_var=False)
    lo, hi = res.confidence_interval()
    return dict(test="welch-t", df=float(res.df), p_value=float(res.pvalue), p_min=0.0, ci=(lo, hi))


def _fisher(x, y) -> dict:
    """Fisher's exact test of two solve rates, and its smallest p at these margins."""
    kx, ky, nx, ny = int(x.sum()), int(y.sum()), len(x), len(y)
    solved = kx + ky
    tables = range(max(0, solved - ny), min(nx, solved) + 1)
    p_all = [st.fisher_exact([[a, nx - a], [solved - a, ny - solved + a]])[1] for a in tables]
    p = st.fisher_exact([[kx, nx - kx], [ky, ny - ky]])[1]
    return dict(test="fisher", p_value=float(p), p_min=float(min(p_all)))


def _gehan_unpaired(x: Cell, y: Cell) -> dict:
    pooled = Cell(np.r_[x.seeds, y.seeds], np.r_[x.values, y.values], np.r_[x.observed, y.observed])
    scores = gehan(pooled, pooled)

    def statistic(a, b):
        return scores[np.ix_(a.astype(int), b.astype(int))].sum()

    ix, iy = np.arange(len(x.values)), len(x.values) + np.arange(len(y.values))
    p, p_min = _permutation((ix, iy), statistic, "independent")
    return dict(test="gehan-permutation", p_value=p, p_min=p_min)


def compare_cells(
    x: Cell,
    y: Cell,
    kind: str,
    test: str = "exact",
    alpha: float = 0.05,
    direction: int = 1,
    family_alpha: float | None = None,
) -> dict:
    """One variant cell against its baseline cell: pairs the shared seeds (at least 2), else
    compares all seeds unpaired. Returns test, n_paired, diff, ci, df, p_value, p_min (the
    smallest p the test could give at these seeds), seeds_needed (for an exact test to reach
    `family_alpha`, alpha over the correction family; alpha alone by default), sign (+1: x
    better), reason."""
    family_alpha = alpha if family_alpha is None else family_alpha
    shared = np.intersect1d(x.seeds, y.seeds)
    paired = len(shared) >= 2
    if paired:
        x, y = x.take(shared), y.take(shared)
    out = dict(n_paired=len(shared) if paired else 0, df=math.nan, ci=(math.nan, math.nan))
    out |= dict(seeds_needed=math.nan, reason="")
    n = len(shared) if paired else min(len(x.values), len(y.values))
    if min(len(x.values), len(y.values)) < 2 and not paired:
        return out | dict(test="none", diff=math.nan, p_value=math.nan, p_min=1.0, sign=0,
                          reason="fewer than 2 seeds")  # fmt: skip
    if kind == "censored":
        mx, my = median_censored(x), median_censored(y)
        out["diff"] = mx - my if math.isfinite(mx) and math.isfinite(my) else math.nan
        if paired:
            outcome = np.diag(gehan(x, y))
            wins, losses = int((outcome > 0).sum()), int((outcome < 0).sum())
            out |= dict(test="sign (censored)", **_sign_test(wins, losses, n, family_alpha))
            out["sign"] = int(np.sign(wins - losses))
        else:
            out |= _gehan_unpaired(x, y)
            out["sign"] = int(np.sign(gehan(x, y).sum()))
        if np.all(~x.observed) and np.all(~y.observed):
            out["reason"] = "neither solved on any seed"
    elif kind == "binary":
        out["diff"] = float(x.values.mean() - y.values.mean())
        out["sign"] = int(np.sign(out["diff"]))
        if paired:
            wins = int(np.sum((x.values > 0) & (y.values == 0)))
            losses = int(np.sum((x.values == 0) & (y.values > 0)))
            out |= dict(test="mcnemar-exact", **_sign_test(wins, losses, n, family_alpha))
            out["reason"] = "" if wins + losses else "no seed solved on one side only"
        else:
            out |= _fisher(x.values, y.values)
    else:
        xv, yv = x.values, y.values
        out["diff"] = float(xv.mean() - yv.mean())
        out["sign"] = direction * int(np.sign(out["diff"]))
        if np.ptp(np.r_[xv, yv]) == 0:
            out |= dict(test="identical", p_value=1.0, p_min=1.0, reason="all values equal")
        elif paired:
            out |= _paired_continuous(xv, yv, test, family_alpha)
        else:
            out |= _unpaired_continuous(xv, yv, test, alpha)
    if not math.isnan(out["seeds_needed"]) and out["p_min"] <= family_alpha:
        out["seeds_needed"] = math.nan  # the seeds are already enough to decide
    return out


def seeds_for_unanimity(alpha: float) -> int:
    """Seeds at which a unanimous paired difference reaches p < alpha under the exact
    sign-flip test (its smallest two-sided p at n seeds is 2/2^n)."""
    return max(1, math.floor(math.log2(2 / alpha)) + 1)
