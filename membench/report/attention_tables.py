"""The report's attention section, built once for every format: block masses by layer over
seeds with intervals, decoder cross-attention, and each cell's sentence; its markdown here."""

from __future__ import annotations

from typing import Any

COLUMNS = {
    "processing": "processing (mem→mem)",
    "write": "write (seq→mem)",
    "read": "read (mem→seq)",
    "read_answer": "answer rows read mem",
    "seq": "seq→seq",
}


def percent(cell: dict[str, float | None] | None) -> str:
    """'62% [55, 69]'; '–' when absent."""
    if not cell or cell["mean"] is None:
        return "–"
    if cell["low"] is None:
        return f"{cell['mean']:.0%}"
    return f"{cell['mean']:.0%} [{100 * cell['low']:.0f}, {100 * cell['high']:.0f}]"


ATTENTION_TITLE = "Attention: write, processing, read"
ATTENTION_INTRO = (
    "Share of each query group's attention on each key group (rows sum to 1), mean over "
    "heads, mean over seeds [95% t-interval]."
)


def attention_tables(section: list[dict[str, Any]]) -> list[tuple[list[str], list[list[str]]]]:
    """The section's tables as (header, rows), for every format: block masses by layer, then
    the decoder's cross-attention where a model has one."""
    rows = [
        [entry["task"], str(entry["variant"]), str(entry["seeds"]), str(layer["layer"])]
        + [percent(layer.get(name)) for name in COLUMNS]
        for entry in section
        for layer in entry["layers"]
    ]
    tables = [(["task", "variant", "seeds", "layer", *COLUMNS.values()], rows)]
    cross = [
        [entry["task"], str(entry["variant"]), str(layer["layer"])]
        + [percent(layer.get("mem")), percent(layer.get("seq"))]
        for entry in section
        for layer in entry["cross"]
    ]
    if cross:
        header = ["task", "variant", "decoder layer", "on encoder memory", "on encoder sequence"]
        tables.append((header, cross))
    return tables


def attention_sentences(section: list[dict[str, Any]]) -> list[str]:
    return [f"{e['task']} / {e['variant']}: {e['sentence']}." for e in section]


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render_attention_markdown(section: list[dict[str, Any]]) -> str:
    """Markdown for `attention_section`: a block-mass table, a cross-attention table for
    encoder-decoders, and one line per variant in words."""
    if not section:
        return ""
    lines = [f"## {ATTENTION_TITLE}", "", ATTENTION_INTRO, ""]
    for i, (header, rows) in enumerate(attention_tables(section)):
        lines += [""] * (i > 0) + markdown_table(header, rows)
    lines.append("")
    lines += [f"- {line}" for line in attention_sentences(section)]
    return "\n".join(lines) + "\n"
