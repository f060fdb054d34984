"""The metrics a record carries, and what each one means to the statistics: which way is
better, the range it lives in, and its kind (continuous, binary or censored), which decides the
tests and intervals; and how a report shows it (its name in a header, its decimals). One
registry for the store, the stats, tuning, the plots and every renderer; plus `aulc`,
derived from a learning curve by the trainer (new records) and the store (older ones).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

UNIT = (0.0, 1.0)
NONNEGATIVE = (0.0, math.inf)
UNBOUNDED = (-math.inf, math.inf)


@dataclass(frozen=True)
class Metric:
    name: str
    direction: int  # +1: higher is better, -1: lower is better
    bounds: tuple[float, float] = UNBOUNDED
    kind: str = "continuous"  # continuous | binary (solve_rate) | censored (steps_to_solve)
    digits: int | None = None  # decimals a report shows; None: from the values' magnitude
    label: str = ""  # a header's name for it, where not its own name


REGISTRY = {
    m.name: m
    for m in (
        Metric("token_accuracy", 1, UNIT, digits=3),
        Metric("exact_match", 1, UNIT, digits=3),
        Metric("final_loss", -1, NONNEGATIVE),
        # observed only where the trial solved; else more than its budget
        Metric("steps_to_solve", -1, kind="censored", digits=0),
        Metric("solve_rate", 1, UNIT, kind="binary", digits=2),
        Metric("aulc", 1, UNIT, digits=3),
        Metric("params", -1, NONNEGATIVE, digits=0),
        Metric("train_flops", -1, NONNEGATIVE, label="FLOPs"),
        Metric("train_seconds", -1, NONNEGATIVE, digits=1, label="seconds"),
        Metric("tokens_per_second", 1, digits=0, label="tokens/s"),
        Metric("chance", 1),
        Metric("exact_match_no_read", 1, UNIT, digits=3),  # knockouts: the metric with memory cut
        Metric("exact_match_no_write", 1, UNIT, digits=3),
        Metric("token_accuracy_no_read", 1, UNIT, digits=3),
        Metric("token_accuracy_no_write", 1, UNIT, digits=3),
    )
}
METRICS = tuple(REGISTRY)  # a record's metric columns, in table order
LOWER_IS_BETTER_WORDS = ("loss", "steps", "seconds", "error", "flops")  # for other names


def metric_direction(metric: str) -> int:
    """+1 if higher is better, -1 if lower is better."""
    if metric in REGISTRY:
        return REGISTRY[metric].direction
    return -1 if any(w in metric.lower() for w in LOWER_IS_BETTER_WORDS) else 1


def metric_kind(metric: str) -> str:
    """continuous | binary | censored: decides the tests and intervals of a metric."""
    return REGISTRY[metric].kind if metric in REGISTRY else "continuous"


def metric_bounds(metric: str) -> tuple[float, float]:
    if metric.startswith(("exact_match_no_", "token_accuracy_no_")):  # knockouts
        return UNIT
    return REGISTRY[metric].bounds if metric in REGISTRY else UNBOUNDED


def metric_digits(metric: str, largest: float = 0.0) -> int:
    """Decimals to show `metric` with: its own, else by the magnitude of the largest value
    shown (3 below 10, 1 below 1000, else none)."""
    own = REGISTRY[metric].digits if metric in REGISTRY else None
    if own is not None:
        return own
    top = abs(largest) if math.isfinite(largest) else 0.0
    return 3 if top < 10 else 1 if top < 1000 else 0


def metric_label(metric: str) -> str:
    """A header's name for `metric`."""
    return (REGISTRY[metric].label if metric in REGISTRY else "") or metric


def aulc(curve: list[dict[str, Any]], steps: int, key: str = "exact_match") -> float:
    """Area under the held-out learning curve over the whole budget, normalised to [0, 1].

    The curve is a step function: each evaluation's value holds from the previous evaluation to
    its own step (0 before the first is unknown, so the first value holds from step 0), and a
    trial that stopped early carries its final value to the budget. 1.0 means solved at once;
    a trial solved in half the budget scores about half plus what it knew before."""
    if not curve or steps <= 0:
        return float("nan")
    area, last_step = 0.0, 0
    for point in curve:
        step = min(int(point["step"]), steps)
        area += float(point[key]) * (step - last_step)
        last_step = step
    area += float(curve[-1][key]) * (steps - last_step)
    return area / steps
