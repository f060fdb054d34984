"""Capacity: where each variant stops solving as a task gets harder.

A suite that sweeps a task's difficulty parameter (`copy: {length: [8, 16, 32, 64]}`; each task
names its own in `Task.difficulty`) forms a ladder. Per ladder and variant: exact match against
the level with intervals, the capacity (the largest level solved by at least half the seeds), the
level where mean exact match falls through 0.5 (interpolated in log2 of the level), and each
seed's own capacity (the largest level it solved), which is compared with the baseline's like any
other metric. A seed that solved the ladder's top level has a capacity of at least that level,
not exactly it (a lower bound: the ladder ends there), so capacities at the top are shown as
">= top" and compared by a sign test that counts two seeds at the top as a tie, never by the
size of a difference that is only a bound. The same holds for a seed that failed the next level
because the step budget ran out (`stopped: budget`) rather than on a plateau: its capacity is a
lower bound, and it ties with any seed at or above it. Pure: DataFrames in, DataFrames out.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from membench import tasks
from membench.analysis import stats

CAPACITY = "capacity_log2"  # per seed: log2 of the largest level it solved


def ladders(ok: pd.DataFrame, least: int = 2) -> list[tuple[str, str, pd.DataFrame]]:
    """(name, difficulty parameter, rows with a `level` column) for each task generator whose
    difficulty takes `least` (2) or more values among the trials (other parameters equal within
    one; a climb's first round has trained one level of each ladder)."""
    if "generator" not in ok.columns:
        return []
    out = []
    for generator, rows in ok.groupby("generator", sort=False):
        if generator not in tasks.names():
            continue
        param = tasks.get(generator).difficulty
        col = f"task_params.{param}"
        if not param or col not in rows.columns:
            continue
        others = sorted(c for c in rows.columns if c.startswith("task_params.") and c != col)
        others = [c for c in others if rows[c].notna().any()]
        groups = rows.groupby(others, sort=False, dropna=False) if others else [((), rows)]
        found = []
        for key, ladder in groups:
            if ladder[col].nunique() < least:
                continue
            key = key if isinstance(key, tuple) else (key,)
            fixed = ",".join(
                f"{c.split('.', 1)[1]}={_plain(v)}" for c, v in zip(others, key, strict=True)
            )
            found.append((fixed, ladder.assign(level=pd.to_numeric(ladder[col]))))
        for fixed, ladder in found:
            name = f"{generator}[{fixed}]" if len(found) > 1 and fixed else generator
            out.append((name, param, ladder))
    return out


def _plain(v):
    return int(v) if isinstance(v, float) and v.is_integer() else v


def crossing(levels: np.ndarray, means: np.ndarray, at: float = 0.5) -> tuple[float, str]:
    """Level where the mean first falls from >= `at` to below it, interpolated in log2 of the
    level; ('nan', '<' or '>') when it starts below or never falls."""
    if means[0] < at:
        return math.nan, "<"
    for i in range(1, len(levels)):
        if means[i] < at:
            a, b = math.log2(levels[i - 1]), math.log2(levels[i])
            frac = (means[i - 1] - at) / (means[i - 1] - means[i])
            return 2 ** (a + frac * (b - a)), ""
    return math.nan, ">"


def per_seed(ladder: pd.DataFrame, name: str) -> pd.DataFrame:
    """One row per (variant, seed): log2 of the largest level the seed solved, one rung below
    the ladder's first level when it solved none (the ladder's bottom, a censored value).
    `at_top`: it solved the top level; `budget_cut`: the next level up was not solved because
    the step budget ran out (`stopped: budget`), not on a plateau. Either way the capacity is
    only a lower bound."""
    levels = np.sort(ladder["level"].unique())
    floor = math.log2(levels[0]) - 1
    stopped = ladder["stopped"] if "stopped" in ladder.columns else pd.Series(None, ladder.index)
    rows = []
    for (variant, seed), g in ladder.groupby(["variant", "seed"], sort=False):
        solved = g.loc[g["solved"].astype(bool), "level"]
        value = math.log2(solved.max()) if len(solved) else floor
        top = bool(len(solved)) and solved.max() == levels[-1]  # at least the top: a bound
        above = g[~g["solved"].astype(bool) & (np.log2(g["level"]) > value)]
        next_up = above.loc[above["level"] == above["level"].min()] if len(above) else above
        cut = bool((stopped.loc[next_up.index] == "budget").any())
        rows.append(dict(task=name, variant=variant, seed=seed, status="ok", at_top=top,
                         budget_cut=cut, **{CAPACITY: value}))  # fmt: skip
    return pd.DataFrame(rows)


def budget_cut_at(ladder: pd.DataFrame, variant: str, above: list) -> bool:
    """Whether the first level above a capacity has an unsolved trial stopped by the budget."""
    if not above or "stopped" not in ladder.columns:
        return False
    rows = ladder[(ladder["variant"] == variant) & (ladder["level"] == min(above))]
    return bool((rows.loc[~rows["solved"].astype(bool), "stopped"] == "budget").any())


def compare_capacities(seeds: pd.DataFrame, baseline: str, alpha: float, correction: str):
    """Each variant's per-seed capacity against the baseline's on shared seeds: an exact sign
    test on who is higher, where two seeds both at the ladder's top tie (both are only known to
    be at least the top). diff: the median per-seed difference in log2 levels, '>=' where it
    rests on a capacity at the top."""
    base = seeds[seeds["variant"] == baseline].set_index("seed")
    rows = []
    for variant, g in seeds[seeds["variant"] != baseline].groupby("variant", sort=False):
        g = g.set_index("seed")
        shared = sorted(set(g.index) & set(base.index))
        x, y = g.loc[shared, CAPACITY].to_numpy(float), base.loc[shared, CAPACITY].to_numpy(float)
        bound_x = (g.loc[shared, "at_top"] | g.loc[shared, "budget_cut"]).to_numpy(bool)
        bound_y = (base.loc[shared, "at_top"] | base.loc[shared, "budget_cut"]).to_numpy(bool)
        # a lower bound below the other seed, or both at the top: the order is not known
        unknown = (bound_x & (x <= y)) | (bound_y & (y <= x))
        d = np.where(unknown, 0.0, x - y)
        wins, losses = int((d > 0).sum()), int((d < 0).sum())
        family = max(1, seeds["variant"].nunique() - 1)  # Holm over the ladder's variants
        test = stats._sign_test(wins, losses, len(shared), alpha / family)
        if test["p_min"] <= alpha / family:  # enough seeds to decide over the family
            test["seeds_needed"] = math.nan
        top = bool((g.loc[shared, "at_top"] | base.loc[shared, "at_top"]).any())
        cut = bool((g.loc[shared, "budget_cut"] | base.loc[shared, "budget_cut"]).any())
        bound = " or ".join(["at the ladder's top"] * top + ["cut by the budget"] * cut)
        rows.append(dict(
            variant=variant, n=len(g), n_baseline=len(base), n_paired=len(shared),
            diff=float(np.median(d)) if len(d) else math.nan, bound=bound,
            ci_low=math.nan, ci_high=math.nan, test="sign (top censored)",
            p_value=test["p_value"], p_min=test["p_min"], seeds_needed=test["seeds_needed"],
            sign=int(np.sign(wins - losses)),
            reason="" if wins + losses else "no seed apart from the baseline's",
        ))  # fmt: skip
    out = stats.correct_family(pd.DataFrame(rows), alpha, correction)
    if out.empty:
        return out
    out["better"] = [
        bool(s > 0) if sig else None for s, sig in zip(out["sign"], out["significant"], strict=True)
    ]
    notes = []
    for r in out.itertuples():
        parts = [r.reason] if r.reason else []
        if not r.decidable:
            parts.append(f"cannot reach p < alpha (smallest p {r.p_min:.3g})")
        if np.isfinite(r.seeds_needed):
            parts.append(f"needs ~{int(r.seeds_needed)} seeds, all of one sign")
        if r.bound:
            parts.append(f"capacities {r.bound} are lower bounds")
        notes.append("; ".join(parts))
    out["note"] = notes
    return out


def capacity_section(ok: pd.DataFrame, baseline: str, alpha: float, correction: str) -> list:
    """Per ladder: a table of cells (variant, level, n, mean, interval, solved k) and per variant
    the capacity, the 50% level and the geometric mean of the seeds' capacities with its
    interval; plus the comparisons of per-seed capacity with the baseline."""
    if "solved" not in ok.columns:
        return []
    section = []
    for name, param, ladder in ladders(ok):
        levels = np.sort(ladder["level"].unique())
        cells = stats.cell_stats(ladder.assign(task=ladder["level"]), "exact_match")
        cells = cells.rename(columns={"task": "level"})
        solved = ladder.groupby(["variant", "level"])["solved"].agg(["sum", "count"])
        seeds = per_seed(ladder, name)
        bounds = (math.log2(levels[0]) - 1, math.log2(levels[-1]))
        variants = []
        for variant in dict.fromkeys(ladder["variant"]):
            c = cells[cells["variant"] == variant].set_index("level").reindex(levels)
            rate = [
                solved.loc[(variant, lv), "sum"] / solved.loc[(variant, lv), "count"]
                if (variant, lv) in solved.index
                else math.nan
                for lv in levels
            ]
            held = [lv for lv, r in zip(levels, rate, strict=True) if r >= 0.5]
            cross, side = crossing(levels, c["mean"].to_numpy(float))
            caps = seeds.loc[seeds["variant"] == variant, CAPACITY].to_numpy(float)
            lo, hi, _ = stats.clip(*stats.mean_interval(caps), bounds)
            at_top = seeds.loc[seeds["variant"] == variant, "at_top"].to_numpy(bool)
            cut = seeds.loc[seeds["variant"] == variant, "budget_cut"].to_numpy(bool)
            unsolved = [lv for lv, r in zip(levels, rate, strict=True) if not r >= 0.5]
            above = [lv for lv in unsolved if not held or lv > max(held)]
            variants.append(
                dict(
                    variant=variant,
                    capacity=float(max(held)) if held else math.nan,
                    # ">= top", or ">=" where the level above was cut short by the budget
                    capacity_bound=bool(held)
                    and (max(held) == levels[-1] or budget_cut_at(ladder, variant, above)),
                    seeds_at_top=int(at_top.sum()),
                    seeds_cut=int(cut.sum()),
                    half_level=cross,
                    half_side=side,
                    seed_capacity=2 ** caps.mean() if len(caps) else math.nan,
                    seed_capacity_low=2**lo if np.isfinite(lo) else math.nan,
                    seed_capacity_high=2**hi if np.isfinite(hi) else math.nan,
                )
            )
        comparisons = pd.DataFrame()
        if baseline in set(seeds["variant"]):
            comparisons = compare_capacities(seeds, baseline, alpha, correction)
        section.append(
            dict(
                ladder=name,
                parameter=param,
                levels=[_plain(float(lv)) for lv in levels],
                cells=cells,
                variants=variants,
                comparisons=comparisons,
            )
        )
    return section
