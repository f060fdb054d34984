"""sort: the source sorted ascending, repeats kept. Counts per symbol are enough to solve it."""

from membench.tasks.base import Param, Task, randint, register


@register
class Sort(Task):
    name = "sort"
    difficulty = "length"  # the parameter a capacity ladder sweeps
    description = "tgt = src sorted ascending (repeats allowed)"
    params = {
        "length": Param(16, 1, "sequence length L"),
        "vocab": Param(8, 2, "symbols V"),
    }

    def generate(self, n, generator, length, vocab):
        src = randint(0, vocab, (n, length), generator)
        return src, src.sort(dim=1).values

    def vocab_size(self, length, vocab):
        return vocab

    def lengths(self, length, vocab):
        return length, length

    def solve(self, src, length, vocab):
        return sorted(src)
