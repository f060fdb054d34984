"""Capacity ladders: a swept difficulty parameter gives each variant a capacity, tested."""

import math

import numpy as np
import pandas as pd
import pytest

from membench.analysis.capacity import crossing, ladders
from membench.report.model import build_report
from membench.report.render import render

LEVELS = (4, 8, 16, 32)


def ladder_rows(capacities: dict[str, list[int]], extra=None) -> pd.DataFrame:
    """copy at each length; a seed solves (exact 1.0) up to its capacity, then fails (0.1)."""
    rows = []
    for variant, caps in capacities.items():
        for seed, cap in enumerate(caps):
            for level in LEVELS:
                em = 1.0 if level <= cap else 0.1
                rows.append(
                    dict(
                        task=f"copy[length={level}]",
                        generator="copy",
                        variant=variant,
                        seed=seed,
                        status="ok",
                        exact_match=em,
                        solved=em >= 0.99,
                        **{"task_params.length": level, "task_params.vocab": 8},
                        **(extra or {}),
                    )
                )
    return pd.DataFrame(rows)


def test_crossing_interpolates_in_log2_and_says_when_it_does_not_cross():
    levels = np.array([4.0, 8.0, 16.0])
    assert crossing(levels, np.array([1.0, 0.75, 0.25])) == (pytest.approx(2**3.5), "")
    assert crossing(levels, np.array([0.4, 0.2, 0.1])) == (
        pytest.approx(math.nan, nan_ok=True),
        "<",
    )
    assert crossing(levels, np.array([1.0, 0.9, 0.6]))[1] == ">"


def test_capacity_of_each_variant_and_its_test():
    df = ladder_rows({"baseline": [16] * 7, "neck": [8] * 7, "mixed": [8, 16, 8, 16, 32, 8, 16]})
    report = build_report(df)
    [entry] = report.capacity
    assert entry["ladder"] == "copy" and entry["parameter"] == "length"
    assert entry["levels"] == list(LEVELS)
    by = {v["variant"]: v for v in entry["variants"]}
    assert by["baseline"]["capacity"] == 16 and by["neck"]["capacity"] == 8
    assert by["mixed"]["capacity"] == 16  # 16 solved by 4 of 7 seeds, 32 by 1
    assert by["baseline"]["seed_capacity"] == pytest.approx(16)
    # exact mean 1.0 at 16, 0.1 at 32: falls through 0.5 at log2 = 4 + 0.5 / 0.9
    assert by["baseline"]["half_level"] == pytest.approx(2 ** (4 + 0.5 / 0.9))
    cmp = entry["comparisons"].set_index("variant")
    # one rung lower on every seed: the exact sign test, 2 / 2**7 (Holm over 2: 0.031)
    assert cmp.loc["neck", "test"] == "sign (top censored)" and cmp.loc["neck", "diff"] == -1.0
    assert cmp.loc["neck", "p_value"] == pytest.approx(2 / 128)
    assert cmp.loc["neck", "better"] is False and cmp.loc["mixed", "better"] is None
    md = render(report, "md")
    assert (
        "## Capacity" in md and "| neck | 1.000 [0.590, 1.000] | 1.000 [0.590, 1.000] | 0.100" in md
    )
    assert "### Capacity against the baseline: copy" in md


def test_no_ladder_without_two_levels_or_without_a_generator():
    df = ladder_rows({"baseline": [16] * 3, "neck": [8] * 3})
    assert build_report(df[df["task_params.length"] == 8]).capacity == []
    assert build_report(df.drop(columns=["generator"])).capacity == []
    two = pd.concat(
        [
            df,
            ladder_rows({"baseline": [4] * 3, "neck": [4] * 3}).assign(**{"task_params.vocab": 16}),
        ]
    )
    names = [name for name, _, _ in ladders(two)]
    assert names == ["copy[vocab=8]", "copy[vocab=16]"]


def test_capacity_plot_is_written(tmp_path):
    from membench.report.render import write_report

    report = build_report(ladder_rows({"baseline": [16] * 3, "neck": [8] * 3}))
    names = [p.name for p in write_report(report, tmp_path, formats=("md", "json", "html"))]
    assert "capacity.png" in names and (tmp_path / "capacity.png").read_bytes()[:4] == b"\x89PNG"
    assert "Capacity: copy" in (tmp_path / "report.html").read_text()


def test_a_capacity_at_the_top_of_the_ladder_is_a_lower_bound():
    # both at the top on every seed: only "at least 32" each, a tie, never a difference
    df = ladder_rows({"baseline": [32] * 8, "wide": [32] * 8, "narrow": [16] * 8})
    report = build_report(df)
    [entry] = report.capacity
    by = {v["variant"]: v for v in entry["variants"]}
    assert by["baseline"]["capacity_bound"] and by["baseline"]["seeds_at_top"] == 8
    assert not by["narrow"]["capacity_bound"]
    cmp = entry["comparisons"].set_index("variant")
    assert cmp.loc["wide", "p_value"] == 1.0 and not cmp.loc["wide", "significant"]
    assert cmp.loc["narrow", "better"] is False  # below a seed at the top: lower on every seed
    assert "lower bounds" in cmp.loc["narrow", "note"]
    md = render(report, "md")
    assert "| >= 32 |" in md and ">= 32 [32, 32] (8 at the top)" in md


def test_a_level_cut_short_by_the_budget_makes_the_capacity_a_lower_bound():
    # the baseline copies all 32 symbols; "slow" solves up to 16 and runs out of steps at 32
    # (stopped: budget), "stuck" solves up to 16 and plateaus at 32 (stopped: plateau)
    df = ladder_rows({"baseline": [32] * 8, "slow": [16] * 8, "stuck": [16] * 8})
    unsolved = ~df["solved"]
    df["stopped"] = np.where(
        unsolved, np.where(df["variant"] == "slow", "budget", "plateau"), "solved"
    )
    report = build_report(df)
    [entry] = report.capacity
    by = {v["variant"]: v for v in entry["variants"]}
    assert by["slow"]["capacity_bound"] and by["slow"]["seeds_cut"] == 8
    assert not by["stuck"]["capacity_bound"] and by["stuck"]["seeds_cut"] == 0
    cmp = entry["comparisons"].set_index("variant")
    # only a lower bound below the baseline: every seed a tie, nothing decided
    assert cmp.loc["slow", "p_value"] == 1.0 and cmp.loc["slow", "better"] is None
    assert cmp.loc["stuck", "better"] is False and cmp.loc["stuck", "significant"]
    note = cmp.loc["slow", "note"]
    assert "capacities at the ladder's top or cut by the budget are lower bounds" in note
    md = render(report, "md")
    assert "(8 cut by the budget)" in md and "| >= 16 |" in md
