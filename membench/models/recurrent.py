"""arch `recurrent`: the Recurrent Memory Transformer (Bulatov, Kuratov, Burtsev, arXiv 2207.06881).

The source is cut into segments of `segment` tokens; each is read as `[mem; segment]` by the
encoder of `transformer.py` (memory, controller, bottleneck and the causal default as there), and
the memory rows of its output are the memory of the next segment, the first starting from the
learned memory vectors. What the task's layout adds after the source (SEP and the answer slots)
or the answer rows in it (assoc_recall's queries) join the last segment, whose answer rows are
read as in the encoder. So the answers see memory and the last segment only, and memory is the
one path by which an earlier segment reaches them. With `mem_tokens: 0` nothing crosses: the
answers see the last segment alone (RMT's no-memory control, which scores near chance on copy).

Why the rest of the design: every token keeps the position embedding it has in the encoder (its
position in the whole input), and the module has the encoder's parameters under the same names,
so the recurrent model differs from `arch: encoder` only in what attends to what: with one
segment it is the encoder (same state dict, same outputs), and a comparison of the two at the
same size isolates the recurrence. (RMT itself reuses positions per segment; absolute positions
tell memory which segment it is reading without it having to count.) The memory handed on is
the encoder's output after its final LayerNorm, so memory enters every segment at the same scale
however many segments came before.
"""

from __future__ import annotations

import contextlib

import torch

from membench.config.spec import ModelConfig
from membench.models.transformer import MemoryTransformer, check_lengths


class RecurrentMemoryTransformer(MemoryTransformer):
    """The encoder (`MemoryTransformer`, whose parameters and layout it keeps) run segment by
    segment with memory carried across. `bptt: k` lets gradients flow back through the last k
    segments only (the last one, with the answers, counts): the segments before them run without
    gradients, as if the memory they hand on were detached, so neither they nor the learned
    initial memory are trained from this step. `bptt: 0` (or >= the segment count): all."""

    def __init__(
        self,
        cfg: ModelConfig,
        vocab_size: int,
        src_len: int,
        tgt_len: int,
        answer_positions: list[int] | None = None,
    ):
        super().__init__(cfg, vocab_size, src_len, tgt_len, answer_positions)
        # the tokens before any answer row are cut; answer rows (and SEP, slots) join the last
        context = src_len if self.answer_positions is None else min(self.answer_positions)
        starts = list(range(0, context, cfg.segment)) or [0]
        total = self.pos.num_embeddings  # every input token: source, then SEP and slots if any
        # the token range [start, end) of each segment
        self.bounds = list(zip(starts, [*starts[1:], total], strict=True))
        self.segment, self.bptt = cfg.segment, cfg.bptt
        self.full_layout = self.layout  # the encoder's, over the whole input
        self.segment_layouts = [cut_layout(self.full_layout, s, e) for s, e in self.bounds]
        self.layout = self.segment_layouts[-1]  # the step the answers come from
        self.knockout_segment = None  # None: a knockout cuts every segment; i: segment i only

    def carry(self, i: int, memory: torch.Tensor) -> torch.Tensor:
        """The memory handed from segment i to segment i + 1: the one place where anything
        crosses a segment boundary (tests replace it to cut the path)."""
        return memory

    def hidden(self, src, tgt_len, capture=False):
        """The answer rows of the last segment, [B, Lt, d_model] (the head's input), and every
        segment's attention maps."""
        check_lengths(self, src, tgt_len)
        b, m = src.size(0), self.mem.size(0)
        tokens = src
        if self.answer_positions is None:
            sep = torch.full((b, 1), self.sep, dtype=src.dtype, device=src.device)
            slots = torch.full((b, tgt_len), self.slot, dtype=src.dtype, device=src.device)
            tokens = torch.cat([src, sep, slots], dim=1)
        x = self.drop(self.tok(tokens) + self.pos.weight)
        memory = self.mem.expand(b, -1, -1)
        n = len(self.bounds)
        trained_from = n - self.bptt if 0 < self.bptt < n else 0  # first segment with gradients
        segment_maps = []
        for i, (start, end) in enumerate(self.bounds):
            last = i == n - 1
            if m == 0 and not last:  # the no-memory control: nothing crosses, nothing to run
                segment_maps.append([])
                continue
            knockout = self.knockout if self.knockout_segment in (None, i) else None
            frozen = torch.no_grad() if i < trained_from else contextlib.nullcontext()
            with frozen:
                out, maps = self.encoder(
                    torch.cat([memory, x[:, start:end]], dim=1),
                    capture,
                    tail=self.tail if last else None,
                    knockout=knockout,
                )
            segment_maps.append(maps)
            if not last:
                memory = self.carry(i, out[:, :m])
        out = out[:, -self.tail :]
        return (out if self.rows is None else out.index_select(1, self.rows)), segment_maps

    def forward(self, src, tgt, return_attention=False):
        """With `return_attention`: `self` holds the last segment's maps (the answers' step, over
        `layout`), `segments` every segment's (over `segment_layouts`), the last included."""
        logits, segment_maps = self.run(src, tgt.size(1), return_attention)
        if not return_attention:
            return logits
        return logits, {"self": segment_maps[-1], "segments": segment_maps}


def cut_layout(layout: dict[str, tuple[int, int]], start: int, end: int) -> dict:
    """An encoder layout restricted to the tokens [start, end) of one segment, memory first:
    `mem` and `src` always, `sep` and `answer` where the segment has them."""
    m = layout["mem"][1]
    cut = {"mem": (0, m)}
    for group, (a, b) in layout.items():
        if group != "mem":
            a, b = max(a, m + start) - start, min(b, m + end) - start
            if b > a or group == "src":
                cut[group] = (a, max(a, b))
    return cut


__all__ = ["RecurrentMemoryTransformer", "cut_layout"]
