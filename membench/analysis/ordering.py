"""A published ordering of the suite's variants (a paper's table: one number per variant on its
own task, e.g. BLEU) held against the frontiers measured here.

No new test and no new family: each test the suite already declared (frontier against the
baseline, contrasts, trends) between variants the ordering ranks is read against the direction
the published numbers give it. A test significant in that direction agrees, one significant in
the other direction disagrees, one that is not significant is undecided (and cannot separate
where the seeds could not reach alpha at all). Kendall's tau between the published numbers and
the mean frontier scores describes the whole order per ladder; with one number per variant on
each side it is a description, not a test. Pure: DataFrames in, DataFrames out.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.stats as st


def published_sign(values: dict[str, float], a: str, b: str, higher_is_better: bool) -> int:
    """+1 where the publication puts a above b, -1 below, 0 level."""
    diff = values[a] - values[b]
    return int(np.sign(diff if higher_is_better else -diff))


def trend_sign(values: dict[str, float], order: list[str], higher_is_better: bool) -> int:
    """+1 where the published numbers rise along `order` (Spearman's rho > 0), -1 fall, 0 none."""
    numbers = [values[v] if higher_is_better else -values[v] for v in order]
    if np.ptp(numbers) == 0:
        return 0
    return int(np.sign(st.spearmanr(range(len(order)), numbers).statistic))


def verdict(row, published: int) -> str:
    """The measured test read against the published direction."""
    if not row.decidable:
        return "cannot separate"
    if not row.significant:
        return "undecided"
    if published == 0:
        return "published level; measured differ"
    return "agrees" if row.sign == published else "disagrees"


def _word(sign: int) -> str:
    return "above" if sign > 0 else "below" if sign < 0 else "level with"


def ordering_rows(section: dict, ordering: dict) -> pd.DataFrame:
    """One row per declared test between ranked variants: ladder, family, test, the published
    direction and numbers, the measured counts and adjusted p, and the verdict."""
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
                measured=f"{r.wins}/{r.losses}/{r.ties} of {r.n}", p_adjusted=r.p_adjusted,
                verdict=verdict(r, sign),
            ))  # fmt: skip
    table = section.get("trends")
    for r in table.itertuples() if table is not None and len(table) else ():
        order = r.order.split(" < ")
        if not set(order) <= set(values):
            continue
        sign = trend_sign(values, order, higher)
        numbers = ", ".join(f"{values[v]:g}" for v in order)
        word = "rises" if sign > 0 else "falls" if sign < 0 else "flat"
        rows.append(dict(
            ladder=r.ladder, family="trend", test=r.order, published=f"{word} ({numbers})",
            measured=f"rho {r.rho:+.2f} over {r.n} seeds", p_adjusted=r.p_adjusted,
            verdict=verdict(r, sign),
        ))  # fmt: skip
    return pd.DataFrame(rows)


def ordering_summary(section: dict, ordering: dict) -> pd.DataFrame:
    """Per ladder: the variants the publication ranks, by mean frontier score here (best first),
    and Kendall's tau with the published numbers (descriptive)."""
    values = ordering["values"]
    higher = ordering.get("higher_is_better", True)
    rows = []
    for name, g in section["seeds"].groupby("ladder", sort=False):
        g = g[g["variant"].isin(values)]
        means = g.groupby("variant", sort=False)["score"].mean().dropna()
        if len(means) < 2:
            continue
        published = np.array([values[v] if higher else -values[v] for v in means.index])
        tau = st.kendalltau(published, means.to_numpy(float)).statistic
        rows.append(dict(
            ladder=name, measured_order=ranked_text(means),
            tau=float(tau) if tau is not None and math.isfinite(tau) else math.nan,
        ))  # fmt: skip
    return pd.DataFrame(rows)


def ranked_text(means: pd.Series, decimals: int = 3) -> str:
    """'a > b = c': best first, equal means (to `decimals`) joined by '='."""
    order = means.round(decimals).sort_values(ascending=False, kind="stable")
    text, last = "", None
    for variant, value in order.items():
        text += ("" if last is None else " = " if value == last else " > ") + str(variant)
        last = value
    return text


def ordering_section(section: dict | None, ordering: dict | None) -> dict | None:
    """The published ordering against the frontier section, or None without either."""
    if not section or not ordering:
        return None
    values = ordering["values"]
    higher = ordering.get("higher_is_better", True)
    ranked = sorted(values, key=lambda v: values[v], reverse=higher)
    return dict(
        source=ordering["source"],
        measure=ordering.get("measure", ""),
        note=ordering.get("note", ""),
        published_order=" > ".join(ranked),
        rows=ordering_rows(section, ordering),
        summary=ordering_summary(section, ordering),
    )
