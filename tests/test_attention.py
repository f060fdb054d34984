import json
import math

import pandas as pd
import pytest
import torch

from membench.analysis.attention import (
    decode_maps,
    encode_maps,
    pattern_scores,
    summarize,
    summarize_maps,
)
from membench.analysis.attention_roles import attention_section, describe_attention
from membench.cli import main
from membench.config.identity import make_spec
from membench.errors import MembenchError
from membench.models import build_model
from membench.report.attention_plots import draw, select_record
from membench.report.attention_tables import render_attention_markdown
from membench.report.model import build_report
from membench.report.render import render
from membench.run.train import build, run_trial
from membench.store.results import load_results

LAYOUT = {"mem": (0, 2), "src": (2, 4), "sep": (4, 5), "answer": (5, 7)}  # T = 7
PNG = b"\x89PNG\r\n\x1a\n"


def as_maps(matrix: torch.Tensor, batch: int = 2, heads: int = 3) -> list[torch.Tensor]:
    """One layer of maps [B, H, T, T], every example and head the same matrix."""
    return [matrix.expand(batch, heads, *matrix.shape).clone()]


def rows_normalised(matrix: torch.Tensor) -> torch.Tensor:
    return matrix / matrix.sum(-1, keepdim=True)


def scores(block: torch.Tensor) -> dict[str, float]:
    return {k: v.item() for k, v in pattern_scores(block).items()}


# ---- pattern scores on hand-built blocks ----


def test_identity_block_is_a_sharp_diagonal():
    assert scores(torch.eye(4)) == pytest.approx(
        {"diagonal": 1.0, "band": 1.0, "stripe": 0.0, "spread": 0.0}
    )


def test_uniform_block_is_spread_with_chance_diagonal():
    assert scores(torch.full((4, 4), 0.25)) == pytest.approx(
        {"diagonal": 0.25, "band": 10 / 16, "stripe": 0.0, "spread": 1.0}
    )


def test_vertical_stripe():
    block = torch.zeros(4, 4)
    block[:, 2] = 1.0
    assert scores(block) == pytest.approx(
        {"diagonal": 0.25, "band": 0.75, "stripe": 1.0, "spread": 0.0}
    )


def test_banded_block_is_a_blurred_diagonal():
    offset = torch.arange(4).unsqueeze(1) - torch.arange(4)
    block = rows_normalised((offset.abs() <= 1).float())  # rows 0, 3: 1/2 each; rows 1, 2: 1/3
    got = scores(block)
    assert got["diagonal"] == pytest.approx((1 / 2 + 1 / 3 + 1 / 3 + 1 / 2) / 4)
    assert got["band"] == pytest.approx(1.0)
    spread = (2 * math.log(2) + 2 * math.log(3)) / (4 * math.log(4))  # row entropies / log 4
    assert got["spread"] == pytest.approx(spread)


def test_rectangular_empty_and_single_column_blocks():
    wide = torch.zeros(2, 4)
    wide[0, 0] = wide[1, 0] = 1.0
    assert scores(wide) == pytest.approx({"stripe": 1.0, "spread": 0.0})  # no diagonal
    assert all(math.isnan(v) for v in scores(torch.zeros(3, 3)).values())
    single = scores(torch.ones(3, 1))
    assert math.isnan(single["stripe"]) and math.isnan(single["spread"])


# ---- block masses ----


def test_uniform_map_masses_are_group_sizes():
    summary = summarize_maps(as_maps(torch.full((7, 7), 1 / 7)), LAYOUT)
    blocks = summary["blocks"]
    for name, value in [("processing", 2 / 7), ("write", 5 / 7), ("read", 2 / 7), ("seq", 5 / 7)]:
        assert blocks[name] == [[pytest.approx(value, abs=1e-4)] * 3]
    assert blocks["read_src"] == blocks["read_answer"] == blocks["read"]
    assert summary["groups"]["names"] == ["mem", "src", "sep", "answer"]
    assert summary["groups"]["mass"][0][0][3] == pytest.approx([2 / 7, 2 / 7, 1 / 7, 2 / 7], 1e-3)


def test_block_structured_map_writes_and_reads():
    matrix = torch.zeros(7, 7)
    matrix[:2, 2:] = 1 / 5  # memory reads the whole sequence: pure write
    matrix[2:5, :2] = 1 / 2  # source and separator read memory
    matrix[5:, 2:4] = 1 / 2  # answer slots read the source
    summary = summarize_maps(as_maps(matrix), LAYOUT)
    blocks = {k: v[0][0] for k, v in summary["blocks"].items()}
    assert blocks == {
        "processing": 0.0,
        "write": 1.0,
        "read": 0.6,
        "seq": 0.4,
        "read_src": 1.0,
        "read_answer": 0.0,
    }
    patterns = summary["patterns"]
    assert patterns["processing"]["diagonal"] == [[None] * 3]  # no mass: undefined, not zero
    assert patterns["write"]["spread"] == [[1.0] * 3]
    assert patterns["read"]["stripe"] == [[0.0] * 3]
    assert "diagonal" not in patterns["write"]
    assert describe_attention(summary).startswith(
        "Layer 1: memory writes (100% of memory attention on the sequence), the answer slots "
        "read memory (0%); attention spread evenly would put 29% on memory."
    )


def test_identity_map_processes_and_has_sharp_diagonals():
    summary = summarize_maps(as_maps(torch.eye(7)), LAYOUT)
    assert summary["blocks"]["processing"] == [[1.0] * 3]
    assert summary["blocks"]["write"] == summary["blocks"]["read"] == [[0.0] * 3]
    assert summary["patterns"]["seq"]["diagonal"] == [[1.0] * 3]
    assert "layer 1 processing: a sharp diagonal (diagonal 1.00)" in describe_attention(summary)


def test_no_memory_means_absent_memory_blocks():
    layout = {"mem": (0, 0), "src": (0, 3), "sep": (3, 4), "answer": (4, 7)}
    cross = [torch.full((2, 3, 4, 7), 1 / 7)]
    summary = summarize_maps(as_maps(torch.full((7, 7), 1 / 7)), layout, cross)
    assert set(summary["blocks"]) == set(summary["patterns"]) == {"seq"}
    assert set(summary["cross"]) == {"seq"}
    assert summary["cross"]["seq"] == [[1.0] * 3]
    assert "mem" not in summary["groups"]["names"]
    json.dumps(summary, allow_nan=False)
    assert describe_attention(summary).startswith("No memory tokens")


def test_cross_attention_split_between_memory_and_sequence():
    layout = {"mem": (0, 2), "src": (2, 6)}
    cross = torch.zeros(1, 2, 3, 6)
    cross[..., 0] = 0.25  # decoder queries put a quarter on memory token 0
    cross[..., 2:] = 0.75 / 4
    summary = summarize_maps(as_maps(torch.full((6, 6), 1 / 6), 1, 2), layout, [cross])
    assert summary["cross"] == {"mem": [[0.25, 0.25]], "seq": [[0.75, 0.75]]}
    assert decode_maps(summary["sample"]["cross"]).shape == (1, 1, 2, 3, 6)
    assert "decoder layer 1: reads encoder memory (25% of cross-attention)" in describe_attention(
        summary
    )


# ---- compact sample ----


def test_sample_round_trips_within_float16_precision():
    maps = torch.randn(2, 2, 4, 45, 45).softmax(-1)
    decoded = decode_maps(encode_maps(maps))
    assert decoded.dtype == torch.float32 and decoded.shape == maps.shape
    assert torch.allclose(decoded, maps, atol=5e-4, rtol=0)


def test_sample_shrinks_to_fit_the_record_budget(tmp_path):
    def summary_at(length):
        maps = [torch.randn(4, 4, length, length).softmax(-1) for _ in range(2)]
        return summarize_maps(maps, {"mem": (0, 4), "src": (4, length)})

    medium, large = summary_at(70), summary_at(100)
    assert decode_maps(medium["sample"]["self"]).shape == (1, 2, 4, 70, 70)
    assert large["sample"] is None
    assert len(json.dumps(large)) < 200_000
    assert draw(large, tmp_path) == [tmp_path / "blocks.png"]  # no maps: the bar chart only


# ---- real models ----


def model_summary(config: dict, src_len: int = 6) -> dict:
    torch.manual_seed(0)
    model = build_model(config, 8, src_len, src_len)
    return summarize(model, torch.randint(0, 8, (4, src_len)), src_len)


def test_bottleneck_sequence_never_sees_sequence():
    summary = model_summary({"mem_tokens": 4, "bottleneck": True})
    assert summary["blocks"]["seq"] == [[0.0] * 4] * 2
    assert summary["blocks"]["read"] == [[1.0] * 4] * 2
    maps = decode_maps(summary["sample"]["self"])
    assert maps[..., 4:, 4:].abs().max() == 0  # exact zeros, also in the sample


def test_encoder_decoder_bottleneck_decoder_reads_memory_only():
    summary = model_summary({"mem_tokens": 4, "bottleneck": True, "arch": "encoder_decoder"})
    assert summary["cross"]["seq"] == [[0.0] * 4] * 2
    assert summary["cross"]["mem"] == [[1.0] * 4] * 2


def test_real_model_rows_split_their_attention_between_blocks():
    summary = model_summary({"mem_tokens": 3})
    blocks = summary["blocks"]
    for layer in range(2):
        for head in range(4):
            assert blocks["processing"][layer][head] + blocks["write"][layer][head] == (
                pytest.approx(1.0, abs=2e-4)
            )
            assert blocks["read"][layer][head] + blocks["seq"][layer][head] == (
                pytest.approx(1.0, abs=2e-4)
            )


def test_plain_transformer_has_no_memory_blocks():
    summary = model_summary({"mem_tokens": 0})
    assert set(summary["blocks"]) == {"seq"}
    assert summary["layout"]["mem"] == [0, 0]


def test_record_part_stays_small_at_the_default_size():
    summary = model_summary({"mem_tokens": 10, "d_model": 64}, src_len=16)  # T = 43
    assert len(json.dumps(summary)) < 200_000


def test_answers_read_at_the_queries_are_the_answer_rows():
    """assoc_recall's built model reads [mem; src]: its answer rows are the query positions (the
    source tokens there are the queried keys), reads split there, and the words say so."""
    params = {"pairs": 3, "queries": 2, "key_vocab": 6, "value_vocab": 4}
    model_cfg = {"mem_tokens": 2, "d_model": 16, "n_heads": 2, "d_ff": 32}
    spec = make_spec("assoc_recall", params, model_cfg, {"device": "cpu"})
    task, model = build(spec, torch.device("cpu"))
    assert model.layout == {"mem": (0, 2), "src": (2, 9), "answer": (9, 11)}
    src, _ = task.generate(4, torch.Generator().manual_seed(0), **spec.task_params)
    start, end = model.layout["answer"]
    keys = src[:, 0:6:2]
    queries = src[:, start - 2 : end - 2]  # answer rows minus the memory offset: the queries
    assert all(set(q) <= set(k) for q, k in zip(queries.tolist(), keys.tolist(), strict=True))
    summary = summarize(model, src, 2)
    assert summary["layout"] == {"mem": [0, 2], "src": [2, 9], "answer": [9, 11]}
    assert summary["groups"]["names"] == ["mem", "src", "answer"]
    assert {"read_src", "read_answer"} <= set(summary["blocks"])
    text = describe_attention(summary)
    assert "the answer positions read memory" in text and "slots" not in text
    slots = describe_attention(model_summary({"mem_tokens": 3}))  # the slot layout keeps its words
    assert "the answer slots read memory" in slots


def test_a_model_without_layout_gives_no_summary():
    assert summarize(torch.nn.Linear(2, 2), torch.zeros(1, 2), 2) is None


# ---- across seeds ----


def hand_summary(write: float, read_answer: float) -> dict:
    both = [[write, write], [1 - write, 1 - write]]
    return {
        "blocks": {
            "processing": [[1 - v for v in layer] for layer in both],
            "write": both,
            "read": [[0.5, 0.5], [0.5, 0.5]],
            "read_answer": [[read_answer] * 2, [read_answer] * 2],
            "seq": [[0.5, 0.5], [0.5, 0.5]],
        }
    }


def test_attention_section_averages_seeds_with_t_intervals():
    df = pd.DataFrame(
        {
            "task": ["copy"] * 3,
            "variant": ["mem10"] * 3,
            "seed": [0, 1, 2],
            "status": ["ok", "ok", "failed"],
            "attention": [hand_summary(0.6, 0.2), hand_summary(0.8, 0.4), None],
        }
    )
    [entry] = attention_section(df)
    assert entry["seeds"] == 2
    write = entry["layers"][0]["write"]
    half = 12.7062047 * math.sqrt(0.02) / math.sqrt(2)  # t(0.975, 1) * sd / sqrt(n)
    assert half > 0.7  # the t-interval leaves [0, 1]: a share's interval is cut at its range
    assert write == pytest.approx({"mean": 0.7, "low": 0.0, "high": 1.0})
    assert entry["sentence"] == (
        "layer 1: memory writes (70% of memory attention on the sequence), the answer slots "
        "read memory (30%); layer 2: memory processes (70% of memory attention on memory), "
        "the answer slots read memory (30%)"
    )
    markdown = render_attention_markdown([entry])
    assert "| copy | mem10 | 2 | 1 | 30% [0, 100] | 70% [0, 100] |" in markdown
    assert markdown.endswith(f"- copy / mem10: {entry['sentence']}.\n")


def test_attention_section_names_answer_positions_by_the_layout():
    summary = hand_summary(0.6, 0.2) | {"layout": {"mem": [0, 2], "src": [2, 5], "answer": [5, 7]}}
    df = pd.DataFrame({"task": ["assoc_recall"], "variant": ["mem2"], "seed": [0]})
    df["attention"] = [summary]
    [entry] = attention_section(df)
    assert "the answer positions read memory (20%)" in entry["sentence"]
    assert "slots" not in entry["sentence"]


def test_attention_section_of_one_seed_has_no_interval_and_skips_missing():
    df = pd.DataFrame(
        {"task": ["copy"] * 2, "variant": ["a", "b"], "seed": [0, 0], "attention": [None, 1.0]}
    )
    assert attention_section(df) == []
    assert attention_section(df.drop(columns="attention")) == []
    assert render_attention_markdown([]) == ""
    df = pd.DataFrame({"task": ["copy"], "variant": ["a"], "seed": [0]})
    df["attention"] = [hand_summary(0.6, 0.2)]
    [entry] = attention_section(df)
    assert entry["layers"][0]["write"] == {"mean": 0.6, "low": None, "high": None}
    assert "| 60% |" in render_attention_markdown([entry])


# ---- picking a record ----


def record(task="copy", variant="mem10", seed=0, status="ok", attention=True):
    return {
        "id": f"{task}{variant}{seed}",
        "task_label": task,
        "variant": variant,
        "seed": seed,
        "status": status,
        "error": None if status == "ok" else "NaN loss",
        "attention": {"blocks": {}} if attention else None,
    }


def test_select_record_picks_the_lowest_seed():
    records = [record(seed=2), record(seed=1), record(variant="base")]
    assert select_record(records, "r", "copy", "mem10")["seed"] == 1
    assert select_record(records, "r", "copy", "mem10", seed=2)["seed"] == 2


@pytest.mark.parametrize(
    "records,filters,message",
    [
        (
            [record()],
            {"variant": "mem1"},
            "no trial with variant 'mem1' in r: did you mean 'mem10'",
        ),
        ([record()], {"task": "sort"}, "no trial with task 'sort' in r: known: copy"),
        ([record(), record(variant="base")], {}, "2 task/variant cells in r: pick one with --task"),
        ([record(status="failed")], {}, "every matching trial in r failed: NaN loss"),
        ([record(attention=False)], {}, "has no attention summary"),
        ([], {}, "no trial records in r"),
    ],
)
def test_select_record_errors(records, filters, message):
    with pytest.raises(MembenchError, match=message):
        select_record(records, "r", **filters)


# ---- end to end: a real tiny trial, drawn by the CLI ----


@pytest.fixture(scope="module")
def trial_record():
    spec = make_spec(
        task="copy",
        task_overrides={"length": 6},
        model={"d_model": 16, "mem_tokens": 2},
        train={"steps": 20, "eval_every": 10, "eval_size": 32, "device": "cpu"},
    )
    return run_trial(spec)


@pytest.mark.slow
def test_trial_record_carries_a_json_summary(trial_record):
    summary = json.loads(json.dumps(trial_record["attention"], allow_nan=False))
    assert summary["examples"] == 32 and summary["layers"] == 2 and summary["heads"] == 4
    assert decode_maps(summary["sample"]["self"]).shape == (2, 2, 4, 15, 15)


def test_report_of_a_results_directory_has_the_attention_section(trial_record, tmp_path):
    (tmp_path / "trials").mkdir()
    for seed in (0, 1):
        labelled = {**trial_record, "id": f"t{seed}", "seed": seed, "variant": "mem2"}
        (tmp_path / "trials" / f"t{seed}.json").write_text(json.dumps(labelled))
    report = build_report(load_results(tmp_path))
    [entry] = report.attention
    assert (entry["task"], entry["variant"], entry["seeds"]) == ("copy", "mem2", 2)
    assert entry["sentence"].startswith("layer 1: ")
    assert "\n## Attention: write, processing, read" in render(report, "md")


def test_no_attention_leaves_the_record_without_it():
    spec = make_spec(
        task="copy",
        task_overrides={"length": 3},
        model={"d_model": 8, "n_heads": 2, "n_layers": 1},
        train={"steps": 2, "eval_every": 2, "eval_size": 4, "device": "cpu", "attention": False},
    )
    assert "attention" not in run_trial(spec)


@pytest.mark.slow
def test_cli_draws_pngs_from_a_results_directory(trial_record, tmp_path, capsys):
    (tmp_path / "trials").mkdir()
    labelled = {**trial_record, "task_label": "copy6", "variant": "mem2"}
    (tmp_path / "trials" / "a.json").write_text(json.dumps(labelled))
    argv = ["attention", str(tmp_path), "--task", "copy6", "--variant", "mem2"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    written = [
        tmp_path / "attention" / "copy6-mem2-seed0" / name
        for name in ("self_layer1.png", "self_layer2.png", "blocks.png")
    ]
    assert lines[:3] == [str(p) for p in written]
    assert all(p.read_bytes().startswith(PNG) for p in written)
    assert lines[3].startswith("Layer 1: memory ")
    assert main(argv[:-1] + ["mem3"]) == 2
    assert "did you mean 'mem2'?" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_draws_a_single_record_file(trial_record, tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(trial_record))
    assert main(["attention", str(path), "--out", str(tmp_path / "out"), "--example", "1"]) == 0
    assert (tmp_path / "out" / "blocks.png").read_bytes().startswith(PNG)
    assert main(["attention", str(path), "--example", "2"]) == 2
    assert "--example 2: the record keeps examples 0..1" in capsys.readouterr().err
