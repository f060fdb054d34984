"""mad_noisy_recall: MAD's noisy in-context recall (multi-query), a next-token task.

Source: athms/mad-lab, mad/data/instances.py, generate_noisy_in_context_recall_instance (which
calls generate_in_context_recall_instance), at MAD's benchmark settings
(configs/tasks/noisy-in-context-recall.yml: vocab_size 32, noise_vocab_size 16, seq_len 128,
frac_noise 0.2, multi_query True); MAD, arXiv 2403.17844. As `mad_recall`, except that each pair
of the body is, with probability noise_percent / 100, two tokens drawn from the noise symbols
(the top noise_vocab ids), never scored; keys and values share the rest of the vocabulary.

Deliberate differences: frac_noise is an integer percent. MAD keeps one pair free of noise at an
index drawn from all seq_len/2 pairs, the last of which is the final pair, not the body; when it
falls there every body pair may be noise and MAD then fails drawing the final key (probability
0.2^63 / 64 at the baseline). Here that index is drawn from the body's pairs, so
every example shows a key. The single-query variant is not offered (see `mad_recall`).
"""

from membench.errors import MembenchError
from membench.tasks.base import Param, Task, register
from membench.tasks.mad_recall import check_recall, recall_sequences, solve_recall


@register
class MadNoisyRecall(Task):
    name = "mad_noisy_recall"
    difficulty = "vocab"  # the parameter a capacity ladder sweeps (MAD sweeps 48, 80, 144)
    description = "MAD noisy in-context recall: recall with noise pairs between the key-value pairs"
    answers_in_input = True
    partial_targets = True
    params = {
        "vocab": Param(32, 2, "symbols, noise included: keys, values, then the noise symbols"),
        "noise_vocab": Param(16, 0, "noise symbols (the top ids)"),
        "seq_len": Param(128, 4, "MAD's sequence length (even); src is one shorter"),
        "noise_percent": Param(20, 0, "chance in percent that a pair is noise (< 100)"),
    }

    def check(self, params):
        check_recall(self.name, params["vocab"], params["seq_len"], params["noise_vocab"])
        if params["noise_percent"] >= 100:
            raise MembenchError(
                f"task '{self.name}' parameter 'noise_percent' = {params['noise_percent']} is out "
                "of range: must be < 100"
            )
        if params["noise_percent"] and not params["noise_vocab"]:
            raise MembenchError(
                f"task '{self.name}' parameter 'noise_vocab' = 0 is out of range: noise needs "
                "symbols, so it must be >= 1 while noise_percent > 0"
            )

    def generate(self, n, generator, vocab, noise_vocab, seq_len, noise_percent):
        sequence, _ = recall_sequences(n, generator, vocab, seq_len, noise_vocab, noise_percent)
        return sequence[:, :-1], sequence[:, 1:]

    def generate_held_out(self, n, generator, vocab, noise_vocab, seq_len, noise_percent):
        sequence, test = recall_sequences(n, generator, vocab, seq_len, noise_vocab, noise_percent)
        return sequence[:, :-1], test[:, 1:]

    def vocab_size(self, vocab, noise_vocab, seq_len, noise_percent):
        return vocab

    def lengths(self, vocab, noise_vocab, seq_len, noise_percent):
        return seq_len - 1, seq_len - 1

    def answer_positions(self, vocab, noise_vocab, seq_len, noise_percent):
        return list(range(seq_len - 1))

    def output_vocab(self, vocab, noise_vocab, seq_len, noise_percent):
        symbols = vocab - noise_vocab
        return symbols - symbols // 2

    def solve(self, src, vocab, noise_vocab, seq_len, noise_percent):
        return solve_recall(src, seq_len, vocab - noise_vocab)
