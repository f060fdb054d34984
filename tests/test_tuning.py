"""Tuned comparisons: the `tune:` block, the points, the choice rule, and the two phases."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from membench.analysis.tuning import choose, extend_space, tuning_section, window
from membench.cli import main
from membench.errors import MembenchError
from membench.store.records import read_records
from membench.store.results import load_suite_results
from membench.suite.load import load_suite
from membench.suite.tune import Choice, Point, beyond, grid_edges, make_points

SUITE = {
    "name": "tuned",
    "tasks": [{"copy": {"length": 4, "vocab": 3}}, {"sort": {"length": 4, "vocab": 3}}],
    "model": {"d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32},
    "variants": {"baseline": {}, "mem2": {"mem_tokens": 2}},
    "seeds": 2,
    "train": {"steps": 30, "eval_every": 10, "eval_size": 64, "attention": False},
    "tune": {"space": {"lr": [0.0003, 0.003]}, "seeds": [100, 101]},
}


def write(tmp_path, suite):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def with_tune(**tune):
    return {**SUITE, "tune": {**SUITE["tune"], **tune}}


@pytest.mark.parametrize(
    "tune, message",
    [
        ({"space": {"learning_rate": [0.001]}}, "tune.space.learning_rate: not a tunable"),
        ({"space": {}}, "tune.space: empty"),
        ({"seeds": [1, 100]}, "tune.seeds: seed 1 is also an evaluation seed"),
        ({"metric": "acuracy"}, "tune.metric: unknown metric 'acuracy'"),
        ({"metric": "steps_to_solve"}, "steps_to_solve is censored"),
        ({"per": ["task"]}, "tune.per: expected [task, variant]"),
        ({"space": {"lr": [0.0]}}, "tune.space"),
        ({"space": {"lr": {"loguniform": [0.0001, 0.01]}}}, "tune.samples:"),
        ({"space": {"lr": [0.001, 0.001]}}, "repeated value"),
        ({"budget": 3}, "tune: unknown key 'budget'"),
        ({"extend": -1}, "tune.extend: must be >= 0, got -1"),
        (
            {"samples": 0, "space": {"lr": {"loguniform": [0.0001, 0.01]}}},
            "tune.samples: must be >= 1",
        ),
        (
            {"space": {"lr": {"logunifrom": [0.0001, 0.01]}}, "samples": 2},
            "tune.space.lr: expected one of loguniform, uniform, randint, choice: did you mean 'loguniform'?",
        ),
        (
            {"space": {"lr": {"loguniform": [0.0, 0.01]}}, "samples": 2},
            "tune.space.lr.loguniform: bounds must be > 0",
        ),
        ({"seeds": [100, 100]}, "tune.seeds: repeated seed in [100, 100]"),
        ({"margin": "wide"}, "tune.margin: expected float, got 'wide'"),
    ],
)
def test_malformed_tune_blocks_are_one_line_errors_with_exit_2(tmp_path, capsys, tune, message):
    path = write(tmp_path, with_tune(**tune))
    assert main(["run", str(path), "--dry-run", "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_grid_points_cross_every_option_in_the_space_order():
    points = make_points({"lr": [0.001, 0.003], "warmup": [50, 200]}, 1)
    assert points == [
        {"lr": 0.001, "warmup": 50},
        {"lr": 0.001, "warmup": 200},
        {"lr": 0.003, "warmup": 50},
        {"lr": 0.003, "warmup": 200},
    ]


def test_distributions_are_drawn_by_tune_reproducibly_within_bounds():
    space = {"lr": {"loguniform": [1e-4, 1e-2]}, "warmup": [50, 100]}
    points = make_points(space, 5)
    assert points == make_points(space, 5)  # same draws every run: trials stay resumable
    assert len(points) == 10 and {p["warmup"] for p in points} == {50, 100}
    draws = {p["lr"] for p in points}
    assert len(draws) == 5 and all(1e-4 <= lr <= 1e-2 for lr in draws)
    assert all(float(f"{lr:.4g}") == lr for lr in draws)  # rounded: ids read well


def tuning_rows(scores, metric="aulc", status=None):
    """scores: {(task, variant, label): [per-seed values]} -> a tuning table."""
    rows = []
    for (task, variant, label), values in scores.items():
        for seed, value in enumerate(values):
            rows.append(
                dict(
                    id=f"{task}-{variant}-{label}-{seed}",
                    task=task,
                    variant=variant,
                    seed=100 + seed,
                    point=point(label),
                    status=(status or {}).get((task, variant, label), "ok"),
                    **{metric: value},
                )
            )
    return pd.DataFrame(rows)


def point(label: str) -> Point:
    """'lr=0.001, warmup=50' -> the Point it names (the tests write points as labels)."""
    return Point({k: yaml.safe_load(v) for k, v in (kv.split("=") for kv in label.split(", "))})


def parse(tmp_path, **tune):
    return load_suite(write(tmp_path, with_tune(**tune))).tune


def test_choice_is_the_best_mean_over_tuning_seeds_per_cell(tmp_path):
    tune = parse(tmp_path, space={"lr": [0.0003, 0.001, 0.003]})
    table = tuning_rows(
        {
            ("copy", "baseline", "lr=0.0003"): [0.2, 0.4],
            ("copy", "baseline", "lr=0.001"): [0.9, 0.1],  # mean 0.5: best, despite one bad seed
            ("copy", "baseline", "lr=0.003"): [0.0, 0.95],  # the best single seed, mean 0.475
            ("copy", "mem2", "lr=0.0003"): [0.7, 0.7],
            ("copy", "mem2", "lr=0.001"): [0.6, 0.6],
            ("copy", "mem2", "lr=0.003"): [0.1, 0.1],
        }
    )
    choices = choose(table, tune)
    assert choices[("copy", "baseline")].point == {"lr": 0.001}
    assert choices[("copy", "baseline")].score == pytest.approx(0.5)
    assert choices[("copy", "baseline")].trials == (
        "copy-baseline-lr=0.001-0",
        "copy-baseline-lr=0.001-1",
    )
    assert choices[("copy", "mem2")].point == {"lr": 0.0003}


def test_ties_go_to_the_smaller_learning_rate_and_direction_follows_the_metric(tmp_path):
    tune = parse(tmp_path, space={"lr": [0.003, 0.001]})  # larger first: order is not the rule
    table = tuning_rows({("copy", "baseline", f"lr={lr}"): [1.0, 1.0] for lr in (0.003, 0.001)})
    assert choose(table, tune)[("copy", "baseline")].point == {"lr": 0.001}
    loss = parse(tmp_path, space={"lr": [0.003, 0.001]}, metric="final_loss")
    table = tuning_rows(
        {
            ("copy", "baseline", "lr=0.003"): [0.2, 0.2],
            ("copy", "baseline", "lr=0.001"): [0.9, 0.9],
        },
        metric="final_loss",
    )
    assert choose(table, loss)[("copy", "baseline")].point == {"lr": 0.003}  # lower is better


def test_failed_tuning_trials_take_no_part_and_a_cell_with_none_gets_no_choice(tmp_path):
    tune = parse(tmp_path, space={"lr": [0.0003, 0.003]})
    scores = {
        ("copy", "baseline", "lr=0.0003"): [0.1, 0.1],
        ("copy", "baseline", "lr=0.003"): [0.9, 0.9],
        ("copy", "mem2", "lr=0.0003"): [0.5, 0.5],
        ("copy", "mem2", "lr=0.003"): [0.5, 0.5],
    }
    status = {
        ("copy", "baseline", "lr=0.003"): "failed",
        ("copy", "mem2", "lr=0.0003"): "failed",
        ("copy", "mem2", "lr=0.003"): "failed",
    }
    choices = choose(tuning_rows(scores, status=status), tune)
    assert choices[("copy", "baseline")].point == {"lr": 0.0003}
    assert ("copy", "mem2") not in choices


def test_per_variant_chooses_one_point_across_tasks(tmp_path):
    tune = parse(tmp_path, space={"lr": [0.0003, 0.003]}, per=["variant"])
    table = tuning_rows(
        {
            ("copy", "mem2", "lr=0.0003"): [0.9, 0.9],
            ("copy", "mem2", "lr=0.003"): [1.0, 1.0],
            ("sort", "mem2", "lr=0.0003"): [0.8, 0.8],
            ("sort", "mem2", "lr=0.003"): [0.2, 0.2],
        }
    )
    choices = choose(table, tune)
    assert list(choices) == [("mem2",)]
    assert choices[("mem2",)].point == {"lr": 0.0003}  # mean over tasks 0.85 vs 0.6
    assert len(choices[("mem2",)].trials) == 4  # both tasks' tuning trials at that point


def test_window_is_the_range_within_the_margin_of_the_best():
    scores = {0.0001: 0.2, 0.0003: 0.93, 0.001: 0.95, 0.003: 0.91, 0.01: 0.5}
    assert window(scores, 0.05) == (0.0003, 0.003)
    assert window(scores, 0.0) == (0.001, 0.001)
    assert window({0.1: 5.0, 0.2: 1.0, 0.3: 1.2}, 0.5, sign=-1) == (0.2, 0.3)  # lower is better
    assert window({0.1: math.nan}, 0.1) is None


def test_tuning_trials_and_evaluation_trials(tmp_path):
    suite = load_suite(write(tmp_path, SUITE))
    tuning = suite.tuning_trials()
    assert len(tuning) == 2 * 2 * 2 * 2  # tasks × variants × points × tuning seeds
    assert {t.seed for t in tuning} == {100, 101}
    assert {t.spec.train["lr"] for t in tuning} == {0.0003, 0.003}
    assert all(t.tuning["phase"] == "tune" for t in tuning)
    with pytest.raises(ValueError, match="choices"):
        suite.trials()
    choices = {
        (task.label, variant.name): Choice({"lr": 0.003}, 0.5, ("a", "b"))
        for task in suite.tasks
        for variant in suite.variants
    }
    del choices[(suite.tasks[0].label, "mem2")]  # every tuning trial of this cell failed
    trials = suite.trials(choices)
    assert len(trials) == 3 * 2  # the unchosen cell is left out
    assert {t.seed for t in trials} == {0, 1}
    assert all(t.spec.train["lr"] == 0.003 for t in trials)
    assert trials[0].tuning == {
        "phase": "evaluate",
        "point": {"lr": 0.003},
        "metric": "aulc",
        "score": 0.5,
        "chosen_from": ["a", "b"],
    }
    # the same cell at the untuned suite's own learning rate is the untuned suite's trial
    untuned = load_suite(write(tmp_path, {k: v for k, v in SUITE.items() if k != "tune"}))
    base_lr = {(t.task, t.variant): Choice({"lr": 0.001}, 0, ()) for t in untuned.trials()}
    assert {t.id for t in suite.trials(base_lr)} == {t.id for t in untuned.trials()}


def listing(tune, chosen: str, score: float) -> dict:
    """suite.json's tuning block for one cell (copy / mem2) chosen at `point`."""
    return {
        "metric": tune.metric,
        "margin": tune.margin,
        "space": tune.space,
        "points": tune.points,
        "seeds": tune.seeds,
        "per": list(tune.per),
        "choices": [dict(task="copy", variant="mem2", point=point(chosen), score=score)],
    }


def test_tuning_section_reads_the_window_of_each_cell(tmp_path):
    tune = parse(tmp_path, space={"lr": [0.0003, 0.001, 0.003]})
    table = tuning_rows(
        {
            ("copy", "mem2", "lr=0.0003"): [0.5, 0.5],
            ("copy", "mem2", "lr=0.001"): [0.9, 0.92],
            ("copy", "mem2", "lr=0.003"): [0.88, 0.88],
        }
    )
    (entry,) = tuning_section(table, listing(tune, "lr=0.001", 0.91))
    assert entry["point"].label == "lr=0.001" and entry["score"] == 0.91 and entry["seeds"] == 2
    assert (entry["low"], entry["high"]) == (0.001, 0.003)
    assert Point({"lr": 0.001, "warmup": 50}).label == "lr=0.001, warmup=50"


@pytest.mark.ray
def test_two_phases_choose_on_tuning_seeds_report_evaluation_seeds_and_resume(
    ray_local, tmp_path, capsys
):
    from membench.run.sweep import run_suite

    path, results = write(tmp_path, SUITE), tmp_path / "results"
    assert run_suite(load_suite(path), results) == 0
    listing = json.loads((results / "suite.json").read_text())
    tuning = listing["tuning"]
    assert len(tuning["trials"]) == 16 and len(tuning["choices"]) == 4
    assert {t["seed"] for t in tuning["trials"]} == {100, 101}
    records = read_records(results / "trials")
    assert len(records) == 16 + 8
    for choice in tuning["choices"]:  # the choice is the best mean of the recorded tuning runs
        means = {}
        for t in tuning["trials"]:
            if (t["task"], t["variant"]) == (choice["task"], choice["variant"]):
                means.setdefault(Point(t["point"]), []).append(records[t["id"]]["metrics"]["aulc"])
        best = max(sum(v) / len(v) for v in means.values())
        assert choice["score"] == pytest.approx(best)
        assert sum(means[Point(choice["point"])]) / 2 == pytest.approx(best)
    found = load_suite_results(results)
    assert set(found.table["seed"]) == {0, 1} and len(found.table) == 8  # no tuning seed
    assert found.unused == 0 and len(found.tuning) == 16
    evaluated = [records[t["id"]] for t in listing["trials"]]
    assert all(r["tuning"]["phase"] == "evaluate" for r in evaluated)
    for r in evaluated:
        assert r["train"]["lr"] == r["tuning"]["point"]["lr"]
        assert set(r["tuning"]["chosen_from"]) <= set(records)
    report = (results / "report" / "report.md").read_text()
    assert "## Tuning" in report and (results / "report" / "sensitivity.png").stat().st_size
    capsys.readouterr()

    # resume between phases: lose one tuning record and every evaluation record
    (results / "trials" / f"{tuning['trials'][0]['id']}.json").unlink()
    for t in listing["trials"]:
        (results / "trials" / f"{t['id']}.json").unlink()
    assert main(["run", str(path), "--dry-run", "--results", str(results)]) == 0
    plan = capsys.readouterr().out
    assert "1 of 16 trials will run" in plan and "listed once phase 1 is recorded" in plan
    assert run_suite(load_suite(path), results) == 0
    out = capsys.readouterr().out
    assert "phase 1 of 2, tuning: 1 of 16 trials to train" in out
    assert "phase 2 of 2, evaluation at the chosen points: 8 of 8 trials to train" in out
    assert (
        json.loads((results / "suite.json").read_text())["tuning"]["choices"] == (tuning["choices"])
    )  # same records, same choice: deterministic
    assert run_suite(load_suite(path), results) == 0
    assert "8 trials are recorded; nothing to train" in capsys.readouterr().out


def test_a_tuned_suite_without_its_tuning_phase_is_an_error(tmp_path):
    suite = load_suite(write(tmp_path, SUITE))
    with pytest.raises(ValueError):
        suite.trials(None)
    with pytest.raises(MembenchError, match="tune.seeds"):
        load_suite(write(tmp_path, with_tune(seeds=[0])))


def test_no_window_where_nothing_was_learned_at_any_point(tmp_path):
    tune = parse(tmp_path, space={"lr": [0.0003, 0.003]})
    table = tuning_rows(
        {
            ("copy", "mem2", "lr=0.0003"): [0.01, 0.0],
            ("copy", "mem2", "lr=0.003"): [0.02, 0.01],
        }
    )
    (entry,) = tuning_section(table, listing(tune, "lr=0.003", 0.015))
    assert not entry["learned"] and math.isnan(entry["low"])  # not a "forgiving" 10× window
    from membench.report.tuning_text import tuning_rows as rows

    assert rows([entry])[1][0][4] == "none (floor)"


def test_a_choice_on_the_edge_of_its_grid_is_named():
    space = {"lr": [0.0003, 0.001, 0.003], "warmup": [50, 100]}
    assert grid_edges(space, {"lr": 0.003, "warmup": 50}) == [
        "lr at the top (0.003)",
        "warmup at the bottom (50)",
    ]
    assert grid_edges(space, {"lr": 0.001, "warmup": 100}) == ["warmup at the top (100)"]
    assert grid_edges({"lr": [0.001]}, {"lr": 0.001}) == []  # one value: no grid to leave


def test_the_next_grid_value_keeps_the_grids_spacing():
    assert beyond([0.0003, 0.001, 0.003], "high") == 0.009  # ratio 3 on a log grid
    assert beyond([0.001, 0.003], "low") == pytest.approx(0.0003333)
    assert beyond([1000, 2000], "high") == 4000  # integers stay integers
    assert beyond([0.0, 0.1], "high") == 0.2  # a grid with 0: its own step
    assert beyond([0.0, 0.1], "low") is None  # below 0: out of range


def test_extension_adds_a_value_past_each_edge_a_choice_sits_on(tmp_path):
    tune = parse(tmp_path, space={"lr": [0.0003, 0.001, 0.003]}, extend=2)
    at_top = Choice({"lr": 0.003}, 0.9, ("a",))
    inside = Choice({"lr": 0.001}, 0.8, ("b",))
    wider = extend_space(tune, {("copy", "baseline"): at_top, ("copy", "mem2"): inside}, {})
    assert wider.space["lr"] == [0.0003, 0.001, 0.003, 0.009] and wider.extend == 1
    assert {"lr": 0.009} in wider.points
    # every choice interior, a tie at the floor (no information), or no extension left: stop
    assert extend_space(tune, {("copy", "mem2"): inside}, {}) is None
    tied = Choice({"lr": 0.0003}, 0.0, ("c",), tied=True)
    assert extend_space(tune, {("copy", "mem2"): tied}, {}) is None
    # a choice that learned too little at every point (within the margin of aulc's floor 0)
    # points nowhere, however its noise ranks the points
    floor = Choice({"lr": 0.003}, 0.004, ("d",))
    assert extend_space(tune, {("copy", "mem2"): floor}, {}) is None
    spent = parse(tmp_path, space={"lr": [0.0003, 0.001, 0.003]})
    assert extend_space(spent, {("copy", "baseline"): at_top}, {}) is None


def test_a_tie_between_points_is_flagged(tmp_path):
    tune = parse(tmp_path, space={"lr": [0.001, 0.003]})
    table = tuning_rows({("copy", "baseline", f"lr={lr}"): [0.0, 0.0] for lr in (0.001, 0.003)})
    assert choose(table, tune)[("copy", "baseline")].tied
    table = tuning_rows({("copy", "baseline", "lr=0.001"): [0.1, 0.0],
                         ("copy", "baseline", "lr=0.003"): [0.0, 0.0]})  # fmt: skip
    assert not choose(table, tune)[("copy", "baseline")].tied


def test_a_choice_on_the_grid_edge_extends_the_grid_and_tunes_again(ray_local, tmp_path, capsys):
    from membench.run.sweep import run_suite

    # after 30 steps a larger learning rate always has the lower loss: the choice sits on top
    suite = {**SUITE, "tasks": ["copy"], "variants": {"baseline": {}}, "seeds": 1}
    suite["tune"] = {"space": {"lr": [0.00001, 0.0001]}, "seeds": [100], "metric": "final_loss",
                     "extend": 1}  # fmt: skip
    path, results = write(tmp_path, suite), tmp_path / "results"
    assert run_suite(load_suite(path), results) == 0
    out = capsys.readouterr().out
    assert "sits on the edge of the grid; extending it by lr 0.001 (0 more" in out
    listing = json.loads((results / "suite.json").read_text())
    tuning = listing["tuning"]
    assert tuning["space"]["lr"] == [0.00001, 0.0001, 0.001]
    # the folder still stands for the suite as its file declares it (the extended grid is in
    # `tuning`): seen in results/core-tuned, whose definition took the extended grid on a rerun
    assert listing["definition"]["tune"]["space"]["lr"] == [0.00001, 0.0001]
    assert listing["definition"]["tune"]["extend"] == 1
    assert len(tuning["trials"]) == 3  # the new point was tuned too
    [choice] = tuning["choices"]
    assert choice["point"] == {
        "lr": 0.001
    }  # still the top: extension spent, and the report says so
    report = (results / "report" / "report.md").read_text()
    assert "lr: top" in report


def test_the_terminal_tuning_section_says_what_it_shows_and_fits_80_columns():
    from rich.console import Console

    from membench.report.model import build_report, read_table
    from membench.report.terminal import print_report

    found = read_table(Path(__file__).parent.parent / "results" / "core-tuned")
    report = build_report(found.table, tuning=found.tuning, tune=found.tune)
    console = Console(width=80, record=True)
    print_report(report, console)
    text = console.export_text()
    assert max(map(len, text.splitlines())) <= 80
    words = " ".join(text.split())
    assert "Tuning: Each cell (task, variant) was trained at the point" in words
    assert "width: the window's largest value over its smallest" in words
    assert "Tuning (chosen on tuning seeds) (1/" not in text  # one table, not stacked parts
    assert "│ assoc_recall " in text and "│  mem10 " in text and "none (floor)" in text
