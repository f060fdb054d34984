"""The frontier section's rows (membench.analysis.frontier), for every report format: solve
counts per level, each seed's frontier, and the four test families, each named in its title."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

from membench.analysis.frontier import bound as frontier_bound

FRONTIER_INTRO = (
    "Each seed climbs a task's difficulty ladder: the easiest level first, a level above only "
    "once the one below is solved (exact match >= the solve threshold). A seed's frontier is "
    "the hardest level it solved with every easier one solved; its score is log2 of that level "
    "plus the exact match reached one level up (in log2 units of that step), one rung below the "
    "ladder when it solved none. A frontier at the ladder's top, or whose next level ran out of "
    "steps while held-out token accuracy or exact match was still rising (by more than 0.01 over "
    "the last quarter of the curve), or whose next level has no record yet (a climb not "
    "finished), is a lower bound ('>='; '<L (cut)' where a seed solved no level and its first "
    "was cut so). Levels above a seed's first failure are "
    "not trained unless the suite says `climb: {beyond: N}`: a seed that fails a level is "
    "assumed to fail every harder one, and solve counts count it as unsolved there. Solve "
    "counts: seeds that solved the level, of all seeds, with the exact (Clopper-Pearson) 95% "
    "interval. Four families, each corrected on its own: frontier (each variant's scores "
    "against the baseline's), contrasts (declared pairs), trend (declared orders: Page's L, "
    "exact, two-sided; seeds at the ladder's top tie, and a seed with a frontier cut while "
    "improving at or below another variant's is left out) and speed "
    "(steps to solve at the hardest level both the variant and the "
    "baseline solve on at least half their seeds, censored at the budget). Paired scores are "
    "compared by the exact sign-flip test on per-seed differences; a difference whose sign a "
    "lower bound leaves unknown counts as a tie."
)


def _p(x) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.2g}" if x < 0.001 else f"{x:.3f}"


def mark(r) -> str:
    """▲ / ▼ for a significant result in the row's family, by its sign (+1: better)."""
    if not getattr(r, "significant", False):
        return ""
    return "▲" if r.sign > 0 else "▼" if r.sign < 0 else ""


def _level(x: float) -> str:
    return f"{x:g}"


def seeds_text(g: pd.DataFrame, bottom: float) -> str:
    """Each seed's frontier as counts: '32: 5, >=64: 4, <16: 2, <16 (cut): 1' (solved no level;
    '(cut)': its first level cut by the budget while still improving, so not known to fail)."""
    counts: Counter = Counter()
    for frontier, lower in zip(g["frontier"], frontier_bound(g), strict=True):
        if not np.isfinite(frontier):  # solved no level (so not at the top): cut or pending
            counts[(-1.0, f"<{_level(bottom)}" + (" (cut)" if lower else ""))] += 1
        else:
            counts[(frontier, (">=" if lower else "") + _level(frontier))] += 1
    return ", ".join(f"{label}: {n}" for (_, label), n in sorted(counts.items()))


def rate_table(section: dict, ladder: str) -> tuple[str, list[str], list[list[str]]]:
    """Solve counts per level with exact intervals, then the seeds' frontiers and scores."""
    rates = section["rates"][section["rates"]["ladder"] == ladder]
    seeds = section["seeds"][section["seeds"]["ladder"] == ladder]
    levels = sorted(rates["level"].unique())
    param = seeds["parameter"].iloc[0] if len(seeds) else "level"
    head = ["variant", *[f"{param}={_level(lv)}" for lv in levels]]
    head += ["seeds' frontiers", "median score"]
    body = []
    for variant in dict.fromkeys(rates["variant"]):
        row = [variant]
        for lv in levels:
            r = rates[(rates["variant"] == variant) & (rates["level"] == lv)].iloc[0]
            row.append(f"{r.k}/{r.n} [{r.low:.2f}, {r.high:.2f}]")
        mine = seeds[seeds["variant"] == variant]
        row += [seeds_text(mine, levels[0]), f"{np.median(mine['score']):.2f}"]
        body.append(row)
    return f"Solve counts by level (k/n seeds [exact 95% CI]): {ladder}", head, body


def versus_rows(table: pd.DataFrame, against: bool) -> tuple[list[str], list[list[str]]]:
    head = ["ladder", "variant", *(["against"] if against else []), "seeds", "wins/losses/ties",
            "median diff (log2 levels)", "p", "p adj.", ""]  # fmt: skip
    body = []
    for r in table.itertuples():
        note = "" if r.decidable else f" (cannot reach p < alpha at {r.n} seeds)"
        body.append([
            r.ladder, r.variant, *([r.against] if against else []), str(r.n),
            f"{r.wins}/{r.losses}/{r.ties}" + (f" ({r.bounds} bounds)" if r.bounds else ""),
            f"{r.diff:+.2f}", _p(r.p_value), _p(r.p_adjusted) + note, mark(r),
        ])  # fmt: skip
    return head, body


def trend_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    head = ["ladder", "order", "seeds", "mean Spearman rho", "Page's L", "p", "p adj.", ""]
    body = [
        [
            r.ladder,
            r.order,
            str(r.n),
            "–" if math.isnan(r.rho) else f"{r.rho:+.2f}",
            "–" if math.isnan(r.L) else f"{r.L:g}",
            _p(r.p_value) if r.n >= 2 else "–",
            _p(r.p_adjusted) if r.n >= 2 else "– (fewer than 2 seeds with a known ranking)",
            {1: "▲ rising", -1: "▼ falling"}.get(r.sign, "") if r.significant else "",
        ]  # fmt: skip
        for r in table.itertuples()
    ]
    return head, body


def speed_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    head = ["ladder", "level", "variant", "solved", "baseline solved", "median steps",
            "baseline median", "p", "p adj.", ""]  # fmt: skip
    body = [
        [
            r.ladder,
            _level(r.level),
            r.variant,
            f"{r.solved}/{r.n}",
            f"{r.solved_baseline}/{r.n_baseline}",
            _steps(r.median),
            _steps(r.median_baseline),
            _p(r.p_value),
            _p(r.p_adjusted),
            mark(r),
        ]  # fmt: skip
        for r in table.itertuples()
    ]
    return head, body


def _steps(x: float) -> str:
    return "> budget" if not np.isfinite(x) else f"{x:,.0f}"


def cost_rows(costs: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """FLOPs per step against the baseline per ladder; a compute-matched variant against its
    target, marked matched where every level is within 10%."""
    names = list(dict.fromkeys(costs["ladder"]))
    head = ["variant", *names]
    body = []
    for variant, g in costs.groupby("variant", sort=False):
        row = [variant]
        for name in names:
            r = g[g["ladder"] == name]
            if r.empty or not np.isfinite(r.iloc[0].get("baseline_low", np.nan)):
                row.append("–")
                continue
            r = r.iloc[0]
            text = _range(r["baseline_low"], r["baseline_high"])
            if isinstance(r.get("matched_to"), str) and np.isfinite(r.get("target_low", np.nan)):
                ok = max(abs(r["target_low"] - 1), abs(r["target_high"] - 1)) <= 0.10
                text += (f"; {_range(r['target_low'], r['target_high'])} {r['matched_to']}'s"
                         + (" (compute-matched)" if ok else " (NOT within 10%)"))  # fmt: skip
            row.append(text)
        body.append(row)
    return head, body


def _range(low: float, high: float) -> str:
    return f"{low:.2f}x" if round(low, 2) == round(high, 2) else f"{low:.2f}-{high:.2f}x"


def frontier_tables(section: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """Every table of the section, in reading order."""
    out = [rate_table(section, name) for name in dict.fromkeys(section["seeds"]["ladder"])]
    if len(section.get("costs", [])):
        out.append(("Training FLOPs per step, x the baseline's (lowest-highest over a ladder's "
                    "levels)", *cost_rows(section["costs"])))  # fmt: skip
    if len(section["versus"]):
        out.append(("Frontier against the baseline (family: frontier)",
                    *versus_rows(section["versus"], False)))  # fmt: skip
    if len(section["contrasts"]):
        out.append(("Contrasts between variants (family: contrasts)",
                    *versus_rows(section["contrasts"], True)))  # fmt: skip
    if len(section["trends"]):
        out.append(("Trend in a declared order (family: trend)", *trend_rows(section["trends"])))
    if len(section["speed"]):
        out.append(("Learning speed: steps to solve (family: speed)",
                    *speed_rows(section["speed"])))  # fmt: skip
    out += ordering_tables(section.get("ordering"))
    return out


def ordering_tables(ordering: dict | None) -> list[tuple[str, list[str], list[list[str]]]]:
    """The published ordering against the tests above (membench.analysis.ordering): no family
    of its own, so no correction and no mark. The first table's title names the source."""
    if not ordering or not len(ordering["rows"]) and not len(ordering["summary"]):
        return []
    what = f"{ordering['measure']}, " if ordering["measure"] else ""
    source = (
        f"Against the published ordering ({what}{ordering['source']}: "
        f"{ordering['published_order']})"
        + (f"; {ordering['note']}" if ordering["note"] else "")
        + ". "
    )
    out = []
    rows = ordering["rows"]
    if len(rows):
        head = ["ladder", "family", "test", "published", "measured", "p adj.", "verdict"]
        body = [[r.ladder, r.family, r.test, r.published, r.measured, _p(r.p_adjusted),
                 r.verdict] for r in rows.itertuples()]  # fmt: skip
        out.append((source + "The tests above, read against its direction", head, body))
        source = ""
    summary = ordering["summary"]
    if len(summary):
        head = ["ladder", "measured order (mean frontier score, best first)", "seeds",
                "Kendall's tau"]  # fmt: skip
        body = [[r.ladder, r.measured_order, r.seeds,
                 "–" if not np.isfinite(r.tau) else f"{r.tau:+.2f}"]
                for r in summary.itertuples()]  # fmt: skip
        out.append((source + "The published variants by mean frontier score here (seeds still "
                    "climbing left out, the ladder's top counted as the top) and Kendall's tau "
                    "with the published numbers (from 3 variants; a description: one number per "
                    "variant on each side, no test)", head, body))  # fmt: skip
    return out


def frontier_frames(section: dict) -> dict[str, pd.DataFrame]:
    """The section as tidy tables for the CSV export: one row per seed and ladder (its
    frontier, score and bounds), and one row per test with its family."""
    seeds = section["seeds"].copy()
    if "jumps" in seeds.columns:  # levels solved above a failure: a list, written as text
        seeds["jumps"] = seeds["jumps"].map(lambda j: " ".join(f"{x:g}" for x in j or []))
    families = {"frontier": "versus", "contrasts": "contrasts", "trend": "trends",
                "speed": "speed"}  # fmt: skip
    tests = [
        section[key].assign(family=name)
        for name, key in families.items()
        if key in section and len(section[key])
    ]
    tests = pd.concat(tests, ignore_index=True) if tests else pd.DataFrame(columns=["family"])
    return {
        "frontier_seeds": seeds,
        "frontier_tests": tests[["family", *(c for c in tests.columns if c != "family")]],
    }


def floors(section: dict, alpha: float = 0.05) -> list[str]:
    """Per family, the smallest effect its seeds show for sure: the sign-flip test's smallest p
    at m untied seeds is 2/2^m, and Holm's first step must beat alpha/K, so a difference is
    significant whatever the other tests do with m seeds of one sign and none of the other.
    Fewer can be: Holm's later steps compare with alpha/(K-1), ..., and tests that cannot reach
    alpha leave the family (the line says so, not a floor that data can undercut)."""
    import math

    lines = []
    for family in ("versus", "contrasts", "speed"):
        table = section[family]
        if not len(table):
            continue
        k = len(table)
        m = max(1, math.floor(math.log2(2 * k / alpha)) + 1)
        n = int(table["n"].max()) if "n" in table.columns else m
        name = {"versus": "frontier", "contrasts": "contrasts", "speed": "speed"}[family]
        reach = "" if m <= n else f"; at {n} seeds no difference can be significant"
        lines.append(
            f"{name}: {k} tests; significant whatever the other tests do with {m}+ seeds of one "
            f"sign and none of the other (2/2^{m} < {alpha}/{k}; fewer where other tests are "
            f"significant first or leave the family){reach}"
        )
    return lines


def verdicts(section: dict) -> list[str]:
    """The significant results of every family, one line each (the terminal's summary)."""
    lines = []
    for family, table in (("frontier", section["versus"]), ("contrasts", section["contrasts"])):
        for r in table.itertuples() if len(table) else ():
            if r.significant:
                against = getattr(r, "against", None) or "the baseline"
                word = "higher" if r.sign > 0 else "lower"
                lines.append(
                    f"{family}: {r.ladder} / {r.variant} frontier {word} than {against} "
                    f"({r.wins}/{r.n} seeds higher, {r.losses} lower; p adj. {_p(r.p_adjusted)})"
                )
    for r in section["trends"].itertuples() if len(section["trends"]) else ():
        if r.significant:
            word = "rises" if r.sign > 0 else "falls"
            lines.append(f"trend: {r.ladder}: frontier {word} along {r.order} (p adj. "
                         f"{_p(r.p_adjusted)})")  # fmt: skip
    for r in section["speed"].itertuples() if len(section["speed"]) else ():
        if r.significant:
            word = "faster" if r.sign > 0 else "slower"
            lines.append(f"speed: {r.ladder} at {_level(r.level)} / {r.variant} solves {word} "
                         f"than the baseline (p adj. {_p(r.p_adjusted)})")  # fmt: skip
    return lines
