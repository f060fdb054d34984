"""copy: reproduce the source. Needs every source position moved to its answer slot."""

from membench.tasks.base import Param, Task, randint, register


@register
class Copy(Task):
    name = "copy"
    difficulty = "length"  # the parameter a capacity ladder sweeps
    description = "tgt = src"
    params = {
        "length": Param(16, 1, "sequence length L"),
        "vocab": Param(8, 2, "symbols V"),
    }

    def generate(self, n, generator, length, vocab):
        src = randint(0, vocab, (n, length), generator)
        return src, src.clone()

    def vocab_size(self, length, vocab):
        return vocab

    def lengths(self, length, vocab):
        return length, length

    def solve(self, src, length, vocab):
        return list(src)
