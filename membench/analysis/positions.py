"""Accuracy per target position: where exact match is far below token accuracy, which positions
are wrong. A task can look unlearned on exact match while every position but one is right
(long_range_sum's units digit, the sum mod the base, is the hard one). Pure: rows in, dicts out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

GAP = 0.1  # token accuracy at least this far above exact match: look at the positions
RIGHT = 0.95  # a position at least this accurate counts as right


def describe(accuracy: list[float], chance: float | None = None) -> str:
    """'positions 1-3 right (>= 0.95); position 4 at 0.260 (chance 0.250)' (1-based)."""
    right = [i + 1 for i, a in enumerate(accuracy) if a >= RIGHT]
    wrong = [(i + 1, a) for i, a in enumerate(accuracy) if a < RIGHT]
    parts = []
    if right and wrong:
        parts.append(f"{_span('position', right)} right (>= {RIGHT})")
    elif right:
        return f"every position right (>= {RIGHT})"
    if len(wrong) <= 4:
        parts += [f"position {i} at {a:.3f}" for i, a in wrong]
    else:
        low = min(a for _, a in wrong)
        parts.append(f"{_span('position', [i for i, _ in wrong])} below {RIGHT} (lowest {low:.3f})")
    text = "; ".join(parts)
    return text + (f" (chance {chance:.3f})" if chance is not None and np.isfinite(chance) else "")


def _span(word: str, positions: list[int]) -> str:
    """[1, 2, 3] -> 'positions 1-3'; [2] -> 'position 2'; [1, 3] -> 'positions 1, 3'."""
    if len(positions) == 1:
        return f"{word} {positions[0]}"
    if positions == list(range(positions[0], positions[-1] + 1)):
        return f"{word}s {positions[0]}-{positions[-1]}"
    return f"{word}s {', '.join(map(str, positions))}"


def positions_section(ok: pd.DataFrame) -> list[dict]:
    """Per (task, variant) whose unsolved seeds have token accuracy at least GAP above their
    exact match: the mean accuracy at each target position over those seeds, and a sentence.
    Records without per-position accuracy (older ones) are skipped."""
    if "per_position" not in ok.columns:
        return []
    section = []
    for (task, variant), cell in ok.groupby(["task", "variant"], sort=False):
        stuck = cell[~cell["solved"].fillna(False).astype(bool)] if "solved" in cell else cell
        unsolved = len(stuck)
        stuck = stuck[stuck["per_position"].map(lambda p: isinstance(p, list) and len(p) > 0)]
        if stuck.empty:
            continue
        gap = float(stuck["token_accuracy"].mean() - stuck["exact_match"].mean())
        lengths = set(stuck["per_position"].map(len))
        if gap < GAP or len(lengths) != 1:
            continue
        accuracy = np.mean(np.stack(stuck["per_position"].map(np.asarray).to_list()), axis=0)
        chance = float(pd.to_numeric(stuck.get("chance")).mean()) if "chance" in stuck else None
        section.append(
            dict(
                task=task,
                variant=variant,
                seeds=len(stuck),  # unsolved seeds whose records hold per-position accuracy
                unsolved=unsolved,
                of=len(cell),
                exact_match=float(stuck["exact_match"].mean()),
                token_accuracy=float(stuck["token_accuracy"].mean()),
                accuracy=[round(float(a), 4) for a in accuracy],
                sentence=describe(list(accuracy), chance),
            )
        )
    return section
