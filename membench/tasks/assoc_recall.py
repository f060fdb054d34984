"""assoc_recall (multi-query, as MQAR): `k1 v1 ... kK vK SEP q1 ... qQ` -> the queried values.

Keys are distinct and come from [0, key_vocab); values from [key_vocab, key_vocab + value_vocab);
SEP is the last id. Queries are distinct keys of the context, so Q <= K. Each answer is read at
its query's own position (zoology's MQAR layout, arXiv 2312.04927): target t at src index
2K + 1 + t. A separate answer slot would add a positional hop before recall pays off (a plain
2-layer d64 encoder plateaus at 0.41 token accuracy that way).
"""

import torch

from membench.errors import MembenchError
from membench.tasks.base import Param, Task, randint, register


@register
class AssocRecall(Task):
    name = "assoc_recall"
    difficulty = "pairs"  # the parameter a capacity ladder sweeps
    description = "K key-value pairs, SEP, Q queried keys -> their values"
    params = {
        "pairs": Param(4, 1, "key-value pairs K"),
        "queries": Param(4, 1, "queries Q (distinct keys, Q <= K)"),
        "key_vocab": Param(16, 1, "key symbols (>= K)"),
        "value_vocab": Param(8, 2, "value symbols"),
    }

    def check(self, params):
        if params["pairs"] > params["key_vocab"]:
            raise MembenchError(
                f"task 'assoc_recall' parameter 'pairs' = {params['pairs']} is out of range: "
                f"keys are distinct, so it must be <= key_vocab ({params['key_vocab']})"
            )
        if params["queries"] > params["pairs"]:
            raise MembenchError(
                f"task 'assoc_recall' parameter 'queries' = {params['queries']} is out of range: "
                f"queries are distinct keys, so it must be <= pairs ({params['pairs']})"
            )

    def generate(self, n, generator, pairs, queries, key_vocab, value_vocab):
        device = generator.device
        noise = torch.rand((n, key_vocab), generator=generator, device=device)
        keys = noise.argsort(dim=1)[:, :pairs]
        values = randint(key_vocab, key_vocab + value_vocab, (n, pairs), generator)
        order = torch.rand((n, pairs), generator=generator, device=device).argsort(dim=1)
        picked = order[:, :queries]
        context = torch.stack([keys, values], dim=2).reshape(n, 2 * pairs)
        sep = torch.full((n, 1), key_vocab + value_vocab, dtype=torch.long, device=device)
        src = torch.cat([context, sep, keys.gather(1, picked)], dim=1)
        return src, values.gather(1, picked)

    def vocab_size(self, pairs, queries, key_vocab, value_vocab):
        return key_vocab + value_vocab + 1

    def lengths(self, pairs, queries, key_vocab, value_vocab):
        return 2 * pairs + 1 + queries, queries

    def answer_positions(self, pairs, queries, key_vocab, value_vocab):
        return list(range(2 * pairs + 1, 2 * pairs + 1 + queries))

    def output_vocab(self, pairs, queries, key_vocab, value_vocab):
        return value_vocab

    def solve(self, src, pairs, queries, key_vocab, value_vocab):
        table = {src[2 * i]: src[2 * i + 1] for i in range(pairs)}
        assert src[2 * pairs] == key_vocab + value_vocab
        return [table[q] for q in src[2 * pairs + 1 :]]
