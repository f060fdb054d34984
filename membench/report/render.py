"""Renderings of a `Report` as md, latex, csv, json and html text, and `write_report`, which
writes them with the plots (the one writer of report files). Every format is built from the same
rows (`tables.py`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from membench import metrics
from membench.report.attention_tables import render_attention_markdown
from membench.report.frontier_tables import (
    FRONTIER_INTRO,
    floors,
    frontier_frames,
    frontier_tables,
)
from membench.report.section_tables import (
    CAPACITY_INTRO,
    KNOCKOUT_INTRO,
    POSITIONS_INTRO,
    PUBLISHED_INTRO,
    capacity_tables,
    knockout_table,
    positions_table,
    published_table,
)
from membench.report.tables import (
    STYLES,
    legend_text,
    main_table,
    problems,
    rank_summary,
    side_tables,
)
from membench.report.tuning_text import tuning_intro, tuning_rows

if TYPE_CHECKING:
    from membench.report.model import Report

FORMATS = {"md": "md", "latex": "tex", "csv": "csv", "json": "json", "html": "html"}


# ---- renderers --------------------------------------------------------------------------------


def _md_table(headers, rows, escape=True) -> str:
    esc = STYLES["md"]["esc"] if escape else str
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(esc(str(c)) for c in r) + " |" for r in rows])


def _render_md(report: Report) -> str:
    headers, rows = main_table(report, "md")
    out = [f"# membench report: {report.metric}", "", legend_text(report, "md"), ""]
    out += [_md_table(headers, rows, escape=False), "", rank_summary(report)]
    for title, head, body in side_tables(report):
        out += ["", f"## {title}", "", _md_table(head, body)]
    if report.published:
        out += ["", "## Published vs measured", "", PUBLISHED_INTRO, ""]
        out += [_md_table(*published_table(report))]
    if report.frontier:
        out += ["", "## Frontiers", "", FRONTIER_INTRO]
        for title, head, body in frontier_tables(report.frontier):
            out += ["", f"### {title}", "", _md_table(head, body)]
        out += [f"- non-monotone: {line}" for line in report.frontier["nonmonotone"]]
        out += [f"- smallest effect: {line}" for line in floors(report.frontier, report.alpha)]
        out += ["", "![frontier](frontier.png)"]
    if report.capacity:
        out += ["", "## Capacity", "", CAPACITY_INTRO]
        for entry in report.capacity:
            for title, head, body in capacity_tables(entry):
                out += ["", f"### {title}", "", _md_table(head, body)]
    if report.knockouts:
        out += ["", "## Memory knockouts", "", KNOCKOUT_INTRO, ""]
        out += [_md_table(*knockout_table(report))]
    if report.positions:
        out += ["", "## Accuracy per position", "", POSITIONS_INTRO, ""]
        out += [_md_table(*positions_table(report))]
    if report.tuning:
        out += ["", "## Tuning", "", tuning_intro(report.tune), ""]
        out += [_md_table(*tuning_rows(report.tuning)), "", "![sensitivity](sensitivity.png)"]
    if report.attention:
        out += ["", render_attention_markdown(report.attention).rstrip()]
    out += ["", "## Method", "", report.method]
    if problems(report):
        out += ["", "## Failed, cut off and missing", ""] + [
            f"- {line}" for line in problems(report)
        ]
    return "\n".join(out) + "\n"


def _tidy(report: Report) -> pd.DataFrame:
    """One row per (task, variant): the cell statistics plus its comparison with the baseline."""
    cmp = report.comparisons.drop(columns=["n", "mean"]).rename(
        columns={"ci_low": "diff_ci_low", "ci_high": "diff_ci_high"}
    )
    out = report.cells.merge(cmp, on=["task", "variant"], how="left")
    out.insert(0, "metric", report.metric)
    out.insert(3, "is_baseline", out["variant"] == report.baseline)
    return out.astype({"n_baseline": "Int64"})


def _jsonable(x):
    """NaN and infinities become null; numpy and pandas values become plain Python."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, pd.DataFrame):
        return _jsonable(x.to_dict(orient="records"))
    if isinstance(x, pd.Series):
        return _jsonable(x.to_dict())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _render_json(report: Report) -> str:
    r = report.ranks
    obj = dict(
        metric=report.metric,
        direction=metrics.metric_direction(report.metric),
        baseline=report.baseline,
        alpha=report.alpha,
        correction=report.correction,
        test=report.test,
        tasks=report.tasks,
        variants=report.variants,
        cells=report.cells,
        comparisons=report.comparisons,
        ranks={k: getattr(r, k) for k in r.__dataclass_fields__}
        | {"distinguishable": r.distinguishable},
        aggregate=report.aggregate,
        costs=report.costs.reset_index(),
        method=report.method,
        notes=report.notes,
        failed=report.failed,
        missing=report.missing,
        interrupted=report.interrupted,
        incomplete=[
            dict(task=t, variant=v, holds=text) for (t, v), text in report.incomplete.items()
        ],
        attention=report.attention,
        knockouts=report.knockouts,
        positions=report.positions,
        capacity=report.capacity,
    ) | ({"published": report.published} if report.published else {})
    if report.frontier:
        obj["frontier"] = dict(report.frontier)
        obj["design"] = report.design
    return json.dumps(_jsonable(obj), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def render(report: Report, fmt: str, images: Mapping[str, bytes] | None = None) -> str:
    """The report as text in one of FORMATS; `images` ({file name: PNG bytes}) are embedded in
    the HTML (the other formats sit next to the plots and ignore them)."""
    from membench.report.html import render_html
    from membench.report.latex import render_latex

    renderers = {
        "md": _render_md,
        "latex": render_latex,
        "csv": lambda r: _tidy(r).to_csv(index=False),
        "json": _render_json,
        "html": lambda r: render_html(r, images),
    }
    if fmt not in renderers:
        raise ValueError(f"unknown format '{fmt}': use {', '.join(renderers)}")
    return renderers[fmt](report)


def write_report(report: Report, out_dir, formats=tuple(FORMATS), plots: bool = True) -> list[Path]:
    """Write report.<ext> for each format, plus the PNG plots; returns the paths written."""
    from membench.report.plots import write_plots
    from membench.store.records import write_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    if plots:  # first: the plots it skips (a CD diagram of 2 tasks...) are notes of the report
        drawn = write_plots(report.data, report, out)
        report.notes += [note for note in drawn.notes if note not in report.notes]
        paths += drawn
        if report.tuning:
            from membench.report.tuning_plots import write_sensitivity_plot

            paths.append(write_sensitivity_plot(report, out))
    images = {p.name: p.read_bytes() for p in paths if p.suffix == ".png"}  # the HTML's
    for fmt in formats:
        text = render(report, fmt, images)
        path = out / f"report.{FORMATS[fmt]}"
        write_atomic(path, text)
        paths.append(path)
    if "csv" in formats and report.frontier:  # report.csv holds cells; frontiers are per seed
        for name, frame in frontier_frames(report.frontier).items():
            path = out / f"{name}.csv"
            write_atomic(path, frame.to_csv(index=False))
            paths.append(path)
    return paths
