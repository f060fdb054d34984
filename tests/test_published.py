"""Published anchors' machinery: per-task options and references in a suite, the report's
published-vs-measured section and its verdict rule, IGNORE targets, finite training sets, and
models refused where they would read a next-token task's answers."""

from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from rich.console import Console

from membench import tasks
from membench.analysis.published import published_section, verdict
from membench.config.identity import make_spec
from membench.errors import MembenchError
from membench.report.model import build_report
from membench.report.render import render
from membench.report.terminal import print_report
from membench.run.evaluation import position_accuracy, scores
from membench.run.train import train_step, training_batches
from membench.suite.load import load_suite
from membench.tasks import IGNORE

SUITE = {
    "name": "anchors",
    "tasks": [{"copy": {"length": 4, "vocab": 3}}, {"sort": {"length": 4, "vocab": 3}}],
    "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32},
    "variants": {
        "baseline": {},
        "mem4": {"mem_tokens": 4},
        "wide": {"d_model": 32, "d_ff": 64},
    },
    "seeds": 2,
    "train": {"steps": 30, "eval_every": 10, "eval_size": 64},
    "per_task": {
        "copy[length=4,vocab=3]": {
            "model": {"d_model": 24, "n_heads": 4, "n_layers": 2},
            "train": {"lr": 0.003},
            "variants": ["baseline", "wide"],
            "references": [
                {"value": 0.99, "source": "Someone et al., Fig. 2"},
                {"value": 0.5, "variant": "wide", "metric": "exact_match", "source": "x"},
            ],
        }
    },
}


def write(tmp_path: Path, suite: dict) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


# ---- per_task: model and train options, which variants run, references ----


def test_per_task_sets_model_train_and_variants(tmp_path):
    suite = load_suite(write(tmp_path, SUITE))
    trials = suite.trials()
    cells = {(t.task, t.variant) for t in trials}
    copy, sort = (t.label for t in suite.tasks)
    assert cells == {
        (copy, "baseline"),
        (copy, "wide"),
        *((sort, v) for v in ("baseline", "mem4", "wide")),
    }
    assert len(trials) == 5 * 2
    spec = {(t.task, t.variant): t.spec for t in trials if t.seed == 0}
    # the task's options over the suite's base model, the variant's over both
    assert spec[copy, "baseline"].model["d_model"] == 24
    assert spec[copy, "baseline"].model["n_layers"] == 2
    assert spec[copy, "wide"].model["d_model"] == 32 and spec[copy, "wide"].model["n_layers"] == 2
    assert (
        spec[sort, "baseline"].model["d_model"] == 16
        and spec[sort, "baseline"].model["n_layers"] == 1
    )
    assert (
        spec[copy, "baseline"].train["lr"] == 0.003 and spec[sort, "baseline"].train["lr"] == 0.001
    )
    refs = suite.references
    assert [(r["task"], r["variant"], r["metric"]) for r in refs] == [
        (copy, "baseline", "token_accuracy"),
        (copy, "wide", "exact_match"),
    ]


def test_a_suite_without_per_task_keeps_its_trial_ids(tmp_path):
    plain = {k: v for k, v in SUITE.items() if k != "per_task"}
    ids = {t.id for t in load_suite(write(tmp_path, plain)).trials()}
    with_refs = {
        **plain,
        "per_task": {"sort[length=4,vocab=3]": {"references": [{"value": 1.0, "source": "s"}]}},
    }
    assert {t.id for t in load_suite(write(tmp_path, with_refs)).trials()} == ids


@pytest.mark.parametrize(
    "per_task, message",
    [
        ({"copyy": {}}, "per_task.copyy: no such task in `tasks`"),
        (
            {"copy[length=4,vocab=3]": {"variants": ["baseline", "mem44"]}},
            "unknown variant 'mem44'",
        ),
        (
            {"copy[length=4,vocab=3]": {"variants": ["mem4"]}},
            "the baseline 'baseline' must run on every task",
        ),
        (
            {
                "copy[length=4,vocab=3]": {
                    "variants": ["baseline"],
                    "references": [{"value": 1, "variant": "mem4", "source": "s"}],
                }
            },
            "references[0].variant: 'mem4' does not run on this task",
        ),
        (
            {
                "copy[length=4,vocab=3]": {
                    "references": [{"value": 1.0, "metric": "acuracy", "source": "s"}]
                }
            },
            "references[0].metric: unknown metric 'acuracy'",
        ),
        (
            {"copy[length=4,vocab=3]": {"model": {"n_heads": 5}}},
            "variants.baseline on task copy[length=4,vocab=3]",
        ),
        ({"copy[length=4,vocab=3]": {"references": [{"value": 1.0}]}}, "source"),
        ({"copy[length=4,vocab=3]": {"modle": {}}}, "modle"),
    ],
)
def test_bad_per_task_entries_are_one_line_errors(tmp_path, per_task, message):
    with pytest.raises(MembenchError) as err:
        load_suite(write(tmp_path, {**SUITE, "per_task": per_task}))
    assert message in str(err.value) and "\n" not in str(err.value)


# ---- the verdict rule and the section ----


def test_verdict_rule():
    # seeds spanning [low, high] against a published value, tolerance 0.02, 3 seeds
    assert verdict(0.99, 0.985, 0.995, 0.02, 3) == "reproduced"
    assert verdict(0.99, 0.90, 0.95, 0.02, 3) == "below"  # every seed under 0.97
    assert verdict(0.99, 0.90, 0.975, 0.02, 3) == "reproduced"  # within the band, 0.075 wide
    assert verdict(0.99, 0.85, 0.975, 0.02, 3) == "undecided (seeds spread)"  # 0.125 wide
    assert verdict(0.99, 0.92, 1.0, 0.02, 3) == "reproduced"  # 0.08 wide: narrow enough
    assert verdict(0.99, 0.91, 1.0, 0.02, 3) == "undecided (seeds spread)"
    assert verdict(0.43, 0.99, 1.0, 0.02, 5) == "above"
    assert verdict(0.99, 1.0, 1.0, 0.02, 1) == "undecided (1 seed)"  # one seed is no verdict
    assert verdict(0.43, 1.0, 1.0, 0.02, 2) == "undecided (2 seeds)"


def rows(task, variant, values, solved):
    return [
        dict(
            task=task,
            variant=variant,
            seed=i,
            token_accuracy=v,
            exact_match=v,
            solved=s,
            status="ok",
        )
        for i, (v, s) in enumerate(zip(values, solved, strict=True))
    ]


def test_published_section_reports_each_reference():
    df = pd.DataFrame(
        rows("mqar", "attn2", [0.995, 0.999, 0.993], [True, True, True])
        + rows("mqar", "attn1", [0.2, 0.25, 0.22], [False] * 3)
        + rows("copy", "baseline", [1.0, 1.0], [True, True])
    )
    refs = [
        dict(
            task="mqar",
            variant="attn2",
            metric="token_accuracy",
            value=0.992,
            source="zoology Fig. 2",
        ),
        dict(task="mqar", variant="attn1", metric="token_accuracy", value=0.99, source="claim"),
        dict(
            task="copy",
            variant="baseline",
            metric="token_accuracy",
            value=0.432,
            source="3rd",
            indicative=True,
        ),
        dict(task="copy", variant="mem4", metric="token_accuracy", value=0.5, source="none ran"),
    ]
    out = published_section(df, refs)
    assert [e["verdict"] for e in out] == [
        "reproduced",
        "below",
        "indicative: seeds above",
        "not measured",
    ]
    first = out[0]
    assert (
        first["n"] == 3 and first["solved"] == 3 and first["min"] == 0.993 and first["max"] == 0.999
    )
    assert first["ci_low"] < first["mean"] < first["ci_high"]


def test_report_has_the_section_in_every_format():
    df = pd.DataFrame(
        rows("copy", "baseline", [0.91, 0.93, 0.92], [False] * 3)
        + rows("copy", "mem4", [0.9, 0.9], [False, False])
    )
    refs = [
        dict(
            task="copy",
            variant="baseline",
            metric="token_accuracy",
            value=0.92,
            source="Paper, Table 1",
            note="smaller",
        )
    ]
    report = build_report(df, "token_accuracy", references=refs)
    assert report.published[0]["verdict"] == "reproduced"
    md = render(report, "md")
    assert "## Published vs measured" in md and "Paper, Table 1" in md and "reproduced" in md
    assert "reproduced when it lies within the range of membench's seeds" in md  # the rule
    assert "Published vs measured" in render(report, "html")
    tex = render(report, "latex")
    assert "Published vs measured" in tex and "Paper, Table 1" in tex
    assert not any(c in tex for c in "\t\b") and tex.count("\\begin{table}") == 3  # no "\b"
    assert '"published"' in render(report, "json")
    console = Console(record=True, width=120)
    print_report(report, console)
    assert "copy / baseline: token_accuracy published 0.92" in console.export_text()
    plain = build_report(df, "token_accuracy")  # without references: no section, no rule
    assert "Published vs measured" not in render(plain, "md")
    assert '"published"' not in render(plain, "json")


# ---- IGNORE targets and finite training sets ----


def test_ignored_targets_are_neither_scored_nor_trained():
    tgt = torch.tensor([[1, IGNORE, 2], [IGNORE, 0, IGNORE]])
    correct = torch.tensor([[True, True, False], [True, True, True]])
    got = scores(correct, tgt)
    assert got["token_accuracy"] == pytest.approx(2 / 3)  # 3 scored tokens, 2 right
    assert got["exact_match"] == 0.5
    assert position_accuracy(correct, tgt) is None  # positions mean nothing here
    assert position_accuracy(correct, torch.zeros(2, 3, dtype=torch.long)) == [
        1.0,
        1.0,
        2 / 3 * 0 + 0.5,
    ]

    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.logits = torch.nn.Parameter(torch.zeros(1, 3, 4))

        def forward(self, src, tgt):
            return self.logits.expand(len(src), -1, -1)

    model = Fixed()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    train_step(model, optimizer, torch.zeros(2, 3), tgt, grad_clip=0)
    grad_rows = model.logits.detach()[0].abs().sum(dim=1)
    assert grad_rows.tolist()[2] > 0 and grad_rows.tolist()[0] > 0
    assert torch.isfinite(model.logits).all()
    # position 1 is scored once (example 2), position 2 once (example 1): a target that is
    # IGNORE everywhere would leave its row untouched
    model = Fixed()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    only_first = torch.tensor([[1, IGNORE, IGNORE], [0, IGNORE, IGNORE]])
    train_step(model, optimizer, torch.zeros(2, 3), only_first, grad_clip=0)
    assert model.logits.detach()[0, 1:].abs().sum() == 0


def spec_with(train):
    return make_spec("copy", {"length": 4, "vocab": 3}, {"d_model": 16, "n_heads": 2}, train)


def test_a_finite_training_set_is_sampled_from_a_fixed_pool():
    spec = spec_with({"train_examples": 5, "batch_size": 16})
    task = tasks.get("copy")
    pool, _ = task.generate(5, torch.Generator().manual_seed(spec.seed), length=4, vocab=3)
    batches = training_batches(spec, task, torch.Generator().manual_seed(spec.seed))
    seen = torch.cat([next(batches)[0] for _ in range(20)])
    members = {tuple(r) for r in pool.tolist()}
    assert {tuple(r) for r in seen.tolist()} <= members
    assert len({tuple(r) for r in seen.tolist()}) == len(members)  # 320 draws cover all 5
    assert spec.train["train_examples"] == 5


def test_the_endless_stream_is_unchanged():
    spec = spec_with({"batch_size": 8})
    task = tasks.get("copy")
    batches = training_batches(spec, task, torch.Generator().manual_seed(3))
    direct = torch.Generator().manual_seed(3)
    for _ in range(3):
        src, _ = next(batches)
        assert torch.equal(src, task.generate(8, direct, length=4, vocab=3)[0])
    assert "train_examples" not in spec.identity()["train"]  # old trial ids are kept


# ---- models that would read a next-token task's answers ----


@pytest.mark.parametrize(
    "model, ok",
    [
        ({}, True),
        ({"mem_tokens": 4, "mem_reads": "memory"}, True),
        ({"mem_tokens": 4}, False),
        ({"mem_tokens": 4, "mem_reads": "context"}, False),
        ({"causal": False}, False),
        ({"arch": "encoder_decoder"}, False),
        ({"arch": "recurrent", "segment": 4}, False),
    ],
)
def test_models_that_read_ahead_are_refused_on_next_token_tasks(monkeypatch, model, ok):
    monkeypatch.setattr(tasks.get("copy"), "answers_in_input", True)

    def build():
        return make_spec("copy", {"length": 8, "vocab": 3}, {"d_model": 16, "n_heads": 2, **model})

    if ok:
        build()
        return
    with pytest.raises(MembenchError, match="predicts the next input token") as err:
        build()
    assert "\n" not in str(err.value)


def test_a_decoder_is_refused_where_targets_are_partial(monkeypatch):
    monkeypatch.setattr(tasks.get("copy"), "partial_targets", True)
    with pytest.raises(MembenchError, match="scores only some target positions"):
        make_spec(
            "copy",
            {"length": 4, "vocab": 3},
            {"arch": "encoder_decoder", "d_model": 16, "n_heads": 2},
        )


def test_planned_cells_without_records_are_missing():
    """A suite's planned cell with no record at all (a control never trained) is named, with
    the suite's own seeds, not those other cells happen to have."""
    df = pd.DataFrame(rows("copy", "baseline", [0.9, 0.9, 0.9], [False] * 3))
    planned = {("copy", "baseline"): {0, 1, 2, 3}, ("copy", "layer1"): {0, 1, 2, 3}}
    missing = build_report(df, "token_accuracy", planned=planned).missing
    assert [(m["variant"], m["n"], m["seeds"]) for m in missing] == [
        ("baseline", 3, [3]),
        ("layer1", 0, [0, 1, 2, 3]),
    ]


def test_a_climbs_solve_rate_counts_seeds_that_failed_lower_as_unsolved_at_the_published_level():
    """A reference on a rung some seeds never reached: measured over every seed, the ones that
    failed a lower level unsolved (as the frontier's solve counts), not 'not measured' and not
    over the climbers alone, which are selected by outcome."""
    out = []
    for variant, solved8 in (("baseline", [False] * 3), ("pause", [True, False, False])):
        for seed, ok8 in enumerate(solved8):
            levels = [(4, True), (8, ok8)] + ([(16, False)] if ok8 else [])
            for level, solved in levels:
                out.append({
                    "task": f"copy[length={level}]", "generator": "copy", "variant": variant,
                    "seed": seed, "task_params.length": level, "solved": solved,
                    "exact_match": 1.0 if solved else 0.3, "token_accuracy": 0.5,
                    "solve_rate": float(solved),
                    "stopped": "solved" if solved else "plateau", "curve": [], "status": "ok",
                    "steps_to_solve": 500 if solved else 2000, "train.steps": 2000,
                })  # fmt: skip
    df = pd.DataFrame(out)
    ladder = [dict(generator="copy", parameter="length", values=[4, 8, 16, 32])]
    design = dict(primary="frontier", climb=dict(beyond=0), ladders=ladder)
    refs = [
        dict(task="copy[length=16]", variant="pause", metric="solve_rate", value=1.0,
             source="paper", indicative=True),
        dict(task="copy[length=32]", variant="baseline", metric="solve_rate", value=0.0,
             source="paper", indicative=True),
        dict(task="copy[length=8]", variant="pause", metric="solve_rate", value=1 / 3,
             source="paper"),
        dict(task="copy[length=16]", variant="pause", metric="exact_match", value=1.0,
             source="paper"),
        dict(task="copy[length=32]", variant="pause", metric="solve_rate", value=0.0,
             source="paper"),
    ]  # fmt: skip
    planned = df.groupby(["task", "variant"])["seed"].agg(set).to_dict()  # the climb's trials
    report = build_report(df, "solve_rate", "baseline", references=refs, planned=planned,
                          design=design)  # fmt: skip
    at16, at32, at8, exact, unreached = report.published
    assert (at16["n"], at16["solved"], at16["mean"]) == (3, 0, 0.0)
    assert at16["verdict"] == "indicative: seeds below"
    assert at16["climbed"] == "1 of 3 trained here, 2 failed a lower level: unsolved"
    assert (at32["n"], at32["solved"], at32["verdict"]) == (3, 0, "indicative: seeds within")
    assert at32["climbed"].startswith("0 of 3 trained here")
    assert at8["n"] == 3 and at8["solved"] == 1 and "climbed" not in at8  # every seed trained
    assert exact["verdict"] == "undecided (1 seed)"  # not a solve rate: the one climber only
    assert unreached["verdict"] == "undecided (0 trained here)"  # 0/3 counted, none measured
    md = render(report, "md")
    assert "1 of 3 trained here, 2 failed a lower level: unsolved" in md
    assert "counts a seed that failed a lower level" in md  # the rule says so
