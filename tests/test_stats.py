import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from membench.analysis.across import aggregate, rank
from membench.analysis.comparison import compare
from membench.analysis.stats import a12, adjust_pvalues, cell_stats
from membench.metrics import metric_direction


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
        d = cell_stats(df, "exact_match").set_index(["task", "variant"])
    lo, hi = st.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=st.sem(x))
    row = d.loc[("copy", "a")]
    assert row["n"] == 4 and row["mean"] == pytest.approx(np.mean(x))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((lo, hi))
    assert row["median"] == pytest.approx(0.45) and row["max"] == 0.9
    sat = d.loc[("copy", "b")]  # 3 seeds all at 1: not [1, 1] but the exact one-sided bound
    assert sat["ci_low"] == pytest.approx(0.025 ** (1 / 3)) and sat["ci_high"] == 1.0
    assert sat["ci_clipped"]  # shown as [low, high]
    assert math.isnan(d.loc[("sort", "a"), "ci_low"])


def test_describe_drops_failed_rows():
    df = frame({("copy", "a"): [0.2, 0.4, 0.9]})
    df.loc[2, "status"] = "failed"
    assert cell_stats(df, "exact_match")["mean"].item() == pytest.approx(0.3)


def test_welch_matches_scipy():
    x, y = [0.61, 0.72, 0.55, 0.80], [0.40, 0.52, 0.47]
    df = frame({("t", "base"): y, ("t", "v"): x}, seeds={("t", "v"): [10, 11, 12, 13]})
    c = compare(df, "exact_match", "base", test="t").iloc[0]
    ref = st.ttest_ind(x, y, equal_var=False)
    assert c["test"] == "welch-t"
    assert c["p_value"] == pytest.approx(ref.pvalue)
    assert (c["ci_low"], c["ci_high"]) == pytest.approx(tuple(ref.confidence_interval()))
    assert c["diff"] == pytest.approx(np.mean(x) - np.mean(y))


def test_paired_matches_scipy_and_aligns_seeds():
    x, y = [0.61, 0.72, 0.55, 0.80, 0.66], [0.40, 0.70, 0.47, 0.71, 0.52]
    df = frame({("t", "base"): y, ("t", "v"): x}).sample(frac=1, random_state=3)
    c = compare(df, "exact_match", "base", test="t").iloc[0]
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
    raw = compare(df, "m", "base", correction="none", test="t")
    holm = compare(df, "m", "base", test="t")
    assert len(raw) == 6
    assert holm["p_adjusted"].to_numpy() == pytest.approx(adjust_pvalues(raw["p_value"], "holm"))


def test_saturated_tie_is_never_significant_and_leaves_the_family():
    df = frame({("copy", "base"): [1.0] * 5, ("copy", "mem"): [1.0] * 5})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = compare(df, "exact_match", "base", test="t").iloc[0]
        cell_stats(df, "exact_match")
        rank(df, "exact_match")
    assert c["test"] == "identical" and c["p_value"] == 1.0 and c["diff"] == 0.0
    assert not c["decidable"] and np.isnan(c["p_adjusted"]) and "all values equal" in c["note"]
    assert c["a12"] == 0.5 and not c["significant"] and c["better"] is None


@pytest.mark.parametrize("n, significant", [(4, False), (5, False), (6, True)])
def test_constant_difference_gets_the_exact_sign_flip_test_not_p_zero(n, significant):
    # the same difference on every seed: no noise to test against
    base = [0.8 - 0.02 * i for i in range(n)]
    df = frame({("copy", "base"): base, ("copy", "mem"): [b + 0.1 for b in base]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = compare(df, "exact_match", "base", test="t").iloc[0]
    assert c["test"] == "sign-flip"
    assert c["p_value"] == pytest.approx(2 * 0.5**n)  # all signs positive: 1 of 2**n
    assert c["significant"] == significant and c["decidable"] == significant
    if not significant:
        assert c["seeds_needed"] == 6 and "needs ~6 seeds" in c["note"]
        assert np.isnan(c["p_adjusted"]) and c["better"] is None
    else:
        assert c["better"] is True


def test_no_seed_count_is_suggested_for_a_difference_below_the_minimum_of_interest():
    # one held-out example in 512 on every seed: real, but not worth 6 more seeds
    base = [0.998 - 0.002 * i for i in range(4)]
    df = frame({("copy", "base"): base, ("copy", "mem"): [b + 0.002 for b in base]})
    for test in ("t", "exact"):
        c = compare(df, "exact_match", "base", test=test).iloc[0]
        assert np.isnan(c["seeds_needed"]) and "needs" not in c["note"]


def test_identical_per_seed_is_a_tie():
    df = frame({("t", "base"): [0.1, 0.5, 0.9], ("t", "v"): [0.1, 0.5, 0.9]})
    c = compare(df, "exact_match", "base", test="t").iloc[0]
    assert c["p_value"] == 1.0 and not c["significant"] and not c["decidable"]
    assert "identical on every seed" in c["note"]


def test_exact_option_uses_the_sign_flip_test_everywhere():
    x, y = [0.61, 0.72, 0.55, 0.80, 0.66, 0.70], [0.40, 0.70, 0.47, 0.71, 0.52, 0.60]
    df = frame({("t", "base"): y, ("t", "v"): x})
    c = compare(df, "exact_match", "base", test="exact").iloc[0]
    d = np.subtract(x, y)
    ref = st.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf)
    assert c["test"] == "sign-flip" and c["p_value"] == pytest.approx(ref.pvalue)
    assert c["p_value"] == pytest.approx(2 / 64)  # every difference positive
    with pytest.raises(ValueError, match="unknown test"):
        compare(df, "exact_match", "base", test="wilcoxon")


def test_pairs_the_shared_seeds_and_names_the_others():
    base = {0: 0.50, 1: 0.60, 2: 0.55, 3: 0.58}
    var = {0: 0.70, 1: 0.81, 2: 0.74, 4: 0.90}  # seed 3 failed, seed 4 only here
    df = frame(
        {("t", "base"): list(base.values()), ("t", "v"): list(var.values())},
        seeds={("t", "base"): list(base), ("t", "v"): list(var)},
    )
    c = compare(df, "exact_match", "base", test="t").iloc[0]
    ref = st.ttest_rel([0.70, 0.81, 0.74], [0.50, 0.60, 0.55])
    assert c["test"] == "paired-t" and c["n_paired"] == 3
    assert c["p_value"] == pytest.approx(ref.pvalue)
    assert "seed 4 only in v" in c["note"] and "seed 3 only in base" in c["note"]


def test_a_seed_twice_in_a_cell_is_an_error():
    df = frame({("t", "base"): [0.1, 0.2, 0.3], ("t", "v"): [0.4, 0.5, 0.6]})
    df = pd.concat([df, df.iloc[[0]]])
    with pytest.raises(ValueError, match="holds seed 0 more than once"):
        compare(df, "exact_match", "base", test="t")


def test_undecidable_rows_leave_the_holm_family():
    # one strong paired effect, plus 5 rows that can never be significant: Holm over 1, not 6
    rng = np.random.default_rng(3)
    base = rng.uniform(0.3, 0.5, size=3)
    cells = {("a", "base"): base, ("a", "v"): base + [0.1, 0.12, 0.09]}
    for t in "bcdef":
        cells[(t, "base")] = [1.0, 1.0, 1.0]
        cells[(t, "v")] = [1.0, 1.0, 1.0]
    c = compare(frame(cells), "exact_match", "base", test="t").set_index("task")
    assert c.loc["a", "decidable"] and c["decidable"].sum() == 1
    assert c.loc["a", "p_adjusted"] == pytest.approx(c.loc["a", "p_value"])
    assert c.loc[list("bcdef"), "p_adjusted"].isna().all()


def test_intervals_stay_in_the_metric_range():
    df = frame({("t", "base"): [0.0, 1.0, 0.53], ("t", "v"): [1.0, 1.0, 0.99]})
    d = cell_stats(df, "exact_match").set_index("variant")
    assert d.loc["base", "ci_low"] == 0.0 and d.loc["base", "ci_high"] == 1.0
    assert d.loc["base", "ci_clipped"] and d.loc["v", "ci_high"] == 1.0
    c = compare(df, "exact_match", "base", test="t").iloc[0]
    assert -1.0 <= c["ci_low"] <= c["ci_high"] <= 1.0
    unbounded = cell_stats(frame({("t", "a"): [-3.0, 5.0, 1.0]}, "m"), "m").iloc[0]
    assert unbounded["ci_low"] < -3 and not unbounded["ci_clipped"]


def test_no_standardised_effect_size_that_explodes_on_constant_seeds():
    df = frame({("t", "base"): [0.5] * 3, ("t", "v"): [0.7] * 3})
    c = compare(df, "exact_match", "base")
    assert "hedges_g" not in c.columns and c.iloc[0]["a12"] == 1.0


def test_direction_and_effect_sizes():
    x = [1.0, 2.0, 3.0]
    # wins: 1>0, 2>0, 3>2,2,0; ties: 2=2 twice -> (5 + 0.5 * 2) / 9
    assert a12(x, [2.0, 2.0, 0.0]) == pytest.approx(6 / 9)
    assert a12(x, [2.0, 2.0, 0.0], -1) == pytest.approx(1 - 6 / 9)
    loss = frame({("t", "base"): [2.0, 2.2, 2.1, 2.3], ("t", "v"): [1.0, 1.1, 0.9, 1.2]}, "loss")
    c = compare(loss, "loss", "base", test="t").iloc[0]
    assert c["significant"] and c["better"] is True
    assert c["a12"] == 1.0 and c["diff"] < 0


def test_untested_and_small_cells():
    df = frame(
        {
            ("t", "base"): [0.1, 0.2, 0.3],
            ("t", "two"): [0.4, 0.6],
            ("t", "three"): [0.5, 0.7, 0.65],
        }
    )
    df = pd.concat([df, frame({("t", "one"): [0.9]}, seeds={("t", "one"): [7]})])
    c = compare(df, "exact_match", "base", test="t").set_index("variant")
    assert c.loc["two", "test"] == "paired-t" and c.loc["two", "n_paired"] == 2
    assert c.loc["three", "decidable"]
    assert c.loc["one", "test"] == "none" and not c.loc["one", "decidable"]
    assert np.isnan(c.loc["one", "p_value"]) and c.loc["one", "better"] is None
    assert "fewer than 2 seeds" in c.loc["one", "note"]
    missing = compare(frame({("t", "v"): [0.1, 0.2, 0.3]}), "exact_match", "base", test="t").iloc[0]
    assert missing["test"] == "none" and "no baseline cell" in missing["note"]


def test_a_row_with_enough_seeds_says_why_it_is_not_significant():
    # 11 seeds could make a unanimous difference significant over 32 comparisons, but three
    # baseline seeds solved too: their small differences weigh little in the sign-flip test
    base = [0.3] * 8 + [0.99, 0.99, 0.99]
    mem = [0.99] * 8 + [0.995, 0.985, 0.995]
    cells = {("sum", "base"): base, ("sum", "mem"): mem}
    rng = np.random.default_rng(0)
    for i in range(31):  # null comparisons (decidable, not significant) fill a family of 32
        cells[("sum", f"null{i}")] = list(np.add(base, rng.normal(0, 0.01, 11)))
    c = compare(frame(cells), "exact_match", "base").set_index("variant").loc["mem"]
    assert c["decidable"] and not c["significant"] and np.isnan(c["seeds_needed"])
    assert c["note"] == "3 of 11 seeds differ by less than 0.05"
    against = [0.99] * 8 + [0.9, 0.995, 0.995]  # seed 8 loses by more than 0.05
    cells[("sum", "mem")] = against
    c = compare(frame(cells), "exact_match", "base").set_index("variant").loc["mem"]
    assert c["note"] == "2 of 11 seeds differ by less than 0.05; seed 8 goes the other way"


@pytest.mark.slow
def test_seeds_needed_for_a_t_test_matches_a_power_simulation():
    from membench.analysis.comparison import t_seeds_needed

    n = t_seeds_needed(1.0, 1.0, 0.05)  # d_z = 1: the textbook answer is 10 pairs
    assert n == 10
    rng = np.random.default_rng(0)
    d = rng.normal(1.0, 1.0, size=(4000, int(n)))
    power = np.mean(st.ttest_1samp(d, 0, axis=1).pvalue < 0.05)
    assert 0.78 <= power <= 0.86
    assert np.isnan(t_seeds_needed(0.0, 1.0, 0.05))


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
    a = aggregate(frame(cells, "m"), "m", "base").set_index("variant")
    assert a.loc["base", "mean"] == pytest.approx(4.5)
    assert math.isnan(a.loc["base", "prob_improvement"])
    assert a.loc["v", "prob_improvement"] == 1.0
    # var of each task mean: (5/3)/4, summed over 2 tasks, / 2**2; dof (Satterthwaite) = 6
    se = math.sqrt(2 * (5 / 3) / 4 / 4)
    half = st.t.ppf(0.975, 6) * se
    assert (a.loc["base", "mean_ci_low"], a.loc["base", "mean_ci_high"]) == pytest.approx(
        (4.5 - half, 4.5 + half)
    )


def test_aggregate_does_not_claim_certainty_from_agreeing_seeds():
    # every cell 0/3 or 3/3: no within-cell spread, yet 3 seeds are no certainty
    cells = {("a", "base"): [0.0] * 3, ("a", "v"): [1.0] * 3}
    cells |= {("b", "base"): [1.0] * 3, ("b", "v"): [1.0] * 3}
    a = aggregate(frame(cells, "solve_rate"), "solve_rate", "base").set_index("variant")
    assert a.loc["v", "mean_ci_low"] < 0.8 and a.loc["v", "mean_ci_high"] == 1.0
    assert a.loc["base", "mean_ci_low"] < 0.5 < a.loc["base", "mean_ci_high"]
    # a task's spread in other variants widens a variant whose seeds happened to agree
    cont = {("a", "base"): [0.1, 0.9, 0.5], ("a", "v"): [0.6, 0.6, 0.6]}
    c = aggregate(frame(cont), "exact_match", "base").set_index("variant")
    assert c.loc["v", "mean_ci_high"] - c.loc["v", "mean_ci_low"] > 0.5
    steps = frame({("a", "base"): [100, 200]}, "steps_to_solve").assign(solved=True)
    assert aggregate(steps, "steps_to_solve", "base").empty  # censored: no mean


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


@pytest.mark.slow
@pytest.mark.parametrize("distinct_seeds", [False, True])  # paired-t, then Welch
def test_calibration_under_the_null(distinct_seeds):
    rng = np.random.default_rng(7)
    raw, family = [], []
    for _ in range(200):
        # a seed shares noise across variants only when variants share seeds
        shared = 0.0 if distinct_seeds else 0.5
        df = simulated_suite(rng, NULL, shared=shared, distinct_seeds=distinct_seeds)
        c = compare(df, "m", "base", correction="none", test="t")
        assert set(c["test"]) == {"welch-t" if distinct_seeds else "paired-t"}
        assert c["decidable"].all()
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
@pytest.mark.slow
def test_power_for_large_effects(effect, shared, correction):
    rng = np.random.default_rng(11)
    hits = []
    for _ in range(150):
        df = simulated_suite(rng, {"base": 0.0, "a": effect, "b": 0.0}, shared=shared)
        c = compare(df, "m", "base", correction=correction, test="t")
        hits.append(c.loc[c["variant"] == "a", "significant"].mean())
        assert c.loc[c["variant"] == "a", "better"].isin([True, None]).all()
    assert np.mean(hits) > 0.8


# ---- the exact default ------------------------------------------------------------------------


def test_the_same_unanimous_evidence_gets_the_same_mark_whatever_its_size():
    # solved-or-stuck (1.0 vs 0.0) and a small steady gain on every seed: both unanimous
    n = 7
    cells = {("stuck", "base"): [1.0] * n, ("stuck", "v"): [0.0] * n}
    cells |= {("steady", "base"): [0.5 + 0.01 * i for i in range(n)]}
    cells |= {("steady", "v"): [0.4 + 0.01 * i + 0.001 * (i % 2) for i in range(n)]}
    c = compare(frame(cells), "exact_match", "base").set_index("task")
    assert set(c["test"]) == {"sign-flip"}
    assert c["p_value"].tolist() == pytest.approx([2 / 2**n] * 2)
    assert c["significant"].all() and (c["better"] == False).all()  # noqa: E712


def test_exact_interval_inverts_the_sign_flip_test():
    from membench.analysis.signflip import sign_flip_interval, sign_flip_p

    d = np.array([0.3, 0.1, 0.5, -0.05, 0.2, 0.4, 0.25, 0.15])
    lo, hi = sign_flip_interval(d)
    assert lo < d.mean() < hi
    # just inside the interval the test does not reject; just outside it does
    assert sign_flip_p(d - (lo + 1e-6)) > 0.05 and sign_flip_p(d - (hi - 1e-6)) > 0.05
    assert sign_flip_p(d - (lo - 1e-3)) <= 0.05 and sign_flip_p(d - (hi + 1e-3)) <= 0.05
    # five seeds cannot bound anything at 95%: the smallest p is 2/32
    assert sign_flip_interval(d[:5]) == (-math.inf, math.inf)
    # a constant difference is known exactly
    assert sign_flip_interval(np.full(8, 0.5)) == pytest.approx((0.5, 0.5), abs=1e-6)


def test_seeds_for_a_unanimous_effect_over_a_family():
    from membench.analysis.stats import seeds_for_unanimity

    assert seeds_for_unanimity(0.05) == 6  # 2/64 < 0.05 <= 2/32
    assert seeds_for_unanimity(0.05 / 11) == 9  # recall-masks: 11 comparisons
    assert seeds_for_unanimity(0.05 / 32) == 11  # core: 4 tasks x 8 variants
    for k in (1, 5, 11, 32, 100):
        n = seeds_for_unanimity(0.05 / k)
        assert 2 / 2**n < 0.05 / k <= 2 / 2 ** (n - 1)


@pytest.mark.slow
def test_exact_calibration_under_the_null_at_core_seed_count():
    rng = np.random.default_rng(5)
    raw, family = [], []
    for _ in range(150):
        df = simulated_suite(rng, NULL, seeds=11, shared=0.5)
        c = compare(df, "m", "base", correction="none")
        assert set(c["test"]) == {"sign-flip"} and c["decidable"].all()
        raw.append(c["significant"].mean())
        family.append((adjust_pvalues(c["p_value"], "holm") < 0.05).any())
    assert 0.025 <= np.mean(raw) <= 0.07
    assert np.mean(family) <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / 150)


@pytest.mark.slow
def test_exact_power_for_a_unanimous_effect_over_a_32_comparison_family():
    # core's family: 4 tasks x 8 variants against the baseline, 11 seeds
    rng = np.random.default_rng(3)
    effects = {"base": 0.0, **{f"v{i}": 0.0 for i in range(7)}, "a": 6.0}
    hits = []
    for _ in range(40):
        c = compare(simulated_suite(rng, effects, seeds=11, shared=0.5), "m", "base")
        assert len(c) == 32
        hits.append(c.loc[c["variant"] == "a", "significant"].mean())
    assert np.mean(hits) > 0.95
    # and at 10 seeds it cannot be: 2/2^10 > 0.05/32
    c = compare(simulated_suite(rng, effects, seeds=10, shared=0.5), "m", "base")
    assert not c["significant"].any()


def test_an_aggregate_without_spread_at_a_bound_gets_the_exact_interval():
    """4 trials all at 0: not '0.000 [0.000, 1.000]' but the exact bound 1 - 0.025^(1/4)."""
    import pandas as pd

    from membench.analysis.across import aggregate

    rows = [dict(task=t, variant=v, seed=s, exact_match=value, status="ok")
            for t in ("a", "b") for s in (0, 1)
            for v, value in (("baseline", 0.5 + 0.1 * s), ("stuck", 0.0), ("ace", 1.0))]  # fmt: skip
    out = aggregate(pd.DataFrame(rows), "exact_match", "baseline").set_index("variant")
    assert out.loc["stuck", "mean_ci_low"] == 0.0
    assert out.loc["stuck", "mean_ci_high"] == pytest.approx(1 - 0.025 ** (1 / 4))
    assert out.loc["ace", "mean_ci_low"] == pytest.approx(0.025 ** (1 / 4))
    assert out.loc["baseline", "mean_ci_high"] < 1.0  # the others keep their t-interval
