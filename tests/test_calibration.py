"""Calibration, coverage and power of membench.analysis.stats on simulated suites shaped like membench's
records (tests/simulate.py): discrete exact match at the ceiling, the floor and in the middle,
bimodal seeds, steps censored at the budget. Fixed seeds, so the numbers are reproducible."""

import math

import numpy as np
import pytest

from membench.analysis.across import aggregate
from membench.analysis.comparison import compare
from tests.simulate import suite

pytestmark = pytest.mark.slow  # Monte-Carlo simulation of many suites

NULL = {"base": 0.0, "a": 0.0, "b": 0.0, "c": 0.0}  # 3 variants + baseline, no effect
ALPHA = 0.05


def mc_bound(p: float, n: int, sds: float = 2.0) -> float:
    """p plus `sds` Monte Carlo standard errors of a rate estimated from n suites."""
    return p + sds * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("seeds", [3, 5])
@pytest.mark.parametrize(
    "metric, tasks",
    [
        ("exact_match", ["ceiling", "near", "floor", "middle"]),  # k/512 near 1, 0 and 0.5
        ("exact_match", ["ceiling", "near", "bimodal", "late"]),
        ("solve_rate", ["bimodal", "late", "middle", "ceiling"]),
        ("aulc", ["bimodal", "late", "middle", "ceiling"]),
        ("steps_to_solve", ["bimodal", "late", "near", "ceiling"]),
    ],
)
def test_family_wise_error_under_the_null(metric, tasks, seeds):
    """At most alpha of null suites flag any of their 12 comparisons (Holm), within MC error."""
    rng = np.random.default_rng(2026 + seeds)
    n, flagged, tests = 200, [], set()
    for _ in range(n):
        c = compare(suite(rng, tasks, NULL, seeds), metric, "base", ALPHA, "holm")
        flagged.append(bool(c["significant"].any()))
        tests |= set(c["test"])
        assert len(c) == 12
    assert np.mean(flagged) <= mc_bound(ALPHA, n)
    if metric == "exact_match" and "ceiling" in tasks and seeds == 3:
        assert "sign-flip" in tests  # the zero-variance case this test exists for did occur


def test_uncorrected_tests_are_not_anticonservative_on_discrete_data():
    """Each comparison alone: at most alpha false positives, also at the 1/512 ceiling."""
    rng = np.random.default_rng(5)
    rates = []
    for _ in range(150):
        df = suite(rng, ["ceiling", "near", "middle", "floor"], NULL, 5)
        rates.append(compare(df, "exact_match", "base", ALPHA, "none")["significant"].mean())
    assert np.mean(rates) <= mc_bound(ALPHA, 150 * 12, 3)


@pytest.mark.parametrize("seeds", [3, 5])
@pytest.mark.parametrize(
    "tasks",
    [["ceiling", "near", "floor", "bimodal"], ["ceiling", "middle", "bimodal", "late"]],
)
@pytest.mark.parametrize("metric", ["exact_match", "aulc", "solve_rate"])
def test_cross_task_interval_covers_the_true_mean(metric, tasks, seeds):
    """The aggregate's 95% interval covers the mean over tasks at least 93% of the time."""
    rng = np.random.default_rng(11 + seeds)
    truth = suite(rng, tasks, {"v": 0.0}, 20000).groupby("task")[metric].mean().mean()
    hits = []
    for _ in range(300):
        a = aggregate(suite(rng, tasks, NULL, seeds), metric, "base").set_index("variant")
        lo, hi = a.loc["a", "mean_ci_low"], a.loc["a", "mean_ci_high"]
        hits.append(lo <= truth <= hi)
    assert np.mean(hits) >= 0.93


@pytest.mark.parametrize(
    "metric, tasks, effect, seeds",
    [
        # the exact sign-flip test (the default) needs 6 seeds even for a unanimous effect
        ("exact_match", ["middle"] * 1, 1.0, 8),  # +1 logit in the middle
        ("aulc", ["late"], 3.0, 8),  # a variant that solves early and always
        ("solve_rate", ["bimodal"], 3.0, 20),  # McNemar needs 6 discordant seeds
        ("steps_to_solve", ["late"], 3.0, 10),
    ],
)
def test_power_for_real_effects(metric, tasks, effect, seeds):
    """A large effect is found in most suites, with the right sign; the null variant is not."""
    rng = np.random.default_rng(3)
    hits = []
    for _ in range(100):
        c = compare(suite(rng, tasks, {"base": 0.0, "x": effect}, seeds), metric, "base")
        hits.append(bool(c["significant"].iloc[0]))
        assert c["better"].iloc[0] in (True, None)
    assert np.mean(hits) >= 0.8
