"""reverse: the source backwards. Every answer reads a source position far from its own; with
arch encoder_decoder, the paper's sequence-to-sequence setting (and RMT's reverse task)."""

from membench.tasks.base import Param, Task, randint, register


@register
class Reverse(Task):
    name = "reverse"
    difficulty = "length"  # the parameter a capacity ladder sweeps
    description = "tgt = src reversed"
    params = {
        "length": Param(16, 1, "sequence length L"),
        "vocab": Param(8, 2, "symbols V"),
    }

    def generate(self, n, generator, length, vocab):
        src = randint(0, vocab, (n, length), generator)
        return src, src.flip(dims=[1])

    def vocab_size(self, length, vocab):
        return vocab

    def lengths(self, length, vocab):
        return length, length

    def solve(self, src, length, vocab):
        return list(reversed(src))
