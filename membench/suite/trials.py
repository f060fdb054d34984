"""What a loaded suite is: its tasks, variants, seeds, resources and tune block, and the
trials it expands to (evaluation trials, seed-major; tuning trials for a tuned suite).
"""

from __future__ import annotations

import itertools
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from membench.config.identity import TrialSpec
from membench.config.spec import ModelConfig, TrainConfig, model_config
from membench.errors import MembenchError
from membench.suite.tune import Choice, Tune


@dataclass(frozen=True)
class TaskInstance:
    label: str  # "copy", or "sort[length=32]" when parameters are overridden or swept
    name: str  # named instance (tasks/*.yaml) or generator
    overrides: dict[str, int]


@dataclass(frozen=True)
class Variant:
    name: str
    model: dict[str, Any]  # the base model with this variant's overrides
    factory: str | None = None  # "module:function" of a user's model; None: built-in family
    overrides: dict[str, Any] | None = None  # what it sets over the base (None: all of `model`)

    def on(self, task_model: dict[str, Any]) -> dict[str, Any]:
        """Its model on a task with its own options (`per_task`): the task's over the suite's
        base, the variant's over both."""
        if not task_model:
            return self.model
        own = self.model if self.overrides is None else self.overrides
        return {**self.model, **task_model, **own}

    def summary(self) -> str:
        """The options that differ from ModelConfig's defaults (or the factory and its options)."""
        if self.factory:
            options = ", ".join(f"{k}={v}" for k, v in self.model.items())
            return f"factory {self.factory}" + (f" ({options})" if options else "")
        default = ModelConfig().model_dump()
        try:
            model = model_config(self.model).model_dump()
        except MembenchError:  # whole only with a task's own options (`per_task`): as written
            return ", ".join(f"{k}={v}" for k, v in (self.overrides or self.model).items())
        return ", ".join(f"{k}={v}" for k, v in model.items() if default[k] != v) or "defaults"


@dataclass(frozen=True)
class TaskSetup:
    """A task's own options from `per_task`: model and train options, the variants that run on
    it (None: all) and the published values to compare with (suite.json keeps them)."""

    model: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    variants: tuple[str, ...] | None = None
    references: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Resources:
    cpu: float = 1.0  # Ray CPUs per trial; torch uses int(cpu) threads
    gpu: float = 0.0  # Ray GPUs per trial; 0.25 puts four trials on one GPU
    pack: int | None = None  # trials per pack (one Ray trial); None: `packing.pack_size`'s default


@dataclass(frozen=True)
class Trial:
    spec: TrialSpec
    id: str
    task: str  # task label
    variant: str
    seed: int
    tuning: dict[str, Any] | None = None  # tuned suites: the phase and the point (record label)


@dataclass
class Suite:
    name: str
    path: Path
    tasks: list[TaskInstance]
    variants: list[Variant]
    baseline: str
    seeds: list[int]
    train: dict[str, Any]
    resources: Resources = field(default_factory=Resources)
    description: str = ""
    notes: list[str] = field(default_factory=list)  # e.g. grid combinations left out, and why
    tune: Tune | None = None  # a `tune:` block: evaluation trials wait on the tuning trials
    model: dict[str, Any] = field(default_factory=dict)  # the base model the variants override
    extra_code_paths: list[str] = field(default_factory=list)  # more folders factories live in
    per_task: dict[str, TaskSetup] = field(default_factory=dict)  # task label -> its options
    climb: Any = None  # a `climb:` block (suite.climb.ClimbBlock): frontiers per seed
    primary: str = "exact_match"  # what the suite is scored by: a metric, or 'frontier'
    contrasts: list[tuple[str, str]] = field(default_factory=list)  # (a, b): a against b
    trends: list[list[str]] = field(default_factory=list)  # variants in a declared order
    matched: dict[str, str] = field(default_factory=dict)  # variant -> whose FLOPs it matches
    log: list[str] = field(default_factory=list)  # experiment trackers (run.tracking)
    ordering: dict[str, Any] | None = None  # `published_order:` (analysis.ordering)
    declared_tune: Any = None  # `tune` as the file declares it, once a run extends its grid

    @property
    def definition(self) -> dict[str, Any]:
        """What the suite stands for, as plain JSON: everything that decides which trials it
        runs and how it is reported, less its description and resources (how it runs). A results
        folder records it (suite.json), so a changed suite is never run into it unnoticed."""
        tune = None
        if self.tune is not None:  # as declared: a run's extensions are in suite.json's tuning
            t = self.declared_tune or self.tune
            tune = dict(space=t.space, seeds=t.seeds, metric=t.metric, per=list(t.per),
                        margin=t.margin, samples=t.samples, extend=t.extend)  # fmt: skip
        return {
            "name": self.name,
            "tasks": [dict(label=t.label, name=t.name, overrides=t.overrides) for t in self.tasks],
            "variants": {
                v.name: dict(model=v.model, factory=v.factory, overrides=v.overrides)
                for v in self.variants
            },
            "baseline": self.baseline,
            "seeds": self.seeds,
            "train": self.train,
            "per_task": {
                label: dict(
                    model=s.model, train=s.train, variants=s.variants, references=list(s.references)
                )  # fmt: skip
                for label, s in self.per_task.items()
            },
            "tune": tune,
            **self.design,
        }

    @property
    def design(self) -> dict[str, Any]:
        """What the report needs of the suite's declared tests (written to suite.json)."""
        from membench.suite.climb import ladders

        levels = [
            dict(generator=ladder.generator, parameter=ladder.parameter, values=list(ladder.values))
            for ladder in ladders(self)
            if ladder.parameter
        ]
        design = {
            "primary": self.primary,
            "ladders": levels,
            "climb": self.climb.model_dump() if self.climb is not None else None,
            "contrasts": [list(c) for c in self.contrasts],
            "compute_matched": self.matched,
            "trends": self.trends,
        }
        if self.ordering is not None:  # only where declared: other suites' definitions stay
            design["ordering"] = self.ordering
        return design

    def setup(self, task: TaskInstance, variant: Variant) -> tuple[dict, dict] | None:
        """(model, train) of one cell, or None for a variant that does not run on the task."""
        own = self.per_task.get(task.label, TaskSetup())
        if own.variants is not None and variant.name not in own.variants:
            return None
        model, train = variant.on(own.model), {**self.train, **own.train}
        if variant.name in self.matched:  # its width set to cost what its target costs here
            from membench.config.instances import resolve_task
            from membench.models.flops import matched_d_ff

            target = next(v for v in self.variants if v.name == self.matched[variant.name])
            generator, params = resolve_task(task.name, task.overrides, self.near)
            batch = train.get("batch_size", TrainConfig().batch_size)
            d_ff = matched_d_ff(model, target.on(own.model), generator, params, batch)
            model = {**model, "d_ff": d_ff}
        return model, train

    @property
    def references(self) -> list[dict[str, Any]]:
        """Every published value with its task and variant filled in, in the suite's order."""
        return [
            {"task": task.label, **ref, "variant": ref.get("variant") or self.baseline}
            for task in self.tasks
            for ref in self.per_task.get(task.label, TaskSetup()).references
        ]

    @property
    def near(self) -> Path:
        """The suite's folder: its own tasks/ and factory modules are looked up there."""
        return self.path.parent

    @property
    def code_paths(self) -> list[str]:
        """Where a factory's module is looked up besides PYTHONPATH: the suite's folder, cwd,
        and any folder a factory was named by path in (`membench compare file.py:fn`)."""
        here = [str(self.path.resolve().parent), os.getcwd()]
        return list(dict.fromkeys([*here, *self.extra_code_paths]))

    def trials(self, choices: dict[tuple[str, ...], Choice] | None = None) -> list[Trial]:
        """The evaluation trials, seed-major, so an interrupted sweep has complete comparisons
        for early seeds. A tuned suite trains each cell at its chosen point (`choices`, from
        `tuning.choose`); cells without a choice (every tuning trial failed) are left out."""
        from membench.config.identity import make_spec

        if self.tune is not None and choices is None:
            raise ValueError("a tuned suite's evaluation trials need the tuning phase's choices")
        trials = []
        for seed, task, variant in itertools.product(self.seeds, self.tasks, self.variants):
            cell = self.setup(task, variant)
            if cell is None:
                continue
            model, train = cell
            tuning = None
            if self.tune is not None:
                key = (task.label, variant.name) if "task" in self.tune.per else (variant.name,)
                if key not in choices:
                    continue
                choice = choices[key]
                train = {**train, **choice.point}
                tuning = {
                    "phase": "evaluate",
                    "point": choice.point,
                    "metric": self.tune.metric,
                    "score": choice.score,
                    "chosen_from": list(choice.trials),
                }
            spec = make_spec(
                task.name, task.overrides, model, train, seed, variant.factory, self.near
            )
            trials.append(Trial(spec, spec.trial_id(), task.label, variant.name, seed, tuning))
        return trials

    def tuning_trials(self) -> list[Trial]:
        """Phase one of a tuned suite: every point of the space × tuning seed × cell."""
        from membench.config.identity import make_spec

        if self.tune is None:
            return []
        trials = []
        combos = itertools.product(self.tune.seeds, self.tasks, self.variants, self.tune.points)
        for seed, task, variant, point in combos:
            cell = self.setup(task, variant)
            if cell is None:
                continue
            model, train = cell
            spec = make_spec(
                task.name,
                task.overrides,
                model,
                {**train, **point},
                seed,
                variant.factory,
                self.near,
            )
            tuning = {"phase": "tune", "point": point, "label": point.label}
            trials.append(Trial(spec, spec.trial_id(), task.label, variant.name, seed, tuning))
        return trials

    def ordered(self, trials: list[Trial]) -> list[Trial]:
        """Trials by task, then variant, in the suite's order, then seed: for tables."""
        tasks = {t.label: i for i, t in enumerate(self.tasks)}
        variants = {v.name: i for i, v in enumerate(self.variants)}
        points = {p: i for i, p in enumerate(self.tune.points if self.tune else [])}

        def point(t: Trial) -> int:
            tuning = t.tuning or {}
            return points.get(tuning["point"], -1) if tuning.get("phase") == "tune" else -1

        return sorted(trials, key=lambda t: (tasks[t.task], variants[t.variant], point(t), t.seed))


def add_code_paths(paths: list[str]) -> None:
    for entry in reversed(paths):
        if entry not in sys.path and os.path.isdir(entry):
            sys.path.insert(0, entry)
