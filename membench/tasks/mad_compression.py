"""mad_compression: MAD's compression task: reconstruct the input from a compression token.

Source: athms/mad-lab, mad/data/instances.py, generate_compression_instance, at MAD's benchmark
settings (configs/tasks/compression.yml: vocab_size 16, seq_len 32); MAD, arXiv 2403.17844.
seq_len - 1 tokens uniform over [0, vocab - 1), then the compression token (vocab - 1); the
target is the whole input, compression token included. MAD trains an auto-encoder
(mad/model/auto_encoder.py): the encoder's output at the last position alone is decoded at every
position, a bottleneck of one vector.

Deliberate differences: membench's models read the target from separate answer slots after the
source, with no such bottleneck, so for them this is a copy task (with a constant last token).
Noise (frac_noise, zero in MAD's compression configs) is not offered.
"""

import torch

from membench.tasks.base import Param, Task, randint, register


@register
class MadCompression(Task):
    name = "mad_compression"
    difficulty = "seq_len"  # the parameter a capacity ladder sweeps (MAD: 64, 128, 256)
    description = "MAD compression: reconstruct the input (a copy task without a bottleneck)"
    params = {
        "vocab": Param(16, 2, "symbols, the compression token (the top id) included"),
        "seq_len": Param(32, 2, "sequence length, the compression token included"),
    }

    def generate(self, n, generator, vocab, seq_len):
        tokens = randint(0, vocab - 1, (n, seq_len - 1), generator)
        last = torch.full((n, 1), vocab - 1, dtype=torch.long, device=generator.device)
        src = torch.cat([tokens, last], dim=1)
        return src, src.clone()

    def vocab_size(self, vocab, seq_len):
        return vocab

    def lengths(self, vocab, seq_len):
        return seq_len, seq_len

    def solve(self, src, vocab, seq_len):
        return list(src)
