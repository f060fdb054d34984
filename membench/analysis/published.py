"""Published vs measured: each published value a suite attaches to a cell (`per_task:
references`) beside membench's seed mean, its 95% interval, the range over seeds and the solve
count, with a verdict by one stated rule (`RULE`)."""

from __future__ import annotations

import math
import re

import pandas as pd

from membench import tasks
from membench.analysis.stats import cell_stats
from membench.metrics import metric_bounds, metric_direction

TOLERANCE = 0.02  # of the metric's range (an accuracy: 2 points); 5% of the value if unbounded
MIN_SEEDS = 3  # fewer seeds than this give no verdict
RULE = (
    "A published value (one run, or one best-of-grid score) is compared with membench's seeds, "
    "not with their mean's interval, which narrows as seeds are added: with at least 3 seeds it "
    "is reproduced when it lies within the range of membench's seeds widened by 0.02 of the "
    "metric's range on each side (2 points of accuracy; 5% of the value for an unbounded "
    "metric) and that range is at most 0.08 of the metric's range wide; below or above when "
    "every seed lies under or over that band; undecided otherwise, and with fewer than 3 seeds. "
    "A value at the metric's ceiling (exact match 1.0) is reached, not reproduced: any variant "
    "that solves the task reaches it, so it cannot separate variants. "
    "A value marked indicative (a third party's, or a setup that differs in what it measures) "
    "gets no verdict: the report says on which side membench's seeds fall. "
    "On a climb, a solve rate at a level counts a seed that failed a lower level (so was not "
    "trained there) as unsolved, as the frontier's solve counts do; the seeds column says how "
    "many trained there, and a verdict needs at least 3 of them."
)


def tolerance(metric: str, value: float) -> float:
    low, high = metric_bounds(metric)
    if math.isfinite(low) and math.isfinite(high):
        return TOLERANCE * (high - low)
    return 0.05 * abs(value)


def side(value: float, low: float, high: float, tol: float) -> str:
    """below / above / within: where seeds spanning [low, high] fall against value ± tol."""
    if high + tol < value:
        return "below"
    if low - tol > value:
        return "above"
    return "within"


def verdict(
    value: float, low: float, high: float, tol: float, n: int, ceiling: bool = False
) -> str:
    """The rule (RULE) for seeds spanning [low, high]; `ceiling`: the value is the metric's
    best possible, which any variant that solves reaches ("reached", never "reproduced")."""
    if n < MIN_SEEDS:
        return f"undecided ({n} seed{'s' * (n != 1)})"
    where = side(value, low, high, tol)
    if where != "within":
        return where
    if high - low > 4 * tol:
        return "undecided (seeds spread)"
    return "reached (a ceiling: it separates no variants)" if ceiling else "reproduced"


def at_ceiling(metric: str, value: float) -> bool:
    """Whether `value` is the best `metric` can be (1.0 exact match; 0 for a loss)."""
    low, high = metric_bounds(metric)
    best = high if metric_direction(metric) > 0 else low
    return math.isfinite(best) and abs(value - best) < 1e-12


def climbed(rates: pd.DataFrame | None, label: str, variant: str) -> dict | None:
    """A climb's solve count at the level a task label names (`frontier.solve_rates`: seeds
    that failed a lower level count as unsolved), or None where no ladder holds that level."""
    match = re.fullmatch(r"(\w+)\[(.*)\]", label)
    if rates is None or rates.empty or match is None or match[1] not in tasks.names():
        return None
    generator, params = match[1], dict(kv.split("=", 1) for kv in match[2].split(","))
    difficulty = tasks.get(generator).difficulty
    if difficulty not in params:
        return None
    level = float(params.pop(difficulty))
    fixed = {f"{k}={v}" for k, v in params.items()}
    for name in dict.fromkeys(rates["ladder"]):
        inner = re.fullmatch(rf"{generator}(?:\[(.*)\])?", name)
        if inner is None or (set(inner[1].split(",")) if inner[1] else fixed) != fixed:
            continue
        row = rates[(rates["ladder"] == name) & (rates["variant"] == variant)]
        row = row[row["level"] == level]
        if len(row):
            return row.iloc[0].to_dict()
    return None


def published_section(
    ok: pd.DataFrame,
    references: list[dict] | None,
    incomplete: dict[tuple[str, str], str] | None = None,
    rates: pd.DataFrame | None = None,
) -> list[dict]:
    """One entry per reference, in the suite's order; a cell with no successful trial (or a
    metric the records lack) says so instead of a verdict, and so does a cell with seeds not
    finished (`incomplete`: its finished seeds are selected by outcome). On a climb (`rates`:
    the frontier's solve counts) a solve rate at a level some seeds never reached is their
    count there, the seeds that failed lower counted unsolved."""
    out = []
    for ref in references or []:
        entry = dict(ref)
        metric = ref["metric"]
        partial = (incomplete or {}).get((ref["task"], ref["variant"]))
        if partial:
            out.append(entry | dict(n=0, incomplete=partial, verdict="none yet: incomplete"))
            continue
        cell = ok[(ok["task"] == ref["task"]) & (ok["variant"] == ref["variant"])]
        climb = climbed(rates, ref["task"], ref["variant"]) if metric == "solve_rate" else None
        if climb is not None and climb["n"] and climb["trained"] < climb["n"]:
            out.append(entry | _climbed_entry(climb, ref))
            continue
        if metric not in cell.columns or cell[metric].dropna().empty:
            out.append(entry | dict(n=0, verdict="not measured"))
            continue
        row = cell_stats(cell, metric).iloc[0].to_dict()
        n, low, high = int(row["n"]), float(row["min"]), float(row["max"])
        word = _word(ref, low, high, n)
        ci = (row["ci_low"], row["ci_high"]) if math.isfinite(row["ci_low"]) else (row["mean"],) * 2
        solved = int(cell["solved"].fillna(False).astype(bool).sum()) if "solved" in cell else None
        out.append(
            entry
            | dict(
                n=n,
                mean=float(row["mean"]),
                ci_low=float(ci[0]),
                ci_high=float(ci[1]),
                min=low,
                max=high,
                solved=solved,
                verdict=word,
            )
        )
    return out


def _word(ref: dict, low: float, high: float, n: int) -> str:
    """The rule's word for seeds spanning [low, high]: a side for an indicative value, else a
    verdict."""
    value, metric = ref["value"], ref["metric"]
    tol = tolerance(metric, value)
    if ref.get("indicative"):
        return f"indicative: seeds {side(value, low, high, tol)}"
    return verdict(value, low, high, tol, n, at_ceiling(metric, value))


def _climbed_entry(climb: dict, ref: dict) -> dict:
    """A solve count on a climb, as an entry: k of n seeds, each 1 or 0."""
    k, n, trained = int(climb["k"]), int(climb["n"]), int(climb["trained"])
    low, high = (0.0 if k < n else 1.0), (1.0 if k else 0.0)
    word = _word(ref, low, high, n)
    if trained < MIN_SEEDS and not ref.get("indicative"):  # a verdict needs seeds measured here
        word = f"undecided ({trained} trained here)"
    return dict(
        n=n, mean=k / n, ci_low=float(climb["low"]), ci_high=float(climb["high"]), min=low,
        max=high, solved=k, verdict=word,
        climbed=f"{trained} of {n} trained here, {n - trained} failed a lower level: unsolved",
    )  # fmt: skip
