"""arch `encoder_decoder`: the paper's translation setup.

The encoder (memory, controller and bottleneck as in `transformer.py`) reads `[mem; src]`; a causal
pre-LN decoder reads BOS + the shifted target and cross-attends to the encoder output. Under the
bottleneck the decoder reads encoder memory only: were it to read the source positions, the
source would reach the output around the bottleneck. Answer positions (see `Task.answer_positions`)
are accepted and not used: the decoder produces every target token at its own decoder position,
reading the whole encoder output (memory only under the bottleneck) through cross-attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from membench.config.spec import ModelConfig
from membench.models.transformer import Attention, Block, Encoder, check_lengths


class DecoderBlock(nn.Module):
    """Pre-LN decoder block: causal self-attention, then a `Block` whose attention reads the
    encoder's `memory` (cross-attention) followed by the GELU FFN."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.self_attn = Attention(cfg)
        self.cross = Block(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, y, memory, capture=False, cross_mask=None):
        h = self.ln1(y)
        a, self_weights = self.self_attn(h, h, causal=True, capture=capture)
        y = y + self.drop(a)
        y, cross_weights = self.cross(y, memory, capture, cross_mask, norm_context=False)
        return y, self_weights, cross_weights


class MemoryEncoderDecoder(nn.Module):
    """Encoder over `[mem; src]`, causal decoder with `n_layers` blocks, greedy `predict`."""

    def __init__(
        self,
        cfg: ModelConfig,
        vocab_size: int,
        src_len: int,
        tgt_len: int,
        answer_positions: list[int] | None = None,  # not used: the decoder keeps its own rows
    ):
        super().__init__()
        self.src_len, self.tgt_len = src_len, tgt_len
        self.bos = vocab_size  # the one id after the task's symbols
        self.mem_tokens = cfg.mem_tokens
        self.memory_only = cfg.bottleneck
        m, d = cfg.mem_tokens, cfg.d_model
        self.tok = nn.Embedding(vocab_size + 1, d)  # shared by source and target
        self.src_pos = nn.Embedding(src_len, d)
        self.tgt_pos = nn.Embedding(tgt_len, d)
        self.mem = nn.Parameter(0.02 * torch.randn(m, d))  # small: starts near blank
        self.knockout = None  # "read" / "write" (models.knockout): reads include the decoder's
        self.drop = nn.Dropout(cfg.dropout)
        self.encoder = Encoder(cfg)
        self.decoder = nn.ModuleList(DecoderBlock(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab_size)
        self.layout = {"mem": (0, m), "src": (m, m + src_len)}

    def encode(self, src, capture=False):
        x = self.drop(self.tok(src) + self.src_pos.weight)
        x = torch.cat([self.mem.expand(src.size(0), -1, -1), x], dim=1)
        return self.encoder(x, capture, knockout=self.knockout)

    def decode(self, encoded, prefix, capture=False):
        """Logits after each prefix token (BOS first); position i sees prefix[:, : i + 1] only."""
        memory = encoded[:, : self.mem_tokens] if self.memory_only else encoded
        y = self.drop(self.tok(prefix) + self.tgt_pos.weight[: prefix.size(1)])
        cross_mask = None
        if self.knockout == "read" and self.mem_tokens:  # decoder positions read no memory
            cross_mask = torch.ones(y.size(1), memory.size(1), dtype=torch.bool, device=y.device)
            cross_mask[:, : self.mem_tokens] = False
        self_maps, cross_maps = [], []
        for block in self.decoder:
            y, self_weights, cross_weights = block(y, memory, capture, cross_mask)
            if capture and self.memory_only:  # source columns were never offered: zero weight
                cross_weights = F.pad(cross_weights, (0, encoded.size(1) - self.mem_tokens))
            self_maps.append(self_weights)
            cross_maps.append(cross_weights)
        return self.head(self.ln_f(y)), self_maps, cross_maps

    def forward(self, src, tgt, return_attention=False):
        """Teacher forcing: logits[:, t] predicts tgt[:, t] from src and tgt[:, :t]."""
        check_lengths(self, src, tgt.size(1))
        encoded, maps = self.encode(src, return_attention)
        bos = torch.full_like(tgt[:, :1], self.bos)
        logits, self_maps, cross_maps = self.decode(
            encoded, torch.cat([bos, tgt[:, :-1]], dim=1), return_attention
        )
        if not return_attention:
            return logits
        return logits, {"self": maps, "cross": cross_maps, "decoder_self": self_maps}

    @torch.no_grad()
    def predict(self, src, tgt_len):
        """Greedy decoding, one token at a time, from the model's own previous tokens."""
        check_lengths(self, src, tgt_len)
        encoded, _ = self.encode(src)
        out = torch.full((src.size(0), 1), self.bos, dtype=src.dtype, device=src.device)
        for _ in range(tgt_len):
            logits = self.decode(encoded, out)[0]
            out = torch.cat([out, logits[:, -1:].argmax(dim=-1)], dim=1)
        return out[:, 1:]
