"""The HTML report: one self-contained file (tables, every plot as a data: URI, attention,
method) that a researcher can attach to an email; nothing it shows lives outside it.

Built from the same rows as every other format (`membench.report.tables`), in the markdown's
order and with its headings.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING

from membench.report.attention_tables import (
    ATTENTION_INTRO,
    ATTENTION_TITLE,
    attention_sentences,
    attention_tables,
)
from membench.report.frontier_tables import FRONTIER_INTRO, frontier_tables
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
    legend_text,
    main_table,
    problems,
    rank_summary,
    side_tables,
)
from membench.report.tuning_text import tuning_intro, tuning_rows

if TYPE_CHECKING:
    from membench.report.model import Report

CSS = (
    "body{font-family:sans-serif;max-width:75em;margin:auto;padding:0 1em;line-height:1.4}"
    ".wide{overflow-x:auto}table{border-collapse:collapse;margin:1em 0}"
    "td,th{border-bottom:1px solid #ccc;padding:.2em .6em;text-align:right;white-space:nowrap}"
    "th{white-space:normal;vertical-align:bottom}.l{text-align:left}"
    ".t{white-space:normal;text-align:left;min-width:12em}"
    "figure{margin:1.5em 0}img{max-width:100%;height:auto}figcaption{color:#444;font-size:.9em}"
)
# Plots that belong to a section of their own; every other plot goes under "Plots".
SECTION_PLOTS = {"capacity.png", "sensitivity.png", "frontier.png"}


def _captions(metric: str) -> dict[str, str]:
    """What each plot write_report draws shows, in a sentence."""
    return {
        f"{metric}_by_task.png": "Per task: each variant's mean with its 95% interval, coloured "
        "by the test against the baseline; each seed's value on the mean at small n.",
        f"curves_{metric}.png": "Learning curves: mean over seeds with a band; a seed that "
        "stopped early (solved) keeps its last value from then on.",
        f"cd_{metric}.png": "Critical-difference diagram: average ranks over tasks; variants "
        "joined by a bar are not distinguishable (Nemenyi, 0.05).",
        f"{metric}_vs_mem_tokens.png": f"{metric} against the number of memory tokens.",
        "capacity.png": "Exact match at each level of the task's difficulty, per variant.",
        "frontier.png": "Share of seeds that solved each level of a ladder, per variant.",
        "sensitivity.png": "The tuning metric against the tuned option, on the tuning seeds.",
    }


def _table(headers, rows, escape: bool = True) -> str:
    """A table whose name columns (the first, and task, variant) read left, numbers right, and
    free text ('note', a verdict) wraps."""
    esc = html.escape if escape else str
    names = max(1, next(i for i, h in enumerate([*headers, ""]) if h not in ("task", "variant")))
    free = {i for i, h in enumerate(headers) if h in ("note", "verdict")}
    kind = ["l" if i < names else "t" if i in free else "" for i in range(len(headers))]
    cls = [f" class='{k}'" if k else "" for k in kind]
    head = "".join(f"<th{c}>{esc(h)}</th>" for c, h in zip(cls, headers, strict=True))
    body = "".join(
        "<tr>"
        + "".join(f"<td{c}>{esc(str(x))}</td>" for c, x in zip(cls, r, strict=True))
        + "</tr>\n"
        for r in rows
    )
    return (
        f"<div class='wide'><table>\n<thead><tr>{head}</tr></thead>\n"
        f"<tbody>\n{body}</tbody>\n</table></div>"
    )


def _figure(name: str, png: bytes, caption: str) -> str:
    src = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    text = html.escape(f"{name}: {caption}" if caption else name)
    img = f"<img src='{src}' alt='{html.escape(name)}'>"
    return f"<figure>{img}<figcaption>{text}</figcaption></figure>"


def _attention(section: list[dict]) -> list[str]:
    """The attention section (`attention_tables`): block masses, cross-attention, sentences."""
    parts = [f"<h2>{ATTENTION_TITLE}</h2>", f"<p>{ATTENTION_INTRO}</p>"]
    parts += [_table(header, rows) for header, rows in attention_tables(section)]
    items = "".join(f"<li>{html.escape(line)}</li>" for line in attention_sentences(section))
    return parts + [f"<ul>{items}</ul>"]


def render_html(report: Report, images: Mapping[str, bytes] | None = None) -> str:
    """The report as one HTML file; `images` ({file name: PNG bytes}, as write_report draws
    them) are embedded, capacity.png and sensitivity.png in their sections, the rest under
    Plots."""
    images = dict(images or {})
    captions = _captions(report.metric)

    def figures(names) -> list[str]:
        return [_figure(n, images[n], captions.get(n, "")) for n in names if n in images]

    headers, rows = main_table(report, "html")
    title = html.escape(f"membench report: {report.metric}")
    parts = [
        f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{title}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        f"<p>{legend_text(report, 'html')}</p>",
        _table(headers, rows, escape=False),
        f"<p>{html.escape(rank_summary(report))}</p>",
    ]
    for name, head, body in side_tables(report):
        parts += [f"<h2>{html.escape(name)}</h2>", _table(head, body)]
    general = [n for n in images if n not in SECTION_PLOTS]
    if general:
        parts += ["<h2>Plots</h2>", *figures(general)]
    if report.published:
        parts += ["<h2>Published vs measured</h2>", f"<p>{html.escape(PUBLISHED_INTRO)}</p>"]
        parts += [_table(*published_table(report))]
    if report.frontier:
        parts += ["<h2>Frontiers</h2>", f"<p>{html.escape(FRONTIER_INTRO)}</p>"]
        for name, head, body in frontier_tables(report.frontier):
            parts += [f"<h3>{html.escape(name)}</h3>", _table(head, body)]
        parts += [f"<p>non-monotone: {html.escape(x)}</p>" for x in report.frontier["nonmonotone"]]
        parts += figures(["frontier.png"])
    if report.capacity:
        parts += ["<h2>Capacity</h2>", f"<p>{html.escape(CAPACITY_INTRO)}</p>"]
        for entry in report.capacity:
            for name, head, body in capacity_tables(entry):
                parts += [f"<h3>{html.escape(name)}</h3>", _table(head, body)]
    parts += figures(["capacity.png"])
    if report.knockouts:
        parts += ["<h2>Memory knockouts</h2>", f"<p>{html.escape(KNOCKOUT_INTRO)}</p>"]
        parts += [_table(*knockout_table(report))]
    if report.positions:
        parts += ["<h2>Accuracy per position</h2>", f"<p>{html.escape(POSITIONS_INTRO)}</p>"]
        parts += [_table(*positions_table(report))]
    if report.tuning:
        parts += ["<h2>Tuning</h2>", f"<p>{html.escape(tuning_intro(report.tune))}</p>"]
        parts += [_table(*tuning_rows(report.tuning))]
    parts += figures(["sensitivity.png"])
    if report.attention:
        parts += _attention(report.attention)
    parts += ["<h2>Method</h2>", f"<p>{html.escape(report.method)}</p>"]
    if problems(report):
        items = "".join(f"<li>{html.escape(line)}</li>" for line in problems(report))
        parts += ["<h2>Failed, cut off and missing</h2>", f"<ul>{items}</ul>"]
    return "\n".join(parts + ["</body></html>"]) + "\n"


def plot_images(report: Report) -> dict[str, bytes]:
    """Every plot write_report would draw, as PNG bytes in memory: for an HTML report that is
    printed rather than written next to its plots. Notes of skipped plots join report.notes,
    as write_report's do."""
    from membench.report.plots import build_figures

    figures, notes = build_figures(report.data, report)
    report.notes += [n for n in notes if n not in report.notes]
    if report.tuning:
        from membench.report.tuning_plots import sensitivity_figure

        figures["sensitivity.png"] = sensitivity_figure(report)
    images = {}
    for name, fig in figures.items():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
        images[name] = buffer.getvalue()
    if report.tuning:  # drawn with pyplot, unlike the others
        import matplotlib.pyplot as plt

        plt.close(figures["sensitivity.png"])
    return images
