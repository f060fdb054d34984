"""Knockout verdicts: does a model need to read memory, or to write it? Per cell, split by
outcome: solved seeds are judged on exact match, unsolved seeds on token accuracy and exact match
both (what the score they reached is computed through; "reached", not "a plateau": unless the
suite stops on one, an unsolved trial ran out of steps).
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
    or more. Solved seeds are judged on exact match, unsolved ones on token accuracy and exact
    match (a loss in either is a loss; nothing lost needs nothing lost in both): relies on it
    (the interval above 0, the mean at least NEGLIGIBLE; one seed: its drop at least
    NEGLIGIBLE), does not need it (the interval, or the one drop, below NEGLIGIBLE), undecided;
    unsolved seeds within NEGLIGIBLE of chance (and of 0 exact match) learned too little to
    tell."""
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
    # solved seeds on exact match; unsolved ones on both measures: token accuracy shows a score
    # near 0 exact match computed through memory, exact match a loss that token accuracy hides
    # (MAD's recall, unsolved at exact 0.9: cutting reads costs 0.2 exact, 0.01 token)
    judged = ["exact_match"] if outcome != "unsolved" else ["token_accuracy", "exact_match"]
    words = KNOCKOUT_WORDS["unsolved" if outcome == "unsolved" else "solved"]
    chance = pd.to_numeric(seeds.get("chance", pd.Series(dtype=float))).mean()
    floors = {"exact_match": 0.0, "token_accuracy": chance if np.isfinite(chance) else 0.0}
    too_little = all(float(seeds[m].mean()) - floors[m] < NEGLIGIBLE for m in judged)
    entry: dict = dict(seeds=len(seeds))
    verdicts = []
    for kind, (relies, ignores) in words.items():
        drops = {}
        for metric in ("exact_match", "token_accuracy"):
            drop = (seeds[metric] - pd.to_numeric(seeds[f"{metric}_no_{kind}"])).dropna()
            lo, hi, _ = stats.clip(*stats.mean_interval(drop.to_numpy()), (-1.0, 1.0))
            if len(drop) == 1:
                lo = hi = float(drop.iloc[0])
            drops[metric] = dict(drop=float(drop.mean()), low=lo, high=hi)
        said = {m: _verdict(drops[m], relies, ignores) for m in judged}
        if too_little:
            verdict, by = "learned too little to tell", judged[0]
        elif relies in said.values():  # a loss in either measure is a loss
            verdict, by = relies, next(m for m in judged if said[m] == relies)
        elif all(v == ignores for v in said.values()):
            verdict, by = ignores, judged[0]
        else:
            verdict, by = f"undecided on memory's {kind}s", judged[0]
        entry[kind] = dict(**drops[by], judged=by, verdict=verdict, **{
            f"{m}_drop": v["drop"] for m, v in drops.items()
        })  # fmt: skip
        verdicts.append(verdict)
    entry["judged"] = entry["read"]["judged"]
    read, write = verdicts
    if read.endswith("reads") and write == read[: -len("reads")] + "writes":  # said once
        joiner = " or " if " not " in read else " and "
        verdicts = [f"{read}{joiner}writes"]
    entry["sentence"] = "; ".join(dict.fromkeys(verdicts))
    return entry


def _verdict(d: dict, relies: str, ignores: str) -> str | None:
    """relies (the loss's interval above 0 and the loss at least NEGLIGIBLE), ignores (the
    interval below NEGLIGIBLE), else None."""
    if d["low"] > 0 and d["drop"] >= NEGLIGIBLE:
        return relies
    if d["high"] < NEGLIGIBLE:
        return ignores
    return None
