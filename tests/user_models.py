"""Users' own models for the tests: the factory contract of DESIGN.md section 5 (four arguments;
`answer_positions=` too for a factory that names it)."""

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


class AtPositions(Lookup):
    """Predicts each target token from the source token at its answer position (the task's
    `answer_positions`; the first target-length positions when the task has none)."""

    def __init__(self, config, vocab_size, src_len, tgt_len, answer_positions=None):
        super().__init__(config, vocab_size, src_len, tgt_len)
        self.answer_positions = answer_positions
        self.positions = answer_positions if answer_positions is not None else range(tgt_len)

    def forward(self, src, tgt):
        return self.head(self.embed(src[:, list(self.positions)]))


def at_positions(config, vocab_size, src_len, tgt_len, answer_positions=None):
    """A factory that takes the optional keyword: membench passes the task's answer positions."""
    return AtPositions(config, vocab_size, src_len, tgt_len, answer_positions)


def lookup_kwargs(config, vocab_size, src_len, tgt_len, **options):
    """`**options` alone does not ask for answer positions: called with the four arguments."""
    assert not options, options
    return Lookup(config, vocab_size, src_len, tgt_len)


class Flat(Lookup):
    """Breaks the contract: flattened logits [B * Lt, V] instead of [B, Lt, V]."""

    def forward(self, src, tgt):
        return super().forward(src, tgt).reshape(-1, self.head.out_features)


def flat(config, vocab_size, src_len, tgt_len):
    return Flat(config, vocab_size, src_len, tgt_len)
