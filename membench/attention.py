"""Read / write / processing analysis of memory-Transformer attention (Burtsev et al. 2020).

Queries are rows, keys are columns, over the encoder sequence `[mem | seq]`:

    processing  memory queries on memory keys      (mem -> mem)
    write       memory queries on sequence keys    (seq -> mem)
    read        sequence queries on memory keys    (mem -> seq)
    seq         sequence queries on sequence keys  (seq -> seq)

A block's mass is the share of its query rows' attention that lands on its keys, averaged over
rows and examples. Rows sum to 1, so per head processing + write = 1 and read + seq = 1: a mass
says what a query group spends its attention on, whatever the group sizes. Pattern scores (see
`pattern_scores`) describe the shape inside a block. Everything here is pure: tensors and dicts
in, JSON-ready dicts and strings out.
"""

from __future__ import annotations

import base64
import math
import zlib
from typing import Any

import torch

FORMAT = 1  # version of the record's `attention` dict
BLOCKS = {  # name: (query group, key group)
    "processing": ("mem", "mem"),
    "write": ("mem", "seq"),
    "read": ("seq", "mem"),
    "seq": ("seq", "seq"),
}
SPLIT_READS = ("src", "answer")  # with answer rows, reads split by query: read_src, read_answer
BAND_WIDTH = 1  # the blurred diagonal's half-width w
SAMPLE_BUDGET = 150_000  # characters of encoded full maps per record, whatever the model size


# ---- scores on tensors ----


def block_mass(maps: torch.Tensor, rows: tuple[int, int], cols: tuple[int, int]) -> torch.Tensor:
    """[B, H, T, T] -> [B, H]: mean over the query rows of their weight on the key columns."""
    return maps[..., rows[0] : rows[1], cols[0] : cols[1]].sum(-1).mean(-1)


def normalised_entropy(weights: torch.Tensor) -> torch.Tensor:
    """Entropy of the last axis after normalising it to sum 1, divided by log(size): 1 = even,
    0 = one entry. NaN for an all-zero vector or a size-1 axis (nothing to spread over)."""
    total = weights.sum(-1, keepdim=True)
    p = weights / total
    entropy = -torch.where(p > 0, p * p.log(), torch.zeros_like(p)).sum(-1)
    size = weights.size(-1)
    entropy = entropy / math.log(size) if size > 1 else entropy * math.nan
    return entropy.masked_fill(total.squeeze(-1) == 0, math.nan)


def pattern_scores(block: torch.Tensor, width: int = BAND_WIDTH) -> dict[str, torch.Tensor]:
    """Shape scores of one block A [..., q, k] (leading axes kept), with M = sum(A), in [0, 1]:

    - diagonal (square blocks): sum_i A_ii / M, the mass on the exact diagonal (sharp diagonal:
      each query reads itself).
    - band (square blocks): sum over |i - j| <= width of A_ij / M (blurred diagonal: queries
      average their neighbours); band >= diagonal.
    - stripe: 1 - normalised entropy of the column shares sum_i A_ij / M (vertical stripe: 1 when
      every query reads the same key, 0 when all keys get equal mass).
    - spread: the row-mass-weighted mean over rows of the normalised entropy of A_i (horizontal
      strip: 1 when each query spreads evenly over all keys, 0 when each reads one key).

    Mass-normalised, so they describe the shape whatever the block's share; NaN when the block
    has no mass (or, for stripe and spread, a single column).
    """
    mass = block.sum((-2, -1))
    rows = block.sum(-1)
    spread = (normalised_entropy(block).nan_to_num() * rows).sum(-1) / mass
    scores = {"stripe": 1 - normalised_entropy(block.sum(-2)), "spread": spread}
    q, k = block.shape[-2:]
    if q == k:
        offset = torch.arange(q).unsqueeze(1) - torch.arange(k)
        scores["diagonal"] = block.diagonal(dim1=-2, dim2=-1).sum(-1) / mass
        scores["band"] = (block * (offset.abs() <= width).to(block)).sum((-2, -1)) / mass
    if k == 1:
        scores["spread"] = spread * math.nan
    return scores


# ---- the record's summary ----


def sequence_range(layout: dict[str, tuple[int, int]], length: int) -> tuple[int, int]:
    """Every non-memory position of the encoder sequence (memory comes first)."""
    return layout["mem"][1], length


def to_json(values: torch.Tensor) -> Any:
    """Nested lists of floats rounded to 4 decimals; NaN (undefined) becomes None."""
    return [to_json(v) for v in values] if values.dim() else jsonable(values.item())


def jsonable(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def summarize_maps(
    self_maps: list[torch.Tensor],
    layout: dict[str, tuple[int, int]],
    cross_maps: list[torch.Tensor] | None = None,
    sample: int = 2,
) -> dict[str, Any]:
    """The record's `attention` dict from post-softmax maps: encoder self-attention per layer
    [B, H, T, T], optionally decoder cross-attention per layer [B, H, Lt, T]. Per block (and
    pattern) a [layer][head] list averaged over the B examples; memory blocks are absent, not
    zero, when there is no memory. Up to `sample` examples' full maps travel along, compressed
    (see `sample_maps`)."""
    maps = torch.stack([m.detach().float().cpu() for m in self_maps])  # [L, B, H, T, T]
    length = maps.size(-1)
    ranges = {"mem": layout["mem"], "seq": sequence_range(layout, length)}
    has_mem = layout["mem"][1] > layout["mem"][0]
    blocks, patterns = {}, {}
    for name, (rows, cols) in BLOCKS.items():
        if not has_mem and "mem" in (rows, cols):
            continue
        blocks[name] = to_json(block_mass(maps, ranges[rows], ranges[cols]).mean(1))
        block = maps[..., slice(*ranges[rows]), slice(*ranges[cols])]
        scores = pattern_scores(block)
        patterns[name] = {key: to_json(v.nanmean(1)) for key, v in sorted(scores.items())}
    for group in SPLIT_READS if has_mem and "answer" in layout else ():
        blocks[f"read_{group}"] = to_json(block_mass(maps, layout[group], layout["mem"]).mean(1))
    names = [g for g, (start, end) in layout.items() if end > start]
    group_mass = [[block_mass(maps, layout[q], layout[k]).mean(1) for k in names] for q in names]
    summary = {
        "format": FORMAT,
        "layout": {g: list(r) for g, r in layout.items()},
        "examples": maps.size(1),
        "layers": maps.size(0),
        "heads": maps.size(2),
        "blocks": blocks,
        "patterns": patterns,
        "band_width": BAND_WIDTH,
        "groups": {
            "names": names,
            "mass": to_json(torch.stack([torch.stack(r, -1) for r in group_mass], -2)),
        },
    }
    parts = {"self": maps}
    if cross_maps:
        cross = torch.stack([m.detach().float().cpu() for m in cross_maps])  # [L, B, H, Lt, T]
        summary["cross"] = {
            g: to_json(cross[..., slice(*ranges[g])].sum(-1).mean((1, -1)))
            for g in ("mem", "seq")
            if g == "seq" or has_mem
        }
        parts["cross"] = cross
    summary["sample"] = sample_maps(parts, sample)
    return summary


def sample_maps(parts: dict[str, torch.Tensor], examples: int) -> dict[str, Any] | None:
    """The first examples' full maps ([L, B, ...] per part), encoded [n, L, ...]: `examples` of
    them, fewer when they would pass SAMPLE_BUDGET, None when even one would."""
    for n in range(examples, 0, -1):
        sample = {name: encode_maps(m[:, :n].transpose(0, 1)) for name, m in parts.items()}
        if sum(len(part["data"]) for part in sample.values()) <= SAMPLE_BUDGET:
            return sample
    return None


@torch.no_grad()
def summarize(model, src: torch.Tensor, tgt_len: int, sample: int = 2) -> dict[str, Any] | None:
    """Attention summary of a trained model on `src`, reading its own predictions as targets
    (as at inference, so no target leaks in). None for a model without a `layout` attribute: a
    user's model opts in by providing `layout` and `forward(..., return_attention=True)`. A
    recurrent model's maps also come per segment (`segments`, over its `segment_layouts`): the
    summary then gains `segments`, one summary per segment without sampled maps (the top level
    is the last segment's, where the answers are read, with its sample)."""
    if getattr(model, "layout", None) is None:
        return None
    training = model.training
    model.eval()
    tgt = model.predict(src, tgt_len)
    _, attention = model(src, tgt, return_attention=True)
    model.train(training)
    causal = bool(getattr(getattr(model, "encoder", None), "causal", False))
    summary = summarize_maps(attention["self"], model.layout, attention.get("cross"), sample)
    if "segments" in attention:  # a recurrent model: `self` is its last segment, then each one
        summary["segments"] = [
            {k: v for k, v in summarize_maps(maps, layout, sample=0).items() if k != "sample"}
            for maps, layout in zip(attention["segments"], model.segment_layouts, strict=True)
        ]
    return summary | {"causal": causal}


def encode_maps(maps: torch.Tensor) -> dict[str, Any]:
    """A tensor as float16 bytes, zlib-compressed, base64 text: small enough to ride in JSON."""
    data = maps.to(torch.float16).contiguous().numpy().tobytes()
    text = base64.b64encode(zlib.compress(data, 9)).decode("ascii")
    return {"shape": list(maps.shape), "dtype": "float16", "data": text}


def decode_maps(encoded: dict[str, Any]) -> torch.Tensor:
    """Inverse of `encode_maps`, as float32."""
    data = bytearray(zlib.decompress(base64.b64decode(encoded["data"])))
    flat = torch.frombuffer(data, dtype=torch.float16) if data else torch.zeros(0)
    return flat.float().reshape(encoded["shape"])


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
    from membench.stats import UNIT, clip, mean_interval

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
