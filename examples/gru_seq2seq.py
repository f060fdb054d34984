"""A GRU encoder-decoder behind membench's model contract (README: "Your own model").

Why: the smallest honest non-Transformer reference. It has no attention and no memory tokens, so
whatever it solves needs no attention at all; its whole view of the source is one hidden state.

    membench run examples/gru.yaml --results runs/gru
"""

import torch
from torch import nn


class GRUSeq2Seq(nn.Module):
    """Embedding, GRU encoder, GRU decoder started from the encoder's final state."""

    def __init__(self, vocab_size: int, hidden: int, layers: int):
        super().__init__()
        self.start = vocab_size  # ids from vocab_size up are free for the model's specials
        self.embed = nn.Embedding(vocab_size + 1, hidden)
        self.encoder = nn.GRU(hidden, hidden, layers, batch_first=True)
        self.decoder = nn.GRU(hidden, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: the decoder reads start, tgt[0], ..., tgt[-2]; logits [B, Lt, V]."""
        _, state = self.encoder(self.embed(src))
        start = torch.full_like(tgt[:, :1], self.start)
        out, _ = self.decoder(self.embed(torch.cat([start, tgt[:, :-1]], dim=1)), state)
        return self.head(out)

    def predict(self, src: torch.Tensor, tgt_len: int) -> torch.Tensor:
        """Greedy decoding: each step reads the previous prediction, never a target."""
        _, state = self.encoder(self.embed(src))
        token = torch.full((len(src), 1), self.start, dtype=torch.long, device=src.device)
        tokens = []
        for _ in range(tgt_len):
            out, state = self.decoder(self.embed(token), state)
            token = self.head(out).argmax(-1)
            tokens.append(token)
        return torch.cat(tokens, dim=1)


def build(config: dict, vocab_size: int, src_len: int, tgt_len: int) -> nn.Module:
    """membench's factory. Reads the suite's `d_model` and `n_layers` as the GRU's width and
    depth; other keys (a base `model:`'s n_heads, d_ff, ...) are ignored."""
    return GRUSeq2Seq(vocab_size, config.get("d_model", 64), config.get("n_layers", 1))
