"""Variants of the plain encoder for the assoc_recall experiments (`bench/recall_sweep.py`).

A factory with membench's contract, `build(model_config, vocab_size, src_len, tgt_len,
answer_positions=None)`, usable as `membench train --factory bench.recall_models:build`. With no
options it is the built-in plain encoder (pre-LN, bidirectional, learned absolute positions drawn
N(0, 1), PyTorch default init, d_model 64, 2 layers, 4 heads, d_ff 256, answers read at the task's
answer positions); each option changes one thing:

- `pos`: `learned` (default) | `sinusoidal` (fixed, added to the token embedding) | `rope`
  (rotary on queries and keys of every layer, no absolute table) | `none`;
- `pos_std`: std of the learned table's init (default 1.0, nn.Embedding's);
- `qk_norm`: LayerNorm on each head's queries and keys (scores then scaled by a learned
  per-head temperature, init sqrt(head_dim) so the start matches plain attention's scale);
- `qk_scale`: a fixed factor on every attention score (an inverse temperature; 1 = plain);
- `conv`: kernel size of a short causal depthwise convolution (a residual sublayer before
  attention in every block, as zoology's BaseConv/Based pair conv with attention); 0 = none;
- `causal`: causal attention mask (zoology's models are causal LMs);
- `init`: `default` (PyTorch) | `gpt2` (Linear/Embedding weights N(0, 0.02), zero biases);
- `d_model`, `n_layers`, `n_heads`, `d_ff` (0: no FFN, as zoology's attention baseline), `dropout`.

`membench train` cannot pass these options to a factory, so `build_causal` and `build_qk_norm`
fix one each: `PYTHONPATH=. membench train --task assoc_recall --factory
bench.recall_models:build_causal --no-attention` (no attention maps: `forward` takes no
`return_attention`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

DEFAULTS = {
    "d_model": 64,
    "n_layers": 2,
    "n_heads": 4,
    "d_ff": 256,
    "dropout": 0.0,
    "pos": "learned",
    "pos_std": 1.0,
    "qk_norm": False,
    "qk_scale": 1.0,
    "conv": 0,
    "causal": False,
    "init": "default",
}


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding (half-split form) on [B, H, T, Dh]."""
    a, b = x.chunk(2, dim=-1)
    return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


def sinusoid(length: int, d: int, base: float = 10000.0) -> torch.Tensor:
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = base ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    table = torch.zeros(length, d)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)
    return table


class Attention(nn.Module):
    def __init__(self, c: dict, length: int):
        super().__init__()
        d, h = c["d_model"], c["n_heads"]
        self.h, self.dh = h, d // h
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.causal = c["causal"]
        self.dropout = c["dropout"]
        self.qk_norm = c["qk_norm"]
        self.qk_scale = c["qk_scale"]
        if self.qk_norm:
            self.q_ln, self.k_ln = nn.LayerNorm(self.dh), nn.LayerNorm(self.dh)
            self.temp = nn.Parameter(torch.full((h, 1, 1), math.sqrt(self.dh)))
        self.rope = c["pos"] == "rope"
        if self.rope:
            angles = sinusoid_angles(length, self.dh)
            self.register_buffer("cos", angles.cos(), persistent=False)
            self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x):
        q, k, v = self.qkv(x).split(x.size(-1), dim=-1)
        q, k, v = (t.unflatten(-1, (self.h, self.dh)).transpose(1, 2) for t in (q, k, v))
        if self.qk_norm:
            q, k = self.q_ln(q), self.k_ln(k)
            q = q * self.temp / math.sqrt(self.dh)  # sdpa divides by sqrt(dh) again
        if self.qk_scale != 1.0:
            q = q * self.qk_scale
        if self.rope:
            q, k = rotate(q, self.cos, self.sin), rotate(k, self.cos, self.sin)
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)
        return self.proj(y.transpose(1, 2).flatten(2))


def sinusoid_angles(length: int, dh: int) -> torch.Tensor:
    """[T, dh/2] rotary angles (one per pair of channels, half-split form)."""
    freq = 10000.0 ** (-torch.arange(0, dh, 2, dtype=torch.float32) / dh)
    return torch.arange(length, dtype=torch.float32)[:, None] * freq


class ShortConv(nn.Module):
    """Causal depthwise convolution over positions: y_t = sum_j w_j * x_{t-j}."""

    def __init__(self, d: int, kernel: int):
        super().__init__()
        self.conv = nn.Conv1d(d, d, kernel, groups=d, padding=kernel - 1)

    def forward(self, x):
        return self.conv(x.transpose(1, 2))[..., : x.size(1)].transpose(1, 2)


class Block(nn.Module):
    def __init__(self, c: dict, length: int):
        super().__init__()
        d = c["d_model"]
        self.conv = None
        if c["conv"]:
            self.ln0 = nn.LayerNorm(d)
            self.conv = ShortConv(d, c["conv"])
        self.ln1 = nn.LayerNorm(d)
        self.attn = Attention(c, length)
        self.ffn = None
        if c["d_ff"]:
            self.ln2 = nn.LayerNorm(d)
            self.ffn = nn.Sequential(nn.Linear(d, c["d_ff"]), nn.GELU(), nn.Linear(c["d_ff"], d))
        self.drop = nn.Dropout(c["dropout"])

    def forward(self, x):
        if self.conv is not None:
            x = x + self.conv(self.ln0(x))
        x = x + self.drop(self.attn(self.ln1(x)))
        if self.ffn is not None:
            x = x + self.drop(self.ffn(self.ln2(x)))
        return x


class RecallEncoder(nn.Module):
    def __init__(self, c: dict, vocab_size: int, src_len: int, tgt_len: int, answer_positions):
        super().__init__()
        if answer_positions is None:
            raise ValueError("bench.recall_models reads answers at the task's answer positions")
        self.src_len, self.tgt_len = src_len, tgt_len
        self.register_buffer("rows", torch.tensor(list(answer_positions)), persistent=False)
        d = c["d_model"]
        self.tok = nn.Embedding(vocab_size, d)
        self.pos = None
        if c["pos"] == "learned":
            self.pos = nn.Embedding(src_len, d)
            nn.init.normal_(self.pos.weight, std=c["pos_std"])
        elif c["pos"] == "sinusoidal":
            self.register_buffer("table", sinusoid(src_len, d), persistent=False)
        self.sinusoidal = c["pos"] == "sinusoidal"
        self.drop = nn.Dropout(c["dropout"])
        self.blocks = nn.ModuleList(Block(c, src_len) for _ in range(c["n_layers"]))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab_size)
        if c["init"] == "gpt2":
            for m in self.modules():
                if isinstance(m, (nn.Linear, nn.Embedding)):
                    nn.init.normal_(m.weight, std=0.02)
                    if getattr(m, "bias", None) is not None:
                        nn.init.zeros_(m.bias)
            if self.pos is not None:
                nn.init.normal_(self.pos.weight, std=c["pos_std"] if "pos_std_set" in c else 0.02)

    def run(self, src):
        x = self.tok(src)
        if self.pos is not None:
            x = x + self.pos.weight
        elif self.sinusoidal:
            x = x + self.table
        x = self.drop(x)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x).index_select(1, self.rows))

    def forward(self, src, tgt):
        return self.run(src)

    @torch.no_grad()
    def predict(self, src, tgt_len):
        return self.run(src).argmax(dim=-1)


def build(model_config: dict, vocab_size: int, src_len: int, tgt_len: int, answer_positions=None):
    unknown = set(model_config or {}) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown model options {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    c = {**DEFAULTS, **(model_config or {})}
    if "pos_std" in (model_config or {}):
        c["pos_std_set"] = True
    return RecallEncoder(c, vocab_size, src_len, tgt_len, answer_positions)


def build_causal(model_config, vocab_size, src_len, tgt_len, answer_positions=None):
    """The plain encoder with a causal attention mask (for `membench train --factory`, whose
    command line cannot pass this factory's own options)."""
    return build(
        {**(model_config or {}), "causal": True}, vocab_size, src_len, tgt_len, answer_positions
    )


def build_qk_norm(model_config, vocab_size, src_len, tgt_len, answer_positions=None):
    """The plain encoder with qk-norm (see `build_causal`)."""
    return build(
        {**(model_config or {}), "qk_norm": True}, vocab_size, src_len, tgt_len, answer_positions
    )
