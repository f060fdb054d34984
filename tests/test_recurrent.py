"""arch recurrent (RMT): memory is the only path across segments, one segment is exactly the
encoder, bptt stops gradients at segment boundaries, and a short run learns copy through memory."""

import json

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from membench import tasks
from membench.analysis.attention import summarize
from membench.analysis.attention_roles import describe_attention
from membench.cli import main
from membench.config.identity import make_spec
from membench.config.spec import model_config
from membench.errors import MembenchError
from membench.models import build_model, count_parameters, knockout
from membench.run.train import run_trial
from membench.suite.schema import check_record

SMALL = {"d_model": 16, "n_heads": 2, "d_ff": 32}
VOCAB, SRC_LEN, TGT_LEN = 6, 12, 5
RECALL = {"pairs": 4, "queries": 4, "key_vocab": 16, "value_vocab": 8}  # 13 source tokens
VARIANTS = {  # model options that compose with the recurrence
    "mem": {},
    "dedicated": {"controller": "dedicated"},
    "shared-ctrl": {"controller": "dedicated_shared"},
    "bottleneck": {"bottleneck": True},
    "bottleneck-ctrl": {"bottleneck": True, "controller": "dedicated"},
    "bidirectional": {"causal": False},
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make(segment=4, mem=4, recall=False, seed=0, arch="recurrent", **options):
    """A small model in eval mode: copy-shaped (answer slots) or assoc_recall-shaped (answers at
    the queries); `arch` encoder for the plain encoder of the same config."""
    torch.manual_seed(seed)
    config = {"arch": arch, "mem_tokens": mem, **SMALL, **options}
    if arch == "recurrent":
        config["segment"] = segment
    if recall:
        task = tasks.get("assoc_recall")
        sizes = task.vocab_size(**RECALL), *task.lengths(**RECALL)
        positions = task.answer_positions(**RECALL)
    else:
        sizes, positions = (VOCAB, SRC_LEN, TGT_LEN), None
    return build_model(config, *sizes, answer_positions=positions).eval()


def batch(recall=False, n=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    if recall:
        return tasks.get("assoc_recall").generate(n, g, **RECALL)
    return torch.randint(0, VOCAB, (n, SRC_LEN), generator=g), torch.randint(
        0, VOCAB, (n, TGT_LEN), generator=g
    )


def perturbed(src):
    """The same source with its first token changed (a first-segment token)."""
    src = src.clone()
    src[:, 0] = (src[:, 0] + 1) % int(src.max() + 1)
    return src


# ---- (1) memory is the only path from an earlier segment to the answers ----


@pytest.mark.parametrize("recall", [False, True], ids=["slots", "queries"])
@pytest.mark.parametrize("options", VARIANTS.values(), ids=VARIANTS.keys())
def test_a_first_segment_token_reaches_the_answers_only_through_carried_memory(
    options, recall, monkeypatch
):
    model = make(recall=recall, **options)
    assert len(model.bounds) >= 3
    src, tgt = batch(recall)
    other = perturbed(src)
    assert not torch.allclose(model(src, tgt), model(other, tgt))  # it does reach them
    initial = model.mem

    def reset_after_first(i, memory):  # what segment 0 hands on: the initial memory instead
        return initial.expand_as(memory) if i == 0 else memory

    monkeypatch.setattr(model, "carry", reset_after_first)
    assert torch.equal(model(src, tgt), model(other, tgt))
    monkeypatch.undo()
    with knockout(model, "write", segment=0):  # memory reads nothing of segment 0
        assert torch.equal(model(src, tgt), model(other, tgt))
    with knockout(model, "write", segment=1):  # cutting another segment leaves the path open
        assert not torch.allclose(model(src, tgt), model(other, tgt))


def test_the_answers_see_memory_and_the_last_segment_only():
    model = make()
    assert model.bounds == [(0, 4), (4, 8), (8, 18)]  # source 12, then SEP and 5 slots
    assert model.layout == {"mem": (0, 4), "src": (4, 8), "sep": (8, 9), "answer": (9, 14)}
    assert model.segment_layouts[0] == {"mem": (0, 4), "src": (4, 8)}
    recall = make(recall=True)  # 8 key-value tokens and SEP are cut; the 4 queries join the last
    assert recall.bounds == [(0, 4), (4, 8), (8, 13)]
    assert recall.layout == {"mem": (0, 4), "src": (4, 5), "answer": (5, 9)}


# ---- (2) one segment is the encoder with memory ----


@pytest.mark.parametrize("recall", [False, True], ids=["slots", "queries"])
@pytest.mark.parametrize("options", VARIANTS.values(), ids=VARIANTS.keys())
def test_one_segment_is_exactly_the_encoder(options, recall):
    for segment in (SRC_LEN + 1, 100):
        recurrent = make(segment, recall=recall, **options)
        encoder = make(recall=recall, arch="encoder", seed=1, **options)
        encoder.load_state_dict(recurrent.state_dict())  # strict: same names, same shapes
        src, tgt = batch(recall)
        logits, attention = recurrent(src, tgt, return_attention=True)
        expected, encoder_attention = encoder(src, tgt, return_attention=True)
        torch.testing.assert_close(logits, expected, rtol=0, atol=0)
        torch.testing.assert_close(recurrent(src, tgt), encoder(src, tgt), rtol=0, atol=0)
        torch.testing.assert_close(attention["self"], encoder_attention["self"], rtol=0, atol=0)
        assert torch.equal(recurrent.predict(src, tgt.size(1)), encoder.predict(src, tgt.size(1)))
        assert recurrent.layout == encoder.layout
        other = make(segment, recall=recall, seed=2, **options)  # and back: encoder -> recurrent
        other.load_state_dict(encoder.state_dict())
        torch.testing.assert_close(other(src, tgt), encoder(src, tgt), rtol=0, atol=0)


def test_one_segment_without_memory_is_the_plain_encoder():
    recurrent, encoder = make(SRC_LEN, mem=0), make(mem=0, arch="encoder", seed=1)
    encoder.load_state_dict(recurrent.state_dict())
    src, tgt = batch()
    torch.testing.assert_close(recurrent(src, tgt), encoder(src, tgt), rtol=0, atol=0)


# ---- (3) bptt: gradients flow back through the last k segments only ----


@pytest.mark.parametrize("bptt, trained", [(0, [1, 1, 1]), (1, [0, 0, 1]), (2, [0, 1, 1])])
def test_bptt_stops_gradients_at_segment_boundaries(bptt, trained):
    model = make(bptt=bptt).train()
    src, tgt = batch()
    logits = model(src, tgt)
    F.cross_entropy(logits.flatten(0, 1), tgt.flatten()).backward()
    pos = model.pos.weight.grad  # each position's row is used by its own segment alone
    flows = [bool(pos[start:end].abs().sum() > 0) for start, end in model.bounds]
    assert flows == [bool(t) for t in trained]
    initial = model.mem.grad  # the learned initial memory enters the first segment
    assert (initial is not None and bool(initial.abs().sum() > 0)) is bool(trained[0])


# ---- (4) the encoder's parameters ----


@pytest.mark.parametrize("recall", [False, True], ids=["slots", "queries"])
@pytest.mark.parametrize("options", VARIANTS.values(), ids=VARIANTS.keys())
def test_parameter_count_equals_the_encoders(options, recall):
    recurrent = make(recall=recall, **options)
    encoder = make(recall=recall, arch="encoder", **options)
    assert count_parameters(recurrent) == count_parameters(encoder)
    assert recurrent.state_dict().keys() == encoder.state_dict().keys()


# ---- (5) configurations that cannot work fail in one line ----


def test_no_memory_control_sees_the_last_segment_only():
    """mem_tokens 0 over several segments is RMT's no-memory control: the answers depend on
    the last segment alone, so changing an earlier segment changes no logit."""
    model = make(segment=4, mem=0).eval()
    src = torch.randint(0, VOCAB, (3, SRC_LEN))
    changed = src.clone()
    changed[:, :8] = (changed[:, :8] + 1) % VOCAB  # the first two segments
    tgt = torch.zeros(3, TGT_LEN, dtype=torch.long)
    assert torch.equal(model(src, tgt), model(changed, tgt))
    changed[:, 8] = (changed[:, 8] + 1) % VOCAB  # the last segment
    assert not torch.equal(model(src, tgt), model(changed, tgt))


@pytest.mark.parametrize(
    "config, message",
    [
        ({"segment": 4}, "model.segment: only arch 'recurrent' has segments"),
        ({"arch": "encoder_decoder", "bptt": 2}, "model.bptt: only arch 'recurrent'"),
        ({"arch": "recurrent"}, "model.segment: arch 'recurrent' needs segment >= 1"),
        ({"arch": "recurrent", "segment": -1}, "model.segment: must be >= 0"),
    ],
)
def test_segments_outside_arch_recurrent_are_rejected(config, message):
    with pytest.raises(MembenchError, match=message) as error:
        model_config(config)
    assert "\n" not in str(error.value)


def test_segment_knockouts_need_a_recurrent_model_and_a_valid_index():
    with pytest.raises(ValueError, match="has no segments"):
        with knockout(make(arch="encoder"), "read", segment=0):
            pass
    model = make()
    with pytest.raises(ValueError, match="out of range"):
        with knockout(model, "read", segment=3):
            pass
    with knockout(model, "read", segment=-1):
        assert model.knockout_segment == 2
    assert model.knockout is None and model.knockout_segment is None


# ---- attention per segment ----


def test_the_attention_summary_has_one_entry_per_segment():
    model = make(controller="dedicated")
    src, tgt = batch()
    summary = summarize(model, src, TGT_LEN)
    assert [s["layout"] for s in summary["segments"]] == [
        {g: list(r) for g, r in layout.items()} for layout in model.segment_layouts
    ]
    assert summary["layout"] == summary["segments"][-1]["layout"]  # the answers' segment
    assert summary["blocks"] == summary["segments"][-1]["blocks"]
    assert summary["sample"] and all("sample" not in s for s in summary["segments"])
    assert "Per segment (by layer): 1: write" in describe_attention(summary)
    assert "3: write" in describe_attention(summary) and "answers read" in describe_attention(
        summary
    )


# ---- (6) a short run learns copy through memory ----


@pytest.mark.slow
def test_a_short_run_learns_copy_across_segments_through_memory():
    """8 symbols in 2 segments of 4, 8 memory tokens: the first half can only reach the answer
    slots through memory. Well above chance (0.125), and the record carries the recurrent config,
    the per-segment attention and the knockouts per segment."""
    spec = make_spec(
        "copy",
        {"length": 8, "vocab": 8},
        {"arch": "recurrent", "segment": 4, "mem_tokens": 8, "d_model": 32, "n_heads": 2},
        {"steps": 300, "eval_every": 100, "eval_size": 128, "lr": 3e-3, "device": "cpu"},
    )
    record = run_trial(spec)
    assert record["status"] == "ok", record["error"]
    check_record(json.loads(json.dumps(record)), "record")  # as a results folder reads it back
    assert record["model"]["segment"] == 4 and record["model"]["arch"] == "recurrent"
    metrics = record["metrics"]
    assert metrics["token_accuracy"] > 0.5, metrics
    assert len(record["attention"]["segments"]) == 2
    assert {"exact_match_no_read_seg2", "token_accuracy_no_write_seg2"} <= set(metrics)
    assert "exact_match_no_write_seg3" not in metrics
    # the first half is read from memory: cutting what memory reads of segment 1 costs it
    assert metrics["token_accuracy_no_write_seg1"] < metrics["token_accuracy"] - 0.1
    # the report's attention section says what each segment does, averaged over seeds
    from membench.analysis.attention_roles import attention_section

    rows = pd.DataFrame(
        [
            dict(task="copy", variant="rmt", seed=s, status="ok", attention=record["attention"])
            for s in (0, 1)
        ]
    )
    (entry,) = attention_section(rows)
    assert "; per segment (by layer): 1: write " in entry["sentence"]
    assert ", answers read " in entry["sentence"].split("2: write")[1]


def test_cli_trains_a_recurrent_model_and_records_its_segments(capsys):
    argv = ["train", "--task", "copy", "--set", "length=8", "--arch", "recurrent"]
    argv += ["--segment", "4", "--mem-tokens", "2", "--bptt", "1", "--d-model", "16"]
    argv += ["--steps", "2", "--eval-every", "2", "--eval-size", "16", "--json"]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["model"]["segment"] == 4 and record["model"]["bptt"] == 1
    assert [s["layout"]["src"] for s in record["attention"]["segments"]] == [[2, 6], [2, 6]]
