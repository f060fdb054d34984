"""Packed trials (membench.run.packed) against the same trials run alone (run_trial).

Tolerance: a pack sums in another order than a lone run (batched matmuls, one flat AdamW and
gradient norm over all parameters), and training amplifies such rounding. Measured on CPU over
200 steps: losses agree to 2e-7 relative for members at lr 1e-3, and to 4e-4 for one at lr 3e-3
clipped every step (norm 0.05), which is what a lone run gets from changing its clip threshold by
1e-7 relative (1.9e-4): the floor of floating-point order, not packing. The tests allow 1e-3;
a shared data stream, schedule or clip norm is off by far more.
"""

from __future__ import annotations

import math

import pytest
import torch

from membench.config.identity import make_spec
from membench.models.flops import step_flops
from membench.run import packed, stacked
from membench.run.packed import run_pack
from membench.run.packing import make_packs, pack_plan, unpackable
from membench.run.train import run_trial

RTOL = 1e-3
SMALL = {"d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64}
TIMINGS = {"train_seconds", "eval_seconds", "tokens_per_second"}  # wall clock: never equal


def spec(task="copy", params=None, model=None, seed=0, **train):
    train = {
        "steps": 200,
        "eval_every": 20,
        "eval_size": 64,
        "warmup": 10,
        "batch_size": 16,
        **train,
    }
    return make_spec(task, params, {**SMALL, **(model or {})}, train, seed=seed)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=RTOL, abs_tol=1e-6)


def check_same(p: dict, a: dict, skip: tuple[str, ...] = ()) -> None:
    """A packed member's record against the lone run's: same keys and id, same evaluations and
    stop, losses within RTOL, every other metric (but `skip`) equal or within RTOL."""
    assert p["status"] == a["status"] == "ok", (p.get("error"), a.get("error"))
    assert p.keys() == a.keys()
    assert p["id"] == a["id"]
    assert p["stopped"] == a["stopped"]
    assert [c["step"] for c in p["curve"]] == [c["step"] for c in a["curve"]]
    for cp, ca in zip(p["curve"], a["curve"], strict=True):
        assert close(cp["loss"], ca["loss"]), (cp, ca)
        assert cp["exact_match"] == ca["exact_match"], (cp, ca)
    for key, value in a["metrics"].items():
        if key not in TIMINGS and key not in skip:
            assert close(p["metrics"][key], value), (key, p["metrics"][key], value)
    assert p["per_position"] == a["per_position"]
    assert (p.get("attention") is None) == (a.get("attention") is None)


@pytest.mark.slow
def test_loss_curves_match_lone_runs():
    """200 steps of long_range_sum (not solved that fast, so every curve runs to the budget),
    three members differing in seed, learning rate, weight decay and clipping (0.05 clips every
    step; 0 never): wrong on a shared data stream, a shared clip norm or one schedule."""
    specs = [
        spec("long_range_sum", {"length": 4}, {"mem_tokens": 4}, 0, lr=1e-3, grad_clip=1.0),
        spec("long_range_sum", {"length": 4}, {"mem_tokens": 4}, 1, lr=3e-3, grad_clip=0.05),
        spec("long_range_sum", {"length": 4}, {"mem_tokens": 4}, 2, lr=5e-4, grad_clip=0.0,
             weight_decay=0.1, warmup=50),
    ]  # fmt: skip
    for p, a in zip(run_pack(specs), [run_trial(s) for s in specs], strict=True):
        assert p["stopped"] == a["stopped"] == "budget"
        assert len(p["curve"]) == 10
        for cp, ca in zip(p["curve"], a["curve"], strict=True):
            assert close(cp["loss"], ca["loss"]), (cp, ca)
            assert abs(cp["token_accuracy"] - ca["token_accuracy"]) < 0.02


SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "model",
    [pytest.param({}, marks=SLOW), {"mem_tokens": 4},
     pytest.param({"mem_tokens": 4, "mem_reads": "memory"}, marks=SLOW),
     pytest.param({"mem_tokens": 4, "mem_reads": "context", "controller": "dedicated"}, marks=SLOW),
     pytest.param({"mem_tokens": 4, "bottleneck": True}, marks=SLOW)],
    ids=["plain", "mem", "regs", "ctx-ctrl", "bottleneck"],
)  # fmt: skip
def test_records_match_lone_runs(model):
    """A tiny copy every member solves, each stopping its own way: solved, out of budget
    (steps 40), or at its own threshold; records equal (ids, stop, steps to solve, knockouts,
    attention present) up to the loss tolerance."""
    specs = [
        spec("copy", {"length": 4, "vocab": 4}, model, 0, lr=3e-3),
        spec("copy", {"length": 4, "vocab": 4}, model, 1, steps=40),
        spec("copy", {"length": 4, "vocab": 4}, model, 2, solve_threshold=0.5),
    ]
    finished = []
    records = run_pack(specs, done=lambda i, record: finished.append((i, record["stopped"])))
    for p, a in zip(records, [run_trial(s) for s in specs], strict=True):
        check_same(p, a)
    # each record is handed over the moment it is complete: the early stoppers first
    assert sorted(finished) == [(i, r["stopped"]) for i, r in enumerate(records)]
    steps = [r["metrics"]["steps_trained"] for r in records]
    assert records[finished[-1][0]]["metrics"]["steps_trained"] == max(steps)
    assert records[1]["stopped"] == "budget" and records[1]["metrics"]["steps_trained"] == 40
    assert records[0]["stopped"] == "solved"
    assert records[2]["stopped"] == "solved"


def test_failing_member_fails_alone(monkeypatch):
    """A member whose loss becomes NaN is recorded failed with run_trial's error; the others
    train on as if alone."""
    build = packed.build

    def poisoned(s, device):
        task, model = build(s, device)
        if s.seed == 1:
            with torch.no_grad():
                model.head.bias.fill_(float("nan"))
        return task, model

    specs = [spec("copy", {"length": 4, "vocab": 4}, {"mem_tokens": 4}, seed) for seed in range(3)]
    monkeypatch.setattr(packed, "build", poisoned)
    records = run_pack(specs)
    assert records[1]["status"] == "failed"
    assert records[1]["error"] == "FloatingPointError: loss became nan at step 20"
    assert records[1]["id"] == specs[1].trial_id()
    for i in (0, 2):
        check_same(records[i], run_trial(specs[i]))


@pytest.mark.slow
def test_plateau_per_member():
    """patience stops each member at its own evaluation, as it would alone."""
    specs = [
        spec("sort", {"length": 6, "vocab": 4}, {"mem_tokens": 2}, seed, patience=p,
             solve_threshold=1.0, eval_every=10, steps=150)
        for seed, p in [(0, 1), (1, 2), (2, 0)]
    ]  # fmt: skip
    for p, a in zip(run_pack(specs), [run_trial(s) for s in specs], strict=True):
        assert p["stopped"] == a["stopped"]
        assert p["metrics"]["steps_trained"] == a["metrics"]["steps_trained"]


def test_make_packs_groups_by_shape():
    """Seeds of a cell share packs of at most `size`; another model or batch opens another;
    an unpackable trial is a pack of one that runs alone with a note."""
    a = [spec(seed=s) for s in range(5)]
    b = [spec(model={"mem_tokens": 4}, seed=s) for s in range(2)]
    c = [spec(seed=9, batch_size=8)]
    recurrent = make_spec(
        "copy", None, {"arch": "recurrent", "mem_tokens": 2, "segment": 8}, {"steps": 1}
    )
    packs = make_packs([*a, *b, recurrent, *c], 3)
    assert [len(p) for p in packs] == [3, 2, 2, 1, 1]
    assert packs[0] == a[:3] and packs[1] == a[3:] and packs[2] == b
    assert packs[3] == [recurrent] and packs[4] == c
    assert "arch recurrent" in unpackable(recurrent)
    with pytest.raises(Exception, match="pack size 0"):
        make_packs(a, 0)


def test_the_pack_plan_says_what_a_pack_size_becomes():
    """A user asking for packs of 16 on cells of 2 seeds is told the packs hold 2; unpacked
    runs say nothing; trials that cannot pack are counted."""
    cells = [spec(seed=s) for s in range(2)] + [
        spec(model={"mem_tokens": 4}, seed=s) for s in (0, 1)
    ]
    recurrent = make_spec("copy", None, {"arch": "recurrent", "mem_tokens": 2, "segment": 8}, {})
    assert pack_plan(cells, 1) is None
    assert pack_plan(cells, 16) == (
        "packed: 4 trials in 2 Ray trials of up to 16 "
        "(a pack holds the trials of one cell; the largest here has 2)"
    )
    assert pack_plan([*cells, recurrent], 1) is None
    assert pack_plan([*cells, recurrent], 2).endswith("; 1 run alone (their records say why)")


def test_unpackable_trials_run_alone_with_a_note(monkeypatch):
    """A pack that holds a trial the stacked program cannot run trains each trial alone."""
    calls = []
    monkeypatch.setattr(
        packed, "run_trial", lambda s, progress=None, checkpoints=None: calls.append(s) or {}
    )
    recurrent = make_spec("copy", None, {"arch": "recurrent", "mem_tokens": 2, "segment": 8}, {})
    records = run_pack([spec(), recurrent])
    assert calls == [spec(), recurrent]
    assert records[0] == {} and "ran unpacked: arch recurrent" in records[1]["notes"][0]


@pytest.mark.slow
@pytest.mark.ray
def test_sweep_packs_and_resumes_per_member(ray_local, tmp_path):
    """`resources: {pack: 3}`: one Tune trial per cell's three seeds, one record per trial with
    the suite's ids; a deleted record is retrained alone, the others untouched."""
    import yaml

    from membench.run.sweep import run_suite
    from membench.store.records import read_records
    from membench.suite.load import load_suite

    suite = {
        "name": "packs",
        "tasks": [{"copy": {"length": 4, "vocab": 3}}],
        "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32},
        "variants": {"baseline": {}, "mem2": {"mem_tokens": 2}},
        "seeds": 3,
        "train": {"steps": 30, "eval_every": 10, "eval_size": 64, "attention": False},
        "resources": {"cpu": 1, "pack": 3},
    }
    path, results = tmp_path / "suite.yaml", tmp_path / "results"
    path.write_text(yaml.safe_dump(suite))
    loaded = load_suite(path)
    assert run_suite(loaded, results) == 0
    (run,) = (results / "tune").iterdir()
    assert len([d for d in run.iterdir() if d.is_dir()]) == 2  # two packs, not six trials
    records = read_records(results / "trials")
    assert set(records) == {t.id for t in loaded.trials()}
    assert {r["status"] for r in records.values()} == {"ok"}
    victim = loaded.trials()[4].id
    (results / "trials" / f"{victim}.json").unlink()
    kept = {p.name: p.stat().st_mtime_ns for p in (results / "trials").glob("*.json")}
    assert run_suite(load_suite(path), results) == 0
    again = read_records(results / "trials")
    assert {
        p.name: p.stat().st_mtime_ns for p in (results / "trials").glob("*.json") if p.name in kept
    } == kept
    for a, b in zip(again[victim]["curve"], records[victim]["curve"], strict=True):
        assert close(a["loss"], b["loss"]) and a["exact_match"] == b["exact_match"]


def test_a_broken_pack_runs_its_members_alone(monkeypatch):
    """Should the stacked program itself fail, its members are trained alone, with a note."""

    def broken(self, *args):
        raise RuntimeError("no batching rule")

    monkeypatch.setattr(packed.Pack, "step_math", broken)
    specs = [spec("copy", {"length": 4, "vocab": 4}, seed=s, steps=20) for s in range(2)]
    records = run_pack(specs)
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert [r["id"] for r in records] == [s.trial_id() for s in specs]
    assert records[0]["notes"] == ["ran unpacked: the pack failed (RuntimeError: no batching rule)"]


def test_graph_replay_plumbing(monkeypatch):
    """The CUDA-graph path's bookkeeping (static inputs, state put back after the warm-up,
    capture again when a member leaves) on CPU, with a stand-in graph that replays by calling
    the step again: records equal the plain pack's exactly."""

    def fake_graph(step):
        for _ in range(3):
            step()
        out = step()
        return (lambda: out.copy_(step())), out

    specs = [
        spec("copy", {"length": 4, "vocab": 4}, {"mem_tokens": 4}, seed, steps=steps)
        for seed, steps in [(0, 60), (1, 40), (2, 60)]
    ]
    plain = run_pack(specs)
    monkeypatch.setattr(stacked, "GRAPH_DEVICES", ("cuda", "cpu"))
    monkeypatch.setattr(stacked, "record_graph", fake_graph)
    replayed = run_pack(specs, graphs=True)
    for p, r in zip(plain, replayed, strict=True):
        assert p["curve"] == r["curve"] and p["stopped"] == r["stopped"]


def test_interleaved_packs_match_one_after_another():
    """Packs trained a step of each in turn give the records they give one after another, a
    trial that cannot pack included (it runs alone)."""
    recurrent = make_spec("copy", {"length": 4, "vocab": 4},
                          {"arch": "recurrent", "mem_tokens": 2, "segment": 4}, {"steps": 20})  # fmt: skip
    packs = [
        [spec("copy", {"length": 4, "vocab": 4}, {"mem_tokens": 4}, s, steps=40) for s in (0, 1)],
        [spec("sort", {"length": 4, "vocab": 4}, {}, s, steps=60) for s in (0, 1, 2)],
        [recurrent],
    ]
    together = packed.run_interleaved(packs)
    for pack, records in zip(packs, together, strict=True):
        for a, b in zip(run_pack(pack), records, strict=True):
            assert a["id"] == b["id"] and a["curve"] == b["curve"]


@pytest.mark.slow
def test_a_pack_on_a_finite_set_with_ignored_targets_matches_lone_runs():
    """zoology's MQAR (targets IGNORE except at the queries) on a finite training set: each
    member samples its own pool as a lone run does, and ignored targets stay out of the loss."""
    params = {"vocab": 64, "seq_len": 16, "pairs": 2, "random_non_queries": 0}
    specs = [
        spec("mqar", params, None, seed, steps=60, train_examples=256, attention=False)
        for seed in (0, 1)
    ]
    for p, a in zip(run_pack(specs), [run_trial(s) for s in specs], strict=True):
        check_same(p, a, skip=("train_flops",))
        assert p["per_position"] is None  # scored positions vary: none kept
        # a lone trial computes logits at the scored rows only; a pack (vmap) at every row,
        # and each counts what it computes
        steps, model = a["metrics"]["steps_trained"], a["model"]
        batch = a["train"]["batch_size"]
        count = [
            step_flops(model, "mqar", a["task_params"], batch, s) * steps for s in (False, True)
        ]
        assert p["metrics"]["train_flops"] == pytest.approx(count[0])
        assert a["metrics"]["train_flops"] == pytest.approx(count[1]) and count[1] < count[0]
