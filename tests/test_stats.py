import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from membench.stats import (
    a12,
    adjust_pvalues,
    aggregate,
    compare,
    describe,
    hedges_g,
    metric_direction,
    rank,
)


def frame(cells: dict, metric: str = "exact_match", seeds=None) -> pd.DataFrame:
    """{(task, variant): values} -> long DataFrame, seeds 0..n-1 unless given per cell."""
    rows = []
    for (task, variant), values in cells.items():
        cell_seeds = (seeds or {}).get((task, variant), range(len(values)))
        for seed, v in zip(cell_seeds, values, strict=True):
            rows.append(dict(task=task, variant=variant, seed=seed, status="ok", **{metric: v}))
    return pd.DataFrame(rows)


def test_metric_direction():
    assert metric_direction("exact_match") == 1
    assert metric_direction("steps_to_solve") == -1
    assert metric_direction("tokens_per_second") == 1
    assert metric_direction("val_loss") == -1
    assert metric_direction("eval_error_rate") == -1
    assert metric_direction("bleu") == 1


def test_describe_matches_scipy_and_handles_edges():
    x = [0.2, 0.5, 0.4, 0.9]
    df = frame({("copy", "a"): x, ("copy", "b"): [1.0, 1.0, 1.0], ("sort", "a"): [0.3]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = describe(df, "exact_match").set_index(["task", "variant"])
    lo, hi = st.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=st.sem(x))
    row = d.loc[("copy", "a")]
    assert row["n"] == 4 and row["mean"] == pytest.approx(np.mean(x))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
    assert row["median"] == pytest.approx(0.45) and row["max"] == 0.9
    sat = d.loc[("copy", "b")]
    assert sat["ci_low"] == sat["ci_high"] == 1.0
    assert math.isnan(d.loc[("sort", "a"), "ci_low"])


def test_describe_drops_failed_rows():
    df = frame({("copy", "a"): [0.2, 0.4, 0.9]})
    df.loc[2, "status"] = "failed"
    assert describe(df, "exact_match")["mean"].item() == pytest.approx(0.3)


def test_welch_matches_scipy():
    x, y = [0.61, 0.72, 0.55, 0.80], [0.40, 0.52, 0.47]
    df = frame({("t", "base"): y, ("t", "v"): x}, seeds={("t", "v"): [10, 11, 12, 13]})
    c = compare(df, "exact_match", "base").iloc[0]
    ref = st.ttest_ind(x, y, equal_var=False)
    assert c["test"] == "welch-t"
    assert c["p_value"] == pytest.approx(ref.pvalue)
    assert (c["ci_low"], c["ci_high"]) == pytest.approx(tuple(ref.confidence_interval()))
    assert c["diff"] == pytest.approx(np.mean(x) - np.mean(y))


def test_paired_matches_scipy_and_aligns_seeds():
    x, y = [0.61, 0.72, 0.55, 0.80, 0.66], [0.40, 0.70, 0.47, 0.71, 0.52]
    df = frame({("t", "base"): y, ("t", "v"): x}).sample(frac=1, random_state=3)
    c = compare(df, "exact_match", "base").iloc[0]
    ref = st.ttest_rel(x, y)
    assert c["test"] == "paired-t"
    assert c["p_value"] == pytest.approx(ref.pvalue)
    assert (c["ci_low"], c["ci_high"]) == pytest.approx(tuple(ref.confidence_interval()))


def test_holm_and_bh_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> 0.02, 0.03, 0.06, max(0.04, 0.06)
    assert adjust_pvalues(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # BH: sorted p*m/i = 0.02, 0.02, 0.04, 0.04; running min from the top changes nothing
    assert adjust_pvalues(p, "bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])
    # BH where the running minimum matters: 0.04*3/2 = 0.06 is lowered to 0.045
    assert adjust_pvalues([0.01, 0.04, 0.045], "bh") == pytest.approx([0.03, 0.045, 0.045])
    assert adjust_pvalues([0.5, 0.9], "holm") == pytest.approx([1.0, 1.0])  # monotone, capped
    out = adjust_pvalues([0.01, np.nan, 0.02], "holm")
    assert out[0] == pytest.approx(0.02) and np.isnan(out[1]) and out[2] == pytest.approx(0.02)
    with pytest.raises(ValueError):
        adjust_pvalues(p, "bonferonni")


def test_correction_spans_all_comparisons():
    rng = np.random.default_rng(1)
    cells = {(t, v): rng.normal(size=4) for t in "abc" for v in ["base", "x", "y"]}
    df = frame(cells, metric="m")
    raw = compare(df, "m", "base", correction="none")
    holm = compare(df, "m", "base")
    assert len(raw) == 6
    assert holm["p_adjusted"].to_numpy() == pytest.approx(adjust_pvalues(raw["p_value"], "holm"))


def test_saturated_tie_is_p_one_without_warnings():
    df = frame({("copy", "base"): [1.0] * 5, ("copy", "mem"): [1.0] * 5})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = compare(df, "exact_match", "base").iloc[0]
        describe(df, "exact_match")
        rank(df, "exact_match")
    assert c["p_value"] == 1.0 and c["diff"] == 0.0 and c["hedges_g"] == 0.0
    assert c["a12"] == 0.5 and not c["significant"] and c["better"] is None
    numeric = c[["diff", "ci_low", "ci_high", "p_value", "p_adjusted", "hedges_g", "a12"]]
    assert not numeric.isna().any()


def test_constant_nonzero_difference_is_decisive():
    df = frame({("copy", "base"): [0.5] * 4, ("copy", "mem"): [1.0] * 4})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = compare(df, "exact_match", "base").iloc[0]
    assert c["p_value"] == 0.0 and c["significant"] and c["better"] is True
    assert c["ci_low"] == c["ci_high"] == 0.5 and "zero variance" in c["note"]


def test_identical_per_seed_is_a_tie():
    df = frame({("t", "base"): [0.1, 0.5, 0.9], ("t", "v"): [0.1, 0.5, 0.9]})
    c = compare(df, "exact_match", "base").iloc[0]
    assert c["p_value"] == 1.0 and not c["significant"]


def test_direction_and_effect_sizes():
    x, y = [1.0, 2.0, 3.0], [0.0, 1.0, 2.0]
    # pooled sd 1, J = 1 - 3 / (4 * 6 - 9) = 0.8
    assert hedges_g(x, y) == pytest.approx(0.8)
    assert hedges_g(x, y, -1) == pytest.approx(-0.8)
    # wins: 1>0, 2>0, 3>2,2,0; ties: 2=2 twice -> (5 + 0.5 * 2) / 9
    assert a12(x, [2.0, 2.0, 0.0]) == pytest.approx(6 / 9)
    assert a12(x, [2.0, 2.0, 0.0], -1) == pytest.approx(1 - 6 / 9)
    loss = frame({("t", "base"): [2.0, 2.2, 2.1, 2.3], ("t", "v"): [1.0, 1.1, 0.9, 1.2]}, "loss")
    c = compare(loss, "loss", "base").iloc[0]
    assert c["significant"] and c["better"] is True
    assert c["hedges_g"] > 0 and c["a12"] == 1.0 and c["diff"] < 0


def test_underpowered_flags():
    df = frame(
        {
            ("t", "base"): [0.1, 0.2, 0.3],
            ("t", "two"): [0.4, 0.5],
            ("t", "three"): [0.5, 0.6, 0.7],
            ("t", "one"): [0.9],
        }
    )
    c = compare(df, "exact_match", "base").set_index("variant")
    assert c.loc["two", "underpowered"] and c.loc["one", "underpowered"]
    assert not c.loc["three", "underpowered"]
    assert np.isnan(c.loc["one", "p_value"]) and c.loc["one", "better"] is None
    missing = compare(frame({("t", "v"): [0.1, 0.2, 0.3]}), "exact_match", "base").iloc[0]
    assert missing["test"] == "none" and missing["underpowered"]


# Per-task means (higher is better), ranks worked by hand:
#   t1: A .9  B .8  C .8  -> 1, 2.5, 2.5
#   t2: A .5  B .7  C .6  -> 3, 1, 2
#   t3: A 1   B 1   C 1   -> 2, 2, 2
#   t4: A .3  B .2  C .1  -> 1, 2, 3
MEANS = {"A": [0.9, 0.5, 1.0, 0.3], "B": [0.8, 0.7, 1.0, 0.2], "C": [0.8, 0.6, 1.0, 0.1]}


def test_rank_with_ties_by_hand_and_friedman_vs_scipy():
    cells = {(f"t{i}", v): [m[i]] * 2 for v, m in MEANS.items() for i in range(4)}
    r = rank(frame(cells), "exact_match")
    assert r.average_ranks.to_dict() == pytest.approx({"A": 1.75, "B": 1.875, "C": 2.375})
    ref = st.friedmanchisquare(*MEANS.values())
    assert r.friedman_stat == pytest.approx(ref.statistic)
    assert r.friedman_p == pytest.approx(ref.pvalue)
    n, k = 4, 3
    f = (n - 1) * ref.statistic / (n * (k - 1) - ref.statistic)
    assert r.iman_davenport_f == pytest.approx(f)
    assert r.iman_davenport_p == pytest.approx(st.f.sf(f, k - 1, (k - 1) * (n - 1)))
    assert r.critical_difference == pytest.approx(2.343 * math.sqrt(k * (k + 1) / (6 * n)), 1e-3)
    assert (r.n_tasks, r.n_variants) == (4, 3)
    lower = rank(frame(cells, "loss"), "loss")  # lower is better: ranks flip
    assert lower.average_ranks.to_dict() == pytest.approx({"A": 2.25, "B": 2.125, "C": 1.625})


def test_friedman_without_ties_matches_demsar_formula():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(6, 4))
    cells = {(f"t{i}", f"v{j}"): [data[i, j]] for i in range(6) for j in range(4)}
    r = rank(frame(cells, "m"), "m")
    n, k, R = 6, 4, r.average_ranks.to_numpy()
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(R**2) - k * (k + 1) ** 2 / 4)
    assert r.friedman_stat == pytest.approx(chi2)
    assert r.friedman_stat == pytest.approx(st.friedmanchisquare(*data.T).statistic)


@pytest.mark.parametrize("k, q", [(2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728), (6, 2.850)])
def test_nemenyi_q_matches_demsar_table(k, q):
    cells = {(f"t{i}", f"v{j}"): [float((i + j) % k)] for i in range(5) for j in range(k)}
    r = rank(frame(cells, "m"), "m")
    assert r.critical_difference == pytest.approx(q * math.sqrt(k * (k + 1) / 30), abs=2e-3)


def test_rank_degenerate_inputs_give_nan_not_errors():
    one_task = rank(frame({("t", "a"): [0.5], ("t", "b"): [0.7]}), "exact_match")
    assert one_task.average_ranks.to_dict() == {"a": 2.0, "b": 1.0}
    assert math.isnan(one_task.friedman_p) and math.isnan(one_task.critical_difference)
    one_variant = rank(frame({("t", "a"): [0.5], ("u", "a"): [0.7]}), "exact_match")
    assert one_variant.n_variants == 1 and math.isnan(one_variant.friedman_stat)
    all_tied = {(t, v): [1.0] for t in "xyz" for v in "ab"}
    tied = rank(frame(all_tied), "exact_match")
    assert tied.friedman_stat == 0.0 and tied.friedman_p == 1.0


def test_aggregate():
    cells = {
        ("t1", "base"): [1.0, 2.0, 3.0, 4.0],
        ("t2", "base"): [5.0, 6.0, 7.0, 8.0],
        ("t1", "v"): [10.0, 11.0, 12.0, 13.0],
        ("t2", "v"): [10.0, 11.0, 12.0, 13.0],
    }
    df = frame(cells, "m")
    a = aggregate(df, "m", "base", n_boot=500, seed=1).set_index("variant")
    assert a.loc["base", "mean"] == pytest.approx(4.5)
    assert a.loc["base", "iqm"] == pytest.approx(4.5)  # pooled 1..8: mean of 3..6
    assert math.isnan(a.loc["base", "prob_improvement"])
    assert a.loc["v", "prob_improvement"] == 1.0
    assert a.loc["v", "pi_ci_low"] == a.loc["v", "pi_ci_high"] == 1.0
    for col in ["mean", "iqm"]:
        assert (
            a.loc["base", f"{col}_ci_low"] <= a.loc["base", col] <= a.loc["base", f"{col}_ci_high"]
        )
    again = aggregate(df, "m", "base", n_boot=500, seed=1).set_index("variant")
    pd.testing.assert_frame_equal(a, again)
    other = aggregate(df, "m", "base", n_boot=500, seed=2).set_index("variant")
    assert not np.allclose(a["mean_ci_low"], other["mean_ci_low"])


def simulated_suite(rng, effects, seeds=5, tasks=4, shared=0.0, distinct_seeds=False):
    """Metric = task level + variant effect + noise of sd 1, part of it shared by a seed."""
    rows = []
    for t in range(tasks):
        seed_noise = shared * rng.normal(size=seeds)
        for j, (variant, effect) in enumerate(effects.items()):
            values = t + effect + seed_noise + math.sqrt(1 - shared**2) * rng.normal(size=seeds)
            offset = 100 * j if distinct_seeds else 0
            rows += [(f"t{t}", variant, offset + s, v) for s, v in enumerate(values)]
    return pd.DataFrame(rows, columns=["task", "variant", "seed", "m"])


NULL = {"base": 0.0, "a": 0.0, "b": 0.0}


@pytest.mark.parametrize("distinct_seeds", [False, True])  # paired-t, then Welch
def test_calibration_under_the_null(distinct_seeds):
    rng = np.random.default_rng(7)
    raw, family = [], []
    for _ in range(200):
        # a seed shares noise across variants only when variants share seeds
        shared = 0.0 if distinct_seeds else 0.5
        df = simulated_suite(rng, NULL, shared=shared, distinct_seeds=distinct_seeds)
        c = compare(df, "m", "base", correction="none")
        assert set(c["test"]) == {"welch-t" if distinct_seeds else "paired-t"}
        raw.append(c["significant"].mean())
        family.append((adjust_pvalues(c["p_value"], "holm") < 0.05).any())
    # 1600 correlated comparisons: uncorrected, the test must sit at alpha, not above or far below
    assert 0.03 <= np.mean(raw) <= 0.07
    # Holm controls the chance of any false positive per suite; 3 Monte Carlo sd of slack
    assert np.mean(family) <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 200)


@pytest.mark.parametrize(
    "effect, shared, correction",
    [
        (2.0, 0.7, "none"),  # 2 sd, seed noise shared across variants: pairing pays
        (3.0, 0.7, "holm"),  # Holm over 8 comparisons costs power at 5 seeds
        (3.0, 0.0, "none"),  # independent noise
    ],
)
def test_power_for_large_effects(effect, shared, correction):
    rng = np.random.default_rng(11)
    hits = []
    for _ in range(150):
        df = simulated_suite(rng, {"base": 0.0, "a": effect, "b": 0.0}, shared=shared)
        c = compare(df, "m", "base", correction=correction)
        hits.append(c.loc[c["variant"] == "a", "significant"].mean())
        assert c.loc[c["variant"] == "a", "better"].isin([True, None]).all()
    assert np.mean(hits) > 0.8
