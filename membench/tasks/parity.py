"""parity: whether the source holds an odd number of ones. One answer that depends on every
bit at once: a two-layer causally masked Transformer appears unable to learn it at long lengths
without pause tokens and learns it with them (London and Kanade, arXiv 2505.21024, NeurIPS
2025, abstract). Their data, per a reproducibility summary of the paper (ri.k117.org): uniformly
drawn bitstrings labelled by their parity, a dataset per seed at each length of 20, 50, 100,
150, 200, 250 and 300 bits, with training, validation and test splits; a reviewer's summary
(paperhub.cn) adds an ablation showing the gain is not only a way around the causal mask.
membench's model reads the bits, SEP and one answer slot (pause tokens, `pause_tokens: N`, go
between SEP and the slot) and trains on fresh examples. Not checked against the paper's text
here: its number of pause tokens per length, its model width and training, and whether its
pause tokens get extra supervision (third-party notes say "hints"); the benchmark scores the
one final answer only."""

from membench.tasks.base import Param, Task, randint, register


@register
class Parity(Task):
    name = "parity"
    difficulty = "length"  # the parameter a capacity ladder sweeps
    description = "tgt = [sum(src) mod 2] over a bitstring"
    params = {"length": Param(20, 1, "bits n")}

    def generate(self, n, generator, length):
        src = randint(0, 2, (n, length), generator)
        return src, src.sum(dim=1, keepdim=True) % 2

    def vocab_size(self, length):
        return 2

    def lengths(self, length):
        return length, 1

    def solve(self, src, length):
        return [sum(src) % 2]
