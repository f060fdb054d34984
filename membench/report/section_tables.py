"""The rows of the report's later sections (knockouts, per-position accuracy, published vs
measured, capacity) and the paragraph that opens each; the renderers style them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from membench.report.tables import STYLES, cell_text, p_text

if TYPE_CHECKING:
    from membench.report.model import Report


KNOCKOUT_INTRO = (
    "How the score changes when memory is cut off at the end of training (knocked out minus "
    "intact, per seed, mean over seeds: negative where the cut costs accuracy): reads cut = no "
    "sequence position attends to memory, in any layer; "
    "writes cut = memory attends to memory only. Solved and unsolved seeds of a cell are judged "
    "apart: solved seeds on exact match, unsolved seeds on token accuracy and exact match (a "
    "loss of at least 0.05 in either is a loss), so a score computed through memory shows. A "
    "causal test of what the attention maps suggest."
)


def knockout_group(e: dict) -> str:
    """'solved 1/5', 'unsolved 4/5' (or 'all 5' for records without a solved flag)."""
    return f"{e['outcome']} {e['seeds']}/{e['of']}" if e["outcome"] != "all" else f"{e['seeds']}"


def knockout_drops(e: dict, kind: str) -> str:
    """'exact -0.997, token -0.812' lost with reads (or writes) cut, as signed changes."""
    k = e[kind]
    return f"exact {_signed(-k['exact_match_drop'])}, token {_signed(-k['token_accuracy_drop'])}"


def _signed(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{x:+.3f}".replace("-0.000", "+0.000")


POSITIONS_INTRO = (
    "Held-out accuracy at each target position (1 = first), mean over the seeds that did not "
    "solve, for cells whose token accuracy is at least 0.1 above their exact match: which "
    "positions keep exact match down."
)


PUBLISHED_INTRO = (
    "Each published value the suite attaches to a cell, beside membench's mean over seeds with "
    "its 95% interval, the range over seeds and the seeds that solved; the verdict follows the "
    "rule in the method paragraph. A note says what differs from the published setup."
)


def published_table(report: Report) -> tuple[list[str], list[list[str]]]:
    head = ["task", "variant", "metric", "published", "source", "measured", "seeds", "solved"]
    head += ["verdict", "note"]
    rows = []
    for e in report.published:
        if e.get("incomplete"):  # seeds not finished: what there is, in words, no value
            measured, seeds, solved = e["incomplete"], "-", "-"
        elif not e["n"]:
            measured = seeds = solved = "-"
        else:
            measured = f"{e['mean']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]"
            seeds = f"{e['n']}: {e['min']:.3f}-{e['max']:.3f}"
            seeds += f" ({e['climbed']})" if e.get("climbed") else ""
            solved = f"{e['solved']}/{e['n']}" if e.get("solved") is not None else "-"
        rows.append([e["task"], e["variant"], e["metric"], f"{e['value']:g}", e["source"],
                     measured, seeds, solved, e["verdict"], e.get("note") or ""])  # fmt: skip
    return head, rows


def positions_seeds(e: dict) -> str:
    """'6/9', or '3 of 6/9 (older records lack per-position accuracy)'."""
    unsolved = e.get("unsolved", e["seeds"])
    if e["seeds"] == unsolved:
        return f"{unsolved}/{e['of']}"
    return f"{e['seeds']} of {unsolved}/{e['of']} (older records lack per-position accuracy)"


def positions_table(report: Report) -> tuple[list[str], list[list[str]]]:
    head = ["task", "variant", "unsolved seeds", "exact", "token", "per position", "reading"]
    rows = []
    for e in report.positions:
        per = " ".join(f"{a:.2f}" for a in e["accuracy"])
        rows.append([e["task"], e["variant"], positions_seeds(e), f"{e['exact_match']:.3f}",
                     f"{e['token_accuracy']:.3f}", per, e["sentence"]])  # fmt: skip
    return head, rows


def knockout_table(report: Report) -> tuple[list[str], list[list[str]]]:
    head = ["task", "variant", "seeds", "reads cut", "writes cut", "verdict"]
    rows = []
    for e in report.knockouts:
        cells = [knockout_drops(e, k) for k in ("read", "write")]
        rows.append([e["task"], e["variant"], knockout_group(e), *cells, e["sentence"]])
    return head, rows


def _level(x, side: str = "", levels=()) -> str:
    if side == ">":
        return f"> {levels[-1]}"
    if side == "<":
        return f"< {levels[0]}"
    return "–" if not np.isfinite(x) else f"{x:.3g}"


def capacity_tables(entry: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """Exact match by level per variant with capacities; then the per-seed capacity tests."""
    levels, cells = entry["levels"], entry["cells"]
    head = ["variant", *[f"{entry['parameter']}={lv}" for lv in levels]]
    head += ["capacity", "50% level", "seeds' capacity [95% CI]"]
    rows = []
    for v in entry["variants"]:
        row = [v["variant"]]
        for lv in levels:
            c = cells[(cells["variant"] == v["variant"]) & (cells["level"] == lv)]
            if c.empty:
                row.append("–")
                continue
            c = c.iloc[0]
            value, interval = cell_text(c, "continuous", 3, STYLES["md"])
            row.append(value + interval)
        capacity = _level(v["capacity"], "", levels) if np.isfinite(v["capacity"]) else "none"
        row.append((">= " if v.get("capacity_bound") else "") + capacity)
        row.append(_level(v["half_level"], v["half_side"], levels))
        marks = [f"{v['seeds_at_top']} at the top"] if v.get("seeds_at_top") else []
        marks += [f"{v['seeds_cut']} cut by the budget"] if v.get("seeds_cut") else []
        top = f" ({'; '.join(marks)})" if marks else ""
        row.append(
            (">= " if top else "")
            + f"{_level(v['seed_capacity'])} [{_level(v['seed_capacity_low'])}, "
            f"{_level(v['seed_capacity_high'])}]{top}"
        )
        rows.append(row)
    tables = [(f"Capacity: {entry['ladder']}", head, rows)]
    cmp = entry["comparisons"]
    if len(cmp):
        body = [
            [
                r.variant,
                f"{r.n_paired} paired" if r.n_paired else f"{r.n} vs {r.n_baseline}",
                (">= " if getattr(r, "bound", False) and r.diff > 0 else "")
                + (f"{r.diff:+.2f}" if np.isfinite(r.diff) else "–"),
                r.test,
                p_text(r.p_value),
                p_text(r.p_adjusted),
                {True: "▲", False: "▼"}.get(r.better, ""),
                r.note,
            ]
            for r in cmp.itertuples()
        ]
        head = ["variant", "seeds", "median diff (log2 levels)", "test", "p", "p adj.", ""]
        tables.append((f"Capacity against the baseline: {entry['ladder']}", head + ["note"], body))
    return tables


CAPACITY_INTRO = (
    "Exact match at each level of a task's difficulty (mean [95% CI] over seeds). capacity: the "
    "largest level solved (exact match >= the solve threshold) by at least half the seeds; 50% "
    "level: where mean exact match falls through 0.5, interpolated in log2 of the level; seeds' "
    "capacity: the geometric mean over seeds of the largest level each seed solved (one rung "
    "below the ladder when it solved none), with a 95% t-interval on log2. A seed that solved "
    "the top level is only known to reach at least it: such capacities are shown '>= ' and are "
    "lower bounds. Seeds' capacities are compared with the baseline's by an exact sign test on "
    "shared seeds (two seeds both at the top tie), corrected within each ladder; the median "
    "per-seed difference is in log2 levels. Where the suite trains with a plateau rule "
    "(train.patience), a trial stops when it solves or stops improving, so a capacity is not "
    "the step budget; a seed whose next level was cut short by the budget rather than a "
    "plateau is, like one at the top, only known to reach at least its level ('cut by the "
    "budget'), and ties with any seed at or above it."
)
