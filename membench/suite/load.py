"""Suite YAML -> a typed, validated `Suite` (see `trials.py`).

Validation is strict and complete before anything runs: every problem is one line naming the
file, the key path and what to do. See docs/suites.md for an annotated example.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from pydantic import ValidationError

from membench.config.instances import read_yaml
from membench.config.spec import model_config
from membench.config.validation import describe
from membench.errors import MembenchError
from membench.registry import did_you_mean
from membench.suite.file import SuiteFile
from membench.suite.grid import expand_grid
from membench.suite.trials import (
    Resources,
    Suite,
    TaskInstance,
    TaskSetup,
    Variant,
    add_code_paths,
)
from membench.suite.tune import Tune, make_points

KEYS = list(SuiteFile.model_fields)


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; raises MembenchError naming the file and key path."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise MembenchError(f"{path}: expected a mapping with keys {', '.join(KEYS)}")
    try:
        file = SuiteFile.model_validate(data)
    except ValidationError as err:
        raise MembenchError(f"{path}: {describe(err.errors()[0], '', SuiteFile)}") from None
    train = dict(data.get("train") or {})  # as written: the defaults stay out of trial ids
    base = dict(data.get("model") or {})
    variants, notes = make_variants(file, base, path)
    baseline = file.baseline or ("baseline" if "baseline" in variants else next(iter(variants)))
    if baseline not in variants:
        raise MembenchError(
            f"{path}: baseline: unknown variant '{baseline}': "
            f"{did_you_mean(baseline, list(variants))}known: {', '.join(variants)}"
        )
    resources = file.resources or Resources()
    suite = Suite(
        name=file.name or path.stem,
        path=path,
        description=file.description,
        tasks=make_tasks(file.tasks, path),
        variants=list(variants.values()),
        baseline=baseline,
        seeds=list(file.seeds),
        train=train,
        resources=Resources(float(resources.cpu), float(resources.gpu), resources.pack),
        notes=notes,
        tune=make_tune(file, data.get("tune") or {}),
        model=base,
        per_task=make_per_task(file, data.get("per_task") or {}, path),
        climb=file.climb,
        primary=file.primary or ("frontier" if file.climb is not None else "exact_match"),
        contrasts=[(a, b) for a, b in file.contrasts or []],
        trends=[file.trend] if file.trend and isinstance(file.trend[0], str) else file.trend or [],
        matched=dict(file.compute_matched or {}),
        log=list(file.log or []),
        ordering=file.published_order.model_dump() if file.published_order else None,
    )
    check_design(suite)
    check_per_task(suite)
    check_factories(suite)
    check_distinct(suite)
    return suite


def check_design(suite: Suite) -> None:
    """The declared tests name variants that exist, and the primary measure is one the suite
    can give: a frontier needs a ladder (a swept difficulty) or a climb."""
    from membench.metrics import METRICS
    from membench.suite.climb import ladders

    names = [v.name for v in suite.variants]
    declared = [(f"contrasts[{i}]", c) for i, c in enumerate(suite.contrasts)]
    declared += [(f"trend[{i}]" if len(suite.trends) > 1 else "trend", t) for i, t in
                 enumerate(suite.trends)]  # fmt: skip
    if suite.ordering is not None:
        declared.append(("published_order.values", list(suite.ordering["values"])))
    for where, group in declared:
        for name in group:
            if name not in names:
                raise MembenchError(
                    f"{suite.path}: {where}: unknown variant '{name}': "
                    f"{did_you_mean(name, names)}known: {', '.join(names)}"
                )
        if len(set(group)) < len(group):
            raise MembenchError(f"{suite.path}: {where}: a variant is named twice in {group}")
    for name, target in suite.matched.items():
        for key, which in (("", name), (f".{name}", target)):
            if which not in names:
                raise MembenchError(
                    f"{suite.path}: compute_matched{key}: unknown variant '{which}': "
                    f"{did_you_mean(which, names)}known: {', '.join(names)}"
                )
        variant = next(v for v in suite.variants if v.name == name)
        if variant.factory or name == target:
            raise MembenchError(
                f"{suite.path}: compute_matched.{name}: needs a built-in variant matched to "
                "another one (its d_ff is what is set)"
            )
        suite.notes.append(
            f"{name}: d_ff set on each task so that its training FLOPs per step match {target}'s "
            "(within 10%)"
        )
    for group in suite.trends:
        if len(group) < 3:
            raise MembenchError(
                f"{suite.path}: trend: needs 3 or more variants in order, got {group}; for two, "
                "declare a contrast"
            )
    if suite.primary == "frontier":
        if not any(ladder.parameter for ladder in ladders(suite)):
            raise MembenchError(
                f"{suite.path}: primary: 'frontier' needs a ladder: sweep a task's difficulty "
                "(e.g. copy: {length: [16, 32, 64]}) or set primary to a metric"
            )
    elif suite.primary not in METRICS:
        known = ["frontier", *METRICS]
        raise MembenchError(
            f"{suite.path}: primary: unknown measure '{suite.primary}': "
            f"{did_you_mean(suite.primary, known)}known: {', '.join(known)}"
        )


def make_variant(
    name: str, model: dict, where: str, overrides: dict | None = None, whole: bool = True
) -> Variant:
    """A variant from its full model dict: the combination of options checked (the options
    alone were checked with the file), unless it is a user's model, which takes its own, or
    `whole` is False (a suite with `per_task` checks each cell's model: a task's options may
    complete a variant)."""
    model = dict(model)
    factory = model.pop("factory", None)
    if factory is None and whole:
        model_config(model, where)
    return Variant(name, model, factory, overrides)


def make_variants(file: SuiteFile, base: dict, path: Path) -> tuple[dict[str, Variant], list[str]]:
    whole = not file.per_task
    variants = {
        name: make_variant(
            name, {**base, **overrides}, f"{path}: variants.{name}", overrides, whole
        )
        for name, overrides in (file.variants or {}).items()
    }
    notes: list[str] = []
    if file.grid:
        try:
            made, invalid = expand_grid(file.grid, base, make_variant)
        except MembenchError as err:
            raise MembenchError(f"{path}: {err}") from None
        for variant in made:
            if variant.name in variants:
                raise MembenchError(
                    f"{path}: grid: combination '{variant.name}' has the name of "
                    f"variants.{variant.name}: rename the variant"
                )
            variants[variant.name] = variant
        notes += [f"grid combination '{name}' left out: {reason}" for name, reason in invalid]
        if not made:
            name, reason = invalid[0]
            raise MembenchError(
                f"{path}: grid: every combination is invalid, e.g. '{name}': {reason}"
            )
    if not variants:  # no variants and no grid: the base model is the one variant
        variants["base"] = make_variant("base", base, f"{path}: model")
    return variants, notes


def make_per_task(file: SuiteFile, raw: dict, path: Path) -> dict[str, TaskSetup]:
    """`per_task` entries as written (train options as written keep defaults out of ids)."""
    out = {}
    for label, entry in (file.per_task or {}).items():
        written = raw[label] or {}
        out[label] = TaskSetup(
            model=dict(entry.model or {}),
            train=dict(written.get("train") or {}),
            variants=tuple(entry.variants) if entry.variants is not None else None,
            references=tuple(ref.model_dump() for ref in entry.references),
        )
    return out


def check_per_task(suite: Suite) -> None:
    """Every `per_task` key is a task label, its variants exist and include the baseline (the
    comparisons need it), its references name a cell that runs and a known metric, and every
    cell's model is valid whole."""
    from membench.metrics import METRICS

    labels = [t.label for t in suite.tasks]
    names = [v.name for v in suite.variants]
    for label, own in suite.per_task.items():
        at = f"{suite.path}: per_task.{label}"
        if label not in labels:
            raise MembenchError(
                f"{at}: no such task in `tasks`: {did_you_mean(label, labels)}"
                f"known: {', '.join(labels)}"
            )
        for name in own.variants or ():
            if name not in names:
                raise MembenchError(
                    f"{at}.variants: unknown variant '{name}': {did_you_mean(name, names)}"
                    f"known: {', '.join(names)}"
                )
        if own.variants is not None and suite.baseline not in own.variants:
            raise MembenchError(
                f"{at}.variants: the baseline '{suite.baseline}' must run on every task (the "
                "comparisons need it); add it"
            )
        for i, ref in enumerate(own.references):
            variant = ref["variant"] or suite.baseline
            if variant not in (own.variants or names):
                raise MembenchError(
                    f"{at}.references[{i}].variant: '{variant}' does not run on this task; "
                    f"name one of {', '.join(own.variants or names)}"
                )
            if ref["metric"] not in list(METRICS):
                raise MembenchError(
                    f"{at}.references[{i}].metric: unknown metric '{ref['metric']}': "
                    f"{did_you_mean(ref['metric'], list(METRICS))}"
                    f"known: {', '.join(list(METRICS))}"
                )
    for task in suite.tasks if suite.per_task else ():
        for variant in suite.variants:
            cell = suite.setup(task, variant)
            if cell and not variant.factory:
                where = f"{suite.path}: variants.{variant.name} on task {task.label}"
                model_config(cell[0], where)


def make_tune(file: SuiteFile, raw: dict) -> Tune | None:
    """The validated `tune:` block with the points it stands for."""
    block = file.tune
    if block is None:
        return None
    from membench.suite.tune import PER

    return Tune(
        make_points(block.space, block.samples or 1),
        list(block.seeds),
        block.metric,
        PER[tuple(block.per)],
        float(block.margin),
        dict(raw["space"]),
        block.samples or 1,
        block.extend,
    )


def make_tasks(entries: list, path: Path) -> list[TaskInstance]:
    """Entries ('copy', {'sort': {'length': 32}}, {'sort': {'length': [16, 32]}}: a sweep) ->
    task instances, each resolved against the registry and the suite's own tasks/ folder."""
    from membench.config.instances import resolve_task

    instances, seen = [], {}
    for i, entry in enumerate(entries):
        at = f"{path}: tasks[{i}]"
        name, params = next(iter(entry.items())) if isinstance(entry, dict) else (entry, None)
        swept = {k: v if isinstance(v, list) else [v] for k, v in (params or {}).items()}
        for combo in itertools.product(*swept.values()):
            overrides = dict(zip(swept, combo, strict=True))
            try:
                resolved = resolve_task(name, overrides, path.parent)
            except MembenchError as err:
                raise MembenchError(f"{at}: {err}") from None
            label = name
            if overrides:
                label += "[" + ",".join(f"{k}={v}" for k, v in overrides.items()) + "]"
            key = repr(resolved)
            if key in seen:
                raise MembenchError(
                    f"{at}: '{label}' is the same task as '{seen[key]}' ({resolved[0]} with "
                    f"{resolved[1]}): remove one"
                )
            seen[key] = label
            instances.append(TaskInstance(label, name, overrides))
    return instances


def check_factories(suite: Suite) -> None:
    """Import every user model now, so a typo fails before Ray starts, not in every trial."""
    from membench.models import load_factory

    for variant in suite.variants:
        if variant.factory:
            add_code_paths(suite.code_paths)
            try:
                load_factory(variant.factory)
            except MembenchError as err:
                raise MembenchError(f"{suite.path}: variants.{variant.name}: {err}") from None


def check_distinct(suite: Suite) -> None:
    """Two variants that build the same model on a task would be one trial under two names;
    a model that cannot take a task's targets (a next-token task's) fails here, before Ray."""
    from membench.config.identity import make_spec

    for task in suite.tasks:
        seen: dict[str, str] = {}
        for variant in suite.variants:
            cell = suite.setup(task, variant)
            if cell is None:
                continue
            model, train = cell
            try:
                spec = make_spec(
                    task.name, task.overrides, model, train, 0, variant.factory, suite.near
                )
            except MembenchError as err:
                where = f"variants.{variant.name} on task {task.label}"
                raise MembenchError(f"{suite.path}: {where}: {err}") from None
            key = repr((spec.model, spec.factory))
            if key in seen:
                raise MembenchError(
                    f"{suite.path}: variants '{seen[key]}' and '{variant.name}' build the same "
                    f"model{f' on task {task.label}' if suite.per_task else ''}: remove one"
                )
            seen[key] = variant.name
