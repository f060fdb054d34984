"""Every memory-style token as a model option: persistent key-value memory (`mem_kv`), pause
tokens, an attention sink and interspersed memory (`mem_every`): what each reads and is read
by, what cannot work is refused in one line, and each trains as a trial."""

import pytest
import torch

from membench.config.identity import make_spec
from membench.config.spec import model_config
from membench.errors import MembenchError
from membench.models import build_model, count_parameters, knockout
from membench.models.flops import step_flops
from membench.models.masks import interspersed_mask
from membench.models.transformer import MemoryTransformer
from membench.run.train import run_trial

BASE = {"d_model": 16, "n_layers": 2, "n_heads": 2, "d_ff": 32}
VOCAB, SRC, TGT = 5, 6, 3


def model(**options):
    torch.manual_seed(0)
    return build_model({**BASE, **options}, VOCAB, SRC, TGT).eval()


def batch(seed=0, n=4):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(VOCAB, (n, SRC), generator=g), torch.randint(VOCAB, (n, TGT), generator=g)


@pytest.mark.parametrize(
    "options, key",
    [
        ({"pause_tokens": 2, "arch": "encoder_decoder"}, "pause_tokens"),
        ({"sink": True, "arch": "recurrent", "segment": 2}, "sink"),
        ({"mem_every": 4}, "mem_every"),  # no memory to repeat
        ({"mem_every": 4, "mem_tokens": 2, "bottleneck": True}, "mem_every"),
        ({"mem_every": 4, "mem_tokens": 2, "controller": "dedicated"}, "mem_every"),
        ({"mem_every": 4, "mem_tokens": 2, "sink": True}, "mem_every"),
        ({"mem_kv": -1}, "mem_kv"),
    ],
)
def test_combinations_that_cannot_work_are_one_line(options, key):
    with pytest.raises(MembenchError) as err:
        model_config({**BASE, **options})
    assert f"model.{key}" in str(err.value) and "\n" not in str(err.value)


def test_persistent_memory_is_read_by_every_query_under_every_mask():
    plain, net = model(causal=True), model(causal=True, mem_kv=3)
    src, tgt = batch()
    per_layer = 2 * 2 * 3 * 8  # keys and values, heads, pairs, head width
    assert count_parameters(net) == count_parameters(plain) + 2 * per_layer
    before = net(src, tgt)
    with torch.no_grad():  # every attention's persistent values changed: every row moves
        for attention in (layer.block.attn for layer in net.encoder.layers):
            attention.mem_v.add_(1.0)
    after = net(src, tgt)
    assert (before - after).abs().amax(dim=-1).min() > 1e-4
    maps = net(src, tgt, return_attention=True)[1]["self"]
    t = SRC + 1 + TGT
    assert maps[0].shape == (4, 2, t, t)  # maps cover sequence positions only
    assert (maps[0].sum(-1) < 1).all()  # the rest of each row went to persistent memory
    loss = net(src, tgt).logsumexp(-1).sum()
    loss.backward()
    assert net.encoder.layers[0].block.attn.mem_k.grad.abs().sum() > 0


def test_persistent_memory_in_the_decoder_and_the_recurrent_model():
    src, tgt = batch()
    for options in ({"arch": "encoder_decoder"}, {"arch": "recurrent", "segment": 2}):
        net = model(**options, mem_kv=2, mem_tokens=1)
        assert net(src, tgt).shape == (4, TGT, VOCAB)
        assert net.predict(src, TGT).shape == (4, TGT)


def test_a_sink_is_the_first_sequence_token_and_reads_only_itself_when_causal():
    net = model(causal=True, sink=True, mem_tokens=2)
    assert net.layout["sink"] == (2, 3) and net.layout["src"] == (3, 3 + SRC)
    src, tgt = batch()
    maps = net(src, tgt, return_attention=True)[1]["self"]
    sink_row = maps[0][:, :, 2]
    assert torch.allclose(sink_row[..., 3:], torch.zeros(()))  # nothing after it
    assert (maps[1][:, :, 3:, 2] > 0).all()  # every later sequence row may rest on it
    before = net(src, tgt)
    with torch.no_grad():
        net.sink.add_(1.0)
    assert not torch.allclose(before, net(src, tgt))


def test_pause_tokens_sit_before_the_answers_and_are_never_scored():
    net = model(causal=True, pause_tokens=3)
    lay = net.layout
    assert lay["sep"][1] == lay["pause"][0] and lay["pause"] == (SRC + 1, SRC + 4)
    assert lay["answer"] == (SRC + 4, SRC + 4 + TGT)
    src, tgt = batch()
    assert net(src, tgt).shape == (4, TGT, VOCAB)  # one prediction per target token
    maps = net(src, tgt, return_attention=True)[1]["self"]
    assert (maps[1][:, :, lay["answer"][0] :, lay["pause"][0] : lay["pause"][1]] > 0).all()
    # a task that reads its answers at source positions: the pause goes before the first one
    recall = MemoryTransformer(model_config({**BASE, "pause_tokens": 2}), VOCAB, 8, 2, [6, 7])
    assert recall.layout["pause"] == (6, 8) and recall.layout["answer"] == (8, 10)
    with pytest.raises(ValueError, match="spread through its input"):
        MemoryTransformer(model_config({**BASE, "pause_tokens": 2}), VOCAB, 8, 2, [3, 7])


def test_interspersed_memory_repeats_before_every_k_positions():
    net = model(causal=True, mem_tokens=2, mem_every=4)
    length = SRC + 1 + TGT  # 10 sequence positions: runs of 4, 4, 2
    expected = [True] * 2 + [False] * 4 + [True] * 2 + [False] * 4 + [True] * 2 + [False] * 2
    assert net.mem_rows.tolist() == expected and net.layout is None
    assert len(expected) == length + 6
    mask = interspersed_mask(net.mem_rows, True, None)
    assert not mask[6, 7] and mask[7, 5]  # the second memory reads only what came before it
    src, tgt = batch()
    assert net(src, tgt).shape == (4, TGT, VOCAB)
    with knockout(net, "read"):
        cut = net(src, tgt)
        with torch.no_grad():
            net.mem.add_(1.0)
        assert torch.allclose(cut, net(src, tgt))  # no row reads memory: memory is irrelevant
    assert not torch.allclose(cut, net(src, tgt))


def test_interspersed_memory_past_the_end_is_memory_first_when_bidirectional():
    front = model(causal=False, mem_tokens=2)
    once = model(causal=False, mem_tokens=2, mem_every=100)
    once.load_state_dict(front.state_dict())  # the same parameters, none added
    src, tgt = batch()
    assert torch.allclose(front(src, tgt), once(src, tgt), atol=1e-6)


@pytest.mark.parametrize(
    "options",
    [{"mem_kv": 4}, {"pause_tokens": 2}, {"sink": True}, {"mem_tokens": 2, "mem_every": 4}],
    ids=["mem_kv", "pause", "sink", "interspersed"],
)
def test_each_option_trains_as_a_trial_and_counts_its_cost(options):
    train = {"steps": 20, "eval_every": 10, "eval_size": 16, "device": "cpu"}
    spec = make_spec(task="copy", task_overrides={"length": 4}, model={**BASE, **options},
                     train=train)  # fmt: skip
    record = run_trial(spec)
    assert record["status"] == "ok", record.get("error")
    plain = make_spec(task="copy", task_overrides={"length": 4}, model=BASE, train=train)
    assert spec.trial_id() != plain.trial_id()
    params = {"length": 4, "vocab": 8}
    assert step_flops({**BASE, **options}, "copy", params, 1) > step_flops(BASE, "copy", params, 1)
    if options.get("mem_every"):
        assert record["attention"] is None and "interspersed" in record["notes"][0]
    else:
        assert record["attention"] is not None


def test_attention_is_counted_on_the_cpu_as_torch_counts_it_on_the_gpu():
    from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

    q, k, v = (torch.randn(2, 4, 16, 8, requires_grad=True) for _ in range(3))
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.scaled_dot_product_attention(q, k, v).sum().backward()
    expected = sdpa_flop_count(q.shape, k.shape, v.shape)
    expected += sdpa_backward_flop_count(q.shape, q.shape, k.shape, v.shape)
    assert counter.get_total_flops() == expected > 0
