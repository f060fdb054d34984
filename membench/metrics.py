"""Metrics derived from a trial's learning curve: pure functions, shared by the trainer (new
records) and the store (records that predate a metric)."""

from __future__ import annotations

from typing import Any


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
