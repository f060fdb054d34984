"""selective_copying: MAD's selective copying, answers read in place after the copy token.

Source: athms/mad-lab, mad/data/instances.py, generate_selective_copying_instance (which calls
generate_copying_instance with selective=True), at MAD's benchmark settings
(configs/tasks/selective-copying.yml: vocab_size 16, seq_len 256, num_tokens_to_copy 16); MAD,
arXiv 2403.17844. The tokens to copy are uniform over [0, vocab - 2) with repeats; the
seq_len - 2 * tokens_to_copy - 1 blanks (id vocab - 2) are each inserted before one of those
tokens, chosen uniformly (MAD: np.insert at np.random.randint(0, tokens_to_copy)), so the last
token to copy always stands just before the copy token (id vocab - 1); tokens_to_copy blanks
follow it. MAD scores only those last tokens_to_copy positions, each the token to copy in order:
target t is read at src[seq_len - tokens_to_copy + t].

Deliberate differences: none in the data. MAD draws the insertion points from numpy's global
generator rather than its seeded one; here every draw comes from the trial's generator.
"""

import torch

from membench.errors import MembenchError
from membench.tasks.base import Param, Task, randint, register


@register
class SelectiveCopying(Task):
    name = "selective_copying"
    difficulty = "tokens_to_copy"  # the parameter a capacity ladder sweeps (MAD: 32, 64, 96)
    description = "MAD selective copying: tokens scattered among blanks, copied after a copy token"
    params = {
        "vocab": Param(16, 3, "symbols: the tokens to copy, then blank and copy tokens"),
        "seq_len": Param(256, 4, "sequence length (> 2 * tokens_to_copy + 1)"),
        "tokens_to_copy": Param(16, 1, "tokens to copy"),
    }

    def check(self, params):
        if params["seq_len"] <= 2 * params["tokens_to_copy"] + 1:
            raise MembenchError(
                f"task '{self.name}' parameter 'seq_len' = {params['seq_len']} is out of range: "
                f"must be > 2 * tokens_to_copy + 1 ({2 * params['tokens_to_copy'] + 1})"
            )

    def generate(self, n, generator, vocab, seq_len, tokens_to_copy):
        device, blanks = generator.device, seq_len - 2 * tokens_to_copy - 1
        to_copy = randint(0, vocab - 2, (n, tokens_to_copy), generator)
        before = randint(0, tokens_to_copy, (n, blanks), generator)  # the token each blank precedes
        counts = torch.zeros((n, tokens_to_copy), dtype=torch.long, device=device)
        counts.scatter_add_(1, before, torch.ones_like(before))
        where = torch.arange(tokens_to_copy, device=device) + counts.cumsum(dim=1)
        src = torch.full((n, seq_len), vocab - 2, dtype=torch.long, device=device)
        src.scatter_(1, where, to_copy)
        src[:, seq_len - tokens_to_copy - 1] = vocab - 1
        return src, to_copy

    def vocab_size(self, vocab, seq_len, tokens_to_copy):
        return vocab

    def lengths(self, vocab, seq_len, tokens_to_copy):
        return seq_len, tokens_to_copy

    def answer_positions(self, vocab, seq_len, tokens_to_copy):
        return list(range(seq_len - tokens_to_copy, seq_len))

    def output_vocab(self, vocab, seq_len, tokens_to_copy):
        return vocab - 2

    def solve(self, src, vocab, seq_len, tokens_to_copy):
        assert src[seq_len - tokens_to_copy - 1] == vocab - 1
        return [t for t in src[: seq_len - tokens_to_copy - 1] if t != vocab - 2]
