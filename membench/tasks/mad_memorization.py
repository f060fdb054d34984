"""mad_memorization: MAD's memorization: a fixed key-value map, the same for every example.

Source: athms/mad-lab, mad/data/instances.py, generate_memorization_instance and generate_kv_map,
at MAD's benchmark settings (configs/tasks/memorization.yml: vocab_size 256, seq_len 32; the map
from mad/configs.py MADConfig.instance_fn_kwargs, seed 12345); MAD, arXiv 2403.17844. With
S = vocab - 1 symbols (the top id is the insert token), keys are [0, S // 2) and values
[S // 2, S); the map sends the keys one-to-one onto a random subset of the values. A sequence is
seq_len / 2 keys, uniform with repeats, each followed by the insert token; MAD scores the insert
tokens' positions, each the value of the key before it: target t is read at src[2t + 1]. Train and
test sets share the distribution (and the map), so this tests recall from the weights.

Deliberate differences: the map is drawn once, from a torch generator seeded 12345 (MAD's seed,
numpy's stream), so it is fixed for every trial but is not MAD's own map. seq_len must be even
(MAD drops an odd last token). Noise (frac_noise, zero in MAD's memorization configs) is not
offered.
"""

from functools import lru_cache

import torch

from membench.errors import MembenchError
from membench.tasks.base import Param, Task, randint, register

MAP_SEED = 12345  # MAD's seed for its key-value map


@lru_cache(maxsize=16)
def value_of(vocab: int) -> torch.Tensor:
    """The fixed map: value_of(vocab)[key], the same in every call and process."""
    symbols = vocab - 1
    n_keys, n_values = symbols // 2, symbols - symbols // 2
    order = torch.randperm(n_values, generator=torch.Generator().manual_seed(MAP_SEED))
    return order[:n_keys] + n_keys


@register
class MadMemorization(Task):
    name = "mad_memorization"
    difficulty = "vocab"  # the parameter a capacity ladder sweeps (MAD: 512 ... 8192)
    description = "MAD memorization: keys -> their values under one fixed map, learnt in weights"
    params = {
        "vocab": Param(256, 3, "symbols: keys, values, and the insert token (the top id)"),
        "seq_len": Param(32, 2, "sequence length (even): seq_len / 2 key, insert pairs"),
    }

    def check(self, params):
        if params["seq_len"] % 2:
            raise MembenchError(
                f"task '{self.name}' parameter 'seq_len' = {params['seq_len']} is out of range: "
                "the sequence is key, insert pairs, so it must be even"
            )

    def generate(self, n, generator, vocab, seq_len):
        table = value_of(vocab).to(generator.device)
        keys = randint(0, (vocab - 1) // 2, (n, seq_len // 2), generator)
        src = torch.stack([keys, torch.full_like(keys, vocab - 1)], dim=2).reshape(n, seq_len)
        return src, table[keys]

    def vocab_size(self, vocab, seq_len):
        return vocab

    def lengths(self, vocab, seq_len):
        return seq_len, seq_len // 2

    def answer_positions(self, vocab, seq_len):
        return list(range(1, seq_len, 2))

    def output_vocab(self, vocab, seq_len):
        return vocab - 1 - (vocab - 1) // 2

    def solve(self, src, vocab, seq_len):
        table = value_of(vocab).tolist()
        return [table[k] for k in src[0::2]]
