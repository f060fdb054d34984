"""A published ordering of the suite's variants (a paper's table: one number per variant on its
own task, e.g. BLEU) held against the frontiers measured here.

No new test and no new family: each test the suite already declared (frontier against the
baseline, contrasts, trends) between variants the ordering ranks is read against the direction
the published numbers give it. A test significant in that direction agrees, one significant in
the other direction disagrees, one that is not significant is undecided; where the seeds tie
(or lower bounds leave their order unknown) on every seed, or could not reach alpha at all, the
row says so. Kendall's tau between the published numbers and the mean frontier scores describes
the whole order per ladder; with one number per variant on each side it is a description, not
a test. Pure: DataFrames in, DataFrames out.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.stats as st

DECIMALS = 3  # mean frontier scores closer than this are equal in the measured order


def better(values: dict[str, float], higher_is_better: bool) -> dict[str, float]:
    """The published numbers oriented so that larger is better."""
    return {v: x if higher_is_better else -x for v, x in values.items()}


def published_sign(values: dict[str, float], a: str, b: str, higher_is_better: bool) -> int:
    """+1 where the publication puts a above b (better), -1 below, 0 level."""
    good = better(values, higher_is_better)
    return int(np.sign(good[a] - good[b]))


def trend_sign(values: dict[str, float], order: list[str], higher_is_better: bool) -> int:
    """+1 where the published numbers improve at every step along `order`, -1 where they worsen
    at every step, 0 where they do not move one way (no published direction for the trend)."""
    good = better(values, higher_is_better)
    steps = np.sign(np.diff([good[v] for v in order]))
    return int(steps[0]) if len(steps) and np.all(steps == steps[0]) else 0


def trend_text(values: dict[str, float], order: list[str], higher_is_better: bool) -> str:
    """'improves (24.65, 25.07, 25.58)': the published direction along `order`, with numbers."""
    word = {1: "improves", -1: "worsens", 0: "not monotone"}[
        trend_sign(values, order, higher_is_better)
    ]
    return f"{word} ({', '.join(f'{values[v]:g}' for v in order)})"


def verdict(row, published: int) -> str:
    """The measured test read against the published direction."""
    if published == 0:
        return "no published direction"
    wins, losses = getattr(row, "wins", None), getattr(row, "losses", None)
    if wins == 0 and losses == 0:  # every seed tied, or its order unknown
        bounds = getattr(row, "bounds", 0)
        return (
            f"tied or unknown on every seed ({bounds} bounded)" if bounds else "tied on every seed"
        )
    if not row.decidable:
        return "cannot separate"
    if not row.significant:
        return "undecided"
    return "agrees" if row.sign == published else "disagrees"


def _word(sign: int) -> str:
    return "better" if sign > 0 else "worse" if sign < 0 else "level with"


def ordering_rows(section: dict, ordering: dict, trends: list[list[str]] | None = None):
    """One row per declared test between ranked variants: ladder, family, test, the published
    direction and numbers, the measured counts and adjusted p, and the verdict. A declared
    trend with no test on a ladder (too few seeds with a final frontier) gets a row saying so."""
    values = ordering["values"]
    higher = ordering.get("higher_is_better", True)
    rows = []
    for family, key in (("frontier", "versus"), ("contrasts", "contrasts")):
        table = section.get(key)
        for r in table.itertuples() if table is not None and len(table) else ():
            if r.variant not in values or r.against not in values:
                continue
            sign = published_sign(values, r.variant, r.against, higher)
            rows.append(dict(
                ladder=r.ladder, family=family, test=f"{r.variant} vs {r.against}",
                published=f"{_word(sign)} ({values[r.variant]:g} vs {values[r.against]:g})",
                measured=f"{r.wins} higher, {r.losses} lower, {r.ties} tied of {r.n}",
                p_adjusted=r.p_adjusted, verdict=verdict(r, sign),
            ))  # fmt: skip
    table = section.get("trends")
    tested = set()
    for r in table.itertuples() if table is not None and len(table) else ():
        order = r.order.split(" < ")
        if not set(order) <= set(values):
            continue
        tested.add((r.ladder, r.order))
        sign = trend_sign(values, order, higher)
        rows.append(dict(
            ladder=r.ladder, family="trend", test=r.order,
            published=trend_text(values, order, higher),
            measured=(f"rho {r.rho:+.2f} over {r.n} seeds" if r.n >= 2
                      else f"no test: {r.n} seeds with a known ranking"), p_adjusted=r.p_adjusted,
            verdict=verdict(r, sign),
        ))  # fmt: skip
    for order in trends or []:
        if not set(order) <= set(values):
            continue
        for ladder in dict.fromkeys(section["seeds"]["ladder"]):
            if (ladder, " < ".join(order)) not in tested:
                rows.append(dict(
                    ladder=ladder, family="trend", test=" < ".join(order),
                    published=trend_text(values, order, higher),
                    measured="no test: fewer than 2 seeds with a final frontier in every variant",
                    p_adjusted=math.nan, verdict="not tested",
                ))  # fmt: skip
    return pd.DataFrame(rows)


def ranked_text(means: pd.Series, decimals: int = DECIMALS) -> str:
    """'a > b = c': best first, equal values (to `decimals`) joined by '='."""
    order = means.round(decimals).sort_values(ascending=False, kind="stable")
    text, last = "", None
    for variant, value in order.items():
        text += ("" if last is None else " = " if value == last else " > ") + str(variant)
        last = value
    return text


def ordering_summary(section: dict, ordering: dict) -> pd.DataFrame:
    """Per ladder: the variants the publication ranks, by mean frontier score here (best first),
    and Kendall's tau with the published numbers (descriptive; from 3 variants). Scores as the
    trend test reads them: a seed still climbing has no final frontier and is left out, and
    every frontier at the ladder's top counts as the top (a lower bound)."""
    good = better(ordering["values"], ordering.get("higher_is_better", True))
    rows = []
    for name, g in section["seeds"].groupby("ladder", sort=False):
        g = g[g["variant"].isin(good)]
        if "pending" in g.columns:
            g = g[~g["pending"].astype(bool)]
        g = g.assign(score=np.where(g["at_top"], g["score"].max(), g["score"]))
        means = g.groupby("variant", sort=False)["score"].mean().dropna().round(DECIMALS)
        if len(means) < 2:
            continue
        tau = math.nan
        if len(means) >= 3:
            tau = st.kendalltau([good[v] for v in means.index], means.to_numpy(float)).statistic
        counts = g.groupby("variant")["seed"].nunique()
        rows.append(dict(
            ladder=name, measured_order=ranked_text(means), variants=len(means),
            seeds=f"{counts.min()}" if counts.min() == counts.max()
            else f"{counts.min()}-{counts.max()}",
            tau=float(tau) if tau is not None and math.isfinite(tau) else math.nan,
        ))  # fmt: skip
    return pd.DataFrame(rows)


def ordering_section(
    section: dict | None, ordering: dict | None, trends: list[list[str]] | None = None
) -> dict | None:
    """The published ordering against the frontier section, or None without either."""
    if not section or not ordering:
        return None
    good = better(ordering["values"], ordering.get("higher_is_better", True))
    return dict(
        source=ordering["source"],
        measure=ordering.get("measure", ""),
        note=ordering.get("note", ""),
        published_order=ranked_text(pd.Series(good)),
        rows=ordering_rows(section, ordering, trends),
        summary=ordering_summary(section, ordering),
    )
