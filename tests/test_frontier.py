"""Frontiers: the climb's plan (a failed seed stops, resume, `beyond`), per-seed frontiers and
their bounds, solve counts with exact intervals, and the families' tests: exactness against
brute force and scipy, calibration under the null and power by simulation (fixed seeds)."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats as st
import yaml

from membench.analysis import frontier
from membench.errors import MembenchError
from membench.suite.climb import FAILED, SOLVED, UNSOLVED, ladders, plan
from membench.suite.load import load_suite

SUITE = {
    "name": "climb",
    "tasks": [{"copy": {"length": [4, 8, 16], "vocab": 3}}, {"sort": {"length": 4, "vocab": 3}}],
    "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32},
    "variants": {"baseline": {}, "mem2": {"mem_tokens": 2}},
    "seeds": 2,
    "climb": {},
    "train": {"steps": 30, "eval_every": 10, "eval_size": 64, "attention": False},
}


def write(tmp_path, suite: dict):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


# ---- the plan ---------------------------------------------------------------------------------


def test_ladders_group_a_swept_difficulty_in_order(tmp_path):
    suite = load_suite(write(tmp_path, {**SUITE, "tasks": [{"copy": {"length": [16, 4, 8]}}]}))
    (ladder,) = ladders(suite)
    assert ladder.parameter == "length" and ladder.values == (4, 8, 16)
    assert [t.label for t in ladder.levels] == [f"copy[length={n}]" for n in (4, 8, 16)]


def outcomes_for(trials, table: dict) -> dict:
    """Trial id -> outcome from {(task label, variant, seed): outcome}."""
    return {
        t.id: table[(t.task, t.variant, t.seed)]
        for t in trials
        if (t.task, t.variant, t.seed) in table
    }


def cell(n: int) -> str:
    return f"copy[length={n},vocab=3]"


def test_climb_trains_the_bottom_first_and_a_level_only_above_a_solved_one(tmp_path):
    suite = load_suite(write(tmp_path, SUITE))
    trials = suite.trials()
    climbed, todo = plan(suite, trials, {})
    # every (variant, seed) starts at copy's bottom, and sort is a ladder of one
    assert {t.task for t in todo} == {cell(4), "sort[length=4,vocab=3]"} and len(todo) == 8
    assert climbed == todo
    seen = {(cell(4), "baseline", 0): SOLVED, (cell(4), "baseline", 1): UNSOLVED,
            (cell(4), "mem2", 0): FAILED, (cell(4), "mem2", 1): SOLVED}  # fmt: skip
    climbed, todo = plan(suite, trials, outcomes_for(trials, seen))
    copy_todo = {(t.task, t.variant, t.seed) for t in todo if t.task.startswith("copy")}
    # a solved seed goes one level up; an unsolved or failed one stops climbing
    assert copy_todo == {(cell(8), "baseline", 0), (cell(8), "mem2", 1)}
    assert len([t for t in climbed if t.task.startswith("copy")]) == 6


def test_resume_trains_only_what_is_missing_and_beyond_trains_past_a_failure(tmp_path):
    suite = load_suite(write(tmp_path, SUITE))
    trials = suite.trials()
    seen = {}
    for variant, seed in itertools.product(("baseline", "mem2"), (0, 1)):
        seen[(cell(4), variant, seed)] = SOLVED
        seen[(cell(8), variant, seed)] = UNSOLVED
        seen[("sort[length=4,vocab=3]", variant, seed)] = SOLVED
    _, todo = plan(suite, trials, outcomes_for(trials, seen))
    assert todo == []  # every seed has its answer: nothing to train on a rerun
    _, todo = plan(suite, trials, outcomes_for(trials, seen), beyond=1)
    assert {(t.task, t.variant, t.seed) for t in todo} == {
        (cell(16), v, s) for v in ("baseline", "mem2") for s in (0, 1)
    }


def test_a_climb_shares_trial_ids_with_the_full_grid(tmp_path):
    grid = load_suite(write(tmp_path, {k: v for k, v in SUITE.items() if k != "climb"}))
    climb = load_suite(write(tmp_path, SUITE))
    assert {t.id for t in grid.trials()} == {t.id for t in climb.trials()}


def test_declared_tests_name_known_variants_and_a_frontier_needs_a_ladder(tmp_path):
    with pytest.raises(MembenchError, match=r"contrasts\[0\]: unknown variant 'mem3'.*mem2"):
        load_suite(write(tmp_path, {**SUITE, "contrasts": [["mem3", "baseline"]]}))
    with pytest.raises(MembenchError, match="trend: needs 3 or more variants"):
        load_suite(write(tmp_path, {**SUITE, "trend": ["baseline", "mem2"]}))
    flat = {**SUITE, "tasks": ["copy"], "primary": "frontier"}
    flat.pop("climb")
    with pytest.raises(MembenchError, match="primary: 'frontier' needs a ladder"):
        load_suite(write(tmp_path, flat))
    with pytest.raises(MembenchError, match="primary: unknown measure 'exact'"):
        load_suite(write(tmp_path, {**SUITE, "primary": "exact"}))
    with pytest.raises(MembenchError, match="trend: a variant is named twice"):
        load_suite(write(tmp_path, {**SUITE, "trend": ["baseline", "mem2", "mem2"]}))


# ---- per-seed frontiers -----------------------------------------------------------------------


def rising(n: int = 20) -> list[dict]:
    return [{"step": 100 * (i + 1), "token_accuracy": 0.3 + 0.03 * i} for i in range(n)]


def flat(n: int = 20) -> list[dict]:
    return [{"step": 100 * (i + 1), "token_accuracy": 0.4} for i in range(n)]


def rows(spec: dict) -> pd.DataFrame:
    """{(variant, seed): [(level, solved, exact, stopped, curve), ...]} -> a results table."""
    out = []
    for (variant, seed), levels in spec.items():
        for level, solved, exact, stopped, curve in levels:
            out.append({
                "task": f"copy[length={level}]", "generator": "copy", "variant": variant,
                "seed": seed, "task_params.length": level, "solved": solved,
                "exact_match": exact, "stopped": stopped, "curve": curve, "status": "ok",
                "steps_to_solve": 500 if solved else 2000, "train.steps": 2000,
            })  # fmt: skip
    return pd.DataFrame(out)


def test_frontier_score_bounds_and_a_break_of_monotonicity():
    df = rows({
        ("a", 0): [(4, True, 1, "solved", []), (8, False, 0.5, "budget", flat())],
        ("a", 1): [(4, True, 1, "solved", []), (8, True, 1, "solved", []),
                   (16, True, 1, "solved", [])],
        ("a", 2): [(4, True, 1, "solved", []), (8, False, 0.25, "budget", rising())],
        ("a", 3): [(4, False, 0.0, "budget", flat()), (8, True, 1, "solved", [])],
    })  # fmt: skip
    seeds = frontier.seed_frontiers(df).set_index("seed")
    assert seeds.loc[0, "frontier"] == 4 and seeds.loc[0, "score"] == pytest.approx(2.5)
    assert not seeds.loc[0, "at_top"] and not seeds.loc[0, "cut"]  # a plateau: a frontier
    assert seeds.loc[1, "at_top"] and seeds.loc[1, "score"] == pytest.approx(4)
    assert seeds.loc[2, "cut"] and seeds.loc[2, "score"] == pytest.approx(2.25)  # still rising
    assert math.isnan(seeds.loc[3, "frontier"]) and seeds.loc[3, "score"] == pytest.approx(1)
    assert seeds.loc[3, "jumps"] == [8.0]
    assert frontier.nonmonotone(seeds.reset_index()) == [
        "copy / a seed 3: unsolved at one level, solved 8"
    ]


def test_exact_match_still_rising_at_the_token_accuracy_ceiling_makes_a_lower_bound():
    """Seen in results/paper: sort trials cut by the budget at token accuracy 0.997 whose exact
    match still climbed 0.94 -> 0.98 were scored as failures (token accuracy cannot rise 0.01)."""
    ceiling = [
        {"step": 100 * (i + 1), "token_accuracy": 0.996 + 0.0001 * i, "exact_match": 0.8 + 0.01 * i}
        for i in range(20)
    ]
    stuck = [{**p, "exact_match": 0.8} for p in ceiling]
    assert frontier.still_improving(ceiling) and not frontier.still_improving(stuck)
    df = rows({
        ("a", 0): [(4, True, 1, "solved", []), (8, False, 0.98, "budget", ceiling)],
        ("a", 1): [(4, True, 1, "solved", []), (8, False, 0.8, "budget", stuck)],
    })  # fmt: skip
    seeds = frontier.seed_frontiers(df).set_index("seed")
    assert seeds.loc[0, "cut"] and not seeds.loc[1, "cut"]


def test_a_seed_that_solved_nothing_but_was_cut_while_improving_is_shown_as_cut():
    """Seen in results/core: recall seeds cut while still rising at the ladder's bottom showed
    as '<4' like seeds that had stopped learning, and the findings called them failures."""
    from membench.report.frontier_tables import seeds_text

    df = rows({
        ("a", 0): [(4, False, 0.3, "budget", rising())],
        ("a", 1): [(4, False, 0.4, "plateau", flat())],
        ("a", 2): [(4, True, 1, "solved", []), (8, False, 0.1, "plateau", flat())],
    })  # fmt: skip
    assert seeds_text(frontier.seed_frontiers(df), 4) == "<4: 1, <4 (cut): 1, 4: 1"


def test_solve_counts_count_untrained_levels_as_unsolved_with_exact_intervals():
    df = rows({
        ("a", s): [(4, True, 1, "solved", []), (8, s < 2, 1 if s < 2 else 0.1, "budget", flat())]
        + [(16, False, 0.0, "budget", flat())] * (s < 2)
        for s in range(5)
    })  # fmt: skip
    rates = frontier.solve_rates(df, frontier.seed_frontiers(df)).set_index("level")
    assert rates.loc[4, "k"] == 5 and rates.loc[8, "k"] == 2 and rates.loc[8, "n"] == 5
    lo, hi = st.binomtest(2, 5).proportion_ci(method="exact")
    assert rates.loc[8, "low"] == pytest.approx(lo) and rates.loc[8, "high"] == pytest.approx(hi)
    assert rates.loc[16, "k"] == 0 and rates.loc[16, "n"] == 5  # 3 seeds never reached it
    assert rates.loc[16, "trained"] == 2


def seeds_table(values: dict, at_top=(), cut=()) -> pd.DataFrame:
    """{variant: [score per seed]} -> seed_frontiers' shape on one ladder."""
    out = []
    for variant, scores in values.items():
        for seed, score in enumerate(scores):
            out.append(dict(ladder="copy", parameter="length", variant=variant, seed=seed,
                            frontier=2**score, index=0, score=float(score),
                            at_top=(variant, seed) in at_top, cut=(variant, seed) in cut,
                            jumps=[]))  # fmt: skip
    return pd.DataFrame(out)


def test_the_frontier_test_is_the_exact_sign_flip_test_and_bounds_tie():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=8), rng.normal(size=8)
    table = seeds_table({"a": a, "b": b})
    test = frontier.paired_scores(table[table.variant == "a"], table[table.variant == "b"])
    d = np.round(a - b, 9)
    brute = np.mean([abs(np.dot(s, d)) >= abs(d.sum()) - 1e-12
                     for s in itertools.product((-1, 1), repeat=8)])  # fmt: skip
    assert test["p_value"] == pytest.approx(brute)
    # both at the top: a tie; a bound below the other seed: unknown, a tie; above it: counts
    table = seeds_table({"a": [4, 2, 3], "b": [4, 3, 2]}, at_top={("a", 0), ("b", 0), ("a", 1)})
    test = frontier.paired_scores(table[table.variant == "a"], table[table.variant == "b"])
    assert (test["wins"], test["losses"], test["ties"]) == (1, 0, 2)


def test_a_unanimous_frontier_gain_is_significant_at_11_seeds_and_not_at_5():
    for n, significant in ((11, True), (5, False)):
        table = seeds_table({"base": [3.0] * n, "mem": [4.0] * n})
        out = frontier.compare_frontiers(table, [("mem", "base")], 0.05, "holm")
        assert bool(out["significant"].iloc[0]) is significant
        assert out["p_value"].iloc[0] == pytest.approx(2 / 2**n)


# ---- calibration and power by simulation ------------------------------------------------------


def null_seeds(rng, variants, n) -> pd.DataFrame:
    """Frontier scores with no effect: ladder levels 0-4 and the exact match at the next."""
    return seeds_table({v: rng.integers(0, 4, n) + rng.uniform(0, 1, n).round(2) for v in variants})


def test_contrast_family_keeps_its_familywise_error_under_the_null():
    rng = np.random.default_rng(0)
    pairs = [("a", "b"), ("c", "b"), ("a", "c")]
    rejections = 0
    runs = 400
    for _ in range(runs):
        out = frontier.compare_frontiers(null_seeds(rng, "abc", 11), pairs, 0.05, "holm")
        rejections += bool(out["significant"].any())
    assert rejections / runs <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / runs)


def test_page_trend_is_exact_calibrated_under_the_null_and_has_power():
    rng = np.random.default_rng(1)
    # exact: as scipy's exact Page test on data without ties (scipy's is one-sided)
    x = rng.normal(size=(6, 3)) + np.arange(3) * 0.4
    ours = frontier.page_test(x)
    assert ours["p_value"] == pytest.approx(2 * st.page_trend_test(x, method="exact").pvalue)
    assert ours["sign"] == 1 and frontier.page_test(x[:, ::-1])["sign"] == -1
    # ties: the null is still exact (all orders of a block's midranks), so p never undercuts
    # the share of the null at least as extreme; familywise error under the null
    runs, rejections = 300, 0
    for _ in range(runs):
        table = null_seeds(rng, ["m5", "m10", "m20"], 11)
        out = frontier.trend_tests(table, [["m5", "m10", "m20"]], 0.05, "holm")
        rejections += bool(out["significant"].any())
    assert rejections / runs <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / runs)
    # power: a frontier one level higher per step of the order, 11 seeds
    hits = 0
    for _ in range(100):
        n = 11
        table = seeds_table({f"m{i}": rng.integers(0, 3, n) + i + rng.uniform(0, 1, n)
                             for i in range(3)})  # fmt: skip
        out = frontier.trend_tests(table, [["m0", "m1", "m2"]], 0.05, "holm")
        hits += bool(out["significant"].iloc[0] and out["sign"].iloc[0] == 1)
    assert hits >= 90


def test_the_trend_leaves_out_a_seed_whose_ranking_a_cut_frontier_leaves_unknown():
    """A seed cut by the budget while improving has only a lower bound: where it sits at or
    below another variant's score, its rank is unknown, and the seed cannot enter Page's L.
    Before: such seeds were ranked by their bound, and a falling trend was found on sort in
    results/core where the frontier test tied every seed."""
    falling = {"m5": [3.0] * 8, "m10": [2.5] * 8, "m20": [2.0] * 8}
    out = frontier.trend_tests(seeds_table(falling), [["m5", "m10", "m20"]], 0.05, "holm")
    assert out["n"].iloc[0] == 8 and out["significant"].iloc[0] and out["sign"].iloc[0] == -1
    cut = [("m20", s) for s in range(5)] + [("m10", 5)]  # bounds below the others: unknown
    out = frontier.trend_tests(seeds_table(falling, cut=cut), [["m5", "m10", "m20"]], 0.05, "holm")
    assert out["n"].iloc[0] == 2 and not out["significant"].iloc[0]
    # a cut frontier above every other score on its seed leaves the ranking known
    high = [("m5", s) for s in range(8)]
    out = frontier.trend_tests(seeds_table(falling, cut=high), [["m5", "m10", "m20"]], 0.05, "holm")
    assert out["n"].iloc[0] == 8 and out["significant"].iloc[0]


def test_page_null_is_a_distribution_over_every_order_of_each_block():
    blocks = [np.array([1.0, 2.5, 2.5]), np.array([1.0, 2.0, 3.0])]
    null = frontier.page_null(blocks)
    assert sum(null.values()) == pytest.approx(1.0)
    brute = {}
    for p, q in itertools.product(itertools.permutations(blocks[0]),
                                  itertools.permutations(blocks[1])):  # fmt: skip
        value = round(float(np.dot([1, 2, 3], p) + np.dot([1, 2, 3], q)), 9)
        brute[value] = brute.get(value, 0) + 1 / 36
    assert null.keys() == brute.keys()
    assert all(null[k] == pytest.approx(brute[k]) for k in brute)


def test_learning_speed_censors_seeds_that_never_reached_the_level():
    df = rows({
        **{("baseline", s): [(4, True, 1, "solved", []), (8, True, 1, "solved", [])]
           for s in range(6)},
        **{("mem", s): [(4, True, 1, "solved", []), (8, s < 4, 1, "budget", [])]
           for s in range(6)},
    })  # fmt: skip
    df.loc[(df.variant == "mem") & (df.seed < 4), "steps_to_solve"] = 1500  # slower
    seeds = frontier.seed_frontiers(df)
    rates = frontier.solve_rates(df, seeds)
    out = frontier.learning_speed(df, seeds, rates, "baseline", 0.05, "holm").iloc[0]
    assert out["level"] == 8 and out["solved"] == 4 and out["solved_baseline"] == 6
    assert out["sign"] == -1 and out["p_value"] == pytest.approx(2 / 2**6)


# ---- a climb on a real Ray --------------------------------------------------------------------


@pytest.mark.ray
def test_a_climb_on_ray_stops_at_a_failure_resumes_and_checks_past_it(ray_local, tmp_path):
    """Copy of 1 symbol out of 2 is solved at a threshold of 0.3 (chance is 0.5); 48 symbols in
    20 steps never are: each seed trains the bottom and the first failure, nothing above."""
    import json

    from membench.run.sweep import run_suite
    from membench.store.records import read_records

    suite = {
        **SUITE,
        "tasks": [{"copy": {"length": [1, 48, 96], "vocab": 2}}],
        "train": {"steps": 20, "eval_every": 10, "eval_size": 64, "attention": False,
                  "solve_threshold": 0.3},
    }  # fmt: skip
    path, results = write(tmp_path, suite), tmp_path / "results"
    assert run_suite(load_suite(path), results) == 0
    records = read_records(results / "trials")
    levels = sorted(r["task_params"]["length"] for r in records.values())
    assert levels == [1] * 4 + [48] * 4  # 2 variants x 2 seeds, no level above a failure
    listed = json.loads((results / "suite.json").read_text())
    assert len(listed["trials"]) == 8 and listed["design"]["primary"] == "frontier"
    report = (results / "report" / "report.md").read_text()
    assert "## Frontiers" in report and "1: 4" not in report
    assert "| baseline | 2/2 [0.16, 1.00] | 0/2 [0.00, 0.84] | 0/2 [0.00, 0.84] |" in report

    before = set(records)
    assert run_suite(load_suite(path), results) == 0  # resume: every answer is recorded
    assert set(read_records(results / "trials")) == before

    path = write(tmp_path, {**suite, "climb": {"beyond": 1}})  # one level past each failure
    assert run_suite(load_suite(path), results) == 0
    new = {i: r for i, r in read_records(results / "trials").items() if i not in before}
    assert sorted(r["task_params"]["length"] for r in new.values()) == [96] * 4


def test_a_compute_matched_variant_costs_its_target_per_step_on_every_level(tmp_path):
    from membench.models.flops import step_flops

    suite = {**SUITE, "variants": {"baseline": {}, "mem2": {"mem_tokens": 2}, "wide": {}},
             "compute_matched": {"wide": "mem2"}}  # fmt: skip
    loaded = load_suite(write(tmp_path, suite))
    assert any("wide: d_ff set on each task" in note for note in loaded.notes)
    trials = {(t.task, t.variant): t.spec for t in loaded.trials() if t.seed == 0}
    widths = set()
    for task in loaded.tasks:
        wide, mem = trials[(task.label, "wide")], trials[(task.label, "mem2")]
        cost = [step_flops(s.model, s.task, s.task_params, 32) for s in (wide, mem)]
        assert abs(cost[0] / cost[1] - 1) <= 0.10
        widths.add(wide.model["d_ff"])
    assert len(widths) > 1  # memory's share of the cost changes with the length: so does d_ff
    with pytest.raises(MembenchError, match=r"compute_matched.wide: unknown variant 'mem3'"):
        load_suite(write(tmp_path, {**suite, "compute_matched": {"wide": "mem3"}}))


def test_step_flops_are_linear_in_the_batch():
    from membench.models.flops import _cached

    model = '{"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32, "mem_tokens": 3}'
    params = '{"length": 8, "vocab": 8}'
    assert _cached(model, "copy", params, 8, None) == 8 * _cached(model, "copy", params, 1, None)


def test_a_climbs_dry_run_shows_its_next_round_and_estimate(tmp_path, capsys):
    from membench.cli import main

    path = write(tmp_path, SUITE)
    assert main(["run", str(path), "--results", str(tmp_path / "r"), "--dry-run"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert (
        "a climb: at most 16 trials (every level of every ladder); the next round trains 8" in out
    )
    assert "this round's estimate: about" in out


def test_a_seed_still_climbing_is_a_lower_bound_and_ties_below_it():
    df = rows({
        ("base", 0): [(4, True, 1, "solved", []), (8, False, 0.2, "plateau", flat())],
        ("mem", 0): [(4, True, 1, "solved", [])],  # 8 not trained yet: still climbing
        ("base", 1): [(4, True, 1, "solved", []), (8, True, 1, "solved", []),
                      (16, False, 0.0, "plateau", flat())],
        ("mem", 1): [(4, True, 1, "solved", [])],
    })  # fmt: skip
    seeds = frontier.seed_frontiers(df)
    mem = seeds[seeds.variant == "mem"]
    assert mem["pending"].all() and not seeds[seeds.variant == "base"]["pending"].any()
    test = frontier.paired_scores(mem, seeds[seeds.variant == "base"])
    assert test["losses"] == 0 and test["ties"] == 2  # not counted as a loss: order unknown


def test_each_family_names_the_smallest_effect_its_seeds_could_show():
    from membench.report.frontier_tables import floors

    table = seeds_table({"base": [3.0] * 11, **{f"v{i}": [3.0] * 11 for i in range(36)}})
    versus = frontier.compare_frontiers(table, [(f"v{i}", "base") for i in range(36)], 0.05, "holm")
    empty = versus.iloc[0:0]
    lines = floors({"versus": versus, "contrasts": empty, "speed": empty}, 0.05)
    # 2/2^11 < 0.05/36 < 2/2^10: only 11 of 11 seeds one way can be significant
    assert lines == ["frontier: 36 tests; significant whatever the other tests do with 11+ "
                     "seeds of one sign and none of the other (2/2^11 < 0.05/36; fewer where "
                     "other tests are significant first or leave the family)"]  # fmt: skip
    five = frontier.compare_frontiers(seeds_table({"base": [1.0] * 5, "v": [2.0] * 5}),
                                      [("v", "base")], 0.05, "holm")  # fmt: skip
    line = floors({"versus": five, "contrasts": empty, "speed": empty})[0]
    assert "6+ seeds" in line and "at 5 seeds no difference can be significant" in line


def climbed_report():
    """A finished climb of three variants over 6 seeds: base solves 4, mem 8, mem2 16 (of 32)."""
    from membench.report.model import build_report

    tops = {"base": 4, "mem": 8, "mem2": 16}
    spec = {}
    for variant, top in tops.items():
        for s in range(6):
            levels = [lv for lv in (4, 8, 16, 32) if lv <= top]
            spec[(variant, s)] = [(lv, True, 1.0, "solved", []) for lv in levels]
            spec[(variant, s)].append((2 * top, False, 0.1 * s, "plateau", flat()))
    design = {"primary": "frontier", "climb": {"beyond": 0}, "contrasts": [["mem2", "mem"]],
              "trends": [["base", "mem", "mem2"]]}  # fmt: skip
    return build_report(rows(spec), baseline="base", design=design)


def test_the_latex_report_holds_every_frontier_table_in_plain_ascii(tmp_path):
    import shutil
    import subprocess

    from membench.report.frontier_tables import frontier_tables
    from membench.report.render import render

    report = climbed_report()
    tex = render(report, "latex")
    assert tex.isascii() and not any(c in tex for c in "\t\b\f\r\v")
    assert (
        tex.count("\\begin{table}")
        == tex.count("\\end{table}")
        == 2 + len(frontier_tables(report.frontier))
    )
    assert "Contrasts between variants (family: contrasts)" in tex
    assert "Trend in a declared order (family: trend)" in tex
    rate = tex[tex.index("Solve counts by level") :].split("\\end{table}")[0]
    base = next(line for line in rate.splitlines() if line.startswith("base &"))
    assert base.count("&") == 6 and "6/6 [0.54, 1.00]" in base  # 4 levels, frontiers, score
    if shutil.which("pdflatex"):
        doc = "\\documentclass{article}\\usepackage{booktabs}\\begin{document}\n%s\\end{document}\n"
        (tmp_path / "t.tex").write_text(doc % tex)
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert run.returncode == 0, run.stdout[-2000:]


def test_the_csv_export_writes_each_seeds_frontier_and_each_test(tmp_path):
    from membench.report.render import write_report

    paths = write_report(climbed_report(), tmp_path, formats=("csv",), plots=False)
    assert {p.name for p in paths} == {"report.csv", "frontier_seeds.csv", "frontier_tests.csv"}
    seeds = pd.read_csv(tmp_path / "frontier_seeds.csv")
    assert len(seeds) == 18
    assert seeds.groupby("variant")["frontier"].unique().map(list).to_dict() == {
        "base": [4], "mem": [8], "mem2": [16]
    }  # fmt: skip
    tests = pd.read_csv(tmp_path / "frontier_tests.csv")
    assert sorted(tests["family"].unique()) == ["contrasts", "frontier", "speed", "trend"]
    mem2 = tests[(tests.family == "frontier") & (tests.variant == "mem2")].iloc[0]
    assert mem2["wins"] == 6 and mem2["p_value"] == pytest.approx(2 / 2**6)
