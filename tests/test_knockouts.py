"""Memory knockouts: with reads cut no sequence position sees memory, with writes cut memory sees
nothing of the sequence; the trial records what each costs and the report says what it means."""

import pandas as pd
import pytest
import torch

from membench.models import build_model, knockout
from membench.report.model import build_report
from membench.report.render import render
from membench.report.tables import problems

SMALL = dict(d_model=32, n_layers=2, n_heads=2, d_ff=64)
VARIANTS = [
    dict(mem_tokens=3),
    dict(mem_tokens=3, controller="dedicated"),
    dict(mem_tokens=3, bottleneck=True),
    dict(mem_tokens=3, arch="encoder_decoder"),
    dict(mem_tokens=3, arch="encoder_decoder", bottleneck=True),
]


def model(**options):
    torch.manual_seed(0)
    return build_model({**SMALL, **options}, 10, 8, 6).eval()


def data(seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 10, (4, 8), generator=g), torch.randint(0, 10, (4, 6), generator=g)


@pytest.mark.parametrize("options", VARIANTS)
def test_reads_cut_make_the_output_blind_to_memory(options):
    m = model(**options)
    src, tgt = data()
    with knockout(m, "read"), torch.no_grad():
        before = m(src, tgt)
        m.mem.add_(torch.randn_like(m.mem))  # any memory content
        after = m(src, tgt)
    assert torch.allclose(before, after, atol=1e-6)
    with torch.no_grad():
        assert not torch.allclose(m(src, tgt), before, atol=1e-4)  # intact, memory matters


@pytest.mark.parametrize("arch", ["encoder", "encoder_decoder"])
def test_a_bottleneck_loses_everything_with_reads_cut(arch):
    """All global exchange passes through memory: without reads, the answers cannot depend on
    the source at all (the encoder's answer slots see only themselves)."""
    m = model(mem_tokens=3, bottleneck=True, arch=arch)
    src, tgt = data()
    other, _ = data(seed=2)
    with knockout(m, "read"), torch.no_grad():
        if arch == "encoder":
            assert torch.allclose(m(src, tgt), m(other, tgt), atol=1e-6)
        else:  # the decoder still reads its own prefix, never the source
            assert torch.equal(m.predict(src, 6), m.predict(other, 6))
    with torch.no_grad():
        assert not torch.allclose(m(src, tgt), m(other, tgt), atol=1e-4)


def test_a_model_that_cannot_use_its_writes_loses_nothing():
    """One layer without controller or bottleneck: the sequence reads the layer's input memory
    (the learned vectors), so what memory writes never reaches an answer."""
    m = model(mem_tokens=3, n_layers=1)
    src, tgt = data()
    with torch.no_grad():
        intact = m(src, tgt)
        with knockout(m, "write"):
            assert torch.allclose(m(src, tgt), intact, atol=1e-6)
        with knockout(m, "read"):
            assert not torch.allclose(m(src, tgt), intact, atol=1e-4)


@pytest.mark.parametrize("options", VARIANTS)
@pytest.mark.parametrize("kind", ["read", "write"])
def test_knocked_out_maps_are_zero_where_cut_and_match_the_fused_kernel(options, kind):
    m = model(**options)
    src, tgt = data()
    with knockout(m, kind), torch.no_grad():
        fused = m(src, tgt)
        explicit, maps = m(src, tgt, return_attention=True)
    assert torch.allclose(fused, explicit, atol=1e-5)
    assert m.knockout is None  # restored
    k = 3
    for w in maps["self"]:
        blocked = w[..., k:, :k] if kind == "read" else w[..., :k, k:]
        assert torch.count_nonzero(blocked) == 0
    if kind == "read" and "cross" in maps:
        assert all(torch.count_nonzero(w[..., :k]) == 0 for w in maps["cross"])


def test_knockout_errors():
    with pytest.raises(ValueError, match="unknown knockout 'both'"):
        with knockout(model(mem_tokens=2), "both"):
            pass
    with pytest.raises(ValueError, match="no memory knockouts"):
        with knockout(torch.nn.Linear(2, 2), "read"):
            pass


@pytest.mark.slow
def test_a_trial_records_what_each_knockout_costs():
    from membench.config.identity import make_spec
    from membench.run.train import run_trial

    train = dict(steps=400, eval_every=100, eval_size=128, attention=False)
    task = dict(length=6, vocab=4)
    neck = run_trial(make_spec("copy", task, dict(SMALL, mem_tokens=6, bottleneck=True), train))
    m = neck["metrics"]
    assert m["exact_match"] > 0.5  # it learned to copy through memory
    assert m["exact_match_no_read"] < 0.05 and m["token_accuracy_no_read"] < 0.5
    assert set(m) >= {"token_accuracy_no_write", "exact_match_no_write"}
    plain = run_trial(make_spec("copy", task, SMALL, dict(train, steps=100)))
    assert "exact_match_no_read" not in plain["metrics"]


def knocked(variant, seed, exact, tok, exact_cut, tok_cut, solved=None):
    """A record row: intact exact/token accuracy and both after reads and writes are cut."""
    return dict(
        task="copy", variant=variant, seed=seed, status="ok", chance=0.25,
        exact_match=exact, token_accuracy=tok, solved=exact >= 0.99 if solved is None else solved,
        exact_match_no_read=exact_cut, exact_match_no_write=exact_cut,
        token_accuracy_no_read=tok_cut, token_accuracy_no_write=tok_cut,
    )  # fmt: skip


def test_report_says_what_memory_is_for_on_solved_and_stuck_seeds_apart():
    rows = []
    for s in range(3):
        rows.append(dict(task="copy", variant="baseline", seed=s, status="ok", exact_match=1.0))
        rows.append(knocked("neck", s, 1.0, 1.0, 0.01 * s, 0.3))
        rows.append(knocked("mem", s, 1.0, 1.0, 1.0, 1.0))
        rows.append(knocked("odd", s, 1.0, 1.0, [0.2, 1.0, 0.9][s], 0.9))
        rows.append(knocked("chance", s, 0.0, 0.26, 0.0, 0.25))  # stuck at chance
    # a bimodal cell: one solved seed that goes around memory, stuck seeds whose plateau
    # (token accuracy 0.41) is computed through memory
    rows.append(knocked("bimodal", 0, 1.0, 1.0, 0.98, 0.99))
    rows += [knocked("bimodal", s, 0.005, 0.41, 0.004, 0.2 + 0.01 * s) for s in (1, 2, 3)]
    planned = {("copy", v): {0, 1, 2} for v in ("baseline", "neck", "mem", "odd", "chance")}
    report = build_report(pd.DataFrame(rows), planned=planned | {("copy", "bimodal"): {0, 1, 2, 3}})
    by = {(e["variant"], e["outcome"]): e for e in report.knockouts}
    assert {v for v, _ in by} == {"neck", "mem", "odd", "chance", "bimodal"}  # only with memory
    assert by["neck", "solved"]["read"]["verdict"] == "needs memory's reads"
    assert by["neck", "solved"]["read"]["drop"] == pytest.approx(0.99)
    assert by["neck", "solved"]["sentence"] == "needs memory's reads and writes"
    assert by["mem", "solved"]["sentence"] == "does not need memory's reads or writes"
    assert by["odd", "solved"]["read"]["verdict"] == "undecided on memory's reads"
    assert by["chance", "unsolved"]["sentence"] == "learned too little to tell"
    solved, stuck = by["bimodal", "solved"], by["bimodal", "unsolved"]
    assert (solved["seeds"], solved["of"], stuck["seeds"]) == (1, 4, 3)
    assert solved["sentence"] == "does not need memory's reads or writes"
    assert stuck["judged"] == "token_accuracy"
    assert stuck["sentence"] == "score computed through memory's reads and writes"
    assert stuck["read"]["drop"] == pytest.approx(0.41 - 0.22)
    md = render(report, "md")
    assert "## Memory knockouts" in md and "| unsolved 3/4 | exact -0.001, token -0.190 |" in md
    # the cells are signed changes (a loss is negative), and the section's first line says so
    assert "(knocked out minus intact" in md and "intact minus knocked out" not in md


def test_unsolved_seeds_that_hold_exact_match_are_judged_on_it():
    # MAD's recall: unsolved at exact 0.9, token 0.99; cutting reads costs 0.3 exact match and
    # 0.02 token accuracy, which token accuracy alone would call nothing lost
    rows = [dict(task="copy", variant="baseline", seed=s, status="ok", exact_match=0.9)
            for s in range(3)]  # fmt: skip
    rows += [knocked("regs", s, 0.9, 0.99, 0.6 - 0.01 * s, 0.97, solved=False) for s in range(3)]
    (entry,) = build_report(pd.DataFrame(rows)).knockouts
    assert (entry["outcome"], entry["judged"]) == ("unsolved", "exact_match")
    assert entry["read"]["drop"] == pytest.approx(0.31)
    assert entry["read"]["verdict"] == "score computed through memory's reads"


def test_a_cell_short_of_seeds_gets_no_knockout_summary_until_it_finishes():
    """Its finished seeds are selected by outcome, so no mean or verdict of theirs is shown."""
    planned = {("copy", "baseline"): {0, 1, 2}, ("copy", "mem"): {0, 1, 2}}
    rows = [dict(task="copy", variant="baseline", seed=s, status="ok", exact_match=1.0)
            for s in range(3)]  # fmt: skip
    rows += [knocked("mem", s, 0.0, 0.6, 0.0, 0.4) for s in range(2)]
    report = build_report(pd.DataFrame(rows), planned=planned)
    assert report.knockouts == [] and report.positions == []
    assert any("left out of the knockouts" in line for line in problems(report))
    rows.append(knocked("mem", 2, 0.0, 0.6, 0.0, 0.4))
    report = build_report(pd.DataFrame(rows), planned=planned)
    assert [(e["variant"], e["seeds"]) for e in report.knockouts] == [("mem", 3)]
    assert not any("left out of the knockouts" in line for line in problems(report))
