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
    # a recurrent model: `self` is its last segment, then each one (none without memory: only
    # the answers' segment runs)
    if "segments" in attention and all(attention["segments"]):
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
