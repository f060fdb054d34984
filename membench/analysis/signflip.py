"""The exact paired sign-flip test every frontier, contrast and continuous paired comparison
uses, and the confidence interval that inverts it. Exact over all 2^n sign patterns up to 16
seeds; beyond, a fixed-seed sample with the observed pattern counted in, as scipy does."""

from __future__ import annotations

import math

import numpy as np

SIGN_FLIP_EXACT = 16  # exact enumeration of 2^n sign patterns up to n = 16 seeds
SIGN_FLIP_SAMPLES = 2**16  # beyond: this many random patterns (fixed seed), as scipy's test


def sign_patterns(n: int) -> np.ndarray:
    """±1 [patterns, n]: every sign pattern up to SIGN_FLIP_EXACT seeds, else a fixed sample."""
    if n <= SIGN_FLIP_EXACT:
        bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
    else:
        bits = np.random.default_rng(0).integers(0, 2, (SIGN_FLIP_SAMPLES, n))
    return 1.0 - 2.0 * bits


def sign_flip_p(d, signs: np.ndarray | None = None) -> float:
    """Two-sided p of the paired sign-flip (permutation) test of mean(d) = 0: the share of
    sign patterns whose |sum| reaches the observed |sum| (the identity pattern is among them)."""
    d = np.asarray(d, float)
    signs = sign_patterns(len(d)) if signs is None else signs
    observed = abs(d.sum())
    tol = 1e-9 * max(1.0, float(np.abs(d).sum()))
    hits = int(np.sum(np.abs(signs @ d) >= observed - tol))
    if len(d) > SIGN_FLIP_EXACT:  # a sample of patterns: count the observed one in (scipy's rule)
        return (hits + 1) / (len(signs) + 1)
    return hits / len(signs)


def sign_flip_interval(d, alpha: float = 0.05) -> tuple[float, float]:
    """The exact (1 - alpha) interval of the mean difference that inverts the sign-flip test:
    the shifts delta at which the test of d - delta does not reject. Unbounded (±inf) where the
    test cannot reject at any shift (2/2^n > alpha: 5 seeds cannot bound a difference at 95%)."""
    d = np.asarray(d, float)
    signs = sign_patterns(len(d))
    mean = float(d.mean())
    if sign_flip_p(d - d.max() - 1.0, signs) > alpha:  # the smallest p there is still too big
        return -math.inf, math.inf

    def edge(outer: float) -> float:  # bisect between the mean (p = 1) and `outer` (rejected)
        inner = mean
        for _ in range(40):
            mid = (inner + outer) / 2
            if sign_flip_p(d - mid, signs) > alpha:
                inner = mid
            else:
                outer = mid
        return inner

    span = float(np.ptp(d)) + 1.0
    return edge(float(d.min()) - span), edge(float(d.max()) + span)
