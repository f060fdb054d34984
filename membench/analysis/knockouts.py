"""Knockout verdicts: does a model need to read memory, or to write it? Per cell, split by
outcome: solved seeds are judged on exact match, unsolved seeds on token accuracy (what the
score they reached is computed through; "reached", not "a plateau": unless the suite stops on
one, an unsolved trial ran out of steps).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from membench.analysis import stats

KNOCKOUT_WORDS = {  # (relies, does not need), for solved seeds, then for unsolved seeds' score
    "solved": {
        "read": ("needs memory's reads", "does not need memory's reads"),
        "write": ("needs memory's writes", "does not need memory's writes"),
    },
    "unsolved": {
        "read": ("score computed through memory's reads", "score does not use memory's reads"),
        "write": ("score computed through memory's writes", "score does not use memory's writes"),
    },
}
NEGLIGIBLE = 0.05  # a drop below this is "nothing lost"


def knockout_section(ok: pd.DataFrame) -> list[dict]:
    """Per (task, variant) with knockout metrics, solved and unsolved seeds apart (a cell of one
    seed that went around memory and four whose score runs through it has no one verdict):
    the drop (intact minus knocked out, per seed) in exact match and in token accuracy with
    memory reads and with writes cut, mean over seeds with a 95% t-interval where there are two
    or more. Solved seeds are judged on exact match, unsolved ones on token accuracy (their exact
    match is near 0 either way): relies on it (the interval above 0, the mean at least
    NEGLIGIBLE; one seed: its drop at least NEGLIGIBLE), does not need it (the interval, or the
    one drop, below NEGLIGIBLE), undecided; unsolved seeds within NEGLIGIBLE of chance learned too
    little to tell."""
    cols = [f"{m}_no_{k}" for m in ("exact_match", "token_accuracy") for k in ("read", "write")]
    if not set(cols) <= set(ok.columns):
        return []
    section = []
    for (task, variant), cell in ok.groupby(["task", "variant"], sort=False):
        if cell[cols].isna().all().all():
            continue
        solved = cell["solved"].fillna(False).astype(bool) if "solved" in cell else None
        groups = [("all", cell)] if solved is None else [
            (name, cell[mask]) for name, mask in (("solved", solved), ("unsolved", ~solved))
        ]  # fmt: skip
        for outcome, seeds in groups:
            if seeds.empty:
                continue
            entry = _knockout_entry(seeds, outcome)
            entry |= dict(task=task, variant=variant, outcome=outcome, of=len(cell))
            section.append(entry)
    return section


def _knockout_entry(seeds: pd.DataFrame, outcome: str) -> dict:
    judged = "exact_match" if outcome in ("solved", "all") else "token_accuracy"
    words = KNOCKOUT_WORDS["unsolved" if judged == "token_accuracy" else "solved"]
    entry: dict = dict(seeds=len(seeds), judged=judged)
    chance = pd.to_numeric(seeds.get("chance", pd.Series(dtype=float))).mean()
    intact = float(seeds[judged].mean())
    floor = (chance if np.isfinite(chance) else 0.0) if judged == "token_accuracy" else 0.0
    verdicts = []
    for kind, (relies, ignores) in words.items():
        drops = {}
        for metric in ("exact_match", "token_accuracy"):
            drop = (seeds[metric] - pd.to_numeric(seeds[f"{metric}_no_{kind}"])).dropna()
            lo, hi, _ = stats.clip(*stats.mean_interval(drop.to_numpy()), (-1.0, 1.0))
            drops[metric] = dict(drop=float(drop.mean()), low=lo, high=hi)
        d = drops[judged]
        if len(seeds) == 1:
            d["low"] = d["high"] = d["drop"]
        if intact - floor < NEGLIGIBLE:
            verdict = "learned too little to tell"
        elif d["low"] > 0 and d["drop"] >= NEGLIGIBLE:
            verdict = relies
        elif d["high"] < NEGLIGIBLE:
            verdict = ignores
        else:
            verdict = f"undecided on memory's {kind}s"
        entry[kind] = dict(**drops[judged], verdict=verdict, **{
            f"{m}_drop": v["drop"] for m, v in drops.items()
        })  # fmt: skip
        verdicts.append(verdict)
    read, write = verdicts
    if read.endswith("reads") and write == read[: -len("reads")] + "writes":  # said once
        joiner = " or " if " not " in read else " and "
        verdicts = [f"{read}{joiner}writes"]
    entry["sentence"] = "; ".join(dict.fromkeys(verdicts))
    return entry
