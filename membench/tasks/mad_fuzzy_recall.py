"""mad_fuzzy_recall: MAD's fuzzy in-context recall (multi-query), a next-token task.

Source: athms/mad-lab, mad/data/instances.py, generate_fuzzy_in_context_recall_instance, at MAD's
benchmark settings (configs/tasks/fuzzy-in-context-recall.yml: vocab_size 16, seq_len 128,
k_motif_size 3, v_motif_size 3, multi_query True; no noise); MAD, arXiv 2403.17844. Keys and
values are motifs: runs of 1..key_motif distinct tokens from the key symbols [0, K) and of
1..value_motif distinct tokens from the value symbols [K, vocab - 1), K = (vocab - 1) // 2; the
top id pads the front of the sequence to seq_len + 1 tokens. A probe pair is placed in the body
at the first pair boundary at or after an index drawn uniformly from [0, seq_len - 2 * probe
size), unless a pair showed the probe key before; the body is key-value pairs (each key's value
drawn once per sequence) until it reaches seq_len - probe size - (key_motif + value_motif)
tokens; the sequence ends with the probe again. Training draws key motifs of every size; the test
set keys of the largest size only (`generate_held_out`). As in MAD, src = inputs[:-1] and every
position is an answer position: `generate` targets the next token everywhere (pads included),
`generate_held_out` MAD's test targets: the value tokens of each pair whose key was shown
before, and of the final probe.

Deliberate differences: MAD's loop can end before reaching the probe's index (its last pair
starts before the index, and the next would pass the body's end), leaving the probe out of the
body and the final value unpredictable (at the baseline in 2.8% of test and 1.5% of training
examples, measured on a port of MAD's function); here the probe then goes in before the body's
last pair. Noise (frac_noise, zero in MAD's fuzzy recall configs) and the single-query variant
are not offered.
"""

import torch

from membench.errors import MembenchError
from membench.tasks.base import IGNORE, Param, Task, randint, register
from membench.tasks.mad_recall import first_index
from membench.tasks.mqar import distinct


def motif_codes(tokens, sizes, base):
    """One integer per motif (its tokens and size): sum (token + 1) * base^j over its tokens."""
    j = torch.arange(tokens.shape[-1], device=tokens.device)
    used = j < sizes[..., None]
    return ((tokens + 1) * base**j * used).sum(dim=-1)


def fuzzy_sequences(n, generator, vocab, seq_len, key_motif, value_motif, test):
    """MAD's full sequences [n, seq_len + 1] and their test targets (before the shift)."""
    device, kmax, vmax, length = generator.device, key_motif, value_motif, seq_len + 1
    n_keys, pad = (vocab - 1) // 2, vocab - 1
    slots = seq_len // (kmax + 1 if test else 2) + 1  # more pairs than can fit

    def sizes(shape, top, fixed):
        return (
            torch.full(shape, top, device=device)
            if fixed
            else randint(1, top + 1, shape, generator)
        )

    def pairs_of(shape):
        ksize, vsize = sizes(shape, kmax, test), sizes(shape, vmax, False)
        key = distinct(shape, 0, n_keys, kmax, generator)
        value = distinct(shape, n_keys, pad, vmax, generator)
        return key, ksize, value, vsize

    key, ksize, value, vsize = pairs_of((n, slots))
    pkey, pksize, pvalue, pvsize = (t[:, 0] for t in pairs_of((n, 1)))
    probe_size = pksize + pvsize
    probe_at = (
        torch.rand(n, generator=generator, device=device) * (seq_len - 2 * probe_size)
    ).long()
    end = seq_len - probe_size - (kmax + vmax)  # the body grows while shorter than this

    # each key keeps the value of its first occurrence; the probe key keeps the probe value
    code, pcode = motif_codes(key, ksize, n_keys + 1), motif_codes(pkey, pksize, n_keys + 1)
    is_probe = code == pcode[:, None]
    first = first_index(code)
    value, vsize = value.gather(1, first[..., None].expand_as(value)), vsize.gather(1, first)
    value = torch.where(is_probe[..., None], pvalue[:, None], value)
    vsize = torch.where(is_probe, pvsize[:, None], vsize)

    # where the probe goes: the first pair start at or past probe_at, or the body's last pair
    size = ksize + vsize
    start = size.cumsum(dim=1) - size
    slot = torch.arange(slots, device=device)
    reach = torch.where(start >= probe_at[:, None], slot, slots).min(dim=1).values
    last = (start < end[:, None]).sum(dim=1) - 1
    at = torch.minimum(reach, last)
    insert = torch.where(is_probe, slot, slots).min(dim=1).values >= at  # not shown before
    after = insert[:, None] & (slot >= at[:, None])  # the pairs after an inserted probe
    probe_start = start.gather(1, at[:, None])[:, 0]
    start = start + torch.where(after, probe_size[:, None], 0)
    kept = start < end[:, None]
    body = torch.where(kept, size, 0).sum(dim=1) + torch.where(insert, probe_size, 0)
    offset = length - body - probe_size  # pads in front
    seen = (first < slot) | (is_probe & after)  # the key was shown before: its value is scored

    sequence = torch.full((n, length + 1), pad, device=device)  # a last column takes the unused
    targets = torch.full((n, length + 1), IGNORE, device=device)

    def put(tokens, size, begin, use, scored):
        """Writes motifs `tokens` [..., m] of `size` at `begin` (sequence positions)."""
        j = torch.arange(tokens.shape[-1], device=device)
        where = torch.where(use[..., None] & (j < size[..., None]), begin[..., None] + j, length)
        sequence.scatter_(1, where.reshape(n, -1), tokens.reshape(n, -1))
        if scored is not None:
            mark = torch.where(scored[..., None], tokens, IGNORE).expand_as(where)
            targets.scatter_(1, where.reshape(n, -1), mark.reshape(n, -1))

    put(key, ksize, offset[:, None] + start, kept, None)
    put(value, vsize, offset[:, None] + start + ksize, kept, kept & seen)
    put(pkey, pksize, offset + probe_start, insert, None)
    put(pvalue, pvsize, offset + probe_start + pksize, insert, None)
    everywhere = torch.ones_like(insert)
    put(pkey, pksize, offset + body, everywhere, None)
    put(pvalue, pvsize, offset + body + pksize, everywhere, everywhere)
    return sequence[:, :length], targets[:, :length]


@register
class MadFuzzyRecall(Task):
    name = "mad_fuzzy_recall"
    difficulty = "vocab"  # the parameter a capacity ladder sweeps (MAD sweeps 32, 64, 128)
    description = "MAD fuzzy in-context recall: keys and values are motifs of several tokens"
    answers_in_input = True
    partial_targets = True
    params = {
        "vocab": Param(16, 3, "symbols: keys, values, and the pad (the top id)"),
        "seq_len": Param(128, 1, "MAD's sequence length; src has this length"),
        "key_motif": Param(3, 1, "most tokens in a key (all test keys have this many)"),
        "value_motif": Param(3, 1, "most tokens in a value"),
    }

    def check(self, params):
        vocab, name = params["vocab"], self.name
        n_keys = (vocab - 1) // 2
        if params["key_motif"] > n_keys or params["value_motif"] > vocab - 1 - n_keys:
            raise MembenchError(
                f"task '{name}' parameter 'vocab' = {vocab} is out of range: motifs are distinct "
                f"tokens, so (vocab - 1) // 2 must be >= key_motif and the rest >= value_motif"
            )
        shortest = 2 * (params["key_motif"] + params["value_motif"]) + 1
        if params["seq_len"] < shortest:
            raise MembenchError(
                f"task '{name}' parameter 'seq_len' = {params['seq_len']} is out of range: "
                f"two pairs of the largest motifs must fit, so it must be >= {shortest}"
            )
        if (n_keys + 1) ** params["key_motif"] >= 2**62:
            raise MembenchError(
                f"task '{name}' parameter 'key_motif' = {params['key_motif']} is out of range: "
                "too many keys to number"
            )

    def generate(self, n, generator, vocab, seq_len, key_motif, value_motif):
        sequence, _ = fuzzy_sequences(n, generator, vocab, seq_len, key_motif, value_motif, False)
        return sequence[:, :-1], sequence[:, 1:]

    def generate_held_out(self, n, generator, vocab, seq_len, key_motif, value_motif):
        sequence, test = fuzzy_sequences(n, generator, vocab, seq_len, key_motif, value_motif, True)
        return sequence[:, :-1], test[:, 1:]

    def vocab_size(self, vocab, seq_len, key_motif, value_motif):
        return vocab

    def lengths(self, vocab, seq_len, key_motif, value_motif):
        return seq_len, seq_len

    def answer_positions(self, vocab, seq_len, key_motif, value_motif):
        return list(range(seq_len))

    def output_vocab(self, vocab, seq_len, key_motif, value_motif):
        return vocab - 1 - (vocab - 1) // 2

    def solve(self, src, vocab, seq_len, key_motif, value_motif):
        """Reads the runs of key and value tokens after the pads (pairs alternate key, value);
        the last key run is the final probe, whose last value token src leaves out."""
        n_keys, pad = (vocab - 1) // 2, vocab - 1
        runs, i = [], 0
        while i < seq_len:
            if src[i] == pad:
                i += 1
                continue
            j = i
            while j < seq_len and (src[j] < n_keys) == (src[i] < n_keys):
                j += 1
            runs.append((i, tuple(src[i:j])))
            i = j
        out, table = [IGNORE] * seq_len, {}
        if runs[-1][1][0] >= n_keys:  # the probe's value, less its last token
            runs.pop()
        for (_, motif), (begin, value) in zip(runs[:-1:2], runs[1::2], strict=True):
            if motif in table:
                out[begin - 1 : begin - 1 + len(value)] = value
            table[motif] = value
        begin, probe = runs[-1][0] + len(runs[-1][1]), table[runs[-1][1]]
        out[begin - 1 : begin - 1 + len(probe)] = probe
        return out
