"""A climb on Ray Tune, in rounds: each round trains, for every variant and seed, the next
level its records call for (`membench.suite.climb.plan`), until no seed has a level to train;
the folder's suite.json lists the trials climbed so far after each round."""

from __future__ import annotations

from pathlib import Path

from membench.errors import MembenchError
from membench.run.display import SweepProgress
from membench.store.records import TRIALS, read_records, trial_states, write_suite_file
from membench.store.results import derived_metrics
from membench.suite.climb import FAILED, SOLVED, UNSOLVED, plan

UNFINISHED = ("todo", "cut")  # no record, or one of a trial interrupted before it finished


def climb(suite, trials, what, options, console) -> tuple[list, SweepProgress | None, bool]:
    """Train a climb in rounds: each round trains, for every variant and seed, the next level
    its records call for (membench.suite.climb.plan), until no seed has a level to train.
    Returns the trials climbed so far, the last round's progress and whether any trained.
    The rerun options apply to the first round only (later rounds train what is new)."""
    results, rest = options[0], options[1:]
    directory = results / TRIALS
    trained, progress, rounds = False, None, 0
    while True:
        climbed, todo = plan(suite, trials, climb_outcomes(trials, directory), suite.climb.beyond)
        first = rounds == 0
        if not todo and not first:
            return climbed, progress, trained
        rounds += 1
        address, max_concurrent, rerun_failed, force, rerun_stale, _ = rest
        from membench.run.sweep import train_missing

        step = train_missing(
            suite,
            climbed,
            f"{what}, climb round {rounds}",
            results,
            address,
            max_concurrent,
            rerun_failed and first,
            force and first,
            rerun_stale and first,
            console,
        )
        if step is None:
            if todo:  # recorded trials the plan still calls missing: cannot happen
                raise MembenchError(f"{suite.name}: the climb found nothing to train in {todo}")
            return climbed, progress, trained
        progress, trained = step, True
        write_suite_file(results, suite, plan(suite, trials, climb_outcomes(trials, directory),
                                              suite.climb.beyond)[0])  # fmt: skip
        if progress.interrupted:
            return climbed, progress, trained
        after = trial_states(todo, directory)
        if todo and all(after[t.id] in UNFINISHED for t in todo):  # a round that recorded nothing
            return climbed, progress, trained


def climb_outcomes(trials, directory: Path) -> dict[str, str]:
    """Trial id -> solved | unsolved | failed, for the recorded ones of `trials` (a trial cut
    off before it finished answers nothing yet)."""
    records = read_records(directory) if directory.is_dir() else {}
    out = {}
    for t in trials:
        record = records.get(t.id)
        if record is None or record.get("status") == "interrupted":  # not answered: retrained
            continue
        if record.get("status") != "ok":
            out[t.id] = FAILED
        else:
            solved = derived_metrics(record, record.get("metrics") or {}).get("solved")
            out[t.id] = SOLVED if solved else UNSOLVED
    return out
