"""The report on a terminal: the main table, the comparisons (significant rows first, --all for
every one), ranks, aggregates and sections as rich tables that fit the terminal's width without
cutting a name (a table too wide is split into stacked parts, each led by the variant column)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape as rich_escape
from rich.table import Table
from rich.text import Text

from membench.report.frontier_tables import floors, frontier_tables, verdicts
from membench.report.model import CORRECTIONS
from membench.report.section_tables import (
    capacity_tables,
    knockout_drops,
    knockout_group,
    positions_seeds,
)
from membench.report.tables import (
    MAX_LINES,
    STYLES,
    decimals,
    legend_text,
    main_table,
    num,
    p_text,
    problems,
    rank_summary,
    side_tables,
)
from membench.report.tuning_text import tuning_intro, tuning_rows

if TYPE_CHECKING:
    from membench.report.model import Report


# or wrapped between words, never cut: rich's own fitting ends names in '…' (`copy[length=…`).


def _sizes(head: list[str], body: list[list[str]], whole: set[int]) -> tuple[list, list, list]:
    """Widths of each column of markup cells: natural (one line each), tidy (cells on one line,
    the header wrapped between words) and least (everything wrapped between words); a column in
    `whole` (names) never wraps."""
    natural, tidy, least = [], [], []
    for i, h in enumerate(head):
        cells = [Text.from_markup(c).plain.split("\n") for c in [h, *(r[i] for r in body)]]
        lines = [x for c in cells for x in c]
        words = lines if i in whole else [w for x in lines for w in x.split()]
        natural.append(max(map(cell_len, lines)))
        least.append(max(map(cell_len, words), default=1))
        below = lines[len(cells[0]) :]  # the cells under the header
        tidy.append(natural[-1] if i in whole else max([least[-1], *map(cell_len, below)]))
    return natural, tidy, least


def _shrink(natural: list[int], least: list[int], room: int) -> list[int]:
    """Narrow the widest wrappable column, one cell at a time, until the widths fit `room`."""
    widths = list(natural)
    while sum(widths) > room:
        slack = [i for i, w in enumerate(widths) if w > least[i]]
        if not slack:
            break
        widths[max(slack, key=lambda i: widths[i])] -= 1
    return widths


def _rich_table(title, head, body, widths, compact=False) -> Table:
    """Markup rows at fixed widths; 'fold', not '…', should a cell still not fit."""
    if compact:  # a listing: header rule, no edges, two spaces between columns
        table = Table(title=title, title_style="bold", title_justify="left", box=box.SIMPLE_HEAD)
        table.show_edge, table.pad_edge, table.padding = False, False, (0, 1, 0, 0)
    else:
        table = Table(title=title, title_style="bold")
    for i, (h, w) in enumerate(zip(head, widths, strict=True)):
        table.add_column(h, justify="left" if i == 0 else "right", width=w, overflow="fold")
    for row in body:
        table.add_row(*row)
    return table


def _escaped(head: list[str], body: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Plain-text rows as markup (task names may hold brackets: `copy[length=8]`)."""
    return list(map(rich_escape, head)), [list(map(rich_escape, r)) for r in body]


def _print_table(console, title, head, body, whole=frozenset({0}), keep=1) -> None:
    """Print a table of markup cells within the console's width: column groups that fit, each
    led by the first `keep` (name) columns, so every name stays whole."""
    natural, tidy, least = _sizes(head, body, set(whole))
    width = console.width
    span = lambda cols: sum(tidy[i] for i in cols) + 3 * len(cols) + 1  # noqa: E731
    groups, group = [], []
    for i in range(keep, len(head)):
        if group and span([*range(keep), *group, i]) > width:
            groups.append(group)
            group = []
        group.append(i)
    groups.append(group)
    for k, group in enumerate(groups):
        cols = [*range(keep), *group]
        room = width - 3 * len(cols) - 1
        widths = _shrink([natural[i] for i in cols], [tidy[i] for i in cols], room)
        widths = _shrink(widths, [least[i] for i in cols], room)
        part = f", columns part {k + 1} of {len(groups)}" if len(groups) > 1 else ""
        rows = [[r[i] for i in cols] for r in body]
        console.print(_rich_table(title + part, [head[i] for i in cols], rows, widths))


def by_task(head: list[str], body: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Rows led by task and variant -> a bold task row, then its variants' rows (indented), so
    the task is not repeated on every row; 'lr=0.003' shows as '0.003' where one knob is tuned."""
    knobs = {cell.split("=")[0] for row in body for cell in row[2:3] if "=" in cell}
    rows, task = [], None
    for row in body:
        if row[0] != task:
            task = row[0]
            rows.append([f"[bold]{task}[/]"] + [""] * (len(head) - 2))
        chosen = row[2].split("=", 1)[1] if len(knobs) == 1 and "=" in row[2] else row[2]
        rows.append([f" {row[1]}", chosen, *row[3:]])
    knob = f" {next(iter(knobs))}" if len(knobs) == 1 else ""
    return ["task / variant", f"chosen{knob}", *head[3:]], rows


def _mark(i: int) -> str:
    """a, b, ..., z, aa, ab, ...: a footnote's key."""
    return _mark(i // 26 - 1) + chr(97 + i % 26) if i >= 26 else chr(97 + i)


def _print_comparisons(report: Report, console: Console, all_rows: bool) -> None:
    """The comparisons table (every significant row, or every row), grouped by task, notes as
    footnotes; the difference's interval drops to a second line where one line does not fit."""
    c, d = report.comparisons, decimals(report)
    shown = c if all_rows else c[c["significant"]]
    test = f"{CORRECTIONS[report.correction]}, alpha {report.alpha}"
    console.print(
        f"\n[bold]Verdicts[/]: comparisons with {rich_escape(report.baseline)} ({test}); "
        f"{int(c['significant'].sum())} of {len(c)} significant",
        highlight=False,
    )
    notes: dict[str, str] = {}
    for sep in (" ", "\n"):
        head = ["task / variant", "diff [95% CI]", "test", "p", "p adj.", "solved"]
        body = []
        for task in [t for t in report.tasks if t in set(shown["task"])]:
            body.append([f"[bold]{rich_escape(task)}[/]"] + [""] * (len(head) - 1))
            for r in shown[shown["task"] == task].itertuples():
                mark = STYLES["text"]["weak"] if not r.decidable and r.test != "none" else ""
                mark = {True: STYLES["text"]["up"], False: STYLES["text"]["down"]}.get(
                    r.better, mark
                )
                diff = f"{num(r.diff, d)}{sep}[{num(r.ci_low, d)}, {num(r.ci_high, d)}]"
                row = [f" {rich_escape(r.variant)}{mark}", rich_escape(diff), r.test]
                row += [p_text(r.p_value), p_text(r.p_adjusted), r.solve_counts or "–"]
                if r.note:
                    row.append(notes.setdefault(r.note, _mark(len(notes))))
                body.append(row)
        if notes:
            head.append("note")
            body = [row + [""] * (len(head) - len(row)) for row in body]
        natural, _, least = _sizes(head, body, {0} if sep == " " else {0, 1})
        room = console.width - 2 * (len(head) - 1)
        if sum(natural) <= room:
            break
    if body:
        widths = _shrink(natural, least, room)
        console.print(_rich_table(None, head, body, widths, compact=True))
        if notes:  # footnotes with a hanging indent
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            for note, key in notes.items():
                grid.add_row(f" {key}:", rich_escape(note))
            console.print(grid, highlight=False)
    hidden = len(c) - len(shown)
    if hidden:  # "and 5 more" only after rows shown; with none shown, just the count
        lead = f"and {hidden} more" if len(shown) else f"{hidden}"
        console.print(f"{lead} not significant: --all or report.md", highlight=False)
    undecidable = c[~c["decidable"] & (c["test"] != "none")]
    if len(undecidable):
        console.print(
            f"{len(undecidable)} of {len(c)} cannot be significant at these seeds (marked †)",
            highlight=False,
        )


def print_report(
    report: Report,
    console: Console | None = None,
    all_rows: bool = False,
    full: str | None = None,
) -> None:
    """Main table, ranks, the details (capacity, knockouts, published, positions, tuning,
    attention, frontiers), then the verdicts (the significant comparisons, or `all_rows`; each
    frontier family's), the problems, and last one line naming where the method and every
    table are (`full`: the report.md written, or how to write one)."""
    console = console or Console()
    headers, rows = main_table(report, "text")
    _print_table(console, f"{report.metric} vs {rich_escape(report.baseline)}", headers, rows)
    console.print(legend_text(report, "text"), highlight=False)
    console.print(rank_summary(report), highlight=False)
    for title, head, body in side_tables(report)[1:]:
        _print_table(console, title, *_escaped(head, body))
    for entry in report.capacity:
        title, head, body = capacity_tables(entry)[0]
        _print_table(console, rich_escape(title), *_escaped(head, body))
    if report.knockouts:
        console.print(
            "\n[bold]Memory knockouts[/] (change with memory cut off; solved and unsolved seeds "
            "apart)"
        )
        for e in report.knockouts:
            drops = "; ".join(f"{k}s cut: {knockout_drops(e, k)}" for k in ("read", "write"))
            line = f"{e['task']} / {e['variant']}, {knockout_group(e)}: {e['sentence']} ({drops})."
            console.print(rich_escape(line), highlight=False)
    if report.published:
        console.print("\n[bold]Published vs measured[/] (rule: report.md's method)")
        for e in report.published:
            measured = f"{e['mean']:.3f} over {e['n']} seeds" if e["n"] else "not measured"
            measured += f" ({e['climbed']})" if e.get("climbed") else ""
            line = (
                f"{e['task']} / {e['variant']}: {e['metric']} published {e['value']:g} "
                f"({e['source']}), measured {measured}: {e['verdict']}."
            )
            console.print(rich_escape(line), highlight=False)
    if report.positions:
        console.print("\n[bold]Accuracy per position[/] (unsolved seeds, where exact match lags)")
        for e in report.positions:
            line = f"{e['task']} / {e['variant']}, {positions_seeds(e)} unsolved: {e['sentence']}."
            console.print(rich_escape(line), highlight=False)
    if report.tuning:
        intro = rich_escape(tuning_intro(report.tune))
        console.print(f"\n[bold]Tuning[/]: {intro}", highlight=False)
        head, body = _escaped(*tuning_rows(report.tuning))
        _print_table(console, "Tuning (chosen on tuning seeds)", *by_task(head, body), {0}, keep=1)
    if report.attention:
        console.print("\n[bold]Attention[/] (what each layer does; tables in report.md)")
        for entry in report.attention:
            line = f"{entry['task']} / {entry['variant']}: {entry['sentence']}."
            console.print(rich_escape(line), highlight=False)
    if report.frontier:
        for title, head, body in frontier_tables(report.frontier):
            _print_table(console, rich_escape(title), *_escaped(head, body))
    if report.frontier and (report.design or {}).get("climb") is not None and not all_rows:
        console.print(
            "\n[bold]Per-level comparisons[/]: descriptive in a climb (a level's cell holds the "
            "seeds that reached it): report.md, or --all",
            highlight=False,
        )
    else:
        _print_comparisons(report, console, all_rows)
    if report.frontier:
        lines = verdicts(report.frontier) or ["no family has a significant result"]
        lines += [f"smallest effect: {x}" for x in floors(report.frontier, report.alpha)]
        console.print("\n[bold]Frontier verdicts[/] (each family corrected on its own)")
        for line in lines + [f"non-monotone: {x}" for x in report.frontier["nonmonotone"]]:
            console.print(rich_escape(line), highlight=False)
    lines = problems(report)
    for line in lines[:MAX_LINES]:
        console.print(f"[yellow]{rich_escape(line)}[/]", highlight=False)
    if len(lines) > MAX_LINES:
        console.print(f"[yellow]... and {len(lines) - MAX_LINES} more (see report.md)[/]")
    pointer = full or "membench report RESULTS --out DIR"
    console.print(Text(f"method and every table: {pointer}"), soft_wrap=True)
