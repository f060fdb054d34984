"""The memory Transformer family, encoder form (Burtsev et al., arXiv 2006.11527).

One pre-LN bidirectional encoder reads `[mem; src; SEP; answer slots]` and predicts every target
token at once from its answer slot; for a task that names answer positions (assoc_recall: each
query's own position) it reads `[mem; src]` and predicts each target token from the output row at
its source position instead. The memory variants differ only in how one layer routes
information between memory and sequence positions (`EncoderLayer`):

- plain Transformer (mem_tokens=0) and MemTransformer: one block over everything;
- MemCtrl (controller dedicated / dedicated_shared): memory rows are updated by a controller
  block with its own parameters (one per layer, or one for all layers);
- MemBottleneck: memory is updated first, then the sequence reads the updated memory only.

Attention maps are computed (explicit softmax) only when asked; otherwise the fused
`scaled_dot_product_attention` kernel runs and no maps exist. Weights keep PyTorch's default
initialisation: on these small synthetic tasks it trains faster than GPT-2's std 0.02 (a memory
bottleneck on copy especially).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from membench.config.spec import ModelConfig
from membench.models.masks import (
    causal_mask,
    combine,
    interspersed_mask,
    knockout_mask,
    reads_mask,
)


class Attention(nn.Module):
    """Multi-head attention: queries from `x`, keys and values from `context` (the same tensor for
    self-attention), through one fused qkv projection. With `mem_kv: N` (persistent memory),
    N learned keys and values per head are read beside the context's, by every query, under
    every mask: they hold no sequence position, so nothing writes them but the gradient."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.mem_kv = cfg.mem_kv
        if cfg.mem_kv:  # small: they start near blank, as memory tokens do
            shape = (cfg.n_heads, cfg.mem_kv, cfg.d_model // cfg.n_heads)
            self.mem_k = nn.Parameter(0.02 * torch.randn(shape))
            self.mem_v = nn.Parameter(0.02 * torch.randn(shape))

    def forward(self, x, context, causal=False, capture=False, mask=None):
        """`mask`: None, or bool [queries, keys], True where a query may attend (knockouts); a
        query row with no allowed key reads nothing (its attention output is exactly 0)."""
        d = x.size(-1)
        if context is x:
            q, k, v = self.qkv(x).split(d, dim=-1)
        else:  # same weights, queries and keys/values from different positions
            w, b = self.qkv.weight, self.qkv.bias
            q = F.linear(x, w[:d], b[:d])
            k, v = F.linear(context, w[d:], b[d:]).split(d, dim=-1)
        q, k, v = (t.unflatten(-1, (self.n_heads, -1)).transpose(1, 2) for t in (q, k, v))
        p = self.dropout if self.training else 0.0
        empty = None
        if mask is not None:
            empty = ~mask.any(dim=-1)  # rows that may read nothing: computed, then zeroed
            mask = mask | empty[:, None]
        if self.mem_kv:
            k, v, mask, causal = self.with_persistent(k, v, mask, causal)
        if capture:
            scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
            if causal:
                future = torch.ones(scores.shape[-2:], dtype=torch.bool, device=x.device).triu(1)
                scores = scores.masked_fill(future, float("-inf"))
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            if empty is not None:
                weights = weights.masked_fill(empty[:, None], 0.0)
            y = F.dropout(weights, p, self.training) @ v
            weights = weights[..., self.mem_kv :]  # the maps cover sequence positions only
        else:
            weights = None
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal and mask is None
            )
        out = self.proj(y.transpose(1, 2).flatten(2))
        if empty is not None:  # no `empty.any()` test: it would wait for the GPU every call
            out = out.masked_fill(empty[:, None], 0.0)
        return out, weights

    def with_persistent(self, k, v, mask, causal):
        """Keys and values with the persistent ones first, and the mask (a causal one made
        explicit) with columns for them that every query may read."""
        b, keys = k.size(0), k.size(2)
        k = torch.cat([self.mem_k.expand(b, -1, -1, -1), k], dim=2)
        v = torch.cat([self.mem_v.expand(b, -1, -1, -1), v], dim=2)
        if causal:
            allowed = torch.ones(keys, keys, dtype=torch.bool, device=k.device).tril()
            mask = allowed if mask is None else mask & allowed
            causal = False
        if mask is not None:
            first = torch.ones(mask.size(0), self.mem_kv, dtype=torch.bool, device=k.device)
            mask = torch.cat([first, mask], dim=1)
        return k, v, mask, causal


class Block(nn.Module):
    """Pre-LN Transformer block that updates `x` reading `context` (x itself for self-attention):
    x + attention, then + GELU FFN. Returns (new x, attention weights or None). A context that
    is not x is normalised by the same LayerNorm, unless `norm_context` is False (a decoder's
    cross-attention reads the encoder output as it is)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.ffn = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model)
        )
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, context, capture=False, mask=None, norm_context=True):
        h = self.ln1(x)
        if context is x:
            context = h
        elif norm_context:
            context = self.ln1(context)
        a, weights = self.attn(h, context, capture=capture, mask=mask)
        x = x + self.drop(a)
        x = x + self.drop(self.ffn(self.ln2(x)))
        return x, weights


class EncoderLayer(nn.Module):
    """One layer over `[mem; seq]` (the first `mem_tokens` positions are memory).

    Without controller or bottleneck, one block updates every position. Otherwise memory rows and
    sequence rows are updated separately: memory by the controller block if there is one (else by
    this layer's block), reading `[mem; seq]`; the sequence by this layer's block, reading the
    layer input `[mem; seq]` (parallel update) or, under the bottleneck, the updated memory only.
    """

    def __init__(self, cfg: ModelConfig, controller: Block | None = None):
        super().__init__()
        self.block = Block(cfg)
        self.controller = controller  # may be the same module in every layer (dedicated_shared)
        self.mem_tokens = cfg.mem_tokens
        self.bottleneck = cfg.bottleneck

    def forward(self, x, capture=False, tail=None, mask=None):
        """`tail`: return only the last `tail` (sequence) rows, computing no other row's update:
        every row is independent after attention, so those are exact and the rest is saved.
        `mask`: None or bool [T, T] over `[mem; seq]`, True where a query may attend."""
        m = self.mem_tokens

        def rows(part, keys=slice(None)):  # the mask's rows for these queries, these keys
            return None if mask is None else part(mask)[:, keys]

        if self.controller is None and not self.bottleneck:
            last = (lambda t: t) if tail is None else (lambda t: t[-tail:])
            return self.block(x if tail is None else x[:, -tail:], x, capture, rows(last))
        mem, seq = x[:, :m], x[:, m:]
        seq_rows = (lambda t: t[m:]) if tail is None else (lambda t: t[m:][-tail:])
        if tail is not None:
            seq = seq[:, -tail:]
            if not self.bottleneck:  # the sequence reads the layer input, not the new memory
                return self.block(seq, x, capture, rows(seq_rows))
        mem_block = self.block if self.controller is None else self.controller
        new_mem, mem_weights = mem_block(mem, x, capture, rows(lambda t: t[:m]))
        if self.bottleneck:  # the sequence reads the updated memory only
            new_seq, seq_weights = self.block(seq, new_mem, capture, rows(seq_rows, slice(0, m)))
        else:
            new_seq, seq_weights = self.block(seq, x, capture, rows(seq_rows))
        if tail is not None:
            return new_seq, None
        weights = None
        if capture:  # one [T, T] map: memory rows on top, sequence rows below
            if self.bottleneck:  # sequence keys were never offered: exactly zero weight
                seq_weights = F.pad(seq_weights, (0, seq.size(1)))
            weights = torch.cat([mem_weights, seq_weights], dim=2)
        return torch.cat([new_mem, new_seq], dim=1), weights


class Encoder(nn.Module):
    """`n_layers` encoder layers and a final LayerNorm; builds the controllers the config asks for.
    Returns (output, per-layer attention maps, None entries when not captured). With `tail`, the
    output is the last `tail` rows only, and the last layer computes no other row (the answer
    rows are all the head reads; captured maps need every row, so capturing ignores `tail`)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        shared = Block(cfg) if cfg.controller == "dedicated_shared" else None

        def controller():
            return Block(cfg) if cfg.controller == "dedicated" else shared

        self.layers = nn.ModuleList(EncoderLayer(cfg, controller()) for _ in range(cfg.n_layers))
        self.causal = cfg.causal
        self.mem_reads = cfg.mem_reads
        self.ln_f = nn.LayerNorm(cfg.d_model)

    def forward(self, x, capture=False, tail=None, knockout=None, context=None, mask=None):
        """`knockout`: None, "read" (no sequence position attends to memory, in any layer) or
        "write" (memory attends to memory only: it carries its learned vectors and its own
        processing, nothing of the sequence). `context`: how many sequence positions (from the
        first) are the context that memory reads under `mem_reads: context` (None: all).
        `mask`: the whole mask, given (interspersed memory), instead of the one built here."""
        maps = []
        last = len(self.layers) - 1
        m, t = self.layers[0].mem_tokens, x.size(1)
        if mask is None:
            mask = combine(
                knockout_mask(knockout, m, t, x.device),
                causal_mask(m, t, x.device) if self.causal else None,
                reads_mask(self.mem_reads, m, t, context, x.device),
            )
        for i, layer in enumerate(self.layers):
            x, weights = layer(x, capture, tail if i == last and not capture else None, mask)
            maps.append(weights)
        return self.ln_f(x), maps


def check_lengths(model: nn.Module, src: torch.Tensor, tgt_len: int) -> None:
    """Positional tables and `layout` are sized when the model is built: other lengths fail."""
    if src.size(1) != model.src_len or tgt_len != model.tgt_len:
        raise ValueError(
            f"model built for src length {model.src_len} and tgt length {model.tgt_len}, "
            f"got {src.size(1)} and {tgt_len}"
        )


def check_positions(positions, src_len: int, tgt_len: int) -> list[int] | None:
    """Answer positions as a list of ints, one source index per target token, or None."""
    if positions is None:
        return None
    positions = [int(p) for p in positions]
    if len(positions) != tgt_len or not all(0 <= p < src_len for p in positions):
        raise ValueError(
            f"answer_positions {positions}: need one source index in [0, {src_len}) for each of "
            f"the {tgt_len} target tokens"
        )
    return positions


class MemoryTransformer(nn.Module):
    """arch `encoder`, non-autoregressive: one prediction per target token. Never reads target
    values, only their count.

    Without `answer_positions` it reads `[mem; src; SEP; answer slots]` and predicts target t at
    answer slot t. With them (one source index per target token, from the task) it reads
    `[mem; src]` and predicts target t from the output row at source position
    `answer_positions[t]`: no SEP, no slots. The layout then names the answer rows `answer` when
    they are the source's last positions in order (assoc_recall's queries), `src` being the
    source before them; other placements leave `src` whole and name no answer rows."""

    def __init__(
        self,
        cfg: ModelConfig,
        vocab_size: int,
        src_len: int,
        tgt_len: int,
        answer_positions: list[int] | None = None,
    ):
        super().__init__()
        self.src_len, self.tgt_len = src_len, tgt_len
        self.answer_positions = check_positions(answer_positions, src_len, tgt_len)
        m, d = cfg.mem_tokens, cfg.d_model
        if self.answer_positions is None:
            self.sep, self.slot = vocab_size, vocab_size + 1  # the ids after the task's symbols
            self.tok = nn.Embedding(vocab_size + 2, d)
            self.pos = nn.Embedding(src_len + 1 + tgt_len, d)  # src, SEP, each answer slot
            self.tail = tgt_len
            self.context = src_len  # memory under mem_reads "context" reads the source
            rows = range(tgt_len)
            blocks = [("src", src_len), ("sep", 1), ("answer", tgt_len)]
        else:
            self.tok = nn.Embedding(vocab_size, d)
            self.pos = nn.Embedding(src_len, d)
            first = min(self.answer_positions)
            self.tail = src_len - first  # the last layer computes these source rows only
            self.context = first  # the source before the first answer row
            rows = [p - first for p in self.answer_positions]
            blocks = [("src", src_len)]
            if self.answer_positions == list(range(first, src_len)):
                blocks = [("src", first), ("answer", src_len - first)]
        self.place_tokens(cfg, blocks)
        # which of the last `tail` output rows holds each target token's prediction (None: all,
        # in order, as for answer slots and assoc_recall's queries)
        rows = None if list(rows) == list(range(self.tail)) else torch.tensor(list(rows))
        self.register_buffer("rows", rows, persistent=False)
        self.mem = nn.Parameter(0.02 * torch.randn(m, d))  # small: starts near blank
        self.knockout = None  # "read" / "write": evaluate with memory cut off (models.knockout)
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = Encoder(cfg)
        self.head = nn.Linear(d, vocab_size)

    def place_tokens(self, cfg: ModelConfig, blocks: list[tuple[str, int]]) -> None:
        """The layout over `[mem; sink; sequence blocks with the pause tokens before the
        answers]`, and the learned vectors of the sink and pause tokens (small, as memory's).
        Interspersed memory (`mem_every`) has rows all through the sequence: no block layout,
        and the mask that places memory before every `mem_every` positions (`mem_rows`)."""
        d, m = cfg.d_model, cfg.mem_tokens
        self.sink = nn.Parameter(0.02 * torch.randn(1, d)) if cfg.sink else None
        self.pause = (
            nn.Parameter(0.02 * torch.randn(cfg.pause_tokens, d)) if cfg.pause_tokens else None
        )
        if self.pause is not None:
            if blocks[-1][0] != "answer":
                raise ValueError(
                    "pause_tokens: this task's answer rows are spread through its input, so "
                    "there is no place before the answers for them; drop pause_tokens"
                )
            self.pause_at = sum(n for _, n in blocks[:-1])  # a sequence index: before answers
            blocks = [*blocks[:-1], ("pause", cfg.pause_tokens), blocks[-1]]
        if self.sink is not None:
            blocks = [("sink", 1), *blocks]
            self.context += 1  # memory under mem_reads "context" reads the sink too
        self.layout, start = {"mem": (0, m)}, m
        for name, n in blocks:
            self.layout[name] = (start, start + n)
            start += n
        self.every = cfg.mem_every
        if self.every:
            length = start - m  # sequence positions, memory before each run of `every`
            chunks = [[True] * m + [False] * min(self.every, length - i)
                      for i in range(0, length, self.every)]  # fmt: skip
            mem_rows = torch.tensor([r for chunk in chunks for r in chunk])
            self.register_buffer("mem_rows", mem_rows, persistent=False)
            self.layout = None
            self.no_layout = (
                "no attention summary: interspersed memory (mem_every) has rows all through "
                "the sequence, where the summary's blocks assume memory first"
            )

    def run(self, src, tgt_len, capture=False):
        hidden, maps = self.hidden(src, tgt_len, capture)
        return self.head(hidden), maps

    def hidden(self, src, tgt_len, capture=False):
        """The output row each target token is predicted from, [B, Lt, d_model] (the head's
        input), and the attention maps."""
        check_lengths(self, src, tgt_len)
        b = src.size(0)
        tokens = src
        if self.answer_positions is None:
            sep = torch.full((b, 1), self.sep, dtype=src.dtype, device=src.device)
            slots = torch.full((b, tgt_len), self.slot, dtype=src.dtype, device=src.device)
            tokens = torch.cat([src, sep, slots], dim=1)
        x = self.drop(self.tok(tokens) + self.pos.weight)
        if self.pause is not None:
            at = self.pause_at
            x = torch.cat([x[:, :at], self.pause.expand(b, -1, -1), x[:, at:]], dim=1)
        if self.sink is not None:
            x = torch.cat([self.sink.expand(b, -1, -1), x], dim=1)
        if self.every:
            x, maps = self.interspersed(x, capture)
        else:
            x = torch.cat([self.mem.expand(b, -1, -1), x], dim=1)
            x, maps = self.encoder(
                x, capture, tail=self.tail, knockout=self.knockout, context=self.context
            )
        x = x[:, -self.tail :]
        return (x if self.rows is None else x.index_select(1, self.rows)), maps

    def interspersed(self, x, capture):
        """The encoder over the sequence with memory before every `mem_every` positions (the
        same learned vectors each time); returns the sequence rows. Causal: each row, memory
        included, reads itself and what comes before it."""
        mem, parts = self.mem.expand(x.size(0), -1, -1), []
        for start in range(0, x.size(1), self.every):
            parts += [mem, x[:, start : start + self.every]]
        mask = interspersed_mask(self.mem_rows, self.encoder.causal, self.knockout)
        out, maps = self.encoder(torch.cat(parts, dim=1), capture, mask=mask)
        return out[:, ~self.mem_rows], maps

    def forward(self, src, tgt, return_attention=False):
        logits, maps = self.run(src, tgt.size(1), return_attention)
        return (logits, {"self": maps}) if return_attention else logits

    def forward_scored(self, src, tgt, keep):
        """Logits [N, V] at the N target tokens where `keep` [B, Lt] is True, in row-major
        order: `forward(src, tgt)[keep]` without the output head over the rows nobody scores
        (MQAR scores 4 of 56 target tokens; the head and loss were 88% of its CPU step)."""
        return self.head(self.hidden(src, tgt.size(1))[0][keep])

    @torch.no_grad()
    def predict(self, src, tgt_len):
        return self.run(src, tgt_len)[0].argmax(dim=-1)
