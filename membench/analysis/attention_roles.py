"""Attention summaries in words and intervals: what each layer's memory does (writes,
processes, is read), the shape of each block, per segment for recurrent models, averaged over
seeds for the report's attention section.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from membench.analysis.attention import BLOCKS, pattern_scores

# ---- words ----


def head_mean(values: list[float | None]) -> float:
    """Mean over heads, NaN-safe (None = undefined)."""
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else math.nan


def answer_words(layout: dict[str, Any] | None) -> str:
    """The answer rows in words: slots after the source (the layout has the model's `sep` before
    them), or source positions (a task that reads each answer at its query, assoc_recall)."""
    return "the answer slots" if not layout or "sep" in layout else "the answer positions"


def layer_roles(blocks: dict[str, float], answers: str = "the answer slots") -> str:
    """One layer's role in words from head-averaged masses, e.g. 'memory writes (62% of memory
    attention on the sequence), the answer slots read memory (71%)'; `answers` names the answer
    rows (see `answer_words`)."""
    write = blocks["write"]
    if write >= 0.5:
        role = f"memory writes ({write:.0%} of memory attention on the sequence)"
    else:
        role = f"memory processes ({1 - write:.0%} of memory attention on memory)"
    reader, read = "the sequence reads", blocks["read"]
    if "read_answer" in blocks:
        reader, read = f"{answers} read", blocks["read_answer"]
    return f"{role}, {reader} memory ({read:.0%})"


def even_memory_share(layout: dict[str, list[int]] | None, causal: bool = False) -> float | None:
    """The memory share of a query spreading its attention evenly over the keys it may read:
    the baseline a read or a write must beat to mean anything (None without memory). In a
    causal encoder sequence position i reads memory and i + 1 positions, so the baseline is
    averaged over the answer rows (the sequence rows where the layout names none)."""
    if not layout or layout["mem"][1] == layout["mem"][0]:
        return None
    m, t = layout["mem"][1] - layout["mem"][0], max(end for _, end in layout.values())
    if not causal:
        return m / t
    start, end = layout.get("answer", (m, t))
    return sum(m / (q + 1) for q in range(start, end)) / (end - start)


def roles_sentence(
    layers: list[dict[str, float]],
    cross: list[dict[str, float]],
    even: float | None = None,
    answers: str = "the answer slots",
) -> str:
    """Per layer roles, then per decoder layer the cross-attention on encoder memory, then the
    even-spread baseline when given; `answers` names the answer rows (see `answer_words`)."""
    if layers and "write" not in layers[0]:
        return "no memory tokens: every query attends to the sequence"
    parts = [f"layer {i}: {layer_roles(b, answers)}" for i, b in enumerate(layers, 1)]
    parts += [
        f"decoder layer {i}: reads encoder memory ({c['mem']:.0%} of cross-attention)"
        for i, c in enumerate(cross, 1)
        if "mem" in c
    ]
    if even is not None:
        parts.append(f"attention spread evenly would put {even:.0%} on memory")
    return "; ".join(parts)


SHAPES = {
    "diagonal": "a sharp diagonal",
    "band": "a blurred diagonal",
    "stripe": "vertical stripes",
}


def pattern_words(scores: dict[str, float], shape: tuple[int, int]) -> str | None:
    """The first of diagonal, band, stripe that stands out in a block of this shape, in words;
    else focused queries if spread <= 0.3; else None. Standing out: >= 0.5 and at least twice
    its value under uniform attention (a 4 x 4 block puts 0.62 of uniform mass in the width-1
    band). A high spread is never news: uniform attention is a perfect horizontal spread."""
    uniform = {key: v.item() for key, v in pattern_scores(torch.ones(shape)).items()}
    for key, words in SHAPES.items():
        value = scores.get(key, math.nan)  # NaN (never standing out) where undefined
        if value >= max(0.5, 2 * uniform.get(key, 0.0)):
            return f"{words} ({key} {value:.2f})"
    if scores.get("spread", math.nan) <= 0.3:
        return f"focused queries, each on few keys (spread {scores['spread']:.2f})"
    return None


def layer_means(part: dict[str, list] | None) -> list[dict[str, float]]:
    """{name: [layer][head]} -> per layer {name: mean over heads}."""
    part = part or {}
    layers = len(next(iter(part.values()), []))
    return [{name: head_mean(v[i]) for name, v in part.items()} for i in range(layers)]


def describe_attention(summary: dict[str, Any]) -> str:
    """One paragraph on one trial's summary: roles per layer, then notable block shapes."""
    layout = summary["layout"]
    blocks, cross = layer_means(summary["blocks"]), layer_means(summary.get("cross"))
    even = even_memory_share(layout, summary.get("causal", False))
    text = roles_sentence(blocks, cross, even, answer_words(layout))
    text = text[0].upper() + text[1:] + "."
    sizes = {"mem": layout["mem"][1] - layout["mem"][0]}
    sizes["seq"] = max(end for _, end in layout.values()) - sizes["mem"]
    shapes = []
    for name, by_score in summary["patterns"].items():
        rows, cols = BLOCKS[name]
        for i, scores in enumerate(layer_means(by_score), 1):
            words = pattern_words(scores, (sizes[rows], sizes[cols]))
            if words:
                shapes.append(f"layer {i} {name}: {words}")
    if shapes:
        text += " Block shapes (head means): " + "; ".join(shapes) + "."
    return text + segment_words(summary.get("segments"))


def segment_words(segments: list[dict[str, Any]] | None) -> str:
    """A recurrent model's segments in one sentence (one trial's summary)."""
    if not segments:
        return ""
    return segment_sentence([layer_means(segment["blocks"]) for segment in segments])


def segment_sentence(segments: list[list[dict[str, float]]]) -> str:
    """Per segment and layer, the share of memory's attention on the sequence (write) and of the
    sequence's, or the answer rows', on memory (read), so writes early and reads at the end
    show; '' without memory or segments. `segments`: per segment, layer_means of its blocks."""
    if not segments or "write" not in segments[0][0]:
        return ""

    def shares(layers: list[dict[str, float]], key: str) -> str:
        return "/".join(f"{layer[key]:.0%}" for layer in layers)

    parts = []
    for i, layers in enumerate(segments, 1):
        read = "read_answer" if "read_answer" in layers[0] else "read"
        reader = "answers read" if read == "read_answer" else "read"
        parts.append(f"{i}: write {shares(layers, 'write')}, {reader} {shares(layers, read)}")
    return " Per segment (by layer): " + "; ".join(parts) + "."


def seed_mean_segments(summaries: list[dict[str, Any]]) -> list[list[dict[str, float]]]:
    """Per segment and layer, each block's mean over seeds (the recurrent models' records)."""
    per_seed = [[layer_means(seg["blocks"]) for seg in s.get("segments") or []] for s in summaries]
    if not per_seed[0] or any(len(p) != len(per_seed[0]) for p in per_seed):
        return []
    return [
        [
            {k: sum(p[i][j][k] for p in per_seed) / len(per_seed) for k in layer}
            for j, layer in enumerate(segment)
        ]
        for i, segment in enumerate(per_seed[0])
    ]


# ---- across seeds, for the report ----


def interval(values: list[float], level: float = 0.95) -> dict[str, float | None]:
    """Mean and two-sided t-interval over seeds of a share, cut at [0, 1] (bounds None with one
    seed)."""
    from membench.analysis.stats import clip, mean_interval
    from membench.metrics import UNIT

    x = [v for v in values if not math.isnan(v)]
    if not x:
        return {"mean": None, "low": None, "high": None}
    mean = sum(x) / len(x)
    if len(x) < 2:
        return {"mean": mean, "low": None, "high": None}
    low, high, _ = clip(*mean_interval(x, level), UNIT)
    return {"mean": mean, "low": low, "high": high}


def by_layer(summaries: list[dict[str, Any]], part: str) -> list[dict[str, Any]]:
    """Per layer: each name's head mean per seed, then its interval over seeds."""
    seeds = [layer_means(s.get(part)) for s in summaries]
    return [
        {"layer": i + 1} | {name: interval([s[i][name] for s in seeds]) for name in layer}
        for i, layer in enumerate(seeds[0])
    ]


def attention_section(df) -> list[dict[str, Any]]:
    """Per (task, variant) of a DataFrame with columns task, variant, seed, attention (the
    records' summaries; rows without one, or with a status other than ok, are skipped): block
    mass by layer over seeds with 95% t-intervals, decoder cross-attention if any, and a sentence
    on what each layer does."""
    if "attention" not in df.columns:
        return []
    usable = df["attention"].map(lambda a: isinstance(a, dict))
    if "status" in df.columns:
        usable &= df["status"] == "ok"
    section = []
    for (task, variant), cell in df[usable].groupby(["task", "variant"], sort=False, dropna=False):
        summaries = list(cell.sort_values("seed")["attention"])
        layers, cross = by_layer(summaries, "blocks"), by_layer(summaries, "cross")
        means = [{k: v["mean"] for k, v in layer.items() if k != "layer"} for layer in layers]
        decoder = [{k: v["mean"] for k, v in layer.items() if k != "layer"} for layer in cross]
        section.append(
            {
                "task": task,
                "variant": None if variant != variant else variant,  # NaN from dropna=False
                "seeds": len(summaries),
                "layers": layers,
                "cross": cross,
                "sentence": roles_sentence(
                    means,
                    decoder,
                    even_memory_share(
                        summaries[0].get("layout"), summaries[0].get("causal", False)
                    ),
                    answer_words(summaries[0].get("layout")),
                )
                + segment_sentence(seed_mean_segments(summaries))
                .replace(" Per segment", "; per segment", 1)
                .rstrip("."),
            }
        )
    return section
