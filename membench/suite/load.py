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
from membench.suite.trials import Resources, Suite, TaskInstance, Variant, add_code_paths
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
    )
    check_factories(suite)
    check_distinct(suite)
    return suite


def make_variant(name: str, model: dict, where: str) -> Variant:
    """A variant from its full model dict: the combination of options checked (the options
    alone were checked with the file), unless it is a user's model, which takes its own."""
    model = dict(model)
    factory = model.pop("factory", None)
    if factory is None:
        model_config(model, where)
    return Variant(name, model, factory)


def make_variants(file: SuiteFile, base: dict, path: Path) -> tuple[dict[str, Variant], list[str]]:
    variants = {
        name: make_variant(name, {**base, **overrides}, f"{path}: variants.{name}")
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
    """Two variants that build the same model would be one trial under two names."""
    from membench.config.identity import make_spec

    task = suite.tasks[0]
    seen: dict[str, str] = {}
    for variant in suite.variants:
        spec = make_spec(
            task.name, task.overrides, variant.model, suite.train, 0, variant.factory, suite.near
        )
        key = repr((spec.model, spec.factory))
        if key in seen:
            raise MembenchError(
                f"{suite.path}: variants '{seen[key]}' and '{variant.name}' build the same model: "
                "remove one"
            )
        seen[key] = variant.name
