"""mad_recall: MAD's in-context recall (multi-query), a next-token task.

Source: athms/mad-lab, mad/data/instances.py, generate_in_context_recall_instance, at MAD's
benchmark settings (configs/tasks/in-context-recall.yml; mad/configs.py MADConfig: multi_query
True, no noise); MAD, arXiv 2403.17844. Keys are the lower half of the vocabulary, values the
upper half. A sequence holds seq_len/2 - 1 key-value pairs (keys uniform, repeats allowed; each
key's value drawn once per sequence) and then a final pair repeating a key already shown
(uniform over the distinct keys shown). As in MAD, src is the sequence less its last token
(inputs[:-1]) and every position is an answer position:
- `generate`: the next token everywhere (MAD trains on inputs[1:]);
- `generate_held_out`: MAD's test targets: the value after each key shown before, and the final
  value; IGNORE elsewhere.

Deliberate differences: MAD's single-query variant (multi_query False: a copy-prefix token before
the final pair) is not offered, as MAD's benchmark configs never use it. The noisy variant
(`mad_noisy_recall`) shares this generator; its one difference is described there.
"""

import torch

from membench.errors import MembenchError
from membench.tasks.base import IGNORE, Param, Task, randint, register


def first_index(ids: torch.Tensor) -> torch.Tensor:
    """[n, P] -> [n, P]: per row, the index of the first element equal to each element."""
    n, p = ids.shape
    sorted_ids, order = ids.sort(dim=1, stable=True)  # stable: a group starts at its first index
    starts = torch.ones_like(sorted_ids, dtype=torch.bool)
    starts[:, 1:] = sorted_ids[:, 1:] != sorted_ids[:, :-1]
    place = torch.arange(p, device=ids.device).expand(n, p)
    group_start = torch.where(starts, place, 0).cummax(dim=1).values
    return torch.empty_like(ids).scatter_(1, order, order.gather(1, group_start))


def recall_sequences(n, generator, vocab, seq_len, noise_vocab=0, noise_percent=0):
    """MAD's full sequences [n, seq_len] and their test targets (before the next-token shift)."""
    device, body = generator.device, seq_len // 2 - 1
    symbols = vocab - noise_vocab
    n_keys = symbols // 2
    keys = randint(0, n_keys, (n, body), generator)
    table = randint(n_keys, symbols, (n, n_keys), generator)  # each key's value, per sequence
    values = table.gather(1, keys)
    pairs = torch.stack([keys, values], dim=2)
    noise = torch.zeros((n, body), dtype=torch.bool, device=device)
    if noise_percent:
        noise = torch.rand((n, body), generator=generator, device=device) < noise_percent / 100
        keep = randint(0, body, (n, 1), generator)  # one pair is never noise
        noise.scatter_(1, keep, False)
        pairs = torch.where(
            noise[..., None], randint(symbols, vocab, (n, body, 2), generator), pairs
        )
    # the final key: uniform over the distinct keys shown (noise pairs show none)
    shown = torch.zeros((n, n_keys + 1), dtype=torch.bool, device=device)
    shown.scatter_(1, torch.where(noise, n_keys, keys), True)
    weight = torch.rand((n, n_keys), generator=generator, device=device) + 1
    probe = torch.where(shown[:, :n_keys], weight, 0).argmax(dim=1, keepdim=True)
    sequence = torch.cat([pairs.reshape(n, 2 * body), probe, table.gather(1, probe)], dim=1)
    # a value is scored where its key was shown by an earlier (non-noise) pair
    unique = torch.arange(body, device=device) + n_keys
    seen = first_index(torch.where(noise, unique, keys)) < torch.arange(body, device=device)
    test = torch.full_like(sequence, IGNORE)
    test[:, 1 : 2 * body : 2] = torch.where(seen & ~noise, values, IGNORE)
    test[:, -1] = sequence[:, -1]
    return sequence, test


def solve_recall(src, seq_len, symbols):
    """Held-out targets of a recall src: keys below symbols // 2, noise tokens >= symbols."""
    out, table = [IGNORE] * (seq_len - 1), {}
    for i in range(seq_len // 2 - 1):
        key, value = src[2 * i], src[2 * i + 1]
        if key >= symbols:
            continue  # a noise pair
        if key in table:
            out[2 * i] = value
        table[key] = value
    out[-1] = table[src[-1]]
    return out


def check_recall(name, vocab, seq_len, noise_vocab=0, noise_percent=0):
    if seq_len % 2:
        raise MembenchError(
            f"task '{name}' parameter 'seq_len' = {seq_len} is out of range: "
            "the sequence is key-value pairs, so it must be even"
        )
    if vocab - noise_vocab < 2:
        raise MembenchError(
            f"task '{name}' parameter 'vocab' = {vocab} is out of range: "
            f"keys and values need two symbols beyond noise_vocab, so it must be >= "
            f"{noise_vocab + 2}"
        )


@register
class MadRecall(Task):
    name = "mad_recall"
    difficulty = "vocab"  # the parameter a capacity ladder sweeps (vocab / 2 keys to hold)
    description = "MAD in-context recall: key-value pairs, next-token, scored at repeated keys"
    answers_in_input = True
    partial_targets = True
    params = {
        "vocab": Param(16, 2, "symbols: keys are the lower half, values the upper half"),
        "seq_len": Param(128, 4, "MAD's sequence length (even); src is one shorter"),
    }

    def check(self, params):
        check_recall(self.name, params["vocab"], params["seq_len"])

    def generate(self, n, generator, vocab, seq_len):
        sequence, _ = recall_sequences(n, generator, vocab, seq_len)
        return sequence[:, :-1], sequence[:, 1:]

    def generate_held_out(self, n, generator, vocab, seq_len):
        sequence, test = recall_sequences(n, generator, vocab, seq_len)
        return sequence[:, :-1], test[:, 1:]

    def vocab_size(self, vocab, seq_len):
        return vocab

    def lengths(self, vocab, seq_len):
        return seq_len - 1, seq_len - 1

    def answer_positions(self, vocab, seq_len):
        return list(range(seq_len - 1))

    def output_vocab(self, vocab, seq_len):
        return vocab - vocab // 2

    def solve(self, src, vocab, seq_len):
        return solve_recall(src, seq_len, vocab)
