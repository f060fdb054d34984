"""The published tasks (MAD, zoology's MQAR, flip-flop): each held-out generator against its
reference solver, shapes, vocabulary, determinism, parameter checks, the published baselines'
lengths, and distribution facts that a wrong port would break."""

import pytest
import torch

from membench import tasks
from membench.config.instances import resolve_task
from membench.errors import MembenchError
from membench.tasks import IGNORE
from membench.tasks.mad_memorization import value_of

SETTINGS = {
    "mad_recall": [{}, {"vocab": 2, "seq_len": 4}, {"vocab": 33, "seq_len": 40}],
    "mad_noisy_recall": [
        {},
        {"noise_percent": 0},
        {"vocab": 5, "noise_vocab": 3, "seq_len": 6, "noise_percent": 99},
    ],
    "mad_fuzzy_recall": [
        {},
        {"vocab": 3, "seq_len": 5, "key_motif": 1, "value_motif": 1},
        {"vocab": 20, "seq_len": 64, "key_motif": 4, "value_motif": 2},
    ],
    "selective_copying": [{}, {"vocab": 3, "seq_len": 4, "tokens_to_copy": 1}],
    "mad_compression": [{}, {"vocab": 2, "seq_len": 2}],
    "mad_memorization": [{}, {"vocab": 3, "seq_len": 2}, {"vocab": 1024, "seq_len": 64}],
    "mqar": [
        {"random_non_queries": 0},
        {"vocab": 6, "seq_len": 4, "pairs": 1, "random_non_queries": 0},
        {"seq_len": 512, "pairs": 64, "power_a": 100, "random_non_queries": 0},
    ],
    "flip_flop": [
        {},
        {"length": 4},
        {"held_out_ignore_percent": 98},
        {"held_out_ignore_percent": 0},
    ],
}
PUBLISHED = sorted(SETTINGS)
N = 300


def cases():
    return [(name, params) for name, options in SETTINGS.items() for params in options]


def held_out(name, overrides, n=N, seed=1):
    task = tasks.get(name)
    params = task.resolve(overrides)
    src, tgt = task.generate_held_out(n, torch.Generator().manual_seed(seed), **params)
    return task, params, src, tgt


@pytest.mark.parametrize("name,overrides", cases())
def test_reference_solver_gives_the_held_out_targets(name, overrides):
    task, params, src, tgt = held_out(name, overrides)
    for row_src, row_tgt in zip(src.tolist(), tgt.tolist(), strict=True):
        assert task.solve(row_src, **params) == row_tgt


def test_mqar_solver_with_random_non_queries_answers_every_scored_query():
    """A random token equal to a key at a query offset is answered by the solver but not scored
    by zoology: everywhere zoology scores, the solver agrees."""
    task, params, src, tgt = held_out("mqar", {"random_non_queries": 1}, n=1000)
    extra = 0
    for row_src, row_tgt in zip(src.tolist(), tgt.tolist(), strict=True):
        solved = task.solve(row_src, **params)
        assert all(s == t for s, t in zip(solved, row_tgt, strict=True) if t != IGNORE)
        extra += sum(t == IGNORE and s != IGNORE for s, t in zip(solved, row_tgt, strict=True))
    assert extra < 40  # 24 filler query slots, 4 keys among 8191 symbols: ~12 in 1000


@pytest.mark.parametrize("name,overrides", cases())
def test_shapes_vocabulary_and_a_scored_position_per_example(name, overrides):
    task = tasks.get(name)
    params = task.resolve(overrides)
    src_len, tgt_len = task.lengths(**params)
    vocab = task.vocab_size(**params)
    positions = task.answer_positions(**params)
    assert positions is None or (len(positions) == tgt_len and max(positions) < src_len)
    for make in (task.generate, task.generate_held_out):
        src, tgt = make(N, torch.Generator().manual_seed(2), **params)
        assert src.shape == (N, src_len) and tgt.shape == (N, tgt_len)
        assert src.dtype == torch.long and tgt.dtype == torch.long
        assert 0 <= int(src.min()) and int(src.max()) < vocab
        scored = tgt != IGNORE
        assert scored.any(dim=1).all()
        assert 0 <= int(tgt[scored].min()) and int(tgt[scored].max()) < vocab
    assert len(set(tgt[scored].tolist())) <= task.output_vocab(**params)
    assert task.partial_targets == bool((tgt == IGNORE).any())


@pytest.mark.parametrize("name", PUBLISHED)
def test_same_seed_same_examples_different_seed_differs(name):
    task = tasks.get(name)
    params = task.resolve(SETTINGS[name][0])
    for make in (task.generate, task.generate_held_out):
        a = make(64, torch.Generator().manual_seed(5), **params)
        b = make(64, torch.Generator().manual_seed(5), **params)
        c = make(64, torch.Generator().manual_seed(6), **params)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize(
    "name,overrides,message",
    [
        ("mad_recall", {"seq_len": 127}, "'seq_len' = 127 is out of range: the sequence is"),
        ("mad_recall", {"vocab": 1}, "'vocab' = 1 is out of range: must be >= 2"),
        ("mad_noisy_recall", {"noise_vocab": 31}, "'vocab' = 32 is out of range: keys and"),
        ("mad_noisy_recall", {"noise_percent": 100}, "'noise_percent' = 100 is out of range"),
        ("mad_noisy_recall", {"noise_vocab": 0}, "'noise_vocab' = 0 is out of range"),
        ("mad_fuzzy_recall", {"key_motif": 8}, "'vocab' = 16 is out of range: motifs are"),
        ("mad_fuzzy_recall", {"seq_len": 12}, "'seq_len' = 12 is out of range: two pairs"),
        ("selective_copying", {"seq_len": 33}, "'seq_len' = 33 is out of range: must be > 2"),
        ("mad_compression", {"seq_len": 1}, "'seq_len' = 1 is out of range: must be >= 2"),
        ("mad_memorization", {"seq_len": 31}, "'seq_len' = 31 is out of range"),
        ("mqar", {"seq_len": 63}, "'seq_len' = 63 is out of range: must be even"),
        ("mqar", {"vocab": 64}, "'vocab' = 64 is out of range: must be > seq_len"),
        ("mqar", {"pairs": 17}, "'pairs' = 17 is out of range: the pairs and their"),
        ("mqar", {"random_non_queries": 2}, "'random_non_queries' = 2 is out of range"),
        ("mqar", {"power_a": 0}, "'power_a' = 0 is out of range: must be >= 1"),
        ("flip_flop", {"length": 511}, "'length' = 511 is out of range"),
        ("flip_flop", {"held_out_ignore_percent": 101}, "'held_out_ignore_percent' = 101"),
    ],
)
def test_out_of_range_parameters_fail_in_one_line(name, overrides, message):
    with pytest.raises(MembenchError) as err:
        tasks.get(name).resolve(overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "instance,lengths",
    [
        ("mad_recall", (127, 127)),  # MAD: seq_len 128, inputs[:-1]
        ("mad_noisy_recall", (127, 127)),
        ("mad_fuzzy_recall", (128, 128)),  # padded to seq_len + 1, then inputs[:-1]
        ("selective_copying", (256, 16)),  # scored: the last num_tokens_to_copy positions
        ("mad_compression", (32, 32)),
        ("mad_memorization", (32, 16)),  # scored: the 16 insert tokens
        ("mqar_64_4", (64, 56)),
        ("mqar_128_8", (128, 112)),
        ("mqar_256_16", (256, 224)),
        ("mqar_512_64", (512, 384)),
        ("flip_flop_sparse", (511, 511)),
        ("flip_flop_dense", (511, 511)),
    ],
)
def test_published_instances_have_the_published_lengths(instance, lengths):
    name, params = resolve_task(instance)
    assert tasks.get(name).lengths(**params) == lengths


def test_published_baselines_are_the_generators_defaults():
    """MAD's configs/tasks/*.yml baselines (MADConfig supplies no noise where a config sets
    none), zoology's MQARConfig defaults, and the flip-flop data's training FFL(0.8)."""
    defaults = {name: tasks.get(name).resolve() for name in PUBLISHED}
    assert defaults["mad_recall"] == {"vocab": 16, "seq_len": 128}
    assert defaults["mad_noisy_recall"] == {
        "vocab": 32,
        "noise_vocab": 16,
        "seq_len": 128,
        "noise_percent": 20,
    }
    assert defaults["mad_fuzzy_recall"] == {
        "vocab": 16,
        "seq_len": 128,
        "key_motif": 3,
        "value_motif": 3,
    }
    assert defaults["selective_copying"] == {"vocab": 16, "seq_len": 256, "tokens_to_copy": 16}
    assert defaults["mad_compression"] == {"vocab": 16, "seq_len": 32}
    assert defaults["mad_memorization"] == {"vocab": 256, "seq_len": 32}
    assert defaults["mqar"] == {
        "vocab": 8192,
        "seq_len": 64,
        "pairs": 4,
        "power_a": 1,
        "random_non_queries": 1,
    }
    assert defaults["flip_flop"]["length"] == 512 and defaults["flip_flop"]["ignore_percent"] == 80
    assert resolve_task("flip_flop_sparse")[1]["held_out_ignore_percent"] == 98
    assert resolve_task("flip_flop_dense")[1]["held_out_ignore_percent"] == 10
    for instance in ("mad_recall", "mad_noisy_recall", "mad_fuzzy_recall", "selective_copying"):
        assert resolve_task(instance)[1] == defaults[instance]


# ---- next-token tasks: training targets are the next source token ----


@pytest.mark.parametrize(
    "name", ["mad_recall", "mad_noisy_recall", "mad_fuzzy_recall", "flip_flop"]
)
def test_next_token_tasks_train_on_the_next_token_and_score_a_subset(name):
    task = tasks.get(name)
    params = task.resolve()
    assert task.answers_in_input and task.answer_positions(**params) == list(
        range(task.lengths(**params)[0])
    )
    src, tgt = task.generate(N, torch.Generator().manual_seed(3), **params)
    assert torch.equal(tgt[:, :-1], src[:, 1:]) and (tgt != IGNORE).all()
    if name != "mad_fuzzy_recall":  # fuzzy recall tests on another distribution
        src_h, tgt_h = task.generate_held_out(N, torch.Generator().manual_seed(3), **params)
        assert torch.equal(src_h, src)
        scored = tgt_h != IGNORE
        assert torch.equal(tgt_h[scored], tgt[scored]) and scored.float().mean() < 0.5


def test_mad_recall_scores_values_of_keys_shown_before_and_the_final_value():
    task, params, src, tgt = held_out("mad_recall", {})
    assert ((src[:, 0:126:2] < 8) & (src[:, 1:126:2] >= 8)).all()  # keys, then values
    assert (tgt[:, 1::2] == IGNORE).all()  # after a value comes a key: never scored
    assert (tgt[:, -1] >= 8).all()  # the final value is always scored
    for row_src, row_tgt in zip(src.tolist()[:50], tgt.tolist()[:50], strict=True):
        for i in range(63):
            shown = row_src[2 * i] in row_src[0 : 2 * i : 2]
            assert (row_tgt[2 * i] != IGNORE) == shown


def test_mad_noisy_recall_noise_pairs_are_a_fifth_of_the_body():
    task, params, src, tgt = held_out("mad_noisy_recall", {}, n=2000)
    body = src[:, :126].reshape(2000, 63, 2)
    noise = body >= 16
    assert torch.equal(noise[..., 0], noise[..., 1])  # a pair is noise or not, whole
    assert abs(noise[..., 0].float().mean().item() - 0.2) < 0.01
    assert (tgt[:, 0:126:2][noise[..., 0]] == IGNORE).all()


def test_mad_fuzzy_recall_tests_on_the_largest_keys_and_trains_on_all_sizes():
    def key_runs(src):
        sizes = set()
        for row in src.tolist():
            run = 0
            for token in row + [15]:
                if token < 7:
                    run += 1
                elif run:
                    sizes.add(run)
                    run = 0
        return sizes

    task = tasks.get("mad_fuzzy_recall")
    params = task.resolve()
    train, _ = task.generate(N, torch.Generator().manual_seed(4), **params)
    test, tgt = task.generate_held_out(N, torch.Generator().manual_seed(4), **params)
    assert key_runs(train) == {1, 2, 3} and key_runs(test) == {3}
    for src in (train, test):  # pads (15) only in front, at least 1
        pads = src == 15
        assert pads[:, 0].all() and (pads.int().diff(dim=1) <= 0).all()
    assert ((tgt == IGNORE) | ((tgt >= 7) & (tgt < 15))).all()  # only values are scored


def test_selective_copying_scores_the_non_blank_tokens_in_order():
    task, params, src, tgt = held_out("selective_copying", {})
    blank, copy = 14, 15
    assert task.answer_positions(**params) == list(range(240, 256))
    assert (src[:, 239] == copy).all() and (src[:, 240:] == blank).all()
    assert (src[:, 238] != blank).all()  # MAD inserts blanks only before the tokens to copy
    assert ((src[:, :239] != blank).sum(dim=1) == 16).all()
    for row_src, row_tgt in zip(src.tolist(), tgt.tolist(), strict=True):
        assert [t for t in row_src[:239] if t != blank] == row_tgt
    assert (tgt < 14).all()


def test_mad_compression_reconstructs_the_whole_input():
    task, params, src, tgt = held_out("mad_compression", {})
    assert torch.equal(src, tgt) and (src[:, -1] == 15).all() and (src[:, :-1] < 15).all()
    assert task.answer_positions(**params) is None


def test_mad_memorization_map_is_fixed_across_seeds_and_one_to_one():
    task = tasks.get("mad_memorization")
    params = task.resolve()
    seen = {}
    for seed in range(4):
        src, tgt = task.generate(200, torch.Generator().manual_seed(seed), **params)
        assert (src[:, 1::2] == 255).all() and (src[:, 0::2] < 127).all()
        for key, value in zip(src[:, 0::2].flatten().tolist(), tgt.flatten().tolist(), strict=True):
            assert seen.setdefault(key, value) == value
    assert len(seen) == 127 and len(set(seen.values())) == 127  # every key, one-to-one
    assert all(127 <= v < 255 for v in seen.values())
    value_of.cache_clear()  # rebuilt from its seed, the same map
    assert [value_of(256)[k].item() for k in sorted(seen)] == [seen[k] for k in sorted(seen)]


def test_mqar_queries_each_key_once_after_the_pairs():
    task, params, src, tgt = held_out("mqar", {"random_non_queries": 0}, n=1000)
    pairs, context = 4, 8
    keys, values = src[:, 0:context:2], src[:, 1:context:2]
    assert ((keys >= 1) & (keys < 4096)).all() and ((values >= 4096) & (values < 8192)).all()
    assert all(len(set(row)) == pairs for row in keys.tolist())  # distinct keys
    assert all(len(set(row)) == pairs for row in values.tolist())  # distinct values
    scored = tgt != IGNORE
    assert (scored.sum(dim=1) == pairs).all()
    assert not scored[:, 1::2].any()  # queries at even offsets after the pairs
    queries = src[:, context:]
    assert torch.equal(queries != 0, scored)  # zeros elsewhere
    assert ((tgt[scored] >= 4096) & (tgt[scored] < 8192)).all()
    for k in range(pairs):  # each key once, answered with its value
        at = queries == keys[:, k : k + 1]
        assert (at.sum(dim=1) == 1).all()
        assert torch.equal(tgt[at], values[:, k])
    # zoology's power law (a = 0.01): the first key's gap is smallest
    gap = [(queries == keys[:, k : k + 1]).int().argmax(dim=1).float() / 2 for k in range(pairs)]
    assert gap[0].mean() < gap[-1].mean() and 0.2 < (gap[0] == 0).float().mean() < 0.3
    assert not task.answers_in_input


def test_mqar_random_non_queries_fill_the_other_positions_with_any_symbol():
    task, params, src, tgt = held_out("mqar", {}, n=500)
    filler = src[:, 8:][tgt == IGNORE]
    assert filler.min() < 100 and filler.max() > 8000 and (filler != 0).float().mean() > 0.99


@pytest.mark.parametrize("percent", [98, 80, 10])
def test_flip_flop_ignore_fraction_and_scored_reads(percent):
    task, params, src, tgt = held_out("flip_flop", {"held_out_ignore_percent": percent}, n=1000)
    ops = src[:, 0::2]
    assert (ops[:, 0] == 0).all() and (ops[:, -1] == 1).all()  # first a write, last a read
    middle = ops[:, 1:-1]
    assert abs((middle == 2).float().mean().item() - percent / 100) < 0.01
    writes, reads = (middle == 0).float().mean().item(), (middle == 1).float().mean().item()
    assert abs(writes - reads) < 0.01
    assert torch.equal(tgt != IGNORE, src == 1)  # scored: the bit after each read
    assert ((tgt[tgt != IGNORE] == 3) | (tgt[tgt != IGNORE] == 4)).all()
    assert task.output_vocab(**params) == 2
