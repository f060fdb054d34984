"""The rows every report format is built from (main table, side tables, the legend, rank
summary and problem lines) and how their numbers are written; each renderer styles them for its
output. The later sections' tables (knockouts, positions, published, capacity) are in
`section_tables.py`.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from rich.markup import escape as rich_escape

from membench import metrics
from membench.report.model import CORRECTIONS, COSTS, TESTS

if TYPE_CHECKING:
    from membench.report.model import Report
MAX_LINES = 20  # failed/missing lines shown in a terminal

# ---- formatting -------------------------------------------------------------------------------


def _centre(cells: pd.DataFrame, metric: str) -> pd.Series:
    """What a cell shows and ranks by: the mean, or the censored-aware median."""
    return cells["median" if metrics.metric_kind(metric) == "censored" else "mean"]


def decimals(report: Report) -> int:
    finite = _centre(report.cells, report.metric).replace([np.inf, -np.inf], np.nan).abs()
    return metrics.metric_digits(report.metric, finite.max() if finite.notna().any() else 0.0)


def cell_text(c, kind: str, d: int, s: dict) -> tuple[str, str]:
    """(value, interval) of one cell as the main table shows it."""
    if kind == "censored":
        value = num(c["median"], d) if np.isfinite(c["median"]) else f"> {num(c['budget'], 0)}"
        return value, f" ({int(c['solved'])}/{int(c['n'])})"
    if kind == "binary":
        return (
            f"{int(c['solved'])}/{int(c['n'])}",
            f" [{num(c['ci_low'], 2)}, {num(c['ci_high'], 2)}]",
        )
    if not np.isfinite(c["ci_high"]):
        return num(c["mean"], d), ""
    if c["ci_clipped"]:
        return num(c["mean"], d), f" [{num(c['ci_low'], d)}, {num(c['ci_high'], d)}]"
    return num(c["mean"], d), s["pm"] + num(c["ci_high"] - c["mean"], d)


def num(x, d: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "–" if x is None or np.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.{d}f}"


def _ratio(x) -> str:
    return f"{x:.2f}x" if np.isfinite(x) else "–"


def _est(x, lo, hi, d: int) -> str:
    """'estimate [low, high]'."""
    return f"{num(x, d)} [{num(lo, d)}, {num(hi, d)}]"


def p_text(p) -> str:
    return "–" if not np.isfinite(p) else "<0.001" if p < 0.001 else f"{p:.3f}"


def latex_escape(s: str) -> str:
    subs = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#"}
    subs |= {"_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}
    out = "".join(subs.get(c, c) for c in s)
    return "{}" + out if out.startswith("[") else out  # else \\ or \midrule reads [..] as an option


# How each output spells the marks: plus-minus, better, worse, undecidable (†), bold, escaping.
MARKS = dict(pm=" ± ", up=" ▲", down=" ▼", weak=" †")
STYLES = {
    "text": dict(MARKS, up=" [green]▲[/]", down=" [red]▼[/]", bold="[bold]{}[/]", esc=rich_escape),
    "md": dict(MARKS, bold="**{}**", esc=lambda s: s.replace("|", r"\|")),
    "html": dict(MARKS, bold="<b>{}</b>", esc=html.escape),
    "latex": dict(
        pm=r" $\pm$ ",
        up=r"$^{\uparrow}$",
        down=r"$^{\downarrow}$",
        weak=r"$^{\dagger}$",
        bold=r"\textbf{{{}}}",
        esc=latex_escape,
    ),
}


def main_table(report: Report, style: str = "md") -> tuple[list[str], list[list[str]]]:
    """Rows = variants, columns = tasks (mean ± half-width, marks), then rank and costs."""
    s = STYLES[style]
    d, direction = decimals(report), metrics.metric_direction(report.metric)
    kind = metrics.metric_kind(report.metric)
    cells = report.cells.set_index(["task", "variant"])
    cmp = report.comparisons.set_index(["task", "variant"])
    score = direction * _centre(cells, report.metric)
    best = set(score.index[score >= score.groupby(level="task").transform("max") - 1e-12])
    costs = [c for c in COSTS if f"{c}_x" in report.costs.columns]
    ranks = report.ranks.average_ranks
    noise = np.isfinite(report.ranks.friedman_p) and not report.ranks.distinguishable
    rank_head = "avg rank (noise)" if noise else "avg rank"
    headers = ["variant", *map(s["esc"], report.tasks)]
    headers += [rank_head] * (len(ranks) > 0) + [COSTS[c] for c in costs]
    rows = []
    for v in report.variants:
        row = [s["esc"](v)]
        for t in report.tasks:
            if (t, v) not in cells.index and (t, v) not in report.incomplete:
                row.append("–")
                continue
            if (t, v) in report.incomplete:  # seeds not finished: no mean, no mark
                row.append(s["esc"](f"incomplete: {report.incomplete[(t, v)]}"))
                continue
            value, interval = cell_text(cells.loc[(t, v)], kind, d, s)
            text = (s["bold"].format(value) if (t, v) in best else value) + interval
            if (t, v) in cmp.index:
                k = cmp.loc[(t, v)]
                text += {True: s["up"], False: s["down"]}.get(k["better"], "")
                text += s["weak"] if not k["decidable"] and k["test"] != "none" else ""
            row.append(text)
        if len(ranks):
            row.append(num(ranks.get(v, np.nan), 2))
        row += [_ratio(report.costs.loc[v, f"{c}_x"]) for c in costs]
        rows.append(row)
    return headers, rows


def legend_text(report: Report, style: str = "md") -> str:
    """What the marks in the main table mean."""
    s = STYLES[style]
    test = f"{TESTS[report.test]}, {CORRECTIONS[report.correction]}, alpha {report.alpha}"
    cell = {
        "continuous": f"mean{s['pm']}95% CI half-width over seeds ([low, high] where cut at the "
        "metric's range)",
        "binary": "seeds that solved, with the exact (Clopper-Pearson) 95% interval",
        "censored": "median over seeds ('> budget' where half or more never solved), seeds "
        "that solved in brackets",
    }[metrics.metric_kind(report.metric)]
    cell = s["esc"](cell)  # '[low, high]' is not markup
    return (
        f"{s['esc'](report.metric)}: {cell}; {s['bold'].format('bold')}: best per task;"
        f"{s['up']} /{s['down']} significantly better / worse than "
        f"{s['esc'](report.baseline)} ({test});{s['weak']} cannot be significant at these "
        "seeds (the comparisons say why and how many seeds it needs)."
        + (
            " FLOPs ×: training FLOPs over the whole trial (early stops included) against the "
            "baseline's, not the cost of a step."
            if "train_flops_x" in report.costs.columns
            else ""
        )  # fmt: skip
    )


def side_tables(report: Report) -> list[tuple[str, list[str], list[list[str]]]]:
    """Comparisons and aggregates as (title, headers, rows) of plain strings."""
    d = decimals(report)
    cmp = []
    for r in report.comparisons.itertuples():
        seeds = f"{r.n_paired} paired" if r.n_paired else f"{r.n} vs {r.n_baseline}"
        row = [r.task, r.variant, seeds, _est(r.diff, r.ci_low, r.ci_high, d), r.test]
        row += [
            p_text(r.p_value),
            p_text(r.p_adjusted),
            r.solve_counts or "–",
            num(r.a12, 2),
            r.note,
        ]
        cmp.append(row)
    cmp_head = ["task", "variant", "seeds", "diff [95% CI]", "test", "p", "p adj.", "solved", "A12"]
    cmp_head += ["note"]
    agg = []
    for r in report.aggregate.itertuples():
        pi = "–" if r.variant == report.baseline else num(r.prob_improvement, 2)
        agg.append([r.variant, str(r.n_tasks), _est(r.mean, r.mean_ci_low, r.mean_ci_high, d), pi])
    agg_head = ["variant", "tasks", "mean over tasks [95% CI]", "P(improvement)"]
    tables = [("Comparisons with the baseline", cmp_head, cmp)]
    if agg:
        tables.append(("Aggregates across tasks", agg_head, agg))
    return tables


def rank_summary(report: Report) -> str:
    r = report.ranks
    if not np.isfinite(r.friedman_stat):
        return f"Rank tests need at least 2 tasks and 2 variants with results ({r.n_tasks} tasks)."
    iman = (
        f"Iman-Davenport F = {num(r.iman_davenport_f, 2)}, p = {p_text(r.iman_davenport_p)}"
        if np.isfinite(r.iman_davenport_f)
        else "Iman-Davenport F undefined (every task ranks the variants the same)"
    )
    verdict = (
        "average ranks closer than this are not distinguishable."
        if r.distinguishable
        else f"ranks not distinguishable (Friedman p = {p_text(r.friedman_p)} >= {r.alpha}): the "
        "rank order is noise, no variant is ahead."
    )
    return (
        f"Friedman chi2 = {r.friedman_stat:.2f}, p = {p_text(r.friedman_p)}; {iman}; "
        f"Nemenyi critical difference (0.05) = {r.critical_difference:.2f} over {r.n_tasks} "
        f"tasks and {r.n_variants} variants: {verdict}"
    )


def seeds_named(seeds) -> str:
    return ("seed " if len(seeds) == 1 else "seeds ") + ", ".join(map(str, seeds))


def problems(report: Report) -> list[str]:
    """One line per note, failed trial, cell short of seeds and trial that went on from a
    checkpoint."""
    lines = [f"note: {n}" for n in report.notes]
    for c in report.interrupted:
        lines.append(
            f"cut off: {c['task']} / {c['variant']} seed {c['seed']} at ~{c['steps']:,} steps "
            "(interrupted before it finished; a resume trains it again)"
        )
    for f in report.failed:
        err = (f["error"] or "no error message").strip().splitlines() or [""]
        lines.append(f"failed: {f['task']} / {f['variant']} seed {f['seed']}: {err[-1][:160]}")
    cut = {(c["task"], c["variant"], c["seed"]) for c in report.interrupted}
    for m in report.missing:
        was_cut = [s for s in m["seeds"] if (m["task"], m["variant"], s) in cut]
        absent = [s for s in m["seeds"] if s not in was_cut]
        why = [f"{seeds_named(absent)} without a record"] if absent else []
        why += [f"{seeds_named(was_cut)} cut off"] if was_cut else []
        detail = f" ({'; '.join(why)})" if why else ""
        lines.append(f"missing: {m['task']} / {m['variant']}: {m['n']} of {m['expected']}{detail}")
    for r in report.resumed:
        lines.append(
            f"resumed: {r['task']} / {r['variant']} seed {r['seed']} went on from its checkpoint "
            f"at step {r['step']:,} after a cut (finished)"
        )
    if report.incomplete:  # their finished seeds are selected by outcome: no mean anywhere
        lines.append(
            "note: cells with a seed missing or cut off are left out of the knockouts, attention "
            "and per-position sections until they finish"
        )
    return lines
