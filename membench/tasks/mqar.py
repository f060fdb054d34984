"""mqar: zoology's multi-query associative recall (MQAR), answers read at the queries.

Source: HazyResearch/zoology, zoology/data/associative_recall.py, multiquery_ar (MQARConfig
defaults: power_a 0.01, random_non_queries True); Zoology, arXiv 2312.04927. The first 2*pairs
tokens are the pairs `k1 v1 ... kP vP`: distinct keys from [1, vocab/2), distinct values from
[vocab/2, vocab). Every key is queried once, after the pairs: key i at offset 2*gap_i, the gaps
drawn without replacement from [0, (seq_len - 2*pairs) / 2) with weights a * g^(a-1), g = gap+1
(a power law; a = 1 is uniform). The other positions after the pairs hold 0, or with
random_non_queries a token uniform over the whole vocabulary (which may equal a key: an unscored
repeat). Targets (training and held-out alike: zoology trains on its labels only) are the
queried value at each query and IGNORE at the other positions after the pairs; target t is read
at src[2*pairs + t]. No value follows its query, so no answer stands in the input.

Deliberate differences: power_a is an integer in hundredths (zoology's 0.01 is 1). zoology's
train and test sets come from separate numpy seeds; here from the trial's generators. The named
instances mqar_64_4 ... mqar_512_64 follow the Zoology Figure 2 configs
(zoology/experiments/paper/zoology_figure2.py: vocab 8192, random_non_queries False); the
generator's own defaults are MQARConfig's (random_non_queries True).
"""

import torch

from membench.errors import MembenchError
from membench.tasks.base import IGNORE, Param, Task, randint, register


def distinct(shape, low, high, k, generator):
    """[*shape, k]: k distinct ids from [low, high) in uniformly random order, per row."""
    out = torch.empty((*shape, k), dtype=torch.long, device=generator.device)
    for j in range(k):
        x = randint(0, high - low - j, shape, generator)  # the x-th id not yet taken
        taken = out[..., :j].sort(dim=-1).values - torch.arange(j, device=out.device)
        out[..., j] = x + (taken <= x[..., None]).sum(dim=-1)
    return out + low


@register
class MQAR(Task):
    name = "mqar"
    difficulty = "pairs"  # the parameter a capacity ladder sweeps
    description = "zoology MQAR: key-value pairs, then each key queried once at a power-law gap"
    partial_targets = True
    params = {
        "vocab": Param(8192, 4, "symbols: keys from [1, vocab/2), values from [vocab/2, vocab)"),
        "seq_len": Param(64, 4, "sequence length (even, < vocab)"),
        "pairs": Param(4, 1, "key-value pairs, each queried once (4 * pairs <= seq_len)"),
        "power_a": Param(1, 1, "power-law exponent a of the query gaps, in hundredths"),
        "random_non_queries": Param(1, 0, "1: random tokens between queries, 0: zeros"),
    }

    def check(self, params):
        seq_len, name = params["seq_len"], self.name
        if seq_len % 2:
            raise MembenchError(
                f"task '{name}' parameter 'seq_len' = {seq_len} is out of range: must be even"
            )
        if params["vocab"] <= seq_len:
            raise MembenchError(
                f"task '{name}' parameter 'vocab' = {params['vocab']} is out of range: "
                f"must be > seq_len ({seq_len})"
            )
        if 4 * params["pairs"] > seq_len:
            raise MembenchError(
                f"task '{name}' parameter 'pairs' = {params['pairs']} is out of range: "
                f"the pairs and their queries take 4 * pairs positions, so it must be <= "
                f"seq_len / 4 ({seq_len // 4})"
            )
        if params["random_non_queries"] > 1:
            raise MembenchError(
                f"task '{name}' parameter 'random_non_queries' = "
                f"{params['random_non_queries']} is out of range: must be 0 or 1"
            )

    def generate(self, n, generator, vocab, seq_len, pairs, power_a, random_non_queries):
        device, context = generator.device, 2 * pairs
        keys = distinct((n,), 1, vocab // 2, pairs, generator)
        values = distinct((n,), vocab // 2, vocab, pairs, generator)
        a = power_a / 100
        space = (seq_len - context) // 2
        weight = a * torch.arange(1, space + 1, device=device, dtype=torch.float64) ** (a - 1)
        # weighted sampling without replacement, in draw order (Efraimidis-Spirakis keys)
        arrival = torch.empty((n, space), device=device, dtype=torch.float64)
        arrival.exponential_(generator=generator)
        gaps = (weight / weight.sum() / arrival).topk(pairs, dim=1).indices
        src = torch.zeros((n, seq_len), dtype=torch.long, device=device)
        src[:, 0:context:2], src[:, 1:context:2] = keys, values
        queries = context + 2 * gaps
        src.scatter_(1, queries, keys)
        tgt = torch.full_like(src, IGNORE).scatter_(1, queries, values)
        if random_non_queries:
            src = torch.where(src == 0, randint(0, vocab, (n, seq_len), generator), src)
        return src, tgt[:, context:]

    def vocab_size(self, vocab, seq_len, pairs, power_a, random_non_queries):
        return vocab

    def lengths(self, vocab, seq_len, pairs, power_a, random_non_queries):
        return seq_len, seq_len - 2 * pairs

    def answer_positions(self, vocab, seq_len, pairs, power_a, random_non_queries):
        return list(range(2 * pairs, seq_len))

    def output_vocab(self, vocab, seq_len, pairs, power_a, random_non_queries):
        return vocab - vocab // 2

    def solve(self, src, vocab, seq_len, pairs, power_a, random_non_queries):
        """Exact with random_non_queries 0. With random tokens, one that equals a key at a query
        offset (even, after the pairs) is answered too, where zoology scores nothing."""
        table = {src[2 * i]: src[2 * i + 1] for i in range(pairs)}
        out = [IGNORE] * (seq_len - 2 * pairs)
        for t in range(0, seq_len - 2 * pairs, 2):
            out[t] = table.get(src[2 * pairs + t], IGNORE)
        return out
