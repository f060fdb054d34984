"""Simulated suites shaped like membench's records, for calibration, coverage and power.

Per (task, seed) a seed effect is shared by every variant (same data and init stream: the
paired design); each trial adds its own noise. What comes out is what membench emits: exact match
as k/eval_size that piles up at 1.0 or near 0, steps to solve in multiples of eval_every and
censored at the budget, bimodal seeds that solve or stay stuck, and the AULC of such a curve.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from scipy.stats import norm

EVAL_SIZE, EVAL_EVERY, BUDGET = 512, 100, 2000

# Task shapes: (kind, parameter). "level": exact match around p; "bimodal": a seed solves with
# probability p, else stays near the floor; solving seeds also give steps, solve_rate and aulc.
TASKS = {
    "ceiling": ("level", 0.998),
    "middle": ("level", 0.5),
    "near": ("level", 0.99),
    "floor": ("level", 0.004),
    "bimodal": ("bimodal", 0.5),
    "late": ("bimodal", 0.8),  # solves late: steps censored at the budget for some seeds
}


def trial(rng, kind, p, seed_z, effect, late=False):
    """One trial's metrics from its seed's shared effect and the variant's effect (logit scale)."""
    noise = rng.normal()
    if kind == "level":
        q = expit(logit(p) + 0.6 * seed_z + 0.3 * noise + effect)
        em = rng.binomial(EVAL_SIZE, q) / EVAL_SIZE
        aulc = em * rng.uniform(0.5, 0.9)  # rises to its level during the budget
        solved = bool(em >= 0.99)
        step = int(EVAL_EVERY * np.ceil(400 * np.exp(0.3 * seed_z + 0.3 * noise) / EVAL_EVERY))
        steps = min(step, BUDGET) if solved else BUDGET
        return dict(exact_match=em, solved=solved, aulc=aulc, steps_to_solve=steps)
    solved = 0.8 * seed_z + 0.6 * noise + effect > -norm.ppf(p)  # a seed solves w.p. p
    median = 1500 if late else 800
    t = median * np.exp(0.35 * (0.7 * seed_z + 0.7 * noise) - 0.3 * effect)
    step = int(EVAL_EVERY * np.ceil(t / EVAL_EVERY))
    if solved and step <= BUDGET:
        em = 1.0 - rng.binomial(EVAL_SIZE, 0.004) / EVAL_SIZE
        aulc = (BUDGET - step + EVAL_EVERY) / BUDGET * em
        return dict(exact_match=em, solved=True, steps_to_solve=step, aulc=aulc)
    em = rng.binomial(EVAL_SIZE, 0.03) / EVAL_SIZE
    aulc = em * rng.integers(1, BUDGET // EVAL_EVERY + 1) * EVAL_EVERY / BUDGET
    return dict(exact_match=em, solved=False, steps_to_solve=BUDGET, aulc=aulc)


def suite(rng, tasks, effects: dict[str, float], seeds: int = 3) -> pd.DataFrame:
    """One suite's records: every task x variant x seed. `effects`: variant -> logit shift."""
    rows = []
    for task in tasks:
        kind, p = TASKS[task]
        for s in range(seeds):
            z = rng.normal()
            for variant, effect in effects.items():
                m = trial(rng, kind, p, z, effect, late=task == "late")
                rows.append(dict(task=task, variant=variant, seed=s, status="ok", **m))
    df = pd.DataFrame(rows)
    df["solve_rate"] = df["solved"].astype(float)
    return df
