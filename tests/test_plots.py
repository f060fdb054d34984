"""The report's plots do not mislead: checked on the Figures drawn from the shipped results
(results/core, results/capacity, results/smoke) and on small tables built to the point."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt
from matplotlib.collections import LineCollection, PathCollection, PolyCollection

from membench.report import plots
from membench.report.model import build_report
from membench.store.results import load_suite_results

RESULTS = Path(__file__).resolve().parent.parent / "results"
BOUNDED = [
    "exact_match",
    "token_accuracy",
    "solve_rate",
    "aulc",
    "exact_match_no_read",
    "exact_match_no_write",
    "token_accuracy_no_read",
]
EPS = 1e-9


@functools.cache
def table(suite: str) -> pd.DataFrame:
    return load_suite_results(RESULTS / suite).table


@functools.cache
def drawn(suite: str, metric: str = "exact_match", sharey: bool = True):
    report = build_report(table(suite), metric=metric)
    figures, notes = plots.build_figures(report.data, report, sharey=sharey)
    return report, figures, notes


def panels(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_title()]


def title(fig) -> str:
    return fig._suptitle.get_text() if fig._suptitle else ""


def curve_lines(ax) -> list:
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def has_marker(line) -> bool:
    return line.get_marker() not in (None, "", "None", " ")


def y_values(ax) -> np.ndarray:
    """Every y a panel draws: lines, error bars, bands and scatter points."""
    ys = [np.asarray(line.get_ydata(), float) for line in ax.get_lines()]
    for c in ax.collections:
        if isinstance(c, LineCollection):
            ys += [np.asarray(seg, float)[:, 1] for seg in c.get_segments()]
        elif isinstance(c, PathCollection):
            ys.append(np.asarray(c.get_offsets(), float)[:, 1])
        elif isinstance(c, PolyCollection):
            ys += [p.vertices[:, 1] for p in c.get_paths()]
    ys = np.concatenate([y.ravel() for y in ys]) if ys else np.array([])
    return ys[np.isfinite(ys)]


def seed_offsets(ax) -> list[np.ndarray]:
    return [np.asarray(c.get_offsets(), float) for c in ax.collections if c.get_label() == "_seed"]


def curve_rows(rows) -> pd.DataFrame:
    """A table of trials from (task, variant, seed, [(step, exact_match), ...]) tuples."""
    out = []
    for task, variant, seed, curve in rows:
        out.append(
            dict(
                task=task,
                variant=variant,
                seed=seed,
                status="ok",
                exact_match=curve[-1][1],
                mem_tokens=0 if variant == "baseline" else 10,
                curve=[dict(step=s, exact_match=v, loss=1 - v) for s, v in curve],
            )
        )
    return pd.DataFrame(out)


# ---- markers and carried-forward curves -------------------------------------------------------


@pytest.mark.parametrize("suite", ["core-v1", "capacity", "smoke"])
def test_every_curve_point_has_a_marker(suite):
    report, figures, _ = drawn(suite)
    fig = figures["curves_exact_match.png"]
    lines = [line for ax in panels(fig) for line in curve_lines(ax)]
    assert len(lines) == len(report.tasks) * len(report.variants)
    assert all(has_marker(line) for line in lines)
    for ax in panels(fig):
        for bars in ax.containers:  # no error bars here, but none without a marker either
            assert has_marker(bars.lines[0])
    for name in ("exact_match_by_task.png", "exact_match_vs_mem_tokens.png"):
        for ax in panels(figures[name]):
            assert ax.containers and all(has_marker(c.lines[0]) for c in ax.containers)


def test_a_baseline_that_solved_at_its_first_evaluation_is_drawn_as_a_marker():
    # results/capacity: the baseline solves copy[length=8] at step 100 on every seed
    t = table("capacity")
    base = t[(t["task"] == "copy[length=8]") & (t["variant"] == "baseline")]
    assert base["curve"].map(len).eq(1).all()
    _, figures, _ = drawn("capacity")
    ax = next(
        a for a in panels(figures["curves_exact_match.png"]) if a.get_title() == base.iloc[0].task
    )
    (line,) = [line for line in curve_lines(ax) if line.get_label() == "baseline"]
    assert len(line.get_xdata()) == 1 and list(line.get_ydata()) == [1.0]
    assert has_marker(line) and line.get_markersize() > 0


@pytest.mark.parametrize("suite", ["core-v1", "capacity"])
def test_curves_end_at_the_mean_of_every_seeds_last_value(suite):
    """Every point averages all seeds: the last point of a curve is the mean of each seed's
    last evaluation, however early a seed stopped."""
    _, figures, _ = drawn(suite)
    t = table(suite)
    last = t.assign(last=t["curve"].map(lambda c: c[-1]["exact_match"]))
    checked = 0
    for ax in panels(figures["curves_exact_match.png"]):
        for line in curve_lines(ax):
            cell = last[(last["task"] == ax.get_title()) & (last["variant"] == line.get_label())]
            assert line.get_ydata()[-1] == pytest.approx(cell["last"].mean())
            assert line.get_xdata()[-1] == max(p["step"] for c in cell["curve"] for p in c)
            checked += 1
    assert checked == len(t.groupby(["task", "variant"]))


def test_a_seed_that_stopped_early_is_carried_forward_and_the_title_says_so():
    df = curve_rows(
        [
            ("copy", "baseline", 0, [(100, 1.0)]),
            ("copy", "baseline", 1, [(100, 1.0)]),
            ("copy", "mem", 0, [(100, 1.0)]),  # solved at once, stops
            ("copy", "mem", 1, [(100, 0.0), (200, 0.5), (300, 0.6)]),
        ]
    )
    report = build_report(df)
    fig, note = plots.curves(df, report)
    assert note is None
    (ax,) = panels(fig)
    mem = next(line for line in curve_lines(ax) if line.get_label() == "mem")
    assert list(mem.get_xdata()) == [100, 200, 300]
    assert list(mem.get_ydata()) == pytest.approx([0.5, 0.75, 0.8])  # not 0.5, 0.5, 0.6
    assert "last value" in title(fig) and "all seeds" in title(fig)


# ---- bounded metrics, shared axes, clipped intervals ------------------------------------------


@pytest.mark.parametrize("metric", BOUNDED)
def test_bounded_metrics_are_drawn_on_zero_to_one_with_a_shared_y_axis(metric):
    _, figures, _ = drawn("core-v1", metric)
    for name in (f"{metric}_by_task.png", f"{metric}_vs_mem_tokens.png"):
        axes = panels(figures[name])
        assert len(axes) == 4, name
        for ax in axes:
            lo, hi = ax.get_ylim()
            assert -0.05 <= lo <= 0 and 1 <= hi <= 1.05, (name, ax.get_title(), lo, hi)
            assert axes[0].get_shared_y_axes().joined(axes[0], ax)
            ys = y_values(ax)  # intervals, bands and points never leave [0, 1]
            assert len(ys) and ys.min() >= -EPS and ys.max() <= 1 + EPS, (name, ax.get_title())


def test_curve_bands_stay_inside_zero_to_one():
    # a band of one sd ran to 1.2 on copy and below 0 on assoc_recall before it was clipped
    _, figures, _ = drawn("core-v1")
    axes = panels(figures["curves_exact_match.png"])
    for ax in axes:
        assert any(isinstance(c, PolyCollection) for c in ax.collections)
        ys = y_values(ax)
        assert ys.min() >= -EPS and ys.max() <= 1 + EPS
        assert ax.get_ylim() == pytest.approx(axes[0].get_ylim())
        assert -0.05 <= ax.get_ylim()[0] <= 0 and 1 <= ax.get_ylim()[1] <= 1.05


def test_a_loss_curve_band_never_goes_below_zero():
    _, figures, _ = drawn("core-v1", "final_loss")
    fig = figures["curves_final_loss.png"]
    assert "held-out loss" in title(fig) and "no final_loss" in title(fig)
    for ax in panels(fig):
        assert y_values(ax).min() >= -EPS


def test_sort_noise_is_not_blown_up_to_fill_its_panel():
    # results/core sort: every variant at 0.99-1.00; drawn alone it spanned 0.988-1.000
    _, figures, _ = drawn("core-v1")
    sort = next(a for a in panels(figures["exact_match_by_task.png"]) if a.get_title() == "sort")
    lo, hi = sort.get_ylim()
    assert hi - lo >= 1


def test_panels_can_keep_their_own_axis_when_asked_but_bounded_stays_on_its_range():
    _, figures, _ = drawn("core-v1", sharey=False)
    axes = panels(figures["exact_match_by_task.png"])
    assert not axes[0].get_shared_y_axes().joined(axes[0], axes[1])
    assert all(ax.get_ylim() == pytest.approx(axes[0].get_ylim()) for ax in axes)


def test_unbounded_metrics_share_one_axis_without_a_fixed_range():
    _, figures, _ = drawn("core-v1", "steps_to_solve")
    axes = panels(figures["steps_to_solve_by_task.png"])
    assert all(axes[0].get_shared_y_axes().joined(axes[0], ax) for ax in axes)
    assert axes[0].get_ylim()[1] > 1000  # steps, not [0, 1]


# ---- per-seed points --------------------------------------------------------------------------


def test_each_seed_is_drawn_on_the_means_up_to_the_limit():
    report, figures, _ = drawn("core-v1")
    t = table("core-v1")
    for ax in panels(figures["exact_match_by_task.png"]):
        rows = t[t["task"] == ax.get_title()]
        points = seed_offsets(ax)
        assert len(points) == len(report.variants)  # one group per variant
        assert sum(len(p) for p in points) == len(rows)
        ys = np.sort(np.concatenate([p[:, 1] for p in points]))
        assert ys == pytest.approx(np.sort(rows["exact_match"].to_numpy(float)))
    lrs = next(
        a for a in panels(figures["exact_match_by_task.png"]) if a.get_title() == "long_range_sum"
    )
    baseline = seed_offsets(lrs)[0]  # the baseline's spread: 3 seeds at ~0.28, 2 solved
    want = t[(t["task"] == "long_range_sum") & (t["variant"] == "baseline")]["exact_match"]
    assert np.sort(baseline[:, 1]) == pytest.approx(np.sort(want.to_numpy(float)))
    assert "each seed" in title(figures["exact_match_by_task.png"])
    mem = panels(figures["exact_match_vs_mem_tokens.png"])
    per_task = len(t) // t["task"].nunique()  # every variant, every seed
    assert all(sum(len(p) for p in seed_offsets(ax)) == per_task for ax in mem)


def test_seed_points_are_drawn_on_the_capacity_plot_at_three_seeds():
    _, figures, _ = drawn("capacity")
    (ax,) = panels(figures["capacity.png"])
    assert sum(len(p) for p in seed_offsets(ax)) == len(table("capacity"))
    ys = y_values(ax)
    assert ys.min() >= -EPS and ys.max() <= 1 + EPS


def test_seed_points_are_left_out_at_many_seeds():
    def rows(seeds):
        return curve_rows(
            (task, v, s, [(100, 0.5 + 0.01 * s + 0.1 * (v == "mem"))])
            for task in ("a", "b", "c")
            for v in ("baseline", "mem")
            for s in range(seeds)
        )

    many = build_report(rows(plots.SEED_POINTS + 2))
    fig, _ = plots.by_task(many)
    assert all(seed_offsets(ax) == [] for ax in panels(fig))
    assert "each seed" not in title(fig)
    few = build_report(rows(3))
    fig, _ = plots.by_task(few)
    assert all([len(p) for p in seed_offsets(ax)] == [3, 3] for ax in panels(fig))


# ---- plots that cannot say anything, variants left out ----------------------------------------


def test_no_critical_difference_diagram_below_three_tasks():
    report, figures, notes = drawn("smoke")
    assert report.ranks.n_tasks == 2
    assert "cd_exact_match.png" not in figures
    assert any("critical-difference diagram skipped: 2 tasks" in n for n in notes)
    _, figures, notes = drawn("core-v1")
    assert "cd_exact_match.png" in figures and notes == []


def with_factory(t: pd.DataFrame) -> pd.DataFrame:
    """The table plus a user's factory model (no mem_tokens) on the baseline's trials."""
    mine = t[t["variant"] == "baseline"].copy()
    mine["variant"] = "my_model"
    mine["factory"] = "my_models:build"
    mine["mem_tokens"] = None
    mine["model.mem_tokens"] = None
    mine["exact_match"] = mine["exact_match"] * 0.9
    return pd.concat([t, mine], ignore_index=True)


def test_the_memory_plot_names_a_factory_model_it_leaves_out():
    df = with_factory(table("core-v1"))
    report = build_report(df)
    fig, note = plots.memory(report.data, report)
    assert note is None
    assert "not shown: my_model (no mem_tokens: a factory model)" in title(fig)
    labels = {line.get_label() for ax in panels(fig) for line in curve_lines(ax)}
    labels |= {c.get_label() for ax in panels(fig) for c in ax.containers}
    assert not any("my_model" in label for label in labels)
    by_task, _ = plots.by_task(report)  # every other plot draws it
    assert "my_model" in [t.get_text() for t in panels(by_task)[0].get_xticklabels()]


def test_a_memory_plot_without_memory_variants_is_skipped_with_a_note():
    t = table("core-v1")
    df = with_factory(t[t["variant"] == "baseline"])
    report = build_report(df)
    figures, notes = plots.build_figures(report.data, report)
    assert "exact_match_vs_mem_tokens.png" not in figures
    (note,) = [n for n in notes if n.startswith("memory-size plot skipped")]
    assert "1 memory size" in note and "my_model (no mem_tokens: a factory model)" in note


def test_variants_without_the_metric_are_named():
    # knockouts have no value for the baseline (it has no memory to cut)
    _, figures, _ = drawn("core-v1", "exact_match_no_read")
    for name in ("exact_match_no_read_by_task.png", "exact_match_no_read_vs_mem_tokens.png"):
        assert "not shown: baseline (no exact_match_no_read)" in title(figures[name])
    cd = figures["cd_exact_match_no_read.png"]
    assert "not shown: baseline" in cd.axes[0].get_title()


def test_write_plots_returns_the_paths_and_the_notes(tmp_path):
    report = build_report(table("smoke"))
    written = plots.write_plots(report.data, report, tmp_path)
    assert isinstance(written, list) and all(isinstance(p, Path) for p in written)
    assert {p.name for p in written} == {
        "exact_match_by_task.png",
        "curves_exact_match.png",
        "exact_match_vs_mem_tokens.png",
    }
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in written)
    assert len(written.notes) == 1 and "critical-difference" in written.notes[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)
    assert plt.get_fignums() == []  # Figures, no pyplot state left behind
