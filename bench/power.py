"""How many seeds does a comparison need? Power of membench's tests on simulated records.

Simulates one variant against the baseline on one task (tests/simulate.py: the discrete, bounded,
censored, bimodal data membench emits, seeds shared by both) and counts how often the comparison
is significant under the default exact tests: alone (alpha 0.05) and as the first step of Holm
over 32 comparisons (a suite of 4 tasks x 8 variants, the core suite's size, where the others
are null).

    python bench/power.py            # prints a markdown table (about 5-10 minutes on 2 cores)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from membench.analysis.comparison import compare
from tests.simulate import suite  # noqa: E402

CASES = [  # metric, task shape, effects (logit / latent shifts), what the effect means
    ("exact_match", "middle", (0.5, 1.0, 2.0)),
    ("aulc", "late", (0.5, 1.0, 2.0)),
    ("solve_rate", "bimodal", (1.0, 2.0, 3.0)),
    ("steps_to_solve", "late", (1.0, 2.0, 3.0)),
]
SEEDS = (5, 8, 11, 20)
FAMILY = 32
REPS = 300


def main() -> None:
    rng = np.random.default_rng(0)
    head = "| metric (task shape) | effect: baseline → variant | " + " | ".join(
        f"{n} seeds" for n in SEEDS
    )
    print(head + " |\n|" + "---|" * (len(SEEDS) + 2))
    for metric, task, effects in CASES:
        for effect in effects:
            big = suite(rng, [task], {"base": 0.0, "x": effect}, 4000)
            means = big.groupby("variant")[metric].mean() if metric != "steps_to_solve" else None
            if metric == "steps_to_solve":
                solved = big.groupby("variant")["solved"].mean()
                what = f"solved {solved['base']:.0%} → {solved['x']:.0%}, and sooner"
            else:
                what = f"{means['base']:.2f} → {means['x']:.2f}"
            cells = []
            for n in SEEDS:
                p = [
                    compare(suite(rng, [task], {"base": 0.0, "x": effect}, n), metric, "base")
                    for _ in range(REPS)
                ]
                alone = np.mean([bool(c["p_value"].iloc[0] < 0.05) for c in p])
                holm = np.mean([bool(c["p_value"].iloc[0] < 0.05 / FAMILY) for c in p])
                cells.append(f"{alone:.0%} / {holm:.0%}")
            print(f"| {metric} ({task}) | {what} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
