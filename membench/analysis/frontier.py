"""Frontiers: how far up a difficulty ladder each seed gets, and the tests a reviewer accepts.

A seed's frontier is the hardest level of a ladder it solved with every easier level solved too
(a climb trains exactly that run of levels and the first failure above it). Its finer score is
log2 of the frontier plus the exact match reached one level up, in log2 units of the step to
that level, so two seeds with the same frontier are told apart by how close they came to the
next one. A frontier is a lower bound where the seed solved the ladder's top, or where the
next level was cut by the step budget while still improving (`still_improving`), or where the
next level has no record yet (an unfinished climb: the seed is still climbing); two seeds whose
order a bound leaves unknown tie, as in `capacity`; the trend test leaves out still-climbing
seeds and seeds whose ranking a frontier cut while improving leaves unknown (`unknown_order`).
A seed is left out only where its bound sits at or below another score, so which seeds remain
depends on the outcome: the trend's seed count is in its row.

Families, each corrected on its own (Holm by default):
- **frontier**: every variant's paired scores against the baseline's, per ladder (the exact
  sign-flip test on the per-seed differences, unknown orders as ties);
- **contrasts**: declared pairs of variants (`contrasts:` in the suite), the same test;
- **trend**: declared orders of variants (`trend:`), Page's L on paired seeds with its exact
  null (within-seed permutations of midranks, convolved over seeds), two-sided;
- **speed**: steps to solve at the hardest level every variant's every seed reached, censored
  at the budget (the censored paired sign test of `stats`).
Pure: DataFrames in, DataFrames out.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pandas as pd
import scipy.stats as st

from membench.analysis import signflip, stats
from membench.analysis.capacity import ladders

RISE = 0.01  # held-out token accuracy or exact match gained over a curve's last quarter
IMPROVING = ("token_accuracy", "exact_match")  # as the plateau rule (`run.train.improved`)


def still_improving(curve: list, rise: float = RISE) -> bool:
    """Whether held-out token accuracy or exact match rose by more than `rise` over the last
    quarter of the evaluations (best in the last quarter against the best before it): a trial
    cut by the budget while still learning, whose failure is not a frontier. Both, as the
    plateau rule: near its ceiling token accuracy cannot rise by `rise` while exact match,
    the solve criterion, still climbs."""
    for metric in IMPROVING:
        values = [p.get(metric) for p in curve or [] if p.get(metric) is not None]
        if len(values) < 4:
            continue
        cut = len(values) - max(1, len(values) // 4)
        if max(values[cut:]) - max(values[:cut]) > rise:
            return True
    return False


def planned_levels(ladder: pd.DataFrame, param: str, design: list | None) -> np.ndarray:
    """A ladder's levels: the trained ones, completed by the suite's declared ladder of the same
    task and parameter (a climb leaves levels above every seed's failure untrained)."""
    trained = np.sort(ladder["level"].unique())
    generator = ladder["generator"].iloc[0]
    for entry in design or []:
        values = set(entry["values"])
        if entry["generator"] == generator and entry["parameter"] == param:
            if set(trained.tolist()) <= values:
                return np.sort(np.array(sorted(values), float))
    return trained


def all_ladders(ok: pd.DataFrame, design: list | None = None):
    """(name, parameter, rows, levels) per ladder (`capacity.ladders` with the suite's planned
    levels): a ladder with 2 or more levels trained or declared."""
    out = []
    for name, param, rows in ladders(ok, least=1):
        levels = planned_levels(rows, param, design)
        if len(levels) >= 2:
            out.append((name, param, rows, levels))
    return out


def seed_frontiers(ok: pd.DataFrame, design: list | None = None) -> pd.DataFrame:
    """One row per (ladder, variant, seed): frontier level (NaN: not even the bottom), its index,
    the finer score, the exact match one level up, whether it is a lower bound (`at_top`, `cut`)
    and `jumps`: levels solved above an unsolved one (a break of monotonicity)."""
    rows = []
    for name, param, ladder, levels in all_ladders(ok, design):
        logs = np.log2(levels.astype(float))
        step = np.diff(logs, prepend=logs[0] - 1)  # the log2 width below each level
        for (variant, seed), g in ladder.groupby(["variant", "seed"], sort=False):
            by_level = {float(r.level): r for r in g.itertuples()}
            top = -1
            for i, level in enumerate(levels):
                r = by_level.get(float(level))
                if r is None or not bool(r.solved):
                    break
                top = i
            nxt = by_level.get(float(levels[top + 1])) if top + 1 < len(levels) else None
            next_em = float(nxt.exact_match) if nxt is not None else math.nan
            base = logs[top] if top >= 0 else logs[0] - 1
            score = base + (step[top + 1] * next_em if nxt is not None else 0.0)
            cut = bool(
                nxt is not None
                and getattr(nxt, "stopped", None) == "budget"
                and still_improving(getattr(nxt, "curve", None))
            )
            above = [lv for lv, r in by_level.items() if r.solved and lv > (levels[top + 1]
                     if top + 1 < len(levels) else math.inf)]  # fmt: skip
            rows.append(dict(
                ladder=name, parameter=param, variant=variant, seed=int(seed),
                frontier=float(levels[top]) if top >= 0 else math.nan, index=top,
                score=float(score), next_exact=next_em, at_top=top == len(levels) - 1,
                cut=cut, pending=nxt is None and top + 1 < len(levels), jumps=sorted(above),
            ))  # fmt: skip
    return pd.DataFrame(rows)


def solve_rates(ok: pd.DataFrame, seeds: pd.DataFrame, design: list | None = None) -> pd.DataFrame:
    """Per ladder, variant and level: seeds that solved it (k) of the variant's seeds (n), with
    the exact (Clopper-Pearson) 95% interval. A seed that never reached a level (it failed one
    below, so a climb did not train it) counts as not solving it: the monotonicity assumption."""
    rows = []
    for name, _, ladder, levels in all_ladders(ok, design):
        for variant in dict.fromkeys(ladder["variant"]):
            mine = seeds[(seeds["ladder"] == name) & (seeds["variant"] == variant)]
            n = len(mine)
            for i, level in enumerate(levels):
                k = int((mine["index"] >= i).sum())
                trained = int(((ladder["variant"] == variant) & (ladder["level"] == level)).sum())
                lo, hi = st.binomtest(k, n).proportion_ci(method="exact") if n else (math.nan,) * 2
                rows.append(dict(ladder=name, variant=variant, level=float(level), k=k, n=n,
                                 trained=trained, rate=k / n if n else math.nan, low=lo,
                                 high=hi))  # fmt: skip
    return pd.DataFrame(rows)


def bound(seeds: pd.DataFrame) -> pd.Series:
    """Which frontiers are only lower bounds: at the top, cut while improving, or pending (the
    next level not trained yet: an unfinished climb)."""
    pending = seeds["pending"] if "pending" in seeds.columns else False
    return seeds["at_top"] | seeds["cut"] | pending


def paired_scores(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    """Frontier scores of `a` against `b` on shared seeds: the differences, with 0 where a lower
    bound leaves the order unknown (a bound at or below the other seed's score), and the exact
    sign-flip test on them."""
    a, b = a.set_index("seed"), b.set_index("seed")
    shared = sorted(set(a.index) & set(b.index))
    x, y = a.loc[shared, "score"].to_numpy(float), b.loc[shared, "score"].to_numpy(float)
    bx = bound(a.loc[shared]).to_numpy(bool)
    by = bound(b.loc[shared]).to_numpy(bool)
    unknown = (bx & (x <= y)) | (by & (y <= x))
    d = np.round(np.where(unknown, 0.0, x - y), stats.DECIMALS)
    n = len(d)
    if not np.any(d):
        p, p_min = 1.0, 1.0
    else:
        signs = signflip.sign_patterns(n)
        p, p_min = signflip.sign_flip_p(d, signs), signflip.sign_flip_p(np.abs(d), signs)
    return dict(
        n=n, wins=int((d > 0).sum()), losses=int((d < 0).sum()), ties=int((d == 0).sum()),
        bounds=int((bx | by).sum()), diff=float(np.median(d)) if n else math.nan,
        p_value=p, p_min=p_min, sign=int(np.sign(d.sum())),
    )  # fmt: skip


def _family(rows: list[dict], alpha: float, correction: str) -> pd.DataFrame:
    """Correct a family's p-values; a test that cannot reach alpha at its seeds stays out of
    the correction (Tarone), and says so."""
    return stats.correct_family(pd.DataFrame(rows), alpha, correction)


def compare_frontiers(
    seeds: pd.DataFrame, pairs: list[tuple[str, str]], alpha: float, correction: str
) -> pd.DataFrame:
    """Each pair (a, b) on every ladder both ran, as one family: a's frontier scores against
    b's (`paired_scores`)."""
    rows = []
    for name, g in seeds.groupby("ladder", sort=False):
        for a, b in pairs:
            ga, gb = g[g["variant"] == a], g[g["variant"] == b]
            if ga.empty or gb.empty:
                continue
            rows.append(dict(ladder=name, variant=a, against=b, **paired_scores(ga, gb)))
    return _family(rows, alpha, correction)


def page_null(blocks: list[np.ndarray]) -> Counter:
    """The exact null distribution of Page's L = sum_j j * R_j over blocks (seeds), each block's
    midranks equally likely in any order: a convolution of per-block distributions."""
    dist = Counter({0.0: 1.0})
    for ranks in blocks:
        k = len(ranks)
        weights = np.arange(1, k + 1)
        orders = itertools.permutations(ranks)
        values = Counter(round(float(weights @ np.array(p)), 9) for p in orders)
        total = sum(values.values())
        step = Counter()
        for s, ps in dist.items():
            for v, c in values.items():
                step[round(s + v, 9)] += ps * c / total
        dist = step
    return dist


def page_test(scores: np.ndarray) -> dict:
    """Page's L test of a monotone trend across the columns of `scores` [seeds, variants in the
    declared order], exact, two-sided (rising or falling), ties as midranks. `rho`: the mean
    Spearman correlation of a seed's ranks with the declared order (+1: rising on every seed)."""
    ranks = np.apply_along_axis(st.rankdata, 1, scores)
    k = scores.shape[1]
    weights = np.arange(1, k + 1)
    observed = round(float((ranks @ weights).sum()), 9)
    null = page_null(list(ranks))
    upper = sum(p for v, p in null.items() if v >= observed - 1e-9)
    lower = sum(p for v, p in null.items() if v <= observed + 1e-9)
    extreme_hi, extreme_lo = max(null), min(null)
    p_min = min(1.0, 2 * min(null[extreme_hi], null[extreme_lo]))
    rho = [st.spearmanr(r, weights).statistic if np.ptp(r) else 0.0 for r in ranks]
    sign = 1 if upper < lower else -1 if lower < upper else 0  # +1: rising with the order
    return dict(L=observed, p_value=min(1.0, 2 * min(upper, lower)), p_min=p_min,
                rho=float(np.mean(rho)), sign=sign)  # fmt: skip


def trend_tests(
    seeds: pd.DataFrame, trends: list[list[str]], alpha: float, correction: str
) -> pd.DataFrame:
    """Each declared order on every ladder, as one family: Page's L on the seeds every variant
    of the order ran. Scores at the ladder's top tie (all are lower bounds there). A seed whose
    ranks a bound leaves unknown (a frontier cut by the budget while improving, at or below
    another variant's score on that seed) is left out, as a seed still climbing is: the
    paired tests count such a pair as a tie, and a ranking has no place for one pair's tie."""
    rows = []
    for name, g in seeds.groupby("ladder", sort=False):
        if "pending" in g.columns:  # an unfinished climb's seed has no final rank yet
            g = g[~g["seed"].isin(g.loc[g["pending"], "seed"])]
        capped = g.assign(
            score=np.where(g["at_top"], g["score"].max(), g["score"]),
            open_ended=g["cut"] & ~g["at_top"],
        )
        for order in trends:
            mine = capped["variant"].isin(order)
            table = capped[mine].pivot(index="seed", columns="variant", values="score")
            if set(table.columns) != set(order):
                continue
            cut = capped[mine].pivot(index="seed", columns="variant", values="open_ended")
            table = table[order][~unknown_order(table[order], cut[order])].dropna()
            if len(table) < 2:  # said in the table, not dropped: no test at these seeds
                test = dict(L=math.nan, p_value=1.0, p_min=1.0, rho=math.nan, sign=0)
            else:
                test = page_test(table.to_numpy(float))
            rows.append(dict(ladder=name, order=" < ".join(order), n=len(table), **test))
    return _family(rows, alpha, correction)


def unknown_order(scores: pd.DataFrame, cut: pd.DataFrame) -> pd.Series:
    """Per seed (row): whether a cut frontier sits at or below another variant's score, so
    that the seed's ranking is not known."""
    x, c = scores.to_numpy(float), cut.fillna(False).to_numpy(bool)
    below = x[:, :, None] <= x[:, None, :]  # [seed, i, j]: i's score at or below j's
    np.einsum("sii->si", below)[:] = False  # a variant against itself
    return pd.Series((c[:, :, None] & below).any(axis=(1, 2)), index=scores.index)


def speed_level(rates: pd.DataFrame, name: str, variants: list[str] | None = None) -> float:
    """The hardest level of a ladder that each of `variants` (all: None) solves on at least half
    its seeds (the bottom where there is none): where learning speed is compared."""
    g = rates[rates["ladder"] == name]
    if variants is not None:
        g = g[g["variant"].isin(variants)]
    held = g.groupby("level")["rate"].min()
    held = held[held >= 0.5]
    return float(held.index.max()) if len(held) else float(g["level"].min())


def speed_cell(ladder: pd.DataFrame, seeds: pd.DataFrame, variant: str, level: float):
    """A variant's steps to solve at `level` on each of its seeds; a seed with no trial there
    (it failed below, so the climb stopped) did not solve it within the budget: censored."""
    mine = ladder[ladder["variant"] == variant]
    budget = float(pd.to_numeric(mine["train.steps"]).max())
    at = mine[mine["level"] == level].set_index("seed")
    order = np.sort(seeds.loc[seeds["variant"] == variant, "seed"].to_numpy())
    values, observed = [], []
    for seed in order:
        if seed in at.index:
            values.append(float(at.loc[seed, "steps_to_solve"]))
            observed.append(bool(at.loc[seed, "solved"]))
        else:
            values.append(budget)
            observed.append(False)
    return stats.Cell(order, np.array(values), np.array(observed, bool))


def learning_speed(
    ok: pd.DataFrame, seeds: pd.DataFrame, rates: pd.DataFrame, baseline: str, alpha: float,
    correction: str, design: list | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Steps to solve, each variant against the baseline on paired seeds at the hardest level
    both solve on at least half their seeds (`speed_level`; one variant that fails a ladder's
    bottom would otherwise pin every comparison there), censored at the budget (the paired
    censored sign test): one family."""
    rows = []
    for name, _, ladder, _ in all_ladders(ok, design):
        mine = seeds[seeds["ladder"] == name]
        if baseline not in set(mine["variant"]):
            continue
        for variant in dict.fromkeys(mine["variant"]):
            if variant == baseline:
                continue
            level = speed_level(rates, name, [variant, baseline])
            base = speed_cell(ladder, mine, baseline, level)
            cell = speed_cell(ladder, mine, variant, level)
            test = stats.compare_cells(cell, base, "censored", alpha=alpha)
            rows.append(dict(
                ladder=name, level=level, variant=variant,
                solved=int(cell.observed.sum()), n=len(cell.values),
                solved_baseline=int(base.observed.sum()), n_baseline=len(base.values),
                median=stats.median_censored(cell), median_baseline=stats.median_censored(base),
                n_paired=test["n_paired"], p_value=test["p_value"], p_min=test["p_min"],
                sign=test["sign"],  # +1: solved in fewer steps than the baseline (gehan)
            ))  # fmt: skip
    return _family(rows, alpha, correction)


def step_costs(
    ok: pd.DataFrame, baseline: str, matched: dict | None = None, design: list | None = None
) -> pd.DataFrame:
    """Per ladder and variant: training FLOPs per step against the baseline's at each level
    (lowest and highest ratio over the levels both trained), and for a compute-matched variant
    the same against the variant it matches (`compute_matched`)."""
    if "train_flops" not in ok.columns or "steps_trained" not in ok.columns:
        return pd.DataFrame()
    rows = []
    for name, _, ladder, _ in all_ladders(ok, design):
        per_step = pd.to_numeric(ladder["train_flops"]) / pd.to_numeric(ladder["steps_trained"])
        table = ladder.assign(per_step=per_step).groupby(["variant", "level"])["per_step"].mean()
        for variant in dict.fromkeys(ladder["variant"]):
            row = dict(ladder=name, variant=variant)
            for key, other in (("baseline", baseline), ("target", (matched or {}).get(variant))):
                if other is None or other not in table.index.get_level_values(0):
                    continue
                ratio = (table.loc[variant] / table.loc[other]).dropna()
                row[f"{key}_low"], row[f"{key}_high"] = float(ratio.min()), float(ratio.max())
            if (matched or {}).get(variant):
                row["matched_to"] = matched[variant]
            rows.append(row)
    return pd.DataFrame(rows)


def nonmonotone(seeds: pd.DataFrame) -> list[str]:
    """Seeds that failed a level and solved a harder one (only seen where `beyond` trains past
    a failure, or on a full grid): each breaks the climb's assumption."""
    out = []
    for r in seeds.itertuples():
        if r.jumps:
            levels = ", ".join(f"{lv:g}" for lv in r.jumps)
            out.append(
                f"{r.ladder} / {r.variant} seed {r.seed}: unsolved at one level, solved {levels}"
            )
    return out


def frontier_section(
    ok: pd.DataFrame,
    baseline: str,
    alpha: float,
    correction: str,
    contrasts: list[tuple[str, str]] | None = None,
    trends: list[list[str]] | None = None,
    design: list | None = None,
    matched: dict | None = None,
) -> dict | None:
    """Everything the report shows of frontiers: per-seed frontiers, solve rates per level,
    and the four families (None where the results hold no ladder)."""
    if "solved" not in ok.columns:
        return None
    seeds = seed_frontiers(ok, design)
    if seeds.empty:
        return None
    variants = [v for v in dict.fromkeys(seeds["variant"]) if v != baseline]
    rates = solve_rates(ok, seeds, design)
    return dict(
        seeds=seeds,
        rates=rates,
        versus=compare_frontiers(seeds, [(v, baseline) for v in variants], alpha, correction),
        contrasts=compare_frontiers(seeds, list(contrasts or []), alpha, correction),
        trends=trend_tests(seeds, list(trends or []), alpha, correction),
        speed=learning_speed(ok, seeds, rates, baseline, alpha, correction, design),
        nonmonotone=nonmonotone(seeds),
        costs=step_costs(ok, baseline, matched, design),
    )
