"""Cells the report cannot summarise: some of their planned seeds have no finished record
(missing, or cut off before they finished). Their finished seeds are a subset selected by
outcome (a seed that solves stops early and is recorded first; the slow ones are the ones cut
off), so such a cell gets a count in words ("1 solved, 2 cut off at ~4,000 steps"), never a
mean or a verdict, until a resume finishes it."""

from __future__ import annotations

import pandas as pd


def interrupted_trials(df: pd.DataFrame) -> list[dict]:
    """One entry per record of a trial cut off before it finished (status interrupted)."""
    if "status" not in df.columns:
        return []
    cut = df[df["status"] == "interrupted"]
    steps = cut["steps_trained"] if "steps_trained" in cut.columns else pd.Series(0, cut.index)
    return [
        dict(task=r.task, variant=r.variant, seed=int(r.seed), steps=int(steps.get(i) or 0))
        for i, r in cut.iterrows()
    ]


def resumed_trials(ok: pd.DataFrame) -> list[dict]:
    """One entry per finished trial that went on from a checkpoint after a cut (its record's
    `resumed_from_step`): complete, and said, so that a reader can find the cut."""
    if "resumed_from_step" not in ok.columns:
        return []
    went_on = ok[pd.to_numeric(ok["resumed_from_step"], errors="coerce").notna()]
    return [
        dict(task=r.task, variant=r.variant, seed=int(r.seed), step=int(r.resumed_from_step))
        for r in went_on.itertuples()
    ]


def incomplete_cells(
    usable: pd.DataFrame, cut: list[dict], missing: list[dict], failed: list[dict] | None = None
) -> dict[tuple[str, str], str]:
    """(task, variant) -> what the cell holds, in words, for each cell with a seed missing
    (`missing`: the report's cells short of seeds) or cut off (`cut`). A seed that failed (NaN
    loss, an error) is a result, listed with the failures: alone it leaves a cell complete."""
    # in the order given (a set's order moves with the hash seed: reports would differ by run)
    cells = dict.fromkeys([(m["task"], m["variant"]) for m in missing + list(cut)])
    out = {}
    for task, variant in cells:
        done = usable[(usable["task"] == task) & (usable["variant"] == variant)]
        solved = int(done["solved"].fillna(False).astype(bool).sum()) if "solved" in done else 0
        steps = sorted(c["steps"] for c in cut if (c["task"], c["variant"]) == (task, variant))
        absent = sum(
            len(m["seeds"]) or m["expected"] - m["n"]
            for m in missing
            if (m["task"], m["variant"]) == (task, variant)
        )
        errors = sum((f["task"], f["variant"]) == (task, variant) for f in failed or [])
        absent -= len(steps) + errors  # counted as cut off or failed, not as never trained
        if not steps and (absent <= 0 or done.empty):
            continue  # short by failures only (a failure is a result), or nothing to show
        parts = [f"{solved} solved"] if solved else []
        if len(done) > solved:
            parts.append(f"{len(done) - solved} unsolved")
        if errors:
            parts.append(f"{errors} failed")
        if steps:
            span = f"{steps[0]:,}" if steps[0] == steps[-1] else f"{steps[0]:,}-{steps[-1]:,}"
            parts.append(f"{len(steps)} cut off at ~{span} steps")
        if absent > 0:
            parts.append(f"{absent} without a record")
        out[(task, variant)] = ", ".join(parts) or "no finished seed"
    return out


def complete_only(df: pd.DataFrame, incomplete: dict[tuple[str, str], str]) -> pd.DataFrame:
    """The rows of `df` outside the incomplete cells."""
    if not incomplete or df.empty:
        return df
    keys = pd.Series(list(zip(df["task"], df["variant"], strict=True)), index=df.index)
    return df[~keys.isin(list(incomplete))]
