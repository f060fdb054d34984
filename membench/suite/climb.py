"""A climb: each variant's seed goes up a task's difficulty ladder one level at a time, and its
frontier is the hardest level it solved.

A suite whose task entry sweeps the task's difficulty parameter (`copy: {length: [16, 32,
64]}`) has a ladder; with `climb:` the suite trains, for each variant and seed, the easiest
level, and a level above only once the seed solved the one below. Levels above a seed's first
failure are not trained: an assumption that a seed that fails a level fails every harder one
(monotonicity). `beyond: N` trains N levels past the first failure, so the assumption can be
checked (the report names any seed that fails a level and solves a harder one).

Every level's trial is the ordinary trial of that task instance, variant and seed, with its
ordinary id: a full-grid run and a climb share records, and a resumed climb trains only what
its records do not yet answer. Pure: outcomes in, trials out (the run layer reads the records).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from membench.config.instances import resolve_task
from membench.suite.trials import Suite, TaskInstance, Trial

SOLVED, UNSOLVED, FAILED = "solved", "unsolved", "failed"


class ClimbBlock(BaseModel):
    """`climb:` in a suite file (docs/suites.md, "Frontiers")."""

    model_config = ConfigDict(extra="forbid", strict=True)

    beyond: int = Field(
        0,
        ge=0,
        description="levels trained past a seed's first failure, to check that a seed that "
        "fails a level fails the harder ones too (0: none; the climb stops at a failure)",
    )


@dataclass(frozen=True)
class Ladder:
    """One task's levels, easiest first; `name` is the task label less the difficulty."""

    name: str
    generator: str
    parameter: str  # the difficulty parameter (Task.difficulty), '' for a single level
    levels: tuple[TaskInstance, ...]
    values: tuple[int, ...]  # the parameter's value at each level


def ladders(suite: Suite) -> list[Ladder]:
    """The suite's tasks grouped into ladders: instances of one task that differ only in its
    difficulty parameter, ordered by it. A task without a swept difficulty is a ladder of one."""
    from membench import tasks

    groups: dict[tuple, list[tuple[int, TaskInstance]]] = {}
    names: dict[tuple, tuple[str, str, str]] = {}
    for task in suite.tasks:
        generator, params = resolve_task(task.name, task.overrides, suite.near)
        parameter = tasks.get(generator).difficulty
        fixed = {k: v for k, v in task.overrides.items() if k != parameter}
        key = (task.name, tuple(sorted(fixed.items())))
        groups.setdefault(key, []).append((params.get(parameter, 0), task))
        label = task.name + ("[" + ",".join(f"{k}={v}" for k, v in fixed.items()) + "]") * bool(
            fixed
        )
        names[key] = (label, generator, parameter)
    out = []
    for key, members in groups.items():
        members.sort(key=lambda m: m[0])
        label, generator, parameter = names[key]
        out.append(
            Ladder(
                label,
                generator,
                parameter if len(members) > 1 else "",
                tuple(t for _, t in members),
                tuple(v for v, _ in members),
            )
        )
    return out


def plan(
    suite: Suite, trials: list[Trial], outcomes: dict[str, str], beyond: int = 0
) -> tuple[list[Trial], list[Trial]]:
    """(climbed, todo): the trials the climb has reached so far (recorded or not), and the ones
    of them that still need training. `outcomes`: trial id -> solved | unsolved | failed, for
    the recorded ones. A seed stops at a failed trial (an error: `--rerun-failed` retries it)
    or after `beyond` + 1 unsolved levels; a missing level is trained before any above it."""
    by_cell = {(t.task, t.variant, t.seed): t for t in trials}
    climbed, todo = [], []
    for ladder in ladders(suite):
        for variant in suite.variants:
            for seed in suite.seeds:
                unsolved = 0
                for level in ladder.levels:
                    trial = by_cell.get((level.label, variant.name, seed))
                    if trial is None:  # a variant that does not run on this task
                        break
                    climbed.append(trial)
                    outcome = outcomes.get(trial.id)
                    if outcome is None:
                        todo.append(trial)
                        break
                    if outcome == FAILED:
                        break
                    if outcome == UNSOLVED:
                        unsolved += 1
                        if unsolved > beyond:
                            break
    order = {t.id: i for i, t in enumerate(trials)}  # the suite's own order: seed-major
    return sorted(climbed, key=lambda t: order[t.id]), sorted(todo, key=lambda t: order[t.id])
