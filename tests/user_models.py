"""Users' own models for the tests: the factory contract of DESIGN.md section 5."""

import torch
from torch import nn


class Lookup(nn.Module):
    """Predicts each target position from the source token at the same position (copy-able)."""

    def __init__(self, config, vocab_size, src_len, tgt_len):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, config.get("hidden", 8))
        self.head = nn.Linear(config.get("hidden", 8), vocab_size)

    def forward(self, src, tgt):
        return self.head(self.embed(src[:, : tgt.shape[1]]))

    def predict(self, src, tgt_len):
        return self.forward(src, torch.zeros(len(src), tgt_len, dtype=torch.long)).argmax(-1)


def lookup(config, vocab_size, src_len, tgt_len):
    return Lookup(config, vocab_size, src_len, tgt_len)


class Broken(Lookup):
    def forward(self, src, tgt):
        raise RuntimeError("broken on purpose")


def broken(config, vocab_size, src_len, tgt_len):
    return Broken(config, vocab_size, src_len, tgt_len)
