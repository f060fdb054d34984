"""The report's method paragraph: the statistics in plain words, with the counts that matter
for reading them (which test ran how often, how many comparisons could reach alpha)."""

from __future__ import annotations

from membench import metrics
from membench.analysis import comparison, signflip, stats


def method_text(metric, baseline, alpha, correction, cells, comparisons, n_failed, test) -> str:
    """The statistics in plain words, with the counts that matter for reading them."""
    kind = metrics.metric_kind(metric)
    better = "higher" if metrics.metric_direction(metric) > 0 else "lower"
    tests = comparisons["test"].value_counts()
    m, k = len(comparisons), int(comparisons["decidable"].sum())
    lo, hi = (cells["n"].min(), cells["n"].max()) if len(cells) else (0, 0)
    seeds = "none" if cells.empty else f"{hi}" if lo == hi else f"{lo} to {hi}"

    def count(*names):
        return sum(int(tests.get(n, 0)) for n in names)

    corrected = {
        "holm": f"Holm-corrected across these {k} (family-wise error)",
        "bh": f"Benjamini-Hochberg-corrected across these {k} (false discovery rate)",
        "none": f"not corrected for the {k} comparisons",
    }[correction]
    cell = {
        "continuous": f"Each cell is the mean of {metric} ({better} is better) over seeds with "
        "its 95% t-interval, shown as ± half-width, or as [low, high] where it was cut at the "
        "metric's range.",
        "binary": f"Each cell is {metric}, the share of seeds that reached the solve threshold, "
        "with its exact (Clopper-Pearson) 95% interval.",
        "censored": f"{metric} is censored: a trial that never reached the solve threshold is "
        "known only to need more than its budget. Each cell is the median over seeds, censored "
        "seeds counted above every observed value ('> budget' when half or more are), and the "
        "seeds that solved (k/n); no mean or t-test uses a censored value.",
    }[kind]
    exact_text = (
        "the exact sign-flip (paired permutation) test on per-seed differences "
        f"({count('sign-flip')} of {m}; every one of the 2^n sign patterns up to "
        f"{signflip.SIGN_FLIP_EXACT} seeds, {signflip.SIGN_FLIP_SAMPLES} random ones beyond), a "
        f"two-sample permutation test where fewer than 2 seeds are shared "
        f"({count('permutation')}; scipy permutation_test); identical values are not tested "
        f"({count('identical')}). The interval of the difference is exact: the shifts the "
        "sign-flip test does not reject at 95% (unbounded, shown as the metric's range, where "
        "too few seeds can bound nothing)"
    )
    t_text = (
        "a paired t-test on per-seed differences (scipy ttest_rel; "
        f"{count('paired-t')} of {m}), Welch's t-test where fewer than 2 seeds are shared "
        f"({count('welch-t')}); where the t statistic does not exist (the same difference on "
        "every seed, or no variance in either cell) the exact sign-flip test on the differences "
        f"or a two-sample permutation test ({count('sign-flip', 'permutation')}); identical "
        f"values are not tested ({count('identical')}). The interval of the difference is the "
        "t-test's 95% interval, the sign-flip test's exact one where it was used. Solved-or-"
        "stuck seeds break the t-test's normal model: the default, --test exact, avoids it"
    )
    test_text = {
        "continuous": exact_text if test == "exact" else t_text,
        "binary": "the exact McNemar test on seeds that solved on one side only (two-sided "
        f"binomial test, scipy binomtest; {count('mcnemar-exact')} of {m}), Fisher's exact test "
        f"where fewer than 2 seeds are shared ({count('fisher')})",
        "censored": "a censoring-aware sign test: per shared seed, both solved: fewer steps "
        "wins; one solved (within the other's budget): it wins; neither: a tie; then an exact "
        f"two-sided sign test on wins and losses (scipy binomtest; {count('sign (censored)')} "
        f"of {m}); where fewer than 2 seeds are shared, Gehan's scores with a permutation test "
        f"({count('gehan-permutation')})",
    }[kind]
    n_min = stats.seeds_for_unanimity(alpha / max(m, 1))
    unanimity = (
        f"At n seeds the exact test's smallest two-sided p is 2/2^n, so a difference of the same "
        f"sign on every seed is significant after Holm over these {m} comparisons only from "
        f"{n_min} seeds (2/2^{n_min} < {alpha}/{m})"
        + (f"; these cells have {seeds}. " if kind != "censored" else ". ")
    )
    family = (
        f"The other {k} are {corrected}; a difference is significant (▲/▼) when the corrected "
        f"p < {alpha}."
        if k
        else "No comparison can reach significance at these seeds, so none is flagged."
    )
    power = (
        "'needs ~N seeds' is shown only for a difference of at least "
        f"{comparison.MIN_EFFECT} on a [0, 1] metric ({comparison.MIN_EFFECT:.0%} of the "
        "baseline's value on others) that is not significant: for an exact test, the seeds at "
        "which that many untied seeds, all of one sign, would be significant over the family; "
        "for a t-test, the seeds at which it has 80% power for the observed effect at alpha/K "
        "(a rough guide). "
    )
    return (
        f"{cell} Every variant is compared with the baseline '{baseline}' on every task, pairing "
        f"the seeds both cells hold with a successful record: {test_text}. {unanimity}"
        f"A comparison whose smallest attainable p-value exceeds {alpha} cannot be significant "
        "whatever the data "
        "(all values equal; an exact test at too few seeds: the sign and sign-flip tests need 6 "
        "informative pairs to go below 0.05): it is marked † with the seeds it would need and "
        f"left out of the correction family (Tarone 1990; {m - k} here). {family} {power}"
        "Effect size, oriented so that larger means better: A12, the probability that a seed "
        "of the variant beats a seed of the baseline (a standardised mean difference is not "
        "shown: on solved-or-stuck seeds its spread is near 0 and it explodes); 'solved' gives "
        "the seeds that solved, variant vs baseline. "
        f"Seeds per cell: {seeds}. Only successful trials are used ({n_failed} "
        "failed). Across tasks: average ranks of per-task cell values (1 = best), the Friedman "
        "test with the Iman-Davenport F and the Nemenyi critical difference at 0.05 (Demšar "
        "2006), on tasks where every variant has results; when Friedman does not reject, the "
        "ranks are noise and are marked so. The aggregate is the mean over tasks with a 95% "
        "t-interval: the variance of each task's mean from its seeds (at least the variance "
        "pooled over the task's variants), Welch-Satterthwaite degrees of freedom with n - 1 "
        "per task, cut at the metric's range; its coverage is checked by simulation "
        "(tests/test_calibration.py). A variant at 0 (or 1) on every trial of a [0, 1] metric "
        "has no spread to estimate: its interval is the exact one, [0, 1 - 0.025^(1/n)] over its "
        "n trials (a mean is at most the share of trials above 0, bounded by Clopper-Pearson). "
        "P(improvement) is the mean A12 over tasks, a point estimate."
    )
