"""flip_flop: flip-flop language modeling (FFLM), a next-token task scored at the reads.

Source: Liu et al., "Exposing Attention Glitches with Flip-Flop Language Modeling",
arXiv 2306.00946, and the released data's card (huggingface.co/datasets/synthseq/flipflop: train
FFL(0.8), 256 instructions, 80% ignore, 10% read, 10% write; val_sparse FFL(0.98), val_dense
FFL(0.1); tokens w=0, r=1, i=2, 0=3, 1=4). A sequence is length / 2 instruction-bit pairs; the
first instruction is a write, the last a read, the others write, read or ignore with
probabilities (1 - p) / 2, (1 - p) / 2, p for ignore probability p. Write and ignore bits are
uniform; a read's bit is the last written bit. src = the sequence less its last token:
- `generate`: the next token everywhere (FFL(ignore_percent)), as the paper trains;
- `generate_held_out`: FFL(held_out_ignore_percent), scored only at the bits after reads (the
  paper's evaluation), IGNORE elsewhere.

Deliberate differences: probabilities are integer percents; sequences are generated, not read
from the released files.
"""

import torch

from membench.errors import MembenchError
from membench.tasks.base import IGNORE, Param, Task, randint, register

WRITE, READ, IGNORE_OP, ZERO = 0, 1, 2, 3  # the data card's token ids (bits: ZERO, ZERO + 1)


def flip_flop_sequences(n, generator, length, ignore_percent):
    device, m = generator.device, length // 2
    u = torch.rand((n, m), generator=generator, device=device)
    each = (100 - ignore_percent) / 200  # the write and the read probability
    op = torch.where(u < each, WRITE, torch.where(u < 2 * each, READ, IGNORE_OP))
    op[:, 0], op[:, -1] = WRITE, READ
    bits = randint(0, 2, (n, m), generator)
    place = torch.arange(m, device=device).expand(n, m)
    last_write = torch.where(op == WRITE, place, 0).cummax(dim=1).values
    bits = torch.where(op == READ, bits.gather(1, last_write), bits)
    return torch.stack([op, bits + ZERO], dim=2).reshape(n, length)


@register
class FlipFlop(Task):
    name = "flip_flop"
    difficulty = "length"  # the parameter a capacity ladder sweeps
    description = "flip-flop language: write/read/ignore a 1-bit register, scored at the reads"
    answers_in_input = True
    partial_targets = True
    params = {
        "length": Param(512, 4, "tokens per sequence (even): instruction, bit pairs"),
        "ignore_percent": Param(80, 0, "training: chance in percent of an ignore instruction"),
        "held_out_ignore_percent": Param(80, 0, "held-out set: the same (98 sparse, 10 dense)"),
    }

    def check(self, params):
        if params["length"] % 2:
            raise MembenchError(
                f"task '{self.name}' parameter 'length' = {params['length']} is out of range: "
                "the sequence is instruction, bit pairs, so it must be even"
            )
        for key in ("ignore_percent", "held_out_ignore_percent"):
            if params[key] > 100:
                raise MembenchError(
                    f"task '{self.name}' parameter '{key}' = {params[key]} is out of range: "
                    "must be <= 100"
                )

    def generate(self, n, generator, length, ignore_percent, held_out_ignore_percent):
        sequence = flip_flop_sequences(n, generator, length, ignore_percent)
        return sequence[:, :-1], sequence[:, 1:]

    def generate_held_out(self, n, generator, length, ignore_percent, held_out_ignore_percent):
        sequence = flip_flop_sequences(n, generator, length, held_out_ignore_percent)
        src = sequence[:, :-1]
        return src, torch.where(src == READ, sequence[:, 1:], IGNORE)

    def vocab_size(self, length, ignore_percent, held_out_ignore_percent):
        return 5

    def lengths(self, length, ignore_percent, held_out_ignore_percent):
        return length - 1, length - 1

    def answer_positions(self, length, ignore_percent, held_out_ignore_percent):
        return list(range(length - 1))

    def output_vocab(self, length, ignore_percent, held_out_ignore_percent):
        return 2  # a read's bit

    def solve(self, src, length, ignore_percent, held_out_ignore_percent):
        out, bit = [IGNORE] * (length - 1), None
        for t in range(0, length - 1, 2):
            if src[t] == WRITE:
                bit = src[t + 1]
            elif src[t] == READ:
                out[t] = bit
        return out
