"""Drawings of one trial's attention summary: heatmaps per layer and head with the
mem | src | sep | answer boundaries marked (as in the paper's figure), and block mass per layer.
They need only the record (its compact sample of full maps), never the model; `select_record`
picks the one trial a `membench attention` call names.

Uses matplotlib's object API (`Figure`, Agg canvas): no pyplot state, no display needed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from membench.analysis.attention import decode_maps
from membench.analysis.attention_roles import layer_means
from membench.errors import MembenchError
from membench.registry import did_you_mean
from membench.store.records import read_record

LABELS = {"mem": "mem", "src": "src", "sep": "sep", "answer": "ans"}
SELF_BARS = {  # bar order and legend
    "processing": "processing (mem→mem)",
    "write": "write (seq→mem)",
    "read": "read (mem→seq)",
    "read_src": "source reads mem",
    "read_answer": "answer slots read mem",
    "seq": "seq→seq",
}
CROSS_BARS = {"mem": "on encoder memory", "seq": "on encoder sequence"}


def load_records(path: Path) -> list[dict[str, Any]]:
    """Trial records: `path/trials/*.json` for a results directory, or the one record file
    `path` (as written by `membench train --json > x.json`)."""
    if path.is_file():
        files = [path]
    elif (path / "trials").is_dir():
        files = sorted((path / "trials").glob("*.json"))
    else:
        raise MembenchError(f"{path}: neither a record file nor a results directory with trials/")
    return [read_record(file) for file in files]


def default_out_dir(path: Path, record: dict[str, Any]) -> Path:
    """RESULTS/attention/<task>-<variant>-seed<s>/, or <record>_attention/ beside a record file."""
    if path.is_file():
        return path.with_name(f"{path.stem}_attention")
    name = f"{record_task(record)}-{record.get('variant')}-seed{record.get('seed')}"
    return path / "attention" / re.sub(r"[^\w.=-]+", "_", name)


def groups(layout: dict[str, list[int]]) -> list[tuple[str, int, int]]:
    """Non-empty (name, start, end) ranges in sequence order."""
    return sorted(((g, s, e) for g, (s, e) in layout.items() if e > s), key=lambda g: g[1])


def mark(ax, ranges: list[tuple[str, int, int]], rows: bool) -> None:
    """Boundary lines between ranges and a label at each range's middle (keys on x; queries on y
    too when `rows`)."""
    ticks = [(start + end - 1) / 2 for _, start, end in ranges]
    labels = [LABELS.get(name, name) for name, _, _ in ranges]
    for _, start, _ in ranges[1:]:
        ax.axvline(start - 0.5, color="white", linewidth=0.8)
        if rows:
            ax.axhline(start - 0.5, color="white", linewidth=0.8)
    ax.set_xticks(ticks, labels, fontsize=7, rotation=90)
    if rows:
        ax.set_yticks(ticks, labels, fontsize=7)


def heatmaps(maps, ranges, title: str, rows: bool) -> Figure:
    """One layer: a panel per head [H, queries, keys] on a shared colour scale."""
    heads = maps.size(0)
    fig = Figure(figsize=(2.6 * heads + 1, 3.0), layout="constrained")
    axes = fig.subplots(1, heads, squeeze=False)[0]
    vmax = max(maps.max().item(), 1e-6)
    for h, ax in enumerate(axes):
        image = ax.imshow(maps[h].numpy(), cmap="viridis", vmin=0, vmax=vmax)
        mark(ax, ranges, rows)
        ax.set_title(f"head {h + 1}", fontsize=9)
        ax.set_xlabel("keys", fontsize=8)
    axes[0].set_ylabel("queries" if rows else "decoder queries", fontsize=8)
    fig.colorbar(image, ax=list(axes), shrink=0.8)
    fig.suptitle(title, fontsize=10)
    return fig


def bars(summary: dict[str, Any]) -> Figure:
    """Block mass per layer (bars: mean over heads, dots: each head), decoder cross-attention
    beside it for encoder-decoders."""
    parts = [("encoder self-attention", summary["blocks"], SELF_BARS)]
    if summary.get("cross"):
        parts.append(("decoder cross-attention", summary["cross"], CROSS_BARS))
    fig = Figure(figsize=(5 * len(parts), 3.2), layout="constrained")
    axes = fig.subplots(1, len(parts), squeeze=False)[0]
    for ax, (title, part, labels) in zip(axes, parts, strict=True):
        names = [n for n in labels if n in part]
        layers, width = len(part[names[0]]), 0.8 / len(names)
        for k, name in enumerate(names):
            x = [i + (k - (len(names) - 1) / 2) * width for i in range(layers)]
            means = [layer[name] for layer in layer_means(part)]
            ax.bar(x, means, width, label=labels[name])
            for xi, heads in zip(x, part[name], strict=True):
                values = [v for v in heads if v is not None]
                ax.plot([xi] * len(values), values, "k.", markersize=3)
        ax.set_xticks(range(layers), [f"layer {i + 1}" for i in range(layers)])
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of the query rows' attention")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    return fig


def draw(summary: dict[str, Any], out: Path, example: int = 0) -> list[Path]:
    """Write the PNGs for one summary into `out`; returns their paths. Heatmaps need the record's
    sample of full maps (absent when it was over the size budget); the bar chart never does."""
    figures = {}
    sample = summary.get("sample") or {}
    ranges = groups(summary["layout"])
    for part, rows in (("self", True), ("cross", False)):
        if part not in sample:
            continue
        maps = decode_maps(sample[part])  # [n, L, H, queries, keys]
        if not 0 <= example < maps.size(0):
            raise MembenchError(
                f"--example {example}: the record keeps examples 0..{maps.size(0) - 1}"
            )
        kind = "encoder self" if rows else "decoder cross"
        for i, layer in enumerate(maps[example]):
            title = f"{kind}-attention, layer {i + 1}, example {example}"
            figures[f"{part}_layer{i + 1}.png"] = heatmaps(layer, ranges, title, rows)
    figures["blocks.png"] = bars(summary)
    out.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=120)
    return [out / name for name in figures]


# ---- picking a record ----


def record_task(record: dict[str, Any]) -> str:
    return record.get("task_label") or record.get("task")


def narrow(records: list[dict], key, wanted, what: str, where: str) -> list[dict]:
    """Records whose `key(record)` equals `wanted` (all when wanted is None); a one-line error
    with did-you-mean when none does."""
    if wanted is None:
        return records
    kept = [r for r in records if key(r) == wanted]
    if not kept:
        known = sorted({str(key(r)) for r in records})
        raise MembenchError(
            f"no trial with {what} '{wanted}' in {where}: "
            f"{did_you_mean(str(wanted), known)}known: {', '.join(known)}"
        )
    return kept


def select_record(
    records: list[dict], where: str, task=None, variant=None, seed=None
) -> dict[str, Any]:
    """The one trial the filters name (the lowest seed when several seeds match), with an
    attention summary; otherwise a one-line MembenchError saying what to add or fix."""
    if not records:
        raise MembenchError(f"no trial records in {where}")
    records = narrow(records, record_task, task, "task", where)
    records = narrow(records, lambda r: r.get("variant"), variant, "variant", where)
    records = narrow(records, lambda r: r.get("seed"), seed, "seed", where)
    cells = sorted({(str(record_task(r)), str(r.get("variant"))) for r in records})
    if len(cells) > 1:
        listed = ", ".join(f"{t}/{v}" for t, v in cells[:8])
        raise MembenchError(
            f"{len(cells)} task/variant cells in {where}: pick one with --task and --variant "
            f"({listed}{', ...' if len(cells) > 8 else ''})"
        )
    ok = [r for r in records if r.get("status") == "ok"]
    if not ok:
        raise MembenchError(f"every matching trial in {where} failed: {records[0].get('error')}")
    record = min(ok, key=lambda r: r.get("seed") or 0)
    if not record.get("attention"):
        raise MembenchError(
            f"trial {record.get('id')} has no attention summary (trained with --no-attention, or "
            "its model exposes no attention maps): retrain without --no-attention"
        )
    return record
