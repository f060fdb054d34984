"""long_range_sum: L base-B digits -> their sum in base B, most significant digit first.

The target is zero-padded to the width that holds L*(B-1), so every answer has the same length.
Every source position matters: a global aggregation.
"""

import torch

from membench.tasks.base import Param, Task, randint, register


def sum_width(length: int, base: int) -> int:
    """Digits needed to write length * (base - 1) in the given base."""
    largest, width = length * (base - 1), 1
    while largest >= base**width:
        width += 1
    return width


@register
class LongRangeSum(Task):
    name = "long_range_sum"
    difficulty = "length"  # the parameter a capacity ladder sweeps
    description = "L digits in base B -> their sum in base B (fixed width)"
    params = {
        "length": Param(8, 1, "digits L"),
        "base": Param(4, 2, "base B"),
    }

    def generate(self, n, generator, length, base):
        src = randint(0, base, (n, length), generator)
        width = sum_width(length, base)
        powers = base ** torch.arange(width - 1, -1, -1, device=src.device)
        tgt = (src.sum(dim=1, keepdim=True) // powers) % base
        return src, tgt

    def vocab_size(self, length, base):
        return base

    def lengths(self, length, base):
        return length, sum_width(length, base)

    def solve(self, src, length, base):
        total, digits = sum(src), []
        for _ in range(sum_width(length, base)):
            digits.append(total % base)
            total //= base
        return digits[::-1]
