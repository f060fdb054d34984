"""The model family: the contract, and tests that would fail if a variant's wiring were wrong
(a bottleneck that leaks, a controller that shares weights, a decoder that peeks ahead)."""

import pytest
import torch
import torch.nn.functional as F

from membench import tasks
from membench.config.spec import ModelConfig
from membench.errors import MembenchError
from membench.models import build_model, count_parameters, factory_keywords, load_factory
from membench.models.transformer import Attention

VOCAB, SRC_LEN, TGT_LEN = 5, 6, 4  # different lengths catch src/tgt mix-ups
SMALL = {"d_model": 16, "n_heads": 2, "d_ff": 32}
MEMORY_VARIANTS = [  # (mem_tokens, controller, bottleneck)
    (4, "shared", False),
    (4, "dedicated", False),
    (4, "dedicated_shared", False),
    (4, "shared", True),
    (4, "dedicated", True),
    (4, "dedicated_shared", True),
]
VARIANTS = [
    (arch, *variant)
    for arch in ("encoder", "encoder_decoder")
    for variant in [(0, "shared", False), *MEMORY_VARIANTS]
]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread (and leave the other core to other work)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make(arch="encoder", mem=4, controller="shared", bottleneck=False, sizes=None, **overrides):
    """A small model in eval mode, initialised from seed 0; sizes: (vocab, src len, tgt len)."""
    torch.manual_seed(0)
    config = {"arch": arch, "mem_tokens": mem, "controller": controller, "bottleneck": bottleneck}
    return build_model(config | SMALL | overrides, *(sizes or (VOCAB, SRC_LEN, TGT_LEN))).eval()


def batch(n=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, VOCAB, (n, SRC_LEN), generator=g)
    tgt = torch.randint(0, VOCAB, (n, TGT_LEN), generator=g)
    return src, tgt


def variant_id(variant):
    return "-".join(str(v) for v in variant)


# ---- the contract ----


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_contract_shapes_layout_and_attention(variant):
    arch, mem, controller, bottleneck = variant
    model = make(arch, mem, controller, bottleneck)
    src, tgt = batch()
    logits = model(src, tgt)
    assert logits.shape == (3, TGT_LEN, VOCAB)

    expected_layout = {"mem": (0, mem), "src": (mem, mem + SRC_LEN)}
    if arch == "encoder":
        expected_layout |= {
            "sep": (mem + SRC_LEN, mem + SRC_LEN + 1),
            "answer": (mem + SRC_LEN + 1, mem + SRC_LEN + 1 + TGT_LEN),
        }
    assert model.layout == expected_layout
    t = max(end for _, end in model.layout.values())

    captured, attention = model(src, tgt, return_attention=True)
    torch.testing.assert_close(captured, logits, atol=1e-5, rtol=0)  # explicit path == SDPA
    assert len(attention["self"]) == 2
    for weights in attention["self"]:
        assert weights.shape == (3, 2, t, t)
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, t))
    if arch == "encoder_decoder":
        assert len(attention["cross"]) == len(attention["decoder_self"]) == 2
        for cross, own in zip(attention["cross"], attention["decoder_self"], strict=True):
            assert cross.shape == (3, 2, TGT_LEN, t)
            assert own.shape == (3, 2, TGT_LEN, TGT_LEN)
            torch.testing.assert_close(cross.sum(-1), torch.ones(3, 2, TGT_LEN))
            torch.testing.assert_close(own.sum(-1), torch.ones(3, 2, TGT_LEN))
            assert (own.triu(1) == 0).all()  # causal: no weight on later target positions

    tokens = model.predict(src, TGT_LEN)
    assert tokens.shape == (3, TGT_LEN) and tokens.dtype == torch.long
    assert ((tokens >= 0) & (tokens < VOCAB)).all()
    # predicting never reads targets: teacher forcing on its own outputs reproduces them
    assert torch.equal(model(src, tokens).argmax(-1), tokens)


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v[0] == "encoder"], ids=variant_id)
def test_encoder_logits_ignore_target_values(variant):
    model = make(*variant)
    src, tgt = batch()
    assert torch.equal(model(src, tgt), model(src, torch.zeros_like(tgt)))


def test_build_model_takes_config_or_dict_and_validates():
    config = ModelConfig(mem_tokens=2, **SMALL)
    assert count_parameters(build_model(config, VOCAB, SRC_LEN, TGT_LEN)) == count_parameters(
        build_model({"mem_tokens": 2, **SMALL}, VOCAB, SRC_LEN, TGT_LEN)
    )
    with pytest.raises(MembenchError, match="bottleneck"):
        build_model({"bottleneck": True}, VOCAB, SRC_LEN, TGT_LEN)
    with pytest.raises(MembenchError, match="controller"):
        build_model({"controller": "dedicated"}, VOCAB, SRC_LEN, TGT_LEN)


@pytest.mark.parametrize("arch", ["encoder", "encoder_decoder"])
def test_wrong_lengths_fail_clearly(arch):
    model = make(arch)
    src, tgt = batch()
    with pytest.raises(ValueError, match="built for src length 6 and tgt length 4"):
        model(src[:, :-1], tgt)
    with pytest.raises(ValueError, match="tgt length"):
        model.predict(src, TGT_LEN + 1)


# ---- bottleneck: every exchange between sequence positions passes through memory ----


@pytest.mark.parametrize("controller", ["shared", "dedicated", "dedicated_shared"])
@pytest.mark.parametrize("arch", ["encoder", "encoder_decoder"])
def test_bottleneck_sequence_attends_to_memory_only(arch, controller):
    model = make(arch, 4, controller, bottleneck=True, n_layers=3)
    _, attention = model(*batch(), return_attention=True)
    for weights in attention["self"]:
        assert (weights[:, :, 4:, 4:] == 0).all()  # seq -> seq: exactly zero, in every layer
        torch.testing.assert_close(
            weights[:, :, 4:, :4].sum(-1), torch.ones_like(weights[..., 4:, 0])
        )
        assert (weights[:, :, :4, 4:] > 0).any()  # memory still reads the sequence
    for cross in attention.get("cross", []):  # the decoder reads encoder memory only
        assert (cross[:, :, :, 4:] == 0).all()
        torch.testing.assert_close(cross[:, :, :, :4].sum(-1), torch.ones(3, 2, TGT_LEN))


def sequence_jacobian_rank(layer, mem, n=10, d=8):
    """Rank of d(outputs at seq positions 0..4) / d(inputs at seq positions 5..9) for one layer.

    Under the bottleneck every path from one sequence position to another goes through the
    updated memory (mem x d numbers), so the rank is at most mem * d; with attention between
    sequence positions it is up to 5 * d."""
    x = torch.randn(1, mem + n, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    def outputs_a(inputs_b):
        return layer(torch.cat([x[:, : mem + 5], inputs_b], dim=1))[0][:, mem : mem + 5]

    jacobian = torch.autograd.functional.jacobian(outputs_a, x[:, mem + 5 :], vectorize=True)
    return torch.linalg.matrix_rank(jacobian.reshape(5 * d, 5 * d)).item()


@pytest.mark.parametrize("controller", ["shared", "dedicated"])
def test_bottleneck_information_between_positions_passes_through_memory(controller):
    d = 8
    bottleneck = make(mem=1, controller=controller, bottleneck=True, d_model=d, n_layers=1)
    assert sequence_jacobian_rank(bottleneck.encoder.layers[0].double(), mem=1, d=d) <= d
    plain = make(mem=1, controller=controller, bottleneck=False, d_model=d, n_layers=1)
    assert sequence_jacobian_rank(plain.encoder.layers[0].double(), mem=1, d=d) > 2 * d


def cut_memory_writes(model):
    """Zero the controllers' attention outputs: memory can no longer read the sequence."""
    with torch.no_grad():
        for layer in model.encoder.layers:
            layer.controller.attn.proj.weight.zero_()
            layer.controller.attn.proj.bias.zero_()


@pytest.mark.parametrize("arch", ["encoder", "encoder_decoder"])
def test_bottleneck_without_memory_writes_cannot_see_the_source(arch):
    """Changing source tokens reaches the outputs only through memory: cut memory's reads of
    the sequence and the outputs no longer depend on the source at all (they still do without
    the bottleneck, so a leak from sequence to sequence, or decoder to source, fails here)."""
    src_a, tgt = batch(seed=1)
    src_b, _ = batch(seed=2)
    for bottleneck in (True, False):
        model = make(arch, 4, "dedicated", bottleneck)
        cut_memory_writes(model)
        same = torch.allclose(model(src_a, tgt), model(src_b, tgt), atol=1e-6)
        assert same is bottleneck


# ---- dedicated memory controller ----


def block_parameters(d, f):
    layer_norm = 2 * d
    attention = (d * 3 * d + 3 * d) + (d * d + d)  # fused qkv, output projection
    ffn = (d * f + f) + (f * d + d)
    return 2 * layer_norm + attention + ffn


def decoder_block_parameters(d, f):
    return block_parameters(d, f) + 2 * d + (4 * d * d + 4 * d)  # + LayerNorm, cross-attention


def expected_parameters(arch, d, f, n_layers, mem, controllers, vocab, src_len, tgt_len):
    blocks = (n_layers + controllers) * block_parameters(d, f)
    head = d * vocab + vocab
    if arch == "encoder":  # embeddings: vocab + SEP + SLOT; positions: src, SEP, answer slots
        embeddings = (vocab + 2) * d + (src_len + 1 + tgt_len) * d
        return embeddings + mem * d + blocks + 2 * d + head
    embeddings = (vocab + 1) * d + src_len * d + tgt_len * d  # + BOS
    decoder = n_layers * decoder_block_parameters(d, f) + 2 * d
    return embeddings + mem * d + blocks + 2 * d + decoder + head


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
@pytest.mark.parametrize("n_layers", [1, 3])
def test_parameter_count_matches_formula(variant, n_layers):
    arch, mem, controller, bottleneck = variant
    model = make(arch, mem, controller, bottleneck, n_layers=n_layers)
    controllers = {"shared": 0, "dedicated": n_layers, "dedicated_shared": 1}[controller]
    expected = expected_parameters(
        arch, 16, 32, n_layers, mem, controllers, VOCAB, SRC_LEN, TGT_LEN
    )
    assert count_parameters(model) == expected


@pytest.mark.parametrize("n_layers", [1, 2, 5])
def test_dedicated_shared_adds_exactly_one_controller(n_layers):
    shared = count_parameters(make(controller="shared", n_layers=n_layers))
    one = count_parameters(make(controller="dedicated_shared", n_layers=n_layers))
    per_layer = count_parameters(make(controller="dedicated", n_layers=n_layers))
    assert one - shared == block_parameters(16, 32)
    assert per_layer - shared == n_layers * block_parameters(16, 32)


def layer_outputs(model, x):
    return [layer(x)[0] for layer in model.encoder.layers]


@pytest.mark.parametrize("controller", ["dedicated", "dedicated_shared"])
def test_controller_updates_memory_and_layer_updates_sequence(controller):
    model = make(mem=4, controller=controller, n_layers=3)
    x = torch.randn(2, 4 + SRC_LEN + 1 + TGT_LEN, 16)
    for target in range(3):
        before = layer_outputs(model, x)
        with torch.no_grad():
            model.encoder.layers[target].controller.ffn[2].bias.add_(1.0)
        after = layer_outputs(model, x)
        for i, (old, new) in enumerate(zip(before, after, strict=True)):
            assert torch.equal(old[:, 4:], new[:, 4:])  # sequence rows: untouched in every layer
            changed = i == target or controller == "dedicated_shared"
            assert torch.equal(old[:, :4], new[:, :4]) is not changed

        before = layer_outputs(model, x)
        with torch.no_grad():
            model.encoder.layers[target].block.ffn[2].bias.add_(1.0)
        after = layer_outputs(model, x)
        for i, (old, new) in enumerate(zip(before, after, strict=True)):
            assert torch.equal(old[:, :4], new[:, :4])  # memory rows: the controller's alone
            assert torch.equal(old[:, 4:], new[:, 4:]) is not (i == target)


def test_shared_controller_state_dict_round_trips():
    model = make(controller="dedicated_shared", n_layers=3)
    other = make(controller="dedicated_shared", n_layers=3)
    with torch.no_grad():
        for p in other.parameters():
            p.zero_()
    other.load_state_dict(model.state_dict())
    src, tgt = batch()
    assert torch.equal(other(src, tgt), model(src, tgt))
    assert other.encoder.layers[0].controller is other.encoder.layers[2].controller


# ---- encoder-decoder ----


@pytest.mark.parametrize("bottleneck", [False, True])
def test_decoder_is_causal(bottleneck):
    """logits[:, i] depends on src and tgt[:, :i] only: changing tgt[:, t] leaves logits at
    positions 0..t unchanged and changes position t + 1."""
    model = make("encoder_decoder", 4, "shared", bottleneck)
    src, tgt = batch()
    logits = model(src, tgt)
    for t in range(TGT_LEN - 1):
        changed = tgt.clone()
        changed[:, t] = (changed[:, t] + 1) % VOCAB
        new = model(src, changed)
        torch.testing.assert_close(new[:, : t + 1], logits[:, : t + 1], atol=1e-6, rtol=0)
        assert not torch.allclose(new[:, t + 1], logits[:, t + 1])


@pytest.mark.parametrize("bottleneck", [False, True])
def test_greedy_predict_matches_teacher_forcing_on_garbage(bottleneck):
    """predict == a greedy decode written with forward, where each step feeds the predicted
    prefix followed by random tokens: whatever the target tensor holds beyond the prefix
    cannot matter."""
    model = make("encoder_decoder", 4, "shared", bottleneck)
    src, _ = batch()
    g = torch.Generator().manual_seed(7)
    decoded = torch.zeros(3, 0, dtype=torch.long)
    for t in range(TGT_LEN):
        garbage = torch.randint(0, VOCAB, (3, TGT_LEN - t), generator=g)
        step = model(src, torch.cat([decoded, garbage], dim=1))[:, t].argmax(-1)
        decoded = torch.cat([decoded, step[:, None]], dim=1)
    assert torch.equal(model.predict(src, TGT_LEN), decoded)
    other, _ = batch(seed=5)  # and the source does matter
    assert not torch.equal(model(src, decoded), model(other, decoded))


# ---- every variant learns ----


@pytest.mark.parametrize("variant", VARIANTS, ids=variant_id)
def test_every_variant_trains(variant):
    """50 AdamW steps on copy (length 8, 4 symbols) cut the loss clearly. One layer keeps this
    fast; sharing across layers is tested above."""
    arch, mem, controller, bottleneck = variant
    model = make(arch, mem, controller, bottleneck, (4, 8, 8), d_model=32, d_ff=64, n_layers=1)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(50):
        src, tgt = tasks.get("copy").generate(32, generator, length=8, vocab=4)
        logits = model(src, tgt)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) / 5 < 0.8 * losses[0]


# ---- user factories ----


def test_load_factory_finds_build_model():
    assert load_factory("membench.models:build_model") is build_model


@pytest.mark.parametrize("target", ["membench.models", ":build", "membench.models:", "a:b:c", 3])
def test_load_factory_rejects_malformed(target):
    with pytest.raises(MembenchError, match="expected 'module:function'"):
        load_factory(target)


def test_load_factory_missing_module_or_function(tmp_path, monkeypatch):
    with pytest.raises(MembenchError, match="no module named 'no_such_module_xyz'"):
        load_factory("no_such_module_xyz:build")
    with pytest.raises(MembenchError, match="has no 'build_modle'; did you mean 'build_model'"):
        load_factory("membench.models:build_modle")
    with pytest.raises(MembenchError, match="'ARCHS' is not callable"):
        load_factory("membench.models:ARCHS")
    (tmp_path / "broken_factory_mod.py").write_text("import not_installed_dep_xyz\n")
    (tmp_path / "user_factory_mod.py").write_text(
        "from membench.models import build_model\n"
        "def build(config, vocab_size, src_len, tgt_len):\n"
        "    return build_model(config, vocab_size, src_len, tgt_len)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MembenchError, match="importing 'broken_factory_mod' failed"):
        load_factory("broken_factory_mod:build")
    model = load_factory("user_factory_mod:build")(SMALL, VOCAB, SRC_LEN, TGT_LEN)
    assert model(*batch()).shape == (3, TGT_LEN, VOCAB)


# ---- answers read at source positions (Task.answer_positions) ----

TAIL = [2, 3, 4, 5]  # the last TGT_LEN source positions, in order: assoc_recall's shape
SCATTERED = [4, 0, 5, 2]  # any source positions, in any order


def make_at(positions, arch="encoder", mem=4, controller="shared", bottleneck=False, **overrides):
    torch.manual_seed(0)
    config = {"arch": arch, "mem_tokens": mem, "controller": controller, "bottleneck": bottleneck}
    return build_model(
        config | SMALL | overrides, VOCAB, SRC_LEN, TGT_LEN, answer_positions=positions
    ).eval()


def isolate_positions(model):
    """Zero every attention output (controllers' too): each output row then depends on its own
    input row only, so logits[:, t] can depend on src[:, p] only where p is t's answer position."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, Attention):
                module.proj.weight.zero_()
                module.proj.bias.zero_()


@pytest.mark.parametrize("positions", [TAIL, SCATTERED], ids=["tail", "scattered"])
@pytest.mark.parametrize("variant", [(0, "shared", False), *MEMORY_VARIANTS], ids=variant_id)
def test_encoder_reads_each_answer_at_its_source_position(variant, positions):
    """Changing src at answer position p_t changes logits[:, t] (and only there); changing any
    other source position changes nothing: the head reads row mem + p_t, for every variant."""
    model = make_at(positions, "encoder", *variant)
    isolate_positions(model)
    src, tgt = batch()
    logits = model(src, tgt)
    assert logits.shape == (3, TGT_LEN, VOCAB)
    for p in range(SRC_LEN):
        changed = src.clone()
        changed[:, p] = (changed[:, p] + 1) % VOCAB
        new = model(changed, tgt)
        for t in range(TGT_LEN):
            assert torch.equal(new[:, t], logits[:, t]) is (positions[t] != p), (p, t)


@pytest.mark.parametrize("variant", [(0, "shared", False), *MEMORY_VARIANTS], ids=variant_id)
def test_answer_positions_layout_attention_and_predict(variant):
    """[mem; src] only (no SEP, no slots); the layout's answer rows are the answer positions; the
    captured (every row) path equals the fast one; predict is the argmax; targets never read."""
    mem = variant[0]
    model = make_at(TAIL, "encoder", *variant)
    assert model.layout == {"mem": (0, mem), "src": (mem, mem + 2), "answer": (mem + 2, mem + 6)}
    src, tgt = batch()
    logits = model(src, tgt)
    captured, attention = model(src, tgt, return_attention=True)
    torch.testing.assert_close(captured, logits, atol=1e-5, rtol=0)
    t = mem + SRC_LEN
    for weights in attention["self"]:
        assert weights.shape == (3, 2, t, t)
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, t))
    assert torch.equal(model.predict(src, TGT_LEN), logits.argmax(-1))
    assert torch.equal(model(src, torch.zeros_like(tgt)), logits)
    scattered = make_at(SCATTERED, "encoder", *variant)  # no contiguous answer rows to name
    assert scattered.layout == {"mem": (0, mem), "src": (mem, mem + SRC_LEN)}
    torch.testing.assert_close(
        scattered(src, tgt, return_attention=True)[0], scattered(src, tgt), atol=1e-5, rtol=0
    )


def test_answer_positions_drop_sep_and_slots_from_the_parameters():
    for arch in ("encoder", "encoder_decoder"):
        slots = count_parameters(make(arch, n_layers=1))
        at = count_parameters(make_at(TAIL, arch, n_layers=1))
        # encoder: no SEP and slot embeddings, no positions for SEP and slots
        assert slots - at == ((2 + 1 + TGT_LEN) * 16 if arch == "encoder" else 0)


def test_encoder_decoder_keeps_its_decoder():
    src, tgt = batch()
    assert torch.equal(
        make_at(TAIL, "encoder_decoder")(src, tgt), make("encoder_decoder")(src, tgt)
    )


@pytest.mark.parametrize("positions", [[0, 1, 2], [0, 1, 2, 6], [-1, 0, 1, 2]])
def test_bad_answer_positions_fail_clearly(positions):
    with pytest.raises(ValueError, match="one source index in \\[0, 6\\) for each of the 4"):
        make_at(positions)


def test_factory_keywords_go_only_to_factories_that_name_them():
    from tests import user_models

    given = {"answer_positions": [1, 2]}
    assert factory_keywords(build_model, **given) == given
    assert factory_keywords(user_models.at_positions, **given) == given
    assert factory_keywords(user_models.lookup, **given) == {}
    assert factory_keywords(user_models.lookup_kwargs, **given) == {}  # **kwargs is not asking
    assert factory_keywords(len, **given) == {}
