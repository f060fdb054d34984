"""`membench verify`: retrain a sample of a results folder's trials here and say how close
they come to the records, and whether any verdict of the report would change.

Bitwise identity holds on one machine type; across CPUs (other vector kernels) the last digits
of a loss move, and now and then a held-out example flips, which can flip a seed that sits
between solved and stuck. Verification measures that instead of promising it. Read only: the
folder is never written.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from membench.analysis.comparison import compare
from membench.config.identity import TrialSpec
from membench.errors import MembenchError
from membench.store.results import load_suite_results

COMPARED = ("final_loss", "token_accuracy", "exact_match", "aulc")  # deterministic given the spec
COUNTED = ("token_accuracy", "exact_match")  # counts of held-out examples: equal, or one flipped
TOLERANCE = 1e-4  # absolute, on the loss and aulc: last-digit differences of another CPU
OUTCOMES = ("identical", "within tolerance", "diverged", "failed")
SPEC_FIELDS = ("task", "task_params", "model", "train", "seed", "factory")


@dataclass
class Check:
    """One retrained trial against its record."""

    id: str
    task: str
    variant: str
    seed: int
    outcome: str  # identical | within tolerance | diverged | failed
    largest: str  # the metric that moved most, 'exact_match 0.1406 -> 0.1172'
    recorded_cpu: str
    metrics: dict[str, float]


def sample(table: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """`n` ok trials spread over the cells: cells in a shuffled order (fixed `seed`), one trial
    per cell per round, so a sample of at least as many trials as cells touches every cell."""
    ok = table[table["status"] == "ok"]
    rng = random.Random(seed)
    groups = [list(g.index) for _, g in ok.groupby(["task", "variant"], sort=False)]
    rng.shuffle(groups)
    for g in groups:
        rng.shuffle(g)
    chosen: list[int] = []
    while len(chosen) < min(n, len(ok)):
        for g in groups:
            if g and len(chosen) < n:
                chosen.append(g.pop())
    return ok.loc[chosen]


def spec_of(record: dict[str, Any]) -> TrialSpec:
    spec = TrialSpec(**{k: record.get(k) for k in SPEC_FIELDS})
    if spec.trial_id() != record["id"]:
        raise MembenchError(
            f"record {record['id']}: its spec hashes to {spec.trial_id()}: a record of another "
            "membench version; rerun its suite"
        )
    return spec


def classify(recorded: dict[str, float], retrained: dict[str, Any]) -> tuple[str, str]:
    """(outcome, the metric that moved most) of a retrained trial's metrics against its record's:
    identical (every metric bitwise), within tolerance (held-out counts equal, the loss and
    aulc within TOLERANCE), or diverged (a held-out token or example came out otherwise)."""
    if retrained.get("status") != "ok":
        return "failed", str(retrained.get("error"))
    moves = []
    for m in COMPARED:
        a, b = recorded.get(m), retrained["metrics"].get(m)
        if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
            continue
        moves.append((abs(float(b) - float(a)), m, float(a), float(b)))
    worst = max(moves, default=(0.0, "", math.nan, math.nan))
    digits = 6 if worst[0] > TOLERANCE else 10  # enough to see a tiny difference
    text = f"{worst[1]} {worst[2]:.{digits}g} -> {worst[3]:.{digits}g}" if worst[0] > 0 else "–"
    if all(move == 0 for move, *_ in moves):
        return "identical", text
    counted = max((move for move in moves if move[1] in COUNTED), default=(0.0,))
    if counted[0] > 0:
        return "diverged", f"{counted[1]} {counted[2]:.6g} -> {counted[3]:.6g}"
    return ("within tolerance" if worst[0] <= TOLERANCE else "diverged"), text


def marks(df: pd.DataFrame, metric: str, baseline: str) -> dict[tuple[str, str], str]:
    """(task, variant) -> the report's mark: ▲, ▼ or '' (not significant)."""
    table = compare(df, metric, baseline)
    return {
        (r.task, r.variant): ("▲" if r.better else "▼") if r.significant else ""
        for r in table.itertuples()
    }


def verdict_changes(
    table: pd.DataFrame, checks: list[Check], metric: str, baseline: str
) -> list[str]:
    """The report rows whose mark would change were the sampled trials' records the retrained
    ones: 'copy / mem10: ▼ -> (none)'."""
    before = marks(table, metric, baseline)
    after_table = table.copy()
    for c in checks:
        if c.outcome == "failed":
            continue
        row = after_table.index[after_table["id"] == c.id]
        for m, v in c.metrics.items():
            if m in after_table.columns:
                after_table.loc[row, m] = v
        if "solved" in after_table.columns and "solved" in c.metrics:
            after_table.loc[row, "solved"] = c.metrics["solved"]
    after = marks(after_table, metric, baseline)
    return [
        f"{task} / {variant}: {before[k] or '(none)'} -> {after.get(k, '') or '(none)'}"
        for k in before
        for task, variant in [k]
        if before[k] != after.get(k, "")
    ]


def load(results: Path) -> tuple[pd.DataFrame, str]:
    found = load_suite_results(results)
    if found.table.empty:
        raise MembenchError(f"{results}: no trials to verify")
    baseline = found.baseline or (
        "baseline" if "baseline" in set(found.table["variant"]) else found.table["variant"].iloc[0]
    )
    return found.table, baseline


def verify(results: Path, n: int, seed: int, metric: str, console) -> int:
    """Retrain `n` sampled trials of `results` one after another (a progress bar each), say
    each one's outcome, then whether a verdict changes; 1 if one does, else 0."""
    from membench.run.display import TrialBar, say
    from membench.run.machine import cpu_model
    from membench.run.train import run_trial
    from membench.store.records import TRIALS, read_records

    table, baseline = load(results)
    records = read_records(results / TRIALS)
    picks = sample(table, n, seed)
    cells = picks.groupby(["task", "variant"]).ngroups
    say(
        console,
        f"{results}: retraining {len(picks)} of {len(table)} trials "
        f"({cells} cell{'s' * (cells != 1)}), one after another",
    )
    checks = []
    for row in picks.itertuples():
        record = records[row.id]
        spec = spec_of(record)
        with TrialBar(spec) as bar:
            new = run_trial(spec, progress=bar.update)
        outcome, largest = classify(record["metrics"], new)
        cpu = record.get("cpu") or "not recorded"
        checks.append(Check(row.id, row.task, row.variant, int(row.seed), outcome, largest, cpu,
                            new.get("metrics") or {}))  # fmt: skip
        moved = f" ({largest})" if outcome != "identical" else ""
        say(console, f"{row.task} / {row.variant} / seed {row.seed} ({row.id}): {outcome}{moved}")
    counts = {o: sum(c.outcome == o for c in checks) for o in OUTCOMES}
    say(console, ", ".join(f"{k} {o}" for o, k in counts.items() if k))
    if counts["within tolerance"]:
        say(console, f"within tolerance: the same held-out counts; loss, aulc within {TOLERANCE:g}")
    recorded = "; ".join(sorted({c.recorded_cpu for c in checks}))
    say(console, f"CPU here: {cpu_model()}; in the records: {recorded}")
    changes = verdict_changes(table, checks, metric, baseline)
    if changes:
        say(console, f"verdicts that would change ({metric}): " + "; ".join(changes))
        return 1
    say(console, f"no verdict of the report changes ({metric}, against {baseline})")
    return 0
