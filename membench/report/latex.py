"""The report as LaTeX (booktabs, every cell escaped): the main table, the comparisons, the
published values and the frontier section, as in the other formats."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from membench import metrics
from membench.report.frontier_tables import frontier_tables
from membench.report.model import CORRECTIONS, TESTS
from membench.report.tables import STYLES, latex_escape, main_table, side_tables

if TYPE_CHECKING:
    from membench.report.model import Report


def render_latex(report: Report) -> str:
    headers, rows = main_table(report, "latex")
    esc = latex_escape
    cell = {
        "continuous": "mean $\\pm$ 95\\% CI half-width over seeds ([low, high] where cut at "
        "the metric's range)",
        "binary": "seeds that solved [exact 95\\% interval]",
        "censored": "median over seeds ($>$ budget where half or more never solved; seeds "
        "that solved in brackets)",
    }[metrics.metric_kind(report.metric)]
    caption = (
        f"{esc(report.metric)}: {cell}. "
        f"$^{{\\uparrow}}$/$^{{\\downarrow}}$: significantly better/worse than "
        f"{esc(report.baseline)} ({TESTS[report.test]}, {CORRECTIONS[report.correction]}, "
        f"$\\alpha={report.alpha}$); $^{{\\dagger}}$: cannot be significant at these seeds; "
        "bold: best per task."
    )
    lines = [
        "% requires \\usepackage{booktabs}",
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{caption}}}",
        f"\\label{{tab:membench-{re.sub(r'[^A-Za-z0-9]+', '-', report.metric)}}}",
        f"\\begin{{tabular}}{{l{'c' * (len(headers) - 1)}}}",
        "\\toprule",
        " & ".join(_unicode(h) for h in headers) + " \\\\",
        "\\midrule",
    ]
    lines += [_unicode(" & ".join(r)) + " \\\\" for r in rows]
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""]
    tables = _latex_comparisons(report) + _latex_published(report) + _latex_frontier(report)
    return "\n".join(lines + tables) + "\n"


def _latex_published(report: Report) -> list[str]:
    """The published-vs-measured table, when the suite attaches published values."""
    if not report.published:
        return []
    from membench.report.section_tables import published_table

    head, rows = published_table(report)
    keep = [0, 1, 3, 4, 5, 7, 8]  # task, variant, published, source, measured, solved, verdict
    return _booktabs(
        "Published vs measured (rule: the report's method paragraph).",
        "published",
        [head[i] for i in keep],
        [[r[i] for i in keep] for r in rows],
        spec="llcp{4cm}ccl",
    )


def _latex_frontier(report: Report) -> list[str]:
    """The frontier section (the primary measure of a climbing suite): every table the other
    formats show, in the same order, each a booktabs table of its own."""
    if not report.frontier:
        return []
    out = []
    for i, (title, head, body) in enumerate(frontier_tables(report.frontier), 1):
        out += _booktabs(title + ".", f"frontier-{i}", head, body)
    return out


def _booktabs(caption: str, label: str, head: list[str], rows: list[list[str]], spec: str = ""):
    """One small booktabs table of plain-text cells (escaped; marks as arrows); `spec`: its
    column types, left-aligned columns by default."""
    return [
        "",
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        f"\\caption{{{_latex_text(caption)}}}",
        f"\\label{{tab:membench-{label}}}",
        f"\\begin{{tabular}}{{{spec or 'l' * len(head)}}}",
        r"\toprule",
        " & ".join(_latex_text(h) for h in head) + r" \\",
        r"\midrule",
        *(" & ".join(_latex_text(str(c)) for c in r) + r" \\" for r in rows),
        r"\bottomrule",
        r"\end{tabular}",
        r"\end{table}",
    ]


def _latex_text(s: str) -> str:
    """A plain-text cell for a tabular: escaped, with < > and en dashes that LaTeX can set."""
    return _unicode(latex_escape(s).replace("<", "$<$").replace(">", "$>$"))


def _unicode(s: str) -> str:
    """`s` with the characters of _UNICODE in LaTeX (a cell already in LaTeX stays as it is)."""
    for char, tex in _UNICODE.items():
        s = s.replace(char, tex)
    return s


# What the other formats print that pdflatex cannot set from plain UTF-8 without packages.
_UNICODE = {"–": "--", "×": r"$\times$", "▲": r"$\uparrow$", "▼": r"$\downarrow$", "±": r"$\pm$",
            "≥": r"$\geq$", "≤": r"$\leq$", "…": "...", "τ": r"$\tau$", "ρ": r"$\rho$"}  # fmt: skip


def _latex_comparisons(report: Report) -> list[str]:
    """The comparisons table (booktabs), arrows on the significant rows' corrected p."""
    _, head, body = side_tables(report)[0]
    marks = {True: STYLES["latex"]["up"], False: STYLES["latex"]["down"]}
    better = report.comparisons["better"].tolist()
    rows = []
    for row, up in zip(body, better, strict=True):
        cells = [_latex_text(c) for c in row]
        cells[6] += marks.get(up, "")
        rows.append(" & ".join(cells) + " \\\\")
    caption = (
        f"{latex_escape(report.metric)}: each variant against {latex_escape(report.baseline)}, "
        f"difference with its 95\\% interval, test, $p$ and $p$ adjusted "
        f"({CORRECTIONS[report.correction]}, $\\alpha={report.alpha}$; "
        "$^{\\uparrow}$/$^{\\downarrow}$: significantly better/worse), Hedges' $g$ and A12."
    )
    return [
        "\\begin{table}[t]",
        "\\centering",
        "\\small",
        f"\\caption{{{caption}}}",
        f"\\label{{tab:membench-{re.sub(r'[^A-Za-z0-9]+', '-', report.metric)}-comparisons}}",
        "\\begin{tabular}{lllllrrrrp{3.5cm}}",
        "\\toprule",
        " & ".join(_latex_text(h) for h in head) + " \\\\",
        "\\midrule",
        *rows,
        "\\bottomrule",
        "\\end{tabular}",
        "\\end{table}",
    ]
